//! Messages and message streams of any type, as interceptors see them: the one place a call's typed
//! messages are erased (and typed again on the far side of an interceptor chain).

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use prost_reflect::{DynamicMessage, MessageDescriptor};

use crate::codec::{Message, MessageView};
use crate::{Code, Error, Metadata};

/// A message of any generated type, as interceptors see it.
///
/// Look inside with [`downcast_ref`](Self::downcast_ref) when you know the type, or reflectively with
/// [`descriptor`](Self::descriptor) and [`to_dynamic`](Self::to_dynamic) when you do not (logging every
/// field, redacting, validating). An interceptor may change the message in place
/// ([`downcast_mut`](Self::downcast_mut)) or replace it with another of the same type; one of another
/// type fails the call with `internal` where the chain meets the typed handler or caller.
pub struct AnyMessage {
    inner: Box<dyn Erased>,
}

/// What an erased message can still do.
trait Erased: MessageView {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn encoded_len(&self) -> usize;
}

impl<T: Message> Erased for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn encoded_len(&self) -> usize {
        prost::Message::encoded_len(self)
    }
}

impl AnyMessage {
    /// Erases a message's type.
    pub fn new<T: Message>(message: T) -> Self {
        Self {
            inner: Box::new(message),
        }
    }

    /// The message, if it is a `T`.
    pub fn downcast_ref<T: Message>(&self) -> Option<&T> {
        self.inner.as_any().downcast_ref()
    }

    /// The message, mutably, if it is a `T`.
    pub fn downcast_mut<T: Message>(&mut self) -> Option<&mut T> {
        self.inner.as_any_mut().downcast_mut()
    }

    /// The message inside, as `Any`.
    pub(crate) fn as_any(&self) -> &dyn Any {
        self.inner.as_any()
    }

    /// The message as a `T`, or this message back if it is of another type.
    pub fn downcast<T: Message>(self) -> Result<T, Self> {
        if self.inner.as_any().is::<T>() {
            let any = self.inner.into_any();
            Ok(*any.downcast::<T>().expect("the type was just checked"))
        } else {
            Err(self)
        }
    }

    /// Whether the message is the `T` a typed handler or caller expects: an `internal` error when an
    /// interceptor replaced it with a message of another type.
    pub(crate) fn check_type<T: Message>(&self) -> Result<(), Error> {
        if self.inner.as_any().is::<T>() {
            return Ok(());
        }
        Err(Error::new(
            Code::Internal,
            format!(
                "an interceptor replaced a {} message with a {}",
                T::default().descriptor().full_name(),
                self.descriptor().full_name()
            ),
        ))
    }

    /// The message as the `T` a typed handler or caller expects (see [`check_type`](Self::check_type)).
    pub(crate) fn into_typed<T: Message>(self) -> Result<T, Error> {
        self.check_type::<T>()?;
        self.downcast()
            .map_err(|_| Error::internal("a checked message failed to downcast"))
    }

    /// The message type's descriptor (its full name, fields, ...).
    pub fn descriptor(&self) -> MessageDescriptor {
        self.inner.message_descriptor()
    }

    /// A reflective copy of the message, to read or print any field by name.
    pub fn to_dynamic(&self) -> DynamicMessage {
        self.inner.to_dynamic()
    }

    /// The size of the message's protobuf binary encoding (whatever codec the call uses).
    pub fn encoded_len(&self) -> usize {
        self.inner.encoded_len()
    }
}

impl fmt::Debug for AnyMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_dynamic().fmt(f)
    }
}

impl MessageView for AnyMessage {
    fn encode_proto(&self, buf: &mut BytesMut) {
        self.inner.encode_proto(buf)
    }

    fn merge_proto(&mut self, data: Bytes) -> Result<(), prost::DecodeError> {
        self.inner.merge_proto(data)
    }

    fn message_descriptor(&self) -> MessageDescriptor {
        self.inner.message_descriptor()
    }

    fn to_dynamic(&self) -> DynamicMessage {
        self.inner.to_dynamic()
    }
}

