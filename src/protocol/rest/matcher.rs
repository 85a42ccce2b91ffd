//! The REST protocol's router: from a request's HTTP method and URL path to the route whose
//! `google.api.http` path template matches it, with the values the template's variables capture.
//!
//! Why a trie: a service may declare hundreds of routes, and a request must not be compared with each
//! in turn. Templates are stored segment by segment in a trie whose nodes hold a map of literal
//! children, one `*` child, the routes of templates ending there with a `**` (always the last
//! segment) and the routes of templates ending there, both keyed by verb and then by HTTP method. A
//! request walks down it one segment at a time, one hash lookup per segment, so its cost grows with
//! the path's length, not with the number of routes. Backtracking (below) only tries alternatives the
//! path itself matches, and visits each node at most once.
//!
//! Precedence, when several templates match a path: segment by segment from the left, a literal
//! beats `*`, which beats `**`; the first choice is kept unless it leads to no route for the request's
//! method, in which case the walk backtracks to the next choice. Routes of other methods never block a
//! less specific route of the right one: `Found::WrongMethod` (a 405) is answered only when no
//! template matches for the request's method. A last segment holding `:` is first tried as `name:verb`
//! (split at its last `:`, against routes with that verb), then whole (against routes without one).
//!
//! Where http.proto is silent:
//! - Literal segments and verbs are compared with the request's segments after both are normalized
//!   as RFC 3986 section 6.2.2 allows: escapes of unreserved characters decoded (`a%62c` is `abc`), the
//!   hex digits of the other escapes in upper case (`%2f` is `%2F`). Other escapes stay escapes:
//!   `%24` is not `$`, nor `%2F` a `/`. No dot-segment removal: `.` and `..` are ordinary segments.
//! - An empty segment (`//`, a trailing `/`) matches no literal and no `*`, only a `**`: `/v1/books/`
//!   does not match `/v1/books`, `{name=**}` captures `a//b` from `/v1/a//b`.
//! - A variable's value is the segments it spans, joined by `/` as they appear in the path, and
//!   percent-decoded: fully for a variable of one segment (`{x}`, `{x=*}`, `{x=lit}`); except for
//!   `%2F`/`%2f`, which stay as written, for a variable of several segments or a `**` (even when it
//!   matched one segment or none, which captures the empty string). An escape that is not `%` and two
//!   hex digits, or bytes that are not UTF-8, make the match a `Found::BadPath`: the route is chosen
//!   first, and a value that does not decode does not send the walk on to another route.
//! - A path whose last segment ends with `:` has no verb (a verb is never empty): it is read whole.
//! - Methods are compared exactly, as `http::Method` compares them: HEAD does not fall back to GET
//!   here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use http::Method;

use super::template::{Segment, Template};

/// Routes keyed by method and path template (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Matcher<T> {
    /// The trie's root: the node before the first segment.
    root: Node<T>,
    /// How many routes it holds.
    len: usize,
}

/// What [`Matcher::find`] found.
#[derive(Debug)]
pub(crate) enum Found<'a, T> {
    /// A route matched; captures are in the template's variable order.
    Route {
        /// The value the route was inserted with.
        value: &'a T,
        /// What each of its template's variables captured.
        captures: Vec<Capture<'a>>,
    },
    /// Some route has this path but none for this method: the methods that do (for a 405 with
    /// `Allow`), without repeats, in the order of precedence of their templates.
    WrongMethod(Vec<Method>),
    /// No route has this path.
    NoRoute,
    /// A route matched but a captured value does not decode (bad percent-encoding, not UTF-8): the
    /// message.
    BadPath(String),
}

/// The value a variable captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Capture<'a> {
    /// The variable's field path, one identifier per element.
    pub field_path: &'a [String],
    /// The segments it spans, percent-decoded (see the module docs).
    pub value: String,
}

/// A node of the trie: what may follow the segments that lead to it.
#[derive(Clone, Debug)]
struct Node<T> {
    /// The children for literal segments, keyed by the literal normalized ([`normalize`]).
    literals: HashMap<String, Node<T>>,
    /// The child for a `*` segment.
    wildcard: Option<Box<Node<T>>>,
    /// The routes of templates ending here with a `**` segment.
    multi: Ends<T>,
    /// The routes of templates ending here.
    ends: Ends<T>,
}

