//! Programme definitions and the programme stream: registration, partners, clusters, periods, indicators and
//! period locks.

use events::{
    add_cluster, add_partner, add_period, lock_period, register_programme, set_indicator, unlock_period,
    ChangePeriodLock, Cluster, DomainEvent, FaultKind, Partner, Programme, ProgrammeState, ReportingPeriod,
    SetIndicator,
};
use serde_json::{json, Value};

use crate::support::*;

fn register(definition: Value) -> Outcome {
    given(vec![]).by(admin()).when(|state, _, ctx| {
        let programme = Programme::parse_unchecked(&definition)?;
        register_programme(state, programme, ctx)
    })
}

fn demo_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut definition = demo_json();
    edit(&mut definition);
    definition
}

#[test]
fn registering_a_valid_programme_records_its_whole_definition() {
    let events = register(demo_json()).then_types(&["ProgrammeRegistered"]);
    let DomainEvent::ProgrammeRegistered(registered) = &events[0] else { unreachable!() };
    assert_eq!(registered.programme, demo());
}

#[test]
fn a_definition_gets_the_documented_defaults() {
    let programme = demo();
    assert_eq!(programme.currency.as_str(), "EUR");
    assert!(!programme.require_approval);
    assert_eq!(programme.indicators[0].baseline.to_string(), "0");
    assert_eq!(programme.indicators[0].due, None);
    assert_eq!(programme.partner_shares().to_string(), "30979.71");
}

#[test]
fn only_an_admin_may_register_a_programme() {
    given(vec![]).by(coordinator()).when(|state, _, ctx| register_programme(state, demo(), ctx)).then_fault(
        FaultKind::Forbidden,
        "",
        "only an admin may register a programme",
    );
}

#[test]
fn a_programme_cannot_be_registered_twice() {
    given(demo_registered(false)).by(admin()).when(|state, _, ctx| register_programme(state, demo(), ctx)).then_fault(
        FaultKind::Conflict,
        "id",
        "programme 'demo' already exists",
    );
}

#[test]
fn a_malformed_definition_lists_every_structural_fault_with_its_path() {
    let definition = demo_with(|d| {
        d["id"] = json!("Demo");
        d["budget"] = json!("12.345");
        d["colour"] = json!("blue");
        d["partners"][1]["country"] = json!("EL");
        d["partners"][2]["kind"] = json!("village");
        d["partners"][3]["budget_share"] = json!(100.5);
        d["partners"][3].as_object_mut().unwrap().remove("name");
        d["indicators"][0]["measure"]["kinds"] = json!(["staff_exchange", "teleportation"]);
        d["indicators"][0]["target"] = json!("1.234");
        d["periods"][0]["ends_on"] = json!("2020-13-01");
        d["currency"] = json!("euro");
    });
    assert_eq!(
        faults_of(Programme::parse(&definition)),
        pairs(&[
            ("id", "'Demo' is not a slug: use 1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit"),
            ("currency", "'euro' is not an ISO 4217 currency code like \"EUR\""),
            ("budget", "'12.345' is not an amount of money: use a decimal string with at most 2 decimals, like \"30979.71\""),
            ("partners[1].country", "'EL' is the EU abbreviation for Greece; the ISO 3166-1 code is 'GR'"),
            ("partners[2].kind", "unknown partner kind 'village': use one of city, region, network, ngo, expert, other"),
            ("partners[3].name", "required"),
            ("partners[3].budget_share", "write amounts of money as decimal strings, like \"100.5\""),
            ("indicators[0].target", "'1.234' is not a decimal number: use a decimal string with at most 2 decimals, like \"14\" or \"250000.00\""),
            ("indicators[0].measure.kinds[1]", "unknown activity kind 'teleportation'"),
            ("periods[0].ends_on", "'2020-13-01' is not a date (YYYY-MM-DD)"),
            ("colour", "unknown field"),
        ])
    );
}

