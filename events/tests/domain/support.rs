//! The given / when / then helper and a small test programme ("demo") that the scenarios run against.

use chrono::NaiveDate;
use events::{
    record_activity, register_programme, ActivityState, CommandContext, DomainEvent, FaultKind, Faults, Programme,
    ProgrammeState, RecordActivity, Role, Slug,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// "Today" in every scenario unless a test says otherwise.
pub(crate) fn today() -> NaiveDate {
    day("2022-06-30")
}

pub(crate) fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test dates are valid")
}

pub(crate) fn slug(text: &str) -> Slug {
    Slug::parse(text).expect("test slugs are valid")
}

/// The id of the activity in single-activity scenarios.
pub(crate) fn activity_id() -> Uuid {
    Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001)
}

pub(crate) fn admin() -> CommandContext {
    CommandContext { today: today(), role: Role::Admin }
}

pub(crate) fn coordinator() -> CommandContext {
    CommandContext { today: today(), role: Role::Coordinator { programme: slug("demo") } }
}

pub(crate) fn recorder(partner: &str) -> CommandContext {
    CommandContext { today: today(), role: Role::Recorder { programme: slug("demo"), partner: slug(partner) } }
}

pub(crate) fn auditor() -> CommandContext {
    CommandContext { today: today(), role: Role::Auditor }
}

/// The test programme's definition: 2020–2022, coordinator Eurocities, three cities, one cluster, two periods.
pub(crate) fn demo_json() -> Value {
    json!({
        "id": "demo",
        "name": "Demo programme",
        "coordinator": "eurocities",
        "starts_on": "2020-01-01",
        "ends_on": "2022-12-31",
        "budget": "100000",
        "partners": [
            {"id": "eurocities", "name": "Eurocities", "kind": "network", "country": "BE", "role": "coordinator"},
            {"id": "torino", "name": "Torino", "kind": "city", "country": "IT", "role": "core_city", "budget_share": "30979.71"},
            {"id": "asti", "name": "Asti", "kind": "city", "country": "IT", "role": "other"},
            {"id": "paris", "name": "Paris", "kind": "city", "country": "FR", "role": "core_city"}
        ],
        "clusters": [{"id": "cop1", "name": "CoP1", "members": ["torino", "paris"]}],
        "indicators": [
            {"id": "staff-exchanges", "label": "Staff exchanges", "unit": "exchanges", "target": "14",
             "measure": {"aggregate": "count", "kinds": ["staff_exchange"]}}
        ],
        "periods": [
            {"id": "y2020", "starts_on": "2020-01-01", "ends_on": "2020-12-31"},
            {"id": "y2021", "starts_on": "2021-01-01", "ends_on": "2021-12-31"}
        ]
    })
}

pub(crate) fn demo() -> Programme {
    Programme::parse(&demo_json()).expect("the demo programme is valid")
}

/// The events of registering the demo programme, optionally requiring approval.
pub(crate) fn demo_registered(require_approval: bool) -> Vec<DomainEvent> {
    let mut programme = demo();
    programme.require_approval = require_approval;
    register_programme(&ProgrammeState::new(), programme, &admin()).expect("registering the demo programme")
}

/// A staff exchange Torino hosts for Asti in 2021.
pub(crate) fn exchange() -> Value {
    json!({"kind": "staff_exchange", "occurred_on": "2021-10-11", "host": "torino", "visitor": "asti",
           "cluster": "cop1", "days": 5, "staff": 2})
}

/// `events` followed by the events of recording `body` (as the coordinator) with [`activity_id`].
pub(crate) fn with_recorded(mut events: Vec<DomainEvent>, body: Value) -> Vec<DomainEvent> {
    let state = ProgrammeState::from_events(&events);
    let recorded = record_activity(&state, RecordActivity { activity_id: activity_id(), body }, &coordinator())
        .expect("recording the given activity");
    events.extend(recorded);
    events
}

