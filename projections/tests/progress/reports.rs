//! Reports as the spec shapes them: counts, sums and distinct measures with their breakdowns, corrections and
//! retractions, reports at a past position, approval's actual and pending, and envelopes the projection skips.

use events::EventData;
use projections::{IndicatorStatus, ProgressQuery};
use serde_json::{json, Value};

use crate::{
    approved, corrected, day, exchange, grant, id, indicator, json_of, map, query, recorded, registered, retracted,
    returned, submitted, workshop, Log,
};

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
    // Every partner and cluster of the programme has a row, zeros included.
    assert_eq!(exchanges["by_partner"], json!({"asti": "0", "eurocities": "0", "paris": "1", "torino": "2"}));
    assert_eq!(exchanges["by_cluster"], json!({"cop1": "2", "none": "1"}));

    let women = indicator(&report, "women-in-cop1");
    assert_eq!(women.actual, "12");
    assert_eq!(women.expected, "40");
    assert_eq!(women.status, IndicatorStatus::Behind);
    assert_eq!(women.by_cluster, map(&[("cop1", "12"), ("none", "0")]));

    let grants = indicator(&report, "grants");
    assert_eq!(grants.actual, "31979.71");
    assert_eq!(grants.percent, Some(64.0));
    assert_eq!(grants.by_partner, map(&[("asti", "1000.00"), ("eurocities", "0.00"), ("paris", "0.00"), ("torino", "30979.71")]));

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
    assert_eq!(exchanges.by_partner, map(&[("asti", "1"), ("eurocities", "0"), ("paris", "0"), ("torino", "0")]));
    assert_eq!(exchanges.by_cluster, map(&[("cop1", "0"), ("none", "1")]));
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
    assert_eq!(exchanges.by_partner, map(&[("asti", "0"), ("eurocities", "0"), ("paris", "0"), ("torino", "1")]));
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
