//! V's leaf in a ledger of its path: what it holds (the pre-fund's totals plus the routing fee) and what it pays
//! each ledger participant by a state of V, with the ledger layer's typed errors.

use alloy::primitives::U256;
use ferry_ledger::params::path_position;
use ferry_ledger::support::{leaf_of, leaf_payout};
use ferry_ledger::{ChannelParams, State, SubAlloc};

/// What each ledger participant puts into (or takes out of) V's leaf in `ledger` by V's state `state`, in the
/// ledger's participant order, per asset of the leaf: exactly what `claim` would pay by that state
/// ([`leaf_payout`]). By the pre-fund that is each side's contribution (the side standing for A puts in A's
/// balances and the routing fee), and the refund of an open that never completed; by a later state (the final, or V's
/// outcome on-chain) each side gets the balance of the side of V it stands for, and B's side the fee.
pub fn split(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    state: &State,
    leaf: &SubAlloc,
) -> ferry_ledger::Result<[Vec<U256>; 2]> {
    let pos = path_position(ledger, virt)?;
    let payouts = leaf_payout(leaf, state)?;
    let a: Vec<U256> = payouts.iter().map(|p| p.to_left).collect();
    let b: Vec<U256> = payouts.iter().map(|p| p.to_right).collect();
    Ok(if pos.left_index == 0 { [a, b] } else { [b, a] })
}

/// The routing fee V's leaf holds in `ledger`: every fee of the intermediaries further towards B (each
/// intermediary keeps its own and passes the rest on), in V's first asset. The side standing for A puts it into
/// the leaf; it goes to B's side once V got past its pre-fund (S8, S9).
pub fn fee_in(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    fees: &[U256],
) -> ferry_ledger::Result<U256> {
    let pos = path_position(ledger, virt)?;
    Ok(fees
        .iter()
        .skip(pos.hop + 1)
        .fold(U256::ZERO, |acc, f| acc.saturating_add(*f)))
}

/// V's leaf in `ledger`: the pre-fund's totals plus the routing fee it holds there ([`fee_in`]).
pub fn leaf_in(
    ledger: &ChannelParams,
    virt: &ChannelParams,
    prefund: &State,
    fees: &[U256],
) -> ferry_ledger::Result<SubAlloc> {
    Ok(leaf_of(virt, prefund, fee_in(ledger, virt, fees)?))
}
