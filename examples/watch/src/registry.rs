//! Service discovery through the store, the config-sync use case applied to Trident itself: replicas
//! of a service [register](Registration) their address under a key prefix (`services/echo/` holds
//! `services/echo/127.0.0.1:8081` = `127.0.0.1:8081`), and clients balance their calls over them with
//! a [`StoreResolver`], which lists the prefix and then watches it, so that replicas coming and going
//! reach every client within one watch event.
//!
//! The design is lease-less, because the store has no leases or TTLs: a key stays until someone
//! deletes it. A replica that shuts down gracefully deregisters first; one that crashes leaves its
//! key behind until an operator (or its restart, which puts the same key again) deals with it. Clients
//! cope meanwhile: a balanced client ejects an endpoint whose connects fail, and tries it again only
//! after a growing backoff. Likewise, a store that loses its data (an in-memory one that restarts)
//! loses the registrations: the resolver then reports what the new store holds, and replicas have to
//! register again. A durable store (see [`persist`](crate::persist)) keeps them.
//!
//! A replica's life:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use trident_watch::proto::KvServiceClient;
//! use trident_watch::registry::Registration;
//!
//! let store = KvServiceClient::new(trident::Client::builder("http://127.0.0.1:8080").build()?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let registration =
//!     Registration::register(store, "services/echo/", listener.local_addr()?).await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>(); // `stop.send(())` shuts down
//! # drop(stop);
//! let router = trident::Router::new(); // with the replica's services added
//! trident::Server::new()
//!     .serve(listener, router)
//!     .with_graceful_shutdown(async move {
//!         let _ = stopped.await;
//!         // Leave the registry first, and give clients a moment to see it before the listener
//!         // closes; the grace period then lets calls already sent finish.
//!         let _ = registration.deregister().await;
//!         tokio::time::sleep(std::time::Duration::from_millis(500)).await;
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::BoxStream;
use trident::{Code, Error, client::ResolveNow, client::Resolver, client::ServerStreamCall};

use crate::proto::{
    DeleteRequest, Event, EventType, FellBehindDetail, KvServiceClient, PutRequest, RangeRequest,
    WatchRequest, WatchResponse,
};
use crate::resume::{Backoff, Resume, retry_after};

/// How often the store is asked for a progress notification on an otherwise quiet watch.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// How long a watch may stay silent (no event, no progress notification) before the resolver takes
/// its connection for lost and resumes on a new one.
const SILENCE: Duration = Duration::from_secs(30);

/// The key under which `address` registers below `prefix`.
pub fn registry_key(prefix: &str, address: SocketAddr) -> String {
    format!("{prefix}{address}")
}

/// A replica's entry in the registry: its key, put when it registered, deleted when it deregisters.
///
/// Dropping it leaves the key in the store (as a crash would): call
/// [`deregister`](Self::deregister) when shutting down, before the server stops taking calls.
#[derive(Clone, Debug)]
pub struct Registration {
    client: KvServiceClient,
    key: String,
}

impl Registration {
    /// Registers `address` under `prefix` through `client`: puts `<prefix><address>` = `<address>`.
    /// Registering again (after a restart) puts the same key again.
    pub async fn register(
        client: KvServiceClient,
        prefix: &str,
        address: SocketAddr,
    ) -> Result<Self, Error> {
        let key = registry_key(prefix, address);
        client
            .put(PutRequest {
                key: key.clone(),
                value: address.to_string(),
                prev_kv: false,
            })
            .await?;
        Ok(Self { client, key })
    }

    /// The registered key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Removes the entry: clients following the prefix stop sending calls here. Calls already sent
    /// still arrive, so keep serving for a moment (a graceful shutdown's grace period) afterwards.
    pub async fn deregister(self) -> Result<(), Error> {
        self.client
            .delete(DeleteRequest {
                key: self.key,
                prefix: false,
                prev_kv: false,
            })
            .await?;
        Ok(())
    }
}

/// A [`Resolver`] that follows the addresses registered under a key prefix of a store.
///
/// It reads the prefix with `Range`, then watches it from the next revision, and answers the whole
/// address set again after every change that alters it. Values that are not a socket address are
/// left out. When the watch breaks (the store restarts, the connection drops, it stays silent for
/// 30 s), it resumes after the last revision it saw, with a backoff; when that history was compacted,
/// or the store is another one, it reads the prefix again. A client's request to
/// [resolve again](ResolveNow) (after a failed connect) also reads it again.
///
/// Errors are answered only while no set was ever found (the client has nothing to call anyway);
/// afterwards, the last set stays in force while the resolver retries.
///
/// ```no_run
/// # fn demo() -> Result<(), trident::ConfigError> {
/// use trident_watch::proto::KvServiceClient;
/// use trident_watch::registry::StoreResolver;
///
/// let store = KvServiceClient::new(trident::Client::builder("http://127.0.0.1:8080").build()?);
/// let echo = trident::Client::builder("http://echo.internal")
///     .http_version(trident::HttpVersion::Http2)
///     .resolver(StoreResolver::new(store, "services/echo/"))
///     .build()?;
/// # drop(echo);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StoreResolver {
    client: KvServiceClient,
    prefix: String,
    backoff: Backoff,
}

