//! Typed handlers: adapters from user functions of each stream type to one type-erased handler. Each
//! adapter only says how its request is read and its reply made; the call's deadline, cancellation and
//! answer are the shared core in `call.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::body::Body;
use crate::codec::Message;
use crate::server::call::ServerCall;
use crate::server::outgoing::{self, ResponseStream};
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
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let (incoming, responder) = call.split();
        let encoder = responder.encoder();
        Box::pin(responder.answer(async move {
            let response = f(incoming.single::<Req>().await?).await?;
            encoder.one(response)
        }))
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
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let (incoming, responder) = call.split();
        Box::pin(responder.answer(async move {
            let response = f(incoming.single::<Req>().await?).await?;
            Ok(response.map(|stream| Reply::Stream(outgoing::typed(stream))))
        }))
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
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let (incoming, responder) = call.split();
        let encoder = responder.encoder();
        let request = incoming.stream::<Req>();
        Box::pin(responder.answer(async move { encoder.one(f(request).await?) }))
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
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let (incoming, responder) = call.split();
        let request = incoming.stream::<Req>();
        Box::pin(responder.answer(async move {
            let response = f(request).await?;
            Ok(response.map(|stream| Reply::Stream(outgoing::typed(stream))))
        }))
    })
}
