//! Trident: one Rust RPC server and client for the Connect, gRPC and gRPC-Web protocols.
//!
//! Services are described in `.proto` files; `trident-build` generates prost messages, a server trait and
//! a typed client for each service. The server is a [`tower::Service`] (see [`Router`]) that serves every
//! protocol on one port over HTTP/1.1 and HTTP/2; the client ([`Client`]) rides on one duplex call for all
//! four stream types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let router = trident::Router::new(); // .add(greet_service_routes(MyGreeter))
//! trident::serve(listener, router).await?;
//! # Ok(()) }
//! ```

pub mod body;
pub mod client;
mod coalesce;
mod code;
mod codec;
pub mod compression;
mod config_error;
mod context;
mod deadline;
mod envelope;
mod error;
mod limits;
mod metadata;
mod method;
pub mod protocol;
mod request;
pub mod server;
#[cfg(feature = "tls")]
mod tls;
mod wire;

pub use body::Body;
pub use client::{
    BidiStreamCall, Client, ClientBuilder, ClientStreamCall, HttpVersion, ServerStreamCall,
};
pub use code::Code;
pub use codec::{Codec, JsonCodec, Message, MessageView, ProtoCodec};
pub use compression::{Brotli, Compression, CompressionRegistry, Deflate, Gzip, Snappy, Zstd};
pub use config_error::ConfigError;
pub use context::CallContext;
pub use error::{Error, ErrorDetail};
pub use limits::{DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_READ_MAX_BYTES};
pub use metadata::Metadata;
pub use method::{Idempotency, MethodSpec, StreamType};
pub use protocol::ProtocolKind;
pub use request::{IntoRequest, Request, Response};
pub use server::{
    Cors, ResponseStream, Router, ServiceRoutes, Streaming, serve, serve_with_shutdown,
};
#[cfg(feature = "tls")]
pub use server::{TlsConfig, serve_tls, serve_tls_with_shutdown};

/// The rustls crate Trident's TLS support is built on, for hand-made configurations
/// ([`TlsConfig::from_rustls`], [`ClientBuilder::tls_config`]) and certificate types
/// ([`rustls::pki_types::CertificateDer`]). Only with the `tls` feature (on by default).
#[cfg(feature = "tls")]
pub use rustls;

/// Certificate types ([`pki_types::CertificateDer`], as [`CallContext::peer_certificates`] returns
/// them), also without the `tls` feature; the same crate as `rustls::pki_types`.
pub use rustls_pki_types as pki_types;

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
