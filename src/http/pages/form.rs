//! A kind's form, generated from the activity catalogue (`events::catalogue`): a labelled control per field — the
//! common ones and the kind's own, `participants` as its three parts — with the input its type takes, its range,
//! whether it is required and a hint; partners and clusters are picked by name from the programme's, and for a
//! recorder the pickers that attribute the activity offer only their own partner. What was entered is read into
//! the body `POST …/activities` takes by the reader of spreadsheet rows (`imports::named_body`: the fields are
//! named as the activities files' columns are), so a form, a file and a JSON body are read alike; the faults a
//! decision names are placed next to the fields they are about, and every value entered is shown again.

use std::collections::BTreeMap;

use events::activity::{FieldType, TRAINING_MODES};
use events::catalogue::Attribution;
use events::{Activity, ActivityKind, Fault, Programme, Slug};
use maud::{html, Markup};
use serde_json::{Map, Value};

use super::context::capitalised;
use crate::imports::RowBody;

/// What a control takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Input {
    Date,
    Text,
    Url,
    /// Several lines: notes, evidence, a reason.
    LongText,
    Whole { min: u32, max: u32 },
    /// A decimal with at most two decimals, in the programme's currency.
    Money,
    /// A decimal with at most two decimals.
    Decimal,
    /// One partner of the programme; `attributing` when the activity is attributed to the partner picked.
    Partner { attributing: bool },
    /// Partners of the programme, any number.
    Partners,
    Cluster,
    /// How a training was delivered.
    Mode,
}

/// One field of a form.
#[derive(Clone, Debug)]
pub(super) struct Control {
    /// The field's name: the form's, the activities files' column, and the field the faults name.
    pub name: &'static str,
    pub label: String,
    pub input: Input,
    pub required: bool,
    pub hint: Option<String>,
}

impl Control {
    pub(super) fn new(name: &'static str, label: &str, input: Input, required: bool, hint: Option<String>) -> Control {
        Control { name, label: label.to_owned(), input, required, hint }
    }
}

const PARTICIPANTS: [&str; 3] = ["participants.total", "participants.women", "participants.migrants"];

/// The controls of a kind's form, in the order people fill them in: when, what, the kind's own fields, who it is
/// attributed to, notes and evidence.
pub(super) fn controls(kind: ActivityKind, programme: &Programme) -> Vec<Control> {
    let control = |name: &'static str, input: Input, required: bool, hint: Option<String>| Control::new(name, &label(name, programme), input, required, hint);
    let span = format!("From {} to {}, and not in the future", programme.starts_on, programme.ends_on);
    let mut controls = vec![
        control("occurred_on", Input::Date, true, Some(format!("The day it took place. {span}"))),
        control("ends_on", Input::Date, false, Some("The last day, for an activity of several days".into())),
        control("title", Input::Text, kind.title_required(), None),
    ];
    let required = kind.required_fields();
    for &(name, field_type) in kind.own_fields() {
        let input = match field_type {
            FieldType::Partner => Input::Partner { attributing: attributes_by(kind, name) },
            FieldType::Partners => Input::Partners,
            FieldType::Cluster => Input::Cluster,
            FieldType::Date => Input::Date,
            FieldType::Money => Input::Money,
            FieldType::Decimal => Input::Decimal,
            FieldType::Mode => Input::Mode,
            FieldType::Whole => {
                let (min, max) = kind.whole_range(name);
                Input::Whole { min, max }
            }
            FieldType::Participants => {
                for part in PARTICIPANTS {
                    let (min, max) = kind.whole_range(part);
                    controls.push(control(part, Input::Whole { min, max }, false, None));
                }
                continue;
            }
            FieldType::Text if name == "url" => Input::Url,
            FieldType::Text | FieldType::Languages | FieldType::Kind | FieldType::Attribute => Input::Text,
        };
        controls.push(control(name, input, required.contains(&name), own_hint(kind, name, field_type, programme)));
    }
    if kind == ActivityKind::Custom {
        let hint = "Each as name=value, separated by ';': live=true; episodes=3; station=Radio Asti";
        controls.push(control("attributes", Input::Text, false, Some(hint.into())));
    }
    let own_partner = kind.attribution() == Attribution::OwnPartner;
    controls.push(control("partner", Input::Partner { attributing: true }, own_partner, partner_hint(kind)));
    controls.push(control("notes", Input::LongText, false, None));
    let evidence = "Each item a title, then its link in <…>: Agenda <https://example.org/agenda.pdf>; items separated by ';' or on lines of their own";
    controls.push(control("evidence", Input::LongText, false, Some(evidence.into())));
    controls
}

