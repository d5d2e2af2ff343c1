//! One ledger channel's objectives as a sans-IO state machine (ARCH.md "Ledger protocol"). This file holds the
//! channel record, which is the store format (serde names and order; `store::FORMAT_VERSION`), the two roles, the
//! accessors, the S14 signing gate every signature after the pre-fund goes through, and the dispatch of the peer's
//! messages. Each phase and role has its own file:
//! - `config`: what a node accepts (S6 durations, the open policy, its token list) and its timers.
//! - `funding`: open and accept (S1, S6, S13), deposits in participant order (S16), the funding timeout, top-ups.
//! - `update`: a user's operations, who may take whose funds, the sub-channel guard (S8, S10), signature exchange.
//! - `leader`: proposals, the follower's request queue, refused and abandoned proposals and their adoption (S14).
//! - `follower`: requests to the leader, checking and countersigning its proposals.
//! - `chain`: chain events, challenges and the answer to a stale one (S5), adopting what the chain shows (S14).
//! - `close`: the final state, `concludeAndWithdraw`, finalization, `withdraw` and partial withdrawals (S12, S14).
//! - `liveness`: resends, the unresponsive peer, restarts, and the transactions owed (each asked for once per start).

mod chain;
mod close;
mod config;
mod follower;
mod funding;
mod leader;
mod liveness;
mod reorg;
mod update;

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::{ChannelParams, Signature, State, SubAlloc};
use serde::{Deserialize, Serialize};

pub use config::{Config, DEFAULT_MAX_CHALLENGE_BOND, OpenPolicy};
pub use leader::{BOND_GRACE, MAX_ABANDONED, MAX_QUEUED_REQUESTS};
use liveness::TxKey;
pub use reorg::RECENT_EVENTS;

use super::ops::{self, Proposal, UndoStep};
use super::{ChainTx, LedgerEvent, LedgerMessage, ProtocolError, SubChannelGuard};
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{ChainContext, Error, Result, SignedState, Signer};

/// Which side of the protocol this node plays in a channel (ARCH.md "Leader and follower"): participant 0, the
/// opener, leads (it batches its own operations and the follower's requests into one proposal at a time);
/// participant 1 follows (it sends requests, checks the leader's proposals and countersigns them). Derived from
/// the persisted participant index `me`, so not part of the store format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Participant 0: proposes (`leader`).
    Leader,
    /// Participant 1: requests and countersigns (`follower`).
    Follower,
}

impl Role {
    /// The role of participant `index` (0 or 1).
    fn of(index: u8) -> Self {
        if index == 0 {
            Role::Leader
        } else {
            Role::Follower
        }
    }

    /// The participant index that plays this role.
    fn index(self) -> u8 {
        match self {
            Role::Leader => 0,
            Role::Follower => 1,
        }
    }

    /// How a refusal names it.
    fn name(self) -> &'static str {
        match self {
            Role::Leader => "the leader",
            Role::Follower => "the follower",
        }
    }
}

/// The persistent context a channel method needs: chain, key, settings and sub-channel guard.
pub(crate) struct Env<'a> {
    pub ctx: &'a ChainContext,
    pub signer: &'a Signer,
    pub config: &'a Config,
    pub guard: &'a dyn SubChannelGuard,
}

// From here to `LedgerChannel`, every type is part of the channel record: its serde names and order are the store
// format (a change needs a new `store::FORMAT_VERSION`).

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// The opener sent its pre-fund state and waits for the peer's signature.
    Proposed,
    /// The pre-fund state is signed by both; deposits and the post-fund state are under way.
    Funding,
    /// Funded and open for updates.
    Running,
    /// A final state is signed by both; the closing transaction is due.
    Closing,
    /// A challenge is registered on-chain.
    Disputed,
    /// Finalized on-chain; the payout is due.
    Finalized,
    /// Finalized and paid out.
    Closed,
    /// The open failed before anything reached the chain.
    Failed,
}

