//! Client calls through the client's interceptors (see `interceptor.rs` for the chain).
//!
//! Each call type erases its messages into the chain and types them again at the far end, where the
//! chain's last `next` runs the call the way a client without interceptors does. Unary and
//! server-streaming calls run the chain in the caller's task: the request is complete up front. Client-
//! and bidi-streaming calls keep the duplex call's promise of a lazy start: the chain starts, in a task
//! of its own, on the first send, close or receive, so that it runs while the caller goes on sending;
//! the caller's messages reach it through a small channel, and the request body is the stream the
//! interceptors hand on. A failure on the request side (an interceptor failing the request stream, a
//! message of the wrong type) resets the HTTP stream and is the error the call reports.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use http_body::Frame;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::any_message::{AnyMessage, MessageStream, TrailerSlot};
use crate::body::Body;
use crate::client::Client;
use crate::client::calls::ServerStreamCall;
use crate::client::receive::StreamReceiver;
use crate::codec::Message;
use crate::deadline;
use crate::interceptor::{BoxFuture, Chain, StreamingEndpoint, UnaryEndpoint};
use crate::method::MethodSpec;
use crate::wire::MessageWriter;
use crate::{CallContext, Code, Error, Metadata, Request, Response};

impl Client {
    /// The context a call's interceptors see.
    fn interceptor_context(
        &self,
        spec: &'static MethodSpec,
        deadline: Option<Instant>,
    ) -> CallContext {
        let config = &self.config;
        let http_method = if config.uses_get(spec) {
            http::Method::GET
        } else {
            http::Method::POST
        };
        // An unusable URI fails the call itself, once the chain lets it go out.
        let uri = config.uri(spec).unwrap_or_default();
        CallContext::client(
            spec,
            config.protocol.kind(),
            deadline,
            http_method,
            uri,
            config.http_version.as_http(),
        )
    }

    /// A unary call through `chain`.
    pub(super) async fn intercepted_unary<Req: Message, Res: Message>(
        &self,
        chain: &Chain,
        spec: &'static MethodSpec,
        request: Request<Req>,
    ) -> Result<Response<Res>, Error> {
        let (_, deadline) = self.call_deadline(request.timeout());
        let request = request
            .with_context(self.interceptor_context(spec, deadline))
            .map(AnyMessage::new);
        let client = self.clone();
        let endpoint: UnaryEndpoint = Arc::new(move |request: Request<AnyMessage>| {
            let client = client.clone();
            Box::pin(async move {
                let request = remaining_time(request.map(AnyMessage::into_typed::<Req>))
                    .transpose_message()?;
                let response = client.direct_unary::<Req, Res>(spec, request).await?;
                Ok(response.map(AnyMessage::new))
            })
        });
        let response = deadline::within(deadline, chain.unary(request, endpoint)).await?;
        response
            .map(AnyMessage::into_typed::<Res>)
            .transpose_message()
    }

    /// A server-streaming call through `chain`; returns once the response headers arrived.
    pub(super) async fn intercepted_server_stream<Req: Message, Res: Message>(
        &self,
        chain: &Chain,
        spec: &'static MethodSpec,
        request: Request<Req>,
    ) -> Result<ServerStreamCall<Res>, Error> {
        let (_, deadline) = self.call_deadline(request.timeout());
        let request = request
            .with_context(self.interceptor_context(spec, deadline))
            .map(|message| MessageStream::one(AnyMessage::new(message)));
        let trailers = TrailerSlot::default();
        let client = self.clone();
        let slot = trailers.clone();
        let endpoint: StreamingEndpoint = Arc::new(move |request: Request<MessageStream>| {
            let client = client.clone();
            let slot = slot.clone();
            Box::pin(async move {
                let (head, messages) = request.split_message();
                let message = messages.only_message("request").await?;
                let request = remaining_time(head.map(|()| message.into_typed::<Req>()))
                    .transpose_message()?;
                let call = client
                    .direct_server_stream::<Req, Res>(spec, request)
                    .await?;
                let headers = call.headers().clone();
                let end = slot.clone();
                let messages = futures_util::stream::unfold(Some(call), move |call| {
                    let slot = end.clone();
                    async move {
                        let mut call = call?;
                        match call.message().await {
                            Ok(Some(message)) => Some((Ok(AnyMessage::new(message)), Some(call))),
                            Ok(None) => {
                                let _ = slot.set(call.trailers().cloned().unwrap_or_default());
                                None
                            }
                            Err(error) => Some((Err(error), None)),
                        }
                    }
                });
                let messages = MessageStream::with_trailers(messages, slot);
                Ok(Response::from_parts(messages, headers, Metadata::new()))
            })
        });
        let response = deadline::within(deadline, chain.streaming(request, endpoint)).await?;
        let mut stream = InterceptedStream::new(None, trailers, CancellationToken::new());
        stream.open(response);
        Ok(ServerStreamCall::intercepted(stream))
    }

