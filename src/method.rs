//! Static descriptions of RPC methods: path, stream type and idempotency, as generated code declares them.

/// How many messages flow each way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// One request, one response.
    Unary,
    /// Many requests, one response.
    ClientStream,
    /// One request, many responses.
    ServerStream,
    /// Many requests, many responses, both open at once (needs HTTP/2).
    BidiStream,
}

impl StreamType {
    /// Whether the client sends a stream of requests.
    pub fn client_streams(self) -> bool {
        matches!(self, StreamType::ClientStream | StreamType::BidiStream)
    }

    /// Whether the server sends a stream of responses.
    pub fn server_streams(self) -> bool {
        matches!(self, StreamType::ServerStream | StreamType::BidiStream)
    }
}

/// The `idempotency_level` method option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Idempotency {
    /// Not declared.
    #[default]
    Unknown,
    /// The method has no side effects: safe to call with HTTP GET and to cache.
    NoSideEffects,
    /// The method may have side effects, but repeating it is harmless.
    Idempotent,
}

/// Everything the runtime needs to know about one method; generated code declares one constant per method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MethodSpec {
    /// Fully-qualified service name, such as `acme.greet.v1.GreetService`.
    pub service: &'static str,
    /// The method's name as written in the `.proto` file, such as `Greet`.
    pub method: &'static str,
    /// The HTTP path: `/acme.greet.v1.GreetService/Greet`.
    pub path: &'static str,
    /// The stream type.
    pub stream_type: StreamType,
    /// The declared idempotency.
    pub idempotency: Idempotency,
}