/// The state the given events leave, and who acts.
#[derive(Debug)]
pub(crate) struct Scenario {
    pub(crate) programme: ProgrammeState,
    pub(crate) activity: ActivityState,
    pub(crate) ctx: CommandContext,
}

/// Given these events (applied to the programme and to the activity), acting as the coordinator.
pub(crate) fn given(events: Vec<DomainEvent>) -> Scenario {
    Scenario {
        programme: ProgrammeState::from_events(&events),
        activity: ActivityState::from_events(&events),
        ctx: coordinator(),
    }
}

impl Scenario {
    /// Acting as someone else.
    pub(crate) fn by(mut self, ctx: CommandContext) -> Scenario {
        self.ctx = ctx;
        self
    }

    pub(crate) fn when(
        self,
        command: impl FnOnce(&ProgrammeState, &ActivityState, &CommandContext) -> Result<Vec<DomainEvent>, Faults>,
    ) -> Outcome {
        Outcome(command(&self.programme, &self.activity, &self.ctx))
    }

    /// Records `body` with [`activity_id`].
    pub(crate) fn when_recording(self, body: Value) -> Outcome {
        self.when(|programme, _, ctx| {
            record_activity(programme, RecordActivity { activity_id: activity_id(), body }, ctx)
        })
    }
}

/// What a command decided.
#[derive(Debug)]
pub(crate) struct Outcome(pub(crate) Result<Vec<DomainEvent>, Faults>);

impl Outcome {
    pub(crate) fn then_events(self, expected: Vec<DomainEvent>) {
        assert_eq!(self.then_ok(), expected);
    }

    /// The command succeeded; returns its events.
    pub(crate) fn then_ok(self) -> Vec<DomainEvent> {
        match self.0 {
            Ok(events) => events,
            Err(faults) => panic!("expected events, got {faults}"),
        }
    }

    /// The command succeeded with events of these types, which are returned.
    pub(crate) fn then_types(self, expected: &[&str]) -> Vec<DomainEvent> {
        let events = self.then_ok();
        let types: Vec<&str> = events.iter().map(DomainEvent::event_type).collect();
        assert_eq!(types, expected);
        events
    }

    pub(crate) fn then_nothing(self) {
        assert_eq!(self.then_ok(), Vec::new());
    }

    /// The command failed with exactly these faults (in any order).
    pub(crate) fn then_faults(self, kind: FaultKind, expected: &[(&str, &str)]) {
        let faults = self.then_failed(kind);
        let mut actual: Vec<(String, String)> =
            faults.faults().iter().map(|f| (f.field.clone(), f.message.clone())).collect();
        let mut expected: Vec<(String, String)> =
            expected.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect();
        actual.sort();
        expected.sort();
        assert_eq!(actual, expected);
    }

    pub(crate) fn then_fault(self, kind: FaultKind, field: &str, message: &str) {
        self.then_faults(kind, &[(field, message)]);
    }

    fn then_failed(self, kind: FaultKind) -> Faults {
        match self.0 {
            Ok(events) => panic!("expected {kind:?} faults, got events {events:?}"),
            Err(faults) => {
                assert_eq!(faults.kind(), kind, "{faults}");
                for fault in faults.faults() {
                    assert!(!fault.message.ends_with('.'), "messages have no trailing period: {fault}");
                }
                faults
            }
        }
    }
}

/// Every fault of parsing `value` with `parse`, as (field, message) pairs in order.
pub(crate) fn faults_of<T: std::fmt::Debug>(result: Result<T, Faults>) -> Vec<(String, String)> {
    let faults = result.expect_err("expected faults");
    faults.faults().iter().map(|f| (f.field.clone(), f.message.clone())).collect()
}

/// `(field, message)` pairs from string slices, for comparing with [`faults_of`].
pub(crate) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(f, m)| (f.to_string(), m.to_string())).collect()
}

/// Sets `key` in a JSON object to `value` (`null` removes it).
pub(crate) fn set(mut body: Value, key: &str, value: Value) -> Value {
    let map = body.as_object_mut().expect("an object");
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), value);
    }
    body
}
