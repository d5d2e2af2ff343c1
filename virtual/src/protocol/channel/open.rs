//! Opening V: its params and pre-fund checked (S1, S2, S3, S6), the record of a V this member opens or joins, V's
//! leaf asked for in each ledger where this member stands for A's side, and the post-fund signed once its ledgers
//! hold the leaf (S8).

use alloy::primitives::{B256, U256};
use ferry_ledger::store::Store;
use ferry_ledger::{ChannelParams, Signature, State, outcome};

use super::super::{VirtualError, VirtualEvent, leaf};
use super::{NodeContext, RETRY_MS, Stage, VirtualChannel, VirtualPhase, verr};
use crate::{Error, Result};

/// Checks V's params and pre-fund as the path member at `me` joining V (S1, S2, S6 and the pre-fund's shape:
/// version 0 of V, not final, a valid outcome in which the intermediaries hold nothing (S3), the app's opening
/// data); its ledgers with its path neighbours must be running. Returns V's id.
pub(crate) fn check_prefund<S: Store>(
    cx: &NodeContext<'_, S>,
    params: &ChannelParams,
    prefund: &State,
    me: usize,
) -> Result<B256> {
    let id = ferry_ledger::params::validate_for(params, cx.chain.chain_id, cx.chain.adjudicator)?;
    if params.kind != ferry_ledger::contracts::KIND_VIRTUAL {
        return Err(Error::Ledger(ferry_ledger::Error::WrongKind(
            "a virtual channel",
        )));
    }
    cx.durations.check(params)?;
    let n = params.participants.len();
    if me > 0 {
        cx.check_ledger(params.hops[me - 1], params.participants[me - 1])?;
    }
    if me + 1 < n {
        cx.check_ledger(params.hops[me], params.participants[me + 1])?;
    }
    if prefund.channelId != id || prefund.version.to::<u64>() != 0 || prefund.isFinal {
        return Err(verr(VirtualError::InvalidPrefund(
            "version 0 of this channel, not final",
        )));
    }
    outcome::validate(&prefund.outcome, n, ferry_ledger::contracts::KIND_VIRTUAL)?;
    if !outcome::intermediaries_empty(&prefund.outcome) {
        return Err(verr(VirtualError::InvalidPrefund(
            "intermediaries hold nothing",
        )));
    }
    let rules = cx.app_of(params)?;
    // S7: each endpoint gets the moves the app needs on-chain (a payee's redeem, a round's share); fewer would leave
    // a payee unable to redeem its vouchers or a player its move.
    if params.maxMoves.to::<u64>() != rules.max_moves() {
        return Err(verr(VirtualError::InvalidPrefund(
            "the params' max_moves are not the app's",
        )));
    }
    if prefund.appData != rules.initial_data(prefund.outcome.assets.len()) {
        return Err(verr(VirtualError::InvalidPrefund(
            "the app's opening data (a payment channel starts with nothing paid)",
        )));
    }
    Ok(id)
}

impl VirtualChannel {
    /// The first endpoint's record of a V it opens (its pre-fund checked, so it is of V's id): the pre-fund signed
    /// by A, the fees quoted.
    pub(crate) fn propose<S: Store>(
        cx: &NodeContext<'_, S>,
        params: ChannelParams,
        prefund: State,
        fees: Vec<U256>,
        now: u64,
    ) -> Self {
        let sig = cx.sign(&prefund);
        let mut ch = VirtualChannel::new(params, prefund.channelId, 0, prefund);
        ch.joined_at = now;
        ch.prefund_sigs[0] = Some(sig);
        ch.fees = fees;
        ch
    }

    /// The record of a V that its pre-fund introduced to the path member at `me` (checked in full, so it is of V's
    /// id): the signatures it came with, each checked against its member, and this member's own.
    pub(crate) fn join<S: Store>(
        cx: &NodeContext<'_, S>,
        params: ChannelParams,
        me: usize,
        prefund: State,
        sigs: &[Option<Signature>],
        fees: Vec<U256>,
        now: u64,
    ) -> Result<Self> {
        let mut ch = VirtualChannel::new(params.clone(), prefund.channelId, me, prefund.clone());
        ch.joined_at = now;
        VirtualChannel::merge(cx.chain, &params, &prefund, &mut ch.prefund_sigs, sigs)?;
        ch.prefund_sigs[me] = Some(cx.sign(&prefund));
        ch.fees = fees;
        Ok(ch)
    }

