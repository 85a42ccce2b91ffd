//! The server half: a router of typed handlers that speaks every protocol on one port, and the
//! [`Server`] that serves it on a listener.

mod answer;
mod builder;
mod call;
mod connection;
mod connection_scope;
mod connection_service;
mod drain;
mod error_response;
mod fd_limit;
mod handler;
#[cfg(feature = "http3")]
mod http3_connection;
mod outgoing;
mod recover;
mod respond;
mod response_budget;
mod router;
mod serve;
mod streaming;
#[cfg(feature = "tls")]
mod tls;

pub use builder::{
    DEFAULT_GRACE_PERIOD, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
    DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED_RESPONSE_BYTES,
    DEFAULT_MAX_HEADER_LIST_SIZE, DEFAULT_TCP_KEEPALIVE, Server,
};
#[cfg(feature = "http3")]
pub use builder::{
    DEFAULT_HTTP3_KEEP_ALIVE_INTERVAL, DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS,
    DEFAULT_HTTP3_MAX_IDLE_TIMEOUT,
};
pub(crate) use connection_scope::ConnectionScope;
pub use error_response::error_response;
pub use outgoing::ResponseStream;
pub use recover::HandlerPanic;
pub use router::{Router, RouterFuture, ServiceRoutes};
pub use serve::{Serve, ServeFuture, WithGracefulShutdown};
pub use streaming::Streaming;
#[cfg(feature = "tls")]
pub use tls::{DEFAULT_TLS_HANDSHAKE_TIMEOUT, TlsConfig, TlsConfigBuilder};
