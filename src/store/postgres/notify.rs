//! How a node learns that the head moved, for `wait_beyond`: every appending transaction calls `pg_notify` with
//! its new head position (delivered to listeners only once it commits, in commit order), and each node keeps one
//! connection that `LISTEN`s and publishes what it hears into the node's head watch. This node's writer also
//! publishes its own commits directly. Nothing polls while that connection is up; once it is lost, the head is
//! read every [`PgLogOptions::poll_every`](super::PgLogOptions) while a new connection is tried, and read once
//! more as soon as the new one listens, so that nothing appended in between is missed.

use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::{conn, Failure, Inner, CHANNEL};

/// Runs for the life of the log (on the engine's runtime).
pub(super) async fn listen(inner: Arc<Inner>) {
    let mut lost_since: Option<std::time::Instant> = None;
    loop {
        match subscribe(&inner).await {
            Ok((client, mut heads)) => {
                if let Some(since) = lost_since.take() {
                    tracing::info!(after = ?since.elapsed(), "listening for new events again");
                }
                // Whatever was committed before LISTEN took effect.
                match inner.head().await {
                    Ok(head) => inner.publish(head.position),
                    Err(error) => tracing::warn!(%error, "reading the head after LISTEN"),
                }
                while let Some(position) = heads.recv().await {
                    inner.publish(position);
                }
                drop(client);
                tracing::warn!("lost the connection that listens for new events; reading the head until it is back");
                lost_since = Some(std::time::Instant::now());
            }
            Err(error) => {
                if lost_since.is_none() {
                    tracing::warn!(%error, "cannot listen for new events; reading the head until a connection listens");
                    lost_since = Some(std::time::Instant::now());
                }
            }
        }
        if let Ok(head) = inner.head().await {
            inner.publish(head.position);
        }
        tokio::time::sleep(inner.options.poll_every).await;
    }
}

/// A connection that listens on [`CHANNEL`], and the positions it hears; the receiver ends with the connection.
async fn subscribe(inner: &Inner) -> Result<(tokio_postgres::Client, mpsc::UnboundedReceiver<u64>), Failure> {
    let listener = conn::for_role(&inner.endpoint.config, conn::Role::Listener);
    let (client, mut connection) = listener.connect(inner.endpoint.tls.clone()).await?;
    let (heads, heard) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) if note.channel() == CHANNEL => {
                    if let Ok(position) = note.payload().parse::<u64>() {
                        if heads.send(position).is_err() {
                            break;
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "the listening connection failed");
                    break;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok((client, heard))
}
