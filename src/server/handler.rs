//! Typed handlers: adapters from user functions of each stream type to one type-erased handler. Each
//! adapter says how its request is read and its reply made; the call's deadline, cancellation and
//! answer are the shared core in `call.rs`.
//!
//! Every call goes through its route's interceptor chain (`interceptor.rs`), which has no
//! interceptors when none were attached: one path per stream type. Each adapter builds the chain's far
//! end once, when the route is registered: the user's function, with the request typed again on the
//! way in and the response erased on the way out. Erasing costs a unary call its two messages boxed;
//! streams are erased lazily (see `MessageStream`), so a stream no interceptor wrapped reaches the
//! handler, and the handler's reaches the connection, as the typed stream it was.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::TryFutureExt as _;

use crate::any_message::{AnyMessage, MessageStream};
use crate::body::Body;
use crate::codec::Message;
use crate::interceptor::{StreamingEndpoint, UnaryEndpoint};
use crate::server::call::ServerCall;
use crate::server::outgoing::{self, EventIds, Outgoing, ResponseStream};
use crate::server::respond::Reply;
use crate::server::streaming::Streaming;
use crate::{Error, Request, Response};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A type-erased handler: takes a negotiated call, yields the HTTP response.
pub(crate) type Handler = Arc<dyn Fn(ServerCall) -> BoxFuture<http::Response<Body>> + Send + Sync>;

/// The handler of a unary method: one message in, one out.
pub(crate) fn unary_handler<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    let end: UnaryEndpoint = Arc::new(move |request: Request<AnyMessage>| {
        let f = f.clone();
        Box::pin(async move {
            let request = request.map(AnyMessage::into_typed::<Req>);
            let response = f(request.transpose_message()?).await?;
            Ok(response.map(AnyMessage::new))
        })
    });
    Arc::new(move |call: ServerCall| {
        let end = end.clone();
        let (incoming, responder, chain) = call.split();
        let encoder = responder.encoder();
        // Reading the request, then handling it, as two steps that share the future's space (an
        // `async` block would keep the finished read beside the handler's future).
        let work = incoming
            .single::<Req>()
            .and_then(move |request| async move {
                encoder.one(chain.unary(request.map(AnyMessage::new), end).await?)
            });
        Box::pin(responder.answer(work))
    })
}

/// The handler of a server-streaming method: one message in, a stream out.
pub(crate) fn server_stream_handler<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    let end: StreamingEndpoint = Arc::new(move |request: Request<MessageStream>| {
        let f = f.clone();
        Box::pin(async move {
            let (head, messages) = request.split_message();
            let message = messages.only_message::<Req>("request").await?;
            let response = f(head.map(|()| message)).await?;
            Ok(response.map(MessageStream::erase))
        })
    });
    Arc::new(move |call: ServerCall| {
        let end = end.clone();
        let (incoming, responder, chain) = call.split();
        // Two steps sharing the future's space, as for unary calls.
        let work = incoming
            .single::<Req>()
            .and_then(move |request| async move {
                let request = request.map(MessageStream::one);
                let mut response = chain.streaming_handler(request, end).await?;
                let ids = response.take_event_ids();
                Ok(response.map(|messages| Reply::Stream(responses::<Res>(messages, ids))))
            });
        Box::pin(responder.answer(work))
    })
}

/// The handler of a client-streaming method: a stream in, one message out.
pub(crate) fn client_stream_handler<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Res>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    let end: StreamingEndpoint = Arc::new(move |request: Request<MessageStream>| {
        let f = f.clone();
        Box::pin(async move {
            let response = f(request.map(requests::<Req>)).await?;
            Ok(response.map(MessageStream::one))
        })
    });
    Arc::new(move |call: ServerCall| {
        let end = end.clone();
        let (incoming, responder, chain) = call.split();
        let encoder = responder.encoder();
        let request = incoming.stream::<Req>().map(MessageStream::erase);
        Box::pin(responder.answer(async move {
            let response = chain.streaming_handler(request, end).await?;
            let (head, messages) = response.split_message();
            let message = messages.only_message::<Res>("response").await?;
            encoder.one(head.map(|()| message))
        }))
    })
}

/// The handler of a bidi-streaming method: a stream each way.
pub(crate) fn bidi_stream_handler<Req, Res, F, Fut>(f: F) -> Handler
where
    Req: Message,
    Res: Message,
    F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Res>>, Error>> + Send + 'static,
{
    let f = Arc::new(f);
    let end: StreamingEndpoint = Arc::new(move |request: Request<MessageStream>| {
        let f = f.clone();
        Box::pin(async move {
            let response = f(request.map(requests::<Req>)).await?;
            Ok(response.map(MessageStream::erase))
        })
    });
    Arc::new(move |call: ServerCall| {
        let end = end.clone();
        let (incoming, responder, chain) = call.split();
        let request = incoming.stream::<Req>().map(MessageStream::erase);
        Box::pin(responder.answer(async move {
            let mut response = chain.streaming_handler(request, end).await?;
            let ids = response.take_event_ids();
            Ok(response.map(|messages| Reply::Stream(responses::<Res>(messages, ids))))
        }))
    })
}

/// The request stream a handler reads: the call's own when no interceptor wrapped it.
fn requests<Req: Message>(messages: MessageStream) -> Streaming<Req> {
    match messages.into_typed::<Streaming<Req>, Req>() {
        Ok(typed) => typed,
        Err(messages) => Streaming::wrapped(messages.retyped::<Req>()),
    }
}

/// A handler's response stream as the connection pulls it: the handler's own when no interceptor
/// wrapped it, else the messages the interceptors pass on (encoded as they are); `ids` names its
/// events, if the handler gave them ids.
fn responses<Res: Message>(messages: MessageStream, ids: Option<EventIds>) -> Outgoing {
    match messages.into_typed::<ResponseStream<Res>, Res>() {
        Ok(typed) => {
            let as_any: fn(&Res) -> &dyn Any = |message| message;
            outgoing::messages(typed, ids.map(|ids| (ids, as_any)))
        }
        Err(messages) => {
            let as_any: fn(&AnyMessage) -> &dyn Any = AnyMessage::as_any;
            outgoing::messages(messages, ids.map(|ids| (ids, as_any)))
        }
    }
}
