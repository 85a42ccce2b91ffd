//! The conformance programs' optional interceptor: with `TRIDENT_CONFORMANCE_INTERCEPT=1` in their
//! environment, the server's router and every client get [`PassThrough`], so that the suite exercises
//! the intercepted call paths (erased messages, wrapped streams, the client's spawned chain) as
//! thoroughly as the direct ones. `conformance/run --intercept` sets it.

use trident::{
    AnyMessage, BoxFuture, Error, Interceptor, MessageStream, Request, Response, StreamingNext,
    UnaryNext,
};

/// The environment variable that switches interception on.
pub const ENV: &str = "TRIDENT_CONFORMANCE_INTERCEPT";

/// Whether the programs run with [`PassThrough`].
pub fn enabled() -> bool {
    std::env::var(ENV).is_ok_and(|value| value == "1")
}

/// Changes nothing, but takes every path an interceptor can: it wraps each request and response
/// stream and watches it end, and passes every message through a function.
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

    fn streaming(
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
}
