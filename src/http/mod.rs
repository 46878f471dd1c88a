//! The HTTP API of SPEC §6 on axum: the shared state, the router (`app`), and `Application`, which opens the
//! store (a data directory, or a PostgreSQL database), loads the seeds into an empty store, creates the first admin token, restores the progress
//! projection, serves until Ctrl-C or SIGTERM and then shuts down gracefully (in-flight requests finish, the
//! projection's snapshot is saved and the log is closed).

mod account;
mod activities;
mod activity_commands;
mod approvals;
mod dashboard;
mod pages;
mod session;
mod error;
mod extract;
mod iati;
mod idempotency;
mod imports;
mod log;
mod metrics;
mod openapi;
mod people;
mod programmes;
mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, Problem};

use crate::auth::Tokens;
use crate::live::LiveProgress;
use crate::store::{Engine, EventLog, RecordStore, StoreLocation};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long a request may take by default before it is answered 408 (streams of events are exempt once they
/// started); a client that has not sent its headers by then is disconnected. `--request-timeout` changes it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    log: Arc<dyn EventLog>,
    records: Arc<dyn RecordStore>,
    progress: Arc<LiveProgress>,
    tokens: Tokens,
    accounts: crate::people::Accounts,
    /// Held while a name is given to a token or a person, so that the two never get the same one.
    naming: parking_lot::Mutex<()>,
    in_flight: idempotency::InFlight,
    metrics: metrics::Metrics,
    programmes: crate::service::ProgrammeCache,
    reports: programmes::ReportCache,
    /// Becomes true when the server starts shutting down; endless responses (SSE) end then.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(
        log: Arc<dyn EventLog>,
        records: Arc<dyn RecordStore>,
        progress: Arc<LiveProgress>,
        tokens: Tokens,
        accounts: crate::people::Accounts,
    ) -> AppState {
        AppState(Arc::new(Shared {
            log,
            records,
            progress,
            tokens,
            accounts,
            naming: parking_lot::Mutex::new(()),
            in_flight: idempotency::InFlight::default(),
            metrics: metrics::Metrics::default(),
            programmes: crate::service::ProgrammeCache::default(),
            reports: programmes::ReportCache::default(),
            stopping: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn log(&self) -> &dyn EventLog {
        self.0.log.as_ref()
    }

    pub fn records(&self) -> Arc<dyn RecordStore> {
        Arc::clone(&self.0.records)
    }

    pub fn progress(&self) -> &LiveProgress {
        &self.0.progress
    }

    /// The progress projection once it has applied every event acknowledged before this call (waiting up to
    /// 2 s): what a read that must show the caller's own writes looks at.
    pub(super) async fn caught_up_progress(
        &self,
    ) -> Result<tokio::sync::RwLockReadGuard<'_, projections::ProgressProjection>, ApiError> {
        let head = self.log().head().await?.position;
        self.progress().wait_for(head, Duration::from_secs(2)).await;
        Ok(self.progress().read().await)
    }

    /// Programme states by version, for commands.
    pub fn programmes(&self) -> &crate::service::ProgrammeCache {
        &self.0.programmes
    }

    /// The last progress report served for each programme, as JSON.
    fn reports(&self) -> &programmes::ReportCache {
        &self.0.reports
    }

    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    pub fn accounts(&self) -> &crate::people::Accounts {
        &self.0.accounts
    }

    /// Runs `give` while no other name is given: tokens and people share one space of names.
    pub fn naming<T>(&self, give: impl FnOnce() -> T) -> T {
        let _naming = self.0.naming.lock();
        give()
    }

    fn in_flight(&self) -> &idempotency::InFlight {
        &self.0.in_flight
    }

    fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    /// Resolves once the server is shutting down.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut stopping = self.0.stopping.subscribe();
        async move {
            let _ = stopping.wait_for(|&s| s).await;
        }
    }

    /// The day commands are decided on (activities may not lie after it).
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::Utc::now().date_naive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Programme tracker",
        description = "Event-sourced tracking of EU-funded multi-city programmes: record activities, report \
                       progress against output targets, replay and verify the log."
    ),
    components(schemas(Problem, error::FaultSchema)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Every error is `application/problem+json`, and a few can come from any operation: 400 (a malformed header,
/// path or body), 401 (a token is checked on every route, public ones too), 408 (too slow), and for operations
/// with a body 413 (over 64 KiB) and 415 (not JSON). Added here once rather than on every handler.
#[derive(Debug)]
struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
        let response = |description: &str| ResponseBuilder::new().description(description).content(error::PROBLEM_JSON, problem()).build();
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                let has_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                for (status, answer) in responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let (true, utoipa::openapi::RefOr::T(answer)) = (is_error, answer) {
                        if let Some(content) = answer.content.shift_remove("application/json") {
                            answer.content.insert(error::PROBLEM_JSON.to_owned(), content);
                        }
                    }
                }
                let mut common = vec![("400", "malformed request"), ("401", "the token is unknown or revoked"), ("408", "the request took too long")];
                if has_body {
                    common.extend([("413", "the body is over 64 KiB"), ("415", "the body is not JSON")]);
                }
                for (status, description) in common {
                    responses.entry(status.to_owned()).or_insert_with(|| response(description).into());
                }
            }
        }
    }
}

