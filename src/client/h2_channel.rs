//! The HTTP/2 transport: one multiplexed connection per origin, opened on first use, reopened after
//! it fails, and shared by every call of a client.
//!
//! hyper-util's pooled client races when many calls open HTTP/2 connections at once (some calls then
//! fail with "request was canceled" without being sent). HTTP/2 needs no pool: one connection carries
//! every call, so this keeps one per origin behind an async lock, and a request the connection refused
//! before sending is retried once on a fresh connection.
//!
//! Its flow-control windows are fixed by default (hyper's client defaults, pinned here): an adaptive
//! window starts at 64 KiB, and h2 then treats more than about 130 unread small DATA frames on one
//! connection as a flood and tears it down. [`Http2Settings`] carries what a `ClientBuilder` (or a
//! `Router`, for the server side) was told instead.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

use crate::body::Body;
use crate::client::transport::transport_error;
use crate::coalesce::{Coalesce, Turns};
use crate::{Code, Error};

type Origin = (Option<http::uri::Scheme>, Option<http::uri::Authority>);

/// The largest flow-control window HTTP/2 allows: 2^31 - 1 bytes.
pub(crate) const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;
/// Every HTTP/2 window's size before SETTINGS and WINDOW_UPDATE frames change it: 65,535 bytes.
pub(crate) const SPEC_WINDOW_SIZE: u32 = 65_535;
/// The smallest SETTINGS_MAX_FRAME_SIZE HTTP/2 allows (and its default): 16,384 bytes.
pub(crate) const MIN_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE HTTP/2 allows: 2^24 - 1 bytes.
pub(crate) const MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The client's stream window when none is set: 2 MiB (hyper's client default).
pub(crate) const CLIENT_STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The client's connection window when none is set: 5 MiB (hyper's client default).
pub(crate) const CLIENT_CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// HTTP/2 flow-control settings of one side, as set on a `Router` or a `ClientBuilder`; `None` keeps
/// that side's default. The setters bring values into the range HTTP/2 (and h2, which panics or
/// misbehaves outside it) accepts, so no value a user passes can fail later on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Http2Settings {
    /// SETTINGS_INITIAL_WINDOW_SIZE, in 1..=2^31-1.
    pub stream_window: Option<u32>,
    /// The connection's receive window, in 65,535..=2^31-1.
    pub connection_window: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE, in 16,384..=16,777,215.
    pub max_frame_size: Option<u32>,
    /// hyper's BDP-based adaptive window; when on, the windows above are not used.
    pub adaptive_window: Option<bool>,
}

impl Http2Settings {
    /// Sets the stream window: 0 (which would stall every body for good) becomes 1, and values above
    /// 2^31-1 become 2^31-1.
    pub fn set_stream_window(&mut self, size: u32) {
        self.stream_window = Some(size.clamp(1, MAX_WINDOW_SIZE));
    }

    /// Sets the connection window: below 65,535 (where it starts and which SETTINGS cannot lower) it
    /// becomes 65,535, above 2^31-1 it becomes 2^31-1.
    pub fn set_connection_window(&mut self, size: u32) {
        self.connection_window = Some(size.clamp(SPEC_WINDOW_SIZE, MAX_WINDOW_SIZE));
    }

    /// Sets the largest frame accepted, clamped to 16,384..=16,777,215.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = Some(size.clamp(MIN_FRAME_SIZE, MAX_FRAME_SIZE));
    }

    /// Applies these settings to the client's connection builder, with the client's defaults for
    /// what is unset.
    fn apply_to_client(&self, builder: &mut http2::Builder<ConnectionExecutor>) {
        builder
            .initial_stream_window_size(self.stream_window.unwrap_or(CLIENT_STREAM_WINDOW))
            .initial_connection_window_size(
                self.connection_window.unwrap_or(CLIENT_CONNECTION_WINDOW),
            )
            .max_frame_size(self.max_frame_size.unwrap_or(MIN_FRAME_SIZE));
        // Last, so that it wins: hyper's adaptive window starts both windows at 65,535.
        if self.adaptive_window == Some(true) {
            builder.adaptive_window(true);
        }
    }
}

