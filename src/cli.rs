//! The `tracker` command line: parses arguments (also from `TRACKER_*` variables) and runs one subcommand.
//! Long work draws a progress bar on stderr when it is a terminal, and nothing otherwise.

use std::io::{BufReader, BufWriter, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::audit;
use crate::store::{Engine, EventLog, PgLog, PgLogOptions, SledLog, SledLogOptions, StoreLocation};

/// Event-sourced tracker of EU-funded multi-city programmes.
#[derive(Debug, Parser)]
#[command(name = "tracker", version)]
pub struct Cli {
    /// The data directory (sled store, admin token).
    #[arg(long, global = true, env = "TRACKER_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Where the log is: `sled:DIR` (the same as `--data DIR`) or a PostgreSQL database,
    /// `postgres://user@host/database`, which any number of `tracker serve` processes may share. Default: the
    /// sled store in `--data`.
    #[arg(long, global = true, env = "TRACKER_STORE", value_parser = StoreLocation::parse)]
    pub store: Option<StoreLocation>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (loads the seeds into an empty store; creates `<data>/admin.token` on first start).
    Serve {
        /// The address to listen on.
        #[arg(long, env = "TRACKER_ADDR", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Seconds a request may take, headers and body included, before it is answered 408 (a client that
        /// sends its headers too slowly is disconnected); streams (SSE, NDJSON) are exempt once they started.
        #[arg(long, env = "TRACKER_REQUEST_TIMEOUT", default_value_t = 30.0, value_parser = parse_timeout)]
        request_timeout: f64,
    },
    /// Manage API tokens offline (while no server holds the data directory; use `POST /v1/tokens` otherwise; on
    /// PostgreSQL, running servers know a token made here once they restart).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Recompute the hash chain of the whole log; exits non-zero naming the first bad position.
    Verify,
    /// Write the whole log to stdout as NDJSON, one envelope per line.
    Export,
    /// Read an NDJSON export from stdin into an empty data directory or database, after verifying all of it.
    Import {
        /// A head published earlier (`GET /v1/audit/head`) as POSITION:HASH: the export must reach it.
        #[arg(long)]
        head: Option<audit::PublishedHead>,
    },
    /// Check an NDJSON export on stdin without importing it: canonical lines, the whole chain, and with `--head`
    /// that it reaches a head published earlier (so a truncated or rewritten export is refused).
    CheckExport {
        /// A head published earlier (`GET /v1/audit/head`) as POSITION:HASH.
        #[arg(long)]
        head: Option<audit::PublishedHead>,
    },
    /// Print a programme's progress against its targets, read offline from the data directory.
    Report {
        /// The programme's id, e.g. `connection`.
        programme: String,
        /// Count activities that occurred on or before this date (YYYY-MM-DD); default today, or the date of
        /// `--known-at` / `--at-position`.
        #[arg(long, value_parser = |text: &str| crate::query::parse_as_of(text).map_err(|f| f.message))]
        as_of: Option<chrono::NaiveDate>,
        /// Report what was known at this moment (RFC 3339), ignoring later events.
        #[arg(long, conflicts_with = "at_position", value_parser = |text: &str| crate::query::parse_known_at(text).map_err(|f| f.message))]
        known_at: Option<events::Timestamp>,
        /// Report what was known at this log position, ignoring later events.
        #[arg(long, value_parser = |text: &str| crate::query::parse_at_position(text).map_err(|f| f.message))]
        at_position: Option<u64>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
    },
    /// Rebuild the progress projection from the whole log and save it.
    Rebuild,
    /// Register the seed programmes (CONNECTION, UNITES) in an empty data directory, creating it if needed.
    Seed,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print its secret once.
    Create {
        /// The token's name: every event it appends carries it as `actor`.
        #[arg(long)]
        name: String,
        /// admin, coordinator, recorder or auditor.
        #[arg(long)]
        role: String,
        /// The programme of a coordinator or recorder.
        #[arg(long)]
        programme: Option<String>,
        /// The partner of a recorder.
        #[arg(long)]
        partner: Option<String>,
        /// When the token stops working: an RFC 3339 time in the future, e.g. 2027-06-30T17:00:00Z. Never, if
        /// absent.
        #[arg(long, value_parser = parse_expiry)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

fn parse_expiry(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|e| format!("'{text}' is not an RFC 3339 time ({e}): write e.g. 2027-06-30T17:00:00Z"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

/// Runs the command line and maps failure to exit code 1 with the error chain on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server says what it does (listening, the admin token's path); the other commands speak only of trouble.
    let default_filter = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRACKER_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    // `--store sled:DIR` is `--data DIR`.
    if let Some(StoreLocation::Sled(dir)) = &cli.store {
        cli.data = dir.clone();
        cli.store = None;
    }
    let target = cli.store.clone().unwrap_or_else(|| StoreLocation::Sled(cli.data.clone()));
    match cli.command {
        Command::Serve { addr, request_timeout } => {
            let timeout = std::time::Duration::from_secs_f64(request_timeout);
            runtime.block_on(serve(cli.data, cli.store, addr, timeout)).map(|()| ExitCode::SUCCESS)
        }
        Command::Token(command) => runtime.block_on(create_token(&target, command)).map(|()| ExitCode::SUCCESS),
        Command::Verify => runtime.block_on(verify(&target)),
        Command::Export => runtime.block_on(export(&target)).map(|()| ExitCode::SUCCESS),
        Command::Import { head } => import(&runtime, &target, &cli.data, head).map(|()| ExitCode::SUCCESS),
        Command::CheckExport { head } => check_export(head).map(|()| ExitCode::SUCCESS),
        Command::Report { programme, as_of, known_at, at_position, format } => {
            let request = crate::report::ReportRequest { as_of, known_at, at_position };
            runtime.block_on(report(&target, &programme, &request, format)).map(|()| ExitCode::SUCCESS)
        }
        Command::Rebuild => runtime.block_on(rebuild(&target)).map(|()| ExitCode::SUCCESS),
        Command::Seed => runtime.block_on(seed(&target)).map(|()| ExitCode::SUCCESS),
    }
}

/// A request timeout in seconds: positive and at most a day.
fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!("'{text}' is not a number of seconds between 0 and 86400 (e.g. 30 or 0.5)")),
    }
}

async fn serve(
    data: PathBuf,
    store: Option<StoreLocation>,
    addr: std::net::SocketAddr,
    request_timeout: std::time::Duration,
) -> anyhow::Result<()> {
    // jemalloc's background thread returns freed memory to the system within seconds even while the server is
    // idle; start-up alone frees hundreds of MB at 1 M events. Without it the server only uses more memory.
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc's background thread could not be started");
    }
    let config = crate::http::ServeConfig { data, store, addr, request_timeout };
    let application = crate::http::Application::build(&config).await?;
    application.run_until(crate::http::shutdown_signal()).await
}

