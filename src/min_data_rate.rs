//! The slowest a request message may arrive: [`MinDataRate`], and the [`Pace`] that enforces it while a
//! message is being read.
//!
//! A client can hold a call (and the handler, and its memory) open at almost no cost by sending a body a
//! byte at a time. Against that, once a message has begun to arrive, its bytes must keep up with a
//! minimum rate after a grace period: by `t` seconds in, at least `(t - grace) × rate` bytes. The time a
//! stream spends *between* messages is not counted, since a streaming client may rightly wait for hours
//! before its next message; the connection's keepalive and limits cover that case.
//!
//! The check costs nothing while data keeps arriving: the clock is read and a timer armed only when the
//! body has nothing ready in the middle of a message.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::{Code, Error};

/// The slowest a request message may arrive, after a grace period: see
/// [`Server::min_request_data_rate`](crate::Server::min_request_data_rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinDataRate {
    bytes_per_second: u32,
    grace: Duration,
}

impl MinDataRate {
    /// The server's default: 256 bytes per second after a 10-second grace. Slow enough for a phone on a
    /// poor link (a 64 KiB message may take over four minutes), fast enough that a client trickling a
    /// byte a second loses its call after about ten seconds.
    pub const DEFAULT: Self = Self {
        bytes_per_second: 256,
        grace: Duration::from_secs(10),
    };

    /// At least `bytes_per_second` (1 or more: a server given 0 fails at start, naming it) once
    /// `grace` has passed since the message began to arrive.
    pub fn new(bytes_per_second: u32, grace: Duration) -> Self {
        Self {
            bytes_per_second,
            grace,
        }
    }

    /// The minimum rate, in bytes per second.
    pub fn bytes_per_second(&self) -> u32 {
        self.bytes_per_second
    }

    /// How long a message may take before the rate applies.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// When a message that began at `started` and has brought `received` bytes so far falls behind.
    fn due(&self, started: Instant, received: u64) -> Instant {
        let earned =
            Duration::from_secs_f64(received as f64 / f64::from(self.bytes_per_second.max(1)));
        started + self.grace + earned
    }
}

/// A [`MinDataRate`] applied to one request body: how far the message now arriving has come.
#[derive(Debug)]
pub(crate) struct Pace {
    rate: MinDataRate,
    /// When the body was first found waiting in the middle of the current message.
    started: Option<Instant>,
    /// Bytes of the current message received since `started`.
    received: u64,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Pace {
    pub fn new(rate: MinDataRate) -> Self {
        Self {
            rate,
            started: None,
            received: 0,
            timer: None,
        }
    }

    /// Counts `len` bytes of the current message.
    pub fn received(&mut self, len: usize) {
        if self.started.is_some() {
            self.received += len as u64;
        }
    }

    /// The current message is complete: the next one starts its own clock.
    pub fn message_done(&mut self) {
        self.started = None;
        self.received = 0;
    }

    /// The body has nothing ready in the middle of a message: fails once the message has fallen
    /// behind the rate, and otherwise arranges for `cx` to be woken when it would.
    pub fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let due = self.rate.due(started, self.received);
        if now >= due {
            return Err(self.too_slow());
        }
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(self.too_slow()),
            Poll::Pending => Ok(()),
        }
    }

    fn too_slow(&self) -> Error {
        Error::new(
            Code::ResourceExhausted,
            format!(
                "the request arrived slower than this server's minimum of {} bytes per second \
                 (after {} seconds)",
                self.rate.bytes_per_second,
                self.rate.grace.as_secs_f64()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_byte_received_earns_time() {
        let rate = MinDataRate::new(100, Duration::from_secs(2));
        let start = Instant::now();
        assert_eq!(rate.due(start, 0), start + Duration::from_secs(2));
        assert_eq!(rate.due(start, 250), start + Duration::from_millis(4500));
        assert_eq!(
            MinDataRate::new(0, Duration::ZERO).bytes_per_second(),
            0,
            "kept; the server refuses it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_message_fails_after_the_grace_and_a_moving_one_does_not() {
        let mut pace = Pace::new(MinDataRate::new(10, Duration::from_secs(1)));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(pace.poll_waiting(&mut cx).is_ok(), "the clock just started");
        tokio::time::advance(Duration::from_millis(900)).await;
        pace.received(20); // two seconds' worth
        assert!(pace.poll_waiting(&mut cx).is_ok());
        tokio::time::advance(Duration::from_millis(2000)).await;
        assert!(pace.poll_waiting(&mut cx).is_ok(), "due at 3 s, now 2.9 s");
        tokio::time::advance(Duration::from_millis(200)).await;
        let error = pace.poll_waiting(&mut cx).expect_err("behind the rate");
        assert_eq!(error.code(), Code::ResourceExhausted);

        pace.message_done();
        assert!(
            pace.poll_waiting(&mut cx).is_ok(),
            "a new message, a new clock"
        );
    }
}
