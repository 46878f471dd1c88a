//! Reliability of the real `tracker serve` binary run as a child process: SIGKILL during concurrent recording,
//! a full or read-only data directory, a second server on the same directory, tamper evidence over HTTP, and
//! secrets kept out of logs and files, and tokens across a crash.

mod crash;
mod server;
mod storage;
mod secrets;
mod single_writer;
mod tamper;
mod tokens;
