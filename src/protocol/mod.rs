//! The protocols Trident speaks. Everything that differs between them (headers, how messages are framed,
//! how a call ends, how errors travel, what a protocol adds to routing) lives under this module; the
//! rest of the crate is shared and asks the registry below for whatever depends on the protocol.
//!
//! The registry is [`PROTOCOLS`]: one [`Protocol`] value per protocol, defined in that protocol's own
//! file, holding its facts (name, OpenTelemetry's `rpc.system`, how its codes travel) and its halves
//! (the [`ServerProtocol`], the [`ClientProtocol`], and any [`Routing`] it adds). Adding a protocol is:
//! - one new file (or folder) beside this one, with its `impl ServerProtocol`, `impl ClientProtocol`
//!   and its `pub(crate) const PROTOCOL: Protocol`;
//! - its registration: a `mod` line and its line in [`PROTOCOLS`], plus its variant of the public
//!   [`ProtocolKind`], the name users choose it by.
//!
//! No `match` on [`ProtocolKind`] exists outside the protocol files: the rest of the crate reads the
//! facts through [`ProtocolKind::protocol`].

pub(crate) mod client;
mod conditional;
pub(crate) mod connect;
mod connect_get;
mod connect_json;
pub(crate) mod grpc;
pub(crate) mod grpc_web;
pub(crate) mod grpc_web_text;
pub(crate) mod routing;
pub(crate) mod server;
pub(crate) mod triple;

use client::ClientProtocol;
use routing::Routing;
use server::ServerProtocol;

/// Every protocol, in the order the server asks them whether a request is theirs.
pub(crate) const PROTOCOLS: &[&Protocol] = &[
    &grpc::PROTOCOL,
    &grpc_web::PROTOCOL,
    // Before Connect: both take `application/proto` and `application/json`; Triple claims only
    // requests with a Triple header.
    &triple::PROTOCOL,
    &connect::PROTOCOL,
];

/// One protocol, as the registry lists it: the facts the rest of the crate asks of it, and its halves.
pub(crate) struct Protocol {
    /// The public name users choose it by.
    pub kind: ProtocolKind,
    /// Its name in logs and error messages (`ProtocolKind`'s `Display`).
    pub name: &'static str,
    /// OpenTelemetry's `rpc.system` for its calls, as the semantic conventions name it.
    // Read only by observability (`observe/`), which the `tracing` feature builds.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub rpc_system: &'static str,
    /// How its status codes travel, which decides OpenTelemetry's status attribute.
    // Read only by observability (`observe/`), which the `tracing` feature builds.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub codes: CodeStyle,
    /// The server half: which requests are its own, and how it answers them.
    pub server: &'static dyn ServerProtocol,
    /// The client half: how a call's request head is written and its response read.
    pub client: &'static dyn ClientProtocol,
    /// What it adds to routing (ways for a call to name one of several implementations of a
    /// service, other spellings of a path), if anything. It applies to calls of every protocol, as
    /// the headers it reads are plain request headers.
    pub routing: Option<&'static dyn Routing>,
}

/// How a protocol's status codes travel on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeStyle {
    /// As numbers, 0 for success (gRPC's `grpc-status`).
    Numbers,
    /// As names, only on errors (Connect's `"code": "not_found"`).
    Names,
}

impl ProtocolKind {
    /// This protocol's entry in the registry.
    pub(crate) fn protocol(self) -> &'static Protocol {
        PROTOCOLS
            .iter()
            .find(|protocol| protocol.kind == self)
            .expect("every ProtocolKind is registered in PROTOCOLS")
    }

    /// The client side of this protocol.
    pub(crate) fn client(self) -> &'static dyn ClientProtocol {
        self.protocol().client
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
    /// (which need HTTP/2). Pair it with the client's service group and version
    /// ([`TripleClientOptions`](crate::triple::TripleClientOptions)) to call Dubbo services.
    Triple,
}

impl std::fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.protocol().name)
    }
}

/// The value of header `name` in `headers`, if it is text.
pub(crate) fn header(
    headers: &http::HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY_KIND: [ProtocolKind; 4] = [
        ProtocolKind::Connect,
        ProtocolKind::Grpc,
        ProtocolKind::GrpcWeb,
        ProtocolKind::Triple,
    ];

    #[test]
    fn every_kind_is_registered_once_with_halves_of_its_own() {
        for kind in EVERY_KIND {
            let registered = PROTOCOLS.iter().filter(|p| p.kind == kind).count();
            assert_eq!(registered, 1, "{kind:?}");
            let protocol = kind.protocol();
            assert_eq!(protocol.client.kind(), kind);
            assert_eq!(protocol.server.kind(), kind);
        }
        assert_eq!(PROTOCOLS.len(), EVERY_KIND.len());
    }

    #[test]
    fn names_and_systems() {
        let facts = EVERY_KIND.map(|kind| (kind.to_string(), kind.protocol().rpc_system));
        assert_eq!(
            facts,
            [
                ("connect".to_string(), "connect_rpc"),
                ("grpc".to_string(), "grpc"),
                ("grpc-web".to_string(), "grpc"),
                ("triple".to_string(), "apache_dubbo"),
            ]
        );
    }
}
