//! Connect's GET form of a unary call: the message, its codec and compression in the query string
//! (`connect=v1&encoding=…&base64=1&compression=…&message=…`), so side-effect-free calls can be cached.

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::metadata::decode_base64;
use crate::{Code, Error};

/// A GET request's query parameters.
#[derive(Debug, Default)]
pub(crate) struct GetQuery {
    pub message: Vec<u8>,
    pub encoding: Option<String>,
    pub compression: Option<String>,
}

/// Parses a Connect GET query: `connect=v1`, `encoding`, `message`, optional `base64=1` and
/// `compression`. A query without `encoding` takes `default_encoding`, when there is one, and is
/// refused otherwise (as Connect's GETs must name it).
pub(crate) fn parse_get_query(
    query: &str,
    default_encoding: Option<&str>,
) -> Result<GetQuery, Error> {
    let mut out = GetQuery::default();
    let mut message: Option<String> = None;
    let mut base64 = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode_query_value(value)?;
        match key {
            "message" => message = Some(value),
            "encoding" => out.encoding = Some(value),
            "compression" => out.compression = Some(value),
            "base64" => base64 = value == "1",
            _ => {}
        }
    }
    let message = message.unwrap_or_default();
    out.message = if base64 {
        decode_base64(message.as_bytes()).ok_or_else(|| {
            Error::new(
                Code::InvalidArgument,
                "GET message parameter is not valid base64",
            )
        })?
    } else {
        message.into_bytes()
    };
    if out.encoding.is_none() {
        out.encoding = default_encoding.map(str::to_string);
    }
    if out.encoding.is_none() {
        return Err(Error::new(
            Code::InvalidArgument,
            "GET request is missing the encoding parameter",
        ));
    }
    Ok(out)
}

/// Builds a GET query for a message already encoded (and possibly compressed).
pub(crate) fn build_get_query(
    codec: &str,
    message: &[u8],
    text: bool,
    compression: Option<&str>,
) -> String {
    let mut query = String::from("connect=v1&encoding=");
    query.push_str(codec);
    if let Some(name) = compression {
        query.push_str("&compression=");
        query.push_str(name);
    }
    match std::str::from_utf8(message) {
        Ok(text_form) if text && compression.is_none() => {
            query.push_str("&message=");
            query.extend(utf8_percent_encode(text_form, QUERY_ESCAPES));
        }
        _ => {
            query.push_str("&base64=1&message=");
            query.push_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message));
        }
    }
    query
}

/// What a GET query escapes: everything but RFC 3986's unreserved characters.
const QUERY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Decodes one query value: `+` is a space, `%XX` escapes are bytes, and the result must be UTF-8. A `%`
/// that starts no escape is an error, as it is in connect-go (a query mangled on the way is refused, not
/// guessed at).
pub(crate) fn decode_query_value(value: &str) -> Result<String, Error> {
    let bytes = value.as_bytes();
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(Error::new(
            Code::InvalidArgument,
            "invalid percent-encoding in query",
        ));
    }
    let spaced;
    let value = if value.contains('+') {
        spaced = value.replace('+', " ");
        spaced.as_str()
    } else {
        value
    };
    percent_decode_str(value)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| Error::new(Code::InvalidArgument, "query parameter is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_queries_round_trip() {
        let q = build_get_query("json", br#"{"a":"b c"}"#, true, None);
        let parsed = parse_get_query(&q, None).unwrap();
        assert_eq!(parsed.message, br#"{"a":"b c"}"#);
        assert_eq!(parsed.encoding.as_deref(), Some("json"));
        let q = build_get_query("proto", &[0, 255, 10], false, Some("gzip"));
        let parsed = parse_get_query(&q, None).unwrap();
        assert_eq!(parsed.message, vec![0, 255, 10]);
        assert_eq!(parsed.compression.as_deref(), Some("gzip"));
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_refused() {
        for bad in ["%zz", "%2", "abc%", "%ff%fe"] {
            let query = format!("connect=v1&encoding=json&message={bad}");
            let error = parse_get_query(&query, None).unwrap_err();
            assert_eq!(error.code(), Code::InvalidArgument, "{bad}");
        }
        let parsed = parse_get_query("encoding=json&message=a+b%2Bc", None).unwrap();
        assert_eq!(parsed.message, b"a b+c");
    }
}
