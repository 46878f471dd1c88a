//! `tracker`: the command-line entry point. Everything it does lives in the library's `cli` module.

/// mimalloc instead of glibc's malloc: the server makes many small, short-lived allocations on several threads
/// (a request's JSON values, the envelopes handed from the writer to the follower), and glibc's arenas spent
/// about a quarter of the server's instructions on them (callgrind, 32 appending clients).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracker::cli::main()
}
