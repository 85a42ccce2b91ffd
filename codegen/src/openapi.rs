//! The OpenAPI 3.1 document of the services compiled ([`crate::Builder::openapi`], the plugin's
//! `openapi=` option): one JSON document describing, for every service,
//!
//! * each REST binding (`google.api.http`): its path, its operation (`operationId`
//!   `Service_Method`, then `Service_Method_2`... for additional bindings), the request fields
//!   neither the path nor the body sets as query parameters (by protobuf field name, nested ones
//!   flattened with dots: `filter.kind`; maps, repeated messages and recursion left out), the body,
//!   and the response: the message (or `response_body` field) in JSON, the raw body for
//!   `google.api.HttpBody`, a stream of `{"result": ...}` / `{"error": ...}` objects
//!   (newline-delimited JSON, or server-sent events) for server-streaming methods, and
//!   `google.rpc.Status` for errors;
//! * each unary method's Connect endpoint: `POST /pkg.Service/Method` with a JSON or binary
//!   protobuf body, plus Connect's `GET` with the message in the query for methods marked
//!   `option idempotency_level = NO_SIDE_EFFECTS`, with Connect's JSON error.
//!
//! Path variables become path parameters named after their field (`{book.name}`), whatever they
//! match: `/v1/{name=shelves/*}` is `/v1/{name}`, whose schema's `pattern` and description say
//! what the value looks like, and whose `/` must be sent as they are (`x-reserved-expansion`,
//! since OpenAPI clients percent-encode path parameters). OpenAPI takes paths that differ only in
//! parameter names for one path, so when a later binding's path would read like an earlier one's
//! (`/v1/{name=shelves/*/books/*}` after `/v1/{name=shelves/*}`), its patterns are spelled out
//! instead: `/v1/shelves/{name_1}/books/{name_2}`, one parameter per wildcard.
//!
//! Streaming methods have no Connect entry: Connect streams every message in a binary envelope
//! (`application/connect+json`), which OpenAPI cannot describe beyond "bytes", and clients that
//! speak it are Connect clients, which work from the `.proto` files. gRPC and gRPC-Web are left out
//! for the same reason. Client- and bidi-streaming methods have no REST entry either (REST carries
//! neither; their bindings answer `unimplemented`).
//!
//! Keys come in a fixed order and lists are sorted (paths, schemas) or in declaration order, so the
//! same protos always give the same bytes.

mod schema;

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{
    DescriptorPool, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    ServiceDescriptor,
};
use prost_types::method_options::IdempotencyLevel;
use serde_json::{Map, Value, json};

use crate::http_rules::{
    HTTP_BODY, HttpBinding, HttpMethod, HttpRules, SpreadParameter, path_field, segments_regex,
};
use schema::{Schemas, comment, describe, scalar_schema, well_known_scalar};

/// What the document says about itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// `info.title`; by default named after the services.
    pub(crate) title: Option<String>,
    /// `info.version`; by default `0.0.0`.
    pub(crate) version: Option<String>,
}

/// The OpenAPI operations of a path, in the order OpenAPI lists them.
const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document of the services of the files `include` accepts, pretty-printed, with a final
/// newline. Bindings the document cannot hold are left out with a warning.
pub(crate) fn document(
    pool: &DescriptorPool,
    include: impl Fn(&FileDescriptor) -> bool,
    rules: &HttpRules,
    options: &Options,
    warnings: &mut Vec<String>,
) -> String {
    let services: Vec<ServiceDescriptor> = pool
        .files()
        .filter(|file| include(file))
        .flat_map(|file| file.services().collect::<Vec<_>>())
        .collect();
    let mut document = Document::default();
    let mut tags = Vec::new();
    for service in &services {
        let before = document.operation_ids.len();
        for method in service.methods() {
            for (index, binding) in rules.bindings(method.full_name()).iter().enumerate() {
                document.rest(&method, binding, index, warnings);
            }
            document.connect(&method);
        }
        if document.operation_ids.len() > before {
            let mut tag = Map::new();
            tag.insert("name".into(), service.full_name().into());
            if let Some(description) = comment(&service.parent_file(), service.path()) {
                tag.insert("description".into(), description.into());
            }
            tags.push(Value::from(tag));
        }
    }

    let title = options
        .title
        .clone()
        .unwrap_or_else(|| default_title(&services));
    let mut paths = Map::new();
    for (path, mut operations) in document.paths {
        operations.sort_by_key(|(method, _)| OPERATIONS.iter().position(|m| m == method));
        paths.insert(
            path,
            operations
                .into_iter()
                .map(|(method, operation)| (method.to_owned(), operation))
                .collect::<Map<_, _>>()
                .into(),
        );
    }
    let mut out = Map::new();
    out.insert("openapi".into(), "3.1.0".into());
    out.insert(
        "info".into(),
        json!({
            "title": title,
            "version": options.version.as_deref().unwrap_or("0.0.0"),
        }),
    );
    out.insert("tags".into(), tags.into());
    out.insert("paths".into(), paths.into());
    out.insert(
        "components".into(),
        json!({"schemas": document.schemas.into_components()}),
    );
    let mut text = serde_json::to_string_pretty(&Value::from(out)).expect("JSON values print");
    text.push('\n');
    text
}

