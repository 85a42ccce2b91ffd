//! TLS and mutual TLS over real loopback servers: every stream type over HTTP/1.1 and HTTP/2 (chosen by
//! ALPN), client certificates required or optional (and what handlers see of them), wrong roots, failed
//! and slow handshakes, graceful shutdown, and configuration errors.
//!
//! Certificates are generated afresh by each test with `rcgen`; no key material is stored anywhere.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;
use trident::tls::TlsConfig;
use trident::tls::rustls::pki_types::pem::PemObject as _;
use trident::{Client, Code, Error, Request, Response, Router, Server, client::ClientBuilder};
use trident_tests::{
    Codec, EchoRequest, EchoResponse, EchoService, EchoServiceClient, Http, TestService,
    build_client, configure_builder, echo_service_routes, router, scenarios, text, within,
};

// ---------------------------------------------------------------------------------------------------
// Certificates

/// A certificate and its private key, both PEM.
struct Identity {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

/// A test CA and what it issued: a server certificate for `localhost` and `127.0.0.1`, and a client
/// certificate.
struct Pki {
    ca_pem: String,
    server: Identity,
    client: Identity,
}

fn key_usages_for_leaf(params: &mut CertificateParams, usage: ExtendedKeyUsagePurpose) {
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
}

impl Pki {
    /// A CA named after `name`, with a server certificate for `localhost` and `127.0.0.1`.
    fn new(name: &str) -> Self {
        Self::with_server_names(name, &["localhost", "127.0.0.1"])
    }

    /// A CA named after `name`, with a server certificate for `server_names`.
    fn with_server_names(name: &str, server_names: &[&str]) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut server_params = CertificateParams::new(
            server_names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
        .expect("server params");
        server_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} server"));
        key_usages_for_leaf(&mut server_params, ExtendedKeyUsagePurpose::ServerAuth);
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let client_key = KeyPair::generate().expect("client key");
        let mut client_params =
            CertificateParams::new(Vec::<String>::new()).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} client"));
        key_usages_for_leaf(&mut client_params, ExtendedKeyUsagePurpose::ClientAuth);
        let client_cert = client_params
            .signed_by(&client_key, &issuer)
            .expect("client certificate");

        Self {
            ca_pem: ca_cert.pem(),
            server: Identity {
                cert_pem: server_cert.pem(),
                key_pem: server_key.serialize_pem(),
                der: server_cert.der().to_vec(),
            },
            client: Identity {
                cert_pem: client_cert.pem(),
                key_pem: client_key.serialize_pem(),
                der: client_cert.der().to_vec(),
            },
        }
    }

    /// The server's TLS configuration without client certificates.
    fn server_tls(&self) -> TlsConfig {
        TlsConfig::from_pem(&self.server.cert_pem, &self.server.key_pem).expect("server TLS config")
    }

    /// The server's TLS configuration requiring (or, with `optional`, requesting) client certificates
    /// issued by this CA.
    fn server_mtls(&self, optional: bool) -> TlsConfig {
        TlsConfig::builder(&self.server.cert_pem, &self.server.key_pem)
            .client_ca_pem(&self.ca_pem)
            .client_auth_optional(optional)
            .build()
            .expect("server mTLS config")
    }

    /// A client builder for `url` trusting this CA.
    fn builder(&self, url: &str, http: Http) -> ClientBuilder {
        configure_builder(
            Client::builder(url).tls_root_certificates_pem(&self.ca_pem),
            Codec::Proto,
            http,
        )
    }

    /// Like [`builder`](Self::builder), presenting the client certificate.
    fn builder_with_identity(&self, url: &str, http: Http) -> ClientBuilder {
        self.builder(url, http)
            .tls_client_identity_pem(&self.client.cert_pem, &self.client.key_pem)
    }
}

// ---------------------------------------------------------------------------------------------------
// Servers

