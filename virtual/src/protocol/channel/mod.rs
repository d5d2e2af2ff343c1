//! One virtual channel as one path member sees it: its record ([`VirtualChannel`]) and, in the files beside this
//! one, the per-channel state machine by protocol phase. [`VirtualNode`](super::VirtualNode) routes inputs to it
//! and lends it a [`NodeContext`] for each step.
//!
//! - `open.rs`: V's pre-fund checked and signed, the leaf asked for, the post-fund signed (S1–S3, S6, S8);
//! - `gossip.rs`: signatures on V's pre-fund, post-fund and final passed along the path, and resent;
//! - `vouchers.rs`: payments by vouchers, and their redeem on-chain (S7);
//! - `app.rs`: app moves countersigned endpoint to endpoint, and played on-chain (S3, S7);
//! - `settle.rs`: the final proposed and signed (S3, S4), the leaves paid out by it and V released (S10);
//! - `fallback.rs`: V taken on-chain: challenges, answers, conclusions, claims, refunds, escalation (S5, S8–S10);
//! - `progress.rs`: the rules a step runs, in order;
//! - `context.rs`: what a step borrows from its node.

mod ahead;
mod app;
mod context;
mod fallback;
mod gossip;
mod open;
mod progress;
mod settle;
mod vouchers;

pub(crate) use ahead::new_signatures;
pub(crate) use context::{NodeContext, Once, Outputs};
pub(crate) use open::check_prefund;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::signature::recover;
use ferry_ledger::{ChainContext, ChannelParams, Signature, State};
use serde::{Deserialize, Serialize};

use super::VirtualError;
use crate::Error;

/// How long a member waits before it asks again for a leaf to be added or removed (the peer may not have had
/// what it needed to agree yet).
pub(crate) const RETRY_MS: u64 = 1_000;

/// How often a member gossips a stage's signatures again while it is incomplete (a message may have been lost).
pub(crate) const RESEND_MS: u64 = 2_000;

/// How long a member waits for an open to complete before it gives it up (if it never signed the post-fund) and
/// refunds its leaves (S8).
pub const OPEN_TIMEOUT_MS: u64 = 60_000;

/// How long a leaf of V may stay in one of this member's ledgers after this member knew how V resolves (its final
/// signed by the whole path, its outcome on-chain, or the open given up) before the ledger is taken on-chain: the
/// peer refuses or ignores the removal, and the leaf is then claimed there (S9, S10).
pub const ESCALATE_MS: u64 = 5 * OPEN_TIMEOUT_MS;

fn verr(e: VirtualError) -> Error {
    Error::Virtual(e)
}

/// Where V is in its life, as this member sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtualPhase {
    /// Collecting pre-fund signatures, adding the leaves, collecting post-fund signatures.
    Opening,
    /// The funding certificate is complete.
    Open,
    /// A final state is signed by this member, not yet by the whole path.
    Settling,
    /// The final state is signed by the whole path; leaves are being paid out.
    Settled,
    /// Nothing of V is left in this member's ledgers.
    Released,
    /// The open did not complete in time and this member never signed the post-fund: its leaves are refunded (S8).
    Aborted,
}

/// One virtual channel at one path member: its states and the signatures collected, and (at an endpoint) the
/// payments made and received. Persisted as is (serde field order and names are the store format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualChannel {
    pub(crate) params: ChannelParams,
    pub(crate) id: B256,
    pub(crate) me: usize,
    pub(crate) phase: VirtualPhase,
    pub(crate) prefund: State,
    pub(crate) prefund_sigs: Vec<Option<Signature>>,
    pub(crate) postfund_sigs: Vec<Option<Signature>>,
    pub(crate) final_state: Option<State>,
    pub(crate) final_sigs: Vec<Option<Signature>>,
    /// Endpoint: per asset, the cumulative amount this endpoint paid (by vouchers it signed).
    pub(crate) paid: Vec<U256>,
    /// Endpoint: per asset, the cumulative amount received, with the payer's latest voucher signature.
    pub(crate) received: Vec<U256>,
    pub(crate) received_sigs: Vec<Option<Signature>>,
    /// Local times of the last leaf add / remove request this member made (it retries while the leaf is absent /
    /// present).
    pub(crate) add_requested: Option<u64>,
    pub(crate) remove_requested: Option<u64>,
    /// The routing fee each path member charges (V's first asset).
    pub(crate) fees: Vec<U256>,
    /// When this member gossips its signatures again while a stage is incomplete (local milliseconds).
    pub(crate) resend_at: Option<u64>,
    /// When this member joined (local milliseconds): the open must complete within the open timeout.
    pub(crate) joined_at: u64,
    /// Endpoint of a game channel: the latest state both endpoints signed after the post-fund.
    pub(crate) latest: Option<ferry_ledger::SignedState>,
    /// Endpoint: this endpoint's move waiting for the other's countersignature.
    pub(crate) my_move: Option<(State, Signature)>,
    /// The state of V registered on-chain by a challenge or a move, with its deadline (chain seconds).
    pub(crate) registered: Option<(State, u64)>,
    /// V's outcome as finalized on-chain: every ledger may replace V's leaf by it off-chain (S10).
    pub(crate) onchain_final: Option<State>,
    /// This member's ledgers (ids) where V's leaf was claimed on-chain.
    pub(crate) claimed: Vec<B256>,
    /// When V was released here (local ms): its record is pruned a retention period later.
    pub(crate) released_at: Option<u64>,
    /// This member gave up the open without ever signing the post-fund: it agrees to refund V's leaves (S8). Kept
    /// for good (the phase moves on to `Released`).
    pub(crate) gave_up: bool,
    /// When this member first knew how V's leaves resolve (local ms): the final signed by the whole path, V's
    /// outcome on-chain, or the open given up. A leaf still in one of its ledgers a while later is taken on-chain.
    pub(crate) resolved_at: Option<u64>,
}

