//! JSON Schemas (the OpenAPI 3.1 dialect) of the request bodies. An activity's are generated from the
//! catalogue — the same data the readers of `activity/parse.rs` and `stored.rs` check bodies by — so that the
//! API's description cannot drift from what the server accepts: one schema per kind (its common and own fields, their types, formats,
//! patterns, bounds and required marks) and `Activity`, a `oneOf` of them with `kind` as discriminator. Plain
//! `serde_json` values: this crate knows nothing of the HTTP layer that puts them into its document. A
//! programme's definition and its parts are `programme.rs`.

mod programme;

use serde_json::{json, Map, Value};

pub use programme::programme_schemas;

use crate::catalogue::{ActivityKind, Attribution, FieldType};

/// An id of a programme, partner, cluster, indicator or period (`Slug::parse`).
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";
/// A non-negative decimal string with at most two decimals and no leading zeros (`Money::parse`,
/// `Quantity::parse`).
pub const DECIMAL_PATTERN: &str = "^(0|[1-9][0-9]{0,14})(\\.[0-9]{1,2})?$";
/// A date written exactly as `YYYY-MM-DD` (`parse_date`).
pub const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// An `http://` or `https://` address (`reader::url`; it also refuses whitespace).
pub const URL_PATTERN: &str = "^https?://.+";

/// The name of a kind's schema among the document's components: `Activity_staff_exchange`.
pub fn kind_schema_name(kind: ActivityKind) -> String {
    format!("Activity_{}", kind.as_str())
}

/// Every schema an activity's body needs, by component name: `Activity` (the `oneOf`), one per kind,
/// `ActivityKind`, `Participants` and `Evidence`. References point at `#/components/schemas/…`.
pub fn activity_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    let kinds: Vec<&str> = ActivityKind::ALL.iter().map(ActivityKind::as_str).collect();
    schemas.insert(
        "ActivityKind".into(),
        json!({"type": "string", "enum": kinds, "description": "What kind of activity took place (SPEC §3)."}),
    );
    schemas.insert("Participants".into(), participants());
    schemas.insert("Evidence".into(), evidence());
    let mut mapping = Map::new();
    let mut one_of = Vec::new();
    for kind in ActivityKind::ALL {
        let name = kind_schema_name(kind);
        let reference = format!("#/components/schemas/{name}");
        mapping.insert(kind.as_str().into(), json!(reference));
        one_of.push(json!({"$ref": reference}));
        schemas.insert(name, kind_schema(kind));
    }
    schemas.insert(
        "Activity".into(),
        json!({
            "description": "An activity as recorded: its `kind` decides which fields it has and which are required.",
            "oneOf": one_of,
            "discriminator": {"propertyName": "kind", "mapping": mapping},
        }),
    );
    schemas
}

