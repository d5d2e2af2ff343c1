//! Ferry's on-chain types and contracts, seen from Rust.
//!
//! - **Types** (`ChannelParams`, `State`, `Outcome`, `AssetOutcome`, `Signature`, `SubAlloc`, `LeafProof`,
//!   `Certificate`, `Voucher`, `PaymentData`, `GameData`), the shared errors (`InvalidParams`, `InvalidSignature`,
//!   `WrongSigner`, `InvalidOutcome`) and the interfaces (`IAdjudicator` with its calls, events and errors, `IApp`,
//!   `IFerryHarness`) are generated with `sol!` from `contracts/src/Types.sol`, the very file solc compiles, so ABI
//!   encodings and EIP-712 hashes cannot drift between the two sides. Every struct derives `Debug`, `Clone`,
//!   `PartialEq`, `Eq`, `Hash`, `Default` and serde's `Serialize`/`Deserialize`.
//! - **Hashing** (SPEC.md "Identity and hashing"): [`domain`], [`domain_separator`], [`channel_id`],
//!   [`state_hash`], [`state_digest`], [`voucher_hash`], [`voucher_digest`], [`fingerprint`]; all EIP-712 hashing
//!   goes through alloy's [`SolStruct::eip712_hash_struct`] and [`SolStruct::eip712_signing_hash`].
//! - **Sub-channel tree hashing** (SPEC.md "Sub-channel tree"): [`TREE_DEPTH`], [`EMPTY_SUBTREES`],
//!   [`empty_root`], [`tree_node`], [`leaf_hash`]. The tree itself lives in `ferry-ledger`.
//! - **Bindings** ([`bindings`]): the compiled contracts (`contracts/artifacts/*.json`) with their bytecode, and
//!   `From` conversions between their structs and the types above. [`Artifact`] names each deployable contract.
//! - [`decode_revert`] names a revert of the Adjudicator, the apps or the harness.
//!
//! This crate only needs alloy's `sol-types` and `json` support: no provider, no signer, no async runtime.

#![deny(missing_docs)]

use std::sync::LazyLock;

pub use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{Eip712Domain, SolError, SolInterface, SolStruct};

/// Everything generated from `Types.sol`; re-exported at the crate root.
mod generated {
    #![allow(missing_docs, clippy::all)]
    alloy::sol!(
        #[sol(all_derives, extra_derives(serde::Serialize, serde::Deserialize))]
        "src/Types.sol"
    );
}

pub mod bindings;

pub use generated::*;

/// `ChannelParams.kind` of a ledger channel.
pub const KIND_LEDGER: u8 = 0;
/// `ChannelParams.kind` of a virtual channel.
pub const KIND_VIRTUAL: u8 = 1;
/// Depth of the fixed-depth sub-channel tree: leaf slots are `0 <= index < 2^32`.
pub const TREE_DEPTH: usize = 32;
/// EIP-712 domain name of Ferry's signatures.
pub const DOMAIN_NAME: &str = "Ferry";
/// EIP-712 domain version of Ferry's signatures.
pub const DOMAIN_VERSION: &str = "1";

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A committed artifact could not be read (kept for callers matching on it; the bytecode is now embedded at
    /// compile time, so no current function returns it).
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

// ---------------------------------------------------------------------------------------------- hashing (S1)

/// The EIP-712 domain of Ferry's signatures: name "Ferry", version "1", the chain id and the adjudicator as the
/// verifying contract (no salt).
pub fn domain(chain_id: U256, adjudicator: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(chain_id),
        Some(adjudicator),
        None,
    )
}

/// The EIP-712 domain separator (`hashStruct(EIP712Domain)`), what the Adjudicator's `domainSeparator()` returns.
pub fn domain_separator(chain_id: U256, adjudicator: Address) -> B256 {
    domain(chain_id, adjudicator).separator()
}

/// The channel id: `keccak256(abi.encode(params))`, the struct encoded as one tuple.
pub fn channel_id(params: &ChannelParams) -> B256 {
    keccak256(alloy::sol_types::SolValue::abi_encode(params))
}

