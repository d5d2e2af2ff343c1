//! The frame format on a Ferry QUIC stream.
//!
//! A frame is a `u32` big-endian length, then a body of that many bytes: one byte of wire version
//! ([`WIRE_VERSION`]), then the bincode 2 encoding (serde, `bincode::config::standard()`) of a [`Frame`]. A length
//! above the reader's limit (at most [`MAX_FRAME`]) is refused before anything is allocated for the body, and
//! every malformed input is a typed [`WireError`], never a panic.

use alloy::primitives::Address;
use ferry_ledger::Signature;
use serde::{Deserialize, Serialize};

use ferry_virtual::protocol::Message;

/// The wire version this build writes and reads (the first byte of every frame body). 2: sub-channel leaves hold
/// their routing fee; a peer speaking 1 is refused with `UnknownVersion`.
pub const WIRE_VERSION: u8 = 2;

/// The largest frame body accepted or written: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;

/// Bytes of the length prefix in front of every frame body.
pub const LENGTH_PREFIX: usize = 4;

/// The largest `Hello` frame body accepted: what the largest `Hello` encodes to (under 100 bytes), with room to
/// spare. The first frame of a stream is read with this limit, so a stranger that has proved nothing makes the
/// node buffer no more.
pub const MAX_HELLO: usize = 128;

/// The proof of a channel key a node sends first on its stream: `sig` by `address`'s key over the connection's
/// hello digest (see [`crate::transport`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The handshake version (`1`).
    pub version: u16,
    /// The channel address the sender claims.
    pub address: Address,
    /// Its signature over the connection-bound hello digest.
    pub sig: Signature,
}

/// One frame on a node's stream.
// A `Msg` is the common frame; boxing it would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The sender's proof of its channel key; the first frame of every stream and only there.
    Hello(Hello),
    /// A protocol message with its per-peer id.
    Msg {
        /// The sender's id for this message, increasing per receiving peer.
        id: u64,
        /// The message.
        msg: Message,
    },
    /// The receiver has taken in every message up to `id` that was sent to it on this connection.
    Ack {
        /// The highest id taken in.
        id: u64,
    },
}

/// Why bytes are not a frame (or could not be read or written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The length prefix (or an encoding) exceeds the limit.
    #[error("oversize frame: {len} bytes, limit {max}")]
    Oversize {
        /// The length announced or produced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body starts with a wire version this build does not know.
    #[error("unknown wire version {0} (this build speaks {WIRE_VERSION})")]
    UnknownVersion(u8),
    /// The body is not the bincode of a [`Frame`].
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The input ends inside a frame.
    #[error("truncated frame")]
    Truncated,
    /// The frame is followed by bytes that belong to no field.
    #[error("{0} trailing bytes after the frame")]
    Trailing(usize),
    /// A frame whose first byte arrived was not complete in time.
    #[error("slow frame: not complete within {0:?} of its first byte")]
    Slow(std::time::Duration),
    /// The stream failed underneath (connection lost, reset): not the peer's bytes' fault.
    #[error("stream: {0}")]
    Stream(String),
}

impl WireError {
    /// Whether the error is the peer's fault (bad bytes) rather than the connection's.
    pub fn is_violation(&self) -> bool {
        !matches!(self, WireError::Stream(_))
    }
}

/// `Result` with a [`WireError`].
pub type Result<T, E = WireError> = std::result::Result<T, E>;

/// The bincode configuration of frames; decoding claims at most [`MAX_FRAME`] bytes for any container, so a
/// hostile length inside a frame cannot make the decoder allocate more.
fn decode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Encodes a frame's body: [`WIRE_VERSION`], then the bincode of `frame`. A body above [`MAX_FRAME`] is refused.
pub fn encode(frame: &Frame) -> Result<Vec<u8>> {
    let mut out = vec![WIRE_VERSION];
    bincode::serde::encode_into_std_write(frame, &mut out, bincode::config::standard())
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if out.len() > MAX_FRAME {
        return Err(WireError::Oversize {
            len: out.len(),
            max: MAX_FRAME,
        });
    }
    Ok(out)
}

