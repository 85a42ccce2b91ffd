//! Trident: one Rust RPC server and client for the Connect, gRPC, gRPC-Web and Apache Dubbo Triple
//! protocols, over HTTP/1.1, HTTP/2 (cleartext or TLS) and HTTP/3; the server also answers REST at the
//! resource URLs of `google.api.http` annotations ([`rest`]).
//!
//! Services are described in `.proto` files; `trident-build` generates prost messages, a server trait and
//! a typed client for each service. The server side is a [`tower::Service`] (see [`Router`]) that routes
//! every protocol on one port, and a [`Server`] that serves it on a listener (TLS, limits, graceful
//! shutdown, HTTP/3 beside TCP); the client ([`Client`]) rides on one duplex call for all four stream
//! types.
//!
//! [`tower::Service`]: https://docs.rs/tower/0.5/tower/trait.Service.html
//!
//! # Where to start
//!
//! - The [`guide`]: a service and its client for the four call types, errors, deadlines, interceptors,
//!   TLS, browsers, shutdown, and coming from tonic.
//! - The crate root holds the common path: [`Router`] and [`Server`] to serve, [`Client`] to call,
//!   [`Request`], [`Response`], [`Error`] with its [`Code`], [`Metadata`], and [`CallContext`] for
//!   deadlines, cancellation and the peer.
//! - The modules hold the rest, one concept each:
//!   - [`server`]: the serve futures, panics, [`error_response`](server::error_response) for tower
//!     middleware, the minimum data rate;
//!   - [`client`]: [`ClientBuilder`](client::ClientBuilder), the typed streaming calls, retries,
//!     balancing and discovery, custom transports;
//!   - [`error_details`]: `google.rpc`'s standard error details (`BadRequest`, `RetryInfo`, …) as
//!     types, with builders and getters on [`Error`];
//!   - [`interceptor`]: what interceptors see and wrap ([`Interceptor`] and [`RequestInterceptor`] are
//!     at the root);
//!   - [`codec`] and [`compression`]: the pluggable message codecs and encodings;
//!   - [`tls`]: TLS configuration and the peer's certificates; [`cors`]: browsers on other origins;
//!   - `observe` (features `tracing` and `opentelemetry`): spans, trace context and metrics;
//!   - [`triple`]: Apache Dubbo's service groups and versions;
//!   - [`rest`]: methods at resource URLs (`google.api.http` bindings).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let router = trident::Router::new(); // .add(greet_service_routes(MyGreeter))
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // `stop.send(())` shuts down
//! # drop(stop);
//! trident::Server::new()
//!     .serve(listener, router)
//!     .with_graceful_shutdown(async {
//!         // Or `tokio::signal::ctrl_c()`, with Tokio's `signal` feature.
//!         let _ = stopped.await;
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Cargo features
//!
//! | Feature  | Default | What it adds |
//! |----------|---------|--------------|
//! | `tls`    | on      | TLS with rustls: serving with `tls::TlsConfig`, `https://` clients; the application's process-wide rustls provider if installed, else ring |
//! | `br`     | on      | Brotli compression (`br`): `compression::Brotli`, in [`CompressionRegistry::new`](compression::CompressionRegistry::new) |
//! | `zstd`   | on      | Zstandard compression (`zstd`): `compression::Zstd`; builds the zstd C library |
//! | `snappy` | on      | Snappy compression (`snappy`, framing format): `compression::Snappy` |
//! | `http3`  | off     | HTTP/3 over QUIC (quinn): `Server::http3` beside TCP on the same port, `HttpVersion::Http3` for `https://` clients; needs `tls` |
//! | `tracing` | off    | `observe::TraceCalls`: one `tracing` span per call on either side, with OpenTelemetry's RPC attributes |
//! | `opentelemetry` | off | `tracing`, plus W3C trace context propagation in `TraceCalls` (via `tracing-opentelemetry`) and `observe::RecordMetrics`: RPC duration, size and count histograms through an OpenTelemetry `Meter` |
//!
//! With `default-features = false`, Trident speaks cleartext HTTP/1.1 and HTTP/2 only and compresses with gzip and
//! deflate (always built in, with identity). An encoding whose feature is off is unknown to
//! [`CompressionRegistry`](compression::CompressionRegistry): a peer sending it gets `unimplemented`, and it is never advertised. With
//! `tracing` and `opentelemetry` off (the default), no observability code or dependency is built.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod any_message;
mod body;
pub mod client;
mod coalesce;
mod code;
pub mod codec;
pub mod compression;
mod config_error;
mod context;
pub mod cors;
mod deadline;
mod envelope;
mod error;
pub mod error_details;
mod http2;
#[cfg(feature = "http3")]
mod http3;
pub mod interceptor;
mod limits;
mod metadata;
mod method;
mod min_data_rate;
#[cfg(feature = "tracing")]
pub mod observe;
mod peer_certificates;
mod protocol;
mod request;
pub mod server;
mod server_shutdown;
mod shutdown_signal;
pub mod tls;
mod wire;

