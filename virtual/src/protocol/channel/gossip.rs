//! Gossip along the path: the signatures a member knows on V's pre-fund, post-fund and final go to both path
//! neighbours when it learns one, to a sender that lacks some, and again while a stage is incomplete; a `Sigs`
//! message merged in (each signature checked against its member) and this member's own signature added where the
//! rules allow; everything sent again after a restart.

use alloy::primitives::Address;
use ferry_ledger::app::payment::sign_voucher;
use ferry_ledger::store::Store;
use ferry_ledger::{Signature, State};

use super::super::{VirtualError, VirtualMessage};
use super::{NodeContext, RESEND_MS, Stage, VirtualChannel, VirtualPhase, verr};
use crate::Result;

impl VirtualChannel {
    /// Sends the signatures known on a stage of V to both path neighbours.
    pub(crate) fn gossip<S: Store>(&self, cx: &mut NodeContext<'_, S>, stage: Stage) {
        self.gossip_inner(cx, stage, None);
    }

    /// Sends the signatures known on a stage of V to one member.
    fn gossip_to<S: Store>(&self, cx: &mut NodeContext<'_, S>, stage: Stage, to: Address) {
        self.gossip_inner(cx, stage, Some(to));
    }

    fn gossip_inner<S: Store>(
        &self,
        cx: &mut NodeContext<'_, S>,
        stage: Stage,
        only: Option<Address>,
    ) {
        let (state, sigs, params, fees) = match stage {
            Stage::Prefund => (
                self.prefund.clone(),
                self.prefund_sigs.clone(),
                Some(Box::new(self.params.clone())),
                self.fees.clone(),
            ),
            Stage::Postfund => (self.postfund(), self.postfund_sigs.clone(), None, vec![]),
            Stage::Final => match &self.final_state {
                Some(f) => (f.clone(), self.final_sigs.clone(), None, vec![]),
                None => return,
            },
        };
        let mut to = Vec::new();
        if let Some(only) = only {
            to.push(only);
        } else {
            if self.me > 0 {
                to.push(self.params.participants[self.me - 1]);
            }
            if self.me < self.last() {
                to.push(self.params.participants[self.me + 1]);
            }
        }
        for peer in to {
            cx.send(
                peer,
                VirtualMessage::Sigs {
                    params: params.clone(),
                    state: state.clone(),
                    sigs: sigs.clone(),
                    fees: fees.clone(),
                },
            );
        }
    }

