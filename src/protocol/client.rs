//! The client side of the protocol seam: what a client call asks of the protocol it speaks, and the
//! helpers the protocols' client halves share.
//!
//! A client picks its [`ClientProtocol`] once, when it is built, from its [`ProtocolKind`]'s entry in
//! the registry ([`ProtocolKind::client`]); every call then asks that object whatever depends on the protocol: the
//! request headers and timeout header, whether the call is framed, whether a unary call may be a GET, what
//! the response head means, and how the response stream ends. The duplex call and the receivers in
//! `src/client/` never look at which protocol they speak.
//!
//! The seam is a trait of `&'static dyn` objects (one zero-sized struct per protocol) rather than an enum
//! with methods, so that a protocol's client behaviour sits in one place, at the end of that protocol's
//! file, next to its wire details: the protocol's `impl ClientProtocol` is the `client` of its registry
//! entry (see `mod.rs` for what adding a protocol takes). The methods are synchronous and see plain data (header maps, the
//! payload of a control frame), never the call, so each decision can be unit-tested on its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::compression::{Compression, CompressionRegistry};
use crate::envelope::Envelope;
use crate::method::StreamType;
use crate::protocol::ProtocolKind;
use crate::{Code, Error, Metadata};

/// Largest error body a client reads from a failed response whose error travels in the body.
pub(crate) const ERROR_BODY_MAX: usize = 64 * 1024;

/// Everything a client call needs from the protocol it speaks (see the module docs).
pub(crate) trait ClientProtocol: Send + Sync {
    /// Which protocol this is (for `Debug` output and error messages).
    fn kind(&self) -> ProtocolKind;

    /// Whether the protocol runs over HTTP/2 only (gRPC needs HTTP/2's trailers), so that a client
    /// configured for HTTP/1.1 is refused when it is built. Most protocols run over any version.
    fn requires_http2(&self) -> bool {
        false
    }

    /// Whether calls of `stream_type` need HTTP/2 (Triple's streams are gRPC), so that such a call on
    /// an HTTP/1.1 client fails at once with `unimplemented`. What [`requires_http2`] says unless a
    /// protocol says otherwise.
    ///
    /// [`requires_http2`]: Self::requires_http2
    fn requires_http2_for(&self, stream_type: StreamType) -> bool {
        let _ = stream_type;
        self.requires_http2()
    }

    /// Whether calls of `stream_type` send and receive one bare message (Connect unary) instead of
    /// enveloped messages and a protocol-specific ending. Enveloped unless a protocol says otherwise.
    fn is_unframed(&self, _stream_type: StreamType) -> bool {
        false
    }

    /// Writes the protocol's request headers (content type, compression headers, protocol markers) into
    /// `headers`, replacing any the user set under the same names.
    fn write_request_headers(&self, request: &RequestHeaders<'_>, headers: &mut HeaderMap);

    /// Sets the protocol's timeout header for a call of `stream_type` to `timeout`.
    fn write_timeout(&self, stream_type: StreamType, timeout: Duration, headers: &mut HeaderMap);

    /// Whether the protocol has a GET form for unary calls to methods without side effects (see
    /// [`get_request`](Self::get_request)).
    fn has_get(&self) -> bool {
        false
    }

    /// Rewrites an unframed unary POST head into a GET that carries `message` in its URL. `None` when
    /// the protocol has no GET form (the call then stays a POST).
    fn get_request(
        &self,
        _head: &mut http::request::Parts,
        _message: &GetMessage<'_>,
    ) -> Option<Result<(), Error>> {
        None
    }

    /// Judges the response head: the HTTP version, status, content type and encoding.
    fn validate_response(
        &self,
        call: &ResponseContext<'_>,
        head: &http::response::Parts,
    ) -> Verdict;

    /// Classifies one received envelope: a message, or the protocol's last frame (Connect's
    /// end-stream message, gRPC-Web's trailers), already turned into the stream's ending. `Err` is a
    /// malformed last frame.
    fn read_envelope(
        &self,
        envelope: Envelope,
        frames: &ControlFrames<'_>,
    ) -> Result<Received, Error>;

    /// The response body ended without a last frame: the stream's ending, from the HTTP trailers or a
    /// trailers-only head, or `Err` if the protocol needed a last frame.
    fn end_of_body(&self, end: &BodyEnd<'_>) -> Result<Ending, Error>;
}

/// What the request headers depend on besides the protocol.
#[derive(Debug)]
pub(crate) struct RequestHeaders<'a> {
    pub stream_type: StreamType,
    /// The codec's name (`proto`, `json`...).
    pub codec: &'a str,
    /// The encodings the client accepts, comma-separated (cached by the client's registry).
    pub accept_encoding: &'a HeaderValue,
    /// The encoding of the request's messages, if any.
    pub send_compression: Option<&'a str>,
}

/// A unary request's message, for a GET.
#[derive(Debug)]
pub(crate) struct GetMessage<'a> {
    /// The encoded message, compressed if `compression` is set.
    pub payload: &'a [u8],
    pub codec: &'a str,
    /// Whether the codec is text (JSON), which may travel unencoded in the query.
    pub text: bool,
    pub compression: Option<&'a str>,
}

