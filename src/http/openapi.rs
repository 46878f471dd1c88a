//! The OpenAPI document as served at `/openapi.json`: what utoipa generates from the handlers' annotations,
//! completed here on the JSON itself — the schemas of the request bodies (from `events::schema`, generated
//! from the same catalogue and tables the readers check bodies by) and of the JSON answers, attached to each
//! operation by its `operationId`; the public operations' `security` (anonymous, or a token, which is checked
//! when given); the server; query parameters and headers that are absent rather than `null`, and the enumerations of the
//! `kind` and `status` filters. The handlers say `Object` for the bodies described here.

use serde_json::{json, Map, Value};

/// What each operation takes and answers with, by `operationId`: the component schema of its JSON request
/// body, and of its JSON answer for each success status.
const OPERATIONS: &[(&str, Option<&str>, &[(&str, &str)])] = &[
    ("register_programme", Some("ProgrammeDefinition"), &[("201", "Programme")]),
    ("list_programmes", None, &[("200", "ProgrammeList")]),
    ("get_programme", None, &[("200", "Programme")]),
    ("add_partner", Some("Partner"), &[("201", "Partner")]),
    ("add_cluster", Some("Cluster"), &[("201", "Cluster")]),
    ("add_period", Some("Period"), &[("201", "Period")]),
    ("put_indicator", Some("IndicatorBody"), &[("200", "Indicator"), ("201", "Indicator")]),
    ("lock_period", None, &[("200", "PeriodLock")]),
    ("unlock_period", None, &[("200", "PeriodLock")]),
    ("get_progress", None, &[("200", "ProgressReport")]),
    ("get_iati_settings", None, &[("200", "IatiSettings")]),
    ("put_iati_settings", Some("IatiSettings"), &[("200", "IatiSettings")]),
    ("record_activity", Some("Activity"), &[("201", "ActivityView")]),
    ("list_activities", None, &[("200", "ActivityList")]),
    ("import_activities", None, &[("200", "ImportReport")]),
    ("get_activity", None, &[("200", "ActivityWithHistory")]),
    ("correct_activity", None, &[("200", "ActivityView")]),
    ("retract_activity", None, &[("200", "ActivityView")]),
    ("submit_activity", None, &[("200", "ActivityView")]),
    ("approve_activity", None, &[("200", "ActivityView")]),
    ("return_activity", None, &[("200", "ActivityView")]),
    ("list_events", None, &[("200", "EventsPage")]),
    ("read_stream", None, &[("200", "StreamPage")]),
    ("programme_history", None, &[("200", "EventsPage")]),
    ("openapi_json", None, &[("200", "OpenApiDocument")]),
];

/// The document `openapi` describes, completed.
pub(super) fn document(openapi: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(openapi).expect("the OpenAPI description serialises");
    complete(&mut document);
    document
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn complete(document: &mut Value) {
    document["servers"] = json!([{"url": "/", "description": "this server"}]);
    let schemas = document["components"]["schemas"].as_object_mut().expect("utoipa writes the components' schemas");
    schemas.extend(events::schema::activity_schemas());
    schemas.extend(events::schema::programme_schemas());
    schemas.extend(answer_schemas());
    // serde reads a missing `changes` as null, which the domain refuses as "required", like an empty object.
    schemas["CorrectionBody"]["properties"]["changes"] = json!({
        "type": "object", "minProperties": 1,
        "description": "the fields to change with their new values (`null` removes an optional one)",
    });
    let Some(paths) = document["paths"].as_object_mut() else { return };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for operation in item.values_mut() {
            complete_operation(operation);
        }
    }
}

