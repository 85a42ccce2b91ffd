//! A Trident router mounted inside an axum application, beside ordinary routes: the shape most web
//! services take when they add RPC to an existing HTTP API. `cargo run -p trident-examples --bin axum`.
//!
//! axum routes what it knows (`/healthz`, `/api/version`) and hands every other path to the Trident
//! router (axum's fallback service), which answers Connect, gRPC and gRPC-Web calls to its services and
//! 404 to the rest. An interceptor on the router checks a bearer token on every RPC; axum's own routes
//! are not affected by it.

use axum::routing::get;
use trident::{Code, Error, Request, RequestInterceptor, Router};

use crate::Greeter;
use crate::greet::greet_service_routes;

/// The bearer token the example's interceptor accepts.
pub const TOKEN: &str = "let-me-in";

/// The axum application: two plain HTTP routes, and the Trident router behind them.
pub fn app() -> axum::Router {
    let rpc = Router::new()
        .add(greet_service_routes(Greeter))
        .intercept(RequestInterceptor::new(|request: Request<()>| async move {
            match request.headers().get("authorization") {
                Some(value) if value == format!("Bearer {TOKEN}") => Ok(request),
                _ => Err(Error::new(
                    Code::Unauthenticated,
                    "send `authorization: Bearer let-me-in`",
                )),
            }
        }));
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .fallback_service(rpc)
}
