//! The typed streaming calls a client hands out: client-, server- and bidi-streaming, each a thin face
//! over one `Streams`: a duplex call plus how to frame requests and read responses, or, when the
//! client has interceptors, the call through them (`intercepted.rs`).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::any_message::AnyMessage;
use crate::client::config::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::client::intercepted::InterceptedStream;
use crate::client::receive::StreamReceiver;
use crate::client::replay::Replay;
use crate::codec::Message;
use crate::wire::MessageWriter;
use crate::{Code, Error, Metadata, Response};

/// What every streaming call holds.
struct Streams<Req, Res> {
    way: Way,
    _message: PhantomData<fn(Req) -> Res>,
}

/// How a streaming call goes.
#[allow(clippy::large_enum_variant)] // `Direct` is the usual case: boxing it would cost every call an allocation.
enum Way {
    /// Straight onto its duplex call.
    Direct {
        config: Arc<ClientConfig>,
        writer: MessageWriter,
        call: DuplexCall,
        receiver: StreamReceiver,
        /// What a retryable client- or bidi-streaming call keeps until it is committed.
        replay: Option<Box<Replay>>,
    },
    /// Through the client's interceptors.
    Intercepted(InterceptedStream),
}

impl<Req: Message, Res: Message> Streams<Req, Res> {
    fn new(
        config: Arc<ClientConfig>,
        writer: MessageWriter,
        call: DuplexCall,
        replay: Option<Box<Replay>>,
    ) -> Self {
        Self {
            way: Way::Direct {
                config,
                writer,
                call,
                receiver: StreamReceiver::default(),
                replay,
            },
            _message: PhantomData,
        }
    }

    fn intercepted(stream: InterceptedStream) -> Self {
        Self {
            way: Way::Intercepted(stream),
            _message: PhantomData,
        }
    }

    async fn send(&mut self, message: Req) -> Result<(), Error> {
        match &mut self.way {
            Way::Direct {
                config,
                writer,
                call,
                replay,
                ..
            } => {
                let framed = writer.envelope(&message, 0)?;
                // A message after the close (which fails) or past the limit ends the keeping.
                if let Some(kept) = replay
                    && (kept.is_closed() || !kept.record(&framed))
                {
                    *replay = None;
                }
                match call.send(framed).await {
                    Ok(()) => Ok(()),
                    // A retry sends this message again with the others.
                    Err(error) => retry(config, call, replay, error).await,
                }
            }
            Way::Intercepted(stream) => stream.send(AnyMessage::new(message)).await,
        }
    }

    fn close_send(&mut self) -> Result<(), Error> {
        match &mut self.way {
            Way::Direct { call, replay, .. } => {
                if let Some(kept) = replay {
                    kept.close();
                }
                call.close_send()
            }
            Way::Intercepted(stream) => stream.close_send(),
        }
    }

    async fn headers(&mut self) -> Result<&Metadata, Error> {
        match &mut self.way {
            Way::Direct {
                config,
                call,
                receiver,
                replay,
                ..
            } => {
                while let Err(error) = receiver.headers(config, call).await {
                    retry(config, call, replay, error).await?;
                    *receiver = StreamReceiver::default();
                }
                // The caller has seen the headers: the call is committed.
                *replay = None;
                receiver.headers(config, call).await
            }
            Way::Intercepted(stream) => stream.headers().await,
        }
    }

    /// Whether the response ended with its head (a gRPC trailers-only answer).
    fn ended_at_head(&self) -> bool {
        match &self.way {
            Way::Direct { call, .. } => call.response_ended(),
            Way::Intercepted(_) => false,
        }
    }

    /// The response headers, if they arrived.
    fn received_headers(&self) -> Option<&Metadata> {
        match &self.way {
            Way::Direct { call, .. } => call.head().map(|head| &head.accepted.headers),
            Way::Intercepted(stream) => stream.received_headers(),
        }
    }

    async fn message(&mut self) -> Result<Option<Res>, Error> {
        match &mut self.way {
            Way::Direct {
                config,
                call,
                receiver,
                replay,
                ..
            } => loop {
                let result = match receiver.try_next(config, call) {
                    Some(result) => result,
                    None => receiver.next(config, call).await,
                };
                match result {
                    Err(error) if replay.is_some() => {
                        retry(config, call, replay, error).await?;
                        *receiver = StreamReceiver::default();
                    }
                    result => {
                        // A message (or the end) came: the call is committed.
                        *replay = None;
                        return result;
                    }
                }
            },
            Way::Intercepted(stream) => match stream.message().await? {
                Some(message) => message.into_typed().map(Some),
                None => Ok(None),
            },
        }
    }

    /// Reads the one response message of a client-streaming call and the end of the stream.
    async fn single_response(&mut self) -> Result<Response<Res>, Error> {
        match &mut self.way {
            Way::Direct {
                config,
                call,
                receiver,
                replay,
                ..
            } => loop {
                // Nothing of the response reaches the caller before this returns, so any failure
                // of it may be retried.
                match single_response(config, call, receiver).await {
                    Err(error) if replay.is_some() => {
                        retry(config, call, replay, error).await?;
                        *receiver = StreamReceiver::default();
                    }
                    result => return result,
                }
            },
            Way::Intercepted(stream) => {
                let headers = stream.headers().await?.clone();
                let Some(message) = stream.message().await? else {
                    return Err(Error::new(
                        Code::Unimplemented,
                        "the response stream has no message",
                    )
                    .with_headers(headers));
                };
                if stream.message().await?.is_some() {
                    return Err(Error::new(
                        Code::Unimplemented,
                        "the response stream has more than one message",
                    )
                    .with_headers(headers));
                }
                let trailers = stream.trailers().cloned().unwrap_or_default();
                Ok(Response::from_parts(
                    message.into_typed()?,
                    headers,
                    trailers,
                ))
            }
        }
    }

