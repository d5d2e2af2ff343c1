//! All ledger channels of one participant, with its key, its store and its policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;
use ferry_contracts::{ChannelParams, Signature, SubAlloc};

use super::channel::{Env, LedgerChannel, Phase};
use super::{
    ChainTx, Config, LedgerEvent, LedgerMessage, NoSubChannels, Op, ProtocolError, SubChannelGuard,
};
use crate::ChainContext;
use crate::store::{Batch, Store, decode};
use crate::sub_tree::SubTree;
use crate::{Error, Result, Signer};

/// Namespace of the channel records (key: channel id).
pub const NS_CHANNELS: &str = "ledger.channels";
/// Namespace of the sub-channel leaves (key: ledger id, then the slot as 4 big-endian bytes).
pub const NS_LEAVES: &str = "ledger.leaves";
/// Namespace of the chain cursor (key `b"next-block"`: the next block the watcher processes).
pub const NS_CURSOR: &str = "ledger.cursor";
/// The namespaces that hold per-channel data (what a channel backup exports).
pub const NAMESPACES: [&str; 2] = [NS_CHANNELS, NS_LEAVES];

const CURSOR_KEY: &[u8] = b"next-block";

fn leaf_key(channel: &B256, slot: u32) -> Vec<u8> {
    let mut k = channel.to_vec();
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

/// The ledger channels of one participant: the sans-IO driver a runtime feeds with messages, chain events,
/// blocks and time, and drains with the `poll_*` methods.
///
/// Every input ends with one atomic store commit of everything it changed (channel records, sub-channel
/// leaves, the chain cursor); only then do the messages, transactions and events it caused become visible to
/// `poll_*`. An input that fails, or whose commit fails, leaves every channel exactly as it was and releases
/// nothing. [`LedgerNode::open_store`] restores a node from its store after a crash and resumes every objective.
pub struct LedgerNode<S: Store> {
    signer: Signer,
    ctx: ChainContext,
    config: Config,
    store: S,
    guard: Box<dyn SubChannelGuard + Send>,
    channels: BTreeMap<B256, LedgerChannel>,
    tables: HashMap<B256, SubTree>,
    /// The hash of each channel's committed record (a channel without one has no record in the store): a touched
    /// channel is written only when its encoding changed, without a second copy of every record in memory.
    persisted: HashMap<B256, B256>,
    /// Every channel's next timer as (time, id), kept in step with [`LedgerChannel::next_timeout`] for each
    /// channel an input touched: the next timer and the due channels without a scan of every channel.
    timers: BTreeSet<(u64, B256)>,
    /// The time each channel is in `timers` under.
    timer_of: HashMap<B256, u64>,
    /// The channels that chain time can move (disputed, finalized or closing), kept in step like `timers`.
    on_chain: BTreeSet<B256>,
    /// The channels touched by inputs since [`LedgerNode::take_changed`] last drained them (only while
    /// [`LedgerNode::track_changes`] is on).
    changed: Option<BTreeSet<B256>>,
    /// The channels with each peer (a peer's opens are counted without a scan of every channel).
    by_peer: HashMap<Address, BTreeSet<B256>>,
    /// The channels peers opened with this node that are not funded yet (proposed or in funding), for
    /// `OpenPolicy::max_pending_total`.
    accepted_unfunded: HashSet<B256>,
    touched: BTreeSet<B256>,
    /// The channels replaying after a reorganization (see [`LedgerNode::rewind`]).
    replaying: BTreeSet<B256>,
    next_block: u64,
    persisted_block: u64,
    outbox: VecDeque<(Address, LedgerMessage)>,
    txs: VecDeque<ChainTx>,
    events: VecDeque<LedgerEvent>,
}

impl<S: Store> std::fmt::Debug for LedgerNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerNode")
            .field("address", &self.signer.address())
            .field("channels", &self.channels.len())
            .field("next_block", &self.next_block)
            .finish_non_exhaustive()
    }
}

