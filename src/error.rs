//! The one error type every call returns: a code, a message, typed details, headers and trailers.

use std::fmt;

use bytes::Bytes;

use crate::{Code, Metadata};

/// The error of an RPC, on either side.
///
/// Carries a [`Code`], a human-readable message, typed details (protobuf messages, as in
/// `google.rpc.Status`), and headers and trailers (that came with the error on the client side, or that
/// should go out with it on the server side).
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    code: Code,
    message: String,
    details: Vec<ErrorDetail>,
    headers: Metadata,
    trailers: Metadata,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// What a protocol attaches to the error for its own wire form (a typed marker only that
    /// protocol's writers and readers know); empty for most errors.
    extensions: http::Extensions,
    /// What the client knows of whether the server saw the call (set by client transports).
    delivery: Delivery,
}

/// What a client knows of whether a failed call reached the server: the basis of its decision to
/// send the call again (see `client/retry.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Delivery {
    /// The call may have reached a handler.
    #[default]
    Unknown,
    /// The server refused the request before processing it: HTTP/2's REFUSED_STREAM, a GOAWAY whose
    /// last stream id lies below the call's, HTTP/3's H3_REQUEST_REJECTED.
    Refused,
    /// No connection to the server could be made; nothing was sent.
    NotConnected,
}

/// One typed error detail: a protobuf message's fully-qualified type name and its binary encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorDetail {
    type_name: String,
    value: Bytes,
    debug: Option<serde_json::Value>,
}

