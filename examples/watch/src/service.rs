//! `KvService` over a [`Store`]: unary reads and writes, watch streams, multiplexed watches, long polls.
//!
//! Every long-running handler selects on `request.context().canceled()`, so it stops (and drops its
//! watchers) as soon as the caller goes away or the deadline passes. The streaming handlers produce their
//! responses lazily, only when the transport asks for the next message: a client that stops reading stops
//! the handler from draining its watchers, whose buffers then fill up until the store cuts them off
//! ([`StoreError::FellBehind`]), which keeps memory bounded.
//!
//! Errors:
//!
//! | situation | `Watch` / `LongPoll` | `WatchStream` |
//! |---|---|---|
//! | start revision compacted | `out_of_range` + [`CompactedDetail`] | `canceled`, `CANCEL_REASON_COMPACTED`, `compact_revision` |
//! | watcher fell behind | `resource_exhausted` + [`FellBehindDetail`] | `canceled`, `CANCEL_REASON_FELL_BEHIND`, `resume_revision` |
//! | bad request | `invalid_argument` | `canceled`, `CANCEL_REASON_INVALID` (bad create) |
//! | `store_id` names another store | `failed_precondition` (message names both ids) | `canceled`, `CANCEL_REASON_STORE_MISMATCH` |
//! | the database failed | `internal` (`Put`, `Delete`, `Compact`: the change was not made) | |
//!
//! Every response of these handlers, errors included, carries the store's id in the [`STORE_ID_HEADER`]
//! header (a request the runtime refuses before a handler runs, one that cannot be decoded say, does
//! not), and the answers of `Put`, `Delete`, `Range`, `Compact`, `LongPoll` and the `created` response
//! of every watch carry it in their `store_id` field. A request that resumes from a revision (`Watch`, `WatchStream`
//! creates, `LongPoll`) may name the store that revision came from; if the server's store is another one,
//! the revisions do not line up and the call is refused rather than silently skipping or repeating changes.
//!
//! Changes to a durable store wait for the disk; they run on Tokio's blocking threads so that the
//! runtime's workers go on serving watches meanwhile.

use std::time::Duration;

use tokio::time::Instant;
use trident::{CallContext, Code, Error, Request, Response, ResponseStream, Streaming};

use crate::proto::*;
use crate::store::{Batch, KeySelector, Store, StoreError, WatchOptions, Watcher};
use crate::watch_stream::MultiWatch;

/// At most this many events go into one watch response (more only when one change alone has more).
pub const MAX_EVENTS_PER_RESPONSE: usize = 500;
/// At most this many events go into one long-poll answer (more only when one change alone has more).
pub const MAX_LONG_POLL_EVENTS: usize = 1_000;
/// The long-poll timeout when the request sets none.
pub const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a long poll is held, whatever the request asks.
pub const MAX_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest interval between progress notifications.
pub const MIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The `Cache-Control` of `Range` answers to Connect GET requests: caches may keep them for a second.
pub const RANGE_CACHE_CONTROL: &str = "public, max-age=1";
/// At most this many watches on one `WatchStream`.
pub const MAX_WATCHES_PER_STREAM: usize = 10_000;
/// The response header that carries the store's id, on every response.
pub const STORE_ID_HEADER: &str = "watch-store-id";

/// The `KvService` implementation.
#[derive(Clone, Debug)]
pub struct KvServer {
    store: Store,
}

impl KvServer {
    /// Serves `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store served.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Fails with `failed_precondition` if a request resuming from a revision of store `requested` (empty:
    /// not said) reached another store.
    fn check_store(&self, requested: &str) -> Result<(), Error> {
        match store_mismatch(self.store.id(), requested) {
            Some(message) => Err(Error::new(Code::FailedPrecondition, message)),
            None => Ok(()),
        }
    }

    /// Adds the [`STORE_ID_HEADER`] to a handler's answer, whether a response or an error.
    fn tagged<T>(&self, result: Result<Response<T>, Error>) -> Result<Response<T>, Error> {
        let id = self.store.id();
        match result {
            Ok(mut response) => {
                response.headers_mut().append(STORE_ID_HEADER, id)?;
                Ok(response)
            }
            Err(mut error) => {
                // The id is hex digits, always a valid header value.
                let _ = error.headers_mut().append(STORE_ID_HEADER, id);
                Err(error)
            }
        }
    }

