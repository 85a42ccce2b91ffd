//! Answering a call: what a handler returned, written through the call's protocol. A reply of one
//! message goes out whole; a stream goes out as a body that gathers ready messages into batches and ends the way the
//! protocol ends a stream.
//!
//! # Memory
//!
//! Served by a [`Server`](crate::Server), a streaming body produces a batch only while fewer than
//! [`MAX_IN_FLIGHT`] (two) of the batches it handed on are still held by the connection: each batch
//! carries a token that, once the connection has written the batch out (into the socket, or into its
//! own write buffer) and dropped it, counts it as taken and wakes the body. A client that stops
//! reading (or stops granting flow-control window) therefore stops the handler's stream from being
//! polled, and the stream holds at most two batches: each under [`BATCH_BYTES`] plus one message, so
//! under 64 KiB plus two messages (and the protocol's final frame), whatever windows the client
//! grants. hyper polls a body for its next chunk before it knows there is room to send it, so without
//! the gate one more batch would sit in hyper, and h2 would buffer up to its per-stream send buffer of
//! earlier ones. Two rather than one keep a batch ready while the previous one is written.
//!
//! The gate is off for requests that did not come through a `Server` (an in-memory transport, the
//! router under the caller's own hyper): their consumer may keep the chunks it has read, so a chunk
//! still alive says nothing about its progress. For the same reason, tower middleware between a
//! `Server` and the router must pass a streaming response's chunks on rather than keep them: a layer
//! that gathers a whole streamed response before sending it would wait for ever after two batches.

use std::future::Future as _;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::task::AtomicWaker;
use http_body::Frame;
use tokio::time::Instant;
use tokio_util::sync::DropGuard;

use crate::body::Body;
use crate::compression::GzipStream;
use crate::deadline;
use crate::protocol::server::{
    Framing, ResponseFormat, ServerProtocol, StreamEnd, UnaryReply, append_metadata,
};
use crate::server::outgoing::Outgoing;
use crate::server::recover::Recovery;
use crate::server::response_budget::ResponseBudget;
use crate::wire::MessageWriter;
use crate::{Error, Metadata, Response};

/// What a handler answered with, before the protocol writes it.
pub(crate) enum Reply {
    /// One message, as the call's framing wants it: encoded (unframed calls, compressed here) or
    /// already framed (enveloped calls).
    One(BytesMut),
    /// A stream of messages.
    Stream(Outgoing),
}

/// Whether a streamed response produces its next batch only once the connection has taken enough of
/// the earlier ones (see the module docs).
#[derive(Clone, Debug)]
pub(crate) enum Gate {
    /// The response goes to a `Server`'s own connection, which drops each chunk once it has written
    /// it: hold back while [`MAX_IN_FLIGHT`] batches are not yet written, or while this stream holds
    /// one and the connection's [`ResponseBudget`] is spent.
    UntilTaken(Arc<ResponseBudget>),
    /// The response goes elsewhere (an in-memory transport, the caller's own hyper): its consumer may
    /// keep chunks it has read (slices of a batch in decoded messages, say), so dropping them says
    /// nothing about its progress. Each poll produces a batch, as the consumer asks.
    Off,
}

impl Gate {
    /// The gate for a request a `Server` handed over (with its connection's budget), or one from
    /// elsewhere.
    pub(crate) fn from_budget(budget: Option<&Arc<ResponseBudget>>) -> Self {
        match budget {
            Some(budget) => Self::UntilTaken(budget.clone()),
            None => Self::Off,
        }
    }
}