impl StoreResolver {
    /// Follows the addresses under `prefix` in the store `client` calls.
    pub fn new(client: KvServiceClient, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            backoff: Backoff::default(),
        }
    }

    /// Waits `backoff` between attempts after failures (default: from 100 ms up to 5 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

impl Resolver for StoreResolver {
    fn resolve(&self, refresh: ResolveNow) -> BoxStream<'static, Result<Vec<SocketAddr>, Error>> {
        let follower = Follower {
            client: self.client.clone(),
            request: WatchRequest {
                key: self.prefix.clone(),
                prefix: true,
                progress_interval_ms: PROGRESS_INTERVAL.as_millis() as u32,
                ..Default::default()
            },
            backoff: self.backoff.clone(),
            refresh,
            members: BTreeMap::new(),
            resume: None,
            watch: None,
            sent: None,
            delay: None,
        };
        Box::pin(futures_util::stream::unfold(
            follower,
            |mut follower| async move {
                let item = follower.next_set().await;
                Some((item, follower))
            },
        ))
    }
}

/// The state of one [`StoreResolver::resolve`] stream.
struct Follower {
    client: KvServiceClient,
    /// The watch of the prefix, without a start revision (the [`Resume`] adds it).
    request: WatchRequest,
    backoff: Backoff,
    refresh: ResolveNow,
    /// The registered keys with their addresses.
    members: BTreeMap<String, SocketAddr>,
    /// Where the watch stands; `None`: read the prefix first.
    resume: Option<Resume>,
    watch: Option<ServerStreamCall<WatchResponse>>,
    /// The set last answered.
    sent: Option<Vec<SocketAddr>>,
    /// How long to wait before the next attempt, after a failure.
    delay: Option<Duration>,
}

