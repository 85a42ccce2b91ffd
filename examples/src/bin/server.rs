//! A standalone demo server, for trying Trident with curl or other clients.
//!
//! `cargo run -p trident-examples --bin server -- 127.0.0.1:8080`

use trident::Router;
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
    trident::serve(listener, router).await?;
    Ok(())
}
