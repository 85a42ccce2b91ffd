//! The WebSocket bridge: runs one call over a WebSocket (the wire contract is in the module docs of
//! `protocol/websocket`). The router hands it a handshake to a method's path; it answers at once
//! (`101`, or `200` to an HTTP/2 extended CONNECT) and spawns a task that takes the connection over,
//! reads the client's head, and runs the call exactly as the router runs any other: the same
//! negotiation (the request is marked so that the WebSocket protocol claims it), `ServerCall`, the
//! route's handler with its interceptors, deadline, limits and panic recovery. The task then pumps
//! the client's envelopes into the call's request body and the call's response into the socket.
//!
//! Why a task of its own rather than the response body: hyper hands an upgraded connection over only
//! after the handshake's answer has gone out, so the call cannot start inside the router's future.
//!
//! Memory: the pump takes the next chunk of the response body only when everything before it went
//! into tungstenite's write buffer and the socket can take more (`poll_ready`), and that buffer is
//! small ([`WRITE_BUFFER`]); the chunks are the batches `respond.rs` counts as in flight until
//! dropped, so a peer that stops reading stops the handler's stream as on HTTP/1.1 or HTTP/2. The
//! request side hands the call one received message at a time (the socket is not read while the
//! call has not taken the last), each at most `read_max_bytes` plus its envelope's 5 bytes.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body::{Body as _, Frame};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::{Message, Role, WebSocketConfig};
use tokio_util::sync::{PollSender, WaitForCancellationFutureOwned};
use tokio_util::task::task_tracker::TaskTrackerToken;

use crate::body::Body;
use crate::envelope::{EnvelopeDecoder, FLAG_COMPRESSED, FLAG_END_STREAM, HEADER_LEN, payload_len};
use crate::interceptor::Chain;
use crate::method::MethodSpec;
use crate::protocol::connect::end_stream_message;
use crate::protocol::server::{Offer, negotiate};
use crate::protocol::websocket::close::Close;
use crate::protocol::websocket::handshake;
use crate::protocol::websocket::head::{is_handshake_header, parse_client_head, server_head};
use crate::protocol::websocket::{WebSocketCall, WebSocketOptions};
use crate::server::ConnectionScope;
use crate::server::call::ServerCall;
use crate::server::connection_service::CallTakeover;
use crate::server::handler::Handler;
use crate::server::recover::Recovery;
use crate::server_shutdown::ServerShutdown;
use crate::{Code, Error};

/// The size of tungstenite's read buffer (it grows for larger messages, up to the limit).
const READ_BUFFER: usize = 8 * 1024;

/// How much tungstenite gathers before it writes to the connection; with the pump's `poll_ready`,
/// also about the most it holds of a response (plus one message).
const WRITE_BUFFER: usize = 16 * 1024;

/// How long the server waits for the peer to answer its close before it drops the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What the bridge needs of the route a handshake was for: what the router would use to run a call.
pub(crate) struct Route {
    pub spec: &'static MethodSpec,
    pub handler: Handler,
    pub chain: Chain,
    pub recovery: Recovery,
    pub offer: Offer,
    pub options: WebSocketOptions,
}

/// Whether the router should hand `request` to [`accept`]: a WebSocket handshake, with WebSocket on.
pub(crate) fn is_handshake(request: &http::request::Parts, options: &WebSocketOptions) -> bool {
    options.enabled && handshake::is_handshake(request)
}

