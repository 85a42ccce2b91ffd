//! `google.rpc.LocalizedMessage`: an error's message for an end user, in their language.

/// A message for an end user, in the locale they asked for.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LocalizedMessage {
    /// The message's locale (BCP 47, such as `en-US` or `fr-CH`).
    #[prost(string, tag = "1")]
    pub locale: String,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
}

super::google_rpc_name!(LocalizedMessage, "LocalizedMessage");

impl LocalizedMessage {
    /// `message`, in `locale`.
    pub fn new(locale: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            locale: locale.into(),
            message: message.into(),
        }
    }
}
