//! `google.rpc.RequestInfo`: which request failed, to quote in a bug report.

/// The request's identity on the server, for a client to quote when it reports the failure.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RequestInfo {
    /// The id the server gave the request (its logs know it by this).
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// Anything else the server needs to find the request: a trace id, an opaque token, ….
    #[prost(string, tag = "2")]
    pub serving_data: String,
}

super::google_rpc_name!(RequestInfo, "RequestInfo");

impl RequestInfo {
    /// A `RequestInfo` for the request `request_id`.
    pub fn new(request_id: impl Into<String>, serving_data: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            serving_data: serving_data.into(),
        }
    }
}