#[test]
fn a_definition_that_is_not_an_object_is_refused() {
    assert_eq!(faults_of(Programme::parse(&json!([1]))), pairs(&[("", "expected an object")]));
    assert_eq!(
        faults_of(Programme::parse(&demo_with(|d| d["partners"] = json!({})))),
        pairs(&[("partners", "expected a list")])
    );
}

#[test]
fn a_definition_whose_parts_do_not_fit_lists_every_fault() {
    let definition = demo_with(|d| {
        d["coordinator"] = json!("brussels");
        d["ends_on"] = json!("2019-12-31");
        d["partners"][3]["id"] = json!("torino");
        d["clusters"] = json!([
            {"id": "cop1", "name": "CoP1", "members": ["torino", "atlantis", "torino"]},
            {"id": "cop1", "name": "CoP1 again", "members": []}
        ]);
        d["periods"] = json!([
            {"id": "p1", "starts_on": "2019-06-01", "ends_on": "2019-05-01"},
            {"id": "p1", "starts_on": "2019-05-15", "ends_on": "2019-07-01"}
        ]);
    });
    register(definition).then_faults(
        FaultKind::Validation,
        &[
            ("ends_on", "2019-12-31 is before starts_on 2020-01-01"),
            ("coordinator", "unknown partner 'brussels'"),
            ("partners[3].id", "duplicate partner 'torino'"),
            ("clusters[0].members[1]", "unknown partner 'atlantis'"),
            ("clusters[0].members[2]", "duplicate member 'torino'"),
            ("clusters[1].id", "duplicate cluster 'cop1'"),
            ("periods[0].ends_on", "2019-05-01 is before starts_on 2019-06-01"),
            ("periods[0].starts_on", "2019-06-01 is before the programme starts on 2020-01-01"),
            ("periods[1].id", "duplicate period 'p1'"),
            ("periods[1].starts_on", "2019-05-15 is before the programme starts on 2020-01-01"),
        ],
    );
}

#[test]
fn periods_may_not_overlap() {
    let definition = demo_with(|d| d["periods"][1]["starts_on"] = json!("2020-12-01"));
    register(definition).then_fault(FaultKind::Validation, "periods[1]", "overlaps period 'y2020'");
}

#[test]
fn partner_budget_shares_may_not_exceed_the_budget() {
    let definition = demo_with(|d| d["budget"] = json!("30000"));
    register(definition).then_fault(
        FaultKind::Validation,
        "budget",
        "the partners' budget shares add up to 30979.71, more than the budget 30000.00",
    );
}

#[test]
fn sources_named_by_parts_must_be_listed_once_in_the_programme() {
    let definition = demo_with(|d| {
        d["sources"] = json!([{"file": "001.txt", "says": ["x"]}, {"file": "001.txt"}]);
        d["partners"][1]["sources"] = json!(["001.txt", "999.txt"]);
    });
    register(definition).then_faults(
        FaultKind::Validation,
        &[("sources[1].file", "duplicate source '001.txt'"), ("partners[1].sources[1]", "unknown source '999.txt'; cite one of the programme's sources by file, url or title (001.txt, 001.txt)")],
    );
}

#[test]
fn a_source_is_named_by_a_file_an_address_or_a_title_and_cited_by_any_of_them() {
    let definition = demo_with(|d| {
        d["sources"] = json!([
            {"url": "https://eurocities.eu/projects/connection/", "says": ["14 cities"]},
            {"title": "Grant agreement 101038381", "says": ["budget"]},
            {"file": "001.txt", "title": "Press release"},
        ]);
        d["partners"][1]["sources"] = json!(["https://eurocities.eu/projects/connection/", "Grant agreement 101038381", "Press release"]);
    });
    let events = register(definition).then_ok();
    let DomainEvent::ProgrammeRegistered(registered) = &events[0] else { panic!("expected a registration, got {events:?}") };
    let keys: Vec<&str> = registered.programme.sources.iter().map(events::Source::key).collect();
    assert_eq!(keys, ["https://eurocities.eu/projects/connection/", "Grant agreement 101038381", "001.txt"]);

    let nameless = demo_with(|d| d["sources"] = json!([{"says": ["a fact"]}, {"url": "ftp://x"}]));
    register(nameless).then_faults(
        FaultKind::Validation,
        &[
            ("sources[0]", "a source needs a file, a url or a title (at least one) to be cited by"),
            ("sources[1].url", "'ftp://x' is not an http or https address"),
        ],
    );
}

