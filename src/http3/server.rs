//! The server's side of HTTP/3: a QUIC endpoint on a UDP socket, its connections, and each request as
//! an `http::Request<Body>` with an [`Exchange`] that runs the call and writes the `http::Response`
//! back.
//!
//! The request body is read by the exchange itself, one frame ahead of the handler, rather than by the
//! handler directly: that is how a client's reset of the request stream (its cancel) is noticed while
//! the handler is not reading, and the call dropped. h3 0.0.8 offers no way to notice a client's
//! STOP_SENDING on the response side before the next write, so a call whose request body is complete
//! learns of a cancel at its next response message, its deadline, or the connection's end.
//!
//! What to do with connections and requests (limits, shutdown, the served service) is
//! `server/http3_connection.rs`; this module only speaks quinn and h3.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h3::error::Code as H3Code;
use http_body::Frame;
use http_body_util::BodyExt as _;
use tokio::sync::mpsc;

use crate::body::Body;
use crate::http3::body::{RecvBody, SendFailure, SendHalf, send_body};
use crate::http3::quic::{QuicSettings, server_config};
use crate::tls::PeerCertificates;

/// A QUIC endpoint accepting HTTP/3 connections. Clones share it.
#[derive(Clone)]
pub(crate) struct Endpoint(quinn::Endpoint);

impl Endpoint {
    /// Serves QUIC on `socket` with the server's TLS configuration and `settings`. With
    /// `reset_seed`, stateless resets are keyed by it (see `TlsConfig::stateless_reset_seed`);
    /// without, by a key of this process's own.
    pub fn new(
        socket: std::net::UdpSocket,
        tls: &rustls::ServerConfig,
        reset_seed: Option<&[u8; 32]>,
        settings: &QuicSettings,
    ) -> io::Result<Self> {
        let config = server_config(tls, settings)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let endpoint_config = match reset_seed {
            Some(seed) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed);
                // quinn answers with a reset only packets whose connection id it could have made:
                // its ids carry a hash under a key of their own, which must outlive the process too.
                let tag = ring::hmac::sign(&key, b"connection ids");
                let mut id_key = [0u8; 8];
                id_key.copy_from_slice(&tag.as_ref()[..8]);
                let id_key = u64::from_le_bytes(id_key);
                let mut config = quinn::EndpointConfig::new(Arc::new(key));
                config.cid_generator(move || {
                    Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(id_key))
                });
                config
            }
            None => quinn::EndpointConfig::default(),
        };
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )?;
        Ok(Self(endpoint))
    }

    /// The next client's connection attempt; `None` once the endpoint is closed.
    pub async fn accept(&self) -> Option<Incoming> {
        self.0.accept().await.map(Incoming)
    }

    /// Closes every connection at once and refuses new ones.
    pub fn close(&self) {
        self.0.close(VarIntCode::NO_ERROR, b"");
    }

    /// Waits until every connection's close has been sent, at most `limit`.
    pub async fn wait_idle(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.0.wait_idle()).await;
    }
}

/// HTTP/3's `H3_NO_ERROR` as a QUIC application close code.
struct VarIntCode;

impl VarIntCode {
    const NO_ERROR: quinn::VarInt = quinn::VarInt::from_u32(0x100);
}

/// A client's connection attempt, before its handshake.
pub(crate) struct Incoming(quinn::Incoming);

impl Incoming {
    /// Refuses the connection at once (the server is full or shutting down).
    pub fn refuse(self) {
        self.0.refuse();
    }

    /// Completes the QUIC and TLS handshake and HTTP/3's settings exchange, within `timeout`;
    /// `None` if it fails or takes longer. `max_header_list_size` bounds each request's header
    /// section (measured as HTTP/2 measures a header list); larger ones are answered 431.
    pub async fn handshake(
        self,
        timeout: Duration,
        max_header_list_size: u32,
    ) -> Option<Connection> {
        let connected = async {
            let connection = self.0.accept().ok()?.await.ok()?;
            let peer = connection.remote_address();
            let certificates = connection
                .peer_identity()
                .and_then(|identity| {
                    identity
                        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                        .ok()
                })
                .filter(|chain| !chain.is_empty())
                .map(|chain| PeerCertificates::new(*chain));
            let quic = connection.clone();
            let h3 = h3::server::builder()
                .max_field_section_size(u64::from(max_header_list_size))
                .build(h3_quinn::Connection::new(connection))
                .await
                .ok()?;
            Some(Connection {
                h3,
                quic,
                peer,
                certificates,
            })
        };
        tokio::time::timeout(timeout, connected).await.ok()?
    }
}

/// What a connection's [`accept`](Connection::accept) found.
// A request is moved once, straight into its task: boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Accepted {
    /// A request stream.
    Request(PendingRequest),
    /// The client sent GOAWAY and all its requests are over: nothing more will come.
    Done,
    /// The connection is closed, or failed.
    Closed,
}

/// An HTTP/3 connection. Dropping it closes the QUIC connection at once.
pub(crate) struct Connection {
    h3: h3::server::Connection<h3_quinn::Connection, Bytes>,
    /// The QUIC connection beneath, to learn when the client has closed it.
    quic: quinn::Connection,
    pub peer: SocketAddr,
    /// The client's verified certificate chain, if it sent one.
    pub certificates: Option<PeerCertificates>,
}