/// Answers a WebSocket handshake to `route`'s method: refused with a plain HTTP error, or accepted,
/// and then the call runs on a task of its own once the connection is handed over.
pub(crate) fn accept(mut request: http::request::Parts, route: Route) -> http::Response<Body> {
    let offer = &route.offer;
    let accepted = match handshake::accept(&request, &route.options, |codec| {
        offer.codec(codec).is_some()
    }) {
        Ok(accepted) => accepted,
        Err(response) => return *response,
    };
    let Some(upgrade) = request.extensions.remove::<OnUpgrade>() else {
        // Not from hyper (an in-memory transport): there is no connection to take over.
        return handshake::refusal(
            http::StatusCode::NOT_IMPLEMENTED,
            "this transport cannot switch to WebSocket",
        );
    };
    // A graceful shutdown waits for the call, and on HTTP/1.1 the call holds its connection's slot
    // under the connection limit: hyper's connection, which did both, ends at the upgrade.
    let upgrades =
        ConnectionScope::of(&request.extensions).and_then(|scope| scope.upgrades.as_ref());
    let tracked = upgrades.map(|upgrades| upgrades.tracker.token());
    let slot = upgrades
        .filter(|_| request.version < http::Version::HTTP_2)
        .and_then(|upgrades| upgrades.connection_slot.lock().ok()?.take());
    // The call stays counted in flight (under the server's limit, and keeping an HTTP/2 connection
    // from counting as idle) after its handshake's answer, which counted it until now, is over.
    let in_flight = CallTakeover::default();
    let mut response = accepted.response;
    response.extensions_mut().insert(in_flight.clone());
    tokio::spawn(async move {
        run(upgrade, request, accepted.codec, route, tracked).await;
        drop((slot, in_flight));
    });
    response
}

/// Takes the connection over, reads the head, runs the call and pumps it. `tracked` holds up a
/// graceful shutdown until the socket is closed.
async fn run(
    upgrade: OnUpgrade,
    request: http::request::Parts,
    codec: &'static str,
    route: Route,
    tracked: Option<TaskTrackerToken>,
) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    // A message is one envelope: the limit on its payload, plus the prefix (0: no limit).
    let read_max_bytes = route.offer.read_max_bytes;
    let limit = (read_max_bytes > 0).then(|| read_max_bytes.saturating_add(HEADER_LEN));
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit);
    let mut socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let liveness = Liveness::new(&route.options);
    // Cancelled when the server stops serving WebSocket calls (the end of a shutdown's grace).
    let stopped = ConnectionScope::of(&request.extensions)
        .and_then(|scope| scope.upgrades.as_ref())
        .map(|upgrades| upgrades.stop.clone())
        .unwrap_or_default();
    let patience = route.options.ping_interval + route.options.ping_timeout;
    let head = tokio::select! {
        head = tokio::time::timeout(patience, read_head(&mut socket)) => head,
        () = stopped.cancelled() => {
            return close_with(socket, Close::GoingAway, "server shutting down", tracked).await;
        }
    };
    let head = match head {
        Ok(Ok(head)) => head,
        Ok(Err(Some((close, why)))) => return close_with(socket, close, &why, tracked).await,
        Ok(Err(None)) => return,
        Err(_) => {
            let why = "no head message in time";
            return close_with(socket, Close::GoingAway, why, tracked).await;
        }
    };
    let request = call_request(request, head, codec);
    let (requests, received) = mpsc::channel(1);
    let body = Body::from_frames(futures_util::stream::unfold(
        received,
        |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
    ));
    let default_timeout = ConnectionScope::default_timeout_of(&request.extensions);
    let call: Pin<Box<dyn Future<Output = http::Response<Body>> + Send>> =
        match negotiate(&request, route.spec, &route.offer, default_timeout) {
            Ok(negotiated) => {
                let call = ServerCall::new(
                    route.spec,
                    negotiated,
                    request,
                    body,
                    route.recovery,
                    route.chain,
                );
                (route.handler)(call)
            }
            Err(response) => Box::pin(std::future::ready(*response)),
        };
    let mut bridge = Bridge {
        socket,
        requests: Requests::Open(PollSender::new(requests)),
        call: Some(call),
        body: None,
        outbox: VecDeque::new(),
        // The response's own envelopes, which the router framed: no limit to apply.
        envelopes: EnvelopeDecoder::new(0),
        head_sent: false,
        ended: false,
        unflushed: false,
        liveness,
        stopped: Box::pin(stopped.cancelled_owned()),
        tracked,
    };
    let ending = std::future::poll_fn(|cx| bridge.poll(cx)).await;
    bridge.finish(ending).await;
}

