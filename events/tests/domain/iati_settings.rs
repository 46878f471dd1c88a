//! A programme's IATI settings: the coordinator sets them, every rule of their shape is a fault naming its field
//! (organisation identifier prefixes, DAC sectors, countries and percentages, a region, budget periods of at most
//! a year), the same settings again decide nothing, and the state keeps them.

use events::{set_iati_settings, DomainEvent, FaultKind, IatiSettings, ProgrammeState};
use serde_json::{json, Value};

use crate::support::*;

fn full() -> Value {
    json!({
        "reporting_org": {"ref": "XM-DAC-41114", "name": "Demo network", "type": "21"},
        "activity_identifier": "XM-DAC-41114-demo",
        "sectors": [{"code": "15110", "percentage": "60"}, {"code": "16010", "percentage": "40"}],
        "recipient_countries": [{"code": "IT", "percentage": "50"}, {"code": "FR", "percentage": 50}],
        "budgets": [
            {"starts_on": "2020-01-01", "ends_on": "2020-12-31", "amount": "30000"},
            {"starts_on": "2021-01-01", "ends_on": "2021-12-31", "amount": "30000"},
            {"starts_on": "2022-01-01", "ends_on": "2022-12-31", "amount": "40000"}
        ]
    })
}

fn settings(value: Value) -> IatiSettings {
    IatiSettings::parse(&value).expect("structurally valid settings")
}

fn set(value: Value) -> impl FnOnce(&ProgrammeState, &events::ActivityState, &events::CommandContext) -> Result<Vec<DomainEvent>, events::Faults> {
    move |s, _, ctx| set_iati_settings(s, settings(value), ctx)
}

#[test]
fn the_coordinator_sets_the_iati_settings_and_the_state_keeps_them() {
    let changed = given(demo_registered(false)).when(set(full())).then_types(&["IatiSettingsChanged"]);
    let events: Vec<DomainEvent> = demo_registered(false).into_iter().chain(changed).collect();
    let state = ProgrammeState::from_events(&events);
    assert_eq!(state.iati_settings(), Some(&settings(full())));
    // The stored payload reads back to the same settings.
    let stored = events.last().unwrap().to_data();
    assert_eq!(stored["settings"]["reporting_org"]["ref"], "XM-DAC-41114");
    let decoded = DomainEvent::decode("IatiSettingsChanged", 1, &stored).unwrap();
    assert_eq!(&decoded, events.last().unwrap());
    given(events.clone()).when(set(full())).then_nothing();
    // Settings are replaced as a whole: an empty body unsets everything.
    let cleared = given(events.clone()).when(set(json!({}))).then_types(&["IatiSettingsChanged"]);
    let events: Vec<DomainEvent> = events.into_iter().chain(cleared).collect();
    assert_eq!(ProgrammeState::from_events(&events).iati_settings(), Some(&IatiSettings::default()));
}

#[test]
fn only_the_coordinator_or_an_admin_sets_them() {
    given(demo_registered(false)).by(admin()).when(set(full())).then_types(&["IatiSettingsChanged"]);
    given(demo_registered(false)).by(recorder("torino")).when(set(full())).then_fault(
        FaultKind::Forbidden,
        "",
        "only the coordinator of 'demo' or an admin may set the IATI settings",
    );
    given(Vec::new()).when(set(full())).then_fault(FaultKind::NotFound, "", "unknown programme");
}

#[test]
fn every_bad_setting_is_named_with_how_to_fix_it() {
    let bad = json!({
        "reporting_org": {"ref": "TRACKER-connection", "type": "99"},
        "activity_identifier": "TRACKER-connection",
        "sectors": [{"code": "1511", "percentage": "60"}, {"code": "99999", "percentage": "30"}],
        "recipient_countries": [{"code": "EL", "percentage": "50"}, {"code": "IT"}],
        "recipient_region": "89",
        "budgets": [
            {"starts_on": "2020-01-01", "ends_on": "2022-12-31", "amount": "100000"},
            {"starts_on": "2019-06-01", "ends_on": "2019-12-31", "amount": "1"}
        ]
    });
    given(demo_registered(false)).when(set(bad)).then_faults(FaultKind::Validation, &[
        ("reporting_org.ref", "'TRACKER-connection' does not start with a registered organisation-identifier prefix (org-id.guide) and '-': use the identifier your registry gave, e.g. 'XM-DAC-41114' or 'GB-COH-09506232'"),
        ("reporting_org.type", "'99' is not on the IATI organisation type codelist: use a code such as \"21\" (international NGO)"),
        ("activity_identifier", "must be the reporting organisation's identifier, '-' and the activity's own id, like 'TRACKER-connection-connection' (IATI rule 1.1.21)"),
        ("sectors[0].code", "'1511' is not a DAC 5-digit purpose code like \"15110\""),
        ("sectors[1].code", "'99999' is not on the DAC 5-digit sector codelist: use a code such as \"15110\""),
        ("sectors", "the percentages add up to 90.00, not 100"),
        ("recipient_countries[0].code", "'EL' is the EU abbreviation for Greece; the ISO 3166-1 code is 'GR'"),
        ("recipient_countries[1].percentage", "required when there is more than one"),
        ("recipient_region", "give recipient countries or a recipient region, not both: leave one of them out"),
        ("budgets[0].ends_on", "a budget period may last at most a year (IATI rule 7.5.3): 2020-01-01 to 2022-12-31 is longer; split it"),
        ("budgets[1]", "the period must lie within the programme, 2020-01-01 to 2022-12-31"),
        ("budgets", "the budgets add up to 100001.00 but the programme's budget is 100000.00: they must be equal"),
    ]);
}

#[test]
fn a_withdrawn_code_and_an_identifier_without_its_organisation_are_refused() {
    let withdrawn = json!({"recipient_region": "380", "activity_identifier": "XM-DAC-41114-demo"});
    given(demo_registered(false)).when(set(withdrawn)).then_faults(FaultKind::Validation, &[
        ("recipient_region", "'380' (West Indies, regional) is withdrawn from the OECD DAC region codelist: use an active code"),
        ("activity_identifier", "set reporting_org.ref as well: an activity identifier starts with the reporting organisation's identifier"),
    ]);
    let spaces = json!({"reporting_org": {"ref": "XM-DAC-"}, "sectors": [{"code": "15110", "percentage": "0"}]});
    given(demo_registered(false)).when(set(spaces)).then_faults(FaultKind::Validation, &[
        ("reporting_org.ref", "'XM-DAC-' has the prefix XM-DAC (OECD Development Assistance Committee) but no number after it"),
        ("sectors[0].percentage", "0 is not a share above 0 and at most 100"),
    ]);
}

#[test]
fn the_settings_body_is_read_field_by_field() {
    let body = json!({"reporting_org": {"reference": "x"}, "sectors": [{"percentage": "100"}], "budgets": "yearly", "colour": 1});
    assert_eq!(
        faults_of(IatiSettings::parse(&body)),
        [
            ("reporting_org.reference".to_string(), "unknown field".to_string()),
            ("sectors[0].code".into(), "required".into()),
            ("budgets".into(), "expected a list".into()),
            ("colour".into(), "unknown field".into()),
        ]
    );
}
