//! Command handlers, "decide then apply": each checks every rule against the current state and returns the
//! events to append, or all the faults at once. Who may do what (admin, the programme's coordinator, a
//! recorder for one partner) is decided here too, so the rule "a recorder may only touch activities attributed
//! to its own partner, and not after approval" holds whatever calls the domain.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::activity::{parse_activity, Activity, ActivityRules};
use crate::catalogue::Attribution;
use crate::event::{
    ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted,
    ClusterAdded, DomainEvent, IndicatorRevised, IndicatorSet, PartnerJoined, PeriodAdded, PeriodLocked,
    PeriodUnlocked, ProgrammeRegistered,
};
use crate::faults::{Fault, FaultKind, Faults};
use crate::programme::{Cluster, Indicator, Partner, Programme, ReportingPeriod};
use crate::state::{ActivityState, ActivityStatus, ProgrammeState};
use crate::stored::ActivityDraft;
use crate::values::Slug;

/// Who acts, as far as the domain's rules are concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// May do everything.
    Admin,
    /// Coordinates one programme: defines it further, records, approves, corrects, locks periods.
    Coordinator { programme: Slug },
    /// Records for one partner of one programme.
    Recorder { programme: Slug, partner: Slug },
    /// Reads only.
    Auditor,
}

/// What every command is decided against besides the state: the day it is (activities may not lie in the
/// future) and who acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandContext {
    pub today: NaiveDate,
    pub role: Role,
}

/// Set a new indicator or revise an existing one (`PUT …/indicators/{id}`); revising needs a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetIndicator {
    pub indicator: Indicator,
    pub reason: Option<String>,
}

impl SetIndicator {
    /// Reads the body of `PUT …/indicators/{id}`: the indicator's fields and an optional `reason`. The body may
    /// leave out `id`, which then comes from the path; if it names one, it must be the same.
    pub fn parse(id: &Slug, body: &Value) -> Result<SetIndicator, Faults> {
        let Value::Object(map) = body else {
            return Err(Faults::validation(vec![Fault::new("", "expected an object")]));
        };
        let mut map = map.clone();
        let mut faults = Vec::new();
        let reason = match map.remove("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(reason)) => Some(reason),
            Some(_) => {
                faults.push(Fault::new("reason", "expected a string"));
                None
            }
        };
        match map.get("id") {
            None => {
                map.insert("id".to_string(), Value::String(id.to_string()));
            }
            Some(Value::String(given)) if given == id.as_str() => {}
            Some(_) => faults.push(Fault::new("id", format!("must be the id in the path '{id}'"))),
        }
        match Indicator::parse(&Value::Object(map)) {
            Ok(indicator) if faults.is_empty() => Ok(SetIndicator { indicator, reason }),
            Ok(_) => Err(Faults::validation(faults)),
            Err(parse_faults) => {
                faults.extend(parse_faults.into_faults());
                Err(Faults::validation(faults))
            }
        }
    }
}

/// Lock or unlock a reporting period, for a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangePeriodLock {
    pub period: Slug,
    pub reason: String,
}

/// Record an activity from a request body; the id is chosen by the caller (a UUID v7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordActivity {
    pub activity_id: Uuid,
    pub body: Value,
}

/// The body of `…/approval`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApproveActivity {
    pub note: Option<String>,
}

/// The body of `…/return`: the note says what to fix.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReturnActivity {
    pub note: String,
}

/// The body of `…/corrections`: new values by field (`null` removes an optional field) and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrectActivity {
    pub reason: String,
    pub changes: Value,
}

/// The body of `…/retraction`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetractActivity {
    pub reason: String,
}

fn forbidden(message: impl Into<String>) -> Faults {
    Faults::one(FaultKind::Forbidden, "", message)
}

fn conflict(field: &str, message: impl Into<String>) -> Faults {
    Faults::one(FaultKind::Conflict, field, message)
}

pub(crate) fn registered(state: &ProgrammeState) -> Result<&Programme, Faults> {
    state.programme().ok_or_else(|| Faults::one(FaultKind::NotFound, "", "unknown programme"))
}

