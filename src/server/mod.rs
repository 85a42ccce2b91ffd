//! The server half: a router of typed handlers that speaks every protocol on one port, and the
//! [`Server`] that serves it on a listener.
//!
//! The common path ([`Router`], [`Server`], [`ServiceRoutes`], [`Streaming`], [`ResponseStream`]) is
//! also at the crate root; this module adds what running a server names less often: the serve
//! futures, [`RouterFuture`], [`HandlerPanic`], [`MinDataRate`] and [`error_response`] for tower
//! middleware.

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
pub(crate) mod outgoing;
mod recover;
mod respond;
mod response_budget;
mod router;
mod serve;
mod streaming;
mod websocket;
// Its configuration types are public as `trident::tls`'s.
#[cfg(feature = "tls")]
pub(crate) mod tls;

pub use crate::min_data_rate::MinDataRate;
pub use builder::Server;
pub(crate) use connection_scope::ConnectionScope;
pub use error_response::error_response;
pub use outgoing::ResponseStream;
pub use recover::HandlerPanic;
pub use router::{Router, RouterFuture, ServiceRoutes};
pub use serve::{Serve, ServeFuture, WithGracefulShutdown};
pub use streaming::Streaming;