/// Encodes a whole frame as it goes on the stream: the `u32` big-endian length, then [`encode`]'s body.
pub fn encode_framed(frame: &Frame) -> Result<Vec<u8>> {
    let body = encode(frame)?;
    let len = u32::try_from(body.len()).map_err(|_| WireError::Oversize {
        len: body.len(),
        max: MAX_FRAME,
    })?;
    let mut out = Vec::with_capacity(LENGTH_PREFIX + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a frame body (without its length prefix): the version byte, then exactly one [`Frame`].
pub fn decode(body: &[u8]) -> Result<Frame> {
    if body.len() > MAX_FRAME {
        return Err(WireError::Oversize {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    let (&version, rest) = body.split_first().ok_or(WireError::Truncated)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnknownVersion(version));
    }
    let (frame, read) =
        bincode::serde::decode_from_slice(rest, decode_config()).map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => WireError::Truncated,
            other => WireError::Malformed(other.to_string()),
        })?;
    if read != rest.len() {
        return Err(WireError::Trailing(rest.len() - read));
    }
    Ok(frame)
}

/// Reads one frame from `stream`, refusing a body longer than `max` (capped at [`MAX_FRAME`]) before reading it.
/// `Ok(None)` when the peer finished the stream cleanly between frames.
pub async fn read_frame(stream: &mut quinn::RecvStream, max: usize) -> Result<Option<Frame>> {
    Ok(read_frame_sized(stream, max).await?.map(|(frame, _)| frame))
}

/// [`read_frame`], also giving the frame's size on the stream (length prefix included).
pub async fn read_frame_sized(
    stream: &mut quinn::RecvStream,
    max: usize,
) -> Result<Option<(Frame, usize)>> {
    let max = max.min(MAX_FRAME);
    let mut prefix = [0u8; LENGTH_PREFIX];
    match stream.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(WireError::Truncated),
        Err(quinn::ReadExactError::ReadError(e)) => return Err(WireError::Stream(e.to_string())),
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(WireError::Oversize { len, max });
    }
    let mut body = vec![0u8; len];
    match stream.read_exact(&mut body).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(WireError::Truncated),
        Err(quinn::ReadExactError::ReadError(e)) => return Err(WireError::Stream(e.to_string())),
    }
    decode(&body).map(|frame| Some((frame, LENGTH_PREFIX + len)))
}