fn is_blank(text: Option<&str>) -> bool {
    text.is_none_or(|t| t.trim().is_empty())
}

fn require_text(field: &str, text: Option<&str>, faults: &mut Vec<Fault>) {
    if is_blank(text) {
        faults.push(Fault::new(field, "required"));
    }
}

/// Admin, or the coordinator of this programme.
pub(crate) fn ensure_manager(programme: &Programme, ctx: &CommandContext, action: &str) -> Result<(), Faults> {
    match &ctx.role {
        Role::Admin => Ok(()),
        Role::Coordinator { programme: id } if *id == programme.id => Ok(()),
        _ => Err(forbidden(format!("only the coordinator of '{}' or an admin may {action}", programme.id))),
    }
}

/// Whether the actor may record and change activities of this programme at all, and for which partner: the
/// recorder's own, or the programme's coordinator for a coordinator or admin.
fn recording_partner<'a>(programme: &'a Programme, ctx: &'a CommandContext) -> Result<&'a Slug, Faults> {
    match &ctx.role {
        Role::Admin => Ok(&programme.coordinator),
        Role::Coordinator { programme: id } if *id == programme.id => Ok(&programme.coordinator),
        Role::Recorder { programme: id, partner } if *id == programme.id => {
            if programme.partner(partner.as_str()).is_none() {
                return Err(forbidden(format!("'{partner}' is not a partner of '{}'", programme.id)));
            }
            Ok(partner)
        }
        Role::Auditor => Err(forbidden("an auditor may not change activities")),
        _ => Err(forbidden(format!("not a coordinator or recorder of '{}'", programme.id))),
    }
}

fn recorder_partner(ctx: &CommandContext) -> Option<&Slug> {
    match &ctx.role {
        Role::Recorder { partner, .. } => Some(partner),
        _ => None,
    }
}

/// A recorder may only touch activities attributed to its own partner.
fn ensure_own_partner(ctx: &CommandContext, activity: &Activity, verb: &str) -> Result<(), Faults> {
    match recorder_partner(ctx) {
        Some(own) if *own != activity.partner => Err(Faults::one(
            FaultKind::Forbidden,
            "partner",
            format!(
                "a recorder for '{own}' may only {verb} activities attributed to '{own}', not '{}'",
                activity.partner
            ),
        )),
        _ => Ok(()),
    }
}

fn locked_at(state: &ProgrammeState, date: NaiveDate) -> Result<(), Faults> {
    match state.locked_period_at(date) {
        Some(period) => Err(Faults::one(FaultKind::Locked, "occurred_on", format!("period '{}' is locked", period.id))),
        None => Ok(()),
    }
}

/// An existing activity and the checks every change to it shares: the actor may record for this programme,
/// and a recorder only for its own partner and not once the activity is approved.
fn changeable<'a>(
    programme: &'a Programme,
    activity: &'a ActivityState,
    ctx: &CommandContext,
    verb: &str,
) -> Result<&'a Activity, Faults> {
    let current = activity.activity().ok_or_else(|| Faults::one(FaultKind::NotFound, "", "unknown activity"))?;
    recording_partner(programme, ctx)?;
    ensure_own_partner(ctx, current, verb)?;
    if recorder_partner(ctx).is_some() && activity.status() == ActivityStatus::Approved {
        return Err(forbidden(format!("the activity is approved; only the coordinator may {verb} it now")));
    }
    if activity.status() == ActivityStatus::Retracted {
        return Err(conflict("", format!("cannot {verb} an activity that is retracted")));
    }
    Ok(current)
}

/// Registers a programme with its whole definition (admin only).
pub fn register_programme(
    state: &ProgrammeState,
    programme: Programme,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    if ctx.role != Role::Admin {
        return Err(forbidden("only an admin may register a programme"));
    }
    if let Some(existing) = state.programme() {
        return Err(conflict("id", format!("programme '{}' already exists", existing.id)));
    }
    Faults::check(programme.validate())?;
    Ok(vec![DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme })])
}