fn with_indicator(indicator: Value) -> Value {
    demo_with(|d| d["indicators"] = json!([indicator]))
}

#[test]
fn a_measure_must_make_sense_for_its_kinds() {
    let cases = [
        (
            json!({"aggregate": "count", "kinds": ["staff_exchange"], "field": "days"}),
            "indicators[0].measure.field",
            "a count takes no field",
        ),
        (json!({"aggregate": "sum", "kinds": ["grant_awarded"]}), "indicators[0].measure.field", "required for sum"),
        (
            json!({"aggregate": "distinct", "kinds": ["policy_implemented"]}),
            "indicators[0].measure.field",
            "required for distinct",
        ),
        (
            json!({"aggregate": "sum", "kinds": ["staff_exchange"], "field": "amount"}),
            "indicators[0].measure.field",
            "staff_exchange has no field 'amount'",
        ),
        (
            json!({"aggregate": "sum", "kinds": ["staff_exchange"], "field": "host"}),
            "indicators[0].measure.field",
            "'host' of staff_exchange is not a number",
        ),
        (
            json!({"aggregate": "sum", "kinds": ["grant_awarded", "staff_exchange"], "field": "amount"}),
            "indicators[0].measure.field",
            "staff_exchange has no field 'amount'",
        ),
        (
            json!({"aggregate": "sum", "kinds": ["grant_awarded", "course_published"], "field": "amount"}),
            "indicators[0].measure.field",
            "course_published has no field 'amount'",
        ),
        (
            json!({"aggregate": "sum", "kinds": ["training_delivered"], "field": "participants.men"}),
            "indicators[0].measure.field",
            "training_delivered has no field 'participants.men'",
        ),
        (
            json!({"aggregate": "distinct", "kinds": ["peer_visit"], "field": "participants"}),
            "indicators[0].measure.field",
            "'participants' of peer_visit is not a single value; use participants.total",
        ),
        (
            json!({"aggregate": "count", "kinds": ["staff_exchange", "staff_exchange"]}),
            "indicators[0].measure.kinds[1]",
            "duplicate kind 'staff_exchange'",
        ),
        (
            json!({"aggregate": "count", "kinds": ["cluster_visit"], "where": {"cluster": "cop9"}}),
            "indicators[0].measure.where.cluster",
            "unknown cluster 'cop9'",
        ),
        (
            json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"host": "atlantis"}}),
            "indicators[0].measure.where.host",
            "unknown partner 'atlantis'",
        ),
        (
            json!({"aggregate": "count", "kinds": ["guide_published"], "where": {"days": 5}}),
            "indicators[0].measure.where.days",
            "guide_published has no field 'days'",
        ),
        (
            json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"days": "five"}}),
            "indicators[0].measure.where.days",
            "'five' cannot match a field of this kind",
        ),
        (
            json!({"aggregate": "count", "kinds": ["training_delivered"], "where": {"mode": "telepathy"}}),
            "indicators[0].measure.where.mode",
            "unknown mode 'telepathy': use one of online, in_person, hybrid",
        ),
        (
            json!({"aggregate": "count", "kinds": ["grant_awarded"], "where": {"amount": "1.234"}}),
            "indicators[0].measure.where.amount",
            "'1.234' is not an amount of money: use a decimal string with at most 2 decimals, like \"30979.71\"",
        ),
        (json!({"aggregate": "count", "kinds": []}), "indicators[0].measure.kinds", "name at least one activity kind"),
        (
            json!({"aggregate": "average", "kinds": ["staff_exchange"]}),
            "indicators[0].measure.aggregate",
            "unknown aggregate 'average': use one of count, sum, distinct",
        ),
        (
            json!({"aggregate": "count", "kinds": ["staff_exchange"], "where": {"cluster": [1]}}),
            "indicators[0].measure.where.cluster",
            "expected a string, a whole number or true/false",
        ),
    ];
    for (measure, field, message) in cases {
        let definition =
            with_indicator(json!({"id": "x", "label": "X", "unit": "u", "target": "10", "measure": measure}));
        let result = Programme::parse(&definition);
        assert_eq!(faults_of(result), pairs(&[(field, message)]), "{measure}");
    }
}