impl<S: Store> LedgerNode<S> {
    /// Opens a node on `store`: loads every channel, its sub-channel table and the chain cursor, and resumes every
    /// objective (messages the peer may not have are queued again, transactions that may not have landed are
    /// asked for again). A fresh store gives a node with no channels.
    pub fn open_store(
        signer: Signer,
        ctx: ChainContext,
        config: Config,
        store: S,
        now: u64,
    ) -> Result<Self> {
        let mut node = Self {
            signer,
            ctx,
            config,
            store,
            guard: Box::new(NoSubChannels),
            channels: BTreeMap::new(),
            tables: HashMap::new(),
            persisted: HashMap::new(),
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            on_chain: BTreeSet::new(),
            changed: None,
            by_peer: HashMap::new(),
            accepted_unfunded: HashSet::new(),
            touched: BTreeSet::new(),
            replaying: BTreeSet::new(),
            next_block: 0,
            persisted_block: 0,
            outbox: VecDeque::new(),
            txs: VecDeque::new(),
            events: VecDeque::new(),
        };
        if let Some(bytes) = node.store.get(NS_CURSOR, CURSOR_KEY)? {
            node.next_block = decode("chain cursor", &bytes)?;
            node.persisted_block = node.next_block;
        }
        for (key, bytes) in node.store.scan(NS_CHANNELS, &[])? {
            let channel: LedgerChannel = decode("ledger channel", &bytes)?;
            if key.as_slice() != channel.id().as_slice() {
                return Err(Error::Store(format!(
                    "channel record under key {} holds channel {}",
                    alloy::hex::encode(&key),
                    channel.id()
                )));
            }
            let id = channel.id();
            let table = node.load_table(&id)?;
            node.tables.insert(id, table);
            node.persisted.insert(id, crate::store::fingerprint(&bytes));
            node.by_peer.entry(channel.peer()).or_default().insert(id);
            if channel.replaying() {
                node.replaying.insert(id);
            }
            node.channels.insert(id, channel);
            node.index(&id);
        }
        let ids: Vec<B256> = node.channels.keys().copied().collect();
        for id in ids {
            node.with_channel(id, |ch, env, _| {
                ch.resume(env, now);
                Ok(())
            })?;
        }
        Ok(node)
    }

    fn load_table(&self, id: &B256) -> Result<SubTree> {
        let mut leaves = Vec::new();
        for (key, bytes) in self.store.scan(NS_LEAVES, id.as_slice())? {
            let slot_bytes: [u8; 4] = key
                .get(32..36)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(|| Error::Store("malformed leaf key".into()))?;
            let leaf: SubAlloc = decode("sub-channel leaf", &bytes)?;
            leaves.push((u32::from_be_bytes(slot_bytes), leaf));
        }
        SubTree::from_slots(self.config.max_sub_channels, leaves)
    }

    /// Sets the guard that decides on sub-channel operations (the virtual-channel layer's S8/S10 checks). The
    /// default refuses them all.
    pub fn set_guard(&mut self, guard: Box<dyn SubChannelGuard + Send>) {
        self.guard = guard;
    }

