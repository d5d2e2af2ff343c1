//! Model 1 (a ledger channel): the real `LedgerNode` against an unrestricted peer, its transitions (the honest
//! node restarted from its store at every step), the weakened runs that put a closed hole back, and the invariants.

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents as Ev;
use ferry_ledger::contracts::{ChannelParams, Signature, State};
use ferry_ledger::protocol::{ChainTx, LedgerMessage, LedgerNode, Op, Phase, Proposal};
use ferry_ledger::signature::recover;
use ferry_ledger::store::{MemoryStore, Store};
use ferry_ledger::{SignedState, Signer};
use stateright::{Model, Property};

use super::chain::{Chain, LEDGER_NS, Snapshot, Tx};
use super::ledger_state::{Act, Ask, Bounds, LState, Lead, Pool, Weakness};
use super::{
    DEPOSIT, ETH, MAX_VERSION, TICK, WINDOW, amounts, config, ctx, key, net, sign, u, version,
};

pub(super) struct LedgerModel {
    /// The honest party's participant index: 0 (the leader) or 1 (the follower).
    me: usize,
    params: ChannelParams,
    id: B256,
    honest: Signer,
    peer: Signer,
    bounds: Bounds,
    weakness: Weakness,
    init: LState,
}

fn drain(node: &mut LedgerNode<MemoryStore>) -> (Vec<LedgerMessage>, Vec<ChainTx>) {
    let mut msgs = Vec::new();
    let mut txs = Vec::new();
    while let Some((_, m)) = node.poll_transmit() {
        msgs.push(m);
    }
    while let Some(t) = node.poll_tx() {
        txs.push(t);
    }
    while node.poll_event().is_some() {}
    (msgs, txs)
}

impl LedgerModel {
    /// Opens and funds the channel with the real core on both sides (the peer's node serves only the setup), the
    /// honest party as participant 0 (the leader).
    pub(super) fn new(me: usize, bounds: Bounds, weakness: Weakness) -> Self {
        let honest = key(0x11);
        let peer = key(0x22);
        let (p0, p1) = if me == 0 {
            (&honest, &peer)
        } else {
            (&peer, &honest)
        };
        let mut params =
            ferry_ledger::channel::ledger_params(&ctx(), p0.address(), p1.address(), WINDOW);
        params.nonce = u(1);
        let id = ferry_ledger::contracts::channel_id(&params);
        let open = |s: &Signer| {
            LedgerNode::open_store(s.clone(), ctx(), config(), MemoryStore::new(), 1_000)
                .unwrap_or_else(|e| panic!("open store: {e}"))
        };
        // nodes[i] is participant i.
        let mut nodes = [open(p0), open(p1)];
        let addrs = [p0.address(), p1.address()];
        if let Err(e) =
            nodes[0].open_with_params(params.clone(), &[(ETH, [u(DEPOSIT), u(DEPOSIT)])], 1_000)
        {
            panic!("open: {e}");
        }
        let mut chain = Chain {
            time: 1,
            ..Chain::default()
        };
        let mut hoard = Vec::new();
        for _ in 0..50 {
            let mut quiet = true;
            for i in 0..2 {
                let (msgs, txs) = drain(&mut nodes[i]);
                for m in msgs {
                    quiet = false;
                    if i == me {
                        hoard_message(&mut hoard, &nodes[me], &id, &m);
                    }
                    if let Err(e) = nodes[1 - i].handle_message(addrs[i], m, 1_000) {
                        panic!("setup message: {e}");
                    }
                }
                for t in txs {
                    quiet = false;
                    let events = chain
                        .apply(&params, &Tx::of(&t))
                        .unwrap_or_else(|e| panic!("setup tx: {e}"));
                    chain.block += 1;
                    for node in nodes.iter_mut() {
                        deliver(node, &chain, &events, 1_000);
                    }
                }
            }
            if quiet {
                break;
            }
        }
        let ch = nodes[me]
            .channel(&id)
            .unwrap_or_else(|| panic!("no channel"));
        assert_eq!(ch.phase(), Phase::Running, "setup did not fund the channel");
        let supported = ch
            .supported()
            .map(|s| (s.version(), net(&s.state, me)))
            .unwrap_or_default();
        let [n0, n1] = nodes;
        let node = if me == 0 { n0 } else { n1 };
        let init = LState {
            store: Snapshot::of(&node.into_store(), &LEDGER_NS),
            chain,
            pool: Pool::default(),
            hoard,
            requests: Vec::new(),
            seq: 1,
            honest_ops: 0,
            peer_ops: 0,
            deposits: 0,
            ticks: 0,
            crashes: 0,
            supported,
            before_sign: Vec::new(),
        };
        Self {
            me,
            params,
            id,
            honest,
            peer,
            bounds,
            weakness,
            init,
        }
    }

