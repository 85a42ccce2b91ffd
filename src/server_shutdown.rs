//! How a call learns that the server is going away: the [`ServerShutdown`] request extension, with its
//! two moments, the start of a graceful shutdown and the end of its grace.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// The server's shutdown as one connection's requests see it.
///
/// [`Server`](crate::Server) inserts one into the extensions of every request it hands to the router
/// (one per connection, cloned into each request behind an `Arc`: cloning a `CancellationToken` itself
/// takes its tree's lock). [`CallContext`](crate::CallContext) watches it beside the call's own token
/// (rather than making each call's token a child of it, which would take the connection's lock once
/// per call). Requests from other servers carry none.
#[derive(Clone, Debug)]
pub(crate) struct ServerShutdown(pub(crate) Arc<ShutdownSignals>);

/// The two tokens of a [`ServerShutdown`].
#[derive(Debug)]
pub(crate) struct ShutdownSignals {
    /// Cancelled when the server stops serving the connection: when the
    /// [`grace_period`](crate::Server::grace_period) after a shutdown signal has run out with the call
    /// still open, when the serve future is dropped, or when the connection itself closes.
    pub stopped: CancellationToken,
    /// Cancelled when a graceful shutdown begins (the signal fired): long-lived calls should wind up.
    pub draining: CancellationToken,
}

impl ServerShutdown {
    pub fn new(stopped: CancellationToken, draining: CancellationToken) -> Self {
        Self(Arc::new(ShutdownSignals { stopped, draining }))
    }
}
