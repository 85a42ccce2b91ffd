//! Server interceptors: code that runs around the calls of a router or of one service, between the
//! protocol (which has decoded the request) and the handler. An interceptor sees the call's method,
//! protocol, peer and headers, its messages and its outcome; it can change headers, trailers and
//! messages, pass values to the handler through the request's extensions, or answer the call itself.
//!
//! A chain is a slice of interceptors and a position in it: each interceptor gets a `Next` that runs
//! the rest of the chain and then the handler, so it decides whether, when and with what the call goes
//! on, and sees what comes back. With no interceptor attached, calls take the typed path in
//! `handler.rs` and no message is erased.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::any_message::{AnyMessage, MessageStream};
use crate::{Error, Request, Response};

/// A boxed, sendable future: what interceptor methods return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Code that runs around server calls: attach it to a whole [`Router`](crate::Router) with
/// [`Router::intercept`](crate::Router::intercept) or to one service with
/// [`ServiceRoutes::intercept`](crate::ServiceRoutes::intercept).
///
/// Both methods pass the call on unchanged unless overridden. The request's
/// [`context`](Request::context) tells the method, protocol, peer and deadline; its
/// [`headers`](Request::headers) can be read and changed; values put in its
/// [`extensions`](Request::extensions_mut) reach the handler. Returning an error answers the call with
/// it, written the way the caller's protocol writes errors (Connect, gRPC or gRPC-Web).
///
/// Chains run in the order they were attached: the router's interceptors first (outermost), then the
/// service's; within each, the first attached is the outermost, so it sees the request first and the
/// response last.
///
/// For one that only looks at (or rejects) each call's request headers, see [`RequestInterceptor`].
pub trait Interceptor: Send + Sync + 'static {
    /// Runs around a unary call: `request` holds the decoded message; `next.run(request)` runs the
    /// rest of the chain and the handler.
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        next.run(request)
    }

    /// Runs around a streaming call (client-, server- or bidi-streaming): `request` holds the stream of
    /// request messages (one message for server streaming); the response, once the handler has
    /// returned it, holds the stream of response messages (one message for client streaming). Wrap
    /// either stream to see or change each message and how it ends (see [`MessageStream`]).
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
/// extensions) before the handler, for every call type: authentication, request ids, values for the
/// handler. It returns the head to go on with (changed or not), or an error to answer the call with.
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
