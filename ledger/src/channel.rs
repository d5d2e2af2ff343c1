//! Builders for params, outcomes and states: what an app builder or a test needs to put a channel together.

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_contracts::{
    AssetOutcome, ChannelParams, KIND_LEDGER, KIND_VIRTUAL, Outcome, Signature, State, channel_id,
    empty_root,
};

use crate::context::ChainContext;
use crate::params::fresh_nonce;
use crate::signature::Signer;

/// Params of a ledger channel between `a` and `b` with a fresh nonce.
pub fn ledger_params(
    ctx: &ChainContext,
    a: Address,
    b: Address,
    challenge_duration: u64,
) -> ChannelParams {
    ChannelParams {
        kind: KIND_LEDGER,
        chainId: U256::from(ctx.chain_id),
        adjudicator: ctx.adjudicator,
        participants: vec![a, b],
        nonce: fresh_nonce(),
        app: Address::ZERO,
        challengeDuration: U48::saturating_from(challenge_duration),
        maxMoves: U48::ZERO,
        challengeBond: U96::ZERO,
        hops: vec![],
    }
}

/// Params of a virtual channel over `path` (`[A, I1, …, In, B]`) and its ledger `hops`, with a fresh nonce.
pub fn virtual_params(
    ctx: &ChainContext,
    path: Vec<Address>,
    hops: Vec<B256>,
    app: Address,
    challenge_duration: u64,
    max_moves: u64,
) -> ChannelParams {
    ChannelParams {
        kind: KIND_VIRTUAL,
        chainId: U256::from(ctx.chain_id),
        adjudicator: ctx.adjudicator,
        participants: path,
        nonce: fresh_nonce(),
        app,
        challengeDuration: U48::saturating_from(challenge_duration),
        maxMoves: U48::saturating_from(max_moves),
        challengeBond: U96::ZERO,
        hops,
    }
}

/// One asset's outcome where each participant funded its own balance and nothing is locked or withdrawn.
pub fn funded_asset(asset: Address, balances: Vec<U256>) -> AssetOutcome {
    let n = balances.len();
    AssetOutcome {
        asset,
        deposited: balances.clone(),
        balances,
        withdrawn: vec![U256::ZERO; n],
        locked: U256::ZERO,
    }
}

/// A state of `params` with the given outcome assets, an empty sub-channel table and app data.
pub fn state(
    params: &ChannelParams,
    version: u64,
    assets: Vec<AssetOutcome>,
    app_data: Bytes,
    is_final: bool,
) -> State {
    State {
        channelId: channel_id(params),
        version: U48::saturating_from(version),
        outcome: Outcome {
            assets,
            subRoot: empty_root(),
        },
        appData: app_data,
        isFinal: is_final,
    }
}

/// A ledger state's outcome assets from a sub-channel table: each asset's `locked` set to the table's total for it
/// and the `subRoot` to the table's root, balances as given. The caller keeps the funding invariant (S12) by moving
/// what it locks out of the balances.
pub fn with_sub_table(mut state: State, table: &crate::SubTree) -> State {
    for a in &mut state.outcome.assets {
        a.locked = table.locked(&a.asset);
    }
    state.outcome.subRoot = table.root();
    state
}

/// Signs `state` with each signer in order.
pub fn sign_all(ctx: &ChainContext, state: &State, signers: &[&Signer]) -> Vec<Signature> {
    let digest = ctx.digest(state);
    signers.iter().map(|s| s.sign_digest(&digest)).collect()
}
