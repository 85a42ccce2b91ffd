//! [`StoreError`]: why a [store](crate::store) operation or a watcher failed.

use std::fmt;

/// Why a store operation or a watcher failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The history the caller asked for has been compacted away.
    Compacted {
        /// The oldest revision whose events are still kept.
        compact_revision: i64,
        /// The revision the caller wanted to start from.
        requested_revision: i64,
        /// The store's current revision.
        current_revision: i64,
    },
    /// A watcher's buffer overflowed because its consumer did not keep up; it has been cut off.
    FellBehind {
        /// Every matching event before this revision was delivered; watch again from here.
        resume_revision: i64,
        /// The buffer's size in events.
        buffer_capacity: usize,
    },
    /// The request made no sense (an empty key, a negative revision, ...).
    InvalidArgument(String),
    /// The database could not be read or written; the change was not made.
    Storage(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compacted {
                compact_revision,
                requested_revision,
                current_revision,
            } => write!(
                f,
                "revision {requested_revision} has been compacted: the oldest revision available is \
                 {compact_revision} (current revision {current_revision}); read the current state and \
                 continue from its revision"
            ),
            Self::FellBehind {
                resume_revision,
                buffer_capacity,
            } => write!(
                f,
                "the watcher fell behind: more than {buffer_capacity} events were waiting to be sent; \
                 watch again from revision {resume_revision}"
            ),
            Self::InvalidArgument(message) => f.write_str(message),
            Self::Storage(message) => write!(f, "storage error: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}
