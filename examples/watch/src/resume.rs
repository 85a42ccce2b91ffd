//! Following a watch across dropped connections and server restarts, as `watch-cli watch` does: where to
//! resume ([`Resume`]), which failures to retry ([`retry_after`]) and how long to wait ([`Backoff`]).
//!
//! A watch that breaks is started again from the revision after the last one the client has seen, naming
//! the store it saw ([`WatchRequest::store_id`]): the server replays what the client missed from its
//! history, nothing twice. If the server's store is another one (the data was lost or replaced), the
//! server refuses with `failed_precondition`, and so does [`Resume::observe`] on its own if a server
//! answers with another id: resuming would skip or repeat changes, so the caller should stop and say so.

use std::time::Duration;

use trident::{Code, Error};

use crate::proto::{FellBehindDetail, WatchRequest, WatchResponse};

/// Where a watch stands: the next revision it needs and the store it follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    next_revision: i64,
    store_id: String,
}

impl Resume {
    /// A watch that starts at `start_revision` (0: at the changes after it is created) in the store
    /// `store_id` (empty: whichever store answers first).
    pub fn new(start_revision: i64, store_id: impl Into<String>) -> Self {
        Self {
            next_revision: start_revision,
            store_id: store_id.into(),
        }
    }

    /// The next revision the watch needs (0 before the first `created` of a watch without a start).
    pub fn next_revision(&self) -> i64 {
        self.next_revision
    }

    /// The store followed (empty until one has answered, if none was named).
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// `base` with the start revision and the store id to (re)start the watch with.
    pub fn request(&self, base: &WatchRequest) -> WatchRequest {
        WatchRequest {
            start_revision: self.next_revision,
            store_id: self.store_id.clone(),
            ..base.clone()
        }
    }

    /// Takes note of a response: its store (from `created`), and the revisions it covers. Fails if the
    /// store is not the one followed so far.
    pub fn observe(&mut self, response: &WatchResponse) -> Result<(), String> {
        if response.created {
            if !response.store_id.is_empty() {
                if self.store_id.is_empty() {
                    self.store_id = response.store_id.clone();
                } else if self.store_id != response.store_id {
                    return Err(format!(
                        "the server's store is now {}, not {}: it has another history, so the watch \
                         cannot resume",
                        response.store_id, self.store_id
                    ));
                }
            }
            if self.next_revision == 0 {
                // Without a start revision the watch reports the changes after this one.
                self.next_revision = response.revision + 1;
            }
        } else if !response.events.is_empty() || response.progress {
            // Events: every change up to the last one's revision was sent. Progress: every matching change
            // up to the revision was sent.
            self.next_revision = self.next_revision.max(response.revision + 1);
        }
        Ok(())
    }

    /// Takes note of a watcher that fell behind: it resumes where the server says.
    pub fn fell_behind(&mut self, detail: &FellBehindDetail) {
        self.next_revision = self.next_revision.max(detail.resume_revision);
    }
}

/// Whether a watch that failed with `error` is worth starting again: `true` for a lost connection, an
/// unavailable or restarting server, or a watcher that fell behind; `false` when the request itself
/// cannot succeed (another store, compacted history, a bad request).
pub fn retry_after(error: &Error) -> bool {
    !matches!(
        error.code(),
        Code::FailedPrecondition
            | Code::OutOfRange
            | Code::InvalidArgument
            | Code::Unimplemented
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// Exponential backoff between reconnection attempts: `initial`, doubled each time, at most `max`, with
/// up to a quarter taken off at random so that many clients of one server do not return all at once.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A backoff from `initial` up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
        }
    }

    /// How long to wait before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter = (getrandom::u64().unwrap_or(0) % 64) as u32;
        delay - delay / 4 * jitter / 64
    }

    /// Starts again from `initial` (after a connection that worked).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

impl Default for Backoff {
    /// From 100 ms up to 5 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Event, KeyValue};

    fn events(revision: i64) -> WatchResponse {
        WatchResponse {
            revision,
            events: vec![Event {
                kv: Some(KeyValue {
                    mod_revision: revision,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn created(revision: i64, store_id: &str) -> WatchResponse {
        WatchResponse {
            revision,
            created: true,
            store_id: store_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn resumes_after_the_last_revision_seen_in_the_same_store() {
        let mut resume = Resume::new(0, "");
        resume.observe(&created(7, "s1")).unwrap();
        assert_eq!((resume.next_revision(), resume.store_id()), (8, "s1"));
        resume.observe(&events(9)).unwrap();
        let request = resume.request(&WatchRequest {
            key: "k".into(),
            ..Default::default()
        });
        assert_eq!(
            (
                request.key.as_str(),
                request.start_revision,
                request.store_id.as_str()
            ),
            ("k", 10, "s1")
        );
        // A reconnection's `created` reports the current revision; the resume point stays.
        resume.observe(&created(12, "s1")).unwrap();
        assert_eq!(resume.next_revision(), 10);
        resume.fell_behind(&FellBehindDetail {
            resume_revision: 11,
            buffer_capacity: 1,
        });
        assert_eq!(resume.next_revision(), 11);
    }

    #[test]
    fn another_store_is_refused() {
        let mut resume = Resume::new(5, "s1");
        let error = resume.observe(&created(3, "s2")).unwrap_err();
        assert!(error.contains("s1") && error.contains("s2"), "{error}");
    }

    #[test]
    fn which_errors_are_retried() {
        assert!(retry_after(&Error::new(Code::Unavailable, "down")));
        assert!(retry_after(&Error::new(Code::Internal, "reset")));
        assert!(!retry_after(&Error::new(
            Code::FailedPrecondition,
            "other store"
        )));
        assert!(!retry_after(&Error::new(Code::OutOfRange, "compacted")));
    }

    #[test]
    fn backoff_doubles_up_to_its_limit_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let delays: Vec<Duration> = (0..4).map(|_| backoff.next_delay()).collect();
        let within = |d: Duration, full: u64| {
            d <= Duration::from_millis(full) && d >= Duration::from_millis(full * 3 / 4)
        };
        assert!(within(delays[0], 100), "{delays:?}");
        assert!(within(delays[1], 200), "{delays:?}");
        assert!(within(delays[2], 300), "{delays:?}");
        assert!(within(delays[3], 300), "{delays:?}");
        backoff.reset();
        assert!(within(backoff.next_delay(), 100));
    }
}
