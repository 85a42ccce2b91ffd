//! The state machine of one multiplexed `WatchStream` call: many watches created and cancelled by id on
//! one bidi stream, all woken through one [`WatchGroup`], their responses produced one at a time as the
//! transport asks for them. See [`service`](crate::service) for the errors it reports.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use trident::{CallContext, Error, Streaming};

use crate::proto::watch_stream_request::Request as StreamRequest;
use crate::proto::*;
use crate::service::{
    MAX_EVENTS_PER_RESPONSE, MAX_WATCHES_PER_STREAM, ended, events_response, invalid,
    progress_interval, progress_response, shutting_down, sleep_until_opt, store_mismatch,
    watch_options,
};
use crate::store::{Store, StoreError, WatchGroup, Watcher};

/// One watch on a `WatchStream`.
pub(crate) struct StreamWatch {
    watcher: Watcher,
    prev_kv: bool,
    interval: Option<Duration>,
    due: Option<Instant>,
}

/// The state of one `WatchStream` call.
pub(crate) struct MultiWatch {
    requests: Streaming<WatchStreamRequest>,
    context: CallContext,
    store: Store,
    group: Arc<WatchGroup>,
    watches: HashMap<i64, StreamWatch>,
    /// Progress notifications due, by time.
    timers: BTreeSet<(Instant, i64)>,
    /// Responses decided on but not yet sent.
    outbox: VecDeque<Result<WatchResponse, Error>>,
    next_id: i64,
    done: bool,
}

impl MultiWatch {
    /// The state of a new `WatchStream` call reading `requests`.
    pub(crate) fn new(
        requests: Streaming<WatchStreamRequest>,
        context: CallContext,
        store: Store,
    ) -> Self {
        Self {
            requests,
            context,
            store,
            group: WatchGroup::new(),
            watches: HashMap::new(),
            timers: BTreeSet::new(),
            outbox: VecDeque::new(),
            next_id: 1,
            done: false,
        }
    }

    /// The next response; `None` ends the stream.
    pub(crate) async fn next_response(&mut self) -> Option<Result<WatchResponse, Error>> {
        loop {
            if let Some(response) = self.outbox.pop_front() {
                if response.is_err() {
                    self.done = true;
                    self.outbox.clear();
                }
                return Some(response);
            }
            if self.done {
                return None;
            }
            let next_due = self.timers.first().map(|(due, _)| *due);
            tokio::select! {
                biased;
                () = self.context.canceled() => {
                    // The caller went away or the deadline passed: stop, freeing every watcher.
                    self.done = true;
                    self.outbox.clear();
                    self.outbox.extend(ended(&self.context).map(Err));
                }
                () = self.context.draining() => {
                    // The server is shutting down: end now (the client resumes each watch).
                    self.done = true;
                    self.outbox.clear();
                    self.outbox.push_back(Err(shutting_down()));
                }
                request = self.requests.message() => match request {
                    Ok(Some(request)) => self.handle_request(request),
                    // The client closed its side: the stream ends.
                    Ok(None) => self.done = true,
                    Err(error) => self.outbox.push_back(Err(error)),
                },
                tag = self.group.ready() => self.handle_ready(tag as i64),
                () = sleep_until_opt(next_due), if next_due.is_some() => self.handle_timers(),
            }
        }
    }

    fn send(&mut self, response: WatchResponse) {
        let id = response.watch_id;
        if let Some(watch) = self.watches.get_mut(&id) {
            if let Some(due) = watch.due.take() {
                self.timers.remove(&(due, id));
            }
            if let Some(interval) = watch.interval {
                let due = Instant::now() + interval;
                watch.due = Some(due);
                self.timers.insert((due, id));
            }
        }
        self.outbox.push_back(Ok(response));
    }

    fn cancel(&mut self, watch_id: i64, reason: CancelReason, message: String) -> WatchResponse {
        if let Some(watch) = self.watches.remove(&watch_id)
            && let Some(due) = watch.due
        {
            self.timers.remove(&(due, watch_id));
        }
        WatchResponse {
            watch_id,
            revision: self.store.revision(),
            canceled: true,
            cancel_reason: reason as i32,
            cancel_message: message,
            ..Default::default()
        }
    }

