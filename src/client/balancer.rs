//! Client-side balancing: one transport over a set of endpoints that a [`Resolver`] keeps current.
//! Each endpoint has a transport of its own (for HTTP/2, one multiplexed connection) that dials the
//! endpoint's address whatever the request's URI names, so `:authority`, `Host` and TLS server names
//! stay those of the base URL, as gRPC clients keep them.
//!
//! Each call picks an endpoint that is neither ejected nor reported not serving: in turn
//! (round-robin), or the less busy of two drawn at random (power of two choices, by calls
//! outstanding). An endpoint whose connect fails is ejected for a backoff (1 s, growing 1.6 times
//! with each failed connect in a row up to 30 s, the shape of gRPC's connection backoff), and the
//! resolver is asked to look again. Over HTTP/2 the balancer opens the endpoint's connection before
//! it hands over the request, so the call goes on to another endpoint (nothing was sent); an HTTP/1.1
//! pool connects inside the send, so there the call fails as unprocessed and its transparent retry
//! (`retry.rs`) picks again. After its backoff, calls may go to an ejected endpoint again: the first
//! dials (those arriving meanwhile wait for that connect and share its outcome), and a call that
//! gets a response ends the ejection. A call that finds an endpoint's connection lost asks the
//! resolver to look again as well. With a
//! [`HealthCheck`], endpoints reporting NOT_SERVING get no calls until they report SERVING.
//!
//! Why not tower's `balance::p2c::Balance`: it is a `Service` whose `poll_ready` takes `&mut self`, so
//! sharing it among a client's clones takes a `tower::buffer::Buffer`, a task and a channel hop for
//! every call. Its readiness model makes calls wait while no endpoint is ready, where a client should
//! fail fast and let retries and deadlines decide, and it has no round-robin. The picking here is a
//! few atomics over a shared snapshot of the set.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower::util::rng::{HasherRng, Rng as _};

use crate::body::Body;
use crate::client::health_check::{EndpointHealth, HealthCheck};
use crate::client::resolver::{ResolveNow, Resolver};
use crate::client::transport::{ResponseFuture, SendRequest};
use crate::error::Delivery;
use crate::{Client, Code, Error};

/// The first ejection of an endpoint whose connect failed.
const EJECT_INITIAL: Duration = Duration::from_secs(1);
/// How much longer each ejection in a row lasts.
const EJECT_MULTIPLIER: f64 = 1.6;
/// The longest ejection.
const EJECT_MAX: Duration = Duration::from_secs(30);

/// How a balanced client picks an endpoint for each call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BalancePolicy {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// The one with fewer calls outstanding of two drawn at random ("power of two choices"): steers
    /// calls away from slow or overloaded endpoints, with no shared counter to contend on.
    PowerOfTwoChoices,
}

/// Makes an endpoint's transport, which dials the given address.
pub(crate) type EndpointTransports = Box<dyn Fn(SocketAddr) -> Arc<dyn SendRequest> + Send + Sync>;

/// Makes the client a [`HealthCheck`] watches an endpoint through.
pub(crate) type EndpointClients = Box<dyn Fn(Arc<dyn SendRequest>) -> Client + Send + Sync>;

/// A transport balancing calls over a resolved set of endpoints (see the module docs).
pub(crate) struct Balancer {
    shared: Arc<Shared>,
    resolver: Mutex<Option<Box<dyn Resolver>>>,
    started: Once,
    /// Stops the resolver's and the health checks' tasks when the last client clone goes.
    _stop: DropGuard,
}

/// What the balancer's calls and its resolver task share.
struct Shared {
    policy: BalancePolicy,
    endpoints: RwLock<Arc<[Arc<Endpoint>]>>,
    /// The resolver's latest news: `None` until its first.
    resolution: watch::Sender<Option<Result<(), Error>>>,
    next: AtomicUsize,
    refresh: ResolveNow,
    transports: EndpointTransports,
    health: Option<(Arc<dyn HealthCheck>, EndpointClients)>,
    stop: CancellationToken,
}