    fn now(s: &LState) -> u64 {
        s.chain.time * 1_000
    }

    fn reopen(&self, s: &LState) -> LedgerNode<MemoryStore> {
        LedgerNode::open_store(
            self.honest.clone(),
            ctx(),
            config(),
            s.store.restore(&LEDGER_NS),
            Self::now(s),
        )
        .unwrap_or_else(|e| panic!("reopening the honest node: {e}"))
    }

    fn both(&self, state: &State, honest_sig: &Signature) -> SignedState {
        let mut sigs = vec![honest_sig.clone(), sign(&self.peer, state)];
        if self.me == 1 {
            sigs.reverse();
        }
        SignedState {
            state: state.clone(),
            sigs,
        }
    }

    fn message(&self, node: &mut LedgerNode<MemoryStore>, s: &LState, m: LedgerMessage) -> bool {
        node.handle_message(self.peer.address(), m, Self::now(s))
            .is_ok()
    }

    /// A transaction lands: the chain applies it and the honest node reads the block.
    fn land(
        &self,
        node: &mut LedgerNode<MemoryStore>,
        chain: &mut Chain,
        tx: &Tx,
        now: u64,
    ) -> Result<(), String> {
        let events = chain.apply(&self.params, tx)?;
        chain.block += 1;
        deliver(node, chain, &events, now);
        Ok(())
    }

