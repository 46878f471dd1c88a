//! An activity's lifecycle: submit, approve, return with a note, correct with a reason, retract with a reason,
//! and who may do each.

use events::event::{ActivityApproved, ActivityCorrected, ActivityRetracted, ActivityReturned, PeriodLocked};
use events::{
    approve_activity, correct_activity, retract_activity, return_activity, submit_activity, ActivityState,
    ActivityStatus, ApproveActivity, CorrectActivity, DomainEvent, FaultKind, RetractActivity, ReturnActivity,
};
use serde_json::{json, Value};

use crate::support::*;

fn recorded(require_approval: bool) -> Vec<DomainEvent> {
    with_recorded(demo_registered(require_approval), exchange())
}

fn then(mut events: Vec<DomainEvent>, more: Vec<DomainEvent>) -> Vec<DomainEvent> {
    events.extend(more);
    events
}

fn approved() -> Vec<DomainEvent> {
    then(
        recorded(true),
        vec![DomainEvent::ActivityApproved(ActivityApproved { activity_id: activity_id(), note: None })],
    )
}

fn returned() -> Vec<DomainEvent> {
    then(
        recorded(true),
        vec![DomainEvent::ActivityReturned(ActivityReturned {
            activity_id: activity_id(),
            note: "add evidence".into(),
        })],
    )
}

fn retracted() -> Vec<DomainEvent> {
    then(
        recorded(false),
        vec![DomainEvent::ActivityRetracted(ActivityRetracted {
            activity_id: activity_id(),
            reason: "duplicate".into(),
        })],
    )
}

fn correction(reason: &str, changes: Value) -> CorrectActivity {
    CorrectActivity { reason: reason.to_string(), changes }
}

fn correct(
    reason: &str,
    changes: Value,
) -> impl FnOnce(&events::ProgrammeState, &ActivityState, &events::CommandContext) -> Result<Vec<DomainEvent>, events::Faults>
{
    let cmd = correction(reason, changes);
    move |p, a, ctx| correct_activity(p, a, cmd, ctx)
}

fn retract(
    reason: &str,
) -> impl FnOnce(&events::ProgrammeState, &ActivityState, &events::CommandContext) -> Result<Vec<DomainEvent>, events::Faults>
{
    let cmd = RetractActivity { reason: reason.to_string() };
    move |p, a, ctx| retract_activity(p, a, cmd, ctx)
}

#[test]
fn the_status_follows_the_lifecycle() {
    assert_eq!(ActivityState::from_events(&recorded(false)).status(), ActivityStatus::Recorded);
    assert_eq!(ActivityState::from_events(&recorded(true)).status(), ActivityStatus::Submitted);
    assert_eq!(ActivityState::from_events(&approved()).status(), ActivityStatus::Approved);
    let returned = ActivityState::from_events(&returned());
    assert_eq!((returned.status(), returned.return_note()), (ActivityStatus::Returned, Some("add evidence")));
    assert_eq!(ActivityState::from_events(&retracted()).status(), ActivityStatus::Retracted);
    assert_eq!(ActivityStatus::Submitted.to_string(), "submitted");
}

#[test]
fn a_returned_activity_is_submitted_again() {
    given(returned()).by(recorder("torino")).when(submit_activity).then_types(&["ActivitySubmitted"]);
    let resubmitted = given(returned()).when(submit_activity).then_ok();
    assert_eq!(ActivityState::from_events(&then(returned(), resubmitted)).return_note(), None);
}

#[test]
fn submitting_fits_only_programmes_that_require_approval_and_open_activities() {
    given(recorded(false)).when(submit_activity).then_fault(
        FaultKind::Conflict,
        "",
        "programme 'demo' does not require approval",
    );
    given(recorded(true)).when(submit_activity).then_fault(
        FaultKind::Conflict,
        "",
        "cannot submit an activity that is submitted",
    );
    given(approved()).when(submit_activity).then_fault(
        FaultKind::Conflict,
        "",
        "cannot submit an activity that is approved",
    );
    given(returned()).by(recorder("asti")).when(submit_activity).then_fault(
        FaultKind::Forbidden,
        "partner",
        "a recorder for 'asti' may only submit activities attributed to 'asti', not 'torino'",
    );
}

