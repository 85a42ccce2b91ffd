//! `google.rpc.DebugInfo`: where a server failed, for its developers.

/// A server's own account of a failure: a stack trace and any further detail. It reveals
/// internals: send it only to trusted clients.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DebugInfo {
    /// The stack trace, one frame a line.
    #[prost(string, repeated, tag = "1")]
    pub stack_entries: Vec<String>,
    /// Anything else the server's developers need.
    #[prost(string, tag = "2")]
    pub detail: String,
}

super::google_rpc_name!(DebugInfo, "DebugInfo");

impl DebugInfo {
    /// A `DebugInfo` with these stack entries and detail.
    pub fn new(
        stack_entries: impl IntoIterator<Item = impl Into<String>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            stack_entries: stack_entries.into_iter().map(Into::into).collect(),
            detail: detail.into(),
        }
    }
}
