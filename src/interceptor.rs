//! Interceptors: code that runs around calls, on both sides. On the server they sit between the
//! protocol (which has decoded the request) and the handler, for a router or one service; on the client
//! between the caller and the wire. An interceptor sees the call's method, protocol, headers, messages
//! and outcome; it can change headers, trailers and messages, pass values on through the request's
//! extensions, or answer the call itself.
//!
//! Every call goes through its chain, and a call with no interceptors goes through the chain of length
//! zero: there is one path per call type and side, not a direct one and an intercepted one. The chain
//! is fixed once, when a route is registered or a client is built (which interceptors, in which
//! order); a call only binds its typed far end to it.
//!
//! - **Unary calls**, both sides: each interceptor gets the request and a [`UnaryNext`] that runs the
//!   rest of the chain and then the far end (the handler, or the request to the server).
//! - **Streaming calls on the server**: the server pulls both of a call's streams (the handler reads
//!   the requests, the connection takes the responses as it can send them), so the call's connection
//!   is the request stream in and the response stream out: each interceptor gets the request (its
//!   [`MessageStream`]) and a [`StreamingNext`], and may wrap either stream. A stream no interceptor
//!   wrapped reaches the handler (or the connection) as the typed stream it was: its messages are
//!   never erased.
//! - **Streaming calls on the client**: the caller pushes requests and pulls responses, so the call is
//!   one connection-like object, a [`StreamingClientConn`] (send, close, receive, headers, trailers),
//!   which the client's own call implements and each interceptor may wrap in one of its own. No task or
//!   channel stands between the caller and the wire.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::any_message::{AnyMessage, MessageStream};
use crate::{CallContext, Error, Metadata, Request, Response};

/// A boxed, sendable future: what interceptor methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A boxed, sendable future that borrows its [`StreamingClientConn`]: what the connection's
/// operations return.
pub type ConnFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Code that runs around calls. On the server, attach it to a whole [`Router`](crate::Router) with
/// [`Router::intercept`](crate::Router::intercept) or to one service with
/// [`ServiceRoutes::intercept`](crate::ServiceRoutes::intercept); on the client, with
/// [`ClientBuilder::intercept`](crate::client::ClientBuilder::intercept). One type may serve both sides:
/// [`unary`](Self::unary) runs on both, [`streaming_handler`](Self::streaming_handler) on the server
/// and [`streaming_client`](Self::streaming_client) on the client.
///
/// Every method passes the call on unchanged unless overridden. The request's
/// [`context`](Request::context) tells the method, protocol and deadline (and on the server the peer);
/// its [`headers`](Request::headers) can be read and changed; values put in its
/// [`extensions`](Request::extensions_mut) reach the handler (server) or the transport's HTTP request
/// (client). Returning an error ends the call with it: on the server it is written the way the
/// caller's protocol writes errors; on the client the caller gets it, and nothing was sent if the
/// interceptor did not go on.
///
/// Chains run in the order they were attached. On the server, the router's interceptors come first
/// (outermost), then the service's; within each, and on the client, the first attached is the
/// outermost, so it sees the request first and the response last.
///
/// On the client, interceptors see **one logical call**, whatever happens below them: retries (see
/// [`RetryPolicy`](crate::client::RetryPolicy)) and balancing run under the chain, so an interceptor sees the
/// request once, the messages the caller sent once, and the outcome of the last attempt (a retried
/// call that then succeeded looks like a call that succeeded). A unary call's deadline bounds its
/// interceptors too; a streaming call's chain is built when the call is opened, and, like the call,
/// sends nothing until its first send, close or receive.
///
/// On the server, calls the router refuses before a handler could run (an unknown codec or compression,
/// a malformed or oversized request message of a unary or server-streaming call) are answered without
/// reaching the interceptors; a panic in an interceptor fails its call with `internal`, as a handler's
/// does.
///
/// For one that only looks at (or rejects) each call's request headers, see [`RequestInterceptor`].
pub trait Interceptor: Send + Sync + 'static {
    /// Runs around a unary call, on either side: `request` holds the message; `next.run(request)`
    /// runs the rest of the chain and the call (the handler, or the request to the server).
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        next.run(request)
    }

    /// Runs around a streaming call on the server (client-, server- or bidi-streaming): `request`
    /// holds the stream of request messages (one message for server streaming); the response, once
    /// the handler has returned it, holds the stream of response messages (one message for client
    /// streaming), and its trailers. Wrap either stream to see or change each message and how it ends
    /// (see [`MessageStream`]).
    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        next.run(request)
    }

    /// Wraps a streaming call on the client (client-, server- or bidi-streaming) when it is opened:
    /// return `call` itself, or a [`StreamingClientConn`] of your own that holds it and passes each
    /// operation on, seeing or changing what goes by. The call has not started: request headers and
    /// extensions set now go out with it.
    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        call
    }
}

