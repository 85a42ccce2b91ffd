//! The watcher side of the [store](crate::store): a [`Watcher`]'s buffer of changes, its catching up with
//! the history, and the [`WatchGroup`] that wakes the task consuming it. See the
//! [store's documentation](crate::store) for how watchers behave.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use prost::Message as _;

use crate::store::{
    Batch, CATCH_UP_BYTES, KeySelector, Store, StoreError, event_key, event_revision, lock,
};

/// How many history events a catching-up watcher scans per lock acquisition, so that replaying a long
/// history never holds the store's lock for long.
const CATCH_UP_SCAN: usize = 4096;

/// The part of a watcher the store pushes into.
pub(crate) struct Shared {
    pub(crate) selectors: Vec<KeySelector>,
    /// Live changes below this revision are not delivered (a watcher may start in the future).
    pub(crate) start_revision: i64,
    pub(crate) queue: Mutex<Queue>,
    pub(crate) group: Arc<WatchGroup>,
    pub(crate) tag: u64,
    /// Whether this watcher's tag is on its group's ready list.
    pub(crate) flagged: AtomicBool,
}

pub(crate) struct Queue {
    pub(crate) mode: Mode,
    pub(crate) batches: VecDeque<Batch>,
    pub(crate) events: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Reading the history; the next revision to read.
    CatchingUp { next_revision: i64 },
    /// On the live list.
    Live,
    /// Cut off; the buffered batches are still delivered, then the error.
    FellBehind { resume_revision: i64 },
}

impl Shared {
    pub(crate) fn matches(&self, key: &str) -> bool {
        self.selectors.iter().any(|s| s.matches(key))
    }

    /// Puts this watcher on its group's ready list, unless it is there already.
    pub(crate) fn signal(self: &Arc<Self>) {
        if !self.flagged.swap(true, Ordering::AcqRel) {
            lock(&self.group.ready).push_back((self.tag, self.clone()));
            self.group.notify.notify_one();
        }
    }
}

/// Wakes the one task that consumes a set of watchers, and tells it which of them may have something.
pub struct WatchGroup {
    ready: Mutex<VecDeque<(u64, Arc<Shared>)>>,
    notify: Notify,
}

impl fmt::Debug for WatchGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchGroup")
            .field("ready", &lock(&self.ready).len())
            .finish()
    }
}

impl WatchGroup {
    /// An empty group.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            ready: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
        })
    }

    /// Waits until a watcher of this group may have something, and answers its tag; call
    /// [`Watcher::try_next`] on it. Spurious reports are possible (the watcher then has nothing), lost ones
    /// are not. Cancel-safe.
    pub async fn ready(&self) -> u64 {
        loop {
            if let Some((tag, shared)) = lock(&self.ready).pop_front() {
                shared.flagged.store(false, Ordering::Release);
                return tag;
            }
            self.notify.notified().await;
        }
    }
}

/// A subscription to changes; see the [module documentation](crate::store). Dropping it unregisters it.
pub struct Watcher {
    pub(crate) store: Store,
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) created_revision: i64,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("id", &self.id)
            .field("tag", &self.shared.tag)
            .field("mode", &lock(&self.shared.queue).mode)
            .finish()
    }
}

impl Watcher {
    /// The store's revision when this watcher was created. Without a start revision, it reports the
    /// changes after this one.
    pub fn created_revision(&self) -> i64 {
        self.created_revision
    }

    /// The tag its group reports it under.
    pub fn tag(&self) -> u64 {
        self.shared.tag
    }

    /// Whether it follows live changes (it has caught up with the history, and has not fallen behind).
    pub fn is_live(&self) -> bool {
        lock(&self.shared.queue).mode == Mode::Live
    }

    /// Waits for the next events: whole changes, about `max_events` at most (one change is never split).
    /// Fails when the history it needs was compacted or it fell behind; after that it only fails.
    /// Cancel-safe.
    ///
    /// Only for watchers made by [`Store::watch`], whose group is their own.
    pub async fn next(&mut self, max_events: usize) -> Result<Batch, StoreError> {
        loop {
            if let Some(result) = self.try_next(max_events) {
                return result;
            }
            self.shared.group.ready().await;
        }
    }

