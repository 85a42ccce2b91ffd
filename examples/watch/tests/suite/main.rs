//! The watch example's tests, compiled into one test binary so that a build links once instead of once
//! per file. Each former `tests/NAME.rs` is the module `NAME` here, its tests named under it:
//! `cargo test -p trident-watch --test suite restart::` runs the restart tests.
//!
//! Every test shares this one process with the others. What only a real process shows (surviving
//! `kill -9`, resident memory) runs in `watch-server` and `watch-cli` child processes
//! (`common::process`), so no test here measures or changes anything process-wide.

mod http;
mod identity;
mod long_poll;
mod memory;
mod push;
mod registry;
mod rest;
mod restart;
mod watch;
mod watch_stream;

// Not tests: the servers, clients and time limits the modules above share.
mod common;