/// Reads the client's head message: its headers, or why the socket must close (`None`: the peer
/// went away).
async fn read_head(
    socket: &mut WebSocketStream<TokioIo<Upgraded>>,
) -> Result<http::HeaderMap, Option<(Close, String)>> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                return parse_client_head(&text).map_err(|why| Some((Close::InvalidPayload, why)));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => {
                let why = "the first message must be the text head";
                return Err(Some((Close::Protocol, why.into())));
            }
            Some(Ok(Message::Close(_) | Message::Frame(_))) | None => return Err(None),
            Some(Err(error)) => {
                return Err(classify(&error).map(|close| (close, error.to_string())));
            }
        }
    }
}

/// The close a socket error calls for (`None`: the connection is gone; nothing can be sent).
fn classify(error: &WsError) -> Option<Close> {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => Some(Close::TooBig),
        WsError::Capacity(_) => Some(Close::TooBig),
        WsError::Utf8(_) => Some(Close::InvalidPayload),
        WsError::Protocol(_) => Some(Close::Protocol),
        _ => None,
    }
}

/// The request the call sees: the upgrade request's headers less the handshake's, then the head's;
/// marked as a WebSocket call of `codec`.
fn call_request(
    mut request: http::request::Parts,
    head: http::HeaderMap,
    codec: &'static str,
) -> http::request::Parts {
    let upgrade = std::mem::take(&mut request.headers);
    let mut headers = http::HeaderMap::with_capacity(upgrade.len() + head.len());
    let mut last = None;
    for (name, value) in upgrade {
        if let Some(name) = name {
            last = Some(name);
        }
        if let Some(name) = &last
            && !is_handshake_header(name.as_str())
        {
            headers.append(name.clone(), value);
        }
    }
    let mut last = None;
    for (name, value) in head {
        if let Some(name) = name {
            last = Some(name);
        }
        if let Some(name) = &last {
            headers.append(name.clone(), value);
        }
    }
    request.headers = headers;
    request.extensions.insert(WebSocketCall { codec });
    // On HTTP/1.1 hyper's connection ended at the upgrade, and with it the connection's token: the
    // call watches the one of calls that took their connection over instead (HTTP/2's connection
    // goes on carrying the stream, and its token stays the call's).
    if let Some(scope) = ConnectionScope::of(&request.extensions)
        && let Some(upgrades) = &scope.upgrades
        && request.version < http::Version::HTTP_2
    {
        let draining = scope.shutdown.0.draining.clone();
        let scope = ConnectionScope {
            shutdown: ServerShutdown::new(upgrades.stop.clone(), draining),
            response_budget: scope.response_budget.clone(),
            default_timeout: scope.default_timeout,
            min_data_rate: scope.min_data_rate,
            upgrades: scope.upgrades.clone(),
        };
        request.extensions.insert(std::sync::Arc::new(scope));
    }
    request
}

/// Closes `socket` with `close` and `why`, waits (a while) for the peer's answer, and then releases
/// `tracked`: on HTTP/2 the close is through only once the peer answers, as the connection is
/// dropped once the shutdown is no longer held up.
async fn close_with(
    mut socket: WebSocketStream<TokioIo<Upgraded>>,
    close: Close,
    why: &str,
    tracked: Option<TaskTrackerToken>,
) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if socket.close(Some(close.frame(why))).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    })
    .await;
    drop(tracked);
}

/// Where the client's request stream is.
enum Requests {
    /// Messages go to the call's request body.
    Open(PollSender<Result<Frame<Bytes>, Error>>),
    /// The handler stopped reading: messages are checked and dropped until the client's end.
    Discarding,
    /// The client ended its stream.
    Ended,
}

/// How the pump ended.
enum Ending {
    /// The end-stream message is in the socket's buffer: close normally.
    Done,
    /// The call must end early: the end-stream `error` (if the peer should read one), then `close`.
    Fail {
        error: Option<Error>,
        close: Close,
        why: String,
    },
    /// The peer closed or vanished: nothing more to say.
    PeerGone,
}

impl Ending {
    fn violation(why: impl Into<String>) -> Self {
        Ending::Fail {
            error: None,
            close: Close::Protocol,
            why: why.into(),
        }
    }
}

