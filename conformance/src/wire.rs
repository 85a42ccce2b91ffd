//! The runner's stdin/stdout framing: each protobuf message is preceded by its length as a 4-byte
//! big-endian integer.

use std::io::{self, Read, Write};

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted from the runner (requests carry at most a few MiB of padding).
pub const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// Encodes `message` with its 4-byte big-endian length prefix.
pub fn encode_frame(message: &impl Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut out = Vec::with_capacity(4 + len);
    let prefix = u32::try_from(len).expect("message longer than 4 GiB");
    out.extend_from_slice(&prefix.to_be_bytes());
    message
        .encode(&mut out)
        .expect("a Vec grows to fit the message");
    out
}

fn decode_frame<M: Message + Default>(body: &[u8]) -> io::Result<M> {
    M::decode(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn frame_len(prefix: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the {MAX_FRAME_BYTES}-byte limit"),
        ));
    }
    Ok(len)
}

/// Reads one framed message, blocking. `Ok(None)` on a clean end of input (before a prefix).
pub fn read_frame_blocking<M: Message + Default>(reader: &mut impl Read) -> io::Result<Option<M>> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut body = vec![0u8; frame_len(prefix)?];
    reader.read_exact(&mut body)?;
    decode_frame(&body).map(Some)
}

/// Writes one framed message and flushes, blocking.
pub fn write_frame_blocking(writer: &mut impl Write, message: &impl Message) -> io::Result<()> {
    writer.write_all(&encode_frame(message))?;
    writer.flush()
}

/// Reads one framed message. `Ok(None)` on a clean end of input (before a prefix).
pub async fn read_frame<M: Message + Default>(
    reader: &mut (impl AsyncRead + Unpin),
) -> io::Result<Option<M>> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    let mut body = vec![0u8; frame_len(prefix)?];
    reader.read_exact(&mut body).await?;
    decode_frame(&body).map(Some)
}

/// Writes one framed message and flushes.
pub async fn write_frame(
    writer: &mut (impl AsyncWrite + Unpin),
    message: &impl Message,
) -> io::Result<()> {
    writer.write_all(&encode_frame(message)).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let message = prost_types::Duration {
            seconds: 7,
            nanos: 9,
        };
        let mut buf = Vec::new();
        write_frame_blocking(&mut buf, &message).unwrap();
        write_frame_blocking(&mut buf, &message).unwrap();
        assert_eq!(&buf[..4], &(message.encoded_len() as u32).to_be_bytes());
        let mut reader = &buf[..];
        let first: prost_types::Duration = read_frame_blocking(&mut reader).unwrap().unwrap();
        let second: prost_types::Duration = read_frame_blocking(&mut reader).unwrap().unwrap();
        assert_eq!(first, message);
        assert_eq!(second, message);
        assert!(
            read_frame_blocking::<prost_types::Duration>(&mut reader)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn truncated_prefix_is_an_error() {
        let mut reader = &[0u8, 0][..];
        assert!(read_frame_blocking::<prost_types::Duration>(&mut reader).is_err());
    }

    #[tokio::test]
    async fn async_frames_round_trip() {
        let message = prost_types::Duration {
            seconds: 1,
            nanos: 2,
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &message).await.unwrap();
        let mut reader = &buf[..];
        let got: prost_types::Duration = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(got, message);
        assert!(
            read_frame::<prost_types::Duration>(&mut reader)
                .await
                .unwrap()
                .is_none()
        );
    }
}
