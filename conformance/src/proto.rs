//! The `connectrpc.conformance.v1` messages, service trait, routes and client, generated at build time
//! by `trident-build` from the conformance-suite protos.

#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/connectrpc.conformance.v1.rs"));
