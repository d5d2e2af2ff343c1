//! Liveness: resends with exponential backoff, the peer counted unresponsive (and challenged with `auto_dispute`), the
//! resume after a restart, and the transactions a channel owes, derived from its state and asked for once per start
//! (`TxKey`) and again after a failure; every one is safe to repeat.

use alloy::primitives::Address;

use super::{Config, Env, LedgerChannel, Phase, Role};
use crate::protocol::{ChainTx, LedgerEvent, LedgerMessage};
use crate::state::version_of;
use crate::sub_tree::SubTree;

/// A transaction a channel asked for, as the key that sends it once per start (until it fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TxKey {
    /// The funding deposit of an asset (one in flight at a time, S16).
    Deposit(Address),
    /// `concludeAndWithdraw` with the final of this version.
    Close(u64),
    /// A challenge (or the answer to one) with the state of this version.
    Challenge(u64),
    /// `withdraw` by the finalized state of this version.
    Withdraw(u64),
    /// `withdrawPartial` by the state of this version.
    Partial(u64),
    /// `withdrawUnlisted` of an asset.
    Unlisted(Address),
    /// `reclaimBond` (S17).
    ReclaimBond,
}

impl TxKey {
    /// The key of a transaction this channel asked for.
    fn of(tx: &ChainTx) -> Self {
        match tx {
            ChainTx::Deposit { asset, .. } => Self::Deposit(*asset),
            ChainTx::ConcludeAndWithdraw { state, .. } => Self::Close(state.version()),
            ChainTx::Challenge { state, .. } => Self::Challenge(state.version()),
            ChainTx::Withdraw { state, .. } => Self::Withdraw(version_of(state)),
            ChainTx::WithdrawPartial { state, .. } => Self::Partial(state.version()),
            ChainTx::WithdrawUnlisted { asset, .. } => Self::Unlisted(*asset),
            ChainTx::ReclaimBond { .. } => Self::ReclaimBond,
        }
    }
}

impl LedgerChannel {
    /// The earliest local time this channel has timer work (see
    /// [`LedgerNode::handle_timeout`](crate::protocol::LedgerNode::handle_timeout)).
    pub fn next_timeout(&self, config: &Config) -> Option<u64> {
        let peer = self
            .waiting_since
            .filter(|_| !self.unresponsive_reported)
            .map(|t| t.saturating_add(config.peer_timeout_ms));
        let close = self
            .closing_since
            .filter(|_| self.phase == Phase::Closing)
            .map(|t| t.saturating_add(config.grace_ms));
        let withdraw = self
            .finalized_since
            .filter(|_| self.phase == Phase::Finalized)
            .map(|t| t.saturating_add(config.grace_ms));
        let funding = self
            .funding_since
            .filter(|_| self.phase == Phase::Funding && !self.unresponsive_reported)
            .map(|t| t.saturating_add(config.funding_timeout_ms));
        [self.resend_at, peer, close, withdraw, funding]
            .into_iter()
            .flatten()
            .min()
    }

    /// Local time passed: resend what is unanswered, report an unresponsive peer (and challenge, when
    /// configured), send the closing or withdrawing transaction after the grace period.
    pub(crate) fn handle_timeout(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) {
        if self.resend_at.is_some_and(|t| t <= now) {
            self.resend();
            self.backoff = self
                .backoff
                .saturating_mul(2)
                .clamp(env.config.resend_ms, env.config.max_resend_ms);
            self.resend_at = Some(now.saturating_add(self.backoff));
        }
        if let Some(since) = self.waiting_since
            && !self.unresponsive_reported
            && now >= since.saturating_add(env.config.peer_timeout_ms)
        {
            self.unresponsive_reported = true;
            if self.phase == Phase::Proposed {
                self.phase = Phase::Failed;
                self.stop_waiting();
                self.pending = None;
                self.events.push(LedgerEvent::OpenFailed {
                    channel_id: self.id,
                    reason: "the peer never countersigned the pre-fund state".into(),
                });
            } else {
                self.events.push(LedgerEvent::PeerUnresponsive {
                    channel_id: self.id,
                });
                if env.config.auto_dispute && self.dispute.is_none() {
                    let _ = self.dispute(env);
                }
            }
        }
        self.drive(env, now);
        self.maybe_propose(env, table, now);
    }

