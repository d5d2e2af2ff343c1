//! The one error type of `ferry-adjudicator`, and the decoded contract errors a revert carries.

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::{SolError, SolInterface};
use ferry_contracts::IAdjudicator::IAdjudicatorErrors;

/// A revert of Ferry's contracts, decoded from its return data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractError {
    /// One of the Adjudicator's own errors (`ChannelFinalized`, `StaleVersion { .. }`, …).
    Adjudicator(IAdjudicatorErrors),
    /// `InvalidParams(reason)`: the channel params break S1/S2.
    InvalidParams(U256),
    /// `InvalidSignature()`: a malformed or high-s signature.
    InvalidSignature,
    /// `WrongSigner(index)`: signature `index` is not the expected signer's.
    WrongSigner(U256),
    /// `InvalidOutcome(reason)`: the outcome breaks its shape rules.
    InvalidOutcome(U256),
    /// A `require`/`revert` with a message (`Error(string)`), e.g. from a token.
    Message(String),
    /// A Solidity panic (`Panic(uint256)`), e.g. an arithmetic overflow.
    Panic(U256),
    /// Nothing matched (or the revert carried no data).
    Unknown(Bytes),
}

impl ContractError {
    /// Decodes revert data with the Adjudicator's ABI errors, Ferry's shared errors, `Error(string)` and `Panic`.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = IAdjudicatorErrors::abi_decode(data) {
            return ContractError::Adjudicator(e);
        }
        if let Ok(e) = ferry_contracts::InvalidParams::abi_decode(data) {
            return ContractError::InvalidParams(e.reason);
        }
        if ferry_contracts::InvalidSignature::abi_decode(data).is_ok() {
            return ContractError::InvalidSignature;
        }
        if let Ok(e) = ferry_contracts::WrongSigner::abi_decode(data) {
            return ContractError::WrongSigner(e.index);
        }
        if let Ok(e) = ferry_contracts::InvalidOutcome::abi_decode(data) {
            return ContractError::InvalidOutcome(e.reason);
        }
        if let Ok(e) = alloy::sol_types::Revert::abi_decode(data) {
            return ContractError::Message(e.reason);
        }
        if let Ok(p) = alloy::sol_types::Panic::abi_decode(data) {
            return ContractError::Panic(p.code);
        }
        ContractError::Unknown(Bytes::copy_from_slice(data))
    }

    /// The error's Solidity name (`"ChannelFinalized"`, `"Error"` for a message, `"Panic"`, `"Unknown"`).
    pub fn name(&self) -> &'static str {
        match self {
            ContractError::Adjudicator(e) => {
                IAdjudicatorErrors::name_by_selector(e.selector()).unwrap_or("Unknown")
            }
            ContractError::InvalidParams(_) => "InvalidParams",
            ContractError::InvalidSignature => "InvalidSignature",
            ContractError::WrongSigner(_) => "WrongSigner",
            ContractError::InvalidOutcome(_) => "InvalidOutcome",
            ContractError::Message(_) => "Error",
            ContractError::Panic(_) => "Panic",
            ContractError::Unknown(_) => "Unknown",
        }
    }
}

/// Everything that can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction or call reverted; `reason` names the contract error (`StaleVersion { .. }`, …).
    #[error("reverted: {reason}")]
    Reverted {
        /// The decoded revert, printed (see `ferry_contracts::decode_revert`).
        reason: String,
        /// The decoded revert, typed.
        error: Box<ContractError>,
        /// The raw revert data (empty when the node did not return it).
        data: Bytes,
    },
    /// The transaction ran out of gas.
    #[error("out of gas (gas limit {gas_limit})")]
    OutOfGas {
        /// The transaction's gas limit, all of it used (0 when a node refused a gas estimate as out of gas).
        gas_limit: u64,
    },
    /// The transaction halted for another reason than a revert or running out of gas (invalid opcode, stack
    /// overflow, …).
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
    UnknownSender(Address),
    /// A transaction was not mined (or not confirmed) in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The node refused the request or answered something unexpected.
    #[error("chain node error: {0}")]
    Node(String),
    /// The chain rejected the transaction before executing it (nonce, balance, gas limit below intrinsic gas).
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
    /// A configuration value is unusable (a bad private key, no accounts, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A contract artifact is unusable.
    #[error(transparent)]
    Artifact(#[from] ferry_contracts::Error),
    /// The channel protocol refused an input or its store failed.
    #[error(transparent)]
    Ledger(#[from] ferry_ledger::Error),
    /// No challenge bond of the sender's is held for the channel (S17): none at all, or another challenger's, which
    /// the sender does not pay gas to return. Nothing was sent.
    #[error("no challenge bond of {sender} is held for channel {channel_id}")]
    NotOurBond {
        /// The channel.
        channel_id: alloy::primitives::B256,
        /// Who would have sent `reclaimBond`.
        sender: Address,
    },
}

impl Error {
    /// A revert from its raw data.
    pub fn reverted(data: Bytes) -> Self {
        Error::Reverted {
            reason: ferry_contracts::decode_revert(&data),
            error: Box::new(ContractError::decode(&data)),
            data,
        }
    }

    /// The revert's printed reason (`StaleVersion(StaleVersion { version: 3, registered: 5 })`), if this is a
    /// revert.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            Error::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The decoded contract error, if this is a revert.
    pub fn contract_error(&self) -> Option<&ContractError> {
        match self {
            Error::Reverted { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// The contract error's name (`"ChannelFinalized"`), if this is a revert.
    pub fn revert_name(&self) -> Option<&'static str> {
        self.contract_error().map(ContractError::name)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_contracts::IAdjudicator;

    #[test]
    fn adjudicator_errors_decode_with_name_and_args() {
        let data = IAdjudicator::StaleVersion {
            version: alloy::primitives::aliases::U48::from(3u8),
            registered: alloy::primitives::aliases::U48::from(5u8),
        }
        .abi_encode();
        let e = Error::reverted(data.into());
        assert_eq!(e.revert_name(), Some("StaleVersion"));
        match e.contract_error() {
            Some(ContractError::Adjudicator(IAdjudicatorErrors::StaleVersion(s))) => {
                assert_eq!(s.version.to::<u64>(), 3);
                assert_eq!(s.registered.to::<u64>(), 5);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn shared_errors_messages_and_garbage_decode() {
        let wrong = ferry_contracts::WrongSigner {
            index: U256::from(1u8),
        }
        .abi_encode();
        assert_eq!(
            ContractError::decode(&wrong),
            ContractError::WrongSigner(U256::from(1u8))
        );
        let msg = alloy::sol_types::Revert::from("blocked").abi_encode();
        assert_eq!(
            ContractError::decode(&msg),
            ContractError::Message("blocked".into())
        );
        assert_eq!(ContractError::decode(&[1, 2, 3]).name(), "Unknown");
        assert_eq!(ContractError::decode(&[]).name(), "Unknown");
    }
}
