//! A command-line client for `trident.watch.v1.KvService`: put, get, delete, compact, watch (one stream or
//! many watches multiplexed on one), and long polls; events are printed as they arrive.
//!
//! ```text
//! watch-cli [--url URL] [--protocol connect|grpc|grpc-web] [--http2] [--json] COMMAND ...
//! ```
//!
//! Run `watch-cli --help` for the commands.

use std::process::ExitCode;

use trident::{Client, Code, Error, HttpVersion, ProtocolKind};
use trident_watch::proto::watch_stream_request::Request as StreamRequest;
use trident_watch::proto::*;
use trident_watch::resume::{Backoff, Resume, retry_after};

const USAGE: &str = "\
usage: watch-cli [global options] COMMAND [arguments]

global options:
  --url URL            the server (default http://127.0.0.1:8080)
  --protocol P         connect (default), grpc or grpc-web
  --http2              use HTTP/2 (h2c); implied by grpc and watch-many
  --json               send JSON instead of binary protobuf

commands:
  put KEY VALUE [--prev]                      set a key; --prev prints the previous value
  get KEY [--prefix] [--limit N] [--keys-only] [--get]
                                              read a key or prefix; --get uses Connect GET
  delete KEY [--prefix] [--prev]              delete a key or every key under a prefix
  compact [REV]                               drop history before REV (default: the current revision)
  watch KEY [--prefix] [--from REV] [--store ID] [--prev] [--progress MS] [--once]
                                              follow changes (Watch, server streaming); when the
                                              connection drops, reconnect (with backoff) and resume
                                              after the last revision printed, in the same store
                                              (--store ID: the store --from belongs to); exits 1 if
                                              the server's store changed. --once: no reconnecting
  watch-many KEY... [--prefix] [--from REV] [--prev] [--progress MS]
                                              one watch per KEY on one WatchStream (bidi, HTTP/2)
  longpoll PREFIX... [--after REV] [--timeout SECS] [--prev] [--follow]
                                              wait for a change under the prefixes (LongPoll);
                                              --follow polls again and again from each answer
";

/// Command-line arguments split into positional words and `--flag [value]` options.
struct Args {
    words: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

/// Options that take a value.
const VALUED: &[&str] = &[
    "--url",
    "--protocol",
    "--limit",
    "--from",
    "--progress",
    "--after",
    "--timeout",
    "--store",
];

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Self {
            words: Vec::new(),
            flags: Vec::new(),
        };
        let mut iter = std::env::args().skip(1);
        while let Some(arg) = iter.next() {
            if arg == "--" {
                args.words.extend(iter.by_ref());
            } else if arg.starts_with("--") || arg == "-h" {
                let value = if VALUED.contains(&arg.as_str()) {
                    Some(iter.next().ok_or(format!("{arg} needs a value"))?)
                } else {
                    None
                };
                args.flags.push((arg, value));
            } else {
                args.words.push(arg);
            }
        }
        Ok(args)
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == flag)
    }

    fn value(&self, flag: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .and_then(|(_, v)| v.as_deref())
    }

    fn number<T: std::str::FromStr>(&self, flag: &str) -> Result<Option<T>, String> {
        self.value(flag)
            .map(|v| v.parse().map_err(|_| format!("{flag}: not a number: {v}")))
            .transpose()
    }

    fn check_flags(&self, allowed: &[&str]) -> Result<(), String> {
        const GLOBAL: &[&str] = &["--url", "--protocol", "--http2", "--json"];
        match self
            .flags
            .iter()
            .find(|(f, _)| !allowed.contains(&f.as_str()) && !GLOBAL.contains(&f.as_str()))
        {
            Some((flag, _)) => Err(format!("unknown option {flag} for this command")),
            None => Ok(()),
        }
    }
}

fn client(args: &Args, force_http2: bool) -> Result<KvServiceClient, String> {
    let url = args.value("--url").unwrap_or("http://127.0.0.1:8080");
    let protocol = match args.value("--protocol").unwrap_or("connect") {
        "connect" => ProtocolKind::CONNECT,
        "grpc" => ProtocolKind::GRPC,
        "grpc-web" => ProtocolKind::GRPC_WEB,
        other => return Err(format!("unknown protocol {other}")),
    };
    let http2 = force_http2 || args.has("--http2") || protocol == ProtocolKind::GRPC;
    let mut builder = Client::builder(url).protocol(protocol);
    if http2 {
        builder = builder.http_version(HttpVersion::Http2);
    }
    if args.has("--json") {
        builder = builder.json();
    }
    if args.has("--get") {
        builder = builder.use_get(true);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    Ok(KvServiceClient::new(client))
}

fn describe_kv(kv: &KeyValue) -> String {
    format!(
        "{} = {:?} (created {}, modified {}, version {})",
        kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version
    )
}

fn print_event(prefix: &str, event: &Event) {
    let Some(kv) = &event.kv else { return };
    let line = match event.r#type() {
        EventType::Delete => format!("{prefix}[{}] DELETE {}", kv.mod_revision, kv.key),
        _ => format!(
            "{prefix}[{}] PUT {} = {:?}",
            kv.mod_revision, kv.key, kv.value
        ),
    };
    match &event.prev_kv {
        Some(prev) => println!("{line}   (was {:?} at {})", prev.value, prev.mod_revision),
        None => println!("{line}"),
    }
}

