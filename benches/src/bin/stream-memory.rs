//! What one open server stream costs in memory, and which allocations make it up: runs the echo
//! service under dhat's heap profiler in a child process, opens idle `Stream` calls against it, a
//! hundred to an HTTP/2 connection (one message each, then held open), and prints the server's live heap per
//! stream and the allocation sites holding it, largest first.
//!
//! ```text
//! cargo run --release -p trident-benches --bin stream-memory -- [STREAMS]   (default 50)
//! ```
//!
//! dhat slows every allocation down; the per-stream figures settle by 50 streams.
//!
//! RSS-based figures (the benchmark's idle-streams row, `watch-fanout`) include allocator slack and
//! the kernel's socket buffers; these are the heap blocks themselves, with the code that allocated
//! them, which is where a smaller stream has to come from. The child writes dhat's full profile to
//! `target/bench/stream-memory-heap.json` (viewable in dhat's `dh_view.html`).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use trident::{Router, Server};
use trident_benches::echo::Echo;
use trident_benches::trident_gen::echo_service_routes;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Streams opened on each connection.
const STREAMS_PER_CONNECTION: usize = 100;

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--serve") => serve(args.next().ok_or("--serve needs the profile's path")?),
        Some(n) => measure(n.parse()?),
        None => measure(50),
    }
}