/// One call between a socket and its handler.
struct Bridge {
    socket: WebSocketStream<TokioIo<Upgraded>>,
    requests: Requests,
    /// The handler, until it answered with the response head.
    call: Option<Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>>,
    /// The response body, once answered.
    body: Option<Body>,
    /// Messages to send, in order (each holds its part of a response batch until sent).
    outbox: VecDeque<Message>,
    /// Cuts the response body into whole envelopes (slices of its batches).
    envelopes: EnvelopeDecoder,
    head_sent: bool,
    /// Whether the end-stream message is in the outbox (or sent).
    ended: bool,
    /// Whether messages were sent since the last flush.
    unflushed: bool,
    liveness: Liveness,
    /// Resolves when the server stops serving the call.
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    /// Holds up a graceful shutdown until the socket is closed.
    tracked: Option<TaskTrackerToken>,
}

impl Bridge {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Ending> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ending::Fail {
                error: Some(Error::new(
                    Code::Unavailable,
                    "the server stopped serving the call",
                )),
                close: Close::GoingAway,
                why: "server shutting down".into(),
            });
        }
        if let Err(ending) = self.receive(cx) {
            return Poll::Ready(ending);
        }
        if let Some(call) = &mut self.call
            && let Poll::Ready(response) = call.as_mut().poll(cx)
        {
            self.call = None;
            if let Err(ending) = self.answer(response) {
                return Poll::Ready(ending);
            }
        }
        match self.liveness.poll(cx) {
            Poll::Ready(Beat::Ping) => self.outbox.push_front(Message::Ping(Bytes::new())),
            Poll::Ready(Beat::Dead) => {
                return Poll::Ready(Ending::Fail {
                    error: None,
                    close: Close::GoingAway,
                    why: "no answer to ping".into(),
                });
            }
            Poll::Pending => {}
        }
        if let Err(ending) = self.send(cx) {
            return Poll::Ready(ending);
        }
        if self.unflushed {
            match self.socket.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(_)) => return Poll::Ready(Ending::PeerGone),
                Poll::Pending => {}
            }
        }
        if self.ended && self.body.is_none() && self.outbox.is_empty() && !self.unflushed {
            return Poll::Ready(Ending::Done);
        }
        Poll::Pending
    }

    /// Reads what the client sent while the call can take it.
    fn receive(&mut self, cx: &mut Context<'_>) -> Result<(), Ending> {
        loop {
            if let Requests::Open(sender) = &mut self.requests {
                match sender.poll_reserve(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => self.requests = Requests::Discarding,
                    Poll::Pending => {
                        // The socket is not read while the handler has not taken the last message:
                        // the peer's silence is then no sign of its death.
                        self.liveness.heard();
                        return Ok(());
                    }
                }
            }
            let message = match self.socket.poll_next_unpin(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(None) => return Err(Ending::PeerGone),
                Poll::Ready(Some(Err(error))) => {
                    return Err(match classify(&error) {
                        Some(Close::TooBig) => Ending::Fail {
                            error: Some(Error::new(
                                Code::ResourceExhausted,
                                format!("a request message is too large: {error}"),
                            )),
                            close: Close::TooBig,
                            why: "message too big".into(),
                        },
                        Some(close) => Ending::Fail {
                            error: None,
                            close,
                            why: error.to_string(),
                        },
                        None => Ending::PeerGone,
                    });
                }
                Poll::Ready(Some(Ok(message))) => message,
            };
            self.liveness.heard();
            match message {
                Message::Binary(envelope) => self.request_message(envelope)?,
                Message::Text(_) => return Err(Ending::violation("a text message after the head")),
                Message::Close(_) => return Err(Ending::PeerGone),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Hands one binary message, which must be exactly one envelope, to the call.
    fn request_message(&mut self, envelope: Bytes) -> Result<(), Ending> {
        let Some(length) = payload_len(&envelope) else {
            return Err(Ending::violation("a binary message is not an envelope"));
        };
        if envelope.len() != HEADER_LEN + length {
            return Err(Ending::violation(
                "a binary message must hold exactly one envelope",
            ));
        }
        let flags = envelope[0];
        if flags & !(FLAG_COMPRESSED | FLAG_END_STREAM) != 0 {
            return Err(Ending::violation("an envelope has unknown flags"));
        }
        if flags & FLAG_END_STREAM != 0 {
            if length != 0 || matches!(self.requests, Requests::Ended) {
                return Err(Ending::violation(
                    "the end of the request stream is one empty envelope flagged 0x02",
                ));
            }
            // Dropping the sender ends the call's request body.
            self.requests = Requests::Ended;
            return Ok(());
        }
        match &mut self.requests {
            Requests::Open(sender) => {
                // Reserved before the socket was read.
                let _ = sender.send_item(Ok(Frame::data(envelope)));
                Ok(())
            }
            Requests::Discarding => Ok(()),
            Requests::Ended => Err(Ending::violation(
                "a message after the end of the request stream",
            )),
        }
    }

    /// Starts the response from the handler's answer: the head message, then its body.
    fn answer(&mut self, response: http::Response<Body>) -> Result<(), Ending> {
        let (parts, body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(Ending::Fail {
                error: Some(Error::new(
                    Code::from_http_status(parts.status.as_u16()),
                    format!("the call was refused with HTTP status {}", parts.status),
                )),
                close: Close::Normal,
                why: String::new(),
            });
        }
        self.outbox
            .push_back(Message::text(server_head(&parts.headers)));
        self.head_sent = true;
        self.body = Some(body);
        Ok(())
    }

    /// Sends what the socket can take, pulling the response body only when the outbox is empty.
    fn send(&mut self, cx: &mut Context<'_>) -> Result<(), Ending> {
        loop {
            if self.outbox.is_empty() {
                let Some(body) = &mut self.body else {
                    return Ok(());
                };
                match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Ok(()),
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            self.cut(data)?;
                        }
                        continue;
                    }
                    Poll::Ready(Some(Err(error))) => {
                        self.body = None;
                        return Err(Ending::Fail {
                            error: Some(error),
                            close: Close::Internal,
                            why: "the response failed".into(),
                        });
                    }
                    Poll::Ready(None) => {
                        self.body = None;
                        if !self.ended {
                            return Err(Ending::Fail {
                                error: Some(Error::internal(
                                    "the response ended without its end-stream message",
                                )),
                                close: Close::Internal,
                                why: "the response ended early".into(),
                            });
                        }
                        return Ok(());
                    }
                }
            }
            match self.socket.poll_ready_unpin(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(_)) => return Err(Ending::PeerGone),
                Poll::Ready(Ok(())) => {}
            }
            let Some(message) = self.outbox.pop_front() else {
                continue;
            };
            if self.socket.start_send_unpin(message).is_err() {
                return Err(Ending::PeerGone);
            }
            self.unflushed = true;
        }
    }

    /// Cuts a chunk of the response body into envelopes, one binary message each.
    fn cut(&mut self, data: Bytes) -> Result<(), Ending> {
        let mut after_end = false;
        self.envelopes.push(data);
        // No limit is set, so cutting cannot fail.
        while let Ok(Some(envelope)) = self.envelopes.next_framed() {
            after_end |= self.ended;
            self.ended = envelope[0] & FLAG_END_STREAM != 0;
            self.outbox.push_back(Message::Binary(envelope));
        }
        if after_end {
            return Err(Ending::Fail {
                error: None,
                close: Close::Internal,
                why: "a response message after the end-stream".into(),
            });
        }
        Ok(())
    }

    /// Ends the socket as `ending` says. The call (if still running) is dropped first, which cancels
    /// its context.
    async fn finish(mut self, ending: Ending) {
        self.call = None;
        self.body = None;
        self.requests = Requests::Ended;
        let socket = &mut self.socket;
        let (close, why) = match ending {
            Ending::Done => (Close::Normal, String::new()),
            Ending::PeerGone => {
                // Let the answer to the peer's close (which tungstenite queued) go out.
                let _ = tokio::time::timeout(CLOSE_WAIT, socket.flush()).await;
                return;
            }
            Ending::Fail { error, close, why } => {
                if let Some(error) = error
                    && !self.ended
                {
                    // The peer reads the call's error from an end-stream, after a head.
                    if !self.head_sent {
                        let head = server_head(&http::HeaderMap::new());
                        self.outbox.push_back(Message::text(head));
                    }
                    self.outbox
                        .push_back(Message::Binary(end_stream_message(&error)));
                    let outbox = std::mem::take(&mut self.outbox);
                    let sent = tokio::time::timeout(CLOSE_WAIT, async {
                        for message in outbox {
                            socket.feed(message).await?;
                        }
                        socket.flush().await
                    })
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                (close, why)
            }
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            if socket.close(Some(close.frame(&why))).await.is_ok() {
                while let Some(Ok(_)) = socket.next().await {}
            }
        })
        .await;
        // The close is through (or the peer is not answering): the shutdown may go on.
        self.tracked = None;
    }
}

