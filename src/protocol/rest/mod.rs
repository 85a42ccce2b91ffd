//! REST: methods served at resource URLs from their `google.api.http` bindings (googleapis'
//! `google/api/http.proto` says what each rule means), on the same router and port as the RPC
//! protocols, so `curl`, browsers, API gateways and OpenAPI tooling reach the same handlers.
//!
//! It is a protocol like the others, with one difference: its requests are found by URL template
//! rather than by path. The router asks its [`Bindings`] (a compiled matcher) for a request no method
//! path takes, and marks a match on the request ([`RestMatch`]); this protocol claims exactly the
//! requests so marked, whatever their HTTP method ([`ServerProtocol::routed_here`]). From there on a
//! REST call is an ordinary call: the same negotiation, interceptors, deadline, limits, compression
//! and panic recovery. What is REST's own is in the files beside this one:
//! - `rule.rs`: [`HttpRule`] and [`RestRoutes`], the public way to bind a method;
//! - `template.rs` and `matcher.rs`: URL templates and the compiled matcher;
//! - `bindings.rs`: a router's bindings, checked against the methods' messages when added;
//! - `transcode.rs`: the call's codec, building the request from path, query and body and writing
//!   the response (or its `response_body` field) as proto3 JSON, or raw for `google.api.HttpBody`;
//! - `fields.rs`: fields set from URL text;
//! - `status.rs`: errors as `google.rpc.Status` JSON with grpc-gateway's HTTP statuses.
//!
//! A unary response is the message as JSON. A server stream is newline-delimited JSON
//! (`application/x-ndjson`, grpc-gateway's form: one `{"result": message}` line per message and a
//! last `{"error": status}` line if it fails), or server-sent events when the request accepts
//! `text/event-stream` (one `data:` event per message, a last `event: error` if it fails, else
//! `event: end`; see `text_stream.rs`). Trailers
//! of a unary call join its headers; a stream has none to send. Client- and bidi-streaming methods
//! cannot be bound: such a binding answers `unimplemented`. The request may state its timeout as
//! gRPC does (`grpc-timeout`), as grpc-gateway reads it. Trident's client does not speak REST.

pub(crate) mod bindings;
mod fields;
pub(crate) mod matcher;
pub(crate) mod rule;
mod status;
pub(crate) mod template;
mod transcode;

use std::any::Any;
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue};

use crate::body::Body;
use crate::codec::Codec;
use crate::method::MethodSpec;
use crate::protocol::conditional;
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, UnaryReply, append_metadata,
};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, header, text_stream};
use crate::{Code, Error, Metadata};

pub(crate) use bindings::{Bindings, Messages};
pub use rule::{HttpRule, RestRoutes};
pub(crate) use status::error_response;
use transcode::RestCall;

/// REST in the registry. It has no client half: Trident's client speaks the RPC protocols.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "rest",
    // OpenTelemetry lists no system for HTTP/JSON transcoding; the codes are gRPC's.
    rpc_system: "rest",
    codes: CodeStyle::Numbers,
    server: &LINES,
    client: None,
    cors_request_headers: &["grpc-timeout"],
    cors_response_headers: &[],
    routing: None,
};

impl ProtocolKind {
    /// REST: methods at the resource URLs of their `google.api.http` bindings, with JSON bodies
    /// (see [`rest`](crate::rest)). Served only: Trident's client does not speak it.
    pub const REST: ProtocolKind = ProtocolKind(&PROTOCOL);
}

/// What the router marks on a request one of its REST bindings matched.
#[derive(Clone)]
pub(crate) struct RestMatch {
    pub binding: Arc<bindings::Binding>,
    /// The path variables' values, in the template's order, decoded.
    pub captures: Arc<[String]>,
}

/// A server stream as newline-delimited JSON: `{"result": message}` lines.
const LINES_FRAMING: Framing = Framing::Text(text_stream::LINES);

/// A server stream as server-sent events: one `data:` event per message.
const EVENTS_FRAMING: Framing = Framing::Text(text_stream::EVENTS);

/// How a REST server stream is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamStyle {
    /// Newline-delimited JSON.
    Lines,
    /// Server-sent events.
    Events,
}

/// REST, as the server speaks it: unary calls, and server streams as newline-delimited JSON.
pub(crate) static LINES: Rest = Rest {
    style: StreamStyle::Lines,
};

/// REST server streams as server-sent events.
static EVENTS: Rest = Rest {
    style: StreamStyle::Events,
};

/// REST on the server (see the module docs); one value per way of writing a stream.
pub(crate) struct Rest {
    style: StreamStyle,
}

