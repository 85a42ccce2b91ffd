//! One connection per origin, shared by every call to it: what the HTTP/2 and HTTP/3 channels keep.
//!
//! Each origin has a slot: a live connection is taken from it under a short synchronous lock, and only
//! opening a connection is serialised, per origin, by an async lock held across the connect. Calls that
//! find a live connection never wait on it, and a slow connect to one origin holds up only the calls
//! that need that origin's new connection (which share it once it is open, or share its failure: a
//! dead origin is dialled once, not once per waiting call).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Error;

/// A connection's origin: scheme and authority.
pub(crate) type Origin = (Option<http::uri::Scheme>, Option<http::uri::Authority>);

/// The origin of `uri`.
pub(crate) fn origin_of(uri: &http::Uri) -> Origin {
    (uri.scheme().cloned(), uri.authority().cloned())
}

/// A handle on an open connection, as calls take it from a slot.
pub(crate) trait ConnectionHandle: Clone {
    /// Whether the connection has ended, or takes no new calls.
    fn is_closed(&self) -> bool;
}

/// Every origin's slot, and the one used last (a client usually calls one origin, and comparing
/// with it is cheaper than hashing the origin on every call).
pub(crate) struct Slots<T> {
    last: Option<(Origin, Arc<Slot<T>>)>,
    all: HashMap<Origin, Arc<Slot<T>>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            last: None,
            all: HashMap::new(),
        }
    }
}

impl<T> Slots<T> {
    /// The slot of `uri`'s origin, made on first use.
    pub fn get(&mut self, uri: &http::Uri) -> Arc<Slot<T>> {
        if let Some(((scheme, authority), slot)) = &self.last
            && scheme.as_ref() == uri.scheme()
            && authority.as_ref() == uri.authority()
        {
            return slot.clone();
        }
        let origin = origin_of(uri);
        let slot = self.all.entry(origin.clone()).or_default().clone();
        self.last = Some((origin, slot.clone()));
        slot
    }
}

/// One origin's connection.
pub(crate) struct Slot<T> {
    /// The current connection and its number (which counts connections opened for the origin).
    current: Mutex<Option<(u64, T)>>,
    /// Held while a connection is being opened; holds how the last connect failed, if it did, so
    /// that calls that waited for a connect share its failure too rather than dial again one after
    /// another.
    connecting: tokio::sync::Mutex<Option<Error>>,
    /// How many connects have ended.
    connects: AtomicU64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(None),
            connects: AtomicU64::new(0),
        }
    }
}

impl<T: ConnectionHandle> Slot<T> {
    /// The current connection, if it is still open and is not the one numbered `stale`.
    pub fn live(&self, stale: Option<u64>) -> Option<(u64, T)> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match &*current {
            Some((number, handle)) if Some(*number) != stale && !handle.is_closed() => {
                Some((*number, handle.clone()))
            }
            _ => None,
        }
    }

    /// A live connection (not the one numbered `stale`, which refused a request), opened with
    /// `connect` if there is none; with its number.
    pub async fn live_or_connect<F>(
        &self,
        stale: Option<u64>,
        connect: impl FnOnce() -> F,
    ) -> Result<(u64, T), Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        if let Some(live) = self.live(stale) {
            return Ok(live);
        }
        // One connect per origin at a time: calls that arrive meanwhile wait, then share it (or its
        // failure).
        let ended = self.connects.load(Ordering::Acquire);
        let mut failure = self.connecting.lock().await;
        if let Some(live) = self.live(stale) {
            return Ok(live);
        }
        if self.connects.load(Ordering::Acquire) != ended
            && let Some(error) = &*failure
        {
            // A connect ended, and failed, while this call waited.
            return Err(error.clone());
        }
        let connected = connect().await;
        self.connects.fetch_add(1, Ordering::Release);
        let handle = match connected {
            Ok(handle) => {
                *failure = None;
                handle
            }
            Err(error) => {
                *failure = Some(error.clone());
                return Err(error);
            }
        };
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let number = current.as_ref().map_or(0, |(number, _)| number + 1);
        *current = Some((number, handle.clone()));
        Ok((number, handle))
    }
}