    /// A client- or bidi-streaming call through `chain`, not started yet.
    pub(super) fn intercepted_stream<Req: Message, Res: Message>(
        &self,
        chain: &Chain,
        spec: &'static MethodSpec,
        request: Request<()>,
    ) -> InterceptedStream {
        let (_, deadline) = self.call_deadline(request.timeout());
        let (sender, receiver) = mpsc::channel(1);
        let requests = MessageStream::new(futures_util::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
        ));
        let request = request
            .with_context(self.interceptor_context(spec, deadline))
            .map(|()| requests);
        let trailers = TrailerSlot::default();
        let abort = CancellationToken::new();
        let mut stream = InterceptedStream::new(Some(sender), trailers.clone(), abort.clone());
        let failure = stream.failure.clone();
        let client = self.clone();
        let endpoint: StreamingEndpoint = Arc::new(move |request: Request<MessageStream>| {
            let client = client.clone();
            let request_side = RequestSide {
                writer: client.config.writer(),
                abort: abort.clone(),
                failure: failure.clone(),
            };
            let slot = trailers.clone();
            Box::pin(async move {
                let (head, messages) = request.split_message();
                let mut call = client.duplex_call(spec, remaining_time(head), false).0;
                call.start_streaming(request_side.body::<Req>(messages));
                let mut receiver = StreamReceiver::default();
                let headers = receiver.headers(&client.config, &mut call).await?.clone();
                let config = client.config.clone();
                let end = slot.clone();
                let messages = futures_util::stream::unfold(Some((call, receiver)), move |state| {
                    let config = config.clone();
                    let slot = end.clone();
                    async move {
                        let (mut call, mut receiver) = state?;
                        match receiver.next::<Res>(&config, &mut call).await {
                            Ok(Some(message)) => {
                                Some((Ok(AnyMessage::new(message)), Some((call, receiver))))
                            }
                            Ok(None) => {
                                let trailers = receiver.trailers().cloned();
                                let _ = slot.set(trailers.unwrap_or_default());
                                None
                            }
                            Err(error) => Some((Err(error), None)),
                        }
                    }
                });
                let messages = MessageStream::with_trailers(messages, slot);
                Ok(Response::from_parts(messages, headers, Metadata::new()))
            })
        });
        stream.pending = Pending::Idle(Box::pin(deadline::within(
            deadline,
            chain.streaming(request, endpoint),
        )));
        stream
    }
}

/// A request whose timeout is what is left of its context's deadline, once its interceptors ran.
fn remaining_time<T>(request: Request<T>) -> Request<T> {
    match request.context().deadline() {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            request.with_timeout(left.max(Duration::from_millis(1)))
        }
        None => request,
    }
}

/// What the request body of an intercepted stream needs.
struct RequestSide {
    writer: MessageWriter,
    /// Cancelled when the caller cancels or drops the call.
    abort: CancellationToken,
    /// The first failure on the request side.
    failure: Arc<OnceLock<Error>>,
}

impl RequestSide {
    /// The request body: the messages the interceptors hand on, framed. An error among them (or the
    /// caller's cancellation) fails the body, which resets the HTTP stream.
    fn body<Req: Message>(self, messages: MessageStream) -> Body {
        let frames = futures_util::stream::unfold(Some(messages), move |messages| {
            let writer = self.writer.clone();
            let abort = self.abort.clone();
            let failure = self.failure.clone();
            async move {
                let mut messages = messages?;
                let item = tokio::select! {
                    item = messages.next() => item,
                    () = abort.cancelled() => Some(Err(cancelled())),
                };
                let framed = item?.and_then(|message| {
                    message.check_type::<Req>()?;
                    writer.envelope(&message, 0)
                });
                match framed {
                    Ok(framed) => Some((Ok(Frame::data(framed)), Some(messages))),
                    Err(error) => {
                        let _ = failure.set(error.clone());
                        Some((Err(error), None))
                    }
                }
            }
        });
        Body::from_frames(frames)
    }
}

fn cancelled() -> Error {
    Error::new(Code::Canceled, "call was cancelled by the client")
}

/// Where an intercepted call's response stands.
enum Pending {
    /// Not started: the chain, to run on the first send, close or receive.
    Idle(BoxFuture<Result<Response<MessageStream>, Error>>),
    /// The chain runs in its own task until the response headers arrive.
    Running(JoinHandle<Result<Response<MessageStream>, Error>>),
    /// The headers arrived (or the call failed).
    Done,
}

