//! Outcome rules: asset order, array lengths, the funding invariant (S12), the S3 totals, and the link between a
//! ledger outcome and its sub-channel table.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::sol_types::SolValue;
use ferry_contracts::{AssetOutcome, KIND_VIRTUAL, Outcome};

use crate::sub_tree::SubTree;
use crate::{Error, Result};

/// The outcome rules every signer checks (`ChannelLib.validateOutcome`, same reason codes, same order): assets
/// strictly ascending (1); one balance/deposited/withdrawn entry per participant (2); per asset
/// `sum(balances) + locked == sum(deposited) - sum(withdrawn)` (3); a virtual channel locks nothing and hosts no
/// sub-channels, its `subRoot` is the empty root (4). Sums are checked: an overflow is [`Error::Overflow`] (the
/// contract reverts with an arithmetic panic).
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

/// What an asset's outcome holds in total: `sum(balances) + locked` (saturating; on a valid outcome it cannot
/// overflow).
pub fn asset_total(a: &AssetOutcome) -> U256 {
    a.balances
        .iter()
        .fold(a.locked, |acc, b| acc.saturating_add(*b))
}

/// Per asset, `(asset, sum(balances) + locked)`, in the outcome's order.
pub fn totals(outcome: &Outcome) -> Vec<(Address, U256)> {
    outcome
        .assets
        .iter()
        .map(|a| (a.asset, asset_total(a)))
        .collect()
}

/// `keccak256(abi.encode(address[] assets, uint256[] totals))`: what S3 keeps constant across V's states
/// (`ChannelLib.totalsHash`; the contract stores it as `certTotals[V]`).
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

/// S3 between two states of V: the same assets in the same order with the same totals, and the intermediaries
/// hold nothing in `to`.
pub fn check_conserved(reference: &Outcome, to: &Outcome) -> Result<()> {
    if totals(reference) != totals(to) || !intermediaries_empty(to) {
        return Err(Error::ConservationViolated);
    }
    Ok(())
}

/// S3 against a certificate's totals hash (what the contract keeps in `certTotals[V]`).
pub fn check_conserved_hash(certified_totals: &B256, to: &Outcome) -> Result<()> {
    if totals_hash(to) != *certified_totals || !intermediaries_empty(to) {
        return Err(Error::ConservationViolated);
    }
    Ok(())
}

/// The link between a ledger outcome and its sub-channel table, checked by every signer of a ledger state: the
/// outcome commits to the table's root, each asset's `locked` equals the sum of the leaves' amounts of that asset,
/// and no leaf holds an asset the outcome does not list.
pub fn check_sub_table(outcome: &Outcome, table: &SubTree) -> Result<()> {
    if outcome.subRoot != table.root() {
        return Err(Error::SubRootMismatch {
            got: outcome.subRoot,
            expected: table.root(),
        });
    }
    for a in &outcome.assets {
        let expected = table.locked(&a.asset);
        if a.locked != expected {
            return Err(Error::LockedMismatch {
                asset: a.asset,
                locked: a.locked,
                expected,
            });
        }
    }
    for (asset, expected) in table.locked_totals() {
        if !expected.is_zero() && !outcome.assets.iter().any(|a| a.asset == *asset) {
            return Err(Error::LockedMismatch {
                asset: *asset,
                locked: U256::ZERO,
                expected: *expected,
            });
        }
    }
    Ok(())
}
