//! The HTTP/2 transport: one multiplexed connection per origin, opened on first use, reopened after
//! it fails, and shared by every call of a client.
//!
//! hyper-util's pooled client races when many calls open HTTP/2 connections at once (some calls then
//! fail with "request was canceled" without being sent). HTTP/2 needs no pool: one connection carries
//! every call, so this keeps one per origin, and a request the connection refused before sending is
//! retried once on a fresh connection (a connection found closed, or one whose `ready` fails after a
//! GOAWAY). A request refused once its stream was opened (REFUSED_STREAM, or a GOAWAY that leaves it
//! out) is not retried, as hyper's client did not retry it: its head has been handed to h2.
//! The connections are kept per origin by `origin_slots.rs`.
//!
//! Connections speak through the `h2` crate directly rather than through hyper's HTTP/2 client. hyper
//! runs every request through a dispatch channel to its connection task, spawns a task per request to
//! wait for the response, and (since h2 opens every client stream with no send capacity yet) a task
//! per request body to pipe it. Here a complete request body (unary and server-streaming calls) is
//! handed to h2 whole from the caller's own task, which then awaits the response there too: no task,
//! no channel. Only streaming request bodies get a task ([`pump`](crate::client::h2_body::pump)).
//! With 64 unary calls in flight on one loopback connection (the `client-load` benchmark, client and
//! server on a core each), this took the client from about 12.0 to 9.4 CPU-µs a call (78k to 103k
//! calls/s); with one call in flight, from 59 to 48 µs a call.
//!
//! How each connection is set up and driven (settings, keepalive PINGs) is `h2_connection.rs`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::Either;
use h2::client::ResponseFuture;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt as _;

use crate::body::Body;
use crate::client::h2_body::{BodyFailure, OpenStream, ResponseBody, pump, take_failure};
use crate::client::h2_connection::{
    ConnectionExecutor, Keepalive, apply_hyper_settings, drive, h2_builder,
};
use crate::client::origin_slots::{ConnectionHandle, Origin, Slots, origin_of};
use crate::client::transport::{ResponseFuture as CallFuture, SendRequest, transport_error};
use crate::coalesce::{Coalesce, Turns};
use crate::error::Delivery;
use crate::http2::Http2Settings;
use crate::{Code, Error};

/// A request that did not get through: refused before it was sent (it may go on another connection),
/// or failed. (Boxed: the refused request is the rare case.)
enum Failure {
    Refused(Box<http::Request<Body>>, Error),
    Failed(Error),
}

/// A handle on one open connection of an origin, as calls take it from the slot.
#[derive(Clone)]
enum Sender {
    /// h2's own client (see the module docs).
    Direct(Direct),
    /// hyper's HTTP/2 client, for connections with an adaptive window.
    Hyper(http2::SendRequest<Body>),
}

impl ConnectionHandle for Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::Direct(direct) => !direct.open.load(Ordering::Acquire),
            Sender::Hyper(sender) => sender.is_closed(),
        }
    }
}

impl Sender {
    /// Sends `request` on this connection. Not an `async fn`, so that the future is the connection's
    /// own rather than one around it holding a second copy of the request.
    fn send(
        self,
        request: http::Request<Body>,
    ) -> impl Future<Output = Result<http::Response<Body>, Failure>> + Send {
        match self {
            Sender::Direct(direct) => Either::Left(direct.send(request)),
            // Boxed: rare (adaptive windows only), and hyper's future is large.
            Sender::Hyper(sender) => Either::Right(Box::pin(send_hyper(sender, request))),
        }
    }
}