    /// Runs a change on the store: on a blocking thread for a durable store (it waits for the disk).
    async fn change<T, F>(&self, change: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        if !self.store.is_durable() {
            return change(&self.store).map_err(store_error);
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || change(&store))
            .await
            .map_err(|error| Error::new(Code::Internal, format!("the change failed: {error}")))?
            .map_err(store_error)
    }
}

/// The message of a store mismatch, if `requested` (a store id from a request; empty: none) is not
/// `server`'s.
pub fn store_mismatch(server: &str, requested: &str) -> Option<String> {
    (!requested.is_empty() && requested != server).then(|| {
        format!(
            "the request resumes from a revision of store {requested}, but this server's store is              {server}: its revisions are another history; read the current state (Range) and watch              from its revision"
        )
    })
}

/// The RPC error for a store error: `out_of_range` with a [`CompactedDetail`], `resource_exhausted` with
/// a [`FellBehindDetail`], or `invalid_argument`.
pub fn store_error(error: StoreError) -> Error {
    let message = error.to_string();
    match error {
        StoreError::Compacted {
            compact_revision,
            requested_revision,
            current_revision,
        } => Error::new(Code::OutOfRange, message).with_detail(&CompactedDetail {
            compact_revision,
            requested_revision,
            current_revision,
        }),
        StoreError::FellBehind {
            resume_revision,
            buffer_capacity,
        } => Error::new(Code::ResourceExhausted, message).with_detail(&FellBehindDetail {
            resume_revision,
            buffer_capacity: u32::try_from(buffer_capacity).unwrap_or(u32::MAX),
        }),
        StoreError::InvalidArgument(_) => Error::new(Code::InvalidArgument, message),
        StoreError::Storage(_) => Error::new(Code::Internal, message),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(Code::InvalidArgument, message)
}

/// An event as sent: the previous value only if asked for.
fn wire_event(event: &Event, prev_kv: bool) -> Event {
    Event {
        r#type: event.r#type,
        kv: event.kv.clone(),
        prev_kv: if prev_kv { event.prev_kv.clone() } else { None },
    }
}

pub(crate) fn events_response(watch_id: i64, batch: &Batch, prev_kv: bool) -> WatchResponse {
    WatchResponse {
        watch_id,
        revision: batch.revision,
        events: batch
            .events
            .iter()
            .map(|e| wire_event(e, prev_kv))
            .collect(),
        ..Default::default()
    }
}

pub(crate) fn progress_response(watch_id: i64, revision: i64) -> WatchResponse {
    WatchResponse {
        watch_id,
        revision,
        progress: true,
        ..Default::default()
    }
}

fn selector(key: String, prefix: bool) -> KeySelector {
    if prefix {
        KeySelector::Prefix(key)
    } else {
        KeySelector::Key(key)
    }
}

pub(crate) fn watch_options(request: &WatchRequest) -> Result<WatchOptions, Error> {
    if request.start_revision < 0 {
        return Err(invalid("start_revision must not be negative"));
    }
    if request.key.is_empty() && !request.prefix {
        return Err(invalid(
            "key must not be empty (set prefix to watch every key)",
        ));
    }
    Ok(WatchOptions {
        selectors: vec![selector(request.key.clone(), request.prefix)],
        start_revision: request.start_revision,
    })
}

pub(crate) fn progress_interval(request: &WatchRequest) -> Option<Duration> {
    (request.progress_interval_ms > 0).then(|| {
        Duration::from_millis(request.progress_interval_ms.into()).max(MIN_PROGRESS_INTERVAL)
    })
}

/// How long a long poll may wait: the requested timeout (default 30 s, at most 60 s), and short of the
/// call's deadline by a tenth of the time left (at most 1 s), so that the answer arrives before the
/// client gives up.
fn long_poll_wait(timeout_ms: u32, remaining: Option<Duration>) -> Duration {
    let timeout = match timeout_ms {
        0 => DEFAULT_LONG_POLL_TIMEOUT,
        ms => Duration::from_millis(ms.into()).min(MAX_LONG_POLL_TIMEOUT),
    };
    match remaining {
        Some(remaining) => {
            let margin = (remaining / 10).min(Duration::from_secs(1));
            timeout.min(remaining.saturating_sub(margin))
        }
        None => timeout,
    }
}

/// How a stream whose call was cancelled ends: with `deadline_exceeded` if the deadline passed (the
/// runtime reports it too; this makes sure), or quietly when the caller went away (nobody reads it).
pub(crate) fn ended(context: &CallContext) -> Option<Error> {
    context
        .remaining()
        .is_some_and(|left| left.is_zero())
        .then(|| Error::new(Code::DeadlineExceeded, "the call's deadline passed"))
}

/// The error that ends a watch when the server begins to shut down: `unavailable`, which clients
/// retry, resuming from their last revision (on this server once it is back, or on another).
pub(crate) fn shutting_down() -> Error {
    Error::new(
        Code::Unavailable,
        "the server is shutting down; resume the watch from the last revision received",
    )
}

pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl KvService for KvServer {
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Error> {
        let request = request.into_message();
        let want_prev = request.prev_kv;
        let result = self
            .change(move |store| store.put(&request.key, &request.value))
            .await
            .map(|outcome| {
                Response::new(PutResponse {
                    revision: outcome.revision,
                    prev_kv: outcome.prev_kv.filter(|_| want_prev),
                    store_id: self.store.id().to_owned(),
                })
            });
        self.tagged(result)
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Error> {
        let request = request.into_message();
        if request.key.is_empty() && !request.prefix {
            return self.tagged(Err(invalid(
                "key must not be empty (set prefix to delete every key)",
            )));
        }
        let want_prev = request.prev_kv;
        let result = self
            .change(move |store| store.delete(&request.key, request.prefix))
            .await
            .map(|outcome| {
                Response::new(DeleteResponse {
                    revision: outcome.revision,
                    deleted: outcome.deleted.len() as i64,
                    prev_kvs: if want_prev {
                        outcome.deleted
                    } else {
                        Vec::new()
                    },
                    store_id: self.store.id().to_owned(),
                })
            });
        self.tagged(result)
    }

    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Error> {
        let is_get = request.context().http_method() == Some(&http::Method::GET);
        let request = request.into_message();
        let Ok(limit) = usize::try_from(request.limit) else {
            return self.tagged(Err(invalid("limit must not be negative")));
        };
        let mut outcome = self.store.range(&request.key, request.prefix, limit);
        if request.keys_only {
            for kv in &mut outcome.kvs {
                kv.value.clear();
            }
        }
        let revision = outcome.revision;
        let mut response = Response::new(RangeResponse {
            revision,
            more: outcome.count > outcome.kvs.len(),
            count: outcome.count as i64,
            kvs: outcome.kvs,
            store_id: self.store.id().to_owned(),
        });
        if is_get {
            // A Connect GET may be kept by HTTP caches: briefly, and tagged with the revision it shows.
            let headers = response.headers_mut();
            headers.append("cache-control", RANGE_CACHE_CONTROL)?;
            // The store's id is part of the tag: the same revision of another store is another answer.
            headers.append("etag", &format!("\"{}-{revision}\"", self.store.id()))?;
        }
        self.tagged(Ok(response))
    }

    async fn compact(
        &self,
        request: Request<CompactRequest>,
    ) -> Result<Response<CompactResponse>, Error> {
        let target = request.message().revision;
        let result = self.change(move |store| store.compact(target)).await.map(
            |(compact_revision, revision)| {
                Response::new(CompactResponse {
                    compact_revision,
                    revision,
                    store_id: self.store.id().to_owned(),
                })
            },
        );
        self.tagged(result)
    }

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<ResponseStream<WatchResponse>>, Error> {
        let context = request.context().clone();
        let mut request = request.into_message();
        if let Some(id) = context.last_event_id() {
            match resume_point(id) {
                Some((store_id, revision)) => {
                    request.store_id = store_id.to_owned();
                    request.start_revision = revision + 1;
                }
                None => {
                    let message = format!("Last-Event-ID {id:?} is no watch event id");
                    return self.tagged(Err(Error::new(Code::InvalidArgument, message)));
                }
            }
        }
        let watcher = self.check_store(&request.store_id).and_then(|()| {
            self.store
                .watch(watch_options(&request)?)
                .map_err(store_error)
        });
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(error) => return self.tagged(Err(error)),
        };
        let created = WatchResponse {
            revision: watcher.created_revision(),
            created: true,
            store_id: self.store.id().to_owned(),
            ..Default::default()
        };
        let state = SingleWatch {
            watcher,
            context,
            prev_kv: request.prev_kv,
            interval: progress_interval(&request),
            due: None,
            pending: Some(created),
            done: false,
        };
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_response().await?;
            Some((item, state))
        });
        let store_id = self.store.id().to_owned();
        let response = Response::new(Box::pin(stream) as ResponseStream<_>)
            .with_event_ids(move |response: &WatchResponse| event_id(&store_id, response));
        self.tagged(Ok(response))
    }

    async fn watch_stream(
        &self,
        request: Request<Streaming<WatchStreamRequest>>,
    ) -> Result<Response<ResponseStream<WatchResponse>>, Error> {
        let context = request.context().clone();
        let state = MultiWatch::new(request.into_message(), context, self.store.clone());
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_response().await?;
            Some((item, state))
        });
        self.tagged(Ok(Response::new(Box::pin(stream) as ResponseStream<_>)))
    }

    async fn long_poll(
        &self,
        request: Request<LongPollRequest>,
    ) -> Result<Response<LongPollResponse>, Error> {
        let result = self.long_poll_untagged(request).await;
        self.tagged(result)
    }
}

