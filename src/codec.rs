//! Codecs turn messages into bytes and back: protobuf binary (prost) and canonical proto3 JSON.

use bytes::{Bytes, BytesMut};
use prost_reflect::{DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage};

use crate::{Code, Error};

/// What Trident needs of a message type: prost encoding plus a descriptor (for JSON and `Any`).
///
/// Implemented automatically for every prost message that also derives `prost_reflect::ReflectMessage`, which
/// is what `trident-build` generates.
pub trait Message: prost::Message + ReflectMessage + Default + Send + Sync + 'static {}

impl<T> Message for T where T: prost::Message + ReflectMessage + Default + Send + Sync + 'static {}

/// An object-safe view of a [`Message`], so that codecs can be trait objects.
pub trait MessageView: Send + Sync {
    /// Appends the protobuf binary encoding.
    fn encode_proto(&self, buf: &mut BytesMut);
    /// Merges a protobuf binary encoding into this message. `bytes::Bytes` fields take slices of `data`
    /// without copying.
    fn merge_proto(&mut self, data: Bytes) -> Result<(), prost::DecodeError>;
    /// The message's descriptor.
    fn message_descriptor(&self) -> MessageDescriptor;
    /// A reflective copy of the message.
    fn to_dynamic(&self) -> DynamicMessage;
}

impl<T: Message> MessageView for T {
    fn encode_proto(&self, buf: &mut BytesMut) {
        // Size once, reserve once, then write (prost's `encode` would size the message again).
        buf.reserve(self.encoded_len());
        self.encode_raw(buf);
    }

    fn merge_proto(&mut self, data: Bytes) -> Result<(), prost::DecodeError> {
        prost::Message::merge(self, data)
    }

    fn message_descriptor(&self) -> MessageDescriptor {
        self.descriptor()
    }

    fn to_dynamic(&self) -> DynamicMessage {
        self.transcode_to_dynamic()
    }
}

/// A message serialization format, named on the wire by the content type's suffix (`proto`, `json`).
pub trait Codec: Send + Sync + 'static {
    /// The name used in content types: `application/proto`, `application/connect+json`, ...
    fn name(&self) -> &'static str;
    /// Appends the encoding of `message` to `buf`.
    fn encode(&self, message: &dyn MessageView, buf: &mut BytesMut) -> Result<(), Error>;
    /// Decodes `data` into `message` (which starts out as the default value).
    fn decode(&self, data: Bytes, message: &mut dyn MessageView) -> Result<(), Error>;
    /// Whether the encoding is text that needs no base64 in URLs (Connect GET).
    fn is_text(&self) -> bool {
        false
    }
}

/// Protobuf binary encoding.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtoCodec;

impl Codec for ProtoCodec {
    fn name(&self) -> &'static str {
        "proto"
    }

    fn encode(&self, message: &dyn MessageView, buf: &mut BytesMut) -> Result<(), Error> {
        message.encode_proto(buf);
        Ok(())
    }

    fn decode(&self, data: Bytes, message: &mut dyn MessageView) -> Result<(), Error> {
        message.merge_proto(data).map_err(|e| {
            Error::with_source(
                Code::InvalidArgument,
                format!("cannot decode binary protobuf message: {e}"),
                e,
            )
        })
    }
}

/// Canonical proto3 JSON, including the well-known types and `google.protobuf.Any`.
///
/// Writes lowerCamelCase field names and omits fields at their default values; reads either field name form
/// and ignores unknown fields (so that peers with newer schemas interoperate).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn name(&self) -> &'static str {
        "json"
    }

    fn encode(&self, message: &dyn MessageView, buf: &mut BytesMut) -> Result<(), Error> {
        use bytes::BufMut as _;
        let dynamic = message.to_dynamic();
        let mut serializer = serde_json::Serializer::new(buf.writer());
        dynamic
            .serialize_with_options(&mut serializer, &prost_reflect::SerializeOptions::new())
            .map_err(|e| Error::with_source(Code::Internal, format!("cannot encode JSON: {e}"), e))
    }

    fn decode(&self, data: Bytes, message: &mut dyn MessageView) -> Result<(), Error> {
        let invalid = |e: serde_json::Error| {
            Error::with_source(
                Code::InvalidArgument,
                format!("cannot decode JSON message: {e}"),
                e,
            )
        };
        let dynamic = json_to_dynamic(message.message_descriptor(), &data).map_err(invalid)?;
        let bytes = prost::Message::encode_to_vec(&dynamic);
        message.merge_proto(Bytes::from(bytes)).map_err(|e| {
            Error::with_source(
                Code::Internal,
                format!("cannot convert JSON message: {e}"),
                e,
            )
        })
    }

    fn is_text(&self) -> bool {
        true
    }
}

/// A message of type `descriptor` from proto3 JSON `data`: exactly one JSON value, either field name
/// form, unknown fields ignored (so that peers with newer schemas interoperate).
pub(crate) fn json_to_dynamic(
    descriptor: MessageDescriptor,
    data: &[u8],
) -> Result<DynamicMessage, serde_json::Error> {
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let mut deserializer = serde_json::Deserializer::from_slice(data);
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor, &mut deserializer, &options)?;
    deserializer.end()?;
    Ok(dynamic)
}

/// Encodes a message with `codec` into a fresh buffer.
#[cfg(test)]
fn encode_message(codec: &dyn Codec, message: &dyn MessageView) -> Result<BytesMut, Error> {
    let mut buf = BytesMut::new();
    codec.encode(message, &mut buf)?;
    Ok(buf)
}

/// Decodes a message of type `T` with `codec`.
pub(crate) fn decode_message<T: Message>(codec: &dyn Codec, data: Bytes) -> Result<T, Error> {
    let mut message = T::default();
    codec.decode(data, &mut message)?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_handles_well_known_types() {
        let value = prost_types::Duration {
            seconds: 1,
            nanos: 500_000_000,
        };
        let buf = encode_message(&JsonCodec, &value).unwrap();
        assert_eq!(&buf[..], br#""1.500s""#);
        let back: prost_types::Duration = decode_message(&JsonCodec, buf.freeze()).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn json_rejects_garbage_with_invalid_argument() {
        let err =
            decode_message::<prost_types::Duration>(&JsonCodec, Bytes::from_static(b"{not json"))
                .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let trailing = Bytes::from_static(br#""1s" trailing"#);
        let err = decode_message::<prost_types::Duration>(&JsonCodec, trailing).unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }

    #[test]
    fn proto_round_trips() {
        let value = prost_types::Timestamp {
            seconds: 42,
            nanos: 7,
        };
        let buf = encode_message(&ProtoCodec, &value).unwrap();
        let back: prost_types::Timestamp = decode_message(&ProtoCodec, buf.freeze()).unwrap();
        assert_eq!(back, value);
        assert!(
            decode_message::<prost_types::Timestamp>(
                &ProtoCodec,
                Bytes::from_static(&[0xff, 0xff])
            )
            .is_err()
        );
    }
}
