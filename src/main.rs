//! `tracker`: the command-line entry point. Everything it does lives in the library's `cli` module.

/// mimalloc instead of glibc's malloc: the server makes many small, short-lived allocations on several threads
/// (a request's JSON values, the envelopes handed from the writer to the follower), and glibc's arenas spent
/// about a quarter of the server's instructions on them (callgrind, 32 appending clients).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Where the kernel backs every large mapping with transparent huge pages (`always`), mimalloc's arenas are
    // made of 2 MiB pages that are resident as soon as one byte of them is touched: measured on a store of 70 000
    // events, 166 MiB resident after start-up instead of 89 MiB with huge pages off. Off for this process only;
    // if the kernel refuses, nothing else changes.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    tracker::cli::main()
}