/// A TLS server on a loopback port; stopped when dropped.
struct TlsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsServer {
    async fn start(router: Router, tls: TlsConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            Server::new()
                .tls(tls)
                .serve(listener, router)
                .await
                .expect("the TLS server runs until aborted");
        });
        Self { addr, task }
    }

    /// `https://127.0.0.1:PORT`.
    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://localhost:PORT` (the certificate names both).
    fn localhost_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A service whose `Echo` reports the caller's TLS identity: `payload` is the leaf certificate's DER
/// (empty without one), `received` the length of the verified chain, `http_version` the HTTP version.
#[derive(Clone, Debug)]
struct WhoAmI;

impl EchoService for WhoAmI {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Error> {
        let context = request.context();
        let chain = context.peer_certificates().unwrap_or_default();
        Ok(Response::new(EchoResponse {
            text: request.message().text.clone(),
            payload: context
                .peer_certificate()
                .map(|leaf| leaf.as_ref().to_vec())
                .unwrap_or_default(),
            received: u32::try_from(chain.len()).expect("short chain"),
            http_version: context
                .http_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            ..Default::default()
        }))
    }
}

fn who_am_i_router() -> Router {
    Router::new().add(echo_service_routes(WhoAmI))
}

async fn who_am_i(client: &EchoServiceClient) -> Result<EchoResponse, Error> {
    within("identity call", client.echo(text("who am I?")))
        .await
        .map(Response::into_message)
}

fn version(http: Http) -> http::Version {
    match http {
        Http::H1 => http::Version::HTTP_11,
        Http::H2 => http::Version::HTTP_2,
    }
}

// ---------------------------------------------------------------------------------------------------
// Tests

/// Every stream type works over TLS, on HTTP/1.1 and HTTP/2 as ALPN negotiated them, with both the IP
/// address and the DNS name the certificate covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_type_over_tls_on_both_http_versions() {
    let pki = Pki::new("matrix");
    let server = TlsServer::start(router(TestService::new()), pki.server_tls()).await;
    for http in [Http::H1, Http::H2] {
        for url in [server.url(), server.localhost_url()] {
            let client = build_client(pki.builder(&url, http));
            scenarios::unary(&client, version(http)).await;
            scenarios::server_stream(&client, version(http)).await;
            scenarios::client_stream(&client, version(http)).await;
            scenarios::client_stream_empty(&client).await;
            if http == Http::H2 {
                scenarios::bidi(&client, version(http)).await;
            }
        }
    }
}

/// A balanced client dials its endpoints' addresses but names the base URL's host to TLS: a server
/// whose certificate names only `secure.test` is reached at 127.0.0.1, over both HTTP versions, with
/// mutual TLS; a base URL naming another host fails the handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balanced_endpoints_keep_the_base_urls_server_name() {
    let pki = Pki::with_server_names("balanced", &["secure.test"]);
    let server = TlsServer::start(who_am_i_router(), pki.server_mtls(false)).await;
    for http in [Http::H1, Http::H2] {
        let builder = pki
            .builder_with_identity(&format!("https://secure.test:{}", server.addr.port()), http)
            .endpoints([server.addr]);
        let answer = who_am_i(&build_client(builder)).await.expect("reached");
        assert_eq!(
            answer.payload, pki.client.der,
            "the client certificate went along"
        );
        assert_eq!(answer.http_version, format!("{:?}", version(http)));

        let wrong = pki
            .builder(
                &format!("https://elsewhere.test:{}", server.addr.port()),
                http,
            )
            .endpoints([server.addr]);
        let error = who_am_i(&build_client(wrong))
            .await
            .expect_err("the certificate does not name elsewhere.test");
        assert_eq!(error.code(), Code::Unavailable, "{error}");
    }
}