/// The title when none is given: the service's name when there is one, else the packages'.
fn default_title(services: &[ServiceDescriptor]) -> String {
    match services {
        [] => "API".to_owned(),
        [service] => service.full_name().to_owned(),
        _ => {
            let packages: BTreeSet<&str> = services.iter().map(|s| s.package_name()).collect();
            packages.into_iter().collect::<Vec<_>>().join(", ")
        }
    }
}

/// The document being built.
#[derive(Default)]
struct Document {
    /// Each path's operations, by OpenAPI method name.
    paths: BTreeMap<String, Vec<(&'static str, Value)>>,
    /// Every operation id given, to keep them unique.
    operation_ids: BTreeSet<String>,
    schemas: Schemas,
}

impl Document {
    /// Adds the operation of one REST binding of `method`, the `index`-th.
    fn rest(
        &mut self,
        method: &MethodDescriptor,
        binding: &HttpBinding,
        index: usize,
        warnings: &mut Vec<String>,
    ) {
        let at = || {
            format!(
                "`{}`: {} {}",
                method.full_name(),
                binding.method.as_str(),
                binding.pattern
            )
        };
        if method.is_client_streaming() {
            return; // Warned of when the rules were read.
        }
        let Some(operation_method) = openapi_method(&binding.method) else {
            warnings.push(format!(
                "{}: OpenAPI has no `{}` operation, so the document leaves this binding out",
                at(),
                binding.method.as_str()
            ));
            return;
        };
        if binding.template.has_unnamed_wildcard() {
            warnings.push(format!(
                "{}: a `*` or `**` outside a variable has no OpenAPI form, so the document \
                 leaves this binding out",
                at()
            ));
            return;
        }
        // OpenAPI takes paths that differ only in their parameters' names for the same path.
        let taken = |paths: &BTreeMap<String, Vec<(&str, Value)>>, path: &str| {
            paths.iter().any(|(other, operations)| {
                unnamed(other) == unnamed(path)
                    && (other != path || operations.iter().any(|(m, _)| *m == operation_method))
            })
        };
        let mut path = binding.template.openapi_path();
        let mut spread = None;
        if taken(&self.paths, &path) {
            // Another binding's path reads the same once its variables are `{field}` (such as
            // `/v1/{name=shelves/*}` and `/v1/{name=shelves/*/books/*}`): spell this one's
            // patterns out instead.
            let (spread_path, parameters) = binding.template.openapi_path_spread();
            if taken(&self.paths, &spread_path) {
                warnings.push(format!(
                    "{}: the document already has `{operation_method} {path}`, so it leaves \
                     this binding out",
                    at()
                ));
                return;
            }
            path = spread_path;
            spread = Some(parameters);
        }
        let input = method.input();
        let output = method.output();

        let mut parameters = Vec::new();
        match spread {
            None => {
                for variable in binding.template.variables() {
                    let field = path_field(&input, variable).expect("checked when read");
                    parameters.push(self.path_parameter(&field, variable, binding));
                }
            }
            Some(spread) => {
                for parameter in spread {
                    let field = path_field(&input, &parameter.field_path).expect("checked");
                    parameters.push(if parameter.name == parameter.field_path {
                        self.path_parameter(&field, &parameter.name, binding)
                    } else {
                        spread_parameter(&field, &parameter, binding)
                    });
                }
            }
        }
        let bound: Vec<&str> = binding.template.variables().collect();
        match binding.body.as_deref() {
            Some("*") => {}
            _ if input.full_name() == HTTP_BODY => {}
            body => {
                let mut skip: BTreeSet<String> = bound.iter().map(|v| (*v).to_owned()).collect();
                skip.extend(body.map(str::to_owned));
                let mut seen = vec![input.full_name().to_owned()];
                self.query_parameters(&input, "", &skip, &mut seen, &mut parameters);
            }
        }

        let request_body = binding.body.as_deref().map(|body| {
            let content = if body == "*" {
                if input.full_name() == HTTP_BODY {
                    raw_body()
                } else {
                    // The top-level fields the path sets are not in the body.
                    let top: Vec<&str> =
                        bound.iter().filter(|v| !v.contains('.')).copied().collect();
                    let schema = if top.is_empty() {
                        self.schemas.message(&input)
                    } else {
                        self.schemas.object(&input, &top)
                    };
                    json!({"application/json": {"schema": schema}})
                }
            } else {
                let field = input.get_field_by_name(body).expect("checked when read");
                self.field_content(&field)
            };
            json!({"required": true, "content": content})
        });

        let mut content = match &binding.response_body {
            Some(field) => {
                let field = output.get_field_by_name(field).expect("checked when read");
                self.field_content(&field)
            }
            None if output.full_name() == HTTP_BODY => raw_body(),
            None => json!({"application/json": {"schema": self.schemas.message(&output)}}),
        };
        if method.is_server_streaming() && content.get("application/json").is_some() {
            content = self.stream_content(content["application/json"]["schema"].take());
        }
        let error = self.schemas.status();
        let responses = json!({
            "200": {"description": "The response.", "content": content},
            "default": {
                "description": "An error.",
                "content": {"application/json": {"schema": error}},
            },
        });

        let mut id = format!("{}_{}", method.parent_service().name(), method.name());
        if index > 0 {
            id.push_str(&format!("_{}", index + 1));
        }
        let operation = self.operation(method, id, parameters, request_body, responses);
        self.paths
            .entry(path)
            .or_default()
            .push((operation_method, operation));
    }

