//! The head messages of a WebSocket call: the client's first TEXT message, which carries the headers
//! a browser cannot set on the upgrade request, and the server's, which carries the response headers
//! (`{"headers": {...}}` both ways; the module docs of `protocol/websocket` say why).

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

/// One header's value in the client's head: a string, or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    One(String),
    Many(Vec<String>),
}

/// The client's head message.
#[derive(Deserialize)]
struct ClientHead {
    #[serde(default)]
    headers: BTreeMap<String, Values>,
}

/// Headers the head may not name: the handshake's own, hop-by-hop ones, the content type (the
/// subprotocol states it) and `host` (the connection's).
const RESERVED: [&str; 9] = [
    "connection",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Whether `name` is a header of the handshake or one the head may not name.
pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || name.starts_with("sec-websocket-")
}

/// Whether `name` is a header of the handshake itself, which the call's handler does not see.
pub(crate) fn is_handshake_header(name: &str) -> bool {
    matches!(name, "connection" | "upgrade") || name.starts_with("sec-websocket-")
}

/// Parses the client's head message into the headers it carries, in order. `Err` says what is
/// wrong with it.
pub(crate) fn parse_client_head(text: &str) -> Result<HeaderMap, String> {
    let invalid = |e: serde_json::Error| format!("the head message is not valid: {e}");
    // An object (serde would also read a struct from an array).
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(invalid)?;
    let head: ClientHead =
        serde_json::from_value(serde_json::Value::Object(object)).map_err(invalid)?;
    let mut headers = HeaderMap::new();
    for (name, values) in head.headers {
        let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("the head names an invalid header {name:?}"))?;
        if is_reserved(name.as_str()) {
            return Err(format!("the head may not set the header {name}"));
        }
        let values = match values {
            Values::One(value) => vec![value],
            Values::Many(values) => values,
        };
        for value in values {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("the head's header {name} has an invalid value"))?;
            headers.append(name.clone(), value);
        }
    }
    Ok(headers)
}

/// The server's head message for a response with `headers`: each name once, its values in order.
pub(crate) fn server_head(headers: &HeaderMap) -> String {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let values = headers
            .get_all(name)
            .iter()
            .map(|value| {
                serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into())
            })
            .collect();
        map.insert(name.as_str().to_string(), serde_json::Value::Array(values));
    }
    serde_json::json!({ "headers": map }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_carries_single_and_repeated_values_in_order() {
        let headers = parse_client_head(
            r#"{"headers": {"X-One": "1", "x-many": ["a", "b"], "connect-timeout-ms": "500"},
                "later": true}"#,
        )
        .expect("a valid head");
        assert_eq!(headers["x-one"], "1");
        let many: Vec<_> = headers.get_all("x-many").iter().collect();
        assert_eq!(many, ["a", "b"]);
        assert_eq!(headers["connect-timeout-ms"], "500");
        assert!(parse_client_head("{}").expect("no headers").is_empty());
    }

    #[test]
    fn bad_heads_are_refused() {
        for text in [
            "",
            "[]",
            r#"{"headers": {"x": 1}}"#,
            r#"{"headers": {"bad name": "1"}}"#,
            r#"{"headers": {"x": "line\nbreak"}}"#,
            r#"{"headers": {"content-type": "application/json"}}"#,
            r#"{"headers": {"Sec-WebSocket-Key": "x"}}"#,
        ] {
            assert!(parse_client_head(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_server_head_lists_every_value() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append("connect-accept-encoding", HeaderValue::from_static("gzip"));
        let head: serde_json::Value = serde_json::from_str(&server_head(&headers)).unwrap();
        assert_eq!(
            head,
            serde_json::json!({"headers": {"x-a": ["1", "2"], "connect-accept-encoding": ["gzip"]}})
        );
    }
}
