//! The seed programmes (`seeds/`): each registers and gives an empty report with every indicator, and a
//! reviewable text form of its definition and report is pinned, so a change to a seed shows in review.

use events::event::ProgrammeRegistered;
use events::{DomainEvent, Programme};
use projections::IndicatorStatus;

use crate::{query, Log};

#[test]
fn seeds_give_an_empty_report_with_every_indicator() {
    for (file, id) in [("connection.json", "connection"), ("unites.json", "unites")] {
        let text = std::fs::read_to_string(format!("{}/../seeds/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let programme = Programme::parse(&serde_json::from_str(&text).unwrap()).expect("seed parses");
        let count = programme.indicators.len();
        let mut log = Log::default();
        log.push(id, &DomainEvent::ProgrammeRegistered(ProgrammeRegistered { programme: programme.clone() }));
        let report = log.projection().report(id, &query("2022-12-31")).expect("report");
        assert_eq!(report.position, 1);
        assert_eq!(report.indicators.len(), count);
        let partners: Vec<&str> = programme.partners.iter().map(|p| p.id.as_str()).collect();
        let clusters: Vec<&str> = programme.clusters.iter().map(|c| c.id.as_str()).chain(["none"]).collect();
        for i in &report.indicators {
            assert_eq!(i.pending, "0");
            // A row for every partner and every cluster (and `none`), each zero.
            let mut keys: Vec<&str> = i.by_partner.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let mut expected = partners.clone();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{}", i.id);
            assert_eq!(i.by_cluster.keys().len(), clusters.len(), "{}", i.id);
            assert!(clusters.iter().all(|c| i.by_cluster.contains_key(*c)), "{}", i.id);
            assert!(i.by_partner.values().chain(i.by_cluster.values()).all(|v| v.trim_end_matches(['0', '.']).is_empty()), "{}", i.id);
        }
        assert!(report.indicators.iter().all(|i| i.status == IndicatorStatus::Behind || i.target == "0"));
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
