//! What a client was configured with, shared by all its calls, and the request head every call starts
//! from (URI, the caller's headers, then whatever the protocol adds).

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, USER_AGENT};

use crate::client::retry::Retries;
use crate::client::transport::{Dispatch, HttpVersion};
use crate::codec::Codec;
use crate::compression::{Compression, CompressionRegistry};
use crate::interceptor::Chain;
use crate::method::{Idempotency, MethodSpec};
use crate::protocol::client::{ClientProtocol, RequestHeaders};
use crate::wire::{MessageReader, MessageWriter};
use crate::{CallContext, Code, Error, Metadata};

/// Everything a client was configured with; shared by its calls.
pub(crate) struct ClientConfig {
    pub base: String,
    /// The base URL's scheme and authority when it has no path prefix: then a method's URI is built
    /// from them and the method's static path, without formatting and parsing a string per call.
    pub origin: Option<(http::uri::Scheme, http::uri::Authority)>,
    pub transport: Dispatch,
    /// Everything that depends on the protocol.
    pub protocol: &'static dyn ClientProtocol,
    pub http_version: HttpVersion,
    pub codec: Arc<dyn Codec>,
    pub send_compression: Option<Arc<dyn Compression>>,
    pub compression: CompressionRegistry,
    pub compress_min_bytes: usize,
    pub read_max_bytes: usize,
    pub send_max_bytes: usize,
    pub use_get: bool,
    pub timeout: Option<Duration>,
    /// The interceptors every call goes through (possibly none).
    pub chain: Chain,
    /// Headers every call sends unless its own headers name them (set by protocols' client options).
    pub default_headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Retry policies (`None`: none set; calls then get only the transparent retry of unprocessed
    /// failures).
    pub retries: Option<Retries>,
}

impl ClientConfig {
    pub(crate) fn writer(&self) -> MessageWriter {
        MessageWriter {
            text_frame: None,
            codec: self.codec.clone(),
            compression: self.send_compression.clone(),
            compress_min_bytes: self.compress_min_bytes,
            send_max_bytes: self.send_max_bytes,
        }
    }

    pub(crate) fn reader(&self, compression: Option<Arc<dyn Compression>>) -> MessageReader {
        MessageReader {
            codec: self.codec.clone(),
            compression,
            read_max_bytes: self.read_max_bytes,
        }
    }

    /// The name of the request compression, if any.
    pub(crate) fn send_compression_name(&self) -> Option<&str> {
        self.send_compression.as_ref().map(|c| c.name())
    }

    /// The URI of `spec` on this client's base URL.
    pub(crate) fn uri(&self, spec: &MethodSpec) -> Result<http::Uri, Error> {
        if let Some((scheme, authority)) = &self.origin
            && is_plain_path(spec.path)
        {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(scheme.clone());
            parts.authority = Some(authority.clone());
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static(spec.path));
            return http::Uri::from_parts(parts)
                .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid request URI", e));
        }
        format!("{}{}", self.base, spec.path)
            .parse()
            .map_err(|e| Error::with_source(Code::InvalidArgument, "invalid request URI", e))
    }

    /// The URI of a call to `spec`: the one its `context` was made with (built once per call, when the
    /// context was), or, if that could not be built, the error building it gives.
    fn call_uri(&self, spec: &MethodSpec, context: &CallContext) -> Result<http::Uri, Error> {
        match context.uri().filter(|uri| uri.authority().is_some()) {
            Some(uri) => Ok(uri.clone()),
            None => self.uri(spec),
        }
    }

    /// Whether a unary call to `spec` goes out as a GET: asked for, allowed by the method, and
    /// possible in the protocol.
    pub(crate) fn uses_get(&self, spec: &MethodSpec) -> bool {
        self.use_get && spec.idempotency == Idempotency::NoSideEffects && self.protocol.has_get()
    }

    /// The request head for a POST to `spec` (GET heads are derived from it), carrying the caller's
    /// `extensions` for the transport's middleware; `send_compression` names the encoding of the
    /// request's messages, if any.
    pub(crate) fn request_head(
        &self,
        spec: &MethodSpec,
        context: &CallContext,
        headers: &Metadata,
        extensions: http::Extensions,
        timeout: Option<Duration>,
        send_compression: Option<&str>,
    ) -> Result<http::request::Parts, Error> {
        let uri = self.call_uri(spec, context)?;
        let mut request = http::Request::post(uri).body(()).map_err(|e| {
            Error::with_source(Code::InvalidArgument, "cannot build the request", e)
        })?;
        *request.version_mut() = self.http_version.as_http();
        *request.extensions_mut() = extensions;
        if self.http_version == HttpVersion::Http1
            && self.protocol.requires_http2_for(spec.stream_type)
        {
            return Err(Error::new(
                Code::Unimplemented,
                format!(
                    "{} streaming calls travel as gRPC, which requires HTTP/2, but this client uses \
                     HTTP/1.1",
                    self.protocol.kind(),
                ),
            ));
        }
        let map = request.headers_mut();
        for (name, value) in headers.as_header_map() {
            map.append(name.clone(), value.clone());
        }
        for (name, value) in &self.default_headers {
            if !map.contains_key(name) {
                map.insert(name.clone(), value.clone());
            }
        }
        let accept = self.compression.accept_header();
        let protocol_headers = RequestHeaders {
            stream_type: spec.stream_type,
            codec: self.codec.name(),
            accept_encoding: &accept,
            send_compression,
        };
        self.protocol.write_request_headers(&protocol_headers, map);
        if let Some(timeout) = timeout {
            self.protocol.write_timeout(spec.stream_type, timeout, map);
        }
        if !map.contains_key(USER_AGENT) {
            map.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("trident/", env!("CARGO_PKG_VERSION"))),
            );
        }
        Ok(request.into_parts().0)
    }
}

/// Whether `path` is a path the `http` crate takes as it is (what generated code writes:
/// `/package.Service/Method`), so that `PathAndQuery::from_static` cannot panic on it.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
}