    fn step(&self, s: &LState, act: &Act) -> Option<LState> {
        let mut next = s.clone();
        let mut node = self.reopen(s);
        let resumed = drain(&mut node);
        let now = Self::now(s);
        let signed_before = node
            .channel(&self.id)
            .map(|c| c.signed_up_to())
            .unwrap_or_default();
        let ok = match act {
            Act::Pay | Act::Withdraw | Act::TopUp | Act::Close | Act::Challenge => {
                next.honest_ops += 1;
                let r = match act {
                    Act::Pay => node.pay(self.id, ETH, u(1), now),
                    Act::Withdraw => node.withdraw(self.id, ETH, u(1), now),
                    Act::TopUp => node.top_up(self.id, ETH, u(1)),
                    Act::Close => node.close(self.id, now),
                    _ => node.challenge(self.id),
                };
                r.is_ok()
            }
            Act::Include(i) => {
                let tx = next.pool.0.remove(*i);
                match self.land(&mut node, &mut next.chain, &Tx::of(&tx), now) {
                    Ok(()) => node.handle_tx_done(&tx).is_ok(),
                    Err(reason) => node.handle_tx_failed(&tx, reason).is_ok(),
                }
            }
            Act::Tick => {
                next.ticks += 1;
                next.chain.time += TICK;
                next.chain.block += 1;
                let now = Self::now(&next);
                node.handle_block(next.chain.block, next.chain.time, now)
                    .is_ok()
                    && node.handle_timeout(now).is_ok()
            }
            Act::Crash => {
                next.crashes += 1;
                for t in resumed.1 {
                    next.pool.add(t);
                }
                true
            }
            Act::Sign(i, have_yours) => {
                let (state, _) = &s.hoard[*i];
                let m = LedgerMessage::Sign {
                    channel_id: self.id,
                    version: version(state),
                    sig: sign(&self.peer, state),
                    have_yours: *have_yours,
                };
                self.message(&mut node, s, m)
            }
            Act::Reject(version, index) => {
                let m = LedgerMessage::Reject {
                    channel_id: self.id,
                    version: *version,
                    index: *index,
                    reason: "no".into(),
                };
                self.message(&mut node, s, m)
            }
            Act::Ask(ask) => {
                next.peer_ops += 1;
                let op = match ask {
                    Ask::PayHonest | Ask::Steal => Op::Pay {
                        from: u8::from(*ask == Ask::PayHonest),
                        asset: ETH,
                        amount: u(1),
                    },
                    Ask::Withdraw => Op::Withdraw {
                        participant: 1,
                        asset: ETH,
                        amount: u(self.bounds.peer_withdraw),
                    },
                    Ask::Close => Op::Close,
                    Ask::TopUp => Op::TopUp {
                        participant: 1,
                        asset: ETH,
                        amount: u(1),
                    },
                };
                let m = LedgerMessage::Request {
                    channel_id: self.id,
                    proposals: vec![Proposal {
                        proposer: 1,
                        seq: s.seq,
                        op,
                    }],
                };
                next.seq += 1;
                self.message(&mut node, s, m)
            }
            Act::Propose { base, skip, op } => {
                let peer = (1 - self.me) as u8;
                let own = |op: Op| Proposal {
                    proposer: peer,
                    seq: s.seq,
                    op,
                };
                let one = |who: u8, build: fn(u8, Address, U256) -> Op| build(who, ETH, u(1));
                let proposal = match op {
                    Lead::PayHonest => own(one(peer, |from, asset, amount| Op::Pay {
                        from,
                        asset,
                        amount,
                    })),
                    Lead::Steal => own(one(1 - peer, |from, asset, amount| Op::Pay {
                        from,
                        asset,
                        amount,
                    })),
                    Lead::Withdraw => own(one(peer, |participant, asset, amount| Op::Withdraw {
                        participant,
                        asset,
                        amount,
                    })),
                    Lead::TopUp => own(one(peer, |participant, asset, amount| Op::TopUp {
                        participant,
                        asset,
                        amount,
                    })),
                    Lead::Close => own(Op::Close),
                    Lead::Request(j) => s.requests[*j].clone(),
                };
                if proposal.proposer == peer {
                    next.seq += 1;
                }
                next.peer_ops += 1;
                let (base_state, _) = &s.hoard[*base];
                let batch = vec![proposal];
                let mut table = ferry_ledger::SubTree::default();
                let Ok((state, _)) = ferry_ledger::protocol::ops::build(
                    base_state,
                    &mut table,
                    &batch,
                    version(base_state) + skip,
                ) else {
                    return None;
                };
                let m = LedgerMessage::Propose {
                    sig: sign(&self.peer, &state),
                    state,
                    batch,
                };
                self.message(&mut node, s, m)
            }
            Act::Refuse(seq) => {
                let m = LedgerMessage::Refuse {
                    channel_id: self.id,
                    seq: *seq,
                    reason: "no".into(),
                };
                self.message(&mut node, s, m)
            }
            Act::PeerChallenge(i)
            | Act::PeerCheckpoint(i)
            | Act::PeerConclude(i)
            | Act::PeerWithdrawPartial(i) => {
                let (state, sig) = &s.hoard[*i];
                let signed = self.both(state, sig);
                let tx = match act {
                    Act::PeerChallenge(_) => Tx::Challenge(signed),
                    Act::PeerCheckpoint(_) => Tx::Checkpoint(signed),
                    Act::PeerConclude(_) => Tx::Conclude {
                        state: signed,
                        withdraw: false,
                    },
                    _ => Tx::WithdrawPartial(signed, 1 - self.me),
                };
                self.land(&mut node, &mut next.chain, &tx, now).is_ok()
            }
            Act::PeerWithdraw => match s.chain.registered.clone() {
                Some(state) => self
                    .land(&mut node, &mut next.chain, &Tx::Withdraw(state), now)
                    .is_ok(),
                None => false,
            },
            Act::PeerDeposit(p) => {
                next.deposits += 1;
                let tx = Tx::Deposit {
                    p: *p,
                    expected: s.chain.dep[*p],
                    amount: 1,
                };
                self.land(&mut node, &mut next.chain, &tx, now).is_ok()
            }
        };
        if !ok {
            return None;
        }
        let (msgs, txs) = drain(&mut node);
        for m in &msgs {
            hoard_message(&mut next.hoard, &node, &self.id, m);
            if let LedgerMessage::Request { proposals, .. } = m {
                for p in proposals {
                    if !next.requests.contains(p) {
                        next.requests.push(p.clone());
                    }
                }
            }
        }
        for t in txs {
            next.pool.add(t);
        }
        if let Some(sup) = node.channel(&self.id).and_then(|c| c.supported())
            && sup.version() > next.supported.0
        {
            next.supported = (sup.version(), net(&sup.state, self.me));
        }
        next.store = Snapshot::of(node.store(), &LEDGER_NS);
        if self.weakness != Weakness::None {
            self.weaken(&node, s, &mut next, act, signed_before);
        }
        Some(next)
    }

