//! WebSocket: every call type (unary, client, server and bidi streams) over one WebSocket, so that a
//! browser, whose `fetch` is half-duplex, can run a bidi stream full duplex. It is Connect's streaming
//! protocol carried in WebSocket messages rather than in an HTTP body: the same envelopes, the same
//! end-stream message, the same headers. Served only: Trident's Rust client speaks HTTP/2 for bidi.
//!
//! # The wire contract
//!
//! **Opening.** The client opens a WebSocket to the method's path (`/pkg.Service/Method`): RFC 6455's
//! upgrade on HTTP/1.1 (a GET with `Upgrade: websocket`, `Sec-WebSocket-Key` and
//! `Sec-WebSocket-Version: 13`, answered `101 Switching Protocols`), or RFC 8441's extended CONNECT
//! on HTTP/2 (`:method CONNECT`, `:protocol websocket`, answered `200`; the server advertises
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`). HTTP/3's form (RFC 9220) is not served. The request must
//! offer one of the subprotocols ([`SUBPROTOCOLS`]) in `Sec-WebSocket-Protocol`:
//! `trident.connect.proto` or `trident.connect.json`. The subprotocol names the codec (a WebSocket
//! request has no content type a browser can set) and says that the messages inside are Connect's
//! streaming framing, so a peer that speaks something else is refused before it upgrades: a request
//! offering none of them is answered `400` with a plain-text reason, as is a malformed handshake
//! (`426` with `Sec-WebSocket-Version: 13` for another version). A browser's request is also checked
//! for its `Origin` (see [`WebSocketOptions`]): WebSocket is not subject to CORS, so without the check
//! any site could open a socket with the user's cookies; a refused origin is answered `403`. A path
//! that is no method is `404`, as for any protocol.
//!
//! **The client's head.** Browsers cannot set headers on a WebSocket, so the client's first message
//! is a TEXT message `{"headers": {"name": "value" or ["v1", "v2"], ...}}`: the call's request
//! metadata and Connect's own headers (`connect-timeout-ms`, `connect-content-encoding`,
//! `connect-accept-encoding`). The handler sees these beside the upgrade request's own headers
//! (cookies, `authorization`, `user-agent`, `origin`), less the handshake's (`sec-websocket-*`,
//! `upgrade`, `connection`); the head cannot name those, nor `content-type` (the subprotocol says it)
//! nor `host`. Other top-level fields are ignored, for later additions.
//!
//! **Messages.** Then each request message is one BINARY WebSocket message holding exactly one Connect
//! envelope: a flags byte (`0x01`: compressed with `connect-content-encoding`), a 4-byte big-endian
//! length, the payload. One envelope per message (rather than a byte stream cut anywhere) lets a
//! browser hand each message to its decoder as it arrives, and lets WebSocket's own message limit
//! bound each one. The client ends its request stream with an envelope flagged `0x02` and an empty
//! payload: WebSocket has no half-close that a browser can use (`close()` also stops receiving), and
//! `0x02` is Connect's end-of-stream flag already.
//!
//! **The server's answer.** First a TEXT message `{"headers": {"name": ["value", ...]}}` (the response
//! headers, values always in an array, as in Connect's end-stream metadata), then each response
//! message as one BINARY message holding one envelope, then Connect's end-stream envelope (flag
//! `0x02`, payload `{"error": ..., "metadata": trailers}`) as one binary message, then a Close with code
//! 1000. A call that fails before its first message (a bad timeout, an unknown encoding, the handler's
//! error) answers the same way, head then end-stream, so that a browser reads the code and message
//! of every RPC error from the end-stream, never from the close code.
//!
//! **Close codes** ([`close`]) say why a socket ended outside the contract; the call's own outcome is
//! always the end-stream message. The server closes with:
//! - 1000 (normal) after the end-stream message;
//! - 1001 (going away) when the server stops serving the call (the end of a shutdown's grace
//!   period; the call is `unavailable`), or when the peer stopped answering pings;
//! - 1002 (protocol error) when the peer breaks the contract: its first message is not a text head,
//!   a binary message is not exactly one envelope or has unknown flags, or it sends text or an
//!   envelope after ending its stream;
//! - 1007 (invalid payload) when the head is not the JSON above or names a header that cannot be
//!   one, or text is not UTF-8;
//! - 1009 (message too big) when a message is larger than the router's
//!   [`read_max_bytes`](crate::Router::read_max_bytes) plus the envelope's 5 bytes (the call ends with
//!   `resource_exhausted` in an end-stream first);
//! - 1011 (internal error) when the server fails outside the call (its response cannot be written).
//!
//! A client reading a close without an end-stream maps 1001 to `unavailable`, 1002 and 1007 to
//! `internal` (the client broke the contract), 1009 to `resource_exhausted`, 1011 to `internal`, and
//! a connection lost without a close (1006) to `unavailable`. The other way, any close the client
//! sends before the end-stream (or a connection that drops, or garbage) cancels the call: the
//! handler's context is cancelled, as when an HTTP/2 client resets its stream.
//!
//! **Liveness.** The server pings at an interval and closes (1001, cancelling the call) when nothing
//! (a pong or any other frame) arrives within a timeout after the ping; both are
//! [`WebSocketOptions`].
//!
//! **Memory.** The response is pumped into the socket one envelope at a time, only when the socket
//! can take one, and tungstenite's write buffer is small, so a peer that stops reading stops the
//! handler's stream from being polled and the connection's response budget holds, as for any stream.
//! Incoming messages are limited by `read_max_bytes` (tungstenite's message and frame limits), and the
//! socket is read only while the call can take another (one waits in the bridge; on HTTP/1.1 the
//! call reads up to four ahead of its handler, as it does for every HTTP/1.1 stream).
//!
//! Everything else is the single call path: the route's interceptors, negotiation (codec from the
//! subprotocol, compression and deadline from the head), deadlines, limits, panic recovery and
//! shutdown. A WebSocket call counts as a call in flight (`Server::max_calls_in_flight`, idle
//! timeouts) until its socket closes; on HTTP/1.1 it also keeps its connection's place under
//! `Server::max_connections`, and a graceful shutdown waits for it within the grace period, then
//! ends it with an `unavailable` end-stream and 1001. The bridge between socket and call is
//! `server/websocket.rs`.

pub(crate) mod close;
pub(crate) mod handshake;
pub(crate) mod head;
mod options;

use std::borrow::Cow;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue};

pub use options::WebSocketOptions;

use crate::body::Body;
use crate::method::MethodSpec;
use crate::protocol::connect::{
    Connect, STREAM_ACCEPT_ENCODING_HEADER, STREAM_ENCODING_HEADER, TIMEOUT_HEADER,
    end_stream_message, parse_timeout, stream_content_type,
};
use crate::protocol::server::{
    Framing, Proposal, ResponseFormat, ServerProtocol, StreamEnd, append_metadata, set_encoding,
};
use crate::protocol::{CodeStyle, Protocol, ProtocolKind, header};
use crate::{Error, Metadata};

/// The subprotocols the server accepts, each with the codec it names, in the server's order.
pub(crate) const SUBPROTOCOLS: [(&str, &str); 2] = [
    ("trident.connect.proto", "proto"),
    ("trident.connect.json", "json"),
];

/// WebSocket in the registry. Its codes travel as Connect's, by name.
pub(crate) const PROTOCOL: Protocol = Protocol {
    name: "websocket",
    rpc_system: "connect_rpc",
    codes: CodeStyle::Names,
    server: &WebSocket,
    client: None,
    // WebSocket is not subject to CORS: its headers travel in the head message.
    cors_request_headers: &[],
    cors_response_headers: &[],
    routing: None,
};

impl ProtocolKind {
    /// Connect's streaming protocol over a WebSocket, for every call type (see
    /// [`WebSocketOptions`](crate::websocket::WebSocketOptions) and the guide). Served only: Trident's
    /// client does not speak it.
    pub const WEBSOCKET: ProtocolKind = ProtocolKind(&PROTOCOL);
}

/// What the WebSocket bridge marks on the request of a call it runs: the codec its subprotocol
/// names. Only requests so marked are WebSocket calls.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WebSocketCall {
    pub codec: &'static str,
}

/// WebSocket on the server (see the module docs).
pub(crate) struct WebSocket;

impl ServerProtocol for WebSocket {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::WEBSOCKET
    }

    fn routed_here(&self, request: &http::request::Parts) -> bool {
        request.extensions.get::<WebSocketCall>().is_some()
    }

    fn propose<'a>(
        &'static self,
        request: &'a http::request::Parts,
        _spec: &MethodSpec,
    ) -> Option<Result<Proposal<'a>, http::Response<Body>>> {
        let call = request.extensions.get::<WebSocketCall>()?;
        Some(Ok(Proposal {
            protocol: self,
            framing: Framing::Enveloped,
            codec: Cow::Borrowed(call.codec),
            response_codec: None,
            own_codec: None,
            state: None,
            content_type: HeaderValue::from_str(&stream_content_type(call.codec))
                .unwrap_or_else(|_| HeaderValue::from_static("")),
            encoding: header(&request.headers, STREAM_ENCODING_HEADER).map(Cow::Borrowed),
            accept_encoding: header(&request.headers, STREAM_ACCEPT_ENCODING_HEADER),
            timeout: header(&request.headers, TIMEOUT_HEADER).map(parse_timeout),
            get_message: None,
        }))
    }

    /// Connect's streaming headers, less the content type (the subprotocol says it).
    fn response_headers(&self, format: &ResponseFormat, compressed: bool, headers: &mut HeaderMap) {
        if compressed {
            set_encoding(
                headers,
                STREAM_ENCODING_HEADER,
                format.writer.compression.as_ref(),
            );
        }
        headers.insert(
            STREAM_ACCEPT_ENCODING_HEADER,
            format.accept_encoding.clone(),
        );
    }

    /// As a Connect stream: the error's headers, then an end-stream message with the error.
    fn error_response(&self, format: &ResponseFormat, error: &Error) -> http::Response<Body> {
        let mut response = http::Response::new(Body::empty());
        let headers = response.headers_mut();
        append_metadata(headers, error.headers());
        self.response_headers(format, false, headers);
        *response.body_mut() = Body::full(end_stream_message(error));
        response
    }

    /// Connect's end-stream message, as Connect writes it.
    fn end_stream(
        &self,
        error: Option<&Error>,
        trailers: &Metadata,
        batch: &mut BytesMut,
    ) -> Result<StreamEnd, Error> {
        Connect.end_stream(error, trailers, batch)
    }
}