/// Whether the partner picked in the kind's field `name` is the one the activity is attributed to (when no
/// `partner` is named), by the kind's attribution rule.
fn attributes_by(kind: ActivityKind, name: &str) -> bool {
    match kind.attribution() {
        Attribution::Host | Attribution::HostOrRecorder => name == "host",
        Attribution::Recipient => name == "recipient",
        Attribution::OwnPartner | Attribution::PartnerOrRecorder | Attribution::Recorder => name == "partner",
    }
}

/// The label of a field, as its control and the activity's page show it.
pub(super) fn label(name: &str, programme: &Programme) -> String {
    match name {
        "occurred_on" => "Occurred on".into(),
        "ends_on" => "Ends on".into(),
        "partner" => "Attributed to".into(),
        "participants.total" => "Participants".into(),
        "participants.women" => "Of them women".into(),
        "participants.migrants" => "Of them migrants".into(),
        "url" => "Link".into(),
        "amount" => format!("Amount ({})", programme.currency),
        other => capitalised(&other.replace('_', " ")),
    }
}

fn own_hint(kind: ActivityKind, name: &str, field_type: FieldType, programme: &Programme) -> Option<String> {
    let hint = match (field_type, name) {
        (FieldType::Whole, _) => match kind.whole_range(name) {
            (min, u32::MAX) => format!("A whole number, at least {min}"),
            (min, max) => format!("A whole number from {min} to {max}"),
        },
        (FieldType::Money, _) => format!("In {}, with at most 2 decimals: 20000.00", programme.currency),
        (FieldType::Decimal, _) => "A number with at most 2 decimals: 1.5".into(),
        (FieldType::Languages, _) => "ISO 639-1 codes separated by commas: en, it".into(),
        (FieldType::Partners, _) => "Every partner that visited".into(),
        (_, "champion") => "A pseudonymous reference such as champion-3, never a person's name".into(),
        _ => return None,
    };
    Some(hint)
}

fn partner_hint(kind: ActivityKind) -> Option<String> {
    let hint = match kind.attribution() {
        Attribution::Host => "Leave empty to attribute it to the host",
        Attribution::Recipient => "Leave empty to attribute it to the recipient",
        Attribution::HostOrRecorder => "Leave empty to attribute it to the host, or without a host to the partner you record for",
        Attribution::Recorder | Attribution::PartnerOrRecorder => "Leave empty to attribute it to the partner you record for",
        Attribution::OwnPartner => "The partner it is attributed to",
    };
    Some(hint.into())
}

/// What was entered in a form, by field name; a field given several times (checkboxes) keeps every value.
#[derive(Clone, Debug, Default)]
pub(super) struct Entered(BTreeMap<String, Vec<String>>);

impl Entered {
    /// The fields of a posted form, without the CSRF token.
    pub(super) fn from_pairs(pairs: Vec<(String, String)>) -> Entered {
        let mut entered = Entered::default();
        for (name, value) in pairs.into_iter().filter(|(name, _)| name != crate::http::session::CSRF_FIELD) {
            entered.0.entry(name).or_default().push(value);
        }
        entered
    }

    /// An activity's current values, named and written as the activities files write them: where the form of
    /// a correction starts from.
    pub(super) fn of_activity(activity: &Activity) -> Entered {
        let mut entered = Entered::default();
        let cells = crate::exports::value_columns().iter().zip(crate::exports::values(activity));
        for (column, cell) in cells.filter(|(_, cell)| *cell != crate::exports::Cell::Empty) {
            entered.0.insert(column.name.clone(), vec![cell.text()]);
        }
        entered
    }

    /// The value of a field (the first, if it was given several times); empty when it was not given.
    pub(super) fn value(&self, name: &str) -> &str {
        self.0.get(name).and_then(|values| values.first()).map_or("", String::as_str)
    }

    /// Whether a field of several values holds `item` (given once per item, or as one text separated by ';').
    fn holds(&self, name: &str, item: &str) -> bool {
        self.0.get(name).is_some_and(|values| values.iter().flat_map(|v| v.split(';')).any(|v| v.trim() == item))
    }

    /// The values of `controls` as the reader of rows takes them: the items of a field of several values as one
    /// text separated by ';', as are the lines of the evidence.
    fn named(&self, controls: &[Control]) -> Vec<(&'static str, String)> {
        let joined = |name: &str| self.0.get(name).map(|values| values.join("; ")).unwrap_or_default();
        controls
            .iter()
            .map(|control| {
                let value = joined(control.name);
                let value = if control.name == "evidence" { value.replace("\r\n", "\n").replace('\n', ";") } else { value };
                (control.name, value)
            })
            .collect()
    }
}