    /// Puts a closed hole back (see [`Weakness`]): remembers the store before each version the honest node signs,
    /// and rolls it back when the peer rejects a proposal of the kind the weakness forgets.
    fn weaken(
        &self,
        node: &LedgerNode<MemoryStore>,
        s: &LState,
        next: &mut LState,
        act: &Act,
        signed_before: u64,
    ) {
        let Some(ch) = node.channel(&self.id) else {
            return;
        };
        if ch.signed_up_to() > signed_before {
            next.before_sign.retain(|(v, ..)| *v < ch.signed_up_to());
            next.before_sign
                .push((ch.signed_up_to(), s.store.clone(), s.seq, s.chain.block));
        }
        let Act::Reject(v, _) = act else {
            return;
        };
        let refused = ch
            .signed_states()
            .into_iter()
            .chain(ch.signed_final())
            .find(|st| version(st) == *v);
        let base = ch.supported().map(|sup| amounts(&sup.state, 1 - self.me).2);
        let forget = refused.is_some_and(|st| match self.weakness {
            Weakness::ForgetRefusedFinal => st.isFinal,
            Weakness::ForgetRefusedWithdrawal => {
                base.is_some_and(|b| amounts(st, 1 - self.me).2 > b)
            }
            Weakness::None => false,
        });
        // Only what the node signed is forgotten, never what it read from the chain since (a lost store is out of
        // scope). The adversary sees the node forget its request too, and numbers its next one as the node now
        // expects.
        if forget
            && let Some(i) = next
                .before_sign
                .iter()
                .position(|(sv, _, _, block)| sv == v && *block == s.chain.block)
        {
            next.store = next.before_sign[i].1.clone();
            next.seq = next.before_sign[i].2;
            // Nor does the node answer the reject (the real one re-proposes a carried withdrawal at once).
            next.hoard = s.hoard.clone();
            next.pool = s.pool.clone();
            next.before_sign.truncate(i);
        }
    }

    /// The honest party's entitlement: its net position in the latest state it held signed by both, or in any
    /// newer state it signed and sent, whichever is lower.
    fn entitlement(&self, s: &LState) -> i128 {
        s.hoard
            .iter()
            .filter(|(st, _)| version(st) > s.supported.0)
            .map(|(st, _)| net(st, self.me))
            .fold(s.supported.1, i128::min)
    }

    /// What the honest party ends with (paid, plus what `withdraw` pays it now, minus what it deposited), once the
    /// channel is finalized.
    fn outcome(&self, s: &LState) -> Option<i128> {
        let (c, me) = (&s.chain, self.me);
        if !c.finalized() {
            return None;
        }
        let state = c.registered.as_ref()?;
        let (_, _, _, locked) = amounts(state, me);
        let available = c.available(locked);
        // `withdraw` pays participant 0 first.
        let first = if me == 1 {
            c.payout(state, 0).min(available)
        } else {
            0
        };
        let now = c.payout(state, me).min(available - first);
        Some(i128::from(c.wd[me]) + now - i128::from(c.dep[me]))
    }
}

/// Hands `events` (one block) and the block itself to `node`.
fn deliver<S: Store>(node: &mut LedgerNode<S>, chain: &Chain, events: &[Ev], now: u64) {
    for (i, e) in events.iter().enumerate() {
        if let Err(err) = node.handle_chain_event(chain.block, i as u64, e, now) {
            panic!("chain event {e:?}: {err}");
        }
    }
    if let Err(err) = node.handle_block(chain.block, chain.time, now) {
        panic!("block: {err}");
    }
}

/// Adds what the honest node signed in `m` to the hoard: the state of a proposal or an open, or the state a `Sign`
/// is over (found among the states the node holds, checked by recovering the signature).
pub(super) fn hoard_message(
    hoard: &mut Vec<(State, Signature)>,
    node: &LedgerNode<MemoryStore>,
    id: &B256,
    m: &LedgerMessage,
) {
    let entry = match m {
        LedgerMessage::Propose { state, sig, .. } => Some((state.clone(), sig.clone())),
        LedgerMessage::Open { prefund, sig, .. } => Some((prefund.clone(), sig.clone())),
        LedgerMessage::Sign {
            version: v, sig, ..
        } => node.channel(id).and_then(|c| {
            c.signed_states()
                .into_iter()
                .chain(c.supported().map(|s| &s.state))
                .chain(c.signed_final())
                .find(|st| {
                    version(st) == *v
                        && recover(&ctx().digest(st), sig).is_ok_and(|a| a == node.address())
                })
                .map(|st| (st.clone(), sig.clone()))
        }),
        _ => None,
    };
    if let Some(e) = entry
        && !hoard.contains(&e)
    {
        hoard.push(e);
    }
}

impl Model for LedgerModel {
    type State = LState;
    type Action = Act;