/// What a response head is judged against.
pub(crate) struct ResponseContext<'a> {
    pub stream_type: StreamType,
    /// The codec the client asked for; the response must use it.
    pub codec: &'a str,
    /// The encodings the client accepts.
    pub compression: &'a CompressionRegistry,
    /// Whether the response body is known to have ended with the head (HTTP/2's END_STREAM on the
    /// HEADERS frame, an empty HTTP/1.1 body): a head that carries the call's status then is its end.
    pub body_ended: bool,
}

/// A response head the protocol accepted.
#[derive(Default)]
pub(crate) struct AcceptedHead {
    /// The headers as the caller sees them (without the protocol's own status entries).
    pub headers: Metadata,
    /// Trailers that travelled in the head (Connect unary's `trailer-` headers); empty otherwise.
    pub trailers: Metadata,
    /// Decompresses the response's messages.
    pub compression: Option<Arc<dyn Compression>>,
}

/// Turns the bytes of an error body into the call's error.
pub(crate) type ExplainBody = Box<dyn FnOnce(Bytes) -> Error + Send>;

/// What the protocol made of a response head.
pub(crate) enum Verdict {
    /// The response is what the call expects; its body is to be read.
    Accept(AcceptedHead),
    /// The call failed with this error.
    Reject(Error),
    /// The call failed, and the body says how: read at most `max` bytes of it and give them to
    /// `explain` (Connect unary's JSON error).
    ErrorInBody { max: usize, explain: ExplainBody },
}

/// What the protocol may need to read a control frame.
pub(crate) struct ControlFrames<'a> {
    /// The response's negotiated encoding.
    pub compression: Option<&'a Arc<dyn Compression>>,
    /// The largest decompressed payload accepted (0: no limit).
    pub read_max_bytes: usize,
}

impl ControlFrames<'_> {
    /// The payload of a control frame, decompressed if it is flagged compressed.
    pub fn payload(&self, envelope: Envelope) -> Result<Bytes, Error> {
        if !envelope.is_compressed() {
            return Ok(envelope.data);
        }
        let Some(compression) = self.compression else {
            return Err(Error::new(
                Code::Internal,
                "compressed control frame without a negotiated encoding",
            ));
        };
        let mut out = BytesMut::new();
        compression.decompress(&envelope.data, self.read_max_bytes, &mut out)?;
        Ok(out.freeze())
    }
}

/// One received envelope, classified.
pub(crate) enum Received {
    /// A message, to be decoded.
    Message(Envelope),
    /// The protocol's last frame; the body must end after it.
    End(Ending),
}

/// How a response stream ended.
#[derive(Debug)]
pub(crate) struct Ending {
    /// The trailers the server sent.
    pub trailers: Metadata,
    /// The call's error, if it failed.
    pub error: Option<Error>,
}

/// What is known when a response body ends.
pub(crate) struct BodyEnd<'a> {
    /// The response's HTTP headers (a trailers-only response carries its status there).
    pub http_headers: &'a HeaderMap,
    /// The HTTP trailers, if the body ended with some.
    pub http_trailers: Option<&'a HeaderMap>,
    /// Whether any message arrived before the end.
    pub received_message: bool,
}

