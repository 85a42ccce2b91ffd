//! Interceptors: code that runs around calls, on both sides. On the server they sit between the
//! protocol (which has decoded the request) and the handler, for a router or one service; on the client
//! between the caller and the wire. An interceptor sees the call's method, protocol, headers, messages
//! and outcome; it can change headers, trailers and messages, pass values on through the request's
//! extensions, or answer the call itself.
//!
//! A chain is a slice of interceptors and a position in it: each interceptor gets a `Next` that runs
//! the rest of the chain and then the call's far end (the handler, or the client's request), so it
//! decides whether, when and with what the call goes on, and sees what comes back. With no interceptor
//! attached, calls take their typed paths (`server/handler.rs`, `client/calls.rs`) and no message is
//! erased.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::any_message::{AnyMessage, MessageStream};
use crate::{Error, Request, Response};

/// A boxed, sendable future: what interceptor methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Code that runs around calls. On the server, attach it to a whole [`Router`](crate::Router) with
/// [`Router::intercept`](crate::Router::intercept) or to one service with
/// [`ServiceRoutes::intercept`](crate::ServiceRoutes::intercept); on the client, with
/// [`ClientBuilder::intercept`](crate::ClientBuilder::intercept). One type may serve both sides.
///
/// Both methods pass the call on unchanged unless overridden. The request's
/// [`context`](Request::context) tells the method, protocol and deadline (and on the server the peer);
/// its [`headers`](Request::headers) can be read and changed; values put in its
/// [`extensions`](Request::extensions_mut) reach the handler (server) or the transport's HTTP request
/// (client). Returning an error ends the call with it: on the server it is written the way the
/// caller's protocol writes errors (Connect, gRPC or gRPC-Web); on the client the caller gets it, and
/// nothing was sent if the interceptor did not call `next`.
///
/// Chains run in the order they were attached. On the server, the router's interceptors come first
/// (outermost), then the service's; within each, and on the client, the first attached is the
/// outermost, so it sees the request first and the response last. On the client, a call's deadline
/// bounds its interceptors too, and a client- or bidi-streaming call's chain starts, like the call, at
/// its first send, close or receive.
///
/// On the server, calls the router refuses before a handler could run (an unknown codec or compression,
/// a malformed or oversized request message of a unary or server-streaming call) are answered without
/// reaching the interceptors; a panic in an interceptor fails its call with `internal`, as a handler's
/// does.
///
/// For one that only looks at (or rejects) each call's request headers, see [`RequestInterceptor`].
pub trait Interceptor: Send + Sync + 'static {
    /// Runs around a unary call: `request` holds the message; `next.run(request)` runs the rest of the
    /// chain and the call (the handler, or the request to the server).
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        next.run(request)
    }

    /// Runs around a streaming call (client-, server- or bidi-streaming): `request` holds the stream of
    /// request messages (one message for server streaming); the response, once the handler has
    /// returned it (server) or its headers arrived (client), holds the stream of response messages
    /// (one message for client streaming). Wrap either stream to see or change each message and how it
    /// ends, with the trailers on the client (see [`MessageStream`]).
    fn streaming(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        next.run(request)
    }
}

/// The interceptors around one route, outermost first.
#[derive(Clone)]
pub(crate) struct Chain(Arc<[Arc<dyn Interceptor>]>);

impl Chain {
    /// The chain of `interceptors`, or `None` when there are none (calls then skip interception).
    pub fn of(interceptors: Vec<Arc<dyn Interceptor>>) -> Option<Self> {
        (!interceptors.is_empty()).then(|| Self(interceptors.into()))
    }

    /// Runs a unary call through the chain and on to `handler`.
    pub fn unary(
        &self,
        request: Request<AnyMessage>,
        handler: UnaryEndpoint,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        UnaryNext {
            chain: self.clone(),
            index: 0,
            handler,
        }
        .run(request)
    }

    /// Runs a streaming call through the chain and on to `handler`.
    pub fn streaming(
        &self,
        request: Request<MessageStream>,
        handler: StreamingEndpoint,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        StreamingNext {
            chain: self.clone(),
            index: 0,
            handler,
        }
        .run(request)
    }
}

/// A typed unary handler behind the chain, erased.
pub(crate) type UnaryEndpoint = Arc<
    dyn Fn(Request<AnyMessage>) -> BoxFuture<Result<Response<AnyMessage>, Error>> + Send + Sync,
>;

/// A typed streaming handler behind the chain, erased.
pub(crate) type StreamingEndpoint = Arc<
    dyn Fn(Request<MessageStream>) -> BoxFuture<Result<Response<MessageStream>, Error>>
        + Send
        + Sync,
>;

/// The rest of a unary call's chain, and its handler.
pub struct UnaryNext {
    chain: Chain,
    index: usize,
    handler: UnaryEndpoint,
}

impl UnaryNext {
    /// Runs the next interceptor (or the handler, after the last) with `request`.
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
            None => (self.handler)(request),
        }
    }
}

/// The rest of a streaming call's chain, and its handler.
pub struct StreamingNext {
    chain: Chain,
    index: usize,
    handler: StreamingEndpoint,
}

impl StreamingNext {
    /// Runs the next interceptor (or the handler, after the last) with `request`.
    pub fn run(
        self,
        request: Request<MessageStream>,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        match self.chain.0.get(self.index).cloned() {
            Some(interceptor) => interceptor.streaming(
                request,
                StreamingNext {
                    index: self.index + 1,
                    ..self
                },
            ),
            None => (self.handler)(request),
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

    fn streaming(
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
}