/// The body `POST …/activities` takes for what was entered in a kind's form, read as a row of a file is, with the
/// faults of values the reader could not take apart (evidence, attributes) and the columns to place faults by.
pub(super) fn read(kind: ActivityKind, controls: &[Control], entered: &Entered, programme: &str) -> Result<RowBody, Vec<Fault>> {
    crate::imports::named_body(kind, &entered.named(controls), programme)
        .map_err(|faults| faults.into_iter().map(|f| Fault::new("", f.message)).collect())
}

/// The fields whose value in `after` differs from `before` (both read from a form of the same kind), with the
/// new value or `null` for a field emptied: the `changes` of a correction.
pub(super) fn changes(before: &Value, after: &Value) -> Map<String, Value> {
    let empty = Map::new();
    let (before, after) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut changes: Map<String, Value> =
        after.iter().filter(|(name, value)| before.get(*name) != Some(*value)).map(|(n, v)| (n.clone(), v.clone())).collect();
    changes.extend(before.keys().filter(|name| !after.contains_key(*name)).map(|name| (name.clone(), Value::Null)));
    changes.remove("kind");
    changes
}

/// Faults placed on a form: the summary's entries (linking to the control's id when a fault is about one) and
/// the messages to show next to each control.
#[derive(Debug, Default)]
pub(super) struct Placed {
    pub summary: Vec<(Option<String>, String)>,
    pub by_control: BTreeMap<&'static str, Vec<String>>,
}

impl Placed {
    /// The summary as `layout::error_summary` takes it.
    pub(super) fn summary(&self) -> Vec<(Option<&str>, String)> {
        self.summary.iter().map(|(id, message)| (id.as_deref(), message.clone())).collect()
    }
}

/// Places each fault on the control it is about: the field it names (after `prefix`, e.g. `changes.` for a
/// correction), or the list or object that field is an item of, by the row's columns; `reason` and other
/// controls outside the catalogue by their own name. Controls get ids starting with `id_prefix`. The summary
/// lists the faults of the whole form first, then the others in the order of the form's controls.
pub(super) fn place(faults: &[Fault], controls: &[Control], row: Option<&RowBody>, prefix: &str, id_prefix: &str) -> Placed {
    let mut placed = Placed::default();
    let mut summary = Vec::new();
    for fault in faults {
        let field = fault.field.strip_prefix(prefix).unwrap_or(&fault.field);
        let heading = row.and_then(|row| row.heading_of(field)).unwrap_or(field);
        match controls.iter().position(|c| c.name == heading) {
            Some(at) => {
                let control = &controls[at];
                let entry = (Some(control_id(id_prefix, control.name)), format!("{}: {}", control.label, fault.message));
                summary.push((at + 1, entry));
                placed.by_control.entry(control.name).or_default().push(fault.message.clone());
            }
            None => summary.push((0, (None, fault.to_string()))),
        }
    }
    summary.sort_by_key(|(at, _)| *at);
    placed.summary = summary.into_iter().map(|(_, entry)| entry).collect();
    placed
}

/// The id of a control: its name under `prefix`, with the dots of `participants.total` as hyphens.
pub(super) fn control_id(prefix: &str, name: &str) -> String {
    format!("{prefix}{}", name.replace('.', "-"))
}

/// What a form's controls are drawn with.
pub(super) struct FormView<'a> {
    pub controls: &'a [Control],
    pub entered: &'a Entered,
    pub placed: &'a Placed,
    /// Put before every control's id, so that two forms of one page do not share ids.
    pub id_prefix: &'a str,
    pub programme: &'a Programme,
    /// The viewer's partner when the viewer is a recorder: the only one the attributing pickers offer.
    pub own: Option<&'a Slug>,
}

/// Every control of the form with its label, "(required)" mark, hint, faults and the value entered.
pub(super) fn fields(view: &FormView<'_>) -> Markup {
    html! { @for control in view.controls { (field(view, control)) } }
}