impl Rest {
    /// The call's own state: its match and what its response learned.
    fn call(format: &ResponseFormat) -> Option<&RestCall> {
        format.state.as_deref()?.downcast_ref::<RestCall>()
    }
}

impl ServerProtocol for Rest {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::REST
    }

    fn routed_here(&self, request: &http::request::Parts) -> bool {
        request.extensions.get::<RestMatch>().is_some()
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        let matched = request.extensions.get::<RestMatch>()?;
        if !Bindings::serves(spec.stream_type) {
            let error = Error::new(
                Code::Unimplemented,
                format!(
                    "{} is bound to {}, but REST serves unary and server-streaming methods only, \
                     and it is {:?}",
                    spec.path, matched.binding.rule, spec.stream_type
                ),
            );
            return Some(Err(error_response(&error, &[])));
        }
        let streaming = spec.stream_type.server_streams();
        let events = streaming && text_stream::accepts(&request.headers, text_stream::EVENTS_TYPE);
        let (protocol, framing, content_type): (&'static Rest, Framing, &'static str) =
            match (streaming, events) {
                (false, _) => (&LINES, Framing::Unframed, "application/json"),
                (true, false) => (&LINES, LINES_FRAMING, text_stream::LINES_TYPE),
                (true, true) => (&EVENTS, EVENTS_FRAMING, text_stream::EVENTS_TYPE),
            };
        let call = Arc::new(RestCall {
            binding: matched.binding.clone(),
            captures: matched.captures.clone(),
            query: request.uri.query().map(str::to_string),
            content_type: header(&request.headers, http::header::CONTENT_TYPE).map(str::to_string),
            streaming,
            raw_content_type: Mutex::new(None),
        });
        let state: Arc<dyn Any + Send + Sync> = call.clone();
        let codec: Arc<dyn Codec> = call;
        Some(Ok(Proposal {
            protocol,
            framing,
            codec: Cow::Borrowed("json"),
            response_codec: None,
            own_codec: Some(codec),
            state: Some(state),
            content_type: HeaderValue::from_static(content_type),
            encoding: header(&request.headers, http::header::CONTENT_ENCODING).map(Cow::Borrowed),
            // A stream is compressed as a whole body, in gzip only (see `text_stream.rs`).
            accept_encoding: if streaming {
                text_stream::accepted_encoding(&request.headers)
            } else {
                header(&request.headers, http::header::ACCEPT_ENCODING)
            },
            timeout: header(&request.headers, "grpc-timeout")
                .map(crate::protocol::grpc::parse_timeout),
            get_message: None,
        }))
    }

    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        let streaming = format.framing != Framing::Unframed;
        text_stream::response_headers(format, compressed, streaming, headers);
    }

    /// The message (or its `response_body` field) is the body, a raw `HttpBody` with its own content
    /// type; trailers join the headers. A GET whose `If-None-Match` names the response's `ETag` is
    /// answered 304 Not Modified.
    fn unary_response(&self, format: &ResponseFormat, reply: UnaryReply) -> http::Response<Body> {
        let mut response = http::Response::new(Body::full(reply.payload));
        let headers = response.headers_mut();
        append_metadata(headers, &reply.headers);
        self.response_headers(format, reply.compressed, headers);
        let raw_content_type = Rest::call(format)
            .filter(|call| call.binding.raw_response())
            .map(|call| {
                call.raw_content_type
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            });
        if let Some(content_type) = raw_content_type {
            headers.insert(http::header::CONTENT_TYPE, content_type);
        }
        append_metadata(headers, &reply.trailers);
        conditional::answer_not_modified(format.if_none_match.as_ref(), &mut response);
        response
    }

    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        match Rest::call(format) {
            Some(call) => {
                let messages = &call.binding.messages;
                let pools = [
                    messages.request.parent_pool(),
                    messages.response.parent_pool(),
                ];
                error_response(error, &pools)
            }
            None => error_response(error, &[]),
        }
    }

    fn end_stream(
        &self,
        error: Option<&Error>,
        _trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        let status = error.map(|error| {
            serde_json::to_vec(&status::status_json(error, &[]))
                .map_err(|e| Error::internal(format!("cannot encode the error: {e}")))
        });
        match (self.style, status.transpose()?) {
            (StreamStyle::Lines, Some(status)) => text_stream::write_error_line(&status, batch),
            (StreamStyle::Lines, None) => {}
            (StreamStyle::Events, Some(status)) => {
                text_stream::write_event("error", &status, batch)
            }
            (StreamStyle::Events, None) => text_stream::write_event("end", b"{}", batch),
        }
        Ok(StreamEnd::InBody)
    }
}
