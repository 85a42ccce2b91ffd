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
//! connection as a flood and tears it down. [`Http2Settings`] (shared with the server, in
//! `crate::http2`) carries what a `ClientBuilder` was told instead.

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
use crate::http2::Http2Settings;
use crate::http2::MIN_FRAME_SIZE;
use crate::{Code, Error};

type Origin = (Option<http::uri::Scheme>, Option<http::uri::Authority>);

/// The client's stream window when none is set: 2 MiB (hyper's client default).
pub(crate) const CLIENT_STREAM_WINDOW: u32 = 2 * 1024 * 1024;
/// The client's connection window when none is set: 5 MiB (hyper's client default).
pub(crate) const CLIENT_CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// Applies `settings` to the client's connection builder, with the client's defaults for what is
/// unset.
fn apply_settings(settings: &Http2Settings, builder: &mut http2::Builder<ConnectionExecutor>) {
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
    if let Some(interval) = settings.keep_alive_interval {
        builder
            .keep_alive_interval(interval)
            .keep_alive_timeout(
                settings
                    .keep_alive_timeout
                    .unwrap_or(DEFAULT_KEEP_ALIVE_TIMEOUT),
            )
            .keep_alive_while_idle(settings.keep_alive_while_idle.unwrap_or(false));
    }
}

/// How long a keepalive PING may go unanswered when no timeout was set: 20 s, as gRPC's own
/// keepalive specification (gRFC A8) defaults it.
pub(crate) const DEFAULT_KEEP_ALIVE_TIMEOUT: std::time::Duration =
    std::time::Duration::from_secs(20);

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
        apply_settings(&self.settings, &mut builder);
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