/// A stream of messages of any type, as a server's streaming interceptors see a call's requests and
/// responses.
///
/// It ends with `None` when the sending side finished successfully, or with an `Err` item (after which
/// it yields nothing more). Wrap it to watch or change each message: [`map`](Self::map),
/// [`inspect`](Self::inspect), [`on_end`](Self::on_end), or [`new`](Self::new) around any stream of
/// your own.
///
/// A stream that no interceptor wrapped reaches the far end of the chain (the handler, or the
/// connection) as the typed stream it started as: its messages are erased into [`AnyMessage`]s only
/// if something reads them as such.
pub struct MessageStream {
    inner: Box<dyn ErasedStream>,
    /// Whether it ended (with `None` or an error): it is not polled again.
    finished: bool,
}

/// A stream of erased messages that can be given back whole, as what it was made from.
trait ErasedStream: Stream<Item = Result<AnyMessage, Error>> + Send + Unpin + 'static {
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// A typed stream, erased one message at a time as it is read.
struct Typed<S>(S);

impl<S, T> Stream for Typed<S>
where
    S: Stream<Item = Result<T, Error>> + Unpin,
    T: Message,
{
    type Item = Result<AnyMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(|item| item.map(AnyMessage::new)))
    }
}

impl<S, T> ErasedStream for Typed<S>
where
    S: Stream<Item = Result<T, Error>> + Send + Unpin + 'static,
    T: Message,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A stream of erased messages from elsewhere (an interceptor's own, or one wrapped around another).
struct Foreign(Pin<Box<dyn Stream<Item = Result<AnyMessage, Error>> + Send + 'static>>);

impl Stream for Foreign {
    type Item = Result<AnyMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl ErasedStream for Foreign {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl MessageStream {
    /// A message stream from any stream of messages.
    pub fn new(stream: impl Stream<Item = Result<AnyMessage, Error>> + Send + 'static) -> Self {
        Self {
            inner: Box::new(Foreign(Box::pin(stream))),
            finished: false,
        }
    }

    /// Typed messages as a message stream. Nothing is erased until the stream is read as one: see
    /// [`into_typed`](Self::into_typed).
    pub(crate) fn erase<S, T>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, Error>> + Send + Unpin + 'static,
        T: Message,
    {
        Self {
            inner: Box::new(Typed(stream)),
            finished: false,
        }
    }

    /// A stream of one message.
    pub(crate) fn one<T: Message>(message: T) -> Self {
        Self::erase(futures_util::stream::iter([Ok(message)]))
    }

    /// The typed stream `S` this stream was made from with [`erase`](Self::erase), if nothing wrapped
    /// it or read from it; this stream back otherwise.
    pub(crate) fn into_typed<S, T>(self) -> Result<S, Self>
    where
        S: Stream<Item = Result<T, Error>> + Send + Unpin + 'static,
        T: Message,
    {
        if self.finished || !self.inner.as_any().is::<Typed<S>>() {
            return Err(self);
        }
        match self.inner.into_any().downcast::<Typed<S>>() {
            Ok(typed) => Ok(typed.0),
            Err(_) => unreachable!("the stream's type was just checked"),
        }
    }

    /// The messages typed again as `T`, one by one as they are read: what the far end of a chain
    /// reads when an interceptor wrapped the stream (else [`into_typed`](Self::into_typed) gives the
    /// typed stream back whole). A message of another type is an `internal` error (see
    /// [`AnyMessage`]).
    pub(crate) fn retyped<T: Message>(
        self,
    ) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
        futures_util::StreamExt::map(self, |item| item.and_then(AnyMessage::into_typed))
    }

    /// The one message of a stream that must carry exactly one (a server-streaming call's request, a
    /// client-streaming call's response, once interceptors have had them as streams); `what` names it
    /// in the errors. A missing or extra message is an `internal` error.
    pub(crate) async fn only_message<T: Message>(self, what: &str) -> Result<T, Error> {
        use futures_util::StreamExt as _;
        type One<T> = futures_util::stream::Iter<std::array::IntoIter<Result<T, Error>, 1>>;
        let mut messages = match self.into_typed::<One<T>, T>() {
            // The stream made of the one message, untouched: take the message out as it is.
            Ok(mut one) => return one.next().await.transpose()?.ok_or_else(|| missing(what)),
            Err(messages) => messages,
        };
        let first = messages
            .next()
            .await
            .transpose()?
            .ok_or_else(|| missing(what))?;
        if messages.next().await.transpose()?.is_some() {
            return Err(Error::new(
                Code::Internal,
                format!("an interceptor added a message to the {what} stream, which carries one"),
            ));
        }
        first.into_typed()
    }

    /// A stream around this one (`wrap` builds it).
    pub(crate) fn wrap<S>(self, wrap: impl FnOnce(Self) -> S) -> Self
    where
        S: Stream<Item = Result<AnyMessage, Error>> + Send + 'static,
    {
        Self::new(wrap(self))
    }

    /// Passes each message through `f`, which may change it, replace it or fail the stream with an
    /// error (the stream ends after it).
    pub fn map(
        self,
        mut f: impl FnMut(AnyMessage) -> Result<AnyMessage, Error> + Send + 'static,
    ) -> Self {
        self.wrap(|inner| futures_util::StreamExt::map(inner, move |item| item.and_then(&mut f)))
    }

    /// Shows each message to `f` on its way through.
    pub fn inspect(self, mut f: impl FnMut(&AnyMessage) + Send + 'static) -> Self {
        self.map(move |message| {
            f(&message);
            Ok(message)
        })
    }

    /// Calls `f` once when the stream ends: after its last message (with empty trailers: a server's
    /// response trailers are on the [`Response`](crate::Response) around the stream), with the error it
    /// ended with, or with a `canceled` error if it is dropped before its end (the call was cancelled
    /// or its peer went away).
    pub fn on_end(self, f: impl FnOnce(Result<&Metadata, &Error>) + Send + 'static) -> Self {
        self.wrap(|inner| EndWatch {
            inner,
            on_end: Some(Box::new(f)),
        })
    }
}

/// The error of a one-message stream that an interceptor emptied.
fn missing(what: &str) -> Error {
    Error::new(
        Code::Internal,
        format!("an interceptor ended the {what} stream without its one message"),
    )
}

impl Stream for MessageStream {
    type Item = Result<AnyMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(Pin::new(&mut *self.inner).poll_next(cx));
        self.finished = !matches!(item, Some(Ok(_)));
        Poll::Ready(item)
    }
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageStream")
    }
}

type EndHook = Box<dyn FnOnce(Result<&Metadata, &Error>) + Send>;

/// A stream that reports how it ended (see [`MessageStream::on_end`]).
struct EndWatch {
    inner: MessageStream,
    on_end: Option<EndHook>,
}

impl Stream for EndWatch {
    type Item = Result<AnyMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        match &item {
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                if let Some(f) = self.on_end.take() {
                    f(Err(error));
                }
            }
            None => {
                if let Some(f) = self.on_end.take() {
                    f(Ok(&Metadata::new()));
                }
            }
        }
        Poll::Ready(item)
    }
}

