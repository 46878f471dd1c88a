//! JSON Schemas of a programme's definition and its parts as the request bodies of `POST /v1/programmes`,
//! `…/partners`, `…/clusters`, `…/periods` and `PUT …/indicators/{id}` take them (the readers of
//! `programme/parse.rs`: its enumerations come from the same tables), and of the definition the API answers
//! with.

use serde_json::{json, Map, Value};

use super::{DATE_PATTERN, DECIMAL_PATTERN, SLUG_PATTERN, URL_PATTERN};
use crate::programme::parse::{AGGREGATES, PARTNER_KINDS, PARTNER_ROLES};

fn slug() -> Value {
    json!({"type": "string", "pattern": SLUG_PATTERN})
}

fn text() -> Value {
    json!({"type": "string", "minLength": 1})
}

fn date() -> Value {
    json!({"type": "string", "format": "date", "pattern": DATE_PATTERN})
}

fn money() -> Value {
    json!({"type": "string", "pattern": DECIMAL_PATTERN, "description": "a decimal string with at most 2 decimals"})
}

fn quantity() -> Value {
    json!({
        "anyOf": [{"type": "string", "pattern": DECIMAL_PATTERN}, {"type": "integer", "minimum": 0}],
        "description": "a decimal string with at most 2 decimals, or a whole number",
    })
}

/// A part's citations of the programme's sources, each by the source's file, url or title.
fn sources() -> Value {
    json!({
        "type": "array",
        "description": "the programme's sources the facts come from, each cited by its file, url or title",
        "items": text(),
    })
}

fn names<T>(table: &[(&str, T)]) -> Vec<String> {
    table.iter().map(|(name, _)| (*name).to_owned()).collect()
}

fn object(properties: Value, required: &[&str], description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schemas of a definition and its parts, by component name: `ProgrammeDefinition`, `Partner`, `Cluster`,
/// `Period`, `Indicator`, `IndicatorBody`, `Measure`, `Milestone`, `Source`, `IatiSettings`.
pub fn programme_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    let reference = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let list = |name: &str| json!({"type": "array", "items": reference(name)});
    schemas.insert(
        "ProgrammeDefinition".into(),
        object(
            json!({
                "id": slug(), "name": text(), "acronym": text(), "description": text(), "funder": text(),
                "coordinator": slug(), "starts_on": date(), "ends_on": date(),
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217, default EUR"},
                "budget": money(), "require_approval": {"type": "boolean"}, "notes": text(),
                "partners": list("Partner"), "clusters": list("Cluster"), "indicators": list("Indicator"),
                "periods": list("Period"), "sources": list("Source"),
            }),
            &["id", "name", "coordinator", "starts_on", "ends_on"],
            "A programme's whole definition (SPEC §3); the coordinator must be one of its partners.",
        ),
    );
    schemas.insert(
        "Partner".into(),
        object(
            json!({
                "id": slug(), "name": text(), "kind": {"type": "string", "enum": names(PARTNER_KINDS)},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2"},
                "role": {"type": "string", "enum": names(PARTNER_ROLES)}, "budget_share": money(),
                "notes": text(), "sources": sources(),
            }),
            &["id", "name", "kind", "role"],
            "A partner of the programme.",
        ),
    );
    schemas.insert(
        "Cluster".into(),
        object(
            json!({
                "id": slug(), "name": text(), "theme": text(), "members": {"type": "array", "items": slug()},
                "notes": text(), "sources": sources(),
            }),
            &["id", "name"],
            "A cluster (community of practice) of partners.",
        ),
    );
    schemas.insert(
        "Period".into(),
        object(json!({"id": slug(), "starts_on": date(), "ends_on": date()}), &["id", "starts_on", "ends_on"], "A reporting period."),
    );
    schemas.insert(
        "Milestone".into(),
        object(json!({"by": date(), "target": quantity()}), &["by", "target"], "A value the indicator should reach by a day."),
    );
    schemas.insert(
        "Measure".into(),
        object(
            json!({
                "aggregate": {"type": "string", "enum": names(AGGREGATES)},
                "kinds": {"type": "array", "minItems": 1, "items": reference("ActivityKind")},
                "field": text(),
                "where": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
            }),
            &["aggregate", "kinds"],
            "How the indicator's actual value is computed from activities (SPEC §4).",
        ),
    );
    let indicator = json!({
        "id": slug(), "label": text(), "unit": text(), "target": quantity(), "baseline": quantity(), "due": date(),
        "milestones": list("Milestone"), "measure": reference("Measure"), "notes": text(), "sources": sources(),
    });
    schemas.insert(
        "Indicator".into(),
        object(indicator.clone(), &["id", "label", "unit", "target", "measure"], "An output indicator with its target."),
    );
    let mut body = indicator;
    body["reason"] = json!({"type": ["string", "null"], "description": "why; required to revise an indicator that is set"});
    body["id"] = json!({"type": "string", "pattern": SLUG_PATTERN, "description": "the id in the path, when given"});
    schemas.insert(
        "IndicatorBody".into(),
        object(body, &["label", "unit", "target", "measure"], "An indicator to set, or its revision with a `reason`."),
    );
    let mut source = object(
        json!({"file": text(), "title": text(), "url": {"type": "string", "pattern": URL_PATTERN},
               "says": {"type": "array", "items": text()}}),
        &[],
        "A document the definition's facts come from, named by its file, url or title (at least one), and what it says.",
    );
    source["anyOf"] = json!([{"required": ["file"]}, {"required": ["url"]}, {"required": ["title"]}]);
    schemas.insert("Source".into(), source);
    schemas.insert("IatiSettings".into(), iati_settings());
    schemas
}

/// The IATI settings as `PUT …/iati-settings` takes them and the API answers with them (`iati/mod.rs` reads
/// them; the codes are checked against the IATI codelists there).
fn iati_settings() -> Value {
    let share = |what: &str| {
        object(
            json!({"code": text(), "percentage": quantity()}),
            &["code"],
            &format!("{what} and its share in per cent (required when there are several; they add up to 100)"),
        )
    };
    object(
        json!({
            "reporting_org": object(
                json!({"ref": text(), "name": text(), "type": text()}),
                &[],
                "the publishing organisation: its identifier with a registered org-id.guide prefix (e.g. XM-DAC-41114), name and IATI organisation type code",
            ),
            "activity_identifier": {"type": "string", "minLength": 1, "description": "the reporting organisation's identifier, `-`, and the activity's own id"},
            "sectors": {"type": "array", "items": share("a DAC 5-digit purpose code")},
            "recipient_countries": {"type": "array", "items": share("an ISO 3166-1 alpha-2 country")},
            "recipient_region": {"type": "string", "minLength": 1, "description": "an OECD DAC region code, instead of countries"},
            "budgets": {"type": "array", "items": object(
                json!({"starts_on": date(), "ends_on": date(), "amount": money()}),
                &["starts_on", "ends_on", "amount"],
                "the budget of one period of at most a year",
            )},
        }),
        &[],
        "A programme's IATI settings; anything left out is unset, and the export names the IATI rules that then fail.",
    )
}
