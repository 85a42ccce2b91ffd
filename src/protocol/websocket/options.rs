//! [`WebSocketOptions`]: whether a router serves WebSocket calls, which browser origins may open
//! them, and how often the server checks that the peer is alive. Set on a router with
//! [`Router::websocket`](crate::Router::websocket); what is wrong with them is reported by
//! [`Router::check`](crate::Router::check), as for every router setting.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A predicate on a request's `Origin`.
type OriginPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How a router serves calls over WebSocket ([`ProtocolKind::WEBSOCKET`](crate::ProtocolKind::WEBSOCKET)).
///
/// By default WebSocket is served, pings go out every 30 seconds, a peer that answers nothing within
/// 20 seconds of a ping is closed, and the origin check allows a request with no `Origin` (not a
/// browser) or one whose `Origin` names the host and port the request was sent to (the page's own
/// server). WebSocket is not subject to CORS: without the check, any site a user visits could open a
/// socket to this server with the user's cookies (cross-site WebSocket hijacking). Allow other
/// origins by name ([`allow_origin`](Self::allow_origin)), by predicate
/// ([`allow_origin_if`](Self::allow_origin_if)), or all of them
/// ([`allow_any_origin`](Self::allow_any_origin), for services that do not authenticate by cookie).
///
/// ```
/// use std::time::Duration;
/// use trident::websocket::WebSocketOptions;
///
/// let options = WebSocketOptions::new()
///     .allow_origin("https://app.example.com")
///     .ping_interval(Duration::from_secs(15));
/// let router = trident::Router::new().websocket(options);
/// assert!(router.check().is_ok());
/// ```
#[derive(Clone)]
pub struct WebSocketOptions {
    pub(crate) enabled: bool,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    allowed_origins: Vec<String>,
    any_origin: bool,
    origin_predicate: Option<OriginPredicate>,
}

impl WebSocketOptions {
    /// How often the server pings a quiet peer unless told otherwise: 30 seconds.
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);

    /// How long the server waits for any frame after a ping unless told otherwise: 20 seconds.
    pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);

    /// The defaults (see the type's docs).
    pub fn new() -> Self {
        Self {
            enabled: true,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            ping_timeout: Self::DEFAULT_PING_TIMEOUT,
            allowed_origins: Vec::new(),
            any_origin: false,
            origin_predicate: None,
        }
    }

    /// Options that serve no WebSocket: handshakes to method paths are refused (`405`) as any GET
    /// to a method that is not served by GET.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Pings the peer once a socket has been quiet this long (default 30 s; at least a millisecond).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Closes the socket (code 1001) and cancels its call when nothing arrives this long after a
    /// ping (default 20 s; at least a millisecond). A peer that has stopped reading cannot answer,
    /// so it is closed the same way once it has neither read nor sent anything for the interval
    /// and the timeout.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// Also allows requests from `origin`, as browsers write it: `scheme://host` or
    /// `scheme://host:port` (compared without regard to case; a default port may be left out).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Also allows requests whose `Origin` header `predicate` accepts (it sees the header's text).
    pub fn allow_origin_if(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.origin_predicate = Some(Arc::new(predicate));
        self
    }

    /// Allows requests from any origin: only for services that do not trust a browser's ambient
    /// credentials (cookies, client certificates).
    pub fn allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// What is wrong with these options, one line each (for `Router::check`).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.ping_interval < Duration::from_millis(1) {
            problems.push("WebSocketOptions::ping_interval must be at least a millisecond".into());
        }
        if self.ping_timeout < Duration::from_millis(1) {
            problems.push("WebSocketOptions::ping_timeout must be at least a millisecond".into());
        }
        for origin in &self.allowed_origins {
            if Origin::parse(origin).is_none() {
                problems.push(format!(
                    "WebSocketOptions::allow_origin: {origin:?} is no origin (scheme://host[:port])"
                ));
            }
        }
        problems
    }

    /// Whether a request with `Origin: origin` (`None`: no such header) to `authority` (its `Host`
    /// or `:authority`) may open a socket.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>, authority: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.any_origin {
            return true;
        }
        if let Some(parsed) = Origin::parse(origin) {
            if authority.is_some_and(|authority| parsed.is_at(authority)) {
                return true;
            }
            if self
                .allowed_origins
                .iter()
                .filter_map(|allowed| Origin::parse(allowed))
                .any(|allowed| allowed == parsed)
            {
                return true;
            }
        }
        self.origin_predicate
            .as_ref()
            .is_some_and(|predicate| predicate(origin))
    }
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WebSocketOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketOptions")
            .field("enabled", &self.enabled)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("allowed_origins", &self.allowed_origins)
            .field("any_origin", &self.any_origin)
            .field("origin_predicate", &self.origin_predicate.is_some())
            .finish()
    }
}

/// A parsed origin: scheme, lower-cased host, and port (the scheme's default when left out).
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = text.trim_end_matches('/').split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        let authority: http::uri::Authority = rest.parse().ok()?;
        if authority.as_str().contains('@') {
            return None;
        }
        Some(Self {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().or(default_port),
        })
    }

    /// Whether this origin names the server at `authority` (a `Host` header's value): the same host,
    /// and the same port (an authority without one is at the origin scheme's default port).
    fn is_at(&self, authority: &str) -> bool {
        let Ok(authority) = authority.parse::<http::uri::Authority>() else {
            return false;
        };
        let default_port = match self.scheme.as_str() {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        };
        authority.host().eq_ignore_ascii_case(&self.host)
            && authority.port_u16().or(default_port) == self.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_non_browsers_and_the_same_origin() {
        let options = WebSocketOptions::new();
        assert!(options.origin_allowed(None, Some("api.example.com")));
        assert!(options.origin_allowed(Some("https://API.example.com"), Some("api.example.com")));
        assert!(
            options.origin_allowed(Some("https://api.example.com"), Some("api.example.com:443"))
        );
        assert!(options.origin_allowed(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(!options.origin_allowed(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080")));
        assert!(!options.origin_allowed(Some("https://evil.example"), Some("api.example.com")));
        assert!(!options.origin_allowed(Some("null"), Some("api.example.com")));
        assert!(!options.origin_allowed(Some("https://api.example.com"), None));
    }

    #[test]
    fn other_origins_by_name_predicate_or_all() {
        let options = WebSocketOptions::new().allow_origin("https://app.example.com");
        assert!(options.origin_allowed(Some("https://app.example.com:443"), Some("api")));
        assert!(!options.origin_allowed(Some("http://app.example.com"), Some("api")));
        let options = WebSocketOptions::new().allow_origin_if(|o| o.ends_with(".example.com"));
        assert!(options.origin_allowed(Some("https://x.example.com"), Some("api")));
        assert!(!options.origin_allowed(Some("https://example.org"), Some("api")));
        let options = WebSocketOptions::new().allow_any_origin();
        assert!(options.origin_allowed(Some("null"), Some("api")));
    }

    #[test]
    fn misconfigurations_are_reported() {
        assert!(WebSocketOptions::new().problems().is_empty());
        let problems = WebSocketOptions::new()
            .allow_origin("app.example.com")
            .ping_interval(Duration::ZERO)
            .ping_timeout(Duration::ZERO)
            .problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
