//! `google.rpc.RetryInfo`: how long a client should wait before it tries again.

use std::time::Duration;

/// When the client may retry: not before `retry_delay` has passed since it received the error.
///
/// A Trident client's [`RetryPolicy`](crate::client::RetryPolicy) waits that long before its next
/// attempt, when the code is retryable and the policy allows another attempt.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RetryInfo {
    /// The least time to wait.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

super::google_rpc_name!(RetryInfo, "RetryInfo");

impl RetryInfo {
    /// A `RetryInfo` asking to wait `delay` (saturated to `google.protobuf.Duration`'s range).
    pub fn after(delay: Duration) -> Self {
        let duration = prost_types::Duration::try_from(delay).unwrap_or(prost_types::Duration {
            seconds: 315_576_000_000,
            nanos: 999_999_999,
        });
        Self {
            retry_delay: Some(duration),
        }
    }

    /// The delay, if present and not negative.
    pub fn delay(&self) -> Option<Duration> {
        self.retry_delay
            .and_then(|delay| Duration::try_from(delay).ok())
    }
}
