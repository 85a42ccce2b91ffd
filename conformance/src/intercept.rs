//! The conformance programs' optional interceptor: with `TRIDENT_CONFORMANCE_INTERCEPT=1` in their
//! environment, the server's router and every client get [`PassThrough`], so that the suite exercises
//! calls through a chain that does something (erased messages, wrapped streams, a wrapped client
//! call) as thoroughly as calls through the empty chain. `conformance/run --intercept` sets it.

use trident::{
    Error, Interceptor, Request, Response, interceptor::AnyMessage, interceptor::BoxFuture,
    interceptor::ConnFuture, interceptor::MessageStream, interceptor::StreamingClientConn,
    interceptor::StreamingClientWrapper, interceptor::StreamingNext, interceptor::UnaryNext,
};

/// The environment variable that switches interception on.
pub const ENV: &str = "TRIDENT_CONFORMANCE_INTERCEPT";

/// Whether the programs run with [`PassThrough`].
pub fn enabled() -> bool {
    std::env::var(ENV).is_ok_and(|value| value == "1")
}

/// Changes nothing, but takes every path an interceptor can: on the server it wraps each request and
/// response stream and watches it end, passing every message through a function; on the client it
/// wraps each streaming call, and every operation runs in a future of its own around the call's.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough;

impl Interceptor for PassThrough {
    fn unary(
        &self,
        request: Request<AnyMessage>,
        next: UnaryNext,
    ) -> BoxFuture<Result<Response<AnyMessage>, Error>> {
        Box::pin(async move {
            let response = next.run(request).await?;
            Ok(response.map(|message| message))
        })
    }

    fn streaming_handler(
        &self,
        request: Request<MessageStream>,
        next: StreamingNext,
    ) -> BoxFuture<Result<Response<MessageStream>, Error>> {
        let request = request.map(|messages| messages.map(Ok).on_end(|_| {}));
        Box::pin(async move {
            let response = next.run(request).await?;
            Ok(response.map(|messages| messages.map(Ok).on_end(|_| {})))
        })
    }

    fn streaming_client(&self, call: Box<dyn StreamingClientConn>) -> Box<dyn StreamingClientConn> {
        Box::new(PassThroughCall { inner: call })
    }
}

/// A client's streaming call, passed through.
struct PassThroughCall {
    inner: Box<dyn StreamingClientConn>,
}

impl StreamingClientWrapper for PassThroughCall {
    fn inner(&self) -> &dyn StreamingClientConn {
        &*self.inner
    }

    fn inner_mut(&mut self) -> &mut dyn StreamingClientConn {
        &mut *self.inner
    }

    fn send(&mut self, message: AnyMessage) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.inner.send(message).await })
    }

    fn receive_headers(&mut self) -> ConnFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.inner.receive_headers().await })
    }

    fn receive(&mut self) -> ConnFuture<'_, Result<Option<AnyMessage>, Error>> {
        Box::pin(async move { self.inner.receive().await })
    }
}