/// Adds a partner to a registered programme.
pub fn add_partner(state: &ProgrammeState, partner: Partner, ctx: &CommandContext) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, "add partners")?;
    if programme.partner(partner.id.as_str()).is_some() {
        return Err(conflict("id", format!("partner '{}' already exists", partner.id)));
    }
    Faults::check(programme.check_new_partner(&partner, ""))?;
    Ok(vec![DomainEvent::PartnerJoined(PartnerJoined { partner })])
}

/// Adds a cluster whose members are partners of the programme.
pub fn add_cluster(state: &ProgrammeState, cluster: Cluster, ctx: &CommandContext) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, "add clusters")?;
    if programme.cluster(cluster.id.as_str()).is_some() {
        return Err(conflict("id", format!("cluster '{}' already exists", cluster.id)));
    }
    Faults::check(programme.check_cluster(&cluster, ""))?;
    Ok(vec![DomainEvent::ClusterAdded(ClusterAdded { cluster })])
}

/// Adds a reporting period inside the programme that overlaps no other.
pub fn add_period(
    state: &ProgrammeState,
    period: ReportingPeriod,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, "add periods")?;
    if programme.period(period.id.as_str()).is_some() {
        return Err(conflict("id", format!("period '{}' already exists", period.id)));
    }
    Faults::check(programme.check_period(&period, &programme.periods, ""))?;
    Ok(vec![DomainEvent::PeriodAdded(PeriodAdded { period })])
}

/// Sets a new indicator, or revises an existing one (which needs a reason). Setting an indicator to exactly
/// what it already is decides nothing.
pub fn set_indicator(
    state: &ProgrammeState,
    cmd: SetIndicator,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, "set indicators")?;
    let existing = programme.indicator(cmd.indicator.id.as_str());
    if existing == Some(&cmd.indicator) {
        return Ok(Vec::new());
    }
    let mut faults = programme.check_indicator(&cmd.indicator, "");
    match existing {
        None => {
            Faults::check(faults)?;
            Ok(vec![DomainEvent::IndicatorSet(IndicatorSet { indicator: cmd.indicator })])
        }
        Some(_) => {
            require_text("reason", cmd.reason.as_deref(), &mut faults);
            Faults::check(faults)?;
            let reason = cmd.reason.unwrap_or_default();
            Ok(vec![DomainEvent::IndicatorRevised(IndicatorRevised { indicator: cmd.indicator, reason })])
        }
    }
}

fn period_for_lock<'a>(
    state: &'a ProgrammeState,
    cmd: &ChangePeriodLock,
    ctx: &CommandContext,
    action: &str,
) -> Result<&'a ReportingPeriod, Faults> {
    let programme = registered(state)?;
    ensure_manager(programme, ctx, action)?;
    let period = programme
        .period(cmd.period.as_str())
        .ok_or_else(|| Faults::one(FaultKind::NotFound, "period", format!("unknown period '{}'", cmd.period)))?;
    let mut faults = Vec::new();
    require_text("reason", Some(&cmd.reason), &mut faults);
    Faults::check(faults)?;
    Ok(period)
}

/// Locks a reporting period: no activity dated inside it may be recorded, corrected or retracted.
pub fn lock_period(
    state: &ProgrammeState,
    cmd: ChangePeriodLock,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let period = period_for_lock(state, &cmd, ctx, "lock periods")?;
    if state.is_locked(period.id.as_str()) {
        return Err(conflict("period", format!("period '{}' is already locked", period.id)));
    }
    Ok(vec![DomainEvent::PeriodLocked(PeriodLocked { period: cmd.period, reason: cmd.reason })])
}

/// Unlocks a locked reporting period.
pub fn unlock_period(
    state: &ProgrammeState,
    cmd: ChangePeriodLock,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let period = period_for_lock(state, &cmd, ctx, "unlock periods")?;
    if !state.is_locked(period.id.as_str()) {
        return Err(conflict("period", format!("period '{}' is not locked", period.id)));
    }
    Ok(vec![DomainEvent::PeriodUnlocked(PeriodUnlocked { period: cmd.period, reason: cmd.reason })])
}

