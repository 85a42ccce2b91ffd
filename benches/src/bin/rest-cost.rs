//! What the server spends on a REST call against the same call as Connect JSON, in CPU instructions:
//! requests handed to `Router::handle` one after another, in one process, with no network, no HTTP
//! framing and no client, so that only what differs between the two is left beside the handler:
//! routing (the REST matcher, or the RPC path's lookup), negotiation, building the request message and
//! writing the JSON answer. `benches/rest-cost` runs it under valgrind's callgrind, whose counts repeat
//! run after run where the driver's CPU figures on a shared two-core machine vary by ±15%.
//!
//! `rest-cost --variant connect-json|rest --bindings N --calls N`: the router `trident-echo` serves,
//! with `N` REST bindings in all (`trident_benches::rest_bindings`); 200 warm-up calls, then `--calls`
//! calls of `Echo` with the 64 B payload: `connect-json` POSTs `/trident.bench.v1.EchoService/Echo`
//! with `application/json` and `{"payload":"<base64>"}`, `rest` GETs `/v1/echo/<base64url>`. Every
//! answer must be 200 with `{"payload":"<base64>"}`.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use trident::{Body, Router};
use trident_benches::echo::Echo;
use trident_benches::trident_gen::echo_service_routes;

struct Args {
    rest: bool,
    bindings: usize,
    calls: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rest: false,
        bindings: 10,
        calls: 1000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--variant" => {
                args.rest = match value()?.as_str() {
                    "rest" => true,
                    "connect-json" => false,
                    other => return Err(format!("--variant {other}: rest or connect-json")),
                }
            }
            "--bindings" => {
                let n = value()?;
                args.bindings = n.parse().map_err(|e| format!("--bindings {n}: {e}"))?;
            }
            "--calls" => {
                let n = value()?;
                args.calls = n.parse().map_err(|e| format!("--calls {n}: {e}"))?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// The two requests and the answer both must get.
struct Calls {
    rest: bool,
    rest_path: String,
    json: Bytes,
    answer: Bytes,
}

impl Calls {
    fn new(rest: bool) -> Calls {
        let payload = trident_benches::wire::payload(64);
        let standard = base64::engine::general_purpose::STANDARD.encode(&payload);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let json = Bytes::from(format!(r#"{{"payload":"{standard}"}}"#));
        Calls {
            rest,
            rest_path: format!("/v1/echo/{url_safe}"),
            answer: json.clone(),
            json,
        }
    }

    fn request(&self) -> http::Request<Body> {
        let request = if self.rest {
            http::Request::get(self.rest_path.as_str())
                .version(http::Version::HTTP_2)
                .body(Body::empty())
        } else {
            http::Request::post("/trident.bench.v1.EchoService/Echo")
                .version(http::Version::HTTP_2)
                .header("content-type", "application/json")
                .header("connect-protocol-version", "1")
                .body(Body::full(self.json.clone()))
        };
        request.expect("a valid request")
    }

    /// Makes `calls` calls, one after another, and checks every answer.
    async fn make(&self, router: &Router, calls: usize) -> Result<(), String> {
        for _ in 0..calls {
            let response = router.handle(self.request()).await;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if status != 200 || body != self.answer {
                return Err(format!("answered {status}: {body:?}"));
            }
        }
        Ok(())
    }
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("rest-cost: {e}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let routes = trident_benches::rest_bindings::bind(echo_service_routes(Echo), args.bindings);
        let router = Router::new().add(routes);
        if let Err(e) = router.check() {
            eprintln!("rest-cost: {e}");
            std::process::exit(1);
        }
        let calls = Calls::new(args.rest);
        let warmed = calls.make(&router, 200).await;
        if let Err(e) = match warmed {
            Ok(()) => calls.make(&router, args.calls).await,
            Err(e) => Err(e),
        } {
            eprintln!("rest-cost: {e}");
            std::process::exit(1);
        }
    });
}