fn complete_operation(operation: &mut Value) {
    if operation.get("security").is_none() {
        // Public: anonymous, or with a token (which must then be valid).
        operation["security"] = json!([{}, {"bearer": []}]);
    }
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for parameter in parameters.iter_mut().filter(|p| p["in"] == "query" || p["in"] == "header") {
            parameter_value(parameter);
        }
    }
    let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
    if id == "import_activities" {
        // A file, not JSON: its bytes as they are, in either media type.
        let file = json!({"schema": {"type": "string", "format": "binary"}});
        let content = &mut operation["requestBody"]["content"];
        content["text/csv"] = file.clone();
        content["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"] = file;
        operation["requestBody"]["required"] = json!(true);
    }
    let Some((_, body, answers)) = OPERATIONS.iter().find(|(name, _, _)| *name == id) else { return };
    if let Some(body) = body {
        operation["requestBody"]["content"]["application/json"]["schema"] = reference(body);
        operation["requestBody"]["required"] = json!(true);
    }
    for (status, schema) in *answers {
        let content = &mut operation["responses"][*status]["content"];
        content["application/json"]["schema"] = reference(schema);
    }
}

/// A query parameter or header is absent or has a value: never `null`. The `kind` and `status` filters name
/// their values.
fn parameter_value(parameter: &mut Value) {
    if let Some(types) = parameter["schema"]["type"].as_array_mut() {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            parameter["schema"]["type"] = only;
        }
    }
    match parameter["name"].as_str() {
        Some("kind") => parameter["schema"] = reference("ActivityKind"),
        Some("status") => parameter["schema"] = reference("ActivityStatus"),
        _ => {}
    }
}