/// The OpenAPI description as served, made once from the router.
static OPENAPI_JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// This description: every endpoint of the API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    let body = OPENAPI_JSON.get_or_init(|| openapi().to_string()).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The router with every endpoint and the OpenAPI description built from the same handlers.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(dashboard::routes())
        .merge(programmes::routes())
        .merge(iati::routes())
        .merge(activities::routes())
        .merge(approvals::routes())
        .merge(imports::routes())
        .merge(log::routes())
        .merge(tokens::routes())
        .merge(people::routes())
        .merge(metrics::routes())
        .routes(utoipa_axum::routes!(openapi_json))
        .split_for_parts();
    // After the merge: the paths come from the routers, not from `ApiDoc`.
    utoipa::Modify::modify(&ProblemResponses, &mut openapi);
    // The browser's pages are not part of the API's description.
    (router.merge(pages::routes()).merge(account::routes()), openapi)
}

/// The OpenAPI description of every endpoint, as served at `/openapi.json`.
pub fn openapi() -> serde_json::Value {
    openapi::document(&routes().1)
}

/// The application's router over `state`, with the default request timeout.
pub fn app(state: AppState) -> Router {
    app_with_timeout(state, REQUEST_TIMEOUT)
}

/// The application's router over `state`; a request not answered within `request_timeout` is answered 408.
///
/// Only the layers that need the matched route (metrics) or must sit inside it (the timeout, so that metrics
/// count a 408, and authentication, so that they count a 401) are applied to the routes: axum clones a route's
/// whole stack of boxed layers for every request. The others wrap the router once.
pub fn app_with_timeout(state: AppState, request_timeout: Duration) -> Router {
    let (router, openapi) = routes();
    let _ = OPENAPI_JSON.set(openapi::document(&openapi).to_string());
    let routed = router
        .fallback(|| async { ApiError::not_found("no such endpoint; see /openapi.json") })
        .layer(middleware::from_fn_with_state(state.clone(), extract::authenticate))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state);
    let around = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(NewRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(routed);
    Router::new().fallback_service(around)
}

/// A random UUID as the id of a request that came without one, written on the stack rather than through a
/// `String` (tower-http's `MakeRequestUuid` gives the same text).
#[derive(Clone, Copy, Debug)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

/// Errors made by layers and by axum itself (405, 408, 413 …) come without a body: give them a problem. The
/// dashboard's error pages for browsers (HTML) are answers of their own and pass.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    let has_body = content_type
        .is_some_and(|v| v.starts_with(error::PROBLEM_JSON.as_bytes()) || v.starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || has_body {
        return response;
    }
    let title = status.canonical_reason().unwrap_or("error").to_lowercase();
    let kind = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let mut problem = ApiError::new(status, kind, title).into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}