/// The routes of templates ending at one place of the trie, keyed by their verb normalized
/// ([`normalize`]; `""` for none: a verb is never empty), then by method in the order inserted.
type Ends<T> = HashMap<String, Vec<Route<T>>>;

/// One route: a method and template's value and how to read its variables from a matching path.
#[derive(Clone, Debug)]
struct Route<T> {
    /// Its HTTP method.
    method: Method,
    /// The caller's value.
    value: T,
    /// Its template's variables, in order.
    variables: Vec<Span>,
}

/// Where a variable sits in a matching path.
#[derive(Clone, Debug)]
struct Span {
    /// The variable's field path.
    field_path: Vec<String>,
    /// The index of its first segment.
    start: usize,
    /// The index after its last segment; `None` when it ends with `**`, so runs to the path's end.
    end: Option<usize>,
    /// Whether `%2F` stays encoded: the variable may span several segments.
    multi: bool,
}

impl<T> Default for Matcher<T> {
    fn default() -> Self {
        Matcher {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literals: HashMap::new(),
            wildcard: None,
            multi: HashMap::new(),
            ends: HashMap::new(),
        }
    }
}

impl<T> Matcher<T> {
    /// Adds a route. Err(existing) when a route of the same HTTP method and the same shape is already
    /// there (same sequence of literals / single wildcards / multi wildcards and the same verb;
    /// variable names don't matter), returning a reference to the existing route's value so the
    /// caller can name both. Literals and verbs are compared normalized: `a%62c` is `abc`.
    pub(crate) fn insert(
        &mut self,
        method: Method,
        template: &Template,
        value: T,
    ) -> Result<(), &T> {
        let segments = template.segments();
        let (multi, before) = match segments.split_last() {
            Some((Segment::MultiWildcard, before)) => (true, before),
            _ => (false, segments),
        };
        let mut node = &mut self.root;
        for segment in before {
            node = match segment {
                Segment::Literal(text) => node
                    .literals
                    .entry(normalize(text).into_owned())
                    .or_default(),
                // Never `**`, which is only ever last.
                _ => node.wildcard.get_or_insert_default(),
            };
        }
        let ends = if multi {
            &mut node.multi
        } else {
            &mut node.ends
        };
        let verb = normalize(template.verb().unwrap_or_default());
        let routes = ends.entry(verb.into_owned()).or_default();
        if let Some(existing) = routes.iter().position(|r| r.method == method) {
            return Err(&routes[existing].value);
        }
        let variables = template.variable_spans().iter().map(|variable| {
            let range = variable.segments();
            let to_end = segments[range.end - 1] == Segment::MultiWildcard;
            Span {
                field_path: variable.field_path().to_vec(),
                start: range.start,
                end: (!to_end).then_some(range.end),
                multi: to_end || range.len() > 1,
            }
        });
        let variables = variables.collect();
        routes.push(Route {
            method,
            value,
            variables,
        });
        self.len += 1;
        Ok(())
    }

    /// Finds the route for `method` and `path` (the URI's path only, still percent-encoded, starting
    /// with "/"); see the module docs for precedence and decoding.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Found<'_, T> {
        let Some(path) = path.strip_prefix('/') else {
            return Found::NoRoute;
        };
        let whole: Vec<&str> = path.split('/').collect();
        let mut attempts = Vec::with_capacity(2);
        let last = whole[whole.len() - 1];
        // A verb is never empty: a path ending with ":" is only read whole.
        if let Some((name, verb)) = last.rsplit_once(':').filter(|(_, verb)| !verb.is_empty()) {
            let mut split = whole.clone();
            split[whole.len() - 1] = name;
            attempts.push(Attempt::new(split, verb));
        }
        attempts.push(Attempt::new(whole, ""));

