//! The HTTP/2 transport: one multiplexed connection per origin, opened on first use, reopened after
//! it fails, and shared by every call of a client.
//!
//! hyper-util's pooled client races when many calls open HTTP/2 connections at once (some calls then
//! fail with "request was canceled" without being sent). HTTP/2 needs no pool: one connection carries
//! every call, so this keeps one per origin, and a request the connection refused before sending is
//! retried once on a fresh connection.
//!
//! Each origin has a slot: a live connection is taken from it under a short synchronous lock, and only
//! opening a connection is serialised, per origin, by an async lock held across the connect. Calls that
//! find a live connection never wait on it, and a slow connect to one origin holds up only the calls
//! that need that origin's new connection (which share it once it is open).
//!
//! Its flow-control windows are fixed by default (hyper's client defaults, pinned here): an adaptive
//! window starts at 64 KiB, and h2 then treats more than about 130 unread small DATA frames on one
//! connection as a flood and tears it down. [`Http2Settings`] (shared with the server, in
//! `crate::http2`) carries what a `ClientBuilder` was told instead.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
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
    slots: Arc<Mutex<Slots>>,
}

/// Every origin's slot, and the one used last (a client usually calls one origin, and comparing
/// with it is cheaper than hashing the origin on every call).
#[derive(Default)]
struct Slots {
    last: Option<(Origin, Arc<Slot>)>,
    all: HashMap<Origin, Arc<Slot>>,
}

impl Slots {
    /// The slot of `uri`'s origin, made on first use.
    fn get(&mut self, uri: &http::Uri) -> Arc<Slot> {
        if let Some(((scheme, authority), slot)) = &self.last
            && scheme.as_ref() == uri.scheme()
            && authority.as_ref() == uri.authority()
        {
            return slot.clone();
        }
        let origin: Origin = (uri.scheme().cloned(), uri.authority().cloned());
        let slot = self.all.entry(origin.clone()).or_default().clone();
        self.last = Some((origin, slot.clone()));
        slot
    }
}

/// One origin's connection.
#[derive(Default)]
struct Slot {
    /// The current connection and its number (which counts connections opened for the origin).
    current: Mutex<Option<(u64, SendRequest<Body>)>>,
    /// Held while a connection is being opened.
    connecting: tokio::sync::Mutex<()>,
}

impl Slot {
    /// The current connection, if it is still open and is not the one numbered `stale`.
    fn live(&self, stale: Option<u64>) -> Option<(u64, SendRequest<Body>)> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match &*current {
            Some((number, sender)) if Some(*number) != stale && !sender.is_closed() => {
                Some((*number, sender.clone()))
            }
            _ => None,
        }
    }
}

impl<C: Clone> Clone for H2Channel<C> {
    fn clone(&self) -> Self {
        Self {
            connector: self.connector.clone(),
            settings: self.settings,
            slots: self.slots.clone(),
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
            slots: Arc::default(),
        }
    }

    /// A sender on a live connection to the request's origin (not the one numbered `stale`, which
    /// refused a request), connecting if there is none; with its number.
    async fn sender(
        &self,
        uri: &http::Uri,
        stale: Option<u64>,
    ) -> Result<(u64, SendRequest<Body>), Error> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri);
        if let Some(live) = slot.live(stale) {
            return Ok(live);
        }
        // One connect per origin at a time: calls that arrive meanwhile wait, then share it.
        let _connecting = slot.connecting.lock().await;
        if let Some(live) = slot.live(stale) {
            return Ok(live);
        }
        let origin: Origin = (uri.scheme().cloned(), uri.authority().cloned());
        let sender = self.connect(origin).await?;
        let mut current = slot.current.lock().unwrap_or_else(PoisonError::into_inner);
        let number = current.as_ref().map_or(0, |(number, _)| number + 1);
        *current = Some((number, sender.clone()));
        Ok((number, sender))
    }

    /// Opens a new connection to `origin`.
    async fn connect(&self, origin: Origin) -> Result<SendRequest<Body>, Error> {
        let mut base = http::Uri::builder();
        if let Some(scheme) = origin.0 {
            base = base.scheme(scheme);
        }
        if let Some(authority) = origin.1 {
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
        Ok(sender)
    }

    async fn send(self, request: http::Request<Body>) -> Result<http::Response<Body>, Error> {
        let (number, mut sender) = self.sender(request.uri(), None).await?;
        let result = match sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut failed) => match failed.take_message() {
                // The connection went away before the request left: one retry on another.
                Some(request) => {
                    let (_, mut sender) = self.sender(request.uri(), Some(number)).await?;
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
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;

    use super::*;

    /// A connect that never completes to one origin does not hold up calls to another.
    #[tokio::test]
    async fn a_slow_connect_holds_up_only_its_own_origin() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(
            crate::Server::new()
                .serve(listener, crate::Router::new())
                .into_future(),
        );
        let connector = tower::service_fn(move |uri: http::Uri| async move {
            if uri.host() == Some("stuck.invalid") {
                std::future::pending::<()>().await;
            }
            TcpStream::connect(addr).await.map(TokioIo::new)
        });
        let channel = H2Channel::new(connector, Http2Settings::default());
        let request = |host: &str| {
            http::Request::get(format!("http://{host}/anything"))
                .body(Body::empty())
                .expect("request")
        };
        let stuck = tokio::spawn(channel.clone().send(request("stuck.invalid")));
        tokio::task::yield_now().await;
        for _ in 0..2 {
            let response = tokio::time::timeout(
                Duration::from_secs(5),
                channel.clone().send(request(&addr.to_string())),
            )
            .await
            .expect("not held up by the stuck connect")
            .expect("a response");
            assert_eq!(response.status(), http::StatusCode::NOT_FOUND);
        }
        assert!(!stuck.is_finished());
        stuck.abort();
        server.abort();
    }
}
