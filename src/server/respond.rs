//! Writing responses: headers, messages, and how each protocol ends a call or reports an error.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use http_body::Frame;
use tokio_util::sync::DropGuard;

use crate::body::Body;
use crate::deadline;
use crate::envelope::{FLAG_END_STREAM, write_envelope};
use crate::protocol::{ProtocolKind, connect, grpc, grpc_web};
use crate::server::handler::{Outgoing, ServerCall};
use crate::wire::MessageWriter;
use crate::{Error, Metadata, Response};

/// A Connect unary response (also used for GET): one unframed message, or an error as JSON.
pub(crate) fn unary(
    call: &ServerCall,
    result: Result<Response<BytesMut>, Error>,
) -> http::Response<Body> {
    let result = result.and_then(|response| {
        let (headers, message, trailers) = response.into_parts();
        let (payload, compressed) = call.writer.compress(message)?;
        Ok((headers, payload, compressed, trailers))
    });
    let mut response = match result {
        Ok((headers, payload, compressed, trailers)) => {
            let mut response = http::Response::new(Body::full(payload));
            let map = response.headers_mut();
            append_metadata(map, &headers);
            map.insert(CONTENT_TYPE, call.content_type.clone());
            if compressed && let Some(c) = &call.writer.compression {
                set_header(map, CONTENT_ENCODING, c.name());
            }
            connect::append_unary_trailers(map, &trailers);
            if let Some(if_none_match) = &call.if_none_match
                && let Some(etag) = map.get(http::header::ETAG)
                && etag_matches(if_none_match, etag)
            {
                not_modified(&mut response);
            }
            response
        }
        Err(error) => connect_unary_error(&error),
    };
    response
        .headers_mut()
        .insert(http::header::ACCEPT_ENCODING, call.accept_encoding.clone());
    response
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

/// A Connect unary error response: HTTP status from the code, JSON body, metadata as headers.
pub(crate) fn connect_unary_error(error: &Error) -> http::Response<Body> {
    let mut response = http::Response::new(Body::full(connect::error_json(error)));
    *response.status_mut() = http::StatusCode::from_u16(error.code().http_status())
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let map = response.headers_mut();
    append_metadata(map, error.metadata());
    connect::append_unary_trailers(map, error.trailers());
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A streaming response (every gRPC call, Connect streams): headers now, then each message as it comes,
/// then the protocol's ending. A handler that failed before answering gets the protocol's error-only form.
pub(crate) fn stream(
    call: ServerCall,
    result: Result<Response<Outgoing>, Error>,
) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    let map = response.headers_mut();
    map.insert(CONTENT_TYPE, call.content_type.clone());
    let (encoding_header, accept_header) = match call.protocol {
        ProtocolKind::Connect => (
            connect::STREAM_ENCODING_HEADER,
            connect::STREAM_ACCEPT_ENCODING_HEADER,
        ),
        ProtocolKind::Grpc | ProtocolKind::GrpcWeb => (grpc::ENCODING, grpc::ACCEPT_ENCODING),
    };
    map.insert(accept_header, call.accept_encoding.clone());
    let (headers, messages, trailers, error) = match result {
        Ok(ok) => {
            let (headers, messages, trailers) = ok.into_parts();
            (headers, Some(messages), trailers, None)
        }
        Err(error) => (error.metadata().clone(), None, Metadata::new(), Some(error)),
    };
    append_metadata(response.headers_mut(), &headers);
    if let Some(error) = error {
        if call.protocol != ProtocolKind::Connect {
            // gRPC's trailers-only response: the status travels in the headers, with no body.
            let status = grpc::status_trailers(Some(&error), &Metadata::new());
            response.headers_mut().extend(status);
            return response;
        }
        // Connect streams always answer 200; the error rides in the end-stream message.
        let body = ResponseBody::new(call, None, Metadata::new(), Some(error));
        *response.body_mut() = Body::from_frames(body);
        return response;
    }
    if let Some(c) = &call.writer.compression {
        set_header(response.headers_mut(), encoding_header, c.name());
    }
    let body = ResponseBody::new(call, messages, trailers, None);
    *response.body_mut() = Body::from_frames(body);
    response
}

/// How many bytes of ready messages a streaming body gathers into one DATA frame before handing it on.
///
/// Gathering only what is ready adds no latency; it saves the per-frame work (and syscalls) that a frame
/// per message costs when a handler produces messages faster than the connection takes them.
const BATCH_BYTES: usize = 32 * 1024;

/// Room reserved past [`BATCH_BYTES`], so that the message that fills a batch rarely makes it grow.
const BATCH_HEADROOM: usize = 4 * 1024;

/// The body of a streaming response.
struct ResponseBody {
    protocol: ProtocolKind,
    messages: Option<Outgoing>,
    writer: MessageWriter,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    trailers: Metadata,
    pending_error: Option<Error>,
    /// Framed messages (and, for Connect and gRPC-Web, the ending) not yet handed to hyper.
    batch: BytesMut,
    /// gRPC's status trailers, sent after the last data frame.
    pending_trailers: Option<http::HeaderMap>,
    done: bool,
    /// Cancels the call's context when the body is finished or dropped (the caller went away).
    _guard: DropGuard,
}

impl ResponseBody {
    fn new(
        call: ServerCall,
        messages: Option<Outgoing>,
        trailers: Metadata,
        pending_error: Option<Error>,
    ) -> Self {
        Self {
            protocol: call.protocol,
            _guard: call.cancel.clone().drop_guard(),
            deadline: messages
                .as_ref()
                .and(call.deadline)
                .map(|d| Box::pin(tokio::time::sleep_until(d))),
            messages,
            writer: call.writer,
            trailers,
            pending_error,
            batch: BytesMut::new(),
            pending_trailers: None,
            done: false,
        }
    }

    /// Appends every message that is ready (up to [`BATCH_BYTES`]) to the batch. Returns how the stream
    /// ended (`Some(None)`: cleanly, `Some(Some(error))`: with an error) or `None` while it goes on.
    fn fill_batch(&mut self, cx: &mut Context<'_>) -> Option<Option<Error>> {
        let messages = match &mut self.messages {
            Some(messages) => messages,
            None => return Some(None),
        };
        let mut written = 0;
        while self.batch.len() < BATCH_BYTES {
            match messages
                .as_mut()
                .poll_write(cx, &self.writer, &mut self.batch)
            {
                Poll::Pending => {
                    if self.batch.is_empty() {
                        // Do not keep a buffer while the stream sits idle.
                        self.batch = BytesMut::new();
                    }
                    return None;
                }
                Poll::Ready(Some(Ok(()))) => {
                    // Once two messages were ready at once, more are likely: make room for a whole batch
                    // in one step rather than growing (and copying) the buffer as it fills.
                    written += 1;
                    if written == 2 && self.batch.capacity() - self.batch.len() < BATCH_HEADROOM {
                        self.batch.reserve(BATCH_BYTES + BATCH_HEADROOM);
                    }
                }
                Poll::Ready(Some(Err(error))) => return Some(Some(error)),
                Poll::Ready(None) => return Some(None),
            }
        }
        None
    }

    /// The protocol's ending: Connect's end-stream message or gRPC-Web's trailer frame join the batch,
    /// gRPC's trailers wait until the batch has gone.
    fn end(&mut self, error: Option<Error>) -> Result<(), Error> {
        self.messages = None;
        self.deadline = None;
        match self.protocol {
            ProtocolKind::Connect => {
                let payload = connect::end_stream_json(error.as_ref(), &self.trailers);
                write_envelope(FLAG_END_STREAM, &payload, &mut self.batch)?;
                self.done = true;
            }
            ProtocolKind::Grpc => {
                self.pending_trailers = Some(grpc::status_trailers(error.as_ref(), &self.trailers));
            }
            ProtocolKind::GrpcWeb => {
                let trailers = grpc::status_trailers(error.as_ref(), &self.trailers);
                let block = grpc_web::encode_web_trailers(&trailers);
                write_envelope(grpc_web::FLAG_TRAILERS, &block, &mut self.batch)?;
                self.done = true;
            }
        }
        Ok(())
    }
}

impl Stream for ResponseBody {
    type Item = Result<Frame<Bytes>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.done && this.pending_trailers.is_none() {
            let mut ending = this.pending_error.take().map(Some);
            if ending.is_none()
                && let Some(deadline) = &mut this.deadline
                && deadline.as_mut().poll(cx).is_ready()
            {
                ending = Some(Some(deadline::exceeded()));
            }
            if ending.is_none() {
                ending = this.fill_batch(cx);
            }
            if let Some(error) = ending
                && let Err(error) = this.end(error)
            {
                this.done = true;
                return Poll::Ready(Some(Err(error)));
            }
        }
        if !this.batch.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.batch.split().freeze()))));
        }
        if let Some(trailers) = this.pending_trailers.take() {
            this.done = true;
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if this.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Sets a header, skipping values that are not valid in HTTP.
pub(crate) fn set_header(map: &mut http::HeaderMap, name: http::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        map.insert(name, value);
    }
}

fn append_metadata(map: &mut http::HeaderMap, metadata: &Metadata) {
    for (name, value) in metadata.as_header_map() {
        map.append(name.clone(), value.clone());
    }
}

/// A plain HTTP response with an empty body (404, 405, 415, ...).
pub(crate) fn plain_status(status: http::StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = status;
    response
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
