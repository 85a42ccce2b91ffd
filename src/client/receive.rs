//! Reading responses on the client: a single unframed message (the unframed unary calls of protocols
//! that have them), or a stream of enveloped messages and the protocol's ending. What a response must
//! look like, and how a stream ends, is the protocol's to say (see `protocol::client`); the duplex call
//! has already had the response head judged by the time these read the body.

use crate::client::config::ClientConfig;
use crate::client::duplex::DuplexCall;
use crate::codec::Message;
use crate::envelope::Envelope;
use crate::protocol::client::{BodyEnd, ControlFrames, Ending, Received};
use crate::wire::MessageReader;
use crate::{Error, Metadata, Response};

/// Receives an unframed response: the whole body is the one message, trailers came in the head.
pub(crate) async fn read_unframed_response<Res: Message>(
    config: &ClientConfig,
    call: &mut DuplexCall,
) -> Result<Response<Res>, Error> {
    let compression = call.response_head().await?.accepted.compression.clone();
    let body = call.read_body(config.read_max_bytes).await?;
    let message = config
        .reader(compression)
        .decode_unary(body)
        .map_err(|e| call.fail(e))?;
    call.finish();
    let (headers, trailers) = call
        .take_head()
        .map(|head| (head.accepted.headers, head.accepted.trailers))
        .unwrap_or_default();
    Ok(Response::from_parts(message, headers, trailers))
}

/// Receives a stream of enveloped messages (Connect streams, every gRPC and gRPC-Web call): headers,
/// messages, then the protocol's ending (a last frame, or the end of the body).
#[derive(Default)]
pub(crate) struct StreamReceiver {
    reader: Option<MessageReader>,
    trailers: Option<Metadata>,
    /// Whether any message arrived.
    received_message: bool,
    ended: bool,
    /// What the protocol made of an envelope [`try_next`](Self::try_next) read but left to
    /// [`next`](Self::next) (a stream's last frame, or a malformed one).
    stashed: Option<Result<Received, Error>>,
}