/// Records an activity; in a programme that requires approval it is submitted at once.
pub fn record_activity(
    state: &ProgrammeState,
    cmd: RecordActivity,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    record_activity_body(state, cmd.activity_id, &cmd.body, ctx)
}

/// [`record_activity`] reading the body where it lies, for a caller that keeps it (a command decided again
/// after losing a race reads the same body).
pub fn record_activity_body(
    state: &ProgrammeState,
    activity_id: Uuid,
    body: &Value,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let rules = recording_rules(state, ctx)?;
    decide_recorded(state, rules.programme, parse_activity(body, Some(&rules))?, activity_id, ctx)
}

/// [`record_activity_body`] for a body the fast reader took ([`ActivityDraft::read`]): the same events or
/// faults, or `None` when the draft breaks a rule of the programme — then `record_activity_body` on the body
/// says which.
pub fn record_activity_draft(
    state: &ProgrammeState,
    activity_id: Uuid,
    draft: &ActivityDraft,
    ctx: &CommandContext,
) -> Option<Result<Vec<DomainEvent>, Faults>> {
    let rules = match recording_rules(state, ctx) {
        Ok(rules) => rules,
        Err(faults) => return Some(Err(faults)),
    };
    Some(decide_recorded(state, rules.programme, draft.activity(Some(&rules))?, activity_id, ctx))
}

/// The rules an activity recorded by this caller in this programme is read under.
fn recording_rules<'a>(state: &'a ProgrammeState, ctx: &'a CommandContext) -> Result<ActivityRules<'a>, Faults> {
    let programme = registered(state)?;
    let recorder = recording_partner(programme, ctx)?;
    Ok(ActivityRules { programme, today: ctx.today, recorder })
}

fn decide_recorded(
    state: &ProgrammeState,
    programme: &Programme,
    activity: Activity,
    activity_id: Uuid,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    ensure_own_partner(ctx, &activity, "record")?;
    locked_at(state, activity.occurred_on)?;
    let mut events = vec![DomainEvent::ActivityRecorded(ActivityRecorded { activity_id, activity })];
    if programme.require_approval {
        events.push(DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id }));
    }
    Ok(events)
}

fn activity_id(activity: &ActivityState) -> Uuid {
    activity.id().unwrap_or_default()
}

/// Submits a recorded or returned activity for approval.
pub fn submit_activity(
    state: &ProgrammeState,
    activity: &ActivityState,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    changeable(programme, activity, ctx, "submit")?;
    if !programme.require_approval {
        return Err(conflict("", format!("programme '{}' does not require approval", programme.id)));
    }
    if !matches!(activity.status(), ActivityStatus::Recorded | ActivityStatus::Returned) {
        return Err(conflict("", format!("cannot submit an activity that is {}", activity.status())));
    }
    Ok(vec![DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: activity_id(activity) })])
}

/// Approves a submitted activity.
pub fn approve_activity(
    state: &ProgrammeState,
    activity: &ActivityState,
    cmd: ApproveActivity,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    if !activity.exists() {
        return Err(Faults::one(FaultKind::NotFound, "", "unknown activity"));
    }
    ensure_manager(programme, ctx, "approve activities")?;
    if activity.status() != ActivityStatus::Submitted {
        return Err(conflict("", format!("cannot approve an activity that is {}", activity.status())));
    }
    let note = cmd.note.filter(|note| !note.trim().is_empty());
    Ok(vec![DomainEvent::ActivityApproved(ActivityApproved { activity_id: activity_id(activity), note })])
}

/// Returns a submitted activity to its recorder with a note saying what to fix.
pub fn return_activity(
    state: &ProgrammeState,
    activity: &ActivityState,
    cmd: ReturnActivity,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    if !activity.exists() {
        return Err(Faults::one(FaultKind::NotFound, "", "unknown activity"));
    }
    ensure_manager(programme, ctx, "return activities")?;
    if activity.status() != ActivityStatus::Submitted {
        return Err(conflict("", format!("cannot return an activity that is {}", activity.status())));
    }
    let mut faults = Vec::new();
    require_text("note", Some(&cmd.note), &mut faults);
    Faults::check(faults)?;
    Ok(vec![DomainEvent::ActivityReturned(ActivityReturned { activity_id: activity_id(activity), note: cmd.note })])
}