// The common path is at the root: what a service, its handlers and its callers name on the guide's
// first pages. Everything else lives in the module named after its concept (`client`, `server`,
// `codec`, `compression`, `error_details`, `interceptor`, `tls`, `observe`, `cors`, `triple`).
pub use body::Body;
pub use client::{Client, HttpVersion};
pub use code::Code;
pub use codec::Message;
pub use config_error::ConfigError;
pub use context::CallContext;
pub use error::{Error, ErrorDetail};
pub use http2::Http2Settings;
pub use interceptor::{Interceptor, RequestInterceptor};
pub use metadata::Metadata;
pub use method::{Idempotency, MethodSpec, StreamType};
pub use protocol::ProtocolKind;
pub use request::{IntoRequest, Request, Response};
pub use server::{ResponseStream, Router, Server, ServiceRoutes, Streaming};
pub use shutdown_signal::shutdown_signal;

/// Apache Dubbo's Triple protocol ([`ProtocolKind::TRIPLE`]): its options for routes and clients, as
/// extension traits of [`ServiceRoutes`] and [`ClientBuilder`](client::ClientBuilder). Dubbo's
/// business error is [`Error::business`].
pub mod triple {
    pub use crate::protocol::triple::{TripleClientOptions, TripleRoutes};
}

/// REST: methods served at resource URLs, from `google.api.http` bindings, beside their RPC
/// protocols on the same router ([`ProtocolKind::REST`]). Generated routes bind every annotated
/// method; [`RestRoutes::http`](rest::RestRoutes::http) binds one by hand. The guide's REST section
/// shows both.
pub mod rest {
    pub use crate::protocol::rest::{HttpRule, RestRoutes};
}

/// Every call type over a WebSocket ([`ProtocolKind::WEBSOCKET`]), for browsers that need bidi
/// streams: its options, set with [`Router::websocket`]. The guide's WebSocket section gives the
/// wire contract.
pub mod websocket {
    pub use crate::protocol::websocket::WebSocketOptions;
}

/// The guide: services and clients for the four call types, errors, deadlines, interceptors and
/// middleware, TLS, browsers, shutdown and deployment, and coming from tonic (`docs/guide.md`; its
/// snippets are compiled and run as the doc tests of the repository's `trident-examples` crate).
#[cfg(not(doctest))]
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

/// The one path generated code uses to reach the runtime. Not part of the public API.
#[doc(hidden)]
pub mod codegen {
    pub use crate::client::{BidiStreamCall, ClientStreamCall, ServerStreamCall};
    pub use crate::rest::{HttpRule, RestRoutes};
    pub use crate::{
        Client, Code, Error, Idempotency, IntoRequest, MethodSpec, Request, Response,
        ResponseStream, ServiceRoutes, StreamType, Streaming,
    };
    pub use prost;
    pub use prost_reflect;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