/// Issues a token offline and prints its secret.
async fn create_token(target: &StoreLocation, command: TokenCommand) -> anyhow::Result<()> {
    use crate::auth::{RoleName, TokenRequest, Tokens};
    let TokenCommand::Create { name, role, programme, partner, expires_at } = command;
    let role = RoleName::parse(&role)
        .with_context(|| format!("unknown role '{role}': use admin, coordinator, recorder or auditor"))?;
    let engine = open_existing(target).await?;
    let log = engine.log();
    let request = TokenRequest { name, role, programme, partner, expires_at };
    if let Some(programme) = &request.programme {
        let slug = events::Slug::parse(programme).map_err(|e| anyhow::anyhow!("--programme: {e}"))?;
        let (state, _) = crate::service::load_programme(log.as_ref(), &slug).await?;
        let definition = state.programme().with_context(|| format!("unknown programme '{programme}'"))?;
        if let Some(partner) = &request.partner {
            anyhow::ensure!(definition.partner(partner).is_some(), "unknown partner '{partner}' of programme '{programme}'");
        }
    }
    let tokens = Tokens::load(engine.records())?;
    let people = crate::people::People::load(engine.records())?;
    anyhow::ensure!(!people.has(&request.name), "the name '{}' belongs to a person; choose another", request.name);
    let secret = tokens.issue(&request).map_err(|error| match error {
        crate::auth::IssueError::Invalid(faults) => {
            let faults: Vec<String> = faults.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("invalid token: {}", faults.join("; "))
        }
        other => anyhow::Error::new(other),
    })?;
    println!("{secret}");
    eprintln!("token '{}' created; this is the only time its secret is shown", request.name);
    Ok(())
}