/// The child: serves under the profiler; on `baseline` and `report N` lines from stdin, prints the
/// live heap; on `report`, writes the profile (the streams still open) and exits.
fn serve(profile: String) -> Result<(), BoxError> {
    let mut profiler = Some(dhat::Profiler::builder().file_name(&profile).build());
    // One worker thread serves while this thread waits for the parent's lines.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    println!("{}", listener.local_addr()?);
    let router = Router::new().add(echo_service_routes(Echo));
    runtime.spawn(Server::new().serve(listener, router).into_future());
    let mut baseline = (0u64, 0u64);
    for line in std::io::stdin().lines() {
        let line = line?;
        // Let the server finish what the client just did.
        std::thread::sleep(Duration::from_millis(300));
        let stats = dhat::HeapStats::get();
        let now = (stats.curr_bytes as u64, stats.curr_blocks as u64);
        if line == "baseline" {
            baseline = now;
            println!("ok");
        } else if let Some(n) = line.strip_prefix("report ") {
            let n: f64 = n.parse()?;
            println!(
                "{:.0} {:.1}",
                (now.0 - baseline.0) as f64 / n,
                (now.1 - baseline.1) as f64 / n
            );
            // Written now, while the streams are open: its end-of-run figures are theirs.
            drop(profiler.take());
            std::process::exit(0);
        }
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// The parent: starts the child, opens the streams, prints the figures and the top allocation sites.
fn measure(streams: usize) -> Result<(), BoxError> {
    let work = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&work)?;
    let profile = work.join("stream-memory-heap.json");
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(&profile)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_child = child.stdin.take().ok_or("no stdin")?;
    let mut from_child = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut reply =
        move || -> Result<String, BoxError> { Ok(from_child.next().ok_or("the server exited")??) };
    let addr: std::net::SocketAddr = reply()?.parse()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (per_stream, held) = runtime.block_on(async {
        // A hundred streams per connection, under the server's default limit of 200.
        let mut clients = Vec::new();
        for _ in 0..streams.div_ceil(STREAMS_PER_CONNECTION).max(1) {
            clients.push(connect(addr).await?);
        }
        let mut held = Vec::new();
        // One stream per connection first, so that the connections' own state is in the baseline.
        for client in &clients {
            held.push(open(client, addr).await?);
        }
        writeln!(to_child, "baseline")?;
        reply()?;
        for i in 0..streams {
            held.push(open(&clients[i / STREAMS_PER_CONNECTION], addr).await?);
        }
        writeln!(to_child, "report {streams}")?;
        let per_stream = reply()?;
        Ok::<_, BoxError>((per_stream, held))
    })?;
    child.wait()?;
    drop(held);
    let mut figures = per_stream.split_whitespace();
    println!(
        "{streams} idle server streams ({STREAMS_PER_CONNECTION} per HTTP/2 connection): {} bytes in {} heap blocks per stream",
        figures.next().unwrap_or("?"),
        figures.next().unwrap_or("?")
    );
    print_sites(&profile, streams)
}

/// Opens an HTTP/2 connection to the server, its task on the current runtime.
async fn connect(addr: std::net::SocketAddr) -> Result<h2::client::SendRequest<Bytes>, BoxError> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .handshake::<_, Bytes>(tcp)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Opens one held `Stream` call and waits for its message.
async fn open(
    client: &h2::client::SendRequest<Bytes>,
    addr: std::net::SocketAddr,
) -> Result<h2::RecvStream, BoxError> {
    let body = Bytes::from(trident_benches::wire::envelope(
        &trident_benches::wire::stream_request(1, 64, true),
    ));
    let mut client = client.clone().ready().await?;
    let request = http::Request::post(format!("http://{addr}/trident.bench.v1.EchoService/Stream"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    let (response, mut send) = client.send_request(request, false)?;
    send.send_data(body, true)?;
    let mut recv = response.await?.into_body();
    let mut got = BytesMut::new();
    // The envelope's 5 bytes and the message's 66.
    while got.len() < 71 {
        let chunk = recv.data().await.ok_or("a held stream ended")??;
        let _ = recv.flow_control().release_capacity(chunk.len());
        got.extend_from_slice(&chunk);
    }
    Ok(recv)
}

/// The allocation sites still live at the end of the profile that hold a block or more per stream
/// (the rest is the process's and the connections' set-up), largest first, each named by its
/// innermost frames outside the allocator and the standard library. A site whose blocks grow by
/// doubling (h2's stream slab) holds fewer blocks than streams and is left out; the per-stream total
/// above includes it.
fn print_sites(profile: &std::path::Path, streams: usize) -> Result<(), BoxError> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(profile)?)?;
    let frames: Vec<&str> = json["ftbl"]
        .as_array()
        .ok_or("no frame table")?
        .iter()
        .map(|f| f.as_str().unwrap_or(""))
        .collect();
    let mut sites: Vec<(f64, f64, String)> = json["pps"]
        .as_array()
        .ok_or("no sites")?
        .iter()
        .filter_map(|pp| {
            let bytes = pp["eb"].as_f64()? / streams as f64;
            let blocks = pp["ebk"].as_f64()? / streams as f64;
            let names: Vec<String> = pp["fs"]
                .as_array()?
                .iter()
                .filter_map(|i| frames.get(i.as_u64()? as usize))
                .map(|f| short(f))
                .filter(|f| !is_plumbing(f))
                .take(3)
                .collect();
            // Sites with a block or more per stream grow with the streams; the rest is set-up.
            (blocks >= 0.5).then(|| (bytes, blocks, names.join(" <- ")))
        })
        .collect();
    sites.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("{:>8} {:>7}  allocated in", "B/stream", "blocks");
    for (bytes, blocks, names) in sites.iter().take(25) {
        println!("{bytes:>8.0} {blocks:>7.2}  {names}");
    }
    println!("(full profile: {})", profile.display());
    Ok(())
}

/// A frame without its address and source location.
fn short(frame: &str) -> String {
    let name = frame.split_once(": ").map_or(frame, |(_, rest)| rest);
    let name = name.split(" (").next().unwrap_or(name);
    name.chars().take(110).collect()
}

/// Frames that say nothing about who allocated: the allocator, `alloc`, the profiler.
fn is_plumbing(frame: &str) -> bool {
    [
        "alloc::", "dhat::", "<dhat::", "core::", "std::", "<alloc::", "[root]", "__rust",
        "bytes::",
    ]
    .iter()
    .any(|p| frame.starts_with(p))
}
