//! The signal a server usually shuts down gracefully on: Ctrl-C (SIGINT) from a terminal, or SIGTERM
//! from a process manager (systemd, Docker and Kubernetes all send SIGTERM first, then SIGKILL after
//! their own grace period).

/// Resolves when the process is asked to stop: Ctrl-C, or SIGTERM on Unix. If no handler can be
/// installed, it never resolves (the server then runs until killed) and says so on standard error.
///
/// ```no_run
/// # async fn demo(listener: tokio::net::TcpListener, router: trident::Router) -> std::io::Result<()> {
/// trident::Server::new()
///     .serve(listener, router)
///     .with_graceful_shutdown(trident::shutdown_signal())
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            eprintln!("cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                eprintln!("cannot listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
