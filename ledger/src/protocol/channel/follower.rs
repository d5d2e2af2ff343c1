//! The follower's side (participant 1): its operations go to the leader as requests; it checks the leader's
//! proposals (its own operations only as it requested them, the leader's through the guard, top-ups once the chain
//! shows them), recomputes the state, countersigns it through the S14 gate or rejects it by index.

use ferry_contracts::{Signature, State};

use super::{Env, LedgerChannel, Phase, Role, perr};
use crate::protocol::ops::{self, Op, Proposal};
use crate::protocol::{LedgerEvent, LedgerMessage, ProtocolError};
use crate::signature::recover;
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{Error, Result, SignedState};

/// Whether the leader's batch entry `p` is our request `r` (the leader places an added leaf's slot itself).
fn same_request(r: &Proposal, p: &Proposal) -> bool {
    match (&r.op, &p.op) {
        (
            Op::AddSub {
                leaf: l1,
                contributions: c1,
                ..
            },
            Op::AddSub {
                leaf: l2,
                contributions: c2,
                ..
            },
        ) => r.seq == p.seq && r.proposer == p.proposer && l1 == l2 && c1 == c2,
        _ => r == p,
    }
}

impl LedgerChannel {
    /// Sends an operation of this node to the leader as a request: every request not yet included or refused goes
    /// again, oldest first, so the leader never waits on a gap.
    pub(super) fn request(&mut self, env: &Env<'_>, proposal: Proposal, now: u64) {
        self.requests.push(proposal);
        self.out.push(LedgerMessage::Request {
            channel_id: self.id,
            proposals: self.requests.clone(),
        });
        self.start_waiting(env, now);
    }

    /// The leader's `Propose`: answered again if it is a resend, else checked operation by operation, kept until the
    /// chain shows its top-ups, rebuilt from the supported state and countersigned if it is the same state, rejected by
    /// index otherwise.
    pub(super) fn on_propose(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        state: State,
        sig: Signature,
        batch: Vec<Proposal>,
        now: u64,
    ) -> Result<()> {
        self.require(Role::Follower)?;
        if state.channelId != self.id {
            return Err(Error::WrongChannel {
                got: state.channelId,
                expected: self.id,
            });
        }
        let version = version_of(&state);
        if let Some(s) = &self.supported
            && s.version() == version
        {
            if s.state == state {
                // A resend: our answer was lost.
                self.out.push(LedgerMessage::Sign {
                    channel_id: self.id,
                    version,
                    sig: s.sigs[1].clone(),
                    have_yours: true,
                });
                return Ok(());
            }
            return Err(perr(ProtocolError::ConflictingState(version)));
        }
        if version <= self.latest_version() {
            return Err(perr(ProtocolError::StaleVersion {
                version,
                latest: self.latest_version(),
            }));
        }
        let digest = env.ctx.digest(&state);
        if recover(&digest, &sig)? != self.params.participants[0] {
            return Err(Error::WrongSigner { index: 0 });
        }
        if self.phase != Phase::Running {
            return Err(self.wrong_phase("updates need a running channel"));
        }
        let reject = |ch: &mut Self, index: usize, reason: String| {
            ch.out.push(LedgerMessage::Reject {
                channel_id: ch.id,
                version,
                index: index as u64,
                reason: reason.clone(),
            });
            ch.events.push(LedgerEvent::RejectedProposal {
                channel_id: ch.id,
                version,
                reason,
            });
        };
        if batch.len() > env.config.max_batch {
            reject(self, batch.len(), "batch too large".into());
            return Ok(());
        }
        for (i, p) in batch.iter().enumerate() {
            let checked = if p.proposer == Role::Follower.index() {
                if self.requests.iter().any(|r| same_request(r, p)) {
                    Ok(())
                } else {
                    Err(perr(ProtocolError::Unauthorized {
                        op: p.op.name(),
                        victim: Role::Follower.index(),
                    }))
                }
            } else {
                self.authorize(env, p)
                    .and_then(|()| self.guard_remove(env, table, p))
            };
            if let Err(e) = checked {
                reject(self, i, e.to_string());
                return Ok(());
            }
        }
        let Some(base) = self.supported.as_ref().map(|s| s.state.clone()) else {
            return Err(self.wrong_phase("no supported state"));
        };
        if !self.topups_confirmed(&base, &batch) {
            self.waiting = Some((state, sig, batch));
            return Ok(());
        }
        match ops::build(&base, table, &batch, version) {
            Err((i, e)) => {
                reject(self, i, e.to_string());
                Ok(())
            }
            Ok((expected, undo)) => {
                if expected != state {
                    ops::undo(table, &undo)?;
                    reject(self, batch.len(), ProtocolError::StateMismatch.to_string());
                    return Ok(());
                }
                let ours = match self.sign(env, &state) {
                    Ok(sig) => sig,
                    Err(e) => {
                        ops::undo(table, &undo)?;
                        reject(self, batch.len(), e.to_string());
                        return Ok(());
                    }
                };
                self.note_applied(table, &undo);
                self.waiting = None;
                self.out.push(LedgerMessage::Sign {
                    channel_id: self.id,
                    version,
                    sig: ours.clone(),
                    have_yours: true,
                });
                let signed = SignedState {
                    state,
                    sigs: vec![sig, ours],
                };
                self.finish(env, signed, &batch, now);
                Ok(())
            }
        }
    }

    /// The leader's `Refuse` of request `seq`: the request is dropped and the user told.
    pub(super) fn on_refuse(&mut self, seq: u64, reason: String) -> Result<()> {
        self.require(Role::Follower)?;
        if let Some(i) = self.requests.iter().position(|r| r.seq == seq) {
            let p = self.requests.remove(i);
            if p.op == Op::Close {
                self.closer = false;
            }
            self.note_refused_top_up(&p.op);
            self.events.push(LedgerEvent::Refused {
                channel_id: self.id,
                op: p.op,
                reason: format!("refused by the leader: {reason}"),
            });
            if self.requests.is_empty() {
                self.stop_waiting();
            }
        }
        Ok(())
    }
}
