//! The typed streaming calls a client hands out: client-, server- and bidi-streaming, each a thin face
//! over one `Streams` (a duplex call plus how to frame requests and read responses).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::client::config::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::client::receive::StreamReceiver;
use crate::codec::Message;
use crate::wire::MessageWriter;
use crate::{Code, Error, Metadata, Response};

/// What every streaming call holds.
struct Streams<Req, Res> {
    config: Arc<ClientConfig>,
    writer: MessageWriter,
    call: DuplexCall,
    receiver: StreamReceiver,
    _message: PhantomData<fn(Req) -> Res>,
}

impl<Req: Message, Res: Message> Streams<Req, Res> {
    fn new(config: Arc<ClientConfig>, writer: MessageWriter, call: DuplexCall) -> Self {
        Self {
            config,
            writer,
            call,
            receiver: StreamReceiver::default(),
            _message: PhantomData,
        }
    }

    async fn send(&mut self, message: Req) -> Result<(), Error> {
        let framed = self.writer.envelope(&message, 0)?;
        self.call.send(framed).await
    }

    async fn headers(&mut self) -> Result<&Metadata, Error> {
        self.receiver.headers(&self.config, &mut self.call).await
    }

    async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.receiver.next(&self.config, &mut self.call).await
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
        let mut streams = Streams::new(config, writer, call);
        streams.headers().await?;
        Ok(Self { streams })
    }

    /// The response headers.
    pub fn headers(&self) -> &Metadata {
        static EMPTY: std::sync::OnceLock<Metadata> = std::sync::OnceLock::new();
        self.streams
            .call
            .head()
            .map(|head| &head.accepted.headers)
            .unwrap_or_else(|| EMPTY.get_or_init(Metadata::new))
    }

    /// The next message; `Ok(None)` when the server finished successfully.
    pub async fn message(&mut self) -> Result<Option<Res>, Error> {
        self.streams.message().await
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.streams.receiver.trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.call.cancel();
    }
}

/// A client-streaming call in progress: send messages, then close and receive the one response.
pub struct ClientStreamCall<Req, Res> {
    streams: Streams<Req, Res>,
}

impl<Req: Message, Res: Message> ClientStreamCall<Req, Res> {
    pub(crate) fn new(config: Arc<ClientConfig>, writer: MessageWriter, call: DuplexCall) -> Self {
        Self {
            streams: Streams::new(config, writer, call),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.streams.send(message).await
    }

    /// Closes the request stream and waits for the response.
    pub async fn close_and_receive(mut self) -> Result<Response<Res>, Error> {
        let streams = &mut self.streams;
        // A failed close means the call already failed; receiving reports why.
        let _ = streams.call.close_send();
        single_response(&streams.config, &mut streams.call, &mut streams.receiver).await
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.call.cancel();
    }
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
    pub(crate) fn new(config: Arc<ClientConfig>, writer: MessageWriter, call: DuplexCall) -> Self {
        Self {
            streams: Streams::new(config, writer, call),
        }
    }

    /// Sends one message (starting the request on the first). Waits while the transport is busy.
    pub async fn send(&mut self, message: Req) -> Result<(), Error> {
        self.streams.send(message).await
    }

    /// Closes the sending side; the server sees end-of-stream. Receiving continues.
    pub fn close_send(&mut self) -> Result<(), Error> {
        self.streams.call.close_send()
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
        self.streams.receiver.trailers()
    }

    /// Cancels the call; the server sees the stream reset.
    pub fn cancel(&mut self) {
        self.streams.call.cancel();
    }
}
