//! The URL path templates of `google.api.http` annotations, parsed once when routes are registered so
//! that a mistake in an annotation is refused there, with a message naming it, instead of becoming a
//! route that never matches. The grammar and its rules are those of googleapis' `google/api/http.proto`:
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! `{x}` means `{x=*}`; `**` (zero or more segments) must be the last segment, only the verb after it;
//! variables do not nest, and a field path is bound at most once. Where http.proto is silent:
//! - A LITERAL is one or more characters a URL path segment may hold as they are (RFC 3986 `pchar`):
//!   letters, digits, `-._~`, `!$&'()+,;=`, `@`, and percent-escapes `%XX`. Not `:`, which introduces
//!   the verb, nor `*`, which reads as a wildcard; those and any other character (space, `{`, `}`,
//!   non-ASCII) are written percent-encoded. Literals are kept as written: comparing them with
//!   request paths is the matcher's business.
//! - An IDENT is a protobuf field name, `[A-Za-z_][A-Za-z0-9_]*`.
//! - `/` alone is refused (the grammar asks for one segment at least), as is any empty segment (`//`,
//!   a trailing `/`, `{x=}`).
//! - `Display` writes the canonical form: the template as written, except that `{x=*}` becomes `{x}`.

use std::fmt;
use std::ops::Range;

/// A parsed path template: its segments, in order, with the variables marking spans of them, and its
/// verb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    /// Every segment, those inside variables included (`{x}` is one `*`).
    segments: Vec<Segment>,
    /// The variables, in the order they appear.
    variables: Vec<Variable>,
    /// The verb after the last `:`, without it, as written.
    verb: Option<String>,
}

/// One segment of a template, as the matcher walks them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Text a request's segment must equal, as written in the template (percent-escapes and all).
    Literal(String),
    /// `*`: exactly one segment.
    Wildcard,
    /// `**`: zero or more segments, always the template's last.
    MultiWildcard,
}

/// A variable of a template: the request field it binds and the segments it spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Variable {
    /// The field path, one identifier per element (`book.name` is `["book", "name"]`).
    field_path: Vec<String>,
    /// The indices in [`Template::segments`] of the segments it spans (never empty).
    segments: Range<usize>,
}

impl Variable {
    /// The field path, one identifier per element.
    pub(crate) fn field_path(&self) -> &[String] {
        &self.field_path
    }

    /// The indices in [`Template::segments`] of the segments it spans.
    pub(crate) fn segments(&self) -> Range<usize> {
        self.segments.clone()
    }
}

impl Template {
    /// Parses; the Err is a one-line human message naming the problem and the template.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let parser = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        };
        parser.template()
    }

    /// The field paths of its variables, in order (each a Vec of identifiers, e.g. ["book","name"]).
    pub(crate) fn variables(&self) -> impl Iterator<Item = &[String]> {
        self.variables.iter().map(Variable::field_path)
    }

    /// Its variables with the segments each spans, in order.
    pub(crate) fn variable_spans(&self) -> &[Variable] {
        &self.variables
    }

    /// Its segments, in order, those inside variables included.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The verb (what follows the final `:`), as written.
    pub(crate) fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }
}

/// The template as written, in canonical form (`{x=*}` is written `{x}`): parsing it gives the same
/// template back.
impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut variables = self.variables.iter().peekable();
        let mut open: Option<&Variable> = None;
        for (index, segment) in self.segments.iter().enumerate() {
            f.write_str("/")?;
            if let Some(variable) = variables.next_if(|v| v.segments.start == index) {
                write!(f, "{{{}", variable.field_path.join("."))?;
                if variable.segments.len() == 1 && *segment == Segment::Wildcard {
                    f.write_str("}")?;
                    continue;
                }
                f.write_str("=")?;
                open = Some(variable);
            }
            match segment {
                Segment::Literal(text) => f.write_str(text)?,
                Segment::Wildcard => f.write_str("*")?,
                Segment::MultiWildcard => f.write_str("**")?,
            }
            if open.is_some_and(|v| v.segments.end == index + 1) {
                f.write_str("}")?;
                open = None;
            }
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

/// A recursive-descent parser over the template's bytes (everything it accepts is ASCII, so a byte
/// position is also a character's column).
struct Parser<'a> {
    /// The whole template, for messages.
    text: &'a str,
    /// The same, as bytes.
    bytes: &'a [u8],
    /// The position of the next byte to read.
    pos: usize,
    /// The segments read so far.
    segments: Vec<Segment>,
    /// The variables read so far.
    variables: Vec<Variable>,
}