/// How `tracker serve` is configured.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The data directory: the sled store's unless `store` names another, and where the first admin token is
    /// written.
    pub data: PathBuf,
    /// Where the log is; `None` for the sled store in `data`.
    pub store: Option<StoreLocation>,
    pub addr: SocketAddr,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
}

/// The server, bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    engine: Engine,
    follower: tokio::task::JoinHandle<()>,
    request_timeout: Duration,
}

impl Application {
    /// Opens (or creates) the store, loads the seeds into an empty store, creates the admin token on the first
    /// start, restores the progress projection and binds the address.
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Application> {
        let location = config.store.clone().unwrap_or_else(|| StoreLocation::Sled(config.data.clone()));
        // For sled, the log's indexes are rebuilt while the projection's snapshot is read beside them.
        let (engine, projection, restored) = crate::projection_store::open_store_with_progress(&location)
            .await
            .with_context(|| match &location {
                StoreLocation::Sled(dir) => format!("opening the data directory {}", dir.display()),
                StoreLocation::Postgres(_) => "opening the PostgreSQL store".to_owned(),
            })?;
        let log = engine.log();
        let today = chrono::Utc::now().date_naive();
        let seeded = crate::seed::load_seeds(log.as_ref(), today).await.context("loading the seeds")?;
        if !seeded.is_empty() {
            tracing::info!(programmes = ?seeded, "loaded the seeds into the empty store");
        }
        let records = engine.records();
        let tokens = Tokens::load(Arc::clone(&records)).context("loading the API tokens")?;
        if tokens.is_empty() {
            match write_admin_token(&config.data, &tokens) {
                Ok(path) => tracing::info!(path = %path.display(), "created the admin token; it is in this file (mode 0600)"),
                // Another server sharing the store, started at the same time, made it (and wrote its file).
                Err(error) if matches!(error.downcast_ref(), Some(crate::auth::IssueError::NameTaken(_))) => {
                    tracing::info!("another server made the admin token at the same time; it is in that server's data directory");
                }
                Err(error) => return Err(error),
            }
        }
        let accounts = crate::people::Accounts::load(Arc::clone(&records)).context("loading the accounts")?;
        let (progress, follower) = LiveProgress::follow_from(projection, log.clone());
        tracing::info!(?restored, "progress projection ready");
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let state = AppState::new(log, records, progress, tokens, accounts);
        Ok(Application { listener, state, engine, follower, request_timeout: config.request_timeout })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish, saves the tokens' last-used times and the
    /// projection and closes the log.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, state, engine, follower, request_timeout } = self;
        match &engine {
            Engine::Sled(log) => tracing::info!(addr = %listener.local_addr()?, data = %log.dir().display(), "listening"),
            Engine::Postgres(log) => tracing::info!(addr = %listener.local_addr()?, store = %log.location(), "listening"),
        }
        let stopping = state.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.0.stopping.send_replace(true);
        };
        let saver = tokio::spawn(save_last_used_every_minute(state.clone()));
        let records = matches!(engine, Engine::Postgres(_)).then(|| tokio::spawn(account::follow_shared_records(state.clone())));
        serve(listener, app_with_timeout(state.clone(), request_timeout), request_timeout, shutdown).await;
        follower.abort();
        saver.abort();
        records.inspect(|task| task.abort());
        save_last_used(&state).await;
        if let Err(error) = state.progress().save(engine.log().as_ref(), engine.snapshots()).await {
            tracing::warn!(%error, "could not save the progress snapshot; the next start catches up from the log");
        }
        drop(state);
        engine.close().await;
        tracing::info!("stopped");
        // A server that had to refuse writes did not do its job: say so to whatever supervises it.
        if let Some(failure) = engine.log().write_failure() {
            anyhow::bail!("stopped after refusing writes: {failure}");
        }
        Ok(())
    }
}

