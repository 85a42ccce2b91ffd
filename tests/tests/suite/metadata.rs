//! Request and response metadata: repeated headers keep their order, binary (`-bin`) values round-trip,
//! and protocol headers set by the runtime are not overridden by user metadata.

use trident::Request;
use trident_tests::{Codec, EchoRequest, Http, TestServer, text, within};

fn echo_of(names: &[&str]) -> EchoRequest {
    EchoRequest {
        echo_headers: names.iter().map(ToString::to_string).collect(),
        ..text("md")
    }
}

/// Repeated text headers and binary headers reach the handler for every stream type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_reach_the_handler() {
    let server = TestServer::start().await;
    let binary = [0u8, 1, 2, 0xfe, 0xff, b'\n'];
    for codec in [Codec::Proto, Codec::Json] {
        for http in [Http::H1, Http::H2] {
            let client = server.client(codec, http);
            let mut request = Request::new(echo_of(&["x-multi", "x-data-bin"]));
            let md = request.headers_mut();
            md.append("x-multi", "1").expect("valid");
            md.append("X-Multi", "2").expect("valid");
            md.append("x-multi", "3").expect("valid");
            md.append_bin("x-data-bin", &binary).expect("valid");
            let echo = within("unary", client.echo(request))
                .await
                .expect("echo")
                .into_message();
            let values: Vec<_> = echo
                .headers
                .iter()
                .map(|h| (h.name.as_str(), h.value.as_str()))
                .collect();
            assert_eq!(
                values[..3],
                [("x-multi", "1"), ("x-multi", "2"), ("x-multi", "3")]
            );
            // The handler sees the base64 form; decoding it gives the bytes back.
            let mut decoded = trident::Metadata::new();
            decoded.append("x-data-bin", values[3].1).expect("valid");
            assert_eq!(
                decoded.get_bin_all("x-data-bin").expect("base64"),
                vec![binary.to_vec()]
            );

            let options = Request::new(())
                .with_header("x-multi", "a")
                .and_then(|o| o.with_header("x-multi", "b"))
                .expect("valid");
            let echo = within("client stream", async {
                let mut call = client.collect(options);
                call.send(echo_of(&["x-multi"])).await?;
                call.close_and_receive().await
            })
            .await
            .expect("collect")
            .into_message();
            assert_eq!(echo.headers.len(), 2);
            assert_eq!(echo.headers[1].value, "b");
        }
    }
}

/// User metadata cannot change how the call is framed: the runtime's content type wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_headers_are_the_runtimes() {
    let server = TestServer::start().await;
    let client = server.client(Codec::Proto, Http::H1);
    let mut request = Request::new(echo_of(&["content-type", "connect-protocol-version"]));
    request
        .headers_mut()
        .append("content-type", "text/plain")
        .expect("valid");
    let echo = within("unary", client.echo_post(request))
        .await
        .expect("the call still works")
        .into_message();
    let values: Vec<_> = echo.headers.iter().map(|h| h.value.as_str()).collect();
    assert_eq!(values, vec!["application/proto", "1"]);
}
