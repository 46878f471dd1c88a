//! The dashboard's page frame and the pieces every page shares: the style sheet, the landmarks (header, main,
//! footer), the error summary, scroll regions that a keyboard can reach, the bar and table of indicators, and
//! how numbers and money are written for people (`1,874,876.03 EUR`).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use projections::{IndicatorReport, ProgressReport};

// Nothing may be wider than the viewport: wide tables scroll inside their own region (`.scroll`), long words
// wrap, and the form wraps its fields, so the page itself never scrolls sideways, at 390 px as at 1280 px.
const STYLE: &str = r#"
*, *::before, *::after { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #1c1c1c; overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; margin: .2rem 0 1rem; } h2 { font-size: 1.25rem; margin: 1.6rem 0 .6rem; }
a { color: #0b57d0; }
a:focus-visible, .scroll:focus-visible, input:focus-visible, button:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
.programme { border: 1px solid #ddd; border-radius: 8px; padding: .8rem 1rem 1rem; margin-bottom: 1.2rem; }
.meta { color: #555; font-size: .9rem; }
.ended { font-weight: 600; color: #1c1c1c; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #eee; vertical-align: middle; overflow-wrap: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { position: relative; height: 1rem; min-width: 8rem; background: #eceff3; border-radius: 4px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 4px; }
.expected { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #1c1c1c; }
.status { font-weight: 600; }
.achieved .fill { background: #1e8e3e; } .achieved.status { color: #1e7e34; }
.on_track .fill { background: #4285f4; } .on_track.status { color: #1a5fd0; }
.behind .fill { background: #e37400; } .behind.status { color: #b35900; }
.not_started .fill { background: #9aa0a6; } .not_started.status { color: #5f6368; }
form { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin: .5rem 0 1rem; }
label { display: flex; flex-direction: column; font-size: .9rem; max-width: 100%; }
input { font: inherit; max-width: 100%; } button { font: inherit; padding: .25rem .8rem; }
input[aria-invalid=true] { border: 2px solid #b3261e; }
.field-error { color: #b3261e; font-weight: 600; }
.error-summary { border: 3px solid #b3261e; padding: .2rem 1rem .6rem; margin: 1rem 0; }
.error-summary h2 { margin-top: .6rem; }
.legend { font-size: .85rem; color: #555; }
form.inline { display: inline; margin: 0; }
ul.work { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; list-style: none; padding: 0; margin: .4rem 0 1rem; }
form.stacked { flex-direction: column; align-items: stretch; max-width: 30rem; gap: .4rem; }
.notice { border: 3px solid #1e8e3e; padding: .2rem 1rem; margin: 1rem 0; }
form.record { display: block; max-width: 40rem; }
.field { margin: 0 0 1rem; border: 0; padding: 0; }
.field > label, .field > legend { font-weight: 600; }
.hint, .field .field-error { display: block; font-size: .9rem; } .hint { color: #555; }
label.check { display: inline-flex; flex-direction: row; gap: .3rem; margin: 0 1rem .3rem 0; }
select, textarea { font: inherit; max-width: 100%; } textarea { width: 100%; }
select[aria-invalid=true], textarea[aria-invalid=true] { border: 2px solid #b3261e; }
select:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
dl.values { display: grid; grid-template-columns: minmax(8rem, max-content) 1fr; gap: .2rem 1rem; } dt { font-weight: 600; } dd { margin: 0; }
.confirmation { border: 3px solid #1e8e3e; padding: 0 1rem; margin: 1rem 0; }
fieldset.choices { display: flex; flex-wrap: wrap; gap: .3rem 1rem; border: 1px solid #ccc; max-width: 100%; }
label.choice { flex-direction: row; gap: .3rem; align-items: center; }
"#;

/// A whole page for someone not signed in: see [`page_for`].
pub(in crate::http) fn page(title: &str, body: Markup) -> String {
    page_for(title, None, body)
}

/// A whole page: `header` (with the way back to every programme, and who is signed in with the way out, or the
/// way in), `main` holding `body`, and `footer`.
pub(in crate::http) fn page_for(title: &str, viewer: Option<&Viewer>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — programme tracker" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { nav aria-label="site" { a href="/" { "All programmes" } " · " (viewer_nav(viewer)) } }
                main { (body) }
                footer { p.legend { "JSON: " a href="/v1/programmes" { "/v1/programmes" } " · API: " a href="/openapi.json" { "/openapi.json" } } }
            }
        }
    }
    .into_string()
}

/// Who is looking at a page: the signed-in caller and the session's CSRF token (absent for a bearer token).
#[derive(Clone, Debug)]
pub(in crate::http) struct Viewer {
    pub principal: std::sync::Arc<crate::auth::Principal>,
    pub csrf: Option<crate::http::session::CsrfToken>,
}

/// The header's part about the viewer: the way in, or the name and the way out (a form: signing out changes
/// state, so it is a POST carrying the CSRF token).
fn viewer_nav(viewer: Option<&Viewer>) -> Markup {
    html! {
        @match viewer {
            None => { a href="/sign-in" { "Sign in" } }
            Some(viewer) => {
                a href="/account" { "Signed in as " (viewer.principal.name) }
                " "
                form.inline method="post" action="/sign-out" {
                    (crate::http::session::csrf_field(viewer.csrf.as_ref()))
                    button type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// What went wrong with a request, at the top of the page: each fault linking to the field it is about.
pub(in crate::http) fn error_summary(faults: &[(Option<&str>, String)]) -> Markup {
    html! {
        div.error-summary role="alert" aria-labelledby="error-summary-title" tabindex="-1" {
            h2 id="error-summary-title" { "There is a problem" }
            ul {
                @for (field, message) in faults {
                    li { @match field { Some(f) => { a href={ "#" (f) } { (message) } }, None => { (message) } } }
                }
            }
        }
    }
}

/// A region that scrolls sideways on its own when its table is wider than the screen; it takes the focus
/// (`tabindex="0"`) so that it can be scrolled with the keyboard, and is named for screen readers.
pub(in crate::http) fn scroll_region(name: &str, content: Markup) -> Markup {
    html! { div.scroll role="region" aria-label=(name) tabindex="0" { (content) } }
}

/// A decimal written with a comma between thousands: `1874876.03` → `1,874,876.03`. Anything that is not a
/// plain decimal is given back as it is.
pub(in crate::http) fn grouped(decimal: &str) -> String {
    let (sign, rest) = decimal.strip_prefix('-').map_or(("", decimal), |r| ("-", r));
    let (whole, fraction) = rest.split_once('.').map_or((rest, None), |(w, f)| (w, Some(f)));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return decimal.to_owned();
    }
    let mut out = String::from(sign);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// An amount of money with its currency: `65,979.71 EUR`.
pub(in crate::http) fn money(amount: &str, currency: &str) -> String {
    format!("{} {currency}", grouped(amount))
}

fn number(text: &str) -> f64 {
    text.parse().unwrap_or(0.0)
}

/// An indicator's status in words. A report as of the programme's end (or later) says it ended, with the final
/// percentage when the target was not reached.
fn status_words(indicator: &IndicatorReport, ended: bool) -> String {
    match (indicator.status.as_str(), ended) {
        ("achieved", true) => "ended, achieved".to_owned(),
        ("achieved", false) => "achieved".to_owned(),
        (_, true) => match indicator.percent {
            Some(p) => format!("ended at {p:.1} % of target"),
            None => "ended".to_owned(),
        },
        ("on_track", false) => "on track".to_owned(),
        ("behind", false) => "behind".to_owned(),
        _ => "not started".to_owned(),
    }
}

/// One indicator's bar: filled to actual ÷ target, with a mark at expected ÷ target as of `as_of`.
fn bar(indicator: &IndicatorReport, as_of: chrono::NaiveDate, ended: bool) -> Markup {
    let target = number(&indicator.target);
    let share = |value: f64| if target > 0.0 { (value / target * 100.0).clamp(0.0, 100.0) } else { 100.0 };
    let filled = share(number(&indicator.actual));
    let expected = share(number(&indicator.expected));
    let status = indicator.status.as_str();
    let label = format!(
        "{}: {} of {} {}, expected {} by {}, {}",
        indicator.label,
        grouped(&indicator.actual),
        grouped(&indicator.target),
        indicator.unit,
        grouped(&indicator.expected),
        if ended { "the end".to_owned() } else { as_of.to_string() },
        status_words(indicator, ended)
    );
    html! {
        div class={ "bar " (status) } role="progressbar" aria-label=(label) aria-valuemin="0"
            aria-valuemax=(indicator.target) aria-valuenow=(indicator.actual) data-indicator=(indicator.id) {
            div class="fill" style={ "width: " (format!("{filled:.1}")) "%" } {}
            div class="expected" style={ "left: " (format!("{expected:.1}")) "%" } {}
        }
    }
}

/// The table of indicators with their bars, in a scroll region named `name`; `ended` when the report is as of
/// the programme's end or later.
pub(in crate::http) fn indicator_table(name: &str, report: &ProgressReport, ended: bool) -> Markup {
    let table = html! {
        table {
            thead { tr { th scope="col" { "indicator" } th scope="col" { "progress" } th.num scope="col" { "actual / target" }
                th.num scope="col" { "%" } th.num scope="col" { "expected" } th scope="col" { "status" } } }
            tbody {
                @for i in &report.indicators {
                    tr {
                        th scope="row" { (i.label) }
                        td { (bar(i, report.as_of, ended)) }
                        td.num { (grouped(&i.actual)) " / " (grouped(&i.target)) " " (i.unit)
                            @if number(&i.pending) > 0.0 { br; small { "+ " (grouped(&i.pending)) " pending" } } }
                        td.num { @match i.percent { Some(p) => { (format!("{p:.1}")) }, None => { "–" } } }
                        td.num { (grouped(&i.expected)) }
                        td class={ "status " (i.status.as_str()) } { (status_words(i, ended)) }
                    }
                }
            }
        }
    };
    html! {
        (scroll_region(name, table))
        p.legend { "The bar fills to actual ÷ target; the black mark is where the programme should be by then (from its milestones, or linear to the due date). On track means at least 85 % of that. A programme that has ended is shown as of its end date unless another date is asked for." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped("1874876.03"), "1,874,876.03");
        assert_eq!(grouped("65979.71"), "65,979.71");
        assert_eq!(grouped("999"), "999");
        assert_eq!(grouped("1000"), "1,000");
        assert_eq!(grouped("-1234.5"), "-1,234.5");
        assert_eq!(grouped("n/a"), "n/a");
        assert_eq!(money("250000.00", "EUR"), "250,000.00 EUR");
    }
}