#[test]
fn the_coordinator_approves_a_submitted_activity() {
    let approve = |note: Option<&str>| {
        let cmd = ApproveActivity { note: note.map(str::to_string) };
        move |p: &events::ProgrammeState, a: &ActivityState, ctx: &events::CommandContext| {
            approve_activity(p, a, cmd, ctx)
        }
    };
    given(recorded(true)).when(approve(Some("fine"))).then_events(vec![DomainEvent::ActivityApproved(
        ActivityApproved { activity_id: activity_id(), note: Some("fine".into()) },
    )]);
    given(recorded(true))
        .by(admin())
        .when(approve(Some(" ")))
        .then_events(vec![DomainEvent::ActivityApproved(ActivityApproved { activity_id: activity_id(), note: None })]);
    given(recorded(false)).when(approve(None)).then_fault(
        FaultKind::Conflict,
        "",
        "cannot approve an activity that is recorded",
    );
    given(approved()).when(approve(None)).then_fault(
        FaultKind::Conflict,
        "",
        "cannot approve an activity that is approved",
    );
    given(recorded(true)).by(recorder("torino")).when(approve(None)).then_fault(
        FaultKind::Forbidden,
        "",
        "only the coordinator of 'demo' or an admin may approve activities",
    );
    given(demo_registered(true)).when(approve(None)).then_fault(FaultKind::NotFound, "", "unknown activity");
}

#[test]
fn the_coordinator_returns_a_submitted_activity_with_a_note() {
    let give_back = |note: &str| {
        let cmd = ReturnActivity { note: note.to_string() };
        move |p: &events::ProgrammeState, a: &ActivityState, ctx: &events::CommandContext| {
            return_activity(p, a, cmd, ctx)
        }
    };
    given(recorded(true)).when(give_back("add the host's report")).then_events(vec![DomainEvent::ActivityReturned(
        ActivityReturned { activity_id: activity_id(), note: "add the host's report".into() },
    )]);
    given(recorded(true)).when(give_back("")).then_fault(FaultKind::Validation, "note", "required");
    given(recorded(false)).when(give_back("why")).then_fault(
        FaultKind::Conflict,
        "",
        "cannot return an activity that is recorded",
    );
    given(recorded(true)).by(recorder("torino")).when(give_back("x")).then_fault(
        FaultKind::Forbidden,
        "",
        "only the coordinator of 'demo' or an admin may return activities",
    );
    given(demo_registered(true)).when(give_back("x")).then_fault(FaultKind::NotFound, "", "unknown activity");
}

#[test]
fn a_correction_stores_the_changed_fields_and_the_whole_corrected_activity() {
    let events = given(recorded(false)).when(correct("typo in days", json!({"days": 4, "staff": 2}))).then_ok();
    let DomainEvent::ActivityCorrected(corrected) = &events[0] else { panic!("{events:?}") };
    assert_eq!(corrected.reason, "typo in days");
    assert_eq!(Value::Object(corrected.changes.clone()), json!({"days": 4}), "staff did not change");
    assert_eq!(corrected.activity.field("days"), Some(events::FieldValue::Whole(4)));
    let state = ActivityState::from_events(&then(recorded(false), events.clone()));
    assert_eq!(state.activity(), Some(&corrected.activity));
    assert_eq!(state.status(), ActivityStatus::Recorded);
}

#[test]
fn a_correction_can_remove_an_optional_field() {
    let events = given(recorded(false)).when(correct("no cluster", json!({"cluster": null}))).then_ok();
    let DomainEvent::ActivityCorrected(ActivityCorrected { changes, activity, .. }) = &events[0] else { panic!() };
    assert_eq!(Value::Object(changes.clone()), json!({"cluster": null}));
    assert_eq!(activity.cluster(), None);
}

#[test]
fn the_attributed_partner_follows_a_corrected_host() {
    let events = given(recorded(false))
        .when(correct("hosts were swapped", json!({"host": "asti", "visitor": "torino"})))
        .then_ok();
    let DomainEvent::ActivityCorrected(ActivityCorrected { changes, activity, .. }) = &events[0] else { panic!() };
    assert_eq!(activity.partner.as_str(), "asti");
    assert_eq!(Value::Object(changes.clone()), json!({"host": "asti", "visitor": "torino", "partner": "asti"}));
}

#[test]
fn a_correction_that_changes_nothing_decides_nothing() {
    given(recorded(false)).when(correct("same", json!({"days": 5}))).then_nothing();
}

#[test]
fn a_correction_needs_a_reason_and_changes() {
    given(recorded(false)).when(correct("", json!({"days": 4}))).then_fault(
        FaultKind::Validation,
        "reason",
        "required",
    );
    given(recorded(false)).when(correct("x", Value::Null)).then_fault(FaultKind::Validation, "changes", "required");
    given(recorded(false)).when(correct(" ", json!({}))).then_faults(
        FaultKind::Validation,
        &[("reason", "required"), ("changes", "name at least one field to change")],
    );
    given(recorded(false)).when(correct("x", json!([1]))).then_fault(
        FaultKind::Validation,
        "changes",
        "expected an object",
    );
    given(recorded(false)).when(correct("x", json!({"kind": "cluster_visit", "id": "1"}))).then_faults(
        FaultKind::Validation,
        &[
            ("changes.kind", "the kind of an activity cannot be corrected; retract it and record a new one"),
            ("changes.id", "activity ids cannot be changed"),
        ],
    );
}

