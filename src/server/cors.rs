//! Cross-origin resource sharing (CORS), so that browsers may call Connect and gRPC-Web endpoints from
//! pages served by another origin.
//!
//! A browser asks before it sends a cross-origin call with a non-simple content type or custom headers:
//! an `OPTIONS` *preflight* carrying `Origin`, `Access-Control-Request-Method` and
//! `Access-Control-Request-Headers`. The server answers whether that origin may send such a call; the
//! browser then sends the real call, and lets the page read the response (and the headers listed in
//! `Access-Control-Expose-Headers`) only if the response names the origin again.
//!
//! [`Cors`] is the configuration, switched on with [`Router::cors`](crate::Router::cors). The router
//! answers preflights for its own paths, and adds the CORS headers to every other response.

use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderName,
    HeaderValue, ORIGIN, VARY,
};
use http::{Method, StatusCode};

use crate::ConfigError;
use crate::body::Body;

/// Request headers a preflight allows by default: those Connect and gRPC-Web clients send.
pub const DEFAULT_CORS_ALLOW_HEADERS: &[&str] = &[
    "content-type",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
    "accept-encoding",
    "content-encoding",
];

/// Response headers exposed to pages by default: those Connect and gRPC-Web clients read.
pub const DEFAULT_CORS_EXPOSE_HEADERS: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "connect-content-encoding",
    "content-encoding",
];

/// How long browsers may cache a preflight's answer by default: two hours (the most Chromium accepts).
pub const DEFAULT_CORS_MAX_AGE: Duration = Duration::from_secs(7200);

/// The methods Connect (`POST`, and `GET` for side-effect-free unary methods) and gRPC-Web (`POST`) use.
const ALLOW_METHODS: &str = "GET, POST";

/// `Vary` on a preflight's answer: it depends on all three request headers.
const PREFLIGHT_VARY: &str =
    "origin, access-control-request-method, access-control-request-headers";

/// Which origins may call.
#[derive(Clone, Debug)]
enum Origins {
    /// Exactly these (stored in lowercase).
    List(Vec<String>),
    /// Every origin.
    Any,
}

/// Which request headers a preflight allows.
#[derive(Clone, Debug)]
enum AllowHeaders {
    /// These (the defaults plus the extras).
    List(Vec<HeaderName>),
    /// Whatever the preflight asks for.
    Any,
}

/// CORS for a [`Router`](crate::Router): which origins may call from a browser, with which headers, and
/// which response headers their pages may read. Off unless given to
/// [`Router::cors`](crate::Router::cors).
///
/// With CORS on, the router
///
/// * answers a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) to one of its
///   methods with `204 No Content`. When the origin is allowed, the answer carries
///   `Access-Control-Allow-Origin` (the request's origin, echoed), `Access-Control-Allow-Methods`
///   (`GET, POST`), `Access-Control-Allow-Headers` (those of the requested headers that are allowed),
///   `Access-Control-Max-Age` and, if enabled, `Access-Control-Allow-Credentials`. When it is not, the
///   answer carries no CORS headers, and the browser refuses to send the call;
/// * adds `Access-Control-Allow-Origin`, `Access-Control-Expose-Headers` and, if enabled,
///   `Access-Control-Allow-Credentials` to every other response to an allowed origin;
/// * adds `Vary: Origin` to every response, since they differ by origin.
///
/// Preflights to paths the router does not serve, and every `OPTIONS` request when CORS is off, are
/// answered as before (`404`, or `405` with `Allow`).
///
/// By default a preflight allows the request headers Connect and gRPC-Web clients send
/// ([`DEFAULT_CORS_ALLOW_HEADERS`]), and pages may read the response headers those clients read
/// ([`DEFAULT_CORS_EXPOSE_HEADERS`]). Custom request metadata needs [`allow_headers`](Self::allow_headers);
/// custom response metadata (and Connect unary trailers, which travel as `Trailer-*` headers) needs
/// [`expose_headers`](Self::expose_headers).
///
/// The setters that take origins or header names check them, and fail with a [`ConfigError`] on one
/// that cannot work:
///
/// ```
/// use std::time::Duration;
/// use trident::{Cors, Router};
///
/// # fn main() -> Result<(), trident::ConfigError> {
/// let router = Router::new() // .add(greet_service_routes(Greeter))
///     .cors(
///         Cors::new()
///             .allow_origins(["https://app.example.com", "http://localhost:5173"])?
///             .allow_headers(["x-tenant"])?          // custom request metadata
///             .expose_headers(["x-request-id"])?     // custom response metadata
///             .max_age(Duration::from_secs(600)),
///     );
///
/// // During development: every origin, every request header.
/// let dev = Router::new().cors(Cors::permissive());
///
/// // A path is not part of an origin.
/// assert!(Cors::new().allow_origins(["https://app.example.com/"]).is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Origins,
    allow_headers: AllowHeaders,
    expose_headers: Vec<HeaderName>,
    /// `expose_headers`, joined for `Access-Control-Expose-Headers` (`None` when empty).
    expose_value: Option<HeaderValue>,
    max_age: Duration,
    credentials: bool,
}

