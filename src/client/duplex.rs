//! The duplex call: the one client-side object every call type rides on.
//!
//! The request body is the read end of a bounded channel; [`DuplexCall::send`] writes to the other end and
//! waits while the transport is not reading. The HTTP request starts lazily, exactly once, on the first
//! send, close-send or receive. A piped request runs in its own task, so that the transport reads the pipe
//! while the caller sends; a request whose body is complete up front (unary and server-streaming calls)
//! runs in the caller's task while it waits for the response head, as connect-go runs unary calls
//! inline, which spares each such call a task spawn and a channel. Receivers wait for the response
//! head. The first failure of any kind (transport, protocol, deadline, cancellation) is kept and
//! returned by every later operation. Dropping the call aborts the HTTP stream so the server sees the
//! cancellation.
//!
//! The call knows no protocol: the client's [`ClientProtocol`](crate::protocol::client::ClientProtocol)
//! writes the timeout header when the request starts and judges the response head when it arrives (as
//! connect-go injects `validateResponse` into its duplex call); a rejected head fails the call like any
//! other error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::body::Body;
use crate::client::config::ClientConfig;
use crate::deadline;
use crate::envelope::{Envelope, EnvelopeReader};
use crate::method::{MethodSpec, StreamType};
use crate::protocol::client::{AcceptedHead, ResponseContext, Verdict};
use crate::{Code, Error};

/// How many framed messages may wait in the request pipe before `send` waits for the transport.
const PIPE_CAPACITY: usize = 4;

type HttpResult = Result<http::Response<Body>, Error>;

/// The response on its way, once the request started.
enum Pending {
    /// The request runs in its own task (piped bodies), which sends its result here.
    Task(oneshot::Receiver<HttpResult>),
    /// The request runs when the caller waits for the head (complete bodies).
    Inline(Pin<Box<dyn Future<Output = HttpResult> + Send>>),
}

/// The head of the response, once it arrived and the protocol accepted it.
pub(crate) struct ResponseHead {
    /// The HTTP headers as received.
    pub http_headers: http::HeaderMap,
    /// What the protocol made of them.
    pub accepted: AcceptedHead,
}

/// One in-flight client call (see the module docs).
pub(crate) struct DuplexCall {
    config: Arc<ClientConfig>,
    spec: &'static MethodSpec,
    /// The prepared request head, until the request starts.
    head: Option<http::request::Parts>,
    deadline: Option<Instant>,
    /// Fires to abort a piped request body (and with it the HTTP stream); made when the pipe is,
    /// so that calls with a complete body (every unary call) allocate none.
    abort: Option<CancellationToken>,
    sender: Option<mpsc::Sender<Bytes>>,
    pending: Option<Pending>,
    task: Option<JoinHandle<()>>,
    response: Option<ResponseHead>,
    body: Option<EnvelopeReader>,
    error: Option<Error>,
    started: bool,
}

impl DuplexCall {
    /// A call that has not started; `head` is the request to send (method, URI, headers).
    pub fn new(
        config: Arc<ClientConfig>,
        spec: &'static MethodSpec,
        head: Result<http::request::Parts, Error>,
        deadline: Option<Instant>,
    ) -> Self {
        let (head, error) = match head {
            Ok(head) => (Some(head), None),
            Err(e) => (None, Some(e)),
        };
        let mut call = Self {
            config,
            spec,
            head,
            deadline,
            abort: None,
            sender: None,
            pending: None,
            task: None,
            response: None,
            body: None,
            error,
            started: false,
        };
        if call.error.is_none()
            && spec.stream_type == StreamType::BidiStream
            && call.config.http_version == crate::client::HttpVersion::Http1
        {
            call.error = Some(bidi_needs_http2());
        }
        call
    }

    /// Starts the request with a body built from the pipe, if not started yet.
    fn start_piped(&mut self) {
        if self.started {
            return;
        }
        let (tx, rx) = mpsc::channel(PIPE_CAPACITY);
        self.sender = Some(tx);
        let body = PipeBody {
            rx,
            aborted: Box::pin(
                self.abort
                    .get_or_insert_with(CancellationToken::new)
                    .clone()
                    .cancelled_owned(),
            ),
        };
        self.start(Body::new(body), true);
    }

    /// Starts the request with a complete body (unary and server-streaming calls, GET).
    pub fn start_with_body(&mut self, body: Body) {
        if !self.started {
            self.start(body, false);
        }
    }