/// The store of `target`; a data directory must exist (a database is given the schema if it has none).
async fn open_existing(target: &StoreLocation) -> anyhow::Result<Engine> {
    match target {
        StoreLocation::Sled(dir) => Ok(Engine::Sled(Arc::new(open_existing_dir(dir)?))),
        StoreLocation::Postgres(url) => Ok(Engine::Postgres(Arc::new(PgLog::open(url, PgLogOptions::default()).await?))),
    }
}

fn open_existing_dir(dir: &Path) -> anyhow::Result<SledLog> {
    SledLog::open(dir, SledLogOptions { create: false, ..SledLogOptions::default() })
        .with_context(|| format!("opening {}", dir.display()))
}

fn progress_bar(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let template = format!("{what} [{{bar:40}}] {{pos}}/{{len}} events ({{per_sec}}, {{eta}} left)");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
    bar
}

async fn verify(target: &StoreLocation) -> anyhow::Result<ExitCode> {
    let engine = open_existing(target).await?;
    let log = engine.log();
    let bar = progress_bar("verifying");
    let report = audit::verify_log(log.as_ref(), |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    let (position, hash) = report.head;
    match &report.first_bad {
        None => {
            println!("ok: {} events checked; head position {position} hash {hash}", report.events);
            Ok(ExitCode::SUCCESS)
        }
        Some(error) => {
            println!("FAILED at position {}: {}", error.position, error.reason);
            println!("{} events checked before it; last good position {position} hash {hash}", report.events);
            Ok(ExitCode::from(2))
        }
    }
}

async fn export(target: &StoreLocation) -> anyhow::Result<()> {
    let engine = open_existing(target).await?;
    let log = engine.log();
    let bar = progress_bar("exporting");
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let count = audit::export_log(log.as_ref(), &mut out, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await
    .context("exporting the log")?;
    bar.finish_and_clear();
    tracing::info!(count, "exported");
    Ok(())
}

fn check_export(head: Option<audit::PublishedHead>) -> anyhow::Result<()> {
    let input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let (count, hash) = audit::check_export(input, &mut std::io::sink(), head, |_| ())
        .context("the export was refused")?;
    println!("ok: {count} events checked; head position {count} hash {hash}");
    Ok(())
}

/// Imports an export from stdin into an empty store: a data directory (made if missing), or a PostgreSQL
/// database (the spool file then goes to the data directory).
fn import(runtime: &tokio::runtime::Runtime, target: &StoreLocation, dir: &Path, published: Option<audit::PublishedHead>) -> anyhow::Result<()> {
    // Refuse a non-empty store before reading a possibly large input.
    let postgres = match target {
        StoreLocation::Sled(_) => {
            if dir.join("sled").exists() {
                let log = open_existing_dir(dir)?;
                let head = runtime.block_on(log.head())?.position;
                anyhow::ensure!(head == 0, "data directory {} already holds {head} events; import needs an empty one", dir.display());
            }
            None
        }
        StoreLocation::Postgres(url) => {
            let log = runtime.block_on(PgLog::open(url, PgLogOptions::default()))?;
            let head = runtime.block_on(log.head())?.position;
            anyhow::ensure!(head == 0, "the database already holds {head} events; import needs an empty log");
            Some(log)
        }
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // The export is checked whole before anything is written: lines go to a spool file as they are verified,
    // then the spool is written to the store.
    let spool_path = dir.join("import.spool");
    let bar = progress_bar("verifying");
    let checked = {
        let mut spool = BufWriter::new(
            std::fs::File::create(&spool_path).with_context(|| format!("creating {}", spool_path.display()))?,
        );
        let input = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
        audit::check_export(input, &mut spool, published, |done| bar.set_position(done))
    };
    bar.finish_and_clear();
    let (count, hash) = match checked {
        Ok(head) => head,
        Err(error) => {
            let _ = std::fs::remove_file(&spool_path);
            return Err(error.context("the export was refused; nothing was imported"));
        }
    };
    let bar = progress_bar("importing");
    bar.set_length(count);
    let spool = BufReader::new(std::fs::File::open(&spool_path)?);
    let envelopes = std::io::BufRead::lines(spool).map(|line| {
        let line = line.context("reading the spool file")?;
        Ok(events::Envelope::from_json_line(&line)?)
    });
    let head = match &postgres {
        None => SledLog::import(dir, envelopes, |done| bar.set_position(done))?,
        Some(log) => runtime.block_on(log.import(envelopes, |done| bar.set_position(done)))?,
    };
    bar.finish_and_clear();
    std::fs::remove_file(&spool_path).ok();
    anyhow::ensure!(head.position == count && head.hash == hash, "the imported store does not end where the export does");
    eprintln!("imported {count} events; head position {} hash {}", head.position, head.hash);
    std::io::stderr().flush().ok();
    Ok(())
}

async fn report(target: &StoreLocation, programme: &str, request: &crate::report::ReportRequest, format: ReportFormat) -> anyhow::Result<()> {
    let (log, projection, restored) = match target {
        StoreLocation::Sled(dir) => {
            let options = SledLogOptions { create: false, ..SledLogOptions::default() };
            let (log, projection, restored) = crate::projection_store::open_with_progress(dir, options)
                .await
                .with_context(|| format!("opening {} and bringing the progress projection up to date", dir.display()))?;
            (Engine::Sled(Arc::new(log)), projection, restored)
        }
        StoreLocation::Postgres(_) => crate::projection_store::open_store_with_progress(target)
            .await
            .context("opening the PostgreSQL store and bringing the progress projection up to date")?,
    };
    tracing::info!(?restored, "progress projection ready");
    let today = chrono::Utc::now().date_naive();
    let log = log.log();
    let report = crate::report::progress_report(log.as_ref(), &projection, programme, request, today).await.map_err(|error| match error {
        crate::report::ReportError::Query(fault) => anyhow::anyhow!("--{}: {}", fault.field.replace('_', "-"), fault.message),
        error => error.into(),
    })?;
    let text = match format {
        ReportFormat::Table => crate::report::to_table(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Csv => crate::report::to_csv(&report),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

async fn rebuild(target: &StoreLocation) -> anyhow::Result<()> {
    let engine = open_existing(target).await?;
    let started = std::time::Instant::now();
    let projection = crate::projection_store::rebuild_progress(engine.log().as_ref(), engine.snapshots()).await.context("rebuilding")?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuilt the progress projection from {} events in {seconds:.3} s ({:.0} events/s)",
        projection.position(),
        projection.position() as f64 / seconds.max(1e-9)
    );
    Ok(())
}

async fn seed(target: &StoreLocation) -> anyhow::Result<()> {
    let (engine, place) = match target {
        StoreLocation::Sled(dir) => {
            let log = SledLog::open(dir, SledLogOptions::default()).with_context(|| format!("opening {}", dir.display()))?;
            (Engine::Sled(Arc::new(log)), format!("data directory {}", dir.display()))
        }
        StoreLocation::Postgres(_) => (open_existing(target).await?, "the database".to_owned()),
    };
    let today = chrono::Utc::now().date_naive();
    let registered = crate::seed::load_seeds(engine.log().as_ref(), today).await?;
    anyhow::ensure!(!registered.is_empty(), "{place} already holds events; seeds go only into an empty one");
    println!("registered {}", registered.join(", "));
    Ok(())
}