impl Error {
    /// A new error with the given code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                code,
                message: message.into(),
                details: Vec::new(),
                headers: Metadata::new(),
                trailers: Metadata::new(),
                source: None,
                extensions: http::Extensions::new(),
                delivery: Delivery::Unknown,
            }),
        }
    }

    /// A new error that keeps `source` as its cause.
    pub fn with_source(
        code: Code,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        let mut error = Self::new(code, message);
        error.inner.source = Some(source.into());
        error
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.inner.code
    }

    /// The message, possibly empty.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The typed details, in order.
    pub fn details(&self) -> &[ErrorDetail] {
        &self.inner.details
    }

    /// Headers carried with the error: on the client, the response headers that came with it; on the
    /// server, headers to send with it.
    pub fn headers(&self) -> &Metadata {
        &self.inner.headers
    }

    /// Headers carried with the error, mutably.
    pub fn headers_mut(&mut self) -> &mut Metadata {
        &mut self.inner.headers
    }

    /// Trailers carried with the error: on the client, the trailers that came with it; on the server,
    /// trailers to send with it.
    pub fn trailers(&self) -> &Metadata {
        &self.inner.trailers
    }

    /// Trailers carried with the error, mutably.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.inner.trailers
    }

    /// Adds a typed detail encoded from a protobuf message.
    pub fn with_detail<M: prost::Message + prost::Name>(mut self, detail: &M) -> Self {
        self.add_detail(ErrorDetail::from_message(detail));
        self
    }

    /// Adds an already-encoded detail.
    pub fn add_detail(&mut self, detail: ErrorDetail) {
        self.inner.details.push(detail);
    }

    /// Replaces the headers carried with the error.
    pub fn with_headers(mut self, headers: Metadata) -> Self {
        self.inner.headers = headers;
        self
    }

    /// Whether the code is [`Code::Canceled`].
    pub fn is_canceled(&self) -> bool {
        self.code() == Code::Canceled
    }

    /// Whether the code is [`Code::DeadlineExceeded`].
    pub fn is_deadline_exceeded(&self) -> bool {
        self.code() == Code::DeadlineExceeded
    }

    /// Whether the server provably never processed the call: no connection could be made, or the
    /// server refused the request before handing it to a handler (an HTTP/2 REFUSED_STREAM or a GOAWAY
    /// that left the call out, HTTP/3's H3_REQUEST_REJECTED). Such a call is safe to send again, even to
    /// a method with side effects; the client's [retries](crate::client::RetryPolicy) do so.
    pub fn is_unprocessed(&self) -> bool {
        self.inner.delivery != Delivery::Unknown
    }

    /// Whether the call failed because no connection could be made to the server.
    pub(crate) fn is_not_connected(&self) -> bool {
        self.inner.delivery == Delivery::NotConnected
    }

    /// The error, marked with what is known of the call's delivery.
    pub(crate) fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.inner.delivery = delivery;
        self
    }

    /// What protocols attached to the error for their own wire forms (see `protocol/`): typed
    /// markers, read only by the protocol that defines them.
    pub(crate) fn extensions(&self) -> &http::Extensions {
        &self.inner.extensions
    }

    /// What protocols attached to the error, mutably.
    pub(crate) fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.inner.extensions
    }

    /// Shorthand for an `internal` error.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("code", &self.inner.code)
            .field("message", &self.inner.message);
        if !self.inner.details.is_empty() {
            s.field("details", &self.inner.details);
        }
        if !self.inner.headers.is_empty() {
            s.field("headers", &self.inner.headers);
        }
        if !self.inner.trailers.is_empty() {
            s.field("trailers", &self.inner.trailers);
        }
        if let Some(source) = &self.inner.source {
            s.field("source", source);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.message.is_empty() {
            write!(f, "{}", self.inner.code)
        } else {
            write!(f, "{}: {}", self.inner.code, self.inner.message)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl Clone for Error {
    /// Clones code, message, details, headers, trailers and protocol extensions; the source is summarised into the message chain.
    fn clone(&self) -> Self {
        Self {
            inner: Box::new(Inner {
                code: self.inner.code,
                message: self.inner.message.clone(),
                details: self.inner.details.clone(),
                headers: self.inner.headers.clone(),
                trailers: self.inner.trailers.clone(),
                source: self.inner.source.as_ref().map(|s| s.to_string().into()),
                extensions: self.inner.extensions.clone(),
                delivery: self.inner.delivery,
            }),
        }
    }
}

impl ErrorDetail {
    /// A detail from a type name (fully qualified, without a `type.googleapis.com/` prefix) and the
    /// message's binary encoding.
    pub fn new(type_name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        let type_name = type_name.into();
        let type_name = match type_name.rsplit_once('/') {
            Some((_, name)) => name.to_string(),
            None => type_name,
        };
        Self {
            type_name,
            value: value.into(),
            debug: None,
        }
    }

    /// Encodes a protobuf message as a detail.
    pub fn from_message<M: prost::Message + prost::Name>(message: &M) -> Self {
        Self::new(M::full_name(), message.encode_to_vec())
    }

    /// Builds a detail from a `google.protobuf.Any`.
    pub fn from_any(any: &prost_types::Any) -> Self {
        Self::new(any.type_url.clone(), any.value.clone())
    }

    /// Converts to a `google.protobuf.Any` with the `type.googleapis.com/` prefix.
    pub fn to_any(&self) -> prost_types::Any {
        prost_types::Any {
            type_url: format!("type.googleapis.com/{}", self.type_name),
            value: self.value.to_vec(),
        }
    }

    /// Decodes the detail as `M`, failing if the type name does not match.
    pub fn decode<M: prost::Message + prost::Name + Default>(&self) -> Result<M, Error> {
        if self.type_name != M::full_name() {
            return Err(Error::internal(format!(
                "error detail is {}, not {}",
                self.type_name,
                M::full_name()
            )));
        }
        M::decode(self.value.clone())
            .map_err(|e| Error::with_source(Code::Internal, "cannot decode error detail", e))
    }

    /// The message's fully-qualified type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The message's binary encoding.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// A JSON rendering the peer sent for debugging, if any (Connect's `debug` field). Never trusted.
    pub fn debug(&self) -> Option<&serde_json::Value> {
        self.debug.as_ref()
    }

    /// Attaches a debugging rendering.
    pub fn with_debug(mut self, debug: serde_json::Value) -> Self {
        self.debug = Some(debug);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_through_any() {
        let ts = prost_types::Duration {
            seconds: 3,
            nanos: 0,
        };
        let err = Error::new(Code::Aborted, "try again").with_detail(&ts);
        assert_eq!(err.details()[0].type_name(), "google.protobuf.Duration");
        let any = err.details()[0].to_any();
        assert_eq!(any.type_url, "type.googleapis.com/google.protobuf.Duration");
        let back = ErrorDetail::from_any(&any);
        assert_eq!(back.decode::<prost_types::Duration>().unwrap(), ts);
        assert!(back.decode::<prost_types::Timestamp>().is_err());
        assert_eq!(err.to_string(), "aborted: try again");
    }
}
