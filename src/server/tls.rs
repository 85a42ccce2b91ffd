//! Serving over TLS (rustls), optionally requiring client certificates (mutual TLS).
//!
//! [`TlsConfig`] holds the server's certificate chain and key and, for mutual TLS, the CAs that client
//! certificates must chain to. [`Server::tls`](crate::Server::tls) serves the router over TLS with it;
//! ALPN offers `h2` and `http/1.1`, and each connection speaks the protocol ALPN settled on (or detects
//! it when the client sent no ALPN). A failed or slow handshake ends that connection only.
//!
//! Handlers see the client's verified certificates through
//! [`CallContext::peer_certificates`](crate::CallContext::peer_certificates).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use trident::tls::TlsConfig;
//!
//! // Mutual TLS: the server's chain and key, and the CA client certificates must chain to.
//! let tls = TlsConfig::builder(std::fs::read("server.pem")?, std::fs::read("server.key")?)
//!     .client_ca_pem(std::fs::read("client-ca.pem")?)
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let router = trident::Router::new(); // .add(greet_service_routes(MyGreeter))
//! tokio::spawn(trident::Server::new().tls(tls).serve(listener, router).into_future());
//!
//! // A client trusting the server's CA and presenting its own certificate.
//! let client = trident::Client::builder("https://localhost:8443")
//!     .http_version(trident::HttpVersion::Http2)
//!     .tls_root_certificates_pem(std::fs::read("server-ca.pem")?)
//!     .tls_client_identity_pem(std::fs::read("client.pem")?, std::fs::read("client.key")?)
//!     .build()?;
//! # let _ = client;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::ConfigError;
use crate::tls::PeerCertificates;
use crate::tls::{
    ALPN_H2, ALPN_HTTP1, add_roots_from_pem, certificates_from_pem, private_key_from_pem, provider,
};

/// What a TLS server needs: a rustls server configuration and a handshake timeout.
///
/// Build one from PEM data with [`TlsConfig::from_pem`] or [`TlsConfig::builder`] (for mutual TLS), or
/// wrap a hand-made rustls configuration with [`TlsConfig::from_rustls`]. Cloning is cheap.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    /// A secret derived from the private key, for HTTP/3's stateless resets (`None` for a hand-made
    /// rustls configuration).
    #[cfg(feature = "http3")]
    stateless_reset_seed: Option<[u8; 32]>,
}

impl TlsConfig {
    /// How long a client may take to complete the TLS handshake unless configured otherwise.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
}

impl TlsConfig {
    /// A configuration serving the PEM certificate chain `cert_chain_pem` (leaf first) with the PEM
    /// private key `key_pem` (PKCS#8, PKCS#1 or SEC1), without client certificates.
    ///
    /// Fails with a [`ConfigError`] if the PEM data is unusable or the key does not match.
    pub fn from_pem(
        cert_chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Result<Self, ConfigError> {
        Self::builder(cert_chain_pem, key_pem).build()
    }

    /// Starts a configuration with the PEM certificate chain (leaf first) and private key; add client
    /// certificate verification before [`build`](TlsConfigBuilder::build)ing it.
    pub fn builder(
        cert_chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> TlsConfigBuilder {
        TlsConfigBuilder {
            cert_chain_pem: cert_chain_pem.as_ref().to_vec(),
            key_pem: key_pem.as_ref().to_vec(),
            client_ca_pem: Vec::new(),
            client_auth_optional: false,
            handshake_timeout: TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Wraps a rustls server configuration made by hand (custom certificate resolvers, cipher suites,
    /// client verifiers...). If it sets no ALPN protocols, `h2` and `http/1.1` are offered.
    pub fn from_rustls(mut config: rustls::ServerConfig) -> Self {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        }
        Self {
            server: Arc::new(config),
            handshake_timeout: TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT,
            #[cfg(feature = "http3")]
            stateless_reset_seed: None,
        }
    }

    /// Sets how long a client may take to complete the handshake before its connection is closed
    /// (default [`TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The rustls server configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.server
    }

    /// The secret HTTP/3 derives its stateless-reset tokens from, when the configuration was built
    /// from PEM: the same for every process serving the same key, so that a restarted server's
    /// resets are believed by clients of the one before it (which then reconnect at once, instead
    /// of waiting out QUIC's idle timeout).
    #[cfg(feature = "http3")]
    pub(crate) fn stateless_reset_seed(&self) -> Option<&[u8; 32]> {
        self.stateless_reset_seed.as_ref()
    }
}

impl std::fmt::Debug for TlsConfig {
    /// Leaves out the stateless-reset secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server", &self.server)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsConfig`]; start with [`TlsConfig::builder`].
#[derive(Clone)]
pub struct TlsConfigBuilder {
    cert_chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    client_ca_pem: Vec<u8>,
    client_auth_optional: bool,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TlsConfigBuilder")
            .field("client_auth", &!self.client_ca_pem.is_empty())
            .field("client_auth_optional", &self.client_auth_optional)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsConfigBuilder {
    /// Requires clients to present a certificate that chains to one of the CA certificates in
    /// `client_ca_pem` (PEM, one or more); handshakes without one fail. May be called more than once to
    /// trust more CAs.
    pub fn client_ca_pem(mut self, client_ca_pem: impl AsRef<[u8]>) -> Self {
        let pem = client_ca_pem.as_ref();
        self.client_ca_pem.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            self.client_ca_pem.push(b'\n');
        }
        self
    }

    /// With [`client_ca_pem`](Self::client_ca_pem): requests a client certificate but also accepts
    /// clients without one (a certificate that is sent must still verify). Handlers tell the two apart
    /// with [`CallContext::peer_certificates`](crate::CallContext::peer_certificates).
    pub fn client_auth_optional(mut self, optional: bool) -> Self {
        self.client_auth_optional = optional;
        self
    }

    /// Sets how long a client may take to complete the handshake before its connection is closed
    /// (default [`TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Parses the PEM data and builds the configuration. Fails with a [`ConfigError`] if a certificate
    /// or the key is unusable, the key does not match the certificate, or client authentication is made
    /// optional without CAs to verify against.
    pub fn build(self) -> Result<TlsConfig, ConfigError> {
        let chain = certificates_from_pem(&self.cert_chain_pem, "server certificate chain")?;
        let key = private_key_from_pem(&self.key_pem, "server private key")?;
        #[cfg(feature = "http3")]
        let seed = stateless_reset_seed(key.secret_der());
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::with_source(format!("TLS protocol versions: {e}"), e))?;
        let builder = if self.client_ca_pem.is_empty() {
            if self.client_auth_optional {
                return Err(ConfigError::new(
                    "client_auth_optional needs client_ca_pem: the CAs to verify client certificates \
                     against",
                ));
            }
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            add_roots_from_pem(&mut roots, &self.client_ca_pem, "client CA certificates")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if self.client_auth_optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| {
                ConfigError::with_source(format!("client certificate verifier: {e}"), e)
            })?;
            builder.with_client_cert_verifier(verifier)
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            ConfigError::with_source(format!("server certificate chain and private key: {e}"), e)
        })?;
        #[allow(unused_mut)]
        let mut config =
            TlsConfig::from_rustls(config).with_handshake_timeout(self.handshake_timeout);
        #[cfg(feature = "http3")]
        {
            config.stateless_reset_seed = seed;
        }
        Ok(config)
    }
}

/// A secret derived from the server's private key, for HTTP/3's stateless-reset tokens: a SHA-256 of
/// a label and the key, so that it reveals nothing of the key.
#[cfg(feature = "http3")]
fn stateless_reset_seed(private_key: &[u8]) -> Option<[u8; 32]> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"trident: QUIC stateless reset key\0");
    context.update(private_key);
    context.finish().as_ref().try_into().ok()
}

