//! Service discovery through the store: replicas register under a prefix, a balanced client follows it
//! with `StoreResolver`, and replicas that leave or join stop or start taking calls within a second;
//! the resolver also follows the store across restarts, a compacted history and a replaced store.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use trident::{Client, HttpVersion, Router, client::ResolveNow, client::Resolver as _};
use trident_watch::proto::*;
use trident_watch::registry::{Registration, StoreResolver, registry_key};
use trident_watch::resume::Backoff;
use trident_watch::store::{Store, StoreConfig};
use trident_watch::web::ServeOptions;

use crate::common::{Server, within};

const PREFIX: &str = "services/kv/";

/// How long a change to the registry may take to reach the client's calls.
const PROPAGATION: Duration = Duration::from_secs(1);

/// A replica is a server over its own in-memory store ([`Server`]). Each call the test makes is a
/// `Put`, so the store's revision counts the calls the replica took.
type Replica = Server;

/// The calls `replica` took.
fn taken(replica: &Replica) -> i64 {
    replica.store.revision()
}

/// Registers `replica` in `registry`.
async fn register(replica: &Replica, registry: &Server) -> Registration {
    within(
        "register",
        Registration::register(registry.client(), PREFIX, replica.addr),
    )
    .await
    .expect("register")
}

/// A balanced client over the replicas registered in `registry`.
fn balanced_client(registry: &Server) -> KvServiceClient {
    let client = Client::builder("http://kv.replicas")
        .http_version(HttpVersion::Http2)
        .resolver(StoreResolver::new(registry.h2_client(), PREFIX))
        .build()
        .expect("client");
    KvServiceClient::new(client)
}

async fn call(client: &KvServiceClient) {
    within(
        "call",
        client.put(PutRequest {
            key: "calls".into(),
            value: "1".into(),
            prev_kv: false,
        }),
    )
    .await
    .expect("call");
}

async fn calls(client: &KvServiceClient, n: usize) {
    for _ in 0..n {
        call(client).await;
    }
}

fn counts(replicas: &[Replica]) -> Vec<i64> {
    replicas.iter().map(taken).collect()
}

