//! A path member ([`VirtualNode`]): its ledger node, the virtual channels it is on, and what is about many of them
//! — the store (load, commit per input, prune), the guard's registry, the apps and policy, the commands and the
//! outputs. Inputs are routed to one channel's state machine in `routing.rs`; the intermediary's policy is in
//! `policy.rs`.

mod ahead;
mod policy;
mod routing;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, B256, U256, U512};
use ferry_ledger::channel::{funded_asset, virtual_params};
use ferry_ledger::params::DurationPolicy;
use ferry_ledger::protocol::LedgerNode;
use ferry_ledger::store::{Batch, Store, decode, encode};
use ferry_ledger::{ChainContext, Signer, State};

use super::channel::{
    ESCALATE_MS, NodeContext, OPEN_TIMEOUT_MS, Once, Outputs, RETRY_MS, VirtualChannel,
    VirtualPhase, check_prefund,
};
use super::registry::{Registry, RegistryGuard};
use super::{AppRules, IntermediaryPolicy, Message, OpenRequest, Tx, VirtualError, VirtualEvent};
use crate::{Error, Result};

/// Namespace of the virtual-channel records (key: V's id), next to the ledger node's in the same store.
pub const NS_VIRTUAL: &str = "virtual.channels";

/// Namespace of the ids of virtual channels released and pruned (value: when pruned, local ms), so that a late
/// message about one is refused rather than taken for a new open.
pub const NS_PRUNED: &str = "virtual.pruned";

/// How long a released virtual channel's record is kept before it is pruned (local time): by default a day.
/// Everything V's other members need from this one was sent before it could release V (a leaf goes only with the
/// final signed by the whole path, or by V's outcome on-chain); the period leaves room for stragglers and operators.
pub const RELEASED_RETENTION_MS: u64 = 24 * 3600 * 1000;

fn verr(e: VirtualError) -> Error {
    Error::Virtual(e)
}

/// One path member: a [`LedgerNode`] and the virtual channels it is on. Sans-IO like the ledger node: feed it
/// messages, chain events and time; drain messages, transactions and events.
pub struct VirtualNode<S: Store> {
    ledger: LedgerNode<S>,
    /// The ledger node's key (a copy: channel steps borrow it beside the ledger node).
    signer: Signer,
    ctx: ChainContext,
    durations: DurationPolicy,
    registry: Arc<Mutex<Registry>>,
    channels: BTreeMap<B256, VirtualChannel>,
    out: Outputs,
    /// What the channels asked for since the start (asked again after a restart).
    asked: BTreeSet<Once>,
    /// The hash of each V's committed record: a touched V is written only when its encoding changed, without a
    /// second copy of every record in memory.
    persisted: HashMap<B256, B256>,
    touched: BTreeSet<B256>,
    /// What decides which V's an input steps, so that an input costs what it concerns, not the number of V's.
    index: Index,
    policy: IntermediaryPolicy,
    apps: HashMap<Address, AppRules>,
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
    /// Wraps a ledger node (signing with its key), installs the virtual-channel guard on it, loads the virtual
    /// channels kept in the same store and resumes them: every signature this member knows is gossiped again, an
    /// endpoint resends its latest vouchers. A fresh store gives a node with no virtual channel.
    pub fn open_store(mut ledger: LedgerNode<S>, now: u64) -> Result<Self> {
        let registry = Arc::new(Mutex::new(Registry::default()));
        ledger.set_guard(Box::new(RegistryGuard(registry.clone())));
        ledger.track_changes(true);
        let signer = ledger.signer().clone();
        let ctx = *ledger.context();
        let durations = ledger.config().durations;
        let mut node = Self {
            ledger,
            signer,
            ctx,
            durations,
            registry,
            channels: BTreeMap::new(),
            out: Outputs::default(),
            asked: BTreeSet::new(),
            persisted: HashMap::new(),
            touched: BTreeSet::new(),
            index: Index::default(),
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
            node.persisted
                .insert(id, ferry_ledger::store::fingerprint(&bytes));
            // The guard's whole entry (joining, given up, final, on-chain outcome) comes back from the record.
            node.parts().1.sync(&ch);
            node.index.add(&ch);
            node.channels.insert(id, ch);
            node.reindex(id, now);
        }
        let ids: Vec<B256> = node.channels.keys().copied().collect();
        node.input(now, |n| {
            for id in ids {
                n.resume(id, now);
            }
            Ok(())
        })?;
        Ok(node)
    }

