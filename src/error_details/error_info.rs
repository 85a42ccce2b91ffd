//! `google.rpc.ErrorInfo`: the machine-readable cause of an error.

use std::collections::BTreeMap;

/// Why a call failed, as a stable reason within a domain, with facts about it.
///
/// `reason` is an `UPPER_SNAKE_CASE` constant a client can match on; `domain` names the service or
/// organisation that defines it; `metadata` holds the particulars (the resource, the limit, …).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ErrorInfo {
    /// The reason, unique within `domain`.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// The domain that defines `reason`, such as the service's name.
    #[prost(string, tag = "2")]
    pub domain: String,
    /// Facts about this occurrence (kept sorted, so that its encoding is stable).
    #[prost(btree_map = "string, string", tag = "3")]
    pub metadata: BTreeMap<String, String>,
}

super::google_rpc_name!(ErrorInfo, "ErrorInfo");

impl ErrorInfo {
    /// An `ErrorInfo` with `reason` in `domain`, without metadata.
    pub fn new(reason: impl Into<String>, domain: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            domain: domain.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
