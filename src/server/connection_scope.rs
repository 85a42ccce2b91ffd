//! What a [`Server`](crate::Server) tells every request of one connection beyond the public peer
//! address and certificates: its shutdown token, the connection's response budget and the server's
//! call defaults. They travel as one request extension, an `Arc` made once per connection, so a call
//! pays one extension insert and one reference count for all of them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::min_data_rate::MinDataRate;
use crate::server::response_budget::ResponseBudget;
use crate::server_shutdown::ServerShutdown;

/// One connection's share of its server, as every request on it carries it (the extension is an
/// `Arc<ConnectionScope>`). Requests that did not come through a `Server` carry none, and their calls
/// run without shutdown token, budget or defaults.
#[derive(Debug)]
pub(crate) struct ConnectionScope {
    /// The server's shutdown as this connection's calls see it.
    pub shutdown: ServerShutdown,
    /// What the connection's streaming responses may hold, together, before they slow down.
    pub response_budget: Arc<ResponseBudget>,
    /// The timeout of calls that state none ([`Server::default_timeout`](crate::Server::default_timeout)).
    pub default_timeout: Option<Duration>,
    /// The slowest a request message may arrive
    /// ([`Server::min_request_data_rate`](crate::Server::min_request_data_rate)).
    pub min_data_rate: Option<MinDataRate>,
    /// Cancelled when the server stops (its grace period ran out, or it was dropped), not when this
    /// connection closes: what a call that outlives its HTTP/1.1 connection (a WebSocket, which
    /// takes the connection over) watches instead of `shutdown`'s `stopped`.
    pub server_stop: Option<CancellationToken>,
}

impl ConnectionScope {
    /// The scope of a new connection whose streaming responses may hold `response_budget` bytes.
    pub fn new(
        shutdown: ServerShutdown,
        response_budget: usize,
        default_timeout: Option<Duration>,
        min_data_rate: Option<MinDataRate>,
    ) -> Self {
        Self {
            shutdown,
            response_budget: Arc::new(ResponseBudget::new(response_budget)),
            default_timeout,
            min_data_rate,
            server_stop: None,
        }
    }

    /// The scope, with the server's own stop token (see [`server_stop`](Self::server_stop)).
    pub fn with_server_stop(mut self, stop: CancellationToken) -> Self {
        self.server_stop = Some(stop);
        self
    }

    /// The scope a request carries, if it came through a `Server`.
    pub fn of(extensions: &http::Extensions) -> Option<&Self> {
        extensions.get::<Arc<Self>>().map(Arc::as_ref)
    }

    /// The timeout of calls that state none, for a request with `extensions`: its server's default,
    /// if it came through a `Server` that set one.
    pub fn default_timeout_of(extensions: &http::Extensions) -> Option<Duration> {
        Self::of(extensions).and_then(|scope| scope.default_timeout)
    }
}