    /// Starts the request; `piped` requests get their own task (see the module docs).
    fn start(&mut self, body: Body, piped: bool) {
        self.started = true;
        if self.error.is_some() {
            return;
        }
        if let Some(deadline) = self.deadline
            && deadline <= Instant::now()
        {
            self.fail(deadline::exceeded());
            return;
        }
        let Some(mut head) = self.head.take() else {
            return;
        };
        if let Some(deadline) = self.deadline {
            // Streams start on first use, possibly long after the call was opened: tell the server
            // the time left now, not the timeout the head was prepared with.
            let left = deadline.saturating_duration_since(Instant::now());
            self.config
                .protocol
                .write_timeout(self.spec.stream_type, left, &mut head.headers);
        }
        let request = http::Request::from_parts(head, body);
        let response = self.config.transport.send(request);
        if !piped {
            self.pending = Some(Pending::Inline(response));
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.pending = Some(Pending::Task(rx));
        self.task = Some(tokio::spawn(async move {
            let _ = tx.send(response.await);
        }));
    }

    /// Records the first failure and aborts the HTTP stream. Returns the stored error.
    pub fn fail(&mut self, error: Error) -> Error {
        let stored = match &self.error {
            Some(first) => first.clone(),
            None => {
                let first = self.blame_deadline(error);
                self.error = Some(first.clone());
                first
            }
        };
        self.abort_transport();
        stored
    }

    /// A transport failure observed once the deadline has passed is the deadline's doing: the server
    /// (or a proxy) gave up on the call a moment before this side's timer fired.
    fn blame_deadline(&self, error: Error) -> Error {
        let transport_failure = matches!(
            error.code(),
            Code::Unavailable | Code::Canceled | Code::Internal | Code::Unknown
        );
        match self.deadline {
            Some(deadline) if transport_failure && Instant::now() >= deadline => {
                deadline::exceeded()
            }
            _ => error,
        }
    }

    fn abort_transport(&mut self) {
        if let Some(abort) = &self.abort {
            abort.cancel();
        }
        self.sender = None;
        self.body = None;
        self.pending = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// The stored error, if the call has failed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Sends one framed message, waiting while the transport is not reading.
    pub async fn send(&mut self, framed: Bytes) -> Result<(), Error> {
        self.check()?;
        self.start_piped();
        self.check()?;
        let Some(sender) = self.sender.clone() else {
            return Err(Error::new(
                Code::FailedPrecondition,
                "cannot send after the request stream was closed",
            ));
        };
        let deadline = self.deadline;
        match deadline::within(deadline, async { Ok(sender.send(framed).await) }).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => {
                // The transport stopped reading: the server ended the call or the connection failed.
                self.sender = None;
                if let Some(error) = &self.error {
                    return Err(error.clone());
                }
                // The response says which: a broken connection (a server that vanished) fails it,
                // and that failure (`unavailable`) is the send's too, as is an error the server
                // answered with at once. The response is already there or failing, so this does
                // not wait (and the deadline bounds it regardless).
                match self.response_head().await {
                    Err(error) => Err(error),
                    Ok(_) => Err(Error::new(
                        Code::Unknown,
                        "the server stopped reading the request stream; receive the response to see why",
                    )),
                }
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Ends the request stream (the server then sees end-of-stream).
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.check()?;
        self.start_piped();
        self.sender = None;
        self.check()
    }

    /// Waits for the response head.
    pub async fn response_head(&mut self) -> Result<&ResponseHead, Error> {
        self.check()?;
        if self.response.is_none() {
            self.start_piped();
            self.check()?;
            let Some(pending) = self.pending.take() else {
                return Err(self.fail(Error::internal("call has no response pending")));
            };
            let result = deadline::within(self.deadline, async {
                match pending {
                    Pending::Task(task) => task
                        .await
                        .unwrap_or_else(|_| Err(Error::new(Code::Canceled, "call was cancelled"))),
                    Pending::Inline(response) => response.await,
                }
            })
            .await;
            let response = match result {
                Ok(response) => response,
                Err(e) => return Err(self.fail(e)),
            };
            let (parts, body) = response.into_parts();
            if parts.version < http::Version::HTTP_2
                && self.spec.stream_type == StreamType::BidiStream
            {
                return Err(self.fail(bidi_needs_http2()));
            }
            let context = ResponseContext {
                stream_type: self.spec.stream_type,
                codec: self.config.codec.name(),
                compression: &self.config.compression,
                body_ended: http_body::Body::is_end_stream(&body),
            };
            let verdict = self.config.protocol.validate_response(&context, &parts);
            self.body = Some(EnvelopeReader::new(body, self.config.read_max_bytes));
            match verdict {
                Verdict::Accept(accepted) => {
                    self.response = Some(ResponseHead {
                        http_headers: parts.headers,
                        accepted,
                    });
                }
                Verdict::Reject(error) => return Err(self.fail(error)),
                Verdict::ErrorInBody { max, explain } => {
                    // A failure to read the error body (the deadline, a body over `max`) is the error.
                    let error = match self.read_to_end(max).await {
                        Ok(body) => explain(body),
                        Err(e) => e,
                    };
                    return Err(self.fail(error));
                }
            }
        }
        self.response
            .as_ref()
            .ok_or_else(|| Error::internal("response head missing"))
    }

    /// The next envelope if the head is in and the envelope already read (see
    /// [`EnvelopeReader::buffered`]); `None` when there is none to take without waiting.
    pub fn buffered_envelope(&mut self) -> Option<Result<Envelope, Error>> {
        if self.error.is_some() || self.response.is_none() {
            return None;
        }
        match self.body.as_mut()?.buffered() {
            Ok(Some(envelope)) => Some(Ok(envelope)),
            Ok(None) => None,
            Err(e) => Some(Err(self.fail(e))),
        }
    }

    /// The next framed message of the response body; `Ok(None)` at a clean end.
    pub async fn receive_envelope(&mut self) -> Result<Option<Envelope>, Error> {
        // Fast path: the head is in and the next envelope is already read.
        if let Some(envelope) = self.buffered_envelope() {
            return envelope.map(Some);
        }
        self.response_head().await?;
        let deadline = self.deadline;
        let Some(body) = self.body.as_mut() else {
            return Err(self.fail(Error::internal("response body already consumed")));
        };
        let result = deadline::within(deadline, body.next()).await;
        result.map_err(|e| self.fail(e))
    }

    /// The whole response body, unframed, bounded by `max` bytes (0: no limit).
    pub async fn read_body(&mut self, max: usize) -> Result<Bytes, Error> {
        self.response_head().await?;
        self.read_to_end(max).await.map_err(|e| self.fail(e))
    }

    /// Reads the rest of the body within the deadline; the caller decides what a failure means.
    async fn read_to_end(&mut self, max: usize) -> Result<Bytes, Error> {
        let Some(body) = self.body.as_mut() else {
            return Err(Error::internal("response body already consumed"));
        };
        deadline::within(self.deadline, body.read_to_end(max)).await
    }

    /// Whether the response ended with its head (nothing else to read).
    pub fn response_ended(&self) -> bool {
        self.response.is_some()
            && self
                .body
                .as_ref()
                .is_some_and(EnvelopeReader::is_end_stream)
    }

    /// The accepted response head, once it arrived.
    pub fn head(&self) -> Option<&ResponseHead> {
        self.response.as_ref()
    }

    /// Takes the response head out of a finished call (whose result is being handed over).
    pub fn take_head(&mut self) -> Option<ResponseHead> {
        self.response.take()
    }

    /// HTTP trailers of the response, once the body has ended.
    pub fn http_trailers(&self) -> Option<&http::HeaderMap> {
        self.body.as_ref().and_then(|b| b.trailers())
    }

    /// Cancels the call: the HTTP stream is aborted and later operations report `canceled`.
    pub fn cancel(&mut self) {
        self.fail(Error::new(
            Code::Canceled,
            "call was cancelled by the client",
        ));
    }

    /// Marks the call finished without error, releasing the transport.
    pub fn finish(&mut self) {
        self.sender = None;
        self.body = None;
    }
}

impl Drop for DuplexCall {
    fn drop(&mut self) {
        // A call that finished normally has nothing left to abort; one dropped mid-way resets the stream.
        if let Some(abort) = &self.abort {
            abort.cancel();
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn bidi_needs_http2() -> Error {
    Error::new(
        Code::Unimplemented,
        "bidi streams require HTTP/2, but this call uses HTTP/1.1",
    )
}

/// The request body fed by the pipe; yields an error (resetting the stream) if the call is aborted.
struct PipeBody {
    rx: mpsc::Receiver<Bytes>,
    aborted: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl http_body::Body for PipeBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.aborted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Error::new(Code::Canceled, "call was cancelled"))));
        }
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|b| Ok(Frame::data(b))))
    }
}