    /// The next events, if there are any now; see [`Watcher::next`]. While catching up, one call reads a
    /// bounded part of the history and may find nothing there (`None`) yet have more to read: the watcher
    /// then reports itself ready to its group again.
    pub fn try_next(&mut self, max_events: usize) -> Option<Result<Batch, StoreError>> {
        let max_events = max_events.max(1);
        {
            let mut queue = lock(&self.shared.queue);
            if !matches!(queue.mode, Mode::CatchingUp { .. }) {
                let result = match queue.pop(max_events) {
                    Some(batch) => Some(Ok(batch)),
                    None => match queue.mode {
                        Mode::FellBehind { resume_revision } => Some(Err(StoreError::FellBehind {
                            resume_revision,
                            buffer_capacity: self.store.inner.config.watcher_buffer,
                        })),
                        _ => None,
                    },
                };
                // More to hand out: further batches, or the error that follows them.
                let more = matches!(result, Some(Ok(_)))
                    && (!queue.batches.is_empty() || matches!(queue.mode, Mode::FellBehind { .. }));
                drop(queue);
                if more {
                    self.shared.signal();
                }
                return result;
            }
        }
        self.catch_up(max_events)
    }

    /// Reads the next part of the history; joins the live watchers on reaching the end.
    fn catch_up(&mut self, max_events: usize) -> Option<Result<Batch, StoreError>> {
        let mut state = lock(&self.store.inner.state);
        let mut queue = lock(&self.shared.queue);
        let Mode::CatchingUp { next_revision } = queue.mode else {
            // Only this (exclusively borrowed) watcher leaves the catching-up mode.
            return None;
        };
        if next_revision < state.compact_revision {
            return Some(Err(StoreError::Compacted {
                compact_revision: state.compact_revision,
                requested_revision: next_revision,
                current_revision: state.revision,
            }));
        }
        let history = &state.history;
        let mut index = history.partition_point(|e| event_revision(e) < next_revision);
        let mut events = Vec::new();
        let mut scanned = 0;
        let mut bytes = 0;
        let mut last_revision = next_revision - 1;
        while let Some(event) = history.get(index) {
            let revision = event_revision(event);
            if revision != last_revision
                && (events.len() >= max_events
                    || scanned >= CATCH_UP_SCAN
                    || bytes >= CATCH_UP_BYTES)
            {
                break;
            }
            if self.shared.matches(event_key(event)) {
                bytes += event.encoded_len();
                events.push(event.clone());
            }
            scanned += 1;
            last_revision = revision;
            index += 1;
        }
        let batch_revision = events.last().map(|e| event_revision(e));
        if index >= history.len() {
            queue.mode = Mode::Live;
            drop(queue);
            state.live.insert(self.id, self.shared.clone());
        } else {
            queue.mode = Mode::CatchingUp {
                next_revision: last_revision + 1,
            };
            drop(queue);
            self.shared.signal();
        }
        batch_revision.map(|revision| Ok(Batch { revision, events }))
    }

    /// The revision up to which every matching change has been handed out, if nothing is waiting: what
    /// a progress notification may report. `None` while events are buffered or after the watcher ended.
    pub fn progress_revision(&self) -> Option<i64> {
        let state = lock(&self.store.inner.state);
        let queue = lock(&self.shared.queue);
        match queue.mode {
            Mode::Live if queue.batches.is_empty() => Some(state.revision),
            Mode::CatchingUp { next_revision } => Some(next_revision - 1),
            _ => None,
        }
    }
}

impl Queue {
    /// Takes whole batches, about `max_events` events at most (at least one batch).
    fn pop(&mut self, max_events: usize) -> Option<Batch> {
        let mut batch = self.batches.pop_front()?;
        while self
            .batches
            .front()
            .is_some_and(|next| batch.events.len() + next.events.len() <= max_events)
        {
            let next = self.batches.pop_front()?;
            batch.revision = next.revision;
            batch.events.extend(next.events);
        }
        self.events -= batch.events.len();
        Some(batch)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        lock(&self.store.inner.state).live.remove(&self.id);
        self.store.inner.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}
