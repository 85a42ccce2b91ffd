//! DNS discovery: a name's A and AAAA records as the endpoint set, looked up again on an interval and
//! when the client asks (after a failed connect). The target syntax is gRPC's (`dns:///name:port`), so
//! a Kubernetes headless Service (one record per ready pod) is followed as gRPC clients follow it.
//!
//! Lookups go through the system resolver (`getaddrinfo`, via tokio's `lookup_host`): it honours
//! `/etc/hosts`, search domains and the platform's caching, which a DNS client of our own would not.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::BoxStream;
use tokio::time::Instant;

use crate::client::resolver::{ResolveNow, Resolver};
use crate::{Code, ConfigError, Error};

/// The shortest time between two lookups, however often a client asks.
const MIN_GAP: Duration = Duration::from_millis(500);

/// Resolves a DNS name to the endpoints of a balanced client; see the module docs.
#[derive(Clone, Debug)]
pub struct DnsResolver {
    host: String,
    port: u16,
    interval: Duration,
}

impl DnsResolver {
    /// How often a [`DnsResolver`] looks the name up again unless told otherwise: 30 s, the usual floor
    /// of gRPC's DNS re-resolution. A lookup that found nothing (or failed) is made again sooner: after
    /// 1 s, doubling up to the interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
}

impl DnsResolver {
    /// A resolver for `target`: `dns:///name:port` (gRPC's form; a DNS server named between the second
    /// and third slash is not supported, as the system resolver is used), `dns:name:port`, or just
    /// `name:port`. IPv6 literals go in brackets (`[::1]:8080`).
    pub fn new(target: &str) -> Result<Self, ConfigError> {
        let rest = match target.strip_prefix("dns:") {
            None => target,
            Some(rest) => match rest.strip_prefix("//") {
                None => rest,
                Some(authority_and_rest) => match authority_and_rest.split_once('/') {
                    Some(("", rest)) => rest,
                    _ => {
                        return Err(ConfigError::new(format!(
                            "DNS target {target:?}: naming a DNS server (dns://server/name:port) is \
                             not supported; write dns:///name:port to use the system resolver"
                        )));
                    }
                },
            },
        };
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            ConfigError::new(format!(
                "DNS target {target:?} needs a port: dns:///name:port"
            ))
        })?;
        let port: u16 = port.parse().map_err(|e| {
            ConfigError::with_source(format!("DNS target {target:?}: invalid port {port:?}"), e)
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(ConfigError::new(format!(
                "DNS target {target:?} names no host"
            )));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            interval: DnsResolver::DEFAULT_INTERVAL,
        })
    }

    /// How often the name is looked up again (default [`DnsResolver::DEFAULT_INTERVAL`]); the client also asks
    /// for a lookup after a failed connect, at most every half second.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(MIN_GAP);
        self
    }

    /// The addresses the name has now, sorted (so that an unchanged set compares equal).
    async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| {
                Error::with_source(
                    Code::Unavailable,
                    format!("DNS lookup of {host:?} failed: {e}"),
                    e,
                )
            })?
            .collect();
        addresses.sort();
        addresses.dedup();
        Ok(addresses)
    }
}

impl Resolver for DnsResolver {
    fn resolve(&self, refresh: ResolveNow) -> BoxStream<'static, Result<Vec<SocketAddr>, Error>> {
        let lookups = Lookups {
            host: self.host.clone(),
            port: self.port,
            interval: self.interval,
            refresh,
            last: None,
            found: None,
            retry: RETRY_FIRST,
        };
        Box::pin(futures_util::stream::unfold(
            lookups,
            |mut lookups| async move {
                let news = lookups.next().await;
                Some((news, lookups))
            },
        ))
    }
}

/// The first wait before a failed (or empty) lookup is made again; it doubles up to the interval.
const RETRY_FIRST: Duration = Duration::from_secs(1);

/// A [`DnsResolver`]'s lookups as they go.
struct Lookups {
    host: String,
    port: u16,
    interval: Duration,
    refresh: ResolveNow,
    /// When the last lookup was made.
    last: Option<Instant>,
    /// The set the last lookup found, if it found any.
    found: Option<Vec<SocketAddr>>,
    /// The wait before looking again after a lookup found nothing (doubling, up to the interval).
    retry: Duration,
}

impl Lookups {
    /// The next news: a set that differs from the last, or a failure.
    async fn next(&mut self) -> Result<Vec<SocketAddr>, Error> {
        loop {
            if let Some(last) = self.last {
                // A set found is looked up again after the interval; no set, sooner, and sooner
                // still when the client asks (but never within the minimum gap).
                let wait = if self.found.is_some() {
                    self.interval
                } else {
                    let wait = self.retry;
                    self.retry = (self.retry * 2).min(self.interval);
                    wait
                };
                tokio::select! {
                    () = tokio::time::sleep_until(last + wait) => {}
                    () = self.refresh.requested() => {}
                }
                tokio::time::sleep_until(last + MIN_GAP).await;
            }
            self.last = Some(Instant::now());
            let found = DnsResolver::lookup(&self.host, self.port).await;
            match found {
                Ok(set) if !set.is_empty() => {
                    self.retry = RETRY_FIRST;
                    if self.found.as_ref() != Some(&set) {
                        self.found = Some(set.clone());
                        return Ok(set);
                    }
                }
                // Nothing found: said, and looked up again after a growing wait.
                other => {
                    self.found = None;
                    return other;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt as _;

    use super::*;

    #[test]
    fn targets_are_read_as_grpc_writes_them() {
        for (target, host, port) in [
            ("dns:///replicas.local:8080", "replicas.local", 8080),
            ("dns:replicas.local:8080", "replicas.local", 8080),
            ("localhost:9", "localhost", 9),
            ("dns:///[::1]:443", "::1", 443),
        ] {
            let resolver = DnsResolver::new(target).expect(target);
            assert_eq!((resolver.host.as_str(), resolver.port), (host, port));
        }
        for bad in ["dns://8.8.8.8/name:80", "dns:///name", "name:http", ":80"] {
            assert!(DnsResolver::new(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_and_is_looked_up_again_when_asked() {
        let refresh = ResolveNow::default();
        let mut stream = DnsResolver::new("dns:///localhost:4000")
            .expect("target")
            .interval(Duration::from_secs(3600))
            .resolve(refresh.clone());
        let first = stream.next().await.expect("a set").expect("resolved");
        assert!(!first.is_empty());
        assert!(
            first
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 4000)
        );
        // Asked again, the same set is no news: the stream stays quiet.
        refresh.request();
        let quiet = tokio::time::timeout(Duration::from_millis(700), stream.next()).await;
        assert!(quiet.is_err(), "an unchanged set was sent again");
    }

    #[tokio::test]
    async fn an_unknown_name_is_an_unavailable_error() {
        let mut stream = DnsResolver::new("dns:///no-such-host.invalid:80")
            .expect("target")
            .resolve(ResolveNow::default());
        let error = stream.next().await.expect("an item").expect_err("no host");
        assert_eq!(error.code(), Code::Unavailable);
    }
}
