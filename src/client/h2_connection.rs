//! One HTTP/2 client connection as the channel (`h2_channel.rs`) opens it: h2's builder with the
//! client's defaults, hyper's builder for connections with an adaptive window, the task that drives a
//! connection, and keepalive PINGs.
//!
//! Keepalive PINGs are Trident's own (h2 only answers and sends them): every interval, while
//! streams are open (or always, if asked), a PING must be answered within the timeout, or the
//! connection is dropped and its calls fail with `unavailable`.
//!
//! Its flow-control windows are fixed by default (hyper's client defaults, pinned here): an adaptive
//! window starts at 64 KiB, and h2 then treats more than about 130 unread small DATA frames on one
//! connection as a flood and tears it down. [`Http2Settings`] (shared with the server, in
//! `crate::http2`) carries what a `ClientBuilder` was told instead. h2 has no adaptive window of its
//! own (hyper measures the bandwidth-delay product itself), so a client that asks for one
//! (`Http2Settings::adaptive_window(true)`) still gets hyper's HTTP/2 client connection, with its per-request
//! tasks.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::{Ping, PingPong};
use hyper::client::conn::http2;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::coalesce::Turns;
use crate::http2::{Http2Settings, MIN_FRAME_SIZE};

/// The client's stream window when none is set: 2 MiB (hyper's client default).
pub(crate) const CLIENT_STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The client's connection window when none is set: 5 MiB (hyper's client default).
pub(crate) const CLIENT_CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
/// How many streams may be opened before the server's SETTINGS say how many it allows: 100 (hyper's
/// client default; h2's own is unlimited).
const INITIAL_MAX_SEND_STREAMS: usize = 100;
/// The largest response header list accepted: 16 KiB (hyper's client default).
const MAX_HEADER_LIST_SIZE: u32 = 16 * 1024;
/// How much of one stream's request body h2 buffers for sending: 1 MiB (hyper's client default).
const MAX_SEND_BUFFER_SIZE: usize = 1024 * 1024;

/// An h2 client connection builder with `settings` applied, and the client's defaults for what is
/// unset.
pub(super) fn h2_builder(settings: &Http2Settings) -> h2::client::Builder {
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(settings.stream_window.unwrap_or(CLIENT_STREAM_WINDOW))
        .initial_connection_window_size(
            settings
                .connection_window
                .unwrap_or(CLIENT_CONNECTION_WINDOW),
        )
        .max_frame_size(settings.max_frame_size.unwrap_or(MIN_FRAME_SIZE))
        .initial_max_send_streams(INITIAL_MAX_SEND_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .max_send_buffer_size(
            settings
                .max_send_buffer_size
                .unwrap_or(MAX_SEND_BUFFER_SIZE),
        )
        .enable_push(false);
    builder
}

/// Applies `settings` to hyper's connection builder (used for adaptive windows only), with the
/// client's defaults for what is unset.
pub(super) fn apply_hyper_settings(
    settings: &Http2Settings,
    builder: &mut http2::Builder<ConnectionExecutor>,
) {
    builder
        .initial_stream_window_size(settings.stream_window.unwrap_or(CLIENT_STREAM_WINDOW))
        .initial_connection_window_size(
            settings
                .connection_window
                .unwrap_or(CLIENT_CONNECTION_WINDOW),
        )
        .max_frame_size(settings.max_frame_size.unwrap_or(MIN_FRAME_SIZE));
    // Last, so that it wins: hyper's adaptive window starts both windows at 65,535.
    if settings.adaptive_window == Some(true) {
        builder.adaptive_window(true);
    }
    if let Some(keepalive) = Keepalive::from_settings(settings) {
        builder
            .keep_alive_interval(keepalive.interval)
            .keep_alive_timeout(keepalive.timeout)
            .keep_alive_while_idle(keepalive.while_idle);
    }
}

/// When and how long to wait for keepalive PINGs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Keepalive {
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
    pub(super) while_idle: bool,
}

impl Keepalive {
    /// The keepalive `settings` ask for, if any.
    pub(super) fn from_settings(settings: &Http2Settings) -> Option<Self> {
        let interval = settings.keep_alive_interval.flatten()?;
        Some(Self {
            // Never zero: `Http2Settings` refuses a zero interval when the client is built.
            interval,
            timeout: settings
                .keep_alive_timeout
                .unwrap_or(crate::http2::DEFAULT_KEEP_ALIVE_TIMEOUT),
            while_idle: settings.keep_alive_while_idle.unwrap_or(false),
        })
    }

    /// PINGs the peer every interval (skipping intervals in which `streams`, if counted, is zero) and
    /// returns when one goes unanswered for the timeout or the connection fails.
    async fn watch(self, mut pings: PingPong, streams: Option<Arc<AtomicUsize>>) {
        let start = tokio::time::Instant::now() + self.interval;
        let mut ticks = tokio::time::interval_at(start, self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if streams
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed) == 0)
            {
                continue;
            }
            let pong = tokio::time::timeout(self.timeout, pings.ping(Ping::opaque())).await;
            if !matches!(pong, Ok(Ok(_))) {
                return;
            }
        }
    }
}

/// Drives one h2 connection (with its keepalive, if any) until the peer goes away, every sender is
/// dropped, or a PING goes unanswered; then marks it closed in `open`. Dropping the connection fails
/// the streams still open on it.
pub(super) async fn drive<T>(
    connection: h2::client::Connection<T, Bytes>,
    pings: Option<(Keepalive, PingPong)>,
    streams: Option<Arc<AtomicUsize>>,
    open: Arc<AtomicBool>,
) where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut connection = pin!(connection);
    match pings {
        None => {
            let _ = connection.await;
        }
        Some((keepalive, pings)) => {
            tokio::select! {
                _ = connection.as_mut() => {}
                () = keepalive.watch(pings, streams) => {}
            }
        }
    }
    open.store(false, Ordering::Release);
}

/// Spawns the tasks hyper starts for one connection (the connection itself, request-body pipes) on
/// Tokio, counting their runs for the connection's [`Coalesce`]. Only connections with an adaptive
/// window are hyper's.
#[derive(Clone)]
pub(super) struct ConnectionExecutor(pub(super) Turns);

impl<F> hyper::rt::Executor<F> for ConnectionExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(self.0.track(future));
    }
}
