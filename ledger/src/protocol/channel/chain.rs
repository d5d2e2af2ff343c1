//! Reactions to the chain: adjudicator events (deposits, challenges, checkpoints, conclusions, payouts), chain time,
//! a challenge asked for by the user or an unresponsive peer, the answer to a stale challenge with a newer state (S5),
//! and adopting a state both signed that the chain shows newer than the supported one (S14).

use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;

use super::liveness::TxKey;
use super::{Dispute, Env, LedgerChannel, Phase, perr};
use crate::protocol::{ChainTx, LedgerEvent, ProtocolError};
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{Result, SignedState};

impl LedgerChannel {
    /// Handles an adjudicator event for this channel at chain position `pos` (block, log index). Events at or
    /// before the last one applied are ignored, so a re-delivered block changes nothing.
    pub(crate) fn handle_chain_event(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        event: &Event,
        pos: (u64, u64),
        now: u64,
    ) -> Result<()> {
        if self.last_event.is_some_and(|last| pos <= last) {
            return Ok(());
        }
        self.last_event = Some(pos);
        self.record_applied(pos, event);
        match event {
            Event::Deposited(e) => {
                let p = usize::try_from(e.participant).unwrap_or(2);
                if p < 2 {
                    let entry = self.chain_deposited.entry(e.asset).or_default();
                    entry[p] = entry[p].saturating_add(e.taken);
                }
                if self.phase == Phase::Running {
                    self.count_own_top_ups(env, table, now);
                    if let Some((state, sig, batch)) = self.waiting.take() {
                        let before = self.clone();
                        if self.on_propose(env, table, state, sig, batch, now).is_err() {
                            // The waiting proposal went stale; forget it.
                            *self = Self {
                                waiting: None,
                                ..before
                            };
                        }
                    }
                }
            }
            Event::ChallengeRegistered(e) => {
                let registered = SignedState {
                    state: e.state.clone(),
                    sigs: e.sigs.clone(),
                };
                self.on_challenge(env, table, registered, e.finalizesAt.to::<u64>(), now)?;
            }
            Event::Checkpointed(e) => {
                // The peer may checkpoint a state we signed and never got its signature on (a refused proposal, or
                // our post-fund): it is now the only kind of state that can still be registered, so adopt it.
                let checkpointed = SignedState {
                    state: e.state.clone(),
                    sigs: e.sigs.clone(),
                };
                if version_of(&checkpointed.state) == e.version.to::<u64>() {
                    self.adopt_newer(env, table, &checkpointed, now)?;
                }
                let was_disputed = self.dispute.take().is_some();
                if was_disputed && self.phase == Phase::Disputed {
                    self.phase = Phase::Running;
                    self.submitted.retain(|k| !matches!(k, TxKey::Challenge(_)));
                }
            }
            Event::Concluded(e) => {
                let version = e.version.to::<u64>();
                self.concluded = true;
                self.finalize(version, now);
            }
            Event::Withdrawn(e) => {
                if let Some(i) = self.params.participants.iter().position(|p| *p == e.to) {
                    let entry = self.chain_withdrawn.entry(e.asset).or_default();
                    entry[i] = entry[i].saturating_add(e.amount);
                }
                self.events.push(LedgerEvent::PaidOut {
                    channel_id: self.id,
                    asset: e.asset,
                    to: e.to,
                    amount: e.amount,
                });
                // After `concludeAndWithdraw` its payouts close the channel. After a challenge, a payout may be a
                // claim of a sub-channel (same event), so the channel closes when this node's own `withdraw`
                // landed (a repeated one pays nothing).
                if self.phase == Phase::Finalized && self.concluded {
                    self.close_out();
                }
            }
            _ => {}
        }
        self.end_replay_if_whole();
        self.drive(env, now);
        self.maybe_propose(env, table, now);
        Ok(())
    }

    /// Chain time moved to `timestamp` (a new block): a registered challenge may have finalized.
    pub(crate) fn handle_chain_time(&mut self, env: &Env<'_>, timestamp: u64, now: u64) {
        self.chain_time = self.chain_time.max(timestamp);
        if let Some(d) = &self.dispute
            && self.chain_time >= d.finalizes_at
            && self.finalized.is_none()
        {
            let v = d.registered.version();
            self.finalize(v, now);
        }
        self.drive(env, now);
    }

