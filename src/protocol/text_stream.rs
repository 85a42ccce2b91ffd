//! Streams of JSON as text, the forms `curl -N`, scripts and a browser's `EventSource` read without
//! a library: newline-delimited JSON and server-sent events. The push protocols (`push.rs`) and REST
//! (`rest/`) write their server streams this way; what they share is here: the frames around each
//! message, the events and lines that end a stream, and the headers that keep proxies from holding
//! a stream back.
//!
//! - **JSON lines** (`application/x-ndjson`): one `{"result": message}` line per message (the form
//!   grpc-gateway writes), and a last `{"error": …}` line when the stream fails. No heartbeat: a
//!   reader that parses every line would choke on a blank one.
//! - **Server-sent events** (`text/event-stream`, WHATWG HTML §9.2): one `data:` event per message,
//!   preceded by an `id:` line when the handler gives the message an event id (which a reconnecting
//!   `EventSource` sends back as `Last-Event-ID`); a last `event: error` when the stream fails, or
//!   `event: end` when it ends cleanly, so that a page can close its `EventSource` rather than
//!   have it reconnect and run the call again; and a comment line as a heartbeat while the stream is
//!   idle, so that proxies and load balancers with read timeouts keep it open. A message's JSON is
//!   one line (the JSON codec writes no line breaks), so it fits in one `data:` line.

use bytes::{BufMut as _, BytesMut};
use http::{HeaderMap, HeaderValue};

use crate::protocol::server::{ResponseFormat, TextFrame, set_encoding};
use crate::{Code, Error};

/// Newline-delimited JSON: each message as `{"result": message}` on a line of its own.
pub(crate) const LINES: TextFrame = TextFrame {
    prefix: b"{\"result\":",
    suffix: b"}\n",
    heartbeat: None,
    event_ids: false,
};

/// Server-sent events: each message as the data of one event, with a comment as the heartbeat.
pub(crate) const EVENTS: TextFrame = TextFrame {
    prefix: b"data: ",
    suffix: b"\n\n",
    heartbeat: Some(b": heartbeat\n\n"),
    event_ids: true,
};

/// The media type of JSON lines.
pub(crate) const LINES_TYPE: &str = "application/x-ndjson";

/// The media type of server-sent events.
pub(crate) const EVENTS_TYPE: &str = "text/event-stream";

/// Whether the request's `Accept` names `media_type` (parameters and quality aside).
pub(crate) fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let essence = item.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case(media_type)
        })
}

/// The encodings a text stream may be sent in, from the request's `Accept-Encoding`: gzip when it
/// is listed (and not refused with `q=0`), the one encoding a stream can be compressed in piece by
/// piece without keeping a compressor (see `compression/gzip_stream.rs`).
pub(crate) fn accepted_encoding(headers: &HeaderMap) -> Option<&'static str> {
    let gzip = headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        });
    gzip.then_some("gzip")
}

/// The headers of a response of JSON (`streaming`: a text stream): its content type, its
/// `Content-Encoding` when `compressed`, and for a stream the headers of [`stream_headers`].
pub(crate) fn response_headers(
    format: &ResponseFormat,
    compressed: bool,
    streaming: bool,
    headers: &mut HeaderMap,
) {
    headers.insert(http::header::CONTENT_TYPE, format.content_type.clone());
    if compressed {
        set_encoding(
            headers,
            http::header::CONTENT_ENCODING,
            format.writer.compression.as_ref(),
        );
    }
    if streaming {
        stream_headers(headers);
    }
}

/// The headers every text stream carries beside its content type: caches keep none of it, and
/// nginx passes it on as it comes rather than buffering it (`X-Accel-Buffering`).
pub(crate) fn stream_headers(headers: &mut HeaderMap) {
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// Appends the line that ends a failed stream of JSON lines: `{"error": error}`, `error` being
/// the protocol's JSON form of it.
pub(crate) fn write_error_line(error: &[u8], batch: &mut BytesMut) {
    batch.put_slice(b"{\"error\":");
    batch.put_slice(error);
    batch.put_slice(b"}\n");
}

/// Appends an event named `name` whose data is `json` (one line).
pub(crate) fn write_event(name: &str, json: &[u8], batch: &mut BytesMut) {
    batch.put_slice(b"event: ");
    batch.put_slice(name.as_bytes());
    batch.put_slice(b"\ndata: ");
    batch.put_slice(json);
    batch.put_slice(b"\n\n");
}

/// Appends the `id:` line of the next event. An id with a line break (which would end the line
/// early) or a NUL (which `EventSource` ignores) fails the stream with `internal`: it is the
/// handler's mistake, and an event with a wrong id would resume a stream at the wrong place.
pub(crate) fn write_event_id(id: &str, batch: &mut BytesMut) -> Result<(), Error> {
    if id.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0)) {
        return Err(Error::new(
            Code::Internal,
            format!(
                "event id {id:?} holds a line break or NUL, which server-sent events cannot carry"
            ),
        ));
    }
    batch.put_slice(b"id: ");
    batch.put_slice(id.as_bytes());
    batch.put_u8(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_are_read_item_by_item() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json;q=0.5, Text/Event-Stream; q=1"),
        );
        assert!(accepts(&headers, EVENTS_TYPE));
        assert!(!accepts(&headers, LINES_TYPE));
        headers.append(
            http::header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson"),
        );
        assert!(accepts(&headers, LINES_TYPE));
    }

    #[test]
    fn events_and_lines_are_written_whole() {
        let mut batch = BytesMut::new();
        write_event_id("42", &mut batch).unwrap();
        batch.put_slice(EVENTS.prefix);
        batch.put_slice(b"{}");
        batch.put_slice(EVENTS.suffix);
        write_event("end", b"{}", &mut batch);
        assert_eq!(&batch[..], b"id: 42\ndata: {}\n\nevent: end\ndata: {}\n\n");

        let mut batch = BytesMut::new();
        write_error_line(br#"{"code":"internal"}"#, &mut batch);
        assert_eq!(&batch[..], b"{\"error\":{\"code\":\"internal\"}}\n");
    }

    #[test]
    fn ids_that_would_break_the_event_are_refused() {
        for bad in ["a\nb", "a\rb", "a\0b"] {
            let mut batch = BytesMut::new();
            let error = write_event_id(bad, &mut batch).unwrap_err();
            assert_eq!(error.code(), Code::Internal);
            assert!(batch.is_empty());
        }
    }
}
