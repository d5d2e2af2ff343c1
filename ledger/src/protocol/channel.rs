//! One ledger channel's objectives as a sans-IO state machine.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;
use ferry_contracts::{ChannelParams, KIND_LEDGER, Signature, State, SubAlloc};
use serde::{Deserialize, Serialize};

use super::ops::{self, Op, Proposal, UndoStep};
use super::{ChainTx, LedgerEvent, LedgerMessage, ProtocolError, SubChannelGuard};
use crate::ChainContext;
use crate::channel::funded_asset;
use crate::params::{self, DurationPolicy};
use crate::signature::recover;
use crate::state::version_of;
use crate::sub_tree::SubTree;
use crate::{Error, Result, SignedState, Signer, outcome};

/// The most proposals of its own a leader keeps signed and refused above the latest supported state; at this many
/// it proposes nothing more until the peer answers (or the channel goes on-chain), so a peer that refuses every
/// proposal holds a bounded number of the leader's signatures and costs it bounded memory.
pub const MAX_ABANDONED: usize = 64;

/// The most requests of the follower a leader keeps queued for its next proposals; more are refused by name, so a
/// peer flooding requests while the leader's proposal is unanswered costs it bounded memory.
pub const MAX_QUEUED_REQUESTS: usize = 256;

/// What a node accepts when a peer opens a ledger channel with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPolicy {
    /// Whether this node accepts opens at all.
    pub accept: bool,
    /// The most this node deposits itself, per asset, into a channel a peer opens.
    pub max_own_deposit: U256,
    /// The ERC-20 tokens this node takes into a channel a peer opens or tops up, besides ETH (always taken). All
    /// channels' funds of one token sit pooled in the adjudicator, so a token whose balances shrink by themselves
    /// (a negative rebase) or that charges its sender would leave some channel short: only tokens the operator
    /// vetted belong here. Anything else is refused by name.
    pub tokens: Vec<Address>,
}

impl OpenPolicy {
    /// Whether this node takes `asset` into a channel a peer opens or tops up.
    pub fn allows(&self, asset: &Address) -> bool {
        asset.is_zero() || self.tokens.contains(asset)
    }
}

impl Default for OpenPolicy {
    fn default() -> Self {
        Self {
            accept: true,
            max_own_deposit: U256::ZERO,
            tokens: Vec::new(),
        }
    }
}

/// A node's protocol settings. Times are local milliseconds, except the durations policy (chain seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// First resend delay for an unanswered message; doubles up to `max_resend_ms`.
    pub resend_ms: u64,
    /// Longest resend delay.
    pub max_resend_ms: u64,
    /// How long the peer may leave an objective unanswered before it counts as unresponsive.
    pub peer_timeout_ms: u64,
    /// How long a channel may stay in funding (the peer's deposit or post-fund signature missing) before the node
    /// gives up: with nothing of its own deposited it drops the channel, otherwise the peer counts as unresponsive
    /// (and is challenged with the pre-fund state, which pays each side its own deposits, when `auto_dispute`).
    pub funding_timeout_ms: u64,
    /// Whether an unresponsive peer is challenged on-chain without the user asking.
    pub auto_dispute: bool,
    /// How long the participant that is not first in line waits before it sends a closing or withdrawing
    /// transaction itself (so the happy path has exactly one).
    pub grace_ms: u64,
    /// Most operations in one batch.
    pub max_batch: usize,
    /// Most sub-channels one ledger hosts.
    pub max_sub_channels: u64,
    /// S6: the challenge durations this node accepts.
    pub durations: DurationPolicy,
    /// What this node accepts when a peer opens a channel.
    pub open: OpenPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resend_ms: 1_000,
            max_resend_ms: 30_000,
            peer_timeout_ms: 60_000,
            funding_timeout_ms: 3_600_000,
            auto_dispute: true,
            grace_ms: 30_000,
            max_batch: 4_096,
            max_sub_channels: 1 << 20,
            durations: DurationPolicy {
                min_challenge: 60,
                max_lock: 30 * 24 * 3600,
            },
            open: OpenPolicy::default(),
        }
    }
}

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

/// A transaction a channel asked for, as the key that sends it once per start (until it fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TxKey {
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
        }
    }
}

