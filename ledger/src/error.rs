//! The one error type of `ferry-ledger`.

use alloy::primitives::B256;

/// Everything that can be wrong with channel data handed to this crate. Each variant leaves the caller's state as
/// it was: checks run before anything changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Params break S1/S2; the reason code is the contract's (`InvalidParams(reason)` in `Types.sol`).
    #[error("invalid channel params: {}", params_reason(*.0))]
    InvalidParams(u8),
    /// `params.chain_id` is not the chain this node is on (S1).
    #[error("channel is for chain {got}, expected {expected}")]
    WrongChain {
        /// The chain the params name.
        got: u64,
        /// The chain expected.
        expected: u64,
    },
    /// `params.adjudicator` is not the adjudicator this node uses (S1).
    #[error("channel is for another adjudicator")]
    WrongAdjudicator,
    /// The outcome breaks the outcome rules; the reason code is the contract's (`InvalidOutcome(reason)`).
    #[error("invalid outcome: {}", outcome_reason(*.0))]
    InvalidOutcome(u8),
    /// A signature is malformed: bad v, r or s out of range, high s, or no address recovers (S1, S4).
    #[error("malformed signature")]
    InvalidSignature,
    /// The signature at `index` is not by the required signer, or the count is wrong (S4).
    #[error("signature {index} is not by the required signer")]
    WrongSigner {
        /// Position of the offending signature (or the count given, when the count is wrong).
        index: usize,
    },
    /// The state belongs to another channel.
    #[error("state is for channel {got}, expected {expected}")]
    WrongChannel {
        /// The state's channel id.
        got: B256,
        /// The channel expected.
        expected: B256,
    },
    /// The operation needs the other kind of channel or a state of another finality.
    #[error("wrong kind of channel or state: {0}")]
    WrongKind(&'static str),
    /// An endpoint-signed state of V needs the funding certificate (S4, S5).
    #[error("an endpoint-signed virtual state needs the funding certificate")]
    MissingCertificate,
    /// The certificate is not V's post-fund signed by the whole path (S4).
    #[error("invalid funding certificate")]
    InvalidCertificate,
    /// The state breaks S3 (asset set, totals, intermediaries' balances).
    #[error("state breaks conservation (S3)")]
    ConservationViolated,
    /// The version does not follow the rules (stale, or not exactly one step for a move).
    #[error("version {version} does not follow {reference}")]
    StaleVersion {
        /// The offered version.
        version: u64,
        /// The version it had to follow.
        reference: u64,
    },
    /// The mover is not an endpoint, or a participant index is out of range.
    #[error("participant {0} cannot do this")]
    InvalidParticipant(usize),
    /// The app rejects the move (S7).
    #[error("invalid move: {0}")]
    InvalidTransition(&'static str),
    /// A sub-channel leaf for this virtual channel is already in the table (one position per V).
    #[error("sub-channel {0} is already in the table")]
    DuplicateSubChannel(B256),
    /// The sub-channel is not in the table.
    #[error("sub-channel {0} is not in the table")]
    UnknownSubChannel(B256),
    /// The slot is taken or outside the tree.
    #[error("slot {0} is taken or outside the tree")]
    SlotUnavailable(u64),
    /// App data could not be decoded.
    #[error("app data does not decode: {0}")]
    AppData(String),
    /// An amount overflowed.
    #[error("amount overflow")]
    Overflow,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn params_reason(code: u8) -> &'static str {
    match code {
        1 => "unknown kind",
        2 => "wrong participant count",
        3 => "zero participant",
        4 => "repeated participant",
        5 => "hops do not match the path",
        6 => "repeated hop",
        7 => "zero challenge duration",
        8 => "proof longer than the tree",
        _ => "unknown reason",
    }
}

fn outcome_reason(code: u8) -> &'static str {
    match code {
        1 => "assets not strictly ascending",
        2 => "array lengths differ from the participant count",
        3 => "sum(balances) + locked != sum(deposited) - sum(withdrawn)",
        4 => "a virtual channel locks funds or hosts sub-channels",
        _ => "unknown reason",
    }
}
