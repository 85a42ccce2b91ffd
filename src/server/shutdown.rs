//! How a call learns that the server has given up on it: the [`ServerShutdown`] request extension.

/// Cancelled when the server stops serving the connection a request arrived on: when the
/// [`grace_period`](crate::Server::grace_period) after a shutdown signal has run out with the call still
/// open, when the serve future is dropped, or when the connection itself closes.
///
/// [`Server`](crate::Server) inserts one into the extensions of every request it hands to the router
/// (one token per connection, a child of the server's own). A call's cancellation can hang off it, so
/// that a handler waiting on [`CallContext::cancelled`](crate::CallContext::cancelled) sees the server
/// going away, not only its response being dropped. Requests from other servers carry none.
#[derive(Clone, Debug)]
pub(crate) struct ServerShutdown(
    // Read by tests so far; the router is to make each call's cancellation token a child of it.
    #[allow(dead_code)] pub(crate) tokio_util::sync::CancellationToken,
);
