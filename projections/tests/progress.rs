//! Given / when / then tests of the progress projection: domain events wrapped in envelopes with increasing
//! positions, then the report; and a property test that incremental application equals a fresh replay, that a
//! report at a past position equals the report of the log cut there, and that breakdowns add up.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use events::event::{
    ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted,
    ProgrammeRegistered,
};
use events::{
    parse_activity, Activity, ActivityKind, ActivityStatus, Aggregate, ChainHash, DomainEvent, Envelope, EventData, Programme, Quantity, Slug,
    Timestamp,
};
use projections::{ActivityFilter, IndicatorStatus, ProgressProjection, ProgressQuery, ProgressReport};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// Turns domain events into envelopes with positions 1, 2, 3… and per-stream versions.
#[derive(Default)]
struct Log {
    envelopes: Vec<Envelope>,
    versions: BTreeMap<String, u64>,
}

impl Log {
    fn push(&mut self, programme: &str, event: &DomainEvent) -> u64 {
        let slug = Slug::parse(programme).expect("test programme ids are slugs");
        let stream = event.stream(&slug).to_string();
        let version = self.versions.entry(stream.clone()).or_default();
        *version += 1;
        let position = self.envelopes.len() as u64 + 1;
        self.envelopes.push(Envelope {
            position,
            stream,
            version: *version,
            id: Uuid::from_u128(u128::from(position)),
            event_type: event.event_type().to_string(),
            schema: event.schema(),
            programme: programme.to_string(),
            recorded_at: Timestamp::from_micros(1_700_000_000_000_000 + position as i64 * 1_000_000),
            actor: "test".to_string(),
            correlation_id: None,
            causation_id: None,
            data: EventData::from_value(&event.to_data()),
            hash: ChainHash::GENESIS,
        });
        position
    }

    fn push_all(&mut self, programme: &str, events: &[DomainEvent]) -> u64 {
        events.iter().map(|e| self.push(programme, e)).last().unwrap_or(0)
    }

