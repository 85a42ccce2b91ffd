//! Typed handlers: adapters from user functions of each stream type to one type-erased handler. Each
//! adapter only says how its request is read and its reply made; the call's deadline, cancellation and
//! answer are the shared core in `call.rs`.
//!
//! A call whose route has interceptors goes through them (`interceptor.rs`): its messages are erased
//! on the way in and typed again at the handler, which is the other half of each adapter here (its
//! `*_endpoint`). A call without interceptors stays typed throughout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::TryFutureExt as _;

use crate::any_message::{AnyMessage, MessageStream};
use crate::body::Body;
use crate::codec::Message;
use crate::interceptor::{StreamingEndpoint, UnaryEndpoint};
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
    let endpoint: UnaryEndpoint = {
        let f = f.clone();
        Arc::new(move |request: Request<AnyMessage>| {
            let f = f.clone();
            Box::pin(async move {
                let (head, message) = request.split_message();
                let request = head.map(|()| message.into_typed::<Req>());
                let response = f(request.transpose_message()?).await?;
                Ok(response.map(AnyMessage::new))
            })
        })
    };
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let endpoint = endpoint.clone();
        let (incoming, responder, chain) = call.split();
        let encoder = responder.encoder();
        // Reading the request, then handling it, as two steps that share the future's space (an
        // `async` block would keep the finished read beside the handler's future).
        let work = incoming.single::<Req>().and_then(|request| async move {
            match chain {
                None => encoder.one(f(request).await?),
                Some(chain) => {
                    let request = request.map(AnyMessage::new);
                    encoder.one(chain.unary(request, endpoint).await?)
                }
            }
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
    let endpoint: StreamingEndpoint = {
        let f = f.clone();
        Arc::new(move |request: Request<MessageStream>| {
            let f = f.clone();
            Box::pin(async move {
                let (head, messages) = request.split_message();
                let message = messages.only_message("request").await?;
                let request = head.map(|()| message.into_typed::<Req>());
                let response = f(request.transpose_message()?).await?;
                Ok(response.map(MessageStream::erase))
            })
        })
    };
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let endpoint = endpoint.clone();
        let (incoming, responder, chain) = call.split();
        // Two steps sharing the future's space, as for unary calls.
        let work = incoming.single::<Req>().and_then(|request| async move {
            match chain {
                None => {
                    let response = f(request).await?;
                    Ok(response.map(|stream| Reply::Stream(outgoing::messages(stream))))
                }
                Some(chain) => {
                    let request =
                        request.map(|message| MessageStream::one(AnyMessage::new(message)));
                    let response = chain.streaming(request, endpoint).await?;
                    Ok(response.map(|stream| Reply::Stream(outgoing::messages(stream))))
                }
            }
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
    let endpoint: StreamingEndpoint = {
        let f = f.clone();
        Arc::new(move |request: Request<MessageStream>| {
            let f = f.clone();
            Box::pin(async move {
                let request =
                    request.map(|messages| Streaming::intercepted(messages.typed::<Req>()));
                let response = f(request).await?;
                Ok(response.map(|message| MessageStream::one(AnyMessage::new(message))))
            })
        })
    };
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let endpoint = endpoint.clone();
        let (incoming, responder, chain) = call.split();
        let encoder = responder.encoder();
        let request = incoming.stream::<Req>();
        Box::pin(responder.answer(async move {
            match chain {
                None => encoder.one(f(request).await?),
                Some(chain) => {
                    let request = request.map(MessageStream::erase);
                    let response = chain.streaming(request, endpoint).await?;
                    let (head, messages) = response.split_message();
                    let message = messages.only_message("response").await?;
                    encoder.one(head.map(|()| message))
                }
            }
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
    let endpoint: StreamingEndpoint = {
        let f = f.clone();
        Arc::new(move |request: Request<MessageStream>| {
            let f = f.clone();
            Box::pin(async move {
                let request =
                    request.map(|messages| Streaming::intercepted(messages.typed::<Req>()));
                let response = f(request).await?;
                Ok(response.map(MessageStream::erase))
            })
        })
    };
    Arc::new(move |call: ServerCall| {
        let f = f.clone();
        let endpoint = endpoint.clone();
        let (incoming, responder, chain) = call.split();
        let request = incoming.stream::<Req>();
        Box::pin(responder.answer(async move {
            let response = match chain {
                None => f(request).await?.map(outgoing::messages),
                Some(chain) => {
                    let request = request.map(MessageStream::erase);
                    let response = chain.streaming(request, endpoint).await?;
                    response.map(outgoing::messages)
                }
            };
            Ok(response.map(Reply::Stream))
        }))
    })
}
