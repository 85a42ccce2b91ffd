//! A revisioned key-value store with a bounded, compactable history and bounded watchers, kept in a
//! database file ([`Store::open`]) or in memory only ([`Store::in_memory`]).
//!
//! # Durability
//!
//! A store opened with [`Store::open`] keeps everything in a [redb](crate::persist) database in its data
//! directory: the keys, the bounded history with its compact revision, the revision, and the store's
//! identity. Every change is committed to the database, and the commit has reached the disk (`fsync`),
//! before the change is applied in memory, handed to watchers and acknowledged; so a `kill -9` (or a power
//! cut) loses no acknowledged write, and a restarted store goes on from the revision it had, with the
//! history it had (watchers may resume from any revision it still holds). Changes are serialised: one
//! commit at a time, in revision order; while a change waits for the disk, reads and watchers go on
//! (they see the change once it is committed). The working set (every key and the history) is also held in
//! memory, loaded when the store opens: reads, watchers catching up with the history and live fan-out
//! never touch the file. A store made by [`Store::in_memory`] has no file and loses everything when
//! dropped.
//!
//! # Identity
//!
//! Every store has an id ([`Store::id`]): 128 random bits, made when its database is created and kept
//! in it (an in-memory store makes a new one each time). A revision means something only together with
//! the store it belongs to: a client resuming a watch from a revision names the store it got that
//! revision from, and a server whose store has another id refuses the watch rather than replaying a
//! different history (see [`service`](crate::service)).
//!
//! # Revisions and history
//!
//! Every change (a put, or a delete that removed at least one key) gets the next revision, starting at 1;
//! all events of one change share it. The store keeps the most recent events, at most
//! [`StoreConfig::history_limit`] of them, always dropping whole changes. The *compact revision* is the
//! oldest revision whose events are still kept: a watcher may start at any revision at or above it, and one
//! that asks for an older revision fails with [`StoreError::Compacted`]. [`Store::compact`] raises the compact
//! revision by hand; trimming the history to its limit raises it as a matter of course.
//!
//! # Watchers
//!
//! [`Store::watch`] hands out a [`Watcher`]. A watcher with a start revision first *catches up*: it reads
//! the history from that revision in bounded chunks (at most [`CATCH_UP_BYTES`] or so, and only when its
//! consumer asks for the next one), without holding any buffer of its own, and joins the
//! live watchers when it has reached the present, under the same lock that commits changes, so nothing is
//! missed or seen twice. A live watcher gets each matching change pushed into its own buffer of at most
//! [`StoreConfig::watcher_buffer`] events (one change is always accepted into an empty buffer, however
//! large). When a change would overflow the buffer, the watcher *falls behind*: it is taken off the live
//! list at once (so it costs nothing more), the events already buffered are still delivered, and then
//! [`Watcher::next`] fails with [`StoreError::FellBehind`] naming the revision to resume from. Memory per
//! watcher is therefore bounded by its buffer, whatever the client does.
//!
//! Events are shared (`Arc`) between the history and every buffer, so a buffered event costs a pointer.
//!
//! Dropping a [`Watcher`] unregisters it; [`Store::stats`] counts the watchers alive, which shows that a
//! watch whose client went away has been freed.
//!
//! # Waking consumers
//!
//! Watchers are woken through a [`WatchGroup`]: one group serves one consumer task, however many watchers
//! it drives (the multiplexed `WatchStream` puts all of a stream's watches in one group and learns which of
//! them has something by [`WatchGroup::ready`]). A lone watcher made by [`Store::watch`] has a group of its
//! own, and [`Watcher::next`] waits on it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::error::StoreError;
use crate::history::{drop_history_below, trimmed_compact_revision};
pub(crate) use crate::history::{event_key, event_revision};
use crate::persist::{Change, Loaded, Persist, new_store_id};
use crate::proto::{Event, EventType, KeyValue};
use crate::watcher::{Mode, Queue, Shared};
pub use crate::watcher::{WatchGroup, Watcher};

/// About how many bytes of events (protobuf-encoded, whole changes) a watcher catching up with the
/// history hands out at a time. A watcher reads the next part of the history only when its consumer asks
/// for more, which a response stream does only when the transport has taken the previous message and has
/// room to send; with this bound, a client that replays a long history of large values but does not read
/// pins at most about this much (plus one change) per watch on the server.
pub const CATCH_UP_BYTES: usize = 64 * 1024;

