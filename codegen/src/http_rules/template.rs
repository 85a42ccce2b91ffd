//! The URL path templates of `google.api.http` rules (`/v1/{name=shelves/*/books/*}:publish`): parsed
//! at generation time so that a template that can never match fails the build, and so that the
//! OpenAPI document can name the path's parameters.
//!
//! The grammar, as `google/api/http.proto` gives it:
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! `**` may only come last (before the verb), and variables do not nest.

use std::fmt;

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    /// The segments after the leading `/`.
    pub(crate) segments: Vec<Segment>,
    /// The custom verb after the last segment (`publish` in `.../books/*:publish`).
    pub(crate) verb: Option<String>,
}

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `*`: matches one segment.
    Wildcard,
    /// `**`: matches any number of segments.
    DeepWildcard,
    /// `{field.path=segments}`: the matched segments set the request field `field_path`.
    Variable {
        /// The dotted field path, such as `book.name`.
        field_path: String,
        /// What the variable matches: `*` when the template gives no `=segments`. Holds no
        /// variables.
        segments: Vec<Segment>,
    },
}

impl Segment {
    /// Whether this segment, or what it matches, can span more than one URL segment.
    fn multi_segment(&self) -> bool {
        match self {
            Segment::DeepWildcard => true,
            Segment::Variable { segments, .. } => {
                segments.len() > 1 || segments.iter().any(Segment::multi_segment)
            }
            Segment::Literal(_) | Segment::Wildcard => false,
        }
    }
}

