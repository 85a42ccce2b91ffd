//! The server half: a router of typed handlers that speaks every protocol on one port.

mod drain;
mod handler;
mod respond;
mod router;
mod serve;
mod streaming;

pub use handler::ResponseStream;
pub use router::{DEFAULT_COMPRESS_MIN_BYTES, DEFAULT_READ_MAX_BYTES, Router, ServiceRoutes};
pub use serve::{serve, serve_with_shutdown};
pub use streaming::Streaming;