/// Writes one frame (length prefix and body) to `stream`.
pub async fn write_frame(stream: &mut quinn::SendStream, frame: &Frame) -> Result<()> {
    let bytes = encode_framed(frame)?;
    stream
        .write_all(&bytes)
        .await
        .map_err(|e| WireError::Stream(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
pub(crate) mod tests {
    use alloy::primitives::{B256, Bytes, U256};
    use ferry_ledger::State;
    use ferry_ledger::protocol::LedgerMessage;
    use proptest::prelude::*;

    use super::*;
    use ferry_virtual::protocol::VirtualMessage;

    /// Proptest cases: `FERRY_PROPTEST_CASES` (default 256).
    fn cases() -> u32 {
        std::env::var("FERRY_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256)
    }

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(Address::from)
    }

    fn signature() -> impl Strategy<Value = Signature> {
        (any::<u8>(), b256(), b256()).prop_map(|(v, r, s)| Signature { v, r, s })
    }

    /// Real protocol messages of a few kinds.
    pub(crate) fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (b256(), any::<u64>(), signature(), any::<bool>()).prop_map(
                |(channel_id, version, sig, have_yours)| Message::Ledger(LedgerMessage::Sign {
                    channel_id,
                    version,
                    sig,
                    have_yours,
                })
            ),
            (b256(), any::<u64>(), any::<u64>(), ".{0,40}").prop_map(
                |(channel_id, version, index, reason)| Message::Ledger(LedgerMessage::Reject {
                    channel_id,
                    version,
                    index,
                    reason,
                })
            ),
            (b256(), address(), b256(), signature()).prop_map(|(channel_id, asset, c, sig)| {
                Message::Virtual(VirtualMessage::Voucher {
                    channel_id,
                    asset,
                    cumulative: U256::from_be_bytes(c.0),
                    sig,
                })
            }),
            b256().prop_map(
                |channel_id| Message::Virtual(VirtualMessage::SettleRequest { channel_id })
            ),
            (
                b256(),
                proptest::collection::vec(any::<u8>(), 0..64),
                any::<bool>(),
                proptest::collection::vec(proptest::option::of(signature()), 0..4),
                proptest::collection::vec(b256(), 0..4),
            )
                .prop_map(|(channel_id, app_data, is_final, sigs, fees)| {
                    let state = State {
                        channelId: channel_id,
                        appData: Bytes::from(app_data),
                        isFinal: is_final,
                        ..State::default()
                    };
                    Message::Virtual(VirtualMessage::Sigs {
                        params: None,
                        state,
                        sigs,
                        fees: fees.into_iter().map(|f| U256::from_be_bytes(f.0)).collect(),
                    })
                }),
        ]
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u16>(), address(), signature()).prop_map(|(version, address, sig)| {
                Frame::Hello(Hello {
                    version,
                    address,
                    sig,
                })
            }),
            (any::<u64>(), message()).prop_map(|(id, msg)| Frame::Msg { id, msg }),
            any::<u64>().prop_map(|id| Frame::Ack { id }),
        ]
    }

    /// A mutation of a valid body: flip, set, insert or remove bytes, or cut it.
    #[derive(Debug, Clone)]
    enum Mutation {
        Flip(usize, u8),
        Set(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn apply(body: &mut Vec<u8>, mutation: &Mutation) {
        let n = body.len();
        match *mutation {
            Mutation::Flip(i, b) if n > 0 => body[i % n] ^= b,
            Mutation::Set(i, b) if n > 0 => body[i % n] = b,
            Mutation::Insert(i, b) => body.insert(i % (n + 1), b),
            Mutation::Remove(i) if n > 0 => {
                body.remove(i % n);
            }
            Mutation::Truncate(i) => body.truncate(i % (n + 1)),
            _ => {}
        }
    }

    /// Decoding never panics: it gives a frame (which encodes back to the same bytes when the input was
    /// canonical) or a typed error.
    fn decode_total(bytes: &[u8]) {
        match decode(bytes) {
            Ok(frame) => {
                // Whatever decodes must encode again (it may be a different, canonical, encoding).
                let again = encode(&frame).unwrap();
                assert_eq!(decode(&again).unwrap(), frame);
            }
            Err(e @ WireError::Slow(_)) => panic!("decode has no clock: {e}"),
            Err(
                WireError::Oversize { .. }
                | WireError::UnknownVersion(_)
                | WireError::Malformed(_)
                | WireError::Truncated
                | WireError::Trailing(_),
            ) => {}
            Err(e @ WireError::Stream(_)) => panic!("decode cannot fail on a stream: {e}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn frames_round_trip(frame in frame()) {
            let body = encode(&frame).unwrap();
            prop_assert_eq!(body[0], WIRE_VERSION);
            prop_assert_eq!(decode(&body).unwrap(), frame.clone());
            let framed = encode_framed(&frame).unwrap();
            prop_assert_eq!(&framed[..LENGTH_PREFIX], &(body.len() as u32).to_be_bytes()[..]);
            prop_assert_eq!(&framed[LENGTH_PREFIX..], &body[..]);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_total(&bytes);
            // The same bytes behind the right version byte reach the bincode decoder.
            let mut versioned = vec![WIRE_VERSION];
            versioned.extend_from_slice(&bytes);
            decode_total(&versioned);
        }

        #[test]
        fn mutated_frames_never_panic(
            frame in frame(),
            mutations in proptest::collection::vec(mutation(), 1..6),
        ) {
            let mut body = encode(&frame).unwrap();
            for m in &mutations {
                apply(&mut body, m);
            }
            decode_total(&body);
        }
    }

    #[test]
    fn the_largest_hello_fits_max_hello() {
        let hello = Frame::Hello(Hello {
            version: u16::MAX,
            address: Address::repeat_byte(0xff),
            sig: Signature {
                v: u8::MAX,
                r: B256::repeat_byte(0xff),
                s: B256::repeat_byte(0xff),
            },
        });
        let len = encode(&hello).unwrap().len();
        assert!(len < 100, "the largest hello is {len} bytes");
        const { assert!(MAX_HELLO >= 100) };
    }

    #[test]
    fn typed_errors() {
        let body = encode(&Frame::Ack { id: 7 }).unwrap();
        assert_eq!(decode(&[]), Err(WireError::Truncated));
        assert_eq!(decode(&[9, 0]), Err(WireError::UnknownVersion(9)));
        let mut trailing = body.clone();
        trailing.extend_from_slice(&[0, 0]);
        assert_eq!(decode(&trailing), Err(WireError::Trailing(2)));
        assert_eq!(decode(&[WIRE_VERSION]), Err(WireError::Truncated));
        assert!(matches!(
            decode(&[WIRE_VERSION, 200]),
            Err(WireError::Malformed(_))
        ));
        let huge = vec![WIRE_VERSION; MAX_FRAME + 1];
        assert_eq!(
            decode(&huge),
            Err(WireError::Oversize {
                len: MAX_FRAME + 1,
                max: MAX_FRAME
            })
        );
        // A string claiming 2^62 bytes inside a frame is refused without allocating it.
        let short = Frame::Msg {
            id: 1,
            msg: Message::Ledger(LedgerMessage::Reject {
                channel_id: B256::ZERO,
                version: 0,
                index: 0,
                reason: "abc".into(),
            }),
        };
        let mut claim = encode(&short).unwrap();
        assert_eq!(&claim[claim.len() - 4..], &[3, b'a', b'b', b'c']);
        claim.truncate(claim.len() - 4);
        claim.push(0xFD); // u64 length follows (bincode varint)
        claim.extend_from_slice(&(1u64 << 62).to_le_bytes());
        claim.extend_from_slice(b"abc");
        assert!(matches!(decode(&claim), Err(WireError::Malformed(_))));
        let reject = Frame::Msg {
            id: 1,
            msg: Message::Ledger(LedgerMessage::Reject {
                channel_id: B256::ZERO,
                version: 0,
                index: 0,
                reason: "x".repeat(MAX_FRAME),
            }),
        };
        assert!(matches!(encode(&reject), Err(WireError::Oversize { .. })));
    }
}