impl KvServer {
    async fn long_poll_untagged(
        &self,
        request: Request<LongPollRequest>,
    ) -> Result<Response<LongPollResponse>, Error> {
        let context = request.context().clone();
        let request = request.into_message();
        if request.after_revision < 0 {
            return Err(invalid("after_revision must not be negative"));
        }
        self.check_store(&request.store_id)?;
        let wait = long_poll_wait(request.timeout_ms, context.remaining());
        let mut prefixes: Vec<String> = Vec::new();
        for prefix in &request.prefixes {
            if !prefixes.contains(prefix) {
                prefixes.push(prefix.clone());
            }
        }
        let selectors = if prefixes.is_empty() {
            vec![KeySelector::Prefix(String::new())]
        } else {
            prefixes.iter().cloned().map(KeySelector::Prefix).collect()
        };
        let start_revision = match request.after_revision {
            0 => 0,
            after => after + 1,
        };
        let mut watcher = self
            .store
            .watch(WatchOptions {
                selectors,
                start_revision,
            })
            .map_err(store_error)?;
        let baseline = request.after_revision.max(watcher.created_revision());
        let first = tokio::select! {
            biased;
            () = context.canceled() => {
                return Err(Error::new(Code::Canceled, "the caller went away"));
            }
            first = watcher.next(MAX_LONG_POLL_EVENTS) => first.map_err(store_error)?,
            // A server shutting down answers a long poll as if its wait were over: the client polls
            // again, from the same revision.
            () = async {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = context.draining() => {}
                }
            } => {
                let revision = watcher.progress_revision().unwrap_or(baseline).max(baseline);
                return Ok(Response::new(LongPollResponse {
                    revision,
                    timed_out: true,
                    store_id: self.store.id().to_owned(),
                    ..Default::default()
                }));
            }
        };
        // Something changed: gather what else is already there, then answer at once.
        let mut revision = first.revision;
        let mut events: Vec<Event> = first
            .events
            .iter()
            .map(|e| wire_event(e, request.prev_kv))
            .collect();
        let mut more = false;
        loop {
            let room = MAX_LONG_POLL_EVENTS.saturating_sub(events.len());
            match watcher.try_next(room) {
                Some(Ok(batch)) => {
                    if room == 0 {
                        more = true;
                        break;
                    }
                    revision = batch.revision;
                    events.extend(batch.events.iter().map(|e| wire_event(e, request.prev_kv)));
                }
                // Compacted or fell behind while gathering: answer with what there is.
                Some(Err(_)) => {
                    more = true;
                    break;
                }
                None if watcher.is_live() => break,
                None => {}
            }
        }
        if !more && let Some(progress) = watcher.progress_revision() {
            revision = revision.max(progress);
        }
        let changed_prefixes = prefixes
            .into_iter()
            .filter(|p| {
                events.iter().any(|e| {
                    e.kv.as_ref()
                        .is_some_and(|kv| kv.key.starts_with(p.as_str()))
                })
            })
            .collect();
        Ok(Response::new(LongPollResponse {
            revision,
            timed_out: false,
            changed_prefixes,
            events,
            more,
            store_id: self.store.id().to_owned(),
        }))
    }
}