/// What the chain shows of a registered challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dispute {
    registered: SignedState,
    finalizes_at: u64,
}

/// The persistent context a channel method needs: chain, key, settings and sub-channel guard.
pub(crate) struct Env<'a> {
    pub ctx: &'a ChainContext,
    pub signer: &'a Signer,
    pub config: &'a Config,
    pub guard: &'a dyn SubChannelGuard,
}

/// One ledger channel of this node: its params, the latest state signed by both, what is in flight, and what the
/// chain shows. Everything but the outboxes and the sub-channel table serializes (the table is stored leaf by
/// leaf, see [`LedgerNode`](super::LedgerNode)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerChannel {
    params: ChannelParams,
    id: B256,
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
    /// completes. At most [`MAX_ABANDONED`] (then the node proposes nothing more and the peer counts as
    /// unresponsive).
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

fn perr(e: ProtocolError) -> Error {
    Error::Protocol(e)
}

impl LedgerChannel {
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

    fn check_params(env: &Env<'_>, params: &ChannelParams) -> Result<B256> {
        let id = params::validate_for(params, env.ctx.chain_id, env.ctx.adjudicator)?;
        if params.kind != KIND_LEDGER {
            return Err(Error::WrongKind("a ledger channel"));
        }
        if params.participants.len() != 2 {
            return Err(Error::InvalidParams(2));
        }
        env.config.durations.check(params)?;
        Ok(id)
    }

