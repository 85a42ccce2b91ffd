//! Serves the axum application of `trident_examples::axum_app`: plain HTTP routes and the demo's
//! `GreetService` on one port, over HTTP/1.1 and h2c (axum's server speaks both).
//!
//! `cargo run -p trident-examples --bin axum -- 127.0.0.1:8080`, then:
//!
//! ```text
//! curl http://127.0.0.1:8080/healthz
//! curl -H 'Content-Type: application/json' -H 'Authorization: Bearer let-me-in' \
//!   -d '{"name":"axum"}' http://127.0.0.1:8080/trident.demo.v1.GreetService/Greet
//! ```

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "serving /healthz, /api/version and trident.demo.v1.GreetService on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, trident_examples::axum_app::app())
        // Ctrl-C or SIGTERM: axum stops accepting and waits for the requests in flight.
        .with_graceful_shutdown(trident::shutdown_signal())
        .await?;
    Ok(())
}
