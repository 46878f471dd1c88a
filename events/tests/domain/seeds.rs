//! The seed definitions in `seeds/`: both load as programme definitions with zero faults, register as
//! ordinary events, and their key figures are snapshotted so that any change to them is reviewed.

use std::fmt::Write as _;

use events::{register_programme, DomainEvent, Programme, ProgrammeState};
use serde_json::Value;

use crate::support::*;

fn load(name: &str) -> Programme {
    let path = format!("{}/../seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    match Programme::parse(&json) {
        Ok(programme) => programme,
        Err(faults) => panic!("{path}: {faults}"),
    }
}

/// The figures a reader of the source documents would check, one per line.
fn key_figures(programme: &Programme) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", programme.id, programme.acronym.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "dates: {} to {}", programme.starts_on, programme.ends_on);
    let _ = writeln!(out, "coordinator: {}", programme.coordinator);
    let _ = writeln!(out, "funder: {}", programme.funder.as_deref().unwrap_or("-"));
    let budget = programme.budget.map(|b| b.to_string()).unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "budget: {} {budget}, partner shares {}", programme.currency, programme.partner_shares());
    for partner in &programme.partners {
        let country = partner.country.as_ref().map(|c| c.as_str()).unwrap_or("--");
        let share = partner.budget_share.map(|s| format!(" share {s}")).unwrap_or_default();
        let _ = writeln!(out, "partner {} {country} {:?}/{:?}{share}", partner.id, partner.kind, partner.role);
    }
    for cluster in &programme.clusters {
        let members: Vec<&str> = cluster.members.iter().map(|m| m.as_str()).collect();
        let _ = writeln!(out, "cluster {} [{}]", cluster.id, members.join(" "));
    }
    for indicator in &programme.indicators {
        let measure = &indicator.measure;
        let kinds: Vec<&str> = measure.kinds.iter().map(|k| k.as_str()).collect();
        let field = measure.field.as_deref().map(|f| format!(" {f}")).unwrap_or_default();
        let due = indicator.due.map(|d| format!(" due {d}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "indicator {} = {} {}: {} {}{field}{due}",
            indicator.id,
            indicator.target,
            indicator.unit,
            measure.aggregate.as_str(),
            kinds.join("+"),
        );
    }
    let files: Vec<&str> = programme.sources.iter().filter_map(|s| s.file.as_deref()).collect();
    let _ = writeln!(out, "sources: {}", files.join(" "));
    out
}

#[test]
fn connection_seed_is_a_valid_definition_with_the_documented_figures() {
    let connection = load("connection.json");
    assert_eq!(connection.validate(), vec![]);
    let expected = "\
connection (CONNECTION)
dates: 2020-01-01 to 2022-12-31
coordinator: eurocities
funder: AMIF
budget: EUR 1874876.03, partner shares 30979.71
partner eurocities BE Network/Coordinator
partner migrationwork BE Expert/Expert
partner antwerp BE City/CoreCity
partner athens GR City/CoreCity
partner dortmund DE City/CoreCity
partner gothenburg SE City/CoreCity
partner madrid ES City/CoreCity
partner paris FR City/CoreCity
partner rotterdam NL City/CoreCity
partner sofia BG City/CoreCity
partner stockholm -- City/CoreCity
partner tampere FI City/CoreCity
partner torino IT City/CoreCity share 30979.71
partner utrecht NL City/CoreCity
partner warsaw PL City/CoreCity
partner zagreb HR City/CoreCity
partner anci-piemonte IT Region/RegionalPartner
partner thessaloniki-region GR Region/RegionalPartner
partner asti IT City/Other
partner cuneo IT City/Other
partner settimo-torinese IT City/Other
cluster cop1 [torino anci-piemonte thessaloniki-region paris zagreb]
cluster cop2 []
cluster cop3 []
cluster cop4 []
indicator new-policies = 7 policies: count policy_implemented
indicator policy-cities = 7 cities: distinct policy_implemented partner
indicator grants = 250000.00 EUR: sum grant_awarded amount
indicator action-plans = 7 plans: count action_plan_endorsed
indicator staff-exchanges = 14 exchanges: count staff_exchange
indicator cluster-visits = 14 visits: count cluster_visit
indicator integration-champions = 8 champions: count champion_trained
indicator how-to-guides = 4 guides: count guide_published
indicator videos = 4 videos: count video_published
indicator conference = 1 conferences: count conference_held due 2022-10-31
sources: 000_6f1287d1f29d0ec0.txt 001_a9070aa1f9a691c6.txt 002_95daedef926f4f47.txt 004_3df42469a074a1c6.txt README.md
";
    assert_eq!(key_figures(&connection), expected);
    let core_cities = connection.partners.iter().filter(|p| p.role == events::programme::PartnerRole::CoreCity).count();
    assert_eq!(core_cities, 14, "with both readings of the city lists, 14 core cities");
}

