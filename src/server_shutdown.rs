//! How a call learns that the server has given up on it: the [`ServerShutdown`] request extension.

/// Cancelled when the server stops serving the connection a request arrived on: when the
/// [`grace_period`](crate::Server::grace_period) after a shutdown signal has run out with the call still
/// open, when the serve future is dropped, or when the connection itself closes.
///
/// [`Server`](crate::Server) inserts one into the extensions of every request it hands to the router
/// (one token per connection, a child of the server's own). [`CallContext::cancelled`](crate::CallContext::cancelled)
/// and [`CallContext::is_cancelled`](crate::CallContext::is_cancelled) watch it beside the call's own
/// token (rather than making each call's token a child of it, which would take the connection's lock
/// once per call), so a handler sees the server going away, not only its response being dropped.
/// Requests from other servers carry none. The token sits behind an `Arc`: one is cloned into every
/// request, and cloning a `CancellationToken` itself takes its tree's lock.
#[derive(Clone, Debug)]
pub(crate) struct ServerShutdown(pub(crate) std::sync::Arc<tokio_util::sync::CancellationToken>);
