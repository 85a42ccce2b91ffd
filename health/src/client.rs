//! A typed client of `grpc.health.v1.Health`, for probing Trident or any other gRPC server.

use trident::{Client, Error, IntoRequest, Response, client::ServerStreamCall};

use crate::proto::{
    CHECK, HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse, LIST,
    WATCH,
};

/// Calls the health service of the server `client` points at, in whichever protocol the client speaks.
#[derive(Clone, Debug)]
pub struct HealthClient {
    client: Client,
}

impl HealthClient {
    /// A health client sending its calls through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `Check`: the status of one service (`""` for the server); `not_found` for a service the server
    /// does not know.
    pub async fn check(
        &self,
        request: impl IntoRequest<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Error> {
        self.client.unary(&CHECK, request.into_request()).await
    }

    /// `List`: the status of every service the server knows.
    pub async fn list(
        &self,
        request: impl IntoRequest<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Error> {
        self.client.unary(&LIST, request.into_request()).await
    }

    /// `Watch`: the status of one service now, then each change, until the call is dropped.
    pub async fn watch(
        &self,
        request: impl IntoRequest<HealthCheckRequest>,
    ) -> Result<ServerStreamCall<HealthCheckResponse>, Error> {
        self.client
            .server_stream(&WATCH, request.into_request())
            .await
    }
}
