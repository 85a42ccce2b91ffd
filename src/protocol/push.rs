//! Server push over a plain GET: every server-streaming method, served as server-sent events to a
//! browser's `EventSource` ([`ProtocolKind::SSE`]) or as newline-delimited JSON to `curl -N` and
//! scripts ([`ProtocolKind::NDJSON`]), with no client library and no proxy in between.
//!
//! A request is theirs when it is a GET of a server-streaming method whose `Accept` names
//! `text/event-stream` (SSE) or `application/x-ndjson` (NDJSON). The request message travels in the
//! query as Connect's GET form writes it (`encoding`, `message`, `base64=1`, `compression`), except
//! that `encoding` defaults to `json` and a missing `message` is the empty message, so that
//! `GET /acme.v1.Feed/Follow?message={"topic":"news"}` (escaped) is a whole request. A timeout may
//! come in `connect-timeout-ms`, as for Connect. Whatever the request's codec, the responses are
//! proto3 JSON, written as `text_stream.rs` says: one `data:` event or `{"result": …}` line per
//! message.
//!
//! How a stream ends (and why):
//! - SSE: a last `event: error` whose data is Connect's error JSON (`{"code": "not_found",
//!   "message": …, "details": […]}`), or `event: end` whose data is Connect's end-stream JSON
//!   (`{"metadata": trailers}`, `{}` without trailers). A failure before the first message is
//!   answered the same way, with status 200: an `EventSource` reads no body of any other status
//!   (it reports a bare error and gives up), so the error would be lost. A page listens for both
//!   events and closes its `EventSource`; else it would reconnect and run the call again. (A
//!   server event named `error` reaches the same listener as `EventSource`'s own connection
//!   errors; those carry no `data`.)
//! - NDJSON: a last `{"error": …}` line with the same error JSON; nothing after the last message
//!   of a stream that succeeded (as grpc-gateway and Kubernetes' watches do). A failure before
//!   the first message has the HTTP status Connect gives its code, with that one line as the body.
//!
//! Event ids ([`Response::with_event_ids`](crate::Response::with_event_ids)) and heartbeats
//! ([`Router::heartbeat_interval`](crate::Router::heartbeat_interval)) are SSE's; a handler reads a
//! reconnecting client's `Last-Event-ID` from
//! [`CallContext::last_event_id`](crate::CallContext::last_event_id). The response is compressed
//! (as a whole HTTP body, `Content-Encoding`) when the client accepts one of the router's
//! encodings. Everything else (interceptors, deadlines, limits, the connection's memory budget,
//! drain) is the call's as for any protocol. Trident's client does not speak these protocols:
//! they are for clients without one.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::body::Body;
use crate::method::{MethodSpec, StreamType};
use crate::protocol::connect::TIMEOUT_HEADER;
use crate::protocol::connect_get::parse_get_query;
use crate::protocol::connect_json::{end_stream_json, error_json};
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, append_metadata,
};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, header, text_stream};
use crate::{Error, Metadata};

/// Server-sent events in the registry.
pub(crate) const SSE_PROTOCOL: Protocol = Protocol {
    name: "sse",
    // The query, codes and error JSON are Connect's.
    rpc_system: "connect_rpc",
    codes: CodeStyle::Names,
    server: &SSE,
    client: None,
    cors_request_headers: &["last-event-id", "connect-timeout-ms"],
    cors_response_headers: &[],
    routing: None,
};

/// Newline-delimited JSON in the registry.
pub(crate) const NDJSON_PROTOCOL: Protocol = Protocol {
    name: "ndjson",
    server: &NDJSON,
    ..SSE_PROTOCOL
};

impl ProtocolKind {
    /// Server-sent events: a server-streaming method called with a GET that accepts
    /// `text/event-stream`, as a browser's `EventSource` does (see the guide's "Server push"
    /// section). Served only: Trident's client does not speak it.
    pub const SSE: ProtocolKind = ProtocolKind(&SSE_PROTOCOL);