impl Default for Cors {
    fn default() -> Self {
        Self::new()
    }
}

impl Cors {
    /// CORS allowing no origin yet (add some with [`allow_origins`](Self::allow_origins)), the default
    /// request and response headers, a two-hour preflight cache and no credentials.
    pub fn new() -> Self {
        let mut cors = Self {
            origins: Origins::List(Vec::new()),
            allow_headers: AllowHeaders::List(default_names(DEFAULT_CORS_ALLOW_HEADERS)),
            expose_headers: default_names(DEFAULT_CORS_EXPOSE_HEADERS),
            expose_value: None,
            max_age: DEFAULT_CORS_MAX_AGE,
            credentials: false,
        };
        cors.expose_value = join(&cors.expose_headers);
        cors
    }

    /// CORS for development: every origin, every request header (see
    /// [`allow_any_origin`](Self::allow_any_origin) and [`allow_any_header`](Self::allow_any_header)).
    /// Any page on the web may then call the server from its visitors' browsers.
    pub fn permissive() -> Self {
        Self::new().allow_any_origin().allow_any_header()
    }

    /// Allows calls from these origins, beside those allowed before. An origin is a scheme, host and
    /// optional port, as browsers send it: `https://app.example.com`, `http://localhost:5173`. Compared
    /// ignoring ASCII case.
    ///
    /// Fails with a [`ConfigError`] if an origin has a path (even just `/`), query or fragment, lacks a
    /// scheme, or is not a valid header value. `null` (sent by sandboxed frames and `file:` pages) is
    /// accepted, but allowing it allows every page that sends it.
    pub fn allow_origins<I, S>(mut self, origins: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Checked even when any origin is allowed, so that a bad list fails the same way everywhere.
        let added = origins
            .into_iter()
            .map(|origin| {
                let origin = origin.as_ref();
                if !is_origin(origin) {
                    return Err(ConfigError::new(format!(
                        "CORS origin {origin:?} is not an origin like \"https://app.example.com\" \
                         (scheme, host and optional port; no path, not even a trailing slash)"
                    )));
                }
                Ok(origin.to_ascii_lowercase())
            })
            .collect::<Result<Vec<String>, _>>()?;
        if let Origins::List(list) = &mut self.origins {
            list.extend(added);
        }
        Ok(self)
    }

