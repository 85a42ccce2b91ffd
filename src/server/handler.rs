//! Typed handlers: adapters from user functions of each stream type to one type-erased handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::codec::Message;
use crate::compression::Compression;
use crate::deadline;
use crate::envelope::EnvelopeReader;
use crate::protocol::ProtocolKind;
use crate::server::respond;
use crate::server::streaming::Streaming;
use crate::wire::{MessageReader, MessageWriter};
use crate::{CallContext, Code, Error, Metadata, Request, Response};

/// A stream of response messages, returned by server-streaming and bidi handlers.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Error>> + Send + 'static>>;

/// A call's outgoing messages, each written framed into the response body's buffer when it is ready.
pub(crate) trait MessageSource: Send {
    /// Appends the next message, encoded and framed by `writer`, to `out`; `None` once there are no more.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        writer: &MessageWriter,
        out: &mut BytesMut,
    ) -> Poll<Option<Result<(), Error>>>;
}

/// The type-erased outgoing messages of one call.
pub(crate) type Outgoing = Pin<Box<dyn MessageSource>>;

/// A handler's typed response stream as a [`MessageSource`].
struct TypedSource<T> {
    stream: ResponseStream<T>,
}

impl<T: Message> MessageSource for TypedSource<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        writer: &MessageWriter,
        out: &mut BytesMut,
    ) -> Poll<Option<Result<(), Error>>> {
        let next = ready!(self.stream.as_mut().poll_next(cx));
        Poll::Ready(
            next.map(|item| item.and_then(|message| writer.write_message(&message, 0, out))),
        )
    }
}

/// One message framed ahead of time (unary and client-streaming responses, encoded before the headers
/// go out so that an encoding error can still become the call's status).
struct SingleSource {
    framed: Option<BytesMut>,
}

impl MessageSource for SingleSource {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _writer: &MessageWriter,
        out: &mut BytesMut,
    ) -> Poll<Option<Result<(), Error>>> {
        let next = self.framed.take().map(|framed| {
            if out.is_empty() {
                *out = framed;
            } else {
                out.extend_from_slice(&framed);
            }
            Ok(())
        });
        Poll::Ready(next)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A type-erased handler: takes a prepared call, yields the HTTP response.
pub(crate) type Handler = Arc<dyn Fn(ServerCall) -> BoxFuture<http::Response<Body>> + Send + Sync>;

/// Everything the router learned about a call before handing it to its handler.
pub(crate) struct ServerCall {
    pub protocol: ProtocolKind,
    /// The response's content type.
    pub content_type: http::HeaderValue,
    /// Connect's unary framing: an unframed body, and errors as JSON with an HTTP status.
    pub connect_unary: bool,
    /// A Connect GET request's message, taken from the query.
    pub get_message: Option<Bytes>,
    /// A Connect GET request's `If-None-Match`, for answering 304 Not Modified.
    pub if_none_match: Option<http::HeaderValue>,
    pub body: Body,
    pub request_headers: Metadata,
    pub reader: MessageReader,
    pub writer: MessageWriter,
    /// The request's encoding, for unframed bodies.
    pub request_compression: Option<Arc<dyn Compression>>,
    /// Encodings this server accepts, advertised in the response.
    pub accept_encoding: http::HeaderValue,
    pub deadline: Option<Instant>,
    pub context: CallContext,
    pub cancel: CancellationToken,
}

impl ServerCall {
    /// Reads the single request message of a unary or server-streaming call.
    async fn read_single<T: Message>(&mut self) -> Result<T, Error> {
        if let Some(message) = self.get_message.take() {
            let compression = self.request_compression.clone();
            return self.reader.decode_payload(message, compression.as_deref());
        }
        let body = std::mem::take(&mut self.body);
        if self.connect_unary {
            let mut envelopes = EnvelopeReader::new(body, 0);
            let raw = envelopes.read_to_end(self.reader.read_max_bytes).await?;
            let compression = self.request_compression.clone();
            return self.reader.decode_payload(raw, compression.as_deref());
        }
        let mut envelopes = EnvelopeReader::new(body, self.reader.read_max_bytes);
        let first = envelopes.next().await?.ok_or_else(|| {
            Error::new(
                Code::Unimplemented,
                "request stream ended without a message",
            )
        })?;
        let message = self.reader.decode_envelope(first)?;
        if envelopes.next().await?.is_some() {
            return Err(Error::new(
                Code::Unimplemented,
                "request stream has more than one message, but the method takes one",
            ));
        }
        Ok(message)
    }

    /// Turns the request body into a message stream.
    fn streaming<T: Message>(&mut self) -> Streaming<T> {
        let mut body = std::mem::take(&mut self.body);
        if self
            .context
            .http_version()
            .is_some_and(|v| v < http::Version::HTTP_2)
        {
            body = read_ahead(body, self.cancel.clone());
        }
        Streaming::new(
            EnvelopeReader::new(body, self.reader.read_max_bytes),
            self.reader.clone(),
        )
    }

    /// The handler's request; the headers move into it (each call builds exactly one).
    fn request<T>(&mut self, message: T) -> Request<T> {
        let headers = std::mem::take(&mut self.request_headers);
        Request::from_parts(message, headers, self.context.clone())
    }
}

fn typed_source<T: Message>(stream: ResponseStream<T>) -> Outgoing {
    Box::pin(TypedSource { stream })
}

/// A handler for a unary method.
pub(crate) fn unary<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |mut call: ServerCall| {
        let f = f.clone();
        Box::pin(async move {
            let _cancel_on_exit = call.cancel.clone().drop_guard();
            let deadline = call.deadline;
            let result = deadline::within(deadline, async {
                let message = call.read_single::<Req>().await?;
                let response = f(call.request(message)).await?;
                let (headers, message, trailers) = response.into_parts();
                let encoded = if call.connect_unary {
                    call.writer.encode(&message)?
                } else {
                    call.writer.frame(&message)?
                };
                Ok(Response::from_parts(encoded, headers, trailers))
            })
            .await;
            if call.connect_unary {
                respond::unary(&call, result)
            } else {
                let result = result.map(|r| r.map(single));
                respond::stream(call, result)
            }
        })
    })
}