/// Spawns the tasks hyper starts for one connection (the connection itself, request-body pipes) on
/// Tokio, counting their runs for the connection's [`Coalesce`].
#[derive(Clone)]
struct ConnectionExecutor(Turns);

impl<F> hyper::rt::Executor<F> for ConnectionExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(self.0.track(future));
    }
}

/// A tower service sending requests over one HTTP/2 connection per origin.
pub(crate) struct H2Channel<C> {
    connector: C,
    settings: Http2Settings,
    connections: Arc<tokio::sync::Mutex<HashMap<Origin, SendRequest<Body>>>>,
}

impl<C: Clone> Clone for H2Channel<C> {
    fn clone(&self) -> Self {
        Self {
            connector: self.connector.clone(),
            settings: self.settings,
            connections: self.connections.clone(),
        }
    }
}

impl<C> H2Channel<C>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    pub fn new(connector: C, settings: Http2Settings) -> Self {
        Self {
            connector,
            settings,
            connections: Arc::default(),
        }
    }

    /// A sender on a live connection to the request's origin, connecting if there is none.
    async fn sender(&self, uri: &http::Uri, fresh: bool) -> Result<SendRequest<Body>, Error> {
        let origin: Origin = (uri.scheme().cloned(), uri.authority().cloned());
        // Holding the lock while connecting makes concurrent first calls share one connection.
        let mut connections = self.connections.lock().await;
        if !fresh
            && let Some(sender) = connections.get(&origin)
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        connections.remove(&origin);
        let mut base = http::Uri::builder();
        if let Some(scheme) = origin.0.clone() {
            base = base.scheme(scheme);
        }
        if let Some(authority) = origin.1.clone() {
            base = base.authority(authority);
        }
        let base = base
            .path_and_query("/")
            .build()
            .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid request URI", e))?;
        let io = self
            .connector
            .clone()
            .oneshot(base)
            .await
            .map_err(transport_error)?;
        let (io, turns) = Coalesce::http2(TokioIo::new(io));
        let mut builder = http2::Builder::new(ConnectionExecutor(turns));
        builder.timer(TokioTimer::new());
        self.settings.apply_to_client(&mut builder);
        let (sender, connection) = builder
            .handshake(TokioIo::new(io))
            .await
            .map_err(transport_error)?;
        tokio::spawn(async move {
            // The connection ends when the peer goes away or every sender is dropped; calls in flight
            // see the failure through their own streams.
            let _ = connection.await;
        });
        connections.insert(origin, sender.clone());
        Ok(sender)
    }

    async fn send(self, request: http::Request<Body>) -> Result<http::Response<Body>, Error> {
        let uri = request.uri().clone();
        let mut sender = self.sender(&uri, false).await?;
        let result = match sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut failed) => match failed.take_message() {
                // The connection went away before the request left: one retry on a new one.
                Some(request) => {
                    let mut sender = self.sender(&uri, true).await?;
                    sender.send_request(request).await
                }
                None => Err(failed.into_error()),
            },
        };
        result
            .map(|response| response.map(Body::new))
            .map_err(transport_error)
    }
}

impl<C> tower::Service<http::Request<Body>> for H2Channel<C>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_clamped_into_http2_ranges() {
        let mut settings = Http2Settings::default();
        settings.set_stream_window(0);
        settings.set_connection_window(1);
        settings.set_max_frame_size(0);
        assert_eq!(settings.stream_window, Some(1));
        assert_eq!(settings.connection_window, Some(SPEC_WINDOW_SIZE));
        assert_eq!(settings.max_frame_size, Some(MIN_FRAME_SIZE));

        settings.set_stream_window(u32::MAX);
        settings.set_connection_window(u32::MAX);
        settings.set_max_frame_size(u32::MAX);
        assert_eq!(settings.stream_window, Some(MAX_WINDOW_SIZE));
        assert_eq!(settings.connection_window, Some(MAX_WINDOW_SIZE));
        assert_eq!(settings.max_frame_size, Some(MAX_FRAME_SIZE));

        settings.set_stream_window(300_000);
        settings.set_connection_window(3_000_000);
        settings.set_max_frame_size(65_536);
        assert_eq!(settings.stream_window, Some(300_000));
        assert_eq!(settings.connection_window, Some(3_000_000));
        assert_eq!(settings.max_frame_size, Some(65_536));
    }
}