    fn projection(&self) -> ProgressProjection {
        ProgressProjection::from_envelopes(&self.envelopes)
    }
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn activity(body: Value) -> Activity {
    parse_activity(&body, None).expect("test activities are valid")
}

fn exchange(on: &str, host: &str, cluster: Option<&str>) -> Activity {
    let visitor = if host == "asti" { "torino" } else { "asti" };
    let mut body = json!({"kind": "staff_exchange", "occurred_on": on, "partner": host, "host": host,
        "visitor": visitor, "days": 5, "staff": 1});
    if let Some(cluster) = cluster {
        body["cluster"] = json!(cluster);
    }
    activity(body)
}

fn workshop(on: &str, partner: &str, cluster: Option<&str>, total: u32, women: u32) -> Activity {
    let mut body = json!({"kind": "workshop_held", "occurred_on": on, "partner": partner, "title": "Workshop",
        "participants": {"total": total, "women": women}});
    if let Some(cluster) = cluster {
        body["cluster"] = json!(cluster);
    }
    activity(body)
}

fn grant(on: &str, recipient: &str, amount: &str) -> Activity {
    activity(json!({"kind": "grant_awarded", "occurred_on": on, "partner": recipient, "recipient": recipient,
        "amount": amount, "purpose": "pilot"}))
}

fn recorded(n: u128, activity: Activity) -> DomainEvent {
    DomainEvent::ActivityRecorded(ActivityRecorded { activity_id: id(n), activity })
}

fn corrected(n: u128, activity: Activity) -> DomainEvent {
    DomainEvent::ActivityCorrected(ActivityCorrected {
        activity_id: id(n),
        reason: "typo".to_string(),
        changes: Map::new(),
        activity,
    })
}

fn retracted(n: u128) -> DomainEvent {
    DomainEvent::ActivityRetracted(ActivityRetracted { activity_id: id(n), reason: "duplicate".to_string() })
}

fn submitted(n: u128) -> DomainEvent {
    DomainEvent::ActivitySubmitted(ActivitySubmitted { activity_id: id(n) })
}

fn approved(n: u128) -> DomainEvent {
    DomainEvent::ActivityApproved(ActivityApproved { activity_id: id(n), note: None })
}

fn returned(n: u128) -> DomainEvent {
    DomainEvent::ActivityReturned(ActivityReturned { activity_id: id(n), note: "add evidence".to_string() })
}

/// A small programme, 2020–2022, with a count, a sum over a nested field with a condition, a money sum, a
/// distinct measure and a milestone.
fn demo(require_approval: bool) -> Programme {
    Programme::parse(&json!({
        "id": "demo",
        "name": "Demo programme",
        "coordinator": "eurocities",
        "starts_on": "2020-01-01",
        "ends_on": "2022-12-31",
        "budget": "100000",
        "require_approval": require_approval,
        "partners": [
            {"id": "eurocities", "name": "Eurocities", "kind": "network", "country": "BE", "role": "coordinator"},
            {"id": "torino", "name": "Torino", "kind": "city", "country": "IT", "role": "core_city", "budget_share": "30979.71"},
            {"id": "asti", "name": "Asti", "kind": "city", "country": "IT", "role": "other", "budget_share": "1000"},
            {"id": "paris", "name": "Paris", "kind": "city", "country": "FR", "role": "core_city"}
        ],
        "clusters": [{"id": "cop1", "name": "CoP1", "members": ["torino", "paris"]}],
        "indicators": [
            {"id": "staff-exchanges", "label": "Staff exchanges", "unit": "exchanges", "target": "12",
             "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}},
            {"id": "women-in-cop1", "label": "Women trained in CoP1", "unit": "people", "target": "100",
             "milestones": [{"by": "2021-06-30", "target": "40"}],
             "measure": {"aggregate": "sum", "kinds": ["workshop_held"], "field": "participants.women",
                         "where": {"cluster": "cop1"}}},
            {"id": "grants", "label": "Grants", "unit": "EUR", "target": "50000.00",
             "measure": {"aggregate": "sum", "kinds": ["grant_awarded"], "field": "amount"}},
            {"id": "hosts", "label": "Hosting cities", "unit": "cities", "target": "0",
             "measure": {"aggregate": "distinct", "kinds": ["staff_exchange"], "field": "host"}}
        ]
    }))
    .expect("the demo programme is valid")
}

fn registered(require_approval: bool) -> DomainEvent {
    DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme: demo(require_approval) })
}

fn query(as_of: &str) -> ProgressQuery {
    ProgressQuery { as_of: day(as_of), at_position: None }
}

fn json_of(report: &ProgressReport) -> String {
    serde_json::to_string(report).expect("reports serialise")
}

fn indicator<'a>(report: &'a ProgressReport, id: &str) -> &'a projections::IndicatorReport {
    report.indicators.iter().find(|i| i.id == id).expect("indicator in report")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn seeds_give_an_empty_report_with_every_indicator() {
    for (file, id) in [("connection.json", "connection"), ("unites.json", "unites")] {
        let text = std::fs::read_to_string(format!("{}/../seeds/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let programme = Programme::parse(&serde_json::from_str(&text).unwrap()).expect("seed parses");
        let count = programme.indicators.len();
        let mut log = Log::default();
        log.push(id, &DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme }));
        let report = log.projection().report(id, &query("2022-12-31")).expect("report");
        assert_eq!(report.position, 1);
        assert_eq!(report.indicators.len(), count);
        assert!(report.indicators.iter().all(|i| i.pending == "0" && i.by_partner.is_empty()));
        assert!(report.indicators.iter().all(|i| i.status == IndicatorStatus::Behind || i.target == "0"));
    }
}

