//! The two bodies of an HTTP/2 stream that the client's own h2 transport (`h2_channel.rs`) opens: the
//! response body, an [`http_body::Body`] over h2's [`RecvStream`] that hands on data frames, then
//! trailers, and gives back flow-control window for every chunk it hands on; and [`pump`], the task
//! that feeds a streaming request body into h2's [`SendStream`] only as fast as the peer's window
//! takes it.
//!
//! Dropping the response body before its end drops the last handle on the stream (once the request
//! side is done or dropped too), and h2 then resets the stream with `CANCEL`, so the server sees the
//! call cancelled.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http_body::{Body as _, Frame};

use crate::Error;
use crate::body::Body;

/// Counts one stream as open on its connection until dropped (the keepalive pings only while streams
/// are open, unless told to ping while idle).
pub(crate) struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    /// Counts a new stream in `streams`.
    pub(crate) fn new(streams: Arc<AtomicUsize>) -> Self {
        streams.fetch_add(1, Ordering::Relaxed);
        Self(streams)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where the response body stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Data frames come next.
    Data,
    /// The data ended: the trailers, if any, come next.
    Trailers,
    /// Nothing more.
    Done,
}

/// A response body read from h2 (see the module docs).
pub(crate) struct ResponseBody {
    recv: RecvStream,
    stage: Stage,
    /// Keeps the stream counted as open while the body is read.
    _open: Option<OpenStream>,
}

impl ResponseBody {
    /// The body of a response whose stream is counted by `open`, if counted.
    pub(crate) fn new(recv: RecvStream, open: Option<OpenStream>) -> Self {
        Self {
            recv,
            stage: Stage::Data,
            _open: open,
        }
    }

    /// The next data chunk, its flow-control window given back; `None` once the data ended.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, h2::Error>>> {
        let chunk = ready!(self.recv.poll_data(cx));
        if let Some(Ok(data)) = &chunk {
            // Fails only when releasing more than was received, which handing on each chunk once
            // never does.
            let _ = self.recv.flow_control().release_capacity(data.len());
        }
        Poll::Ready(chunk)
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let this = self.get_mut();
        if this.stage == Stage::Data {
            match ready!(this.poll_data(cx)) {
                Some(Ok(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Some(Err(e)) => {
                    this.stage = Stage::Done;
                    return Poll::Ready(Some(Err(e)));
                }
                None => this.stage = Stage::Trailers,
            }
        }
        if this.stage == Stage::Done {
            return Poll::Ready(None);
        }
        let trailers = ready!(this.recv.poll_trailers(cx));
        this.stage = Stage::Done;
        Poll::Ready(trailers.transpose().map(|t| t.map(Frame::trailers)))
    }

    fn is_end_stream(&self) -> bool {
        self.stage == Stage::Done || self.recv.is_end_stream()
    }
}

/// Where a request body's failure is left for the call waiting on the response, which reports it
/// rather than the stream reset it caused.
pub(crate) type BodyFailure = Arc<Mutex<Option<Error>>>;

/// The failure `failure` holds, if the request body failed.
pub(crate) fn take_failure(failure: &BodyFailure) -> Option<Error> {
    failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// Feeds `body` into the request stream `send`: each frame is read only once the peer's window has
/// room (at most one frame waits in h2's buffer), trailers end the stream if the body has them, and a
/// failing body resets the stream with `CANCEL` and leaves its error in `failure`. Ends early when the
/// peer resets the stream or the connection fails.
pub(crate) async fn pump(mut send: SendStream<Bytes>, mut body: Body, failure: BodyFailure) {
    loop {
        send.reserve_capacity(1);
        if !poll_fn(|cx| poll_room(&mut send, cx)).await {
            return;
        }
        let Some(frame) = poll_fn(|cx| poll_frame_unless_reset(&mut send, &mut body, cx)).await
        else {
            return;
        };
        let frame = match frame {
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                send.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        match frame.into_data() {
            Ok(data) => {
                let end = body.is_end_stream();
                if send.send_data(data, end).is_err() || end {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let _ = send.send_trailers(trailers);
                } else {
                    let _ = send.send_data(Bytes::new(), true);
                }
                return;
            }
        }
    }
}

/// Ready with `true` once the stream may take data, `false` if it never will (reset, connection gone).
fn poll_room(send: &mut SendStream<Bytes>, cx: &mut Context<'_>) -> Poll<bool> {
    loop {
        if send.capacity() > 0 {
            return Poll::Ready(true);
        }
        match ready!(send.poll_capacity(cx)) {
            Some(Ok(0)) => continue,
            Some(Ok(_)) => return Poll::Ready(true),
            Some(Err(_)) | None => return Poll::Ready(false),
        }
    }
}

/// The body's next frame, or `None` if the peer reset the stream (or the connection failed) first.
#[allow(clippy::type_complexity)]
fn poll_frame_unless_reset(
    send: &mut SendStream<Bytes>,
    body: &mut Body,
    cx: &mut Context<'_>,
) -> Poll<Option<Option<Result<Frame<Bytes>, Error>>>> {
    if send.poll_reset(cx).is_ready() {
        return Poll::Ready(None);
    }
    Pin::new(body).poll_frame(cx).map(Some)
}