/// The state of one `Watch` call's response stream.
struct SingleWatch {
    watcher: Watcher,
    context: CallContext,
    prev_kv: bool,
    interval: Option<Duration>,
    /// When the next progress notification is due.
    due: Option<Instant>,
    /// A response to send before anything else (the `created` confirmation).
    pending: Option<WatchResponse>,
    done: bool,
}

impl SingleWatch {
    /// The next response; `None` ends the stream.
    async fn next_response(&mut self) -> Option<Result<WatchResponse, Error>> {
        if self.done {
            return None;
        }
        if let Some(response) = self.pending.take() {
            self.rearm();
            return Some(Ok(response));
        }
        loop {
            tokio::select! {
                biased;
                () = self.context.canceled() => {
                    // The caller went away or the deadline passed: stop, freeing the watcher.
                    self.done = true;
                    return ended(&self.context).map(Err);
                }
                () = self.context.draining() => {
                    // The server is shutting down: end now rather than hold the shutdown.
                    self.done = true;
                    return Some(Err(shutting_down()));
                }
                next = self.watcher.next(MAX_EVENTS_PER_RESPONSE) => {
                    self.rearm();
                    return Some(match next {
                        Ok(batch) => Ok(events_response(0, &batch, self.prev_kv)),
                        Err(error) => {
                            self.done = true;
                            Err(store_error(error))
                        }
                    });
                }
                () = sleep_until_opt(self.due) => {
                    self.rearm();
                    if let Some(revision) = self.watcher.progress_revision() {
                        return Some(Ok(progress_response(0, revision)));
                    }
                }
            }
        }
    }