/// A streaming call through interceptors, as the typed streaming calls drive it: messages go in
/// through a channel to the chain, responses come out of the stream the chain returned.
pub(crate) struct InterceptedStream {
    pending: Pending,
    requests: Option<mpsc::Sender<Result<AnyMessage, Error>>>,
    headers: Option<Metadata>,
    messages: Option<MessageStream>,
    trailers: TrailerSlot,
    error: Option<Error>,
    /// The first failure on the request side, which the call reports over what it caused.
    failure: Arc<OnceLock<Error>>,
    abort: CancellationToken,
}

impl InterceptedStream {
    fn new(
        requests: Option<mpsc::Sender<Result<AnyMessage, Error>>>,
        trailers: TrailerSlot,
        abort: CancellationToken,
    ) -> Self {
        Self {
            pending: Pending::Done,
            requests,
            headers: None,
            messages: None,
            trailers,
            error: None,
            failure: Arc::new(OnceLock::new()),
            abort,
        }
    }

    /// Takes in the response the chain returned.
    fn open(&mut self, response: Response<MessageStream>) {
        let (headers, messages, _) = response.into_parts();
        self.headers = Some(headers);
        self.messages = Some(messages);
    }

    /// Records the call's failure (the request side's, if it had one) and returns it.
    fn fail(&mut self, error: Error) -> Error {
        let error = self
            .error
            .get_or_insert_with(|| self.failure.get().cloned().unwrap_or(error));
        self.messages = None;
        self.requests = None;
        error.clone()
    }

    fn check(&self) -> Result<(), Error> {
        self.error.as_ref().map_or(Ok(()), |e| Err(e.clone()))
    }

    /// Starts the chain, once.
    fn start(&mut self) {
        if let Pending::Idle(_) = self.pending {
            let Pending::Idle(chain) = std::mem::replace(&mut self.pending, Pending::Done) else {
                return;
            };
            self.pending = Pending::Running(tokio::spawn(chain));
        }
    }

    /// Sends one message, starting the call if it has not started.
    pub async fn send(&mut self, message: AnyMessage) -> Result<(), Error> {
        self.check()?;
        self.start();
        let Some(requests) = &self.requests else {
            return Err(Error::new(
                Code::FailedPrecondition,
                "cannot send after the request stream was closed",
            ));
        };
        if requests.send(Ok(message)).await.is_err() {
            self.requests = None;
            if let Some(failure) = self.failure.get() {
                return Err(failure.clone());
            }
            // As in the direct call (`DuplexCall::send`): the response says why the request stream
            // was dropped, and a broken connection is the send's failure too.
            self.headers().await?;
            return Err(Error::new(
                Code::Unknown,
                "the server stopped reading the request stream; receive the response to see why",
            ));
        }
        Ok(())
    }

    /// Ends the request stream.
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.check()?;
        self.start();
        self.requests = None;
        Ok(())
    }

    /// Waits for the response headers.
    pub async fn headers(&mut self) -> Result<&Metadata, Error> {
        self.check()?;
        self.start();
        if let Pending::Running(task) = &mut self.pending {
            let result = task.await.unwrap_or_else(|joined| {
                Err(if joined.is_panic() {
                    Error::new(Code::Internal, "a client interceptor panicked")
                } else {
                    cancelled()
                })
            });
            self.pending = Pending::Done;
            match result {
                Ok(response) => self.open(response),
                Err(error) => return Err(self.fail(error)),
            }
        }
        self.check()?;
        self.headers
            .as_ref()
            .ok_or_else(|| Error::internal("stream read before its headers"))
    }

    /// The response headers, if they arrived.
    pub fn received_headers(&self) -> Option<&Metadata> {
        self.headers.as_ref()
    }

    /// The next response message; `Ok(None)` once the stream ended successfully.
    pub async fn message(&mut self) -> Result<Option<AnyMessage>, Error> {
        self.headers().await?;
        let Some(messages) = &mut self.messages else {
            return Ok(None);
        };
        match messages.next().await {
            Some(Ok(message)) => Ok(Some(message)),
            None => Ok(None),
            Some(Err(error)) => Err(self.fail(error)),
        }
    }

    /// The trailers, once the response stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.get()
    }

    /// Cancels the call: the HTTP stream is reset and later operations report `canceled`.
    pub fn cancel(&mut self) {
        self.abort.cancel();
        if let Pending::Running(task) = &self.pending {
            task.abort();
        }
        self.pending = Pending::Done;
        self.error.get_or_insert_with(cancelled);
        self.messages = None;
        self.requests = None;
    }
}

impl Drop for InterceptedStream {
    fn drop(&mut self) {
        self.abort.cancel();
        if let Pending::Running(task) = &self.pending {
            task.abort();
        }
    }
}
