//! `google.rpc.BadRequest`: which fields of a request were invalid, and why.

use super::LocalizedMessage;

/// The request's invalid fields, one violation each.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BadRequest {
    /// The violations, in the order they were found.
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

/// One invalid field of a request (`google.rpc.BadRequest.FieldViolation`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct FieldViolation {
    /// The path to the field, such as `address.city` or `items[2].name`.
    #[prost(string, tag = "1")]
    pub field: String,
    /// Why the value is invalid, for a developer.
    #[prost(string, tag = "2")]
    pub description: String,
    /// A stable `UPPER_SNAKE_CASE` reason a client can match on.
    #[prost(string, tag = "3")]
    pub reason: String,
    /// The description for an end user, in their language.
    #[prost(message, optional, tag = "4")]
    pub localized_message: Option<LocalizedMessage>,
}

super::google_rpc_name!(BadRequest, "BadRequest");
super::google_rpc_name!(FieldViolation, "BadRequest.FieldViolation");

impl BadRequest {
    /// A `BadRequest` with one violation: `field` is invalid because of `description`.
    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field_violations: vec![FieldViolation::new(field, description)],
        }
    }

    /// Adds a violation.
    pub fn with_field(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.field_violations
            .push(FieldViolation::new(field, description));
        self
    }

    /// Adds a violation built in full.
    pub fn with_violation(mut self, violation: FieldViolation) -> Self {
        self.field_violations.push(violation);
        self
    }
}

impl FieldViolation {
    /// A violation of `field` because of `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
            ..Self::default()
        }
    }

    /// Sets the machine-readable reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Sets the end user's message.
    pub fn with_localized_message(mut self, message: LocalizedMessage) -> Self {
        self.localized_message = Some(message);
        self
    }
}
