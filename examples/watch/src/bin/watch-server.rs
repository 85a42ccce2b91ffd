//! Serves `trident.watch.v1.KvService` over HTTP/1.1 and h2c on one port, optionally beside a directory of
//! static files (the web page).
//!
//! ```text
//! watch-server [ADDR] [--data DIR | --in-memory] [--static DIR] [--history EVENTS] [--buffer EVENTS]
//!              [--max-streams N] [--cors]
//! ```
//!
//! The store is durable by default: it lives in the directory `--data DIR` (default `watch-data`, under
//! the current directory, where it stays between runs; the repository's `.gitignore` keeps it out of
//! git), created on first start with a new store id, and every change is on disk before it is
//! acknowledged, so the server can be killed at any moment and restarted on the same directory to go on
//! from the same revision with the same history. Only one server may use a directory at a time.
//! `--in-memory` keeps everything in memory instead (lost on exit; a new store id each start), for demos
//! and tests.
//!
//! Each HTTP/2 connection may carry at most `--max-streams` calls at once (default
//! [`DEFAULT_MAX_CONCURRENT_STREAMS`](trident_watch::web::DEFAULT_MAX_CONCURRENT_STREAMS), 100): every
//! open stream may hold a bounded amount of response data waiting for a slow reader, so this number is
//! what bounds the memory one connection can pin. A client that wants more watches uses `WatchStream`,
//! which carries up to 10,000 of them on one stream.
//!
//! `ADDR` defaults to `127.0.0.1:8080` (port 0 picks a free port). Once listening it prints one line,
//! `listening on http://ADDR`, with the actual address, to standard output. Ctrl-C or SIGTERM shuts it
//! down gracefully: new connections are refused, and open calls get a few seconds to finish.

use std::io::Write as _;
use std::process::ExitCode;

use trident::Router;
use trident_watch::store::{Store, StoreConfig};
use trident_watch::web::{ServeOptions, StaticFiles};

const USAGE: &str = "\
usage: watch-server [ADDR] [options]

  ADDR                 address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --data DIR           keep the store in DIR, created if needed (default: watch-data)
  --in-memory          keep the store in memory only: lost on exit
  --static DIR         serve the files under DIR for GET requests outside the service's paths
  --history EVENTS     events of history to keep (default 10000)
  --buffer EVENTS      events a watcher may have waiting before it is cut off (default 1024)
  --max-streams N      HTTP/2 concurrent streams per connection (default 100; for many
                       watches on one connection, use WatchStream)
  --cors               allow calls from pages of any origin (development)
";

/// The data directory when neither `--data` nor `--in-memory` is given.
const DEFAULT_DATA_DIR: &str = "watch-data";

struct Args {
    addr: String,
    /// The data directory; `None`: in memory.
    data: Option<String>,
    static_dir: Option<String>,
    config: StoreConfig,
    max_streams: u32,
    cors: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
        data: Some(DEFAULT_DATA_DIR.into()),
        static_dir: None,
        config: StoreConfig::default(),
        max_streams: trident_watch::web::DEFAULT_MAX_CONCURRENT_STREAMS,
        cors: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--static" => args.static_dir = Some(value("--static")?),
            "--data" => args.data = Some(value("--data")?),
            "--in-memory" => args.data = None,
            "--history" => args.config.history_limit = number(&value("--history")?)?,
            "--buffer" => args.config.watcher_buffer = number(&value("--buffer")?)?,
            "--max-streams" => args.max_streams = number(&value("--max-streams")?)?,
            "--cors" => args.cors = true,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            addr => args.addr = addr.to_owned(),
        }
    }
    Ok(args)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("not a number: {text}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("watch-server: {message}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let static_files = match args.static_dir.as_deref().map(StaticFiles::new).transpose() {
        Ok(files) => files,
        Err(error) => {
            eprintln!("watch-server: --static: {error}");
            return ExitCode::FAILURE;
        }
    };
    let store = match &args.data {
        Some(dir) => match Store::open(dir, args.config) {
            Ok(store) => store,
            Err(error) => {
                eprintln!("watch-server: --data {dir}: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => Store::in_memory(args.config),
    };
    let stats = store.stats();
    eprintln!(
        "watch-server: store {} ({}) at revision {}, history from revision {}",
        store.id(),
        args.data
            .as_deref()
            .map_or_else(|| "in memory".to_owned(), |dir| format!("in {dir}")),
        stats.revision,
        stats.compact_revision
    );
    let router = Router::new().add(trident_watch::routes(store));
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("watch-server: cannot listen on {}: {error}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
    }
    let options = ServeOptions {
        static_files,
        max_concurrent_streams: args.max_streams,
        grace_period: trident_watch::web::DEFAULT_GRACE_PERIOD,
        cors: args.cors,
    };
    // Ctrl-C or SIGTERM stops accepting, lets calls finish for the grace period, then cuts off what is left
    // (watches, long polls).
    let serving =
        trident_watch::web::serve(listener, router, options).with_graceful_shutdown(async {
            // Ctrl-C or SIGTERM.
            trident::shutdown_signal().await;
            eprintln!("watch-server: shutting down");
        });
    match serving.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("watch-server: {error}");
            ExitCode::FAILURE
        }
    }
}
