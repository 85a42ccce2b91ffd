//! The echo service's REST bindings, the same for `trident-echo` and `rest-cost`: `Echo` at
//! `GET /v1/echo/{payload}` (the payload, `bytes`, is the path segment's base64), and as many others
//! as asked for, so that routing among 10 bindings can be compared with routing among 1,000. They are
//! bound by hand: `echo.proto` is shared with the other peers and carries no annotations.

use trident::rest::{HttpRule, RestRoutes as _};
use trident::{MethodSpec, ServiceRoutes};

use crate::trident_gen::echo_service;

/// `routes` with `total` REST bindings in all: `GET /v1/echo/{payload}` and `total − 1` others
/// ([`extra`]), none of which takes its requests. `total` 0 is taken as 1.
pub fn bind(routes: ServiceRoutes, total: usize) -> ServiceRoutes {
    let routes = routes.http(&echo_service::ECHO, HttpRule::get("/v1/echo/{payload}"));
    (1..total).fold(routes, |routes, i| {
        let (spec, rule) = extra(i);
        routes.http(spec, rule)
    })
}

/// The `i`th extra binding, one of five shapes in turn, each with `i` in a literal so that no two
/// take the same requests: a literal prefix, two variables around literals (on `Stream`, whose request
/// has two numbers), a custom verb with a JSON body, a multi-segment variable, and a `**` tail. Every
/// fifth one, from the fifth, is `GET /v1/extra{i}/echo/{payload}`: the driver calls the last of
/// them to check the server holds them all.
pub fn extra(i: usize) -> (&'static MethodSpec, HttpRule) {
    match i % 5 {
        0 => (
            &echo_service::ECHO,
            HttpRule::get(format!("/v1/extra{i}/echo/{{payload}}")),
        ),
        1 => (
            &echo_service::STREAM,
            HttpRule::get(format!("/v1/shelves/{{count}}/books{i}/{{size}}")),
        ),
        2 => (
            &echo_service::ECHO,
            HttpRule::post(format!("/v1/extra{i}:echo")).body("*"),
        ),
        3 => (
            &echo_service::ECHO,
            HttpRule::get(format!("/v1/{{payload=rooms{i}/*}}/echo")),
        ),
        _ => (
            &echo_service::ECHO,
            HttpRule::get(format!("/v1/files{i}/{{payload=**}}")),
        ),
    }
}