/// Writes the handler's `result` as the call's response. `cancel_on_drop` cancels the call's context
/// once the response is over: when this returns for a whole response, when the body ends for a stream.
pub(crate) fn respond(
    format: ResponseFormat,
    deadline: Option<Instant>,
    cancel_on_drop: DropGuard,
    recovery: Recovery,
    gate: Gate,
    result: Result<Response<Reply>, Error>,
) -> http::Response<Body> {
    let protocol = format.protocol;
    let (headers, reply, trailers) = match result {
        Ok(response) => response.into_parts(),
        Err(error) => return protocol.error_response(&format, &error),
    };
    match (format.framing, reply) {
        (Framing::Unframed | Framing::Text(_), Reply::One(encoded)) => {
            match format.writer.compress(encoded) {
                Ok((payload, compressed)) => {
                    let reply = UnaryReply {
                        headers,
                        payload,
                        compressed,
                        trailers,
                    };
                    protocol.unary_response(&format, reply)
                }
                Err(error) => protocol.error_response(&format, &error),
            }
        }
        (Framing::Unframed, Reply::Stream(_)) => {
            let error = Error::internal("a stream of responses cannot be sent unframed");
            protocol.error_response(&format, &error)
        }
        (Framing::Enveloped, Reply::One(framed)) => single(format, headers, framed, trailers),
        (Framing::Enveloped | Framing::Text(_), Reply::Stream(messages)) => {
            let ending = Ending {
                deadline,
                cancel_on_drop,
                recovery,
                gate,
            };
            stream(format, headers, messages, trailers, ending)
        }
    }
}

/// An enveloped response of one message (gRPC and gRPC-Web unary calls, client streams): the message
/// and the protocol's ending go out as they are. Nothing more will come, so none of a stream's
/// machinery is needed: no batch to copy the message into, no gate, no deadline while it is written.
fn single(
    format: ResponseFormat,
    headers: Metadata,
    mut framed: BytesMut,
    trailers: Metadata,
) -> http::Response<Body> {
    let protocol = format.protocol;
    let http_trailers = match protocol.end_stream(None, &trailers, &mut framed) {
        Ok(StreamEnd::Trailers(http_trailers)) => Some(http_trailers),
        Ok(StreamEnd::InBody) => None,
        Err(error) => return protocol.error_response(&format, &error),
    };
    let mut response = http::Response::new(Body::empty());
    let map = response.headers_mut();
    append_metadata(map, &headers);
    protocol.response_headers(&format, format.writer.compression.is_some(), map);
    let frames = [
        Some(Frame::data(framed.freeze())),
        http_trailers.map(Frame::trailers),
    ];
    let frames = futures_util::stream::iter(frames.into_iter().flatten().map(Ok));
    *response.body_mut() = protocol.response_body(Body::from_frames(frames));
    response
}

/// What ends a streamed response other than its last message: the deadline, the caller going away
/// (the body is dropped, cancelling the call), or a panic while producing a message.
struct Ending {
    deadline: Option<Instant>,
    cancel_on_drop: DropGuard,
    recovery: Recovery,
    gate: Gate,
}

/// A streaming response: headers now, then each message as it comes, then the protocol's ending.
fn stream(
    format: ResponseFormat,
    headers: Metadata,
    messages: Outgoing,
    trailers: Metadata,
    ending: Ending,
) -> http::Response<Body> {
    let protocol = format.protocol;
    // A text stream is compressed as one HTTP body (only gzip can be, piece by piece: see
    // `gzip_stream.rs`); an enveloped one message by message, as the writer does.
    let gzip = match format.framing {
        Framing::Text(_) => format
            .writer
            .compression
            .as_ref()
            .filter(|compression| compression.name() == "gzip")
            .map(|_| GzipStream::new()),
        _ => None,
    };
    let compressed = match format.framing {
        Framing::Text(_) => gzip.is_some(),
        _ => format.writer.compression.is_some(),
    };
    let mut response = http::Response::new(Body::empty());
    let map = response.headers_mut();
    append_metadata(map, &headers);
    protocol.response_headers(&format, compressed, map);
    let heartbeat = match (format.framing, format.heartbeat) {
        (Framing::Text(frame), Some(every)) => {
            frame.heartbeat.map(|frame| Heartbeat::new(every, frame))
        }
        _ => None,
    };
    let body = ResponseBody {
        protocol,
        heartbeat,
        gzip,
        messages: Some(messages),
        writer: format.writer,
        deadline: ending
            .deadline
            .map(|d| Box::pin(tokio::time::sleep_until(d))),
        trailers,
        batch: BytesMut::new(),
        in_flight: match ending.gate {
            Gate::UntilTaken(budget) => Some(Arc::new(InFlight::new(budget))),
            Gate::Off => None,
        },
        pending_trailers: None,
        done: false,
        recovery: ending.recovery,
        complete: 0,
        _cancel_on_drop: ending.cancel_on_drop,
    };
    *response.body_mut() = protocol.response_body(Body::from_frames(body));
    response
}