#[test]
fn the_measures_of_spec_section_3_are_all_accepted() {
    for measure in [
        json!({"aggregate": "count", "kinds": ["staff_exchange"]}),
        json!({"aggregate": "sum", "kinds": ["grant_awarded"], "field": "amount"}),
        json!({"aggregate": "sum", "kinds": ["grant_awarded", "grant_paid"], "field": "amount"}),
        json!({"aggregate": "distinct", "kinds": ["policy_implemented"], "field": "partner"}),
        json!({"aggregate": "count", "kinds": ["cluster_visit"], "where": {"cluster": "cop1"}}),
        json!({"aggregate": "sum", "kinds": ["training_delivered", "workshop_held"], "field": "participants.women"}),
        json!({"aggregate": "sum", "kinds": ["course_published"], "field": "hours"}),
        json!({"aggregate": "sum", "kinds": ["custom"], "field": "attributes.people_reached"}),
        json!({"aggregate": "count", "kinds": ["peer_visit"], "where": {"visitors": "asti"}}),
        json!({"aggregate": "count", "kinds": ["training_delivered"], "where": {"mode": "online"}}),
    ] {
        let definition =
            with_indicator(json!({"id": "x", "label": "X", "unit": "u", "target": "10", "measure": measure}));
        assert!(Programme::parse(&definition).is_ok(), "{measure}");
    }
}

#[test]
fn targets_milestones_and_due_dates_must_fit_the_indicator() {
    let definition = with_indicator(json!({
        "id": "exchanges", "label": "Exchanges", "unit": "exchanges", "target": "14", "baseline": "0.5",
        "due": "2023-06-30",
        "milestones": [
            {"by": "2021-12-31", "target": "7"},
            {"by": "2021-06-30", "target": "15"},
            {"by": "2019-01-01", "target": "2.5"}
        ],
        "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}
    }));
    register(definition).then_faults(
        FaultKind::Validation,
        &[
            ("indicators[0].baseline", "0.5 is not a whole number, as a count needs"),
            ("indicators[0].due", "2023-06-30 is after the programme ends on 2022-12-31"),
            ("indicators[0].milestones[1].by", "must come after 2021-12-31"),
            ("indicators[0].milestones[1].target", "15 exceeds the indicator's target 14"),
            ("indicators[0].milestones[2].by", "2019-01-01 is outside 2020-01-01 to 2023-06-30"),
            ("indicators[0].milestones[2].by", "must come after 2021-06-30"),
            ("indicators[0].milestones[2].target", "2.5 is not a whole number, as a count needs"),
        ],
    );
    let early = with_indicator(json!({"id": "x", "label": "X", "unit": "u", "target": "1.5", "due": "2019-01-01",
        "measure": {"aggregate": "distinct", "kinds": ["policy_implemented"], "field": "partner"}}));
    register(early).then_faults(
        FaultKind::Validation,
        &[
            ("indicators[0].target", "1.5 is not a whole number, as a distinct needs"),
            ("indicators[0].due", "2019-01-01 is before the programme starts on 2020-01-01"),
        ],
    );
}

