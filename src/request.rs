//! Request and response wrappers: a message plus headers, trailers, timeout and call context.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::Message;
use crate::server::outgoing::EventIds;
use crate::{CallContext, Metadata, ResponseStream};

/// A request: the message (or incoming stream) plus request headers.
///
/// On the client, set headers with [`Request::headers_mut`] (or [`Request::with_header`]) and a timeout with [`Request::with_timeout`].
/// On the server, [`Request::context`] tells the deadline, cancellation and peer.
#[derive(Debug)]
pub struct Request<T> {
    message: T,
    headers: Metadata,
    timeout: Option<Duration>,
    context: CallContext,
    extensions: http::Extensions,
}

impl<T> Request<T> {
    /// A request with no headers.
    pub fn new(message: T) -> Self {
        Self {
            message,
            headers: Metadata::new(),
            timeout: None,
            context: CallContext::default(),
            extensions: http::Extensions::new(),
        }
    }

    pub(crate) fn from_parts(
        message: T,
        headers: Metadata,
        context: CallContext,
        extensions: http::Extensions,
    ) -> Self {
        Self {
            message,
            headers,
            timeout: None,
            context,
            extensions,
        }
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn message_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Unwraps the message.
    pub fn into_message(self) -> T {
        self.message
    }

    /// Request headers.
    pub fn headers(&self) -> &Metadata {
        &self.headers
    }

    /// Request headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Metadata {
        &mut self.headers
    }

    /// Adds a request header (builder style). Invalid names or values are an `internal` error.
    pub fn with_header(mut self, key: &str, value: &str) -> Result<Self, crate::Error> {
        self.headers.append(key, value)?;
        Ok(self)
    }

    /// Sets the call's timeout (client side): the server is told, and the client gives up after it.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The timeout set with [`Request::with_timeout`].
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The call context (server side; empty on the client).
    pub fn context(&self) -> &CallContext {
        &self.context
    }

    /// Values attached to the request: on the server, what the server, tower middleware in front of
    /// the router and interceptors put there (the peer's address and certificates, an authenticated
    /// user, a request id, ...), for the handler to read.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// The request's extensions, mutably: an interceptor passes values to the handler here.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Splits into headers, message and context.
    pub fn into_parts(self) -> (Metadata, T, CallContext) {
        (self.headers, self.message, self.context)
    }

    /// Replaces the message, keeping headers, timeout, context and extensions.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            message: f(self.message),
            headers: self.headers,
            timeout: self.timeout,
            context: self.context,
            extensions: self.extensions,
        }
    }

    /// The request with the context interceptors see (a client call's).
    pub(crate) fn with_context(mut self, context: CallContext) -> Self {
        self.context = context;
        self
    }

    /// Takes the message out, leaving the rest of the request (see [`Request::map`] to put one back).
    pub(crate) fn split_message(self) -> (Request<()>, T) {
        let Request {
            message,
            headers,
            timeout,
            context,
            extensions,
        } = self;
        let head = Request {
            message: (),
            headers,
            timeout,
            context,
            extensions,
        };
        (head, message)
    }
}

impl<T, E> Request<Result<T, E>> {
    /// The request, or the error its message was.
    pub(crate) fn transpose_message(self) -> Result<Request<T>, E> {
        let (head, message) = self.split_message();
        message.map(|message| head.map(|()| message))
    }
}

impl<T, E> Response<Result<T, E>> {
    /// The response, or the error its message was.
    pub(crate) fn transpose_message(self) -> Result<Response<T>, E> {
        let (head, message) = self.split_message();
        message.map(|message| head.map(|()| message))
    }
}

/// Converts a message or a [`Request`] into a request, so clients accept either.
pub trait IntoRequest<T> {
    /// Wraps or passes through.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// A response: the message (or outgoing stream) plus response headers and trailers.
#[derive(Debug)]
pub struct Response<T> {
    message: T,
    headers: Metadata,
    trailers: Metadata,
    /// How a streamed response names its server-sent events (see [`Response::with_event_ids`]).
    event_ids: Option<EventIds>,
}

impl<T> Response<T> {
    /// A response with no headers or trailers.
    pub fn new(message: T) -> Self {
        Self {
            message,
            headers: Metadata::new(),
            trailers: Metadata::new(),
            event_ids: None,
        }
    }

    pub(crate) fn from_parts(message: T, headers: Metadata, trailers: Metadata) -> Self {
        Self {
            message,
            headers,
            trailers,
            event_ids: None,
        }
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// The message, mutably.
    pub fn message_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Unwraps the message.
    pub fn into_message(self) -> T {
        self.message
    }

    /// Response headers.
    pub fn headers(&self) -> &Metadata {
        &self.headers
    }

    /// Response headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Metadata {
        &mut self.headers
    }

    /// Response trailers.
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// Response trailers, mutably.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.trailers
    }

    /// Splits into headers, message and trailers.
    pub fn into_parts(self) -> (Metadata, T, Metadata) {
        (self.headers, self.message, self.trailers)
    }

    /// Replaces the message, keeping headers and trailers.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            message: f(self.message),
            headers: self.headers,
            trailers: self.trailers,
            event_ids: self.event_ids,
        }
    }

    /// Takes the message out, leaving headers and trailers (see [`Response::map`] to put one back).
    pub(crate) fn split_message(self) -> (Response<()>, T) {
        (
            Response {
                message: (),
                headers: self.headers,
                trailers: self.trailers,
                event_ids: self.event_ids,
            },
            self.message,
        )
    }

    /// Takes the way the response names its events, if it has one.
    pub(crate) fn take_event_ids(&mut self) -> Option<EventIds> {
        self.event_ids.take()
    }
}

impl<T: Message> Response<ResponseStream<T>> {
    /// Gives each message of this stream an event id, for callers that follow it as server-sent
    /// events (an `EventSource`, or `curl` with `Accept: text/event-stream`): the message's event
    /// carries `id(message)` in its `id:` line when it returns one. A reconnecting `EventSource`
    /// sends the last id it saw back in `Last-Event-ID`, which the handler reads with
    /// [`CallContext::last_event_id`] to resume the stream after that event. Other protocols have
    /// no event ids and ignore it.
    ///
    /// An id must fit on one line: one holding a line break or NUL fails the stream with
    /// `internal` when its message is sent.
    ///
    /// ```
    /// use prost_types::Timestamp;
    /// use trident::{Response, ResponseStream};
    ///
    /// fn follow(ticks: ResponseStream<Timestamp>) -> Response<ResponseStream<Timestamp>> {
    ///     // Each tick's second names its event.
    ///     Response::new(ticks).with_event_ids(|tick: &Timestamp| Some(tick.seconds.to_string()))
    /// }
    /// ```
    pub fn with_event_ids(
        mut self,
        id: impl Fn(&T) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.event_ids = Some(EventIds(Arc::new(move |message: &dyn Any| {
            message.downcast_ref::<T>().and_then(&id)
        })));
        self
    }
}