impl VirtualChannel {
    pub(crate) fn new(params: ChannelParams, id: B256, me: usize, prefund: State) -> Self {
        let n = params.participants.len();
        let m = prefund.outcome.assets.len();
        Self {
            params,
            id,
            me,
            phase: VirtualPhase::Opening,
            prefund,
            prefund_sigs: vec![None; n],
            postfund_sigs: vec![None; n],
            final_state: None,
            final_sigs: vec![None; n],
            paid: vec![U256::ZERO; m],
            received: vec![U256::ZERO; m],
            received_sigs: vec![None; m],
            add_requested: None,
            remove_requested: None,
            fees: vec![U256::ZERO; n],
            resend_at: None,
            joined_at: 0,
            latest: None,
            my_move: None,
            registered: None,
            onchain_final: None,
            claimed: Vec::new(),
            released_at: None,
            gave_up: false,
            resolved_at: None,
        }
    }

    /// V's id.
    pub fn id(&self) -> B256 {
        self.id
    }

    /// V's params.
    pub fn params(&self) -> &ChannelParams {
        &self.params
    }

    /// This member's index on the path.
    pub fn me(&self) -> usize {
        self.me
    }

    /// The routing fee each path member charges, in V's first asset (0 for the endpoints; empty before the
    /// pre-fund arrived).
    pub fn fees(&self) -> &[U256] {
        &self.fees
    }

    /// The phase.
    pub fn phase(&self) -> VirtualPhase {
        self.phase
    }

    /// The pre-fund state.
    pub fn prefund(&self) -> &State {
        &self.prefund
    }

    /// Whether this member is an endpoint (A or B).
    pub fn is_endpoint(&self) -> bool {
        self.me == 0 || self.me == self.last()
    }

    pub(crate) fn last(&self) -> usize {
        self.params.participants.len() - 1
    }

    /// This member's ledger with its left neighbour on V's path (none at A).
    pub(crate) fn left_hop(&self) -> Option<B256> {
        (self.me > 0).then(|| self.params.hops[self.me - 1])
    }

    /// This member's ledger with its right neighbour on V's path (none at B): the one where it stands for A's side
    /// and proposes V's leaf and its removal.
    pub(crate) fn right_hop(&self) -> Option<B256> {
        (self.me < self.last()).then(|| self.params.hops[self.me])
    }

    /// This member's ledgers on V's path, left then right.
    pub(crate) fn own_hops(&self) -> impl Iterator<Item = B256> + use<> {
        [self.left_hop(), self.right_hop()].into_iter().flatten()
    }

    /// The other endpoint's index, when this member is an endpoint.
    pub(crate) fn other_endpoint(&self) -> Option<usize> {
        if self.me == 0 {
            Some(self.last())
        } else if self.me == self.last() {
            Some(0)
        } else {
            None
        }
    }

    /// The latest state both endpoints signed after the post-fund (an app move), if any.
    pub fn latest(&self) -> Option<&ferry_ledger::SignedState> {
        self.latest.as_ref()
    }

    /// The state the next move starts from: the latest co-signed move (or the post-fund), or V's state registered
    /// on-chain when that is newer (a move played there with `progress`).
    pub fn current(&self) -> State {
        let off_chain = self
            .latest
            .as_ref()
            .map(|s| s.state.clone())
            .unwrap_or_else(|| self.postfund());
        match &self.registered {
            Some((registered, _)) if registered.version > off_chain.version => registered.clone(),
            _ => off_chain,
        }
    }

    /// The post-fund state (version 1, the pre-fund's outcome).
    pub fn postfund(&self) -> State {
        let mut s = self.prefund.clone();
        s.version = alloy::primitives::aliases::U48::from(1u8);
        s
    }

