//! The Trident conformance client: reads length-prefixed `ClientCompatRequest`s from stdin until end of
//! input, runs each RPC concurrently with the Trident client, and writes one length-prefixed
//! `ClientCompatResponse` per request to stdout (through a single writer, so frames never interleave).
//! Logs go to stderr only.

use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use trident_conformance::client::{self, ClientCache};
use trident_conformance::proto::{
    ClientCompatRequest, ClientCompatResponse, client_compat_response,
};
use trident_conformance::wire;

/// How many RPCs run at once.
const MAX_CONCURRENT_CALLS: usize = 48;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("conformance-client: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> io::Result<()> {
    let (results, mut pending) = mpsc::unbounded_channel::<ClientCompatResponse>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(response) = pending.recv().await {
            wire::write_frame(&mut stdout, &response).await?;
        }
        io::Result::Ok(())
    });

    let cache = Arc::new(ClientCache::new());
    // The runner sends every request at once; running thousands of calls together on two cores
    // would make their timeouts measure queueing, not the protocol. Each call's clock starts when
    // it gets a slot.
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS));
    let mut calls = JoinSet::new();
    let mut stdin = tokio::io::stdin();
    let read_result = loop {
        let request: ClientCompatRequest = match wire::read_frame(&mut stdin).await {
            Ok(Some(request)) => request,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let results = results.clone();
        let cache = Arc::clone(&cache);
        let slots = Arc::clone(&slots);
        calls.spawn(async move {
            // The semaphore is never closed, so acquiring only waits.
            let _slot = slots.acquire_owned().await;
            let test_name = request.test_name.clone();
            // Run the call in its own task so that a panic still yields an answer for this test.
            let call = tokio::spawn(async move { client::run(request, &cache).await });
            let response = call.await.unwrap_or_else(|e| {
                let message = format!("the conformance client panicked: {e}");
                eprintln!("conformance-client: {test_name}: {message}");
                ClientCompatResponse {
                    test_name,
                    result: Some(client_compat_response::Result::Error(client::failure(
                        message,
                    ))),
                }
            });
            // The writer only goes away if stdout failed, which is reported below.
            let _ = results.send(response);
        });
    };

    // End of input: let the calls in flight finish, then the writer.
    while calls.join_next().await.is_some() {}
    drop(results);
    let write_result = writer
        .await
        .map_err(|e| io::Error::other(format!("writer task failed: {e}")))?;
    read_result.and(write_result)
}
