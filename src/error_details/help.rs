//! `google.rpc.Help`: links to documentation about an error.

/// Where to read more about the error or how to fix it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Help {
    /// The links.
    #[prost(message, repeated, tag = "1")]
    pub links: Vec<Link>,
}

/// One link (`google.rpc.Help.Link`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Link {
    /// What the link leads to.
    #[prost(string, tag = "1")]
    pub description: String,
    /// The URL.
    #[prost(string, tag = "2")]
    pub url: String,
}

super::google_rpc_name!(Help, "Help");
super::google_rpc_name!(Link, "Help.Link");

impl Help {
    /// A `Help` with one link.
    pub fn link(description: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            links: vec![Link::new(description, url)],
        }
    }

    /// Adds a link.
    pub fn with_link(mut self, description: impl Into<String>, url: impl Into<String>) -> Self {
        self.links.push(Link::new(description, url));
        self
    }
}

impl Link {
    /// A link to `url`, described by `description`.
    pub fn new(description: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            url: url.into(),
        }
    }
}
