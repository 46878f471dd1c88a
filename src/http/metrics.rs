//! `/metrics` in the Prometheus text format: requests by route and status with their latency, what the log's
//! writer did (group commits, batch sizes, time spent syncing) with the head position, and the heap's size
//! (jemalloc's allocated and resident bytes). Counted in-process with plain counters; nothing is sampled.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::AppState;
use crate::store::LogStats;

/// Upper bounds of the latency histogram, in seconds.
const LATENCY_BOUNDS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// Requests by route template; one lock, taken once per request, and no allocation once a route and status
/// have been seen.
#[derive(Debug, Default)]
pub(super) struct Metrics(Mutex<BTreeMap<String, RouteMetrics>>);

#[derive(Debug, Default)]
struct RouteMetrics {
    /// By method and status.
    requests: BTreeMap<(&'static str, u16), u64>,
    /// By method.
    latency: BTreeMap<&'static str, Histogram>,
}

impl Metrics {
    /// The requests' counters and histograms in the text format.
    fn render(&self, out: &mut String) {
        let routes = self.0.lock();
        for (route, metrics) in routes.iter() {
            for ((method, status), count) in &metrics.requests {
                let _ = writeln!(
                    out,
                    "tracker_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP tracker_http_request_duration_seconds Time to answer, by method and route.\n");
        out.push_str("# TYPE tracker_http_request_duration_seconds histogram\n");
        for (route, metrics) in routes.iter() {
            for (method, histogram) in &metrics.latency {
                let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
                for (bound, count) in LATENCY_BOUNDS.iter().zip(histogram.buckets) {
                    let _ = writeln!(out, "tracker_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
                }
                let _ = writeln!(out, "tracker_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", histogram.count);
                let _ = writeln!(out, "tracker_http_request_duration_seconds_sum{{{labels}}} {}", histogram.sum);
                let _ = writeln!(out, "tracker_http_request_duration_seconds_count{{{labels}}} {}", histogram.count);
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(LATENCY_BOUNDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// A method's name as a label; methods the API does not know share one.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("OTHER", |(_, label)| label)
}

/// Middleware: counts each request under its route template (not its concrete path, so ids do not make new
/// series) and status.
pub(super) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let mut routes = state.metrics().0.lock();
    if !routes.contains_key(route) {
        routes.insert(route.to_owned(), RouteMetrics::default());
    }
    let metrics = routes.get_mut(route).expect("inserted above");
    *metrics.requests.entry((method, response.status().as_u16())).or_default() += 1;
    metrics.latency.entry(method).or_default().observe(seconds);
    drop(routes);
    response
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// One metric with a single value, with its help and type lines.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    out.push_str("# HELP tracker_http_requests_total HTTP requests by route, method and status.\n");
    out.push_str("# TYPE tracker_http_requests_total counter\n");
    state.metrics().render(&mut out);
    let stats = state.log().stats();
    let head = state.log().head().await?;
    metric(&mut out, "tracker_log_head_position", "gauge", "Position of the latest acknowledged event.", head.position);
    metric(&mut out, "tracker_projection_position", "gauge", "Position the progress projection has applied.", state.progress().position());
    metric(&mut out, "tracker_log_commits_total", "counter", "Group commits written, each one write and fdatasync of the write-ahead file.", stats.commits);
    metric(&mut out, "tracker_log_events_total", "counter", "Events written since start.", stats.events);
    metric(&mut out, "tracker_log_sync_seconds_total", "counter", "Time spent making commits durable.", stats.sync_micros as f64 / 1e6);
    out.push_str("# HELP tracker_log_batch_events Events per group commit.\n");
    out.push_str("# TYPE tracker_log_batch_events histogram\n");
    let mut cumulative = 0;
    for (i, count) in stats.batch_sizes.iter().enumerate() {
        cumulative += count;
        let bound = LogStats::BATCH_BOUNDS.get(i).map_or("+Inf".to_owned(), u64::to_string);
        let _ = writeln!(out, "tracker_log_batch_events_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "tracker_log_batch_events_sum {}", stats.events);
    let _ = writeln!(out, "tracker_log_batch_events_count {}", stats.commits);
    out.push_str("# HELP tracker_log_append_seconds Time from an append's request to its durable answer.\n");
    out.push_str("# TYPE tracker_log_append_seconds histogram\n");
    let mut cumulative = 0;
    for (i, count) in stats.append_latency.iter().enumerate() {
        cumulative += count;
        let bound = LogStats::LATENCY_BOUNDS.get(i).map_or("+Inf".to_owned(), f64::to_string);
        let _ = writeln!(out, "tracker_log_append_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "tracker_log_append_seconds_sum {}", stats.append_micros as f64 / 1e6);
    let _ = writeln!(out, "tracker_log_append_seconds_count {cumulative}");
    if let Some(heap) = crate::memory::heap_stats() {
        metric(&mut out, "tracker_memory_allocated_bytes", "gauge", "Heap bytes in use (jemalloc's count).", heap.allocated);
        metric(&mut out, "tracker_memory_resident_bytes", "gauge", "Resident bytes of the heap: in use, allocator metadata and freed pages not yet given back.", heap.resident);
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