    /// Once V's new record is kept: the guard learns V, a joining member reports it joined, the pre-fund goes to
    /// both neighbours and V takes the steps it can.
    pub(crate) fn announce<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        joined: bool,
        now: u64,
    ) {
        cx.sync(self);
        if joined {
            cx.event(VirtualEvent::Joined {
                channel_id: self.id,
            });
        }
        self.gossip(cx, Stage::Prefund);
        self.progress(cx, now);
    }

    /// Whether the whole path signed V's pre-fund.
    pub(super) fn prefund_complete(&self) -> bool {
        self.prefund_sigs.iter().all(Option::is_some)
    }

    /// S8: an open that does not complete within [`OPEN_TIMEOUT_MS`](super::OPEN_TIMEOUT_MS) is given up by a
    /// member that never signed the post-fund; from then on it agrees to refund V's leaves (and only then).
    pub(super) fn give_up_open_after_timeout<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        now: u64,
    ) {
        if self.phase == VirtualPhase::Opening
            && self.postfund_sigs[self.me].is_none()
            && now >= self.joined_at.saturating_add(super::OPEN_TIMEOUT_MS)
        {
            self.phase = VirtualPhase::Aborted;
            self.gave_up = true;
            self.resolved_at.get_or_insert(now);
            cx.sync(self);
            cx.event(VirtualEvent::OpenFailed {
                channel_id: self.id,
            });
        }
    }

    /// S8: the member standing for A's side of its right ledger asks for V's leaf there (the pre-fund's totals plus
    /// the routing fee it holds, each side's contribution), while it is still joining V and its table does not hold
    /// the leaf already (in a state both signed, or in the leader's proposal in flight); again every
    /// [`RETRY_MS`] while it is absent. The guard on both sides of the ledger checks the leaf (S8).
    pub(super) fn request_leaf<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) {
        if self.final_state.is_none()
            && self.onchain_final.is_none()
            && let Some(hop) = self.right_hop()
            && !cx.holds(hop, &self.id)
            && self.add_requested.is_none_or(|t| now >= t + RETRY_MS)
            && let Some(params) = cx.ledger.channel(&hop).map(|l| l.params().clone())
            && let Ok(leaf) = leaf::leaf_in(&params, &self.params, &self.prefund, &self.fees)
            && let Ok(contributions) = leaf::split(&params, &self.params, &self.prefund, &leaf)
        {
            let _ = cx.ledger.add_sub_channel(hop, leaf, contributions, now);
            self.add_requested = Some(now);
        }
    }

    /// A leaf request is retried only while it has not taken effect: an add while the leaf is not in the table, a
    /// removal while it still is.
    pub(super) fn forget_fulfilled_leaf_requests<S: Store>(&mut self, cx: &NodeContext<'_, S>) {
        if let Some(hop) = self.right_hop() {
            if cx.holds(hop, &self.id) {
                self.add_requested = None;
            } else {
                self.remove_requested = None;
            }
        }
    }

    /// S8: this member signs V's post-fund once every ledger of its on V's path holds the leaf in a state both
    /// participants signed and runs undisputed (a running ledger's funding was seen at the chain's confirmation
    /// depth: its post-fund is signed only then), and never once V has a final or an on-chain outcome.
    pub(super) fn sign_postfund_once_leaves_held<S: Store>(&mut self, cx: &mut NodeContext<'_, S>) {
        let funded_here = self
            .own_hops()
            .all(|hop| cx.holds(hop, &self.id) && cx.table_is_signed(hop) && cx.is_running(hop));
        if self.postfund_sigs[self.me].is_none()
            && funded_here
            && self.final_state.is_none()
            && self.onchain_final.is_none()
        {
            self.postfund_sigs[self.me] = Some(cx.sign(&self.postfund()));
            self.gossip(cx, Stage::Postfund);
        }
    }

    /// V is open once its funding certificate, the post-fund signed by the whole path (S4), is complete: from then
    /// on payments, moves and a final are accepted.
    pub(super) fn open_once_certified<S: Store>(&mut self, cx: &mut NodeContext<'_, S>) {
        if self.phase == VirtualPhase::Opening && self.is_funded() {
            self.phase = VirtualPhase::Open;
            cx.event(VirtualEvent::Opened {
                channel_id: self.id,
            });
        }
    }
}