    /// This node's address (its channel key).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The key this node signs with (a virtual node on top of it signs with the same key).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The chain context states are signed for.
    pub fn context(&self) -> &ChainContext {
        &self.ctx
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store (read access, e.g. for a backup).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for a layer above that keeps its own records in its own namespaces in the same database (the
    /// virtual-channel layer). Writing to this node's namespaces through it breaks the node.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Consumes the node and returns its store (a runtime that stops, or a test that models a crash).
    pub fn into_store(self) -> S {
        self.store
    }

    /// One channel.
    pub fn channel(&self, id: &B256) -> Option<&LedgerChannel> {
        self.channels.get(id)
    }

    /// Every channel, by id.
    pub fn channels(&self) -> impl Iterator<Item = &LedgerChannel> {
        self.channels.values()
    }

    /// A channel's sub-channel table (of its latest signed state).
    pub fn table(&self, id: &B256) -> Option<&SubTree> {
        self.tables.get(id)
    }

    /// The next block the chain watcher should deliver (persisted with every block handled).
    pub fn next_block(&self) -> u64 {
        self.next_block
    }

    /// Starts (or stops) keeping the ids of the channels inputs touch, for [`LedgerNode::take_changed`]: a layer
    /// above that steps only what depends on the channels that changed (the virtual-channel layer) turns it on.
    pub fn track_changes(&mut self, on: bool) {
        self.changed = on.then(BTreeSet::new);
    }

    /// The channels touched (possibly changed) since the last call, while [`LedgerNode::track_changes`] is on.
    pub fn take_changed(&mut self) -> BTreeSet<B256> {
        self.changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Brings a channel's entries in the timer queue and the on-chain index in line with it (or removes them when
    /// it is gone).
    fn index(&mut self, id: &B256) {
        let (timer, on_chain, accepted_unfunded) = match self.channels.get(id) {
            Some(c) => (
                c.next_timeout(&self.config),
                matches!(
                    c.phase(),
                    Phase::Disputed | Phase::Finalized | Phase::Closing
                ),
                // Participant 0 opened it: the peer, when this node is participant 1.
                c.me() == 1 && matches!(c.phase(), Phase::Proposed | Phase::Funding),
            ),
            None => (None, false, false),
        };
        if accepted_unfunded {
            self.accepted_unfunded.insert(*id);
        } else {
            self.accepted_unfunded.remove(id);
        }
        if self.channels.get(id).is_some_and(LedgerChannel::replaying) {
            self.replaying.insert(*id);
        } else {
            self.replaying.remove(id);
        }
        if self.timer_of.get(id).copied() != timer {
            if let Some(old) = self.timer_of.remove(id) {
                self.timers.remove(&(old, *id));
            }
            if let Some(t) = timer {
                self.timer_of.insert(*id, t);
                self.timers.insert((t, *id));
            }
        }
        if on_chain {
            self.on_chain.insert(*id);
        } else {
            self.on_chain.remove(id);
        }
    }

    fn env(&self) -> Env<'_> {
        Env {
            ctx: &self.ctx,
            signer: &self.signer,
            config: &self.config,
            guard: self.guard.as_ref(),
        }
    }

    /// Runs `f` on a channel; on error the channel and its table are restored; then commits.
    fn with_channel(
        &mut self,
        id: B256,
        f: impl FnOnce(&mut LedgerChannel, &Env<'_>, &mut SubTree) -> Result<()>,
    ) -> Result<()> {
        let Some(mut channel) = self.channels.remove(&id) else {
            return Err(Error::Protocol(ProtocolError::UnknownChannel(id)));
        };
        let mut table = self.tables.remove(&id).unwrap_or_default();
        let before = channel.clone();
        let result = {
            let env = Env {
                ctx: &self.ctx,
                signer: &self.signer,
                config: &self.config,
                guard: self.guard.as_ref(),
            };
            f(&mut channel, &env, &mut table)
        };
        match result {
            Ok(()) => {
                self.channels.insert(id, channel);
                self.tables.insert(id, table);
                self.touched.insert(id);
                self.flush()
            }
            Err(e) => {
                // The channel methods check before they change: a failed step leaves the table as it was and notes
                // no leaf change. Only if one was noted is the table reloaded from the store (O(n), never on the
                // path a stream of bad messages takes).
                let changed = !channel.take_leaf_changes().is_empty();
                self.channels.insert(id, before);
                let table = if changed {
                    self.load_table(&id).unwrap_or(table)
                } else {
                    table
                };
                self.tables.insert(id, table);
                Err(e)
            }
        }
    }

    /// The channels with `peer` not funded yet (proposed, or in funding).
    fn pending_with(&self, peer: &Address) -> usize {
        self.by_peer.get(peer).map_or(0, |ids| {
            ids.iter()
                .filter(|id| {
                    self.channels
                        .get(*id)
                        .is_some_and(|c| matches!(c.phase(), Phase::Proposed | Phase::Funding))
                })
                .count()
        })
    }

    /// Drops a channel from memory (its record is deleted by the commit that forgot it); whether it was the last
    /// channel with its peer.
    fn drop_channel(&mut self, id: &B256) -> Option<Address> {
        let mut last_of = None;
        if let Some(ch) = self.channels.remove(id)
            && let Some(ids) = self.by_peer.get_mut(&ch.peer())
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_peer.remove(&ch.peer());
                last_of = Some(ch.peer());
            }
        }
        self.tables.remove(id);
        self.persisted.remove(id);
        self.index(id);
        last_of
    }

    /// Commits every touched channel (record and leaf changes) and the chain cursor in one batch, then releases
    /// their outputs. A failed open this node put nothing into is forgotten instead ([`LedgerChannel::forgettable`]):
    /// its record deleted, its messages and transactions dropped, only its events released. On a failed commit the
    /// touched channels are reloaded from the store and nothing is released.
    fn flush(&mut self) -> Result<()> {
        let mut batch = Batch::new();
        let mut records = Vec::new();
        let mut forgotten = Vec::new();
        let touched = std::mem::take(&mut self.touched);
        for id in &touched {
            let Some(channel) = self.channels.get_mut(id) else {
                continue;
            };
            if channel.forgettable() {
                if self.persisted.contains_key(id) {
                    batch.delete(NS_CHANNELS, id.to_vec());
                }
                forgotten.push(*id);
                continue;
            }
            for (slot, leaf) in channel.take_leaf_changes() {
                match leaf {
                    Some(leaf) => batch.put(NS_LEAVES, leaf_key(id, slot), &leaf)?,
                    None => batch.delete(NS_LEAVES, leaf_key(id, slot)),
                }
            }
            let bytes = crate::store::encode(&*channel)?;
            let hash = crate::store::fingerprint(&bytes);
            if self.persisted.get(id) != Some(&hash) {
                batch.put_raw(NS_CHANNELS, id.to_vec(), bytes);
                records.push((*id, hash));
            }
        }
        if self.next_block != self.persisted_block {
            batch.put(NS_CURSOR, CURSOR_KEY.to_vec(), &self.next_block)?;
        }
        if !batch.is_empty()
            && let Err(e) = self.store.commit(batch)
        {
            // Back to what the store holds.
            for id in &touched {
                if self.persisted.contains_key(id) {
                    if let Ok(Some(bytes)) = self.store.get(NS_CHANNELS, id.as_slice())
                        && let Ok(ch) = decode::<LedgerChannel>("ledger channel", &bytes)
                    {
                        self.channels.insert(*id, ch);
                    }
                } else {
                    self.drop_channel(id);
                }
                match self.load_table(id) {
                    Ok(t) => {
                        self.tables.insert(*id, t);
                    }
                    Err(_) => {
                        self.tables.remove(id);
                    }
                }
            }
            self.next_block = self.persisted_block;
            for id in &touched {
                self.index(id);
            }
            return Err(e);
        }
        self.persisted_block = self.next_block;
        for (id, bytes) in records {
            self.persisted.insert(id, bytes);
        }
        for id in &forgotten {
            if let Some(channel) = self.channels.get_mut(id) {
                self.events.extend(channel.take_events());
            }
            if let Some(peer) = self.drop_channel(id) {
                self.events.push_back(LedgerEvent::PeerForgotten { peer });
            }
        }
        if let Some(changed) = &mut self.changed {
            changed.extend(touched.iter().copied());
        }
        for id in &touched {
            self.index(id);
            if let Some(channel) = self.channels.get_mut(id) {
                let peer = channel.peer();
                self.outbox
                    .extend(channel.take_out().into_iter().map(|m| (peer, m)));
                self.txs.extend(channel.take_txs());
                self.events.extend(channel.take_events());
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------- commands

    /// Opens a ledger channel with `peer` as its participant 0 (the leader): fresh params with a random nonce, the
    /// challenge duration given and the configured challenge bond (S17), and the amounts each side deposits per asset (`[ours, peer's]`). Returns the
    /// channel id. The peer must accept; deposits follow in participant order once the pre-fund state is signed.
    pub fn open(
        &mut self,
        peer: Address,
        amounts: &[(Address, [U256; 2])],
        challenge_duration: u64,
        now: u64,
    ) -> Result<B256> {
        let mut params =
            crate::channel::ledger_params(&self.ctx, self.address(), peer, challenge_duration);
        params.challengeBond = self.config.durations.challenge_bond; // S17
        self.open_with_params(params, amounts, now)
    }

    /// [`LedgerNode::open`] with params given in full.
    pub fn open_with_params(
        &mut self,
        params: ChannelParams,
        amounts: &[(Address, [U256; 2])],
        now: u64,
    ) -> Result<B256> {
        let channel = LedgerChannel::open(&self.env(), params, amounts, now)?;
        let id = channel.id();
        if self.channels.contains_key(&id) {
            return Err(Error::Protocol(ProtocolError::ChannelExists(id)));
        }
        self.insert_new(channel)?;
        Ok(id)
    }

    /// Adds a channel this node just opened or accepted, with an empty sub-channel table, and commits it; if the
    /// commit fails the node is as it was.
    fn insert_new(&mut self, channel: LedgerChannel) -> Result<()> {
        let id = channel.id();
        self.by_peer.entry(channel.peer()).or_default().insert(id);
        self.channels.insert(id, channel);
        self.tables
            .insert(id, SubTree::with_max_leaves(self.config.max_sub_channels));
        self.touched.insert(id);
        if let Err(e) = self.flush() {
            self.channels.remove(&id);
            self.tables.remove(&id);
            self.index(&id);
            return Err(e);
        }
        Ok(())
    }

    /// Pays `amount` of `asset` to the peer.
    pub fn pay(&mut self, id: B256, asset: Address, amount: U256, now: u64) -> Result<()> {
        self.submit(
            id,
            |me| Op::Pay {
                from: me,
                asset,
                amount,
            },
            now,
        )
    }

    /// Withdraws `amount` of `asset` from this node's balance while the channel stays open (`withdrawPartial`
    /// follows once the peer countersigned).
    pub fn withdraw(&mut self, id: B256, asset: Address, amount: U256, now: u64) -> Result<()> {
        self.submit(
            id,
            |me| Op::Withdraw {
                participant: me,
                asset,
                amount,
            },
            now,
        )
    }

    /// Closes the channel cooperatively: a final state, then one `concludeAndWithdraw`.
    pub fn close(&mut self, id: B256, now: u64) -> Result<()> {
        self.submit(id, |_| Op::Close, now)
    }

    /// Adds a sub-channel leaf funded by `contributions` (`[participant 0's, participant 1's]` per asset of the
    /// leaf, adding up to its amounts, a routing fee it holds included); both sides' guards must agree. The leader
    /// places the slot.
    pub fn add_sub_channel(
        &mut self,
        id: B256,
        leaf: SubAlloc,
        contributions: [Vec<U256>; 2],
        now: u64,
    ) -> Result<()> {
        let slot = self
            .tables
            .get(&id)
            .map(SubTree::next_slot)
            .transpose()?
            .unwrap_or_default();
        self.submit(
            id,
            |_| Op::AddSub {
                slot,
                leaf,
                contributions,
            },
            now,
        )
    }

    /// Removes a sub-channel leaf, paying its amounts out as `payout`; both sides' guards must agree.
    pub fn remove_sub_channel(
        &mut self,
        id: B256,
        channel_id: B256,
        payout: [Vec<U256>; 2],
        now: u64,
    ) -> Result<()> {
        self.submit(id, |_| Op::RemoveSub { channel_id, payout }, now)
    }

    fn submit(&mut self, id: B256, op: impl FnOnce(u8) -> Op, now: u64) -> Result<()> {
        let me = self
            .channels
            .get(&id)
            .ok_or(Error::Protocol(ProtocolError::UnknownChannel(id)))?
            .me();
        let op = op(me);
        self.with_channel(id, |ch, env, table| ch.submit(env, table, op, now))
    }

    /// Deposits `amount` more of `asset`; the top-up is counted in the channel once the chain shows it.
    pub fn top_up(&mut self, id: B256, asset: Address, amount: U256) -> Result<()> {
        self.with_channel(id, |ch, _, _| ch.top_up(asset, amount))
    }

    /// Challenges the channel on-chain with the latest state signed by both (a final one concludes instead).
    pub fn challenge(&mut self, id: B256) -> Result<()> {
        self.with_channel(id, |ch, env, _| ch.dispute(env))
    }

    // ------------------------------------------------------------------------------------------- inputs

    /// The `(digest, signature)` pairs handling `msg` from `from` would recover, computed without changing
    /// anything, for a runtime to recover ahead on other cores ([`crate::signature::precompute_recover`]). Only
    /// for a channel this node holds with `from`: a stranger's message gets nothing computed ahead (its open is
    /// checked by the core as it comes).
    pub fn signatures_to_check(
        &self,
        from: Address,
        msg: &LedgerMessage,
    ) -> Vec<(B256, Signature)> {
        self.channels
            .get(&msg.channel_id())
            .filter(|ch| ch.check_from_peer(from).is_ok())
            .and_then(|ch| ch.signature_to_check(&self.ctx, msg))
            .into_iter()
            .collect()
    }

    /// Handles a message from `from` (the transport vouches for the sender's address). A bad message gets a typed
    /// error and changes nothing.
    pub fn handle_message(&mut self, from: Address, msg: LedgerMessage, now: u64) -> Result<()> {
        let id = msg.channel_id();
        if !self.channels.contains_key(&id) {
            let LedgerMessage::Open {
                params,
                prefund,
                sig,
            } = msg
            else {
                return Err(Error::Protocol(ProtocolError::UnknownChannel(id)));
            };
            let limit = self.config.open.max_pending_per_peer;
            if self.pending_with(&from) >= limit {
                return Err(Error::Protocol(ProtocolError::OpenRefused(
                    super::OpenRefusal::TooManyPending { limit },
                )));
            }
            let limit = self.config.open.max_pending_total;
            if self.accepted_unfunded.len() >= limit {
                return Err(Error::Protocol(ProtocolError::OpenRefused(
                    super::OpenRefusal::TooManyPendingInAll { limit },
                )));
            }
            let channel = LedgerChannel::accept(&self.env(), from, params, prefund, sig, now)?;
            return self.insert_new(channel);
        }
        self.with_channel(id, |ch, env, table| {
            ch.handle_message(env, table, from, msg, now)
        })
    }

    /// Handles one adjudicator event at chain position (`block`, `log_index`); events for unknown channels are
    /// ignored. Re-delivered events change nothing.
    pub fn handle_chain_event(
        &mut self,
        block: u64,
        log_index: u64,
        event: &Event,
        now: u64,
    ) -> Result<()> {
        let id = match event {
            Event::Deposited(e) => e.channelId,
            Event::ChallengeRegistered(e) => e.channelId,
            Event::Checkpointed(e) => e.channelId,
            Event::Concluded(e) => e.channelId,
            Event::Withdrawn(e) => e.channelId,
            _ => return Ok(()),
        };
        if block < self.next_block {
            return Ok(()); // a block already processed in full
        }
        if !self.channels.contains_key(&id) {
            return Ok(());
        }
        self.with_channel(id, |ch, env, table| {
            ch.handle_chain_event(env, table, event, (block, log_index), now)
        })
    }

    /// A block was processed in full (its events already handed to [`LedgerNode::handle_chain_event`]): chain time
    /// moves to its timestamp, and the cursor moves past it, committed with what the block changed.
    pub fn handle_block(&mut self, number: u64, timestamp: u64, now: u64) -> Result<()> {
        // The channels chain time can move, in id order (the index holds exactly those disputed, finalized or
        // closing).
        let ids: Vec<B256> = self.on_chain.iter().copied().collect();
        for id in ids {
            if let (Some(ch), Some(_)) = (self.channels.get_mut(&id), self.tables.get(&id)) {
                let env = Env {
                    ctx: &self.ctx,
                    signer: &self.signer,
                    config: &self.config,
                    guard: self.guard.as_ref(),
                };
                ch.handle_chain_time(&env, timestamp, now);
                self.touched.insert(id);
            }
        }
        self.next_block = self.next_block.max(number + 1);
        // Replays that read past the blocks a reorganization replaced without the chain showing the deposits again
        // are reported (once).
        let replaying: Vec<B256> = self.replaying.iter().copied().collect();
        for id in replaying {
            if self
                .channels
                .get_mut(&id)
                .is_some_and(|ch| ch.replay_block(number))
            {
                self.touched.insert(id);
            }
        }
        self.flush()
    }

    /// The chain reorganized below the blocks read: every block from `fork` on that this node read (up to
    /// `read_up_to`) was replaced. Every channel that applied events from those blocks takes them back (the
    /// deposits and payouts they counted come off; a challenge, checkpoint or conclusion is undone) and, if a
    /// deposit vanished, signs nothing until the chain shows the deposits again ([`LedgerEvent::Replayed`]); every
    /// transaction due is asked for again. The cursor goes back to `fork`, so the new chain's events are read and
    /// applied (an event the old chain also had is applied once again, after being taken back). Returns how many
    /// channels had applied events there.
    pub fn rewind(&mut self, fork: u64, read_up_to: u64, now: u64) -> Result<usize> {
        let mut count = 0;
        // Only the channels that applied events from the fork on (each step commits on its own).
        let ids: Vec<B256> = self
            .channels
            .iter()
            .filter(|(_, ch)| ch.applied_from(fork))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let mut rewound = false;
            self.with_channel(id, |ch, env, table| {
                rewound = ch.rewind(env, table, fork, read_up_to, now)?;
                Ok(())
            })?;
            count += usize::from(rewound);
        }
        self.next_block = self.next_block.min(fork);
        self.flush()?;
        Ok(count)
    }

    /// Local time passed: every channel whose timer is due resends, reports an unresponsive peer or sends a
    /// due transaction.
    pub fn handle_timeout(&mut self, now: u64) -> Result<()> {
        // The due channels from the timer queue, handled in id order.
        let due: BTreeSet<B256> = self
            .timers
            .range(..=(now, B256::repeat_byte(0xff)))
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            self.with_channel(id, |ch, env, table| {
                ch.handle_timeout(env, table, now);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// A transaction from [`LedgerNode::poll_tx`] failed; the channel reports it and asks again later.
    pub fn handle_tx_failed(&mut self, tx: &ChainTx, reason: String) -> Result<()> {
        let id = tx.channel_id();
        if !self.channels.contains_key(&id) {
            return Ok(());
        }
        self.with_channel(id, |ch, _, _| {
            ch.handle_tx_failed(tx, reason);
            Ok(())
        })
    }

    /// A transaction from [`LedgerNode::poll_tx`] landed.
    pub fn handle_tx_done(&mut self, tx: &ChainTx) -> Result<()> {
        let id = tx.channel_id();
        if !self.channels.contains_key(&id) {
            return Ok(());
        }
        self.with_channel(id, |ch, _, _| {
            ch.handle_tx_done(tx);
            Ok(())
        })
    }

    // ------------------------------------------------------------------------------------------- outputs

    /// The next message to send, with its recipient. Only committed changes produce messages.
    pub fn poll_transmit(&mut self) -> Option<(Address, LedgerMessage)> {
        self.outbox.pop_front()
    }

    /// The next transaction to submit.
    pub fn poll_tx(&mut self) -> Option<ChainTx> {
        self.txs.pop_front()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<LedgerEvent> {
        self.events.pop_front()
    }

    /// The earliest local time at which [`LedgerNode::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.first().map(|(t, _)| *t)
    }
}
