//! The standard error details of `google.rpc` as Rust types: what went wrong with which field,
//! quota or precondition, when to retry, where to read more.
//!
//! A server that puts these in an error lets any client, in any language, act on the failure
//! without parsing its message: grpc-go's `errdetails`, connect-go, connect-es and Google's
//! libraries all know them by their type names. Each type here is a prost message with googleapis'
//! field numbers and types (so it encodes byte for byte as theirs) and a [`prost::Name`] in package
//! `google.rpc`, so [`Error::with_detail`] and [`ErrorDetail::decode`](crate::ErrorDetail::decode)
//! take it like any other message.
//!
//! [`Error`] gains a builder and a getter per type (`with_bad_request` / `bad_request`, …) and the
//! generic [`Error::detail`]:
//!
//! ```
//! use std::time::Duration;
//! use trident::error_details::{BadRequest, RetryInfo};
//! use trident::{Code, Error};
//!
//! let error = Error::new(Code::InvalidArgument, "bad request")
//!     .with_bad_request(BadRequest::field("name", "must not be empty"))
//!     .with_retry_info(RetryInfo::after(Duration::from_secs(1)));
//! let bad = error.bad_request().expect("a BadRequest detail");
//! assert_eq!(bad.field_violations[0].field, "name");
//! assert_eq!(error.retry_info().and_then(|r| r.delay()), Some(Duration::from_secs(1)));
//! ```
//!
//! Connect's JSON errors carry each detail of a known type (these, and any in prost-reflect's global
//! pool) in its proto3 JSON form too, as `debug`; REST's `google.rpc.Status` writes them that way.
//!
//! A client's [`RetryPolicy`](crate::client::RetryPolicy) honours a [`RetryInfo`] in a failed
//! attempt's details.

mod bad_request;
mod debug_info;
mod descriptors;
mod error_info;
mod help;
mod localized_message;
mod precondition_failure;
mod quota_failure;
mod request_info;
mod resource_info;
mod retry_info;

pub use bad_request::{BadRequest, FieldViolation};
pub use debug_info::DebugInfo;
pub use error_info::ErrorInfo;
pub use help::{Help, Link};
pub use localized_message::LocalizedMessage;
pub use precondition_failure::{PreconditionFailure, PreconditionViolation};
pub use quota_failure::{QuotaFailure, QuotaViolation};
pub use request_info::RequestInfo;
pub use resource_info::ResourceInfo;
pub use retry_info::RetryInfo;

pub(crate) use descriptors::{detail_json, pool as descriptor_pool};

use crate::Error;

/// The package of every type here.
const PACKAGE: &str = "google.rpc";

/// Implements [`prost::Name`] for a `google.rpc` message (`$name`: its name within the package,
/// with its parent's for a nested message), with googleapis' type URL.
macro_rules! google_rpc_name {
    ($ty:ty, $name:literal) => {
        impl prost::Name for $ty {
            const NAME: &'static str = $name;
            const PACKAGE: &'static str = crate::error_details::PACKAGE;
            fn full_name() -> String {
                format!("google.rpc.{}", $name)
            }
            fn type_url() -> String {
                format!("type.googleapis.com/google.rpc.{}", $name)
            }
        }
    };
}
pub(crate) use google_rpc_name;

impl Error {
    /// The first detail of type `M` that decodes, if any.
    ///
    /// Details of other types, and a detail of type `M` that does not decode, are skipped.
    pub fn detail<M: prost::Message + prost::Name + Default>(&self) -> Option<M> {
        self.details()
            .iter()
            .filter(|detail| detail.type_name() == M::full_name())
            .find_map(|detail| detail.decode::<M>().ok())
    }
}

/// A builder and a getter on [`Error`] for each detail type.
macro_rules! accessors {
    ($($ty:ident: $with:ident, $get:ident;)*) => {
        impl Error {
            $(
                #[doc = concat!("Adds a [`", stringify!($ty), "`] detail.")]
                pub fn $with(self, detail: $ty) -> Self {
                    self.with_detail(&detail)
                }

                #[doc = concat!("The first [`", stringify!($ty), "`] detail, if any (see [`Error::detail`]).")]
                pub fn $get(&self) -> Option<$ty> {
                    self.detail::<$ty>()
                }
            )*
        }
    };
}

accessors! {
    ErrorInfo: with_error_info, error_info;
    BadRequest: with_bad_request, bad_request;
    RetryInfo: with_retry_info, retry_info;
    QuotaFailure: with_quota_failure, quota_failure;
    PreconditionFailure: with_precondition_failure, precondition_failure;
    ResourceInfo: with_resource_info, resource_info;
    Help: with_help, help;
    LocalizedMessage: with_localized_message, localized_message;
    DebugInfo: with_debug_info, debug_info;
    RequestInfo: with_request_info, request_info;
}

#[cfg(test)]
mod tests;
