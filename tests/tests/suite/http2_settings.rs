//! HTTP/2 flow-control settings on both sides: what a `Server` and a `ClientBuilder` announce on the
//! wire (read frame by frame from raw sockets), that out-of-range values are refused by name when a
//! client is built or serving starts, and that calls still work with the smallest windows and frames.

use std::future::IntoFuture as _;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use trident::{Server, client::ClientBuilder};
use trident_tests::{
    Codec, EchoRequest, Http, TestServer, build_client, configure_builder, text, within,
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const WINDOW_UPDATE: u8 = 0x8;
const ACK: u8 = 0x1;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
/// Every window's size before SETTINGS and WINDOW_UPDATE frames change it.
const SPEC_WINDOW: u32 = 65_535;

/// One HTTP/2 frame.
#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    /// The frame's bytes: 9-byte header (24-bit length, type, flags, 31-bit stream id), then payload.
    fn encode(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).expect("small payload");
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A SETTINGS frame's parameters, as (identifier, value) pairs.
    fn settings(&self) -> Vec<(u16, u32)> {
        assert_eq!(self.kind, SETTINGS, "{self:?}");
        assert_eq!(self.payload.len() % 6, 0, "SETTINGS payload length");
        self.payload
            .chunks_exact(6)
            .map(|p| {
                (
                    u16::from_be_bytes([p[0], p[1]]),
                    u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                )
            })
            .collect()
    }

    /// The value of SETTINGS parameter `id`, if the frame carries it.
    fn setting(&self, id: u16) -> Option<u32> {
        self.settings()
            .into_iter()
            .rev()
            .find(|&(i, _)| i == id)
            .map(|(_, v)| v)
    }

    /// A WINDOW_UPDATE frame's increment.
    fn window_increment(&self) -> u32 {
        assert_eq!(self.kind, WINDOW_UPDATE, "{self:?}");
        let p = &self.payload;
        assert_eq!(p.len(), 4, "WINDOW_UPDATE payload length");
        u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff
    }
}

/// Reads one frame; fails the test (instead of hanging) if none arrives in time or the peer closes.
async fn read_frame(io: &mut (impl AsyncRead + Unpin)) -> Frame {
    within("read an HTTP/2 frame", async {
        let mut header = [0u8; 9];
        io.read_exact(&mut header).await.expect("a frame header");
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        io.read_exact(&mut payload).await.expect("a frame payload");
        Frame {
            kind: header[3],
            flags: header[4],
            stream: u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff,
            payload,
        }
    })
    .await
}

/// What one side announced when its HTTP/2 connection opened.
#[derive(Debug)]
struct Announced {
    settings: Frame,
    /// The connection's receive window after its WINDOW_UPDATE frames on stream 0.
    connection_window: u32,
}

/// Reads frames until the peer's first (non-ACK) SETTINGS frame, then until its stream-0 WINDOW_UPDATEs
/// have raised the connection window to `expected_connection_window` (or past it, or for as long as
/// `frames` more frames allow). With `answer`, a server's SETTINGS frame is written once the peer's is
/// read (for a client peer, which may wait for it).
async fn read_announcement(
    io: &mut TcpStream,
    expected_connection_window: u32,
    answer: bool,
) -> Announced {
    let settings = loop {
        let frame = read_frame(io).await;
        if frame.kind == SETTINGS && frame.flags & ACK == 0 {
            assert_eq!(frame.stream, 0, "SETTINGS on stream 0");
            break frame;
        }
    };
    if answer {
        let mut reply = Frame::encode(SETTINGS, 0, 0, &[]);
        reply.extend(Frame::encode(SETTINGS, ACK, 0, &[]));
        io.write_all(&reply).await.expect("write SETTINGS");
    }
    let mut connection_window = SPEC_WINDOW;
    let mut frames = 0;
    while connection_window < expected_connection_window && frames < 20 {
        let frame = read_frame(io).await;
        frames += 1;
        if frame.kind == WINDOW_UPDATE && frame.stream == 0 {
            connection_window += frame.window_increment();
        }
    }
    Announced {
        settings,
        connection_window,
    }
}