    /// Adds the Connect endpoint of a unary `method`: `POST`, and `GET` when it has no side
    /// effects.
    fn connect(&mut self, method: &MethodDescriptor) {
        if method.is_client_streaming() || method.is_server_streaming() {
            return;
        }
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let input = self.schemas.message(&method.input());
        let output = self.schemas.message(&method.output());
        let error = self.schemas.connect_error();
        let responses = json!({
            "200": {
                "description": "The response.",
                "content": {"application/json": {"schema": output}, "application/proto": {}},
            },
            "default": {
                "description": "An error.",
                "content": {"application/json": {"schema": error}},
            },
        });
        let base = format!("{}_{}", method.parent_service().name(), method.name());
        let post = self.operation(
            method,
            format!("{base}_Connect"),
            vec![
                json!({
                    "name": "Connect-Protocol-Version",
                    "in": "header",
                    "description": "The Connect protocol version.",
                    "schema": {"type": "string", "enum": ["1"]},
                }),
                json!({
                    "name": "Connect-Timeout-Ms",
                    "in": "header",
                    "description": "How long the server may take, in milliseconds.",
                    "schema": {"type": "string", "pattern": "^[0-9]{1,10}$"},
                }),
            ],
            Some(json!({
                "required": true,
                "content": {"application/json": {"schema": input}, "application/proto": {}},
            })),
            responses.clone(),
        );
        let mut operations = vec![("post", post)];
        let idempotency = method
            .method_descriptor_proto()
            .options
            .as_ref()
            .map(|options| options.idempotency_level());
        if idempotency == Some(IdempotencyLevel::NoSideEffects) {
            let get = self.operation(
                method,
                format!("{base}_ConnectGet"),
                connect_get_parameters(),
                None,
                responses,
            );
            operations.insert(0, ("get", get));
        }
        self.paths.entry(path).or_default().extend(operations);
    }