/// One endpoint of the set.
struct Endpoint {
    address: SocketAddr,
    transport: Arc<dyn SendRequest>,
    /// Calls sent and not yet finished (their response body not yet dropped).
    outstanding: AtomicUsize,
    /// Cleared while its health check reports NOT_SERVING.
    serving: AtomicBool,
    /// Set once a connection to it was open, cleared when a call finds it gone (so that the loss
    /// asks the resolver to look again, once).
    was_connected: AtomicBool,
    ejection: Mutex<Ejection>,
    /// Whether `ejection` holds anything: spares calls the lock while all is well.
    ejected: AtomicBool,
    /// Stops the endpoint's health check when it leaves the set.
    _health: Option<DropGuard>,
}

/// Connect failures in a row, and until when the endpoint is left out.
#[derive(Default)]
struct Ejection {
    failures: u32,
    until: Option<Instant>,
}

impl Balancer {
    pub fn new(
        resolver: Box<dyn Resolver>,
        policy: BalancePolicy,
        transports: EndpointTransports,
        health: Option<(Arc<dyn HealthCheck>, EndpointClients)>,
    ) -> Self {
        let stop = CancellationToken::new();
        Self {
            shared: Arc::new(Shared {
                policy,
                endpoints: RwLock::new(Arc::new([])),
                resolution: watch::Sender::new(None),
                next: AtomicUsize::new(0),
                refresh: ResolveNow::default(),
                transports,
                health,
                stop: stop.clone(),
            }),
            resolver: Mutex::new(Some(resolver)),
            started: Once::new(),
            _stop: stop.drop_guard(),
        }
    }

    /// Starts following the resolver (on the first call, which runs in a tokio runtime, as building a
    /// client need not).
    fn start(&self) {
        self.started.call_once(|| {
            let resolver = self
                .resolver
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(resolver) = resolver {
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    let stop = shared.stop.clone();
                    tokio::select! {
                        () = follow(shared, resolver) => {}
                        () = stop.cancelled() => {}
                    }
                });
            }
        });
    }

    /// Sends `request` to a picked endpoint, stepping to another while connects fail.
    async fn send(
        self: Arc<Self>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Error> {
        self.start();
        let shared = &self.shared;
        let mut tried: Vec<SocketAddr> = Vec::new();
        loop {
            let endpoint = shared.pick(&tried).await?;
            if !endpoint.transport.is_connected(request.uri()) {
                if endpoint.was_connected.swap(false, Ordering::Relaxed) {
                    // A connection was lost: the endpoint may have moved, look again.
                    shared.refresh.request();
                }
                if let Err(error) = endpoint
                    .transport
                    .clone()
                    .open_connection(request.uri())
                    .await
                {
                    shared.connect_failed(&endpoint);
                    tried.push(endpoint.address);
                    if tried.len() >= shared.snapshot().len() {
                        return Err(error.with_delivery(Delivery::NotConnected));
                    }
                    continue;
                }
            }
            endpoint.outstanding.fetch_add(1, Ordering::Relaxed);
            let outstanding = Outstanding(endpoint.clone());
            return match endpoint.transport.clone().send_request(request).await {
                Ok(response) => {
                    // Only now is the endpoint known to be reachable (an HTTP/1.1 pool connects
                    // inside the send).
                    endpoint.connected();
                    Ok(response.map(|body| {
                        Body::new(CountedBody {
                            body,
                            _outstanding: outstanding,
                        })
                    }))
                }
                Err(error) => {
                    if error.is_not_connected() {
                        shared.connect_failed(&endpoint);
                    }
                    Err(error)
                }
            };
        }
    }
}

impl SendRequest for Balancer {
    fn send_request(self: Arc<Self>, request: http::Request<Body>) -> ResponseFuture {
        Box::pin(self.send(request))
    }
}

