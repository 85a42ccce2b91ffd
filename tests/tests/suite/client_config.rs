//! `ClientBuilder::build` refuses configurations that cannot work with a `ConfigError` naming the problem,
//! before any call is made (TLS material has its own cases in tls.rs).

use trident::{Client, ConfigError, HttpVersion, ProtocolKind, compression::CompressionRegistry};

fn build_error(builder: trident::client::ClientBuilder) -> ConfigError {
    match builder.build() {
        Ok(client) => panic!("expected a configuration error, built {client:?}"),
        Err(error) => error,
    }
}

#[test]
fn base_url_must_parse_and_name_a_host() {
    let error = build_error(Client::builder("http://exa mple.com"));
    assert!(error.message().contains("invalid base URL"), "{error}");
    assert!(
        std::error::Error::source(&error).is_some(),
        "the parse error is kept: {error:?}"
    );
    for url in ["127.0.0.1:8080/", "/just/a/path"] {
        let error = build_error(Client::builder(url));
        assert!(
            error.message().contains("needs a scheme and a host"),
            "{url}: {error}"
        );
    }
}

#[test]
fn grpc_needs_http2() {
    let error = build_error(Client::builder("http://127.0.0.1:1").protocol(ProtocolKind::GRPC));
    assert!(error.message().contains("requires HTTP/2"), "{error}");
    Client::builder("http://127.0.0.1:1")
        .protocol(ProtocolKind::GRPC)
        .http_version(HttpVersion::Http2)
        .build()
        .expect("gRPC over HTTP/2 builds");
}

#[test]
fn send_compression_must_be_registered() {
    let error = build_error(
        Client::builder("http://127.0.0.1:1")
            .compression(CompressionRegistry::empty())
            .send_compression("gzip"),
    );
    assert!(
        error.message().contains("\"gzip\"") && error.message().contains("supports identity"),
        "{error}"
    );
    // Identity is no compression, and always allowed.
    Client::builder("http://127.0.0.1:1")
        .compression(CompressionRegistry::empty())
        .send_compression("identity")
        .build()
        .expect("identity needs no registry entry");
}

/// A configuration error converts into the boxed errors applications propagate with `?`.
#[test]
fn config_errors_box_with_question_mark() {
    fn build() -> Result<Client, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Client::builder("not a url").build()?)
    }
    let error = build().expect_err("not a URL");
    assert!(error.downcast_ref::<ConfigError>().is_some(), "{error}");
}
