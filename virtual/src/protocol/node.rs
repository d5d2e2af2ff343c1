//! A path member: its ledger node and the virtual channels it is on.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::app::payment::{
    initial_payment_data, payment_data_bytes, sign_voucher, verify_voucher, voucher,
};
use ferry_ledger::channel::{funded_asset, virtual_params};
use ferry_ledger::params::DurationPolicy;
use ferry_ledger::protocol::{LedgerNode, Phase};
use ferry_ledger::store::{Batch, Store, decode, encode};
use ferry_ledger::{ChainContext, ChannelParams, Signature, Signer, State, outcome};

use super::channel::{VirtualChannel, VirtualPhase};
use super::registry::{Entry, Registry, RegistryGuard, leaf_in, split};
use super::{
    AppKind, IntermediaryPolicy, Message, Tx, VirtualError, VirtualEvent, VirtualMessage, VirtualTx,
};
use crate::{Error, Result};
use ferry_ledger::app::App;
use ferry_ledger::app::payment::PaymentApp;
use ferry_ledger::app::rps::{RockPaperScissors, ready_data};

/// Namespace of the virtual-channel records (key: V's id), next to the ledger node's in the same store.
pub const NS_VIRTUAL: &str = "virtual.channels";

/// Namespace of the ids of virtual channels released and pruned (value: when pruned, local ms), so that a late
/// message about one is refused rather than taken for a new open.
pub const NS_PRUNED: &str = "virtual.pruned";

/// How long a released virtual channel's record is kept before it is pruned (local time): by default a day.
/// Everything V's other members need from this one was sent before it could release V (a leaf goes only with the
/// final signed by the whole path, or by V's outcome on-chain); the period leaves room for stragglers and operators.
pub const RELEASED_RETENTION_MS: u64 = 24 * 3600 * 1000;

/// How long a member waits before it asks again for a leaf to be added or removed (the peer may not have had
/// what it needed to agree yet).
const RETRY_MS: u64 = 1_000;

/// How often a member gossips a stage's signatures again while it is incomplete (a message may have been lost).
const RESEND_MS: u64 = 2_000;

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

/// One path member: a [`LedgerNode`] and the virtual channels it is on. Sans-IO like the ledger node: feed it
/// messages, chain events and time; drain messages, transactions and events.
pub struct VirtualNode<S: Store> {
    ledger: LedgerNode<S>,
    signer: Signer,
    ctx: ChainContext,
    durations: DurationPolicy,
    registry: Arc<Mutex<Registry>>,
    channels: BTreeMap<B256, VirtualChannel>,
    outbox: VecDeque<(Address, Message)>,
    events: VecDeque<VirtualEvent>,
    vtxs: VecDeque<VirtualTx>,
    /// Claims asked for since the start (asked again after a restart; a repeated claim reverts harmlessly).
    claims_sent: BTreeSet<(B256, B256)>,
    /// Ledgers taken on-chain since the start because a resolved V's leaf stayed in them ([`ESCALATE_MS`]).
    escalated: BTreeSet<B256>,
    /// Stale registrations of V answered since the start (V, registered version).
    answered: BTreeSet<(B256, u64)>,
    /// Registrations of V on which this endpoint moved since the start (a payee redeeming its vouchers, a player
    /// playing its move that waits for a countersignature).
    redeemed: BTreeSet<(B256, u64)>,
    /// Virtual channels this member challenged on its own since the start: an open that timed out after it signed
    /// the post-fund, a ledger of its that went on-chain with V's leaf.
    challenged: BTreeSet<B256>,
    /// Conclusions of V this member asked for since the start, with the final it holds (V, registered version or
    /// `u64::MAX` when none): asked again on each new registration.
    concluding: BTreeSet<(B256, u64)>,
    /// Ledgers (V, ledger) where this member, on B's side, asked for V's leaf to go after V was final on-chain.
    right_removals: BTreeSet<(B256, B256)>,
    persisted: HashMap<B256, Vec<u8>>,
    touched: BTreeSet<B256>,
    policy: IntermediaryPolicy,
    apps: HashMap<Address, AppKind>,
    /// Virtual channels released and pruned here.
    pruned: BTreeSet<B256>,
    /// How long a released channel is kept ([`RELEASED_RETENTION_MS`] by default).
    retention: u64,
}

