//! Reading again, on demand, the records a server shares with others (tokens, people, sessions on a PostgreSQL
//! store): a server follows them every 400 ms, and a request whose token or session cookie it does not know —
//! one issued or started through another server a moment ago — asks for a read that starts after it arrived
//! before it is refused. Concurrent askers share one read; reads run one at a time and start at most every
//! [`MIN_GAP`], so a flood of unknown secrets costs the database at most that many reads.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The least time between the starts of two reads.
pub const MIN_GAP: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
pub struct CatchUp {
    /// Whether other servers share the store (set by the follower, which runs only then).
    shared: AtomicBool,
    /// When the last read that ended had started.
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl CatchUp {
    /// Notes that other servers share the store.
    pub fn share(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    pub fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    /// Runs `read` unless a read that started at or after `since` has ended meanwhile; `false` when the store is
    /// not shared (nothing to read again).
    pub async fn read_since<F, Fut>(&self, since: Instant, read: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        if !self.shared() {
            return false;
        }
        let mut last = self.last.lock().await;
        match *last {
            Some(started) if started >= since => return true,
            Some(started) => tokio::time::sleep_until((started + MIN_GAP).into()).await,
            None => {}
        }
        let started = Instant::now();
        read().await;
        *last = Some(started);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[tokio::test]
    async fn askers_who_arrive_during_a_read_share_the_next_one_and_nothing_is_read_unless_shared() {
        let catch_up = Arc::new(CatchUp::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let read = |reads: Arc<AtomicUsize>| move || async move {
            reads.fetch_add(1, Ordering::SeqCst);
        };
        assert!(!catch_up.read_since(Instant::now(), read(Arc::clone(&reads))).await);
        assert_eq!(reads.load(Ordering::SeqCst), 0, "a store of one server's own is never read again");

        catch_up.share();
        let since = Instant::now();
        let askers: Vec<_> = (0..8)
            .map(|_| {
                let (catch_up, reads) = (Arc::clone(&catch_up), Arc::clone(&reads));
                tokio::spawn(async move { catch_up.read_since(since, read(reads)).await })
            })
            .collect();
        for asker in askers {
            assert!(asker.await.unwrap());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "eight askers, one read");
        // A later asker needs a read that started after it arrived.
        assert!(catch_up.read_since(Instant::now(), read(Arc::clone(&reads))).await);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
