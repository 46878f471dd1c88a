//! Following what other servers sharing the store (PostgreSQL) change in the record tables — tokens issued or
//! revoked, people invited or revoked, sessions started or ended: read every [`FOLLOW_EVERY`], and again at once
//! (`read_shared_since`) when a request brings a token or session cookie this server does not know yet, so a
//! token issued or a sign-in made through one server works on the next request to any other.

use std::time::{Duration, Instant};

use crate::http::AppState;

/// How often a server on a shared store takes over the tokens, people and sessions other servers changed: a
/// token revoked or a session ended through one server is refused by the others within this.
const FOLLOW_EVERY: Duration = Duration::from_millis(400);

/// Takes over, every [`FOLLOW_EVERY`], what other servers sharing the store changed in the record tables. Runs
/// only on a shared store.
pub(in crate::http) async fn follow_shared_records(state: AppState) {
    state.accounts().catch_up.share();
    let mut interval = tokio::time::interval(FOLLOW_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        read_shared_since(&state, Instant::now()).await;
    }
}

/// Reads the shared record tables again unless a read that started at or after `since` has ended; `false` on a
/// store no other server shares.
pub(in crate::http) async fn read_shared_since(state: &AppState, since: Instant) -> bool {
    let shared = state.clone();
    let read = || async move {
        let followed = tokio::task::spawn_blocking(move || -> Result<usize, crate::store::ReadError> {
            Ok(shared.tokens().refresh()? + shared.accounts().people.refresh()? + shared.accounts().sessions.refresh()?)
        })
        .await;
        match followed {
            Ok(Ok(0)) => {}
            Ok(Ok(changed)) => tracing::debug!(changed, "took over tokens, people and sessions changed elsewhere"),
            Ok(Err(error)) => tracing::warn!(%error, "could not read the tokens, people and sessions of the shared store"),
            Err(error) => tracing::warn!(%error, "following the shared store's tokens, people and sessions failed"),
        }
    };
    state.accounts().catch_up.read_since(since, read).await
}
