//! HTTP/3 message bodies as the rest of Trident sees them: a receiving half of an h3 request stream
//! as an `http_body::Body` ([`RecvBody`]), and an `http_body::Body` written into a sending half
//! ([`send_body`]), with a stream that is dropped before it finished reset rather than ended.
//!
//! Two gaps of h3 0.0.8 and h3-quinn 0.0.10 are handled here:
//! - Dropping an unfinished sending half would end the QUIC stream cleanly (quinn finishes a stream it
//!   drops, h3#262), and the peer would read a truncated message as a complete one. [`SendHalf`]
//!   resets instead, unless it was finished.
//! - h3-quinn's `stop_sending` panics while a read is outstanding (h3-quinn keeps the quinn stream
//!   inside the pending read), and h3 may leave one outstanding even after it returned data. So
//!   [`RecvBody`] never calls it: a receiving half dropped before its end is just dropped, and quinn
//!   asks the peer to stop sending with code 0, which HTTP/3 reads as `H3_NO_ERROR` (RFC 9114,
//!   section 9). A client's cancel still reaches the server as the reset of the request half.

use std::any::Any;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes};
use h3::error::{Code as H3Code, ConnectionError, StreamError};
use http_body::Frame;
use http_body_util::BodyExt as _;

use crate::{Code, Error};

/// The receiving half of a QUIC stream, as h3-quinn makes it.
type QuinnRecv = h3_quinn::RecvStream;
/// The sending half of a QUIC stream, as h3-quinn makes it.
type QuinnSend = h3_quinn::SendStream<Bytes>;

/// The receiving half of a request stream: the server's (the request body) or the client's (the
/// response body).
pub(crate) enum RecvHalf {
    Server(h3::server::RequestStream<QuinnRecv, Bytes>),
    Client(h3::client::RequestStream<QuinnRecv, Bytes>),
}

impl RecvHalf {
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, StreamError>> {
        // h3-quinn's chunks are `Bytes`: taking them whole copies nothing.
        match self {
            RecvHalf::Server(stream) => stream
                .poll_recv_data(cx)
                .map_ok(|data| data.map(|mut data| data.copy_to_bytes(data.remaining()))),
            RecvHalf::Client(stream) => stream
                .poll_recv_data(cx)
                .map_ok(|data| data.map(|mut data| data.copy_to_bytes(data.remaining()))),
        }
    }

    fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<http::HeaderMap>, StreamError>> {
        match self {
            RecvHalf::Server(stream) => stream.poll_recv_trailers(cx),
            RecvHalf::Client(stream) => stream.poll_recv_trailers(cx),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Data,
    Trailers,
    Done,
}

/// A receiving half as a body: its DATA frames, then its trailers, if any. Errors are Trident errors:
/// a peer's cancel is `canceled`, anything else that cuts the stream off `unavailable`.
pub(crate) struct RecvBody {
    half: RecvHalf,
    stage: Stage,
    /// Whatever must live as long as the body (the client's connection handle).
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl RecvBody {
    /// A request body on the server.
    pub(crate) fn server(half: h3::server::RequestStream<QuinnRecv, Bytes>) -> Self {
        Self {
            half: RecvHalf::Server(half),
            stage: Stage::Data,
            _keep: None,
        }
    }

    /// A response body on the client, keeping `keep` alive as long as it is.
    pub(crate) fn client(
        half: h3::client::RequestStream<QuinnRecv, Bytes>,
        keep: Box<dyn Any + Send + Sync>,
    ) -> Self {
        Self {
            half: RecvHalf::Client(half),
            stage: Stage::Data,
            _keep: Some(keep),
        }
    }
}

impl http_body::Body for RecvBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        while this.stage == Stage::Data {
            let data = ready!(this.half.poll_data(cx));
            match data {
                // h3 skips empty DATA frames itself; a chunk may still be empty at a frame's edge.
                Ok(Some(data)) if data.is_empty() => continue,
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) => this.stage = Stage::Trailers,
                Err(error) => {
                    this.stage = Stage::Done;
                    return Poll::Ready(Some(Err(stream_error(error, "reading body"))));
                }
            }
        }
        if this.stage == Stage::Done {
            return Poll::Ready(None);
        }
        let trailers = ready!(this.half.poll_trailers(cx));
        this.stage = Stage::Done;
        match trailers {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(stream_error(error, "reading trailers")))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stage == Stage::Done
    }
}

/// The sending half of a request stream: the server's (the response) or the client's (the request
/// body). Dropped before [`finish`](Self::finish) succeeded, it resets the stream with its reset code.
pub(crate) struct SendHalf {
    stream: Option<SendStream>,
    reset_code: H3Code,
}