/// A handler for a server-streaming method.
pub(crate) fn server_stream<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |mut call: ServerCall| {
        let f = f.clone();
        Box::pin(async move {
            // Until the body takes over, dropping this future (the caller left) cancels the call.
            let guard = call.cancel.clone().drop_guard();
            let result = deadline::within(call.deadline, async {
                let message = call.read_single::<Req>().await?;
                f(call.request(message)).await
            })
            .await;
            guard.disarm();
            respond::stream(call, result.map(|r| r.map(typed_source)))
        })
    })
}

/// A handler for a client-streaming method.
pub(crate) fn client_stream<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |mut call: ServerCall| {
        let f = f.clone();
        Box::pin(async move {
            let guard = call.cancel.clone().drop_guard();
            let streaming = call.streaming::<Req>();
            let request = call.request(streaming);
            let result = deadline::within(call.deadline, async {
                let response = f(request).await?;
                let (headers, message, trailers) = response.into_parts();
                let framed = call.writer.frame(&message)?;
                Ok(Response::from_parts(single(framed), headers, trailers))
            })
            .await;
            guard.disarm();
            respond::stream(call, result)
        })
    })
}

/// A handler for a bidi-streaming method.
pub(crate) fn bidi_stream<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |mut call: ServerCall| {
        let f = f.clone();
        Box::pin(async move {
            let guard = call.cancel.clone().drop_guard();
            let streaming = call.streaming::<Req>();
            let request = call.request(streaming);
            let result = deadline::within(call.deadline, f(request)).await;
            guard.disarm();
            respond::stream(call, result.map(|r| r.map(typed_source)))
        })
    })
}

fn single(framed: BytesMut) -> Outgoing {
    Box::pin(SingleSource {
        framed: Some(framed),
    })
}

/// Reads an HTTP/1.1 request body ahead of the handler, a few frames at a time.
///
/// hyper's HTTP/1 server only reads the socket while someone polls the body, so a handler busy with
/// other work would never learn that its caller went away. Reading ahead notices the failed body and
/// cancels the call. A client that fills the small buffer while the handler reads nothing is still
/// noticed only once the handler reads again.
fn read_ahead(mut body: Body, cancel: CancellationToken) -> Body {
    use http_body::Body as _;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)) => frame,
                () = cancel.cancelled() => return,
                () = tx.closed() => return,
            };
            match frame {
                None => return,
                Some(Err(error)) => {
                    cancel.cancel();
                    let _ = tx.send(Err(error)).await;
                    return;
                }
                Some(Ok(frame)) => {
                    if tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Body::from_frames(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}
