//! Trident's black-box tests, compiled into one test binary so that a build links once instead of once
//! per file. Each former `tests/tests/NAME.rs` is the module `NAME` here, so its tests keep their names
//! under it: `cargo test -p trident-tests --test suite tls::` runs the TLS tests,
//! `cargo test -p trident-tests --test suite nginx::` the nginx ones.
//!
//! Every test shares this one process with the others, running alongside them. A test that changes
//! something process-wide (environment variables, a global `tracing` subscriber or OpenTelemetry
//! provider, a `#[global_allocator]`, resource limits) or that measures the whole process (its memory,
//! its threads) does not belong here: give it its own binary under `tests/tests/` and say why there.
//! Those here keep to their own state: `observability` sets its subscriber as its own thread's default,
//! and `memory_bound` measures a child process that runs only its server.

mod bad_input;
mod balancing;
mod cancellation;
mod client_config;
mod client_interceptors;
mod client_liveness;
mod compression;
mod connections;
mod cors;
mod deadlines;
mod dubbo_interop;
mod error_response;
mod errors;
mod fuzz_inputs;
mod get;
mod grpc_web_text;
mod http2_settings;
mod http3;
mod in_memory;
mod interceptors;
mod limits;
mod many_streams;
mod memory_bound;
mod metadata;
mod nginx;
mod observability;
mod panics;
mod push;
mod response_framing;
mod rest;
mod retries;
mod router_options;
mod server;
mod stream_types;
mod tls;
mod tonic_client;
mod tonic_server;
mod transport_layers;
mod triple;
mod websocket;

// Not tests: the tonic stubs and server that `interceptors`, `tonic_client` and `tonic_server` share.
mod tonic_common;
