//! One connection per origin, shared by every call to it: what the HTTP/2 and HTTP/3 channels keep.
//!
//! Each origin has a slot: a live connection is taken from it under a short synchronous lock, and only
//! opening a connection is serialised, per origin, by an async lock held across the connect. Calls that
//! find a live connection never wait on it, and a slow connect to one origin holds up only the calls
//! that need that origin's new connection (which share it once it is open).

use std::collections::HashMap;
use std::future::Future;
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
    /// Held while a connection is being opened.
    connecting: tokio::sync::Mutex<()>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
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
        // One connect per origin at a time: calls that arrive meanwhile wait, then share it.
        let _connecting = self.connecting.lock().await;
        if let Some(live) = self.live(stale) {
            return Ok(live);
        }
        let handle = connect().await?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let number = current.as_ref().map_or(0, |(number, _)| number + 1);
        *current = Some((number, handle.clone()));
        Ok((number, handle))
    }
}