/// A client's streaming call (client-, server- or bidi-streaming) as its interceptors see it: the one
/// interface the typed calls ([`BidiStreamCall`](crate::client::BidiStreamCall) and the others) drive. The
/// client's own call implements it, below every interceptor, with retries and balancing under it;
/// an interceptor wraps it in one of its own (see [`Interceptor::streaming_client`]).
///
/// The call starts, exactly once, on its first send, close or receive. Its first failure is kept:
/// every later operation returns it. Dropping the call cancels it.
///
/// An interceptor's own call around another is easiest written as a [`StreamingClientWrapper`],
/// which passes on every operation it does not override.
pub trait StreamingClientConn: Send + 'static {
    /// The call's method, protocol, URI and deadline.
    fn context(&self) -> &CallContext;

    /// The request headers.
    fn request_headers(&self) -> &Metadata;

    /// The request headers, to change before the call starts (later changes are not sent).
    fn request_headers_mut(&mut self) -> &mut Metadata;

    /// Values for the transport's HTTP request (see
    /// [`Request::extensions_mut`](crate::Request::extensions_mut)), to set before the call starts.
    fn request_extensions_mut(&mut self) -> &mut http::Extensions;

    /// Sends one request message (starting the call on the first); waits while the transport is
    /// busy. A server-streaming call sends exactly one.
    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>>;

    /// Ends the request stream (starting the call if nothing was sent).
    fn close_send(&mut self) -> Result<(), Error>;

    /// Waits for the response headers (starting the call if it has not started); they are then in
    /// [`response_headers`](Self::response_headers).
    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>>;

    /// The response headers, once they arrived.
    fn response_headers(&self) -> Option<&Metadata>;

    /// The next response message; `Ok(None)` once the server ended the stream successfully.
    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>>;

    /// The next response message if it has already arrived, at no cost of a future: `None` when the
    /// caller is to [`receive`](Self::receive) instead. The typed calls ask this first, so that a
    /// stream of small messages, which arrive many to a frame, reads most of them without waiting.
    /// Optional: the default is `None`, and a [`StreamingClientWrapper`] keeps it (every message
    /// then goes through its `receive`).
    fn try_receive(&mut self) -> Option<Result<Option<AnyMessage>, Error>> {
        None
    }

    /// The response trailers, once the stream has ended successfully.
    fn response_trailers(&self) -> Option<&Metadata>;

    /// Cancels the call: the server sees the stream reset, and later operations fail with `canceled`.
    fn cancel(&mut self);
}

/// A client's streaming call that holds another (its `inner` call) and passes on every operation it does
/// not override: what an interceptor's [`streaming_client`](Interceptor::streaming_client) usually
/// returns. Every `StreamingClientWrapper` is a [`StreamingClientConn`].
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use trident::{interceptor::AnyMessage, interceptor::ConnFuture, Error, Interceptor, interceptor::StreamingClientConn, interceptor::StreamingClientWrapper};
///
/// /// Counts the messages every streaming call sends.
/// struct CountSends(Arc<AtomicUsize>);
///
/// impl Interceptor for CountSends {
///     fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
///         Box::new(Counting { inner: call, sent: self.0.clone() })
///     }
/// }
///
/// struct Counting {
///     inner: Box<dyn StreamingClientConn>,
///     sent: Arc<AtomicUsize>,
/// }
///
/// impl StreamingClientWrapper for Counting {
///     fn inner(&self) -> &dyn StreamingClientConn {
///         &*self.inner
///     }
///
///     fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
///         &mut *self.inner
///     }
///
///     fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
///         Box::pin(async move {
///             self.inner.send(message).await?;
///             self.sent.fetch_add(1, Ordering::Relaxed);
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait StreamingClientWrapper: Send + 'static {
    /// The call this one wraps.
    fn inner(&self) -> &dyn StreamingClientConn;

    /// The call this one wraps, mutably.
    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn;

    /// See [`StreamingClientConn::context`].
    fn context(&self) -> &CallContext {
        self.inner().context()
    }

    /// See [`StreamingClientConn::request_headers`].
    fn request_headers(&self) -> &Metadata {
        self.inner().request_headers()
    }

    /// See [`StreamingClientConn::request_headers_mut`].
    fn request_headers_mut(&mut self) -> &mut Metadata {
        self.inner_mut().request_headers_mut()
    }

    /// See [`StreamingClientConn::request_extensions_mut`].
    fn request_extensions_mut(&mut self) -> &mut http::Extensions {
        self.inner_mut().request_extensions_mut()
    }

    /// See [`StreamingClientConn::send`].
    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        self.inner_mut().send(message)
    }

    /// See [`StreamingClientConn::close_send`].
    fn close_send(&mut self) -> Result<(), Error> {
        self.inner_mut().close_send()
    }

    /// See [`StreamingClientConn::receive_headers`].
    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        self.inner_mut().receive_headers()
    }

    /// See [`StreamingClientConn::response_headers`].
    fn response_headers(&self) -> Option<&Metadata> {
        self.inner().response_headers()
    }

    /// See [`StreamingClientConn::receive`].
    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        self.inner_mut().receive()
    }

    /// See [`StreamingClientConn::response_trailers`].
    fn response_trailers(&self) -> Option<&Metadata> {
        self.inner().response_trailers()
    }

    /// See [`StreamingClientConn::cancel`].
    fn cancel(&mut self) {
        self.inner_mut().cancel()
    }
}