        for attempt in &attempts {
            let found = attempt.walk(&self.root, 0, &mut |routes| {
                routes.iter().find(|r| r.method == method)
            });
            if let Some(route) = found {
                return match attempt.captures(route) {
                    Ok(captures) => Found::Route {
                        value: &route.value,
                        captures,
                    },
                    Err(message) => Found::BadPath(message),
                };
            }
        }
        let mut allowed: Vec<Method> = Vec::new();
        for attempt in &attempts {
            attempt.walk(&self.root, 0, &mut |routes| {
                for route in routes {
                    if !allowed.contains(&route.method) {
                        allowed.push(route.method.clone());
                    }
                }
                None::<()>
            });
        }
        if allowed.is_empty() {
            Found::NoRoute
        } else {
            Found::WrongMethod(allowed)
        }
    }

    /// Whether it holds no route.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many routes it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// One way of reading a request path: its segments, with or without a verb split off the last one.
struct Attempt<'p> {
    /// The segments as they appear in the path.
    raw: Vec<&'p str>,
    /// The same, normalized, as the literal children are keyed.
    keys: Vec<Cow<'p, str>>,
    /// The verb, normalized, as routes are keyed (`""`: none).
    verb: Cow<'p, str>,
}

impl<'p> Attempt<'p> {
    /// The attempt reading `raw`, with `verb` if one was split off (`""` if not).
    fn new(raw: Vec<&'p str>, verb: &'p str) -> Self {
        let keys = raw.iter().map(|segment| normalize(segment)).collect();
        let verb = normalize(verb);
        Attempt { raw, keys, verb }
    }

    /// Walks the trie from `node`, where the first `depth` segments led, in order of precedence,
    /// handing `visit` the routes for this attempt's verb wherever a template matches, until it
    /// returns something.
    fn walk<'t, T, R>(
        &self,
        node: &'t Node<T>,
        depth: usize,
        visit: &mut impl FnMut(&'t [Route<T>]) -> Option<R>,
    ) -> Option<R> {
        let routes =
            |ends: &'t Ends<T>| ends.get(self.verb.as_ref()).map_or(&[][..], Vec::as_slice);
        if let Some(key) = self.keys.get(depth) {
            let literal = node.literals.get(key.as_ref());
            let wildcard = node.wildcard.as_deref().filter(|_| !key.is_empty());
            for child in literal.into_iter().chain(wildcard) {
                if let Some(found) = self.walk(child, depth + 1, visit) {
                    return Some(found);
                }
            }
        } else if let Some(found) = visit(routes(&node.ends)) {
            return Some(found);
        }
        visit(routes(&node.multi))
    }

    /// The values `route`'s variables capture from this reading of the path, or why one does not
    /// decode.
    fn captures<'t, T>(&self, route: &'t Route<T>) -> Result<Vec<Capture<'t>>, String> {
        let capture = |span: &'t Span| {
            let text = match &self.raw[span.start..span.end.unwrap_or(self.raw.len())] {
                [one] => Cow::Borrowed(*one),
                segments => Cow::Owned(segments.join("/")),
            };
            let value = decode(&text, span.multi).map_err(|problem| {
                let field = span.field_path.join(".");
                format!("the value {text:?} of the path variable {field:?} {problem}")
            })?;
            Ok(Capture {
                field_path: &span.field_path,
                value,
            })
        };
        route.variables.iter().map(capture).collect()
    }
}

/// A segment or verb in the form literals are compared in: escapes of unreserved characters decoded,
/// the hex digits of other escapes in upper case, anything else (bad escapes too) as it is.
fn normalize(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let mut out = String::with_capacity(segment.len());
    let mut rest = segment;
    while let Some(c) = rest.chars().next() {
        match escaped(rest.as_bytes()) {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(byte as char)
            }
            Some(byte) => {
                let _ = write!(out, "%{byte:02X}");
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
        }
        rest = &rest[3..];
    }
    Cow::Owned(out)
}

/// Percent-decodes a captured value, leaving `%2F` and `%2f` as written when `keep_slashes`; the
/// Err completes a sentence about the value.
fn decode(text: &str, keep_slashes: bool) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'%' {
            out.push(byte);
            at += 1;
            continue;
        }
        match escaped(&bytes[at..]) {
            Some(b'/') if keep_slashes => out.extend_from_slice(&bytes[at..at + 3]),
            Some(decoded) => out.push(decoded),
            None => {
                let bad: String = text[at..].chars().take(3).collect();
                return Err(format!("has a bad percent-escape {bad:?}"));
            }
        }
        at += 3;
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once percent-decoded".to_owned())
}

