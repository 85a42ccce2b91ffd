//! TLS: the server's configuration ([`TlsConfig`], with the `tls` feature), the certificates a client
//! presented ([`PeerCertificates`], as handlers see them), and the crates they are made of: [`rustls`]
//! for hand-made configurations and [`pki_types`] for certificate types.
//!
//! A client's TLS is set on its builder
//! ([`tls_root_certificates_pem`](crate::client::ClientBuilder::tls_root_certificates_pem) and the
//! options beside it); both sides use the application's process-wide rustls provider when one is
//! installed, and rustls' `ring` provider otherwise.

#[cfg(feature = "tls")]
mod shared;

#[cfg(feature = "tls")]
pub(crate) use shared::*;

pub use crate::peer_certificates::PeerCertificates;
#[cfg(feature = "tls")]
pub use crate::server::tls::{TlsConfig, TlsConfigBuilder};

/// The rustls crate Trident's TLS is built on, for hand-made configurations
/// ([`TlsConfig::from_rustls`], [`ClientBuilder::tls_config`](crate::client::ClientBuilder::tls_config))
/// and certificate types ([`rustls::pki_types::CertificateDer`]). Only with the `tls` feature (on by
/// default).
#[cfg(feature = "tls")]
pub use rustls;

/// Certificate types ([`pki_types::CertificateDer`], as
/// [`CallContext::peer_certificates`](crate::CallContext::peer_certificates) returns them), also
/// without the `tls` feature; the same crate as `rustls::pki_types`.
pub use rustls_pki_types as pki_types;
