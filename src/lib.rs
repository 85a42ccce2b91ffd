//! Trident: one Rust RPC server and client for the Connect, gRPC, gRPC-Web and Apache Dubbo Triple
//! protocols, over HTTP/1.1, HTTP/2 (cleartext or TLS) and HTTP/3.
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
//! - Serving: [`Router`] (routes, limits, codecs, compression, [`Router::intercept`]), [`cors`] for
//!   browsers on other origins, and
//!   [`Server`] (connections, TLS, graceful shutdown).
//! - Calling: [`Client::builder`] and [`ClientBuilder`]; the generated clients wrap a [`Client`].
//! - Around calls: [`Interceptor`] and [`RequestInterceptor`] on both sides, [`ClientBuilder::layer`]
//!   for tower layers on the client's transport, [`error_response`] for tower middleware on the server;
//!   `TraceCalls` and `RecordMetrics` (features `tracing` and `opentelemetry`) for spans, trace context
//!   and metrics.
//! - Results: [`Request`], [`Response`], [`Error`] with its [`Code`] and [`ErrorDetail`]s, and
//!   [`CallContext`] for deadlines, cancellation and the peer.
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
//! | `tls`    | on      | TLS with rustls: serving with `TlsConfig`, `https://` clients; the application's process-wide rustls provider if installed, else ring |
//! | `br`     | on      | Brotli compression (`br`): `Brotli`, in [`CompressionRegistry::new`] |
//! | `zstd`   | on      | Zstandard compression (`zstd`): `Zstd`; builds the zstd C library |
//! | `snappy` | on      | Snappy compression (`snappy`, framing format): `Snappy` |
//! | `http3`  | off     | HTTP/3 over QUIC (quinn): `Server::http3` beside TCP on the same port, `HttpVersion::Http3` for `https://` clients; needs `tls` |
//! | `tracing` | off    | `TraceCalls`: one `tracing` span per call on either side, with OpenTelemetry's RPC attributes |
//! | `opentelemetry` | off | `tracing`, plus W3C trace context propagation in `TraceCalls` (via `tracing-opentelemetry`) and `RecordMetrics`: RPC duration, size and count histograms through an OpenTelemetry `Meter` |
//!
//! With `default-features = false`, Trident speaks cleartext HTTP/1.1 and HTTP/2 only and compresses with gzip and
//! deflate (always built in, with identity). An encoding whose feature is off is unknown to
//! [`CompressionRegistry`]: a peer sending it gets `unimplemented`, and it is never advertised. With
//! `tracing` and `opentelemetry` off (the default), no observability code or dependency is built.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod any_message;
mod body;
mod client;
mod coalesce;
mod code;
mod codec;
mod compression;
mod config_error;
mod context;
pub mod cors;
mod deadline;
mod envelope;
mod error;
mod http2;
#[cfg(feature = "http3")]
mod http3;
mod interceptor;
mod limits;
mod metadata;
mod method;
mod min_data_rate;
#[cfg(feature = "tracing")]
mod observe;
mod peer_certificates;
mod protocol;
mod request;
mod server;
mod server_shutdown;
mod shutdown_signal;
#[cfg(feature = "tls")]
mod tls;
mod wire;

