//! The Trident conformance server: reads one `ServerCompatRequest` from stdin, serves the
//! `ConformanceService` on an ephemeral loopback port with `trident::serve`, and answers with a
//! `ServerCompatResponse` (host and port) on stdout. Logs go to stderr only.

use std::io;
use std::process::ExitCode;

use trident_conformance::proto::{ServerCompatRequest, ServerCompatResponse};
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
    if request.use_tls {
        eprintln!(
            "conformance-server: TLS was requested, but the Trident conformance server does not \
             support TLS yet; set supports_tls: false in the config"
        );
        return ExitCode::FAILURE;
    }
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
    match runtime.block_on(serve(request)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(request: ServerCompatRequest) -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind((HOST, 0)).await?;
    let port = listener.local_addr()?.port();
    let router = service::router(request.message_receive_limit);
    let server = tokio::spawn(trident::serve(listener, router));

    let response = ServerCompatResponse {
        host: HOST.to_string(),
        port: u32::from(port),
        pem_cert: Vec::new(),
    };
    wire::write_frame_blocking(&mut io::stdout().lock(), &response)?;
    eprintln!(
        "conformance-server: serving on {HOST}:{port} (protocol {}, HTTP version {}, receive limit {})",
        request.protocol, request.http_version, request.message_receive_limit
    );

    // Serve until the runner stops the process; stdin is closed by now and that is no signal to stop.
    server
        .await
        .map_err(|e| io::Error::other(format!("server task failed: {e}")))?
}
