//! One REST call's translation between HTTP and its method's messages, as the call's codec: decoding
//! builds the request message from the request body (JSON, or raw for `google.api.HttpBody`), the path
//! variables and the query string; encoding writes the response message (or its `response_body`
//! field) as proto3 JSON, or raw for `google.api.HttpBody`.
//!
//! Being the call's codec puts the translation where every protocol's message bytes already pass:
//! the body is read, bounded and decompressed by the shared reader, and the response compressed and
//! limited by the shared writer, so REST calls get the same limits and codings with no path of their
//! own. The request is built as a `DynamicMessage` and handed to the typed message as protobuf
//! binary, as the JSON codec does.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage as _, Value};

use crate::codec::{Codec, MessageView};
use crate::protocol::rest::bindings::{Binding, BodyRule, HTTP_BODY};
use crate::protocol::rest::fields::{self, Resolved};
use crate::{Code, Error};

/// The fields of `google.api.HttpBody`: `content_type` and `data`.
const CONTENT_TYPE_FIELD: u32 = 1;
const DATA_FIELD: u32 = 2;

/// A matched REST call: its binding and what the request's URL and headers said.
pub(crate) struct RestCall {
    pub binding: Arc<Binding>,
    /// The path variables' values, in the template's order, decoded.
    pub captures: Arc<[String]>,
    /// The query string, still encoded.
    pub query: Option<String>,
    /// The request's content type, for a raw (`HttpBody`) request body.
    pub content_type: Option<String>,
    /// Whether the response is a stream (whose messages are always JSON).
    pub streaming: bool,
    /// The content type of a raw (`HttpBody`) response, once encoded.
    pub raw_content_type: Mutex<Option<HeaderValue>>,
}

impl RestCall {
    /// The request message, built from `body`, the path and the query.
    fn request(&self, descriptor: MessageDescriptor, body: Bytes) -> Result<DynamicMessage, Error> {
        let binding = &self.binding;
        let mut message = match &binding.body {
            BodyRule::None => {
                if !body.iter().all(u8::is_ascii_whitespace) {
                    return Err(Error::new(
                        Code::InvalidArgument,
                        format!("{} takes no request body", binding.rule),
                    ));
                }
                DynamicMessage::new(descriptor)
            }
            BodyRule::Whole if descriptor.full_name() == HTTP_BODY => {
                self.raw_body(descriptor, body)
            }
            BodyRule::Whole => json_message(descriptor, &body)?,
            BodyRule::Field(field) => {
                let mut message = DynamicMessage::new(descriptor);
                let value = match field.kind() {
                    prost_reflect::Kind::Message(inner) if inner.full_name() == HTTP_BODY => {
                        Some(Value::Message(self.raw_body(inner, body)))
                    }
                    _ if body.iter().all(u8::is_ascii_whitespace) => None,
                    _ => {
                        let wrapped = json_field(field.name(), &body)?;
                        let whole = json_message(message.descriptor(), &wrapped)?;
                        Some(whole.get_field(field).into_owned())
                    }
                };
                if let Some(value) = value {
                    message.set_field(field, value);
                }
                message
            }
        };
        // The query first, so that the path's values win over a query naming the same field by
        // another spelling (its JSON name).
        if !matches!(binding.body, BodyRule::Whole) {
            self.apply_query(&mut message)?;
        }
        for (path, value) in binding.variables.iter().zip(self.captures.iter()) {
            fields::set_from_text(&mut message, path, value, "path variable")?;
        }
        Ok(message)
    }

    /// A `google.api.HttpBody` of the request's raw body and content type.
    fn raw_body(&self, descriptor: MessageDescriptor, body: Bytes) -> DynamicMessage {
        let mut message = DynamicMessage::new(descriptor);
        if let Some(content_type) = &self.content_type {
            message.set_field_by_number(CONTENT_TYPE_FIELD, Value::String(content_type.clone()));
        }
        message.set_field_by_number(DATA_FIELD, Value::Bytes(body));
        message
    }

