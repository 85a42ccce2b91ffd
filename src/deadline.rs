//! Deadlines: running a step of a call until the call's deadline, and the error past it.

use std::future::Future;

use tokio::time::Instant;

use crate::{Code, Error};

/// The error of a call whose deadline passed.
pub(crate) fn exceeded() -> Error {
    Error::new(
        Code::DeadlineExceeded,
        "the call's deadline passed before it completed",
    )
}

/// Runs `future` until `deadline` (if any); past it, the result is `deadline_exceeded`.
pub(crate) async fn within<T>(
    deadline: Option<Instant>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match deadline {
        None => future.await,
        Some(deadline) => tokio::time::timeout_at(deadline, future)
            .await
            .unwrap_or_else(|_| Err(exceeded())),
    }
}