#[test]
fn counts_and_sums_with_breakdowns_in_the_spec_shape() {
    let mut log = Log::default();
    log.push_all(
        "demo",
        &[
            registered(false),
            recorded(1, exchange("2020-03-01", "torino", Some("cop1"))),
            recorded(2, exchange("2020-04-01", "paris", Some("cop1"))),
            recorded(3, exchange("2020-05-01", "torino", None)),
            recorded(4, exchange("2022-05-01", "paris", None)),
            recorded(5, workshop("2020-06-01", "torino", Some("cop1"), 30, 12)),
            recorded(6, workshop("2020-06-02", "paris", None, 30, 20)),
            recorded(7, grant("2020-07-01", "torino", "30979.71")),
            recorded(8, grant("2020-07-02", "asti", "1000")),
        ],
    );
    let report = log.projection().report("demo", &query("2021-12-31")).expect("report");
    let value: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["programme"], "demo");
    assert_eq!(value["as_of"], "2021-12-31");
    assert_eq!(value["position"], 9);
    let exchanges = &value["indicators"][0];
    assert_eq!(exchanges["id"], "staff-exchanges");
    assert_eq!(exchanges["actual"], "3");
    assert_eq!(exchanges["pending"], "0");
    assert_eq!(exchanges["percent"], json!(25.0));
    // Linear from 0 on 2020-01-01 to 12 on 2022-12-31: 730 of 1095 days → 8.
    assert_eq!(exchanges["expected"], "8");
    assert_eq!(exchanges["status"], "behind");
    assert_eq!(exchanges["by_partner"], json!({"paris": "1", "torino": "2"}));
    assert_eq!(exchanges["by_cluster"], json!({"cop1": "2", "none": "1"}));

    let women = indicator(&report, "women-in-cop1");
    assert_eq!(women.actual, "12");
    assert_eq!(women.expected, "40");
    assert_eq!(women.status, IndicatorStatus::Behind);
    assert_eq!(women.by_cluster, map(&[("cop1", "12")]));

    let grants = indicator(&report, "grants");
    assert_eq!(grants.actual, "31979.71");
    assert_eq!(grants.percent, Some(64.0));
    assert_eq!(grants.by_partner, map(&[("asti", "1000.00"), ("torino", "30979.71")]));

    let hosts = indicator(&report, "hosts");
    assert_eq!(hosts.actual, "2");
    assert_eq!(hosts.percent, None);
    assert_eq!(hosts.status, IndicatorStatus::Achieved);

    assert_eq!(
        value["budget"],
        json!({"currency": "EUR", "total": "100000.00", "partner_shares": "31979.71",
               "grants_awarded": "31979.71", "grants_paid": "0.00"})
    );

    let before = log.projection().report("demo", &query("2019-12-31")).unwrap();
    assert!(before.indicators.iter().all(|i| i.status == IndicatorStatus::NotStarted && i.actual == "0"));
}

#[test]
fn corrections_and_retractions_and_reports_at_a_past_position() {
    let mut log = Log::default();
    let mid = log.push_all(
        "demo",
        &[
            registered(false),
            recorded(1, exchange("2020-03-01", "torino", Some("cop1"))),
            recorded(2, exchange("2020-04-01", "paris", Some("cop1"))),
            recorded(3, workshop("2020-06-01", "torino", Some("cop1"), 30, 12)),
        ],
    );
    let projection = log.projection();
    let then = json_of(&projection.report("demo", &query("2022-12-31")).unwrap());

    log.push_all(
        "demo",
        &[
            corrected(1, exchange("2020-03-01", "asti", None)),
            retracted(2),
            corrected(3, workshop("2020-06-01", "torino", Some("cop1"), 30, 25)),
            recorded(4, exchange("2023-01-05", "paris", None)),
        ],
    );
    let projection = log.projection();
    let now = projection.report("demo", &query("2022-12-31")).unwrap();
    let exchanges = indicator(&now, "staff-exchanges");
    assert_eq!(exchanges.actual, "1");
    assert_eq!(exchanges.by_partner, map(&[("asti", "1")]));
    assert_eq!(exchanges.by_cluster, map(&[("none", "1")]));
    assert_eq!(indicator(&now, "women-in-cop1").actual, "25");
    assert_eq!(now.position, 8);

    let past = ProgressQuery { as_of: day("2022-12-31"), at_position: Some(mid) };
    assert_eq!(json_of(&projection.report("demo", &past).unwrap()), then);

    let history = projection.activity("demo", &id(2)).expect("activity 2");
    let positions: Vec<u64> = history.revisions().iter().map(|r| r.position()).collect();
    assert_eq!(positions, vec![3, 6]);
    assert_eq!(history.current().unwrap().status(), events::ActivityStatus::Retracted);
}