    /// Challenges the channel on-chain with the latest supported state (a final one concludes instead).
    pub(crate) fn dispute(&mut self, _env: &Env<'_>) -> Result<()> {
        match self.phase {
            Phase::Funding | Phase::Running | Phase::Closing => {}
            _ => return Err(self.wrong_phase("a challenge needs a funded, open channel")),
        }
        let Some(s) = self.supported.clone() else {
            return Err(self.wrong_phase("nothing is signed by both yet"));
        };
        if !self.holds_mine(&s.state) {
            return Err(perr(ProtocolError::NothingAtStake));
        }
        if s.state.isFinal {
            self.txs.push(ChainTx::ConcludeAndWithdraw {
                params: self.params.clone(),
                state: s,
            });
        } else {
            self.submitted.insert(TxKey::Challenge(s.version()));
            self.txs.push(ChainTx::Challenge {
                params: self.params.clone(),
                state: s,
            });
        }
        Ok(())
    }

    /// A challenge registered on-chain: adopts the registered state if newer, abandons what is in flight, refuses what
    /// was only queued, and stops updates until a checkpoint.
    pub(super) fn on_challenge(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        registered: SignedState,
        finalizes_at: u64,
        now: u64,
    ) -> Result<()> {
        let rv = registered.version();
        self.adopt_newer(env, table, &registered, now)?;
        // Nothing changes a channel once its challenge is registered. A state we signed and sent may still be
        // completed by the peer and registered: its fate is decided on-chain (adopted if registered, refused at
        // finalization otherwise). What was only queued is refused now.
        if let Some(p) = self.pending.take() {
            self.undo_pending_table(table, &p.undo)?;
            self.abandon(p);
        }
        for q in std::mem::take(&mut self.queue) {
            self.refuse(q, "the channel is disputed".into());
        }
        for q in std::mem::take(&mut self.requests) {
            self.refuse(q, "the channel is disputed".into());
        }
        self.waiting = None;
        self.stop_waiting();
        self.dispute = Some(Dispute {
            registered,
            finalizes_at,
        });
        if !matches!(self.phase, Phase::Finalized | Phase::Closed) {
            if self.supported.as_ref().is_none_or(|s| !s.state.isFinal) {
                self.phase = Phase::Disputed;
            }
            self.events.push(LedgerEvent::Challenged {
                channel_id: self.id,
                version: rv,
                finalizes_at,
            });
        }
        Ok(())
    }

    /// A state both signed, newer than our supported one, that the chain shows (registered by a challenge, or
    /// checkpointed): ours was lost in flight (our own proposal, completed by the peer, or one the peer refused and
    /// countersigned anyway). Adopts it, with its sub-channel table.
    fn adopt_newer(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        registered: &SignedState,
        now: u64,
    ) -> Result<()> {
        let rv = registered.version();
        let ours = self.supported.as_ref().map(SignedState::version);
        if ours.is_none_or(|v| rv > v)
            && registered.is_complete(env.ctx, &self.params)
            && registered.state.channelId == self.id
        {
            if let Some(mut p) = self.pending.clone()
                && p.state == registered.state
            {
                // Supported with the signatures the chain shows (ours alone would not register).
                for (slot, sig) in p.sigs.iter_mut().zip(registered.sigs.iter()) {
                    *slot = Some(sig.clone());
                }
                self.pending = None;
                self.complete(env, p, now);
            } else if let Some(i) = self
                .abandoned
                .iter()
                .position(|a| a.state == registered.state)
            {
                let batch = self.abandoned[i].batch.clone();
                // The proposal in flight is signed too: the peer may register it next, so it joins them; a final
                // stays in flight (the node signs nothing else, S14), its timer armed, so an unresponsive peer is
                // still taken on-chain.
                let mut final_in_flight = None;
                if let Some(p) = self.pending.take() {
                    self.undo_pending_table(table, &p.undo)?;
                    if p.state.isFinal {
                        final_in_flight = Some(p);
                    } else {
                        self.abandon(p);
                    }
                }
                self.adopt(table, i)?;
                self.signed_up_to = self.signed_up_to.max(rv);
                self.finish(env, registered.clone(), &batch, now);
                if let Some(p) = final_in_flight {
                    self.pending = Some(p);
                    self.start_waiting(env, now);
                }
            }
        }
        Ok(())
    }

    /// Disputed: a registered state older than the supported one is answered with a challenge by the newer one (S5).
    pub(super) fn drive_disputed(&mut self) {
        if let (Some(d), Some(s)) = (&self.dispute, &self.supported)
            && s.version() > d.registered.version()
        {
            let (stale, ours) = (d.registered.version(), s.clone());
            if self.holds_mine(&ours.state) && self.once(TxKey::Challenge(ours.version())) {
                self.events.push(LedgerEvent::ChallengeAnswered {
                    channel_id: self.id,
                    stale,
                    answered_with: ours.version(),
                });
                self.txs.push(ChainTx::Challenge {
                    params: self.params.clone(),
                    state: ours,
                });
            }
        }
    }
}