fn print_watch_response(response: &WatchResponse, multiplexed: bool) {
    let prefix = if multiplexed {
        format!("watch {}: ", response.watch_id)
    } else {
        String::new()
    };
    if response.created {
        println!(
            "{prefix}watching (store {} at revision {})",
            response.store_id, response.revision
        );
    }
    if response.progress {
        println!(
            "{prefix}progress: up to date at revision {}",
            response.revision
        );
    }
    for event in &response.events {
        print_event(&prefix, event);
    }
    if response.canceled {
        let mut line = format!(
            "{prefix}cancelled ({}): {}",
            response.cancel_reason().as_str_name(),
            response.cancel_message
        );
        if response.compact_revision > 0 {
            line.push_str(&format!(
                " [compact revision {}]",
                response.compact_revision
            ));
        }
        if response.resume_revision > 0 {
            line.push_str(&format!(" [resume from {}]", response.resume_revision));
        }
        println!("{line}");
    }
}

/// An error with its typed details, as the user should see it.
fn describe_error(error: &Error) -> String {
    let mut text = format!("{}: {}", error.code().as_str(), error.message());
    for detail in error.details() {
        if let Ok(d) = detail.decode::<CompactedDetail>() {
            text.push_str(&format!(
                "\n  compacted: oldest revision {}, asked for {}, current {}",
                d.compact_revision, d.requested_revision, d.current_revision
            ));
        } else if let Ok(d) = detail.decode::<FellBehindDetail>() {
            text.push_str(&format!(
                "\n  fell behind: resume from revision {} (buffer {} events)",
                d.resume_revision, d.buffer_capacity
            ));
        }
    }
    text
}