impl<S: Store> std::fmt::Debug for VirtualNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualNode")
            .field("address", &self.signer.address())
            .field("virtual_channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl<S: Store> VirtualNode<S> {
    /// Wraps a ledger node (opened on its store with the same key), installs the virtual-channel guard on it,
    /// loads the virtual channels kept in the same store and resumes them: every signature this member knows is
    /// gossiped again, an endpoint resends its latest vouchers. A fresh store gives a node with no virtual channel.
    pub fn open_store(mut ledger: LedgerNode<S>, signer: Signer, now: u64) -> Result<Self> {
        let registry = Arc::new(Mutex::new(Registry::default()));
        ledger.set_guard(Box::new(RegistryGuard(registry.clone())));
        let ctx = *ledger.context();
        let durations = ledger.config().durations;
        let mut node = Self {
            ledger,
            signer,
            ctx,
            durations,
            registry,
            channels: BTreeMap::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            vtxs: VecDeque::new(),
            claims_sent: BTreeSet::new(),
            escalated: BTreeSet::new(),
            answered: BTreeSet::new(),
            redeemed: BTreeSet::new(),
            challenged: BTreeSet::new(),
            concluding: BTreeSet::new(),
            right_removals: BTreeSet::new(),
            persisted: HashMap::new(),
            touched: BTreeSet::new(),
            policy: IntermediaryPolicy::default(),
            apps: HashMap::new(),
            pruned: BTreeSet::new(),
            retention: RELEASED_RETENTION_MS,
        };
        for (key, _) in node.ledger.store().scan(NS_PRUNED, &[])? {
            let id = <[u8; 32]>::try_from(key.as_slice())
                .map(B256::from)
                .map_err(|_| {
                    Error::Ledger(ferry_ledger::Error::Store(format!(
                        "pruned virtual channel key of {} bytes",
                        key.len()
                    )))
                })?;
            node.pruned.insert(id);
        }
        for (_, bytes) in node.ledger.store().scan(NS_VIRTUAL, &[])? {
            let mut ch: VirtualChannel = decode("virtual channel", &bytes)?;
            if ch.phase == VirtualPhase::Released && ch.released_at.is_none() {
                // Released before release times were kept: the retention starts now.
                ch.released_at = Some(now);
                node.touched.insert(ch.id);
            }
            let id = ch.id;
            node.persisted.insert(id, bytes);
            node.channels.insert(id, ch);
            // The guard's whole entry (joining, given up, final, on-chain outcome) comes back from the record.
            node.sync_entry(id);
        }
        let ids: Vec<B256> = node.channels.keys().copied().collect();
        node.input(|n| {
            for id in ids {
                n.resume(id, now);
            }
            Ok(())
        })?;
        Ok(node)
    }

    /// Sends again what the peers of V may be missing.
    fn resume(&mut self, id: B256, now: u64) {
        let Some(ch) = self.channels.get(&id).cloned() else {
            return;
        };
        if ch.phase == VirtualPhase::Released {
            return;
        }
        self.gossip(id, Which::Prefund);
        if ch.postfund_sigs.iter().any(Option::is_some) {
            self.gossip(id, Which::Postfund);
        }
        if ch.final_state.is_some() {
            self.gossip(id, Which::Final);
        }
        if let Some(other) = ch.other_endpoint() {
            for (j, paid) in ch.paid.iter().enumerate() {
                if !paid.is_zero() {
                    let asset = ch.prefund.outcome.assets[j].asset;
                    let sig = sign_voucher(&self.signer, &ch.params, asset, *paid);
                    self.send(
                        ch.params.participants[other],
                        VirtualMessage::Voucher {
                            channel_id: id,
                            asset,
                            cumulative: *paid,
                            sig,
                        },
                    );
                }
            }
        }
        self.progress(id, now);
    }

    /// Runs one input; then commits every touched virtual channel in one batch before anything it produced can
    /// be polled. A failed commit takes back the input's messages and events and reloads the touched channels.
    fn input<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let (out_len, ev_len) = (self.outbox.len(), self.events.len());
        let result = f(self);
        let touched = std::mem::take(&mut self.touched);
        let mut batch = Batch::new();
        let mut records = Vec::new();
        for id in &touched {
            if let Some(ch) = self.channels.get(id) {
                let bytes = encode(ch)?;
                if self.persisted.get(id) != Some(&bytes) {
                    batch.put_raw(NS_VIRTUAL, id.to_vec(), bytes.clone());
                    records.push((*id, bytes));
                }
            }
        }
        if !batch.is_empty()
            && let Err(e) = self.ledger.store_mut().commit(batch)
        {
            self.outbox.truncate(out_len);
            self.events.truncate(ev_len);
            for id in &touched {
                match self
                    .persisted
                    .get(id)
                    .map(|b| decode::<VirtualChannel>("virtual channel", b))
                {
                    Some(Ok(ch)) => {
                        self.channels.insert(*id, ch);
                    }
                    _ => {
                        self.channels.remove(id);
                    }
                }
            }
            return Err(e.into());
        }
        self.persisted.extend(records);
        result
    }

    /// Declares the app deployed at `address` (the bundled payment app or game): this node joins only virtual
    /// channels whose app it knows, and checks every move by its rules.
    pub fn set_app(&mut self, address: Address, kind: AppKind) {
        self.apps.insert(address, kind);
    }

    fn app_of(&self, params: &ChannelParams) -> Result<AppKind> {
        self.app_of_address(params.app)
    }

    fn app_of_address(&self, app: Address) -> Result<AppKind> {
        self.apps
            .get(&app)
            .copied()
            .ok_or(verr(VirtualError::UnknownApp(app)))
    }

    /// Sets the terms on which this node routes virtual channels as an intermediary.
    pub fn set_policy(&mut self, policy: IntermediaryPolicy) {
        self.policy = policy;
    }

    /// Sets how long a released virtual channel's record is kept before it is pruned (ms of local time).
    pub fn set_release_retention(&mut self, ms: u64) {
        self.retention = ms;
    }

    /// Whether V was released here and its record pruned.
    pub fn is_pruned(&self, id: &B256) -> bool {
        self.pruned.contains(id)
    }

    /// Prunes the virtual channels released at least the retention period ago: their records leave the store and
    /// memory in one commit, their ids stay as tombstones. Nothing changes if the commit fails.
    fn prune(&mut self, now: u64) -> Result<()> {
        let due: Vec<B256> = self
            .channels
            .values()
            .filter(|c| c.phase == VirtualPhase::Released)
            .filter(|c| {
                c.released_at
                    .is_some_and(|t| now >= t.saturating_add(self.retention))
            })
            .map(|c| c.id)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        for id in &due {
            batch.delete(NS_VIRTUAL, id.to_vec());
            batch.put_raw(NS_PRUNED, id.to_vec(), encode(&now)?);
        }
        self.ledger.store_mut().commit(batch)?;
        let gone: BTreeSet<B256> = due.iter().copied().collect();
        for id in &due {
            self.channels.remove(id);
            self.persisted.remove(id);
            self.touched.remove(id);
        }
        if let Ok(mut reg) = self.registry.lock() {
            reg.entries.retain(|id, _| !gone.contains(id));
        }
        self.claims_sent.retain(|(v, _)| !gone.contains(v));
        self.answered.retain(|(v, _)| !gone.contains(v));
        self.redeemed.retain(|(v, _)| !gone.contains(v));
        self.challenged.retain(|v| !gone.contains(v));
        self.concluding.retain(|(v, _)| !gone.contains(v));
        self.right_removals.retain(|(v, _)| !gone.contains(v));
        self.pruned.extend(gone);
        Ok(())
    }

    /// The fee this node charges to route a virtual channel holding `total` of its first asset.
    pub fn quote(&self, total: U256) -> U256 {
        self.policy.fee(total)
    }

    /// This node's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The ledger node.
    pub fn ledger(&self) -> &LedgerNode<S> {
        &self.ledger
    }

    /// The ledger node, for ledger commands (open, pay, close, …).
    pub fn ledger_mut(&mut self) -> &mut LedgerNode<S> {
        &mut self.ledger
    }

    /// Consumes the node and returns its store (holding the ledger and the virtual records).
    pub fn into_store(self) -> S {
        self.ledger.into_store()
    }

    /// Every virtual channel this node is on, by id.
    pub fn channels(&self) -> impl Iterator<Item = &VirtualChannel> {
        self.channels.values()
    }

    /// One virtual channel this node is on.
    pub fn channel(&self, id: &B256) -> Option<&VirtualChannel> {
        self.channels.get(id)
    }

    /// Brings the guard's entry for V in line with this member's record of V (S8, S10): the entry is derived from
    /// the record alone, so what the guard allows is the same before and after a restart.
    fn sync_entry(&self, id: B256) {
        if let Some(ch) = self.channels.get(&id)
            && let Ok(mut reg) = self.registry.lock()
        {
            reg.entries.insert(id, Entry::of(ch));
        }
    }

    fn send(&mut self, to: Address, msg: VirtualMessage) {
        self.outbox.push_back((to, Message::Virtual(msg)));
    }

    /// Sends the signatures known on `state` to both path neighbours.
    fn gossip(&mut self, id: B256, which: Which) {
        self.gossip_inner(id, which, None);
    }

    /// Sends the signatures known on `state` to one member.
    fn gossip_to(&mut self, id: B256, which: Which, to: Address) {
        self.gossip_inner(id, which, Some(to));
    }

    fn gossip_inner(&mut self, id: B256, which: Which, only: Option<Address>) {
        let Some(ch) = self.channels.get(&id) else {
            return;
        };
        let (state, sigs, params, fees) = match which {
            Which::Prefund => (
                ch.prefund.clone(),
                ch.prefund_sigs.clone(),
                Some(Box::new(ch.params.clone())),
                ch.fees.clone(),
            ),
            Which::Postfund => (ch.postfund(), ch.postfund_sigs.clone(), None, vec![]),
            Which::Final => match &ch.final_state {
                Some(f) => (f.clone(), ch.final_sigs.clone(), None, vec![]),
                None => return,
            },
        };
        let mut to = Vec::new();
        if let Some(only) = only {
            to.push(only);
        } else {
            if ch.me > 0 {
                to.push(ch.params.participants[ch.me - 1]);
            }
            if ch.me < ch.last() {
                to.push(ch.params.participants[ch.me + 1]);
            }
        }
        for peer in to {
            self.send(
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

    /// Checks that `hop` is a running ledger of this node with `peer`.
    fn check_ledger(&self, hop: B256, peer: Address) -> Result<()> {
        match self.ledger.channel(&hop) {
            Some(l) if l.peer() == peer && l.phase() == Phase::Running => Ok(()),
            _ => Err(verr(VirtualError::LedgerMissing(hop))),
        }
    }

    /// Checks V's params and pre-fund as a path member joining V (S1, S2, S6 and the pre-fund's shape).
    fn check_join(&self, params: &ChannelParams, prefund: &State, me: usize) -> Result<B256> {
        let id =
            ferry_ledger::params::validate_for(params, self.ctx.chain_id, self.ctx.adjudicator)?;
        if params.kind != ferry_ledger::contracts::KIND_VIRTUAL {
            return Err(Error::Ledger(ferry_ledger::Error::WrongKind(
                "a virtual channel",
            )));
        }
        self.durations.check(params)?;
        let n = params.participants.len();
        if me > 0 {
            self.check_ledger(params.hops[me - 1], params.participants[me - 1])?;
        }
        if me + 1 < n {
            self.check_ledger(params.hops[me], params.participants[me + 1])?;
        }
        if prefund.channelId != id || prefund.version.to::<u64>() != 0 || prefund.isFinal {
            return Err(verr(VirtualError::InvalidPrefund(
                "version 0 of this channel, not final",
            )));
        }
        outcome::validate(&prefund.outcome, n, ferry_ledger::contracts::KIND_VIRTUAL)?;
        if !outcome::intermediaries_empty(&prefund.outcome) {
            return Err(verr(VirtualError::InvalidPrefund(
                "intermediaries hold nothing",
            )));
        }
        let initial = match self.app_of(params)? {
            AppKind::Payment => initial_payment_data(prefund.outcome.assets.len()),
            AppKind::Game => ready_data(),
        };
        if prefund.appData != initial {
            return Err(verr(VirtualError::InvalidPrefund(
                "a payment channel starts with nothing paid",
            )));
        }
        Ok(id)
    }

    /// What this node has locked for V's in `hop` (its side of each V whose path uses that ledger), in their
    /// first asset.
    fn locked_in(&self, hop: B256) -> U256 {
        self.channels
            .values()
            .filter(|c| c.phase != VirtualPhase::Released)
            .filter_map(|c| {
                let k = c.params.hops.iter().position(|h| *h == hop)?;
                let side = if k + 1 == c.me { c.last() } else { 0 };
                c.prefund.outcome.assets.first().map(|a| a.balances[side])
            })
            .fold(U256::ZERO, |acc, v| acc.saturating_add(v))
    }

    /// The fee quotes' shape, this member's terms (fee, per-channel and per-user caps) and its liquidity for its
    /// side of V in each of its ledgers on the path (plus the fees it passes on). A clear refusal, nothing changes.
    fn check_policy(
        &self,
        params: &ChannelParams,
        prefund: &State,
        fees: &[U256],
        me: usize,
    ) -> Result<()> {
        let n = params.participants.len();
        let last = n - 1;
        if fees.len() != n || !fees[0].is_zero() || !fees[last].is_zero() {
            return Err(verr(VirtualError::InvalidPrefund(
                "one fee per path member, none for the endpoints",
            )));
        }
        let assets = &prefund.outcome.assets;
        let passed_on = fees
            .iter()
            .skip(me + 1)
            .fold(U256::ZERO, |acc, f| acc.saturating_add(*f));
        if me != 0 && me != last {
            let total = assets.first().map(outcome::asset_total).unwrap_or_default();
            let want = self.policy.fee(total);
            if fees[me] < want {
                return Err(verr(VirtualError::Policy(format!(
                    "this intermediary charges {want}, the quote offers {}",
                    fees[me]
                ))));
            }
            if let Some(a) = assets
                .iter()
                .find(|a| outcome::asset_total(a) > self.policy.max_per_channel)
            {
                return Err(verr(VirtualError::Policy(format!(
                    "{} of {} is above the per-channel cap {}",
                    outcome::asset_total(a),
                    a.asset,
                    self.policy.max_per_channel
                ))));
            }
            let (a0, b0) = assets
                .first()
                .map(|a| (a.balances[0], a.balances[last]))
                .unwrap_or_default();
            for (hop, add) in [(params.hops[me - 1], b0), (params.hops[me], a0)] {
                let locked = self.locked_in(hop).saturating_add(add);
                if locked > self.policy.max_per_user {
                    return Err(verr(VirtualError::Policy(format!(
                        "{locked} locked with one neighbour is above the per-user cap {}",
                        self.policy.max_per_user
                    ))));
                }
            }
        }
        // Liquidity: my side of V in each of my ledgers on the path, and the fees I pass on to the right.
        let mut sides = Vec::new();
        if me > 0 {
            sides.push((params.hops[me - 1], last, U256::ZERO));
        }
        if me < last {
            sides.push((params.hops[me], 0, passed_on));
        }
        for (hop, side, extra) in sides {
            for (j, a) in assets.iter().enumerate() {
                let need = a.balances[side].saturating_add(if j == 0 { extra } else { U256::ZERO });
                let have = self
                    .ledger
                    .channel(&hop)
                    .map(|l| l.balance(&a.asset))
                    .unwrap_or_default();
                if have < need {
                    return Err(verr(VirtualError::Capacity(format!(
                        "ledger {hop} holds {have} of {} for this node, V needs {need}",
                        a.asset
                    ))));
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- commands

    /// Opens a virtual payment channel from this node (A) to `path`'s last member (B) through the intermediaries
    /// between, over the ledgers `hops` (`hops[k]` between `path[k]` and `path[k+1]`), with A's and B's balances
    /// per asset. `app` is the payment app's address on the chain. Returns V's id.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        path: Vec<Address>,
        hops: Vec<B256>,
        app: Address,
        balances: &[(Address, [U256; 2])],
        fees: Vec<U256>,
        challenge_duration: u64,
        now: u64,
    ) -> Result<B256> {
        self.input(|n| n.open_inner(path, hops, app, balances, fees, challenge_duration, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn open_inner(
        &mut self,
        path: Vec<Address>,
        hops: Vec<B256>,
        app: Address,
        balances: &[(Address, [U256; 2])],
        fees: Vec<U256>,
        challenge_duration: u64,
        now: u64,
    ) -> Result<B256> {
        if path.first() != Some(&self.address()) {
            return Err(verr(VirtualError::NotMember("the first endpoint")));
        }
        // Moves each endpoint may make on-chain after a challenge (S7): a payee redeems its vouchers, netted, in one
        // move; a round of the game takes two moves of the first player and one of the other.
        let max_moves = match self.app_of_address(app)? {
            AppKind::Payment => 1,
            AppKind::Game => 2,
        };
        let params = virtual_params(&self.ctx, path, hops, app, challenge_duration, max_moves);
        let n = params.participants.len();
        let mut sorted = balances.to_vec();
        sorted.sort_by_key(|(a, _)| *a);
        let assets = sorted
            .iter()
            .map(|(asset, [a, b])| {
                let mut bal = vec![U256::ZERO; n];
                bal[0] = *a;
                bal[n - 1] = *b;
                funded_asset(*asset, bal)
            })
            .collect::<Vec<_>>();
        let m = assets.len();
        let initial = match self.app_of(&params)? {
            AppKind::Payment => initial_payment_data(m),
            AppKind::Game => ready_data(),
        };
        let prefund = ferry_ledger::channel::state(&params, 0, assets, initial, false);
        let id = self.check_join(&params, &prefund, 0)?;
        self.check_policy(&params, &prefund, &fees, 0)?;
        if self.channels.contains_key(&id) {
            return Err(Error::Ledger(ferry_ledger::Error::Protocol(
                ferry_ledger::protocol::ProtocolError::ChannelExists(id),
            )));
        }
        let mut ch = VirtualChannel::new(params.clone(), id, 0, prefund.clone());
        ch.joined_at = now;
        ch.prefund_sigs[0] = Some(self.signer.sign_state(&self.ctx, &prefund));
        ch.fees = fees.clone();
        self.channels.insert(id, ch);
        self.sync_entry(id);
        self.gossip(id, Which::Prefund);
        self.progress(id, now);
        Ok(id)
    }

    /// Pays `amount` of `asset` to the other endpoint by a voucher for the new cumulative total.
    pub fn pay(&mut self, id: B256, asset: Address, amount: U256) -> Result<()> {
        self.touched.insert(id);
        self.input(|n| n.pay_inner(id, asset, amount))
    }

    fn pay_inner(&mut self, id: B256, asset: Address, amount: U256) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let other = ch
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if !ch.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        // Once V is registered on-chain it only finalizes: a voucher the payee gets after the registration it
        // redeems on could never count there.
        if ch.phase != VirtualPhase::Open || ch.registered.is_some() {
            return Err(verr(VirtualError::Settling));
        }
        if self.app_of(&ch.params)? != AppKind::Payment {
            return Err(verr(VirtualError::InvalidMove(
                "not a payment channel".into(),
            )));
        }
        let j = ch
            .asset_index(&asset)
            .ok_or(verr(VirtualError::InvalidState("asset not in the channel")))?;
        if amount.is_zero() || ch.balance(j) < amount {
            return Err(verr(VirtualError::InsufficientFunds));
        }
        let cumulative = ch.paid[j] + amount;
        let sig = sign_voucher(&self.signer, &ch.params, asset, cumulative);
        let to = ch.params.participants[other];
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.paid[j] = cumulative;
        }
        self.send(
            to,
            VirtualMessage::Voucher {
                channel_id: id,
                asset,
                cumulative,
                sig,
            },
        );
        Ok(())
    }

    /// Settles V: the first endpoint proposes the final state from its payments; the last endpoint asks it to.
    pub fn settle(&mut self, id: B256, now: u64) -> Result<()> {
        self.touched.insert(id);
        self.input(|n| n.settle_inner(id, now))
    }

    fn settle_inner(&mut self, id: B256, now: u64) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        if !ch.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        if ch.me == ch.last() {
            let to = ch.params.participants[0];
            self.send(to, VirtualMessage::SettleRequest { channel_id: id });
            return Ok(());
        }
        if ch.me != 0 {
            return Err(verr(VirtualError::NotMember("an endpoint")));
        }
        if ch.final_state.is_some() {
            return Ok(()); // already proposed
        }
        if ch.my_move.is_some() {
            return Err(verr(VirtualError::InvalidMove(
                "a move is waiting for its countersignature".into(),
            )));
        }
        let last = ch.last();
        let mut fin = ch.current();
        fin.version = ferry_ledger::state::version(Self::final_version_floor(ch))?;
        fin.isFinal = true;
        if self.app_of(&ch.params)? == AppKind::Payment {
            for (j, a) in fin.outcome.assets.iter_mut().enumerate() {
                let a_bal = ch.balance(j);
                let total = a.balances[0] + a.balances[last];
                a.balances[0] = a_bal;
                a.balances[last] = total - a_bal;
            }
            fin.appData = payment_data_bytes(&ch.paid, &ch.received);
        }
        let sig = self.signer.sign_state(&self.ctx, &fin);
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.final_state = Some(fin);
            ch.final_sigs[0] = Some(sig);
            ch.phase = VirtualPhase::Settling;
        }
        self.gossip(id, Which::Final);
        self.progress(id, now);
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- inputs

    /// Handles a message from `from`; a refused one gets a typed error and changes nothing.
    pub fn handle_message(&mut self, from: Address, msg: Message, now: u64) -> Result<()> {
        self.input(|n| n.handle_message_inner(from, msg, now))
    }

    fn handle_message_inner(&mut self, from: Address, msg: Message, now: u64) -> Result<()> {
        match msg {
            Message::Ledger(m) => {
                let ledger = m.channel_id();
                self.ledger.handle_message(from, m, now)?;
                self.after_ledger(Some(ledger), now);
                Ok(())
            }
            Message::Virtual(m) => {
                let id = m.channel_id();
                if self.pruned.contains(&id) {
                    return Err(verr(VirtualError::Pruned(id)));
                }
                self.touched.insert(id);
                let r = self.handle_virtual(from, m, now);
                if let Err(e) = &r {
                    self.events.push_back(VirtualEvent::Refused {
                        channel_id: id,
                        reason: e.to_string(),
                    });
                }
                r
            }
        }
    }

    fn handle_virtual(&mut self, from: Address, msg: VirtualMessage, now: u64) -> Result<()> {
        match msg {
            VirtualMessage::Sigs {
                params,
                state,
                sigs,
                fees,
            } => self.on_sigs(from, params, state, sigs, fees, now),
            VirtualMessage::Voucher {
                channel_id,
                asset,
                cumulative,
                sig,
            } => self.on_voucher(from, channel_id, asset, cumulative, sig),
            VirtualMessage::Move { state, sig } => self.on_move(from, state, sig),
            VirtualMessage::MoveAck {
                channel_id,
                version,
                sig,
            } => self.on_move_ack(from, channel_id, version, sig),
            VirtualMessage::SettleRequest { channel_id } => {
                let ch = self
                    .channels
                    .get(&channel_id)
                    .ok_or(verr(VirtualError::UnknownChannel(channel_id)))?;
                if ch.me != 0 || from != ch.params.participants[ch.last()] {
                    return Err(verr(VirtualError::NotNeighbour(from)));
                }
                self.settle_inner(channel_id, now)
            }
        }
    }

    fn on_sigs(
        &mut self,
        from: Address,
        params: Option<Box<ChannelParams>>,
        state: State,
        sigs: Vec<Option<Signature>>,
        fees: Vec<U256>,
        now: u64,
    ) -> Result<()> {
        let id = state.channelId;
        if !self.channels.contains_key(&id) {
            // A pre-fund introducing V: join after checking it in full.
            let params = *params.ok_or(verr(VirtualError::UnknownChannel(id)))?;
            let me = params
                .participants
                .iter()
                .position(|p| *p == self.address())
                .ok_or(verr(VirtualError::NotMember("a path member")))?;
            let neighbours = [me.checked_sub(1), Some(me + 1)];
            if !neighbours
                .iter()
                .flatten()
                .any(|i| params.participants.get(*i) == Some(&from))
            {
                return Err(verr(VirtualError::NotNeighbour(from)));
            }
            let checked = self.check_join(&params, &state, me)?;
            if checked != id {
                return Err(verr(VirtualError::InvalidPrefund("the id")));
            }
            self.check_policy(&params, &state, &fees, me)?;
            let mut ch = VirtualChannel::new(params.clone(), id, me, state.clone());
            ch.joined_at = now;
            VirtualChannel::merge(&self.ctx, &params, &state, &mut ch.prefund_sigs, &sigs)?;
            ch.prefund_sigs[me] = Some(self.signer.sign_state(&self.ctx, &state));
            ch.fees = fees.clone();
            self.channels.insert(id, ch);
            self.sync_entry(id);
            self.events
                .push_back(VirtualEvent::Joined { channel_id: id });
            self.gossip(id, Which::Prefund);
            self.progress(id, now);
            return Ok(());
        }
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        if !ch.params.participants.contains(&from) {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let params = ch.params.clone();
        let version = state.version.to::<u64>();
        let which = if state.isFinal {
            Which::Final
        } else if version == 0 && state == ch.prefund {
            Which::Prefund
        } else if version == 1 && state == ch.postfund() {
            Which::Postfund
        } else {
            return Err(verr(VirtualError::InvalidState(
                "not V's pre-fund, post-fund or a final state",
            )));
        };
        let mut ch = ch.clone();
        let learned = match which {
            Which::Prefund => {
                VirtualChannel::merge(&self.ctx, &params, &state, &mut ch.prefund_sigs, &sigs)?
            }
            Which::Postfund => {
                VirtualChannel::merge(&self.ctx, &params, &state, &mut ch.postfund_sigs, &sigs)?
            }
            Which::Final => {
                match &ch.final_state {
                    Some(f) if *f != state => return Err(verr(VirtualError::ConflictingFinal)),
                    Some(_) => {}
                    None => {
                        // Checked before anything is kept: a final of V keeps S3, version above the post-fund, and
                        // comes with A's signature (only A proposes a final; `merge` below checks it). A final
                        // without it, kept and countersigned, would use up every member's one final (S4) and
                        // wedge V's cooperative settle for good.
                        self.check_final(&ch, &state)?;
                        if sigs.first().is_none_or(Option::is_none) {
                            return Err(verr(VirtualError::FinalMismatch(
                                "a final comes with A's signature",
                            )));
                        }
                        ch.final_state = Some(state.clone());
                    }
                }
                VirtualChannel::merge(&self.ctx, &params, &state, &mut ch.final_sigs, &sigs)?
            }
        };
        let me = ch.me;
        // The sender lacks signatures we hold: answer it with ours (gossip converges even when we learned nothing).
        let ours = match which {
            Which::Prefund => &ch.prefund_sigs,
            Which::Postfund => &ch.postfund_sigs,
            Which::Final => &ch.final_sigs,
        };
        let sender_lacks = ours
            .iter()
            .zip(sigs.iter())
            .any(|(o, s)| o.is_some() && s.is_none());
        // Our own signature where the rules allow it now.
        let mut signed = false;
        if let Which::Final = which
            && ch.final_sigs[me].is_none()
            && ch.is_funded()
            && self.check_final_for_me(&ch, &state).is_ok()
        {
            ch.final_sigs[me] = Some(self.signer.sign_state(&self.ctx, &state));
            ch.phase = VirtualPhase::Settling;
            signed = true;
        }
        self.channels.insert(id, ch);
        if learned || signed {
            self.gossip(id, which);
        } else if sender_lacks {
            self.gossip_to(id, which, from);
        }
        self.progress(id, now);
        Ok(())
    }

    /// S3 and the shape of a final state of V.
    fn check_final(&self, ch: &VirtualChannel, state: &State) -> Result<()> {
        if state.channelId != ch.id || !state.isFinal || state.version.to::<u64>() < 2 {
            return Err(verr(VirtualError::InvalidState(
                "a final state above the post-fund",
            )));
        }
        outcome::validate(
            &state.outcome,
            ch.params.participants.len(),
            ferry_ledger::contracts::KIND_VIRTUAL,
        )?;
        outcome::check_conserved(&ch.prefund.outcome, &state.outcome)?;
        Ok(())
    }

    /// What this member checks before it signs a final (S4): it holds the certificate; an endpoint also that the
    /// final gives it at least what its own payments say.
    fn check_final_for_me(&self, ch: &VirtualChannel, state: &State) -> Result<()> {
        if !ch.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        if ch.is_endpoint() {
            if state.version.to::<u64>() < Self::final_version_floor(ch) {
                return Err(verr(VirtualError::FinalMismatch(
                    "the final's version leaves no room above what one endpoint alone can register",
                )));
            }
            for (j, a) in state.outcome.assets.iter().enumerate() {
                if a.balances[ch.me] < ch.balance(j) {
                    return Err(verr(VirtualError::FinalMismatch(
                        "this endpoint would get less than it holds",
                    )));
                }
            }
        }
        Ok(())
    }

    /// The lowest version an endpoint proposes or signs a final of V with: above every state one endpoint alone can
    /// register on-chain — the latest state both endpoints signed (or the certificate), then `max_moves` moves of
    /// its own by `progress` (S7 gives each endpoint its own `max_moves`). Since `conclude` lets a whole-path final
    /// of V win over any registered version (S5), this is defence in depth: the final is also the newest state
    /// a single cheating endpoint can reach, so no tool that orders states by version can prefer the cheat.
    fn final_version_floor(ch: &VirtualChannel) -> u64 {
        ch.current().version.to::<u64>() + 1 + ch.params.maxMoves.to::<u64>()
    }

    /// The checks of a move from the latest co-signed state (or the post-fund) to `to` by the endpoint at
    /// `mover`: V's next version, not final, a valid outcome keeping S3, and the app's rules.
    fn check_move(&self, ch: &VirtualChannel, to: &State, mover: usize) -> Result<()> {
        self.check_move_from(ch, &ch.current(), to, mover)
    }

    /// The checks of a move from `from` to `to` by the endpoint at `mover` (see [`Self::check_move`]).
    fn check_move_from(
        &self,
        ch: &VirtualChannel,
        from: &State,
        to: &State,
        mover: usize,
    ) -> Result<()> {
        let bad = |m: &str| verr(VirtualError::InvalidMove(m.into()));
        if !ch.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        if ch.final_state.is_some() {
            return Err(verr(VirtualError::Settling));
        }
        if to.channelId != ch.id || to.isFinal {
            return Err(bad("a non-final state of this channel"));
        }
        if to.version.to::<u64>() != from.version.to::<u64>() + 1 {
            return Err(bad("not the next version"));
        }
        outcome::validate(
            &to.outcome,
            ch.params.participants.len(),
            ferry_ledger::contracts::KIND_VIRTUAL,
        )?;
        outcome::check_conserved(&ch.prefund.outcome, &to.outcome)?;
        let verdict = match self.app_of(&ch.params)? {
            AppKind::Game => RockPaperScissors.valid_transition(&ch.params, from, to, mover),
            AppKind::Payment => PaymentApp.valid_transition(&ch.params, from, to, mover),
        };
        verdict.map_err(|e| bad(&e.to_string()))
    }

    /// Makes an app move: `to` is V's next state (built with the app's helpers, e.g.
    /// `ferry_ledger::app::rps::commit`); it is checked by the app's rules, signed and sent to the other endpoint,
    /// which countersigns it.
    pub fn make_move(&mut self, id: B256, to: State) -> Result<()> {
        self.touched.insert(id);
        self.input(|n| {
            let ch = n
                .channels
                .get(&id)
                .ok_or(verr(VirtualError::UnknownChannel(id)))?;
            let other = ch
                .other_endpoint()
                .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
            if ch.my_move.is_some() {
                return Err(verr(VirtualError::InvalidMove(
                    "a move is already waiting".into(),
                )));
            }
            n.check_move(ch, &to, ch.me)?;
            let sig = n.signer.sign_state(&n.ctx, &to);
            let peer = ch.params.participants[other];
            if let Some(c) = n.channels.get_mut(&id) {
                c.my_move = Some((to.clone(), sig.clone()));
            }
            n.send(peer, VirtualMessage::Move { state: to, sig });
            // V is registered on-chain (not final yet): the move is also played there (S7).
            if let Some(c) = n.channels.get(&id).cloned()
                && c.onchain_final.is_none()
                && let Some(version) = c.registered.as_ref().map(|(s, _)| s.version.to::<u64>())
                && let Some(tx) = n.move_onchain(&c, version)
            {
                n.vtxs.push_back(tx);
            }
            Ok(())
        })
    }

    fn on_move(&mut self, from: Address, to: State, sig: Signature) -> Result<()> {
        let id = to.channelId;
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let other = ch
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if ch.params.participants[other] != from {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let version = to.version.to::<u64>();
        // A resent move we already countersigned: answer again.
        if let Some(l) = &ch.latest
            && l.state == to
        {
            let ours = l.sigs[if ch.me == 0 { 0 } else { 1 }].clone();
            self.send(
                from,
                VirtualMessage::MoveAck {
                    channel_id: id,
                    version,
                    sig: ours,
                },
            );
            return Ok(());
        }
        if ferry_ledger::signature::recover(&self.ctx.digest(&to), &sig)? != from {
            return Err(Error::Ledger(ferry_ledger::Error::WrongSigner {
                index: other,
            }));
        }
        self.check_move(ch, &to, other)?;
        let ours = self.signer.sign_state(&self.ctx, &to);
        let sigs = if ch.me == 0 {
            vec![ours.clone(), sig]
        } else {
            vec![sig, ours.clone()]
        };
        if let Some(c) = self.channels.get_mut(&id) {
            c.latest = Some(ferry_ledger::SignedState { state: to, sigs });
            // A move of ours from the same state can no longer complete.
            c.my_move = None;
        }
        self.send(
            from,
            VirtualMessage::MoveAck {
                channel_id: id,
                version,
                sig: ours,
            },
        );
        self.events.push_back(VirtualEvent::Moved {
            channel_id: id,
            version,
        });
        Ok(())
    }

    fn on_move_ack(&mut self, from: Address, id: B256, version: u64, sig: Signature) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let other = ch
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        if ch.params.participants[other] != from {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        let Some((state, ours)) = ch.my_move.clone() else {
            return Ok(()); // a duplicate
        };
        if state.version.to::<u64>() != version {
            return Ok(());
        }
        if ferry_ledger::signature::recover(&self.ctx.digest(&state), &sig)? != from {
            return Err(Error::Ledger(ferry_ledger::Error::WrongSigner {
                index: other,
            }));
        }
        let sigs = if ch.me == 0 {
            vec![ours, sig]
        } else {
            vec![sig, ours]
        };
        if let Some(c) = self.channels.get_mut(&id) {
            c.latest = Some(ferry_ledger::SignedState { state, sigs });
            c.my_move = None;
        }
        self.events.push_back(VirtualEvent::Moved {
            channel_id: id,
            version,
        });
        Ok(())
    }

    fn on_voucher(
        &mut self,
        from: Address,
        id: B256,
        asset: Address,
        cumulative: U256,
        sig: Signature,
    ) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let payer_index = ch
            .other_endpoint()
            .ok_or(verr(VirtualError::NotMember("an endpoint")))?;
        let payer = ch.params.participants[payer_index];
        if from != payer {
            return Err(verr(VirtualError::NotNeighbour(from)));
        }
        if !ch.is_funded() {
            return Err(verr(VirtualError::NotFunded));
        }
        // V registered on-chain: this payee redeems on the registration what it held then, so it counts nothing
        // newer (the payer's node pays nothing newer either).
        if ch.final_state.is_some() || ch.registered.is_some() {
            return Err(verr(VirtualError::Settling));
        }
        let j = ch
            .asset_index(&asset)
            .ok_or(verr(VirtualError::InvalidState("asset not in the channel")))?;
        if cumulative <= ch.received[j] {
            return Ok(()); // an old or repeated voucher
        }
        let payer_funds = ch.prefund.outcome.assets[j].balances[payer_index] + ch.paid[j];
        if cumulative > payer_funds {
            return Err(verr(VirtualError::InsufficientFunds));
        }
        verify_voucher(
            &ch.params,
            &voucher(&ch.params, payer, asset, cumulative),
            &sig,
        )?;
        let amount = cumulative - ch.received[j];
        if let Some(ch) = self.channels.get_mut(&id) {
            ch.received[j] = cumulative;
            ch.received_sigs[j] = Some(sig);
        }
        self.events.push_back(VirtualEvent::Paid {
            channel_id: id,
            asset,
            amount,
            cumulative,
        });
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- progress

    /// Runs every step V can take now: register a complete pre-fund and ask for this member's leaf; sign the
    /// post-fund once its ledgers hold the leaf (S8); register a complete final and ask for the payout (S10).
    fn progress(&mut self, id: B256, now: u64) {
        self.touched.insert(id);
        self.sync_entry(id);
        self.progress_steps(id, now);
        self.resend_if_due(id, now);
        self.sync_entry(id);
    }

    fn progress_steps(&mut self, id: B256, now: u64) {
        let Some(ch) = self.channels.get(&id).cloned() else {
            return;
        };
        let me = ch.me;
        let left = (me > 0).then(|| ch.params.hops[me - 1]);
        // S8: an open that does not complete in time is given up by a member that never signed the post-fund.
        if ch.phase == VirtualPhase::Opening
            && ch.postfund_sigs[me].is_none()
            && now >= ch.joined_at.saturating_add(OPEN_TIMEOUT_MS)
        {
            if let Some(c) = self.channels.get_mut(&id) {
                c.phase = VirtualPhase::Aborted;
                c.gave_up = true;
                c.resolved_at.get_or_insert(now);
            }
            self.sync_entry(id);
            self.events
                .push_back(VirtualEvent::OpenFailed { channel_id: id });
        }
        // S8 for a member that did sign the post-fund: it may never refund, so its way out of an open that did not
        // complete in time is the chain. It challenges V with the pre-fund signed by the whole path (once per start,
        // unless V is registered already); a member holding the certificate answers with it, and once V is final
        // on-chain every ledger resolves V's leaf by that outcome (S10, or a claim where the peer is gone).
        if ch.phase == VirtualPhase::Opening
            && ch.postfund_sigs[me].is_some()
            && !ch.is_funded()
            && ch.registered.is_none()
            && ch.onchain_final.is_none()
            && now >= ch.joined_at.saturating_add(OPEN_TIMEOUT_MS)
            && let Some(tx) = Self::best_challenge(&ch)
            && self.challenged.insert(id)
        {
            self.vtxs.push_back(tx);
            self.events
                .push_back(VirtualEvent::OpenFailed { channel_id: id });
        }
        // A ledger of this member that went on-chain (disputed or finalized) with V's leaf in its table: the leaf
        // can only be claimed there once V is final on-chain (S9), so V is challenged with the best state this member
        // holds (once per start, unless V is registered already). A given-up open's leaf can be in such a ledger
        // too: the peer may register the update adding it, which this member signed.
        let ledger_onchain = [left, (me < ch.last()).then(|| ch.params.hops[me])]
            .into_iter()
            .flatten()
            .any(|hop| {
                self.holds(hop, &id)
                    && self
                        .ledger
                        .channel(&hop)
                        .is_some_and(|l| matches!(l.phase(), Phase::Disputed | Phase::Finalized))
            });
        if ch.registered.is_none()
            && ch.onchain_final.is_none()
            && ch.phase != VirtualPhase::Released
            && ch.final_signed().is_none()
            && ledger_onchain
            && let Some(tx) = Self::best_challenge(&ch)
            && self.challenged.insert(id)
        {
            self.vtxs.push_back(tx);
        }
        // S10 and S5: V has to be resolved on-chain (a state of it is registered there, or a ledger of this member
        // went on-chain with its leaf) and this member holds V's final signed by the whole path: it concludes V with
        // that final, which finalizes V at once by the outcome the ledgers resolve by off-chain. A challenge with the
        // certificate instead would let V finalize by another outcome than a ledger already paid out by the final
        // (the colluding endpoints' stale or newer state), robbing the intermediary in between. Once per start and
        // registration.
        if ch.onchain_final.is_none()
            && (ch.registered.is_some() || ledger_onchain)
            && let Some(fin) = ch.final_signed()
            && self.concluding.insert((
                id,
                ch.registered
                    .as_ref()
                    .map_or(u64::MAX, |(s, _)| s.version.to::<u64>()),
            ))
        {
            self.vtxs.push_back(VirtualTx::Conclude {
                params: ch.params.clone(),
                state: fin,
            });
        }
        // A given-up open is refunded off-chain; once V is final on-chain (by its pre-fund: this member never signed
        // the post-fund) its leaves follow that outcome like any V's, claims included.
        if let Some(c) = self.channels.get(&id).cloned()
            && c.phase == VirtualPhase::Aborted
            && c.onchain_final.is_none()
        {
            self.refund(&c, now);
            return;
        }
        let prefund_done = ch.prefund_sigs.iter().all(Option::is_some);
        if !prefund_done {
            return;
        }
        self.sync_entry(id);
        let right = (me < ch.last()).then(|| ch.params.hops[me]);
        let has_leaf = |node: &Self, hop: B256| node.holds(hop, &id) && node.table_is_signed(hop);
        // The left member of each ledger asks for the leaf, unless its table already holds it (in a state both
        // signed, or in the leader's proposal in flight).
        if ch.final_state.is_none()
            && ch.onchain_final.is_none()
            && let Some(hop) = right
            && !self.holds(hop, &id)
            && ch.add_requested.is_none_or(|t| now >= t + RETRY_MS)
            && let Some(params) = self.ledger.channel(&hop).map(|l| l.params().clone())
            && let Ok(leaf) = leaf_in(&params, &ch.params, &ch.prefund, &ch.fees)
            && let Ok(contributions) = split(&params, &ch.params, &ch.prefund, &leaf)
        {
            let _ = self.ledger.add_sub_channel(hop, leaf, contributions, now);
            if let Some(c) = self.channels.get_mut(&id) {
                c.add_requested = Some(now);
            }
        }
        // A request is retried only while it has not taken effect: an add while the leaf is not in the table, a
        // removal while it still is.
        if let Some(hop) = right {
            let present = self.holds(hop, &id);
            if let Some(c) = self.channels.get_mut(&id) {
                if present {
                    c.add_requested = None;
                } else {
                    c.remove_requested = None;
                }
            }
        }
        // S8: sign the post-fund once every ledger of this member on V's path holds the leaf in a supported state
        // and runs undisputed (a running ledger's funding was seen at the chain's confirmation depth: its post-fund
        // is signed only then).
        let funded_here = [left, right].into_iter().flatten().all(|hop| {
            has_leaf(self, hop)
                && self
                    .ledger
                    .channel(&hop)
                    .is_some_and(|l| l.phase() == Phase::Running)
        });
        if ch.postfund_sigs[me].is_none()
            && funded_here
            && ch.final_state.is_none()
            && ch.onchain_final.is_none()
        {
            let sig = self.signer.sign_state(&self.ctx, &ch.postfund());
            if let Some(c) = self.channels.get_mut(&id) {
                c.postfund_sigs[me] = Some(sig);
            }
            self.gossip(id, Which::Postfund);
        }
        if let Some(c) = self.channels.get_mut(&id)
            && c.phase == VirtualPhase::Opening
            && c.is_funded()
        {
            c.phase = VirtualPhase::Open;
            self.events
                .push_back(VirtualEvent::Opened { channel_id: id });
        }
        // A final that arrived before the certificate is signed once the certificate is complete.
        if let Some(c) = self.channels.get(&id).cloned()
            && let Some(fin) = c.final_state.clone()
            && c.final_sigs[me].is_none()
            && c.is_funded()
            && self.check_final_for_me(&c, &fin).is_ok()
        {
            let sig = self.signer.sign_state(&self.ctx, &fin);
            if let Some(c) = self.channels.get_mut(&id) {
                c.final_sigs[me] = Some(sig);
                if c.phase == VirtualPhase::Open {
                    c.phase = VirtualPhase::Settling;
                }
            }
            self.gossip(id, Which::Final);
        }
        // V registered on-chain with an older state than the newest this member now holds (it completed the
        // certificate, or got a newer co-signed state, after the registration): answered now as on the registration
        // (S5), once per registered version. A hub that completes the certificate after someone registered V's
        // pre-fund thereby earns its fee (S9 pays the leaf's fee by whether V got past its pre-fund).
        if let Some(c) = self.channels.get(&id).cloned()
            && c.onchain_final.is_none()
            && c.final_signed().is_none()
            && let Some((reg, _)) = &c.registered
        {
            self.answer_registration(&c, reg.version.to::<u64>());
        }
        // Settled: the final signed by the whole path (or V's outcome finalized on-chain, S10) replaces the leaves
        // by their payouts.
        let Some(ch) = self.channels.get(&id).cloned() else {
            return;
        };
        self.sync_entry(id);
        // V's outcome on-chain decides once there is one; the final signed by the whole path before that, unless a
        // state of V is registered on-chain: then only once V is concluded with the final (S10).
        let resolved = match (&ch.onchain_final, ch.final_signed()) {
            (Some(s), _) => Some(ferry_ledger::SignedState {
                state: s.clone(),
                sigs: vec![],
            }),
            (None, Some(f)) if ch.registered.is_none() => Some(f),
            _ => None,
        };
        if let Some(fin) = resolved {
            if let Some(c) = self.channels.get_mut(&id)
                && c.resolved_at.is_none()
            {
                c.resolved_at = Some(now);
            }
            self.escalate_stuck(&ch, now);
            if matches!(
                ch.phase,
                VirtualPhase::Opening | VirtualPhase::Open | VirtualPhase::Settling
            ) {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.phase = VirtualPhase::Settled;
                }
                self.events
                    .push_back(VirtualEvent::Settled { channel_id: id });
            }
            // Asked for as soon as the leaf is in this member's table, even while another update of the ledger is in
            // flight: the leader batches the removals of many settled channels into one update.
            if let Some(hop) = right
                && self.holds(hop, &id)
                && ch.remove_requested.is_none_or(|t| now >= t + RETRY_MS)
                && let Some(payout) = self.payout_in(hop, &ch, &fin.state)
            {
                let _ = self.ledger.remove_sub_channel(hop, id, payout, now);
                if let Some(c) = self.channels.get_mut(&id) {
                    c.remove_requested = Some(now);
                }
            }
            // V final on-chain: the member on B's side of its left ledger asks for the removal too (once per start);
            // the member on A's side may be the one that vanished, and an unanswered request makes the ledger
            // challenge its peer, after which the leaf is claimed.
            if ch.onchain_final.is_some()
                && let Some(hop) = left
                && self.holds(hop, &id)
                && self.right_removals.insert((id, hop))
                && let Some(payout) = self.payout_in(hop, &ch, &fin.state)
            {
                let _ = self.ledger.remove_sub_channel(hop, id, payout, now);
            }
            // A ledger finalized on-chain with V's leaf in its state: the leaf is claimed there (S9).
            for hop in [left, right].into_iter().flatten() {
                if let Some(l) = self.ledger.channel(&hop)
                    && let Some(lstate) = l.finalized_state()
                    && let Some(table) = self.ledger.table(&hop)
                    && table.root() == lstate.outcome.subRoot
                    && table.contains(&id)
                    && !ch.claimed.contains(&hop)
                    && let Some(vstate) = ch.onchain_final.clone()
                    && let Ok((leaf, proof)) = table.leaf_with_proof(&id)
                    && self.claims_sent.insert((id, hop))
                {
                    self.vtxs.push_back(VirtualTx::Claim {
                        ledger: l.params().clone(),
                        ledger_state: lstate.clone(),
                        leaf,
                        proof,
                        virt: ch.params.clone(),
                        virt_state: vstate,
                    });
                }
            }
            // Gone: claimed on-chain, or removed by a state both signed (a leader's table already lacks the leaf
            // while its removal waits for the peer's signature).
            let gone = [left, right]
                .into_iter()
                .flatten()
                .all(|hop| ch.claimed.contains(&hop) || self.leaf_gone(hop, &id));
            if gone
                && let Some(c) = self.channels.get_mut(&id)
                && matches!(c.phase, VirtualPhase::Settled | VirtualPhase::Aborted)
            {
                c.phase = VirtualPhase::Released;
                c.released_at = Some(now);
                self.events
                    .push_back(VirtualEvent::Released { channel_id: id });
            }
        }
    }

    /// A leaf that V's resolution should have removed (a refund, or the payout by V's final or on-chain outcome)
    /// but that is still in one of this member's ledgers [`ESCALATE_MS`] after this member knew the resolution:
    /// the peer refuses or ignores the removal, so the ledger is challenged with its latest state (once per
    /// start) and V's leaf is claimed on-chain once both are final (S9). Without this a refused removal would lock
    /// the leaf's funds for as long as the peer likes.
    fn escalate_stuck(&mut self, ch: &VirtualChannel, now: u64) {
        let Some(since) = ch.resolved_at else {
            return;
        };
        // V registered and not final yet: its outcome is on its way, and the peer may rightly wait for it.
        if now < since.saturating_add(ESCALATE_MS)
            || (ch.registered.is_some() && ch.onchain_final.is_none())
        {
            return;
        }
        let me = ch.me;
        let hops = [
            (me > 0).then(|| ch.params.hops[me - 1]),
            (me < ch.last()).then(|| ch.params.hops[me]),
        ];
        for hop in hops.into_iter().flatten() {
            if self.holds(hop, &ch.id)
                && self
                    .ledger
                    .channel(&hop)
                    .is_some_and(|l| l.phase() == Phase::Running)
                && self.escalated.insert(hop)
            {
                let _ = self.ledger.challenge(hop);
            }
        }
    }

    /// Whether ledger `hop`'s table (of the latest state this node signed) holds V's leaf.
    fn holds(&self, hop: B256, id: &B256) -> bool {
        self.ledger.table(&hop).is_some_and(|t| t.contains(id))
    }

    /// Whether V's leaf is gone from ledger `hop` for good: removed by a state both participants signed, with no
    /// state this member signed above it that the peer could still complete and register (a proposal in flight,
    /// or one abandoned when the ledger went on-chain, whose fate the chain decides) unless the ledger is final.
    fn leaf_gone(&self, hop: B256, id: &B256) -> bool {
        !self.holds(hop, id)
            && self.table_is_signed(hop)
            && self.ledger.channel(&hop).is_some_and(|l| {
                l.finalized_state().is_some()
                    || l.supported()
                        .is_some_and(|s| s.version() >= l.signed_up_to())
            })
    }

    /// Whether ledger `hop`'s table is that of the state both participants signed (no update of it in flight).
    fn table_is_signed(&self, hop: B256) -> bool {
        self.ledger
            .channel(&hop)
            .and_then(|l| l.supported())
            .zip(self.ledger.table(&hop))
            .is_some_and(|(s, t)| s.state.outcome.subRoot == t.root())
    }

    /// What V's leaf in ledger `hop`, as this member's table holds it, pays each ledger participant by V's state
    /// `state` (the claim's split, the routing fee included).
    fn payout_in(&self, hop: B256, ch: &VirtualChannel, state: &State) -> Option<[Vec<U256>; 2]> {
        let params = self.ledger.channel(&hop)?.params();
        let leaf = self.ledger.table(&hop)?.get(&ch.id)?;
        split(params, &ch.params, state, leaf).ok()
    }

    /// Refunds an aborted V's leaf in the ledger where this member stands for A's side (each side gets its
    /// contribution back, A's side the routing fee), and releases V once none of its ledgers holds the leaf.
    fn refund(&mut self, ch: &VirtualChannel, now: u64) {
        self.escalate_stuck(ch, now);
        let id = ch.id;
        let me = ch.me;
        let right = (me < ch.last()).then(|| ch.params.hops[me]);
        let left = (me > 0).then(|| ch.params.hops[me - 1]);
        if let Some(hop) = right
            && self.holds(hop, &id)
            && ch.remove_requested.is_none_or(|t| now >= t + RETRY_MS)
            && let Some(payout) = self.payout_in(hop, ch, &ch.prefund)
        {
            let _ = self.ledger.remove_sub_channel(hop, id, payout, now);
            if let Some(c) = self.channels.get_mut(&id) {
                c.remove_requested = Some(now);
            }
        }
        if [left, right]
            .into_iter()
            .flatten()
            .all(|hop| self.leaf_gone(hop, &id))
            && let Some(c) = self.channels.get_mut(&id)
        {
            c.phase = VirtualPhase::Released;
            c.released_at = Some(now);
            c.remove_requested = None;
            self.events
                .push_back(VirtualEvent::Released { channel_id: id });
        }
    }

    /// While a stage of V is incomplete, gossips it again every [`RESEND_MS`] (and resends a move that waits for
    /// its countersignature).
    fn resend_if_due(&mut self, id: B256, now: u64) {
        let Some(ch) = self.channels.get(&id) else {
            return;
        };
        if let (Some((state, sig)), Some(other)) = (ch.my_move.clone(), ch.other_endpoint()) {
            match ch.resend_at {
                Some(t) if now >= t => {
                    let peer = ch.params.participants[other];
                    self.send(peer, VirtualMessage::Move { state, sig });
                    if let Some(c) = self.channels.get_mut(&id) {
                        c.resend_at = Some(now + RESEND_MS);
                    }
                }
                None => {
                    if let Some(c) = self.channels.get_mut(&id) {
                        c.resend_at = Some(now + RESEND_MS);
                    }
                }
                _ => {}
            }
            return;
        }
        let complete = |sigs: &[Option<Signature>]| sigs.iter().all(Option::is_some);
        let stage = if matches!(ch.phase, VirtualPhase::Aborted | VirtualPhase::Released)
            || ch.onchain_final.is_some()
        {
            None
        } else if !complete(&ch.prefund_sigs) {
            Some(Which::Prefund)
        } else if !complete(&ch.postfund_sigs) {
            // Before the final: a member that holds a final but not the certificate cannot sign it yet.
            Some(Which::Postfund)
        } else if ch.final_state.is_some() && !complete(&ch.final_sigs) {
            Some(Which::Final)
        } else {
            None
        };
        let due = ch.resend_at;
        match (stage, due) {
            (None, _) => {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.resend_at = None;
                }
            }
            (Some(_), None) => {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.resend_at = Some(now + RESEND_MS);
                }
            }
            (Some(which), Some(t)) if now >= t => {
                self.gossip(id, which);
                if let Some(c) = self.channels.get_mut(&id) {
                    c.resend_at = Some(now + RESEND_MS);
                }
            }
            _ => {}
        }
    }

    /// Steps the live virtual channels after the ledger node took an input. After a message about one `ledger`,
    /// only the channels this member has in that ledger can take a step (a V's steps depend on its own two ledgers
    /// of this member, its own messages, the chain and the clock), so a busy hub does not re-examine, clone and
    /// re-encode every live V on every ledger message; chain events, blocks and timeouts step them all (`None`).
    fn after_ledger(&mut self, ledger: Option<B256>, now: u64) {
        let ids: Vec<B256> = self
            .channels
            .iter()
            .filter(|(_, c)| c.phase != VirtualPhase::Released)
            .filter(|(_, c)| {
                ledger.is_none_or(|l| {
                    let hops = &c.params.hops;
                    (c.me > 0 && hops.get(c.me - 1) == Some(&l)) || hops.get(c.me) == Some(&l)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.progress(id, now);
        }
    }

    /// A chain event for the ledger node (see [`LedgerNode::handle_chain_event`]).
    pub fn handle_chain_event(
        &mut self,
        block: u64,
        log_index: u64,
        event: &ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents,
        now: u64,
    ) -> Result<()> {
        use ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents as Ev;
        self.input(|n| {
            // V's own events: what is registered on-chain for it, and when it finalizes.
            let registered = match event {
                Ev::ChallengeRegistered(e) if n.channels.contains_key(&e.channelId) => {
                    Some((e.channelId, e.state.clone(), e.finalizesAt.to::<u64>()))
                }
                Ev::Progressed(e) if n.channels.contains_key(&e.channelId) => {
                    Some((e.channelId, e.to.clone(), e.finalizesAt.to::<u64>()))
                }
                _ => None,
            };
            if let Some((id, state, finalizes_at)) = registered {
                n.touched.insert(id);
                let version = state.version.to::<u64>();
                if let Some(c) = n.channels.get_mut(&id)
                    && c.onchain_final.is_none()
                {
                    c.registered = Some((state, finalizes_at));
                    n.sync_entry(id);
                }
                // A stale state registered (by a cheating member or a lagging one): answer with the newest this
                // member holds, before the deadline, which stays (S5).
                // A member holding the final signed by the whole path concludes V with it instead (see `progress`).
                if let Some(c) = n.channels.get(&id).cloned()
                    && c.onchain_final.is_none()
                    && c.final_signed().is_none()
                {
                    n.answer_registration(&c, version);
                    // A payee whose vouchers the registered state does not count redeems them with one move; a
                    // player whose move waits for the other's countersignature plays it on-chain on top of the
                    // registered state, when it is that state's next move (the other stopped mid-round) (S7).
                    let own_move = match n.app_of(&c.params).ok() {
                        Some(AppKind::Payment) => n.redeem(&c, version),
                        Some(AppKind::Game) => n.move_onchain(&c, version),
                        None => None,
                    };
                    if let Some(tx) = own_move {
                        n.vtxs.push_back(tx);
                    }
                }
            }
            if let Ev::Claimed(e) = event
                && let Some(c) = n.channels.get_mut(&e.virtualId)
                && !c.claimed.contains(&e.ledgerId)
            {
                c.claimed.push(e.ledgerId);
                n.touched.insert(e.virtualId);
            }
            if let Ev::Concluded(e) = event
                && let Some(c) = n.channels.get_mut(&e.channelId)
                && let Some(fin) = c.final_state.clone()
                && fin.version.to::<u64>() == e.version.to::<u64>()
            {
                // Concluded with the final state this member holds.
                c.onchain_final = Some(fin.clone());
                n.touched.insert(e.channelId);
                n.sync_entry(e.channelId);
            }
            n.ledger.handle_chain_event(block, log_index, event, now)?;
            n.after_ledger(None, now);
            Ok(())
        })
    }

    /// A block was processed in full (see [`LedgerNode::handle_block`]); a virtual channel whose registered state's
    /// deadline the block passed is final on-chain, and its leaves are replaced by that outcome off-chain (S10).
    pub fn handle_block(&mut self, number: u64, timestamp: u64, now: u64) -> Result<()> {
        self.input(|n| {
            n.ledger.handle_block(number, timestamp, now)?;
            let due: Vec<(B256, State)> = n
                .channels
                .iter()
                .filter(|(_, c)| c.onchain_final.is_none())
                .filter_map(|(id, c)| {
                    c.registered
                        .as_ref()
                        .filter(|(_, at)| timestamp >= *at)
                        .map(|(s, _)| (*id, s.clone()))
                })
                .collect();
            for (id, state) in due {
                if let Some(c) = n.channels.get_mut(&id) {
                    c.onchain_final = Some(state);
                }
                n.sync_entry(id);
                n.progress(id, now);
            }
            n.after_ledger(None, now);
            Ok(())
        })
    }

    /// Local time passed: the ledger's timers, and retries of leaf additions and removals.
    pub fn handle_timeout(&mut self, now: u64) -> Result<()> {
        self.input(|n| {
            n.ledger.handle_timeout(now)?;
            n.after_ledger(None, now);
            n.prune(now)
        })
    }

    /// The earliest local time [`VirtualNode::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        // One pass: a live V's retries and resends, a released one's prune.
        let channels = self
            .channels
            .values()
            .filter_map(|c| {
                if c.phase == VirtualPhase::Released {
                    return c.released_at.map(|t| t.saturating_add(self.retention));
                }
                let retry = c
                    .add_requested
                    .max(c.remove_requested)
                    .map(|t| t + RETRY_MS);
                [retry, c.resend_at].into_iter().flatten().min()
            })
            .min();
        [self.ledger.poll_timeout(), channels]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<(Address, Message)> {
        if let Some((to, m)) = self.ledger.poll_transmit() {
            return Some((to, Message::Ledger(m)));
        }
        self.outbox.pop_front()
    }

    /// The next transaction this node's ledgers or virtual channels ask for.
    pub fn poll_tx(&mut self) -> Option<Tx> {
        if let Some(t) = self.ledger.poll_tx() {
            return Some(Tx::Ledger(t));
        }
        self.vtxs.pop_front().map(Tx::Virtual)
    }

    /// Takes V on-chain: concludes it with its final when this member holds one signed by the whole path, else
    /// challenges it with the best state this member holds: the latest state both endpoints signed (with the
    /// certificate), V's funding certificate, or its pre-fund before the certificate is complete. Once V is final on-chain, its ledgers
    /// settle the leaf off-chain from that outcome where the peer cooperates (S10) and claim it on-chain where not.
    pub fn challenge(&mut self, id: B256) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let tx = match ch.final_signed() {
            Some(state) => VirtualTx::Conclude {
                params: ch.params.clone(),
                state,
            },
            None => Self::best_challenge(ch).ok_or(verr(VirtualError::NotFunded))?,
        };
        self.vtxs.push_back(tx);
        Ok(())
    }

    /// Answers V's registered state of `version` with the newest state this member can register, when that is
    /// newer, once per registered version (S5: the deadline stays).
    fn answer_registration(&mut self, ch: &VirtualChannel, version: u64) {
        if Self::best_version(ch).is_some_and(|best| best > version)
            && self.answered.insert((ch.id, version))
            && let Some(tx) = Self::best_challenge(ch)
        {
            self.vtxs.push_back(tx);
        }
    }

    /// The newest state of V this member can register: the latest state both endpoints signed (with the
    /// certificate), the certificate, or the pre-fund signed by the whole path.
    fn best_challenge(ch: &VirtualChannel) -> Option<VirtualTx> {
        let params = ch.params.clone();
        if let (Some(latest), Some(cert)) = (ch.latest.clone(), ch.certificate()) {
            return Some(VirtualTx::Challenge {
                params,
                state: latest,
                cert: Some(cert),
            });
        }
        if let Some(cert) = ch.certificate() {
            return Some(VirtualTx::Challenge {
                params,
                state: ferry_ledger::SignedState::from(cert),
                cert: None,
            });
        }
        let sigs: Vec<Signature> = ch
            .prefund_sigs
            .iter()
            .cloned()
            .collect::<Option<Vec<_>>>()?;
        Some(VirtualTx::Challenge {
            params,
            state: ferry_ledger::SignedState {
                state: ch.prefund.clone(),
                sigs,
            },
            cert: None,
        })
    }

    /// The `progress` move by which this payee redeems, on top of V's registered state, the vouchers it holds
    /// beyond what that state counts; `None` when there is nothing to redeem (or it was asked for already).
    ///
    /// The same move also counts what this endpoint paid itself (its own total rises on its own signature, as the
    /// payment app allows): vouchers are cumulative and gross, so after payments both ways each payee's vouchers
    /// can exceed what the other holds in the registered state, and a move redeeming them alone would be refused
    /// by the app (the payer's balance would fall below zero) — neither payee could redeem, and V would finalize by
    /// a state that counts no payment at all. Netted in one move, the balances are this endpoint's own accounting.
    fn redeem(&mut self, ch: &VirtualChannel, version: u64) -> Option<VirtualTx> {
        use alloy::sol_types::SolValue;
        let payer = ch.other_endpoint()?;
        let (registered, _) = ch.registered.clone()?;
        let mut data = ferry_ledger::app::payment::payment_data(&registered).ok()?;
        let (credited, own) = if payer == 0 {
            (data.paidByFirst.clone(), data.paidByLast.clone())
        } else {
            (data.paidByLast.clone(), data.paidByFirst.clone())
        };
        if !ch.received.iter().zip(&credited).any(|(r, c)| r > c) {
            return None;
        }
        let m = registered.outcome.assets.len();
        if ch.received.len() != m || ch.paid.len() != m || credited.len() != m || own.len() != m {
            return None;
        }
        let any_sig = ch.received_sigs.iter().flatten().next()?.clone();
        let mut to = ferry_ledger::state::next(&registered).ok()?;
        for j in 0..m {
            let theirs = ch.received[j].max(credited[j]);
            let mine = ch.paid[j].max(own[j]);
            let (d_in, d_out) = (theirs - credited[j], mine - own[j]);
            let a = &mut to.outcome.assets[j];
            a.balances[ch.me] = a.balances[ch.me].checked_add(d_in)?.checked_sub(d_out)?;
            a.balances[payer] = a.balances[payer].checked_add(d_out)?.checked_sub(d_in)?;
            let (first, last) = if payer == 0 {
                (theirs, mine)
            } else {
                (mine, theirs)
            };
            data.paidByFirst[j] = first;
            data.paidByLast[j] = last;
        }
        data.voucherSigs = ch
            .received_sigs
            .iter()
            .map(|s| s.clone().unwrap_or_else(|| any_sig.clone()))
            .collect();
        to.appData = data.abi_encode().into();
        PaymentApp
            .valid_transition(&ch.params, &registered, &to, ch.me)
            .ok()?;
        let sig = self.signer.sign_state(&self.ctx, &to);
        self.own_move_once(ch, version, registered, to, sig)
    }

    /// This member's `progress` move from V's registered state `from` (of `version`) to `to`, once per
    /// registration (`None` when one was asked for already).
    fn own_move_once(
        &mut self,
        ch: &VirtualChannel,
        version: u64,
        from: State,
        to: State,
        sig: Signature,
    ) -> Option<VirtualTx> {
        if !self.redeemed.insert((ch.id, version)) {
            return None;
        }
        Some(VirtualTx::Progress {
            params: ch.params.clone(),
            from,
            to,
            mover: ch.me,
            sig,
        })
    }

    /// The `progress` move by which this player plays, on top of V's registered state, the move it made and the
    /// other player has not countersigned; `None` when it is not that state's valid next move by this player under
    /// the app's rules and S3 (or was asked for already on this registration).
    fn move_onchain(&mut self, ch: &VirtualChannel, version: u64) -> Option<VirtualTx> {
        let (to, sig) = ch.my_move.clone()?;
        let (registered, _) = ch.registered.clone()?;
        if registered.version.to::<u64>() != version {
            return None;
        }
        self.check_move_from(ch, &registered, &to, ch.me).ok()?;
        self.own_move_once(ch, version, registered, to, sig)
    }

    fn best_version(ch: &VirtualChannel) -> Option<u64> {
        match Self::best_challenge(ch)? {
            VirtualTx::Challenge { state, .. } => Some(state.version()),
            VirtualTx::Progress { .. } | VirtualTx::Conclude { .. } | VirtualTx::Claim { .. } => {
                None
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<VirtualEvent> {
        if let Some(e) = self.ledger.poll_event() {
            return Some(VirtualEvent::Ledger(e));
        }
        self.events.pop_front()
    }
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Prefund,
    Postfund,
    Final,
}
