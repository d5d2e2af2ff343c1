//! Model 2 (a hub): the real `VirtualNode` of a hub between colluding endpoints, its setup (both ledgers funded,
//! V proposed), its transitions (the honest schedule and every deviation) and the invariants.

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256};
use ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents as Ev;
use ferry_ledger::contracts::{ChannelParams, State};
use ferry_ledger::protocol::{ChainTx, Phase};
use ferry_ledger::store::MemoryStore;
use ferry_ledger::support;
use ferry_ledger::{SignedState, Signer};
use ferry_virtual::protocol::{Message, OpenRequest, Tx as VTx, VirtualNode, VirtualTx};
use stateright::{Model, Property};

use super::chain::{Chain, Snapshot, Tx};
use super::hub_chain::{VChain, World};
use super::hub_state::{
    A, B, FEE, H, HAct, HState, HUB_NS, HubPool, V_A, Wire, pay_app, vdrain, vnode,
};
use super::ledger_model::hoard_message;
use super::{DEPOSIT, ETH, TICK, WINDOW, amounts, ctx, key, n, sign, u, version};

pub(super) struct HubModel {
    pub(super) keys: [Signer; 3],
    /// Ledger 0: A–H, ledger 1: H–B.
    pub(super) lparams: [ChannelParams; 2],
    pub(super) lids: [B256; 2],
    pub(super) vid: B256,
    pub(super) vparams: ChannelParams,
    pub(super) prefund: State,
    pub(super) deviations: u8,
    pub(super) ticks: u8,
    pub(super) init: HState,
}

