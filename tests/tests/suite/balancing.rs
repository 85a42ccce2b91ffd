//! A balanced client over three loopback replicas under steady load: a replica killed mid-run costs
//! no idempotent call and only the calls with side effects that were in flight; a restarted one takes
//! load again; a replica draining through graceful shutdown costs nothing at all. Also the resolvers
//! (static and DNS) and both picking policies.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use trident::{
    Client, Code, Error, HttpVersion, Server, client::BalancePolicy, client::DnsResolver,
    client::RetryPolicy,
};
use trident_health::{HealthReporter, WatchHealth};
use trident_tests::{EchoRequest, EchoServiceClient, TestService, router, within};

/// One replica: the test service and the health service, reached through a TCP relay on its public
/// port, so that killing it can cut its connections as a crashed process's are cut (no answers, the
/// connections closed) rather than let the server cancel its calls in an orderly way.
struct Replica {
    addr: SocketAddr,
    service: TestService,
    reporter: HealthReporter,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    relay: Option<Relay>,
}

/// A TCP relay: its accept loop, and the connections it relays.
struct Relay {
    accepting: JoinHandle<()>,
    connections: Arc<Mutex<tokio::task::JoinSet<()>>>,
}

impl Relay {
    /// Relays the connections `public` accepts to `server`.
    fn start(public: tokio::net::TcpListener, server: SocketAddr) -> Self {
        let connections = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
        let relayed = connections.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = public.accept().await {
                let Ok(mut upstream) = tokio::net::TcpStream::connect(server).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                relayed.lock().expect("connections").spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Self {
            accepting,
            connections,
        }
    }

    /// Closes the public port, as a server's listener closes when it shuts down; the connections
    /// relayed so far go on.
    async fn stop_accepting(&mut self) {
        self.accepting.abort();
        let _ = (&mut self.accepting).await;
    }

    /// Cuts every connection, and closes the port.
    async fn cut(mut self) {
        self.stop_accepting().await;
        let mut connections = std::mem::take(&mut *self.connections.lock().expect("connections"));
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

impl Replica {
    /// Starts a replica on `addr` (port 0: any).
    async fn start(addr: SocketAddr) -> Self {
        let public = bind(addr).await;
        let addr = public.local_addr().expect("address");
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await;
        let relay = Relay::start(public, listener.local_addr().expect("address"));
        let service = TestService::new();
        let (reporter, health) = trident_health::service();
        let routes = router(service.clone()).add(health);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = Server::new()
                .grace_period(Duration::from_secs(10))
                .serve(listener, routes)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            addr,
            service,
            reporter,
            stop: Some(stop),
            task,
            relay: Some(relay),
        }
    }

    /// Handler invocations so far.
    fn calls(&self) -> u64 {
        self.service.state().calls.get()
    }

    /// Kills the replica: its connections are cut and its port closed at once, then its server is
    /// stopped.
    async fn kill(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.cut().await;
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Drains the replica: NOT_SERVING to its watchers, then graceful shutdown (its port closes at
    /// once, its calls finish); returns when it ended.
    async fn drain(&mut self) {
        self.reporter.set_all_not_serving();
        if let Some(relay) = self.relay.as_mut() {
            relay.stop_accepting().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("drain", &mut self.task).await.expect("server task");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(relay) = &self.relay {
            relay.accepting.abort();
        }
    }
}

/// Binds `addr`, retrying a moment while a killed replica's port is still held.
async fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = tokio::net::TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr}");
}

async fn three_replicas() -> Vec<Replica> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    vec![
        Replica::start(any).await,
        Replica::start(any).await,
        Replica::start(any).await,
    ]
}

/// A balanced client over `replicas`, with health checks and retries.
fn balanced_client(replicas: &[Replica], policy: BalancePolicy) -> EchoServiceClient {
    let client = Client::builder("http://replicas.test")
        .http_version(HttpVersion::Http2)
        .endpoints(replicas.iter().map(|r| r.addr))
        .balance(policy)
        .health_check(WatchHealth::server())
        .retry(
            RetryPolicy::new()
                .max_attempts(5)
                .initial_backoff(Duration::from_millis(5))
                .max_backoff(Duration::from_millis(50)),
        )
        .default_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds");
    EchoServiceClient::new(client)
}

/// One call of the load, as it ended.
struct Outcome {
    idempotent: bool,
    started: Instant,
    error: Option<Error>,
}

/// Steady load: `workers` loops of calls that each take `delay_ms` in their handler, alternating
/// `Echo` (idempotent) and `EchoPost` (not).
struct Load {
    running: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(client: &EchoServiceClient, workers: usize, delay_ms: u32) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let workers = (0..workers)
            .map(|worker| {
                let (client, running, outcomes) =
                    (client.clone(), running.clone(), outcomes.clone());
                tokio::spawn(async move {
                    let mut n = worker;
                    while running.load(Ordering::Relaxed) {
                        n += 1;
                        let idempotent = n % 2 == 0;
                        let request = EchoRequest {
                            text: format!("{worker}/{n}"),
                            delay_ms,
                            ..Default::default()
                        };
                        let started = Instant::now();
                        let result = if idempotent {
                            client.echo(request).await
                        } else {
                            client.echo_post(request).await
                        };
                        outcomes.lock().expect("outcomes").push(Outcome {
                            idempotent,
                            started,
                            error: result.err(),
                        });
                    }
                })
            })
            .collect();
        Self {
            running,
            outcomes,
            workers,
        }
    }

    /// Stops the load; returns every outcome.
    async fn stop(self) -> Vec<Outcome> {
        self.running.store(false, Ordering::Relaxed);
        for worker in self.workers {
            within("worker", worker).await.expect("worker");
        }
        std::mem::take(&mut *self.outcomes.lock().expect("outcomes"))
    }
}

/// Each replica's handler invocations during `period`.
async fn share_during(replicas: &[Replica], period: Duration) -> Vec<u64> {
    let before: Vec<u64> = replicas.iter().map(Replica::calls).collect();
    tokio::time::sleep(period).await;
    replicas
        .iter()
        .zip(before)
        .map(|(r, b)| r.calls() - b)
        .collect()
}

/// Waits until `replica` has taken `n` more calls.
async fn takes_load(replica: &Replica, what: &str) {
    let from = replica.calls();
    replica
        .service
        .state()
        .calls
        .wait_for(from + 20, what)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_only_calls_in_flight_on_it_and_rejoins_when_restarted() {
    let mut replicas = three_replicas().await;
    let client = balanced_client(&replicas, BalancePolicy::RoundRobin);
    let load = Load::start(&client, 8, 20);

    let share = share_during(&replicas, Duration::from_millis(500)).await;
    assert!(
        share.iter().all(|&n| n > 0),
        "every replica takes load: {share:?}"
    );

    let dead = replicas[0].addr;
    replicas[0].kill().await;
    let killed = Instant::now();
    // Within one connect interval (the first call after the kill finds the connection gone, fails to
    // connect, and ejects the endpoint), the others take all the load.
    let share = share_during(&replicas[1..], Duration::from_millis(500)).await;
    assert!(share.iter().all(|&n| n > 0), "{share:?}");

    // Restarted on the same port: it takes load again once its ejection is over (at most a few
    // seconds of backoff).
    tokio::time::sleep(Duration::from_millis(500)).await;
    replicas[0] = Replica::start(dead).await;
    takes_load(&replicas[0], "the restarted replica takes load").await;
    let share = share_during(&replicas, Duration::from_millis(500)).await;
    assert!(
        share.iter().all(|&n| n > 0),
        "every replica takes load: {share:?}"
    );

    let outcomes = load.stop().await;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let idempotent_failed = failed.iter().filter(|o| o.idempotent).count();
    let post_failed = failed.len() - idempotent_failed;
    eprintln!(
        "{} calls; {} idempotent failed; {} with side effects failed (in flight on the killed replica)",
        outcomes.len(),
        idempotent_failed,
        post_failed
    );
    for outcome in &failed {
        let error = outcome.error.as_ref().expect("failed");
        assert!(!outcome.idempotent, "an idempotent call failed: {error}");
        assert_eq!(error.code(), Code::Unavailable, "{error}");
        // In flight when the replica died: started before its connections were gone.
        assert!(
            outcome.started <= killed,
            "a call started {:?} after the kill failed: {error}",
            outcome.started - killed
        );
    }
    // At most one call per worker can have been in flight on the dead replica.
    assert!(post_failed <= 8, "{post_failed} failures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_replica_costs_no_call() {
    let mut replicas = three_replicas().await;
    let client = balanced_client(&replicas, BalancePolicy::PowerOfTwoChoices);
    let load = Load::start(&client, 8, 20);

    let share = share_during(&replicas, Duration::from_millis(500)).await;
    assert!(
        share.iter().all(|&n| n > 0),
        "every replica takes load: {share:?}"
    );

    replicas[1].drain().await;
    let after_drain = replicas[1].calls();
    let share = share_during(&replicas, Duration::from_millis(500)).await;
    assert_eq!(share[1], 0, "the drained replica took calls: {share:?}");
    assert!(share[0] > 0 && share[2] > 0, "{share:?}");
    assert_eq!(replicas[1].calls(), after_drain);

    let outcomes = load.stop().await;
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(ToString::to_string))
        .collect();
    eprintln!("{} calls, {} failed", outcomes.len(), failed.len());
    assert!(
        failed.is_empty(),
        "calls failed during the drain: {failed:?}"
    );
}

/// A replica reporting NOT_SERVING gets no calls until it reports SERVING again.
#[tokio::test]
async fn endpoints_not_serving_get_no_calls() {
    let replicas = three_replicas().await;
    let client = balanced_client(&replicas, BalancePolicy::RoundRobin);
    within("warm up", client.echo(EchoRequest::default()))
        .await
        .expect("works");
    replicas[2].reporter.set_not_serving("");
    // The Watch tells the client within moments.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = replicas[2].calls();
    for _ in 0..30 {
        within("echo", client.echo(EchoRequest::default()))
            .await
            .expect("works");
    }
    assert_eq!(
        replicas[2].calls(),
        before,
        "a NOT_SERVING replica took calls"
    );
    replicas[2].reporter.set_serving("");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..30 {
        within("echo", client.echo(EchoRequest::default()))
            .await
            .expect("works");
    }
    assert!(
        replicas[2].calls() > before,
        "the replica serving again took no calls"
    );
}

/// Over DNS: `localhost` resolves to the loopback replica; every call type works through the
/// balanced client, over HTTP/1.1 (pooled endpoints) and HTTP/2.
#[tokio::test]
async fn a_dns_target_balances_every_call_type() {
    let replica = Replica::start(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let port = replica.addr.port();
    for (version, protocol) in [
        (HttpVersion::Http1, trident::ProtocolKind::CONNECT),
        (HttpVersion::Http2, trident::ProtocolKind::GRPC),
    ] {
        let client = Client::builder(format!("http://localhost:{port}"))
            .http_version(version)
            .protocol(protocol)
            .resolver(DnsResolver::new(&format!("dns:///localhost:{port}")).expect("target"))
            .build()
            .expect("client builds");
        let client = EchoServiceClient::new(client);
        let http = if version == HttpVersion::Http1 {
            http::Version::HTTP_11
        } else {
            http::Version::HTTP_2
        };
        trident_tests::scenarios::unary(&client, http).await;
        trident_tests::scenarios::server_stream(&client, http).await;
        trident_tests::scenarios::client_stream(&client, http).await;
        if version == HttpVersion::Http2 {
            trident_tests::scenarios::bidi(&client, http).await;
        }
    }
}

/// With no endpoint reachable, calls fail at once with `unavailable`, saying why.
#[tokio::test]
async fn no_reachable_endpoint_fails_calls_fast() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("address");
    drop(closed);
    let client = Client::builder("http://nowhere.test")
        .http_version(HttpVersion::Http2)
        .endpoints([addr])
        .build()
        .expect("client builds");
    let client = EchoServiceClient::new(client);
    let started = Instant::now();
    let error = within("echo", client.echo(EchoRequest::default()))
        .await
        .expect_err("nothing listens");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.is_unprocessed());
    assert!(started.elapsed() < Duration::from_secs(2));

    let empty = Client::builder("http://nowhere.test")
        .endpoints([])
        .build()
        .expect("client builds");
    let error = within(
        "echo",
        EchoServiceClient::new(empty).echo(EchoRequest::default()),
    )
    .await
    .expect_err("no endpoints");
    assert_eq!(error.code(), Code::Unavailable);
    assert!(error.message().contains("no endpoints"), "{error}");
}