    fn rearm(&mut self) {
        self.due = self.interval.map(|i| Instant::now() + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_poll_wait_honours_timeout_and_deadline() {
        assert_eq!(long_poll_wait(0, None), DEFAULT_LONG_POLL_TIMEOUT);
        assert_eq!(long_poll_wait(500, None), Duration::from_millis(500));
        assert_eq!(long_poll_wait(600_000, None), MAX_LONG_POLL_TIMEOUT);
        assert_eq!(
            long_poll_wait(5_000, Some(Duration::from_secs(1))),
            Duration::from_millis(900)
        );
        assert_eq!(
            long_poll_wait(60_000, Some(Duration::from_secs(50))),
            Duration::from_secs(49)
        );
    }

    #[test]
    fn store_errors_carry_details() {
        let error = store_error(StoreError::Compacted {
            compact_revision: 7,
            requested_revision: 3,
            current_revision: 9,
        });
        assert_eq!(error.code(), Code::OutOfRange);
        let detail: CompactedDetail = error.details()[0].decode().unwrap();
        assert_eq!(detail.compact_revision, 7);
        let error = store_error(StoreError::FellBehind {
            resume_revision: 4,
            buffer_capacity: 16,
        });
        assert_eq!(error.code(), Code::ResourceExhausted);
        let detail: FellBehindDetail = error.details()[0].decode().unwrap();
        assert_eq!((detail.resume_revision, detail.buffer_capacity), (4, 16));
    }
}

/// The id of a `Watch` response as a server-sent event (`STORE:REVISION`), for responses after which
/// a watch may resume: events and progress notifications, which say that every change up to their
/// revision has been sent. A `created` response has none: with a start revision, the history it
/// promises is still to come, and resuming after its revision would skip it.
fn event_id(store_id: &str, response: &WatchResponse) -> Option<String> {
    (!response.created && response.revision > 0)
        .then(|| format!("{store_id}:{}", response.revision))
}

/// The store and revision a reconnecting `EventSource`'s `Last-Event-ID` names (see [`event_id`]):
/// the watch resumes after that revision, on that store only (another store's revisions are not
/// these, and the store check refuses it).
fn resume_point(id: &str) -> Option<(&str, i64)> {
    let (store_id, revision) = id.rsplit_once(':')?;
    let revision = revision.parse::<i64>().ok().filter(|r| *r > 0)?;
    (!store_id.is_empty()).then_some((store_id, revision))
}

#[cfg(test)]
mod event_id_tests {
    use super::*;

    #[test]
    fn event_ids_name_the_store_and_revision_and_read_back() {
        let events = WatchResponse {
            revision: 42,
            ..Default::default()
        };
        let id = event_id("ab12", &events).unwrap();
        assert_eq!(id, "ab12:42");
        assert_eq!(resume_point(&id), Some(("ab12", 42)));
        let created = WatchResponse {
            created: true,
            ..events
        };
        assert_eq!(event_id("ab12", &created), None);
        for bad in ["", "42", ":42", "ab12:", "ab12:x", "ab12:-1"] {
            assert_eq!(resume_point(bad), None, "{bad:?}");
        }
    }
}