impl StreamReceiver {
    /// Waits for the response head (which the protocol validated) and returns its headers.
    pub async fn headers<'a>(
        &mut self,
        config: &ClientConfig,
        call: &'a mut DuplexCall,
    ) -> Result<&'a Metadata, Error> {
        if self.reader.is_some() && call.error().is_none() && call.head().is_some() {
            // Every message after the first: the head is in and judged.
            return call
                .head()
                .map(|head| &head.accepted.headers)
                .ok_or_else(|| Error::internal("response head vanished"));
        }
        let head = call.response_head().await?;
        if self.reader.is_none() {
            self.reader = Some(config.reader(head.accepted.compression.clone()));
        }
        Ok(&head.accepted.headers)
    }

    /// The next message if it has already been read, without waiting or a future: a stream of small
    /// messages arrives many to a DATA frame. `None` when there is none ready (or the next envelope
    /// ends the stream): then [`next`](Self::next) takes over.
    pub fn try_next<T: Message>(
        &mut self,
        config: &ClientConfig,
        call: &mut DuplexCall,
    ) -> Option<Result<Option<T>, Error>> {
        if self.ended || self.stashed.is_some() || self.reader.is_none() || call.head().is_none() {
            return None;
        }
        let envelope = match call.buffered_envelope()? {
            Ok(envelope) => envelope,
            Err(error) => return Some(Err(error)),
        };
        match self.read(config, envelope) {
            Ok(Received::Message(envelope)) => Some(self.decode(call, envelope).map(Some)),
            other => {
                self.stashed = Some(other);
                None
            }
        }
    }

    /// What the protocol makes of an envelope.
    fn read(&self, config: &ClientConfig, envelope: Envelope) -> Result<Received, Error> {
        let frames = ControlFrames {
            compression: self
                .reader
                .as_ref()
                .and_then(|reader| reader.compression.as_ref()),
            read_max_bytes: config.read_max_bytes,
        };
        config.protocol.read_envelope(envelope, &frames)
    }

    /// Decodes a message envelope.
    fn decode<T: Message>(
        &mut self,
        call: &mut DuplexCall,
        envelope: Envelope,
    ) -> Result<T, Error> {
        self.received_message = true;
        let Some(reader) = &self.reader else {
            return Err(call.fail(Error::internal("stream read before its headers")));
        };
        reader.decode_envelope(envelope).map_err(|e| call.fail(e))
    }

    /// The next message; `Ok(None)` after the stream ended successfully.
    pub async fn next<T: Message>(
        &mut self,
        config: &ClientConfig,
        call: &mut DuplexCall,
    ) -> Result<Option<T>, Error> {
        self.headers(config, call).await?;
        if self.ended {
            return match call.error() {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        if let Some(received) = self.stashed.take() {
            return self.take(call, received).await;
        }
        let Some(envelope) = call.receive_envelope().await? else {
            self.ended = true;
            let ending = match call.head() {
                Some(head) => config.protocol.end_of_body(&BodyEnd {
                    http_headers: &head.http_headers,
                    http_trailers: call.http_trailers(),
                    received_message: self.received_message,
                }),
                None => Err(Error::internal("stream ended before its headers")),
            };
            self.apply(call, ending)?;
            call.finish();
            return Ok(None);
        };
        let received = self.read(config, envelope);
        self.take(call, received).await
    }

    /// Acts on what the protocol made of an envelope: a message, the stream's ending, or an error.
    async fn take<T: Message>(
        &mut self,
        call: &mut DuplexCall,
        received: Result<Received, Error>,
    ) -> Result<Option<T>, Error> {
        match received {
            Ok(Received::Message(envelope)) => self.decode(call, envelope).map(Some),
            Ok(Received::End(ending)) => {
                self.ended = true;
                self.apply(call, Ok(ending))?;
                self.expect_end(call).await
            }
            Err(malformed) => {
                self.ended = true;
                self.apply(call, Err(malformed)).map(|()| None)
            }
        }
    }

    /// Takes in the stream's ending: keeps the trailers, and fails the call with its error (or with
    /// `Err`, a protocol error).
    fn apply(&mut self, call: &mut DuplexCall, ending: Result<Ending, Error>) -> Result<(), Error> {
        let error = match ending {
            Ok(Ending { trailers, error }) => {
                self.trailers = Some(trailers);
                error
            }
            Err(malformed) => Some(malformed),
        };
        match error {
            None => Ok(()),
            Some(error) => Err(call.fail(with_headers(call, error))),
        }
    }

    /// After the protocol's last frame, the body must end.
    async fn expect_end<T>(&mut self, call: &mut DuplexCall) -> Result<Option<T>, Error> {
        match call.receive_envelope().await {
            Ok(None) => {
                call.finish();
                Ok(None)
            }
            Ok(Some(_)) => {
                let error = Error::new(
                    crate::Code::Internal,
                    "protocol error: data after the end of the stream",
                );
                Err(call.fail(with_headers(call, error)))
            }
            Err(e) => Err(e),
        }
    }

    /// The trailers, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }
}

/// Gives an error without metadata the response headers, so callers see them on failures too.
fn with_headers(call: &DuplexCall, mut error: Error) -> Error {
    if error.headers().is_empty()
        && let Some(head) = call.head()
    {
        *error.headers_mut() = head.accepted.headers.clone();
    }
    error
}

/// Reads exactly one message and the end of the stream (gRPC and gRPC-Web unary calls).
pub(crate) async fn read_single_response<Res: Message>(
    config: &ClientConfig,
    call: &mut DuplexCall,
) -> Result<Response<Res>, Error> {
    let mut receiver = StreamReceiver::default();
    let headers = receiver.headers(config, call).await?.clone();
    let Some(message) = receiver.next::<Res>(config, call).await? else {
        return Err(call.fail(
            Error::new(
                crate::Code::Unimplemented,
                "the response stream has no message",
            )
            .with_headers(headers),
        ));
    };
    if receiver.next::<Res>(config, call).await?.is_some() {
        return Err(call.fail(
            Error::new(
                crate::Code::Unimplemented,
                "the response stream has more than one message",
            )
            .with_headers(headers),
        ));
    }
    let trailers = receiver.trailers().cloned().unwrap_or_default();
    Ok(Response::from_parts(message, headers, trailers))
}