impl Phase {
    /// The phase's name.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Proposed => "proposed",
            Phase::Funding => "funding",
            Phase::Running => "running",
            Phase::Closing => "closing",
            Phase::Disputed => "disputed",
            Phase::Finalized => "finalized",
            Phase::Closed => "closed",
            Phase::Failed => "failed",
        }
    }
}

/// A state this node signed that does not hold the peer's signature yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    state: State,
    sigs: [Option<Signature>; 2],
    batch: Vec<Proposal>,
    undo: Vec<UndoStep>,
}

/// A proposal of the leader's own the follower refused (or a registered challenge left unanswered): signed by the
/// leader, so the peer may complete and register it at any time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Abandoned {
    state: State,
    sig: Signature,
    batch: Vec<Proposal>,
    /// The version of the state it was built on: the supported state then (an earlier abandoned one, adopted from a
    /// registration, or the state supported before any was).
    base: u64,
}

/// What the chain shows of a registered challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dispute {
    registered: SignedState,
    finalizes_at: u64,
}

/// One ledger channel of this node: its params, the latest state signed by both, what is in flight, and what the
/// chain shows. Everything but the outboxes and the sub-channel table serializes (the table is stored leaf by
/// leaf, see [`LedgerNode`](super::LedgerNode)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerChannel {
    params: ChannelParams,
    id: B256,
    /// This node's participant index; its [`Role`]: 0 leads, 1 follows.
    me: u8,
    phase: Phase,
    prefund: State,
    supported: Option<SignedState>,
    pending: Option<Pending>,
    early_postfund: Option<Signature>,
    signed_up_to: u64,
    /// The final state this node signed, if any: it signs no other state of the channel afterwards (S14).
    signed_final: Option<State>,
    /// Per asset, the highest withdrawn totals of any state this node signed: it signs no state below them (S14:
    /// the peer may complete any state this node signed and take its partial withdrawal with `withdrawPartial`).
    signed_withdrawn: BTreeMap<Address, [U256; 2]>,
    /// Per asset, the cumulative deposits the chain shows for each participant.
    chain_deposited: BTreeMap<Address, [U256; 2]>,
    /// Per asset, the cumulative payouts the chain shows for each participant.
    chain_withdrawn: BTreeMap<Address, [U256; 2]>,
    /// The last chain event applied (block, log index): events at or before it are ignored on re-delivery.
    last_event: Option<(u64, u64)>,
    /// The newest chain events applied (at most [`RECENT_EVENTS`]), to take back after a reorganization.
    recent: Vec<reorg::Applied>,
    /// Older events were dropped from `recent`.
    recent_truncated: bool,
    /// A reorganization's replay in progress: nothing is signed meanwhile.
    replay: Option<reorg::Replay>,
    /// A reorganization took events this channel acted on and the new chain did not show them again: nothing more
    /// is signed for it off-chain.
    reorged: bool,
    #[serde(skip)]
    chain_time: u64,
    /// Leader: operations waiting for the next batch. Follower: unused.
    queue: Vec<Proposal>,
    /// This node's next sequence number for its own operations.
    next_seq: u64,
    /// Follower: requests sent to the leader and not yet included or refused.
    requests: Vec<Proposal>,
    /// Leader: the follower's highest request sequence number taken (queued, included or refused).
    peer_seq: u64,
    /// Follower: a proposal that waits for the chain to show a top-up.
    waiting: Option<(State, Signature, Vec<Proposal>)>,
    /// Leader: every proposal of its own above the state supported by an exchange of signatures that the follower
    /// refused (or that a registered challenge left unanswered), oldest first. The peer may keep any of them,
    /// complete it and register it, so the node adopts whichever the chain shows (S14); cleared when a proposal
    /// completes. At most [`MAX_ABANDONED`](leader::MAX_ABANDONED) (then the node proposes nothing more and the
    /// peer counts as unresponsive).
    abandoned: Vec<Abandoned>,
    /// Leader, once an abandoned proposal was adopted from a registration: the state supported before any was (the
    /// root every abandoned one is built on, directly or through others) and the table changes from it to the
    /// adopted one, undone when another is registered.
    adopted: Option<(State, Vec<UndoStep>)>,
    dispute: Option<Dispute>,
    /// Version finalized on-chain (concluded or challenge passed).
    finalized: Option<u64>,
    /// Whether this node asked for the close (and so sends the closing transaction first).
    closer: bool,
    /// Whether the channel was finalized by `conclude` (whose closing transaction normally paid out too).
    concluded: bool,
    // Local timers (milliseconds).
    waiting_since: Option<u64>,
    resend_at: Option<u64>,
    backoff: u64,
    closing_since: Option<u64>,
    finalized_since: Option<u64>,
    unresponsive_reported: bool,
    /// When this node started funding the channel (local time).
    funding_since: Option<u64>,
    /// Whether this node sent a funding deposit (persisted with the commit that releases the transaction).
    deposit_sent: bool,
    /// Per asset, this node's on-chain deposit total when the peer refused a top-up counting it: the node proposes
    /// a top-up of that asset again only once the total grew (a stranger's deposits cannot make it propose again
    /// and again).
    topup_refused: BTreeMap<Address, U256>,
    /// Assets this node's user topped up with (counted in the next state even if not on this node's token list).
    topup_assets: BTreeSet<Address>,
    // Not persisted: outputs, and what was sent since the last start (resent once after a restart).
    #[serde(skip)]
    out: Vec<LedgerMessage>,
    #[serde(skip)]
    txs: Vec<ChainTx>,
    #[serde(skip)]
    events: Vec<LedgerEvent>,
    #[serde(skip)]
    leaf_changes: BTreeMap<u32, Option<SubAlloc>>,
    #[serde(skip)]
    submitted: BTreeSet<TxKey>,
}

