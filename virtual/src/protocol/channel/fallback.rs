//! V on-chain, when a path member stops cooperating or cheats: challenges with the best state this member holds,
//! answers to stale registrations (S5), conclusions with the final (S5, S10), V's registration and outcome as the
//! chain reports them, claims of leaves in finalized ledgers (S9), the refund of a given-up open (S8) and ledgers
//! taken on-chain when a resolved V's leaf stays in them.

use alloy::primitives::B256;
use ferry_ledger::protocol::Phase;
use ferry_ledger::store::Store;
use ferry_ledger::{Signature, SignedState, State};

use super::super::{AppRules, VirtualError, VirtualEvent, VirtualTx};
use super::{
    ESCALATE_MS, NodeContext, OPEN_TIMEOUT_MS, Once, RETRY_MS, VirtualChannel, VirtualPhase, verr,
};
use crate::Result;

impl VirtualChannel {
    /// What [`VirtualNode::challenge`](super::super::VirtualNode::challenge) submits: V concluded with its final
    /// when this member holds one signed by the whole path, else challenged with the best state it holds.
    pub(crate) fn challenge_tx(&self) -> Result<VirtualTx> {
        if !self.holds_mine() {
            return Err(verr(VirtualError::NothingAtStake));
        }
        Ok(match self.final_signed() {
            Some(state) => VirtualTx::Conclude {
                params: self.params.clone(),
                state,
            },
            None => self.best_challenge().ok_or(verr(VirtualError::NotFunded))?,
        })
    }

    /// Whether V holds anything of this member's (S16): for an endpoint, its entitlement in some asset (its balance
    /// by the newest state it holds, vouchers included, V's registered state or its pending move); for an
    /// intermediary, what it locks for V in its own ledgers — B's side of V in its left ledger, A's side and the
    /// fees it passes on in its right ledger — or its own fee once earned (V got past its pre-fund; a failed open
    /// pays the fee back to A's side). A member with nothing in V sends no transaction for it: whoever has
    /// something there settles it.
    pub(crate) fn holds_mine(&self) -> bool {
        if self.other_endpoint().is_some() {
            return (0..self.prefund.outcome.assets.len()).any(|j| !self.entitlement(j).is_zero());
        }
        let last = self.last();
        let locked = self.prefund.outcome.assets.iter().any(|a| {
            [0, last]
                .iter()
                .any(|side| a.balances.get(*side).is_some_and(|b| !b.is_zero()))
        });
        let passed_on = self.fees.iter().skip(self.me + 1).any(|f| !f.is_zero());
        let earned = self.is_funded() && self.fees.get(self.me).is_some_and(|f| !f.is_zero());
        locked || passed_on || earned
    }

    /// Asks for `tx` if V holds something of this member's ([`VirtualChannel::holds_mine`]).
    pub(super) fn submit<S: Store>(&self, cx: &mut NodeContext<'_, S>, tx: VirtualTx) {
        if self.holds_mine() {
            cx.tx(tx);
        }
    }

    /// The newest state of V this member can register: the latest state both endpoints signed (with the
    /// certificate), the certificate, or the pre-fund signed by the whole path.
    fn best_challenge(&self) -> Option<VirtualTx> {
        let params = self.params.clone();
        if let (Some(latest), Some(cert)) = (self.latest.clone(), self.certificate()) {
            return Some(VirtualTx::Challenge {
                params,
                state: latest,
                cert: Some(cert),
            });
        }
        if let Some(cert) = self.certificate() {
            return Some(VirtualTx::Challenge {
                params,
                state: SignedState::from(cert),
                cert: None,
            });
        }
        let sigs: Vec<Signature> = self
            .prefund_sigs
            .iter()
            .cloned()
            .collect::<Option<Vec<_>>>()?;
        Some(VirtualTx::Challenge {
            params,
            state: SignedState {
                state: self.prefund.clone(),
                sigs,
            },
            cert: None,
        })
    }