/// The schemas of the JSON answers.
fn answer_schemas() -> Map<String, Value> {
    let integer = json!({"type": "integer", "minimum": 0});
    let text = json!({"type": "string"});
    let date = json!({"type": "string", "format": "date"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let decimal = json!({"type": "string", "pattern": events::schema::DECIMAL_PATTERN});
    let object = |properties: Value, required: &[&str], description: &str| {
        json!({"type": "object", "description": description, "properties": properties, "required": required})
    };
    let list = |name: &str| json!({"type": "array", "items": reference(name)});
    let statuses: Vec<&str> = events::ActivityStatus::ALL.iter().map(|s| s.as_str()).collect();
    let mut schemas = Map::new();
    schemas.insert(
        "ActivityStatus".into(),
        json!({"type": "string", "enum": statuses, "description": "Where an activity stands in its lifecycle."}),
    );
    schemas.insert(
        "Programme".into(),
        object(
            json!({
                "id": text, "name": text, "acronym": text, "description": text, "funder": text, "coordinator": text,
                "starts_on": date, "ends_on": date, "currency": text, "budget": decimal,
                "require_approval": {"type": "boolean"}, "notes": text,
                "partners": list("Partner"), "clusters": list("Cluster"), "indicators": list("Indicator"),
                "periods": list("Period"), "sources": list("Source"),
                "locked_periods": {"type": "array", "items": text},
                "version": {"type": "integer", "minimum": 1, "description": "the version of the programme's stream"},
            }),
            &["id", "name", "coordinator", "starts_on", "ends_on", "currency", "require_approval", "partners",
              "clusters", "indicators", "periods", "sources", "locked_periods", "version"],
            "A programme's definition, its locked periods and the version of its stream (also its `ETag`).",
        ),
    );
    let headline = object(
        json!({
            "id": text, "label": text, "unit": text, "target": decimal, "actual": decimal,
            "percent": {"type": ["number", "null"]}, "status": reference("IndicatorStatus"),
        }),
        &["id", "label", "unit", "target", "actual", "percent", "status"],
        "An indicator's headline progress.",
    );
    let summary = object(
        json!({
            "id": text, "name": text, "acronym": {"type": ["string", "null"]}, "starts_on": date, "ends_on": date,
            "position": integer, "indicators": {"type": "array", "items": headline},
        }),
        &["id", "name", "acronym", "starts_on", "ends_on", "position", "indicators"],
        "A programme with the headline progress of its indicators.",
    );
    schemas.insert(
        "ProgrammeList".into(),
        object(
            json!({"programmes": {"type": "array", "items": summary}, "as_of": date}),
            &["programmes", "as_of"],
            "Every programme with its headline progress as of today.",
        ),
    );
    schemas.insert(
        "PeriodLock".into(),
        object(
            json!({"programme": text, "period": text, "locked": {"type": "boolean"}, "version": integer}),
            &["programme", "period", "locked", "version"],
            "Whether the period is now locked, and the programme's new version.",
        ),
    );
    schemas.insert(
        "IndicatorStatus".into(),
        json!({"type": "string", "enum": ["not_started", "achieved", "on_track", "behind"]}),
    );
    schemas.insert(
        "IndicatorReport".into(),
        object(
            json!({
                "id": text, "label": text, "unit": text, "target": decimal, "baseline": decimal, "actual": decimal,
                "pending": decimal, "percent": {"type": ["number", "null"], "description": "actual ÷ target × 100; null when the target is 0"},
                "expected": decimal, "status": reference("IndicatorStatus"),
                "by_partner": {"type": "object", "additionalProperties": decimal},
                "by_cluster": {"type": "object", "additionalProperties": decimal},
            }),
            &["id", "label", "unit", "target", "baseline", "actual", "pending", "percent", "expected", "status",
              "by_partner", "by_cluster"],
            "Progress towards one indicator; quantities are decimal strings.",
        ),
    );
    schemas.insert(
        "BudgetReport".into(),
        object(
            json!({"currency": text, "total": {"type": ["string", "null"]}, "partner_shares": decimal,
                   "grants_awarded": decimal, "grants_paid": decimal}),
            &["currency", "total", "partner_shares", "grants_awarded", "grants_paid"],
            "The programme's money, in its currency.",
        ),
    );
    schemas.insert(
        "ProgressReport".into(),
        object(
            json!({
                "programme": text, "as_of": date, "known_at": {"type": "string", "format": "date-time"},
                "position": integer, "indicators": list("IndicatorReport"), "budget": reference("BudgetReport"),
            }),
            &["programme", "as_of", "position", "indicators", "budget"],
            "Progress against every output target (SPEC §6).",
        ),
    );
    schemas.insert(
        "ActivityView".into(),
        json!({
            "type": "object",
            "description": "An activity as recorded — its `kind` and that kind's fields, as in `Activity` — with \
                            its id, programme, status, the version of its stream and the position of its last event.",
            "properties": {
                "id": uuid, "programme": text, "kind": reference("ActivityKind"), "occurred_on": date,
                "partner": text, "status": reference("ActivityStatus"), "return_note": text,
                "version": {"type": "integer", "minimum": 1}, "position": integer,
            },
            "required": ["id", "programme", "kind", "occurred_on", "partner", "status", "version", "position"],
        }),
    );
    schemas.insert(
        "ActivityWithHistory".into(),
        json!({"allOf": [reference("ActivityView"), object(json!({"history": list("Envelope")}), &["history"], "every event of its stream")]}),
    );
    schemas.insert(
        "ActivityList".into(),
        object(
            json!({"activities": list("ActivityView"), "next_cursor": {"type": ["string", "null"], "format": "uuid"}}),
            &["activities", "next_cursor"],
            "A page of activities; `next_cursor` is null on the last page.",
        ),
    );
    schemas.insert("ImportReport".into(), import_report());
    schemas.insert(
        "Envelope".into(),
        object(
            json!({
                "position": integer, "stream": text, "version": integer, "id": uuid, "type": text,
                "schema": integer, "programme": text, "recorded_at": {"type": "string", "format": "date-time"},
                "actor": text, "correlation_id": {"type": ["string", "null"], "format": "uuid"},
                "causation_id": {"type": ["string", "null"], "format": "uuid"}, "data": {"type": "object"},
                "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            }),
            &["position", "stream", "version", "id", "type", "schema", "programme", "recorded_at", "actor", "data", "hash"],
            "A stored event as exported (SPEC §5): its canonical form and its chain hash.",
        ),
    );
    schemas.insert(
        "EventsPage".into(),
        object(
            json!({"events": list("Envelope"), "next_from": integer, "head": integer}),
            &["events", "next_from", "head"],
            "A page of the log; `next_from` is the position to continue from.",
        ),
    );
    schemas.insert(
        "StreamPage".into(),
        object(
            json!({"events": list("Envelope"), "stream": text, "version": integer, "next_version": integer}),
            &["events", "stream", "version", "next_version"],
            "A page of one stream; `version` is the stream's current version.",
        ),
    );
    schemas.insert(
        "OpenApiDocument".into(),
        object(json!({"openapi": text, "info": {"type": "object"}, "paths": {"type": "object"}}), &["openapi", "info", "paths"], "An OpenAPI 3.1 document."),
    );
    schemas
}

/// The answer of an import: every row's outcome.
fn import_report() -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    let text = json!({"type": "string"});
    let fault = json!({
        "type": "object", "required": ["field", "reference", "message"],
        "properties": {"field": text, "reference": text, "message": text},
        "description": "A fault of the row: its field (as `POST …/activities` names it), its cell, and what is wrong.",
    });
    let outcome = json!({
        "type": "object", "required": ["row", "reference", "outcome"],
        "properties": {
            "sheet": {"type": "string", "description": "the sheet of an XLSX file; absent for a CSV file"},
            "row": {"type": "integer", "minimum": 1, "description": "the row number a spreadsheet shows"},
            "reference": {"type": "string", "description": "the row as a spreadsheet reference, e.g. `staff_exchange!4:4`"},
            "outcome": {"type": "string", "enum": ["valid", "faulty", "recorded", "already_recorded"]},
            "id": {"type": "string", "format": "uuid", "description": "the activity's id, once recorded"},
            "activity": {"type": "object", "description": "the activity the row makes: `kind` and its fields"},
            "errors": {"type": "array", "items": fault},
        },
    });
    json!({
        "type": "object",
        "description": "Every row's outcome. Without `commit` nothing is recorded; `already_recorded` rows were \
                        recorded by an earlier import of the same content.",
        "required": ["programme", "committed", "rows", "valid", "faulty", "recorded", "already_recorded", "outcomes"],
        "properties": {
            "programme": text, "committed": {"type": "boolean"}, "rows": count, "valid": count, "faulty": count,
            "recorded": count, "already_recorded": count, "outcomes": {"type": "array", "items": outcome},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described() -> Value {
        super::super::openapi()
    }

    /// Every JSON body and JSON success answer names its schema: none is a bare `object`.
    #[test]
    fn no_json_body_or_answer_is_a_bare_object() {
        let document = described();
        let mut bare = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let body = operation["requestBody"]["content"]["application/json"]["schema"].clone();
                let answers = operation["responses"].as_object().unwrap().iter().filter(|(s, _)| s.starts_with('2'));
                let schemas = std::iter::once(("body".to_owned(), body))
                    .chain(answers.map(|(s, a)| (s.clone(), a["content"]["application/json"]["schema"].clone())));
                for (what, schema) in schemas {
                    if schema == json!({"type": "object"}) {
                        bare.push(format!("{method} {path} {what}"));
                    }
                }
            }
        }
        assert!(bare.is_empty(), "bare objects: {bare:?}");
    }

    /// Each operation of the table exists, every `$ref` resolves, and the `kind` filter lists every kind.
    #[test]
    fn the_table_names_real_operations_and_every_reference_resolves() {
        let document = described();
        let text = document.to_string();
        for (id, _, _) in OPERATIONS {
            assert!(text.contains(&format!("\"operationId\":\"{id}\"")), "no operation {id}");
        }
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "unresolved reference {name}");
        }
        let kinds = &schemas["ActivityKind"]["enum"];
        for kind in events::ActivityKind::ALL {
            assert!(kinds.as_array().unwrap().contains(&json!(kind.as_str())), "{kind}");
            assert!(schemas.contains_key(&events::schema::kind_schema_name(kind)), "{kind}");
        }
    }
}
