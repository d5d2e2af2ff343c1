//! The leader's side (participant 0): batching its own operations and the follower's requests into one proposal at a
//! time, refusing what cannot enter, and the proposals the follower refused. A refused proposal's version is burnt
//! and its withdrawals carried into every later state; every refused (abandoned) proposal above the supported state
//! is kept, at most `MAX_ABANDONED`, and adopted with its sub-channel table if the peer registers it (S14).

use super::{Abandoned, Env, LedgerChannel, Pending, Phase, Role};
use crate::protocol::ops::{self, Op, Proposal};
use crate::protocol::{LedgerEvent, LedgerMessage};
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{Result, SignedState};

/// The most proposals of its own a leader keeps signed and refused above the latest supported state; at this many
/// it proposes nothing more until the peer answers (or the channel goes on-chain), so a peer that refuses every
/// proposal holds a bounded number of the leader's signatures and costs it bounded memory.
pub const MAX_ABANDONED: usize = 64;

/// S17: a newer state takes a challenge's bond only if it is at least this many versions above the bonded state
/// (the adjudicator's `BOND_GRACE`). A leader challenging with its newest state signed by both may have signed its
/// pending proposal and up to [`MAX_ABANDONED`] refused ones above it, each of which the peer may complete and
/// register: none of them may take its bond.
pub const BOND_GRACE: u64 = 66;
const _: () = assert!(MAX_ABANDONED as u64 + 2 <= BOND_GRACE);

/// The most requests of the follower a leader keeps queued for its next proposals; more are refused by name, so a
/// peer flooding requests while the leader's proposal is unanswered costs it bounded memory.
pub const MAX_QUEUED_REQUESTS: usize = 256;

impl LedgerChannel {
    /// Proposes the next batch when nothing is in flight: the queued operations whose top-ups the chain shows (a close
    /// last and alone), built at the next unused version and signed through the S14 gate; what cannot enter is refused.
    pub(super) fn maybe_propose(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) {
        if self.role() != Role::Leader
            || self.phase != Phase::Running
            || self.pending.is_some()
            || self.dispute.is_some()
            || self.queue.is_empty()
        {
            return;
        }
        if self.abandoned.len() >= MAX_ABANDONED {
            // The peer refused every one of the last proposals: wait for it (reported unresponsive, and
            // challenged when so configured) rather than sign without end states it may all keep.
            self.start_waiting(env, now);
            return;
        }
        let Some(base) = self.supported.as_ref().map(|s| s.state.clone()) else {
            return;
        };
        // Operations whose top-ups the chain does not show yet stay queued.
        let mut batch = Vec::new();
        let mut held = Vec::new();
        for p in std::mem::take(&mut self.queue) {
            let single = [p];
            if batch.len() < env.config.max_batch && self.topups_confirmed(&base, &single) {
                let [p] = single;
                // A close goes last and alone at the end.
                if p.op == Op::Close {
                    held.push(p);
                    continue;
                }
                batch.push(p);
            } else {
                let [p] = single;
                held.push(p);
            }
        }
        // The close enters once everything before it is done.
        if batch.is_empty()
            && let Some(i) = held.iter().position(|p| p.op == Op::Close)
        {
            batch.push(held.remove(i));
        }
        self.queue = held;
        if batch.is_empty() {
            return;
        }
        let version = self.latest_version() + 1;
        loop {
            match ops::build_placing(&base, table, &mut batch, version) {
                Ok((state, undo)) => {
                    let sig = match self.sign(env, &state) {
                        Ok(sig) => sig,
                        Err(e) => {
                            ops::undo(table, &undo).ok();
                            for p in batch {
                                self.refuse(p, e.to_string());
                            }
                            return;
                        }
                    };
                    self.note_applied(table, &undo);
                    self.out.push(LedgerMessage::Propose {
                        state: state.clone(),
                        sig: sig.clone(),
                        batch: batch.clone(),
                    });
                    self.pending = Some(Pending {
                        state,
                        sigs: [Some(sig), None],
                        batch,
                        undo,
                    });
                    self.start_waiting(env, now);
                    return;
                }
                Err((i, e)) => {
                    let p = batch.remove(i.min(batch.len().saturating_sub(1)));
                    self.refuse(p, e.to_string());
                    if batch.is_empty() {
                        return;
                    }
                }
            }
        }
    }

    /// Refuses an operation that cannot enter a batch: the user's own with an event, the follower's with `Refuse`.
    pub(super) fn refuse(&mut self, p: Proposal, reason: String) {
        if p.proposer == self.me {
            if p.op == Op::Close {
                self.closer = false;
            }
            self.events.push(LedgerEvent::Refused {
                channel_id: self.id,
                op: p.op,
                reason,
            });
        } else {
            self.out.push(LedgerMessage::Refuse {
                channel_id: self.id,
                seq: p.seq,
                reason,
            });
        }
    }