impl PathTemplate {
    /// Parses `pattern`, or says what is wrong with it.
    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err("does not start with `/`".to_owned());
        };
        // The verb is a `:` after the last `/` and the last `}`.
        let tail_start = rest.rfind(['/', '}']).map_or(0, |index| index + 1);
        let (path, verb) = match rest[tail_start..].find(':') {
            Some(colon) => {
                let verb = &rest[tail_start + colon + 1..];
                check_literal(verb, "verb")?;
                (&rest[..tail_start + colon], Some(verb.to_owned()))
            }
            None => (rest, None),
        };
        let segments = if path.is_empty() && verb.is_none() {
            // `/` alone: the root.
            Vec::new()
        } else {
            parse_segments(path, true)?
        };
        let template = Self { segments, verb };
        template.check_deep_wildcard_last()?;
        let mut seen = Vec::new();
        for variable in template.variables() {
            if seen.contains(&variable) {
                return Err(format!("binds the field `{variable}` twice"));
            }
            seen.push(variable);
        }
        Ok(template)
    }

    fn check_deep_wildcard_last(&self) -> Result<(), String> {
        let mut flat = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Variable { segments, .. } => flat.extend(segments.iter()),
                other => flat.push(other),
            }
        }
        let last = flat.len().saturating_sub(1);
        if flat
            .iter()
            .enumerate()
            .any(|(index, segment)| *segment == &Segment::DeepWildcard && index != last)
        {
            return Err("has `**` before its last segment".to_owned());
        }
        Ok(())
    }

    /// The field paths of the template's variables, in order.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable { field_path, .. } => Some(field_path.as_str()),
            _ => None,
        })
    }

    /// Whether the template matches a `*` or `**` outside any variable, which sets no field.
    pub(crate) fn has_unnamed_wildcard(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| matches!(segment, Segment::Wildcard | Segment::DeepWildcard))
    }

    /// The variables that match more than any one segment (`{name=shelves/*}`, `{path=**}`), with
    /// what they match.
    pub(crate) fn patterned_variables(&self) -> impl Iterator<Item = (&str, &[Segment])> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable {
                field_path,
                segments,
            } if segments != &[Segment::Wildcard] => Some((field_path.as_str(), &segments[..])),
            _ => None,
        })
    }

    /// The field paths of the variables that can match more than one URL segment, whose values
    /// hold `/`.
    pub(crate) fn multi_segment_variables(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Variable { field_path, .. } if segment.multi_segment() => {
                Some(field_path.as_str())
            }
            _ => None,
        })
    }

    /// The template as an OpenAPI path: every variable becomes `{field.path}`, whatever it matches.
    pub(crate) fn openapi_path(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Variable { field_path, .. } => {
                    out.push('{');
                    out.push_str(field_path);
                    out.push('}');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// The template as an OpenAPI path in which every variable with a pattern is spread over the
    /// segments it matches: its literals stay literal, and each of its `*` and `**` becomes a
    /// parameter named after the field and the wildcard's rank (`/v1/shelves/{name_1}/books/
    /// {name_2}` for `/v1/{name=shelves/*/books/*}`); a variable without a pattern stays
    /// `{field.path}`. Also gives, for each parameter, the field it is part of.
    pub(crate) fn openapi_path_spread(&self) -> (String, Vec<SpreadParameter>) {
        let mut out = String::new();
        let mut parameters = Vec::new();
        let taken: Vec<&str> = self.variables().collect();
        for segment in &self.segments {
            match segment {
                Segment::Variable {
                    field_path,
                    segments,
                } if segments != &[Segment::Wildcard] => {
                    let mut rank = 0;
                    for part in segments {
                        out.push('/');
                        match part {
                            Segment::Wildcard | Segment::DeepWildcard => {
                                let mut name;
                                loop {
                                    rank += 1;
                                    name = format!("{field_path}_{rank}");
                                    if !taken.contains(&name.as_str()) {
                                        break;
                                    }
                                }
                                out.push_str(&format!("{{{name}}}"));
                                parameters.push(SpreadParameter {
                                    name,
                                    field_path: field_path.clone(),
                                    deep: part == &Segment::DeepWildcard,
                                });
                            }
                            other => out.push_str(&other.to_string()),
                        }
                    }
                }
                Segment::Variable { field_path, .. } => {
                    out.push_str(&format!("/{{{field_path}}}"));
                    parameters.push(SpreadParameter {
                        name: field_path.clone(),
                        field_path: field_path.clone(),
                        deep: false,
                    });
                }
                other => {
                    out.push('/');
                    out.push_str(&other.to_string());
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        (out, parameters)
    }
}

/// A path parameter of [`PathTemplate::openapi_path_spread`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpreadParameter {
    /// The parameter's name in the path.
    pub(crate) name: String,
    /// The field the segment is part of.
    pub(crate) field_path: String,
    /// Whether it stands for a `**`, so may hold `/`.
    pub(crate) deep: bool,
}

/// A regular expression (ECMA 262, as JSON Schema's `pattern`) matching what `segments` match.
pub(crate) fn segments_regex(segments: &[Segment]) -> String {
    let parts: Vec<String> = segments
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => regex_escape(text),
            Segment::Wildcard => "[^/]+".to_owned(),
            Segment::DeepWildcard => ".*".to_owned(),
            Segment::Variable { segments, .. } => segments_regex(segments),
        })
        .collect();
    parts.join("/")
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text of `segments`, as written in a template.
pub(crate) fn join(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Literal(text) => f.write_str(text),
            Segment::Wildcard => f.write_str("*"),
            Segment::DeepWildcard => f.write_str("**"),
            Segment::Variable {
                field_path,
                segments,
            } => {
                if segments == &[Segment::Wildcard] {
                    write!(f, "{{{field_path}}}")
                } else {
                    write!(f, "{{{field_path}={}}}", join(segments))
                }
            }
        }
    }
}

/// Parses `/`-separated segments; variables only when `variables` (not inside a variable).
fn parse_segments(text: &str, variables: bool) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let (segment, after) = if let Some(inner) = rest.strip_prefix('{') {
            if !variables {
                return Err("has a variable inside a variable".to_owned());
            }
            let Some(close) = inner.find('}') else {
                return Err("has a `{` without its `}`".to_owned());
            };
            let body = &inner[..close];
            if body.contains('{') {
                return Err("has a variable inside a variable".to_owned());
            }
            (parse_variable(body)?, &inner[close + 1..])
        } else {
            let end = rest.find('/').unwrap_or(rest.len());
            let text = &rest[..end];
            let segment = match text {
                "*" => Segment::Wildcard,
                "**" => Segment::DeepWildcard,
                _ => {
                    check_literal(text, "segment")?;
                    Segment::Literal(text.to_owned())
                }
            };
            (segment, &rest[end..])
        };
        segments.push(segment);
        if after.is_empty() {
            return Ok(segments);
        }
        match after.strip_prefix('/') {
            Some(next) => rest = next,
            None => return Err("has a variable that is not a whole segment".to_owned()),
        }
    }
}