#[test]
fn a_corrected_activity_is_checked_again() {
    given(recorded(false))
        .when(correct(
            "wrong city",
            json!({"visitor": "atlantis", "days": 90, "colour": "red", "occurred_on": "2030-01-01"}),
        ))
        .then_faults(
            FaultKind::Validation,
            &[
                ("changes.visitor", "unknown partner 'atlantis'"),
                ("changes.days", "must be between 1 and 60, not 90"),
                ("changes.colour", "unknown field"),
                ("changes.occurred_on", "2030-01-01 is after the programme ends on 2022-12-31"),
            ],
        );
}

#[test]
fn a_recorder_corrects_its_own_activities_until_they_are_approved() {
    given(recorded(false))
        .by(recorder("torino"))
        .when(correct("typo", json!({"days": 4})))
        .then_types(&["ActivityCorrected"]);
    given(recorded(false)).by(recorder("paris")).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::Forbidden,
        "partner",
        "a recorder for 'paris' may only correct activities attributed to 'paris', not 'torino'",
    );
    given(recorded(false)).by(recorder("torino")).when(correct("give it away", json!({"partner": "asti"}))).then_fault(
        FaultKind::Forbidden,
        "partner",
        "a recorder for 'torino' may only correct activities attributed to 'torino', not 'asti'",
    );
    given(approved()).by(recorder("torino")).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::Forbidden,
        "",
        "the activity is approved; only the coordinator may correct it now",
    );
    given(approved()).when(correct("typo", json!({"days": 4}))).then_types(&["ActivityCorrected"]);
    given(recorded(false)).by(auditor()).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::Forbidden,
        "",
        "an auditor may not change activities",
    );
}

#[test]
fn a_retracted_or_unknown_activity_cannot_be_corrected() {
    given(retracted()).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::Conflict,
        "",
        "cannot correct an activity that is retracted",
    );
    given(demo_registered(false)).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::NotFound,
        "",
        "unknown activity",
    );
    given(vec![]).when(correct("typo", json!({"days": 4}))).then_fault(FaultKind::NotFound, "", "unknown programme");
}

fn locked(events: Vec<DomainEvent>, period: &str) -> Vec<DomainEvent> {
    then(events, vec![DomainEvent::PeriodLocked(PeriodLocked { period: slug(period), reason: "reported".into() })])
}

#[test]
fn a_locked_period_accepts_no_correction_into_or_out_of_it() {
    given(locked(recorded(false), "y2021")).when(correct("typo", json!({"days": 4}))).then_fault(
        FaultKind::Locked,
        "occurred_on",
        "period 'y2021' is locked",
    );
    given(locked(recorded(false), "y2020"))
        .when(correct("wrong year", json!({"occurred_on": "2020-10-11"})))
        .then_fault(FaultKind::Locked, "changes.occurred_on", "period 'y2020' is locked");
    given(locked(recorded(false), "y2020"))
        .when(correct("typo", json!({"days": 4})))
        .then_types(&["ActivityCorrected"]);
}

#[test]
fn an_activity_is_retracted_with_a_reason() {
    given(recorded(false)).when(retract("recorded twice")).then_events(vec![DomainEvent::ActivityRetracted(
        ActivityRetracted { activity_id: activity_id(), reason: "recorded twice".into() },
    )]);
    given(recorded(false)).when(retract(" ")).then_fault(FaultKind::Validation, "reason", "required");
    given(retracted()).when(retract("again")).then_fault(
        FaultKind::Conflict,
        "",
        "cannot retract an activity that is retracted",
    );
    given(locked(recorded(false), "y2021")).when(retract("late")).then_fault(
        FaultKind::Locked,
        "occurred_on",
        "period 'y2021' is locked",
    );
}

#[test]
fn a_recorder_retracts_only_its_own_unapproved_activities() {
    given(recorded(false)).by(recorder("torino")).when(retract("mistake")).then_types(&["ActivityRetracted"]);
    given(recorded(false)).by(recorder("asti")).when(retract("mistake")).then_fault(
        FaultKind::Forbidden,
        "partner",
        "a recorder for 'asti' may only retract activities attributed to 'asti', not 'torino'",
    );
    given(approved()).by(recorder("torino")).when(retract("mistake")).then_fault(
        FaultKind::Forbidden,
        "",
        "the activity is approved; only the coordinator may retract it now",
    );
    given(approved()).when(retract("funder disallowed it")).then_types(&["ActivityRetracted"]);
}