    /// An operation of `method`, with its comments, tag and a unique id made from `id`.
    fn operation(
        &mut self,
        method: &MethodDescriptor,
        id: String,
        parameters: Vec<Value>,
        request_body: Option<Value>,
        responses: Value,
    ) -> Value {
        let mut unique = id.clone();
        let mut n = 1;
        while self.operation_ids.contains(&unique) {
            n += 1;
            unique = format!("{id}_{n}");
        }
        self.operation_ids.insert(unique.clone());

        let mut operation = Map::new();
        operation.insert("tags".into(), json!([method.parent_service().full_name()]));
        if let Some(text) = comment(&method.parent_file(), method.path()) {
            let (summary, rest) = match text.split_once("\n\n") {
                Some((summary, rest)) => (summary, Some(rest.trim_start_matches('\n'))),
                None => (text.as_str(), None),
            };
            operation.insert("summary".into(), summary.replace('\n', " ").into());
            if let Some(rest) = rest.filter(|rest| !rest.is_empty()) {
                operation.insert("description".into(), rest.into());
            }
        }
        operation.insert("operationId".into(), unique.into());
        if method
            .method_descriptor_proto()
            .options
            .as_ref()
            .is_some_and(|options| options.deprecated())
        {
            operation.insert("deprecated".into(), true.into());
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), parameters.into());
        }
        if let Some(body) = request_body {
            operation.insert("requestBody".into(), body);
        }
        operation.insert("responses".into(), responses);
        operation.into()
    }

    /// The path parameter of the template variable `variable`, which sets `field`.
    fn path_parameter(
        &mut self,
        field: &FieldDescriptor,
        variable: &str,
        binding: &HttpBinding,
    ) -> Value {
        let mut schema = self.single_value(field).expect("path fields are scalars");
        let mut description = comment(&field.parent_file(), field.path());
        let mut parameter = Map::new();
        if let Some((_, segments)) = binding
            .template
            .patterned_variables()
            .find(|(name, _)| *name == variable)
        {
            let multi = binding
                .template
                .multi_segment_variables()
                .any(|v| v == variable);
            schema["pattern"] = format!("^{}$", segments_regex(segments)).into();
            let mut note = format!("Matches `{}`.", crate::http_rules::join(segments));
            if multi {
                note.push_str(" Its `/` are sent as they are, not percent-encoded.");
                parameter.insert("x-reserved-expansion".into(), true.into());
            }
            description = Some(match description {
                Some(text) => format!("{text}\n\n{note}"),
                None => note,
            });
        }
        let mut out = Map::new();
        out.insert("name".into(), variable.into());
        out.insert("in".into(), "path".into());
        out.insert("required".into(), true.into());
        if let Some(description) = description {
            out.insert("description".into(), description.into());
        }
        out.insert("schema".into(), schema);
        out.extend(parameter);
        out.into()
    }

    /// Adds a query parameter for every field of `message` (named `prefix` + its name) that the
    /// query can set and `skip` does not name, going into message fields (`a.b`), except those
    /// `seen` on the way (recursion).
    fn query_parameters(
        &mut self,
        message: &MessageDescriptor,
        prefix: &str,
        skip: &BTreeSet<String>,
        seen: &mut Vec<String>,
        out: &mut Vec<Value>,
    ) {
        for field in message.fields() {
            let name = format!("{prefix}{}", field.name());
            if skip.contains(&name) || field.is_map() {
                continue;
            }
            let schema = match self.single_value(&field) {
                Some(schema) if field.is_list() => json!({"type": "array", "items": schema}),
                Some(schema) => schema,
                None => {
                    // A message field: its own fields, unless it repeats or recurs.
                    if let Kind::Message(inner) = field.kind()
                        && !field.is_list()
                        && !seen.iter().any(|name| name == inner.full_name())
                        && well_known_scalar(inner.full_name(), false).is_none()
                        && !inner.full_name().starts_with("google.protobuf.")
                    {
                        seen.push(inner.full_name().to_owned());
                        self.query_parameters(&inner, &format!("{name}."), skip, seen, out);
                        seen.pop();
                    }
                    continue;
                }
            };
            let mut parameter = Map::new();
            parameter.insert("name".into(), name.into());
            parameter.insert("in".into(), "query".into());
            if let Some(description) = comment(&field.parent_file(), field.path()) {
                parameter.insert("description".into(), description.into());
            }
            if field
                .field_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|options| options.deprecated())
            {
                parameter.insert("deprecated".into(), true.into());
            }
            parameter.insert("schema".into(), schema);
            out.push(parameter.into());
        }
    }

    /// The schema of one value of `field` when it fits in a URL (a scalar, an enum, or a
    /// well-known type written as one string); `None` for other messages.
    fn single_value(&mut self, field: &FieldDescriptor) -> Option<Value> {
        match field.kind() {
            Kind::Message(message) => well_known_scalar(message.full_name(), false),
            Kind::Enum(_) => Some(self.schemas.kind(&field.kind())),
            scalar => Some(scalar_schema(&scalar)),
        }
    }

    /// The body content of one field: its values in JSON, or the raw body of an `HttpBody`.
    fn field_content(&mut self, field: &FieldDescriptor) -> Value {
        if let Kind::Message(message) = field.kind()
            && message.full_name() == HTTP_BODY
            && !field.is_list()
        {
            return raw_body();
        }
        let mut schema = self.schemas.field_values(field);
        describe(
            &mut schema,
            comment(&field.parent_file(), field.path()),
            false,
        );
        json!({"application/json": {"schema": schema}})
    }

    /// The content of a server-streaming REST response whose messages have schema `item`.
    fn stream_content(&mut self, item: Value) -> Value {
        let error = self.schemas.status();
        let object = json!({
            "type": "object",
            "description": "One message of the stream (`result`), or the error that ended it \
                (`error`).",
            "properties": {"result": item, "error": error},
        });
        json!({
            "application/x-ndjson": {"schema": object},
            "text/event-stream": {
                "schema": {
                    "type": "string",
                    "description": "Server-sent events (when the request accepts \
                        `text/event-stream`): one `data:` event per message, in JSON, and a last \
                        `event: error` whose data is a `google.rpc.Status` if the stream fails.",
                },
            },
        })
    }
}

