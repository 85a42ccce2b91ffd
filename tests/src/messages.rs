//! Request messages: short constructors, and messages sized to an exact encoded length.

use crate::{Codec, EchoRequest, EchoResponse, Header};

/// A request with just `text`.
pub fn text(text: &str) -> EchoRequest {
    EchoRequest {
        text: text.to_string(),
        ..Default::default()
    }
}

/// A header entry.
pub fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// A request with only `text`, whose encoding with `codec` is exactly `size` bytes.
///
/// The test service echoes such a request (unary, server stream) as a response of the same size.
pub fn sized_request(codec: Codec, size: usize) -> EchoRequest {
    sized(codec, size, |text| EchoRequest {
        text,
        ..Default::default()
    })
}

/// The message `make` builds from a text of `x`s, with the text's length chosen so that the message
/// encodes to exactly `size` bytes with `codec`.
pub fn sized<M: trident::Message>(codec: Codec, size: usize, make: impl Fn(String) -> M) -> M {
    // Each extra character adds one byte, except where a length prefix grows; search from an estimate.
    let mut len = size.saturating_sub(32);
    loop {
        let message = make("x".repeat(len));
        let encoded = codec.encode(&message).len();
        if encoded == size {
            return message;
        }
        assert!(
            encoded < size,
            "no message of this shape encodes to exactly {size} bytes"
        );
        len += 1;
    }
}

/// The text of a request built by [`sized`] for a Collect or Chat response of exactly `size` bytes
/// (those responses carry `received = 1` besides the echoed text).
pub fn text_for_stream_response(codec: Codec, size: usize) -> String {
    sized(codec, size, |text| EchoResponse {
        text,
        received: 1,
        ..Default::default()
    })
    .text
}