/// Sends `request` on hyper's HTTP/2 client connection.
async fn send_hyper(
    mut sender: http2::SendRequest<Body>,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, Failure> {
    match sender.try_send_request(request).await {
        Ok(response) => Ok(response.map(Body::new)),
        Err(mut failed) => match failed.take_message() {
            Some(request) => Err(Failure::Refused(
                Box::new(request),
                transport_error(failed.into_error()),
            )),
            None => Err(Failure::Failed(transport_error(failed.into_error()))),
        },
    }
}

/// A handle on an h2 connection.
#[derive(Clone)]
struct Direct {
    send: h2::client::SendRequest<Bytes>,
    /// Cleared by the connection's task when the connection ends.
    open: Arc<AtomicBool>,
    /// The streams open on the connection, counted only when keepalive pings while streams are open.
    streams: Option<Arc<AtomicUsize>>,
}

impl Direct {
    /// Opens a stream for `request` and waits for the response head, in the caller's task.
    async fn send(mut self, request: http::Request<Body>) -> Result<http::Response<Body>, Failure> {
        // Polled in place (`ready()` would move the handle into a future of its own).
        if let Err(e) = std::future::poll_fn(|cx| self.send.poll_ready(cx)).await {
            // The connection failed or is going away, and nothing was sent.
            return Err(Failure::Refused(Box::new(request), transport_error(e)));
        }
        let send = self.send;
        let open = self.streams.map(OpenStream::new);
        let (response, failure) =
            open_stream(send, request).map_err(|e| Failure::Failed(transport_error(e)))?;
        respond(response, failure, open)
            .await
            .map_err(Failure::Failed)
    }
}

/// Sends `request`'s head and body: a complete body at once (h2 sends what the peer's window does
/// not take yet as the window opens), a streaming one through a [`pump`] task, which leaves a body
/// failure in the [`BodyFailure`] returned.
fn open_stream(
    mut send: h2::client::SendRequest<Bytes>,
    request: http::Request<Body>,
) -> Result<(ResponseFuture, Option<BodyFailure>), h2::Error> {
    let (mut parts, body) = request.into_parts();
    crate::http2::strip_connection_headers(&mut parts.headers);
    let head = http::Request::from_parts(parts, ());
    match body.into_full() {
        Ok(data) if data.is_empty() => Ok((send.send_request(head, true)?.0, None)),
        Ok(data) => {
            let (response, mut stream) = send.send_request(head, false)?;
            if stream.send_data(data, true).is_err() {
                // The peer closed the stream before the body went out: it answered at once (a
                // call it refuses) and reset the rest, all while this task waited for a core. Its
                // answer, or its reset, is in the response. Any other failure ends the stream
                // here, so that the response cannot wait for a body that will not come.
                stream.send_reset(h2::Reason::CANCEL);
            }
            Ok((response, None))
        }
        Err(body) if http_body::Body::is_end_stream(&body) => {
            Ok((send.send_request(head, true)?.0, None))
        }
        Err(body) => {
            let (response, stream) = send.send_request(head, false)?;
            let failure = BodyFailure::default();
            tokio::spawn(pump(stream, body, failure.clone()));
            Ok((response, Some(failure)))
        }
    }
}

/// Waits for the response head; a failed request body's own error wins over the reset it caused.
async fn respond(
    response: ResponseFuture,
    failure: Option<BodyFailure>,
    open: Option<OpenStream>,
) -> Result<http::Response<Body>, Error> {
    match response.await {
        Ok(response) => Ok(response.map(|recv| Body::new(ResponseBody::new(recv, open)))),
        Err(e) => Err(failure
            .as_ref()
            .and_then(take_failure)
            .unwrap_or_else(|| transport_error(e))),
    }
}

/// A tower service sending requests over one HTTP/2 connection per origin.
pub(crate) struct H2Channel<C> {
    connector: C,
    settings: Http2Settings,
    slots: Arc<Mutex<Slots<Sender>>>,
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
    async fn sender(&self, uri: &http::Uri, stale: Option<u64>) -> Result<(u64, Sender), Error> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri);
        slot.live_or_connect(stale, || self.connect(origin_of(uri)))
            .await
            .map_err(|e| e.with_delivery(Delivery::NotConnected))
    }

    /// Opens a new connection to `origin`.
    async fn connect(&self, origin: Origin) -> Result<Sender, Error> {
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
        if self.settings.adaptive_window == Some(true) {
            return self.handshake_hyper(io, turns).await.map(Sender::Hyper);
        }
        self.handshake_direct(io, turns).await.map(Sender::Direct)
    }

    /// Starts an h2 connection over `io`, its task (and keepalive) spawned and tracked by `turns`.
    async fn handshake_direct<T>(&self, io: T, turns: Turns) -> Result<Direct, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, mut connection) = h2_builder(&self.settings)
            .handshake::<T, Bytes>(io)
            .await
            .map_err(transport_error)?;
        let keepalive = Keepalive::from_settings(&self.settings);
        let pings = keepalive.and_then(|k| connection.ping_pong().map(|pings| (k, pings)));
        let streams = keepalive
            .filter(|k| !k.while_idle)
            .map(|_| Arc::new(AtomicUsize::new(0)));
        let open = Arc::new(AtomicBool::new(true));
        tokio::spawn(turns.track(drive(connection, pings, streams.clone(), open.clone())));
        Ok(Direct {
            send,
            open,
            streams,
        })
    }

    /// Starts a hyper HTTP/2 client connection over `io` (adaptive windows only), its tasks tracked by
    /// `turns`.
    async fn handshake_hyper<T>(
        &self,
        io: T,
        turns: Turns,
    ) -> Result<http2::SendRequest<Body>, Error>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = http2::Builder::new(ConnectionExecutor(turns));
        builder.timer(TokioTimer::new());
        apply_hyper_settings(&self.settings, &mut builder);
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

    /// Sends `request` once a connection is at hand, connecting if need be.
    async fn send(
        self: Arc<Self>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Error> {
        let (number, sender) = self.sender(request.uri(), None).await?;
        self.send_on(number, sender, request).await
    }

    /// Sends `request` on the connection `sender`, numbered `number`.
    ///
    /// Chained with `then` rather than awaited in an `async` block: awaiting a future held by the
    /// block moves it into a second slot of the block's own future, so the sending future (the
    /// request with it) would take its space twice.
    fn send_on(
        self: Arc<Self>,
        number: u64,
        sender: Sender,
        request: http::Request<Body>,
    ) -> impl Future<Output = Result<http::Response<Body>, Error>> + Send {
        sender.send(request).then(move |sent| async move {
            match sent {
                Ok(response) => Ok(response),
                Err(Failure::Failed(error)) => Err(error),
                // The connection went away before the request left: one retry on another. Boxed,
                // so that the usual path's future does not carry a connect.
                Err(Failure::Refused(request, _)) => Box::pin(self.resend(number, *request)).await,
            }
        })
    }

    /// Sends `request` again, on a connection other than the one numbered `stale`.
    async fn resend(
        &self,
        stale: u64,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Error> {
        let (_, sender) = self.sender(request.uri(), Some(stale)).await?;
        sender.send(request).await.map_err(|failure| match failure {
            Failure::Failed(error) => error,
            Failure::Refused(_, error) => error.with_delivery(Delivery::Refused),
        })
    }
}

impl<C> SendRequest for H2Channel<C>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn send_request(self: Arc<Self>, request: http::Request<Body>) -> CallFuture {
        // The usual case, a live connection at hand: the future only sends on it, and is small.
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(request.uri());
        match slot.live(None) {
            Some((number, sender)) => Box::pin(self.send_on(number, sender, request)),
            None => Box::pin(self.send(request)),
        }
    }

    fn is_connected(&self, uri: &http::Uri) -> bool {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri);
        slot.live(None).is_some()
    }

    fn open_connection(
        self: Arc<Self>,
        uri: &http::Uri,
    ) -> crate::client::transport::ConnectFuture {
        let uri = uri.clone();
        Box::pin(async move { self.sender(&uri, None).await.map(drop) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;

    use super::*;

    /// A channel to a raw h2 server at `addr`.
    fn channel_to(
        addr: std::net::SocketAddr,
    ) -> H2Channel<
        impl tower::Service<
            http::Uri,
            Response = TokioIo<TcpStream>,
            Error = std::io::Error,
            Future = impl Send,
        > + Clone
        + Send
        + Sync
        + 'static,
    > {
        let connector = tower::service_fn(move |_: http::Uri| async move {
            TcpStream::connect(addr).await.map(TokioIo::new)
        });
        H2Channel::new(connector, Http2Settings::default())
    }

    /// Serves h2 (no Trident) on a loopback port, handing every stream to `handler`.
    async fn raw_h2_server<F, Fut>(handler: F) -> std::net::SocketAddr
    where
        F: Fn(http::Request<h2::RecvStream>, h2::server::SendResponse<Bytes>) -> Fut
            + Send
            + Copy
            + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            let mut connection = h2::server::handshake(socket).await.expect("handshake");
            while let Some(Ok((request, respond))) = connection.accept().await {
                tokio::spawn(handler(request, respond));
            }
        });
        addr
    }

    /// A request to the raw server, with `frames` as its streaming body.
    fn streaming_request(
        addr: std::net::SocketAddr,
        frames: Vec<Result<http_body::Frame<Bytes>, Error>>,
    ) -> http::Request<Body> {
        http::Request::post(format!("http://{addr}/raw"))
            .body(Body::from_frames(futures_util::stream::iter(frames)))
            .expect("request")
    }

    /// A streaming request body reaches the server with its trailers, and the response body hands
    /// on the server's data and then its trailers.
    #[tokio::test]
    async fn streamed_bodies_carry_their_trailers_both_ways() {
        let addr = raw_h2_server(|request, mut respond| async move {
            let mut body = request.into_body();
            let mut received = Vec::new();
            while let Some(Ok(chunk)) = body.data().await {
                let _ = body.flow_control().release_capacity(chunk.len());
                received.extend_from_slice(&chunk);
            }
            let sent = body.trailers().await.ok().flatten().unwrap_or_default();
            let mut stream = respond
                .send_response(http::Response::new(()), false)
                .expect("response");
            stream.send_data(received.into(), false).expect("data");
            let mut trailers = http::HeaderMap::new();
            if let Some(value) = sent.get("x-sent") {
                trailers.insert("x-got", value.clone());
            }
            stream.send_trailers(trailers).expect("trailers");
        })
        .await;
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-sent", http::HeaderValue::from_static("yes"));
        let frames = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ab"))),
            Ok(http_body::Frame::data(Bytes::from_static(b"cd"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            Arc::new(channel_to(addr)).send(streaming_request(addr, frames)),
        )
        .await
        .expect("in time")
        .expect("a response");
        let collected = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("the whole body");
        let got = collected.trailers().and_then(|t| t.get("x-got")).cloned();
        assert_eq!(got, Some(http::HeaderValue::from_static("yes")));
        assert_eq!(collected.to_bytes(), "abcd");
    }

    /// A request body that fails resets the stream, and the call reports the body's own error.
    #[tokio::test]
    async fn a_failing_request_body_fails_the_call_with_its_error() {
        let addr = raw_h2_server(|request, respond| async move {
            // Read until the stream ends (the client's reset), never answering.
            let mut body = request.into_body();
            while let Some(Ok(_)) = body.data().await {}
            std::future::pending::<()>().await;
            drop(respond);
        })
        .await;
        let frames = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ab"))),
            Err(Error::new(Code::DataLoss, "torn")),
        ];
        let error = tokio::time::timeout(
            Duration::from_secs(5),
            Arc::new(channel_to(addr)).send(streaming_request(addr, frames)),
        )
        .await
        .expect("in time")
        .expect_err("the body failed");
        assert_eq!(error.code(), Code::DataLoss, "{error}");
    }

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
        let channel = Arc::new(H2Channel::new(connector, Http2Settings::default()));
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