/// The two roles' sending halves.
enum SendStream {
    Server(h3::server::RequestStream<QuinnSend, Bytes>),
    Client(h3::client::RequestStream<QuinnSend, Bytes>),
}

impl SendHalf {
    /// The server's half: a response cut off (the handler's body failed, the grace period ran out)
    /// resets with `H3_INTERNAL_ERROR`.
    pub(crate) fn server(stream: h3::server::RequestStream<QuinnSend, Bytes>) -> Self {
        Self {
            stream: Some(SendStream::Server(stream)),
            reset_code: H3Code::H3_INTERNAL_ERROR,
        }
    }

    /// The client's half: a request cut off (the call was dropped) resets with
    /// `H3_REQUEST_CANCELLED`.
    pub(crate) fn client(stream: h3::client::RequestStream<QuinnSend, Bytes>) -> Self {
        Self {
            stream: Some(SendStream::Client(stream)),
            reset_code: H3Code::H3_REQUEST_CANCELLED,
        }
    }

    /// Sends the response head (server only).
    pub(crate) async fn send_response(
        &mut self,
        response: http::Response<()>,
    ) -> Result<(), StreamError> {
        match &mut self.stream {
            Some(SendStream::Server(stream)) => stream.send_response(response).await,
            _ => Ok(()),
        }
    }

    async fn send_data(&mut self, data: Bytes) -> Result<(), StreamError> {
        match &mut self.stream {
            Some(SendStream::Server(stream)) => stream.send_data(data).await,
            Some(SendStream::Client(stream)) => stream.send_data(data).await,
            None => Ok(()),
        }
    }

    async fn send_trailers(&mut self, trailers: http::HeaderMap) -> Result<(), StreamError> {
        match &mut self.stream {
            Some(SendStream::Server(stream)) => stream.send_trailers(trailers).await,
            Some(SendStream::Client(stream)) => stream.send_trailers(trailers).await,
            None => Ok(()),
        }
    }

    /// Ends the stream cleanly; after that, dropping the half resets nothing.
    async fn finish(&mut self) -> Result<(), StreamError> {
        let result = match &mut self.stream {
            Some(SendStream::Server(stream)) => stream.finish().await,
            Some(SendStream::Client(stream)) => stream.finish().await,
            None => Ok(()),
        };
        if result.is_ok() {
            self.stream = None;
        }
        result
    }

    /// Resets the stream with `code` now.
    pub(crate) fn reset(&mut self, code: H3Code) {
        match self.stream.take() {
            Some(SendStream::Server(mut stream)) => stream.stop_stream(code),
            Some(SendStream::Client(mut stream)) => stream.stop_stream(code),
            None => {}
        }
    }
}

impl Drop for SendHalf {
    fn drop(&mut self) {
        self.reset(self.reset_code);
    }
}

/// How a body's sending ended early.
pub(crate) enum SendFailure {
    /// The body itself failed; the stream was reset.
    Body(Error),
    /// The stream failed: the peer stopped it, or the connection went.
    Stream,
}

/// Writes `body` into `half`: its data, its trailers if any, then the end of the stream. A complete
/// body goes out in one DATA frame. Empty data frames are skipped.
pub(crate) async fn send_body<B>(half: &mut SendHalf, body: B) -> Result<(), SendFailure>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    let mut body = body;
    loop {
        if body.is_end_stream() {
            break;
        }
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                let code = half.reset_code;
                half.reset(code);
                return Err(SendFailure::Body(error.into()));
            }
        };
        match frame.into_data() {
            Ok(data) if data.is_empty() => {}
            Ok(data) => half
                .send_data(data)
                .await
                .map_err(|_| SendFailure::Stream)?,
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    half.send_trailers(trailers)
                        .await
                        .map_err(|_| SendFailure::Stream)?;
                }
                break;
            }
        }
    }
    half.finish().await.map_err(|_| SendFailure::Stream)
}

/// A stream error as a Trident error: the peer's cancel is `canceled`, a refused request or anything
/// that cut the stream or connection off `unavailable`, headers too big `resource_exhausted`.
pub(crate) fn stream_error(error: StreamError, doing: &str) -> Error {
    let code = match &error {
        StreamError::RemoteTerminate { code, .. } if *code == H3Code::H3_REQUEST_CANCELLED => {
            Code::Canceled
        }
        StreamError::HeaderTooBig { .. } => Code::ResourceExhausted,
        _ => Code::Unavailable,
    };
    Error::with_source(code, format!("{doing}: HTTP/3 {error}"), error)
}

/// A connection error as a Trident error: `unavailable`.
pub(crate) fn connection_error(error: ConnectionError, doing: &str) -> Error {
    Error::with_source(Code::Unavailable, format!("{doing}: HTTP/3 {error}"), error)
}