#[test]
fn approval_counts_approved_as_actual_and_submitted_as_pending() {
    let mut log = Log::default();
    log.push_all(
        "demo",
        &[
            registered(true),
            recorded(1, exchange("2020-03-01", "torino", None)),
            submitted(1),
            approved(1),
            recorded(2, exchange("2020-04-01", "paris", None)),
            submitted(2),
            recorded(3, exchange("2020-05-01", "paris", None)),
            submitted(3),
            returned(3),
            recorded(4, exchange("2020-05-01", "paris", None)),
            submitted(4),
            retracted(4),
            recorded(5, exchange("2020-06-01", "asti", None)),
        ],
    );
    let report = log.projection().report("demo", &query("2022-12-31")).unwrap();
    let exchanges = indicator(&report, "staff-exchanges");
    assert_eq!(exchanges.actual, "1");
    assert_eq!(exchanges.pending, "1");
    assert_eq!(exchanges.by_partner, map(&[("torino", "1")]));
}

#[test]
fn ignores_unknown_or_broken_envelopes_and_unknown_programmes() {
    let mut log = Log::default();
    log.push("demo", &registered(false));
    log.push("demo", &recorded(1, exchange("2020-03-01", "torino", None)));
    let mut odd = log.envelopes[1].clone();
    odd.position = 3;
    odd.event_type = "SomethingElse".to_string();
    log.envelopes.push(odd.clone());
    odd.position = 4;
    odd.event_type = "ActivityRecorded".to_string();
    odd.data = EventData::from_value(&json!({"nonsense": true}));
    log.envelopes.push(odd.clone());
    odd.position = 5;
    odd.schema = 99;
    log.envelopes.push(odd);
    let mut projection = log.projection();
    projection.apply(&log.envelopes[1]); // re-delivered: skipped
    assert_eq!(projection.position(), 5);
    let report = projection.report("demo", &query("2022-12-31")).unwrap();
    assert_eq!(indicator(&report, "staff-exchanges").actual, "1");
    assert!(projection.report("nowhere", &query("2022-12-31")).is_none());
    let early = ProgressQuery { as_of: day("2022-12-31"), at_position: Some(0) };
    assert!(projection.report("demo", &early).is_none());
}

// ---- property test ----

#[derive(Clone, Debug)]
enum Op {
    Record(u128, Activity),
    Correct(u128, Activity),
    Retract(u128),
    Submit(u128),
    Approve(u128),
    Return(u128),
}

fn arb_activity() -> impl Strategy<Value = Activity> {
    let partner = prop::sample::select(vec!["torino", "paris", "asti"]);
    let cluster = prop::option::of(Just("cop1"));
    let date = (2020i32..=2022, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}"));
    (0u8..3, partner, cluster, date, 0u32..50, 0u32..=10_000_000).prop_map(
        |(kind, partner, cluster, date, n, cents)| match kind {
            0 => exchange(&date, partner, cluster),
            1 => workshop(&date, partner, cluster, n + 10, n),
            _ => grant(&date, partner, &format!("{}.{:02}", cents / 100, cents % 100)),
        },
    )
}

fn arb_op() -> impl Strategy<Value = Op> {
    let n = 0u128..6;
    prop_oneof![
        3 => (n.clone(), arb_activity()).prop_map(|(n, a)| Op::Record(n, a)),
        2 => (n.clone(), arb_activity()).prop_map(|(n, a)| Op::Correct(n, a)),
        1 => n.clone().prop_map(Op::Retract),
        1 => n.clone().prop_map(Op::Submit),
        1 => n.clone().prop_map(Op::Approve),
        1 => n.prop_map(Op::Return),
    ]
}

fn to_event(op: Op) -> DomainEvent {
    match op {
        Op::Record(n, a) => recorded(n, a),
        Op::Correct(n, a) => corrected(n, a),
        Op::Retract(n) => retracted(n),
        Op::Submit(n) => submitted(n),
        Op::Approve(n) => approved(n),
        Op::Return(n) => returned(n),
    }
}

