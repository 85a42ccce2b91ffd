//! The demo: starts a server on a free local port, then runs a client through every stream type with
//! each protocol (Connect, gRPC, gRPC-Web, Triple), over HTTP/1.1 and HTTP/2 (h2c), with the proto and JSON
//! codecs and gzip, printing what happens. Then the same over HTTP/3: a second server with a
//! certificate made up on the spot serves TLS over TCP and QUIC over UDP on one port. Then REST: the
//! methods' `google.api.http` bindings called as plain HTTP, as curl would; a server stream pushed as
//! server-sent events and JSON lines to a plain GET; and a bidi stream over a WebSocket, as a browser
//! runs it. Last, a balanced client spreads the calls over two replicas and steps around an endpoint
//! that is down.

use std::time::Duration;

use trident::triple::{TripleClientOptions as _, TripleRoutes as _};
use trident::{Client, Code, HttpVersion, ProtocolKind, Router, Server, tls::TlsConfig};
use trident_examples::Greeter;
use trident_examples::greet::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // The same service again as Apache Dubbo's service group "beta", version "2.0.0": Dubbo callers
    // (and Trident clients with Triple's `service_group`/`service_version`) pick it by name.
    let router = Router::new()
        .add(greet_service_routes(Greeter))
        .add(greet_service_routes(Greeter).group("beta").version("2.0.0"));
    tokio::spawn(Server::new().serve(listener, router.clone()).into_future());
    println!("server listening on http://{addr}");

    // HTTP/3 needs TLS: a self-signed certificate for 127.0.0.1, which the demo's client trusts.
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let cert_pem = certified.cert.pem();
    let tls = TlsConfig::from_pem(&cert_pem, certified.signing_key.serialize_pem())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let tls_addr = listener.local_addr()?;
    tokio::spawn(
        Server::new()
            .tls(tls)
            .http3(true)
            .serve(listener, router)
            .into_future(),
    );
    println!("server listening on https://{tls_addr} (TCP and, for HTTP/3, UDP)");

    for protocol in [
        ProtocolKind::CONNECT,
        ProtocolKind::GRPC,
        ProtocolKind::GRPC_WEB,
        ProtocolKind::TRIPLE,
    ] {
        for version in [HttpVersion::Http1, HttpVersion::Http2, HttpVersion::Http3] {
            if protocol == ProtocolKind::GRPC && version == HttpVersion::Http1 {
                println!(
                    "[grpc     HTTP/1.1      ] gRPC needs HTTP/2 (trailers); use gRPC-Web or Connect instead"
                );
                continue;
            }
            if protocol == ProtocolKind::TRIPLE && version == HttpVersion::Http1 {
                println!(
                    "[triple   HTTP/1.1      ] Triple's streams are gRPC, which needs HTTP/2 (its unary calls work over HTTP/1.1)"
                );
                continue;
            }
            for json in [false, true] {
                let mut builder = match version {
                    HttpVersion::Http3 => Client::builder(format!("https://{tls_addr}"))
                        .tls_root_certificates_pem(&cert_pem),
                    _ => Client::builder(format!("http://{addr}")),
                };
                builder = builder
                    .protocol(protocol)
                    .http_version(version)
                    .send_compression("gzip")
                    .default_timeout(Duration::from_secs(10));
                if json {
                    builder = builder.json();
                }
                let client = GreetServiceClient::new(builder.build()?);
                let label = format!(
                    "{:<8} {} {}",
                    protocol.to_string(),
                    match version {
                        HttpVersion::Http1 => "HTTP/1.1",
                        HttpVersion::Http2 => "HTTP/2  ",
                        HttpVersion::Http3 => "HTTP/3  ",
                    },
                    if json { "json " } else { "proto" }
                );
                run(&client, &label, version).await?;
            }
        }
    }

    // Connect GET for the side-effect-free method.
    let client = GreetServiceClient::new(
        Client::builder(format!("http://{addr}"))
            .json()
            .use_get(true)
            .build()?,
    );
    let response = client.greet(GreetRequest { name: "GET".into() }).await?;
    println!(
        "[connect  GET      json ] unary   greet          -> {:?}",
        response.message().greeting
    );

    // Dubbo's service group and version select an implementation; an unknown pair is unimplemented.
    for (group, version) in [("beta", "2.0.0"), ("beta", "9")] {
        let client = GreetServiceClient::new(
            Client::builder(format!("http://{addr}"))
                .protocol(ProtocolKind::TRIPLE)
                .service_group(group)
                .service_version(version)
                .build()?,
        );
        let outcome = match client
            .greet(GreetRequest {
                name: "Dubbo".into(),
            })
            .await
        {
            Ok(response) => format!("{:?}", response.message().greeting),
            Err(error) => format!("error {error}"),
        };
        println!("[triple   {group}/{version:<5} proto] unary   greet          -> {outcome}");
    }

    // A balanced client: calls spread over two replicas, stepping around a third endpoint where
    rest(addr).await?;
    push(addr).await?;
    websocket(addr).await?;

    // nothing listens (its connect fails, so it is left out and the call goes elsewhere), retrying
    // idempotent calls that fail with `unavailable`.
    let replica = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let replica_addr = replica.local_addr()?;
    let replica_router = Router::new().add(greet_service_routes(Greeter));
    tokio::spawn(Server::new().serve(replica, replica_router).into_future());
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let balanced = GreetServiceClient::new(
        Client::builder("http://greeter.demo")
            .protocol(ProtocolKind::GRPC)
            .http_version(HttpVersion::Http2)
            .endpoints([addr, nowhere, replica_addr])
            .balance(trident::client::BalancePolicy::PowerOfTwoChoices)
            .retry(trident::client::RetryPolicy::new())
            .default_timeout(Duration::from_secs(10))
            .build()?,
    );
    run(
        &balanced,
        "balanced over 3 endpoints, 1 down",
        HttpVersion::Http2,
    )
    .await?;

    // Errors carry codes.
    let error = client
        .greet(GreetRequest::default())
        .await
        .expect_err("an empty name is rejected");
    assert_eq!(error.code(), Code::InvalidArgument);
    println!("[connect  GET      json ] unary   greet(\"\")      -> error {error}");
    println!(
        "demo finished: every stream type worked over Connect, gRPC, gRPC-Web and Triple, HTTP/1.1, HTTP/2 and HTTP/3, proto and JSON, and over WebSocket; REST answered plain HTTP, a server stream was pushed as server-sent events and JSON lines, and calls balanced over replicas"
    );
    Ok(())
}