/// Opens an h2c connection to `addr` as a client would and returns what the server announced.
async fn server_announcement(
    addr: std::net::SocketAddr,
    expected_connection_window: u32,
) -> Announced {
    let mut io = within("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    let mut hello = PREFACE.to_vec();
    hello.extend(Frame::encode(SETTINGS, 0, 0, &[]));
    io.write_all(&hello).await.expect("write the preface");
    read_announcement(&mut io, expected_connection_window, false).await
}

/// A server configured with non-default windows and frame size announces them: SETTINGS carries the
/// stream window and the frame size, and a WINDOW_UPDATE on stream 0 raises the connection window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_announces_its_windows_and_frame_size() {
    const STREAM_WINDOW: u32 = 300_000;
    const CONNECTION_WINDOW: u32 = 3_000_000;
    const FRAME: u32 = 65_536;
    let server = TestServer::start_on(
        Server::new().http2(
            trident::Http2Settings::new()
                .initial_stream_window_size(STREAM_WINDOW)
                .initial_connection_window_size(CONNECTION_WINDOW)
                .max_frame_size(FRAME),
        ),
        |router| router,
    )
    .await;
    let announced = server_announcement(server.addr, CONNECTION_WINDOW).await;
    assert_eq!(
        announced.settings.setting(SETTINGS_INITIAL_WINDOW_SIZE),
        Some(STREAM_WINDOW),
        "{:?}",
        announced.settings.settings()
    );
    assert_eq!(
        announced.settings.setting(SETTINGS_MAX_FRAME_SIZE),
        Some(FRAME),
        "{:?}",
        announced.settings.settings()
    );
    assert_eq!(announced.connection_window, CONNECTION_WINDOW);
}

/// The largest values HTTP/2 allows are announced as they are, and calls work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_announces_the_largest_legal_values() {
    const MAX_WINDOW: u32 = (1 << 31) - 1;
    const MAX_FRAME: u32 = (1 << 24) - 1;
    let server = TestServer::start_on(
        Server::new().http2(
            trident::Http2Settings::new()
                .initial_stream_window_size(MAX_WINDOW)
                .initial_connection_window_size(MAX_WINDOW)
                .max_frame_size(MAX_FRAME),
        ),
        |router| router,
    )
    .await;
    let announced = server_announcement(server.addr, MAX_WINDOW).await;
    let settings = &announced.settings;
    assert_eq!(
        settings.setting(SETTINGS_INITIAL_WINDOW_SIZE),
        Some(MAX_WINDOW)
    );
    assert_eq!(settings.setting(SETTINGS_MAX_FRAME_SIZE), Some(MAX_FRAME));
    assert_eq!(announced.connection_window, MAX_WINDOW);
    let client = server.client(Codec::Proto, Http::H2);
    let reply = within("echo", client.echo(text("largest")))
        .await
        .expect("calls work");
    assert_eq!(reply.message().text, "largest");
}

/// Values out of HTTP/2's range (h2 itself would panic on such a frame size) are not clamped: the
/// serve future fails at start, naming each setting and its value, and accepts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refuses_out_of_range_values_when_serving_starts() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let serve = Server::new()
        .http2(
            trident::Http2Settings::new()
                .initial_stream_window_size(0)
                .max_frame_size(u32::MAX),
        )
        .serve(listener, trident::Router::new());
    let error = within("serving fails at once", serve.into_future())
        .await
        .expect_err("a misconfigured server does not serve");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let message = error.to_string();
    assert!(
        message.contains("initial_stream_window_size(0)"),
        "{message}"
    );
    assert!(message.contains("max_frame_size(4294967295)"), "{message}");
}

/// Accepts the client's h2c connection on a raw listener and returns what the client announced.
/// The call itself then fails (the socket and listener are dropped); it must not hang.
async fn client_announcement(
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    expected_connection_window: u32,
) -> Announced {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let builder = configure_builder(
        trident::Client::builder(format!("http://{addr}")),
        Codec::Proto,
        Http::H2,
    )
    .default_timeout(Duration::from_secs(10));
    let client = build_client(configure(builder));
    let call = tokio::spawn(async move { client.echo(text("never answered")).await });

    let (mut io, _) = within("accept the client", listener.accept())
        .await
        .expect("accept");
    let mut preface = [0u8; PREFACE.len()];
    within("read the preface", io.read_exact(&mut preface))
        .await
        .expect("the client preface");
    assert_eq!(&preface[..], PREFACE);
    let announced = read_announcement(&mut io, expected_connection_window, true).await;

    drop(io);
    drop(listener);
    let result = within("the call ends", call).await.expect("call task");
    assert!(result.is_err(), "no server answered, yet: {result:?}");
    announced
}

/// A client configured with non-default windows and frame size announces them on its HTTP/2
/// connection: SETTINGS carries the stream window and the frame size, a WINDOW_UPDATE on stream 0
/// raises the connection window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_announces_its_windows_and_frame_size() {
    const STREAM_WINDOW: u32 = 400_000;
    const CONNECTION_WINDOW: u32 = 6_000_000;
    const FRAME: u32 = 32_768;
    let announced = client_announcement(
        |builder| {
            builder.http2(
                trident::Http2Settings::new()
                    .initial_stream_window_size(STREAM_WINDOW)
                    .initial_connection_window_size(CONNECTION_WINDOW)
                    .max_frame_size(FRAME),
            )
        },
        CONNECTION_WINDOW,
    )
    .await;
    let settings = &announced.settings;
    assert_eq!(
        settings.setting(SETTINGS_INITIAL_WINDOW_SIZE),
        Some(STREAM_WINDOW),
        "{:?}",
        settings.settings()
    );
    assert_eq!(
        settings.setting(SETTINGS_MAX_FRAME_SIZE),
        Some(FRAME),
        "{:?}",
        settings.settings()
    );
    assert_eq!(announced.connection_window, CONNECTION_WINDOW);
}

