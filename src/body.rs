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
    inner: Inner,
}

/// What a [`Body`] holds: its bytes when they are all known up front (so that a transport can send them
/// at once, see [`Body::into_full`]), or any other body, boxed.
enum Inner {
    /// The whole body; empty once it was read (or when there is none).
    Full(Bytes),
    /// Any other body.
    Boxed(UnsyncBoxBody<Bytes, Error>),
}

impl Body {
    /// Wraps any body. Its errors become [`Code::Unavailable`] errors ([`Code::Canceled`] for an HTTP/2
    /// stream reset with `CANCEL`) unless they already are Trident errors. A `Body` passes through as it
    /// is, not boxed a second time (the router is often handed bodies the server already wrapped).
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut slot = Some(body);
        if let Some(already) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>()
            && let Some(body) = already.take()
        {
            return body;
        }
        match slot {
            Some(body) => Self {
                inner: Inner::Boxed(body.map_err(body_error).boxed_unsync()),
            },
            // Only a `Body` is taken out above, and it was returned.
            None => Self::empty(),
        }
    }

    /// A body with no data.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body holding exactly `data`.
    pub fn full(data: impl Into<Bytes>) -> Self {
        Self {
            inner: Inner::Full(data.into()),
        }
    }

    /// The whole body if it was made complete ([`Body::full`], [`Body::empty`]) and not read yet, else
    /// the body itself back: a transport sends complete bodies at once, without polling them.
    pub(crate) fn into_full(self) -> Result<Bytes, Body> {
        match self.inner {
            Inner::Full(data) => Ok(data),
            inner @ Inner::Boxed(_) => Err(Self { inner }),
        }
    }

    /// A body made from a stream of frames.
    pub(crate) fn from_frames<S>(stream: S) -> Self
    where
        S: futures_core::Stream<Item = Result<Frame<Bytes>, Error>> + Send + 'static,
    {
        Self {
            inner: Inner::Boxed(http_body_util::StreamBody::new(stream).boxed_unsync()),
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
        match &mut self.inner {
            Inner::Full(data) if data.is_empty() => Poll::Ready(None),
            Inner::Full(data) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(data))))),
            Inner::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(data) => data.is_empty(),
            Inner::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(data) => SizeHint::with_exact(data.len() as u64),
            Inner::Boxed(body) => body.size_hint(),
        }
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

/// Whether a transport error (or anything in its source chain) says the stream was cancelled: an HTTP/2
/// stream reset (or connection shut down) with reason `CANCEL`, or hyper's own cancellation of a request
/// whose connection went away before it was sent. Decided by error type, never by message text.
fn is_cancellation(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_canceled()
        {
            return true;
        }
        if let Some(h) = e.downcast_ref::<h2::Error>()
            && h.reason() == Some(h2::Reason::CANCEL)
        {
            return true;
        }
        // An io::Error's `source` is its inner error's source, skipping the inner error itself.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && is_cancellation(inner)
        {
            return true;
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wrapping_a_body_again_keeps_it_as_it_is() {
        use http_body::Body as _;
        let twice = Body::new(Body::new(Body::full("abc")));
        assert_eq!(twice.size_hint().exact(), Some(3));
        let bytes = twice.collect().await.expect("a full body").to_bytes();
        assert_eq!(bytes, "abc");
    }

    /// An error whose cause is `source`, as hyper and hyper-util wrap what h2 reports.
    #[derive(Debug)]
    struct Wrapped(Box<dyn std::error::Error + Send + Sync>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error reading a body from connection")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    fn cancel() -> h2::Error {
        h2::Error::from(h2::Reason::CANCEL)
    }

    #[test]
    fn a_cancel_reset_is_a_cancellation_wherever_it_sits() {
        assert!(is_cancellation(&cancel()));
        assert!(is_cancellation(&Wrapped(Box::new(cancel()))));
        assert!(is_cancellation(&Wrapped(Box::new(Wrapped(Box::new(
            cancel()
        ))))));
        // Inside an io::Error, whose `source` skips the error it wraps.
        assert!(is_cancellation(&std::io::Error::other(cancel())));
        assert!(is_cancellation(&Wrapped(Box::new(std::io::Error::other(
            cancel()
        )))));
    }

    #[test]
    fn other_errors_are_not_cancellations_whatever_they_say() {
        for reason in [
            h2::Reason::NO_ERROR,
            h2::Reason::INTERNAL_ERROR,
            h2::Reason::REFUSED_STREAM,
            h2::Reason::PROTOCOL_ERROR,
        ] {
            let error = h2::Error::from(reason);
            assert!(!is_cancellation(&error), "{reason:?}");
            assert!(!is_cancellation(&Wrapped(Box::new(error))), "{reason:?}");
        }
        // Text that the old check matched on no longer decides anything.
        for text in [
            "CANCEL",
            "the operation was canceled",
            "stream no longer needed",
        ] {
            assert!(!is_cancellation(&std::io::Error::other(text)), "{text}");
        }
        assert!(!is_cancellation(&std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        )));
    }

    /// A body whose next frame is `error`, as `Body::new` wraps it.
    fn failing_body(error: impl std::error::Error + Send + Sync + 'static) -> Body {
        let frames = futures_util::stream::iter([Err::<Frame<Bytes>, _>(error)]);
        Body::new(http_body_util::StreamBody::new(frames))
    }

    #[tokio::test]
    async fn body_errors_are_classified() {
        let error = failing_body(Wrapped(Box::new(cancel())))
            .frame()
            .await
            .expect("a frame")
            .unwrap_err();
        assert_eq!(error.code(), Code::Canceled, "{error}");

        let error = failing_body(Wrapped(Box::new(h2::Error::from(
            h2::Reason::INTERNAL_ERROR,
        ))))
        .frame()
        .await
        .expect("a frame")
        .unwrap_err();
        assert_eq!(error.code(), Code::Unavailable, "{error}");

        // A Trident error passes through as it is.
        let error = failing_body(Error::new(Code::DataLoss, "torn"))
            .frame()
            .await
            .expect("a frame")
            .unwrap_err();
        assert_eq!(error.code(), Code::DataLoss);
    }
}
