//! Given / when / then tests of the progress projection: domain events wrapped in envelopes with increasing
//! positions, then the report; and a property test that incremental application equals a fresh replay, that a
//! report at a past position equals the report of the log cut there, and that breakdowns add up.
//!
//! One test binary in modules by topic, sharing what this file holds: the [`Log`] that wraps events into
//! envelopes, the builders of activities and events, and the demo programme. `reports.rs` checks reports
//! (breakdowns, corrections, past positions, approval, odd envelopes); `lists.rs` the activity lists and their
//! filters; `snapshots.rs` snapshots and histories, also at positions beyond 32 bits; `seeds.rs` the seed
//! programmes and their empty reports; `properties.rs` the property test.

mod lists;
mod properties;
mod reports;
mod seeds;
mod snapshots;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use events::event::{
    ActivityApproved, ActivityCorrected, ActivityRecorded, ActivityRetracted, ActivityReturned, ActivitySubmitted,
    ProgrammeRegistered,
};
use events::{parse_activity, Activity, ChainHash, DomainEvent, Envelope, EventData, Programme, Slug, Timestamp};
use projections::{ProgressProjection, ProgressQuery, ProgressReport};
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
