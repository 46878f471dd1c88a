//! `Idempotency-Key` on the POSTs that create. The first request with a key reserves it durably — with the
//! hash of its body and the ids its events will get — before anything is appended; its answer is stored when it
//! succeeds. A retry with the same key and body gets the stored answer; if the first attempt died between its
//! append and storing the answer, the retry runs again with the reserved ids, and the log recognises those
//! events as already stored. The same key with another body is 422; a duplicate while the first is still in
//! flight in this process is 409. Keys are scoped to the token that sent them and the route. On a store several
//! servers share, a retry reaching another server while the first attempt still runs finds the reservation
//! unanswered and runs with its ids: the log answers those events as already stored, so both make one activity
//! and give the same answer; a reservation is forgotten after a refusal only while no server stored an answer
//! in it (`remove_if`).

use std::collections::HashSet;
use std::future::Future;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
use crate::store::Table;

/// The keys being worked on in this process.
#[derive(Debug, Default)]
pub(super) struct InFlight(Mutex<HashSet<String>>);

/// A reserved key, stored until forgotten.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reservation {
    request_hash: String,
    /// Ids chosen for what the request creates (an activity id, then its event ids).
    ids: Vec<Uuid>,
    answer: Option<StoredAnswer>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// What an idempotent request does, given the ids reserved for it.
#[derive(Clone, Debug)]
pub(super) struct Attempt {
    pub ids: Vec<Uuid>,
    /// The ids were made for this attempt, not taken from an earlier attempt's reservation (which may have
    /// stored events with them).
    pub fresh: bool,
}

/// Runs `create` at most once per key and body. `ids` is how many ids to reserve for it. The work runs in its
/// own task: a client that disconnects, or a request that times out, does not cancel a command half way, and
/// the key is released when the work ends.
pub(super) async fn idempotent<F, Fut>(
    state: &AppState,
    scope: &str,
    key: Option<String>,
    body: &serde_json::Value,
    ids: usize,
    create: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Attempt) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response, ApiError>> + Send + 'static,
{
    let fresh_ids = move || (0..ids).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let Some(key) = key else {
        return create(Attempt { ids: fresh_ids(), fresh: true }).await;
    };
    let record_key = hex::encode(Sha256::digest(format!("{scope}\n{key}").as_bytes()));
    let request_hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
    if !state.in_flight().0.lock().insert(record_key.clone()) {
        return Err(ApiError::conflict("a request with this Idempotency-Key is still in flight; retry later"));
    }
    let state = state.clone();
    let work = tokio::spawn(async move {
        let outcome = run_reserved(&state, &record_key, &request_hash, fresh_ids, create).await;
        state.in_flight().0.lock().remove(&record_key);
        outcome
    });
    work.await.map_err(ApiError::internal)?
}

async fn run_reserved<F, Fut>(
    state: &AppState,
    record_key: &str,
    request_hash: &str,
    fresh_ids: impl FnOnce() -> Vec<Uuid>,
    create: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Attempt) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let records = state.records();
    let existing = {
        let key = record_key.to_owned();
        let records = records.clone();
        tokio::task::spawn_blocking(move || records.get(Table::IdempotencyKeys, &key))
            .await
            .map_err(ApiError::internal)??
    };
    // The reservation as stored, and whether its ids were made for this attempt.
    let (reservation, stored, fresh) = match existing {
        Some(bytes) => {
            let reservation: Reservation = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
            if reservation.request_hash != request_hash {
                return Err(ApiError::invalid(
                    "Idempotency-Key reused",
                    "Idempotency-Key",
                    "this key was used with another request body; use a new key for a new request",
                ));
            }
            if let Some(answer) = reservation.answer {
                return Ok(replay(answer));
            }
            (reservation, bytes, false)
        }
        None => {
            let reservation = Reservation { request_hash: request_hash.to_owned(), ids: fresh_ids(), answer: None };
            let bytes = serde_json::to_vec(&reservation).expect("a reservation serialises");
            let (key, records, value) = (record_key.to_owned(), records.clone(), bytes.clone());
            let inserted = tokio::task::spawn_blocking(move || records.insert_new(Table::IdempotencyKeys, &key, &value))
                .await
                .map_err(ApiError::internal)??;
            if !inserted {
                return Err(ApiError::conflict("a request with this Idempotency-Key is still in flight; retry later"));
            }
            (reservation, bytes, true)
        }
    };

    let outcome = create(Attempt { ids: reservation.ids.clone(), fresh }).await;
    let key = record_key.to_owned();
    match outcome {
        // A page's answer to a recorded form is a redirect to what it made: kept as an API's 201 is.
        Ok(response) if response.status().is_success() || response.status().is_redirection() => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
            let answer = StoredAnswer {
                status: parts.status.as_u16(),
                headers: parts
                    .headers
                    .iter()
                    .filter(|(name, _)| [header::LOCATION, header::ETAG, header::CONTENT_TYPE].contains(name))
                    .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
                    .collect(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            };
            let stored = Reservation { answer: Some(answer), ..reservation };
            let value = serde_json::to_vec(&stored).expect("a reservation serialises");
            tokio::task::spawn_blocking(move || records.put(Table::IdempotencyKeys, &key, &value))
                .await
                .map_err(ApiError::internal)??;
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
        Err(error) if !error.status().is_client_error() => Err(error),
        other => {
            // Nothing was created: forget the key, so that a corrected request may use it — unless another
            // server's attempt with this key stored its answer meanwhile, which stays for the next retry. (After
            // a server failure the reservation stays, so that a retry reuses its ids.)
            tokio::task::spawn_blocking(move || records.remove_if(Table::IdempotencyKeys, &key, &stored))
                .await
                .map_err(ApiError::internal)??;
            other
        }
    }
}

fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (header::HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