impl HubModel {
    /// Funds both ledgers with the real cores (A opens A–H, the hub opens H–B) and lets A propose V (A 2, B 0,
    /// the hub's fee 1): V's pre-fund is on the wire to the hub.
    pub(super) fn new(deviations: u8, ticks: u8) -> Self {
        let keys = [key(0x31), key(0x32), key(0x33)];
        let addr = |i: usize| keys[i].address();
        let mut nodes: Vec<VirtualNode<MemoryStore>> = keys
            .iter()
            .map(|k| vnode(k, MemoryStore::new(), 1_000))
            .collect();
        let mut lparams = [(A, H), (H, B)].map(|(x, y)| {
            let mut p = ferry_ledger::channel::ledger_params(&ctx(), addr(x), addr(y), WINDOW);
            p.nonce = u(7);
            p
        });
        lparams[1].nonce = u(8);
        let lids = lparams
            .clone()
            .map(|p| ferry_ledger::contracts::channel_id(&p));
        for (k, opener) in [(0, A), (1, H)] {
            if let Err(e) = nodes[opener].ledger_mut().open_with_params(
                lparams[k].clone(),
                &[(ETH, [u(DEPOSIT), u(DEPOSIT)])],
                1_000,
            ) {
                panic!("open ledger {k}: {e}");
            }
        }
        let mut ledgers = [0, 1].map(|_| Chain {
            time: 1,
            ..Chain::default()
        });
        let v = VChain::default();
        let idx = |a: Address| (0..3).find(|i| addr(*i) == a).unwrap_or(A);
        let mut wire: Vec<(usize, usize, Message)> = Vec::new();
        for _ in 0..100 {
            let mut quiet = true;
            for i in 0..3 {
                let (msgs, txs) = vdrain(&mut nodes[i]);
                for (to, m) in msgs {
                    wire.push((i, idx(to), m));
                }
                for t in txs {
                    quiet = false;
                    let VTx::Ledger(t) = t else { continue };
                    let k = lids
                        .iter()
                        .position(|l| *l == t.channel_id())
                        .unwrap_or_else(|| panic!("setup tx for an unknown channel"));
                    let events = ledgers[k]
                        .apply(&lparams[k], &Tx::of(&t))
                        .unwrap_or_else(|e| panic!("setup tx: {e}"));
                    let b = ledgers[0].block.max(ledgers[1].block) + 1;
                    ledgers[0].block = b;
                    ledgers[1].block = b;
                    for node in nodes.iter_mut() {
                        vdeliver(node, b, ledgers[0].time, &events, 1_000);
                    }
                }
            }
            for (from, to, m) in std::mem::take(&mut wire) {
                quiet = false;
                if let Err(e) = nodes[to].handle_message(addr(from), m, 1_000) {
                    panic!("setup message: {e}");
                }
            }
            if quiet {
                break;
            }
        }
        for k in 0..2 {
            for i in [[A, H], [H, B]][k] {
                let phase = nodes[i].ledger().channel(&lids[k]).map(|c| c.phase());
                assert_eq!(phase, Some(Phase::Running), "ledger {k} not funded");
            }
        }
        let vid = nodes[A]
            .open(
                OpenRequest {
                    path: vec![addr(A), addr(H), addr(B)],
                    hops: lids.to_vec(),
                    app: pay_app(),
                    balances: vec![(ETH, [u(V_A), u(0)])],
                    fees: vec![u(0), u(FEE), u(0)],
                    challenge_duration: WINDOW,
                },
                1_000,
            )
            .unwrap_or_else(|e| panic!("open V: {e}"));
        let (vparams, prefund) = nodes[A]
            .channel(&vid)
            .map(|c| (c.params().clone(), c.prefund().clone()))
            .unwrap_or_else(|| panic!("no V"));
        let (msgs, _) = vdrain(&mut nodes[A]);
        for (to, m) in msgs {
            wire.push((A, idx(to), m));
        }
        let stores = [A, H, B].map(|i| Snapshot::of(nodes[i].ledger().store(), &HUB_NS));
        let init = HState {
            stores,
            wire: Wire(wire),
            pool: HubPool::default(),
            ledgers,
            v,
            hoard_l: Vec::new(),
            hoard_v: Vec::new(),
            stage: 0,
            deviations: 0,
            ticks: 0,
            certified: false,
        };
        Self {
            keys,
            lparams,
            lids,
            vid,
            vparams,
            prefund,
            deviations,
            ticks,
            init,
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    fn index(&self, a: Address) -> usize {
        (0..3).find(|i| self.addr(*i) == a).unwrap_or(A)
    }

    fn now(s: &HState) -> u64 {
        s.ledgers[0].time * 1_000
    }

    /// The endpoint that shares ledger `k` with the hub.
    fn endpoint_of(k: usize) -> usize {
        if k == 0 { A } else { B }
    }

    /// Lands `tx` and hands the block to every node.
    fn land(
        &self,
        nodes: &mut [VirtualNode<MemoryStore>],
        s: &mut HState,
        tx: &VTx,
    ) -> Result<(), String> {
        let now = Self::now(s);
        let mut world = World {
            m: self,
            ledgers: &mut s.ledgers,
            v: &mut s.v,
        };
        let events = world.apply(tx)?;
        let b = world.block();
        let time = world.time();
        for node in nodes.iter_mut() {
            vdeliver(node, b, time, &events, now);
        }
        Ok(())
    }

    fn collect(
        &self,
        nodes: &mut [VirtualNode<MemoryStore>],
        s: &mut HState,
        keep_resent: [bool; 3],
    ) {
        for i in 0..3 {
            let (msgs, txs) = vdrain(&mut nodes[i]);
            if !keep_resent[i] {
                continue;
            }
            for (to, m) in msgs {
                if i == H {
                    self.hoard(&nodes[H], s, &m);
                }
                s.wire.0.push((i, self.index(to), m));
            }
            if i == H {
                for t in txs {
                    s.pool.add(t);
                }
            }
        }
    }

    /// Keeps what the hub signed in `m` (ledger states and V states).
    fn hoard(&self, hub: &VirtualNode<MemoryStore>, s: &mut HState, m: &Message) {
        match m {
            Message::Ledger(lm) => {
                let Some(k) = self.lids.iter().position(|l| *l == lm.channel_id()) else {
                    return;
                };
                let mut h = Vec::new();
                hoard_message(&mut h, hub.ledger(), &self.lids[k], lm);
                for (st, sig) in h {
                    if !s.hoard_l.iter().any(|(_, x, _)| *x == st) {
                        s.hoard_l.push((k, st, sig));
                    }
                }
            }
            Message::Virtual(ferry_virtual::protocol::VirtualMessage::Sigs {
                state, sigs, ..
            }) => {
                if let Some(Some(sig)) = sigs.get(H)
                    && !s.hoard_v.iter().any(|(x, _)| x == state)
                {
                    s.hoard_v.push((state.clone(), sig.clone()));
                }
            }
            Message::Virtual(_) => {}
        }
    }

    fn step(&self, s: &HState, act: &HAct) -> Option<HState> {
        let mut next = s.clone();
        let now = Self::now(s);
        let mut nodes: Vec<VirtualNode<MemoryStore>> = (0..3)
            .map(|i| vnode(&self.keys[i], s.stores[i].restore(&HUB_NS), now))
            .collect();
        let crash = *act == HAct::Crash;
        self.collect(&mut nodes, &mut next, [false, crash, false]);
        if *act != HAct::Pump {
            next.deviations += 1;
        }
        let ok = match act {
            HAct::Pump => self.pump(&mut nodes, &mut next),
            HAct::Tick => self.tick(&mut nodes, &mut next),
            HAct::Crash => true,
            HAct::Withhold(e) => {
                let before = next.wire.0.len();
                next.wire
                    .0
                    .retain(|(from, to, _)| !(*from == *e && *to == H));
                next.wire.0.len() < before
            }
            HAct::LedgerAttack(i) => {
                let (k, st, sig) = s.hoard_l[*i].clone();
                let e = Self::endpoint_of(k);
                let ours = sign(&self.keys[e], &st);
                let sigs = if k == 0 {
                    vec![ours, sig]
                } else {
                    vec![sig, ours]
                };
                let signed = SignedState {
                    state: st.clone(),
                    sigs,
                };
                let tx = if st.isFinal {
                    ChainTx::ConcludeAndWithdraw {
                        params: self.lparams[k].clone(),
                        state: signed,
                    }
                } else {
                    ChainTx::Challenge {
                        params: self.lparams[k].clone(),
                        state: signed,
                    }
                };
                self.land(&mut nodes, &mut next, &VTx::Ledger(tx)).is_ok()
            }
            HAct::VConclude(i) | HAct::VChallenge(i) => {
                let (st, sig) = s.hoard_v[*i].clone();
                let sigs = vec![sign(&self.keys[A], &st), sig, sign(&self.keys[B], &st)];
                let state = SignedState { state: st, sigs };
                let tx = if matches!(act, HAct::VConclude(_)) {
                    VirtualTx::Conclude {
                        params: self.vparams.clone(),
                        state,
                    }
                } else {
                    VirtualTx::Challenge {
                        params: self.vparams.clone(),
                        state,
                        cert: None,
                    }
                };
                self.land(&mut nodes, &mut next, &VTx::Virtual(tx)).is_ok()
            }
            HAct::VEndpoints(a) => {
                let cert = s
                    .hoard_v
                    .iter()
                    .find(|(st, _)| version(st) == 1 && !st.isFinal)
                    .map(|(st, sig)| ferry_ledger::Certificate {
                        state: st.clone(),
                        sigs: vec![
                            sign(&self.keys[A], st),
                            sig.clone(),
                            sign(&self.keys[B], st),
                        ],
                    });
                match cert {
                    None => false,
                    Some(cert) => {
                        let mut st = cert.state.clone();
                        st.version = U48::from(2u64);
                        if let Some(asset) = st.outcome.assets.first_mut() {
                            asset.balances = vec![u(*a), u(0), u(V_A - a)];
                        }
                        let sigs = vec![sign(&self.keys[A], &st), sign(&self.keys[B], &st)];
                        let tx = VirtualTx::Challenge {
                            params: self.vparams.clone(),
                            state: SignedState { state: st, sigs },
                            cert: Some(cert),
                        };
                        self.land(&mut nodes, &mut next, &VTx::Virtual(tx)).is_ok()
                    }
                }
            }
        };
        if !ok {
            return None;
        }
        self.collect(&mut nodes, &mut next, [true, true, true]);
        // The fee is due once the hub holds V's certificate while V is not final on-chain (a certificate completed
        // after V finalized by its pre-fund comes too late for anyone: the fee goes back to A's side, S8).
        if !next.v.finalized(next.ledgers[0].time)
            && nodes[H]
                .channel(&self.vid)
                .is_some_and(|c| c.certificate().is_some())
        {
            next.certified = true;
        }
        for (i, node) in nodes.iter().enumerate() {
            next.stores[i] = Snapshot::of(node.ledger().store(), &HUB_NS);
        }
        Some(next)
    }

    /// Honest progress (see [`HAct::Pump`]).
    fn pump(&self, nodes: &mut [VirtualNode<MemoryStore>], s: &mut HState) -> bool {
        let now = Self::now(s);
        if !s.pool.0.is_empty() {
            for tx in std::mem::take(&mut s.pool.0) {
                let result = self.land(nodes, s, &tx);
                if let (VTx::Ledger(t), Err(reason)) = (&tx, result) {
                    let _ = nodes[H].ledger_mut().handle_tx_failed(t, reason);
                } else if let VTx::Ledger(t) = &tx {
                    let _ = nodes[H].ledger_mut().handle_tx_done(t);
                }
            }
            return true;
        }
        if !s.wire.0.is_empty() {
            for (from, to, m) in std::mem::take(&mut s.wire.0) {
                let _ = nodes[to].handle_message(self.addr(from), m, now);
            }
            return true;
        }
        let stage = s.stage;
        s.stage += 1;
        match stage {
            0 => {
                let _ = nodes[A].pay(self.vid, ETH, u(1));
                true
            }
            1 => {
                if nodes[B].settle(self.vid, now).is_err() {
                    let _ = nodes[A].settle(self.vid, now);
                }
                true
            }
            2 => {
                for id in self.lids {
                    let _ = nodes[H].ledger_mut().challenge(id);
                }
                true
            }
            _ => {
                s.stage = stage;
                self.tick(nodes, s)
            }
        }
    }

    fn tick(&self, nodes: &mut [VirtualNode<MemoryStore>], s: &mut HState) -> bool {
        if !s.pool.0.is_empty() || s.ticks >= self.ticks {
            return false;
        }
        s.ticks += 1;
        for l in s.ledgers.iter_mut() {
            l.time += TICK;
        }
        let b = s.ledgers[0].block.max(s.ledgers[1].block) + 1;
        s.ledgers[0].block = b;
        s.ledgers[1].block = b;
        let (time, now) = (s.ledgers[0].time, Self::now(s));
        for node in nodes.iter_mut() {
            vdeliver(node, b, time, &[], now);
            let _ = node.handle_timeout(now);
        }
        true
    }

    /// The hub's end across its two ledgers, once both are finalized and V too if a finalized ledger state still
    /// holds its leaf: what it was paid (withdrawals and claims) plus what `withdraw` and the leaf's claim pay it
    /// now, minus what it deposited.
    fn hub_end(&self, s: &HState) -> Option<i128> {
        let time = s.ledgers[0].time;
        let mut total = 0i128;
        for k in 0..2 {
            let c = &s.ledgers[k];
            let state = c.registered.as_ref()?;
            if !c.finalized() {
                return None;
            }
            let me = usize::from(k == 0);
            let (_, _, _, locked) = amounts(state, me);
            let now = c.payout(state, me).min(c.available(locked));
            total +=
                i128::from(c.wd[me]) + i128::from(c.claims_paid[me]) + now - i128::from(c.dep[me]);
            if locked > 0 && c.claimed == 0 {
                if !s.v.finalized(time) {
                    return None;
                }
                let vstate = s.v.registered.as_ref()?;
                let leaf = support::leaf_of(&self.vparams, &self.prefund, u(FEE));
                let pos =
                    ferry_ledger::params::path_position(&self.lparams[k], &self.vparams).ok()?;
                let p = support::leaf_payout(&leaf, vstate).ok()?;
                let p = p.first()?;
                total += n(if pos.left_index == me {
                    p.to_left
                } else {
                    p.to_right
                });
            }
        }
        Some(total)
    }
}

fn vdeliver(node: &mut VirtualNode<MemoryStore>, block: u64, time: u64, events: &[Ev], now: u64) {
    for (i, e) in events.iter().enumerate() {
        let _ = node.handle_chain_event(block, i as u64, e, now);
    }
    let _ = node.handle_block(block, time, now);
}

impl Model for HubModel {
    type State = HState;
    type Action = HAct;

    fn init_states(&self) -> Vec<HState> {
        vec![self.init.clone()]
    }

    fn actions(&self, s: &HState, actions: &mut Vec<HAct>) {
        actions.push(HAct::Pump);
        if s.deviations >= self.deviations {
            return;
        }
        actions.push(HAct::Tick);
        actions.push(HAct::Crash);
        for e in [A, B] {
            if s.wire.0.iter().any(|(from, to, _)| *from == e && *to == H) {
                actions.push(HAct::Withhold(e));
            }
        }
        for (i, (k, st, _)) in s.hoard_l.iter().enumerate() {
            let c = &s.ledgers[*k];
            if !c.finalized() && version(st) >= c.version.max(1) {
                actions.push(HAct::LedgerAttack(i));
            }
        }
        let time = s.ledgers[0].time;
        if !s.v.finalized(time) {
            for (i, (st, _)) in s.hoard_v.iter().enumerate() {
                if st.isFinal {
                    actions.push(HAct::VConclude(i));
                } else {
                    actions.push(HAct::VChallenge(i));
                }
            }
            if s.certified {
                actions.extend((0..=V_A).map(HAct::VEndpoints));
            }
        }
    }

    fn next_state(&self, s: &HState, act: HAct) -> Option<HState> {
        self.step(s, &act)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("hub gets its due", |m: &HubModel, s: &HState| {
                let due = if s.certified { i128::from(FEE) } else { 0 };
                m.hub_end(s).is_none_or(|end| end >= due)
            }),
            Property::always("solvency", |_, s: &HState| {
                s.ledgers.iter().all(|c| !c.overdraw && c.held() >= 0)
            }),
            Property::sometimes("the hub's due is reached", |m: &HubModel, s: &HState| {
                m.hub_end(s).is_some()
            }),
        ]
    }
}