    /// Sets the fields the query string names: every parameter whose name is a field path of the
    /// request, except the fields the path and the body set. Parameters naming no field are ignored,
    /// as grpc-gateway ignores them (caches and browsers add their own).
    fn apply_query(&self, message: &mut DynamicMessage) -> Result<(), Error> {
        let Some(query) = self.query.as_deref() else {
            return Ok(());
        };
        let descriptor = message.descriptor();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = crate::protocol::connect_get::decode_query_value(key)?;
            let path: Vec<&str> = key.split('.').collect();
            if self.bound_elsewhere(&path) {
                continue;
            }
            match fields::resolve(&descriptor, &path) {
                Resolved::Unknown => continue,
                Resolved::Unsettable(why) => {
                    return Err(Error::new(
                        Code::InvalidArgument,
                        format!("the query parameter {key} cannot be set: {why}"),
                    ));
                }
                Resolved::Field(_) => {}
            }
            let value = crate::protocol::connect_get::decode_query_value(value)?;
            fields::set_from_text(message, &path, &value, "query parameter")?;
        }
        Ok(())
    }

    /// Whether the field at `path` (or a field around or inside it) is set by the path or the body.
    fn bound_elsewhere(&self, path: &[&str]) -> bool {
        let overlaps = |bound: &[String]| bound.iter().zip(path).all(|(bound, name)| bound == name);
        if self.binding.variables.iter().any(|bound| overlaps(bound)) {
            return true;
        }
        match &self.binding.body {
            BodyRule::Field(field) => path
                .first()
                .is_some_and(|first| *first == field.name() || *first == field.json_name()),
            _ => false,
        }
    }

    /// The response body: `message`, or the binding's `response_body` field of it.
    fn response(&self, message: &dyn MessageView, buf: &mut BytesMut) -> Result<(), Error> {
        let binding = &self.binding;
        let dynamic = message.to_dynamic();
        if !self.streaming && binding.raw_response() {
            let body = match &binding.response_body {
                Some(field) => match dynamic.get_field(field).as_ref() {
                    Value::Message(body) => body.clone(),
                    _ => DynamicMessage::new(message.message_descriptor()),
                },
                None => dynamic,
            };
            self.write_raw(&body, buf);
            return Ok(());
        }
        let failed = |e: serde_json::Error| Error::internal(format!("cannot encode JSON: {e}"));
        match &binding.response_body {
            // The whole message, written straight into the buffer.
            None => serde_json::to_writer(bytes::BufMut::writer(buf), &dynamic).map_err(failed),
            Some(field) => {
                // The field alone, in its JSON form (its default's when unset).
                let mut only = DynamicMessage::new(dynamic.descriptor());
                only.set_field(field, dynamic.get_field(field).into_owned());
                let options = prost_reflect::SerializeOptions::new().skip_default_fields(false);
                let object = only
                    .serialize_with_options(serde_json::value::Serializer, &options)
                    .map_err(failed)?;
                let value = object.get(field.json_name()).cloned().unwrap_or_default();
                serde_json::to_writer(bytes::BufMut::writer(buf), &value).map_err(failed)
            }
        }
    }

    /// Writes a `google.api.HttpBody`'s data, keeping its content type for the response head.
    fn write_raw(&self, body: &DynamicMessage, buf: &mut BytesMut) {
        if let Some(Value::Bytes(data)) = body.get_field_by_number(DATA_FIELD).as_deref() {
            buf.extend_from_slice(data);
        }
        let content_type = match body.get_field_by_number(CONTENT_TYPE_FIELD).as_deref() {
            Some(Value::String(content_type)) if !content_type.is_empty() => {
                HeaderValue::from_str(content_type).ok()
            }
            _ => None,
        };
        if let Ok(mut slot) = self.raw_content_type.lock() {
            *slot = content_type;
        }
    }
}

impl Codec for RestCall {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode(&self, message: &dyn MessageView, buf: &mut BytesMut) -> Result<(), Error> {
        self.response(message, buf)
    }

    fn decode(&self, data: Bytes, message: &mut dyn MessageView) -> Result<(), Error> {
        let request = self.request(message.message_descriptor(), data)?;
        message
            .merge_proto(Bytes::from(request.encode_to_vec()))
            .map_err(|e| Error::internal(format!("cannot convert the REST request: {e}")))
    }

    fn is_text(&self) -> bool {
        true
    }
}

/// A message from a JSON body (an empty body is the empty message).
fn json_message(descriptor: MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DynamicMessage::new(descriptor));
    }
    let invalid = |e: serde_json::Error| {
        Error::new(
            Code::InvalidArgument,
            format!("cannot decode the JSON request body: {e}"),
        )
    };
    crate::codec::json_to_dynamic(descriptor, body).map_err(invalid)
}

/// `{"<field>": <body>}`, once `body` is checked to be exactly one JSON value (so that it cannot
/// set other fields).
fn json_field(field: &str, body: &[u8]) -> Result<Vec<u8>, Error> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| {
        Error::new(
            Code::InvalidArgument,
            format!("cannot decode the JSON request body: {e}"),
        )
    })?;
    let mut wrapped = Vec::with_capacity(body.len() + field.len() + 5);
    wrapped.extend_from_slice(b"{\"");
    wrapped.extend_from_slice(field.as_bytes());
    wrapped.extend_from_slice(b"\":");
    wrapped.extend_from_slice(body);
    wrapped.push(b'}');
    Ok(wrapped)
}
