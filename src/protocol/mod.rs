//! The protocols Trident speaks. Everything that differs between them (headers, how messages are framed,
//! how a call ends and how errors travel) lives under this module; the rest of the crate is shared.

pub(crate) mod client;
mod conditional;
pub(crate) mod connect;
mod connect_get;
mod connect_json;
pub(crate) mod grpc;
pub(crate) mod grpc_web;
pub(crate) mod grpc_web_text;
pub(crate) mod server;
pub(crate) mod triple;

use client::ClientProtocol;
use server::ServerProtocol;

/// Every protocol the server speaks, asked in this order whether a request is theirs. Adding a protocol
/// is one file beside this one and one entry here.
pub(crate) const SERVER_PROTOCOLS: &[&dyn ServerProtocol] = &[
    &grpc::Grpc,
    &grpc_web::GrpcWeb { text: false },
    // Before Connect: both take `application/proto` and `application/json`; Triple claims only
    // requests with a Triple header.
    &triple::Triple,
    &connect::Connect,
];

impl ProtocolKind {
    /// The client side of this protocol. Registering a protocol's client is one line
    /// here.
    pub(crate) fn client(self) -> &'static dyn ClientProtocol {
        match self {
            ProtocolKind::Connect => &connect::ConnectClient,
            ProtocolKind::Grpc => &grpc::GrpcClient,
            ProtocolKind::GrpcWeb => &grpc_web::GrpcWebClient,
            ProtocolKind::Triple => &triple::TripleClient,
        }
    }
}

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
    /// Apache Dubbo's Triple, as dubbo-go speaks it: unary calls as a Connect-like request marked
    /// `Triple-Protocol-Version: 0.1.0` (with Triple's own HTTP statuses for errors), streams as gRPC
    /// (which need HTTP/2). Pair it with the client's service group and version to call Dubbo
    /// services.
    Triple,
}

impl std::fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolKind::Connect => "connect",
            ProtocolKind::Grpc => "grpc",
            ProtocolKind::GrpcWeb => "grpc-web",
            ProtocolKind::Triple => "triple",
        })
    }
}

/// The value of header `name` in `headers`, if it is text.
pub(crate) fn header(
    headers: &http::HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
