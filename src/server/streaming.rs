//! The incoming request stream handed to client-streaming and bidi handlers.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::Error;
use crate::codec::Message;
use crate::envelope::EnvelopeReader;
use crate::wire::MessageReader;

/// A stream of request messages, ending when the client closes its side.
///
/// Use it as a [`futures_core::Stream`] of `Result<T, Error>`, or call [`Streaming::message`].
pub struct Streaming<T> {
    // The mutex makes the stream `Sync` (handlers hold `&Request` across awaits); it is never contended.
    state: Mutex<State<T>>,
}

struct State<T> {
    source: Source<T>,
    finished: bool,
}

/// Where the messages come from.
#[allow(clippy::large_enum_variant)] // `Wire` is the usual case: boxing it would cost every stream an allocation.
enum Source<T> {
    /// Straight from the request body.
    Wire {
        envelopes: EnvelopeReader,
        reader: MessageReader,
    },
    /// The messages an interceptor passed on, when one wrapped the request stream (unwrapped, the
    /// stream reaches the handler as `Wire`).
    Wrapped(Pin<Box<dyn Stream<Item = Result<T, Error>> + Send>>),
}

impl<T: Message> Streaming<T> {
    pub(crate) fn new(envelopes: EnvelopeReader, reader: MessageReader) -> Self {
        Self {
            state: Mutex::new(State {
                source: Source::Wire { envelopes, reader },
                finished: false,
            }),
        }
    }

    /// The messages an interceptor that wrapped the request stream passes on to the handler.
    pub(crate) fn wrapped(messages: impl Stream<Item = Result<T, Error>> + Send + 'static) -> Self {
        Self {
            state: Mutex::new(State {
                source: Source::Wrapped(Box::pin(messages)),
                finished: false,
            }),
        }
    }

    /// The next message; `Ok(None)` once the client has closed its side.
    pub async fn message(&mut self) -> Result<Option<T>, Error> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Error>> {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if state.finished {
            return Poll::Ready(Ok(None));
        }
        let result = match &mut state.source {
            Source::Wire { envelopes, reader } => match envelopes.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Some(envelope))) => reader.decode_envelope(envelope).map(Some),
                Poll::Ready(Ok(None)) => Ok(None),
                Poll::Ready(Err(e)) => Err(e),
            },
            Source::Wrapped(messages) => match messages.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item.transpose(),
            },
        };
        if !matches!(result, Ok(Some(_))) {
            state.finished = true;
        }
        Poll::Ready(result)
    }
}

impl<T: Message> Stream for Streaming<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_message(cx).map(Result::transpose)
    }
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streaming")
    }
}