fn one_word(args: &Args, what: &str) -> Result<String, String> {
    match args.words.get(1..) {
        Some([word]) => Ok(word.clone()),
        _ => Err(format!("{} needs exactly one {what}", args.words[0])),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let Some(command) = args.words.first().cloned() else {
        return Err(String::new());
    };
    let fail = |e: Error| describe_error(&e);
    match command.as_str() {
        "put" => {
            args.check_flags(&["--prev"])?;
            let [_, key, value] = args.words.as_slice() else {
                return Err("put needs KEY and VALUE".into());
            };
            let response = client(&args, false)?
                .put(PutRequest {
                    key: key.clone(),
                    value: value.clone(),
                    prev_kv: args.has("--prev"),
                })
                .await
                .map_err(fail)?
                .into_message();
            println!("revision {}", response.revision);
            if let Some(prev) = response.prev_kv {
                println!("previous: {}", describe_kv(&prev));
            }
        }
        "get" => {
            args.check_flags(&["--prefix", "--limit", "--keys-only", "--get"])?;
            let key = one_word(&args, "KEY")?;
            let response = client(&args, false)?
                .range(RangeRequest {
                    key,
                    prefix: args.has("--prefix"),
                    limit: args.number("--limit")?.unwrap_or(0),
                    keys_only: args.has("--keys-only"),
                })
                .await
                .map_err(fail)?
                .into_message();
            for kv in &response.kvs {
                println!("{}", describe_kv(kv));
            }
            println!(
                "({} of {} keys at revision {}{})",
                response.kvs.len(),
                response.count,
                response.revision,
                if response.more { "; more" } else { "" }
            );
        }
        "delete" => {
            args.check_flags(&["--prefix", "--prev"])?;
            let key = one_word(&args, "KEY")?;
            let response = client(&args, false)?
                .delete(DeleteRequest {
                    key,
                    prefix: args.has("--prefix"),
                    prev_kv: args.has("--prev"),
                })
                .await
                .map_err(fail)?
                .into_message();
            println!(
                "deleted {} at revision {}",
                response.deleted, response.revision
            );
            for kv in &response.prev_kvs {
                println!("  was {}", describe_kv(kv));
            }
        }
        "compact" => {
            args.check_flags(&[])?;
            let revision = match args.words.get(1..) {
                Some([]) => 0,
                Some([rev]) => rev.parse().map_err(|_| format!("not a revision: {rev}"))?,
                _ => return Err("compact takes at most one revision".into()),
            };
            let response = client(&args, false)?
                .compact(CompactRequest { revision })
                .await
                .map_err(fail)?
                .into_message();
            println!(
                "compact revision {} (current revision {})",
                response.compact_revision, response.revision
            );
        }
        "watch" => {
            args.check_flags(&[
                "--prefix",
                "--from",
                "--prev",
                "--progress",
                "--store",
                "--once",
            ])?;
            let key = one_word(&args, "KEY")?;
            let request = watch_request(&args, key, 0)?;
            if args.has("--once") {
                let mut stream = client(&args, false)?.watch(request).await.map_err(fail)?;
                while let Some(response) = stream.message().await.map_err(fail)? {
                    print_watch_response(&response, false);
                }
            } else {
                let store = args.value("--store").unwrap_or_default();
                watch_resuming(client(&args, false)?, request, store).await?;
            }
        }
        "watch-many" => {
            args.check_flags(&["--prefix", "--from", "--prev", "--progress"])?;
            let keys = &args.words[1..];
            if keys.is_empty() {
                return Err("watch-many needs at least one KEY".into());
            }
            let mut call = client(&args, true)?.watch_stream(());
            for (i, key) in keys.iter().enumerate() {
                let create = watch_request(&args, key.clone(), i as i64 + 1)?;
                call.send(WatchStreamRequest {
                    request: Some(StreamRequest::Create(create)),
                })
                .await
                .map_err(fail)?;
            }
            while let Some(response) = call.message().await.map_err(fail)? {
                print_watch_response(&response, true);
            }
        }
        "longpoll" => {
            args.check_flags(&["--after", "--timeout", "--prev", "--follow"])?;
            let prefixes = args.words[1..].to_vec();
            let mut after: i64 = args.number("--after")?.unwrap_or(0);
            let timeout_ms = match args.number::<f64>("--timeout")? {
                Some(secs) if secs >= 0.0 => (secs * 1000.0).round() as u32,
                Some(_) => return Err("--timeout must not be negative".into()),
                None => 0,
            };
            let client = client(&args, false)?;
            let mut store_id = String::new();
            loop {
                let response = client
                    .long_poll(LongPollRequest {
                        prefixes: prefixes.clone(),
                        after_revision: after,
                        timeout_ms,
                        prev_kv: args.has("--prev"),
                        store_id: store_id.clone(),
                    })
                    .await
                    .map_err(fail)?
                    .into_message();
                if response.timed_out {
                    println!(
                        "timed out; nothing changed up to revision {}",
                        response.revision
                    );
                } else {
                    if !response.changed_prefixes.is_empty() {
                        println!("changed: {}", response.changed_prefixes.join(" "));
                    }
                    for event in &response.events {
                        print_event("", event);
                    }
                    println!(
                        "up to revision {}{}",
                        response.revision,
                        if response.more { " (more waiting)" } else { "" }
                    );
                }
                if !args.has("--follow") {
                    break;
                }
                after = response.revision;
                store_id = response.store_id;
            }
        }
        other => return Err(format!("unknown command {other}")),
    }
    Ok(())
}

fn watch_request(args: &Args, key: String, watch_id: i64) -> Result<WatchRequest, String> {
    Ok(WatchRequest {
        key,
        prefix: args.has("--prefix"),
        start_revision: args.number("--from")?.unwrap_or(0),
        prev_kv: args.has("--prev"),
        progress_interval_ms: args.number("--progress")?.unwrap_or(0),
        watch_id,
        store_id: args.value("--store").unwrap_or_default().to_owned(),
    })
}

/// Follows a watch for good: after a dropped connection or a server restart it waits (with backoff) and
/// watches again from the revision after the last one printed, naming the store it saw; fails if the
/// server's store is another one, the history it needs was compacted, or the request is refused.
async fn watch_resuming(
    client: KvServiceClient,
    request: WatchRequest,
    store: &str,
) -> Result<(), String> {
    let mut resume = Resume::new(request.start_revision, store);
    let mut backoff = Backoff::default();
    loop {
        let problem = match client.watch(resume.request(&request)).await {
            Err(error) => error,
            Ok(mut stream) => loop {
                match stream.message().await {
                    Ok(Some(response)) => {
                        resume.observe(&response)?;
                        if response.created {
                            backoff.reset();
                        }
                        print_watch_response(&response, false);
                    }
                    Ok(None) => break Error::new(Code::Unavailable, "the server ended the watch"),
                    Err(error) => break error,
                }
            },
        };
        if !retry_after(&problem) {
            return Err(describe_error(&problem));
        }
        if let Some(detail) = problem
            .details()
            .iter()
            .find_map(|d| d.decode::<FellBehindDetail>().ok())
        {
            resume.fell_behind(&detail);
        }
        let delay = backoff.next_delay();
        eprintln!(
            "watch-cli: the watch broke ({}); resuming from revision {} in {} ms",
            describe_error(&problem),
            resume.next_revision(),
            delay.as_millis()
        );
        tokio::time::sleep(delay).await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) if !args.has("--help") && !args.has("-h") => args,
        Ok(_) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("watch-cli: {message}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) if message.is_empty() => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
        Err(message) => {
            eprintln!("watch-cli: {message}");
            ExitCode::FAILURE
        }
    }
}