/// With client certificates required, a client without one is refused with `unavailable`; one with a
/// certificate from the trusted CA gets through, and the handler sees exactly that certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_required() {
    let pki = Pki::new("mtls");
    let server = TlsServer::start(who_am_i_router(), pki.server_mtls(false)).await;
    for http in [Http::H1, Http::H2] {
        let anonymous = build_client(pki.builder(&server.url(), http));
        let error = who_am_i(&anonymous)
            .await
            .expect_err("a client without a certificate is refused");
        assert_eq!(error.code(), Code::Unavailable, "{http:?}: {error}");

        let known = build_client(pki.builder_with_identity(&server.url(), http));
        let seen = who_am_i(&known).await.expect("a client with a certificate");
        assert_eq!(
            seen.payload, pki.client.der,
            "{http:?}: the handler sees the leaf"
        );
        assert_eq!(seen.received, 1, "{http:?}: the chain is the leaf alone");
        assert_eq!(seen.http_version, scenarios::version_name(version(http)));
        assert_eq!(seen.text, "who am I?");
    }
}

/// A client certificate from another CA is refused, even though the client trusts the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_rejects_a_certificate_from_another_ca() {
    let pki = Pki::new("trusted");
    let stranger = Pki::new("stranger");
    let server = TlsServer::start(who_am_i_router(), pki.server_mtls(false)).await;
    let client = build_client(
        pki.builder(&server.url(), Http::H2)
            .tls_client_identity_pem(&stranger.client.cert_pem, &stranger.client.key_pem),
    );
    let error = who_am_i(&client)
        .await
        .expect_err("an untrusted client certificate is refused");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
}

/// With client certificates optional, clients without one get through too; handlers tell them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_optional() {
    let pki = Pki::new("optional");
    let server = TlsServer::start(who_am_i_router(), pki.server_mtls(true)).await;
    for http in [Http::H1, Http::H2] {
        let anonymous = build_client(pki.builder(&server.url(), http));
        let seen = who_am_i(&anonymous).await.expect("anonymous clients pass");
        assert!(seen.payload.is_empty(), "{http:?}: no certificate to see");
        assert_eq!(seen.received, 0);

        let known = build_client(pki.builder_with_identity(&server.url(), http));
        let seen = who_am_i(&known).await.expect("a client with a certificate");
        assert_eq!(seen.payload, pki.client.der, "{http:?}");
    }
}

/// Without TLS (and over TLS without client certificates) handlers see no peer certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_peer_certificates_without_client_auth() {
    let pki = Pki::new("plain");
    let server = TlsServer::start(who_am_i_router(), pki.server_tls()).await;
    // The client offers its certificate, but the server never asks for it.
    let client = build_client(pki.builder_with_identity(&server.url(), Http::H2));
    let seen = who_am_i(&client).await.expect("TLS without client auth");
    assert!(seen.payload.is_empty());

    let (addr, task) = trident_tests::serve_router(who_am_i_router()).await;
    let client = build_client(configure_builder(
        Client::builder(format!("http://{addr}")),
        Codec::Proto,
        Http::H2,
    ));
    let seen = who_am_i(&client).await.expect("cleartext call");
    assert!(seen.payload.is_empty());
    assert_eq!(seen.received, 0);
    task.abort();
}

/// A server whose certificate does not chain to the client's roots: `unavailable`, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_root_is_unavailable() {
    let pki = Pki::new("server");
    let other = Pki::new("other");
    let server = TlsServer::start(who_am_i_router(), pki.server_tls()).await;
    for http in [Http::H1, Http::H2] {
        let client = build_client(other.builder(&server.url(), http));
        let error = who_am_i(&client)
            .await
            .expect_err("an untrusted server is refused");
        assert_eq!(error.code(), Code::Unavailable, "{http:?}: {error}");
        assert!(
            error.message().contains("certificate"),
            "{http:?}: the message says why: {error}"
        );
    }
    // The default roots (public CAs) do not trust a private CA either.
    let client = build_client(configure_builder(
        Client::builder(server.url()),
        Codec::Proto,
        Http::H1,
    ));
    let error = who_am_i(&client).await.expect_err("not a public CA");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
}

