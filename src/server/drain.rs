//! Draining what a handler left unread of an HTTP/1.1 request body, so the connection stays usable.
//!
//! A server may answer before it has read the whole request (an oversized message, an early error).
//! On HTTP/1.1 the unread rest would otherwise make hyper close the connection while the client may
//! still be writing, which the client sees as a broken pipe instead of the answer. HTTP/2 resets just
//! the stream, so nothing is needed there.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use crate::Error;
use crate::body::Body;

/// Most bytes read (and thrown away) after the handler is done with a request body.
const DRAIN_MAX_BYTES: usize = 1024 * 1024;
/// Longest time spent draining; past it the connection is closed instead.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// A request body that drains itself in the background when dropped unfinished.
pub(crate) struct DrainOnDrop {
    inner: Option<Body>,
}

impl DrainOnDrop {
    pub fn new(body: Body) -> Self {
        Self { inner: Some(body) }
    }
}

impl http_body::Body for DrainOnDrop {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let drain = async {
                let mut read = 0usize;
                while let Some(Ok(frame)) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    if let Some(data) = frame.data_ref() {
                        read += data.len();
                        if read > DRAIN_MAX_BYTES {
                            return;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
        });
    }
}
