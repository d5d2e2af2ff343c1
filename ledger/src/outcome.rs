//! Outcome rules: asset order, array lengths, the funding invariant, S3 totals.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;
use ferry_contracts::{KIND_VIRTUAL, Outcome};

use crate::{Error, Result};

/// The outcome rules every signer checks (`ChannelLib.validateOutcome`, same reason codes): assets strictly
/// ascending; one balance/deposited/withdrawn entry per participant; per asset
/// `sum(balances) + locked == sum(deposited) - sum(withdrawn)`; a virtual channel locks nothing and hosts no
/// sub-channels (its `subRoot` is the empty root).
pub fn validate(outcome: &Outcome, participants: usize, kind: u8) -> Result<()> {
    let mut prev: Option<Address> = None;
    for a in &outcome.assets {
        if prev.is_some_and(|p| a.asset <= p) {
            return Err(Error::InvalidOutcome(1));
        }
        prev = Some(a.asset);
        if a.balances.len() != participants
            || a.deposited.len() != participants
            || a.withdrawn.len() != participants
        {
            return Err(Error::InvalidOutcome(2));
        }
        let lhs = sum(&a.balances)?
            .checked_add(a.locked)
            .ok_or(Error::Overflow)?;
        let dep = sum(&a.deposited)?;
        let wd = sum(&a.withdrawn)?;
        if dep < wd || lhs != dep - wd {
            return Err(Error::InvalidOutcome(3));
        }
        if kind == KIND_VIRTUAL && !a.locked.is_zero() {
            return Err(Error::InvalidOutcome(4));
        }
    }
    if kind == KIND_VIRTUAL && outcome.subRoot != ferry_contracts::empty_root() {
        return Err(Error::InvalidOutcome(4));
    }
    Ok(())
}

/// Checked sum.
pub fn sum(values: &[U256]) -> Result<U256> {
    values.iter().try_fold(U256::ZERO, |acc, v| {
        acc.checked_add(*v).ok_or(Error::Overflow)
    })
}

/// Per asset, `sum(balances) + locked` (saturating, like the contract's checked math on valid outcomes).
pub fn totals(outcome: &Outcome) -> Vec<(Address, U256)> {
    outcome
        .assets
        .iter()
        .map(|a| {
            (
                a.asset,
                a.balances
                    .iter()
                    .fold(a.locked, |acc, b| acc.saturating_add(*b)),
            )
        })
        .collect()
}

/// `keccak256(abi.encode(address[] assets, uint256[] totals))`: what S3 keeps constant across V's states
/// (`ChannelLib.totalsHash`).
pub fn totals_hash(outcome: &Outcome) -> B256 {
    let (assets, totals): (Vec<Address>, Vec<U256>) = totals(outcome).into_iter().unzip();
    keccak256((assets, totals).abi_encode_params())
}

/// True when every intermediary (participants `1..n-1`) holds nothing (S3).
pub fn intermediaries_empty(outcome: &Outcome) -> bool {
    outcome.assets.iter().all(|a| {
        let n = a.balances.len();
        n < 3 || a.balances[1..n - 1].iter().all(|b| b.is_zero())
    })
}

/// S3 between two states of V: same assets in the same order, same totals, intermediaries hold nothing in `to`.
pub fn check_conserved(reference: &Outcome, to: &Outcome) -> Result<()> {
    if totals(reference) != totals(to) || !intermediaries_empty(to) {
        return Err(Error::ConservationViolated);
    }
    Ok(())
}