/// A server certificate that does not name the host the client dialled is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_name_is_unavailable() {
    let pki = Pki::with_server_names("names", &["localhost"]);
    let server = TlsServer::start(who_am_i_router(), pki.server_tls()).await;
    let client = build_client(pki.builder(&server.localhost_url(), Http::H1));
    who_am_i(&client).await.expect("localhost is covered");
    let client = build_client(pki.builder(&server.url(), Http::H1));
    let error = who_am_i(&client)
        .await
        .expect_err("127.0.0.1 is not covered");
    assert_eq!(error.code(), Code::Unavailable, "{error}");
    assert!(error.message().contains("certificate"), "{error}");
}

/// A hand-made rustls configuration is used as given, except that its ALPN follows the HTTP version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_client_config() {
    let pki = Pki::new("rustls");
    let server = TlsServer::start(who_am_i_router(), pki.server_mtls(false)).await;
    let mut roots = trident::tls::rustls::RootCertStore::empty();
    for cert in
        trident::tls::rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes())
    {
        roots.add(cert.expect("CA PEM")).expect("CA anchor");
    }
    let chain = vec![pki.client.der.clone().into()];
    let key = trident::tls::rustls::pki_types::PrivateKeyDer::from_pem_slice(
        pki.client.key_pem.as_bytes(),
    )
    .expect("client key");
    // A hand-made config picks its own provider; ring is deprecated in rustls 0.23.48 only for lacking
    // post-quantum key exchange, which this test does not need.
    #[allow(deprecated)]
    let ring = trident::tls::rustls::crypto::ring::default_provider();
    let mut config = trident::tls::rustls::ClientConfig::builder_with_provider(Arc::new(ring))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client identity");
    config.alpn_protocols = vec![b"spdy/3".to_vec()];
    for http in [Http::H1, Http::H2] {
        let client = build_client(configure_builder(
            Client::builder(server.url()).tls_config(config.clone()),
            Codec::Proto,
            http,
        ));
        let seen = who_am_i(&client).await.expect("hand-made config works");
        assert_eq!(seen.payload, pki.client.der);
        assert_eq!(seen.http_version, scenarios::version_name(version(http)));
    }
    let error = Client::builder(server.url())
        .tls_config(config)
        .tls_root_certificates_pem(&pki.ca_pem)
        .build()
        .expect_err("a hand-made config and PEM roots do not mix");
    assert!(error.message().contains("cannot be combined"), "{error}");
}

/// Garbage instead of a ClientHello, and a client that never completes its handshake, end only their
/// own connections: the slow one is closed after the handshake timeout, and calls keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_slow_handshakes_only_end_their_connection() {
    let pki = Pki::new("handshakes");
    let tls = pki
        .server_tls()
        .with_handshake_timeout(Duration::from_millis(300));
    let server = TlsServer::start(who_am_i_router(), tls).await;
    let client = build_client(pki.builder(&server.url(), Http::H2));

    // Plain HTTP sent to the TLS port.
    let mut garbage = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    garbage
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let closed = within("garbage connection closed", async {
        loop {
            match garbage.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                // rustls may answer with an alert first.
                Ok(_) => {}
            }
        }
    });
    closed.await;

    // A client that connects and says nothing.
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    who_am_i(&client)
        .await
        .expect("calls work while a handshake stalls");
    let started = tokio::time::Instant::now();
    let read = within("slow handshake closed", silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the server closes the stalled connection, read {read:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by the handshake timeout"
    );

    // A client that trusts another CA fails its handshake; others are unaffected.
    let other = Pki::new("other");
    let stranger = build_client(other.builder(&server.url(), Http::H1));
    who_am_i(&stranger).await.expect_err("untrusted server");
    who_am_i(&client).await.expect("the server still serves");
    let fresh = build_client(pki.builder(&server.url(), Http::H1));
    who_am_i(&fresh).await.expect("and accepts new connections");
}