    /// Starts opening a channel as its participant 0: checks the params and the amounts each participant will
    /// deposit (per asset), signs the pre-fund state and queues the `Open` message.
    pub(crate) fn open(
        env: &Env<'_>,
        params: ChannelParams,
        amounts: &[(Address, [U256; 2])],
        now: u64,
    ) -> Result<Self> {
        let id = Self::check_params(env, &params)?;
        if params.participants[0] != env.signer.address() {
            return Err(perr(ProtocolError::NotParticipant(
                "participant 0 (the opener)",
            )));
        }
        let mut sorted = amounts.to_vec();
        sorted.sort_by_key(|(a, _)| *a);
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(perr(ProtocolError::InvalidPrefund(
                "an asset is listed twice",
            )));
        }
        let assets = sorted
            .iter()
            .map(|(a, v)| funded_asset(*a, v.to_vec()))
            .collect();
        let prefund = crate::channel::state(&params, 0, assets, Bytes::new(), false);
        outcome::validate(&prefund.outcome, 2, KIND_LEDGER)?;
        let sig = env.signer.sign_state(env.ctx, &prefund);
        let mut ch = Self::blank(params.clone(), id, 0, prefund.clone(), Phase::Proposed);
        ch.pending = Some(Pending {
            state: prefund.clone(),
            sigs: [Some(sig.clone()), None],
            batch: vec![],
            undo: vec![],
        });
        ch.out.push(LedgerMessage::Open {
            params,
            prefund,
            sig,
        });
        ch.start_waiting(env, now);
        Ok(ch)
    }

    /// Accepts a peer's `Open` as participant 1 after checking it in full (params S1/S6, the pre-fund state, the
    /// opener's signature, the open policy); countersigns the pre-fund state.
    pub(crate) fn accept(
        env: &Env<'_>,
        from: Address,
        params: ChannelParams,
        prefund: State,
        sig: Signature,
        now: u64,
    ) -> Result<Self> {
        let id = Self::check_params(env, &params)?;
        if params.participants[1] != env.signer.address() {
            return Err(perr(ProtocolError::NotParticipant("participant 1")));
        }
        if params.participants[0] != from {
            return Err(perr(ProtocolError::NotPeer(from)));
        }
        if prefund.channelId != id {
            return Err(Error::WrongChannel {
                got: prefund.channelId,
                expected: id,
            });
        }
        if version_of(&prefund) != 0 || prefund.isFinal || !prefund.appData.is_empty() {
            return Err(perr(ProtocolError::InvalidPrefund(
                "it must be version 0, not final, without app data",
            )));
        }
        outcome::validate(&prefund.outcome, 2, KIND_LEDGER)?;
        if prefund.outcome.subRoot != ferry_contracts::empty_root()
            || prefund.outcome.assets.iter().any(|a| {
                !a.locked.is_zero()
                    || a.withdrawn.iter().any(|w| !w.is_zero())
                    || a.balances != a.deposited
            })
        {
            return Err(perr(ProtocolError::InvalidPrefund(
                "balances must equal deposits, with nothing locked or withdrawn",
            )));
        }
        let open = &env.config.open;
        if !open.accept {
            return Err(perr(ProtocolError::OpenRefused(
                "this node accepts no opens".into(),
            )));
        }
        if let Some(a) = prefund
            .outcome
            .assets
            .iter()
            .find(|a| !open.allows(&a.asset))
        {
            return Err(perr(ProtocolError::AssetNotAccepted(a.asset)));
        }
        if let Some(a) = prefund
            .outcome
            .assets
            .iter()
            .find(|a| a.deposited[1] > open.max_own_deposit)
        {
            return Err(perr(ProtocolError::OpenRefused(format!(
                "asks this node to deposit {} of {}, above its limit {}",
                a.deposited[1], a.asset, open.max_own_deposit
            ))));
        }
        let digest = env.ctx.digest(&prefund);
        if recover(&digest, &sig)? != from {
            return Err(Error::WrongSigner { index: 0 });
        }
        let ours = env.signer.sign_digest(&digest);
        let mut ch = Self::blank(params, id, 1, prefund.clone(), Phase::Funding);
        ch.supported = Some(SignedState {
            state: prefund,
            sigs: vec![sig, ours.clone()],
        });
        ch.out.push(LedgerMessage::Sign {
            channel_id: id,
            version: 0,
            sig: ours,
            have_yours: true,
        });
        ch.events.push(LedgerEvent::OpenAccepted { channel_id: id });
        ch.drive(env, now);
        Ok(ch)
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

    /// Participant `p`'s cumulative deposit of `asset` the chain shows (its own, S16).
    fn deposited_on_chain(&self, asset: &Address, p: usize) -> U256 {
        self.chain_deposited
            .get(asset)
            .map(|d| d[p])
            .unwrap_or_default()
    }

    /// The earliest local time this channel has timer work (see [`LedgerNode::handle_timeout`](super::LedgerNode::handle_timeout)).
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

    // ------------------------------------------------------------------------------------------- helpers

    /// Signs a state of this channel after the pre-fund: the one place this node's channel key does (S14). Once it
    /// signed a final state it signs no other: the peer can complete that final at any time (countersign it, even
    /// after refusing it) and `conclude` with it, which would erase every later state. Raises `signed_up_to`.
    fn sign(&mut self, env: &Env<'_>, state: &State) -> Result<Signature> {
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

    /// The final state this node signed, if any (S14: it signs nothing else of this channel afterwards).
    pub fn signed_final(&self) -> Option<&State> {
        self.signed_final.as_ref()
    }

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

    fn check_from_peer(&self, from: Address) -> Result<()> {
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

    /// Whether the chain shows every deposit the top-ups of `batch` count, on top of `base`.
    fn topups_confirmed(&self, base: &State, batch: &[Proposal]) -> bool {
        let mut need: BTreeMap<(Address, u8), U256> = BTreeMap::new();
        for p in batch {
            if let Op::TopUp {
                participant,
                asset,
                amount,
            } = &p.op
            {
                let e = need.entry((*asset, *participant)).or_insert_with(|| {
                    base.outcome
                        .assets
                        .iter()
                        .find(|a| a.asset == *asset)
                        .and_then(|a| a.deposited.get(usize::from(*participant)).copied())
                        .unwrap_or_default()
                });
                *e = e.saturating_add(*amount);
            }
        }
        need.iter().all(|((asset, p), total)| {
            self.chain_deposited
                .get(asset)
                .and_then(|d| d.get(usize::from(*p)))
                .is_some_and(|have| have >= total)
        })
    }

    /// The checks one side makes on an operation before it enters a batch (the leader on its own operations and
    /// on the follower's requests; the follower on the leader's batch): who may take whose funds, and the guard
    /// for sub-channels.
    fn authorize(&self, env: &Env<'_>, p: &Proposal) -> Result<()> {
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

    fn guard_remove(&self, env: &Env<'_>, table: &SubTree, p: &Proposal) -> Result<()> {
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

    // ------------------------------------------------------------------------------------------- completion

    fn complete(&mut self, env: &Env<'_>, pending: Pending, now: u64) {
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
    fn finish(&mut self, env: &Env<'_>, signed: SignedState, batch: &[Proposal], now: u64) {
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

    // ------------------------------------------------------------------------------------------- commands

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
        if self.me == 0 {
            self.queue.push(proposal);
            self.maybe_propose(env, table, now);
        } else {
            self.requests.push(proposal);
            self.out.push(LedgerMessage::Request {
                channel_id: self.id,
                proposals: self.requests.clone(),
            });
            self.start_waiting(env, now);
        }
        Ok(())
    }

    /// Deposits more of `asset` on-chain; once the chain shows it, the top-up is counted in the next state.
    pub(crate) fn top_up(&mut self, asset: Address, amount: U256) -> Result<()> {
        if self.phase != Phase::Running {
            return Err(self.wrong_phase("a top-up needs a running channel"));
        }
        if amount.is_zero() {
            return Err(perr(ProtocolError::ZeroAmount));
        }
        // S16: `expectedHeld` is this participant's own cumulative deposit, so nobody else's deposit changes
        // what the adjudicator takes.
        let mine = self.deposited_on_chain(&asset, usize::from(self.me));
        self.topup_assets.insert(asset);
        self.txs.push(ChainTx::Deposit {
            channel_id: self.id,
            asset,
            participant: self.me,
            expected_held: mine,
            amount,
        });
        Ok(())
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

    // ------------------------------------------------------------------------------------------- leader

    fn maybe_propose(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) {
        if self.me != 0
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

    fn refuse(&mut self, p: Proposal, reason: String) {
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

    fn on_request(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        proposals: Vec<Proposal>,
        now: u64,
    ) -> Result<()> {
        if self.me != 0 {
            return Err(perr(ProtocolError::NotParticipant("the leader")));
        }
        let mut sorted = proposals;
        sorted.sort_by_key(|p| p.seq);
        let mut queued = self.queue.iter().filter(|q| q.proposer == 1).count();
        for p in sorted {
            if p.seq <= self.peer_seq {
                continue; // already taken
            }
            if p.seq != self.peer_seq + 1 {
                break; // a gap: wait for the resend that holds the missing one
            }
            self.peer_seq = p.seq;
            if p.proposer != 1 {
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

    /// A top-up of this node's that the peer refused: not proposed again until its on-chain total grows, and an
    /// asset the channel does not hold is no longer counted (the user's top-up was answered; a stranger's drip of
    /// it must not make this node propose it again and again).
    fn note_refused_top_up(&mut self, op: &Op) {
        if let Op::TopUp {
            asset, participant, ..
        } = op
            && *participant == self.me
        {
            self.topup_assets.remove(asset);
            let total = self.deposited_on_chain(asset, usize::from(self.me));
            self.topup_refused.insert(*asset, total);
        }
    }

    fn refuse_request(&mut self, seq: u64, reason: String) {
        self.out.push(LedgerMessage::Refuse {
            channel_id: self.id,
            seq,
            reason,
        });
    }

    fn on_reject(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        version: u64,
        index: u64,
        reason: String,
        now: u64,
    ) -> Result<()> {
        if self.me != 0 {
            return Err(perr(ProtocolError::NotParticipant("the leader")));
        }
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

    // ------------------------------------------------------------------------------------------- follower

    fn on_propose(
        &mut self,
        env: &Env<'_>,
        table: &mut SubTree,
        state: State,
        sig: Signature,
        batch: Vec<Proposal>,
        now: u64,
    ) -> Result<()> {
        if self.me != 1 {
            return Err(perr(ProtocolError::NotParticipant("the follower")));
        }
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
            let checked = if p.proposer == 1 {
                if self.requests.iter().any(|r| same_request(r, p)) {
                    Ok(())
                } else {
                    Err(perr(ProtocolError::Unauthorized {
                        op: p.op.name(),
                        victim: 1,
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

    fn on_refuse(&mut self, seq: u64, reason: String) -> Result<()> {
        if self.me != 1 {
            return Err(perr(ProtocolError::NotParticipant("the follower")));
        }
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

    // ------------------------------------------------------------------------------------------- both

    fn on_sign(
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
                if params == self.params && prefund == self.prefund && self.me == 1 {
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

    // ------------------------------------------------------------------------------------------- chain

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

    fn finalize(&mut self, version: u64, now: u64) {
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

    fn close_out(&mut self) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.events.push(LedgerEvent::Closed {
                channel_id: self.id,
            });
        }
    }

    fn count_own_top_ups(&mut self, env: &Env<'_>, table: &mut SubTree, now: u64) {
        let me = usize::from(self.me);
        let Some(base) = self.supported.as_ref().map(|s| s.state.clone()) else {
            return;
        };
        let assets: Vec<(Address, U256)> = self
            .chain_deposited
            .iter()
            .map(|(a, d)| (*a, d[me]))
            .collect();
        for (asset, on_chain) in assets {
            // Only assets the channel holds or this node's user topped up with: a stranger's deposit of any other
            // token (even one this node lists, which the peer may not) is left to `withdrawUnlisted` at the close.
            let listed = base.outcome.assets.iter().any(|a| a.asset == asset);
            if !listed && !self.topup_assets.contains(&asset) {
                continue;
            }
            if self
                .topup_refused
                .get(&asset)
                .is_some_and(|t| *t >= on_chain)
            {
                continue;
            }
            let mut known = base
                .outcome
                .assets
                .iter()
                .find(|a| a.asset == asset)
                .map(|a| a.deposited[me])
                .unwrap_or_default();
            let in_flight = self
                .pending
                .iter()
                .flat_map(|p| p.batch.iter())
                .chain(self.queue.iter())
                .chain(self.requests.iter());
            for p in in_flight {
                if let Op::TopUp {
                    participant,
                    asset: a,
                    amount,
                } = &p.op
                    && usize::from(*participant) == me
                    && *a == asset
                {
                    known = known.saturating_add(*amount);
                }
            }
            if on_chain > known {
                let op = Op::TopUp {
                    participant: self.me,
                    asset,
                    amount: on_chain - known,
                };
                if let Err(e) = self.submit(env, table, op.clone(), now) {
                    self.events.push(LedgerEvent::Refused {
                        channel_id: self.id,
                        op,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Keeps a proposal of this node's that was refused or left unanswered (its table changes already undone): the
    /// peer may still complete and register it.
    fn abandon(&mut self, p: Pending) {
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
    fn adopt(&mut self, table: &mut SubTree, i: usize) -> Result<()> {
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

    fn on_challenge(
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

    // ------------------------------------------------------------------------------------------- timers

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
                    if self.me == 0 && version_of(&p.state) >= 2 {
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

    // ------------------------------------------------------------------------------------------- obligations

    fn once(&mut self, key: TxKey) -> bool {
        self.submitted.insert(key)
    }

    /// Derives what is due from the channel's state and queues it once per start: deposits in participant
    /// order, the post-fund signature, partial withdrawals, answers to stale challenges, the closing
    /// transaction, the payout.
    fn drive(&mut self, env: &Env<'_>, now: u64) {
        match self.phase {
            Phase::Funding => self.drive_funding(env, now),
            Phase::Running => self.drive_partial_withdrawals(),
            Phase::Closing => {
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
                    && self.once(TxKey::Close(s.version()))
                {
                    self.txs.push(ChainTx::ConcludeAndWithdraw {
                        params: self.params.clone(),
                        state: s,
                    });
                }
            }
            Phase::Disputed => {
                if let (Some(d), Some(s)) = (&self.dispute, &self.supported)
                    && s.version() > d.registered.version()
                {
                    let (stale, ours) = (d.registered.version(), s.clone());
                    if self.once(TxKey::Challenge(ours.version())) {
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
            Phase::Finalized => {
                // After a challenge, participant 0 withdraws at once; after `concludeAndWithdraw` nobody needs
                // to, unless no payout shows up within the grace period.
                let due = (self.me == 0 && !self.concluded)
                    || self
                        .finalized_since
                        .is_some_and(|t| now >= t.saturating_add(env.config.grace_ms));
                let state = self.finalized_state().cloned();
                if due
                    && let Some(state) = state
                    && self.once(TxKey::Withdraw(version_of(&state)))
                {
                    self.txs.push(ChainTx::Withdraw {
                        params: self.params.clone(),
                        state,
                    });
                }
            }
            _ => {}
        }
    }

    /// The channel stayed in funding for `funding_timeout_ms`: with nothing of this node's on-chain it is dropped;
    /// otherwise the peer counts as unresponsive and, with `auto_dispute`, the pre-fund state is registered (its
    /// payout gives each side back its own deposits).
    fn funding_timed_out(&mut self, env: &Env<'_>) {
        // Decided by this node's own funding deposits (sent, persisted, or on-chain in full), never by what others
        // deposited in its slot: a stranger's dust must not turn a drop into a challenge paid by this node.
        let me = usize::from(self.me);
        let mine_in = self.prefund.outcome.assets.iter().any(|a| {
            !a.deposited[me].is_zero() && self.deposited_on_chain(&a.asset, me) >= a.deposited[me]
        });
        self.unresponsive_reported = true;
        if !mine_in && !self.deposit_sent {
            self.phase = Phase::Failed;
            self.stop_waiting();
            self.pending = None;
            self.events.push(LedgerEvent::OpenFailed {
                channel_id: self.id,
                reason: "the channel was not funded in time".into(),
            });
            return;
        }
        self.events.push(LedgerEvent::PeerUnresponsive {
            channel_id: self.id,
        });
        if env.config.auto_dispute && self.dispute.is_none() {
            let _ = self.dispute(env);
        }
    }

    fn drive_funding(&mut self, env: &Env<'_>, now: u64) {
        let me = usize::from(self.me);
        let since = *self.funding_since.get_or_insert(now);
        let mut all_in = true;
        for a in self.prefund.outcome.assets.clone() {
            let need = a.deposited[me];
            let have = self.deposited_on_chain(&a.asset, me);
            let first_done = self.deposited_on_chain(&a.asset, 0) >= a.deposited[0];
            if self.deposited_on_chain(&a.asset, 0) < a.deposited[0]
                || self.deposited_on_chain(&a.asset, 1) < a.deposited[1]
            {
                all_in = false;
            }
            // S16: against this participant's own cumulative deposit (`have`). One deposit per asset is in flight
            // at a time: the contract takes what is missing up to `expected_held + amount` whatever landed for us
            // meanwhile, so a stranger's deposit for us never calls for another transaction (nor gas); a deposit
            // that failed is asked for again with the total the chain shows then.
            if need > have && (me == 0 || first_done) && self.once(TxKey::Deposit(a.asset)) {
                self.deposit_sent = true;
                self.txs.push(ChainTx::Deposit {
                    channel_id: self.id,
                    asset: a.asset,
                    participant: self.me,
                    expected_held: have,
                    amount: need - have,
                });
            }
        }
        if !all_in {
            // Wake up now and then while funding: a deposit that failed is asked for again.
            if self.resend_at.is_none() {
                self.resend_at = Some(now.saturating_add(env.config.max_resend_ms));
            }
            if now >= since.saturating_add(env.config.funding_timeout_ms)
                && !self.unresponsive_reported
            {
                self.funding_timed_out(env);
                return;
            }
        }
        if all_in
            && self.pending.is_none()
            && self.supported.as_ref().is_some_and(|s| s.version() == 0)
        {
            let mut postfund = self.prefund.clone();
            postfund.version = crate::state::version(1).unwrap_or_default();
            let Ok(sig) = self.sign(env, &postfund) else {
                return;
            };
            let mut sigs = [None, None];
            sigs[me] = Some(sig.clone());
            sigs[1 - me] = self.early_postfund.take();
            let have_yours = sigs[1 - me].is_some();
            self.out.push(LedgerMessage::Sign {
                channel_id: self.id,
                version: 1,
                sig,
                have_yours,
            });
            let pending = Pending {
                state: postfund,
                sigs,
                batch: vec![],
                undo: vec![],
            };
            if have_yours {
                self.complete(env, pending, now);
            } else {
                self.pending = Some(pending);
                self.start_waiting(env, now);
            }
        }
    }

    fn drive_partial_withdrawals(&mut self) {
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

    /// A transaction this channel asked for failed: report it and let it be asked for again later.
    pub(crate) fn handle_tx_failed(&mut self, tx: &ChainTx, reason: String) {
        self.submitted.remove(&TxKey::of(tx));
        self.events.push(LedgerEvent::TxFailed {
            channel_id: self.id,
            tx: tx.name(),
            reason,
        });
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
