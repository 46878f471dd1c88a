//! Snapshots and histories: a snapshot keeps every kind of activity and every lifecycle step, and positions
//! more than 32 bits apart give the same reports, histories and snapshot as close ones.

use events::event::ProgrammeRegistered;
use events::{Activity, DomainEvent};
use projections::{ProgressProjection, ProgressQuery};
use serde_json::json;

use crate::{
    activity, approved, corrected, day, demo, exchange, id, json_of, query, recorded, registered, retracted,
    returned, submitted, workshop, Log,
};

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

#[test]
fn the_iati_settings_are_kept_by_position_and_in_a_snapshot() {
    use events::event::IatiSettingsChanged;
    let settings = |body: serde_json::Value| events::IatiSettings::parse(&body).unwrap();
    let first = settings(json!({"reporting_org": {"ref": "XM-DAC-41114", "type": "21"}, "sectors": [{"code": "15190"}]}));
    let second = settings(json!({"recipient_region": "89"}));
    let mut log = Log::default();
    let registered_at = log.push("demo", &registered(false));
    let first_at = log.push("demo", &DomainEvent::IatiSettingsChanged(IatiSettingsChanged { settings: first.clone() }));
    log.push("demo", &recorded(1, exchange("2021-10-11", "torino", None)));
    let second_at = log.push("demo", &DomainEvent::IatiSettingsChanged(IatiSettingsChanged { settings: second.clone() }));
    let projection = log.projection();
    let at = |p: &ProgressProjection, position: u64| p.programme_state_at("demo", position).and_then(|s| s.iati_settings().cloned());
    assert_eq!(at(&projection, registered_at), None, "a log without settings has none");
    assert_eq!(at(&projection, first_at), Some(first.clone()));
    assert_eq!(at(&projection, second_at - 1), Some(first));
    assert_eq!(at(&projection, u64::MAX), Some(second.clone()));
    assert_eq!(projection.programme_state_at("demo", 0), None);
    let restored = ProgressProjection::from_snapshot(&projection.to_snapshot(2), 2).unwrap();
    assert_eq!(restored, projection);
    assert_eq!(at(&restored, second_at), Some(second));
}