#[test]
fn indicator_ids_are_unique() {
    let definition = demo_with(|d| {
        let indicator = d["indicators"][0].clone();
        d["indicators"].as_array_mut().unwrap().push(indicator);
    });
    register(definition).then_fault(FaultKind::Validation, "indicators[1].id", "duplicate indicator 'staff-exchanges'");
}

fn partner(body: Value) -> Partner {
    Partner::parse(&body).expect("a well-formed partner")
}

#[test]
fn a_coordinator_adds_a_partner() {
    let cuneo = partner(json!({"id": "cuneo", "name": "Cuneo", "kind": "city", "country": "IT", "role": "other"}));
    let events = given(demo_registered(false)).when(|s, _, ctx| add_partner(s, cuneo.clone(), ctx)).then_ok();
    assert_eq!(events, vec![DomainEvent::PartnerJoined(events::event::PartnerJoined { partner: cuneo })]);
    let state = ProgrammeState::from_events(demo_registered(false).iter().chain(&events));
    assert!(state.programme().unwrap().partner("cuneo").is_some());
}

#[test]
fn a_partner_that_exists_cannot_join_again() {
    let torino = partner(json!({"id": "torino", "name": "Torino", "kind": "city", "role": "core_city"}));
    given(demo_registered(false)).when(|s, _, ctx| add_partner(s, torino, ctx)).then_fault(
        FaultKind::Conflict,
        "id",
        "partner 'torino' already exists",
    );
}

#[test]
fn a_joining_partner_keeps_the_shares_within_the_budget_and_names_known_sources() {
    let rich = partner(json!({"id": "rich", "name": "Rich", "kind": "city", "role": "other",
        "budget_share": "70000", "sources": ["nowhere.txt"]}));
    given(demo_registered(false)).when(|s, _, ctx| add_partner(s, rich, ctx)).then_faults(
        FaultKind::Validation,
        &[
            ("sources[0]", "unknown source 'nowhere.txt'; the programme lists no sources to cite"),
            ("budget_share", "the partners' budget shares would add up to 100979.71, more than the budget 100000.00"),
        ],
    );
}

#[test]
fn a_partner_body_lists_its_faults() {
    assert_eq!(
        faults_of(Partner::parse(&json!({"id": "x", "name": "", "kind": "city", "role": "mayor", "country": 39, "extra": 1}))),
        pairs(&[
            ("name", "must not be empty"),
            ("country", "expected a string"),
            ("role", "unknown partner role 'mayor': use one of coordinator, expert, core_city, fellow_city, regional_partner, advisory, other"),
            ("extra", "unknown field"),
        ])
    );
}

#[test]
fn only_the_coordinator_or_an_admin_changes_the_definition() {
    let cuneo = partner(json!({"id": "cuneo", "name": "Cuneo", "kind": "city", "role": "other"}));
    for ctx in [recorder("torino"), auditor()] {
        given(demo_registered(false)).by(ctx).when(|s, _, ctx| add_partner(s, cuneo.clone(), ctx)).then_fault(
            FaultKind::Forbidden,
            "",
            "only the coordinator of 'demo' or an admin may add partners",
        );
    }
    let other_coordinator =
        events::CommandContext { today: today(), role: events::Role::Coordinator { programme: slug("unites") } };
    given(demo_registered(false))
        .by(other_coordinator)
        .when(|s, _, ctx| add_partner(s, cuneo.clone(), ctx))
        .then_fault(FaultKind::Forbidden, "", "only the coordinator of 'demo' or an admin may add partners");
    given(demo_registered(false))
        .by(admin())
        .when(|s, _, ctx| add_partner(s, cuneo, ctx))
        .then_types(&["PartnerJoined"]);
}

