//! Answering a request with an RPC error from outside any handler (tower middleware that rejects a call,
//! a fallback): the error rendered as the Connect, gRPC or gRPC-Web response the caller can read.

use crate::Error;
use crate::body::Body;
use crate::protocol::server::error_response_for;
use crate::server::router::default_offer;

/// The response that fails `request` with `error`, in the protocol the request speaks: for Connect, the
/// code's HTTP status with the error as JSON (or, for a Connect stream, an end-stream message); for gRPC
/// and gRPC-Web, a trailers-only response with `grpc-status`. The error's headers and trailers go out
/// with it. A request of no protocol (a browser's plain GET, say) gets Connect's unary form.
///
/// Use it where a plain `401 text/plain` would break gRPC clients, such as in authentication middleware
/// in front of a [`Router`](crate::Router):
///
/// ```
/// use trident::{Body, Code, Error};
///
/// fn reject(request: &http::Request<Body>) -> http::Response<Body> {
///     trident::server::error_response(request, &Error::new(Code::Unauthenticated, "no token"))
/// }
/// # let grpc = http::Request::post("/a.B/C").header("content-type", "application/grpc").body(Body::empty()).unwrap();
/// # assert_eq!(reject(&grpc).headers()["grpc-status"], "16");
/// ```
pub fn error_response<B>(request: &http::Request<B>, error: &Error) -> http::Response<Body> {
    let mut head = http::Request::new(());
    *head.method_mut() = request.method().clone();
    *head.uri_mut() = request.uri().clone();
    *head.version_mut() = request.version();
    *head.headers_mut() = request.headers().clone();
    let (parts, ()) = head.into_parts();
    let mut response = error_response_for(&parts, &default_offer(), error);
    *response.version_mut() = request.version();
    response
}
