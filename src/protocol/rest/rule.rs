//! The public face of REST routes: [`HttpRule`], one binding of a method to an HTTP method and URL
//! template (what a `google.api.http` annotation says), and [`RestRoutes`], which adds bindings to a
//! service's routes. Generated code calls it for every annotation; hand-written routes may call it too.
//!
//! Nothing is checked here: a rule that does not parse, names a field the method's request lacks, or
//! takes a path another route has, is reported once, by [`Router::check`](crate::Router::check) (and
//! so by [`Server::serve`](crate::Server::serve)), as every misconfiguration is.

use std::borrow::Cow;
use std::fmt;

use crate::{MethodSpec, ServiceRoutes};

/// One REST binding of a method: the HTTP method, the URL path template, where the request message's
/// fields come from and what the response body holds, with the meaning `google.api.http` gives them
/// (googleapis' `google/api/http.proto`).
///
/// ```
/// use trident::rest::HttpRule;
/// // GET /v1/shelves/7/books/12 calls GetBook with `name: "shelves/7/books/12"`.
/// let get = HttpRule::get("/v1/{name=shelves/*/books/*}");
/// // POST /v1/shelves/7/books with a JSON book: `parent` from the path, `book` from the body.
/// let create = HttpRule::post("/v1/{parent=shelves/*}/books").body("book");
/// assert_eq!(create.to_string(), "POST /v1/{parent=shelves/*}/books");
/// # drop(get);
/// ```
///
/// The template's variables (`{field}`, `{field.sub=segments/*}`, with `*` one segment and `**` any
/// number) set the fields they name. [`body`](Self::body) names the field the request body sets, or
/// `*` for the whole message; every field set neither by the path nor by the body may be set from
/// the query string (`?page_size=10&filter.kind=BOOK&ids=1&ids=2`). The response body is the whole
/// response message in proto3 JSON, or the field [`response_body`](Self::response_body) names. A
/// request or response message of type `google.api.HttpBody` is the raw body itself, with its
/// content type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRule {
    pub(crate) method: Cow<'static, str>,
    pub(crate) pattern: Cow<'static, str>,
    pub(crate) body: Option<Cow<'static, str>>,
    pub(crate) response_body: Option<Cow<'static, str>>,
}

impl HttpRule {
    fn new(method: Cow<'static, str>, pattern: impl Into<Cow<'static, str>>) -> Self {
        Self {
            method,
            pattern: pattern.into(),
            body: None,
            response_body: None,
        }
    }

    /// A `GET` of `pattern`.
    pub fn get(pattern: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Cow::Borrowed("GET"), pattern)
    }

    /// A `PUT` of `pattern`.
    pub fn put(pattern: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Cow::Borrowed("PUT"), pattern)
    }

    /// A `POST` to `pattern`.
    pub fn post(pattern: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Cow::Borrowed("POST"), pattern)
    }

    /// A `DELETE` of `pattern`.
    pub fn delete(pattern: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Cow::Borrowed("DELETE"), pattern)
    }

    /// A `PATCH` of `pattern`.
    pub fn patch(pattern: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Cow::Borrowed("PATCH"), pattern)
    }

    /// Another HTTP method (`google.api.http`'s `custom`), such as `HEAD` or a method of your own.
    pub fn custom(
        method: impl Into<Cow<'static, str>>,
        pattern: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(method.into(), pattern)
    }

    /// The request body sets the field `field` of the request message (a top-level field), or the
    /// whole message when `field` is `*`. Without a body, a request's body must be empty.
    pub fn body(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.body = Some(field.into());
        self
    }

    /// The response body is the field `field` of the response message (a top-level field) rather
    /// than the whole message.
    pub fn response_body(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.response_body = Some(field.into());
        self
    }

    /// The HTTP method, as given.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL path template, as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for HttpRule {
    /// The method and template: `GET /v1/{name=books/*}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

/// REST bindings of a service's methods, as extension methods of [`ServiceRoutes`]: bring the trait
/// into scope (`use trident::rest::RestRoutes;`) and chain them like the others. Generated
/// `*_routes` functions add every `google.api.http` annotation of the service this way.
pub trait RestRoutes: Sized {
    /// Also serves the method `spec` at the REST binding `rule` (see [`HttpRule`]), on the same
    /// router and port as its other protocols, through the same interceptors, limits and deadlines.
    /// A method may have several bindings. Unary and server-streaming methods can be bound; a
    /// binding of a client- or bidi-streaming method answers `unimplemented`.
    fn http(self, spec: &'static MethodSpec, rule: HttpRule) -> Self;
}

impl RestRoutes for ServiceRoutes {
    fn http(mut self, spec: &'static MethodSpec, rule: HttpRule) -> Self {
        self.push_http_rule(spec, rule);
        self
    }
}