#[test]
fn nothing_can_be_added_to_an_unknown_programme() {
    let cuneo = partner(json!({"id": "cuneo", "name": "Cuneo", "kind": "city", "role": "other"}));
    given(vec![]).when(|s, _, ctx| add_partner(s, cuneo, ctx)).then_fault(FaultKind::NotFound, "", "unknown programme");
}

#[test]
fn a_cluster_has_partners_as_members() {
    let cop2 =
        Cluster::parse(&json!({"id": "cop2", "name": "CoP2", "theme": "Gender", "members": ["asti", "atlantis"]}))
            .unwrap();
    given(demo_registered(false)).when(|s, _, ctx| add_cluster(s, cop2.clone(), ctx)).then_fault(
        FaultKind::Validation,
        "members[1]",
        "unknown partner 'atlantis'",
    );
    let mut valid = cop2;
    valid.members.pop();
    given(demo_registered(false)).when(|s, _, ctx| add_cluster(s, valid, ctx)).then_types(&["ClusterAdded"]);
    let cop1 = Cluster::parse(&json!({"id": "cop1", "name": "CoP1", "members": []})).unwrap();
    given(demo_registered(false)).when(|s, _, ctx| add_cluster(s, cop1, ctx)).then_fault(
        FaultKind::Conflict,
        "id",
        "cluster 'cop1' already exists",
    );
}

#[test]
fn a_period_is_added_inside_the_programme_without_overlap() {
    let period = |id: &str, from: &str, to: &str| {
        ReportingPeriod::parse(&json!({"id": id, "starts_on": from, "ends_on": to})).unwrap()
    };
    given(demo_registered(false))
        .when(|s, _, ctx| add_period(s, period("y2022", "2022-01-01", "2022-12-31"), ctx))
        .then_types(&["PeriodAdded"]);
    given(demo_registered(false))
        .when(|s, _, ctx| add_period(s, period("late", "2021-12-01", "2023-01-31"), ctx))
        .then_faults(
            FaultKind::Validation,
            &[("ends_on", "2023-01-31 is after the programme ends on 2022-12-31"), ("", "overlaps period 'y2021'")],
        );
    given(demo_registered(false))
        .when(|s, _, ctx| add_period(s, period("y2021", "2022-01-01", "2022-12-31"), ctx))
        .then_fault(FaultKind::Conflict, "id", "period 'y2021' already exists");
}

fn set(body: Value) -> SetIndicator {
    SetIndicator::parse(&slug("staff-exchanges"), &body).expect("a well-formed indicator body")
}