fn field(view: &FormView<'_>, control: &Control) -> Markup {
    let id = control_id(view.id_prefix, control.name);
    let errors = view.placed.by_control.get(control.name);
    let hint_id = control.hint.as_ref().map(|_| format!("{id}-hint"));
    let error_id = errors.map(|_| format!("{id}-error"));
    let described: Vec<&str> = [hint_id.as_deref(), error_id.as_deref()].into_iter().flatten().collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    let invalid = errors.map(|_| "true");
    let label = html! { (control.label) @if control.required { " (required)" } };
    let notes = html! {
        @if let (Some(hint), Some(hint_id)) = (&control.hint, &hint_id) { span.hint id=(hint_id) { (hint) } }
        @if let (Some(errors), Some(error_id)) = (errors, &error_id) {
            span.field-error id=(error_id) { "Error: " (errors.join("; ")) }
        }
    };
    if control.input == Input::Partners {
        let partners = partners_by_name(view.programme);
        return html! {
            fieldset.field id=(id) aria-describedby=[described.as_deref()] {
                legend { (label) }
                (notes)
                @for (partner, name) in partners {
                    label.check { input type="checkbox" name=(control.name) value=(partner)
                        checked[view.entered.holds(control.name, partner)] aria-invalid=[invalid]; " " (name) }
                }
            }
        };
    }
    let value = view.entered.value(control.name);
    let input = match control.input {
        Input::LongText => html! {
            textarea id=(id) name=(control.name) rows="3" required[control.required] aria-describedby=[described.as_deref()]
                aria-invalid=[invalid] { (value) }
        },
        Input::Partner { .. } | Input::Cluster | Input::Mode => select(view, control, &id, described.as_deref(), invalid),
        Input::Date | Input::Text | Input::Url | Input::Whole { .. } | Input::Money | Input::Decimal | Input::Partners => {
            let (kind, mode, pattern) = match control.input {
                Input::Date => ("date", None, None),
                Input::Url => ("url", None, None),
                Input::Whole { .. } => ("number", Some("numeric"), None),
                Input::Money | Input::Decimal => ("text", Some("decimal"), Some("[0-9]+([.][0-9]{1,2})?")),
                _ => ("text", None, None),
            };
            let (min, max) = match control.input {
                Input::Whole { min, max } => (Some(min), (max != u32::MAX).then_some(max)),
                _ => (None, None),
            };
            html! {
                input id=(id) name=(control.name) type=(kind) value=(value) inputmode=[mode] pattern=[pattern]
                    min=[min] max=[max] step=[min.map(|_| "1")] required[control.required]
                    aria-describedby=[described.as_deref()] aria-invalid=[invalid];
            }
        }
    };
    html! { div.field { label for=(id) { (label) } (notes) (input) } }
}

/// A picker of one partner, cluster or training mode; an optional one starts with an empty choice.
fn select(view: &FormView<'_>, control: &Control, id: &str, described: Option<&str>, invalid: Option<&str>) -> Markup {
    let value = view.entered.value(control.name);
    let choices: Vec<(String, String)> = match control.input {
        Input::Partner { attributing } => {
            // A recorder attributes activities to their own partner only; a value already there stays a choice,
            // so that correcting another field does not change it unseen.
            let restricted = view.own.filter(|_| attributing);
            partners_by_name(view.programme)
                .into_iter()
                .filter(|(id, _)| restricted.is_none_or(|own| own.as_str() == *id) || *id == value)
                .map(|(id, name)| (id.to_owned(), name.to_owned()))
                .collect()
        }
        Input::Cluster => view.programme.clusters.iter().map(|c| (c.id.to_string(), c.name.clone())).collect(),
        _ => TRAINING_MODES.iter().map(|(mode, _)| ((*mode).to_owned(), capitalised(&mode.replace('_', " ")))).collect(),
    };
    // A value entered that is none of the choices is shown again as it was, for its fault to be seen and fixed.
    let mut choices = choices;
    if !value.is_empty() && !choices.iter().any(|(choice, _)| choice == value) {
        choices.push((value.to_owned(), value.to_owned()));
    }
    // A required choice that can only be one thing is that thing; otherwise nothing is chosen for the viewer.
    let empty = if control.required && choices.len() == 1 { None } else if control.required { Some("Choose…") } else { Some("(none)") };
    html! {
        select id=(id) name=(control.name) required[control.required] aria-describedby=[described] aria-invalid=[invalid] {
            @if let Some(empty) = empty { option value="" selected[value.is_empty()] { (empty) } }
            @for (choice, name) in &choices { option value=(choice) selected[choice == value] { (name) } }
        }
    }
}

/// The programme's partners as `(id, name)`, by name.
pub(super) fn partners_by_name(programme: &Programme) -> Vec<(&str, &str)> {
    let mut partners: Vec<(&str, &str)> = programme.partners.iter().map(|p| (p.id.as_str(), p.name.as_str())).collect();
    partners.sort_by_key(|(_, name)| name.to_lowercase());
    partners
}