/// EIP-712 `hashStruct(State)`: also the state's on-chain [`fingerprint`].
pub fn state_hash(state: &State) -> B256 {
    state.eip712_hash_struct()
}

/// The EIP-712 digest participants sign for `state` (`keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(state))`).
pub fn state_digest(state: &State, chain_id: U256, adjudicator: Address) -> B256 {
    signing_hash(chain_id, adjudicator, state_hash(state))
}

/// `keccak256(0x1901 ‖ domainSeparator ‖ struct_hash)` (what `eip712_signing_hash` computes), with the domain
/// separator of the last domain this thread used kept: a node signs in one domain, and the separator costs four
/// Keccak hashes each time.
fn signing_hash(chain_id: U256, adjudicator: Address, struct_hash: B256) -> B256 {
    thread_local! {
        static LAST: std::cell::Cell<Option<(U256, Address, B256)>> = const { std::cell::Cell::new(None) };
    }
    let separator = LAST.with(|last| match last.get() {
        Some((c, a, sep)) if c == chain_id && a == adjudicator => sep,
        _ => {
            let sep = domain_separator(chain_id, adjudicator);
            last.set(Some((chain_id, adjudicator, sep)));
            sep
        }
    });
    let mut input = [0u8; 2 + 32 + 32];
    input[0] = 0x19;
    input[1] = 0x01;
    input[2..34].copy_from_slice(separator.as_slice());
    input[34..66].copy_from_slice(struct_hash.as_slice());
    keccak256(input)
}

/// EIP-712 `hashStruct(Voucher)`.
pub fn voucher_hash(voucher: &Voucher) -> B256 {
    voucher.eip712_hash_struct()
}

/// The EIP-712 digest a payer signs for `voucher`, in the same domain as states.
pub fn voucher_digest(voucher: &Voucher, chain_id: U256, adjudicator: Address) -> B256 {
    signing_hash(chain_id, adjudicator, voucher_hash(voucher))
}

/// The on-chain fingerprint of a registered state, as `statusOf` returns it: its whole struct hash (S15: what
/// `claim`, `withdraw` and `progress` accept as the registered state is bound with full collision resistance).
pub fn fingerprint(state: &State) -> B256 {
    state_hash(state)
}

// ---------------------------------------------------------------------------------------------- signatures

impl Signature {
    /// Length of the packed form `r ‖ s ‖ v`.
    pub const BYTES: usize = 65;

    /// The packed 65-byte form `r ‖ s ‖ v` (what wallets and `ecrecover`-style APIs use).
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        out[64] = self.v;
        out
    }

    /// Parses the packed form `r ‖ s ‖ v`; `None` unless exactly 65 bytes. The values are not checked here
    /// (recovery rejects bad `v`, out-of-range `r`/`s` and high `s`).
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; 65] = bytes.try_into().ok()?;
        Some(Self {
            r: B256::from_slice(&bytes[..32]),
            s: B256::from_slice(&bytes[32..64]),
            v: bytes[64],
        })
    }
}

