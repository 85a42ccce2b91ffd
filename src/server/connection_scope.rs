//! What a [`Server`](crate::Server) tells every request of one connection beyond the public peer
//! address and certificates: its shutdown token, the connection's response budget and the server's
//! call defaults. They travel as one request extension, an `Arc` made once per connection, so a call
//! pays one extension insert and one reference count for all of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
    /// What calls that take their connection over (WebSockets) answer to, when the server set it.
    pub upgrades: Option<Upgrades>,
}

/// The server as a call that took its connection over sees it: on HTTP/1.1 hyper's connection (and
/// its task, its shutdown token and its place in the serve future's drain) ends at the upgrade, so
/// such a call watches and is waited for through these instead.
#[derive(Clone, Debug)]
pub(crate) struct Upgrades {
    /// Cancelled when the server stops (its grace period ran out, or it was dropped), not when the
    /// connection closes.
    pub stop: CancellationToken,
    /// The serve future's graceful shutdown waits (within the grace period) for the tasks holding
    /// one of its tokens. Only those tasks take a token: a request that leaks its extensions holds
    /// no shutdown up.
    pub tracker: TaskTracker,
    /// The connection's slot under the connection limit, which an HTTP/1.1 WebSocket takes over
    /// with the connection (the connection task empties it when it ends, so a request that leaks
    /// its extensions holds no slot).
    pub connection_slot: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
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
            upgrades: None,
        }
    }

    /// The scope, with what calls that take their connection over answer to.
    pub fn with_upgrades(mut self, upgrades: Upgrades) -> Self {
        self.upgrades = Some(upgrades);
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