    fn best_version(&self) -> Option<u64> {
        match self.best_challenge()? {
            VirtualTx::Challenge { state, .. } => Some(state.version()),
            VirtualTx::Progress { .. }
            | VirtualTx::Conclude { .. }
            | VirtualTx::Claim { .. }
            | VirtualTx::ReclaimBond { .. } => None,
        }
    }

    /// S5: answers V's registered state of `version` with the newest state this member can register, when that is
    /// newer, once per registered version (the deadline stays).
    fn answer_registration<S: Store>(&self, cx: &mut NodeContext<'_, S>, version: u64) {
        if self.best_version().is_some_and(|best| best > version)
            && cx.once(Once::Answer(self.id, version))
            && let Some(tx) = self.best_challenge()
        {
            self.submit(cx, tx);
        }
    }

    /// This member's `progress` move from V's registered state `from` (of `version`) to `to`, once per
    /// registration (`None` when one was asked for already).
    pub(super) fn own_move_once<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        version: u64,
        from: State,
        to: State,
        sig: Signature,
    ) -> Option<VirtualTx> {
        if !cx.once(Once::OwnMove(self.id, version)) {
            return None;
        }
        Some(VirtualTx::Progress {
            params: self.params.clone(),
            from,
            to,
            mover: self.me,
            sig,
        })
    }

    /// S5, S7, S10 from the chain: a state of V was registered (by a challenge or a move) with its deadline. A stale
    /// one (by a cheating member or a lagging one) is answered with the newest state this member holds, before
    /// the deadline, which stays (S5); a payee whose vouchers the registered state does not count redeems them with
    /// one move, and a player whose move waits for the other's countersignature plays it on-chain on top of the
    /// registered state when it is that state's next move (the other stopped mid-round) (S7). A member holding the
    /// final signed by the whole path concludes V with it instead (see
    /// [`conclude_with_final_when_onchain`](Self::conclude_with_final_when_onchain)).
    pub(crate) fn on_registered<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        state: State,
        finalizes_at: u64,
    ) {
        let version = state.version.to::<u64>();
        if self.onchain_final.is_none() {
            self.registered = Some((state, finalizes_at));
            cx.sync(self);
        }
        if self.onchain_final.is_none() && self.final_signed().is_none() {
            self.answer_registration(cx, version);
            let own_move = match cx.app_of(&self.params).ok() {
                Some(AppRules::Payment) => self.redeem(cx, version),
                Some(AppRules::Turns(_)) => self.move_onchain(cx, version),
                None => None,
            };
            if let Some(tx) = own_move {
                self.submit(cx, tx);
            }
        }
    }

    /// V's leaf in `ledger` was claimed on-chain; returns whether that is news.
    pub(crate) fn on_claimed(&mut self, ledger: B256) -> bool {
        if self.claimed.contains(&ledger) {
            return false;
        }
        self.claimed.push(ledger);
        true
    }

    /// V was concluded on-chain at `version`: when that is the final this member holds, it is V's on-chain outcome
    /// (S10). Returns whether it was.
    pub(crate) fn on_concluded<S: Store>(&mut self, cx: &NodeContext<'_, S>, version: u64) -> bool {
        let Some(fin) = self
            .final_state
            .clone()
            .filter(|f| f.version.to::<u64>() == version)
        else {
            return false;
        };
        self.onchain_final = Some(fin);
        cx.sync(self);
        true
    }

    /// S10: a block at `timestamp` passed the deadline of V's registered state, and V had no on-chain outcome yet:
    /// that state is V's outcome on-chain, by which every ledger may replace V's leaf off-chain. Returns whether it
    /// became so.
    pub(crate) fn final_by_deadline<S: Store>(
        &mut self,
        cx: &NodeContext<'_, S>,
        timestamp: u64,
    ) -> bool {
        if self.onchain_final.is_some() {
            return false;
        }
        let Some((state, _)) = self.registered.clone().filter(|(_, at)| timestamp >= *at) else {
            return false;
        };
        self.onchain_final = Some(state);
        cx.sync(self);
        true
    }

    /// S8 for a member that did sign the post-fund: it may never refund, so its way out of an open that did not
    /// complete within [`OPEN_TIMEOUT_MS`] is the chain. It challenges V with the pre-fund signed by the whole path
    /// (once per start, unless V is registered already); a member holding the certificate answers with it, and once
    /// V is final on-chain every ledger resolves V's leaf by that outcome (S10, or a claim where the peer is gone).
    pub(super) fn challenge_open_stuck_after_postfund<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        now: u64,
    ) {
        if self.phase == VirtualPhase::Opening
            && self.postfund_sigs[self.me].is_some()
            && !self.is_funded()
            && self.registered.is_none()
            && self.onchain_final.is_none()
            && now >= self.joined_at.saturating_add(OPEN_TIMEOUT_MS)
            && let Some(tx) = self.best_challenge()
            && cx.once(Once::Challenge(self.id))
        {
            self.submit(cx, tx);
            cx.event(VirtualEvent::OpenFailed {
                channel_id: self.id,
            });
        }
    }

    /// Whether a ledger of this member on V's path went on-chain (disputed or finalized) with V's leaf in its table.
    pub(super) fn leaf_in_ledger_onchain<S: Store>(&self, cx: &NodeContext<'_, S>) -> bool {
        self.own_hops().any(|hop| {
            cx.holds(hop, &self.id)
                && cx
                    .ledger
                    .channel(&hop)
                    .is_some_and(|l| matches!(l.phase(), Phase::Disputed | Phase::Finalized))
        })
    }

    /// S9: a ledger of this member went on-chain with V's leaf in its table (`ledger_onchain`): the leaf can only be
    /// claimed there once V is final on-chain, so V is challenged with the best state this member holds (once per
    /// start, unless V is registered already or this member holds V's final). A given-up open's leaf can be in such
    /// a ledger too: the peer may register the update adding it, which this member signed.
    pub(super) fn challenge_when_ledger_onchain<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        ledger_onchain: bool,
    ) {
        if self.registered.is_none()
            && self.onchain_final.is_none()
            && self.phase != VirtualPhase::Released
            && self.final_signed().is_none()
            && ledger_onchain
            && let Some(tx) = self.best_challenge()
            && cx.once(Once::Challenge(self.id))
        {
            self.submit(cx, tx);
        }
    }

    /// S10 and S5: V has to be resolved on-chain (a state of it is registered there, or a ledger of this member went
    /// on-chain with its leaf) and this member holds V's final signed by the whole path: it concludes V with that
    /// final, which finalizes V at once by the outcome the ledgers resolve by off-chain. A challenge with the
    /// certificate instead would let V finalize by another outcome than a ledger already paid out by the final (the
    /// colluding endpoints' stale or newer state), robbing the intermediary in between. Once per start and
    /// registration.
    pub(super) fn conclude_with_final_when_onchain<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        ledger_onchain: bool,
    ) {
        if self.onchain_final.is_none()
            && (self.registered.is_some() || ledger_onchain)
            && let Some(fin) = self.final_signed()
            && cx.once(Once::Conclude(
                self.id,
                self.registered
                    .as_ref()
                    .map_or(u64::MAX, |(s, _)| s.version.to::<u64>()),
            ))
        {
            self.submit(
                cx,
                VirtualTx::Conclude {
                    params: self.params.clone(),
                    state: fin,
                },
            );
        }
    }

    /// S8: a given-up open (this member never signed the post-fund) is refunded off-chain: the member standing for
    /// A's side of its right ledger asks for the leaf's removal by the pre-fund (each side gets its contribution
    /// back, A's side the routing fee), and V is released once none of its ledgers holds the leaf. Once V is final
    /// on-chain (by its pre-fund) its leaves follow that outcome like any V's, claims included, and this rule no
    /// longer applies. Returns whether it applied (V then takes no other step).
    pub(super) fn refund_given_up_open<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        now: u64,
    ) -> bool {
        if self.phase != VirtualPhase::Aborted || self.onchain_final.is_some() {
            return false;
        }
        self.escalate_stuck_leaves(cx, now);
        let id = self.id;
        if let Some(hop) = self.right_hop()
            && cx.holds(hop, &id)
            && self.remove_requested.is_none_or(|t| now >= t + RETRY_MS)
            && let Some(payout) = cx.payout_in(hop, self, &self.prefund)
        {
            let _ = cx.ledger.remove_sub_channel(hop, id, payout, now);
            self.remove_requested = Some(now);
        }
        if self.own_hops().all(|hop| cx.leaf_gone(hop, &id)) {
            self.phase = VirtualPhase::Released;
            self.released_at = Some(now);
            self.remove_requested = None;
            cx.event(VirtualEvent::Released { channel_id: id });
        }
        true
    }

    /// S5: V registered on-chain with an older state than the newest this member now holds (it completed the
    /// certificate, or got a newer co-signed state, after the registration) is answered now as on the
    /// registration, once per registered version. A hub that completes the certificate after someone registered
    /// V's pre-fund thereby earns its fee (S9 pays the leaf's fee by whether V got past its pre-fund).
    pub(super) fn answer_registration_with_newer_state<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
    ) {
        if self.onchain_final.is_none()
            && self.final_signed().is_none()
            && let Some((reg, _)) = &self.registered
        {
            self.answer_registration(cx, reg.version.to::<u64>());
        }
    }

    /// S9, S10: a leaf that V's resolution should have removed (a refund, or the payout by V's final or on-chain
    /// outcome) but that is still in one of this member's running ledgers [`ESCALATE_MS`] after this member knew
    /// the resolution: the peer refuses or ignores the removal, so the ledger is challenged with its latest state
    /// (once per start) and V's leaf is claimed on-chain once both are final. Without this a refused removal would
    /// lock the leaf's funds for as long as the peer likes.
    pub(super) fn escalate_stuck_leaves<S: Store>(&self, cx: &mut NodeContext<'_, S>, now: u64) {
        let Some(since) = self.resolved_at else {
            return;
        };
        // V registered and not final yet: its outcome is on its way, and the peer may rightly wait for it.
        if now < since.saturating_add(ESCALATE_MS)
            || (self.registered.is_some() && self.onchain_final.is_none())
        {
            return;
        }
        for hop in self.own_hops() {
            if cx.holds(hop, &self.id) && cx.is_running(hop) && cx.once(Once::Escalate(hop)) {
                let _ = cx.ledger.challenge(hop);
            }
        }
    }

    /// S17: V final on-chain with a bond in its params: the bond is asked back, once per start (the runtime sends
    /// it only when the bond held is this member's own, whatever this member holds in V).
    pub(super) fn reclaim_bond_once_final_onchain<S: Store>(&self, cx: &mut NodeContext<'_, S>) {
        if !self.params.challengeBond.is_zero()
            && self.onchain_final.is_some()
            && cx.asked.insert(Once::ReclaimBond(self.id))
        {
            cx.tx(VirtualTx::ReclaimBond {
                channel_id: self.id,
            });
        }
    }

    /// S9: a ledger of this member finalized on-chain with V's leaf in its finalized state, and V final on-chain:
    /// the leaf is claimed there with its proof from this member's table (the table is that state's: a pending
    /// proposal's change is undone when the challenge lands), once per start.
    pub(super) fn claim_leaves_in_finalized_ledgers<S: Store>(&self, cx: &mut NodeContext<'_, S>) {
        let id = self.id;
        for hop in self.own_hops() {
            if let Some(l) = cx.ledger.channel(&hop)
                && let Some(lstate) = l.finalized_state()
                && let Some(table) = cx.ledger.table(&hop)
                && table.root() == lstate.outcome.subRoot
                && table.contains(&id)
                && !self.claimed.contains(&hop)
                && let Some(vstate) = self.onchain_final.clone()
                && let Ok((leaf, proof)) = table.leaf_with_proof(&id)
                && cx.asked.insert(Once::Claim {
                    channel: id,
                    ledger: hop,
                })
            {
                let tx = VirtualTx::Claim {
                    ledger: l.params().clone(),
                    ledger_state: lstate.clone(),
                    leaf,
                    proof,
                    virt: self.params.clone(),
                    virt_state: vstate,
                };
                self.submit(cx, tx);
            }
        }
    }
}