fn perr(e: ProtocolError) -> Error {
    Error::Protocol(e)
}

impl LedgerChannel {
    /// A channel record with nothing signed beyond the pre-fund yet.
    fn blank(params: ChannelParams, id: B256, me: u8, prefund: State, phase: Phase) -> Self {
        Self {
            params,
            id,
            me,
            phase,
            prefund,
            supported: None,
            pending: None,
            early_postfund: None,
            signed_up_to: 0,
            signed_final: None,
            signed_withdrawn: BTreeMap::new(),
            chain_deposited: BTreeMap::new(),
            chain_withdrawn: BTreeMap::new(),
            last_event: None,
            recent: Vec::new(),
            recent_truncated: false,
            replay: None,
            reorged: false,
            chain_time: 0,
            queue: Vec::new(),
            next_seq: 1,
            requests: Vec::new(),
            peer_seq: 0,
            waiting: None,
            abandoned: Vec::new(),
            adopted: None,
            dispute: None,
            finalized: None,
            closer: false,
            concluded: false,
            waiting_since: None,
            resend_at: None,
            backoff: 0,
            closing_since: None,
            finalized_since: None,
            unresponsive_reported: false,
            funding_since: None,
            deposit_sent: false,
            topup_refused: BTreeMap::new(),
            topup_assets: BTreeSet::new(),
            out: Vec::new(),
            txs: Vec::new(),
            events: Vec::new(),
            leaf_changes: BTreeMap::new(),
            submitted: BTreeSet::new(),
        }
    }

    // ------------------------------------------------------------------------------------------- accessors

    /// The channel id.
    pub fn id(&self) -> B256 {
        self.id
    }

    /// The params.
    pub fn params(&self) -> &ChannelParams {
        &self.params
    }

    /// This node's participant index.
    pub fn me(&self) -> u8 {
        self.me
    }