/// How many bytes of ready messages a streaming body gathers into one DATA frame before handing it on.
///
/// Gathering only what is ready adds no latency; it saves the per-frame work (and syscalls) that a frame
/// per message costs when a handler produces messages faster than the connection takes them.
const BATCH_BYTES: usize = 32 * 1024;

/// Room reserved past [`BATCH_BYTES`], so that the message that fills a batch rarely makes it grow.
const BATCH_HEADROOM: usize = 4 * 1024;

/// At most this many batches a streaming body handed on may be held by the connection (not yet written
/// out) before the body stops producing more; see the module docs.
const MAX_IN_FLIGHT: usize = 2;

/// The batches of one streaming body that the connection holds: counted up when the body hands one on,
/// down when the connection drops it, in this stream's count and in the connection's budget.
struct InFlight {
    batches: AtomicUsize,
    /// The body's task, waiting for a batch to be taken.
    taken: AtomicWaker,
    budget: Arc<ResponseBudget>,
}

impl InFlight {
    fn new(budget: Arc<ResponseBudget>) -> Self {
        Self {
            batches: AtomicUsize::new(0),
            taken: AtomicWaker::new(),
            budget,
        }
    }

    /// How many batches this stream may hold now: [`MAX_IN_FLIGHT`], or one while the connection's
    /// budget is spent.
    fn limit(&self) -> usize {
        if self.budget.spent() {
            1
        } else {
            MAX_IN_FLIGHT
        }
    }

    /// Whether the body may produce another batch now. When it may not, the body's task is woken once
    /// a batch of its own has been taken.
    fn has_room(&self, cx: &Context<'_>) -> bool {
        if self.batches.load(Ordering::Acquire) < self.limit() {
            return true;
        }
        self.taken.register(cx.waker());
        // A batch may have been taken between the load and the registration.
        self.batches.load(Ordering::Acquire) < self.limit()
    }

    /// `batch` as the bytes handed on, counted in flight until the connection drops them.
    fn hand_on(self: &Arc<Self>, batch: BytesMut) -> Bytes {
        self.batches.fetch_add(1, Ordering::AcqRel);
        self.budget.take(batch.len());
        Bytes::from_owner(HandedOn {
            batch,
            in_flight: self.clone(),
        })
    }
}

/// A batch handed on to the connection; dropping it (the connection has written it out) counts it as
/// taken.
struct HandedOn {
    batch: BytesMut,
    in_flight: Arc<InFlight>,
}

impl AsRef<[u8]> for HandedOn {
    fn as_ref(&self) -> &[u8] {
        &self.batch
    }
}

impl Drop for HandedOn {
    fn drop(&mut self) {
        self.in_flight.budget.give_back(self.batch.len());
        self.in_flight.batches.fetch_sub(1, Ordering::AcqRel);
        self.in_flight.taken.wake();
    }
}

/// A text stream's heartbeat: what it sends when it has been silent for a while, so that proxies
/// with read timeouts keep it open.
struct Heartbeat {
    every: Duration,
    frame: &'static [u8],
    timer: Pin<Box<tokio::time::Sleep>>,
    /// When the stream last handed something on.
    last: Instant,
}

impl Heartbeat {
    fn new(every: Duration, frame: &'static [u8]) -> Self {
        let now = Instant::now();
        Self {
            every,
            frame,
            timer: Box::pin(tokio::time::sleep_until(now + every)),
            last: now,
        }
    }

    /// Whether the stream has been silent for the interval (the heartbeat is then counted as sent).
    /// The timer is not reset with every batch: when it fires it is moved to the interval after
    /// the last batch, so a busy stream costs one timer event per interval at most.
    fn due(&mut self, cx: &mut Context<'_>) -> bool {
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let next = self.last + self.every;
            if next <= now {
                self.last = now;
                self.timer.as_mut().reset(now + self.every);
                // Poll once more so that the new deadline wakes the body.
                let _ = self.timer.as_mut().poll(cx);
                return true;
            }
            self.timer.as_mut().reset(next);
        }
        false
    }
}

