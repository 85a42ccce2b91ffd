//! The opening handshake of a WebSocket call: telling one from other requests, checking it (version,
//! key, subprotocol, origin) and the answer that switches the connection or stream to WebSocket. What
//! runs over it afterwards is `server/websocket.rs`.

use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::body::Body;
use crate::protocol::header;
use crate::protocol::websocket::{SUBPROTOCOLS, WebSocketOptions};

const SEC_WEBSOCKET_KEY: &str = "sec-websocket-key";
const SEC_WEBSOCKET_VERSION: &str = "sec-websocket-version";
const SEC_WEBSOCKET_PROTOCOL: &str = "sec-websocket-protocol";
const SEC_WEBSOCKET_ACCEPT: &str = "sec-websocket-accept";

/// A handshake that passed its checks: the codec its subprotocol names, and the answer to send.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub codec: &'static str,
    pub response: http::Response<Body>,
}

/// Whether `request` opens a WebSocket: an HTTP/1.1 GET asking to upgrade to `websocket`, or an
/// HTTP/2 extended CONNECT whose `:protocol` is `websocket`.
pub(crate) fn is_handshake(request: &http::request::Parts) -> bool {
    if request.method == Method::GET && request.version < http::Version::HTTP_2 {
        return has_token(&request.headers, UPGRADE, "websocket");
    }
    request.method == Method::CONNECT
        && request
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"))
}

/// Checks the handshake `request` and makes its answer, or the plain HTTP error that refuses it.
/// `offered` says whether the router offers a codec.
pub(crate) fn accept(
    request: &http::request::Parts,
    options: &WebSocketOptions,
    offered: impl Fn(&str) -> bool,
) -> Result<Accepted, Box<http::Response<Body>>> {
    let headers = &request.headers;
    let http1 = request.version < http::Version::HTTP_2;
    if header(headers, SEC_WEBSOCKET_VERSION).map(str::trim) != Some("13") {
        let mut response = refusal(
            StatusCode::UPGRADE_REQUIRED,
            "this server speaks WebSocket version 13",
        );
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(Box::new(response));
    }
    let key = match http1 {
        true => {
            let key = header(headers, SEC_WEBSOCKET_KEY).map(str::trim);
            if !has_token(headers, CONNECTION, "upgrade") || key.is_none_or(|k| k.len() != 24) {
                return Err(Box::new(refusal(
                    StatusCode::BAD_REQUEST,
                    "a WebSocket handshake needs `Connection: Upgrade` and a `Sec-WebSocket-Key`",
                )));
            }
            key
        }
        false => None,
    };
    let authority = request
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header(headers, http::header::HOST));
    if !options.origin_allowed(header(headers, http::header::ORIGIN), authority) {
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "this server does not accept WebSocket calls from this origin",
        )));
    }
    let Some((subprotocol, codec)) = choose_subprotocol(headers, offered) else {
        return Err(Box::new(refusal(
            StatusCode::BAD_REQUEST,
            "a WebSocket call must offer the subprotocol trident.connect.proto or \
             trident.connect.json (Sec-WebSocket-Protocol)",
        )));
    };
    let mut response = http::Response::new(Body::empty());
    if key.is_some() {
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    }
    let map = response.headers_mut();
    map.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(subprotocol),
    );
    if let Some(key) = key {
        map.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        map.insert(UPGRADE, HeaderValue::from_static("websocket"));
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            map.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
    }
    Ok(Accepted { codec, response })
}

/// The first subprotocol the client offers that the server speaks with a codec it `offered` (the
/// client's order is its preference), with the codec it names.
fn choose_subprotocol(
    headers: &HeaderMap,
    offered: impl Fn(&str) -> bool,
) -> Option<(&'static str, &'static str)> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|offered_name| {
            SUBPROTOCOLS
                .iter()
                .find(|(name, codec)| {
                    name.eq_ignore_ascii_case(offered_name.trim()) && offered(codec)
                })
                .copied()
        })
}

/// Whether the comma-separated header `name` holds `token` (without regard to case).
fn has_token(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// A refused handshake: `status` with `why` as plain text.
pub(crate) fn refusal(status: StatusCode, why: &'static str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::full(why));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h1(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut builder = http::Request::get("/t.v1.S/M").header("host", "api.example.com");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const GOOD: [(&str, &str); 4] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];

    #[test]
    fn an_http1_handshake_is_answered_101_with_the_accept_key_and_the_subprotocol() {
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", "chat, trident.connect.json"));
        headers.push(("sec-websocket-protocol", "trident.connect.proto"));
        let request = h1(&headers);
        assert!(is_handshake(&request));
        let accepted = accept(&request, &WebSocketOptions::new(), |_| true).expect("accepted");
        assert_eq!(accepted.codec, "json");
        let response = accepted.response;
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455's own example.
        assert_eq!(
            response.headers()[SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(
            response.headers()[SEC_WEBSOCKET_PROTOCOL],
            "trident.connect.json"
        );
    }

    #[test]
    fn bad_handshakes_are_refused_before_the_upgrade() {
        let options = WebSocketOptions::new();
        let status = |headers: &[(&str, &str)]| match accept(&h1(headers), &options, |_| true) {
            Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
            Err(response) => response.status(),
        };
        let mut no_subprotocol = GOOD.to_vec();
        assert_eq!(status(&no_subprotocol), StatusCode::BAD_REQUEST);
        no_subprotocol.push(("sec-websocket-protocol", "graphql-ws"));
        assert_eq!(status(&no_subprotocol), StatusCode::BAD_REQUEST);

        let mut ours = GOOD.to_vec();
        ours.push(("sec-websocket-protocol", "trident.connect.proto"));
        assert_eq!(status(&ours), StatusCode::SWITCHING_PROTOCOLS);
        let mut old = ours.clone();
        old[3] = ("sec-websocket-version", "8");
        assert_eq!(status(&old), StatusCode::UPGRADE_REQUIRED);
        let mut foreign = ours.clone();
        foreign.push(("origin", "https://evil.example"));
        assert_eq!(status(&foreign), StatusCode::FORBIDDEN);
        let mut own = ours.clone();
        own.push(("origin", "https://api.example.com"));
        assert_eq!(status(&own), StatusCode::SWITCHING_PROTOCOLS);
        let keyless: Vec<_> = ours
            .into_iter()
            .filter(|(n, _)| *n != SEC_WEBSOCKET_KEY)
            .collect();
        assert_eq!(status(&keyless), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn other_requests_are_no_handshakes() {
        assert!(!is_handshake(&h1(&[])));
        let post = http::Request::post("/t.v1.S/M")
            .header("upgrade", "websocket")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(!is_handshake(&post));
        let mut connect = http::Request::builder()
            .method(Method::CONNECT)
            .version(http::Version::HTTP_2)
            .uri("https://api.example.com/t.v1.S/M")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(!is_handshake(&connect));
        connect
            .extensions
            .insert(hyper::ext::Protocol::from_static("websocket"));
        assert!(is_handshake(&connect));
    }
}