/// Calls until `done` holds, failing if that takes longer than [`PROPAGATION`].
async fn calls_until(
    what: &str,
    client: &KvServiceClient,
    replicas: &[Replica],
    done: impl Fn(&[i64], &[i64]) -> bool,
) {
    let wait = async {
        loop {
            let before = counts(replicas);
            // One round of the round-robin over three endpoints.
            calls(client, 3).await;
            if done(&before, &counts(replicas)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    if tokio::time::timeout(PROPAGATION, wait).await.is_err() {
        panic!("{what}: not within {PROPAGATION:?}: {:?}", counts(replicas));
    }
}

#[tokio::test]
async fn a_balanced_client_follows_replicas_registering_and_leaving() {
    let registry = Server::start().await;
    let replicas = vec![
        Server::start().await,
        Server::start().await,
        Server::start().await,
        Server::start().await,
    ];
    let mut registrations = Vec::new();
    for replica in &replicas[..3] {
        registrations.push(Some(register(replica, &registry).await));
    }
    // A junk value under the prefix is left out, not a failure.
    registry.put(&format!("{PREFIX}junk"), "not an address");

    let client = balanced_client(&registry);

    // Round-robin over the three registered replicas.
    calls(&client, 30).await;
    assert_eq!(counts(&replicas), [10, 10, 10, 0]);

    // Replica 1 deregisters (and keeps serving, as during a graceful shutdown's grace period).
    let leaving = registrations[1].take().expect("registered");
    assert_eq!(leaving.key(), registry_key(PREFIX, replicas[1].addr));
    within("deregister", leaving.deregister())
        .await
        .expect("deregister");
    calls_until("replica 1 out", &client, &replicas, |before, after| {
        after[1] == before[1]
    })
    .await;
    let before = counts(&replicas);
    calls(&client, 30).await;
    let after = counts(&replicas);
    let taken: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(taken, [15, 0, 15, 0]);

    // A fourth replica joins.
    registrations.push(Some(register(&replicas[3], &registry).await));
    calls_until("replica 3 in", &client, &replicas, |before, after| {
        after[3] > before[3]
    })
    .await;
    let before = counts(&replicas);
    calls(&client, 30).await;
    let after = counts(&replicas);
    let taken: Vec<i64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(taken, [10, 0, 10, 10]);
}

/// A registry server over a store, which can be shut down gracefully and started again on its port.
struct Registry {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Registry {
    /// Serves `store` on `addr` (port 0: any), retrying while the port is not free yet.
    async fn start(store: &Store, addr: SocketAddr) -> Self {
        let listener = within("bind", async {
            loop {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(listener) => return listener,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        })
        .await;
        let addr = listener.local_addr().expect("local address");
        let router = Router::new().add(trident_watch::routes(store.clone()));
        let options = ServeOptions {
            grace_period: Duration::from_millis(100),
            ..ServeOptions::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = trident_watch::web::serve(listener, router, options)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { addr, stop, task }
    }

    /// Shuts the server down (ending its watches) and waits until every connection is closed.
    async fn stop(self) -> SocketAddr {
        let _ = self.stop.send(());
        within("shutdown", self.task).await.expect("server task");
        self.addr
    }
}

async fn next_set(
    sets: &mut BoxStream<'static, Result<Vec<SocketAddr>, trident::Error>>,
) -> Vec<SocketAddr> {
    within("next set", sets.next())
        .await
        .expect("the resolver goes on")
        .expect("a set")
}

#[tokio::test]
async fn the_resolver_resumes_across_store_restarts_and_relists_when_it_cannot() {
    let store = Store::new(StoreConfig::default());
    let registry = Registry::start(&store, "127.0.0.1:0".parse().expect("addr")).await;
    let a: SocketAddr = "127.0.0.1:1001".parse().expect("addr");
    let b: SocketAddr = "127.0.0.1:1002".parse().expect("addr");
    let c: SocketAddr = "127.0.0.1:1003".parse().expect("addr");
    let put = |address: SocketAddr| {
        store
            .put(&registry_key(PREFIX, address), &address.to_string())
            .expect("put");
    };
    put(a);

    let client = Client::builder(format!("http://{}", registry.addr))
        .http_version(HttpVersion::Http2)
        .build()
        .expect("client");
    let resolver = StoreResolver::new(KvServiceClient::new(client), PREFIX).backoff(Backoff::new(
        Duration::from_millis(20),
        Duration::from_millis(100),
    ));
    let mut sets = resolver.resolve(ResolveNow::default());
    assert_eq!(next_set(&mut sets).await, [a]);
    put(b);
    assert_eq!(next_set(&mut sets).await, [a, b]);

    // The store's server stops (ending the watch); a change made while it is down arrives from the
    // history once it is back on the same port.
    let addr = registry.stop().await;
    store
        .delete(&registry_key(PREFIX, a), false)
        .expect("delete");
    let registry = Registry::start(&store, addr).await;
    assert_eq!(next_set(&mut sets).await, [b]);

    // Down again; this time the history the watch needs is compacted away: it reads the prefix again.
    let addr = registry.stop().await;
    put(c);
    store.put("elsewhere", "x").expect("put");
    store.compact(0).expect("compact");
    let registry = Registry::start(&store, addr).await;
    assert_eq!(next_set(&mut sets).await, [b, c]);

    // The store is replaced by another (an in-memory one restarted): its revisions mean nothing to the
    // old history, so the resolver reads what the new one holds.
    let addr = registry.stop().await;
    let store = Store::new(StoreConfig::default());
    store
        .put(&registry_key(PREFIX, a), &a.to_string())
        .expect("put");
    let _registry = Registry::start(&store, addr).await;
    assert_eq!(next_set(&mut sets).await, [a]);
}

#[tokio::test]
async fn calls_go_around_a_crashed_replica_whose_key_stays() {
    let registry = Server::start().await;
    let replicas = vec![Server::start().await, Server::start().await];
    for replica in &replicas {
        register(replica, &registry).await;
    }
    // A replica that crashed without deregistering: its key stays, nothing listens at its address
    // (port 1, privileged, so that no other test's server can take it meanwhile).
    let crashed: SocketAddr = "127.0.0.1:1".parse().expect("address");
    within(
        "register",
        Registration::register(registry.client(), PREFIX, crashed),
    )
    .await
    .expect("register");

    let client = balanced_client(&registry);
    // Every call succeeds: the client ejects the endpoint it cannot connect to and goes on to another.
    calls(&client, 30).await;
    let taken = counts(&replicas);
    assert_eq!(taken.iter().sum::<i64>(), 30, "{taken:?}");
    assert!(taken.iter().all(|&n| n > 0), "{taken:?}");
}