#[test]
fn connection_seed_records_which_document_names_stockholm_and_rotterdam() {
    let connection = load("connection.json");
    let stockholm = connection.partner("stockholm").unwrap();
    let rotterdam = connection.partner("rotterdam").unwrap();
    assert_eq!(stockholm.sources, vec!["001_a9070aa1f9a691c6.txt"]);
    assert_eq!(rotterdam.sources, vec!["004_3df42469a074a1c6.txt"]);
    assert!(stockholm.notes.as_deref().unwrap().contains("only in 001"));
    assert!(rotterdam.notes.as_deref().unwrap().contains("only in 004"));
}

#[test]
fn unites_seed_is_a_valid_definition_with_the_documented_figures() {
    let unites = load("unites.json");
    assert_eq!(unites.validate(), vec![]);
    let expected = "\
unites (UNITES)
dates: 2021-01-01 to 2024-12-31
coordinator: eurocities
funder: -
budget: EUR -, partner shares 0.00
partner eurocities BE Network/Coordinator
partner new-women-connectors -- Ngo/Advisory
partner migrationwork -- Expert/Other
partner unitee -- Other/Other
partner athens GR City/CoreCity
partner bologna IT City/CoreCity
partner dusseldorf DE City/CoreCity
partner grenoble-alpes-metropole FR City/CoreCity
partner oulu FI City/CoreCity
partner prague CZ City/CoreCity
partner zagreb HR City/CoreCity
partner zaragoza ES City/CoreCity
indicator grants = 160000.00 EUR: sum grant_awarded amount
indicator grant-cities = 8 cities: distinct grant_awarded recipient
indicator pilot-training = 1 trainings: count training_delivered
indicator mooc = 1 courses: count course_published
indicator consultation-mechanisms = 8 cities: distinct consultation_held partner
indicator co-designed-strategies = 8 strategies: distinct strategy_adopted partner
indicator peer-visits = 8 cities: distinct peer_visit host
sources: 000_6f1287d1f29d0ec0.txt 002_95daedef926f4f47.txt 003_1ff752b7d2066759.txt 004_3df42469a074a1c6.txt
";
    assert_eq!(key_figures(&unites), expected);
}

#[test]
fn the_seeds_register_as_ordinary_events_and_read_back_unchanged() {
    for name in ["connection.json", "unites.json"] {
        let programme = load(name);
        let events = register_programme(&ProgrammeState::new(), programme.clone(), &admin()).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        let decoded = DomainEvent::decode(event.event_type(), event.schema(), &event.to_data()).unwrap();
        assert_eq!(&decoded, event);
        assert_eq!(ProgrammeState::from_events(&events).programme(), Some(&programme));
    }
}

#[test]
fn seed_files_are_exactly_the_json_form_of_their_definition() {
    // The files are the body POST /v1/programmes accepts; writing the parsed definition back gives the same
    // JSON value, so no field of the files is ignored or silently defaulted.
    for name in ["connection.json", "unites.json"] {
        let path = format!("{}/../seeds/{name}", env!("CARGO_MANIFEST_DIR"));
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let programme = Programme::parse(&json).unwrap();
        assert_eq!(serde_json::to_value(&programme).unwrap(), json, "{name}");
    }
}

#[test]
fn every_source_a_seed_names_is_a_seed_document() {
    let documents = format!("{}/../../shared/seed-documents", env!("CARGO_MANIFEST_DIR"));
    // The documents live beside the repository in development and CI; where they are absent there is nothing
    // to compare against, and the names are still checked against the programme's own sources list.
    let Ok(entries) = std::fs::read_dir(&documents) else { return };
    let present: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    for name in ["connection.json", "unites.json"] {
        for source in load(name).sources {
            let file = source.file.as_deref().unwrap_or_else(|| panic!("{name}: source {:?} names no seed document", source.key()));
            assert!(present.iter().any(|p| p == file), "{name}: {file} is not in {documents}");
        }
    }
}
