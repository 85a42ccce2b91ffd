//! `google.rpc.QuotaFailure`: which quotas a call ran out of.

use std::collections::BTreeMap;

/// The quota checks a call failed, one violation each.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct QuotaFailure {
    /// The violations.
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<QuotaViolation>,
}

/// One failed quota check (`google.rpc.QuotaFailure.Violation`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct QuotaViolation {
    /// Whose quota: `project:<id>`, `clientip:<address>`, ….
    #[prost(string, tag = "1")]
    pub subject: String,
    /// How the check failed, for a developer.
    #[prost(string, tag = "2")]
    pub description: String,
    /// The API service the quota belongs to.
    #[prost(string, tag = "3")]
    pub api_service: String,
    /// The metric the quota counts.
    #[prost(string, tag = "4")]
    pub quota_metric: String,
    /// The quota's id.
    #[prost(string, tag = "5")]
    pub quota_id: String,
    /// The dimensions the quota is kept by (region, …), sorted.
    #[prost(btree_map = "string, string", tag = "6")]
    pub quota_dimensions: BTreeMap<String, String>,
    /// The quota's limit.
    #[prost(int64, tag = "7")]
    pub quota_value: i64,
    /// The limit about to take effect, if one is being rolled out.
    #[prost(int64, optional, tag = "8")]
    pub future_quota_value: Option<i64>,
}

super::google_rpc_name!(QuotaFailure, "QuotaFailure");
super::google_rpc_name!(QuotaViolation, "QuotaFailure.Violation");

impl QuotaFailure {
    /// A `QuotaFailure` with one violation: `subject` ran out, as `description` says.
    pub fn violation(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            violations: vec![QuotaViolation::new(subject, description)],
        }
    }

    /// Adds a violation.
    pub fn with_violation(mut self, violation: QuotaViolation) -> Self {
        self.violations.push(violation);
        self
    }
}

impl QuotaViolation {
    /// A violation of `subject`'s quota, as `description` says.
    pub fn new(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            description: description.into(),
            ..Self::default()
        }
    }
}