    /// Sends again what the peers of V may be missing, and runs V's steps (nothing for a released V).
    fn resume(&mut self, id: B256, now: u64) {
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.phase != VirtualPhase::Released)
        {
            self.touched.insert(id);
        }
        let _ = self.on_channel(id, |ch, cx| {
            ch.resume(cx, now);
            Ok(())
        });
    }

    /// Runs one input; then commits every touched virtual channel in one batch before anything it produced can
    /// be polled. A failed commit takes back the input's messages and events and reloads the touched channels.
    ///
    /// `now` is the input's local time (inputs without one pass the latest seen). Ledgers changed outside an input
    /// (commands through [`VirtualNode::ledger_mut`]) are noted first, so the next clock input steps their V's.
    fn input<T>(&mut self, now: u64, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.index.clock = self.index.clock.max(now);
        let outside = self.ledger.take_changed();
        self.index.dirty.extend(outside);
        let (out_len, ev_len) = (self.out.transmits.len(), self.out.events.len());
        let result = f(self);
        let changed = self.ledger.take_changed();
        self.index.dirty.extend(changed);
        let touched = std::mem::take(&mut self.touched);
        let stepped = std::mem::take(&mut self.index.stepped);
        let mut batch = Batch::new();
        let mut records = Vec::new();
        for id in &touched {
            if let Some(ch) = self.channels.get(id) {
                let bytes = encode(ch)?;
                let hash = ferry_ledger::store::fingerprint(&bytes);
                if self.persisted.get(id) != Some(&hash) {
                    batch.put_raw(NS_VIRTUAL, id.to_vec(), bytes);
                    records.push((*id, hash));
                }
            }
        }
        if !batch.is_empty()
            && let Err(e) = self.ledger.store_mut().commit(batch)
        {
            self.out.transmits.truncate(out_len);
            self.out.events.truncate(ev_len);
            for id in &touched {
                let stored = self
                    .persisted
                    .contains_key(id)
                    .then(|| self.ledger.store().get(NS_VIRTUAL, id.as_slice()))
                    .and_then(|r| r.ok().flatten())
                    .map(|b| decode::<VirtualChannel>("virtual channel", &b));
                match stored {
                    Some(Ok(ch)) => {
                        self.channels.insert(*id, ch);
                    }
                    _ => {
                        if let Some(ch) = self.channels.remove(id) {
                            self.index.remove(&ch);
                        }
                    }
                }
                self.index.pending.insert(*id);
                self.reindex(*id, now);
            }
            return Err(e.into());
        }
        // A V stays pending for the next clock input unless its last step there changed nothing of its record: an
        // input that changed a V's record, or touched it without stepping it, leaves it to be stepped again, as
        // every clock input used to step every V.
        let written: BTreeSet<B256> = records.iter().map(|(id, _)| *id).collect();
        for id in &touched {
            if written.contains(id) || !stepped.contains(id) {
                self.index.pending.insert(*id);
            } else {
                self.index.pending.remove(id);
            }
            self.reindex(*id, now);
        }
        self.persisted.extend(records);
        result
    }

    /// Brings V's entries in the timer queues and indexes in line with its record, after an input at `now`.
    fn reindex(&mut self, id: B256, now: u64) {
        let Some(ch) = self.channels.get(&id) else {
            self.index.set_timer(id, None);
            self.index.set_wake(id, None);
            self.index.set_released(id, None);
            self.index.set_locks(id, Vec::new());
            self.index.awaiting.remove(&id);
            self.index.opening_done(&id);
            return;
        };
        // An open this member routes (an intermediary) that is not funded yet: what `max_opening` counts.
        if ch.other_endpoint().is_none() && ch.phase == VirtualPhase::Opening {
            self.index.routing_opens.insert(id);
        } else {
            self.index.opening_done(&id);
        }
        let released = ch.phase == VirtualPhase::Released;
        let timer = if released { None } else { ch.next_timer() };
        let wake = if released { None } else { wake_after(ch, now) };
        let released_at = if released { ch.released_at } else { None };
        let awaiting = ch.registered.is_some() && ch.onchain_final.is_none();
        let locks = if released { Vec::new() } else { locks(ch) };
        self.index.set_locks(id, locks);
        self.index.set_timer(id, timer);
        self.index.set_wake(id, wake);
        self.index.set_released(id, released_at);
        if awaiting {
            self.index.awaiting.insert(id);
        } else {
            self.index.awaiting.remove(&id);
        }
    }

    /// The channels and, beside them, the context a channel's step borrows from this node.
    fn parts(&mut self) -> (&mut BTreeMap<B256, VirtualChannel>, NodeContext<'_, S>) {
        (
            &mut self.channels,
            NodeContext {
                ledger: &mut self.ledger,
                signer: &self.signer,
                chain: &self.ctx,
                durations: &self.durations,
                apps: &self.apps,
                registry: &self.registry,
                out: &mut self.out,
                asked: &mut self.asked,
            },
        )
    }

    /// Runs `f` on V's record with the context it borrows from this node; `UnknownChannel` when V is not here.
    fn on_channel<T>(
        &mut self,
        id: B256,
        f: impl FnOnce(&mut VirtualChannel, &mut NodeContext<'_, S>) -> Result<T>,
    ) -> Result<T> {
        let (channels, mut cx) = self.parts();
        let ch = channels
            .get_mut(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        f(ch, &mut cx)
    }

    /// Runs every step V can take now (see [`VirtualChannel::progress`]) and marks V for the input's commit.
    fn progress(&mut self, id: B256, now: u64) {
        self.touched.insert(id);
        self.index.stepped.insert(id);
        let _ = self.on_channel(id, |ch, cx| {
            ch.progress(cx, now);
            Ok(())
        });
    }

    /// Declares the app deployed at `address`: a bundled one by its [`AppKind`](super::AppKind), or an app builder's own as
    /// [`AppRules::turns`]. This node joins only virtual channels whose app it knows, and checks every move by its
    /// rules.
    pub fn set_app(&mut self, address: Address, rules: impl Into<AppRules>) {
        self.apps.insert(address, rules.into());
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
        // The released V's by release time: those released at least the retention period ago come first.
        let due: BTreeSet<B256> = self
            .index
            .released
            .iter()
            .take_while(|(t, _)| now >= t.saturating_add(self.retention))
            .map(|(_, id)| *id)
            .filter(|id| {
                self.channels
                    .get(id)
                    .is_some_and(|c| c.phase == VirtualPhase::Released)
            })
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
        let gone = due;
        for id in &gone {
            if let Some(ch) = self.channels.remove(id) {
                self.index.remove(&ch);
            }
            self.persisted.remove(id);
            self.touched.remove(id);
        }
        if let Ok(mut reg) = self.registry.lock() {
            for id in &gone {
                reg.entries.remove(id);
            }
        }
        self.asked
            .retain(|k| k.channel().is_none_or(|v| !gone.contains(&v)));
        self.pruned.extend(gone);
        Ok(())
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

    // ------------------------------------------------------------------------------------------- commands

    /// Opens a virtual channel from this node (A) to the path's last member (B) through the intermediaries between,
    /// as `req` says (see [`OpenRequest`]). Returns V's id.
    pub fn open(&mut self, req: OpenRequest, now: u64) -> Result<B256> {
        self.input(now, |n| n.open_inner(req, now))
    }

    fn open_inner(&mut self, req: OpenRequest, now: u64) -> Result<B256> {
        let OpenRequest {
            path,
            hops,
            app,
            balances,
            fees,
            challenge_duration,
        } = req;
        if path.first() != Some(&self.address()) {
            return Err(verr(VirtualError::NotMember("the first endpoint")));
        }
        if path.len() > super::MAX_PATH {
            return Err(verr(VirtualError::InvalidPrefund(
                "a path of at most MAX_PATH members",
            )));
        }
        // Moves each endpoint may make on-chain after a challenge (S7): a payee redeems its vouchers, netted, in one
        // move; a round of the game takes two moves of the first player and one of the other.
        let rules = self.parts().1.app_at(app)?;
        let mut params = virtual_params(
            &self.ctx,
            path,
            hops,
            app,
            challenge_duration,
            rules.max_moves(),
        );
        params.challengeBond = self.durations.challenge_bond; // S17
        let n = params.participants.len();
        let mut sorted = balances;
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
        let initial = rules.initial_data(m);
        let prefund = ferry_ledger::channel::state(&params, 0, assets, initial, false);
        let id = check_prefund(&self.parts().1, &params, &prefund, 0)?;
        self.check_policy(&params, &prefund, &fees, 0)?;
        if self.channels.contains_key(&id) {
            return Err(Error::Ledger(ferry_ledger::Error::Protocol(
                ferry_ledger::protocol::ProtocolError::ChannelExists(id),
            )));
        }
        let ch = VirtualChannel::propose(&self.parts().1, params, prefund, fees, now);
        self.index.add(&ch);
        self.channels.insert(id, ch);
        self.touched.insert(id);
        self.on_channel(id, |ch, cx| {
            ch.announce(cx, false, now);
            Ok(id)
        })
    }

    /// Pays `amount` of `asset` to the other endpoint by a voucher for the new cumulative total.
    pub fn pay(&mut self, id: B256, asset: Address, amount: U256) -> Result<()> {
        self.touched.insert(id);
        let now = self.index.clock;
        self.input(now, |n| {
            n.on_channel(id, |ch, cx| ch.pay(cx, asset, amount))
        })
    }

    /// Settles V: the first endpoint proposes the final state from its payments; the last endpoint asks it to.
    pub fn settle(&mut self, id: B256, now: u64) -> Result<()> {
        self.touched.insert(id);
        self.input(now, |n| n.on_channel(id, |ch, cx| ch.settle(cx, now)))
    }

    /// Makes an app move: `to` is V's next state (built with the app's helpers, e.g.
    /// `ferry_ledger::app::rps::commit`); it is checked by the app's rules, signed and sent to the other endpoint,
    /// which countersigns it.
    pub fn make_move(&mut self, id: B256, to: State) -> Result<()> {
        self.touched.insert(id);
        let now = self.index.clock;
        self.input(now, |n| {
            n.on_channel(id, |ch, cx| ch.make_move(cx, to))?;
            // Stepped at once: its resend timer starts now, so a move the wire loses is sent again.
            n.progress(id, now);
            Ok(())
        })
    }

    /// Takes V on-chain: concludes it with its final when this member holds one signed by the whole path, else
    /// challenges it with the best state this member holds: the latest state both endpoints signed (with the
    /// certificate), V's funding certificate, or its pre-fund before the certificate is complete. Once V is final
    /// on-chain, its ledgers settle the leaf off-chain from that outcome where the peer cooperates (S10) and claim
    /// it on-chain where not.
    pub fn challenge(&mut self, id: B256) -> Result<()> {
        let ch = self
            .channels
            .get(&id)
            .ok_or(verr(VirtualError::UnknownChannel(id)))?;
        let tx = ch.challenge_tx()?;
        self.out.txs.push_back(tx);
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- outputs

    /// The earliest local time [`VirtualNode::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        // From the queues: a live V's retries and resends, a released one's prune.
        let channels = [
            self.index.timers.first().map(|(t, _)| *t),
            self.index
                .released
                .first()
                .map(|(t, _)| t.saturating_add(self.retention)),
        ]
        .into_iter()
        .flatten()
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
        self.out.transmits.pop_front()
    }

    /// The next transaction this node's ledgers or virtual channels ask for.
    pub fn poll_tx(&mut self) -> Option<Tx> {
        if let Some(t) = self.ledger.poll_tx() {
            return Some(Tx::Ledger(t));
        }
        self.out.txs.pop_front().map(Tx::Virtual)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<VirtualEvent> {
        if let Some(e) = self.ledger.poll_event() {
            return Some(VirtualEvent::Ledger(e));
        }
        self.out.events.pop_front()
    }
}

/// When V next has work on the clock after a step at `now`: the earliest of its time-based rules (the open's
/// timeout, a leaf request's retry, a resend, the escalation of a stuck leaf) still ahead. A rule whose time had
/// come by `now` had its chance at that step; it can apply later only after V's record or one of its ledgers
/// changed, and such a change steps V anyway.
fn wake_after(ch: &VirtualChannel, now: u64) -> Option<u64> {
    let open_timeout =
        (ch.phase == VirtualPhase::Opening).then(|| ch.joined_at.saturating_add(OPEN_TIMEOUT_MS));
    let escalate = ch.resolved_at.map(|t| t.saturating_add(ESCALATE_MS));
    [
        open_timeout,
        ch.add_requested.map(|t| t + RETRY_MS),
        ch.remove_requested.map(|t| t + RETRY_MS),
        ch.resend_at,
        escalate,
        ch.next_timer(),
    ]
    .into_iter()
    .flatten()
    .filter(|t| *t > now)
    .min()
}

/// What this member locks for V in each of its own ledgers on V's path, per asset (its side of V there), as the
/// intermediary's per-user cap counts it. Only its own hops: V's other hops name ledgers this member is not on
/// (anyone may name any ledger there), and counting them would let one user's V spend another user's cap. Every
/// asset: a cap on the first alone would let a V with none of it lock any amount of another.
fn locks(ch: &VirtualChannel) -> Vec<(B256, Address, U256)> {
    let mut out = Vec::new();
    for (k, hop) in ch.params.hops.iter().enumerate() {
        if k != ch.me && k + 1 != ch.me {
            continue;
        }
        let side = if k + 1 == ch.me { ch.last() } else { 0 };
        for a in &ch.prefund.outcome.assets {
            if let Some(amount) = a.balances.get(side)
                && !amount.is_zero()
            {
                out.push((*hop, a.asset, *amount));
            }
        }
    }
    out
}

/// The indexes and queues that decide which V's an input steps and when the next timer is: an input costs what it
/// concerns (O(log n) per V it touches), not the number of V's the node is on.
#[derive(Debug, Default)]
struct Index {
    /// The V's on each of this member's ledgers (V's own hops).
    by_ledger: HashMap<B256, BTreeSet<B256>>,
    /// What the live V's lock of each asset in each of this member's ledgers on their paths ([`locks`]), summed
    /// without overflow.
    locked: HashMap<(B256, Address), U512>,
    locks_of: HashMap<B256, Vec<(B256, Address, U256)>>,
    /// Each live V's [`VirtualChannel::next_timer`] as (time, id): [`VirtualNode::poll_timeout`]'s answer.
    timers: BTreeSet<(u64, B256)>,
    timer_of: HashMap<B256, u64>,
    /// Each live V's next time-based rule ([`wake_after`]) as (time, id): the V's a clock input steps.
    wakes: BTreeSet<(u64, B256)>,
    wake_of: HashMap<B256, u64>,
    /// Released V's by release time (local ms): what pruning looks at.
    released: BTreeSet<(u64, B256)>,
    released_of: HashMap<B256, u64>,
    /// V's with a state registered on-chain and no on-chain outcome yet: the ones a block may finalize.
    awaiting: BTreeSet<B256>,
    /// V's this member routes (as an intermediary) that are still opening: what `IntermediaryPolicy::max_opening`
    /// counts.
    routing_opens: HashSet<B256>,
    /// Of those, the neighbour whose message made this member join each (in this start), and how many each
    /// neighbour has opening: what `IntermediaryPolicy::max_opening_per_peer` counts.
    introduced_by: HashMap<B256, Address>,
    opening_by: HashMap<Address, usize>,
    /// V's to step at the next clock input (their record changed, or an input touched them without a step).
    pending: BTreeSet<B256>,
    /// Ledgers changed since the V's on them were last stepped by a clock input.
    dirty: BTreeSet<B256>,
    /// V's stepped (by the node) in the current input.
    stepped: BTreeSet<B256>,
    /// The latest local time an input brought.
    clock: u64,
}

impl Index {
    /// Adds V to the ledger index.
    fn add(&mut self, ch: &VirtualChannel) {
        for hop in ch.own_hops() {
            self.by_ledger.entry(hop).or_default().insert(ch.id);
        }
    }

    /// What the live V's lock of `asset` in `hop` (saturating at the largest amount).
    fn locked_in(&self, hop: &B256, asset: &Address) -> U256 {
        self.locked
            .get(&(*hop, *asset))
            .map_or(U256::ZERO, |sum| U256::saturating_from(*sum))
    }

    /// V is no longer an open this member routes: out of the counts.
    fn opening_done(&mut self, id: &B256) {
        self.routing_opens.remove(id);
        if let Some(peer) = self.introduced_by.remove(id)
            && let Some(n) = self.opening_by.get_mut(&peer)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.opening_by.remove(&peer);
            }
        }
    }

    /// V, joined now as an intermediary, was introduced by `peer`.
    pub(super) fn introduced(&mut self, id: B256, peer: Address) {
        if self.introduced_by.insert(id, peer).is_none() {
            *self.opening_by.entry(peer).or_default() += 1;
        }
    }

    /// Opens this member routes that `peer` introduced and that are still opening.
    pub(super) fn opening_from(&self, peer: &Address) -> usize {
        self.opening_by.get(peer).copied().unwrap_or_default()
    }

    /// Counts V's locks as `locks` (none once V is released or gone).
    fn set_locks(&mut self, id: B256, locks: Vec<(B256, Address, U256)>) {
        if self
            .locks_of
            .get(&id)
            .map_or(locks.is_empty(), |old| *old == locks)
        {
            return;
        }
        for (hop, asset, amount) in self.locks_of.remove(&id).unwrap_or_default() {
            if let Some(sum) = self.locked.get_mut(&(hop, asset)) {
                *sum -= U512::from(amount);
                if sum.is_zero() {
                    self.locked.remove(&(hop, asset));
                }
            }
        }
        for (hop, asset, amount) in &locks {
            *self.locked.entry((*hop, *asset)).or_default() += U512::from(*amount);
        }
        if !locks.is_empty() {
            self.locks_of.insert(id, locks);
        }
    }

    /// Removes V from every index and queue.
    fn remove(&mut self, ch: &VirtualChannel) {
        for hop in ch.own_hops() {
            if let Some(set) = self.by_ledger.get_mut(&hop) {
                set.remove(&ch.id);
                if set.is_empty() {
                    self.by_ledger.remove(&hop);
                }
            }
        }
        self.set_timer(ch.id, None);
        self.set_wake(ch.id, None);
        self.set_released(ch.id, None);
        self.set_locks(ch.id, Vec::new());
        self.awaiting.remove(&ch.id);
        self.pending.remove(&ch.id);
    }

    /// The V's on ledger `ledger`.
    fn on_ledger(&self, ledger: &B256) -> impl Iterator<Item = B256> + '_ {
        self.by_ledger.get(ledger).into_iter().flatten().copied()
    }

    fn set_timer(&mut self, id: B256, at: Option<u64>) {
        set_queued(&mut self.timers, &mut self.timer_of, id, at);
    }

    fn set_wake(&mut self, id: B256, at: Option<u64>) {
        set_queued(&mut self.wakes, &mut self.wake_of, id, at);
    }

    fn set_released(&mut self, id: B256, at: Option<u64>) {
        set_queued(&mut self.released, &mut self.released_of, id, at);
    }
}

/// Moves `id` in a (time, id) queue to `at` (out of it for `None`).
fn set_queued(
    queue: &mut BTreeSet<(u64, B256)>,
    of: &mut HashMap<B256, u64>,
    id: B256,
    at: Option<u64>,
) {
    if of.get(&id).copied() == at {
        return;
    }
    if let Some(old) = of.remove(&id) {
        queue.remove(&(old, id));
    }
    if let Some(t) = at {
        of.insert(id, t);
        queue.insert((t, id));
    }
}
