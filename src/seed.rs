//! Loading the seeds — the programme definitions in `seeds/`, compiled into the binary so that a server started
//! from any directory has them — into an empty store. Each definition goes through the same command handler as
//! `POST /v1/programmes` and is appended as ordinary events with actor `seed`.

use anyhow::Context as _;
use chrono::NaiveDate;
use events::{programme_stream, register_programme, CommandContext, Programme, ProgrammeState, Role};

use crate::service::proposed;
use crate::store::{AppendError, EventLog, ExpectedVersion};

/// The seed files: name and JSON text.
pub const SEEDS: &[(&str, &str)] = &[
    ("seeds/connection.json", include_str!("../seeds/connection.json")),
    ("seeds/unites.json", include_str!("../seeds/unites.json")),
];

/// The actor recorded on seeded events.
pub const SEED_ACTOR: &str = "seed";

/// Registers every seed programme if the log is empty; returns the ids registered (none for a non-empty log,
/// and none that another server sharing the log registered at the same time).
pub async fn load_seeds(log: &dyn EventLog, today: NaiveDate) -> anyhow::Result<Vec<String>> {
    if log.head().await?.position != 0 {
        return Ok(Vec::new());
    }
    let mut registered = Vec::new();
    for (file, text) in SEEDS {
        let value: serde_json::Value = serde_json::from_str(text).with_context(|| format!("{file} is not JSON"))?;
        let programme = Programme::parse(&value).map_err(|faults| anyhow::anyhow!("{file}: {faults}"))?;
        let id = programme.id.clone();
        let ctx = CommandContext { today, role: Role::Admin };
        let decided = register_programme(&ProgrammeState::default(), programme, &ctx)
            .map_err(|faults| anyhow::anyhow!("{file}: {faults}"))?;
        let request = proposed(programme_stream(&id), ExpectedVersion::NoStream, &id, SEED_ACTOR, &decided);
        match log.append(request).await {
            Ok(_) => registered.push(id.to_string()),
            // Another server sharing the log registered it first (both found the log empty).
            Err(AppendError::WrongExpectedVersion { .. }) => {}
            Err(error) => return Err(anyhow::Error::new(error).context(format!("appending {file}"))),
        }
    }
    Ok(registered)
}
