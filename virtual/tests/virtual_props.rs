//! Whole-network property test of virtual channels: a line of 3 to 6 nodes with a funded ledger between
//! neighbours, random virtual channels between any two of them (0 to 4 intermediaries), random payments and
//! settles, a wire that drops, duplicates, delays and reorders messages, and crashes with restart from the store.
//! Once the network heals and every channel settles: funds are conserved, every ledger's sub-channel table is
//! empty (nothing stays locked), every intermediary breaks even, and no endpoint ends below what its own payments
//! leave it. Cases: `FERRY_PROPTEST_CASES` (default 64).

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Address, B256, U256};
use ferry_virtual::ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};
use ferry_virtual::ledger::protocol::{Config, LedgerNode, OpenPolicy, Phase};
use ferry_virtual::ledger::store::MemoryStore;
use ferry_virtual::ledger::{ChainContext, Signer};
use ferry_virtual::protocol::{Message, OpenRequest, VirtualNode, VirtualPhase};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 1_000_000;

/// The payment app at 0xaa…, the game at 0xbb… (apps are runtime settings, declared again after a restart).
fn with_apps(mut node: VirtualNode<MemoryStore>) -> VirtualNode<MemoryStore> {
    node.set_app(
        Address::repeat_byte(0xaa),
        ferry_virtual::protocol::AppKind::Payment,
    );
    node.set_app(
        Address::repeat_byte(0xbb),
        ferry_virtual::protocol::AppKind::Game,
    );
    node
}

fn ctx() -> ChainContext {
    ChainContext {
        chain_id: 31337,
        adjudicator: Address::repeat_byte(0xad),
    }
}

fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(DEPOSIT),
            ..OpenPolicy::default()
        },
        resend_ms: 300,
        max_resend_ms: 2_000,
        peer_timeout_ms: u64::MAX / 4,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
enum Action {
    Open {
        from: usize,
        to: usize,
        a: u64,
        b: u64,
    },
    Pay {
        v: usize,
        by_first: bool,
        amount: u64,
    },
    Settle {
        v: usize,
        by_first: bool,
    },
    Crash {
        who: usize,
    },
    Wait {
        steps: usize,
    },
}

fn action(n: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..n, 0..n, 1..1000u64, 0..1000u64).prop_map(move |(x, y, a, b)| {
            let (from, to) = if x < y { (x, y) } else if y < x { (y, x) } else { (0, n - 1) };
            Action::Open { from, to, a, b }
        }),
        6 => (0..8usize, any::<bool>(), 1..300u64).prop_map(|(v, by_first, amount)| Action::Pay { v, by_first, amount }),
        2 => (0..8usize, any::<bool>()).prop_map(|(v, by_first)| Action::Settle { v, by_first }),
        1 => (0..n).prop_map(|who| Action::Crash { who }),
        2 => (1..20usize).prop_map(|steps| Action::Wait { steps }),
    ]
}

struct Wire {
    at: u64,
    from: usize,
    to: usize,
    msg: Message,
}

struct Net {
    nodes: Vec<Option<VirtualNode<MemoryStore>>>,
    keys: Vec<Signer>,
    hops: Vec<B256>,
    now: u64,
    wire: Vec<Wire>,
    rng: StdRng,
    drop_pct: u8,
    dup_pct: u8,
    max_delay: u64,
}

impl Net {
    fn new(n: usize, seed: u64) -> Self {
        let keys: Vec<Signer> = (0..n).map(|_| Signer::random()).collect();
        let nodes = keys
            .iter()
            .map(|k| {
                let l = LedgerNode::open_store(k.clone(), ctx(), config(), MemoryStore::new(), 0)
                    .unwrap();
                Some(with_apps(VirtualNode::open_store(l, 0).unwrap()))
            })
            .collect();
        let mut net = Net {
            nodes,
            keys,
            hops: vec![],
            now: 0,
            wire: vec![],
            rng: StdRng::seed_from_u64(seed),
            drop_pct: 0,
            dup_pct: 0,
            max_delay: 0,
        };
        let mut pos = 0;
        for k in 0..n - 1 {
            let peer = net.keys[k + 1].address();
            let id = net
                .node(k)
                .ledger_mut()
                .open(
                    peer,
                    &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
                    3600,
                    0,
                )
                .unwrap();
            net.settle_wire(200);
            for p in 0..2u8 {
                pos += 1;
                let ev = Ev::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: U256::from(p),
                    taken: U256::from(DEPOSIT),
                    depositedTotal: U256::ZERO,
                });
                for i in [k, k + 1] {
                    net.node(i).handle_chain_event(pos, 0, &ev, 0).unwrap();
                }
                net.settle_wire(200);
            }
            assert_eq!(
                net.node(k).ledger().channel(&id).unwrap().phase(),
                Phase::Running
            );
            net.hops.push(id);
        }
        net
    }

    fn node(&mut self, i: usize) -> &mut VirtualNode<MemoryStore> {
        self.nodes[i].as_mut().unwrap()
    }

    fn index(&self, a: Address) -> usize {
        self.keys.iter().position(|k| k.address() == a).unwrap()
    }

    fn step(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(node) = self.nodes[i].as_mut() else {
                continue;
            };
            let mut out = vec![];
            while let Some(m) = node.poll_transmit() {
                out.push(m);
            }
            while node.poll_tx().is_some() {}
            while node.poll_event().is_some() {}
            for (to, msg) in out {
                let to = self.index(to);
                if self.rng.random_range(0..100u8) < self.drop_pct {
                    continue;
                }
                let copies = if self.rng.random_range(0..100u8) < self.dup_pct {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let delay = if self.max_delay == 0 {
                        0
                    } else {
                        self.rng.random_range(0..=self.max_delay)
                    };
                    self.wire.push(Wire {
                        at: self.now + delay,
                        from: i,
                        to,
                        msg: msg.clone(),
                    });
                }
            }
        }
        self.wire.sort_by_key(|w| w.at);
        let split = self.wire.partition_point(|w| w.at <= self.now);
        let due: Vec<Wire> = self.wire.drain(..split).collect();
        for w in due {
            let from = self.keys[w.from].address();
            let now = self.now;
            if let Some(node) = self.nodes[w.to].as_mut() {
                let _ = node.handle_message(from, w.msg, now);
            }
        }
        let now = self.now;
        for node in self.nodes.iter_mut().flatten() {
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now).unwrap();
            }
        }
        self.now += 100;
    }

    fn settle_wire(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    fn crash_restart(&mut self, i: usize) {
        let Some(node) = self.nodes[i].take() else {
            return;
        };
        let store = node.into_store();
        let l =
            LedgerNode::open_store(self.keys[i].clone(), ctx(), config(), store, self.now).unwrap();
        self.nodes[i] = Some(with_apps(VirtualNode::open_store(l, self.now).unwrap()));
    }

    /// A node's total across its ledgers (its balances; what is locked in leaves is not counted).
    fn total(&self, i: usize) -> U256 {
        let node = self.nodes[i].as_ref().unwrap();
        self.hops
            .iter()
            .filter_map(|h| node.ledger().channel(h))
            .map(|c| c.balance(&ETH))
            .fold(U256::ZERO, |a, b| a + b)
    }
}

