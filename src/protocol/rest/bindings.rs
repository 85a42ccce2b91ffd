//! A router's REST bindings: each [`HttpRule`] checked against its method's messages and compiled
//! into one [`Matcher`], so that finding the binding of a request costs the same with ten bindings or
//! a thousand. What is wrong with a rule (a template that does not parse, a field the request lacks,
//! two bindings that take the same requests) is found here, once, when the router is built, and
//! reported through `Router::check`.

use std::sync::Arc;

use prost_reflect::{Kind, MessageDescriptor};

use crate::codec::Message;
use crate::method::{MethodSpec, StreamType};
use crate::protocol::rest::fields::{self, Resolved};
use crate::protocol::rest::matcher::{Found, Matcher};
use crate::protocol::rest::rule::HttpRule;
use crate::protocol::rest::template::Template;

/// The full name of the message that stands for a raw HTTP body.
pub(crate) const HTTP_BODY: &str = "google.api.HttpBody";

/// A method's request and response message types, which REST bindings read and write by reflection.
#[derive(Clone)]
pub(crate) struct Messages {
    pub request: MessageDescriptor,
    pub response: MessageDescriptor,
}

impl Messages {
    /// The messages of a method taking `Req` and answering `Res`.
    pub(crate) fn of<Req: Message, Res: Message>() -> Self {
        Self {
            request: Req::default().descriptor(),
            response: Res::default().descriptor(),
        }
    }
}

/// Where a binding's request body goes.
#[derive(Clone)]
pub(crate) enum BodyRule {
    /// Nowhere: the body must be empty, and the query may set fields.
    None,
    /// The whole request message (`body: "*"`); the query sets nothing.
    Whole,
    /// This top-level field (`body: "book"`); the query may set the others.
    Field(prost_reflect::FieldDescriptor),
}

/// One compiled binding.
pub(crate) struct Binding {
    /// The rule as written, for messages.
    pub rule: HttpRule,
    /// The method it calls: the key of its route in the router.
    pub spec: &'static MethodSpec,
    pub template: Template,
    /// The field paths of the template's variables, in order.
    pub variables: Vec<Vec<String>>,
    pub body: BodyRule,
    /// The field of the response the body holds, if not the whole message.
    pub response_body: Option<prost_reflect::FieldDescriptor>,
    pub messages: Messages,
}

impl Binding {
    /// `rule` for `spec`, checked against `messages`; the error says what is wrong.
    fn compile(
        spec: &'static MethodSpec,
        rule: HttpRule,
        messages: Messages,
    ) -> Result<(http::Method, Binding), String> {
        let method = http::Method::from_bytes(rule.method.as_bytes())
            .map_err(|_| format!("{:?} is not an HTTP method", rule.method))?;
        let template = Template::parse(&rule.pattern)?;
        let variables: Vec<Vec<String>> = template.variables().map(<[String]>::to_vec).collect();
        for variable in &variables {
            match fields::resolve(&messages.request, variable) {
                Resolved::Field(field) if field.is_list() => {
                    return Err(format!(
                        "the path variable {} is a repeated field",
                        variable.join(".")
                    ));
                }
                Resolved::Field(_) => {}
                Resolved::Unknown => {
                    return Err(format!(
                        "{} has no field {}",
                        messages.request.full_name(),
                        variable.join(".")
                    ));
                }
                Resolved::Unsettable(why) => {
                    return Err(format!("the path variable {}: {why}", variable.join(".")));
                }
            }
        }
        let top_level = |name: &str, message: &MessageDescriptor| {
            fields::field(message, name)
                .ok_or_else(|| format!("{} has no field {name}", message.full_name()))
        };
        let body = match rule.body.as_deref() {
            None | Some("") => BodyRule::None,
            Some("*") => BodyRule::Whole,
            Some(name) => BodyRule::Field(top_level(name, &messages.request)?),
        };
        let response_body = match rule.response_body.as_deref() {
            None | Some("") => None,
            Some(name) => Some(top_level(name, &messages.response)?),
        };
        Ok((
            method,
            Binding {
                rule,
                spec,
                template,
                variables,
                body,
                response_body,
                messages,
            },
        ))
    }

    /// Whether a unary response body is the raw body of a `google.api.HttpBody`.
    pub(crate) fn raw_response(&self) -> bool {
        match &self.response_body {
            None => self.messages.response.full_name() == HTTP_BODY,
            Some(field) => is_http_body(&field.kind()) && !field.is_list(),
        }
    }

    /// What a message names this binding by: `GET /v1/{name} (/pkg.Service/Method)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.rule, self.spec.path)
    }
}

fn is_http_body(kind: &Kind) -> bool {
    matches!(kind, Kind::Message(message) if message.full_name() == HTTP_BODY)
}

/// A router's compiled REST bindings.
#[derive(Clone, Default)]
pub(crate) struct Bindings {
    matcher: Matcher<Arc<Binding>>,
}

impl Bindings {
    /// Adds `rule` as a binding of `spec`, whose messages are `messages`. Fails with the line the
    /// router reports: a rule that does not compile, or one taking the requests of another method's
    /// binding. (The same rule for the same method again, as another variant of the service adds it,
    /// is no conflict: the router picks the variant.)
    pub(crate) fn add(
        &mut self,
        spec: &'static MethodSpec,
        rule: HttpRule,
        messages: Messages,
    ) -> Result<(), String> {
        let shown = format!("{rule} ({})", spec.path);
        let (method, binding) = Binding::compile(spec, rule, messages)
            .map_err(|why| format!("Router::add: the REST binding {shown}: {why}"))?;
        let template = binding.template.clone();
        match self.matcher.insert(method, &template, Arc::new(binding)) {
            Ok(()) => Ok(()),
            Err(existing) if existing.spec.path == spec.path => Ok(()),
            Err(existing) => Err(format!(
                "Router::add: the REST bindings {} and {shown} take the same requests",
                existing.describe()
            )),
        }
    }

    /// Whether no binding has been added.
    pub(crate) fn is_empty(&self) -> bool {
        self.matcher.is_empty()
    }

    /// The binding of `method` and `path`, if any (see [`Found`]).
    pub(crate) fn find(&self, method: &http::Method, path: &str) -> Found<'_, Arc<Binding>> {
        self.matcher.find(method, path)
    }

    /// The line reporting that an RPC `path` is also taken by a binding, if it is.
    pub(crate) fn taking(&self, path: &str) -> Option<String> {
        match self.matcher.find(&http::Method::POST, path) {
            Found::Route { value, .. } => Some(format!(
                "Router::add: the REST binding {} takes the requests of the method {path}",
                value.describe()
            )),
            _ => None,
        }
    }

    /// Whether a streaming method of this type can be served through a binding.
    pub(crate) fn serves(stream_type: StreamType) -> bool {
        !stream_type.client_streams()
    }
}