impl<W: StreamingClientWrapper> StreamingClientConn for W {
    fn context(&self) -> &CallContext {
        StreamingClientWrapper::context(self)
    }

    fn request_headers(&self) -> &Metadata {
        StreamingClientWrapper::request_headers(self)
    }

    fn request_headers_mut(&mut self) -> &mut Metadata {
        StreamingClientWrapper::request_headers_mut(self)
    }

    fn request_extensions_mut(&mut self) -> &mut http::Extensions {
        StreamingClientWrapper::request_extensions_mut(self)
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        StreamingClientWrapper::send(self, message)
    }

    fn close_send(&mut self) -> Result<(), Error> {
        StreamingClientWrapper::close_send(self)
    }

    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        StreamingClientWrapper::receive_headers(self)
    }

    fn response_headers(&self) -> Option<&Metadata> {
        StreamingClientWrapper::response_headers(self)
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        StreamingClientWrapper::receive(self)
    }

    fn response_trailers(&self) -> Option<&Metadata> {
        StreamingClientWrapper::response_trailers(self)
    }

    fn cancel(&mut self) {
        StreamingClientWrapper::cancel(self)
    }
}

/// The interceptors around one route or client, outermost first (possibly none).
#[derive(Clone, Default)]
pub(crate) struct Chain(Arc<[Arc<dyn Interceptor>]>);

impl Chain {
    /// The chain of `interceptors`, outermost first.
    pub fn of(interceptors: Vec<Arc<dyn Interceptor>>) -> Self {
        Self(interceptors.into())
    }

    /// Runs a unary call through the chain and on to `end`.
    pub fn unary(
        &self,
        request: Request<AnyMessage>,
        end: UnaryEndpoint,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        UnaryNext {
            chain: self.clone(),
            index: 0,
            end,
        }
        .run(request)
    }

    /// Runs a server's streaming call through the chain and on to `end`.
    pub fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        end: StreamingEndpoint,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        StreamingNext {
            chain: self.clone(),
            index: 0,
            end,
        }
        .run(request)
    }

    /// A client's streaming call, `call`, wrapped by every interceptor: the innermost first, so that
    /// the first attached is outermost.
    pub fn streaming_client(
        &self,
        call: Box<dyn StreamingClientConn>,
    ) -> Box<dyn StreamingClientConn> {
        self.0
            .iter()
            .rev()
            .fold(call, |call, interceptor| interceptor.streaming_client(call))
    }
}

/// The far end of a unary chain, erased: the typed handler (server), or the typed request going out
/// (client).
pub(crate) type UnaryEndpoint = Arc<
    dyn Fn(Request<AnyMessage>) -> BoxFuture<Result<Response<AnyMessage>, Error>> + Send + Sync,
>;

/// The far end of a server's streaming chain, erased: the typed handler.
pub(crate) type StreamingEndpoint = Arc<
    dyn Fn(Request<MessageStream>) -> BoxFuture<Result<Response<MessageStream>, Error>>
        + Send
        + Sync,
>;

/// The rest of a unary call's chain, and its far end.
pub struct UnaryNext {
    chain: Chain,
    index: usize,
    end: UnaryEndpoint,
}

impl UnaryNext {
    /// Runs the next interceptor (or the far end, after the last) with `request`.
    pub fn run(
        self,
        request: Request<AnyMessage>,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        match self.chain.0.get(self.index).cloned() {
            Some(interceptor) => interceptor.unary(
                request,
                UnaryNext {
                    index: self.index + 1,
                    ..self
                },
            ),
            None => (self.end)(request),
        }
    }
}