fn cases() -> u32 {
    std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 100, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn virtual_channels_settle_and_release_everything_under_faults_and_crashes(
        n in 3..7usize,
        actions in proptest::collection::vec(action(6), 1..30),
        drop_pct in 0..20u8,
        dup_pct in 0..20u8,
        max_delay in 0..500u64,
        seed in any::<u64>(),
    ) {
        let mut net = Net::new(n, seed);
        let initial: Vec<U256> = (0..n).map(|i| net.total(i)).collect();
        net.drop_pct = drop_pct;
        net.dup_pct = dup_pct;
        net.max_delay = max_delay;
        // (V, first endpoint, last endpoint)
        let mut vs: Vec<(B256, usize, usize)> = vec![];
        let mut paid = vec![U256::ZERO; n];
        for a in actions {
            match a {
                Action::Open { from, to, a, b } => {
                    let (from, to) = (from % n, to % n);
                    if from >= to { continue; }
                    let path: Vec<Address> = (from..=to).map(|i| net.keys[i].address()).collect();
                    let hops = net.hops[from..to].to_vec();
                    let now = net.now;
                    let fees = vec![U256::ZERO; to - from + 1];
                    let req = OpenRequest {
                        path,
                        hops,
                        app: Address::repeat_byte(0xaa),
                        balances: vec![(ETH, [U256::from(a), U256::from(b)])],
                        fees,
                        challenge_duration: 3600,
                    };
                    if let Ok(v) = net.node(from).open(req, now) {
                        vs.push((v, from, to));
                    }
                }
                Action::Pay { v, by_first, amount } => {
                    if let Some((id, f, l)) = vs.get(v % vs.len().max(1)).copied() {
                        let who = if by_first { f } else { l };
                        if net.node(who).pay(id, ETH, U256::from(amount)).is_ok() {
                            paid[who] += U256::from(amount);
                        }
                    }
                }
                Action::Settle { v, by_first } => {
                    if let Some((id, f, l)) = vs.get(v % vs.len().max(1)).copied() {
                        let now = net.now;
                        let _ = net.node(if by_first { f } else { l }).settle(id, now);
                    }
                }
                Action::Crash { who } => net.crash_restart(who % n),
                Action::Wait { steps } => net.settle_wire(steps),
            }
            net.step();
        }
        // Heal, let every open finish (or time out), settle every channel that opened, and let it all run out.
        net.drop_pct = 0;
        net.dup_pct = 0;
        net.max_delay = 0;
        net.settle_wire(400);
        for (id, f, _) in &vs {
            let now = net.now;
            let _ = net.node(*f).settle(*id, now);
        }
        net.settle_wire(1200);
        for (id, f, l) in &vs {
            for i in *f..=*l {
                let phase = net.nodes[i].as_ref().unwrap().channel(id).map(|c| c.phase());
                prop_assert!(
                    phase.is_none_or(|p| p == VirtualPhase::Released),
                    "V {} at member {} is {:?}", id, i, phase
                );
            }
        }
        for (h, hop) in net.hops.clone().iter().enumerate() {
            let t = net.nodes[h].as_ref().unwrap().ledger().table(hop).unwrap().len();
            prop_assert_eq!(t, 0, "ledger {} still hosts sub-channels", h);
        }
        let finals: Vec<U256> = (0..n).map(|i| net.total(i)).collect();
        prop_assert_eq!(finals.iter().fold(U256::ZERO, |a, b| a + *b), initial.iter().fold(U256::ZERO, |a, b| a + *b), "funds not conserved");
        for i in 0..n {
            let endpoint = vs.iter().any(|(_, f, l)| *f == i || *l == i);
            if !endpoint {
                prop_assert_eq!(finals[i], initial[i], "intermediary {} does not break even", i);
            }
            prop_assert!(finals[i] + paid[i] >= initial[i], "node {} ended below what its own payments leave it", i);
        }
    }
}
