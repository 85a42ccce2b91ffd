//! A call's outgoing messages: a handler's response stream, seen by the streaming response body as one
//! type-erased source it pulls messages from. (A reply of one message is framed ahead of time and needs
//! no source: see `respond::single`.)

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_core::Stream;

use crate::Error;
use crate::codec::MessageView;
use crate::wire::MessageWriter;

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

/// A stream of response messages (a handler's typed stream, or one that went through interceptors)
/// as outgoing messages.
pub(crate) fn messages<S, T>(stream: S) -> Outgoing
where
    S: Stream<Item = Result<T, Error>> + Send + Unpin + 'static,
    T: MessageView,
{
    Box::pin(StreamSource { stream })
}

struct StreamSource<S> {
    stream: S,
}

impl<S, T> MessageSource for StreamSource<S>
where
    S: Stream<Item = Result<T, Error>> + Send + Unpin,
    T: MessageView,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        writer: &MessageWriter,
        out: &mut BytesMut,
    ) -> Poll<Option<Result<(), Error>>> {
        let next = ready!(Pin::new(&mut self.stream).poll_next(cx));
        Poll::Ready(
            next.map(|item| item.and_then(|message| writer.write_message(&message, 0, out))),
        )
    }
}