    /// Allows calls from every origin (then [`allow_origins`](Self::allow_origins) changes nothing). The
    /// request's origin is echoed rather than answered with `*`, so this also works with
    /// [`allow_credentials`](Self::allow_credentials) — which then lets any site make calls carrying
    /// your users' cookies: combine the two only for servers without ambient authority.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = Origins::Any;
        self
    }

    /// Allows these request headers too (custom metadata), beside [`DEFAULT_CORS_ALLOW_HEADERS`] and
    /// those allowed before. Case does not matter.
    ///
    /// Fails with a [`ConfigError`] if a name is not a valid header name.
    pub fn allow_headers<I, S>(mut self, names: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let added = parse_names(names)?;
        if let AllowHeaders::List(list) = &mut self.allow_headers {
            for name in added {
                if !list.contains(&name) {
                    list.push(name);
                }
            }
        }
        Ok(self)
    }

    /// Allows every request header a preflight asks for.
    pub fn allow_any_header(mut self) -> Self {
        self.allow_headers = AllowHeaders::Any;
        self
    }

    /// Lets pages read these response headers too (custom metadata, `Trailer-*` headers of Connect
    /// unary calls), beside [`DEFAULT_CORS_EXPOSE_HEADERS`] and those exposed before. Case does not
    /// matter.
    ///
    /// Fails with a [`ConfigError`] if a name is not a valid header name.
    pub fn expose_headers<I, S>(mut self, names: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in parse_names(names)? {
            if !self.expose_headers.contains(&name) {
                self.expose_headers.push(name);
            }
        }
        self.expose_value = join(&self.expose_headers);
        Ok(self)
    }

    /// How long browsers may cache a preflight's answer, in whole seconds (default
    /// [`DEFAULT_CORS_MAX_AGE`]; zero asks for a preflight before every call). Browsers cap it: Chromium
    /// at two hours, Firefox at a day.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Whether calls may carry credentials — cookies, HTTP authentication, TLS client certificates —
    /// (`Access-Control-Allow-Credentials: true`; default `false`). The page must opt in as well
    /// (`credentials: "include"` in `fetch`).
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// Whether `origin` (an `Origin` header's value) may call.
    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(list) => origin
                .to_str()
                .is_ok_and(|origin| list.iter().any(|o| o.eq_ignore_ascii_case(origin))),
        }
    }

    /// What CORS makes of a request: whether it is a preflight, and whether its origin is allowed.
    pub(crate) fn inspect(&self, parts: &http::request::Parts) -> CorsRequest<'_> {
        let headers = &parts.headers;
        let origin = headers.get(ORIGIN);
        let preflight = parts.method == Method::OPTIONS
            && origin.is_some()
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        let allowed_origin = origin.filter(|o| self.origin_allowed(o)).cloned();
        let requested_headers = if preflight && allowed_origin.is_some() {
            headers
                .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_ascii_lowercase)
                .collect()
        } else {
            Vec::new()
        };
        CorsRequest {
            cors: self,
            preflight,
            allowed_origin,
            requested_headers,
        }
    }

    /// The allowed ones of `requested` (lowercase names), for `Access-Control-Allow-Headers`.
    fn allowed_headers(&self, requested: &[String]) -> Option<HeaderValue> {
        let allowed: Vec<&str> = requested
            .iter()
            .map(String::as_str)
            .filter(|name| match &self.allow_headers {
                AllowHeaders::Any => HeaderName::from_bytes(name.as_bytes()).is_ok(),
                AllowHeaders::List(list) => list.iter().any(|n| n.as_str() == *name),
            })
            .collect();
        if allowed.is_empty() {
            return None;
        }
        HeaderValue::from_str(&allowed.join(", ")).ok()
    }
}

/// One request as CORS sees it; made by [`Cors::inspect`].
pub(crate) struct CorsRequest<'a> {
    cors: &'a Cors,
    /// An `OPTIONS` request with `Origin` and `Access-Control-Request-Method`.
    preflight: bool,
    /// The request's `Origin`, when it is allowed.
    allowed_origin: Option<HeaderValue>,
    /// A preflight's `Access-Control-Request-Headers`, lowercase (empty unless the origin is allowed).
    requested_headers: Vec<String>,
}

