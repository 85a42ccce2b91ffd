//! The error of a configuration mistake (a bad URL, unusable TLS material, a duplicate route), kept apart
//! from [`Error`](crate::Error), which is what an RPC returns.

/// A configuration that cannot work, reported when a client, server, router or CORS policy is built.
///
/// Unlike [`Error`](crate::Error) it carries no RPC code: nothing was called yet. Its message says
/// what is wrong and, where it helps, what to do instead; [`source`](std::error::Error::source)
/// gives the underlying cause when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    /// A configuration error with a message.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A configuration error caused by `source`.
    pub(crate) fn with_source(
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// `Ok` when `problems` is empty; else one error that lists them all, so that a configuration
    /// with several mistakes is reported once.
    pub(crate) fn check(problems: Vec<String>) -> Result<(), Self> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(Self::new(problems.into_iter().next().unwrap_or_default())),
            n => Err(Self::new(format!(
                "{n} configuration problems: {}",
                problems.join("; ")
            ))),
        }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_source_are_kept() {
        let cause = std::io::Error::other("no such file");
        let error = ConfigError::with_source("cannot read the key", cause);
        assert_eq!(error.to_string(), "cannot read the key");
        let source = std::error::Error::source(&error).expect("a source");
        assert_eq!(source.to_string(), "no such file");
        assert!(std::error::Error::source(&ConfigError::new("bad")).is_none());
    }

    #[test]
    fn problems_are_reported_together() {
        assert!(ConfigError::check(Vec::new()).is_ok());
        let one = ConfigError::check(vec!["a is wrong".into()]).unwrap_err();
        assert_eq!(one.message(), "a is wrong");
        let two = ConfigError::check(vec!["a is wrong".into(), "b too".into()]).unwrap_err();
        assert_eq!(two.message(), "2 configuration problems: a is wrong; b too");
    }
}
