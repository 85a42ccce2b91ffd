//! Conditional GET (RFC 9110): a Connect GET whose `If-None-Match` names the entity tag the handler
//! answered with gets 304 Not Modified instead of the message, so browsers and caches revalidate cheaply.

use http::HeaderValue;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

use crate::body::Body;

/// Turns `response` into 304 Not Modified when `if_none_match` (the request's) names its `ETag`.
pub(crate) fn answer_not_modified(
    if_none_match: Option<&HeaderValue>,
    response: &mut http::Response<Body>,
) {
    let Some(if_none_match) = if_none_match else {
        return;
    };
    let matched = response
        .headers()
        .get(http::header::ETAG)
        .is_some_and(|etag| etag_matches(if_none_match, etag));
    if matched {
        not_modified(response);
    }
}

/// Whether a GET's `If-None-Match` list names `etag` (or is `*`), comparing weakly as RFC 9110 asks.
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let list = if_none_match.as_bytes();
    if list.trim_ascii() == b"*" {
        return true;
    }
    let Some((wanted, _)) = next_etag(etag.as_bytes()) else {
        return false;
    };
    let mut rest = list;
    while let Some((candidate, after)) = next_etag(rest) {
        if candidate == wanted {
            return true;
        }
        rest = after;
    }
    false
}

/// The opaque part (quotes included, `W/` dropped) of the first entity tag in `list`, and what follows it.
/// Entity tags may contain commas, so the list is scanned quote to quote rather than split.
fn next_etag(list: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = list
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b','))?;
    let mut tag = &list[start..];
    if let Some(strong) = tag.strip_prefix(b"W/") {
        tag = strong;
    }
    if tag.first() != Some(&b'"') {
        return None;
    }
    let end = tag[1..].iter().position(|&b| b == b'"')? + 2;
    Some((&tag[..end], &tag[end..]))
}

/// Turns a successful GET response whose entity tag the caller already has into 304 Not Modified: the
/// same headers (ETag, Cache-Control, metadata), no body.
fn not_modified(response: &mut http::Response<Body>) {
    *response.status_mut() = http::StatusCode::NOT_MODIFIED;
    *response.body_mut() = Body::empty();
    let map = response.headers_mut();
    map.remove(CONTENT_TYPE);
    map.remove(CONTENT_ENCODING);
    map.remove(http::header::CONTENT_LENGTH);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(if_none_match: &str, etag: &str) -> bool {
        etag_matches(
            &HeaderValue::from_str(if_none_match).unwrap(),
            &HeaderValue::from_str(etag).unwrap(),
        )
    }

    #[test]
    fn if_none_match_compares_entity_tags_weakly() {
        assert!(matches("\"7\"", "\"7\""));
        assert!(matches("W/\"7\"", "\"7\""));
        assert!(matches("\"7\"", "W/\"7\""));
        assert!(matches("\"1\", \"7\"", "\"7\""));
        assert!(matches("*", "\"anything\""));
        // Commas may sit inside a tag; the list is scanned quote to quote.
        assert!(matches("\"a,b\", \"c\"", "\"a,b\""));
        assert!(!matches("\"a,b\"", "\"a\""));
        assert!(!matches("\"8\"", "\"7\""));
        assert!(!matches("7", "\"7\""));
        assert!(!matches("\"7\"", "7"));
        assert!(!matches("\"unterminated", "\"unterminated\""));
    }
}
