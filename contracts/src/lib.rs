//! Ferry's on-chain types and contracts, seen from Rust.
//!
//! - The types (`ChannelParams`, `State`, `Outcome`, `SubAlloc`, …), the Adjudicator's interface (calls, events,
//!   errors), the app interface and the test harness are generated with `sol!` from the very Solidity files the
//!   contracts are compiled from (`contracts/src/Types.sol`), so ABI encodings and EIP-712 hashes cannot drift
//!   between the two sides.
//! - [`domain`], [`state_hash`], [`state_digest`], [`voucher_digest`] and [`channel_id`] are the hashing rules of
//!   ARCH.md "Identity and hashing".
//! - [`Artifact`] gives the compiled creation bytecode of each deployable contract (from the committed
//!   `contracts/artifacts/*.json`).
//! - [`decode_revert`] names a revert of the Adjudicator, the apps or the harness.

use std::sync::LazyLock;

pub use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{Eip712Domain, SolError, SolInterface, SolStruct, SolValue};

mod generated {
    #![allow(missing_docs, clippy::all)]
    alloy::sol!(
        #[sol(all_derives, extra_derives(serde::Serialize, serde::Deserialize))]
        "src/Types.sol"
    );
}

pub use generated::*;

/// `ChannelParams.kind` of a ledger channel.
pub const KIND_LEDGER: u8 = 0;
/// `ChannelParams.kind` of a virtual channel.
pub const KIND_VIRTUAL: u8 = 1;
/// Depth of the fixed-depth sub-channel tree.
pub const TREE_DEPTH: usize = 32;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A committed artifact could not be read.
    #[error("artifact {name}: {reason}")]
    Artifact {
        /// The contract name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The EIP-712 domain of Ferry's signatures: name "Ferry", version "1", the chain id and the adjudicator.
pub fn domain(chain_id: U256, adjudicator: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some("Ferry".into()),
        Some("1".into()),
        Some(chain_id),
        Some(adjudicator),
        None,
    )
}

/// The channel id: `keccak256(abi.encode(params))`.
pub fn channel_id(params: &ChannelParams) -> B256 {
    keccak256(params.abi_encode())
}

/// EIP-712 `hashStruct(State)`; truncated to 136 bits it is the state's on-chain fingerprint.
pub fn state_hash(state: &State) -> B256 {
    state.eip712_hash_struct()
}

/// The EIP-712 digest participants sign for `state`.
pub fn state_digest(state: &State, chain_id: U256, adjudicator: Address) -> B256 {
    state.eip712_signing_hash(&domain(chain_id, adjudicator))
}

/// The EIP-712 digest a payer signs for `voucher`.
pub fn voucher_digest(voucher: &Voucher, chain_id: U256, adjudicator: Address) -> B256 {
    voucher.eip712_signing_hash(&domain(chain_id, adjudicator))
}

/// The on-chain fingerprint of a state: the low 136 bits of its struct hash, as `statusOf` returns it.
pub fn fingerprint(state: &State) -> U256 {
    let hash = U256::from_be_bytes(state_hash(state).0);
    hash & ((U256::from(1u8) << 136) - U256::from(1u8))
}

/// The deployable contracts whose compiled artifacts are committed in `contracts/artifacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Artifact {
    /// The singleton adjudicator.
    Adjudicator,
    /// The bundled payment app.
    PaymentApp,
    /// The bundled rock-paper-scissors app.
    RockPaperScissors,
    /// A plain ERC-20 with public mint.
    TestToken,
    /// An ERC-20 that takes a 1% fee on transfers.
    FeeOnTransferToken,
    /// An ERC-20 whose transfers to blocked recipients revert.
    RevertingToken,
    /// An ERC-20 whose transfers to blocked recipients burn all gas.
    GasBurningToken,
    /// ChannelLib exposed for differential tests.
    FerryHarness,
}

impl Artifact {
    /// Every artifact.
    pub const ALL: [Artifact; 8] = [
        Artifact::Adjudicator,
        Artifact::PaymentApp,
        Artifact::RockPaperScissors,
        Artifact::TestToken,
        Artifact::FeeOnTransferToken,
        Artifact::RevertingToken,
        Artifact::GasBurningToken,
        Artifact::FerryHarness,
    ];

