//! The durable copy of a [store](crate::store): a [redb](https://www.redb.org) database file that holds
//! the keys, the bounded history, the revisions and the store's identity.
//!
//! # Why redb
//!
//! redb is an embedded key-value database written in Rust alone (no C library, no build script to
//! compile one, nothing to run beside the server), actively maintained, with ACID transactions whose
//! commit, at its default durability, returns only after the data has reached the disk (`fsync`), and a
//! file format built to survive a crash at any point (copy-on-write B-trees with a checksummed commit
//! slot). That is exactly what the store needs: one transaction per change, committed before the change
//! is acknowledged, so that a `kill -9` or a power cut loses no acknowledged write. A SQL engine or an
//! LSM tree with its own compaction threads would be more machinery than a watch store needs.
//!
//! # Layout
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"store_id"`, `"revision"`, `"compact_revision"` | the id's text, or an `i64` in little-endian bytes |
//! | `kv` | the key | the [`KeyValue`], protobuf-encoded |
//! | `history` | the revision of a change | its [`Event`]s, protobuf-encoded, each length-delimited |
//!
//! The store keeps its working set (every key and the bounded history) in memory as well, loaded by
//! [`Store::open`](crate::store::Store::open): reads, watchers catching up and live fan-out never touch the
//! file; only changes do.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use prost::Message as _;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::proto::{Event, KeyValue};
use crate::store::{StoreError, event_revision};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const HISTORY: TableDefinition<i64, &[u8]> = TableDefinition::new("history");

const STORE_ID: &str = "store_id";
const REVISION: &str = "revision";
const COMPACT_REVISION: &str = "compact_revision";

/// The name of the database file inside a store's data directory.
pub const DATABASE_FILE: &str = "watch.redb";

/// An open database.
pub(crate) struct Persist {
    db: Database,
}

/// What a database held when it was opened.
pub(crate) struct Loaded {
    pub(crate) store_id: String,
    pub(crate) revision: i64,
    pub(crate) compact_revision: i64,
    pub(crate) data: BTreeMap<String, KeyValue>,
    pub(crate) history: VecDeque<Arc<Event>>,
}

/// One change to write: everything is committed in one transaction, or nothing.
pub(crate) struct Change<'a> {
    /// The store's revision after the change.
    pub(crate) revision: i64,
    /// The compact revision after the change; the history below it is dropped.
    pub(crate) compact_revision: i64,
    /// Keys set (new values).
    pub(crate) puts: &'a [KeyValue],
    /// Keys removed.
    pub(crate) removes: &'a [String],
    /// Events added to the history, all of `revision`.
    pub(crate) events: &'a [Arc<Event>],
}

fn storage(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(format!("{context}: {error}"))
}

fn int(bytes: &[u8]) -> Result<i64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| storage("reading the database", "a revision is not 8 bytes"))?;
    Ok(i64::from_le_bytes(bytes))
}

/// A new random store id: 128 bits from the operating system, as 32 hex digits.
pub(crate) fn new_store_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the OS (very unusual): fall back on std's randomly seeded hasher keys and
        // the time, which still differ from one store to the next.
        use std::hash::{BuildHasher as _, Hasher as _};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(nanos);
            hasher.write_usize(i);
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Persist {
    /// Opens the database in `dir` (creating the directory and the database if needed) and loads it. A new
    /// database gets a new store id and starts at revision 0.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Loaded), StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| storage(&format!("creating {}", dir.display()), e))?;
        let file = dir.join(DATABASE_FILE);
        let db = Database::create(&file)
            .map_err(|e| storage(&format!("opening {}", file.display()), e))?;
        let persist = Self { db };
        persist.initialize()?;
        let loaded = persist.load()?;
        Ok((persist, loaded))
    }

    /// Creates the tables and the store id of a new database (and nothing in an existing one).
    fn initialize(&self) -> Result<(), StoreError> {
        let context = "initializing the database";
        let txn = self.db.begin_write().map_err(|e| storage(context, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| storage(context, e))?;
            if meta
                .get(STORE_ID)
                .map_err(|e| storage(context, e))?
                .is_none()
            {
                meta.insert(STORE_ID, new_store_id().as_bytes())
                    .map_err(|e| storage(context, e))?;
                meta.insert(REVISION, 0i64.to_le_bytes().as_slice())
                    .map_err(|e| storage(context, e))?;
                meta.insert(COMPACT_REVISION, 1i64.to_le_bytes().as_slice())
                    .map_err(|e| storage(context, e))?;
            }
            txn.open_table(KV).map_err(|e| storage(context, e))?;
            txn.open_table(HISTORY).map_err(|e| storage(context, e))?;
        }
        txn.commit().map_err(|e| storage(context, e))
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let context = "reading the database";
        let txn = self.db.begin_read().map_err(|e| storage(context, e))?;
        let meta = txn.open_table(META).map_err(|e| storage(context, e))?;
        let get = |name: &str| -> Result<Vec<u8>, StoreError> {
            meta.get(name)
                .map_err(|e| storage(context, e))?
                .map(|v| v.value().to_vec())
                .ok_or_else(|| storage(context, format!("no {name} in the meta table")))
        };
        let store_id = String::from_utf8(get(STORE_ID)?)
            .map_err(|_| storage(context, "the store id is not text"))?;
        let revision = int(&get(REVISION)?)?;
        let compact_revision = int(&get(COMPACT_REVISION)?)?;
        let mut data = BTreeMap::new();
        let kv = txn.open_table(KV).map_err(|e| storage(context, e))?;
        for entry in kv.iter().map_err(|e| storage(context, e))? {
            let (key, value) = entry.map_err(|e| storage(context, e))?;
            let kv = KeyValue::decode(value.value()).map_err(|e| storage(context, e))?;
            data.insert(key.value().to_owned(), kv);
        }
        let mut history = VecDeque::new();
        let table = txn.open_table(HISTORY).map_err(|e| storage(context, e))?;
        for entry in table.iter().map_err(|e| storage(context, e))? {
            let (_, value) = entry.map_err(|e| storage(context, e))?;
            let mut events = value.value();
            while !events.is_empty() {
                let event =
                    Event::decode_length_delimited(&mut events).map_err(|e| storage(context, e))?;
                history.push_back(Arc::new(event));
            }
        }
        Ok(Loaded {
            store_id,
            revision,
            compact_revision,
            data,
            history,
        })
    }

    /// Writes one change and commits it durably (the commit returns once the data is on disk).
    pub(crate) fn write(&self, change: &Change<'_>) -> Result<(), StoreError> {
        let context = "writing to the database";
        let txn = self.db.begin_write().map_err(|e| storage(context, e))?;
        {
            let mut kv = txn.open_table(KV).map_err(|e| storage(context, e))?;
            for put in change.puts {
                kv.insert(put.key.as_str(), put.encode_to_vec().as_slice())
                    .map_err(|e| storage(context, e))?;
            }
            for key in change.removes {
                kv.remove(key.as_str()).map_err(|e| storage(context, e))?;
            }
            let mut history = txn.open_table(HISTORY).map_err(|e| storage(context, e))?;
            if !change.events.is_empty() {
                let mut events = Vec::new();
                for event in change.events {
                    debug_assert_eq!(event_revision(event), change.revision);
                    event
                        .encode_length_delimited(&mut events)
                        .map_err(|e| storage(context, e))?;
                }
                history
                    .insert(change.revision, events.as_slice())
                    .map_err(|e| storage(context, e))?;
            }
            drop_history_below(&mut history, change.compact_revision)
                .map_err(|e| storage(context, e))?;
            let mut meta = txn.open_table(META).map_err(|e| storage(context, e))?;
            meta.insert(REVISION, change.revision.to_le_bytes().as_slice())
                .map_err(|e| storage(context, e))?;
            meta.insert(
                COMPACT_REVISION,
                change.compact_revision.to_le_bytes().as_slice(),
            )
            .map_err(|e| storage(context, e))?;
        }
        txn.commit().map_err(|e| storage(context, e))
    }

    /// Drops the history below `compact_revision` and records it, durably.
    pub(crate) fn compact(&self, compact_revision: i64) -> Result<(), StoreError> {
        let context = "compacting the database";
        let txn = self.db.begin_write().map_err(|e| storage(context, e))?;
        {
            let mut history = txn.open_table(HISTORY).map_err(|e| storage(context, e))?;
            drop_history_below(&mut history, compact_revision).map_err(|e| storage(context, e))?;
            let mut meta = txn.open_table(META).map_err(|e| storage(context, e))?;
            meta.insert(COMPACT_REVISION, compact_revision.to_le_bytes().as_slice())
                .map_err(|e| storage(context, e))?;
        }
        txn.commit().map_err(|e| storage(context, e))
    }
}

fn drop_history_below(
    history: &mut redb::Table<'_, i64, &[u8]>,
    revision: i64,
) -> Result<(), redb::StorageError> {
    while history
        .first()?
        .is_some_and(|(first, _)| first.value() < revision)
    {
        history.pop_first()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::KeySelector;
    use crate::store::{Store, StoreConfig, WatchOptions};

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "trident-watch-persist-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_reopened_store_has_its_keys_revision_history_and_id() {
        let dir = TempDir::new("reopen");
        let config = StoreConfig {
            history_limit: 4,
            watcher_buffer: 8,
        };
        let id = {
            let store = Store::open(&dir.0, config).unwrap();
            assert!(store.is_durable());
            for i in 1..=5 {
                store.put(&format!("k{i}"), &format!("v{i}")).unwrap();
            }
            store.delete("k1", false).unwrap();
            store.compact(4).unwrap();
            store.id().to_owned()
        };
        let store = Store::open(&dir.0, config).unwrap();
        assert_eq!(store.id(), id);
        let stats = store.stats();
        assert_eq!(
            (
                stats.revision,
                stats.compact_revision,
                stats.keys,
                stats.history_events
            ),
            (6, 4, 4, 3)
        );
        assert_eq!(store.range("k2", false, 0).kvs[0].value, "v2");
        assert_eq!(store.put("k9", "v").unwrap().revision, 7);
        // The history after the restart still replays from the compact revision: 4, 5, 6 and 7.
        let mut watcher = store
            .watch(WatchOptions {
                selectors: vec![KeySelector::Prefix(String::new())],
                start_revision: 4,
            })
            .unwrap();
        let batch = watcher.try_next(100).unwrap().unwrap();
        let revisions: Vec<i64> = batch
            .events
            .iter()
            .map(|e| e.kv.as_ref().unwrap().mod_revision)
            .collect();
        assert_eq!(revisions, [4, 5, 6, 7]);
    }

    #[test]
    fn a_smaller_history_limit_compacts_on_open_and_new_stores_get_new_ids() {
        let dir = TempDir::new("limit");
        let big = StoreConfig {
            history_limit: 100,
            watcher_buffer: 8,
        };
        {
            let store = Store::open(&dir.0, big).unwrap();
            for i in 0..10 {
                store.put(&format!("k{i}"), "v").unwrap();
            }
        }
        let small = StoreConfig {
            history_limit: 3,
            ..big
        };
        let store = Store::open(&dir.0, small).unwrap();
        assert_eq!(store.stats().compact_revision, 8);
        drop(store);
        let store = Store::open(&dir.0, big).unwrap();
        assert_eq!(
            (store.stats().compact_revision, store.stats().history_events),
            (8, 3)
        );
        let other = TempDir::new("other");
        assert_ne!(Store::open(&other.0, big).unwrap().id(), store.id());
        assert_ne!(Store::in_memory(big).id(), store.id());
        assert_eq!(store.id().len(), 32);
    }
}
