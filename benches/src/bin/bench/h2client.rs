//! A minimal HTTP/2 client on the `h2` crate for what h2load cannot do: checking that a peer answers
//! with the expected bytes, bidi ping-pong, and holding thousands of idle server streams open. It runs in
//! the driver, on the load core.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::client::SendRequest;
use http::Request;
use tokio::net::TcpStream;

use crate::peers::Protocol;

/// Any failure of a call, a connection or a check.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Opens an HTTP/2 connection with large client windows; the connection task runs on the current
/// runtime.
pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Bytes>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(1 << 30)
        .initial_connection_window_size(1 << 30)
        .handshake(tcp)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client.ready().await?)
}

fn request(protocol: Protocol, method: &str) -> Request<()> {
    let builder = Request::post(format!(
        "http://127.0.0.1/trident.bench.v1.EchoService/{method}"
    ));
    match protocol {
        Protocol::Grpc => builder
            .header("content-type", "application/grpc")
            .header("te", "trailers"),
        Protocol::GrpcWeb => builder.header("content-type", "application/grpc-web+proto"),
        Protocol::Connect => builder
            .header("content-type", "application/proto")
            .header("connect-protocol-version", "1"),
    }
    .body(())
    .expect("a valid request")
}

/// Appends the next chunk of `body` to `into` and releases its flow-control capacity; `false` at the end.
pub async fn read_some(body: &mut RecvStream, into: &mut BytesMut) -> Result<bool, Error> {
    match body.data().await {
        Some(chunk) => {
            let chunk = chunk?;
            let _ = body.flow_control().release_capacity(chunk.len());
            into.extend_from_slice(&chunk);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Sends one unary `Echo` call with `protocol` and checks the answer carries exactly `message` back
/// (and, for gRPC and gRPC-Web, status 0).
pub async fn check_echo(addr: SocketAddr, protocol: Protocol, message: &[u8]) -> Result<(), Error> {
    let mut client = connect(addr).await?;
    let body = match protocol {
        Protocol::Connect => message.to_vec(),
        _ => trident_benches::wire::envelope(message),
    };
    let (response, mut send) = client.send_request(request(protocol, "Echo"), false)?;
    send.reserve_capacity(body.len());
    send.send_data(Bytes::from(body.clone()), true)?;
    let response = response.await?;
    if response.status() != 200 {
        return Err(format!("HTTP status {}", response.status()).into());
    }
    let mut recv = response.into_body();
    let mut data = BytesMut::new();
    while read_some(&mut recv, &mut data).await? {}
    let trailers = recv.trailers().await?;
    match protocol {
        Protocol::Connect => {
            if data[..] != body[..] {
                return Err("the Connect answer differs from the request".into());
            }
        }
        Protocol::Grpc => {
            let status = trailers.as_ref().and_then(|t| t.get("grpc-status"));
            if status.is_none_or(|s| s != "0") {
                return Err(format!("grpc-status {status:?}").into());
            }
            if data[..] != body[..] {
                return Err("the gRPC answer differs from the request".into());
            }
        }
        Protocol::GrpcWeb => {
            if data.len() < body.len() || data[..body.len()] != body[..] {
                return Err("the gRPC-Web answer differs from the request".into());
            }
            let trailer = String::from_utf8_lossy(&data[body.len()..]).to_ascii_lowercase();
            if !trailer.contains("grpc-status:0") && !trailer.contains("grpc-status: 0") {
                return Err(format!("gRPC-Web trailer {trailer:?}").into());
            }
        }
    }
    Ok(())
}

/// Whole envelopes at the front of `buffer`: removes and counts them.
fn take_envelopes(buffer: &mut BytesMut) -> usize {
    let mut count = 0;
    while buffer.len() >= 5 {
        let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
        if buffer.len() < 5 + len {
            break;
        }
        let _ = buffer.split_to(5 + len);
        count += 1;
    }
    count
}

/// One gRPC bidi stream: sends a message, waits for its echo, and again, for `duration`. Returns the
/// round-trip times.
pub async fn ping_pong(
    addr: SocketAddr,
    message: &[u8],
    duration: Duration,
) -> Result<Vec<Duration>, Error> {
    let mut client = connect(addr).await?;
    let (response, mut send) = client.send_request(request(Protocol::Grpc, "Bidi"), false)?;
    let envelope = Bytes::from(trident_benches::wire::envelope(message));
    let mut rtts = Vec::new();
    let start = Instant::now();
    // The first message goes out before the response headers: servers may hold them until then.
    let sent = Instant::now();
    send.send_data(envelope.clone(), false)?;
    let mut recv = response.await?.into_body();
    let mut buffer = BytesMut::new();
    let mut sent_at = sent;
    loop {
        while take_envelopes(&mut buffer) == 0 {
            if !read_some(&mut recv, &mut buffer).await? {
                return Err("the bidi stream ended early".into());
            }
        }
        rtts.push(sent_at.elapsed());
        if start.elapsed() >= duration {
            break;
        }
        sent_at = Instant::now();
        send.send_data(envelope.clone(), false)?;
    }
    send.send_data(Bytes::new(), true)?;
    Ok(rtts)
}

/// Open server streams, kept until dropped.
pub struct IdleStreams {
    _streams: Vec<RecvStream>,
    _clients: Vec<SendRequest<Bytes>>,
}

/// Opens `connections` connections and warms each with one unary call.
pub async fn open_connections(
    addr: SocketAddr,
    connections: usize,
) -> Result<Vec<SendRequest<Bytes>>, Error> {
    let mut clients = Vec::with_capacity(connections);
    let message = trident_benches::wire::echo_message(&trident_benches::wire::payload(64));
    for _ in 0..connections {
        let mut client = connect(addr).await?;
        let (response, mut send) = client.send_request(request(Protocol::Grpc, "Echo"), false)?;
        send.send_data(Bytes::from(trident_benches::wire::envelope(&message)), true)?;
        let mut recv = response.await?.into_body();
        let mut sink = BytesMut::new();
        while read_some(&mut recv, &mut sink).await? {}
        let _ = recv.trailers().await?;
        clients.push(client);
    }
    Ok(clients)
}

/// Starts `per_connection` held `Stream` calls on each client (one small message each, then idle) and
/// waits until every stream has delivered its message.
pub async fn hold_streams(
    clients: Vec<SendRequest<Bytes>>,
    per_connection: usize,
) -> Result<IdleStreams, Error> {
    let body = Bytes::from(trident_benches::wire::envelope(
        &trident_benches::wire::stream_request(1, 64, true),
    ));
    let mut pending = Vec::new();
    for client in &clients {
        for _ in 0..per_connection {
            let mut client = client.clone().ready().await?;
            let (response, mut send) =
                client.send_request(request(Protocol::Grpc, "Stream"), false)?;
            send.send_data(body.clone(), true)?;
            pending.push(response);
        }
    }
    let mut streams = Vec::with_capacity(pending.len());
    for response in pending {
        let mut recv = response.await?.into_body();
        let mut buffer = BytesMut::new();
        while take_envelopes(&mut buffer) == 0 {
            if !read_some(&mut recv, &mut buffer).await? {
                return Err("a held stream ended".into());
            }
        }
        streams.push(recv);
    }
    Ok(IdleStreams {
        _streams: streams,
        _clients: clients,
    })
}