    /// After a restart: sends again the stage of V this member has not completed (what it knows of it; a peer
    /// lacking a signature of a stage this member did complete keeps gossiping that stage, and is answered with
    /// what it lacks), and an endpoint's latest vouchers, then runs V's steps. Nothing for a released V. A hub
    /// restarted with many open V's so sends nothing for them but what is still in flight (its transport resends
    /// what a peer did not acknowledge).
    pub(crate) fn resume<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) {
        if self.phase == VirtualPhase::Released {
            return;
        }
        if let Some(stage) = self.incomplete_stage() {
            self.gossip(cx, stage);
        }
        if let Some(other) = self.other_endpoint() {
            for (j, paid) in self.paid.iter().enumerate() {
                if !paid.is_zero() {
                    let asset = self.prefund.outcome.assets[j].asset;
                    let sig = sign_voucher(cx.signer, &self.params, asset, *paid);
                    cx.send(
                        self.params.participants[other],
                        VirtualMessage::Voucher {
                            channel_id: self.id,
                            asset,
                            cumulative: *paid,
                            sig,
                        },
                    );
                }
            }
        }
        self.progress(cx, now);
    }

    /// A `Sigs` message from `from` about this V (known here): the signatures on V's pre-fund, post-fund or a final,
    /// merged in after each is checked; a new final only after S3, its shape and A's signature are checked (S4).
    /// This member then signs the final where the rules allow, passes on what it learned (or answers a sender
    /// lacking signatures it holds), and V takes its steps. A refusal changes nothing.
    pub(crate) fn on_sigs<S: Store>(
        &mut self,
        cx: &mut NodeContext<'_, S>,
        from: Address,
        state: State,
        sigs: Vec<Option<Signature>>,
        now: u64,
    ) -> Result<()> {
        if !self.params.participants.contains(&from) {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let version = state.version.to::<u64>();
        let stage = if state.isFinal {
            Stage::Final
        } else if version == 0 && state == self.prefund {
            Stage::Prefund
        } else if version == 1 && state == self.postfund() {
            Stage::Postfund
        } else {
            return Err(verr(VirtualError::InvalidState(
                "not V's pre-fund, post-fund or a final state",
            )));
        };
        // Changes go to a copy, kept only once every check passed.
        let mut ch = self.clone();
        let params = &self.params;
        let learned = match stage {
            Stage::Prefund => {
                VirtualChannel::merge(cx.chain, params, &state, &mut ch.prefund_sigs, &sigs)?
            }
            Stage::Postfund => {
                VirtualChannel::merge(cx.chain, params, &state, &mut ch.postfund_sigs, &sigs)?
            }
            Stage::Final => {
                match &ch.final_state {
                    Some(f) if *f != state => return Err(verr(VirtualError::ConflictingFinal)),
                    Some(_) => {}
                    None => {
                        // Checked before anything is kept: a final of V keeps S3, version above the post-fund, and
                        // comes with A's signature (only A proposes a final; `merge` below checks it). A final
                        // without it, kept and countersigned, would use up every member's one final (S4) and
                        // wedge V's cooperative settle for good.
                        ch.check_final(&state)?;
                        if sigs.first().is_none_or(Option::is_none) {
                            return Err(verr(VirtualError::FinalMismatch(
                                "a final comes with A's signature",
                            )));
                        }
                        ch.final_state = Some(state.clone());
                    }
                }
                VirtualChannel::merge(cx.chain, params, &state, &mut ch.final_sigs, &sigs)?
            }
        };
        let me = ch.me;
        // The sender lacks signatures we hold: answer it with ours (gossip converges even when we learned nothing).
        let ours = match stage {
            Stage::Prefund => &ch.prefund_sigs,
            Stage::Postfund => &ch.postfund_sigs,
            Stage::Final => &ch.final_sigs,
        };
        let sender_lacks = ours
            .iter()
            .zip(sigs.iter())
            .any(|(o, s)| o.is_some() && s.is_none());
        // Our own signature where the rules allow it now.
        let mut signed = false;
        if let Stage::Final = stage
            && ch.final_sigs[me].is_none()
            && ch.is_funded()
            && ch.check_final_for_me(&state).is_ok()
        {
            ch.final_sigs[me] = Some(cx.sign(&state));
            ch.phase = VirtualPhase::Settling;
            signed = true;
        }
        *self = ch;
        if learned || signed {
            self.gossip(cx, stage);
        } else if sender_lacks {
            self.gossip_to(cx, stage, from);
        }
        self.progress(cx, now);
        Ok(())
    }

    /// The first stage of V whose signatures this member does not all hold yet, while V is live off-chain.
    fn incomplete_stage(&self) -> Option<Stage> {
        let complete = |sigs: &[Option<Signature>]| sigs.iter().all(Option::is_some);
        if matches!(self.phase, VirtualPhase::Aborted | VirtualPhase::Released)
            || self.onchain_final.is_some()
        {
            None
        } else if !complete(&self.prefund_sigs) {
            Some(Stage::Prefund)
        } else if !complete(&self.postfund_sigs) {
            // Before the final: a member that holds a final but not the certificate cannot sign it yet.
            Some(Stage::Postfund)
        } else if self.final_state.is_some() && !complete(&self.final_sigs) {
            Some(Stage::Final)
        } else {
            None
        }
    }

    /// While a stage of V is incomplete, gossips it again every [`RESEND_MS`] (and resends a move that waits for
    /// its countersignature).
    pub(super) fn resend_if_due<S: Store>(&mut self, cx: &mut NodeContext<'_, S>, now: u64) {
        if let (Some((state, sig)), Some(other)) = (self.my_move.clone(), self.other_endpoint()) {
            match self.resend_at {
                Some(t) if now >= t => {
                    let peer = self.params.participants[other];
                    cx.send(peer, VirtualMessage::Move { state, sig });
                    self.resend_at = Some(now + RESEND_MS);
                }
                None => self.resend_at = Some(now + RESEND_MS),
                _ => {}
            }
            return;
        }
        let stage = self.incomplete_stage();
        match (stage, self.resend_at) {
            (None, _) => self.resend_at = None,
            (Some(_), None) => self.resend_at = Some(now + RESEND_MS),
            (Some(stage), Some(t)) if now >= t => {
                self.gossip(cx, stage);
                self.resend_at = Some(now + RESEND_MS);
            }
            _ => {}
        }
    }
}