    /// The peer's address.
    pub fn peer(&self) -> Address {
        self.params.participants[usize::from(1 - self.me)]
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The state the chain finalized this channel with (the registered state of a challenge whose window passed,
    /// or the final state concluded), once it is finalized.
    pub fn finalized_state(&self) -> Option<&State> {
        self.state_at(self.finalized?)
    }

    /// The state of version `v` the chain may hold for this channel: the registered one, or one this node signed
    /// (supported, in flight, abandoned, or its final). A node signs at most one state per version, so a state
    /// the chain took with both signatures at version `v` is the one found here, even if the peer never sent its
    /// signature and completed it on-chain itself (a plain `conclude` of a proposed final).
    fn state_at(&self, v: u64) -> Option<&State> {
        self.dispute
            .iter()
            .map(|d| &d.registered.state)
            .chain(self.held_states())
            .chain(self.signed_final.iter())
            .find(|s| version_of(s) == v)
    }

    /// The latest state signed by both, if any.
    pub fn supported(&self) -> Option<&SignedState> {
        self.supported.as_ref()
    }

    /// The highest version this node has signed.
    pub fn signed_up_to(&self) -> u64 {
        self.signed_up_to
    }

    /// The final state this node signed, if any (S14: it signs nothing else of this channel afterwards).
    pub fn signed_final(&self) -> Option<&State> {
        self.signed_final.as_ref()
    }

    /// Every state this node signed and still holds: the supported one and the one in flight. After a crash and
    /// a restore both are still here.
    pub fn signed_states(&self) -> Vec<&State> {
        self.held_states().collect()
    }

    /// The supported state, the one in flight and the abandoned ones.
    fn held_states(&self) -> impl Iterator<Item = &State> {
        self.supported
            .iter()
            .map(|s| &s.state)
            .chain(self.pending.iter().map(|p| &p.state))
            .chain(self.abandoned.iter().map(|a| &a.state))
    }

    /// Whether an objective waits on the peer (a proposal, requests, the pre- or post-fund signature).
    pub fn is_busy(&self) -> bool {
        self.waiting_since.is_some() || !self.queue.is_empty()
    }

    /// This node's balance of `asset` in the latest supported state.
    pub fn balance(&self, asset: &Address) -> U256 {
        self.supported
            .as_ref()
            .and_then(|s| s.state.outcome.assets.iter().find(|a| a.asset == *asset))
            .map(|a| a.balances[usize::from(self.me)])
            .unwrap_or_default()
    }

    /// Per asset, the cumulative deposits the chain shows for each participant.
    pub fn chain_deposited(&self) -> &BTreeMap<Address, [U256; 2]> {
        &self.chain_deposited
    }

    /// Per asset, the cumulative payouts the chain shows for each participant.
    pub fn chain_withdrawn(&self) -> &BTreeMap<Address, [U256; 2]> {
        &self.chain_withdrawn
    }

    /// Whether the channel holds anything of this node's as `state` settles it: a balance, leaves (whose payouts may
    /// be its), a withdrawal `state` agrees that the chain has not paid, or a top-up of its own on-chain that
    /// `state` does not count yet or (in an asset it does not list) that the chain has not paid back, in an asset
    /// its user topped up with, so a stranger's dust in another asset counts for nothing. A node sends no
    /// transaction carrying a state that holds nothing of its own (S16): its peer settles its own funds.
    fn holds_mine(&self, state: &State) -> bool {
        self.holds_listed(state) || !self.unlisted_top_ups(state).is_empty()
    }

    /// [`LedgerChannel::holds_mine`] in the assets `state` lists (what `withdraw` pays): a balance, a locked leaf, a
    /// withdrawal the state agrees that the chain has not paid, or an own top-up `state` does not count yet.
    pub(super) fn holds_listed(&self, state: &State) -> bool {
        let me = usize::from(self.me);
        state.outcome.assets.iter().any(|a| {
            a.balances.get(me).is_some_and(|b| !b.is_zero())
                || !a.locked.is_zero()
                || a.withdrawn
                    .get(me)
                    .is_some_and(|w| *w > self.withdrawn_on_chain(&a.asset, me))
                || (self.topup_assets.contains(&a.asset) && self.own_top_up_left(state, &a.asset))
        })
    }

    /// Of an asset this node's user topped up with: its own deposit on-chain that `state` does not count yet, or,
    /// for an asset `state` does not list (a top-up the peer refused), its deposit the chain has not paid back.
    fn own_top_up_left(&self, state: &State, asset: &Address) -> bool {
        let me = usize::from(self.me);
        let on_chain = self.deposited_on_chain(asset, me);
        match state.outcome.assets.iter().find(|a| a.asset == *asset) {
            Some(a) => on_chain > a.deposited.get(me).copied().unwrap_or_default(),
            None => on_chain > self.withdrawn_on_chain(asset, me),
        }
    }

    /// The assets `state` does not list that hold an own top-up of this node's not paid back yet (one its user
    /// topped up with, refused by the peer or not proposed yet).
    pub(super) fn unlisted_top_ups(&self, state: &State) -> Vec<Address> {
        self.topup_assets
            .iter()
            .chain(self.topup_refused.keys())
            .filter(|asset| {
                !state.outcome.assets.iter().any(|a| a.asset == **asset)
                    && self.own_top_up_left(state, asset)
            })
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn withdrawn_on_chain(&self, asset: &Address, p: usize) -> U256 {
        self.chain_withdrawn
            .get(asset)
            .map(|w| w[p])
            .unwrap_or_default()
    }

    /// A failed open this node put nothing into (no deposit sent, none of its own on-chain): the node forgets it
    /// (record and messages), so opens a stranger abandons cost it no memory and no gas.
    pub(crate) fn forgettable(&self) -> bool {
        let me = usize::from(self.me);
        self.phase == Phase::Failed
            && !self.deposit_sent
            && self.dispute.is_none()
            && self.chain_deposited.values().all(|d| d[me].is_zero())
    }

    /// Participant `p`'s cumulative deposit of `asset` the chain shows (its own, S16).
    fn deposited_on_chain(&self, asset: &Address, p: usize) -> U256 {
        self.chain_deposited
            .get(asset)
            .map(|d| d[p])
            .unwrap_or_default()
    }

    /// The role this node plays in the channel.
    fn role(&self) -> Role {
        Role::of(self.me)
    }

    /// Refuses a message that only the other role handles.
    fn require(&self, role: Role) -> Result<()> {
        if self.role() != role {
            return Err(perr(ProtocolError::NotParticipant(role.name())));
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- outputs
    // The node drains these after the store commit of the input that caused them (ARCH.md "Persistence rule").

    pub(crate) fn take_out(&mut self) -> Vec<LedgerMessage> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn take_txs(&mut self) -> Vec<ChainTx> {
        std::mem::take(&mut self.txs)
    }

    pub(crate) fn take_events(&mut self) -> Vec<LedgerEvent> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn take_leaf_changes(&mut self) -> BTreeMap<u32, Option<SubAlloc>> {
        std::mem::take(&mut self.leaf_changes)
    }

    // ------------------------------------------------------------------------------------------- S14 gate

    /// Signs a state of this channel after the pre-fund: the one place this node's channel key does (S14). Once it
    /// signed a final state it signs no other: the peer can complete that final at any time (countersign it, even
    /// after refusing it) and `conclude` with it, which would erase every later state. Raises `signed_up_to`.
    fn sign(&mut self, env: &Env<'_>, state: &State) -> Result<Signature> {
        // Nothing on the strength of chain events that may have vanished.
        self.check_not_reorganized()?;
        if let Some(f) = &self.signed_final
            && f != state
        {
            return Err(perr(ProtocolError::FinalSigned(version_of(f))));
        }
        // A state below the withdrawn totals of one this node signed before (an abandoned proposal's withdrawal
        // left out) would let the peer be paid that withdrawal on-chain by the old state and keep the funds in the
        // new one.
        for (asset, floor) in &self.signed_withdrawn {
            let now = state
                .outcome
                .assets
                .iter()
                .find(|a| a.asset == *asset)
                .map(|a| [a.withdrawn[0], a.withdrawn[1]])
                .unwrap_or_default();
            if now[0] < floor[0] || now[1] < floor[1] {
                return Err(perr(ProtocolError::WithdrawalDropped(*asset)));
            }
        }
        for a in &state.outcome.assets {
            let floor = self.signed_withdrawn.entry(a.asset).or_default();
            floor[0] = floor[0].max(a.withdrawn[0]);
            floor[1] = floor[1].max(a.withdrawn[1]);
        }
        if state.isFinal {
            self.signed_final = Some(state.clone());
        }
        self.signed_up_to = self.signed_up_to.max(version_of(state));
        Ok(env.signer.sign_state(env.ctx, state))
    }

    // ------------------------------------------------------------------------------------------- helpers

    fn peer_index(&self) -> usize {
        usize::from(1 - self.me)
    }

    fn latest_version(&self) -> u64 {
        self.supported
            .as_ref()
            .map(SignedState::version)
            .unwrap_or(0)
            .max(self.signed_up_to)
    }

    fn start_waiting(&mut self, env: &Env<'_>, now: u64) {
        if self.waiting_since.is_none() {
            self.waiting_since = Some(now);
        }
        self.backoff = env.config.resend_ms;
        self.resend_at = Some(now.saturating_add(self.backoff));
    }

    fn stop_waiting(&mut self) {
        self.waiting_since = None;
        self.resend_at = None;
        self.unresponsive_reported = false;
    }

    fn note_applied(&mut self, table: &SubTree, steps: &[UndoStep]) {
        for s in steps {
            match s {
                UndoStep::Remove(slot, id) => {
                    self.leaf_changes.insert(*slot, table.get(id).cloned());
                }
                UndoStep::Reinsert(slot, _) => {
                    self.leaf_changes.insert(*slot, None);
                }
            }
        }
    }

    fn undo_pending_table(&mut self, table: &mut SubTree, steps: &[UndoStep]) -> Result<()> {
        ops::undo(table, steps)?;
        for s in steps {
            match s {
                UndoStep::Remove(slot, _) => {
                    self.leaf_changes.insert(*slot, None);
                }
                UndoStep::Reinsert(slot, leaf) => {
                    self.leaf_changes.insert(*slot, Some(leaf.clone()));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn check_from_peer(&self, from: Address) -> Result<()> {
        if from != self.peer() {
            return Err(perr(ProtocolError::NotPeer(from)));
        }
        Ok(())
    }

    fn wrong_phase(&self, what: &'static str) -> Error {
        perr(ProtocolError::WrongPhase {
            phase: self.phase.name(),
            what,
        })
    }

    // ------------------------------------------------------------------------------------------- dispatch

    /// Handles a message from `from` (checked to be the peer). On error the caller restores the channel as it was.
    pub(crate) fn handle_message(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        from: Address,
        msg: LedgerMessage,
        now: u64,
    ) -> Result<()> {
        self.check_from_peer(from)?;
        match msg {
            LedgerMessage::Open {
                params, prefund, ..
            } => {
                // A resend of the open we already accepted: answer with our pre-fund signature again.
                if params == self.params && prefund == self.prefund && self.role() == Role::Follower
                {
                    if let Some(s) = &self.supported
                        && s.version() == 0
                    {
                        self.out.push(LedgerMessage::Sign {
                            channel_id: self.id,
                            version: 0,
                            sig: s.sigs[1].clone(),
                            have_yours: true,
                        });
                    }
                    // Past the pre-fund, the opener has our signature: it deposited after receiving it.
                    return Ok(());
                }
                Err(perr(ProtocolError::ChannelExists(self.id)))
            }
            LedgerMessage::Sign {
                version,
                sig,
                have_yours,
                ..
            } => self.on_sign(env, version, sig, have_yours, now),
            LedgerMessage::Propose { state, sig, batch } => {
                self.on_propose(env, table, state, sig, batch, now)
            }
            LedgerMessage::Reject {
                version,
                index,
                reason,
                ..
            } => self.on_reject(env, table, version, index, reason, now),
            LedgerMessage::Request { proposals, .. } => self.on_request(env, table, proposals, now),
            LedgerMessage::Refuse { seq, reason, .. } => self.on_refuse(seq, reason),
        }
        .map(|()| {
            self.drive(env, now);
            self.maybe_propose(env, table, now);
        })
    }
}