impl Shared {
    fn snapshot(&self) -> Arc<[Arc<Endpoint>]> {
        self.endpoints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An endpoint for a call, waiting for the resolver's first answer if need be; endpoints in
    /// `tried` (whose connect failed during this call) are left out.
    async fn pick(&self, tried: &[SocketAddr]) -> Result<Arc<Endpoint>, Error> {
        // Once the resolver has answered (every call but the first few), no waiting is needed.
        let answered = self.resolution.borrow().clone();
        let outcome = match answered {
            Some(outcome) => Some(outcome),
            None => self
                .resolution
                .subscribe()
                .wait_for(Option::is_some)
                .await
                .map(|state| state.clone())
                .unwrap_or_else(|_| {
                    Some(Err(Error::new(Code::Unavailable, "the client is closing")))
                }),
        };
        let endpoints = self.snapshot();
        if endpoints.is_empty() {
            // Perhaps there are endpoints by now: ask the resolver to look again.
            self.refresh.request();
            let error = match outcome {
                Some(Err(error)) => error,
                _ => Error::new(Code::Unavailable, "the resolver found no endpoints"),
            };
            return Err(error.with_delivery(Delivery::NotConnected));
        }
        let now = Instant::now();
        let usable = |e: &Endpoint| e.is_usable(now) && !tried.contains(&e.address);
        let picked = match self.policy {
            BalancePolicy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..endpoints.len())
                    .map(|i| &endpoints[(start + i) % endpoints.len()])
                    .find(|e| usable(e))
            }
            BalancePolicy::PowerOfTwoChoices => {
                // Two different endpoints (with one, it twice).
                let mut rng = HasherRng::new();
                let n = endpoints.len() as u64;
                let first = rng.next_range(0..n);
                let second = if n > 1 {
                    (first + 1 + rng.next_range(0..n - 1)) % n
                } else {
                    first
                };
                let a = &endpoints[first as usize];
                let b = &endpoints[second as usize];
                match (usable(a), usable(b)) {
                    (true, true) => Some(if b.load() < a.load() { b } else { a }),
                    (true, false) => Some(a),
                    (false, true) => Some(b),
                    // Both out: the least busy usable one, if any.
                    (false, false) => endpoints
                        .iter()
                        .filter(|e| usable(e))
                        .min_by_key(|e| e.load()),
                }
            }
        };
        picked.cloned().ok_or_else(|| {
            let not_serving = endpoints.iter().filter(|e| !e.is_serving()).count();
            Error::new(
                Code::Unavailable,
                format!(
                    "no endpoint can take the call: of {}, {} failed to connect and {} report \
                     NOT_SERVING",
                    endpoints.len(),
                    endpoints.len() - not_serving,
                    not_serving
                ),
            )
            .with_delivery(Delivery::NotConnected)
        })
    }

    /// Ejects `endpoint` after a failed connect, and asks the resolver to look again.
    fn connect_failed(&self, endpoint: &Endpoint) {
        let mut ejection = endpoint
            .ejection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if ejection.until.is_some_and(|until| until > now) {
            // Already out: calls that raced to it failed together, and count as one failure.
            return;
        }
        let backoff = EJECT_INITIAL
            .mul_f64(EJECT_MULTIPLIER.powi(ejection.failures.min(16) as i32))
            .min(EJECT_MAX);
        ejection.failures = ejection.failures.saturating_add(1);
        ejection.until = Some(now + backoff);
        endpoint.ejected.store(true, Ordering::Release);
        drop(ejection);
        self.refresh.request();
    }

    /// Replaces the endpoint set with `addresses`, keeping the endpoints (and connections) of those
    /// still in it.
    fn update(self: &Arc<Self>, addresses: &[SocketAddr]) {
        let old = self.snapshot();
        let endpoints: Vec<Arc<Endpoint>> = addresses
            .iter()
            .map(|address| {
                old.iter()
                    .find(|e| e.address == *address)
                    .cloned()
                    .unwrap_or_else(|| self.endpoint(*address))
            })
            .collect();
        *self
            .endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner) = endpoints.into();
    }

    /// A new endpoint at `address`, its health check started.
    fn endpoint(&self, address: SocketAddr) -> Arc<Endpoint> {
        let transport = (self.transports)(address);
        let serving = AtomicBool::new(true);
        let Some((check, clients)) = &self.health else {
            return Arc::new(Endpoint::new(address, transport, serving, None));
        };
        let mut watch = check.watch(clients(transport.clone()));
        let stop = self.stop.child_token();
        let endpoint = Arc::new(Endpoint::new(
            address,
            transport,
            serving,
            Some(stop.clone().drop_guard()),
        ));
        let weak = Arc::downgrade(&endpoint);
        tokio::spawn(async move {
            loop {
                let health = tokio::select! {
                    health = watch.next() => health,
                    () = stop.cancelled() => None,
                };
                let (Some(health), Some(endpoint)) = (health, weak.upgrade()) else {
                    return;
                };
                endpoint
                    .serving
                    .store(health == EndpointHealth::Serving, Ordering::Release);
            }
        });
        endpoint
    }
}

