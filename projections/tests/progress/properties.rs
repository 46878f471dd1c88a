//! The property test: applying envelopes one by one equals a fresh replay, a report at a past position equals
//! the report of the log cut there, a snapshot reads back equal, and breakdowns add up to the actual value.

use events::{Activity, Aggregate, DomainEvent, Quantity};
use projections::{ProgressProjection, ProgressQuery};
use proptest::prelude::*;

use crate::{
    approved, corrected, day, demo, exchange, grant, json_of, recorded, registered, retracted, returned, submitted,
    workshop, Log,
};

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
