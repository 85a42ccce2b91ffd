//! One negotiated call on its way through a handler: the request half the handler reads
//! ([`Incoming`]) and the response half that answers it ([`Responder`]), which holds the core every
//! handler adapter shares: the deadline, the cancellation, and answering through the protocol.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::body::Body;
use crate::codec::{Message, MessageView};
use crate::envelope::EnvelopeReader;
use crate::interceptor::Chain;
use crate::method::MethodSpec;
use crate::min_data_rate::MinDataRate;
use crate::protocol::server::{Framing, Negotiated, ResponseFormat};
use crate::server::ConnectionScope;
use crate::server::answer::{Answer, Answering};
use crate::server::recover::Recovery;
use crate::server::respond::{self, Reply};
use crate::server::streaming::Streaming;
use crate::wire::{MessageReader, MessageWriter};
use crate::{CallContext, Code, Error, Metadata, Request, Response};

/// A negotiated call, as the router hands it to the method's handler.
pub(crate) struct ServerCall {
    incoming: Incoming,
    responder: Responder,
    chain: Chain,
}

impl ServerCall {
    /// The call `request` starts for `spec`, as `negotiated`.
    pub fn new(
        spec: &'static MethodSpec,
        negotiated: Negotiated,
        request: http::request::Parts,
        body: Body,
        recovery: Recovery,
        chain: Chain,
    ) -> Self {
        let Negotiated {
            reader,
            get_message,
            deadline,
            format,
        } = negotiated;
        let cancel = CancellationToken::new();
        // Requests a `Server` hands over carry its shutdown token: their responses go straight to
        // hyper's connection, which drops each chunk once written.
        let scope = ConnectionScope::of(&request.extensions);
        let gate = respond::Gate::from_budget(scope.map(|scope| &scope.response_budget));
        let pace = scope.and_then(|scope| scope.min_data_rate);
        let http::request::Parts {
            method,
            uri,
            version,
            headers,
            extensions,
            ..
        } = request;
        let context = CallContext::new(
            spec,
            format.protocol.kind(),
            deadline,
            method,
            uri,
            version,
            &extensions,
            cancel.clone(),
            headers.get("last-event-id").cloned(),
        );
        let incoming = Incoming {
            pace,
            body: format.protocol.request_body(body),
            headers: Metadata::from_header_map(headers),
            reader,
            framing: format.framing,
            get_message,
            context,
            extensions,
        };
        let responder = Responder {
            format,
            deadline,
            cancel,
            recovery,
            gate,
        };
        Self {
            incoming,
            responder,
            chain,
        }
    }

    /// Splits the call into what the handler reads, what answers it, and the interceptors around it.
    pub fn split(self) -> (Incoming, Responder, Chain) {
        (self.incoming, self.responder, self.chain)
    }
}

/// The request half of a call.
pub(crate) struct Incoming {
    body: Body,
    /// The minimum rate of the request's messages, when the server set one.
    pace: Option<MinDataRate>,
    headers: Metadata,
    reader: MessageReader,
    framing: Framing,
    get_message: Option<Bytes>,
    context: CallContext,
    extensions: http::Extensions,
}

impl Incoming {
    /// The handler's request for a method that takes one message (unary, server-streaming).
    ///
    /// Not an `async fn`: the call is taken apart before the future is made, so that the future holds
    /// each part once rather than the whole call and then its parts.
    pub fn single<T: Message>(self) -> impl Future<Output = Result<Request<T>, Error>> + use<T> {
        let Incoming {
            body,
            pace,
            headers,
            reader,
            framing,
            get_message,
            context,
            extensions,
        } = self;
        async move {
            let message = match get_message {
                Some(message) => reader.decode_payload(message, reader.compression.as_deref())?,
                None => read_single(body, pace, &reader, framing).await?,
            };
            Ok(Request::from_parts(message, headers, context, extensions))
        }
    }

    /// The handler's request for a method that takes a stream (client-streaming, bidi).
    pub fn stream<T: Message>(self) -> Request<Streaming<T>> {
        let mut body = self.body;
        if self
            .context
            .http_version()
            .is_some_and(|v| v < http::Version::HTTP_2)
            && let Some(cancel) = self.context.call_token()
        {
            body = read_ahead(body, cancel.clone());
        }
        let messages = Streaming::new(
            EnvelopeReader::new(body, self.reader.read_max_bytes).paced(self.pace, false),
            self.reader,
        );
        Request::from_parts(messages, self.headers, self.context, self.extensions)
    }
}

/// Reads the one message of a request body: the whole body when unframed, else exactly one envelope.
async fn read_single<T: Message>(
    body: Body,
    pace: Option<MinDataRate>,
    reader: &MessageReader,
    framing: Framing,
) -> Result<T, Error> {
    let compression = reader.compression.as_deref();
    // One reader for both framings (two would each take their own space in the future).
    let unframed = framing != Framing::Enveloped;
    let max = if unframed { 0 } else { reader.read_max_bytes };
    let mut envelopes = EnvelopeReader::new(body, max).paced(pace, true);
    if unframed {
        let raw = envelopes.read_to_end(reader.read_max_bytes).await?;
        return reader.decode_payload(raw, compression);
    }
    let first = envelopes.next().await?.ok_or_else(|| {
        Error::new(
            Code::Unimplemented,
            "request stream ended without a message",
        )
    })?;
    let message = reader.decode_envelope(first)?;
    if envelopes.next().await?.is_some() {
        return Err(Error::new(
            Code::Unimplemented,
            "request stream has more than one message, but the method takes one",
        ));
    }
    Ok(message)
}

/// The response half of a call, and the core every handler adapter runs in.
pub(crate) struct Responder {
    format: ResponseFormat,
    deadline: Option<Instant>,
    cancel: CancellationToken,
    recovery: Recovery,
    /// Whether a streamed response waits for the connection to take its batches.
    gate: respond::Gate,
}

impl Responder {
    /// What encodes a single response message the way this call sends it.
    pub fn encoder(&self) -> Encoder {
        Encoder {
            writer: self.format.writer.clone(),
            framing: self.format.framing,
        }
    }

    /// Runs the handler's `work` until the call's deadline, then answers with what it returned. If the
    /// caller goes away meanwhile (the answer is dropped), the call's context is cancelled; if the
    /// handler panics, the call fails with `internal` (see `recover.rs`).
    pub fn answer<F>(self, work: F) -> Answer<F>
    where
        F: Future<Output = Result<Response<Reply>, Error>>,
    {
        Answer::new(
            work,
            self.deadline,
            Answering {
                format: self.format,
                cancel_on_drop: self.cancel.drop_guard(),
                recovery: self.recovery,
                gate: self.gate,
            },
        )
    }
}

/// Encodes one response message for a call: encoded alone for unframed calls (compression follows once
/// the reply is complete), framed for enveloped ones.
pub(crate) struct Encoder {
    writer: MessageWriter,
    framing: Framing,
}

impl Encoder {
    /// The handler's response with its message encoded.
    pub fn one<T: MessageView>(&self, response: Response<T>) -> Result<Response<Reply>, Error> {
        let (headers, message, trailers) = response.into_parts();
        let encoded: BytesMut = match self.framing {
            Framing::Unframed | Framing::Text(_) => self.writer.encode(&message)?,
            Framing::Enveloped => self.writer.frame(&message)?,
        };
        Ok(Response::from_parts(Reply::One(encoded), headers, trailers))
    }
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
                frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)) => frame,
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