pub use any_message::{AnyMessage, MessageStream};
pub use body::Body;
pub use client::{
    BalancePolicy, BidiStreamCall, Client, ClientBuilder, ClientStreamCall,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DNS_INTERVAL, DnsResolver, EndpointHealth, HealthCheck,
    HttpVersion, MAX_RETRY_ATTEMPTS, REPLAY_LIMIT, ResolveNow, Resolver, RetryBudget, RetryPolicy,
    ServerStreamCall, StaticResolver, Transport, boxed_transport,
};
pub use code::Code;
pub use codec::{Codec, JsonCodec, Message, MessageView, ProtoCodec};
#[cfg(feature = "br")]
pub use compression::Brotli;
#[cfg(feature = "snappy")]
pub use compression::Snappy;
#[cfg(feature = "zstd")]
pub use compression::Zstd;
pub use compression::{Compression, CompressionRegistry, Deflate, Gzip, read_bounded};
pub use config_error::ConfigError;
pub use context::CallContext;
pub use error::{Error, ErrorDetail};
pub use http2::Http2Settings;
pub use interceptor::{
    BoxFuture, ConnFuture, Interceptor, RequestInterceptor, StreamingClientConn,
    StreamingClientWrapper, StreamingNext, UnaryNext,
};
pub use limits::{DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_READ_MAX_BYTES};
pub use metadata::Metadata;
pub use method::{Idempotency, MethodSpec, StreamType};
pub use min_data_rate::MinDataRate;
#[cfg(feature = "opentelemetry")]
pub use observe::metrics::RecordMetrics;
#[cfg(feature = "tracing")]
pub use observe::spans::TraceCalls;
pub use peer_certificates::PeerCertificates;
pub use protocol::ProtocolKind;

/// Apache Dubbo's Triple protocol ([`ProtocolKind::TRIPLE`]): its options for routes and clients, as
/// extension traits of [`ServiceRoutes`] and [`ClientBuilder`]. Dubbo's business error is
/// [`Error::business`].
pub mod triple {
    pub use crate::protocol::triple::{TripleClientOptions, TripleRoutes};
}
pub use request::{IntoRequest, Request, Response};
pub use server::{
    DEFAULT_GRACE_PERIOD, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
    DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED_RESPONSE_BYTES,
    DEFAULT_MAX_HEADER_LIST_SIZE, DEFAULT_TCP_KEEPALIVE, HandlerPanic, ResponseStream, Router,
    RouterFuture, Serve, ServeFuture, Server, ServiceRoutes, Streaming, WithGracefulShutdown,
    error_response,
};
#[cfg(feature = "http3")]
pub use server::{
    DEFAULT_HTTP3_KEEP_ALIVE_INTERVAL, DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS,
    DEFAULT_HTTP3_MAX_IDLE_TIMEOUT,
};
#[cfg(feature = "tls")]
pub use server::{DEFAULT_TLS_HANDSHAKE_TIMEOUT, TlsConfig, TlsConfigBuilder};
pub use shutdown_signal::shutdown_signal;

/// The rustls crate Trident's TLS support is built on, for hand-made configurations
/// ([`TlsConfig::from_rustls`], [`ClientBuilder::tls_config`]) and certificate types
/// ([`rustls::pki_types::CertificateDer`]). Only with the `tls` feature (on by default).
#[cfg(feature = "tls")]
pub use rustls;

/// Certificate types ([`pki_types::CertificateDer`], as [`CallContext::peer_certificates`] returns
/// them), also without the `tls` feature; the same crate as `rustls::pki_types`.
pub use rustls_pki_types as pki_types;

/// The guide: services and clients for the four call types, errors, deadlines, interceptors and
/// middleware, TLS, browsers, shutdown and deployment, and coming from tonic (`docs/guide.md`; its
/// snippets are compiled and run as the doc tests of the repository's `trident-examples` crate).
#[cfg(not(doctest))]
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

/// The OpenTelemetry API crate [`RecordMetrics::meter`] and [`TraceCalls::propagator`] take their types
/// from, at the version Trident is built with. Only with the `opentelemetry` feature.
#[cfg(feature = "opentelemetry")]
pub use opentelemetry;

// Every public item has one path: the crate root. The modules above are private and name the concepts
// the files hold; a user never needs to know them.

/// The one path generated code uses to reach the runtime. Not part of the public API.
#[doc(hidden)]
pub mod codegen {
    pub use crate::{
        BidiStreamCall, Client, ClientStreamCall, Code, Error, Idempotency, IntoRequest,
        MethodSpec, Request, Response, ResponseStream, ServerStreamCall, ServiceRoutes, StreamType,
        Streaming,
    };
    pub use prost;
    pub use prost_reflect;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