impl CorsRequest<'_> {
    /// Whether the request is a preflight (to be answered with [`Self::preflight_response`]).
    pub(crate) fn is_preflight(&self) -> bool {
        self.preflight
    }

    /// The answer to a preflight: `204`, with the CORS headers when the origin is allowed.
    pub(crate) fn preflight_response(&self) -> http::Response<Body> {
        let mut response = http::Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let map = response.headers_mut();
        map.append(VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        let Some(origin) = &self.allowed_origin else {
            return response;
        };
        let cors = self.cors;
        map.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        map.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        if let Some(allowed) = cors.allowed_headers(&self.requested_headers) {
            map.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        map.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(cors.max_age.as_secs()),
        );
        if cors.credentials {
            map.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        response
    }

    /// Adds the CORS headers to the response to a call (anything but a preflight).
    #[cfg(test)]
    pub(crate) fn decorate(&self, map: &mut HeaderMap) {
        self.cors.decorate(self.allowed_origin.as_ref(), map);
    }

    /// The request's `Origin`, when it is allowed: what [`Cors::decorate`] needs once the call is
    /// answered.
    pub(crate) fn into_allowed_origin(self) -> Option<HeaderValue> {
        self.allowed_origin
    }
}

impl Cors {
    /// Adds the CORS headers to the response to a call whose allowed origin (from
    /// [`CorsRequest::into_allowed_origin`]) is `allowed_origin`.
    pub(crate) fn decorate(&self, allowed_origin: Option<&HeaderValue>, map: &mut HeaderMap) {
        map.append(VARY, HeaderValue::from_static("origin"));
        let Some(origin) = allowed_origin else {
            return;
        };
        map.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if let Some(expose) = &self.expose_value {
            map.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
        if self.credentials {
            map.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// Whether `origin` looks like a serialized origin: `scheme://host[:port]`, or `null`.
fn is_origin(origin: &str) -> bool {
    if origin == "null" {
        return true;
    }
    HeaderValue::from_str(origin).is_ok()
        && !origin.contains(char::is_whitespace)
        && origin.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
                && !rest.contains(['/', '?', '#'])
        })
}

/// Parses header names (surrounding whitespace ignored, any case), failing on the first bad one.
fn parse_names<I, S>(names: I) -> Result<Vec<HeaderName>, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    names
        .into_iter()
        .map(|name| {
            let name = name.as_ref();
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| {
                ConfigError::with_source(
                    format!("CORS header name {name:?} is not a valid header name"),
                    e,
                )
            })
        })
        .collect()
}

/// The default header lists, which are lowercase constants.
fn default_names(names: &'static [&'static str]) -> Vec<HeaderName> {
    names
        .iter()
        .map(|name| HeaderName::from_static(name))
        .collect()
}