impl Connection {
    /// The next request stream, or why there is none.
    pub async fn accept(&mut self) -> Accepted {
        match self.h3.accept().await {
            Ok(Some(resolver)) => Accepted::Request(PendingRequest(resolver)),
            Ok(None) => Accepted::Done,
            Err(_) => Accepted::Closed,
        }
    }

    /// A handle that tells when the QUIC connection is closed, by either side.
    pub fn close_watch(&self) -> CloseWatch {
        CloseWatch(self.quic.clone())
    }

    /// Sends GOAWAY naming the stream after the last accepted one as the first unprocessed (RFC
    /// 9114, section 5.2). h3 refuses later streams with `H3_REQUEST_REJECTED` itself, but still
    /// hands over that one, should it arrive: refuse it with [`PendingRequest::reject`].
    pub async fn shutdown(&mut self) {
        // h3 counts "the last accepted stream plus this many".
        let _ = self.h3.shutdown(1).await;
    }
}

/// Tells when a QUIC connection is closed.
pub(crate) struct CloseWatch(quinn::Connection);

impl CloseWatch {
    /// Resolves once the connection is closed, by either side.
    pub async fn closed(&self) {
        self.0.closed().await;
    }
}

/// A request stream whose header section has not been read yet.
pub(crate) struct PendingRequest(h3::server::RequestResolver<h3_quinn::Connection, Bytes>);

impl PendingRequest {
    /// Reads the request's header section. `None` if the stream failed or was malformed (h3 has
    /// then answered or reset it: 431 for a header section over the limit).
    pub async fn resolve(self) -> Option<(http::Request<Body>, Exchange)> {
        let (head, stream) = self.0.resolve_request().await.ok()?;
        let (send, recv) = stream.split();
        // One frame in the channel, one read at a time: the reader reads ahead no further than that.
        let (frames, receiver) = mpsc::channel(1);
        let request = head.map(|()| Body::new(RequestBody(receiver)));
        let exchange = Exchange {
            send: SendHalf::server(send),
            reader: RequestReader {
                recv: RecvBody::server(recv),
                frames,
            },
        };
        Some((request, exchange))
    }
}

impl PendingRequest {
    /// Refuses the request unprocessed: its stream is reset with `H3_REQUEST_REJECTED`, which tells
    /// the client it may send it again elsewhere.
    pub async fn reject(self) {
        if let Ok((_, mut stream)) = self.0.resolve_request().await {
            stream.stop_stream(H3Code::H3_REQUEST_REJECTED);
        }
    }
}

/// One request's exchange: where its response goes, and the reader of its body.
pub(crate) struct Exchange {
    send: SendHalf,
    reader: RequestReader,
}

impl Exchange {
    /// Runs the call `response` (the served service's future) and writes its response: head, body
    /// and trailers. Meanwhile the request body is read for the handler; if the client resets the
    /// request stream (it cancelled the call), the call is dropped at once, as a reset HTTP/2 stream
    /// drops it. A body that fails resets the stream with `H3_INTERNAL_ERROR`, as does dropping
    /// this future before the end.
    pub async fn respond<F, B>(self, response: F)
    where
        F: Future<Output = http::Response<B>>,
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: Into<crate::Error>,
    {
        let Exchange { mut send, reader } = self;
        {
            let work = write_response(&mut send, response);
            let reading = reader.run();
            tokio::pin!(work, reading);
            tokio::select! {
                () = &mut work => return,
                read = &mut reading => {
                    if read.is_ok() {
                        return work.await;
                    }
                }
            }
            // The client cancelled: the call is dropped here (its handler sees the cancellation).
        }
        send.reset(H3Code::H3_REQUEST_CANCELLED);
    }
}

/// Waits for the response and writes it.
async fn write_response<F, B>(send: &mut SendHalf, response: F)
where
    F: Future<Output = http::Response<B>>,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<crate::Error>,
{
    let (mut parts, body) = response.await.into_parts();
    crate::http2::strip_connection_headers(&mut parts.headers);
    let head = http::Response::from_parts(parts, ());
    if send.send_response(head).await.is_err() {
        return;
    }
    match send_body(send, body).await {
        Ok(()) | Err(SendFailure::Body(_)) => {}
        // The client stopped reading (or the connection went): nothing left to tell it.
        Err(SendFailure::Stream) => send.reset(H3Code::H3_REQUEST_CANCELLED),
    }
}

/// Reads a request body into the channel the handler's [`RequestBody`] reads from.
struct RequestReader {
    recv: RecvBody,
    frames: mpsc::Sender<Result<Frame<Bytes>, crate::Error>>,
}

impl RequestReader {
    /// Reads until the body's end (`Ok`), or until the handler drops the body (`Ok`: quinn then asks
    /// the client to stop sending), or until the stream fails (`Err`: the client reset it, or the
    /// connection went; the handler gets the error too, if it is still reading).
    async fn run(mut self) -> Result<(), ()> {
        loop {
            let Ok(room) = self.frames.reserve().await else {
                return Ok(());
            };
            match self.recv.frame().await {
                None => return Ok(()),
                Some(Ok(frame)) => room.send(Ok(frame)),
                Some(Err(error)) => {
                    room.send(Err(error));
                    return Err(());
                }
            }
        }
    }
}

/// A request body as the handler reads it: what the [`RequestReader`] read.
struct RequestBody(mpsc::Receiver<Result<Frame<Bytes>, crate::Error>>);

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = crate::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, crate::Error>>> {
        self.0.poll_recv(cx)
    }
}
