//! The protocols Trident speaks. Everything that differs between them (headers, how messages are framed,
//! how a call ends and how errors travel) lives under this module; the rest of the crate is shared.

pub(crate) mod client;
pub(crate) mod connect;
pub(crate) mod grpc;
pub(crate) mod grpc_web;
pub(crate) mod grpc_web_text;

/// A wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ProtocolKind {
    /// The Connect protocol (unary over plain HTTP, streams with an end-stream message).
    #[default]
    Connect,
    /// gRPC over HTTP/2 with trailers.
    Grpc,
    /// gRPC-Web: gRPC with trailers in the body, usable from browsers. The server also accepts its text
    /// mode (`application/grpc-web-text`, base64 bodies, as grpc-web's JavaScript client sends by
    /// default) and answers in kind; Trident's client speaks the binary mode.
    GrpcWeb,
}

impl std::fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolKind::Connect => "connect",
            ProtocolKind::Grpc => "grpc",
            ProtocolKind::GrpcWeb => "grpc-web",
        })
    }
}