fn fourteen_exchanges() -> Value {
    json!({"label": "Staff exchanges", "unit": "exchanges", "target": "14",
           "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}})
}

#[test]
fn setting_an_indicator_as_it_is_decides_nothing() {
    given(demo_registered(false)).when(|s, _, ctx| set_indicator(s, set(fourteen_exchanges()), ctx)).then_nothing();
}

#[test]
fn a_new_indicator_is_set_without_a_reason() {
    let body = json!({"label": "Grants", "unit": "EUR", "target": "250000.00",
                      "measure": {"aggregate": "sum", "kinds": ["grant_awarded"], "field": "amount"}});
    let cmd = SetIndicator::parse(&slug("grants"), &body).unwrap();
    let events =
        given(demo_registered(false)).when(|s, _, ctx| set_indicator(s, cmd, ctx)).then_types(&["IndicatorSet"]);
    let state = ProgrammeState::from_events(demo_registered(false).iter().chain(&events));
    assert_eq!(state.programme().unwrap().indicator("grants").unwrap().target.to_string(), "250000.00");
}

#[test]
fn revising_an_indicator_needs_a_reason() {
    let revised = crate::support::set(fourteen_exchanges(), "target", json!("16"));
    given(demo_registered(false)).when(|s, _, ctx| set_indicator(s, set(revised.clone()), ctx)).then_fault(
        FaultKind::Validation,
        "reason",
        "required",
    );
    let with_reason = crate::support::set(revised, "reason", json!("amendment 2 of the grant agreement"));
    let events = given(demo_registered(false))
        .when(|s, _, ctx| set_indicator(s, set(with_reason), ctx))
        .then_types(&["IndicatorRevised"]);
    let state = ProgrammeState::from_events(demo_registered(false).iter().chain(&events));
    let programme = state.programme().unwrap();
    assert_eq!(programme.indicators.len(), 1);
    assert_eq!(programme.indicators[0].target.to_string(), "16");
}

#[test]
fn an_indicator_is_checked_against_the_programme() {
    let body = json!({"label": "Visits", "unit": "visits", "target": "14",
                      "measure": {"aggregate": "count", "kinds": ["cluster_visit"], "where": {"cluster": "cop7"}}});
    let cmd = SetIndicator::parse(&slug("visits"), &body).unwrap();
    given(demo_registered(false)).when(|s, _, ctx| set_indicator(s, cmd, ctx)).then_fault(
        FaultKind::Validation,
        "measure.where.cluster",
        "unknown cluster 'cop7'",
    );
}

#[test]
fn an_indicator_body_names_the_indicator_of_its_path() {
    let body = crate::support::set(fourteen_exchanges(), "id", json!("other"));
    let body = crate::support::set(body, "reason", json!(5));
    assert_eq!(
        faults_of(SetIndicator::parse(&slug("staff-exchanges"), &body)),
        pairs(&[("reason", "expected a string"), ("id", "must be the id in the path 'staff-exchanges'")])
    );
}

fn lock(period: &str, reason: &str) -> ChangePeriodLock {
    ChangePeriodLock { period: slug(period), reason: reason.to_string() }
}

#[test]
fn a_period_is_locked_and_unlocked_with_a_reason() {
    let locked = given(demo_registered(false))
        .when(|s, _, ctx| lock_period(s, lock("y2020", "2020 report submitted"), ctx))
        .then_types(&["PeriodLocked"]);
    let events: Vec<DomainEvent> = demo_registered(false).into_iter().chain(locked).collect();
    assert!(ProgrammeState::from_events(&events).is_locked("y2020"));
    given(events.clone()).when(|s, _, ctx| lock_period(s, lock("y2020", "again"), ctx)).then_fault(
        FaultKind::Conflict,
        "period",
        "period 'y2020' is already locked",
    );
    given(events.clone()).when(|s, _, ctx| unlock_period(s, lock("y2020", " "), ctx)).then_fault(
        FaultKind::Validation,
        "reason",
        "required",
    );
    let unlocked = given(events.clone())
        .when(|s, _, ctx| unlock_period(s, lock("y2020", "auditor asked for a correction"), ctx))
        .then_types(&["PeriodUnlocked"]);
    let events: Vec<DomainEvent> = events.into_iter().chain(unlocked).collect();
    assert!(!ProgrammeState::from_events(&events).is_locked("y2020"));
}

#[test]
fn locking_needs_a_known_period_a_reason_and_a_coordinator() {
    given(demo_registered(false)).when(|s, _, ctx| lock_period(s, lock("y2020", ""), ctx)).then_fault(
        FaultKind::Validation,
        "reason",
        "required",
    );
    given(demo_registered(false)).when(|s, _, ctx| lock_period(s, lock("y1999", "old"), ctx)).then_fault(
        FaultKind::NotFound,
        "period",
        "unknown period 'y1999'",
    );
    given(demo_registered(false)).when(|s, _, ctx| unlock_period(s, lock("y2020", "why not"), ctx)).then_fault(
        FaultKind::Conflict,
        "period",
        "period 'y2020' is not locked",
    );
    given(demo_registered(false))
        .by(recorder("torino"))
        .when(|s, _, ctx| lock_period(s, lock("y2020", "done"), ctx))
        .then_fault(FaultKind::Forbidden, "", "only the coordinator of 'demo' or an admin may lock periods");
}