fn hundredths(text: &str) -> i64 {
    Quantity::parse(text).expect("report values are decimals").hundredths()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_equals_replay_and_breakdowns_add_up(
        approval in any::<bool>(),
        ops in prop::collection::vec(arb_op(), 0..40),
        as_of in prop::sample::select(vec!["2019-12-31", "2020-06-30", "2021-06-30", "2022-12-31"]),
    ) {
        let mut log = Log::default();
        log.push("demo", &registered(approval));
        for op in ops {
            log.push("demo", &to_event(op));
        }
        let full = log.projection();
        let mut incremental = ProgressProjection::new();
        for (i, envelope) in log.envelopes.iter().enumerate() {
            incremental.apply(envelope);
            let replayed = ProgressProjection::from_envelopes(&log.envelopes[..=i]);
            let q = ProgressQuery { as_of: day(as_of), at_position: None };
            let now = json_of(&incremental.report("demo", &q).unwrap());
            prop_assert_eq!(&now, &json_of(&replayed.report("demo", &q).unwrap()));
            let past = ProgressQuery { as_of: day(as_of), at_position: Some(envelope.position) };
            prop_assert_eq!(&now, &json_of(&full.report("demo", &past).unwrap()));
        }
        prop_assert_eq!(&incremental, &full);
        // A snapshot reads back as the same projection, on one thread or several.
        let snapshot = incremental.to_snapshot(2);
        for threads in [1, 2] {
            let restored = ProgressProjection::from_snapshot(&snapshot, threads).unwrap();
            prop_assert_eq!(&restored, &incremental);
        }

        let programme = demo(approval);
        let report = full.report("demo", &ProgressQuery { as_of: day(as_of), at_position: None }).unwrap();
        for (definition, indicator) in programme.indicators.iter().zip(&report.indicators) {
            if definition.measure.aggregate == Aggregate::Distinct {
                continue;
            }
            let actual = hundredths(&indicator.actual);
            let by_partner: i64 = indicator.by_partner.values().map(|v| hundredths(v)).sum();
            let by_cluster: i64 = indicator.by_cluster.values().map(|v| hundredths(v)).sum();
            prop_assert_eq!(by_partner, actual);
            prop_assert_eq!(by_cluster, actual);
        }
    }
}

/// A reviewable text form of a seed's definition and its empty progress report.
fn seed_snapshot(file: &str, id: &str, as_of: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/../seeds/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let programme = Programme::parse(&serde_json::from_str(&text).unwrap()).expect("seed parses");
    let mut out = format!(
        "{} {}..{} coordinator={} budget={:?} currency={}\n",
        programme.id, programme.starts_on, programme.ends_on, programme.coordinator,
        programme.budget.as_ref().map(|b| b.to_string()), programme.currency
    );
    for p in &programme.partners {
        let share = p.budget_share.as_ref().map(|s| format!(" share={s}")).unwrap_or_default();
        let country = serde_json::to_value(&p.country).unwrap();
        out += &format!("partner {} role={} country={}{share}\n", p.id, serde_json::to_value(p.role).unwrap().as_str().unwrap(), country);
    }
    for c in &programme.clusters {
        let members: Vec<String> = c.members.iter().map(|m| m.to_string()).collect();
        out += &format!("cluster {} members=[{}]\n", c.id, members.join(" "));
    }
    let mut log = Log::default();
    log.push(id, &DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme }));
    let report = log.projection().report(id, &query(as_of)).expect("report");
    out += &format!("report as_of={} position={}\n", report.as_of, report.position);
    for i in &report.indicators {
        out += &format!(
            "  {} target={} actual={} pending={} percent={:?} expected={} status={}\n",
            i.id, i.target, i.actual, i.pending, i.percent, i.expected, i.status.as_str()
        );
    }
    out + &format!("  budget {}\n", serde_json::to_string(&report.budget).unwrap())
}