    /// Queues the messages the peer may be missing: after a restart, and on every resend timer.
    pub(crate) fn resend(&mut self) {
        match self.phase {
            Phase::Proposed => {
                if let Some(p) = &self.pending
                    && let Some(sig) = p.sigs[0].clone()
                {
                    self.out.push(LedgerMessage::Open {
                        params: self.params.clone(),
                        prefund: p.state.clone(),
                        sig,
                    });
                }
            }
            Phase::Funding | Phase::Running | Phase::Closing => {
                if let Some(p) = &self.pending
                    && let Some(sig) = p.sigs[usize::from(self.me)].clone()
                {
                    if self.role() == Role::Leader && version_of(&p.state) >= 2 {
                        self.out.push(LedgerMessage::Propose {
                            state: p.state.clone(),
                            sig,
                            batch: p.batch.clone(),
                        });
                    } else {
                        self.out.push(LedgerMessage::Sign {
                            channel_id: self.id,
                            version: version_of(&p.state),
                            sig,
                            have_yours: p.sigs[self.peer_index()].is_some(),
                        });
                    }
                }
                if !self.requests.is_empty() {
                    self.out.push(LedgerMessage::Request {
                        channel_id: self.id,
                        proposals: self.requests.clone(),
                    });
                }
            }
            _ => {}
        }
    }

    /// Restarts this channel's objectives after a restore: everything unacknowledged is sent again and every
    /// transaction that may not have landed is asked for again (they are all safe to repeat).
    pub(crate) fn resume(&mut self, env: &Env<'_>, now: u64) {
        self.resend();
        if self.waiting_since.is_some() {
            self.resend_at = Some(now.saturating_add(env.config.resend_ms));
            self.waiting_since = Some(now);
        }
        // What a timeout queued (the challenge of an unresponsive peer) was not persisted: a crash between the
        // timeout and the transaction would lose it for good. The verdict is reached again after a restart.
        self.unresponsive_reported = false;
        self.drive(env, now);
    }

    /// Whether the transaction of `key` is still to be asked for in this start (and marks it asked).
    pub(super) fn once(&mut self, key: TxKey) -> bool {
        self.submitted.insert(key)
    }

    /// Derives what is due from the channel's state and queues it once per start: deposits in participant
    /// order, the post-fund signature, partial withdrawals, answers to stale challenges, the closing
    /// transaction, the payout.
    pub(super) fn drive(&mut self, env: &Env<'_>, now: u64) {
        match self.phase {
            Phase::Funding => self.drive_funding(env, now),
            Phase::Running => self.drive_partial_withdrawals(),
            // `withdrawPartial` pays until the channel is finalized.
            Phase::Closing => {
                self.drive_partial_withdrawals();
                self.drive_closing(env, now)
            }
            Phase::Disputed => {
                self.drive_partial_withdrawals();
                self.drive_disputed()
            }
            Phase::Finalized => self.drive_finalized(env, now),
            Phase::Closed => self.drive_unlisted(),
            _ => {}
        }
    }

    /// A transaction this channel asked for failed: report it and let it be asked for again later.
    pub(crate) fn handle_tx_failed(&mut self, tx: &ChainTx, reason: String) {
        // A bond's reclaim is asked once per start, failed or not: it fails whenever the bond held is not this
        // node's (S17), and asking again would only read the chain again.
        if !matches!(tx, ChainTx::ReclaimBond { .. }) {
            self.submitted.remove(&TxKey::of(tx));
        }
        self.events.push(LedgerEvent::TxFailed {
            channel_id: self.id,
            tx: tx.name(),
            reason,
        });
    }
}