/// A path parameter standing for one wildcard of a variable spelled out by
/// [`PathTemplate::openapi_path_spread`](crate::http_rules::PathTemplate::openapi_path_spread).
fn spread_parameter(
    field: &FieldDescriptor,
    parameter: &SpreadParameter,
    binding: &HttpBinding,
) -> Value {
    let pattern = binding
        .template
        .patterned_variables()
        .find(|(name, _)| *name == parameter.field_path)
        .map(|(_, segments)| crate::http_rules::join(segments))
        .unwrap_or_default();
    let mut description = format!(
        "Part of `{}`, which is set to all that `{pattern}` matches.",
        parameter.field_path
    );
    if parameter.deep {
        description.push_str(" Its `/` are sent as they are, not percent-encoded.");
    }
    if let Some(text) = comment(&field.parent_file(), field.path()) {
        description = format!("{text}\n\n{description}");
    }
    let mut out = Map::new();
    out.insert("name".into(), parameter.name.clone().into());
    out.insert("in".into(), "path".into());
    out.insert("required".into(), true.into());
    out.insert("description".into(), description.into());
    out.insert("schema".into(), json!({"type": "string"}));
    if parameter.deep {
        out.insert("x-reserved-expansion".into(), true.into());
    }
    out.into()
}

/// An OpenAPI path with its parameters' names left out: `/v1/{}/books`.
fn unnamed(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_name = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_name = true;
                out.push('{');
            }
            '}' => {
                in_name = false;
                out.push('}');
            }
            _ if in_name => {}
            _ => out.push(c),
        }
    }
    out
}

/// Body content of any media type, as `google.api.HttpBody` carries it.
fn raw_body() -> Value {
    json!({"*/*": {}})
}

/// The OpenAPI operation of an HTTP method, if OpenAPI has one.
fn openapi_method(method: &HttpMethod) -> Option<&'static str> {
    Some(match method {
        HttpMethod::Get => "get",
        HttpMethod::Put => "put",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
        HttpMethod::Patch => "patch",
        HttpMethod::Custom(kind) => match kind.as_str() {
            "HEAD" => "head",
            "OPTIONS" => "options",
            "TRACE" => "trace",
            "GET" => "get",
            "PUT" => "put",
            "POST" => "post",
            "DELETE" => "delete",
            "PATCH" => "patch",
            _ => return None,
        },
    })
}

/// The query parameters of Connect's `GET`.
fn connect_get_parameters() -> Vec<Value> {
    vec![
        json!({
            "name": "connect",
            "in": "query",
            "description": "The Connect protocol version.",
            "schema": {"type": "string", "enum": ["v1"]},
        }),
        json!({
            "name": "encoding",
            "in": "query",
            "required": true,
            "description": "How `message` is encoded.",
            "schema": {"type": "string", "enum": ["json", "proto"]},
        }),
        json!({
            "name": "message",
            "in": "query",
            "required": true,
            "description": "The request message, in `encoding` (and compressed, then in \
                URL-safe base64, as the other parameters say).",
            "schema": {"type": "string"},
        }),
        json!({
            "name": "base64",
            "in": "query",
            "description": "`1` when `message` is in URL-safe base64 (needed for binary \
                encodings).",
            "schema": {"type": "string", "enum": ["1"]},
        }),
        json!({
            "name": "compression",
            "in": "query",
            "description": "How `message` is compressed, such as `gzip`.",
            "schema": {"type": "string"},
        }),
    ]
}

#[cfg(test)]
mod tests;