/// What the liveness timer asks for.
enum Beat {
    /// Send a ping: the socket has been quiet for the interval.
    Ping,
    /// Nothing arrived within the timeout after a ping.
    Dead,
}

/// Pings a quiet peer, and notices one that stopped answering.
struct Liveness {
    interval: Duration,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    last_heard: Instant,
    ping_sent: Option<Instant>,
}

impl Liveness {
    fn new(options: &WebSocketOptions) -> Self {
        let now = Instant::now();
        Self {
            interval: options.ping_interval,
            timeout: options.ping_timeout,
            timer: Box::pin(tokio::time::sleep_until(now + options.ping_interval)),
            last_heard: now,
            ping_sent: None,
        }
    }

    /// Something arrived from the peer (or the peer is not being listened to).
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = None;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Beat> {
        loop {
            ready!(self.timer.as_mut().poll(cx));
            let now = Instant::now();
            match self.ping_sent {
                None => {
                    let due = self.last_heard + self.interval;
                    if now >= due {
                        self.ping_sent = Some(now);
                        self.timer.as_mut().reset(now + self.timeout);
                        return Poll::Ready(Beat::Ping);
                    }
                    self.timer.as_mut().reset(due);
                }
                Some(sent) => {
                    if now >= sent + self.timeout {
                        return Poll::Ready(Beat::Dead);
                    }
                    self.timer.as_mut().reset(sent + self.timeout);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![flags];
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Takes every whole envelope `decoder` has, as framed.
    fn cut(decoder: &mut EnvelopeDecoder, chunk: &[u8], out: &mut Vec<Bytes>) {
        decoder.push(Bytes::copy_from_slice(chunk));
        while let Some(envelope) = decoder.next_framed().expect("no limit") {
            out.push(envelope);
        }
    }

    #[test]
    fn chunks_are_cut_into_whole_envelopes_wherever_they_end() {
        let mut stream = envelope(0, b"one");
        stream.extend(envelope(1, b""));
        stream.extend(envelope(2, b"{}"));
        // Every way of cutting the stream in three gives the same envelopes.
        for first in 0..stream.len() {
            for second in first..stream.len() {
                let mut envelopes = EnvelopeDecoder::new(0);
                let mut out = Vec::new();
                for chunk in [&stream[..first], &stream[first..second], &stream[second..]] {
                    cut(&mut envelopes, chunk, &mut out);
                }
                let expected = [envelope(0, b"one"), envelope(1, b""), envelope(2, b"{}")];
                assert_eq!(out, expected, "cut at {first} and {second}");
                assert_eq!(envelopes.pending(), 0);
            }
        }
    }

    #[test]
    fn a_whole_batch_is_sliced_not_copied() {
        let mut batch = envelope(0, b"a");
        batch.extend(envelope(0, b"bc"));
        let batch = Bytes::from(batch);
        let mut envelopes = EnvelopeDecoder::new(0);
        envelopes.push(batch.clone());
        let mut out = Vec::new();
        while let Some(envelope) = envelopes.next_framed().expect("no limit") {
            out.push(envelope);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ptr(), batch.as_ptr());
    }
}
