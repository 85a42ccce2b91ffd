//! HTTP/3 (the `http3` feature): the one place that speaks quinn (QUIC) and h3 (HTTP/3 framing and
//! QPACK), turning their streams into the `http::Request<Body>` / `http::Response<Body>` the rest of
//! Trident uses. h3 is a 0.0.x crate; an upgrade touches this directory only.
//!
//! - `body.rs`: request and response bodies over h3 streams, and the work-arounds for h3's gaps.
//! - `quic.rs`: quinn configurations from Trident's TLS configurations.
//! - `server.rs`: the server's endpoint, connections and requests.
//! - `client.rs`: the client's connections and requests.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod quic;
pub(crate) mod server;