// ---------------------------------------------------------------------------------------------- artifacts

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

    /// The creation bytecode, embedded at compile time (no constructor arguments: none of Ferry's contracts takes
    /// any).
    pub fn creation_code(self) -> Bytes {
        use bindings::*;
        match self {
            Artifact::Adjudicator => Adjudicator::BYTECODE.clone(),
            Artifact::PaymentApp => PaymentApp::BYTECODE.clone(),
            Artifact::RockPaperScissors => RockPaperScissors::BYTECODE.clone(),
            Artifact::TestToken => TestToken::BYTECODE.clone(),
            Artifact::FeeOnTransferToken => FeeOnTransferToken::BYTECODE.clone(),
            Artifact::RevertingToken => RevertingToken::BYTECODE.clone(),
            Artifact::GasBurningToken => GasBurningToken::BYTECODE.clone(),
            Artifact::FerryHarness => FerryHarness::BYTECODE.clone(),
        }
    }

    /// The runtime bytecode, as deployed.
    pub fn deployed_code(self) -> Bytes {
        use bindings::*;
        match self {
            Artifact::Adjudicator => Adjudicator::DEPLOYED_BYTECODE.clone(),
            Artifact::PaymentApp => PaymentApp::DEPLOYED_BYTECODE.clone(),
            Artifact::RockPaperScissors => RockPaperScissors::DEPLOYED_BYTECODE.clone(),
            Artifact::TestToken => TestToken::DEPLOYED_BYTECODE.clone(),
            Artifact::FeeOnTransferToken => FeeOnTransferToken::DEPLOYED_BYTECODE.clone(),
            Artifact::RevertingToken => RevertingToken::DEPLOYED_BYTECODE.clone(),
            Artifact::GasBurningToken => GasBurningToken::DEPLOYED_BYTECODE.clone(),
            Artifact::FerryHarness => FerryHarness::DEPLOYED_BYTECODE.clone(),
        }
    }

    /// The creation bytecode as a `Result`, for callers written against the earlier fallible API; never fails.
    pub fn bytecode(self) -> Result<Bytes> {
        Ok(self.creation_code())
    }
}

// ---------------------------------------------------------------------------------------------- sub-channel tree

/// `Z[i]`: the root of an empty subtree of height `i`, for `i` in `0..=32`; `Z[0] = bytes32(0)`,
/// `Z[i+1] = node(Z[i], Z[i])`. Computed once.
pub static EMPTY_SUBTREES: LazyLock<[B256; TREE_DEPTH + 1]> = LazyLock::new(|| {
    let mut z = [B256::ZERO; TREE_DEPTH + 1];
    for i in 0..TREE_DEPTH {
        z[i + 1] = tree_node(&z[i], &z[i]);
    }
    z
});

/// The root of the empty sub-channel tree, `Z[32]` (`EMPTY_ROOT`): the `subRoot` of a ledger state without
/// sub-channels and of every virtual state.
pub fn empty_root() -> B256 {
    EMPTY_SUBTREES[TREE_DEPTH]
}

/// An inner node of the sub-channel tree: `keccak256(0x01 ‖ left ‖ right)`.
pub fn tree_node(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// A leaf of the sub-channel tree: `keccak256(0x00 ‖ abi.encode(leaf.channelId, leaf.amounts, leaf.fee))`, the
/// three values encoded as a parameter list (Solidity's `abi.encode(a, b, c)`). Never zero, so never the empty leaf
/// `Z[0]`.
pub fn leaf_hash(leaf: &SubAlloc) -> B256 {
    // abi.encode(bytes32, (address, uint256)[], uint256): id ‖ offset 0x60 ‖ fee ‖ length ‖ (asset, amount)*.
    // Written by hand to avoid cloning the amounts; the tests compare it with alloy's encoder.
    let mut buf = Vec::with_capacity(1 + 128 + 64 * leaf.amounts.len());
    buf.push(0x00);
    buf.extend_from_slice(leaf.channelId.as_slice());
    buf.extend_from_slice(&U256::from(0x60u8).to_be_bytes::<32>());
    buf.extend_from_slice(&leaf.fee.to_be_bytes::<32>());
    buf.extend_from_slice(&U256::from(leaf.amounts.len()).to_be_bytes::<32>());
    for a in &leaf.amounts {
        buf.extend_from_slice(&[0u8; 12]);
        buf.extend_from_slice(a.asset.as_slice());
        buf.extend_from_slice(&a.amount.to_be_bytes::<32>());
    }
    keccak256(buf)
}

// ---------------------------------------------------------------------------------------------- reverts

/// Names a revert of Ferry's contracts from its return data: `Name(arg, …)`, `Error("reason")` for a `require`
/// message, `Panic(code)`, or the raw bytes in hex when nothing matches.
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
mod tests;