async fn run(
    client: &GreetServiceClient,
    label: &str,
    version: HttpVersion,
) -> Result<(), Box<dyn std::error::Error>> {
    let response = client
        .greet(GreetRequest {
            name: "Trident".into(),
        })
        .await?;
    println!(
        "[{label}] unary   greet          -> {:?} (x-greeter: {:?})",
        response.message().greeting,
        response.headers().get("x-greeter").unwrap_or("")
    );

    let mut countdown = client.countdown(CountdownRequest { from: 3 }).await?;
    let mut numbers = Vec::new();
    while let Some(message) = countdown.message().await? {
        numbers.push(message.number);
    }
    println!("[{label}] server  countdown(3)   -> {numbers:?}");

    let mut sum = client.sum(());
    for number in [1, 2, 3, 4] {
        sum.send(SumRequest { number }).await?;
    }
    let total = sum.close_and_receive().await?;
    println!(
        "[{label}] client  sum(1,2,3,4)   -> total {} of {} numbers",
        total.message().total,
        total.message().count
    );

    let mut shout = client.shout(());
    if version == HttpVersion::Http1 {
        let error = shout
            .send(ShoutRequest { line: "hi".into() })
            .await
            .expect_err("bidi needs HTTP/2");
        println!("[{label}] bidi    shout          -> refused as expected: {error}");
        return Ok(());
    }
    let mut shouted = Vec::new();
    for line in ["hello", "bidi", "world"] {
        shout.send(ShoutRequest { line: line.into() }).await?;
        // Full duplex: each answer arrives before the next line is sent.
        if let Some(reply) = shout.message().await? {
            shouted.push(reply.line);
        }
    }
    shout.close_send()?;
    while let Some(reply) = shout.message().await? {
        shouted.push(reply.line);
    }
    println!("[{label}] bidi    shout          -> {shouted:?}");
    Ok(())
}

