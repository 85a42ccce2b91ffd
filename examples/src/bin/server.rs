//! A standalone demo server, for trying Trident with curl or other clients.
//!
//! `cargo run -p trident-examples --bin server -- 127.0.0.1:8080`
//!
//! Ctrl-C shuts it down gracefully: new connections are refused at once, and calls in progress get up
//! to ten seconds to finish before they are cancelled.

use std::time::Duration;

use trident::{Router, Server};
use trident_examples::Greeter;
use trident_examples::greet::greet_service_routes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "serving trident.demo.v1.GreetService on http://{}",
        listener.local_addr()?
    );
    let router = Router::new().add(greet_service_routes(Greeter))?;
    Server::new()
        .grace_period(Duration::from_secs(10))
        .serve(listener, router)
        .with_graceful_shutdown(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                println!("shutting down");
            } else {
                // No signal handler could be installed: serve until the process is killed.
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}
