//! What a handler can learn about its call beyond the message: deadline, cancellation, peer, protocol.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::method::MethodSpec;
use crate::protocol::ProtocolKind;
use crate::server::PeerCertificates;

/// Per-call information handed to server handlers (and empty on client-side requests).
///
/// Cloning is cheap; clones observe the same cancellation.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    method: &'static MethodSpec,
    protocol: ProtocolKind,
    deadline: Option<Instant>,
    peer_addr: Option<SocketAddr>,
    http_version: http::Version,
    http_method: http::Method,
    uri: http::Uri,
    peer_certificates: Option<PeerCertificates>,
    cancel: CancellationToken,
}

impl CallContext {
    pub(crate) fn new(
        method: &'static MethodSpec,
        protocol: ProtocolKind,
        deadline: Option<Instant>,
        peer_addr: Option<SocketAddr>,
        request: &http::request::Parts,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                method,
                protocol,
                deadline,
                peer_addr,
                http_version: request.version,
                http_method: request.method.clone(),
                uri: request.uri.clone(),
                // Inserted by `Server` over TLS when the client presented a verified certificate.
                peer_certificates: request.extensions.get::<PeerCertificates>().cloned(),
                cancel,
            })),
        }
    }

    /// The method being called (`None` outside a server call).
    pub fn method(&self) -> Option<&'static MethodSpec> {
        self.inner.as_ref().map(|i| i.method)
    }

    /// The protocol the caller speaks (`None` outside a server call).
    pub fn protocol(&self) -> Option<ProtocolKind> {
        self.inner.as_ref().map(|i| i.protocol)
    }

    /// When the call must be finished, from the caller's timeout header.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.as_ref().and_then(|i| i.deadline)
    }

    /// Time left before the deadline (zero once it has passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The caller's address, when the server knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.as_ref().and_then(|i| i.peer_addr)
    }

    /// The certificate chain the client presented over TLS and the server verified, leaf first; `None`
    /// without TLS or when the client sent no certificate (see [`TlsConfigBuilder::client_ca_pem`]).
    ///
    /// [`TlsConfigBuilder::client_ca_pem`]: crate::server::TlsConfigBuilder::client_ca_pem
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner
            .as_ref()
            .and_then(|i| i.peer_certificates.as_ref())
            .map(PeerCertificates::as_slice)
    }

    /// The client's own (leaf) certificate, in DER form: the first of
    /// [`peer_certificates`](Self::peer_certificates).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.inner
            .as_ref()
            .and_then(|i| i.peer_certificates.as_ref())
            .and_then(PeerCertificates::leaf)
    }

    /// The HTTP version of the request.
    pub fn http_version(&self) -> Option<http::Version> {
        self.inner.as_ref().map(|i| i.http_version)
    }

    /// The HTTP method of the request (`POST`, or `GET` for Connect GET calls).
    pub fn http_method(&self) -> Option<&http::Method> {
        self.inner.as_ref().map(|i| &i.http_method)
    }

    /// The request's URI (path and, for Connect GET calls, the query).
    pub fn uri(&self) -> Option<&http::Uri> {
        self.inner.as_ref().map(|i| &i.uri)
    }

    /// Whether the caller went away, the deadline passed or the response finished.
    pub fn is_cancelled(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.cancel.is_cancelled())
    }

    /// Resolves when the caller goes away, the deadline passes or the call is otherwise over: select on it
    /// in long-running handlers (watches, long polls) to stop work nobody will read.
    ///
    /// Never resolves outside a server call.
    pub async fn cancelled(&self) {
        match &self.inner {
            Some(inner) => inner.cancel.cancelled().await,
            None => std::future::pending().await,
        }
    }
}