/// Sets a request header, skipping values that are not valid header values.
/// `prefix` followed by `codec` (`application/grpc+` and `proto`), as a header value; the content types
/// of the codecs Trident ships are static, so the common calls allocate nothing for them.
pub(crate) fn codec_content_type(prefix: &str, codec: &str) -> Option<HeaderValue> {
    const KNOWN: [(&str, &str, &str); 8] = [
        ("application/", "proto", "application/proto"),
        ("application/", "json", "application/json"),
        ("application/connect+", "proto", "application/connect+proto"),
        ("application/connect+", "json", "application/connect+json"),
        ("application/grpc+", "proto", "application/grpc+proto"),
        ("application/grpc+", "json", "application/grpc+json"),
        (
            "application/grpc-web+",
            "proto",
            "application/grpc-web+proto",
        ),
        ("application/grpc-web+", "json", "application/grpc-web+json"),
    ];
    match KNOWN.iter().find(|(p, c, _)| *p == prefix && *c == codec) {
        Some((_, _, value)) => Some(HeaderValue::from_static(value)),
        None => HeaderValue::from_str(&format!("{prefix}{codec}")).ok(),
    }
}

/// Inserts `value` under `name`, unless it is not a valid header value.
pub(crate) fn insert(map: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        map.insert(name, value);
    }
}

/// Resolves the response's compression; a name the client never offered is a protocol error.
pub(crate) fn response_compression(
    registry: &CompressionRegistry,
    name: Option<&str>,
) -> Result<Option<Arc<dyn Compression>>, Error> {
    registry.resolve(name).map_err(|e| {
        Error::new(
            Code::Internal,
            format!(
                "server used an encoding the client does not accept: {}",
                e.message()
            ),
        )
    })
}

/// The error for a response whose HTTP status is not 200 and which says nothing better.
pub(crate) fn status_error(status: http::StatusCode) -> Error {
    Error::new(
        Code::from_http_status(status.as_u16()),
        format!("HTTP status {status}"),
    )
}

/// The error for a streaming response in the wrong content type: `internal` if it is the protocol's
/// family in another codec or mode, `unknown` if it is not the protocol at all.
pub(crate) fn stream_content_type_error(
    kind: ProtocolKind,
    content_type: Option<&str>,
    codec: &str,
    same_family: bool,
) -> Error {
    let code = if same_family {
        Code::Internal
    } else {
        Code::Unknown
    };
    Error::new(
        code,
        format!("invalid content-type {content_type:?} for a {kind} {codec} response"),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A response head with `status` and `headers`, over HTTP/2 unless `version` says otherwise.
    pub(crate) fn response(
        version: http::Version,
        status: u16,
        headers: &[(&'static str, &'static str)],
    ) -> http::response::Parts {
        let mut builder = http::Response::builder().status(status).version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    /// What a proto-codec call with the default compression registry expects.
    pub(crate) fn context(
        stream_type: StreamType,
        registry: &CompressionRegistry,
    ) -> ResponseContext<'_> {
        ResponseContext {
            stream_type,
            codec: "proto",
            compression: registry,
            body_ended: false,
        }
    }

    /// The accepted head, or a panic naming the verdict.
    pub(crate) fn accepted(verdict: Verdict) -> AcceptedHead {
        match verdict {
            Verdict::Accept(head) => head,
            Verdict::Reject(e) => panic!("rejected: {e:?}"),
            Verdict::ErrorInBody { .. } => panic!("error in body"),
        }
    }

    /// The rejection, or a panic.
    pub(crate) fn rejected(verdict: Verdict) -> Error {
        match verdict {
            Verdict::Reject(e) => e,
            Verdict::Accept(_) => panic!("accepted"),
            Verdict::ErrorInBody { .. } => panic!("error in body"),
        }
    }

    #[test]
    fn control_frames_decompress_only_when_flagged() {
        let gzip = CompressionRegistry::new().get("gzip").unwrap();
        let frames = ControlFrames {
            compression: Some(&gzip),
            read_max_bytes: 0,
        };
        let plain = Envelope {
            flags: 0x02,
            data: Bytes::from_static(b"{}"),
        };
        assert_eq!(frames.payload(plain).unwrap(), Bytes::from_static(b"{}"));
        let compressed = Envelope {
            flags: 0x03,
            data: crate::compression::checks::compress(gzip.as_ref(), b"{}").freeze(),
        };
        assert_eq!(
            frames.payload(compressed.clone()).unwrap(),
            Bytes::from_static(b"{}")
        );
        let without = ControlFrames {
            compression: None,
            read_max_bytes: 0,
        };
        assert_eq!(
            without.payload(compressed).unwrap_err().code(),
            Code::Internal
        );
    }
}