/// Limits of a [`Store`].
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// How many events the history keeps at most (whole changes are dropped, oldest first). Default 10,000.
    pub history_limit: usize,
    /// How many events a live watcher may have waiting before it is cut off as fallen behind. Default 1,024.
    pub watcher_buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            history_limit: 10_000,
            watcher_buffer: 1_024,
        }
    }
}

/// Which keys a watcher follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySelector {
    /// Exactly this key.
    Key(String),
    /// Every key starting with this prefix (the empty prefix: every key).
    Prefix(String),
}

impl KeySelector {
    /// Whether `key` is selected.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            Self::Key(k) => k == key,
            Self::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// What a new watcher follows and from where.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// The keys to follow: an event is delivered if any selector matches its key (none: nothing matches).
    pub selectors: Vec<KeySelector>,
    /// Replay the history from this revision (inclusive) before following live changes; 0 follows only
    /// changes after the watcher is created.
    pub start_revision: i64,
}

/// A group of events handed out by a watcher: whole changes, in revision order.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The revision of the last event.
    pub revision: i64,
    /// The events (each carries its previous value, if any; callers strip it when not asked for).
    pub events: Vec<Arc<Event>>,
}

/// The result of [`Store::put`].
#[derive(Clone, Debug)]
pub struct PutOutcome {
    /// The revision of the change.
    pub revision: i64,
    /// The key's previous value, if it existed.
    pub prev_kv: Option<KeyValue>,
}

/// The result of [`Store::delete`].
#[derive(Clone, Debug)]
pub struct DeleteOutcome {
    /// The revision of the change, or the current revision if nothing was deleted.
    pub revision: i64,
    /// The deleted keys with their last values, in key order.
    pub deleted: Vec<KeyValue>,
}

/// The result of [`Store::range`].
#[derive(Clone, Debug)]
pub struct RangeOutcome {
    /// The revision the read reflects.
    pub revision: i64,
    /// The keys found, in key order (at most `limit`).
    pub kvs: Vec<KeyValue>,
    /// How many keys matched in all.
    pub count: usize,
}

/// A snapshot of the store's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// The current revision (0 before the first change).
    pub revision: i64,
    /// The oldest revision whose events are kept.
    pub compact_revision: i64,
    /// How many keys the store holds.
    pub keys: usize,
    /// How many events the history holds.
    pub history_events: usize,
    /// How many [`Watcher`]s exist (dropping one frees it).
    pub watchers: usize,
    /// How many watchers receive live changes (the rest are catching up or have ended).
    pub live_watchers: usize,
    /// How many watchers have been cut off for falling behind, since the store was made.
    pub watchers_fell_behind: u64,
    /// How many events are waiting in live watchers' buffers, in all.
    pub buffered_events: usize,
}

/// The store. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) config: StoreConfig,
    /// Held by a change from start to end, so that changes (and their commits to disk) happen one at a
    /// time, in revision order, while the state's lock is free during the disk's wait.
    writing: Mutex<()>,
    store_id: String,
    /// The database, for a durable store.
    persist: Option<Persist>,
    next_watcher_id: AtomicU64,
    pub(crate) watchers: AtomicUsize,
    fell_behind: AtomicU64,
}

