//! A running channel's updates, common to both roles: a user's operation (`submit`), the checks each side makes on an
//! operation before it enters a batch (who may take whose funds; the sub-channel guard, S8 for an added leaf and S10
//! for a removed one), the exchange of signatures that completes a state, and what a newly supported state changes.

use alloy::primitives::B256;
use ferry_contracts::Signature;

use super::{Env, LedgerChannel, Pending, Phase, Role, perr};
use crate::protocol::ops::{Op, Proposal};
use crate::protocol::{LedgerEvent, LedgerMessage, ProtocolError};
use crate::signature::recover;
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{ChainContext, Error, Result, SignedState};

impl LedgerChannel {
    /// Queues an operation of this node (a user command): the leader batches it, the follower sends it to the
    /// leader as a request. Refused at once when it takes the peer's funds, when the channel is not running, or
    /// when this node's balance is short for a payment or withdrawal.
    pub(crate) fn submit(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        op: Op,
        now: u64,
    ) -> Result<()> {
        if self.phase != Phase::Running {
            return Err(self.wrong_phase("a new operation needs a running channel"));
        }
        if let Some(f) = &self.signed_final {
            return Err(perr(ProtocolError::FinalSigned(version_of(f))));
        }
        let proposal = Proposal {
            proposer: self.me,
            seq: self.next_seq,
            op,
        };
        self.authorize(env, &proposal)?;
        self.guard_remove(env, table, &proposal)?;
        if let Op::Pay { asset, amount, .. } | Op::Withdraw { asset, amount, .. } = &proposal.op {
            if amount.is_zero() {
                return Err(perr(ProtocolError::ZeroAmount));
            }
            if self.balance(asset) < *amount {
                return Err(perr(ProtocolError::Insufficient(
                    "the balance is below the amount",
                )));
            }
        }
        if let Op::Close = proposal.op {
            self.closer = true;
        }
        self.next_seq += 1;
        match self.role() {
            Role::Leader => {
                self.queue.push(proposal);
                self.maybe_propose(env, table, now);
            }
            Role::Follower => self.request(env, proposal, now),
        }
        Ok(())
    }

    /// The checks one side makes on an operation before it enters a batch (the leader on its own operations and
    /// on the follower's requests; the follower on the leader's batch): who may take whose funds, and the guard
    /// for sub-channels.
    pub(super) fn authorize(&self, env: &Env<'_>, p: &Proposal) -> Result<()> {
        if p.proposer > 1 {
            return Err(Error::InvalidParticipant(usize::from(p.proposer)));
        }
        if let Some(victim) = p.op.costs()
            && victim != p.proposer
        {
            return Err(perr(ProtocolError::Unauthorized {
                op: p.op.name(),
                victim,
            }));
        }
        match &p.op {
            // The peer's top-up in an asset this node does not take (a token off its list) is refused by name,
            // as at open: it would bring the token into the channel.
            Op::TopUp { asset, .. } if p.proposer != self.me && !env.config.open.allows(asset) => {
                Err(perr(ProtocolError::AssetNotAccepted(*asset)))
            }
            Op::AddSub {
                leaf,
                contributions,
                ..
            } => env
                .guard
                .check_add(&self.params, leaf, contributions)
                .map_err(|e| perr(ProtocolError::GuardRefused(e))),
            // A removal is checked against the leaf in the table ([`Self::guard_remove`]).
            _ => Ok(()),
        }
    }

    /// S10: the guard's check of a removal, against the leaf in the table.
    pub(super) fn guard_remove(&self, env: &Env<'_>, table: &SubTree, p: &Proposal) -> Result<()> {
        if let Op::RemoveSub { channel_id, payout } = &p.op {
            let leaf = table
                .get(channel_id)
                .ok_or(Error::UnknownSubChannel(*channel_id))?;
            env.guard
                .check_remove(&self.params, leaf, payout)
                .map_err(|e| perr(ProtocolError::GuardRefused(e)))?;
        }
        Ok(())
    }

