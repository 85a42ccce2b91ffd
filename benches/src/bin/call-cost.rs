//! What a call costs in CPU instructions, client and server together, in one process: Trident's client
//! calls a `Router` through the in-memory transport (the router itself as the client's transport), so
//! that nothing but Trident runs. `benches/call-cost` runs it under valgrind's callgrind, whose
//! instruction counts repeat run after run where wall-clock figures on a shared two-core machine
//! vary by ±15%: the way to see a cost of a few percent, such as an interceptor's.
//!
//! `call-cost --scenario unary|stream|bidi --calls N [--client-intercept] [--server-intercept]` makes
//! 200 warm-up calls, then `N` calls one after another: `unary`, gRPC unary 64 B; `stream`, a server
//! stream of 100 messages of 64 B; `bidi`, one message each way on a bidi stream (a ping-pong round trip
//! per call on one stream). `--client-intercept` and `--server-intercept` attach one interceptor that
//! passes every call on unchanged to the client and to the router.

use trident::{
    Client, HttpVersion, Interceptor, ProtocolKind, Request, Router, client::boxed_transport,
};
use trident_benches::echo::Echo;
use trident_benches::trident_gen::{
    EchoRequest, EchoServiceClient, StreamRequest, echo_service_routes,
};

/// Changes nothing: what one interceptor costs a call.
struct PassThrough;

impl Interceptor for PassThrough {}

struct Args {
    scenario: String,
    calls: usize,
    client_intercept: bool,
    server_intercept: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        scenario: "unary".into(),
        calls: 1000,
        client_intercept: false,
        server_intercept: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--client-intercept" => args.client_intercept = true,
            "--server-intercept" => args.server_intercept = true,
            "--scenario" => args.scenario = it.next().ok_or("--scenario needs a value")?,
            "--calls" => {
                let value = it.next().ok_or("--calls needs a value")?;
                args.calls = value.parse().map_err(|e| format!("--calls {value}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("call-cost: {e}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut router = Router::new().add(echo_service_routes(Echo));
        if args.server_intercept {
            router = router.intercept(PassThrough);
        }
        let mut builder = Client::builder("http://in-memory.test")
            .protocol(ProtocolKind::GRPC)
            .http_version(HttpVersion::Http2)
            .transport(boxed_transport(router));
        if args.client_intercept {
            builder = builder.intercept(PassThrough);
        }
        let client = EchoServiceClient::new(builder.build().expect("a client"));
        let work = |calls| calls_of(&client, &args.scenario, calls);
        if let Err(e) = work(200).await.and(work(args.calls).await) {
            eprintln!("call-cost: {e}");
            std::process::exit(1);
        }
    });
}

/// Makes `calls` calls of `scenario`, one after another.
async fn calls_of(client: &EchoServiceClient, scenario: &str, calls: usize) -> Result<(), String> {
    let payload = trident_benches::wire::payload(64);
    match scenario {
        "unary" => {
            for _ in 0..calls {
                let request = EchoRequest {
                    payload: payload.clone(),
                };
                let response = client.echo(request).await.map_err(|e| e.to_string())?;
                check(response.message().payload.len(), 64)?;
            }
        }
        "stream" => {
            for _ in 0..calls {
                let request = StreamRequest {
                    count: 100,
                    size: 64,
                    hold: false,
                };
                let mut stream = client.stream(request).await.map_err(|e| e.to_string())?;
                let mut received = 0;
                while let Some(message) = stream.message().await.map_err(|e| e.to_string())? {
                    check(message.payload.len(), 64)?;
                    received += 1;
                }
                check(received, 100)?;
            }
        }
        "bidi" => {
            let mut call = client.bidi(Request::new(()));
            for _ in 0..calls {
                let request = EchoRequest {
                    payload: payload.clone(),
                };
                call.send(request).await.map_err(|e| e.to_string())?;
                let answer = call.message().await.map_err(|e| e.to_string())?;
                check(answer.map_or(0, |m| m.payload.len()), 64)?;
            }
            call.close_send().map_err(|e| e.to_string())?;
            let rest = call.message().await.map_err(|e| e.to_string())?;
            check(usize::from(rest.is_some()), 0)?;
        }
        other => return Err(format!("unknown scenario {other}")),
    }
    Ok(())
}

fn check(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("got {got}, expected {want}"))
    }
}