pub(crate) struct State {
    pub(crate) revision: i64,
    pub(crate) compact_revision: i64,
    pub(crate) data: BTreeMap<String, KeyValue>,
    /// Events in revision order; each event's revision is its `kv.mod_revision`.
    pub(crate) history: VecDeque<Arc<Event>>,
    /// Watchers receiving live changes, by watcher id.
    pub(crate) live: HashMap<u64, Arc<Shared>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding these locks; recover the data rather than propagate a poison.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Store {
    fn default() -> Self {
        Self::in_memory(StoreConfig::default())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.inner.store_id)
            .field("durable", &self.is_durable())
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Store {
    /// An empty store at revision 0, in memory only: see [`Store::in_memory`].
    pub fn new(config: StoreConfig) -> Self {
        Self::in_memory(config)
    }

    /// An empty store at revision 0, in memory only, with a new random id: everything is lost when the
    /// last clone is dropped (tests, benchmarks, throwaway servers).
    pub fn in_memory(config: StoreConfig) -> Self {
        let loaded = Loaded {
            store_id: new_store_id(),
            revision: 0,
            compact_revision: 1,
            data: BTreeMap::new(),
            history: VecDeque::new(),
        };
        Self::from_loaded(config, loaded, None)
    }

    /// The durable store kept in the directory `dir` (see [Durability](self#durability)): created there,
    /// empty with a new id, if the directory holds none yet, or else opened as it was left, with its id,
    /// its keys, its revision and its history. If the history is longer than `config` allows now, its
    /// oldest changes are compacted away. Fails if the database cannot be created, read or locked (another
    /// process has it open).
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self, StoreError> {
        let (persist, loaded) = Persist::open(dir.as_ref())?;
        let store = Self::from_loaded(config, loaded, Some(persist));
        {
            let mut state = lock(&store.inner.state);
            let compact = trimmed_compact_revision(&state, &[], store.inner.config.history_limit);
            if compact > state.compact_revision
                && let Some(persist) = &store.inner.persist
            {
                persist.compact(compact)?;
                drop_history_below(&mut state, compact);
            }
        }
        Ok(store)
    }

    fn from_loaded(config: StoreConfig, loaded: Loaded, persist: Option<Persist>) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    revision: loaded.revision,
                    compact_revision: loaded.compact_revision,
                    data: loaded.data,
                    history: loaded.history,
                    live: HashMap::new(),
                }),
                config: StoreConfig {
                    watcher_buffer: config.watcher_buffer.max(1),
                    ..config
                },
                writing: Mutex::new(()),
                store_id: loaded.store_id,
                persist,
                next_watcher_id: AtomicU64::new(1),
                watchers: AtomicUsize::new(0),
                fell_behind: AtomicU64::new(0),
            }),
        }
    }

    /// The store's identity: 32 hex digits, made when its database was created (see
    /// [Identity](self#identity)).
    pub fn id(&self) -> &str {
        &self.inner.store_id
    }

    /// Whether changes are kept in a database ([`Store::open`]) rather than in memory only. Changes to a
    /// durable store wait for the disk, so async callers should make them off the runtime's threads
    /// (`spawn_blocking`).
    pub fn is_durable(&self) -> bool {
        self.inner.persist.is_some()
    }

    /// The limits this store was made with.
    pub fn config(&self) -> StoreConfig {
        self.inner.config
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        lock(&self.inner.state).revision
    }

    /// The store's counters.
    pub fn stats(&self) -> StoreStats {
        let state = lock(&self.inner.state);
        StoreStats {
            revision: state.revision,
            compact_revision: state.compact_revision,
            keys: state.data.len(),
            history_events: state.history.len(),
            watchers: self.inner.watchers.load(Ordering::SeqCst),
            live_watchers: state.live.len(),
            watchers_fell_behind: self.inner.fell_behind.load(Ordering::SeqCst),
            buffered_events: state.live.values().map(|s| lock(&s.queue).events).sum(),
        }
    }

    /// Sets `key` to `value` as a new change; for a durable store, it is on disk when this returns.
    pub fn put(&self, key: &str, value: &str) -> Result<PutOutcome, StoreError> {
        if key.is_empty() {
            return Err(StoreError::InvalidArgument(
                "the key must not be empty".into(),
            ));
        }
        let _writing = lock(&self.inner.writing);
        let state = lock(&self.inner.state);
        let revision = state.revision + 1;
        let prev = state.data.get(key).cloned();
        let kv = KeyValue {
            key: key.to_owned(),
            value: value.to_owned(),
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
        };
        let events = vec![Arc::new(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv.clone()),
            prev_kv: prev.clone(),
        })];
        let mut state = self.persist(state, revision, std::slice::from_ref(&kv), &[], &events)?;
        state.data.insert(key.to_owned(), kv);
        self.commit(&mut state, revision, events);
        Ok(PutOutcome {
            revision,
            prev_kv: prev,
        })
    }

    /// Deletes `key`, or every key starting with it if `prefix`, as one change. Deleting nothing makes no
    /// change. For a durable store, the change is on disk when this returns.
    pub fn delete(&self, key: &str, prefix: bool) -> Result<DeleteOutcome, StoreError> {
        let _writing = lock(&self.inner.writing);
        let state = lock(&self.inner.state);
        let keys: Vec<String> = if prefix {
            state
                .data
                .range::<str, _>((Bound::Included(key), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(key))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            state
                .data
                .get_key_value(key)
                .map(|(k, _)| k.clone())
                .into_iter()
                .collect()
        };
        if keys.is_empty() {
            return Ok(DeleteOutcome {
                revision: state.revision,
                deleted: Vec::new(),
            });
        }
        let revision = state.revision + 1;
        let mut deleted = Vec::with_capacity(keys.len());
        let mut events = Vec::with_capacity(keys.len());
        for key in &keys {
            let Some(prev) = state.data.get(key).cloned() else {
                continue;
            };
            let key = key.clone();
            events.push(Arc::new(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key,
                    value: String::new(),
                    create_revision: 0,
                    mod_revision: revision,
                    version: 0,
                }),
                prev_kv: Some(prev.clone()),
            }));
            deleted.push(prev);
        }
        let mut state = self.persist(state, revision, &[], &keys, &events)?;
        for key in &keys {
            state.data.remove(key);
        }
        self.commit(&mut state, revision, events);
        Ok(DeleteOutcome { revision, deleted })
    }

    /// Reads `key`, or every key starting with it if `prefix`, in key order; at most `limit` keys
    /// (0: all).
    pub fn range(&self, key: &str, prefix: bool, limit: usize) -> RangeOutcome {
        let state = lock(&self.inner.state);
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut kvs = Vec::new();
        let mut count = 0;
        if prefix {
            for (_, kv) in state
                .data
                .range::<str, _>((Bound::Included(key), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(key))
            {
                count += 1;
                if kvs.len() < limit {
                    kvs.push(kv.clone());
                }
            }
        } else if let Some(kv) = state.data.get(key) {
            count = 1;
            kvs.push(kv.clone());
        }
        RangeOutcome {
            revision: state.revision,
            kvs,
            count,
        }
    }

    /// Drops the events of revisions below `revision` (0: below the current revision). Compacting below
    /// the compact revision changes nothing. Answers the compact revision and the current revision.
    pub fn compact(&self, revision: i64) -> Result<(i64, i64), StoreError> {
        let _writing = lock(&self.inner.writing);
        let mut state = lock(&self.inner.state);
        let target = if revision == 0 {
            state.revision
        } else {
            revision
        };
        if target < 0 || target > state.revision {
            return Err(StoreError::InvalidArgument(format!(
                "cannot compact at revision {target}: the current revision is {}",
                state.revision
            )));
        }
        if target > state.compact_revision {
            if let Some(persist) = &self.inner.persist {
                drop(state);
                persist.compact(target)?;
                state = lock(&self.inner.state);
            }
            drop_history_below(&mut state, target);
        }
        Ok((state.compact_revision, state.revision))
    }

    /// A watcher with a wake-up group of its own; read it with [`Watcher::next`].
    pub fn watch(&self, options: WatchOptions) -> Result<Watcher, StoreError> {
        self.watch_in(&WatchGroup::new(), 0, options)
    }

    /// A watcher woken through `group`, which reports it ready under `tag` (see [`WatchGroup::ready`]).
    pub fn watch_in(
        &self,
        group: &Arc<WatchGroup>,
        tag: u64,
        options: WatchOptions,
    ) -> Result<Watcher, StoreError> {
        if options.start_revision < 0 {
            return Err(StoreError::InvalidArgument(format!(
                "the start revision must not be negative (got {})",
                options.start_revision
            )));
        }
        let mut state = lock(&self.inner.state);
        if options.start_revision > 0 && options.start_revision < state.compact_revision {
            return Err(StoreError::Compacted {
                compact_revision: state.compact_revision,
                requested_revision: options.start_revision,
                current_revision: state.revision,
            });
        }
        let id = self.inner.next_watcher_id.fetch_add(1, Ordering::Relaxed);
        let mode = if options.start_revision == 0 {
            Mode::Live
        } else {
            Mode::CatchingUp {
                next_revision: options.start_revision,
            }
        };
        let shared = Arc::new(Shared {
            selectors: options.selectors,
            start_revision: options.start_revision,
            queue: Mutex::new(Queue {
                mode,
                batches: VecDeque::new(),
                events: 0,
            }),
            group: group.clone(),
            tag,
            flagged: AtomicBool::new(false),
        });
        match mode {
            Mode::Live => {
                state.live.insert(id, shared.clone());
            }
            // Catching up is driven by the consumer; get it going.
            _ => shared.signal(),
        }
        self.inner.watchers.fetch_add(1, Ordering::SeqCst);
        Ok(Watcher {
            store: self.clone(),
            shared,
            id,
            created_revision: state.revision,
        })
    }

    /// Writes a change to the database (if any) and waits for the disk, before anything in memory
    /// changes: the change is made everywhere or nowhere.
    ///
    /// The disk is waited for without the state's lock (the caller holds `writing`, which keeps other
    /// changes out), so that reads, watchers catching up and new watches go on meanwhile; answers the lock
    /// taken again.
    fn persist<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        revision: i64,
        puts: &[KeyValue],
        removes: &[String],
        events: &[Arc<Event>],
    ) -> Result<MutexGuard<'a, State>, StoreError> {
        let Some(persist) = &self.inner.persist else {
            return Ok(state);
        };
        let change = Change {
            revision,
            compact_revision: trimmed_compact_revision(
                &state,
                events,
                self.inner.config.history_limit,
            ),
            puts,
            removes,
            events,
        };
        drop(state);
        persist.write(&change)?;
        Ok(lock(&self.inner.state))
    }

    /// Records a change in memory: history, trimming, and delivery to live watchers.
    fn commit(&self, state: &mut State, revision: i64, events: Vec<Arc<Event>>) {
        let compact = trimmed_compact_revision(state, &events, self.inner.config.history_limit);
        state.revision = revision;
        state.history.extend(events.iter().cloned());
        drop_history_below(state, compact);
        let capacity = self.inner.config.watcher_buffer;
        let mut cut = Vec::new();
        for (&id, shared) in &state.live {
            if revision < shared.start_revision {
                continue;
            }
            let matching: Vec<Arc<Event>> = events
                .iter()
                .filter(|e| shared.matches(event_key(e)))
                .cloned()
                .collect();
            if matching.is_empty() {
                continue;
            }
            let mut queue = lock(&shared.queue);
            if queue.events > 0 && queue.events + matching.len() > capacity {
                queue.mode = Mode::FellBehind {
                    resume_revision: revision,
                };
                cut.push(id);
            } else {
                queue.events += matching.len();
                queue.batches.push_back(Batch {
                    revision,
                    events: matching,
                });
            }
            drop(queue);
            shared.signal();
        }
        for id in cut {
            state.live.remove(&id);
            self.inner.fell_behind.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<KeySelector> {
        vec![KeySelector::Prefix(String::new())]
    }

    fn keys(batch: &Batch) -> Vec<&str> {
        batch.events.iter().map(|e| event_key(e)).collect()
    }

    #[test]
    fn revisions_count_changes() {
        let store = Store::default();
        assert_eq!(store.put("a", "1").unwrap().revision, 1);
        assert_eq!(store.put("a", "2").unwrap().prev_kv.unwrap().value, "1");
        assert_eq!(store.delete("missing", false).unwrap().revision, 2);
        store.put("b/1", "x").unwrap();
        store.put("b/2", "y").unwrap();
        let deleted = store.delete("b/", true).unwrap();
        assert_eq!((deleted.revision, deleted.deleted.len()), (5, 2));
        let range = store.range("", true, 0);
        assert_eq!((range.revision, range.count), (5, 1));
        let kv = &range.kvs[0];
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (1, 2, 2));
    }

    #[test]
    fn replay_then_live_without_gaps() {
        let store = Store::default();
        for i in 0..10 {
            store.put(&format!("k{i}"), "v").unwrap();
        }
        let mut watcher = store
            .watch(WatchOptions {
                selectors: all(),
                start_revision: 4,
            })
            .unwrap();
        let batch = watcher.try_next(3).unwrap().unwrap();
        assert_eq!(keys(&batch), ["k3", "k4", "k5"]);
        store.put("k10", "v").unwrap();
        let mut seen = Vec::new();
        while let Some(result) = watcher.try_next(100) {
            seen.extend(keys(&result.unwrap()).iter().map(|s| s.to_string()));
        }
        assert_eq!(seen, ["k6", "k7", "k8", "k9", "k10"]);
        assert!(watcher.is_live());
        store.put("k11", "v").unwrap();
        assert_eq!(keys(&watcher.try_next(100).unwrap().unwrap()), ["k11"]);
        assert_eq!(watcher.progress_revision(), Some(12));
    }

    #[test]
    fn history_limit_moves_the_compact_revision() {
        let store = Store::new(StoreConfig {
            history_limit: 3,
            watcher_buffer: 8,
        });
        for i in 0..5 {
            store.put(&format!("k{i}"), "v").unwrap();
        }
        let stats = store.stats();
        assert_eq!((stats.history_events, stats.compact_revision), (3, 3));
        let error = store
            .watch(WatchOptions {
                selectors: all(),
                start_revision: 2,
            })
            .unwrap_err();
        assert_eq!(
            error,
            StoreError::Compacted {
                compact_revision: 3,
                requested_revision: 2,
                current_revision: 5
            }
        );
        assert_eq!(store.compact(5).unwrap(), (5, 5));
        assert_eq!(store.stats().history_events, 1);
        assert!(store.compact(6).is_err());
    }

    #[test]
    fn slow_watcher_is_cut_off_after_its_buffer() {
        let store = Store::new(StoreConfig {
            history_limit: 100,
            watcher_buffer: 4,
        });
        let mut watcher = store
            .watch(WatchOptions {
                selectors: all(),
                start_revision: 0,
            })
            .unwrap();
        for i in 0..10 {
            store.put(&format!("k{i}"), "v").unwrap();
        }
        let stats = store.stats();
        assert_eq!((stats.live_watchers, stats.watchers_fell_behind), (0, 1));
        let batch = watcher.try_next(100).unwrap().unwrap();
        assert_eq!(keys(&batch), ["k0", "k1", "k2", "k3"]);
        assert_eq!(
            watcher.try_next(100).unwrap().unwrap_err(),
            StoreError::FellBehind {
                resume_revision: 5,
                buffer_capacity: 4
            }
        );
        assert_eq!(store.stats().watchers, 1);
        drop(watcher);
        assert_eq!(store.stats().watchers, 0);
    }

    #[tokio::test]
    async fn a_group_reports_each_watcher_until_it_has_handed_out_everything() {
        let store = Store::new(StoreConfig {
            history_limit: 100,
            watcher_buffer: 2,
        });
        store.put("old", "v").unwrap();
        let group = WatchGroup::new();
        let options = |start_revision| WatchOptions {
            selectors: all(),
            start_revision,
        };
        let mut live = store.watch_in(&group, 1, options(0)).unwrap();
        let mut replaying = store.watch_in(&group, 2, options(1)).unwrap();
        let ready = || tokio::time::timeout(std::time::Duration::from_secs(5), group.ready());
        assert_eq!(ready().await.unwrap(), 2, "catching up starts by itself");
        assert_eq!(keys(&replaying.try_next(10).unwrap().unwrap()), ["old"]);
        assert!(replaying.is_live());
        for key in ["a", "b", "c"] {
            store.put(key, "v").unwrap();
        }
        // Both buffers hold 2 events, so both watchers fall behind at "c" (revision 4).
        let mut handed_out = HashMap::<u64, Vec<String>>::new();
        let mut errors = HashMap::new();
        while errors.len() < 2 {
            let tag = ready().await.expect("a ready watcher");
            let watcher = if tag == 1 { &mut live } else { &mut replaying };
            match watcher.try_next(1) {
                Some(Ok(batch)) => handed_out
                    .entry(tag)
                    .or_default()
                    .extend(keys(&batch).iter().map(|k| k.to_string())),
                Some(Err(error)) => {
                    errors.insert(tag, error);
                }
                None => {}
            }
        }
        assert_eq!(handed_out[&1], ["a", "b"]);
        assert_eq!(handed_out[&2], ["a", "b"]);
        assert!(matches!(
            errors[&1],
            StoreError::FellBehind {
                resume_revision: 4,
                ..
            }
        ));
    }

    #[test]
    fn selectors_filter_events() {
        let store = Store::default();
        let mut watcher = store
            .watch(WatchOptions {
                selectors: vec![
                    KeySelector::Key("a".into()),
                    KeySelector::Prefix("b/".into()),
                ],
                start_revision: 0,
            })
            .unwrap();
        for key in ["a", "ab", "b", "b/1", "c"] {
            store.put(key, "v").unwrap();
        }
        assert_eq!(keys(&watcher.try_next(100).unwrap().unwrap()), ["a", "b/1"]);
    }
}