#[test]
fn connection_definition_and_empty_report_snapshot() {
    expect_test::expect![[r#"
        connection 2020-01-01..2022-12-31 coordinator=eurocities budget=Some("1874876.03") currency=EUR
        partner eurocities role=coordinator country="BE"
        partner migrationwork role=expert country="BE"
        partner antwerp role=core_city country="BE"
        partner athens role=core_city country="GR"
        partner dortmund role=core_city country="DE"
        partner gothenburg role=core_city country="SE"
        partner madrid role=core_city country="ES"
        partner paris role=core_city country="FR"
        partner rotterdam role=core_city country="NL"
        partner sofia role=core_city country="BG"
        partner stockholm role=core_city country=null
        partner tampere role=core_city country="FI"
        partner torino role=core_city country="IT" share=30979.71
        partner utrecht role=core_city country="NL"
        partner warsaw role=core_city country="PL"
        partner zagreb role=core_city country="HR"
        partner anci-piemonte role=regional_partner country="IT"
        partner thessaloniki-region role=regional_partner country="GR"
        partner asti role=other country="IT"
        partner cuneo role=other country="IT"
        partner settimo-torinese role=other country="IT"
        cluster cop1 members=[torino anci-piemonte thessaloniki-region paris zagreb]
        cluster cop2 members=[]
        cluster cop3 members=[]
        cluster cop4 members=[]
        report as_of=2021-06-30 position=1
          new-policies target=7 actual=0 pending=0 percent=Some(0.0) expected=3 status=behind
          policy-cities target=7 actual=0 pending=0 percent=Some(0.0) expected=3 status=behind
          grants target=250000.00 actual=0 pending=0 percent=Some(0.0) expected=124657.53 status=behind
          action-plans target=7 actual=0 pending=0 percent=Some(0.0) expected=3 status=behind
          staff-exchanges target=14 actual=0 pending=0 percent=Some(0.0) expected=7 status=behind
          cluster-visits target=14 actual=0 pending=0 percent=Some(0.0) expected=7 status=behind
          integration-champions target=8 actual=0 pending=0 percent=Some(0.0) expected=4 status=behind
          how-to-guides target=4 actual=0 pending=0 percent=Some(0.0) expected=2 status=behind
          videos target=4 actual=0 pending=0 percent=Some(0.0) expected=2 status=behind
          conference target=1 actual=0 pending=0 percent=Some(0.0) expected=1 status=behind
          budget {"currency":"EUR","total":"1874876.03","partner_shares":"30979.71","grants_awarded":"0.00","grants_paid":"0.00"}
    "#]].assert_eq(&seed_snapshot("connection.json", "connection", "2021-06-30"));
}

#[test]
fn unites_definition_and_empty_report_snapshot() {
    expect_test::expect![[r#"
        unites 2021-01-01..2024-12-31 coordinator=eurocities budget=None currency=EUR
        partner eurocities role=coordinator country="BE"
        partner new-women-connectors role=advisory country=null
        partner migrationwork role=other country=null
        partner unitee role=other country=null
        partner athens role=core_city country="GR"
        partner bologna role=core_city country="IT"
        partner dusseldorf role=core_city country="DE"
        partner grenoble-alpes-metropole role=core_city country="FR"
        partner oulu role=core_city country="FI"
        partner prague role=core_city country="CZ"
        partner zagreb role=core_city country="HR"
        partner zaragoza role=core_city country="ES"
        report as_of=2023-01-01 position=1
          grants target=160000.00 actual=0 pending=0 percent=Some(0.0) expected=80000.00 status=behind
          grant-cities target=8 actual=0 pending=0 percent=Some(0.0) expected=4 status=behind
          pilot-training target=1 actual=0 pending=0 percent=Some(0.0) expected=1 status=behind
          mooc target=1 actual=0 pending=0 percent=Some(0.0) expected=1 status=behind
          consultation-mechanisms target=8 actual=0 pending=0 percent=Some(0.0) expected=4 status=behind
          co-designed-strategies target=8 actual=0 pending=0 percent=Some(0.0) expected=4 status=behind
          peer-visits target=8 actual=0 pending=0 percent=Some(0.0) expected=4 status=behind
          budget {"currency":"EUR","total":null,"partner_shares":"0.00","grants_awarded":"0.00","grants_paid":"0.00"}
    "#]].assert_eq(&seed_snapshot("unites.json", "unites", "2023-01-01"));
}

#[test]
fn activity_lists_filter_by_kind_partner_cluster_status_and_dates_and_page_by_id() {
    let mut log = Log::default();
    log.push_all(
        "demo",
        &[
            registered(false),
            recorded(1, exchange("2020-03-01", "torino", Some("cop1"))),
            recorded(2, exchange("2020-04-01", "paris", None)),
            recorded(3, exchange("2021-05-01", "torino", None)),
            retracted(3),
        ],
    );
    let projection = log.projection();
    // The activities listed, as the numbers they were recorded under.
    let ids = |filter: &ActivityFilter, after: Option<u128>, limit: usize| -> Vec<u128> {
        let listed = projection.list_activities("demo", filter, after.map(id), limit);
        listed.iter().map(|(listed, _)| (1..=3).find(|&n| id(n) == *listed).expect("a recorded activity")).collect()
    };
    let all = ActivityFilter::default();
    assert_eq!(ids(&all, None, 10), [1, 2, 3]);
    assert_eq!(ids(&all, None, 2), [1, 2]);
    assert_eq!(ids(&all, Some(2), 2), [3]);
    let torino = ActivityFilter { partner: Some("torino".into()), ..Default::default() };
    assert_eq!(ids(&torino, None, 10), [1, 3]);
    let no_cluster = ActivityFilter { cluster: Some("none".into()), ..Default::default() };
    assert_eq!(ids(&no_cluster, None, 10), [2, 3]);
    let retracted = ActivityFilter { status: Some(ActivityStatus::Retracted), ..Default::default() };
    assert_eq!(ids(&retracted, None, 10), [3]);
    let in_2020 = ActivityFilter { from: Some(day("2020-03-02")), to: Some(day("2020-12-31")), ..Default::default() };
    assert_eq!(ids(&in_2020, None, 10), [2]);
    let workshops = ActivityFilter { kind: Some(ActivityKind::WorkshopHeld), ..Default::default() };
    assert!(ids(&workshops, None, 10).is_empty());
    assert!(projection.list_activities("atlantis", &all, None, 10).is_empty());
}

#[test]
fn a_snapshot_keeps_every_kind_and_every_lifecycle_step() {
    let bodies = [
        json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "ends_on": "2021-10-15", "host": "torino",
               "visitor": "asti", "cluster": "cop1", "days": 5, "staff": 2, "title": "T", "notes": "n",
               "evidence": [{"title": "Agenda", "url": "https://example.org/a.pdf", "sha256": "a".repeat(64)}]}),
        json!({"kind": "cluster_visit", "occurred_on": "2021-03-04", "cluster": "cop1", "host": "torino",
               "participants": {"total": 25, "women": 14, "migrants": 3}}),
        json!({"kind": "workshop_held", "occurred_on": "2021-05-01", "title": "Peer review", "partner": "asti"}),
        json!({"kind": "grant_awarded", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "30979.71",
               "purpose": "pilot"}),
        json!({"kind": "grant_paid", "occurred_on": "2021-02-01", "recipient": "asti", "amount": "5"}),
        json!({"kind": "champion_trained", "occurred_on": "2021-05-01", "partner": "torino", "champion": "champion-3"}),
        json!({"kind": "action_plan_endorsed", "occurred_on": "2021-05-01", "partner": "torino", "title": "Plan"}),
        json!({"kind": "policy_implemented", "occurred_on": "2021-05-01", "partner": "torino", "title": "One-stop",
               "cluster": "cop1"}),
        json!({"kind": "guide_published", "occurred_on": "2022-03-01", "partner": "torino", "title": "Guide",
               "languages": ["en", "it"], "url": "http://example.org/g"}),
        json!({"kind": "video_published", "occurred_on": "2022-03-01", "partner": "torino", "title": "CoP1",
               "url": "https://example.org/v", "cluster": "cop1"}),
        json!({"kind": "conference_held", "occurred_on": "2022-03-01", "title": "Final", "host": "paris",
               "participants": {"total": 200, "women": 120}}),
        json!({"kind": "training_delivered", "occurred_on": "2021-03-04", "partner": "torino", "title": "Co-design",
               "mode": "hybrid"}),
        json!({"kind": "course_published", "occurred_on": "2021-05-01", "partner": "torino", "title": "MOOC",
               "hours": "2.5"}),
        json!({"kind": "peer_visit", "occurred_on": "2022-03-01", "host": "torino", "visitors": ["asti", "paris"]}),
        json!({"kind": "consultation_held", "occurred_on": "2022-03-01", "partner": "paris", "title": "Hearing"}),
        json!({"kind": "strategy_adopted", "occurred_on": "2022-03-01", "partner": "paris", "title": "Strategy"}),
        json!({"kind": "custom", "occurred_on": "2021-05-01", "partner": "asti", "label": "Radio interview",
               "attributes": {"minutes": -12, "station": "RAI", "live": true, "taped": false}}),
    ];
    let mut log = Log::default();
    log.push("demo", &registered(true));
    log.push("other", &DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme: demo(false) }));
    let kinds: Vec<Activity> = bodies.into_iter().map(activity).collect();
    for (n, activity) in kinds.iter().enumerate() {
        let n = n as u128;
        log.push("demo", &recorded(n, activity.clone()));
        log.push("other", &recorded(100 + n, activity.clone()));
    }
    log.push_all(
        "demo",
        &[submitted(0), returned(0), corrected(0, kinds[1].clone()), submitted(0), approved(0), retracted(1)],
    );
    // An event about an activity that was never recorded still leaves a revision without an activity.
    log.push("demo", &approved(999));
    // More partners than the snapshot's short list of slugs holds.
    for n in 0..40u128 {
        log.push("demo", &recorded(500 + n, exchange("2021-06-01", &format!("partner-{}", n % 37), Some("cop1"))));
    }
    let projection = log.projection();
    assert_eq!(projection.activity("demo", &id(0)).unwrap().revisions().len(), 6);
    let snapshot = projection.to_snapshot(3);
    let restored = ProgressProjection::from_snapshot(&snapshot, 2).unwrap();
    assert_eq!(restored, projection);
    let q = query("2022-12-31");
    assert_eq!(json_of(&restored.report("demo", &q).unwrap()), json_of(&projection.report("demo", &q).unwrap()));
    for cut in [0, 1, snapshot.len() / 2, snapshot.len() - 1] {
        assert!(ProgressProjection::from_snapshot(&snapshot[..cut], 2).is_err(), "cut at {cut}");
    }
}

