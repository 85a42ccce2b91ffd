//! `google.rpc.PreconditionFailure`: which preconditions of a call did not hold.

/// The preconditions that failed, one violation each (typically with
/// [`Code::FailedPrecondition`](crate::Code::FailedPrecondition)).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PreconditionFailure {
    /// The violations.
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<PreconditionViolation>,
}

/// One failed precondition (`google.rpc.PreconditionFailure.Violation`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PreconditionViolation {
    /// The kind of precondition, a service-specific constant such as `TOS`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// What failed it, relative to the kind: a user, a resource, ….
    #[prost(string, tag = "2")]
    pub subject: String,
    /// How it failed, for a developer.
    #[prost(string, tag = "3")]
    pub description: String,
}

super::google_rpc_name!(PreconditionFailure, "PreconditionFailure");
super::google_rpc_name!(PreconditionViolation, "PreconditionFailure.Violation");

impl PreconditionFailure {
    /// A `PreconditionFailure` with one violation.
    pub fn violation(
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            violations: vec![PreconditionViolation::new(kind, subject, description)],
        }
    }

    /// Adds a violation.
    pub fn with_violation(mut self, violation: PreconditionViolation) -> Self {
        self.violations.push(violation);
        self
    }
}

impl PreconditionViolation {
    /// A violation of a precondition of kind `kind` by `subject`, as `description` says.
    pub fn new(
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            r#type: kind.into(),
            subject: subject.into(),
            description: description.into(),
        }
    }
}
