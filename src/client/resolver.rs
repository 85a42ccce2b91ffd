//! Discovery: where a balanced client's endpoints are. A [`Resolver`] streams the current set of
//! endpoint addresses; a fixed list ([`StaticResolver`]) and DNS (`dns_resolver.rs`) are built in, and
//! any registry can be one (the `watch` example follows its own key-value store).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use tokio::sync::Notify;

use crate::Error;

/// Finds the endpoints a client balances its calls over.
///
/// [`resolve`](Self::resolve) is called once, when the client makes its first call, and the stream it
/// returns is followed for as long as the client lives: each item is the complete set of addresses
/// now (an empty set, or an error, leaves the client nothing to call until a later item). A resolver
/// that polls (DNS) should poll again at once when `refresh` [fires](ResolveNow::requested): the
/// client asks after it failed to connect to an endpoint, which may have moved.
pub trait Resolver: Send + Sync + 'static {
    /// Starts following the endpoint set.
    fn resolve(&self, refresh: ResolveNow) -> BoxStream<'static, Result<Vec<SocketAddr>, Error>>;
}

/// A client's request to resolve again now (see [`Resolver`]).
#[derive(Clone, Debug, Default)]
pub struct ResolveNow {
    notify: Arc<Notify>,
}

impl ResolveNow {
    /// Waits until the client asks for a fresh resolution. A request made while nobody waits is kept
    /// for the next wait (one at most).
    pub async fn requested(&self) {
        self.notify.notified().await;
    }

    /// Asks the resolver to resolve again now.
    pub(crate) fn request(&self) {
        self.notify.notify_one();
    }
}

/// A fixed set of endpoints.
#[derive(Clone, Debug)]
pub struct StaticResolver {
    addresses: Vec<SocketAddr>,
}

impl StaticResolver {
    /// Always `addresses`.
    pub fn new(addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self {
            addresses: addresses.into_iter().collect(),
        }
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, _: ResolveNow) -> BoxStream<'static, Result<Vec<SocketAddr>, Error>> {
        // The set, then a stream that stays open (an ended stream would read as a resolver gone).
        Box::pin(futures_util::stream::StreamExt::chain(
            futures_util::stream::iter([Ok(self.addresses.clone())]),
            futures_util::stream::pending(),
        ))
    }
}