#[test]
fn positions_beyond_32_bits_give_the_same_reports_histories_and_snapshot() {
    let mut log = Log::default();
    log.push("demo", &registered(true));
    for n in 0..5_000u128 {
        let host = ["torino", "asti", "paris"][n as usize % 3];
        log.push("demo", &recorded(n, exchange(&format!("2021-{:02}-11", 1 + n % 12), host, (n % 2 == 0).then_some("cop1"))));
        match n % 7 {
            0 => log.push_all("demo", &[submitted(n), approved(n)]),
            3 => log.push_all("demo", &[corrected(n / 2, workshop("2021-05-01", "torino", None, 10, 4)), submitted(n / 2)]),
            5 => log.push("demo", &retracted(n - 1)),
            _ => 0,
        };
    }
    // The same log with every position far apart: consecutive ones more than `u32::MAX` apart.
    let far = |position: u64| position * 5_000_000_000;
    let mut shifted = log.envelopes.clone();
    for envelope in &mut shifted {
        envelope.position = far(envelope.position);
    }
    let (near, wide) = (log.projection(), ProgressProjection::from_envelopes(&shifted));
    let restored = ProgressProjection::from_snapshot(&wide.to_snapshot(2), 2).unwrap();
    assert_eq!(restored, wide);
    let head = log.envelopes.len() as u64;
    for position in (1..head).step_by(997).chain([head]) {
        let expected = near.report("demo", &ProgressQuery { as_of: day("2022-12-31"), at_position: Some(position) }).unwrap();
        for projection in [&wide, &restored] {
            let mut report = projection.report("demo", &ProgressQuery { as_of: day("2022-12-31"), at_position: Some(far(position)) }).unwrap();
            assert_eq!(report.position, far(expected.position), "at {position}");
            report.position = expected.position;
            assert_eq!(json_of(&report), json_of(&expected), "at {position}");
        }
    }
    for n in [0, 6, 7, 1000, 4999] {
        let positions = |projection: &ProgressProjection| -> Vec<u64> {
            projection.activity("demo", &id(n)).unwrap().revisions().iter().map(|r| r.position()).collect()
        };
        assert_eq!(positions(&restored), positions(&near).into_iter().map(far).collect::<Vec<_>>(), "activity {n}");
    }
}
