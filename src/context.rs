//! What a handler can learn about its call beyond the message: deadline, cancellation, peer, protocol.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::method::MethodSpec;
use crate::protocol::ProtocolKind;
use crate::server::ConnectionScope;
use crate::server_shutdown::{ServerShutdown, ShutdownSignals};
use crate::tls::PeerCertificates;

/// Per-call information: what server handlers and interceptors on both sides learn about a call beyond
/// its messages and headers.
///
/// On the server it is complete. On the client, interceptors see the method, protocol, HTTP version,
/// URI and deadline (no peer, and no cancellation: a client call is cancelled by dropping it); a request
/// a caller builds has an empty context. Cloning is cheap; clones observe the same cancellation.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    method: &'static MethodSpec,
    protocol: ProtocolKind,
    deadline: Option<Instant>,
    http_version: http::Version,
    http_method: http::Method,
    uri: http::Uri,
    peer_addr: Option<SocketAddr>,
    peer_certificates: Option<PeerCertificates>,
    server_shutdown: Option<ServerShutdown>,
    cancel: CancellationToken,
    /// The request's `Last-Event-ID`, when it sent one.
    last_event_id: Option<http::HeaderValue>,
}

impl CallContext {
    /// The context of a server call; `extensions` are the request's, where the server put the peer's
    /// address and certificates and its shutdown token.
    #[allow(clippy::too_many_arguments)] // One constructor, called once per call by the server.
    pub(crate) fn new(
        method: &'static MethodSpec,
        protocol: ProtocolKind,
        deadline: Option<Instant>,
        http_method: http::Method,
        uri: http::Uri,
        http_version: http::Version,
        extensions: &http::Extensions,
        cancel: CancellationToken,
        last_event_id: Option<http::HeaderValue>,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                method,
                protocol,
                deadline,
                http_version,
                http_method,
                uri,
                peer_addr: extensions.get::<SocketAddr>().copied(),
                peer_certificates: extensions.get::<PeerCertificates>().cloned(),
                server_shutdown: ConnectionScope::of(extensions)
                    .map(|scope| scope.shutdown.clone()),
                cancel,
                last_event_id,
            })),
        }
    }

    /// The context a client call shows its interceptors.
    pub(crate) fn client(
        method: &'static MethodSpec,
        protocol: ProtocolKind,
        deadline: Option<Instant>,
        http_method: http::Method,
        uri: http::Uri,
        http_version: http::Version,
    ) -> Self {
        // No peer, certificates or shutdown token: the client has no request extensions to read them
        // from. Nothing cancels the token (a client call is cancelled by dropping it), so every client
        // call shares one rather than allocating its own.
        static NEVER_CANCELLED: std::sync::OnceLock<CancellationToken> = std::sync::OnceLock::new();
        let extensions = http::Extensions::new();
        Self::new(
            method,
            protocol,
            deadline,
            http_method,
            uri,
            http_version,
            &extensions,
            NEVER_CANCELLED.get_or_init(CancellationToken::new).clone(),
            None,
        )
    }

    /// The method being called (`None` in an empty context).
    pub fn method(&self) -> Option<&'static MethodSpec> {
        self.inner.as_ref().map(|i| i.method)
    }

    /// The protocol the caller speaks (`None` in an empty context).
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
        self.inner.as_ref()?.peer_addr
    }

    fn peer_certificate_chain(&self) -> Option<&PeerCertificates> {
        self.inner.as_ref()?.peer_certificates.as_ref()
    }

    /// The certificate chain the client presented over TLS and the server verified, leaf first; `None`
    /// without TLS or when the client sent no certificate (see [`TlsConfigBuilder::client_ca_pem`]).
    ///
    /// [`TlsConfigBuilder::client_ca_pem`]: crate::tls::TlsConfigBuilder::client_ca_pem
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.peer_certificate_chain()
            .map(PeerCertificates::as_slice)
    }

    /// The client's own (leaf) certificate, in DER form: the first of
    /// [`peer_certificates`](Self::peer_certificates).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.peer_certificate_chain()
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

    /// The id of the last server-sent event the caller saw, from its `Last-Event-ID` header: a
    /// reconnecting `EventSource` sends it (see [`Response::with_event_ids`]), so a handler of a
    /// stream resumes after that event rather than from the start. `None` when the request has no
    /// such header, or one that is not text.
    ///
    /// [`Response::with_event_ids`]: crate::Response::with_event_ids
    pub fn last_event_id(&self) -> Option<&str> {
        self.inner
            .as_ref()?
            .last_event_id
            .as_ref()
            .and_then(|value| value.to_str().ok())
    }

    /// Whether the caller went away, the deadline passed, the response finished, or the server gave up on
    /// the call (its shutdown grace period ran out, see [`Server::grace_period`](crate::Server::grace_period)).
    pub fn is_canceled(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| {
            i.cancel.is_cancelled() || self.server_shutdown().is_some_and(|s| s.is_cancelled())
        })
    }

    /// Resolves when the caller goes away, the deadline passes, the call is otherwise over, or the server
    /// gives up on it at the end of a shutdown's grace period: select on it in long-running handlers
    /// (watches, long polls) to stop work nobody will read.
    ///
    /// Never resolves outside a server call.
    pub async fn canceled(&self) {
        let Some(inner) = &self.inner else {
            return std::future::pending().await;
        };
        match self.server_shutdown() {
            Some(shutdown) => tokio::select! {
                () = inner.cancel.cancelled() => {}
                () = shutdown.cancelled() => {}
            },
            None => inner.cancel.cancelled().await,
        }
    }

    /// Whether the server serving this call has begun a graceful shutdown (see
    /// [`draining`](Self::draining)).
    pub fn is_draining(&self) -> bool {
        self.shutdown_signals()
            .is_some_and(|s| s.draining.is_cancelled())
    }

    /// Resolves when the server serving this call begins a graceful shutdown, while the call still has
    /// the [grace period](crate::Server::grace_period) to finish: long-lived streams (watches,
    /// subscriptions) should then end, so that the server can stop before the grace runs out and their
    /// clients reconnect to another replica at once. Calls that would end soon anyway can ignore it.
    ///
    /// Never resolves outside a call served by a [`Server`](crate::Server).
    pub async fn draining(&self) {
        match self.shutdown_signals() {
            Some(signals) => signals.draining.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// The call's own cancellation token (a server call's; `None` outside one).
    pub(crate) fn call_token(&self) -> Option<&CancellationToken> {
        self.inner.as_ref().map(|i| &i.cancel)
    }

    /// The token the [`Server`](crate::Server) cancels when it stops serving the call's connection.
    fn server_shutdown(&self) -> Option<&CancellationToken> {
        self.shutdown_signals().map(|s| &s.stopped)
    }

    fn shutdown_signals(&self) -> Option<&ShutdownSignals> {
        Some(&self.inner.as_ref()?.server_shutdown.as_ref()?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::{Idempotency, StreamType};

    const SPEC: MethodSpec = MethodSpec {
        service: "t.v1.S",
        method: "M",
        path: "/t.v1.S/M",
        stream_type: StreamType::Unary,
        idempotency: Idempotency::Unknown,
    };

    fn context(extensions: http::Extensions, cancel: CancellationToken) -> CallContext {
        CallContext::new(
            &SPEC,
            ProtocolKind::GRPC,
            None,
            http::Method::POST,
            http::Uri::from_static("/t.v1.S/M"),
            http::Version::HTTP_2,
            &extensions,
            cancel,
            Some(http::HeaderValue::from_static("7")),
        )
    }

    #[test]
    fn the_last_event_id_comes_from_the_request() {
        let call = context(http::Extensions::new(), CancellationToken::new());
        assert_eq!(call.last_event_id(), Some("7"));
        assert_eq!(CallContext::default().last_event_id(), None);
    }

    #[tokio::test]
    async fn the_servers_shutdown_cancels_the_call_as_handlers_see_it() {
        let shutdown = CancellationToken::new();
        let draining = CancellationToken::new();
        let mut extensions = http::Extensions::new();
        let shutdown_signal = ServerShutdown::new(shutdown.clone(), draining.clone());
        let scope = ConnectionScope::new(shutdown_signal, 1024, None, None);
        extensions.insert(Arc::new(scope));
        extensions.insert(SocketAddr::from(([127, 0, 0, 1], 9)));
        let context = context(extensions, CancellationToken::new());
        assert!(!context.is_canceled());
        assert_eq!(
            context.peer_addr(),
            Some(SocketAddr::from(([127, 0, 0, 1], 9)))
        );

        let waiting = tokio::spawn({
            let context = context.clone();
            async move { context.canceled().await }
        });
        draining.cancel();
        assert!(context.is_draining(), "told of the shutdown");
        tokio::time::timeout(Duration::from_secs(5), context.draining())
            .await
            .expect("draining() resolves");
        assert!(
            !context.is_canceled(),
            "not cancelled until the grace is over"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("cancelled() resolves")
            .expect("task");
        assert!(context.is_canceled());
    }

    #[tokio::test]
    async fn without_a_server_only_the_call_cancels() {
        let cancel = CancellationToken::new();
        let context = context(http::Extensions::new(), cancel.clone());
        assert!(!context.is_canceled() && context.peer_addr().is_none());
        cancel.cancel();
        context.canceled().await;
        assert!(context.is_canceled());
        assert!(!CallContext::default().is_canceled());
    }
}