/// A TLS server shut down gracefully returns once the signal fires and open connections are done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_over_tls() {
    let pki = Pki::new("shutdown");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::new()
            .tls(pki.server_tls())
            .serve(listener, who_am_i_router())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let client = build_client(pki.builder(&format!("https://{addr}"), Http::H2));
    who_am_i(&client).await.expect("served before shutdown");
    stop.send(()).expect("server is running");
    within("server stops", server)
        .await
        .expect("server task")
        .expect("the TLS server returns Ok");
}

/// TLS settings that cannot work fail `build` with `invalid_argument`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_configuration_errors() {
    let pki = Pki::new("config");
    let cases: Vec<(&str, ClientBuilder, &str)> = vec![
        (
            "TLS settings on a cleartext URL",
            Client::builder("http://127.0.0.1:1").tls_root_certificates_pem(&pki.ca_pem),
            "https://",
        ),
        (
            "garbage roots",
            Client::builder("https://127.0.0.1:1").tls_root_certificates_pem("not PEM"),
            "TLS root certificates",
        ),
        (
            "a key that does not match the certificate",
            Client::builder("https://127.0.0.1:1")
                .tls_client_identity_pem(&pki.client.cert_pem, &pki.server.key_pem),
            "client certificate chain and private key",
        ),
        (
            "a certificate instead of a key",
            Client::builder("https://127.0.0.1:1")
                .tls_client_identity_pem(&pki.client.cert_pem, &pki.client.cert_pem),
            "client private key",
        ),
        (
            "TLS settings with a custom transport",
            Client::builder("https://127.0.0.1:1")
                .transport(trident::client::boxed_transport(router(TestService::new())))
                .tls_root_certificates_pem(&pki.ca_pem),
            "custom",
        ),
    ];
    for (what, builder, needle) in cases {
        let error: trident::ConfigError = builder.build().expect_err(what);
        assert!(error.message().contains(needle), "{what}: {error}");
    }
    // Server-side PEM problems are reported the same way.
    let error =
        TlsConfig::from_pem(&pki.server.cert_pem, &pki.client.key_pem).expect_err("mismatch");
    assert!(
        error
            .message()
            .contains("server certificate chain and private key"),
        "{error}"
    );
}

/// A self-signed certificate shaped like `openssl req -x509` makes them: `CN=localhost`, marked as a
/// CA (`basicConstraints CA:TRUE`), and with subject alternative names only when asked for.
fn openssl_style(ca: bool, san: bool) -> Identity {
    let key = KeyPair::generate().expect("key");
    let names = if san {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        Vec::new()
    };
    let mut params = CertificateParams::new(names).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = if ca {
        IsCa::Ca(BasicConstraints::Unconstrained)
    } else {
        IsCa::ExplicitNoCa
    };
    let cert = params.self_signed(&key).expect("certificate");
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// What `openssl req -x509` makes by default fails with a message that says exactly what to change;
/// the certificate made as the guide says works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_certificates_made_with_openssl() {
    let cases = [
        // (CA:TRUE, subjectAltName, what the error must say)
        (true, false, Some("CA:FALSE")),
        (true, true, Some("CA:FALSE")),
        (false, false, Some("subjectAltName")),
        (false, true, None),
    ];
    for (ca, san, hint) in cases {
        let case = format!("CA:{ca}, SAN: {san}");
        let identity = openssl_style(ca, san);
        let tls = TlsConfig::from_pem(identity.cert_pem.as_bytes(), identity.key_pem.as_bytes())
            .expect("the server takes it");
        let server = TlsServer::start(who_am_i_router(), tls).await;
        let client = build_client(
            Client::builder(server.localhost_url())
                .tls_root_certificates_pem(identity.cert_pem.as_bytes()),
        );
        let result = who_am_i(&client).await;
        match hint {
            None => {
                result.unwrap_or_else(|e| panic!("{case}: {e}"));
            }
            Some(hint) => {
                let error = result.expect_err("refused");
                assert_eq!(error.code(), Code::Unavailable, "{case}: {error}");
                assert!(error.message().contains(hint), "{case}: {error}");
            }
        }
    }
}
