//! Where the memory of a started server goes: opens a data directory as `tracker serve` does (log, indexes,
//! progress projection from its snapshot) and prints jemalloc's allocated and resident bytes after the open,
//! after dropping the projection and after closing the log. For profiling by hand (BENCHMARKS.md):
//!
//! ```sh
//! BENCH_FILL_ONLY=/tmp/s1m cargo bench --bench http     # a store with the seeds and 1 M activity events
//! cargo run --release --example memory /tmp/s1m
//! cargo run --release --example memory /tmp/s1m log     # the log alone, without the projection
//! ```

use tikv_jemalloc_ctl::{epoch, stats};
use tracker::store::{SledLog, SledLogOptions};

fn mib() -> String {
    epoch::advance().expect("jemalloc statistics");
    let allocated = stats::allocated::read().expect("jemalloc statistics") as f64 / 1048576.0;
    let resident = stats::resident::read().expect("jemalloc statistics") as f64 / 1048576.0;
    format!("allocated {allocated:.1} MiB, resident {resident:.1} MiB")
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: memory DATA_DIR [log]"));
    let log_only = std::env::args().nth(2).as_deref() == Some("log");
    let mut options = SledLogOptions::default();
    if let Some(cache) = std::env::var("CACHE").ok().and_then(|c| c.parse().ok()) {
        options.cache_capacity = cache;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    println!("before:                 {}", mib());
    if log_only {
        let log = SledLog::open(&dir, options).expect("the data directory opens");
        println!("log opened:             {}", mib());
        if std::env::var_os("EXIT_OPEN").is_some() { std::process::exit(0); }
        drop(log);
        println!("log closed:             {}", mib());
        return;
    }
    let (log, projection, restored) = runtime
        .block_on(tracker::projection_store::open_with_progress(&dir, options))
        .expect("the data directory opens");
    println!("opened ({restored:?}): {}", mib());
    drop(projection);
    println!("projection dropped:     {}", mib());
    drop(log);
    println!("log closed:             {}", mib());
}