    fn handle_request(&mut self, request: WatchStreamRequest) {
        match request.request {
            Some(StreamRequest::Create(create)) => self.create(create),
            Some(StreamRequest::Cancel(cancel)) => {
                let id = cancel.watch_id;
                let response = if self.watches.contains_key(&id) {
                    self.cancel(
                        id,
                        CancelReason::Requested,
                        "cancelled by the client".into(),
                    )
                } else {
                    self.cancel(
                        id,
                        CancelReason::Invalid,
                        format!("no watch {id} on this stream"),
                    )
                };
                self.outbox.push_back(Ok(response));
            }
            Some(StreamRequest::Progress(_)) => {
                let mut ids: Vec<i64> = self.watches.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    if let Some(revision) = self.watches[&id].watcher.progress_revision() {
                        self.send(progress_response(id, revision));
                    }
                }
            }
            None => self.outbox.push_back(Err(invalid(
                "a WatchStream request must be create, cancel or progress",
            ))),
        }
    }

    fn create(&mut self, create: WatchRequest) {
        let requested = create.watch_id;
        let refusal = |this: &Self, message: String| WatchResponse {
            watch_id: requested,
            revision: this.store.revision(),
            canceled: true,
            cancel_reason: CancelReason::Invalid as i32,
            cancel_message: message,
            ..Default::default()
        };
        let invalid_create = |this: &mut Self, message: String| {
            let response = refusal(this, message);
            this.outbox.push_back(Ok(response));
        };
        if requested < 0 {
            return invalid_create(self, "watch_id must not be negative".into());
        }
        if self.watches.contains_key(&requested) {
            return invalid_create(self, format!("watch {requested} already exists"));
        }
        if self.watches.len() >= MAX_WATCHES_PER_STREAM {
            return invalid_create(
                self,
                format!("at most {MAX_WATCHES_PER_STREAM} watches per stream"),
            );
        }
        let options = match watch_options(&create) {
            Ok(options) => options,
            Err(error) => return invalid_create(self, error.message().to_owned()),
        };
        if let Some(message) = store_mismatch(self.store.id(), &create.store_id) {
            let mut response = refusal(self, message);
            response.cancel_reason = CancelReason::StoreMismatch as i32;
            self.outbox.push_back(Ok(response));
            return;
        }
        let id = if requested == 0 {
            while self.watches.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        } else {
            requested
        };
        let watcher = match self.store.watch_in(&self.group, id as u64, options) {
            Ok(watcher) => watcher,
            Err(StoreError::Compacted {
                compact_revision,
                requested_revision,
                current_revision,
            }) => {
                let error = StoreError::Compacted {
                    compact_revision,
                    requested_revision,
                    current_revision,
                };
                let mut response = self.cancel(id, CancelReason::Compacted, error.to_string());
                response.compact_revision = compact_revision;
                self.outbox.push_back(Ok(response));
                return;
            }
            Err(error) => return invalid_create(self, error.to_string()),
        };
        let created = WatchResponse {
            watch_id: id,
            revision: watcher.created_revision(),
            created: true,
            store_id: self.store.id().to_owned(),
            ..Default::default()
        };
        self.watches.insert(
            id,
            StreamWatch {
                watcher,
                prev_kv: create.prev_kv,
                interval: progress_interval(&create),
                due: None,
            },
        );
        self.send(created);
    }

    fn handle_ready(&mut self, id: i64) {
        let Some(watch) = self.watches.get_mut(&id) else {
            return; // A watch cancelled since it was reported.
        };
        match watch.watcher.try_next(MAX_EVENTS_PER_RESPONSE) {
            None => {}
            Some(Ok(batch)) => {
                let response = events_response(id, &batch, watch.prev_kv);
                self.send(response);
            }
            Some(Err(error)) => {
                let message = error.to_string();
                let response = match error {
                    StoreError::Compacted {
                        compact_revision, ..
                    } => {
                        let mut r = self.cancel(id, CancelReason::Compacted, message);
                        r.compact_revision = compact_revision;
                        r
                    }
                    StoreError::FellBehind {
                        resume_revision, ..
                    } => {
                        let mut r = self.cancel(id, CancelReason::FellBehind, message);
                        r.resume_revision = resume_revision;
                        r
                    }
                    StoreError::InvalidArgument(_) | StoreError::Storage(_) => {
                        self.cancel(id, CancelReason::Invalid, message)
                    }
                };
                self.outbox.push_back(Ok(response));
            }
        }
    }

    fn handle_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(due, id)) = self.timers.first() {
            if due > now {
                break;
            }
            self.timers.remove(&(due, id));
            let Some(watch) = self.watches.get_mut(&id) else {
                continue;
            };
            watch.due = None;
            match watch.watcher.progress_revision() {
                Some(revision) => self.send(progress_response(id, revision)),
                None => {
                    // Events are waiting; they will be sent (and re-arm the timer) instead.
                    if let Some(interval) = watch.interval {
                        let due = now + interval;
                        watch.due = Some(due);
                        self.timers.insert((due, id));
                    }
                }
            }
        }
    }
}