impl Parser<'_> {
    /// The whole template: `"/" Segments [ Verb ]`.
    fn template(mut self) -> Result<Template, String> {
        if self.peek() != Some(b'/') {
            return self.fail("it must start with \"/\"");
        }
        self.pos += 1;
        if self.peek().is_none() {
            return self.fail("no segment after the leading \"/\"");
        }
        self.segments(false)?;
        let mut verb = None;
        if self.peek() == Some(b':') {
            self.pos += 1;
            if self.peek().is_none() {
                return self.fail("empty verb after the final \":\"");
            }
            verb = Some(self.literal()?);
            match self.peek() {
                None => {}
                Some(b':') => {
                    return self.fail(self.at("is a second \":\"; the verb is one literal"));
                }
                Some(_) => return self.fail(self.at("follows the verb, which must come last")),
            }
        }
        if self.peek().is_some() {
            return self.fail(self.at("has no matching \"{\""));
        }
        Ok(Template {
            segments: self.segments,
            variables: self.variables,
            verb,
        })
    }

    /// `Segment { "/" Segment }`, inside a variable's braces or not.
    fn segments(&mut self, in_variable: bool) -> Result<(), String> {
        loop {
            self.segment(in_variable)?;
            match self.peek() {
                Some(b'/') => self.pos += 1,
                None | Some(b'}' | b':') => return Ok(()),
                Some(_) => {
                    return self.fail(self.at(
                        "follows a wildcard or variable in the same segment; those are whole segments",
                    ));
                }
            }
        }
    }

    /// One segment: `*`, `**`, a literal or a variable.
    fn segment(&mut self, in_variable: bool) -> Result<(), String> {
        if self.segments.last() == Some(&Segment::MultiWildcard) {
            return self.fail(
                "a segment follows \"**\", which must be the last one (only a verb may follow it)",
            );
        }
        match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                let segment = if self.peek() == Some(b'*') {
                    self.pos += 1;
                    Segment::MultiWildcard
                } else {
                    Segment::Wildcard
                };
                self.segments.push(segment);
            }
            Some(b'{') if in_variable => {
                return self
                    .fail(self.at("opens a variable inside another; variables may not nest"));
            }
            Some(b'{') => self.variable()?,
            None | Some(b'/' | b'}' | b':') => {
                return self.fail(format!("empty segment at column {}", self.pos + 1));
            }
            Some(_) => {
                let literal = self.literal()?;
                self.segments.push(Segment::Literal(literal));
            }
        }
        Ok(())
    }

    /// `"{" FieldPath [ "=" Segments ] "}"`, the parser at its `{`.
    fn variable(&mut self) -> Result<(), String> {
        let open = self.pos;
        self.pos += 1;
        let mut field_path = Vec::new();
        loop {
            let start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c == b'_' || c.is_ascii_alphanumeric())
            {
                self.pos += 1;
            }
            if start == self.pos || self.bytes[start].is_ascii_digit() {
                return self.fail(format!("expected a field name at column {}", start + 1));
            }
            field_path.push(self.text[start..self.pos].to_owned());
            if self.peek() != Some(b'.') {
                break;
            }
            self.pos += 1;
        }
        if self.variables.iter().any(|v| v.field_path == field_path) {
            return self.fail(format!(
                "the field path {:?} is bound twice",
                field_path.join(".")
            ));
        }
        let first = self.segments.len();
        match self.peek() {
            Some(b'}') => self.segments.push(Segment::Wildcard),
            Some(b'=') => {
                self.pos += 1;
                self.segments(true)?;
            }
            _ => {}
        }
        match self.peek() {
            Some(b'}') => self.pos += 1,
            None => return self.fail(format!("the \"{{\" at column {} is never closed", open + 1)),
            Some(b':') => {
                return self.fail(self.at("is inside a variable; only the verb follows \":\""));
            }
            Some(_) => {
                return self
                    .fail(self.at("is not allowed after a field path (expected \"=\" or \"}\")"));
            }
        }
        self.variables.push(Variable {
            field_path,
            segments: first..self.segments.len(),
        });
        Ok(())
    }

    /// A LITERAL: `pchar`s but `:` and `*`, percent-escapes checked; stops before `/`, `}` or `:`.
    fn literal(&mut self) -> Result<String, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'/' | b'}' | b':' => break,
                b'%' => {
                    let hex = |i: usize| self.bytes.get(i).is_some_and(u8::is_ascii_hexdigit);
                    if !(hex(self.pos + 1) && hex(self.pos + 2)) {
                        return self
                            .fail(self.at("does not start a percent-escape of two hex digits"));
                    }
                    self.pos += 3;
                }
                b'{' => {
                    return self
                        .fail(self.at("is inside a literal; a variable is a whole segment"));
                }
                b'*' => {
                    return self.fail(self.at(
                        "is inside a literal; wildcards are whole segments (a literal \"*\" is written %2A)",
                    ));
                }
                c if c.is_ascii_alphanumeric() || b"-._~!$&'()+,;=@".contains(&c) => self.pos += 1,
                _ => return self.fail(self.at("is not allowed in a literal; percent-encode it")),
            }
        }
        Ok(self.text[start..self.pos].to_owned())
    }

    /// The next byte, if any.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// `problem` about the character at the parser's position, quoted with its column.
    fn at(&self, problem: &str) -> String {
        let c = self.text[self.pos..].chars().next().unwrap_or_default();
        format!("{c:?} at column {} {problem}", self.pos + 1)
    }

    /// Fails with `problem`, naming the template.
    fn fail<T>(&self, problem: impl fmt::Display) -> Result<T, String> {
        Err(format!("path template {:?}: {problem}", self.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a template that must be valid.
    fn parse(text: &str) -> Template {
        Template::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The message refusing a template that must be invalid.
    fn refuse(text: &str) -> String {
        match Template::parse(text) {
            Ok(t) => panic!("{text:?} parsed as {t:?}"),
            Err(e) => e,
        }
    }

    /// Literal segment shorthand.
    fn lit(text: &str) -> Segment {
        Segment::Literal(text.to_owned())
    }

    /// The field paths of a template's variables, each joined by dots.
    fn fields(template: &Template) -> Vec<String> {
        template.variables().map(|p| p.join(".")).collect()
    }

    #[test]
    fn literals_and_wildcards() {
        let t = parse("/v1/shelves/*/books/**");
        assert_eq!(
            t.segments(),
            [
                lit("v1"),
                lit("shelves"),
                Segment::Wildcard,
                lit("books"),
                Segment::MultiWildcard
            ]
        );
        assert!(t.variable_spans().is_empty());
        assert_eq!(t.verb(), None);
        assert_eq!(parse("/**").segments(), [Segment::MultiWildcard]);
        // Every pchar but ":" and "*", and percent-escapes, as written.
        let t = parse("/a-._~!$&'()+,;=@Z9/%2F%e9");
        assert_eq!(t.segments(), [lit("a-._~!$&'()+,;=@Z9"), lit("%2F%e9")]);
    }

    #[test]
    fn variables() {
        let t = parse("/v1/{book.name}/{shelf=shelves/*}/{rest=**}");
        assert_eq!(fields(&t), ["book.name", "shelf", "rest"]);
        assert_eq!(t.variables().next().unwrap(), ["book", "name"]);
        let spans: Vec<_> = t.variable_spans().iter().map(Variable::segments).collect();
        assert_eq!(spans, [1..2, 2..4, 4..5]);
        assert_eq!(
            t.segments(),
            [
                lit("v1"),
                Segment::Wildcard,
                lit("shelves"),
                Segment::Wildcard,
                Segment::MultiWildcard
            ]
        );
        // `{x}` is `{x=*}`; a variable may be a literal; identifiers take `_` and digits after the first.
        assert_eq!(parse("/{x}"), parse("/{x=*}"));
        assert_eq!(parse("/{_a1.b_2=lit}").segments(), [lit("lit")]);
        assert_eq!(fields(&parse("/{a.b}/{a}/{a.c}")), ["a.b", "a", "a.c"]);
    }

    #[test]
    fn verbs() {
        let t = parse("/v1/books/{id}:publish");
        assert_eq!(t.verb(), Some("publish"));
        assert_eq!(t.segments().len(), 3);
        assert_eq!(parse("/v1/{name=**}:cancel").verb(), Some("cancel"));
        assert_eq!(parse("/v1/*:a%3Ab").verb(), Some("a%3Ab"));
        assert_eq!(parse("/**:x").segments(), [Segment::MultiWildcard]);
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for text in [
            "/v1/books",
            "/v1/{name}",
            "/v1/{book.name=shelves/*/books/*}:get",
            "/v1/{a=**}",
            "/**:verb",
            "/v1/{a=lit}/*/{b}/x%2Fy/**",
            "/{a=*/b}",
        ] {
            let t = parse(text);
            assert_eq!(t.to_string(), text);
            assert_eq!(parse(&t.to_string()), t);
        }
        assert_eq!(parse("/v1/{x=*}/{y=*}:v").to_string(), "/v1/{x}/{y}:v");
    }

    #[test]
    fn refusals_name_the_template_and_the_problem() {
        let cases = [
            ("", "it must start with \"/\""),
            ("v1/books", "must start with \"/\""),
            ("/", "no segment after the leading"),
            ("/v1//books", "empty segment at column 5"),
            ("/v1/books/", "empty segment at column 11"),
            ("/v1/{x=}", "empty segment at column 8"),
            ("/:verb", "empty segment at column 2"),
            ("/v1/{name", "the \"{\" at column 5 is never closed"),
            (
                "/v1/{name=shelves/*",
                "the \"{\" at column 5 is never closed",
            ),
            ("/v1/name}", "'}' at column 9 has no matching \"{\""),
            (
                "/v1/{a={b}}",
                "'{' at column 8 opens a variable inside another; variables may not nest",
            ),
            ("/v1/**/x", "a segment follows \"**\""),
            ("/v1/{a=**}/x", "a segment follows \"**\""),
            ("/{a}/{a}", "the field path \"a\" is bound twice"),
            ("/{a.b}/{a.b=x/*}", "the field path \"a.b\" is bound twice"),
            ("/{}", "expected a field name at column 3"),
            ("/{1a}", "expected a field name at column 3"),
            ("/{a.}", "expected a field name at column 5"),
            (
                "/{a-b}",
                "'-' at column 4 is not allowed after a field path",
            ),
            ("/{a=b:c}", "':' at column 6 is inside a variable"),
            ("/v1/x:", "empty verb"),
            ("/v1/x:a:b", "':' at column 8 is a second \":\""),
            ("/v1/x:a/b", "'/' at column 8 follows the verb"),
            ("/v1/x:a}", "'}' at column 8 follows the verb"),
            ("/v1/x:{a}", "'{' at column 7 is inside a literal"),
            ("/v1/a{b}", "'{' at column 6 is inside a literal"),
            ("/v1/{a}b", "'b' at column 8 follows a wildcard or variable"),
            ("/v1/*b", "'b' at column 6 follows a wildcard"),
            ("/v1/***", "'*' at column 7 follows a wildcard"),
            (
                "/v1/a*",
                "'*' at column 6 is inside a literal; wildcards are whole segments",
            ),
            (
                "/v1/a b",
                "' ' at column 6 is not allowed in a literal; percent-encode it",
            ),
            ("/v1/é", "'é' at column 5 is not allowed in a literal"),
            ("/v1/a?b", "'?' at column 6 is not allowed"),
            ("/v1/%zz", "'%' at column 5 does not start a percent-escape"),
            ("/v1/a%2", "'%' at column 6 does not start a percent-escape"),
        ];
        for (text, problem) in cases {
            let message = refuse(text);
            assert!(
                message.starts_with(&format!("path template {text:?}: ")),
                "{message}"
            );
            assert!(message.contains(problem), "{text:?}: {message}");
            assert!(!message.contains('\n'));
        }
        // One line even when the template is not.
        assert!(!refuse("/a\nb").contains('\n'));
    }
}
