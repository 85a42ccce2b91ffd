//! The verified certificate chain of a TLS client, as handlers see it through the call context.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// The certificates a TLS client presented and the server verified, leaf first.
///
/// `Server::tls` (with the `tls` feature) adds this to the extensions of every request on a connection
/// whose client sent a certificate; [`CallContext::peer_certificates`](crate::CallContext::peer_certificates)
/// reads it. A custom accept loop that terminates TLS itself can insert it too, with or without the
/// feature. Cloning is cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificates(Arc<[CertificateDer<'static>]>);

impl PeerCertificates {
    /// Wraps a verified certificate chain, leaf first.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Self {
        Self(chain.into())
    }

    /// The chain, leaf first.
    pub fn as_slice(&self) -> &[CertificateDer<'static>] {
        &self.0
    }

    /// The client's own (end-entity) certificate.
    pub fn leaf(&self) -> Option<&CertificateDer<'static>> {
        self.0.first()
    }
}
