//! Serving the service beside static files (a web page), as `watch-server --static DIR` does.
//!
//! [`serve`] is [`trident::Server::serve`] with the router's fallback answering from a directory with
//! [`StaticFiles`]: every RPC (Connect GETs of `Range` included, and CORS preflights) goes to its
//! method, every other path to the files.
//!
//! [`StaticFiles`] is deliberately small and strict: it serves regular files under its root only. Paths
//! are percent-decoded once and split on `/`; a segment that is empty, `.` or `..`, or holds `\` or NUL,
//! is refused, and the file's canonical path must still lie inside the canonical root (no escaping
//! through symbolic links). A path ending in `/` serves that directory's `index.html`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{Method, StatusCode, header};
use tokio::net::TcpListener;
use tower::Layer as _;
use trident::server::Serve;
use trident::{Body, Router, Server};

/// The HTTP/2 limit on concurrent streams per connection that [`serve`] sets by default.
///
/// Each open stream may hold response data that its reader has not taken yet: HTTP/2 lets the server send
/// up to the client's flow-control window, and the server's HTTP/2 layer keeps up to its per-stream send
/// buffer (about 400 KiB in hyper) queued for a peer that does not read, besides the message being
/// produced (a watch response is at most [`MAX_EVENTS_PER_RESPONSE`](crate::service::MAX_EVENTS_PER_RESPONSE)
/// events and, while replaying history, about [`CATCH_UP_BYTES`](crate::store::CATCH_UP_BYTES)).
/// What one connection can pin is therefore about this many streams times half a megabyte: 100 streams
/// make 50 MB, where the former 10,000 let a single unauthenticated connection with 1,000 never-read
/// `Watch` streams grow the server from 48 MB to 2 GB. 100 is also the smallest limit HTTP/2 recommends
/// (RFC 9113, 6.5.2). Clients that want many watches put them on one `WatchStream` (up to
/// [`MAX_WATCHES_PER_STREAM`](crate::service::MAX_WATCHES_PER_STREAM) of them), whose watchers share
/// one stream and have bounded buffers.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;

/// How long [`serve`] lets open calls finish after a shutdown signal by default. Watches never finish
/// on their own, so this is short: they are cut off (and their clients resume elsewhere) after it.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(5);

/// Files served from a directory; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct StaticFiles {
    root: PathBuf,
}

impl StaticFiles {
    /// Serves the files under `root`, which must be a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(Self { root })
    }

    /// The directory served (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a request path names, if it is a safe path to a regular file under the root.
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        let decoded = percent_decode(path.strip_prefix('/')?)?;
        let mut file = self.root.clone();
        let mut segments: Vec<&str> = decoded.split('/').collect();
        if segments.last() == Some(&"") {
            segments.pop();
            segments.push("index.html");
        }
        for segment in segments {
            if segment.is_empty()
                || segment == "."
                || segment == ".."
                || segment.contains(['\\', '\0'])
            {
                return None;
            }
            file.push(segment);
        }
        let file = std::fs::canonicalize(file).ok()?;
        (file.starts_with(&self.root) && file.is_file()).then_some(file)
    }

    /// Answers a `GET` or `HEAD` for `path`: the file with its content type, or 404.
    pub async fn respond(&self, method: &Method, path: &str) -> http::Response<Body> {
        if method != Method::GET && method != Method::HEAD {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let Some(file) = self.resolve(path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let Ok(contents) = tokio::fs::read(&file).await else {
            return status(StatusCode::NOT_FOUND);
        };
        let length = contents.len();
        let body = if method == Method::HEAD {
            Body::empty()
        } else {
            Body::full(contents)
        };
        let mut response = http::Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type(&file)),
        );
        headers.insert(header::CONTENT_LENGTH, length.into());
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache"),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            header::HeaderValue::from_static("nosniff"),
        );
        response
    }
}

fn status(status: StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8. A `%` that starts no escape stays as it is.
fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// How [`serve`] serves.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Files to serve for `GET`s outside the service's paths (none: those go to the router, which
    /// answers 404).
    pub static_files: Option<StaticFiles>,
    /// The HTTP/2 limit on concurrent streams per connection.
    pub max_concurrent_streams: u32,
    /// How long open calls may finish after a shutdown signal.
    pub grace_period: Duration,
    /// Whether pages of any origin may call (CORS, for development: `trident::cors::permissive`).
    pub cors: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            static_files: None,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            grace_period: DEFAULT_GRACE_PERIOD,
            cors: false,
        }
    }
}

/// Serves `router` (and the static files, if any) on `listener`: HTTP/1.1, or h2c when a connection
/// opens with the HTTP/2 preface. Static files answer the paths that are no method of the router (its
/// fallback). Await the result to serve until the process ends, or add
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) first.
pub fn serve(listener: TcpListener, router: Router, options: ServeOptions) -> Serve<Served> {
    let server = Server::new()
        .http2(trident::Http2Settings::new().max_concurrent_streams(options.max_concurrent_streams))
        .grace_period(options.grace_period);
    let files = options.static_files;
    // The OpenAPI document of the service's REST and Connect endpoints at `/openapi.json`, then the
    // static files, if any.
    let router = router.fallback(move |request: http::Request<Body>| {
        let files = files.clone();
        async move {
            if request.method() == http::Method::GET && request.uri().path() == "/openapi.json" {
                let mut response = http::Response::new(Body::full(crate::OPENAPI));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return response;
            }
            match files {
                Some(files) => files.respond(request.method(), request.uri().path()).await,
                None => {
                    let mut response = http::Response::new(Body::empty());
                    *response.status_mut() = http::StatusCode::NOT_FOUND;
                    response
                }
            }
        }
    });
    let cors = options.cors.then(trident::cors::permissive);
    server.serve(listener, tower::util::option_layer(cors).layer(router))
}

/// What [`serve`] serves: the router, inside the CORS layer when [`ServeOptions::cors`] is on.
pub type Served = tower::util::Either<trident::cors::Cors<Router>, Router>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(percent_decode("%2").as_deref(), Some("%2"));
        assert_eq!(percent_decode("%ff"), None);
    }
}
