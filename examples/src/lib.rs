//! Shared code for Trident's examples: the generated demo service and its implementation, and the
//! axum application of the `axum` example.

pub mod axum_app;

/// The guide's snippets (`docs/guide.md`), compiled and run as this crate's doc tests: they use the demo
/// service's generated code, which the `trident` crate's own doc tests cannot reach.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide.md")]
pub struct Guide;

/// The README's snippets, compiled (and the complete ones run) as this crate's doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct Readme;

/// Generated code for `trident.demo.v1`.
#[allow(missing_docs)]
pub mod greet {
    include!(concat!(env!("OUT_DIR"), "/trident.demo.v1.rs"));
}

/// The OpenAPI 3.1 document of the demo's REST bindings and Connect endpoints, as `trident-build`
/// wrote it (the `server` example serves it at `/openapi.json`).
pub const OPENAPI: &str = include_str!(concat!(env!("OUT_DIR"), "/greet.openapi.json"));

use futures_util::StreamExt as _;
use greet::*;
use trident::{Code, Error, Request, Response, ResponseStream, Streaming};

/// The demo's implementation of `GreetService`.
#[derive(Clone, Debug, Default)]
pub struct Greeter;

impl GreetService for Greeter {
    async fn greet(
        &self,
        request: Request<GreetRequest>,
    ) -> Result<Response<GreetResponse>, Error> {
        let name = &request.message().name;
        if name.is_empty() {
            return Err(Error::new(Code::InvalidArgument, "name must not be empty"));
        }
        let mut response = Response::new(GreetResponse {
            greeting: format!("Hello, {name}!"),
        });
        response.headers_mut().append("x-greeter", "trident")?;
        Ok(response)
    }

    async fn countdown(
        &self,
        request: Request<CountdownRequest>,
    ) -> Result<Response<ResponseStream<CountdownResponse>>, Error> {
        let from = request.message().from;
        if from > 100 {
            return Err(Error::new(Code::OutOfRange, "count down from 100 or less"));
        }
        let numbers = futures_util::stream::iter((1..=from).rev())
            .map(|number| Ok(CountdownResponse { number }));
        Ok(Response::new(Box::pin(numbers) as ResponseStream<_>))
    }

    async fn sum(
        &self,
        request: Request<Streaming<SumRequest>>,
    ) -> Result<Response<SumResponse>, Error> {
        let mut numbers = request.into_message();
        let (mut total, mut count) = (0i64, 0u32);
        while let Some(next) = numbers.message().await? {
            total = total
                .checked_add(next.number)
                .ok_or_else(|| Error::new(Code::OutOfRange, "the total overflows an int64"))?;
            count += 1;
        }
        Ok(Response::new(SumResponse { total, count }))
    }

    async fn shout(
        &self,
        request: Request<Streaming<ShoutRequest>>,
    ) -> Result<Response<ResponseStream<ShoutResponse>>, Error> {
        let lines = request.into_message().map(|line| {
            line.map(|l| ShoutResponse {
                line: l.line.to_uppercase(),
            })
        });
        Ok(Response::new(Box::pin(lines) as ResponseStream<_>))
    }
}