/// Follows `resolver`, replacing the endpoint set with each answer.
async fn follow(shared: Arc<Shared>, resolver: Box<dyn Resolver>) {
    let mut answers = resolver.resolve(shared.refresh.clone());
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(addresses) => {
                shared.update(&addresses);
                shared.resolution.send_replace(Some(Ok(())));
            }
            // A failed lookup keeps the endpoints known; with none, calls see the error.
            Err(error) => {
                shared.resolution.send_replace(Some(Err(error)));
            }
        }
    }
    if shared.snapshot().is_empty() {
        shared.resolution.send_replace(Some(Err(Error::new(
            Code::Unavailable,
            "the resolver ended without finding endpoints",
        ))));
    }
}

impl Endpoint {
    fn new(
        address: SocketAddr,
        transport: Arc<dyn SendRequest>,
        serving: AtomicBool,
        health: Option<DropGuard>,
    ) -> Self {
        Self {
            address,
            transport,
            outstanding: AtomicUsize::new(0),
            serving,
            was_connected: AtomicBool::new(false),
            ejection: Mutex::new(Ejection::default()),
            ejected: AtomicBool::new(false),
            _health: health,
        }
    }

    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Whether a call may go to this endpoint now: serving, and not ejected (or its backoff is over).
    fn is_usable(&self, now: Instant) -> bool {
        self.is_serving()
            && (!self.ejected.load(Ordering::Acquire)
                || self
                    .ejection
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .until
                    .is_none_or(|until| until <= now))
    }