fn parse_variable(body: &str) -> Result<Segment, String> {
    let (field_path, pattern) = match body.split_once('=') {
        Some((field_path, pattern)) => (field_path, Some(pattern)),
        None => (body, None),
    };
    if field_path.is_empty()
        || !field_path.split('.').all(|ident| {
            let mut chars = ident.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    {
        return Err(format!(
            "has a variable `{{{body}}}` whose field path is not `ident.ident...`"
        ));
    }
    let segments = match pattern {
        Some(pattern) => parse_segments(pattern, false)?,
        None => vec![Segment::Wildcard],
    };
    Ok(Segment::Variable {
        field_path: field_path.to_owned(),
        segments,
    })
}

fn check_literal(text: &str, what: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("has an empty {what}"));
    }
    if let Some(c) = text
        .chars()
        .find(|&c| matches!(c, '{' | '}' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(format!("has a {what} `{text}` holding {c:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_of_the_grammar() {
        let template = PathTemplate::parse("/v1/{name=shelves/*/books/*}:publish").unwrap();
        assert_eq!(template.verb.as_deref(), Some("publish"));
        assert_eq!(template.openapi_path(), "/v1/{name}:publish");
        assert_eq!(template.variables().collect::<Vec<_>>(), ["name"]);
        let (name, segments) = template.patterned_variables().next().unwrap();
        assert_eq!(
            (name, join(segments)),
            ("name", "shelves/*/books/*".to_owned())
        );
        assert_eq!(
            template.multi_segment_variables().collect::<Vec<_>>(),
            ["name"]
        );
        assert_eq!(
            segments_regex(&template.segments[1..]),
            "shelves/[^/]+/books/[^/]+"
        );

        let template = PathTemplate::parse("/v1/{book.name}/files/{path=**}").unwrap();
        assert_eq!(template.openapi_path(), "/v1/{book.name}/files/{path}");
        assert_eq!(
            template.variables().collect::<Vec<_>>(),
            ["book.name", "path"]
        );
        assert!(!template.has_unnamed_wildcard());
        assert_eq!(template.segments[3].to_string(), "{path=**}");

        let (path, parameters) = PathTemplate::parse("/v1/{name=shelves/*/books/*}:publish")
            .unwrap()
            .openapi_path_spread();
        assert_eq!(path, "/v1/shelves/{name_1}/books/{name_2}:publish");
        assert_eq!(parameters.len(), 2);
        assert_eq!(
            (
                parameters[1].name.as_str(),
                parameters[1].field_path.as_str()
            ),
            ("name_2", "name")
        );
        let (path, parameters) = PathTemplate::parse("/v1/{a}/{b=x/**}")
            .unwrap()
            .openapi_path_spread();
        assert_eq!(path, "/v1/{a}/x/{b_1}");
        assert_eq!(
            parameters
                .iter()
                .map(|p| (p.name.as_str(), p.deep))
                .collect::<Vec<_>>(),
            [("a", false), ("b_1", true)]
        );

        let template = PathTemplate::parse("/v1/a:b/*").unwrap();
        assert_eq!(template.verb, None);
        assert!(template.has_unnamed_wildcard());
        assert_eq!(PathTemplate::parse("/").unwrap().openapi_path(), "/");
        assert_eq!(
            PathTemplate::parse("/v1/{x=a.b}").unwrap().segments[1].to_string(),
            "{x=a.b}"
        );
        assert_eq!(
            segments_regex(&[Segment::Literal("a.b".into()), Segment::DeepWildcard]),
            "a\\.b/.*"
        );
    }

    #[test]
    fn rejects_what_never_matches() {
        for (pattern, error) in [
            ("v1/x", "does not start with `/`"),
            ("/v1/{name", "has a `{` without its `}`"),
            ("/v1/{a={b}}", "has a variable inside a variable"),
            ("/v1//x", "has an empty segment"),
            ("/v1/x:", "has an empty verb"),
            ("/v1/{na me}", "field path"),
            ("/v1/{1x}", "field path"),
            ("/v1/{a}{b}", "not a whole segment"),
            ("/v1/x{a}", "holding '{'"),
            ("/v1/**/x", "`**` before its last segment"),
            ("/v1/{a=**}/x", "`**` before its last segment"),
            ("/v1/{a}/{a}", "binds the field `a` twice"),
            ("/v1/x}", "holding '}'"),
            ("/v1/x?y", "holding '?'"),
        ] {
            let message = PathTemplate::parse(pattern).unwrap_err();
            assert!(message.contains(error), "{pattern}: {message}");
        }
    }
}
