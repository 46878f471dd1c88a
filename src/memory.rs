//! The process's memory as jemalloc (the global allocator, `lib.rs`) counts it: for `/metrics` and for profiling
//! by hand (`examples/memory.rs`).

/// jemalloc's view of the heap at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes handed out to the application and not yet freed.
    pub allocated: u64,
    /// Bytes of jemalloc's pages that are resident: the allocated ones, its metadata, and freed pages not yet
    /// returned to the system.
    pub resident: u64,
}

/// jemalloc's statistics, refreshed first (they are cached per epoch). `None` if jemalloc does not answer.
pub fn heap_stats() -> Option<HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let allocated = stats::allocated::read().ok()?;
    let resident = stats::resident::read().ok()?;
    Some(HeapStats { allocated: allocated as u64, resident: resident as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_shows_in_the_allocated_bytes() {
        // The counts are the whole process's, and other tests run beside this one: the block is far bigger than
        // what any of them allocates, and the margins allow for them.
        let before = heap_stats().expect("jemalloc statistics");
        let block = vec![1u8; 128 << 20];
        let during = heap_stats().expect("jemalloc statistics");
        assert!(during.allocated >= before.allocated + (96 << 20), "{before:?} then {during:?}");
        assert!(during.resident >= during.allocated, "{during:?}");
        drop(block);
        let after = heap_stats().expect("jemalloc statistics");
        assert!(after.allocated + (96 << 20) <= during.allocated, "{during:?} then {after:?}");
    }
}
