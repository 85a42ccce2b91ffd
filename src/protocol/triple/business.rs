//! Apache Dubbo's business error: a handler's own failure, which Dubbo clients do not retry (dubbo-go's
//! default cluster retries every other error twice).
//!
//! On the wire it is status 17, a number outside gRPC's codes: `grpc-status: 17` over gRPC and gRPC-Web
//! (Triple's streams, and dubbo-go's unary calls), `"code": "code_17"` with HTTP 500 in Triple's unary
//! form. Inside Trident it is an ordinary [`Code::Unknown`] error carrying the [`Business`] marker in
//! its protocol extensions, so the core error knows nothing of Dubbo: the gRPC writers ask
//! [`grpc_status`] for the number to send, the readers make a business error of status 17 and of
//! [`JSON_CODE`], and Connect callers, whose codes are names, see `unknown`.

use crate::{Code, Error};

/// The gRPC status number of a business error.
pub(crate) const STATUS: u32 = 17;
/// The name of a business error's code in Triple's (and Connect's) JSON errors.
pub(crate) const JSON_CODE: &str = "code_17";

/// The marker of a business error, in [`Error`]'s protocol extensions.
#[derive(Clone, Copy, Debug)]
struct Business;

impl Error {
    /// Apache Dubbo's business error: the handler's own failure, which Dubbo clients do not retry
    /// (dubbo-go's default cluster retries every other error twice). It travels as status 17 over
    /// gRPC and gRPC-Web (Triple's streams, and dubbo-go's unary calls) and as `"code": "code_17"`
    /// with HTTP 500 in Triple's unary form; Connect callers, whose codes are names, see `unknown`.
    /// Its [`code`](Self::code) is [`Code::Unknown`].
    pub fn business(message: impl Into<String>) -> Self {
        let mut error = Self::new(Code::Unknown, message);
        error.extensions_mut().insert(Business);
        error
    }

    /// Whether this is a Dubbo business error ([`Error::business`]), made here or received as
    /// status 17.
    pub fn is_business(&self) -> bool {
        self.extensions().get::<Business>().is_some()
    }
}

/// The status number gRPC sends for `error`: its code's, or 17 for a business error.
pub(crate) fn grpc_status(error: &Error) -> u32 {
    if error.is_business() {
        STATUS
    } else {
        error.code().as_u32()
    }
}

/// Whether a JSON error's code names a business error (`code_17`).
pub(crate) fn is_json_code(code: Option<&str>) -> bool {
    code == Some(JSON_CODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_kept_by_clones_and_read_by_the_writers() {
        let business = Error::business("refused").clone();
        assert!(business.is_business());
        assert_eq!(business.code(), Code::Unknown);
        assert_eq!(grpc_status(&business), STATUS);
        let unknown = Error::new(Code::Unknown, "refused");
        assert!(!unknown.is_business());
        assert_eq!(grpc_status(&unknown), Code::Unknown.as_u32());
        assert!(is_json_code(Some("code_17")));
        assert!(!is_json_code(Some("unknown")));
    }
}
