//! What a message will make this member recover, and what a payment will make it sign, computed without changing
//! anything: a runtime computes those signatures ahead, on several cores, and the single-threaded core then finds
//! them memoized (`ferry_ledger::signature::precompute_recover`, `Signer::presign`). A prediction that misses
//! costs only the work done ahead; the core's checks are the same either way.

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::ChainContext;
use ferry_ledger::app::payment::voucher;
use ferry_ledger::contracts::voucher_digest;
use ferry_ledger::{Signature, State};

use super::super::VirtualMessage;
use super::VirtualChannel;

impl VirtualChannel {
    /// The `(digest, signature)` pairs handling `msg` from `from` would recover: the signatures a gossip
    /// message adds to a stage of V, a voucher above the one held, a move or the countersignature of this
    /// member's move.
    pub(crate) fn signatures_to_check(
        &self,
        ctx: &ChainContext,
        from: Address,
        msg: &VirtualMessage,
    ) -> Vec<(B256, Signature)> {
        let from_other_endpoint = self
            .other_endpoint()
            .is_some_and(|i| self.params.participants[i] == from);
        match msg {
            VirtualMessage::Sigs { state, sigs, .. } => {
                if !self.params.participants.contains(&from) {
                    return vec![];
                }
                let version = state.version.to::<u64>();
                let have = if state.isFinal {
                    // As the core: a final conflicting with the one kept, or a new one that fails its checks or
                    // comes without A's signature, is refused before any signature is checked.
                    let acceptable = match &self.final_state {
                        Some(f) => f == state,
                        None => {
                            self.check_final(state).is_ok()
                                && sigs.first().is_some_and(Option::is_some)
                        }
                    };
                    if !acceptable {
                        return vec![];
                    }
                    &self.final_sigs
                } else if version == 0 && *state == self.prefund {
                    &self.prefund_sigs
                } else if version == 1 && *state == self.postfund() {
                    &self.postfund_sigs
                } else {
                    return vec![];
                };
                new_signatures(ctx, state, have, sigs)
            }
            VirtualMessage::Voucher {
                asset,
                cumulative,
                sig,
                ..
            } => self
                .voucher_checks(from, asset, *cumulative)
                .ok()
                .flatten()
                .map(|_| {
                    let v = voucher(&self.params, from, *asset, *cumulative);
                    (
                        voucher_digest(&v, self.params.chainId, self.params.adjudicator),
                        sig.clone(),
                    )
                })
                .into_iter()
                .collect(),
            VirtualMessage::Move { state, sig } if from_other_endpoint => {
                if self.latest.as_ref().is_some_and(|l| l.state == *state) {
                    return vec![];
                }
                vec![(ctx.digest(state), sig.clone())]
            }
            VirtualMessage::MoveAck { version, sig, .. } if from_other_endpoint => self
                .my_move
                .as_ref()
                .filter(|(state, _)| state.version.to::<u64>() == *version)
                .map(|(state, _)| (ctx.digest(state), sig.clone()))
                .into_iter()
                .collect(),
            _ => vec![],
        }
    }

    /// The digest of the voucher this endpoint signs when it pays `amount` of `asset` on top of `already` (what
    /// it paid before, or predicted to pay before in the same batch); `None` when it is not a payer of `asset`
    /// here. Returns the new cumulative total beside it.
    pub(crate) fn voucher_to_sign(
        &self,
        me: Address,
        asset: &Address,
        already: Option<U256>,
        amount: U256,
    ) -> Option<(B256, U256)> {
        self.other_endpoint()?;
        let j = self.asset_index(asset)?;
        let cumulative = already.unwrap_or(self.paid[j]).checked_add(amount)?;
        let v = voucher(&self.params, me, *asset, cumulative);
        Some((
            voucher_digest(&v, self.params.chainId, self.params.adjudicator),
            cumulative,
        ))
    }
}

/// The signatures `incoming` holds where `have` holds none, each with `state`'s digest (what `merge` recovers).
pub(crate) fn new_signatures(
    ctx: &ChainContext,
    state: &State,
    have: &[Option<Signature>],
    incoming: &[Option<Signature>],
) -> Vec<(B256, Signature)> {
    if incoming.len() != have.len() {
        return vec![];
    }
    let fresh: Vec<&Signature> = have
        .iter()
        .zip(incoming)
        .filter_map(|(h, s)| if h.is_none() { s.as_ref() } else { None })
        .collect();
    if fresh.is_empty() {
        return vec![];
    }
    let digest = ctx.digest(state);
    fresh.into_iter().map(|s| (digest, s.clone())).collect()
}
