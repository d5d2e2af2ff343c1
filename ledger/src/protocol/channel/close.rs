//! Closing and payouts: the final state's `concludeAndWithdraw` (the closer at once, the other side after the grace
//! period, or at once when a challenge is registered, S5), finalization (the abandoned proposals the chain did not
//! take are refused for good), the `withdraw` after a challenge, and partial withdrawals agreed while running (S12;
//! carried into every later state, S14).

use std::collections::BTreeSet;

use super::liveness::TxKey;
use super::{Env, LedgerChannel, Phase, Role};
use crate::protocol::{ChainTx, LedgerEvent};
use crate::state::version_of;

impl LedgerChannel {
    /// The chain finalized the channel with the state of `version` (concluded, or its challenge window passed).
    pub(super) fn finalize(&mut self, version: u64, now: u64) {
        if self.finalized.is_some() {
            return;
        }
        self.finalized = Some(version);
        self.finalized_since = Some(now);
        // The abandoned proposals the chain did not take are refused for good: each operation once (a refused
        // proposal's operations may be proposed again in a later one), and none the finalized state includes.
        let (kept, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut self.abandoned)
            .into_iter()
            .partition(|a| version_of(&a.state) == version);
        let mut done: BTreeSet<u64> = kept
            .iter()
            .flat_map(|a| a.batch.iter())
            .filter(|q| q.proposer == self.me)
            .map(|q| q.seq)
            .collect();
        for q in dropped
            .into_iter()
            .flat_map(|a| a.batch)
            .filter(|q| q.proposer == self.me)
        {
            if done.insert(q.seq) {
                self.events.push(LedgerEvent::Refused {
                    channel_id: self.id,
                    op: q.op,
                    reason: "the channel finalized on-chain without it".into(),
                });
            }
        }
        self.abandoned = kept;
        self.stop_waiting();
        self.phase = Phase::Finalized;
        self.events.push(LedgerEvent::Finalized {
            channel_id: self.id,
            version,
        });
    }

    /// Finalized and paid out: nothing more happens to the channel.
    pub(super) fn close_out(&mut self) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.events.push(LedgerEvent::Closed {
                channel_id: self.id,
            });
        }
    }

    /// Closing: the final state's `concludeAndWithdraw`, asked for once.
    pub(super) fn drive_closing(&mut self, env: &Env<'_>, now: u64) {
        // The closer concludes at once; the other side after the grace period, or at once when a
        // challenge is registered meanwhile: the fully signed final answers it, and chain time may run
        // out before the grace period does.
        let due = self.closer
            || self.dispute.is_some()
            || self
                .closing_since
                .is_some_and(|t| now >= t.saturating_add(env.config.grace_ms));
        if due
            && let Some(s) = self.supported.clone()
            && s.state.isFinal
            && self.holds_mine(&s.state)
            && self.once(TxKey::Close(s.version()))
        {
            self.txs.push(ChainTx::ConcludeAndWithdraw {
                params: self.params.clone(),
                state: s,
            });
        }
    }

    /// Finalized: the `withdraw` by the finalized state, asked for once.
    pub(super) fn drive_finalized(&mut self, env: &Env<'_>, now: u64) {
        // After a challenge, participant 0 (the leader) withdraws at once; after `concludeAndWithdraw` nobody
        // needs to, unless no payout shows up within the grace period.
        let due = (self.role() == Role::Leader && !self.concluded)
            || self
                .finalized_since
                .is_some_and(|t| now >= t.saturating_add(env.config.grace_ms));
        self.drive_unlisted();
        if !self.params.challengeBond.is_zero() && self.once(TxKey::ReclaimBond) {
            // S17: a bond of this node's (its challenge's state, or a move from it, finalized) comes back.
            self.txs.push(ChainTx::ReclaimBond {
                channel_id: self.id,
            });
        }
        let state = self.finalized_state().cloned();
        if due
            && let Some(state) = state
            && self.holds_listed(&state)
            && self.once(TxKey::Withdraw(version_of(&state)))
        {
            self.txs.push(ChainTx::Withdraw {
                params: self.params.clone(),
                state,
            });
        }
    }

    /// Finalized or closed: a top-up of this node's in an asset the finalized state does not list (one the peer
    /// refused) is paid back by `withdrawUnlisted`, whoever leads, once per asset and start (its own transaction,
    /// whatever `withdraw` or `concludeAndWithdraw` paid).
    pub(super) fn drive_unlisted(&mut self) {
        let Some(state) = self.finalized_state().cloned() else {
            return;
        };
        for asset in self.unlisted_top_ups(&state) {
            if self.once(TxKey::Unlisted(asset)) {
                self.txs.push(ChainTx::WithdrawUnlisted {
                    params: self.params.clone(),
                    state: state.clone(),
                    asset,
                });
            }
        }
    }

    /// Running: this node's partial withdrawals the supported state agrees and the chain has not paid yet.
    pub(super) fn drive_partial_withdrawals(&mut self) {
        let me = usize::from(self.me);
        let Some(s) = self.supported.clone() else {
            return;
        };
        let due = s.state.outcome.assets.iter().any(|a| {
            let done = self
                .chain_withdrawn
                .get(&a.asset)
                .map(|w| w[me])
                .unwrap_or_default();
            a.withdrawn[me] > done
        });
        if due && self.once(TxKey::Partial(s.version())) {
            self.txs.push(ChainTx::WithdrawPartial {
                params: self.params.clone(),
                state: s,
                participant: self.me,
            });
        }
    }

    /// A transaction this channel asked for landed.
    pub(crate) fn handle_tx_done(&mut self, tx: &ChainTx) {
        if let ChainTx::Withdraw { .. } = tx
            && self.phase == Phase::Finalized
        {
            self.close_out();
        }
    }
}