    /// Newline-delimited JSON: a server-streaming method called with a GET that accepts
    /// `application/x-ndjson`, one JSON line per message (see the guide's "Server push" section).
    /// Served only: Trident's client does not speak it.
    pub const NDJSON: ProtocolKind = ProtocolKind(&NDJSON_PROTOCOL);
}

/// Which of the two forms a [`Push`] writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Events,
    Lines,
}

/// One of the push protocols on the server.
pub(crate) struct Push {
    form: Form,
}

static SSE: Push = Push { form: Form::Events };

static NDJSON: Push = Push { form: Form::Lines };

impl Push {
    /// The media type a request accepts to be this form's, and its answer's content type.
    fn media_type(&self) -> &'static str {
        match self.form {
            Form::Events => text_stream::EVENTS_TYPE,
            Form::Lines => text_stream::LINES_TYPE,
        }
    }

    fn framing(&self) -> Framing {
        Framing::Text(match self.form {
            Form::Events => text_stream::EVENTS,
            Form::Lines => text_stream::LINES,
        })
    }

    /// Appends the stream's last event or line for `error` (`None`: it succeeded).
    fn write_end(&self, error: Option<&Error>, trailers: &Metadata, batch: &mut BytesMut) {
        match (self.form, error) {
            (Form::Events, Some(error)) => {
                text_stream::write_event("error", &error_json(error), batch);
            }
            (Form::Events, None) => {
                text_stream::write_event("end", &end_stream_json(None, trailers), batch);
            }
            (Form::Lines, Some(error)) => text_stream::write_error_line(&error_json(error), batch),
            (Form::Lines, None) => {}
        }
    }
}

impl ServerProtocol for Push {
    fn kind(&self) -> ProtocolKind {
        match self.form {
            Form::Events => ProtocolKind::SSE,
            Form::Lines => ProtocolKind::NDJSON,
        }
    }

    fn serves_get(&self, spec: &MethodSpec) -> bool {
        spec.stream_type == StreamType::ServerStream
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        if request.method != http::Method::GET
            || !self.serves_get(spec)
            || !text_stream::accepts(&request.headers, self.media_type())
        {
            return None;
        }
        let framing = self.framing();
        let query = match parse_get_query(request.uri.query().unwrap_or(""), Some("json")) {
            Ok(query) => query,
            Err(error) => return Some(Err(self.answer_error(&error))),
        };
        let codec = query.encoding.unwrap_or_default().to_ascii_lowercase();
        let message = if query.message.is_empty() && codec == "json" {
            Bytes::from_static(b"{}")
        } else {
            Bytes::from(query.message)
        };
        Some(Ok(Proposal {
            protocol: self,
            framing,
            codec: Cow::Owned(codec),
            response_codec: Some("json"),
            own_codec: None,
            state: None,
            content_type: HeaderValue::from_static(self.media_type()),
            encoding: query.compression.map(Cow::Owned),
            accept_encoding: text_stream::accepted_encoding(&request.headers),
            timeout: header(&request.headers, TIMEOUT_HEADER)
                .map(crate::protocol::connect::parse_timeout),
            get_message: Some(message),
        }))
    }

    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        text_stream::response_headers(format, compressed, true, headers);
    }

    fn error_response(&self, _format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        self.answer_error(error)
    }

    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        self.write_end(error, trailers, batch);
        Ok(StreamEnd::InBody)
    }
}

impl Push {
    /// A call that failed before its first message: the stream's last event or line alone, with
    /// the status the module docs give.
    fn answer_error(&self, error: &Error) -> http::Response<Body> {
        let mut body = BytesMut::new();
        self.write_end(Some(error), &Metadata::new(), &mut body);
        let mut response = http::Response::new(Body::full(body.freeze()));
        if self.form == Form::Lines {
            *response.status_mut() = StatusCode::from_u16(error.code().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let headers = response.headers_mut();
        append_metadata(headers, error.headers());
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(self.media_type()),
        );
        text_stream::stream_headers(headers);
        response
    }
}
