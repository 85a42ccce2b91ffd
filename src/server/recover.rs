//! Panic recovery: a handler that panics (while computing its answer, or while producing a message of
//! its response stream) fails its own call with `internal`, and nothing else. The connection and the
//! other calls on it go on; [`Router::on_panic`](crate::Router::on_panic) observes each panic.
//!
//! The client learns only that the handler failed: the panic's message may hold internals, so it goes
//! to the hook (and to Rust's panic hook, which prints it as for any panic), never onto the wire.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::method::MethodSpec;
use crate::{Code, Error};

/// A handler panic, as [`Router::on_panic`](crate::Router::on_panic) reports it.
#[derive(Debug)]
pub struct HandlerPanic {
    method: &'static MethodSpec,
    message: String,
}

impl HandlerPanic {
    /// The method whose handler panicked.
    pub fn method(&self) -> &'static MethodSpec {
        self.method
    }

    /// The panic's message (its payload when that is text, else a placeholder).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// What the router calls with each handler panic.
pub(crate) type PanicHook = Arc<dyn Fn(&HandlerPanic) + Send + Sync>;

/// Where a call reports a panic: its method and the router's hook, if any.
#[derive(Clone)]
pub(crate) struct Recovery {
    pub method: &'static MethodSpec,
    pub hook: Option<PanicHook>,
}

impl Recovery {
    /// Reports the panic whose payload is `payload` and returns the error the call ends with.
    pub fn recover(&self, payload: Box<dyn Any + Send>) -> Error {
        if let Some(hook) = &self.hook {
            let message = match payload.downcast::<String>() {
                Ok(text) => *text,
                Err(payload) => match payload.downcast::<&'static str>() {
                    Ok(text) => (*text).to_string(),
                    Err(_) => "a panic whose payload is not text".to_string(),
                },
            };
            let report = HandlerPanic {
                method: self.method,
                message,
            };
            // A hook that panics in turn must not undo the recovery.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| hook(&report)));
        }
        Error::new(Code::Internal, "the handler panicked")
    }
}