/// The schema of one kind's body: the common fields, then the kind's own, no others.
pub fn kind_schema(kind: ActivityKind) -> Value {
    let mut properties = Map::new();
    properties.insert("kind".into(), json!({"type": "string", "enum": [kind.as_str()]}));
    properties.insert("occurred_on".into(), field_schema(kind, "occurred_on", FieldType::Date));
    properties.insert("ends_on".into(), field_schema(kind, "ends_on", FieldType::Date));
    properties.insert("partner".into(), field_schema(kind, "partner", FieldType::Partner));
    properties.insert("title".into(), field_schema(kind, "title", FieldType::Text));
    properties.insert("notes".into(), field_schema(kind, "notes", FieldType::Text));
    properties.insert("evidence".into(), json!({"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}}));
    for (name, field_type) in kind.own_fields() {
        properties.insert((*name).into(), field_schema(kind, name, *field_type));
    }
    if kind == ActivityKind::Custom {
        properties.insert(
            "attributes".into(),
            json!({
                "type": "object",
                "description": "Attributes of the activity; numbers are whole (decimals go in strings).",
                "propertyNames": {"pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
                "additionalProperties": {"type": ["string", "integer", "boolean"]},
            }),
        );
    }
    let mut required = vec!["kind", "occurred_on"];
    if kind.title_required() {
        required.push("title");
    }
    if kind.attribution() == Attribution::OwnPartner {
        required.push("partner");
    }
    required.extend(kind.required_fields());
    json!({
        "type": "object",
        "title": kind.as_str(),
        "description": attribution_text(kind.attribution()),
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn attribution_text(attribution: Attribution) -> &'static str {
    match attribution {
        Attribution::Host => "Attributed to `partner` when given, else to the `host`.",
        Attribution::HostOrRecorder => "Attributed to `partner` when given, else to the `host`, else to the recorder's partner.",
        Attribution::Recipient => "Attributed to `partner` when given, else to the `recipient`.",
        Attribution::OwnPartner => "Attributed to `partner`, which is required.",
        Attribution::Recorder | Attribution::PartnerOrRecorder => {
            "Attributed to `partner` when given, else to the recorder's partner."
        }
    }
}

/// The schema of one field of a kind, by its type in the catalogue.
fn field_schema(kind: ActivityKind, name: &str, field_type: FieldType) -> Value {
    let text = || json!({"type": "string", "minLength": 1, "description": "a text that is not blank"});
    match field_type {
        FieldType::Kind => json!({"$ref": "#/components/schemas/ActivityKind"}),
        FieldType::Partner => json!({"type": "string", "pattern": SLUG_PATTERN, "description": "a partner id of the programme"}),
        FieldType::Cluster => json!({"type": "string", "pattern": SLUG_PATTERN, "description": "a cluster id of the programme"}),
        FieldType::Partners => json!({
            "type": "array", "minItems": 1, "uniqueItems": true,
            "items": {"type": "string", "pattern": SLUG_PATTERN},
            "description": "partner ids of the programme, at least one, none twice",
        }),
        FieldType::Text if name == "url" => json!({"type": "string", "pattern": URL_PATTERN, "description": "an http or https address"}),
        FieldType::Text if name == "champion" => json!({
            "type": "string", "pattern": SLUG_PATTERN,
            "description": "a pseudonymous reference like `champion-3`, never a person's name",
        }),
        FieldType::Text | FieldType::Attribute => text(),
        FieldType::Date => json!({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
        FieldType::Whole => {
            let (min, max) = kind.whole_range(name);
            json!({"type": "integer", "minimum": min, "maximum": max})
        }
        FieldType::Money => json!({
            "type": "string", "pattern": DECIMAL_PATTERN,
            "description": "an amount of money more than 0 as a decimal string with at most 2 decimals, like \"30979.71\"",
        }),
        FieldType::Decimal => json!({
            "anyOf": [{"type": "string", "pattern": DECIMAL_PATTERN}, {"type": "integer", "minimum": 0}],
            "description": "a number more than 0: a decimal string with at most 2 decimals, or a whole number",
        }),
        FieldType::Languages => json!({
            "type": "array", "minItems": 1, "uniqueItems": true,
            "items": {"type": "string", "pattern": "^[a-z]{2}$"},
            "description": "ISO 639-1 codes, at least one, none twice",
        }),
        FieldType::Mode => {
            let modes: Vec<&str> = crate::activity::TRAINING_MODES.iter().map(|(name, _)| *name).collect();
            json!({"type": "string", "enum": modes})
        }
        FieldType::Participants => json!({"$ref": "#/components/schemas/Participants"}),
    }
}

fn participants() -> Value {
    let whole = json!({"type": "integer", "minimum": 0, "maximum": u64::from(u32::MAX)});
    json!({
        "type": "object",
        "description": "Who took part; `women` and `migrants` are at most `total`.",
        "properties": {"total": whole, "women": whole, "migrants": whole},
        "required": ["total"],
        "additionalProperties": false,
    })
}

fn evidence() -> Value {
    json!({
        "type": "object",
        "description": "A document, photo list or link that shows the activity happened.",
        "properties": {
            "title": {"type": "string", "minLength": 1},
            "url": {"type": "string", "pattern": URL_PATTERN},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
        "required": ["title"],
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of the catalogue has its schema, named in the `oneOf` and the discriminator's mapping.
    #[test]
    fn every_kind_of_the_catalogue_has_a_schema() {
        let schemas = activity_schemas();
        let activity = &schemas["Activity"];
        for kind in ActivityKind::ALL {
            let name = kind_schema_name(kind);
            let schema = &schemas[&name];
            assert_eq!(schema["properties"]["kind"]["enum"], json!([kind.as_str()]));
            let reference = json!(format!("#/components/schemas/{name}"));
            assert!(activity["oneOf"].as_array().unwrap().iter().any(|r| r["$ref"] == reference), "{kind}");
            assert_eq!(activity["discriminator"]["mapping"][kind.as_str()], reference);
            for (field, _) in kind.own_fields() {
                assert!(schema["properties"].get(*field).is_some(), "{kind}.{field}");
            }
        }
        assert_eq!(schemas["ActivityKind"]["enum"].as_array().unwrap().len(), ActivityKind::ALL.len());
    }

    /// The reader asks for exactly the fields the catalogue (and so the schema) marks required: a body with
    /// nothing but its kind is refused with "required" for each of them and for no other field.
    #[test]
    fn the_catalogue_names_the_fields_the_reader_requires() {
        for kind in ActivityKind::ALL {
            let faults = crate::activity::parse_activity(&json!({"kind": kind.as_str()}), None).unwrap_err();
            let mut refused: Vec<&str> =
                faults.faults().iter().filter(|f| f.message == "required" && f.field != "partner").map(|f| f.field.as_str()).collect();
            refused.sort_unstable();
            let schema = kind_schema(kind);
            let mut required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
            // Whether `partner` is required depends on who records (the recorder's partner may be taken).
            required.retain(|field| !["kind", "partner"].contains(field));
            required.sort_unstable();
            assert_eq!(refused, required, "{kind}");
        }
    }
}