/// `names` joined with commas, or `None` when there are none.
fn join(names: &[HeaderName]) -> Option<HeaderValue> {
    if names.is_empty() {
        return None;
    }
    let joined = names
        .iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&joined).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/pkg.Service/Method");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("valid request").into_parts().0
    }

    fn preflight(origin: &str, request_headers: &str) -> http::request::Parts {
        parts(
            Method::OPTIONS,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", request_headers),
            ],
        )
    }

    fn get<'a>(map: &'a HeaderMap, name: &str) -> Option<&'a str> {
        map.get(name).and_then(|v| v.to_str().ok())
    }

    fn app() -> Cors {
        Cors::new()
            .allow_origins(["https://App.example.com", "http://localhost:5173"])
            .expect("valid origins")
    }

    #[test]
    fn preflight_from_allowed_origin() {
        let cors = app();
        let request = cors.inspect(&preflight(
            "https://app.example.com",
            "content-type,connect-protocol-version, Connect-Timeout-Ms",
        ));
        assert!(request.is_preflight());
        let response = request.preflight_response();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let map = response.headers();
        assert_eq!(
            get(map, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(get(map, "access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(
            get(map, "access-control-allow-headers"),
            Some("content-type, connect-protocol-version, connect-timeout-ms")
        );
        assert_eq!(get(map, "access-control-max-age"), Some("7200"));
        assert_eq!(get(map, "access-control-allow-credentials"), None);
        assert!(get(map, "vary").is_some_and(|v| v.starts_with("origin")));
    }

    #[test]
    fn preflight_from_other_origin_has_no_cors_headers() {
        for origin in [
            "https://evil.example",
            "https://app.example.com.evil",
            "null",
        ] {
            let cors = app();
            let request = cors.inspect(&preflight(origin, "content-type"));
            assert!(request.is_preflight());
            let response = request.preflight_response();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            let cors_headers: Vec<_> = response
                .headers()
                .keys()
                .filter(|k| k.as_str().starts_with("access-control-"))
                .collect();
            assert!(cors_headers.is_empty(), "{origin}: {cors_headers:?}");
        }
    }

    #[test]
    fn unknown_request_headers_are_left_out() {
        let cors = app().allow_headers(["X-Tenant"]).expect("a valid name");
        let response = cors
            .inspect(&preflight(
                "http://localhost:5173",
                "x-tenant, x-secret, grpc-timeout, x-grpc-web",
            ))
            .preflight_response();
        assert_eq!(
            get(response.headers(), "access-control-allow-headers"),
            Some("x-tenant, grpc-timeout, x-grpc-web")
        );
        // Nothing allowed among the requested: no header at all.
        let response = cors
            .inspect(&preflight("http://localhost:5173", "x-secret"))
            .preflight_response();
        assert_eq!(
            get(response.headers(), "access-control-allow-headers"),
            None
        );
        assert!(get(response.headers(), "access-control-allow-origin").is_some());
    }

    #[test]
    fn every_default_header_is_allowed() {
        let requested = DEFAULT_CORS_ALLOW_HEADERS.join(",");
        let response = app()
            .inspect(&preflight("http://localhost:5173", &requested))
            .preflight_response();
        assert_eq!(
            get(response.headers(), "access-control-allow-headers"),
            Some(DEFAULT_CORS_ALLOW_HEADERS.join(", ").as_str())
        );
    }

    #[test]
    fn permissive_echoes_origin_and_headers() {
        let response = Cors::permissive()
            .inspect(&preflight(
                "https://anyone.example",
                "x-whatever, content-type",
            ))
            .preflight_response();
        let map = response.headers();
        assert_eq!(
            get(map, "access-control-allow-origin"),
            Some("https://anyone.example")
        );
        assert_eq!(
            get(map, "access-control-allow-headers"),
            Some("x-whatever, content-type")
        );
    }

    #[test]
    fn credentials_and_max_age() {
        let cors = app()
            .allow_credentials(true)
            .max_age(Duration::from_millis(90_500));
        let response = cors
            .inspect(&preflight("http://localhost:5173", ""))
            .preflight_response();
        let map = response.headers();
        assert_eq!(get(map, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(map, "access-control-max-age"), Some("90"));
        assert_eq!(get(map, "access-control-allow-headers"), None);

        let mut map = HeaderMap::new();
        cors.inspect(&parts(Method::POST, &[("origin", "http://localhost:5173")]))
            .decorate(&mut map);
        assert_eq!(get(&map, "access-control-allow-credentials"), Some("true"));
    }

    #[test]
    fn actual_response_headers() {
        let cors = app()
            .expose_headers(["X-Request-Id", "grpc-status"])
            .expect("valid names");
        let request = cors.inspect(&parts(
            Method::POST,
            &[("origin", "https://app.example.com")],
        ));
        assert!(!request.is_preflight());
        let mut map = HeaderMap::new();
        map.insert(VARY, HeaderValue::from_static("accept-encoding"));
        request.decorate(&mut map);
        assert_eq!(
            get(&map, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            get(&map, "access-control-expose-headers"),
            Some(
                "grpc-status, grpc-message, grpc-status-details-bin, connect-content-encoding, \
                 content-encoding, x-request-id"
            )
        );
        let vary: Vec<_> = map.get_all(VARY).iter().collect();
        assert_eq!(vary, ["accept-encoding", "origin"]);
        assert_eq!(get(&map, "access-control-allow-credentials"), None);
    }

    #[test]
    fn actual_response_for_other_or_no_origin() {
        for headers in [&[("origin", "https://evil.example")][..], &[]] {
            let mut map = HeaderMap::new();
            app()
                .inspect(&parts(Method::POST, headers))
                .decorate(&mut map);
            assert_eq!(get(&map, "vary"), Some("origin"));
            assert_eq!(map.len(), 1, "{map:?}");
        }
    }

    #[test]
    fn not_preflights() {
        let cors = Cors::permissive();
        // OPTIONS without Access-Control-Request-Method, or without Origin; POST with both.
        let cases = [
            parts(Method::OPTIONS, &[("origin", "https://a.example")]),
            parts(
                Method::OPTIONS,
                &[("access-control-request-method", "POST")],
            ),
            parts(
                Method::POST,
                &[
                    ("origin", "https://a.example"),
                    ("access-control-request-method", "POST"),
                ],
            ),
        ];
        for parts in &cases {
            assert!(!cors.inspect(parts).is_preflight(), "{parts:?}");
        }
    }

    #[test]
    fn any_origin_wins_over_lists() {
        let cors = Cors::new()
            .allow_any_origin()
            .allow_origins(["https://a.example"])
            .expect("a valid origin");
        let mut map = HeaderMap::new();
        cors.inspect(&parts(Method::POST, &[("origin", "https://b.example")]))
            .decorate(&mut map);
        assert_eq!(
            get(&map, "access-control-allow-origin"),
            Some("https://b.example")
        );
    }

    #[test]
    fn no_origins_by_default() {
        let cors = Cors::new();
        let request = cors.inspect(&preflight("https://a.example", "content-type"));
        assert!(
            request
                .preflight_response()
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }

    #[test]
    fn origin_validation() {
        for good in [
            "https://a.example",
            "http://localhost:5173",
            "http://[::1]:8080",
            "null",
        ] {
            assert!(is_origin(good), "{good:?} was refused");
        }
        for bad in [
            "https://a.example/",
            "https://a.example/app",
            "a.example",
            "https://",
            "://a.example",
            "https://a.example?x",
            "https://a b",
            "*",
        ] {
            assert!(!is_origin(bad), "{bad:?} was accepted");
        }
    }

    #[test]
    fn bad_origin_is_a_config_error() {
        let error = Cors::new()
            .allow_origins(["https://a.example", "https://a.example/"])
            .unwrap_err();
        assert!(error.message().contains("is not an origin"), "{error}");
        assert!(
            error.message().contains("\"https://a.example/\""),
            "{error}"
        );
        // Checked even when every origin is allowed.
        assert!(Cors::permissive().allow_origins(["a.example"]).is_err());
    }

    #[test]
    fn bad_header_name_is_a_config_error() {
        for bad in ["bad header", "", "x-ten\nant", "é"] {
            let error = Cors::new().allow_headers([bad]).unwrap_err();
            assert!(
                error.message().contains("not a valid header name"),
                "{bad:?}: {error}"
            );
            assert!(std::error::Error::source(&error).is_some(), "{bad:?}");
            let error = Cors::new().expose_headers(["x-ok", bad]).unwrap_err();
            assert!(
                error.message().contains("not a valid header name"),
                "{bad:?}: {error}"
            );
        }
        // Surrounding whitespace and case do not matter.
        let cors = Cors::new()
            .expose_headers([" X-Request-Id "])
            .expect("a valid name");
        assert!(cors.expose_headers.iter().any(|n| n == "x-request-id"));
    }
}