/// Corrects an activity: applies `changes` to its current values, checks the result as if it were recorded
/// now, and stores the changed fields with the whole corrected activity. A correction that changes nothing
/// decides nothing.
pub fn correct_activity(
    state: &ProgrammeState,
    activity: &ActivityState,
    cmd: CorrectActivity,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    let current = changeable(programme, activity, ctx, "correct")?;
    let recorder = recording_partner(programme, ctx)?;

    let mut faults = Vec::new();
    require_text("reason", Some(&cmd.reason), &mut faults);
    let changes = match &cmd.changes {
        Value::Object(changes) if changes.is_empty() => {
            faults.push(Fault::new("changes", "name at least one field to change"));
            None
        }
        Value::Object(changes) => Some(changes),
        Value::Null => {
            faults.push(Fault::new("changes", "required"));
            None
        }
        _ => {
            faults.push(Fault::new("changes", "expected an object"));
            None
        }
    };
    let Some(changes) = changes else {
        return Err(Faults::validation(faults));
    };
    for key in ["kind", "id"] {
        if changes.contains_key(key) {
            let message = if key == "kind" {
                "the kind of an activity cannot be corrected; retract it and record a new one"
            } else {
                "activity ids cannot be changed"
            };
            faults.push(Fault::new(format!("changes.{key}"), message));
        }
    }
    if !faults.is_empty() {
        return Err(Faults::validation(faults));
    }

    let before = current.to_value();
    let mut merged = before.as_object().cloned().unwrap_or_default();
    // A partner that was only the kind's default (the host, the recipient) follows its field when that field
    // is corrected; a partner chosen explicitly or taken from the recorder stays unless it is changed.
    let follows_a_field = matches!(
        current.kind().attribution(),
        Attribution::Host | Attribution::Recipient | Attribution::HostOrRecorder
    );
    let default_partner =
        ["host", "recipient"].iter().find_map(|field| current.field(field).and_then(|value| value.as_key()));
    if follows_a_field
        && !changes.contains_key("partner")
        && default_partner.as_deref() == Some(current.partner.as_str())
    {
        merged.remove("partner");
    }
    for (key, value) in changes {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    let rules = ActivityRules { programme, today: ctx.today, recorder };
    let corrected = parse_activity(&Value::Object(merged), Some(&rules)).map_err(|e| e.prefixed("changes"))?;
    ensure_own_partner(ctx, &corrected, "correct")?;
    locked_at(state, current.occurred_on)?;
    locked_at(state, corrected.occurred_on).map_err(|e| e.prefixed("changes"))?;

    let after = corrected.to_value();
    let changed = diff(&before, &after);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![DomainEvent::ActivityCorrected(ActivityCorrected {
        activity_id: activity_id(activity),
        reason: cmd.reason,
        changes: changed,
        activity: corrected,
    })])
}

/// The top-level fields whose values differ, with their new value or `null` when removed.
fn diff(before: &Value, after: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut changed = Map::new();
    for (key, value) in after {
        if before.get(key) != Some(value) {
            changed.insert(key.clone(), value.clone());
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            changed.insert(key.clone(), Value::Null);
        }
    }
    changed
}

/// Retracts an activity for a reason; it stops counting but stays in the log.
pub fn retract_activity(
    state: &ProgrammeState,
    activity: &ActivityState,
    cmd: RetractActivity,
    ctx: &CommandContext,
) -> Result<Vec<DomainEvent>, Faults> {
    let programme = registered(state)?;
    let current = changeable(programme, activity, ctx, "retract")?;
    let mut faults = Vec::new();
    require_text("reason", Some(&cmd.reason), &mut faults);
    Faults::check(faults)?;
    locked_at(state, current.occurred_on)?;
    Ok(vec![DomainEvent::ActivityRetracted(ActivityRetracted {
        activity_id: activity_id(activity),
        reason: cmd.reason,
    })])
}