    /// Calls outstanding.
    fn load(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Notes an open connection, and ends an ejection.
    fn connected(&self) {
        self.was_connected.store(true, Ordering::Relaxed);
        if self.ejected.load(Ordering::Acquire) {
            let mut ejection = self.ejection.lock().unwrap_or_else(PoisonError::into_inner);
            *ejection = Ejection::default();
            self.ejected.store(false, Ordering::Release);
        }
    }
}

/// Counts a call as outstanding on its endpoint until dropped.
struct Outstanding(Arc<Endpoint>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its call counted as outstanding until it is dropped.
struct CountedBody {
    body: Body,
    _outstanding: Outstanding,
}

impl http_body::Body for CountedBody {
    type Data = bytes::Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures_util::FutureExt as _;

    use super::*;
    use crate::client::resolver::StaticResolver;

    /// An endpoint transport that answers at once, or (`hang`) never; counting its calls.
    #[derive(Default)]
    struct Fake {
        hang: bool,
        calls: AtomicUsize,
    }

    impl SendRequest for Fake {
        fn send_request(self: Arc<Self>, _: http::Request<Body>) -> ResponseFuture {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.hang {
                Box::pin(std::future::pending())
            } else {
                Box::pin(async { Ok(http::Response::new(Body::empty())) })
            }
        }
    }

    /// A balancer over two fake endpoints, the first of which hangs; with both fakes.
    fn hanging_and_quick(policy: BalancePolicy) -> (Arc<Balancer>, Arc<Fake>, Arc<Fake>) {
        let slow = Arc::new(Fake {
            hang: true,
            ..Fake::default()
        });
        let quick = Arc::new(Fake::default());
        let (a, b) = (slow.clone(), quick.clone());
        let slow_address = SocketAddr::from(([127, 0, 0, 1], 1));
        let transports: EndpointTransports = Box::new(move |address| {
            if address == slow_address {
                a.clone() as Arc<dyn SendRequest>
            } else {
                b.clone() as Arc<dyn SendRequest>
            }
        });
        let resolver = StaticResolver::new([slow_address, SocketAddr::from(([127, 0, 0, 1], 2))]);
        let balancer = Balancer::new(Box::new(resolver), policy, transports, None);
        (Arc::new(balancer), slow, quick)
    }

    fn request() -> http::Request<Body> {
        http::Request::new(Body::empty())
    }

    /// Sends `n` calls, keeping those that do not finish at once (outstanding).
    async fn send_many(balancer: &Arc<Balancer>, n: usize) -> Vec<ResponseFuture> {
        // The first call waits for the resolver; the others find the set at once.
        let mut pending = Vec::new();
        let mut first = balancer.clone().send_request(request());
        tokio::select! {
            _ = &mut first => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => pending.push(first),
        }
        for _ in 1..n {
            let mut call = balancer.clone().send_request(request());
            // Unconstrained: tokio's cooperative budget would stop a task polling this many at once.
            if tokio::task::unconstrained(&mut call)
                .now_or_never()
                .is_none()
            {
                pending.push(call);
            }
        }
        pending
    }

    #[tokio::test]
    async fn round_robin_takes_each_endpoint_in_turn() {
        let (balancer, slow, quick) = hanging_and_quick(BalancePolicy::RoundRobin);
        let pending = send_many(&balancer, 200).await;
        assert_eq!(slow.calls.load(Ordering::Relaxed), 100);
        assert_eq!(quick.calls.load(Ordering::Relaxed), 100);
        assert_eq!(pending.len(), 100);
    }

    #[tokio::test]
    async fn two_choices_steer_calls_away_from_a_busy_endpoint() {
        let (balancer, slow, quick) = hanging_and_quick(BalancePolicy::PowerOfTwoChoices);
        let _pending = send_many(&balancer, 200).await;
        // Once it holds a call, the hanging endpoint wins only when both draws fall on it (1 in 4).
        let slow_calls = slow.calls.load(Ordering::Relaxed);
        assert!(
            slow_calls < 80,
            "{slow_calls} of 200 calls went to the busy endpoint"
        );
        assert_eq!(slow_calls + quick.calls.load(Ordering::Relaxed), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn ejections_grow_and_end_with_a_connect() {
        let (balancer, _, _) = hanging_and_quick(BalancePolicy::RoundRobin);
        let _ = send_many(&balancer, 2).await;
        let endpoints = balancer.shared.snapshot();
        let endpoint = &endpoints[0];
        let start = Instant::now();
        balancer.shared.connect_failed(endpoint);
        // Calls that failed together count once.
        balancer.shared.connect_failed(endpoint);
        assert!(!endpoint.is_usable(start));
        assert!(endpoint.is_usable(start + EJECT_INITIAL));
        // Failing again once usable: a longer ejection.
        tokio::time::advance(EJECT_INITIAL).await;
        let again = Instant::now();
        balancer.shared.connect_failed(endpoint);
        assert!(!endpoint.is_usable(again + EJECT_INITIAL));
        assert!(endpoint.is_usable(again + EJECT_INITIAL.mul_f64(EJECT_MULTIPLIER)));
        endpoint.connected();
        assert!(endpoint.is_usable(again));
    }
}