    /// Whether the funding certificate (the post-fund signed by the whole path) is complete.
    pub fn is_funded(&self) -> bool {
        self.postfund_sigs.iter().all(Option::is_some)
    }

    /// V's pre-fund with every path member's signature, once the whole path signed it.
    pub fn prefund_signed(&self) -> Option<ferry_ledger::SignedState> {
        let sigs: Option<Vec<Signature>> = self.prefund_sigs.iter().cloned().collect();
        sigs.map(|sigs| ferry_ledger::SignedState {
            state: self.prefund.clone(),
            sigs,
        })
    }

    /// V's funding certificate, once complete.
    pub fn certificate(&self) -> Option<ferry_ledger::Certificate> {
        let sigs: Option<Vec<Signature>> = self.postfund_sigs.iter().cloned().collect();
        sigs.map(|sigs| ferry_ledger::Certificate {
            state: self.postfund(),
            sigs,
        })
    }

    /// V's state as finalized on-chain, if it was.
    pub fn onchain_final(&self) -> Option<&State> {
        self.onchain_final.as_ref()
    }

    /// Whether this member is still joining V (S8): it has not signed the post-fund, not given the open up, and
    /// knows no final and no on-chain outcome of V. Only then may a leaf for V be added to one of its ledgers, so
    /// a leaf is added at most once in V's whole life.
    pub fn is_joining(&self) -> bool {
        self.phase == VirtualPhase::Opening
            && self.postfund_sigs.get(self.me).is_some_and(Option::is_none)
            && !self.gave_up
            && self.final_state.is_none()
            && self.onchain_final.is_none()
    }

    /// The final state with every signature, once the whole path signed it.
    pub fn final_signed(&self) -> Option<ferry_ledger::SignedState> {
        let state = self.final_state.clone()?;
        let sigs: Option<Vec<Signature>> = self.final_sigs.iter().cloned().collect();
        sigs.map(|sigs| ferry_ledger::SignedState { state, sigs })
    }

    /// This endpoint's balance of asset `j` by its own accounting: in a game channel its balance in the latest
    /// state both endpoints signed; in a payment channel its pre-fund balance, minus what it paid, plus what it
    /// received.
    pub fn balance(&self, j: usize) -> U256 {
        if let Some(latest) = &self.latest {
            return latest
                .state
                .outcome
                .assets
                .get(j)
                .and_then(|a| a.balances.get(self.me))
                .copied()
                .unwrap_or_default();
        }
        let start = self
            .prefund
            .outcome
            .assets
            .get(j)
            .and_then(|a| a.balances.get(self.me))
            .copied()
            .unwrap_or_default();
        (start + self.received.get(j).copied().unwrap_or_default())
            .saturating_sub(self.paid.get(j).copied().unwrap_or_default())
    }

    /// When a live V next has work on the clock: a leaf request to retry, or a stage (or move) to resend.
    pub(crate) fn next_timer(&self) -> Option<u64> {
        let retry = self
            .add_requested
            .max(self.remove_requested)
            .map(|t| t + RETRY_MS);
        [retry, self.resend_at].into_iter().flatten().min()
    }

    /// Index of `asset` in V's outcome.
    pub(crate) fn asset_index(&self, asset: &Address) -> Option<usize> {
        self.prefund
            .outcome
            .assets
            .iter()
            .position(|a| a.asset == *asset)
    }

    /// Merges valid signatures on `state` into `sigs` (checked against the path members); returns whether any was
    /// new. An invalid signature fails the whole merge, nothing changes.
    pub(crate) fn merge(
        ctx: &ChainContext,
        params: &ChannelParams,
        state: &State,
        have: &mut [Option<Signature>],
        incoming: &[Option<Signature>],
    ) -> Result<bool, Error> {
        if incoming.len() != have.len() {
            return Err(Error::Virtual(VirtualError::InvalidState(
                "one signature slot per path member",
            )));
        }
        let digest = ctx.digest(state);
        let mut new = Vec::new();
        for (i, sig) in incoming.iter().enumerate() {
            if let (None, Some(sig)) = (&have[i], sig) {
                if recover(&digest, sig)? != params.participants[i] {
                    return Err(Error::Ledger(ferry_ledger::Error::WrongSigner { index: i }));
                }
                new.push((i, sig.clone()));
            }
        }
        let any = !new.is_empty();
        for (i, sig) in new {
            have[i] = Some(sig);
        }
        Ok(any)
    }
}

/// A stage of V whose signatures the path collects by gossip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The pre-fund (version 0), signed by the whole path before any leaf is added (S8).
    Prefund,
    /// The post-fund (version 1): signed by the whole path, V's funding certificate.
    Postfund,
    /// The final state, signed by the whole path (S4).
    Final,
}