/// REST: the demo's `google.api.http` bindings (`GET /v1/greet/{name}`, `POST /v1/greet`,
/// `GET /v1/countdown/{from}`) called as plain HTTP over HTTP/1.1 and h2c, as curl would.
async fn rest(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;

    for (label, http2) in [("HTTP/1.1", false), ("h2c     ", true)] {
        let client = HttpClient::builder(TokioExecutor::new())
            .http2_only(http2)
            .build_http::<Full<bytes::Bytes>>();
        let calls = [
            ("GET", "/v1/greet/REST", "", None),
            ("POST", "/v1/greet", r#"{"name":"POST"}"#, None),
            ("GET", "/v1/countdown/3", "", None),
            ("GET", "/v1/countdown/2", "", Some("text/event-stream")),
            ("POST", "/v1/greet", "{}", None),
        ];
        for (method, path, body, accept) in calls {
            let mut request = http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"))
                .header("content-type", "application/json");
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let response = client
                .request(request.body(Full::new(bytes::Bytes::from(body)))?)
                .await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let text = String::from_utf8_lossy(&body);
            println!(
                "[rest     {label} json ] {method:<4} {path:<16} -> {} {}",
                status.as_u16(),
                text.trim_end().replace('\n', " | ")
            );
        }
    }
    Ok(())
}

/// Server push: the countdown (a server stream with no REST binding) fetched with a plain GET as
/// server-sent events and as JSON lines, the message in the query, as `EventSource` and `curl -N`
/// would.
async fn push(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use http_body_util::{BodyExt as _, Empty};
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;

    // {"from":2}
    let path = "/trident.demo.v1.GreetService/Countdown?message=%7B%22from%22%3A2%7D";
    for (label, http2) in [("HTTP/1.1", false), ("h2c     ", true)] {
        let client = HttpClient::builder(TokioExecutor::new())
            .http2_only(http2)
            .build_http::<Empty<bytes::Bytes>>();
        for (form, accept) in [
            ("sse   ", "text/event-stream"),
            ("ndjson", "application/x-ndjson"),
        ] {
            let request = http::Request::get(format!("http://{addr}{path}"))
                .header("accept", accept)
                .body(Empty::new())?;
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let text = String::from_utf8_lossy(&body);
            println!(
                "[{form}   {label} json ] GET  countdown(2)   -> {} {}",
                status.as_u16(),
                text.trim_end().replace('\n', " | ")
            );
        }
    }
    Ok(())
}

/// WebSocket: the bidi `Shout` as a browser runs it, full duplex over one socket (HTTP/1.1's
/// upgrade): a text head, then each line as one Connect envelope, each answer read before the next
/// line is sent, then the empty end-of-stream envelope and the server's end-stream message.
async fn websocket(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    use futures_util::{SinkExt as _, StreamExt as _};
    use prost::Message as _;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut framed = vec![flags];
        framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        framed.extend_from_slice(payload);
        framed
    }
    let mut request =
        format!("ws://{addr}/trident.demo.v1.GreetService/Shout").into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static("trident.connect.proto"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket.send(Message::text(r#"{"headers":{}}"#)).await?;
    let mut shouted = Vec::new();
    for line in ["full", "duplex"] {
        let message = ShoutRequest { line: line.into() }.encode_to_vec();
        socket.send(Message::binary(envelope(0, &message))).await?;
        // The server's head comes first, then each answer as one envelope.
        while let Some(frame) = socket.next().await {
            if let Message::Binary(data) = frame? {
                shouted.push(ShoutResponse::decode(&data[5..])?.line);
                break;
            }
        }
    }
    socket.send(Message::binary(envelope(2, b""))).await?;
    let mut end = String::new();
    while let Some(frame) = socket.next().await {
        match frame? {
            Message::Binary(data) if data.first() == Some(&2) => {
                end = String::from_utf8_lossy(&data[5..]).into_owned();
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    println!("[websocket HTTP/1.1 proto] bidi    shout          -> {shouted:?}, end-stream {end}");
    Ok(())
}
