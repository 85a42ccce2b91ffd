//! A call's outgoing messages: a handler's response stream, seen by the streaming response body as one
//! type-erased source it pulls messages from. (A reply of one message is framed ahead of time and needs
//! no source: see `respond::single`.)

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures_core::Stream;

use crate::Error;
use crate::codec::MessageView;
use crate::protocol::text_stream;
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

/// How a handler names the events of its stream (see `Response::with_event_ids`): a function of
/// each message, which it sees as `&dyn Any` (a typed message, or the message inside an
/// `AnyMessage` that went through interceptors) and downcasts.
#[derive(Clone)]
pub(crate) struct EventIds(pub Arc<EventIdFn>);

/// The function behind [`EventIds`].
pub(crate) type EventIdFn = dyn Fn(&dyn Any) -> Option<String> + Send + Sync;

/// A message's event-id function, with the way to see the message as `Any`.
pub(crate) type Naming<T> = (EventIds, fn(&T) -> &dyn Any);

impl fmt::Debug for EventIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventIds")
    }
}

/// A stream of response messages (a handler's typed stream, or one that went through interceptors)
/// as outgoing messages; `ids`, when the handler named its events, with the way to see a message
/// as `Any`.
pub(crate) fn messages<S, T>(stream: S, ids: Option<Naming<T>>) -> Outgoing
where
    S: Stream<Item = Result<T, Error>> + Send + Unpin + 'static,
    T: MessageView + 'static,
{
    Box::pin(StreamSource { stream, ids })
}

struct StreamSource<S, T> {
    stream: S,
    ids: Option<Naming<T>>,
}

impl<S, T> MessageSource for StreamSource<S, T>
where
    S: Stream<Item = Result<T, Error>> + Send + Unpin,
    T: MessageView + 'static,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        writer: &MessageWriter,
        out: &mut BytesMut,
    ) -> Poll<Option<Result<(), Error>>> {
        let next = ready!(Pin::new(&mut self.stream).poll_next(cx));
        let Some(item) = next else {
            return Poll::Ready(None);
        };
        Poll::Ready(Some(item.and_then(|message| {
            let start = out.len();
            if let Some((ids, as_any)) = &self.ids
                && writer.text_frame.is_some_and(|frame| frame.event_ids)
                && let Some(id) = (ids.0)(as_any(&message))
            {
                text_stream::write_event_id(&id, out)?;
            }
            writer.write_message(&message, 0, out).inspect_err(|_| {
                // No `id:` line without its event.
                out.truncate(start);
            })
        })))
    }
}