/// A client's connection once its TLS handshake is done.
pub(super) struct Accepted {
    pub stream: TlsStream<TcpStream>,
    /// The client's verified certificate chain, if it sent one.
    pub certificates: Option<PeerCertificates>,
    /// The protocol ALPN settled on, if any.
    pub alpn: Option<Vec<u8>>,
}

impl TlsConfig {
    /// Runs the server side of the TLS handshake on `stream`; `None` if it fails or takes longer than
    /// the handshake timeout (the stream is then dropped, which closes the connection).
    pub(super) async fn accept(&self, stream: TcpStream) -> Option<Accepted> {
        let acceptor = TlsAcceptor::from(self.server.clone());
        let stream = tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream))
            .await
            .ok()?
            .ok()?;
        let session = stream.get_ref().1;
        let certificates = session
            .peer_certificates()
            .filter(|chain| !chain.is_empty())
            .map(|chain| PeerCertificates::new(chain.to_vec()));
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        Some(Accepted {
            stream,
            certificates,
            alpn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("self-signed");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn builds_from_pem_with_alpn() {
        let (cert, key) = self_signed("localhost");
        let config = TlsConfig::from_pem(&cert, &key).expect("config");
        assert_eq!(
            config.rustls_config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(
            config.handshake_timeout(),
            TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT
        );
        let (client_ca, _) = self_signed("client-ca");
        let config = TlsConfig::builder(&cert, &key)
            .client_ca_pem(&client_ca)
            .client_auth_optional(true)
            .handshake_timeout(Duration::from_secs(1))
            .build()
            .expect("mTLS config");
        assert_eq!(config.handshake_timeout(), Duration::from_secs(1));
    }

    #[test]
    fn rejects_bad_configurations() {
        let (cert, key) = self_signed("localhost");
        let (_, other_key) = self_signed("other");
        let mismatch = TlsConfig::from_pem(&cert, &other_key).unwrap_err();
        assert!(
            std::error::Error::source(&mismatch).is_some(),
            "{mismatch:?}"
        );
        assert!(
            mismatch
                .message()
                .contains("server certificate chain and private key"),
            "{mismatch}"
        );
        let no_key = TlsConfig::from_pem(&cert, &cert).unwrap_err();
        assert!(no_key.message().contains("server private key"), "{no_key}");
        let optional_without_ca = TlsConfig::builder(&cert, &key)
            .client_auth_optional(true)
            .build()
            .unwrap_err();
        assert!(
            optional_without_ca
                .message()
                .contains("needs client_ca_pem"),
            "{optional_without_ca}"
        );
        let bad_ca = TlsConfig::builder(&cert, &key)
            .client_ca_pem("garbage")
            .build()
            .unwrap_err();
        assert!(
            bad_ca.message().contains("client CA certificates"),
            "{bad_ca}"
        );
    }

    #[test]
    fn builder_debug_hides_the_key() {
        let (cert, key) = self_signed("localhost");
        let text = format!("{:?}", TlsConfig::builder(&cert, &key));
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
}
