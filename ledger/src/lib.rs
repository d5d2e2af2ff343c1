//! Ferry's channel primitives: everything a participant checks and computes about a channel without touching the
//! chain, with the same verdicts and the same hashes as the contracts (contracts/SPEC.md).
//!
//! Public modules, one line each:
//! - [`params`]: channel params, their validation (S1, S2, S6, S13), ids, fresh nonces, a ledger's place on V's path.
//! - [`sub_tree`]: the sub-channel table ([`SubTree`]), a fixed-depth Merkle tree of `SubAlloc` leaves, O(log n) ops.
//! - [`outcome`]: the outcome rules (asset order, lengths, S12's funding invariant), S3 totals, the table's link.
//! - [`signature`]: channel keys ([`Signer`]), low-s signatures over EIP-712 digests, strict recovery.
//! - [`state`]: versions, who must sign a state (S4), [`SignedState`].
//! - [`app`]: the [`App`](app::App) trait, the bundled payment and rock-paper-scissors apps and their move helpers.
//! - [`support`]: what `conclude`, `challenge`, `checkpoint`, `progress`, `claim`, … accept (S3–S5, S7–S9).
//! - [`channel`]: builders for params, outcomes and states.
//! - [`store`]: [`Store`](store::Store) (namespaced bytes, atomic batches), the redb and memory stores, backups.
//! - [`protocol`]: the sans-IO ledger-channel protocol, [`LedgerNode`](protocol::LedgerNode) (S8, S10, S14, S16).
//!
//! Layers, bottom to top; a module imports only modules below it (its own submodules aside):
//! 1. `error` ([`Error`], [`ProtocolError`](protocol::ProtocolError) and the guard's refusals)
//! 2. `context` ([`ChainContext`])
//! 3. [`params`]
//! 4. [`sub_tree`]
//! 5. [`outcome`]
//! 6. [`signature`]
//! 7. [`state`]
//! 8. [`app`]
//! 9. [`support`]
//! 10. [`channel`]
//! 11. [`store`]
//! 12. [`protocol`]
//!
//! The on-chain types themselves (`ChannelParams`, `State`, `Outcome`, …) come from `ferry-contracts`, generated
//! from the Solidity sources, and are re-exported here. Every error is an [`Error`]; nothing here panics on input
//! from a peer. This crate has no tokio, no sockets and no clock.
//!
//! ```
//! use ferry_ledger::channel::{funded_asset, ledger_params, state};
//! use ferry_ledger::contracts::{Address, B256, Bytes, U256};
//! use ferry_ledger::support::{Registered, check_challenge};
//! use ferry_ledger::{AssetAmount, ChainContext, SignedState, Signer, SubAlloc, SubTree, sub_tree};
//!
//! # fn main() -> ferry_ledger::Result<()> {
//! let ctx = ChainContext { chain_id: 31337, adjudicator: Address::repeat_byte(0xad) };
//! let (alice, hub) = (Signer::random(), Signer::random());
//! let params = ledger_params(&ctx, alice.address(), hub.address(), 3600);
//!
//! // The ledger hosts one virtual channel holding 3 wei of ETH.
//! let mut table = SubTree::new();
//! let leaf = SubAlloc {
//!     channelId: B256::repeat_byte(7),
//!     amounts: vec![AssetAmount { asset: Address::ZERO, amount: U256::from(3) }],
//!     fee: U256::ZERO,
//! };
//! table.insert(leaf.clone())?;
//! let mut asset = funded_asset(Address::ZERO, vec![U256::from(10), U256::from(10)]);
//! asset.balances[0] -= U256::from(3); // Alice's share of V moves from her balance into `locked`
//! let s = ferry_ledger::channel::with_sub_table(state(&params, 2, vec![asset], Bytes::new(), false), &table);
//! ferry_ledger::outcome::check_sub_table(&s.outcome, &table)?;
//!
//! // Both sign; the chain would accept it as a challenge; the leaf is provable against the state.
//! let signed = SignedState::sign(&ctx, s, &[&alice, &hub]);
//! check_challenge(&ctx, &params, &signed.state, &signed.sigs, None, &Registered::default())?;
//! let proof = table.proof(&leaf.channelId)?;
//! assert!(sub_tree::verify(&signed.state.outcome.subRoot, &leaf, &proof));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod app;
pub mod channel;
mod context;
mod error;
pub mod outcome;
pub mod params;
pub mod protocol;
pub mod signature;
pub mod state;
pub mod store;
pub mod sub_tree;
pub mod support;

pub use context::ChainContext;
pub use error::{Error, Result};
pub use ferry_contracts as contracts;
pub use ferry_contracts::{
    AssetAmount, AssetOutcome, Certificate, ChannelParams, GameData, LeafProof, Outcome,
    PaymentData, Signature, State, SubAlloc, Voucher,
};
pub use signature::Signer;
pub use state::SignedState;
pub use sub_tree::SubTree;
