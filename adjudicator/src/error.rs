//! The one error type of `ferry-adjudicator`.

use alloy::primitives::Bytes;

/// Everything that can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction or call reverted; `reason` names the contract error (`StaleVersion { .. }`, …).
    #[error("reverted: {reason}")]
    Reverted {
        /// The decoded revert (see `ferry_contracts::decode_revert`).
        reason: String,
        /// The raw revert data.
        data: Bytes,
    },
    /// The transaction ran out of gas or halted.
    #[error("transaction halted: {0}")]
    Halted(String),
    /// The node cannot be reached.
    #[error("chain node unreachable: {0}")]
    Unreachable(String),
    /// The node is on another chain than expected.
    #[error("wrong chain: the node is on chain {actual}, expected {expected}")]
    WrongChainId {
        /// The chain id expected.
        expected: u64,
        /// The node's chain id.
        actual: u64,
    },
    /// The sender is not one of this chain's accounts.
    #[error("no key for sender {0}")]
    UnknownSender(alloy::primitives::Address),
    /// The node refused the request or answered something unexpected.
    #[error("chain node error: {0}")]
    Node(String),
    /// The EVM rejected the transaction before executing it (nonce, balance, gas limit).
    #[error("transaction invalid: {0}")]
    InvalidTransaction(String),
    /// A call's return data or a log did not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The operation is not available on this chain (e.g. moving the clock of a public network).
    #[error("unsupported on this chain: {0}")]
    Unsupported(&'static str),
    /// A contract artifact is unusable.
    #[error(transparent)]
    Artifact(#[from] ferry_contracts::Error),
}

impl Error {
    /// A revert from its raw data.
    pub fn reverted(data: Bytes) -> Self {
        Error::Reverted {
            reason: ferry_contracts::decode_revert(&data),
            data,
        }
    }

    /// The revert's decoded name, if this is a revert.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            Error::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
