//! Nim, an app builder's own turn-based app: the Rust half of the `custom_app` example (its contract, the same
//! rules, is `Nim.sol`).
//!
//! The app data is `abi.encode(uint256 pile, uint256 stake)`. The endpoints take 1 to 3 from the pile in turn, the
//! first endpoint moving to even versions (its first move is version 2, on top of the post-fund) and the last to
//! odd ones. Each move hands the mover the lead: `stake` of the first asset moves to it from the other endpoint
//! (twice the stake once someone led before), so an endpoint that stops answering loses by timeout; whoever takes
//! the last token keeps the lead for good, since an empty pile allows no move.

use alloy::primitives::{Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_ledger::app::{App, decode_app_data};
use ferry_ledger::{ChannelParams, Error, Result, State};
use ferry_virtual::protocol::TurnApp;

/// Nim starting from a pile of `pile` tokens, for `stake` of the first asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nim {
    /// The pile at the start.
    pub pile: u64,
    /// What the lead is worth.
    pub stake: U256,
}

/// A Nim state's app data: the pile left and the stake.
pub fn data(state: &State) -> Result<(U256, U256)> {
    decode_app_data::<(U256, U256)>(&state.appData)
}

fn encode(pile: U256, stake: U256) -> Bytes {
    (pile, stake).abi_encode_params().into()
}

/// The endpoint (index in the path) whose move `to` must be: the first for even versions, the last for odd ones.
pub fn mover_of(params: &ChannelParams, to: &State) -> usize {
    if to.version.to::<u64>().is_multiple_of(2) {
        0
    } else {
        params.participants.len().saturating_sub(1)
    }
}

/// The move taking `take` tokens from `from`'s pile, by the endpoint whose turn it is.
pub fn take(params: &ChannelParams, from: &State, take: u64) -> Result<State> {
    let (pile, stake) = data(from)?;
    let mut to = ferry_ledger::state::next(from)?;
    let left = pile
        .checked_sub(U256::from(take))
        .ok_or(Error::InvalidTransition("not that many left"))?;
    to.appData = encode(left, stake);
    let mover = mover_of(params, &to);
    let other = if mover == 0 {
        params.participants.len() - 1
    } else {
        0
    };
    let lead = lead_outcome(from, mover, other, stake)?;
    to.outcome.assets[0] = lead;
    Ok(to)
}

/// `from`'s first asset with the lead handed to `mover` by `other`.
fn lead_outcome(
    from: &State,
    mover: usize,
    other: usize,
    stake: U256,
) -> Result<ferry_ledger::AssetOutcome> {
    let invalid = Error::InvalidTransition;
    let swing = if from.version.to::<u64>() == 1 {
        stake
    } else {
        stake.checked_mul(U256::from(2)).ok_or(Error::Overflow)?
    };
    let mut lead = from
        .outcome
        .assets
        .first()
        .cloned()
        .ok_or(invalid("the stake needs an asset"))?;
    let paying = lead
        .balances
        .get(other)
        .copied()
        .ok_or(invalid("no such endpoint"))?;
    lead.balances[other] = paying
        .checked_sub(swing)
        .ok_or(invalid("the other endpoint cannot pay the lead"))?;
    let gaining = lead
        .balances
        .get(mover)
        .copied()
        .ok_or(invalid("no such endpoint"))?;
    lead.balances[mover] = gaining.checked_add(swing).ok_or(Error::Overflow)?;
    Ok(lead)
}

impl App for Nim {
    fn valid_transition(
        &self,
        params: &ChannelParams,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let invalid = Error::InvalidTransition;
        let last = params
            .participants
            .len()
            .checked_sub(1)
            .ok_or(invalid("no participants"))?;
        if from.version.to::<u64>() == 0 {
            return Err(invalid("no move from the pre-fund"));
        }
        if mover != mover_of(params, to) {
            return Err(invalid("not this endpoint's turn"));
        }
        let (from_pile, stake) = data(from)?;
        let (to_pile, to_stake) = data(to)?;
        if from_pile.is_zero() {
            return Err(invalid("the game is over"));
        }
        if to_stake != stake || to_pile >= from_pile || from_pile - to_pile > U256::from(3) {
            return Err(invalid("take 1 to 3, the stake fixed"));
        }
        let m = from.outcome.assets.len();
        if m == 0 || to.outcome.assets.len() != m {
            return Err(invalid("the stake needs an asset"));
        }
        if from.outcome.assets[1..] != to.outcome.assets[1..] {
            return Err(invalid("only the first asset moves"));
        }
        let other = if mover == 0 { last } else { 0 };
        if lead_outcome(from, mover, other, stake)? != to.outcome.assets[0] {
            return Err(invalid("the lead moves to the mover, nothing else"));
        }
        Ok(())
    }
}

impl TurnApp for Nim {
    fn initial_data(&self, _assets: usize) -> Bytes {
        encode(U256::from(self.pile), self.stake)
    }

    /// Enough for a player to finish its turn on-chain when the other stops, and to answer once more.
    fn max_moves(&self) -> u64 {
        2
    }
}