    /// The peer's `Sign` for a version: completes the state in flight (pre-fund, post-fund, a proposal, the final),
    /// or answers again for the supported one; the peer's post-fund signature arriving before our deposits are seen
    /// is kept.
    /// The signature handling `msg` from the peer would recover and the digest it is recovered against, computed
    /// without changing anything (see `LedgerNode::signatures_to_check`): an update's or the post-fund's
    /// signature this channel waits for, or the leader's proposal. `None` when handling it recovers nothing new.
    pub(crate) fn signature_to_check(
        &self,
        ctx: &ChainContext,
        msg: &LedgerMessage,
    ) -> Option<(B256, Signature)> {
        match msg {
            LedgerMessage::Sign { version, sig, .. } => {
                if let Some(p) = &self.pending {
                    return (version_of(&p.state) == *version
                        && p.sigs[self.peer_index()].is_none())
                    .then(|| (ctx.digest(&p.state), sig.clone()));
                }
                if self.phase == Phase::Funding && *version == 1 {
                    let mut postfund = self.prefund.clone();
                    postfund.version = crate::state::version(1).ok()?;
                    return Some((ctx.digest(&postfund), sig.clone()));
                }
                None
            }
            LedgerMessage::Propose { state, sig, .. } => Some((ctx.digest(state), sig.clone())),
            _ => None,
        }
    }

    pub(super) fn on_sign(
        &mut self,
        env: &Env<'_>,
        version: u64,
        sig: Signature,
        have_yours: bool,
        now: u64,
    ) -> Result<()> {
        let peer = self.peer_index();
        if let Some(p) = self.pending.clone()
            && version_of(&p.state) == version
        {
            let ours = p.sigs[usize::from(self.me)].clone();
            if p.sigs[peer].is_none() {
                let digest = env.ctx.digest(&p.state);
                if recover(&digest, &sig)? != self.params.participants[peer] {
                    return Err(Error::WrongSigner { index: peer });
                }
                let mut p = p;
                p.sigs[peer] = Some(sig);
                self.pending = None;
                self.complete(env, p, now);
            }
            if !have_yours && let Some(ours) = ours {
                self.out.push(LedgerMessage::Sign {
                    channel_id: self.id,
                    version,
                    sig: ours,
                    have_yours: true,
                });
            }
            return Ok(());
        }
        if let Some(s) = &self.supported
            && s.version() == version
        {
            if !have_yours {
                self.out.push(LedgerMessage::Sign {
                    channel_id: self.id,
                    version,
                    sig: s.sigs[usize::from(self.me)].clone(),
                    have_yours: true,
                });
            }
            return Ok(());
        }
        if self.phase == Phase::Funding && version == 1 && self.pending.is_none() {
            let mut postfund = self.prefund.clone();
            postfund.version = crate::state::version(1)?;
            let digest = env.ctx.digest(&postfund);
            if recover(&digest, &sig)? != self.params.participants[peer] {
                return Err(Error::WrongSigner { index: peer });
            }
            self.early_postfund = Some(sig);
            return Ok(());
        }
        if version < self.latest_version() {
            return Ok(()); // an old duplicate
        }
        Err(perr(ProtocolError::UnexpectedVersion(version)))
    }

    /// The state in flight got the peer's signature: it is supported, and no abandoned proposal is left to adopt.
    pub(super) fn complete(&mut self, env: &Env<'_>, pending: Pending, now: u64) {
        let sigs = pending.sigs.iter().flatten().cloned().collect();
        let signed = SignedState {
            state: pending.state,
            sigs,
        };
        self.abandoned.clear();
        self.adopted = None;
        self.finish(env, signed, &pending.batch, now);
    }

    /// A state became supported: phase changes, requests done, events.
    pub(super) fn finish(
        &mut self,
        env: &Env<'_>,
        signed: SignedState,
        batch: &[Proposal],
        now: u64,
    ) {
        let version = signed.version();
        let is_final = signed.state.isFinal;
        self.supported = Some(signed);
        self.stop_waiting();
        match self.phase {
            Phase::Proposed => self.phase = Phase::Funding,
            Phase::Funding if version >= 1 => {
                self.phase = Phase::Running;
                self.events.push(LedgerEvent::Funded {
                    channel_id: self.id,
                });
            }
            _ => self.events.push(LedgerEvent::Updated {
                channel_id: self.id,
                version,
            }),
        }
        let me = self.me;
        self.requests
            .retain(|r| !batch.iter().any(|p| p.proposer == me && p.seq == r.seq));
        // A final completed after the chain already finalized the channel (the peer concluded with it before its
        // signature reached us) changes nothing: the channel stays finalized or closed, no closing transaction.
        if is_final && !matches!(self.phase, Phase::Finalized | Phase::Closed) {
            self.phase = Phase::Closing;
            self.closing_since = Some(now);
            self.closer |= batch
                .iter()
                .any(|p| p.op == Op::Close && p.proposer == self.me);
        }
        if !self.requests.is_empty() {
            self.start_waiting(env, now);
        }
    }
}
