//! The HTTP body type Trident sends and receives, with the conversions from hyper's and other bodies.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;

use crate::{Code, Error};

/// A boxed HTTP body whose errors are Trident [`Error`]s.
///
/// Servers answer with it and client transports are handed it; anything implementing [`http_body::Body`]
/// with `Bytes` data converts into it with [`Body::new`].
pub struct Body {
    inner: UnsyncBoxBody<Bytes, Error>,
}

impl Body {
    /// Wraps any body. Its errors become [`Code::Unavailable`] errors unless they already are Trident errors.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self {
            inner: body.map_err(body_error).boxed_unsync(),
        }
    }

    /// A body with no data.
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::new())
    }

    /// A body holding exactly `data`.
    pub fn full(data: impl Into<Bytes>) -> Self {
        Self::new(http_body_util::Full::new(data.into()))
    }

    /// A body made from a stream of frames.
    pub(crate) fn from_frames<S>(stream: S) -> Self
    where
        S: futures_core::Stream<Item = Result<Frame<Bytes>, Error>> + Send + 'static,
    {
        Self {
            inner: http_body_util::StreamBody::new(stream).boxed_unsync(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Turns a body's error into a Trident error, keeping Trident errors as they are.
fn body_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    let error = error.into();
    match error.downcast::<Error>() {
        Ok(error) => *error,
        Err(other) => {
            let text = other.to_string();
            let code = if is_cancellation(other.as_ref()) {
                Code::Canceled
            } else {
                Code::Unavailable
            };
            Error::with_source(code, format!("reading body: {text}"), other)
        }
    }
}

/// Whether a transport error (or anything in its source chain) says the stream was cancelled.
fn is_cancellation(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_canceled()
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("CANCEL") || text.contains("canceled") {
            return true;
        }
        current = e.source();
    }
    false
}