    fn trailers(&self) -> Option<&Metadata> {
        match &self.way {
            Way::Direct { receiver, .. } => receiver.trailers(),
            Way::Intercepted(stream) => stream.trailers(),
        }
    }

    fn cancel(&mut self) {
        match &mut self.way {
            Way::Direct { call, replay, .. } => {
                // A cancelled call is not opened again.
                *replay = None;
                call.cancel();
            }
            Way::Intercepted(stream) => stream.cancel(),
        }
    }
}

/// A server-streaming call in progress: read messages until `Ok(None)`, then the trailers.
pub struct ServerStreamCall<Res> {
    streams: Streams<(), Res>,
}

impl<Res: Message> ServerStreamCall<Res> {
    pub(crate) async fn start(
        config: Arc<ClientConfig>,
        writer: MessageWriter,
        call: DuplexCall,
    ) -> Result<Self, Error> {
        let mut streams = Streams::new(config, writer, call, None);
        streams.headers().await?;
        Ok(Self { streams })
    }

    /// A call through the client's interceptors, whose response headers arrived.
    pub(crate) fn intercepted(stream: InterceptedStream) -> Self {
        Self {
            streams: Streams::intercepted(stream),
        }
    }

    /// The call's error, if its response head already ended it with one (a gRPC trailers-only
    /// answer): no message came, so the call may still be retried (see `retry.rs`).
    pub(crate) async fn failed_at_head(&mut self) -> Option<Error> {
        if !self.streams.ended_at_head() {
            return None;
        }
        // Reading the ending now changes nothing for the caller: later reads return it again.
        self.streams.message().await.err()
    }

    /// The response headers.
    pub fn headers(&self) -> &Metadata {
        static EMPTY: std::sync::OnceLock<Metadata> = std::sync::OnceLock::new();
        self.streams
            .received_headers()
            .unwrap_or_else(|| EMPTY.get_or_init(Metadata::new))
    }

    /// The next message; `Ok(None)` when the server finished successfully.
    pub async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.streams.message().await
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.streams.trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.cancel();
    }
}

/// A client-streaming call in progress: send messages, then close and receive the one response.
pub struct ClientStreamCall<Req, Res> {
    streams: Streams<Req, Res>,
}

impl<Req: Message, Res: Message> ClientStreamCall<Req, Res> {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        writer: MessageWriter,
        call: DuplexCall,
        replay: Option<Box<Replay>>,
    ) -> Self {
        Self {
            streams: Streams::new(config, writer, call, replay),
        }
    }

    /// A call through the client's interceptors.
    pub(crate) fn intercepted(stream: InterceptedStream) -> Self {
        Self {
            streams: Streams::intercepted(stream),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.streams.send(message).await
    }

    /// Closes the request stream and waits for the response.
    pub async fn close_and_receive(mut self) -> Result<Response<Res>, Error> {
        // A failed close means the call already failed; receiving reports why.
        let _ = self.streams.close_send();
        self.streams.single_response().await
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.cancel();
    }
}

/// Retries a streaming call that failed with `error`, if it kept what it sent (see `replay.rs`) and
/// the retry rules allow; `Err` with the call's final error otherwise, when it is no longer retried.
async fn retry(
    config: &Arc<ClientConfig>,
    call: &mut DuplexCall,
    replay: &mut Option<Box<Replay>>,
    error: Error,
) -> Result<(), Error> {
    let Some(kept) = replay.as_mut() else {
        return Err(error);
    };
    let result = kept.retry(config, call, error).await;
    if result.is_err() {
        *replay = None;
    }
    result
}

/// Reads exactly one message and the end of the stream (client-streaming responses, gRPC unary).
pub(crate) async fn single_response<Res: Message>(
    config: &ClientConfig,
    call: &mut DuplexCall,
    receiver: &mut StreamReceiver,
) -> Result<Response<Res>, Error> {
    let headers = receiver.headers(config, call).await?.clone();
    let Some(message) = receiver.next::<Res>(config, call).await? else {
        return Err(call.fail(
            Error::new(Code::Unimplemented, "the response stream has no message")
                .with_headers(headers),
        ));
    };
    if receiver.next::<Res>(config, call).await?.is_some() {
        return Err(call.fail(
            Error::new(
                Code::Unimplemented,
                "the response stream has more than one message",
            )
            .with_headers(headers),
        ));
    }
    let trailers = receiver.trailers().cloned().unwrap_or_default();
    Ok(Response::from_parts(message, headers, trailers))
}

/// A bidi-streaming call in progress: send and receive independently (HTTP/2 only).
pub struct BidiStreamCall<Req, Res> {
    streams: Streams<Req, Res>,
}

impl<Req: Message, Res: Message> BidiStreamCall<Req, Res> {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        writer: MessageWriter,
        call: DuplexCall,
        replay: Option<Box<Replay>>,
    ) -> Self {
        Self {
            streams: Streams::new(config, writer, call, replay),
        }
    }

    /// A call through the client's interceptors.
    pub(crate) fn intercepted(stream: InterceptedStream) -> Self {
        Self {
            streams: Streams::intercepted(stream),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.streams.send(message).await
    }

    /// Closes the sending side; the server sees end-of-stream. Receiving continues.
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.streams.close_send()
    }

    /// Waits for the response headers.
    pub async fn headers(&mut self) -> Result<&Metadata, Error> {
        self.streams.headers().await
    }

    /// The next message; `Ok(None)` when the server finished successfully.
    pub async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.streams.message().await
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.streams.trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.cancel();
    }
}
