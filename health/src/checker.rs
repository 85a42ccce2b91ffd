//! The client side of health checking: a balanced Trident client's
//! [`HealthCheck`](trident::client::HealthCheck) that follows each endpoint's `Watch` stream, so that a server
//! reporting NOT_SERVING (as a draining one does) gets no more calls.

use std::time::Duration;

use futures_util::stream::BoxStream;
use trident::{
    Client, Code, client::EndpointHealth, client::HealthCheck, client::ServerStreamCall,
};

use crate::client::HealthClient;
use crate::proto::{HealthCheckRequest, HealthCheckResponse, ServingStatus};

/// The first wait before a broken `Watch` is opened again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait before a broken `Watch` is opened again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows an endpoint's health through `grpc.health.v1.Health/Watch`, for
/// [`ClientBuilder::health_check`](trident::client::ClientBuilder::health_check).
///
/// `SERVING` lets calls go to the endpoint; any other status (`NOT_SERVING`, `SERVICE_UNKNOWN`,
/// `UNKNOWN`) holds them back. A server without the health service (`unimplemented`) is taken as
/// serving, as gRPC clients take it. A `Watch` that breaks (the connection went) is opened again after
/// a backoff (200 ms doubling up to 5 s), keeping the last status meanwhile: a lost connection is the
/// balancer's own concern.
///
/// ```no_run
/// let client = trident::Client::builder("http://replicas.internal:8080")
///     .http_version(trident::HttpVersion::Http2)
///     .resolver(trident::client::DnsResolver::new("dns:///replicas.internal:8080")?)
///     .health_check(trident_health::WatchHealth::server())
///     .build()?;
/// # Ok::<_, trident::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct WatchHealth {
    service: String,
}

impl WatchHealth {
    /// Watches the server as a whole (the empty service name).
    pub fn server() -> Self {
        Self::service("")
    }

    /// Watches one service by its fully-qualified name.
    pub fn service(name: &str) -> Self {
        Self {
            service: name.to_string(),
        }
    }
}

/// Where a watcher is.
struct Watcher {
    health: HealthClient,
    service: String,
    call: Option<ServerStreamCall<HealthCheckResponse>>,
    backoff: Duration,
    /// Set once the endpoint turned out to have no health service: the watch is over.
    unwatched: bool,
}

impl Watcher {
    /// The next status the endpoint reports, opening the `Watch` (again) when need be. An endpoint
    /// without the health service (perhaps restarted without it, after reporting NOT_SERVING) is
    /// serving, said once; then the watch ends.
    async fn next(&mut self) -> Option<EndpointHealth> {
        if self.unwatched {
            return None;
        }
        let status = self.status().await;
        if status.is_none() {
            self.unwatched = true;
        }
        Some(status.unwrap_or(EndpointHealth::Serving))
    }

    /// The next status the endpoint reports; `None` when it has no health service.
    async fn status(&mut self) -> Option<EndpointHealth> {
        loop {
            let Some(call) = self.call.as_mut() else {
                let request = HealthCheckRequest {
                    service: self.service.clone(),
                };
                match self.health.watch(request).await {
                    Ok(call) => self.call = Some(call),
                    Err(error) if error.code() == Code::Unimplemented => return None,
                    Err(_) => self.pause().await,
                }
                continue;
            };
            match call.message().await {
                Ok(Some(response)) => {
                    self.backoff = FIRST_BACKOFF;
                    let serving = response.status == ServingStatus::Serving as i32;
                    return Some(if serving {
                        EndpointHealth::Serving
                    } else {
                        EndpointHealth::NotServing
                    });
                }
                Err(error) if error.code() == Code::Unimplemented => return None,
                Ok(None) | Err(_) => {
                    self.call = None;
                    self.pause().await;
                }
            }
        }
    }

    /// Waits before opening the `Watch` again, longer each time in a row.
    async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

impl HealthCheck for WatchHealth {
    fn watch(&self, endpoint: Client) -> BoxStream<'static, EndpointHealth> {
        let watcher = Watcher {
            health: HealthClient::new(endpoint),
            service: self.service.clone(),
            call: None,
            backoff: FIRST_BACKOFF,
            unwatched: false,
        };
        Box::pin(futures_util::stream::unfold(
            watcher,
            |mut watcher| async move { watcher.next().await.map(|health| (health, watcher)) },
        ))
    }
}