    /// The contract's name.
    pub fn name(self) -> &'static str {
        match self {
            Artifact::Adjudicator => "Adjudicator",
            Artifact::PaymentApp => "PaymentApp",
            Artifact::RockPaperScissors => "RockPaperScissors",
            Artifact::TestToken => "TestToken",
            Artifact::FeeOnTransferToken => "FeeOnTransferToken",
            Artifact::RevertingToken => "RevertingToken",
            Artifact::GasBurningToken => "GasBurningToken",
            Artifact::FerryHarness => "FerryHarness",
        }
    }

    fn json(self) -> &'static str {
        match self {
            Artifact::Adjudicator => include_str!("../artifacts/Adjudicator.json"),
            Artifact::PaymentApp => include_str!("../artifacts/PaymentApp.json"),
            Artifact::RockPaperScissors => include_str!("../artifacts/RockPaperScissors.json"),
            Artifact::TestToken => include_str!("../artifacts/TestToken.json"),
            Artifact::FeeOnTransferToken => include_str!("../artifacts/FeeOnTransferToken.json"),
            Artifact::RevertingToken => include_str!("../artifacts/RevertingToken.json"),
            Artifact::GasBurningToken => include_str!("../artifacts/GasBurningToken.json"),
            Artifact::FerryHarness => include_str!("../artifacts/FerryHarness.json"),
        }
    }

    /// The creation bytecode (no constructor arguments: none of Ferry's contracts takes any).
    pub fn bytecode(self) -> Result<Bytes> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            bytecode: Bytes,
        }
        let raw: Raw = serde_json::from_str(self.json()).map_err(|e| Error::Artifact {
            name: self.name(),
            reason: e.to_string(),
        })?;
        if raw.bytecode.is_empty() {
            return Err(Error::Artifact {
                name: self.name(),
                reason: "empty bytecode".into(),
            });
        }
        Ok(raw.bytecode)
    }
}

/// The root of the empty sub-channel tree, `Z[32]` (ARCH.md "Sub-channel tree").
pub fn empty_root() -> B256 {
    EMPTY_SUBTREES[TREE_DEPTH]
}

/// `Z[i]`: the root of an empty subtree of height `i`, for `i` in `0..=32`.
pub static EMPTY_SUBTREES: LazyLock<[B256; TREE_DEPTH + 1]> = LazyLock::new(|| {
    let mut z = [B256::ZERO; TREE_DEPTH + 1];
    for i in 0..TREE_DEPTH {
        z[i + 1] = tree_node(&z[i], &z[i]);
    }
    z
});

/// An inner node of the sub-channel tree: `keccak256(0x01 ‖ left ‖ right)`.
pub fn tree_node(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// A leaf of the sub-channel tree: `keccak256(0x00 ‖ abi.encode(leaf.channelId, leaf.amounts))`.
pub fn leaf_hash(leaf: &SubAlloc) -> B256 {
    let encoded = (leaf.channelId, leaf.amounts.clone()).abi_encode_params();
    let mut buf = Vec::with_capacity(1 + encoded.len());
    buf.push(0x00);
    buf.extend_from_slice(&encoded);
    keccak256(buf)
}

/// Names a revert of Ferry's contracts from its return data: `Name(arg, …)`, `Error("reason")` for a `require`
/// message, or the raw bytes in hex when nothing matches.
pub fn decode_revert(data: &[u8]) -> String {
    if data.is_empty() {
        return "reverted without data".into();
    }
    if let Ok(e) = IAdjudicator::IAdjudicatorErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    macro_rules! try_error {
        ($($ty:ty),*) => {$(
            if let Ok(e) = <$ty>::abi_decode(data) {
                return format!("{e:?}");
            }
        )*};
    }
    try_error!(InvalidParams, InvalidSignature, WrongSigner, InvalidOutcome);
    if let Ok(e) = alloy::sol_types::Revert::abi_decode(data) {
        return format!("Error({:?})", e.reason);
    }
    if let Ok(p) = alloy::sol_types::Panic::abi_decode(data) {
        return format!("Panic({})", p.code);
    }
    format!("0x{}", alloy::primitives::hex::encode(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_has_bytecode() -> Result<()> {
        for a in Artifact::ALL {
            assert!(a.bytecode()?.len() > 100, "{}", a.name());
        }
        Ok(())
    }

    #[test]
    fn empty_root_is_32_levels_of_zero_nodes() {
        let mut z = B256::ZERO;
        for _ in 0..TREE_DEPTH {
            z = tree_node(&z, &z);
        }
        assert_eq!(empty_root(), z);
        assert_ne!(empty_root(), B256::ZERO);
    }

    #[test]
    fn typehash_matches_the_contract_strings() {
        assert_eq!(
            State::eip712_encode_type(),
            "State(bytes32 channelId,uint48 version,Outcome outcome,bytes appData,bool isFinal)\
             AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)\
             Outcome(AssetOutcome[] assets,bytes32 subRoot)"
        );
        assert_eq!(
            Voucher::eip712_encode_type(),
            "Voucher(bytes32 channelId,address payer,address asset,uint256 amount)"
        );
    }

    #[test]
    fn reverts_are_named() {
        let data = IAdjudicator::StaleVersion {
            version: 3u64.try_into().unwrap_or_default(),
            registered: Default::default(),
        }
        .abi_encode();
        assert!(decode_revert(&data).contains("StaleVersion"));
        assert!(
            decode_revert(
                &WrongSigner {
                    index: U256::from(1)
                }
                .abi_encode()
            )
            .contains("WrongSigner")
        );
        assert_eq!(decode_revert(&[]), "reverted without data");
        assert_eq!(decode_revert(&[0xde, 0xad]), "0xdead");
    }
}