impl Follower {
    /// The next address set that differs from the last one answered, or an error while none was.
    async fn next_set(&mut self) -> Result<Vec<SocketAddr>, Error> {
        loop {
            if let Some(delay) = self.delay.take() {
                tokio::time::sleep(delay).await;
            }
            match self.step().await {
                Ok(()) => {
                    if let Some(set) = self.changed() {
                        return Ok(set);
                    }
                }
                Err(error) => {
                    self.delay = Some(self.backoff.next_delay());
                    if self.sent.is_none() {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// One step: read the prefix, start the watch, or take in one watch response.
    async fn step(&mut self) -> Result<(), Error> {
        let Some(resume) = &mut self.resume else {
            return self.list().await;
        };
        let Some(watch) = &mut self.watch else {
            match self.client.watch(resume.request(&self.request)).await {
                Ok(call) => self.watch = Some(call),
                Err(error) => return Err(self.broke(error)),
            }
            return Ok(());
        };
        let next = tokio::select! {
            next = tokio::time::timeout(SILENCE, watch.message()) => next,
            () = self.refresh.requested() => {
                self.relist();
                return Ok(());
            }
        };
        let response = match next {
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => {
                return Err(self.broke(Error::new(Code::Unavailable, "the store ended the watch")));
            }
            Ok(Err(error)) => return Err(self.broke(error)),
            Err(_) => {
                return Err(self.broke(Error::new(
                    Code::Unavailable,
                    format!("the watch was silent for {SILENCE:?}"),
                )));
            }
        };
        if let Err(message) = resume.observe(&response) {
            // Another store answers: its revisions mean nothing here, so read it afresh.
            self.relist();
            return Err(Error::new(Code::FailedPrecondition, message));
        }
        if response.created {
            self.backoff.reset();
        }
        self.apply(&response.events);
        Ok(())
    }

    /// Reads the prefix: the members now, and the revision to watch from.
    async fn list(&mut self) -> Result<(), Error> {
        let range = self
            .client
            .range(RangeRequest {
                key: self.request.key.clone(),
                prefix: true,
                ..Default::default()
            })
            .await?
            .into_message();
        self.members = range
            .kvs
            .into_iter()
            .filter_map(|kv| Some((kv.key, kv.value.parse().ok()?)))
            .collect();
        self.resume = Some(Resume::new(range.revision + 1, range.store_id));
        self.watch = None;
        Ok(())
    }

    /// Drops the watch, and the resume point with it: the next step reads the prefix again.
    fn relist(&mut self) {
        self.watch = None;
        self.resume = None;
    }

    /// Takes note of a broken watch: resume where it stopped, or read the prefix again if that cannot
    /// work (compacted history, another store, a request the store refuses). Answers the error.
    fn broke(&mut self, error: Error) -> Error {
        self.watch = None;
        if !retry_after(&error) {
            self.resume = None;
        } else if let Some(resume) = &mut self.resume
            && let Some(detail) = error
                .details()
                .iter()
                .find_map(|d| d.decode::<FellBehindDetail>().ok())
        {
            resume.fell_behind(&detail);
        }
        error
    }

    /// Applies watch events to the members.
    fn apply(&mut self, events: &[Event]) {
        for event in events {
            let Some(kv) = &event.kv else { continue };
            let address = match event.r#type() {
                EventType::Put => kv.value.parse().ok(),
                _ => None,
            };
            match address {
                Some(address) => self.members.insert(kv.key.clone(), address),
                None => self.members.remove(&kv.key),
            };
        }
    }

    /// The address set, if it differs from the one last answered (which it then becomes).
    fn changed(&mut self) -> Option<Vec<SocketAddr>> {
        let mut set: Vec<SocketAddr> = self.members.values().copied().collect();
        set.sort_unstable();
        set.dedup();
        if self.sent.as_ref() == Some(&set) {
            return None;
        }
        self.sent = Some(set.clone());
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::KeyValue;

    fn follower() -> Follower {
        let client = trident::Client::builder("http://127.0.0.1:1")
            .build()
            .expect("client");
        Follower {
            client: KvServiceClient::new(client),
            request: WatchRequest::default(),
            backoff: Backoff::default(),
            refresh: ResolveNow::default(),
            members: BTreeMap::new(),
            resume: None,
            watch: None,
            sent: None,
            delay: None,
        }
    }

    fn event(kind: EventType, key: &str, value: &str) -> Event {
        Event {
            r#type: kind.into(),
            kv: Some(KeyValue {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn keys_name_the_address_under_the_prefix() {
        assert_eq!(
            registry_key("services/echo/", addr("127.0.0.1:8081")),
            "services/echo/127.0.0.1:8081"
        );
        assert_eq!(registry_key("s/", addr("[::1]:80")), "s/[::1]:80");
    }

    #[test]
    fn events_change_the_set_and_bad_values_are_left_out() {
        let mut follower = follower();
        assert_eq!(
            follower.changed(),
            Some(vec![]),
            "the first set, even empty"
        );
        assert_eq!(follower.changed(), None);
        follower.apply(&[
            event(EventType::Put, "s/b", "127.0.0.1:2"),
            event(EventType::Put, "s/a", "127.0.0.1:1"),
            event(EventType::Put, "s/bad", "not an address"),
        ]);
        assert_eq!(
            follower.changed(),
            Some(vec![addr("127.0.0.1:1"), addr("127.0.0.1:2")])
        );
        // A key put again with a value that does not parse leaves the set.
        follower.apply(&[event(EventType::Put, "s/a", "")]);
        assert_eq!(follower.changed(), Some(vec![addr("127.0.0.1:2")]));
        // Two keys with one address: one endpoint; a change that alters nothing answers nothing.
        follower.apply(&[event(EventType::Put, "s/c", "127.0.0.1:2")]);
        assert_eq!(follower.changed(), None);
        follower.apply(&[
            event(EventType::Delete, "s/b", ""),
            event(EventType::Delete, "s/c", ""),
        ]);
        assert_eq!(follower.changed(), Some(vec![]));
    }

    #[test]
    fn broken_watches_resume_unless_the_history_is_gone() {
        let mut follower = follower();
        follower.resume = Some(Resume::new(5, "s1"));
        follower.broke(Error::new(Code::Unavailable, "down"));
        assert_eq!(follower.resume.as_ref().map(Resume::next_revision), Some(5));
        follower.broke(Error::new(Code::OutOfRange, "compacted"));
        assert!(
            follower.resume.is_none(),
            "compacted: read the prefix again"
        );
        follower.resume = Some(Resume::new(5, "s1"));
        follower.broke(Error::new(Code::FailedPrecondition, "another store"));
        assert!(follower.resume.is_none(), "another store: read it afresh");
    }
}