impl Drop for EndWatch {
    fn drop(&mut self) {
        if let Some(f) = self.on_end.take() {
            f(Err(&Error::new(
                Code::Canceled,
                "the stream was dropped before its end",
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use std::sync::{Arc, Mutex};

    #[test]
    fn downcasts_to_its_own_type_only() {
        let mut message = AnyMessage::new(prost_types::Duration {
            seconds: 3,
            nanos: 0,
        });
        assert_eq!(message.descriptor().full_name(), "google.protobuf.Duration");
        assert!(message.downcast_ref::<prost_types::Timestamp>().is_none());
        message
            .downcast_mut::<prost_types::Duration>()
            .expect("a Duration")
            .seconds = 4;
        assert_eq!(message.encoded_len(), 2);
        let error = message
            .into_typed::<prost_types::Timestamp>()
            .expect_err("not a Timestamp");
        assert_eq!(error.code(), Code::Internal);
        assert!(
            error.message().contains("google.protobuf.Duration"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn map_stops_at_the_first_error_and_on_end_sees_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ends = Arc::new(Mutex::new(Vec::new()));
        let stream = MessageStream::erase(futures_util::stream::iter(
            (1..=3).map(|seconds| Ok(prost_types::Duration { seconds, nanos: 0 })),
        ));
        let stream = stream
            .inspect({
                let seen = seen.clone();
                move |m| {
                    let d = m.downcast_ref::<prost_types::Duration>().expect("duration");
                    seen.lock().unwrap().push(d.seconds);
                }
            })
            .map(|m| {
                let d = m.downcast_ref::<prost_types::Duration>().expect("duration");
                if d.seconds == 2 {
                    Err(Error::new(Code::InvalidArgument, "two"))
                } else {
                    Ok(m)
                }
            })
            .on_end({
                let ends = ends.clone();
                move |end| {
                    ends.lock()
                        .unwrap()
                        .push(end.map(|_| ()).map_err(Error::code))
                }
            });
        let items: Vec<_> = stream.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(
            items[1].as_ref().map(|_| ()).map_err(Error::code),
            Err(Code::InvalidArgument)
        );
        assert_eq!(*seen.lock().unwrap(), [1, 2]);
        assert_eq!(*ends.lock().unwrap(), [Err(Code::InvalidArgument)]);
    }

    #[tokio::test]
    async fn on_end_reports_a_dropped_stream_as_canceled() {
        let ends = Arc::new(Mutex::new(Vec::new()));
        let mut stream = MessageStream::erase(futures_util::stream::iter(
            (1..=3).map(|seconds| Ok(prost_types::Duration { seconds, nanos: 0 })),
        ))
        .on_end({
            let ends = ends.clone();
            move |end| {
                ends.lock()
                    .unwrap()
                    .push(end.map(|_| ()).map_err(Error::code))
            }
        });
        assert!(stream.next().await.is_some());
        drop(stream);
        assert_eq!(*ends.lock().unwrap(), [Err(Code::Canceled)]);
    }

    type Durations =
        futures_util::stream::Iter<std::vec::IntoIter<Result<prost_types::Duration, Error>>>;

    fn durations(seconds: &[i64]) -> Durations {
        futures_util::stream::iter(
            seconds
                .iter()
                .map(|&seconds| Ok(prost_types::Duration { seconds, nanos: 0 }))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn a_stream_no_one_wrapped_comes_back_as_the_typed_stream_it_was() {
        let stream = MessageStream::erase(durations(&[1, 2]));
        let mut typed = stream
            .into_typed::<Durations, prost_types::Duration>()
            .unwrap_or_else(|_| panic!("untouched: the same stream"));
        assert_eq!(typed.next().await.expect("one").expect("ok").seconds, 1);

        // Asked for as another type, it stays erased, and its messages are typed one by one.
        let stream = MessageStream::erase(durations(&[3]));
        let stream = stream
            .into_typed::<futures_util::stream::Empty<Result<prost_types::Duration, Error>>, _>()
            .expect_err("not that type");
        let typed: Vec<_> = stream.retyped::<prost_types::Duration>().collect().await;
        assert_eq!(typed.len(), 1);
    }

    #[tokio::test]
    async fn a_wrapped_stream_is_typed_again_message_by_message() {
        let stream = MessageStream::erase(durations(&[1, 2])).inspect(|_| {});
        let stream = stream
            .into_typed::<Durations, prost_types::Duration>()
            .expect_err("wrapped: no longer the typed stream");
        let typed: Vec<i64> = stream
            .retyped::<prost_types::Duration>()
            .map(|item| item.expect("ok").seconds)
            .collect()
            .await;
        assert_eq!(typed, [1, 2]);

        // One message, as a server-streaming request or a client-streaming response carries it.
        let one = MessageStream::one(prost_types::Duration {
            seconds: 7,
            nanos: 0,
        });
        let message: prost_types::Duration = one.only_message("request").await.expect("one");
        assert_eq!(message.seconds, 7);
        let two = MessageStream::erase(durations(&[1, 2])).map(Ok);
        let error = two
            .only_message::<prost_types::Duration>("request")
            .await
            .expect_err("two messages");
        assert_eq!(error.code(), Code::Internal);
    }
}