/// The byte a percent-escape at the start of `text` stands for, if `text` starts with one.
fn escaped(text: &[u8]) -> Option<u8> {
    let hex = |i: usize| Some((*text.get(i)? as char).to_digit(16)? as u8);
    if text.first() == Some(&b'%') {
        Some(hex(1)? << 4 | hex(2)?)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a test table, trimmed, but empty ones and `//` comments.
    fn lines(table: &str) -> impl Iterator<Item = &str> {
        let lines = table.lines().map(str::trim);
        lines.filter(|line| !line.is_empty() && !line.starts_with("//"))
    }

    /// A matcher holding `routes`, one "METHOD template" a line, each valued by its line.
    fn matcher(routes: &str) -> Matcher<String> {
        let mut matcher = Matcher::default();
        for route in lines(routes) {
            assert_eq!(insert(&mut matcher, route), Ok(()), "{route}");
        }
        matcher
    }

    /// Inserts "METHOD template", valued by that text; the Err is the existing route's text.
    fn insert(matcher: &mut Matcher<String>, route: &str) -> Result<(), String> {
        let (method, text) = route.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let template = Template::parse(text).unwrap();
        matcher
            .insert(method, &template, route.to_owned())
            .map_err(String::clone)
    }

    /// What "METHOD path" finds: "METHOD template field=value…", "405 [methods]", "404" or "400 why".
    fn find(matcher: &Matcher<String>, request: &str) -> String {
        let (method, path) = request.split_once(' ').unwrap_or((request, ""));
        match matcher.find(&Method::from_bytes(method.as_bytes()).unwrap(), path) {
            Found::Route { value, captures } => captures.iter().fold(value.clone(), |out, c| {
                format!("{out} {}={}", c.field_path.join("."), c.value)
            }),
            Found::WrongMethod(methods) => format!("405 {methods:?}"),
            Found::NoRoute => "404".to_owned(),
            Found::BadPath(message) => format!("400 {message}"),
        }
    }

    /// Asserts what requests find among `routes` (as [`matcher`] takes them), one "METHOD path =>
    /// what `find` answers" a line.
    #[track_caller]
    fn check(routes: &str, cases: &str) {
        let matcher = matcher(routes);
        for case in lines(cases) {
            let (request, expected) = case.split_once(" => ").unwrap();
            assert_eq!(find(&matcher, request.trim_end()), expected, "{request}");
        }
    }

    #[test]
    fn variables_capture_their_segments() {
        check(
            "GET /v1/{book.name=shelves/*/books/*}
             GET /v1/{shelf.id}/{book.id}
             GET /v2/{name=**}
             GET /v3/{a=lit}/{b=*}
             POST /v2/{name=**}:undelete",
            "GET /v1/shelves/s/books/b => GET /v1/{book.name=shelves/*/books/*} book.name=shelves/s/books/b
             GET /v1/s/b              => GET /v1/{shelf.id}/{book.id} shelf.id=s book.id=b
             GET /v2/a/b/c            => GET /v2/{name=**} name=a/b/c
             GET /v2/a                => GET /v2/{name=**} name=a
             // `**` matches zero segments.
             GET /v2                  => GET /v2/{name=**} name=
             POST /v2:undelete        => POST /v2/{name=**}:undelete name=
             POST /v2/a/b:undelete    => POST /v2/{name=**}:undelete name=a/b
             GET /v3/lit/x            => GET /v3/{a=lit}/{b=*} a=lit b=x
             GET /v1/shelves/s/books  => 404
             GET /v3/other/x          => 404",
        );
    }

    #[test]
    fn verbs_are_split_off_the_last_segment_first() {
        check(
            "POST /v1/books/{id}:publish
             GET /v1/books/{id}
             POST /v1/books/{id}
             GET /v1/{path=**}:get",
            "POST /v1/books/1:publish     => POST /v1/books/{id}:publish id=1
             POST /v1/books/1:pub%6Cish   => POST /v1/books/{id}:publish id=1
             POST /v1/books/1             => POST /v1/books/{id} id=1
             // No route with that verb for the method: the segment whole, colon and all.
             POST /v1/books/1:other       => POST /v1/books/{id} id=1:other
             GET /v1/books/1:publish      => GET /v1/books/{id} id=1:publish
             POST /v1/books/1:            => POST /v1/books/{id} id=1:
             // An escaped colon splits nothing; the last colon splits.
             POST /v1/books/1%3Apublish   => POST /v1/books/{id} id=1:publish
             GET /v1/books/a:b:get        => GET /v1/{path=**}:get path=books/a:b",
        );
    }

    #[test]
    fn literals_beat_wildcards_with_backtracking() {
        check(
            "GET /v1/{a}/x
             GET /v1/lit/y
             GET /v2/{a}/lit
             GET /v2/lit/{b}
             GET /v3/*
             GET /v3/**
             GET /v3/lit
             GET /v4/lit/x/y
             GET /v4/*/x/{z}
             POST /v5/lit/x
             GET /v5/{a}/x",
            "GET /v1/lit/x     => GET /v1/{a}/x a=lit
             GET /v1/lit/y     => GET /v1/lit/y
             GET /v2/lit/lit   => GET /v2/lit/{b} b=lit
             GET /v2/other/lit => GET /v2/{a}/lit a=other
             GET /v3/lit       => GET /v3/lit
             GET /v3/other     => GET /v3/*
             GET /v3/a/b       => GET /v3/**
             GET /v3           => GET /v3/**
             GET /v4/lit/x/z   => GET /v4/*/x/{z} z=z
             // A route of another method does not hide a less specific one of the request's.
             GET /v5/lit/x     => GET /v5/{a}/x a=lit",
        );
    }

    #[test]
    fn literals_compare_normalized() {
        check(
            "GET /v1/abc \n GET /v1/a%2fb \n GET /v1/$x \n GET /v1/%7E",
            "GET /v1/a%62c     => GET /v1/abc
             GET /v1/%61%62%63 => GET /v1/abc
             GET /v1/a%2Fb     => GET /v1/a%2fb
             GET /v1/~         => GET /v1/%7E
             GET /v1/$x        => GET /v1/$x
             // Reserved characters escaped are not those characters, nor is `%2F` a `/`.
             GET /v1/%24x      => 404
             GET /v1/a/b       => 404
             GET /v1/ab%zz     => 404",
        );
    }

    #[test]
    fn captures_decode_by_span() {
        check(
            "GET /s/{x} \n GET /m/{x=a/*} \n GET /d/{x=**} \n GET /l/{x=lit}",
            "GET /s/a%2Fb%2fc%20d%C3%A9 => GET /s/{x} x=a/b/c dé
             GET /m/a/b%2Fc%2fd%20%3A   => GET /m/{x=a/*} x=a/b%2Fc%2fd :
             GET /d/x%2Fy               => GET /d/{x=**} x=x%2Fy
             GET /d/%61/b%2F%2f         => GET /d/{x=**} x=a/b%2F%2f
             GET /l/%6Cit               => GET /l/{x=lit} x=lit",
        );
    }

    #[test]
    fn undecodable_captures_are_bad_paths() {
        check(
            "GET /v1/{book.id} \n GET /v2/{x=**}",
            r#"GET /v1/a%zz  => 400 the value "a%zz" of the path variable "book.id" has a bad percent-escape "%zz"
               GET /v1/a%2   => 400 the value "a%2" of the path variable "book.id" has a bad percent-escape "%2"
               GET /v1/%é    => 400 the value "%é" of the path variable "book.id" has a bad percent-escape "%é"
               GET /v1/%FF   => 400 the value "%FF" of the path variable "book.id" is not UTF-8 once percent-decoded
               GET /v2/a/%C3 => 400 the value "a/%C3" of the path variable "x" is not UTF-8 once percent-decoded"#,
        );
    }

    #[test]
    fn empty_segments_and_trailing_slashes() {
        check(
            "GET /v1/books \n GET /v1/{a}/x \n GET /v2/{p=**} \n GET /{p=**}:v",
            "GET /v1/books/     => 404
             GET /v1//x         => 404
             GET //v1/books     => 404
             GET v1/books       => 404
             GET                => 404
             GET /v1/books?x=1  => 404
             GET /v2/a//b/      => GET /v2/{p=**} p=a//b/
             GET /v2/           => GET /v2/{p=**} p=
             GET /:v            => GET /{p=**}:v p=",
        );
    }

    #[test]
    fn wrong_method_lists_the_methods_that_match() {
        check(
            "GET /v1/books/{id}
             DELETE /v1/books/{id}
             LIST /v1/books/{id}
             PUT /v1/{a}/{b}
             GET /v1/{a=**}
             HEAD /v1/books/{id}:x",
            "DELETE /v1/books/1 => DELETE /v1/books/{id} id=1
             LIST /v1/books/1   => LIST /v1/books/{id} id=1
             POST /v1/books/1   => 405 [GET, DELETE, LIST, PUT]
             POST /v1/books/1:x => 405 [HEAD, GET, DELETE, LIST, PUT]
             get /v1/books/1    => 405 [GET, DELETE, LIST, PUT]
             GET /v2            => 404",
        );
    }

    #[test]
    fn conflicts_are_same_method_and_shape() {
        let mut m = matcher("GET /v1/{a}/b/{c=**}:v \n GET /v2/{a}/{b} \n GET /v3/abc");
        for (route, existing) in [
            ("GET /v1/{x}/b/{y=**}:v", "GET /v1/{a}/b/{c=**}:v"),
            ("GET /v1/*/b/**:v", "GET /v1/{a}/b/{c=**}:v"),
            ("GET /v1/{x=*/b/**}:v", "GET /v1/{a}/b/{c=**}:v"),
            ("GET /v1/*/b/**:%76", "GET /v1/{a}/b/{c=**}:v"),
            ("GET /v2/{x=*/*}", "GET /v2/{a}/{b}"),
            ("GET /v3/a%62c", "GET /v3/abc"),
        ] {
            assert_eq!(insert(&mut m, route), Err(existing.to_owned()), "{route}");
        }
        assert_eq!(m.len(), 3);
        for route in [
            "GET /v1/{a}/b/{c=**}",
            "GET /v1/{a}/b/{c=**}:w",
            "GET /v1/{a}/b/*:v",
            "GET /v1/{a}/b:v",
            "GET /v2/{a}/{b}/c",
            "POST /v2/{a}/{b}",
            "get /v2/{a}/{b}",
        ] {
            assert_eq!(insert(&mut m, route), Ok(()), "{route}");
        }
        assert_eq!(m.len(), 10);
    }

    #[test]
    fn empty_default_and_clone() {
        let mut m = matcher("");
        assert!(m.is_empty());
        assert_eq!(find(&m, "GET /"), "404");
        assert_eq!(insert(&mut m, "GET /{x=**}"), Ok(()));
        let copy = m.clone();
        assert!(!copy.is_empty());
        assert_eq!(find(&copy, "GET /"), "GET /{x=**} x=");
    }

    #[test]
    fn a_thousand_routes_each_find_their_own() {
        // Template, a path it matches, what its variable captures there; `#` is the route's number.
        const ROUTES: [[&str; 3]; 4] = [
            ["/v1/r#/{id}", "/v1/r#/x#", "x#"],
            ["/v1/r#/{id}:act#", "/v1/r#/x#:act#", "x#"],
            ["/v1/{id}/r#", "/v1/x#/r#", "x#"],
            ["/v2/{id=r#/*}/s/**", "/v2/r#/x/s/a", "r#/x"],
        ];
        const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
        let route = |i: usize| ROUTES[i % 4].map(|text| text.replace('#', &i.to_string()));
        let mut m = matcher("");
        for i in 0..1000 {
            let [template, ..] = route(i);
            assert_eq!(
                insert(&mut m, &format!("{} {template}", METHODS[i % 5])),
                Ok(())
            );
        }
        assert_eq!(m.len(), 1000);
        for i in 0..1000 {
            let ([template, path, capture], method) = (route(i), METHODS[i % 5]);
            let found = find(&m, &format!("{method} {path}"));
            assert_eq!(found, format!("{method} {template} id={capture}"));
            let other = find(&m, &format!("{} {path}", METHODS[(i + 1) % 5]));
            assert!(
                other.starts_with("405 [") && other.contains(method),
                "{other}"
            );
        }
    }
}
