//! The TLS pieces the server and the client share: the crypto provider, PEM parsing, root stores and
//! ALPN names.
//!
//! The crypto provider is the application's, as rustls asks of libraries: every rustls config
//! Trident builds uses the process-wide default provider when the application installed one
//! (`CryptoProvider::install_default`, say aws-lc-rs for its post-quantum key exchange), and rustls'
//! `ring` provider otherwise, which builds everywhere without a C toolchain beyond `cc`. Trident never
//! installs a process default itself.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ConfigError;

/// The ALPN protocol name of HTTP/2.
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// The ALPN protocol name of HTTP/1.1.
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The crypto provider a Trident TLS config uses: the application's process-wide default if it
/// installed one, else rustls' `ring` provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    if let Some(installed) = CryptoProvider::get_default() {
        return installed.clone();
    }
    static RING: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    RING.get_or_init(|| {
        // rustls 0.23.48 deprecates it for lacking post-quantum key exchange, pointing to aws-lc-rs;
        // an application that wants that installs aws-lc-rs as the process default, used above.
        #[allow(deprecated)]
        let ring = rustls::crypto::ring::default_provider();
        Arc::new(ring)
    })
    .clone()
}

/// Every `CERTIFICATE` block of `pem`, in order. Fails if there is none, or a block is malformed.
pub(crate) fn certificates_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::with_source(format!("{what}: invalid PEM: {e}"), e))?;
    if certificates.is_empty() {
        return Err(ConfigError::new(format!(
            "{what}: no CERTIFICATE block in the PEM data"
        )));
    }
    Ok(certificates)
}

/// The first private key of `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub(crate) fn private_key_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => ConfigError::new(format!(
            "{what}: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block in the PEM data"
        )),
        other => ConfigError::with_source(format!("{what}: invalid PEM: {other}"), other),
    })
}

/// A root store holding every certificate of `pem` as a trust anchor.
pub(crate) fn root_store_from_pem(pem: &[u8], what: &str) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    add_roots_from_pem(&mut roots, pem, what)?;
    Ok(roots)
}

/// Adds every certificate of `pem` to `roots` as a trust anchor.
pub(crate) fn add_roots_from_pem(
    roots: &mut RootCertStore,
    pem: &[u8],
    what: &str,
) -> Result<(), ConfigError> {
    for certificate in certificates_from_pem(pem, what)? {
        roots.add(certificate).map_err(|e| {
            ConfigError::with_source(format!("{what}: unusable trust anchor: {e}"), e)
        })?;
    }
    Ok(())
}

/// The public roots clients trust by default: Mozilla's CA list, as compiled into `webpki-roots`.
pub(crate) fn default_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_process_default_provider_is_used() {
        // Installing one is for the whole process: ring, as Trident's own, so nothing else changes.
        #[allow(deprecated)]
        let installed = rustls::crypto::ring::default_provider();
        let _ = installed.install_default();
        let default = CryptoProvider::get_default().expect("a process default");
        assert!(Arc::ptr_eq(&provider(), default));
    }

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("self-signed");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn parses_certificates_and_keys() {
        let (cert, key) = self_signed();
        let chain = format!("{cert}{cert}");
        assert_eq!(
            certificates_from_pem(chain.as_bytes(), "chain")
                .expect("two certificates")
                .len(),
            2
        );
        private_key_from_pem(key.as_bytes(), "key").expect("PKCS#8 key");
        let roots = root_store_from_pem(cert.as_bytes(), "roots").expect("roots");
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn rejects_missing_or_malformed_pem() {
        let (cert, key) = self_signed();
        let error = certificates_from_pem(b"not pem at all", "server certificate").unwrap_err();
        assert!(
            error
                .message()
                .contains("server certificate: no CERTIFICATE"),
            "{error}"
        );
        // A key is not a certificate, and a certificate is not a key.
        assert!(certificates_from_pem(key.as_bytes(), "cert").is_err());
        let error = private_key_from_pem(cert.as_bytes(), "server key").unwrap_err();
        assert!(
            error.message().contains("server key: no PRIVATE KEY"),
            "{error}"
        );
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let error = certificates_from_pem(broken.as_bytes(), "cert").unwrap_err();
        assert!(error.message().contains("invalid PEM"), "{error}");
        assert!(std::error::Error::source(&error).is_some(), "{error:?}");
    }

    #[test]
    fn default_roots_are_not_empty() {
        assert!(!default_roots().is_empty());
    }
}