/// Serves HTTP/1.1 connections until `shutdown` completes, then waits for the connections to finish
/// what they were doing. Unlike `axum::serve`, a client that opens a connection and does not send its headers
/// within `request_timeout` is disconnected (hyper's header read timeout, which needs a timer), and so is one
/// that sends nothing at all.
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    request_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(request_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    // Ends the wait for a connection's first byte at shutdown: a connection that never sent anything (an HTTP
    // client's spare connection, opened and pooled unused) would otherwise hold the shutdown for the whole
    // request timeout.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning on the error.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(
            // The peer's address, for the sign-in throttle.
            router.clone().map_request(move |request: Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                request
            }),
        );
        let (builder, watcher, mut stopped) = (builder.clone(), connections.watcher(), stopped.clone());
        tokio::spawn(async move {
            // hyper's header timer starts with the first byte: a connection that sends nothing is closed here.
            let mut byte = [0; 1];
            let first_byte = tokio::time::timeout(request_timeout, stream.peek(&mut byte));
            let sent = tokio::select! {
                peeked = first_byte => matches!(peeked, Ok(Ok(1..))),
                _ = stopped.wait_for(|&stopped| stopped) => false,
            };
            if !sent {
                return;
            }
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.send_replace(true);
    connections.shutdown().await;
}

/// Saves the tokens' last-used and the sessions' last-seen times once a minute (a crash loses at most the last
/// minute of them).
async fn save_last_used_every_minute(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        save_last_used(&state).await;
    }
}

async fn save_last_used(state: &AppState) {
    let sessions = state.clone();
    match tokio::task::spawn_blocking(move || sessions.accounts().sessions.save_last_seen()).await {
        Ok(Ok(saved)) => tracing::debug!(saved, "saved the sessions' last-seen times"),
        Ok(Err(error)) => tracing::warn!(%error, "could not save the sessions' last-seen times"),
        Err(error) => tracing::warn!(%error, "saving the sessions' last-seen times failed"),
    }
    let tokens = state.clone();
    match tokio::task::spawn_blocking(move || tokens.tokens().save_last_used()).await {
        Ok(Ok(saved)) => tracing::debug!(saved, "saved the tokens' last-used times"),
        Ok(Err(error)) => tracing::warn!(%error, "could not save the tokens' last-used times"),
        Err(error) => tracing::warn!(%error, "saving the tokens' last-used times failed"),
    }
}

/// Issues the first admin token and writes its secret to `<data>/admin.token`, readable only by its owner.
fn write_admin_token(data: &Path, tokens: &Tokens) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    let request = crate::auth::TokenRequest {
        name: "admin".into(),
        role: crate::auth::RoleName::Admin,
        programme: None,
        partner: None,
        expires_at: None,
    };
    let secret = tokens.issue(&request).context("issuing the admin token")?;
    // A PostgreSQL store keeps no data directory of its own: the token's is made when missing.
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let path = data.join("admin.token");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(path)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// A JSON response with an `ETag` of a stream version.
fn with_etag(status: StatusCode, version: u64, body: impl serde::Serialize) -> Response {
    match serde_json::to_vec(&body) {
        Ok(body) => json_with_etag(status, version, body),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

/// A response of JSON already serialised, with an `ETag` of a stream version.
fn json_with_etag(status: StatusCode, version: u64, body: Vec<u8>) -> Response {
    let headers = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json")), (header::ETAG, error::etag(version))];
    (status, headers, body).into_response()
}

/// Whether the request's `Accept` names `media_type`.
fn wants(headers: &axum::http::HeaderMap, media_type: &str) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains(media_type))
}

fn location(path: String) -> (header::HeaderName, HeaderValue) {
    (header::LOCATION, HeaderValue::from_str(&path).expect("paths built from slugs and uuids are valid headers"))
}
