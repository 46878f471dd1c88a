//! Where the memory of a started server goes: opens a data directory as `tracker serve` does (log, indexes,
//! progress projection from its snapshot) and prints jemalloc's allocated and resident bytes after the open,
//! after dropping the projection and after closing the log. For profiling by hand (BENCHMARKS.md):
//!
//! ```sh
//! BENCH_FILL_ONLY=/tmp/s1m cargo bench --bench http     # a store with the seeds and 1 M activity events
//! cargo run --release --example memory /tmp/s1m
//! ```

use tikv_jemalloc_ctl::{epoch, stats};

fn mib() -> String {
    epoch::advance().expect("jemalloc statistics");
    let allocated = stats::allocated::read().expect("jemalloc statistics") as f64 / 1048576.0;
    let resident = stats::resident::read().expect("jemalloc statistics") as f64 / 1048576.0;
    format!("allocated {allocated:.1} MiB, resident {resident:.1} MiB")
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: memory DATA_DIR"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    println!("before:                 {}", mib());
    let (log, projection, restored) = runtime
        .block_on(tracker::projection_store::open_with_progress(&dir, Default::default()))
        .expect("the data directory opens");
    println!("opened ({restored:?}): {}", mib());
    drop(projection);
    println!("projection dropped:     {}", mib());
    drop(log);
    println!("log closed:             {}", mib());
}
