//! Cross-origin resource sharing (CORS), so that browsers may call Trident's methods from pages served
//! by another origin.
//!
//! Trident does not implement CORS itself: tower-http's [`CorsLayer`], the layer the Rust ecosystem
//! shares (tonic-web uses it too), wraps a [`Router`](crate::Router) like any other tower service.
//! What the layer needs to know about Trident's protocols lives here: the request headers their
//! browser clients send ([`allow_headers`]), the response headers those clients read
//! ([`expose_headers`]), and the methods they use ([`ALLOW_METHODS`]). [`layer`] is a `CorsLayer`
//! with all three set, to which you add the origins; [`permissive`] allows every origin, for
//! development.
//!
//! ```
//! use trident::cors;
//! use trident::cors::AllowOrigin;
//! use http::HeaderValue;
//! use tower::Layer as _;
//!
//! let router = trident::Router::new(); // .add(greet_service_routes(Greeter))
//! let app = cors::layer()
//!     .allow_origin(AllowOrigin::list([
//!         HeaderValue::from_static("https://app.example.com"),
//!         HeaderValue::from_static("http://localhost:5173"),
//!     ]))
//!     .layer(router);
//! // trident::Server::new().serve(listener, app)
//! # drop(app);
//! ```
//!
//! The layer answers every preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! itself, with the CORS headers when the origin is allowed and none when it is not (the browser then
//! refuses to send the call), and adds `Access-Control-Allow-Origin`, the exposed headers and `Vary`
//! to every other response, errors included. Custom request metadata needs its names added to
//! [`allow_headers`], custom response metadata (and the `trailer-*` headers of Connect unary calls)
//! to [`expose_headers`]:
//!
//! ```
//! use http::HeaderName;
//! let allowed = trident::cors::allow_headers()
//!     .into_iter()
//!     .chain([HeaderName::from_static("x-tenant")]);
//! let exposed = trident::cors::expose_headers()
//!     .into_iter()
//!     .chain([HeaderName::from_static("x-request-id")]);
//! let layer = trident::cors::layer()
//!     .allow_headers(allowed.collect::<Vec<_>>())
//!     .expose_headers(exposed.collect::<Vec<_>>());
//! # drop(layer);
//! ```
//!
//! Put the layer outside the router, and outside any authentication middleware, so that preflights
//! (which carry no credentials) are answered before anything refuses them. A router mounted this way
//! is no longer seen by [`Server::serve`](crate::Server::serve)'s configuration check: call
//! [`Router::check`](crate::Router::check) first.

use std::time::Duration;

use http::{HeaderName, Method};

pub use tower_http::cors::{AllowHeaders, AllowOrigin, Cors, CorsLayer, ExposeHeaders};

use crate::protocol::PROTOCOLS;

/// The methods Trident's protocols use: `POST`, `GET` for Connect's side-effect-free unary calls, and
/// the others REST bindings use (`PUT`, `PATCH`, `DELETE`; a binding with a custom method needs it
/// added).
pub const ALLOW_METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// How long [`layer`] lets browsers cache a preflight's answer: two hours (the most Chromium accepts;
/// Firefox accepts a day).
pub const MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// Request headers shared by every protocol: the content type and content codings.
const SHARED_REQUEST_HEADERS: [&str; 3] = ["content-type", "content-encoding", "accept-encoding"];

/// Response headers shared by every protocol: the content coding.
const SHARED_RESPONSE_HEADERS: [&str; 1] = ["content-encoding"];

/// The request headers the browser clients of Trident's protocols send (Connect, gRPC-Web, Triple),
/// which a preflight must allow: `content-type`, the timeouts, content codings and protocol versions,
/// `x-grpc-web`, `x-user-agent`, Triple's service group and version.
pub fn allow_headers() -> Vec<HeaderName> {
    names(
        SHARED_REQUEST_HEADERS
            .iter()
            .chain(PROTOCOLS.iter().flat_map(|p| p.cors_request_headers)),
    )
}

/// The response headers those clients read, which pages must be allowed to see: gRPC-Web's status,
/// message and details, and the content codings.
pub fn expose_headers() -> Vec<HeaderName> {
    names(
        SHARED_RESPONSE_HEADERS
            .iter()
            .chain(PROTOCOLS.iter().flat_map(|p| p.cors_response_headers)),
    )
}

/// A `CorsLayer` for Trident's protocols that allows no origin yet: add them with
/// [`CorsLayer::allow_origin`]. It allows [`ALLOW_METHODS`] and [`allow_headers`], exposes
/// [`expose_headers`], lets browsers cache preflights for [`MAX_AGE`], and sends no
/// `Access-Control-Allow-Credentials` (add [`CorsLayer::allow_credentials`] for calls that carry
/// cookies).
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_methods(ALLOW_METHODS)
        .allow_headers(allow_headers())
        .expose_headers(expose_headers())
        .max_age(MAX_AGE)
}

/// [`layer`] for development: every origin (the request's, echoed) and every request header a
/// preflight asks for. Any page on the web may then call the server from its visitors' browsers.
pub fn permissive() -> CorsLayer {
    layer()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
}

/// `names` as header names, each once, in order.
fn names<'a>(names: impl Iterator<Item = &'a &'static str>) -> Vec<HeaderName> {
    let mut out: Vec<HeaderName> = Vec::new();
    for name in names {
        let name = HeaderName::from_static(name);
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocols_browser_headers_are_listed_once() {
        let allowed = allow_headers();
        for name in [
            "content-type",
            "connect-protocol-version",
            "connect-timeout-ms",
            "x-grpc-web",
            "grpc-timeout",
            "x-user-agent",
            "triple-protocol-version",
            "tri-service-group",
        ] {
            assert_eq!(
                allowed.iter().filter(|n| n.as_str() == name).count(),
                1,
                "{name} in {allowed:?}"
            );
        }
        let exposed = expose_headers();
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            assert!(exposed.iter().any(|n| n.as_str() == name), "{name}");
        }
    }
}