    /// The follower's `Request`: each new request, in sequence, is checked and queued (at most `MAX_QUEUED_REQUESTS`)
    /// or refused by name.
    pub(super) fn on_request(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        proposals: Vec<Proposal>,
        now: u64,
    ) -> Result<()> {
        self.require(Role::Leader)?;
        let mut sorted = proposals;
        sorted.sort_by_key(|p| p.seq);
        let mut queued = self
            .queue
            .iter()
            .filter(|q| q.proposer == Role::Follower.index())
            .count();
        for p in sorted {
            if p.seq <= self.peer_seq {
                continue; // already taken
            }
            if p.seq != self.peer_seq + 1 {
                break; // a gap: wait for the resend that holds the missing one
            }
            self.peer_seq = p.seq;
            if p.proposer != Role::Follower.index() {
                self.refuse_request(p.seq, "a request must be the follower's own".into());
                continue;
            }
            if self.phase != Phase::Running {
                let reason = format!("the channel is {}", self.phase.name());
                self.refuse_request(p.seq, reason);
                continue;
            }
            let checked = self
                .authorize(env, &p)
                .and_then(|()| self.guard_remove(env, table, &p));
            match checked {
                Ok(()) if queued >= MAX_QUEUED_REQUESTS => {
                    let reason = format!("{MAX_QUEUED_REQUESTS} requests wait already");
                    self.refuse_request(p.seq, reason);
                }
                Ok(()) => {
                    self.queue.push(p);
                    queued += 1;
                }
                Err(e) => self.refuse_request(p.seq, e.to_string()),
            }
        }
        self.maybe_propose(env, table, now);
        Ok(())
    }

    /// Refuses the follower's request `seq`.
    fn refuse_request(&mut self, seq: u64, reason: String) {
        self.out.push(LedgerMessage::Refuse {
            channel_id: self.id,
            seq,
            reason,
        });
    }

    /// The follower's `Reject` of the proposal in flight: the offending operation is dropped (a withdrawal is carried
    /// into the next proposal, S14), the proposal kept as abandoned, the rest proposed again at a new version; a
    /// refused final stays proposed (S14).
    pub(super) fn on_reject(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        version: u64,
        index: u64,
        reason: String,
        now: u64,
    ) -> Result<()> {
        self.require(Role::Leader)?;
        let Some(pending) = self.pending.clone() else {
            return Ok(()); // nothing in flight: a duplicate
        };
        if version_of(&pending.state) != version || self.phase != Phase::Running {
            return Ok(());
        }
        if pending.state.isFinal {
            // S14: this node signed the final and signs nothing else of the channel, so a refused close is not
            // given up: the same final stays proposed (resent on the timer) until the peer countersigns it, or the
            // peer counts as unresponsive and the channel goes on-chain with the latest state both signed.
            self.events.push(LedgerEvent::Refused {
                channel_id: self.id,
                op: Op::Close,
                reason: format!("refused by the peer: {reason}; the close stays proposed"),
            });
            return Ok(());
        }
        self.undo_pending_table(table, &pending.undo)?;
        self.pending = None;
        let mut batch = pending.batch.clone();
        let dropped: Vec<Proposal> = match usize::try_from(index) {
            Ok(i) if i < batch.len() => vec![batch.remove(i)],
            // The follower computed another state from the batch: drop it all.
            _ => std::mem::take(&mut batch),
        };
        // A partial withdrawal in the refused state is carried into every later one (S14): the peer can still
        // complete the refused state and be paid its withdrawals on-chain, so no later state may leave them out.
        let mut carried = false;
        for p in dropped {
            if matches!(p.op, Op::Withdraw { .. }) {
                batch.insert(0, p);
                carried = true;
            } else {
                self.note_refused_top_up(&p.op);
                self.refuse(p, format!("refused by the peer: {reason}"));
            }
        }
        self.abandon(pending);
        batch.append(&mut self.queue);
        self.queue = batch;
        if carried {
            // Proposed again at once; a peer that keeps refusing holds at most `MAX_ABANDONED` such proposals and is
            // reported unresponsive after `peer_timeout_ms`.
            self.start_waiting(env, now);
            return Ok(());
        }
        self.stop_waiting();
        self.maybe_propose(env, table, now);
        Ok(())
    }

    /// Keeps a proposal of this node's that was refused or left unanswered (its table changes already undone): the
    /// peer may still complete and register it.
    pub(super) fn abandon(&mut self, p: Pending) {
        let sig = p.sigs[usize::from(self.me)].clone().unwrap_or_default();
        let base = self
            .supported
            .as_ref()
            .map(SignedState::version)
            .unwrap_or(0);
        self.abandoned.push(Abandoned {
            state: p.state,
            sig,
            batch: p.batch,
            base,
        });
    }

    /// Makes the sub-channel table that of the abandoned proposal `i`, registered on-chain: back to the root (the
    /// state supported before any was adopted), then every proposal from there to `i` in order (an abandoned
    /// proposal may be built on one adopted before it, after a checkpoint put the channel back to running).
    pub(super) fn adopt(&mut self, table: &mut SubTree, i: usize) -> Result<()> {
        let root = match self.adopted.take() {
            Some((root, undo)) => {
                self.undo_pending_table(table, &undo)?;
                root
            }
            None => match &self.supported {
                Some(s) => s.state.clone(),
                None => return Ok(()),
            },
        };
        let root_version = version_of(&root);
        let mut path = vec![i];
        let mut base = self.abandoned[i].base;
        while base != root_version && path.len() <= self.abandoned.len() {
            match self
                .abandoned
                .iter()
                .position(|a| version_of(&a.state) == base)
            {
                Some(j) => {
                    path.push(j);
                    base = self.abandoned[j].base;
                }
                None => break,
            }
        }
        let mut undo_all = Vec::new();
        let mut prev = root.clone();
        for j in path.into_iter().rev() {
            let (state, batch) = (
                self.abandoned[j].state.clone(),
                self.abandoned[j].batch.clone(),
            );
            // Each was built, and signed, on `prev` with this table: it builds again.
            if let Ok((_, undo)) = ops::build(&prev, table, &batch, version_of(&state)) {
                self.note_applied(table, &undo);
                undo_all.extend(undo);
            }
            prev = state;
        }
        self.adopted = Some((root, undo_all));
        Ok(())
    }
}