/// The body of a streaming response.
struct ResponseBody {
    protocol: &'static dyn ServerProtocol,
    /// Sends a comment while the stream is silent, for text streams that have one.
    heartbeat: Option<Heartbeat>,
    /// Compresses a text stream's batches as one gzip body, when the client accepts it.
    gzip: Option<GzipStream>,
    messages: Option<Outgoing>,
    writer: MessageWriter,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    trailers: Metadata,
    /// Framed messages (and a final frame, for protocols that end in the body) not yet handed on.
    batch: BytesMut,
    /// The batches handed on that the connection has not yet written out (`None`: not counted, with
    /// [`Gate::Off`]).
    in_flight: Option<Arc<InFlight>>,
    /// HTTP trailers that end the stream after the last data frame (gRPC's status).
    pending_trailers: Option<http::HeaderMap>,
    done: bool,
    /// Reports a panic of the handler's stream; the stream then ends with `internal`.
    recovery: Recovery,
    /// How much of `batch` holds whole messages (what a panic mid-message leaves is cut off).
    complete: usize,
    /// Cancels the call's context when the body is finished or dropped (the caller went away).
    _cancel_on_drop: DropGuard,
}

impl ResponseBody {
    /// Appends every message that is ready (up to [`BATCH_BYTES`]) to the batch. Returns how the stream
    /// ended (`Some(None)`: cleanly, `Some(Some(error))`: with an error) or `None` while it goes on.
    fn fill_batch(&mut self, cx: &mut Context<'_>) -> Option<Option<Error>> {
        // One guard around the whole fill (not one per message): a panic in the handler's stream ends
        // it with `internal`, keeping the messages it completed before.
        self.complete = self.batch.len();
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.fill_batch_unguarded(cx))) {
            Ok(ending) => ending,
            Err(panic) => {
                self.batch.truncate(self.complete);
                Some(Some(self.recovery.recover(panic)))
            }
        }
    }

    fn fill_batch_unguarded(&mut self, cx: &mut Context<'_>) -> Option<Option<Error>> {
        let messages = match &mut self.messages {
            Some(messages) => messages,
            None => return Some(None),
        };
        // With the connection's budget spent, a batch carries one message (see `response_budget.rs`).
        let target = match &self.in_flight {
            Some(in_flight) if in_flight.budget.spent() => 1,
            _ => BATCH_BYTES,
        };
        let mut written = 0;
        while self.batch.len() < target {
            match messages
                .as_mut()
                .poll_write(cx, &self.writer, &mut self.batch)
            {
                Poll::Pending => {
                    if self.batch.is_empty() {
                        // Do not keep a buffer while the stream sits idle.
                        self.batch = BytesMut::new();
                    }
                    return None;
                }
                Poll::Ready(Some(Ok(()))) => {
                    self.complete = self.batch.len();
                    // Once two messages were ready at once, more are likely: make room for a whole batch
                    // in one step rather than growing (and copying) the buffer as it fills.
                    written += 1;
                    if written == 2 && self.batch.capacity() - self.batch.len() < BATCH_HEADROOM {
                        self.batch.reserve(BATCH_BYTES + BATCH_HEADROOM);
                    }
                }
                Poll::Ready(Some(Err(error))) => return Some(Some(error)),
                Poll::Ready(None) => return Some(None),
            }
        }
        None
    }

    /// The protocol's ending: a final frame joins the batch, or HTTP trailers wait until it has gone.
    fn end(&mut self, error: Option<Error>) -> Result<(), Error> {
        self.messages = None;
        self.deadline = None;
        self.heartbeat = None;
        match self
            .protocol
            .end_stream(error.as_ref(), &self.trailers, &mut self.batch)?
        {
            StreamEnd::Trailers(trailers) => self.pending_trailers = Some(trailers),
            StreamEnd::InBody => self.done = true,
        }
        Ok(())
    }
}

/// A text stream's batch as the next piece of its gzip body.
fn compress_batch(
    gzip: &mut GzipStream,
    batch: &[u8],
    min_bytes: usize,
) -> Result<BytesMut, Error> {
    // The gzip stream sizes the buffer for what it writes.
    let mut out = BytesMut::new();
    if !batch.is_empty() {
        gzip.piece(batch, min_bytes, &mut out)?;
    }
    Ok(out)
}

