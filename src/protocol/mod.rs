//! The protocols Trident speaks. Everything that differs between them (headers, how messages are framed,
//! how a call ends, how errors travel, what a protocol adds to routing) lives under this module; the
//! rest of the crate is shared and asks the registry below for whatever depends on the protocol.
//!
//! The registry is [`PROTOCOLS`]: one [`Protocol`] value per protocol, defined in that protocol's own
//! file, holding its facts (name, OpenTelemetry's `rpc.system`, how its codes travel) and its halves
//! (the [`ServerProtocol`], the [`ClientProtocol`], and any [`Routing`] it adds). Adding a protocol is:
//! - one new file (or folder) beside this one, declared with its `mod` line below. It holds its
//!   `impl ServerProtocol`, its `impl ClientProtocol`, its `pub(crate) const PROTOCOL: Protocol`, and
//!   the public name users choose it by: an associated constant of [`ProtocolKind`] (an inherent
//!   `impl ProtocolKind` block may live in any file of the crate, so the name sits with the protocol);
//! - one registration line: its entry in [`PROTOCOLS`].
//!
//! Nothing outside the protocol files names a protocol: [`ProtocolKind`] is a handle on a registry
//! entry, not an enum, so no `match` anywhere grows an arm, and the rest of the crate reads the facts
//! through the registry entry a [`ProtocolKind`] holds.

pub(crate) mod client;
mod conditional;
pub(crate) mod connect;
mod connect_get;
mod connect_json;
pub(crate) mod grpc;
pub(crate) mod grpc_web;
pub(crate) mod grpc_web_text;
pub(crate) mod push;
pub(crate) mod rest;
pub(crate) mod routing;
pub(crate) mod server;
pub(crate) mod text_stream;
pub(crate) mod triple;
pub(crate) mod websocket;

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
    // GETs of server-streaming methods that accept server-sent events or JSON lines.
    &push::SSE_PROTOCOL,
    &push::NDJSON_PROTOCOL,
    // Claims only the requests the router matched to one of its REST bindings.
    &rest::PROTOCOL,
    // Claims only the calls the WebSocket bridge runs (marked on their requests).
    &websocket::PROTOCOL,
];

/// One protocol, as the registry lists it: the facts the rest of the crate asks of it, and its halves.
pub(crate) struct Protocol {
    /// Its name in logs and error messages (`ProtocolKind`'s `Display`), unique in the registry.
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
    /// The client half: how a call's request head is written and its response read (`None`: a
    /// protocol Trident only serves).
    pub client: Option<&'static dyn ClientProtocol>,
    /// The request headers its browser clients send (and a CORS preflight must allow), beside
    /// `content-type` and the content codings every protocol shares.
    pub cors_request_headers: &'static [&'static str],
    /// The response headers its browser clients read (and CORS must expose to pages).
    pub cors_response_headers: &'static [&'static str],
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

/// A wire protocol: which one a client speaks, and which one a call arrived in.
///
/// The protocols are its associated constants: [`CONNECT`](Self::CONNECT) (the default),
/// [`GRPC`](Self::GRPC), [`GRPC_WEB`](Self::GRPC_WEB), [`TRIPLE`](Self::TRIPLE), and
/// [`REST`](Self::REST), [`SSE`](Self::SSE), [`NDJSON`](Self::NDJSON) and
/// [`WEBSOCKET`](Self::WEBSOCKET), which Trident serves but its client does not speak. It displays as
/// the protocol's name (`connect`, `grpc`, `grpc-web`, `triple`, `rest`, `sse`, `ndjson`,
/// `websocket`).
#[derive(Clone, Copy)]
pub struct ProtocolKind(pub(crate) &'static Protocol);

impl ProtocolKind {
    /// The client side of this protocol, if Trident's client speaks it.
    pub(crate) fn client(self) -> Option<&'static dyn ClientProtocol> {
        self.0.client
    }

    /// The protocol's name, as it displays.
    pub fn name(self) -> &'static str {
        self.0.name
    }
}

impl Default for ProtocolKind {
    /// Connect.
    fn default() -> Self {
        Self::CONNECT
    }
}

// Names are unique in the registry, so they identify a protocol (the address of a registry entry
// need not be unique: each use of a `const` may make its own copy).
impl PartialEq for ProtocolKind {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for ProtocolKind {}

impl std::hash::Hash for ProtocolKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state)
    }
}

impl std::fmt::Debug for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ProtocolKind").field(&self.0.name).finish()
    }
}

impl std::fmt::Display for ProtocolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
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

    const EVERY_KIND: [ProtocolKind; 8] = [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
        ProtocolKind::TRIPLE,
        ProtocolKind::REST,
        ProtocolKind::SSE,
        ProtocolKind::NDJSON,
        ProtocolKind::WEBSOCKET,
    ];

    #[test]
    fn every_kind_is_registered_once_with_halves_of_its_own() {
        for kind in EVERY_KIND {
            let registered = PROTOCOLS.iter().filter(|p| p.name == kind.name()).count();
            assert_eq!(registered, 1, "{kind:?}");
            let protocol = kind.0;
            if let Some(client) = protocol.client {
                assert_eq!(client.kind(), kind);
            }
            assert_eq!(protocol.server.kind(), kind);
        }
        assert_eq!(PROTOCOLS.len(), EVERY_KIND.len());
    }

    #[test]
    fn kinds_compare_hash_and_print_by_name() {
        use std::collections::HashSet;
        let kinds: HashSet<ProtocolKind> = EVERY_KIND.into_iter().collect();
        assert_eq!(kinds.len(), EVERY_KIND.len());
        assert!(kinds.contains(&ProtocolKind::GRPC_WEB));
        assert_ne!(ProtocolKind::GRPC, ProtocolKind::GRPC_WEB);
        assert_eq!(ProtocolKind::default(), ProtocolKind::CONNECT);
        assert_eq!(
            format!("{:?}", ProtocolKind::GRPC),
            r#"ProtocolKind("grpc")"#
        );
    }

    #[test]
    fn names_and_systems() {
        let facts = EVERY_KIND.map(|kind| (kind.to_string(), kind.0.rpc_system));
        assert_eq!(
            facts,
            [
                ("connect".to_string(), "connect_rpc"),
                ("grpc".to_string(), "grpc"),
                ("grpc-web".to_string(), "grpc"),
                ("triple".to_string(), "apache_dubbo"),
                ("rest".to_string(), "rest"),
                ("sse".to_string(), "connect_rpc"),
                ("ndjson".to_string(), "connect_rpc"),
                ("websocket".to_string(), "connect_rpc"),
            ]
        );
    }
}
