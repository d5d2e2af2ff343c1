//! Settling V: the first endpoint proposes the final from its payments, every member checks it (S3) and signs at
//! most one (S4); once V resolves (its final signed by the whole path, or its outcome on-chain) each leaf is
//! replaced by its payout (S10) and V is released when no ledger of this member holds it any more.

use alloy::primitives::{Address, U256};
use ferry_ledger::app::payment::payment_data_bytes;
use ferry_ledger::store::Store;
use ferry_ledger::{State, outcome};

use super::super::{MoveError, VirtualError, VirtualEvent, VirtualMessage};
use super::{NodeContext, Once, RETRY_MS, Stage, VirtualChannel, VirtualPhase, verr};
use crate::Result;

impl VirtualChannel {
    /// Settles V: the first endpoint proposes the final state from its payments (at most once); the last endpoint
    /// asks it to.
    pub(crate) fn settle<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) -> Result<()> {
        if !self.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        if self.me == self.last() {
            let to = self.params.participants[0];
            cx.send(
                to,
                VirtualMessage::SettleRequest {
                    channel_id: self.id,
                },
            );
            return Ok(());
        }
        if self.me != 0 {
            return Err(verr(VirtualError::NotMember("an endpoint")));
        }
        if self.final_state.is_some() {
            return Ok(()); // already proposed
        }
        if self.my_move.is_some() {
            return Err(verr(VirtualError::InvalidMove(
                MoveError::AwaitingCountersignature,
            )));
        }
        let last = self.last();
        let mut fin = self.current();
        fin.version = ferry_ledger::state::version(self.final_version_floor())?;
        fin.isFinal = true;
        if cx.app_of(&self.params)?.is_payment() {
            for (j, a) in fin.outcome.assets.iter_mut().enumerate() {
                let a_bal = self.balance(j);
                let total = a.balances[0] + a.balances[last];
                a.balances[0] = a_bal;
                a.balances[last] = total - a_bal;
            }
            fin.appData = payment_data_bytes(&self.paid, &self.received);
        }
        let sig = cx.sign(&fin);
        self.final_state = Some(fin);
        self.final_sigs[0] = Some(sig);
        self.phase = VirtualPhase::Settling;
        self.gossip(cx, Stage::Final);
        self.progress(cx, now);
        Ok(())
    }

    /// The last endpoint (`from`) asks this one, the first, to propose the final.
    pub(crate) fn on_settle_request<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        from: Address,
        now: u64,
    ) -> Result<()> {
        if self.me != 0 || from != self.params.participants[self.last()] {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        self.settle(cx, now)
    }

    /// S3 and the shape of a final state of V.
    pub(super) fn check_final(&self, state: &State) -> Result<()> {
        if state.channelId != self.id || !state.isFinal || state.version.to::<u64>() < 2 {
            return Err(verr(VirtualError::InvalidState(
                "a final state above the post-fund",
            )));
        }
        outcome::validate(
            &state.outcome,
            self.params.participants.len(),
            ferry_ledger::contracts::KIND_VIRTUAL,
        )?;
        outcome::check_conserved(&self.prefund.outcome, &state.outcome)?;
        Ok(())
    }

    /// What this member checks before it signs a final (S4): it holds the certificate; an endpoint also that the
    /// final gives it at least its [entitlement](Self::entitlement).
    pub(super) fn check_final_for_me(&self, state: &State) -> Result<()> {
        if !self.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        if self.is_endpoint() {
            if state.version.to::<u64>() < self.final_version_floor() {
                return Err(verr(VirtualError::FinalMismatch(
                    "the final's version leaves no room above what one endpoint alone can register",
                )));
            }
            for (j, a) in state.outcome.assets.iter().enumerate() {
                if a.balances[self.me] < self.entitlement(j) {
                    return Err(verr(VirtualError::FinalMismatch(
                        "this endpoint would get less than it holds",
                    )));
                }
            }
        }
        Ok(())
    }

    /// What an endpoint can get of asset `j` without the other's help, and so the least a final must give it (S4,
    /// S5, S7): the best of its own accounting ([`balance`](Self::balance): the latest co-signed state, or the
    /// vouchers), V's state registered on-chain (it finalizes by it if nobody moves), and the state its own move
    /// waiting for the other's countersignature leads to (S7 lets it play that move on-chain).
    pub(super) fn entitlement(&self, j: usize) -> U256 {
        let mine = |s: &State| {
            s.outcome
                .assets
                .get(j)
                .and_then(|a| a.balances.get(self.me))
                .copied()
                .unwrap_or_default()
        };
        let registered = self.registered.as_ref().map(|(s, _)| mine(s));
        let pending = self.my_move.as_ref().map(|(s, _)| mine(s));
        [Some(self.balance(j)), registered, pending]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_default()
    }

    /// The lowest version an endpoint proposes or signs a final of V with: above every state one endpoint alone can
    /// register on-chain — the latest state both endpoints signed (or the certificate), then `max_moves` moves of
    /// its own by `progress` (S7 gives each endpoint its own `max_moves`). Since `conclude` lets a whole-path final
    /// of V win over any registered version (S5), this is defence in depth: the final is also the newest state
    /// a single cheating endpoint can reach, so no tool that orders states by version can prefer the cheat.
    fn final_version_floor(&self) -> u64 {
        self.current().version.to::<u64>() + 1 + self.params.maxMoves.to::<u64>()
    }

    /// S4: a final that arrived before the certificate is signed once the certificate is complete (and it passes
    /// this member's checks); at most one final per member, for `final_state` is never replaced.
    pub(super) fn sign_final_once_certified<S: Store>(&mut self, cx: &mut NodeContext<'_, S>) {
        if let Some(fin) = self.final_state.clone()
            && self.final_sigs[self.me].is_none()
            && self.is_funded()
            && self.check_final_for_me(&fin).is_ok()
        {
            self.final_sigs[self.me] = Some(cx.sign(&fin));
            if self.phase == VirtualPhase::Open {
                self.phase = VirtualPhase::Settling;
            }
            self.gossip(cx, Stage::Final);
        }
    }

    /// S10: the state V's leaves resolve by, if any yet: V's outcome on-chain once there is one; before that the
    /// final signed by the whole path, unless a state of V is registered on-chain (then only once V is concluded
    /// with the final, for V may still finalize by another outcome).
    pub(super) fn resolution(&self) -> Option<State> {
        match (&self.onchain_final, self.final_signed()) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(f)) if self.registered.is_none() => Some(f.state),
            _ => None,
        }
    }

    /// Notes when this member first knew how V's leaves resolve (S10), the clock of
    /// [`escalate_stuck_leaves`](Self::escalate_stuck_leaves); kept in the record, so it survives a restart.
    pub(super) fn note_resolved(&mut self, now: u64) {
        if self.resolved_at.is_none() {
            self.resolved_at = Some(now);
        }
    }

    /// V resolved (S10) while opening, open or settling: it is settled, and its leaves go by that resolution.
    pub(super) fn settled_once_resolved<S: Store>(&mut self, cx: &mut NodeContext<'_, S>) {
        if matches!(
            self.phase,
            VirtualPhase::Opening | VirtualPhase::Open | VirtualPhase::Settling
        ) {
            self.phase = VirtualPhase::Settled;
            cx.event(VirtualEvent::Settled {
                channel_id: self.id,
            });
        }
    }

    /// S10: the member standing for A's side of its right ledger asks for V's leaf there to be replaced by its
    /// payout by V's resolution `fin`, as soon as the leaf is in its table (even while another update of the ledger
    /// is in flight: the leader batches the removals of many settled channels into one update); again every
    /// [`RETRY_MS`] while the leaf is present.
    pub(super) fn request_payout<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        fin: &State,
        now: u64,
    ) {
        if let Some(hop) = self.right_hop()
            && cx.holds(hop, &self.id)
            && self.remove_requested.is_none_or(|t| now >= t + RETRY_MS)
            && let Some(payout) = cx.payout_in(hop, self, fin)
        {
            let _ = cx.ledger.remove_sub_channel(hop, self.id, payout, now);
            self.remove_requested = Some(now);
        }
    }

    /// S10: V final on-chain, the member on B's side of its left ledger asks for the leaf's payout there too (once
    /// per start): the member on A's side may be the one that vanished, and an unanswered request makes the ledger
    /// challenge its peer, after which the leaf is claimed (S9).
    pub(super) fn request_payout_from_b_side_once_final_onchain<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        fin: &State,
        now: u64,
    ) {
        if self.onchain_final.is_some()
            && let Some(hop) = self.left_hop()
            && cx.holds(hop, &self.id)
            && cx.once(Once::RightRemoval {
                channel: self.id,
                ledger: hop,
            })
            && let Some(payout) = cx.payout_in(hop, self, fin)
        {
            let _ = cx.ledger.remove_sub_channel(hop, self.id, payout, now);
        }
    }

    /// S9, S10: V is released once its leaf is gone from every ledger of this member on its path: claimed on-chain,
    /// or removed by a state both signed (a leader's table already lacks the leaf while its removal waits for the
    /// peer's signature).
    pub(super) fn release_once_leaves_gone<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        now: u64,
    ) {
        let gone = self
            .own_hops()
            .all(|hop| self.claimed.contains(&hop) || cx.leaf_gone(hop, &self.id));
        if gone && matches!(self.phase, VirtualPhase::Settled | VirtualPhase::Aborted) {
            self.phase = VirtualPhase::Released;
            self.released_at = Some(now);
            cx.event(VirtualEvent::Released {
                channel_id: self.id,
            });
        }
    }
}
