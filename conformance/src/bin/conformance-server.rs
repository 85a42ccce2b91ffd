//! The Trident conformance server: reads one `ServerCompatRequest` from stdin, serves the
//! `ConformanceService` on an ephemeral loopback port with `trident::Server` (over TLS with the
//! runner's certificate when TLS is asked for, requiring the runner's self-signed client certificate
//! when it sends one), and answers with a `ServerCompatResponse` (host, port
//! and, with TLS, the certificate clients must trust) on stdout. Logs go to stderr only.

use std::io;
use std::process::ExitCode;

use trident::Server;
use trident::tls::TlsConfig;
use trident_conformance::proto::{self, ServerCompatRequest, ServerCompatResponse};
use trident_conformance::{service, wire};

const HOST: &str = "127.0.0.1";

fn main() -> ExitCode {
    let request: ServerCompatRequest = match wire::read_frame_blocking(&mut io::stdin().lock()) {
        Ok(Some(request)) => request,
        Ok(None) => {
            eprintln!("conformance-server: stdin closed before a ServerCompatRequest arrived");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("conformance-server: cannot read the ServerCompatRequest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match tls_config(&request) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("conformance-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(request, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The TLS configuration `request` asks for: `None` without TLS; else the runner's server certificate and
/// key, and its client certificate as the one CA client certificates must chain to (it is self-signed).
/// Returns the certificate to hand back too.
fn tls_config(request: &ServerCompatRequest) -> Result<Option<(TlsConfig, Vec<u8>)>, String> {
    if !request.use_tls {
        return Ok(None);
    }
    let creds = request.server_creds.as_ref().ok_or(
        "TLS was requested without server_creds; this server does not generate certificates",
    )?;
    let mut builder = TlsConfig::builder(&creds.cert, &creds.key);
    if !request.client_tls_cert.is_empty() {
        builder = builder.client_ca_pem(&request.client_tls_cert);
    }
    let config = builder
        .build()
        .map_err(|e| format!("cannot use the TLS credentials: {e}"))?;
    Ok(Some((config, creds.cert.clone())))
}

/// A TCP listener on an ephemeral port; for HTTP/3, one whose port number is free over UDP too
/// (the server binds UDP on the same number), trying a few ports.
async fn bind(http3: bool) -> io::Result<tokio::net::TcpListener> {
    let mut attempts = 0;
    loop {
        let listener = tokio::net::TcpListener::bind((HOST, 0)).await?;
        if !http3 {
            return Ok(listener);
        }
        match std::net::UdpSocket::bind(listener.local_addr()?) {
            Ok(_) => return Ok(listener),
            Err(e) if attempts >= 10 => return Err(e),
            Err(_) => attempts += 1,
        }
    }
}

async fn serve(request: ServerCompatRequest, tls: Option<(TlsConfig, Vec<u8>)>) -> io::Result<()> {
    let http3 = request.http_version == proto::HttpVersion::HttpVersion3 as i32;
    let listener = bind(http3).await?;
    let port = listener.local_addr()?.port();
    let router = service::router(request.message_receive_limit);
    let (server, pem_cert) = match tls {
        // HTTP/3 (always over TLS) is served beside HTTP/1.1 and HTTP/2, on the same port over UDP.
        Some((config, cert)) => (Server::new().tls(config).http3(http3), cert),
        None => (Server::new(), Vec::new()),
    };
    let server = tokio::spawn(server.serve(listener, router).into_future());

    let response = ServerCompatResponse {
        host: HOST.to_string(),
        port: u32::from(port),
        pem_cert,
    };
    wire::write_frame_blocking(&mut io::stdout().lock(), &response)?;
    eprintln!(
        "conformance-server: serving on {HOST}:{port} (protocol {}, HTTP version {}, TLS {}, client \
         certificates {}, receive limit {})",
        request.protocol,
        request.http_version,
        request.use_tls,
        !request.client_tls_cert.is_empty(),
        request.message_receive_limit
    );

    // Serve until the runner stops the process; stdin is closed by now and that is no signal to stop.
    server
        .await
        .map_err(|e| io::Error::other(format!("server task failed: {e}")))?
}
