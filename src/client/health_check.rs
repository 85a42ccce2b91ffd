//! How a balanced client learns whether an endpoint takes calls, beyond whether it accepts
//! connections: the seam that `trident-health`'s `grpc.health.v1` `Watch` checker plugs into.

use futures_util::stream::BoxStream;

use crate::Client;

/// What an endpoint says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointHealth {
    /// It takes calls.
    Serving,
    /// It asks not to be sent calls (it is draining, or not ready).
    NotServing,
}

/// Watches one endpoint's health for a balanced client; see
/// [`ClientBuilder::health_check`](crate::client::ClientBuilder::health_check).
///
/// [`watch`](Self::watch) is called for each endpoint when it joins the client's set, with a client
/// whose calls go to that endpoint alone (same protocol, codec and TLS as the balanced client, no
/// interceptors or retries). The client sends the endpoint no calls after a
/// [`NotServing`](EndpointHealth::NotServing) until a [`Serving`](EndpointHealth::Serving); until the
/// first item it counts the endpoint as serving. The stream is dropped when the endpoint leaves the
/// set; a stream that ends leaves the last state in place.
pub trait HealthCheck: Send + Sync + 'static {
    /// Follows the health of the endpoint `endpoint` calls.
    fn watch(&self, endpoint: Client) -> BoxStream<'static, EndpointHealth>;
}