/// Unset, the client keeps its fixed defaults: 2 MiB per stream, 5 MiB per connection, 16 KiB frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_defaults_are_fixed_windows() {
    let announced = client_announcement(|builder| builder, 5 * 1024 * 1024).await;
    let settings = &announced.settings;
    assert_eq!(
        settings.setting(SETTINGS_INITIAL_WINDOW_SIZE),
        Some(2 * 1024 * 1024),
        "{:?}",
        settings.settings()
    );
    assert!(
        matches!(
            settings.setting(SETTINGS_MAX_FRAME_SIZE),
            None | Some(16_384)
        ),
        "{:?}",
        settings.settings()
    );
    assert_eq!(announced.connection_window, 5 * 1024 * 1024);
}

/// Out-of-range client values fail `build`, naming each setting and its value.
#[test]
fn client_refuses_out_of_range_values_when_built() {
    let error = trident::Client::builder("http://127.0.0.1:1")
        .http_version(trident::HttpVersion::Http2)
        .http2(
            trident::Http2Settings::new()
                .initial_stream_window_size(0)
                .initial_connection_window_size(1)
                .max_frame_size(u32::MAX),
        )
        .build()
        .expect_err("a misconfigured client is not built");
    let message = error.message();
    assert!(message.starts_with("3 configuration problems"), "{message}");
    for setting in [
        "initial_stream_window_size(0)",
        "initial_connection_window_size(1)",
        "max_frame_size(4294967295)",
    ] {
        assert!(message.contains(setting), "{message}");
    }
}

/// With the smallest windows and frames on both sides (65,535-byte windows, 16 KiB frames), and with
/// adaptive windows on both sides, a 1 MiB unary echo and a 2 MiB server stream still go through, over
/// Connect and gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_flow_through_small_and_adaptive_windows() {
    type Setup = (
        &'static str,
        fn(Server) -> Server,
        fn(ClientBuilder) -> ClientBuilder,
    );
    let setups: [Setup; 2] = [
        (
            "small windows",
            |server| {
                server.http2(
                    trident::Http2Settings::new()
                        .initial_stream_window_size(SPEC_WINDOW)
                        .initial_connection_window_size(SPEC_WINDOW)
                        .max_frame_size(16_384),
                )
            },
            |builder| {
                builder.http2(
                    trident::Http2Settings::new()
                        .initial_stream_window_size(SPEC_WINDOW)
                        .initial_connection_window_size(SPEC_WINDOW)
                        .max_frame_size(16_384),
                )
            },
        ),
        (
            "adaptive windows",
            |server| server.http2(trident::Http2Settings::new().adaptive_window(true)),
            |builder| builder.http2(trident::Http2Settings::new().adaptive_window(true)),
        ),
    ];
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for (name, configure_server, configure_client) in setups {
        let server = TestServer::start_on(configure_server(Server::new()), |router| router).await;
        for protocol in [trident::ProtocolKind::CONNECT, trident::ProtocolKind::GRPC] {
            let client = build_client(configure_client(
                server
                    .builder(Codec::Proto, Http::H2)
                    .protocol(protocol)
                    .read_max_bytes(8 * 1024 * 1024),
            ));
            let what = format!("{name}, {protocol:?}");

            let reply = within(
                &what,
                client.echo(EchoRequest {
                    text: "big".into(),
                    payload: payload.clone(),
                    ..Default::default()
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: 1 MiB echo: {e}"));
            assert_eq!(reply.message().payload.len(), payload.len(), "{what}");
            assert!(
                reply.message().payload == payload,
                "{what}: payload differs"
            );

            let chunk = payload[..256 * 1024].to_vec();
            let mut stream = within(
                &what,
                client.repeat(EchoRequest {
                    text: "stream".into(),
                    payload: chunk.clone(),
                    repeat: 8,
                    ..Default::default()
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: open the stream: {e}"));
            let mut count = 0;
            while let Some(message) = within(&what, stream.message())
                .await
                .unwrap_or_else(|e| panic!("{what}: stream message: {e}"))
            {
                assert!(message.payload == chunk, "{what}: message {count}");
                count += 1;
            }
            assert_eq!(count, 8, "{what}");
        }
    }
}
