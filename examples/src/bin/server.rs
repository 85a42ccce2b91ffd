//! A standalone demo server, for trying Trident with curl, grpcurl or other clients.
//!
//! `cargo run -p trident-examples --bin server -- 127.0.0.1:8080`
//!
//! Besides the demo service it serves gRPC health checking (`grpc.health.v1.Health`) and server
//! reflection (`grpc.reflection.v1` and `v1alpha`), so `grpcurl -plaintext 127.0.0.1:8080 list` works,
//! and the OpenAPI document of its REST and Connect endpoints at `/openapi.json`.
//!
//! Ctrl-C or SIGTERM shuts it down gracefully: health watchers are told NOT_SERVING, new connections are refused at
//! once, and calls in progress get up to ten seconds to finish before they are cancelled.

use std::time::Duration;

use trident::{Router, Server};
use trident_examples::Greeter;
use trident_examples::greet::{FILE_DESCRIPTOR_SET, GREET_SERVICE_NAME, greet_service_routes};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;

    let (health, health_routes) = trident_health::service();
    health.set_serving(GREET_SERVICE_NAME);
    let reflection = trident_reflection::Builder::new()
        .register_file_descriptor_set(FILE_DESCRIPTOR_SET)?
        .register_pool(trident_health::descriptor_pool())?
        .build();
    let router = Router::new()
        .add(greet_service_routes(Greeter))
        .add(health_routes);
    let router = reflection.add_to(router);
    // The OpenAPI document of the REST and Connect endpoints, for Swagger UI, code generators and
    // API gateways.
    let router = router.fallback(|request: http::Request<trident::Body>| async move {
        let mut response = http::Response::new(trident::Body::empty());
        if request.method() == http::Method::GET && request.uri().path() == "/openapi.json" {
            *response.body_mut() = trident::Body::full(trident_examples::OPENAPI);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
        } else {
            *response.status_mut() = http::StatusCode::NOT_FOUND;
        }
        response
    });

    println!(
        "serving {} on http://{}",
        reflection.services().collect::<Vec<_>>().join(", "),
        listener.local_addr()?
    );
    Server::new()
        .grace_period(Duration::from_secs(10))
        .serve(listener, router)
        .with_graceful_shutdown(async move {
            trident::shutdown_signal().await;
            // Health first: watchers (load balancers, `grpc-health-probe`) learn that this replica is
            // going away while its calls still finish.
            println!("shutting down");
            health.set_all_not_serving();
        })
        .await?;
    Ok(())
}