impl Stream for ResponseBody {
    type Item = Result<Frame<Bytes>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.done && this.pending_trailers.is_none() {
            let mut ending = None;
            if let Some(deadline) = &mut this.deadline
                && deadline.as_mut().poll(cx).is_ready()
            {
                ending = Some(Some(deadline::exceeded()));
            }
            // While the connection holds enough of this stream's batches, leave the messages where
            // they are: the connection wakes the body when it takes one.
            if ending.is_none() && this.in_flight.as_ref().is_none_or(|f| f.has_room(cx)) {
                ending = this.fill_batch(cx);
                if ending.is_none()
                    && this.batch.is_empty()
                    && let Some(heartbeat) = &mut this.heartbeat
                    && heartbeat.due(cx)
                {
                    this.batch.extend_from_slice(heartbeat.frame);
                }
            }
            if let Some(error) = ending
                && let Err(error) = this.end(error)
            {
                this.done = true;
                return Poll::Ready(Some(Err(error)));
            }
        }
        if !this.batch.is_empty() || (this.done && this.gzip.is_some()) {
            if let Some(heartbeat) = &mut this.heartbeat {
                heartbeat.last = Instant::now();
            }
            let mut batch = this.batch.split();
            if let Some(gzip) = &mut this.gzip {
                match compress_batch(gzip, &batch, this.writer.compress_min_bytes) {
                    Ok(compressed) => batch = compressed,
                    Err(error) => {
                        this.done = true;
                        this.pending_trailers = None;
                        return Poll::Ready(Some(Err(error)));
                    }
                }
                if this.done
                    && let Some(gzip) = this.gzip.take()
                {
                    gzip.finish(&mut batch);
                }
            }
            let batch = match &this.in_flight {
                Some(in_flight) => in_flight.hand_on(batch),
                None => batch.freeze(),
            };
            return Poll::Ready(Some(Ok(Frame::data(batch))));
        }
        if let Some(trailers) = this.pending_trailers.take() {
            this.done = true;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if this.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};

    use super::*;

    /// A waker that counts its wakes.
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_batch_dropped_by_the_connection_makes_room_and_wakes_the_body() {
        let wakes = Arc::new(Wakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let cx = Context::from_waker(&waker);
        let budget = Arc::new(ResponseBudget::new(1 << 20));
        let in_flight = Arc::new(InFlight::new(budget.clone()));
        assert!(in_flight.has_room(&cx));
        let first = in_flight.hand_on(BytesMut::from(&b"first"[..]));
        assert!(in_flight.has_room(&cx), "one batch in flight leaves room");
        let second = in_flight.hand_on(BytesMut::from(&b"second"[..]));
        assert_eq!(&first[..], b"first");
        assert_eq!(&second[..], b"second");
        assert!(
            !in_flight.has_room(&cx),
            "two batches in flight are the most"
        );

        // Part of a batch still held keeps the whole batch in flight.
        let rest = second.slice(1..);
        drop(second);
        assert!(!in_flight.has_room(&cx));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        drop(rest);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the body is woken");
        assert!(in_flight.has_room(&cx));
        drop(first);
        assert_eq!(in_flight.batches.load(Ordering::SeqCst), 0);
        assert!(!budget.spent());
    }

    #[test]
    fn a_spent_budget_leaves_each_stream_one_batch() {
        let waker = Waker::noop();
        let cx = Context::from_waker(waker);
        let budget = Arc::new(ResponseBudget::new(10));
        let quiet = Arc::new(InFlight::new(budget.clone()));
        let busy = Arc::new(InFlight::new(budget.clone()));
        let held = busy.hand_on(BytesMut::from(&b"0123456789"[..]));
        assert!(budget.spent());
        assert!(!busy.has_room(&cx), "one batch while the budget is spent");
        assert!(
            quiet.has_room(&cx),
            "a stream holding nothing may still send"
        );
        drop(held);
        assert!(!budget.spent());
        assert!(busy.has_room(&cx));
    }
}
