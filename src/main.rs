//! `tracker`: the command-line entry point. Everything it does lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    tracker::cli::main()
}
