//! gRPC health checking (`grpc.health.v1`) for Trident servers.
//!
//! The service answers the standard health protocol that load balancers, Kubernetes probes,
//! `grpc-health-probe` and gRPC clients' own health checking speak:
//!
//! * `Check`: a service's status now, or `not_found` for a service the server does not know;
//! * `Watch`: a service's status now, then every change, until the caller goes away (an unknown
//!   service streams `SERVICE_UNKNOWN` and keeps being watched, so a service registered later is seen);
//! * `List`: every known service's status.
//!
//! The empty service name `""` stands for the server as a whole and starts `SERVING`. Being an ordinary
//! Trident service, it answers Connect, gRPC and gRPC-Web callers alike.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (reporter, health) = trident_health::service();
//! reporter.set_serving("acme.greet.v1.GreetService");
//!
//! let router = trident::Router::new().add(health);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! trident::Server::new()
//!     .serve(listener, router)
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         // Watchers learn NOT_SERVING before the server drains.
//!         reporter.set_all_not_serving();
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! On the client side, [`WatchHealth`] lets a balanced Trident client follow each endpoint's `Watch`
//! and step around endpoints that report NOT_SERVING.
//!
//! For server reflection, the service's descriptors are in [`descriptor_pool`].

mod checker;
mod client;
mod proto;
mod service;

pub use checker::WatchHealth;
pub use client::HealthClient;
pub use proto::{
    CHECK, FILE_NAME, HealthCheckRequest, HealthCheckResponse, HealthListRequest,
    HealthListResponse, LIST, PACKAGE, SERVICE_NAME, ServingStatus, WATCH, descriptor_pool,
    file_descriptor_proto,
};
pub use service::{HealthReporter, MAX_LISTED_SERVICES, service};
