//! Connect conformance-suite programs for Trident.
//!
//! The official runner (`connectconformance`) drives two binaries built from this crate:
//! `conformance-server` (a [`ConformanceService`](proto::ConformanceService) served by `trident::Server`,
//! exercised by the reference client) and `conformance-client` (runs the RPCs the runner describes with the
//! Trident client against the reference server). Both talk to the runner over stdin/stdout with
//! length-prefixed protobuf messages ([`wire`]).

pub mod client;
pub mod convert;
pub mod intercept;
pub mod proto;
pub mod service;
pub mod wire;
