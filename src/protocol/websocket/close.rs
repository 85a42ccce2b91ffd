//! The close codes the server ends a WebSocket call with, and what each means as an RPC code (the
//! mapping the module docs of `protocol/websocket` state both ways). A call's own outcome travels in
//! its end-stream message; a close code says only why the socket ended outside that contract.

use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::Code;

/// Why the server closes a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// 1000: the call ended (its end-stream message was sent).
    Normal,
    /// 1001: the server stops serving the call (shutdown), or the peer stopped answering pings.
    GoingAway,
    /// 1002: the peer broke the contract (no head, a message that is not one envelope, ...).
    Protocol,
    /// 1007: a message's content is not what it must be (the head's JSON, text that is not UTF-8).
    InvalidPayload,
    /// 1009: a message over the router's receive limit.
    TooBig,
    /// 1011: the server failed outside the call.
    Internal,
}

impl Close {
    /// The close code on the wire.
    pub fn code(self) -> u16 {
        match self {
            Close::Normal => 1000,
            Close::GoingAway => 1001,
            Close::Protocol => 1002,
            Close::InvalidPayload => 1007,
            Close::TooBig => 1009,
            Close::Internal => 1011,
        }
    }

    /// The RPC code a client reports for a socket closed this way with no end-stream message (`None`
    /// for a normal close, which must follow one).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn rpc_code(self) -> Option<Code> {
        match self {
            Close::Normal => None,
            Close::GoingAway => Some(Code::Unavailable),
            Close::Protocol | Close::InvalidPayload | Close::Internal => Some(Code::Internal),
            Close::TooBig => Some(Code::ResourceExhausted),
        }
    }

    /// The close frame, with `reason` cut to what a close frame holds (123 bytes, at a character
    /// boundary).
    pub fn frame(self, reason: &str) -> CloseFrame {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        CloseFrame {
            code: CloseCode::from(self.code()),
            reason: reason[..end].to_string().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_their_rpc_meaning() {
        let cases = [
            (Close::Normal, 1000, None),
            (Close::GoingAway, 1001, Some(Code::Unavailable)),
            (Close::Protocol, 1002, Some(Code::Internal)),
            (Close::InvalidPayload, 1007, Some(Code::Internal)),
            (Close::TooBig, 1009, Some(Code::ResourceExhausted)),
            (Close::Internal, 1011, Some(Code::Internal)),
        ];
        for (close, code, rpc) in cases {
            assert_eq!(close.code(), code);
            assert_eq!(close.rpc_code(), rpc);
            assert_eq!(u16::from(close.frame("").code), code);
        }
    }

    #[test]
    fn long_reasons_are_cut_at_a_character() {
        let reason = "é".repeat(100);
        let frame = Close::Protocol.frame(&reason);
        assert_eq!(frame.reason.len(), 122);
    }
}
