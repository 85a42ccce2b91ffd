//! A watchable key-value store served with Trident: the ways a server pushes changes to its clients.
//!
//! `trident.watch.v1.KvService` (see `proto/trident/watch/v1/watch.proto`) is a revisioned key-value store
//! ([`store`]), durable in a [redb](persist) database or in memory only, with:
//!
//! - unary `Put`, `Delete`, `Compact`, and `Range`, which is marked `NO_SIDE_EFFECTS` so Connect clients
//!   (and `curl`) may fetch it with HTTP GET, and caches may keep it;
//! - **watch streams** (`Watch`, server streaming, as Kubernetes watches resources): a key or prefix, an
//!   optional start revision whose history is replayed before live changes follow, optional previous
//!   values and progress notifications; it ends with `out_of_range` and a
//!   [`CompactedDetail`](proto::CompactedDetail) if the start revision was compacted;
//! - **multiplexed watches** (`WatchStream`, bidi over HTTP/2, as etcd v3 does): many watches created and
//!   cancelled by id on one stream;
//! - **long polling** (`LongPoll`, unary, as etcd v2's `?wait=true` and Soul's config sync): the call is
//!   held until something under the given prefixes changes after a revision, or until a timeout of at
//!   most 60 s, and answers with what changed; plain `curl` over HTTP/1.1 can do it.
//!
//! Every store has an id, made with its database; every response carries it, and a watch or long poll
//! resuming from a revision of another store is refused with `failed_precondition` (see [`service`]).
//! [`resume`] holds what a client needs to follow a watch across reconnections, as `watch-cli watch` does.
//!
//! [`registry`] applies the config-sync use case to Trident itself, as service discovery: replicas of a
//! service register their address under a key prefix ([`Registration`](registry::Registration)), and a
//! balanced Trident client follows that prefix with a [`StoreResolver`](registry::StoreResolver), a
//! [`trident::client::Resolver`] that lists it with `Range`, then watches it (resuming, or listing again, when the
//! watch breaks), so replicas joining and leaving reach every client within a watch event. There are no
//! leases: a replica that crashes leaves its key until it is deleted, and clients only eject it for
//! failing to connect.
//!
//! Memory is bounded: the history keeps a fixed number of events, and every watcher a fixed-size buffer;
//! a watcher whose client does not keep up is ended with `resource_exhausted` and a
//! [`FellBehindDetail`](proto::FellBehindDetail) that says where to resume. Handlers stop as soon as their
//! caller goes away, freeing their watchers ([`store::StoreStats::watchers`] shows it).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use trident_watch::store::{Store, StoreConfig};
//!
//! // Durable: kept in ./watch-data (created if needed), every change on disk before it is answered.
//! let store = Store::open("watch-data", StoreConfig::default())?;
//! let router = trident::Router::new().add(trident_watch::routes(store));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! trident::Server::new().serve(listener, router).await?;
//! # Ok(())
//! # }
//! ```
//!
//! The `watch-server` binary serves it (`--data DIR`, default `watch-data`, or `--in-memory`; plus, with
//! `--static DIR`, the files of a web page: see [`web`]); `watch-cli` is a client for every method.

mod error;
mod history;
pub mod persist;
pub mod registry;
pub mod resume;
pub mod service;
pub mod store;
mod watch_stream;
mod watcher;
pub mod web;

/// Generated code for `trident.watch.v1`: messages, the `KvService` trait, routes and client.
#[allow(missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/trident.watch.v1.rs"));
}

/// The OpenAPI 3.1 document of the store's REST bindings and Connect endpoints, as `trident-build`
/// wrote it (`watch-server` serves it at `/openapi.json`).
pub const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/watch.openapi.json"));

pub use service::KvServer;
pub use store::{Store, StoreConfig};

/// The routes of `trident.watch.v1.KvService` over `store`, to add to a [`trident::Router`].
pub fn routes(store: Store) -> trident::ServiceRoutes {
    proto::kv_service_routes(KvServer::new(store))
}
