//! The HTTP/3 transport (the `http3` feature): one QUIC connection per origin, opened on first use,
//! reopened after it fails or the server sends GOAWAY, and shared by every call of a client.
//!
//! The client has one UDP socket (a quinn endpoint) per address family, opened on first use; every
//! connection of the channel goes through it. A request the connection refused before it was sent
//! (the connection was going away or gone) is retried once on a fresh connection, as over HTTP/2; the
//! connection that refused it is forgotten, and closes once its last call ends.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::body::Body;
use crate::client::origin_slots::{ConnectionHandle, Slots};
use crate::client::transport::{ResponseFuture, SendRequest};
use crate::error::Delivery;
use crate::http3::client::{Failure, Sender, connect};
use crate::{Code, Error};

/// A connection of the channel.
#[derive(Clone)]
struct Handle {
    sender: Sender,
    /// Cleared when the connection ends.
    open: Arc<AtomicBool>,
}

impl ConnectionHandle for Handle {
    fn is_closed(&self) -> bool {
        !self.open.load(Ordering::Acquire)
    }
}

/// A transport sending requests over one HTTP/3 connection per origin.
pub(crate) struct H3Channel {
    config: quinn::ClientConfig,
    connect_timeout: Option<Duration>,
    /// The QUIC endpoints for IPv4 and IPv6 servers, made on first use.
    endpoints: Mutex<[Option<quinn::Endpoint>; 2]>,
    slots: Mutex<Slots<Handle>>,
}

impl H3Channel {
    pub fn new(config: quinn::ClientConfig, connect_timeout: Option<Duration>) -> Self {
        Self {
            config,
            connect_timeout,
            endpoints: Mutex::default(),
            slots: Mutex::default(),
        }
    }

    /// The endpoint for servers at `addr`'s address family.
    fn endpoint(&self, addr: SocketAddr) -> Result<quinn::Endpoint, Error> {
        let mut endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (index, local): (usize, SocketAddr) = if addr.is_ipv4() {
            (0, (std::net::Ipv4Addr::UNSPECIFIED, 0).into())
        } else {
            (1, (std::net::Ipv6Addr::UNSPECIFIED, 0).into())
        };
        if let Some(endpoint) = &endpoints[index] {
            return Ok(endpoint.clone());
        }
        let endpoint = quinn::Endpoint::client(local).map_err(|e| {
            Error::with_source(
                Code::Unavailable,
                format!("opening a UDP socket for HTTP/3: {e}"),
                e,
            )
        })?;
        endpoints[index] = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// Opens a connection to `uri`'s origin, and starts its driver, which marks it closed once the
    /// connection ends.
    async fn connect(&self, uri: &http::Uri) -> Result<Handle, Error> {
        let authority = uri
            .authority()
            .ok_or_else(|| Error::new(Code::InvalidArgument, "the request URI names no host"))?;
        // IPv6 literals come in brackets, which TLS server names do not have.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(443);
        let connecting = async {
            let addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
                Error::with_source(Code::Unavailable, format!("resolving {host}: {e}"), e)
            })?;
            let mut last = Error::new(Code::Unavailable, format!("{host} has no address"));
            for addr in addrs {
                match connect(&self.endpoint(addr)?, self.config.clone(), addr, host).await {
                    Ok(connected) => return Ok(connected),
                    Err(error) => last = error,
                }
            }
            Err(last)
        };
        let (sender, driver) = match self.connect_timeout {
            None => connecting.await?,
            Some(timeout) => tokio::time::timeout(timeout, connecting)
                .await
                .map_err(|_| {
                    Error::new(
                        Code::Unavailable,
                        format!("connecting to {authority} over QUIC timed out after {timeout:?}"),
                    )
                })??,
        };
        let open = Arc::new(AtomicBool::new(true));
        let handle = Handle {
            sender,
            open: open.clone(),
        };
        tokio::spawn(async move {
            driver.run().await;
            open.store(false, Ordering::Release);
        });
        Ok(handle)
    }

    async fn send(
        self: Arc<Self>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Error> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(request.uri());
        let uri = request.uri().clone();
        let (number, handle) = slot
            .live_or_connect(None, || self.connect(&uri))
            .await
            .map_err(|e| e.with_delivery(Delivery::NotConnected))?;
        match handle.sender.send(request).await {
            Ok(response) => Ok(response),
            Err(Failure::Failed(error)) => Err(error),
            // The connection went away before the request left: one retry on another.
            Err(Failure::Refused(request, _)) => {
                let (_, handle) = slot
                    .live_or_connect(Some(number), || self.connect(&uri))
                    .await
                    .map_err(|e| e.with_delivery(Delivery::NotConnected))?;
                match handle.sender.send(*request).await {
                    Ok(response) => Ok(response),
                    Err(Failure::Failed(error)) => Err(error),
                    Err(Failure::Refused(_, error)) => Err(error.with_delivery(Delivery::Refused)),
                }
            }
        }
    }
}

impl SendRequest for H3Channel {
    fn send_request(self: Arc<Self>, request: http::Request<Body>) -> ResponseFuture {
        Box::pin(self.send(request))
    }
}