/// The rest of a server's streaming call's chain, and its handler.
pub struct StreamingNext {
    chain: Chain,
    index: usize,
    end: StreamingEndpoint,
}

impl StreamingNext {
    /// Runs the next interceptor (or the handler, after the last) with `request`.
    pub fn run(
        self,
        request: Request<MessageStream>,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        match self.chain.0.get(self.index).cloned() {
            Some(interceptor) => interceptor.streaming_handler(
                request,
                StreamingNext {
                    index: self.index + 1,
                    ..self
                },
            ),
            None => (self.end)(request),
        }
    }
}

/// An interceptor made of one async function that sees each call's request head (headers, context,
/// extensions) for every call type, before the handler (server) or before the request goes out
/// (client): authentication, request ids, values for the handler, headers every call carries. It
/// returns the head to go on with (changed or not), or an error to end the call with.
///
/// ```
/// use trident::{Code, Error, Request, RequestInterceptor, Router};
///
/// /// Who the caller is, for handlers: `request.extensions().get::<User>()`.
/// #[derive(Clone)]
/// struct User(String);
///
/// let auth = RequestInterceptor::new(|mut request: Request<()>| async move {
///     let user = match request.headers().get("authorization") {
///         Some("Bearer let-me-in") => User("alice".into()),
///         _ => return Err(Error::new(Code::Unauthenticated, "a valid bearer token is required")),
///     };
///     request.extensions_mut().insert(user);
///     Ok(request)
/// });
/// let router = Router::new().intercept(auth); // .add(...) services
/// ```
pub struct RequestInterceptor<F> {
    f: Arc<F>,
}

impl<F, Fut> RequestInterceptor<F>
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Error>> + Send + 'static,
{
    /// The interceptor that runs `f` on each call's request head.
    pub fn new(f: F) -> Self {
        Self { f: Arc::new(f) }
    }
}

impl<F, Fut> Interceptor for RequestInterceptor<F>
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Error>> + Send + 'static,
{
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        let f = self.f.clone();
        Box::pin(async move {
            let (head, message) = request.split_message();
            let head = f(head).await?;
            next.run(head.map(|()| message)).await
        })
    }

    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        let f = self.f.clone();
        Box::pin(async move {
            let (head, messages) = request.split_message();
            let head = f(head).await?;
            next.run(head.map(|()| messages)).await
        })
    }

    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        Box::new(HeadChecked {
            inner: call,
            check: Some(self.f.clone()),
            close_pending: false,
            error: None,
        })
    }
}

/// A client's streaming call whose request head a [`RequestInterceptor`] checks when the call starts
/// (its first send, close or receive), within the call's deadline.
struct HeadChecked<F> {
    inner: Box<dyn StreamingClientConn>,
    /// The check, until it ran.
    check: Option<Arc<F>>,
    /// Whether the caller closed the request stream before the check ran (closing is not `async`):
    /// the close goes on once the check passed.
    close_pending: bool,
    /// The check's failure, which every operation returns.
    error: Option<Error>,
}

impl<F, Fut> HeadChecked<F>
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Error>> + Send + 'static,
{
    /// Runs the check if it has not run; `Err` if it failed.
    async fn checked(&mut self) -> Result<(), Error> {
        if let Some(check) = self.check.take() {
            let context = self.inner.context().clone();
            let deadline = context.deadline();
            let headers = std::mem::take(self.inner.request_headers_mut());
            let extensions = std::mem::take(self.inner.request_extensions_mut());
            let head = Request::from_parts((), headers, context, extensions);
            match crate::deadline::within(deadline, check(head)).await {
                Ok(mut head) => {
                    *self.inner.request_headers_mut() = std::mem::take(head.headers_mut());
                    *self.inner.request_extensions_mut() = std::mem::take(head.extensions_mut());
                    if self.close_pending {
                        self.inner.close_send()?;
                    }
                }
                Err(error) => {
                    self.inner.cancel();
                    self.error = Some(error);
                }
            }
        }
        self.error.clone().map_or(Ok(()), Err)
    }
}

impl<F, Fut> StreamingClientWrapper for HeadChecked<F>
where
    F: Fn(Request<()>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request<()>, Error>> + Send + 'static,
{
    fn inner(&self) -> &dyn StreamingClientConn {
        &*self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
        &mut *self.inner
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.checked().await?;
            self.inner.send(message).await
        })
    }

    fn close_send(&mut self) -> Result<(), Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.check.is_some() {
            self.close_pending = true;
            return Ok(());
        }
        self.inner.close_send()
    }

    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.checked().await?;
            self.inner.receive_headers().await
        })
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        Box::pin(async move {
            self.checked().await?;
            self.inner.receive().await
        })
    }
}