    fn init_states(&self) -> Vec<LState> {
        vec![self.init.clone()]
    }

    fn actions(&self, s: &LState, actions: &mut Vec<Act>) {
        let b = &self.bounds;
        let finalized = s.chain.finalized();
        if s.honest_ops < b.honest_ops && !finalized {
            actions.extend([
                Act::Pay,
                Act::Withdraw,
                Act::TopUp,
                Act::Close,
                Act::Challenge,
            ]);
        }
        actions.extend((0..s.pool.0.len()).map(Act::Include));
        if s.pool.0.is_empty() && s.ticks < b.ticks {
            actions.push(Act::Tick);
        }
        if s.crashes < b.crashes {
            actions.push(Act::Crash);
        }
        if !finalized {
            let mut versions = Vec::new();
            for (i, (st, _)) in s.hoard.iter().enumerate() {
                let v = version(st);
                if !(1..=MAX_VERSION).contains(&v) {
                    continue;
                }
                // A signature or a reject for a version at or below the latest supported one is an old duplicate
                // the node ignores (pruned here, not in the node).
                if self.me == 1 {
                    // Leading: proposals from any hoarded state (the honest follower takes only those built on
                    // its own latest supported state, at a fresh version).
                    if s.peer_ops < b.peer_ops && v >= s.supported.0 {
                        let mut ops =
                            vec![Lead::PayHonest, Lead::Withdraw, Lead::TopUp, Lead::Close];
                        ops.extend((0..s.requests.len()).map(Lead::Request));
                        if b.full_menu {
                            ops.push(Lead::Steal);
                        }
                        for op in ops {
                            for skip in [1, 2] {
                                if v + skip <= MAX_VERSION {
                                    actions.push(Act::Propose { base: i, skip, op });
                                }
                            }
                        }
                    }
                } else if v > s.supported.0 {
                    actions.push(Act::Sign(i, true));
                    if b.full_menu {
                        actions.push(Act::Sign(i, false));
                    }
                }
                if self.me == 0 && v > s.supported.0 && !versions.contains(&v) {
                    versions.push(v);
                    actions.push(Act::Reject(v, 0));
                    // A reject naming no operation (a state mismatch) drops the whole batch: the same as naming the
                    // first one of a one-operation batch, so only the full menu has it.
                    if b.full_menu {
                        actions.push(Act::Reject(v, 1_000));
                    }
                }
                if st.isFinal {
                    actions.push(Act::PeerConclude(i));
                } else {
                    if v > s.chain.version || (v == s.chain.version && !s.chain.pending()) {
                        actions.push(Act::PeerChallenge(i));
                    }
                    if v > s.chain.version {
                        actions.push(Act::PeerCheckpoint(i));
                    }
                }
                let peer = 1 - self.me;
                if amounts(st, peer).2 > i128::from(s.chain.wd[peer]) {
                    actions.push(Act::PeerWithdrawPartial(i));
                }
            }
            if s.peer_ops < b.peer_ops && self.me == 0 {
                actions
                    .extend([Ask::PayHonest, Ask::Withdraw, Ask::Close, Ask::TopUp].map(Act::Ask));
                if b.full_menu {
                    actions.push(Act::Ask(Ask::Steal));
                }
            }
            if self.me == 1 {
                actions.extend(s.requests.iter().map(|r| Act::Refuse(r.seq)));
            }
            if s.deposits < b.deposits {
                actions.extend([Act::PeerDeposit(0), Act::PeerDeposit(1)]);
            }
        } else {
            actions.push(Act::PeerWithdraw);
        }
    }

    fn next_state(&self, s: &LState, act: Act) -> Option<LState> {
        self.step(s, &act)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("entitlement", |m: &LedgerModel, s: &LState| {
                m.outcome(s).is_none_or(|got| got >= m.entitlement(s))
            }),
            Property::always("solvency", |_, s: &LState| {
                !s.chain.overdraw && s.chain.held() >= 0
            }),
            // Not vacuous: some explored behaviour moves the channel past its post-fund, and some ends it on-chain
            // (with the entitlement checked).
            Property::sometimes("an update is signed by both", |_, s: &LState| {
                s.supported.0 >= 2
            }),
            Property::sometimes(
                "the channel ends on chain",
                |m: &LedgerModel, s: &LState| m.outcome(s).is_some(),
            ),
        ]
    }

    fn within_boundary(&self, s: &LState) -> bool {
        s.hoard.iter().all(|(st, _)| version(st) <= MAX_VERSION + 1)
    }
}
