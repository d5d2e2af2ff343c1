//! Virtual channels through 1 to 4 intermediaries, in memory (the chain replaced by synthetic deposit events):
//! open with zero on-chain transactions, vouchers both ways, settle, leaves paid out in every ledger; and the
//! typed refusals.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Address, B256, U256};
use ferry_virtual::ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};
use ferry_virtual::ledger::protocol::{Config, LedgerNode, OpenPolicy, Phase};
use ferry_virtual::ledger::store::MemoryStore;
use ferry_virtual::ledger::{ChainContext, Signer};
use ferry_virtual::protocol::{
    IntermediaryPolicy, Message, OPEN_TIMEOUT_MS, OpenRequest, Tx, VirtualError, VirtualEvent,
    VirtualMessage, VirtualNode, VirtualPhase, VirtualTx,
};

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 100;

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

struct Net {
    nodes: Vec<VirtualNode<MemoryStore>>,
    keys: Vec<Signer>,
    hops: Vec<B256>,
    now: u64,
    pos: u64,
    refused: Vec<String>,
    events: Vec<Vec<VirtualEvent>>,
    txs: usize,
    /// Every transaction a node asked for, with the node's index.
    tx_log: Vec<(usize, Tx)>,
}

impl Net {
    /// A path of `n` members with a funded ledger between each pair; ledgers alternate who opened them, so the
    /// path member on A's side is sometimes participant 1 of its ledger.
    fn path(n: usize) -> Self {
        let keys: Vec<Signer> = (0..n).map(|_| Signer::random()).collect();
        let config = Config {
            open: OpenPolicy {
                accept: true,
                max_own_deposit: U256::from(DEPOSIT),
                ..OpenPolicy::default()
            },
            ..Config::default()
        };
        let nodes = keys
            .iter()
            .map(|k| {
                let ledger =
                    LedgerNode::open_store(k.clone(), ctx(), config.clone(), MemoryStore::new(), 0)
                        .unwrap();
                with_apps(VirtualNode::open_store(ledger, 0).unwrap())
            })
            .collect();
        let mut net = Net {
            nodes,
            keys,
            hops: vec![],
            now: 0,
            pos: 0,
            refused: vec![],
            events: vec![vec![]; n],
            txs: 0,
            tx_log: vec![],
        };
        for k in 0..n - 1 {
            let (opener, peer) = if k % 2 == 0 { (k, k + 1) } else { (k + 1, k) };
            let peer_addr = net.keys[peer].address();
            let id = net.nodes[opener]
                .ledger_mut()
                .open(
                    peer_addr,
                    &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
                    3600,
                    0,
                )
                .unwrap();
            net.pump();
            for p in 0..2u8 {
                net.pos += 1;
                let ev = Ev::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: U256::from(p),
                    taken: U256::from(DEPOSIT),
                    depositedTotal: U256::ZERO,
                });
                for node in [opener, peer] {
                    net.nodes[node]
                        .handle_chain_event(net.pos, 0, &ev, 0)
                        .unwrap();
                }
                net.pump();
            }
            assert_eq!(
                net.nodes[k].ledger().channel(&id).unwrap().phase(),
                Phase::Running
            );
            net.hops.push(id);
        }
        net.txs = 0;
        net
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    fn index(&self, a: Address) -> usize {
        self.keys.iter().position(|k| k.address() == a).unwrap()
    }

    /// Delivers messages until quiet, firing due timers in between.
    fn pump(&mut self) {
        for _ in 0..500 {
            let mut wire = Vec::new();
            for (i, node) in self.nodes.iter_mut().enumerate() {
                while let Some((to, m)) = node.poll_transmit() {
                    wire.push((i, to, m));
                }
                while let Some(tx) = node.poll_tx() {
                    self.txs += 1;
                    self.tx_log.push((i, tx));
                }
                while let Some(e) = node.poll_event() {
                    self.events[i].push(e);
                }
            }
            if wire.is_empty() {
                let due = self.nodes.iter().filter_map(|n| n.poll_timeout()).min();
                match due {
                    Some(t) if t <= self.now + 5_000 => {
                        self.now = self.now.max(t);
                        let now = self.now;
                        for n in &mut self.nodes {
                            n.handle_timeout(now).unwrap();
                        }
                        continue;
                    }
                    _ => return,
                }
            }
            for (from, to, m) in wire {
                let sender = self.addr(from);
                let to = self.index(to);
                let now = self.now;
                if let Err(e) = self.nodes[to].handle_message(sender, m, now) {
                    self.refused.push(e.to_string());
                }
            }
        }
        panic!("no quiescence");
    }

    fn balance(&self, node: usize, hop: usize) -> U256 {
        self.nodes[node]
            .ledger()
            .channel(&self.hops[hop])
            .unwrap()
            .balance(&ETH)
    }
}

fn open_pay_settle(members: usize) {
    let mut net = Net::path(members);
    let last = members - 1;
    let path: Vec<Address> = (0..members).map(|i| net.addr(i)).collect();
    let app = Address::repeat_byte(0xaa);
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO; members],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert!(net.refused.is_empty(), "{:?}", net.refused);
    for i in 0..members {
        let ch = net.nodes[i].channel(&v).unwrap();
        assert_eq!(ch.phase(), VirtualPhase::Open, "member {i}");
        assert!(ch.certificate().is_some());
    }
    for hop in 0..members - 1 {
        let t = net.nodes[hop].ledger().table(&net.hops[hop]).unwrap();
        assert!(t.contains(&v), "ledger {hop} hosts V");
    }
    assert_eq!(net.txs, 0, "opening V touches no chain");
    // Payments both ways.
    for _ in 0..3 {
        net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    }
    net.nodes[last].pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    assert!(net.events[last].iter().any(
        |e| matches!(e, VirtualEvent::Paid { cumulative, .. } if *cumulative == U256::from(30))
    ));
    assert!(matches!(
        net.nodes[0].pay(v, ETH, U256::from(1000)),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::InsufficientFunds
        ))
    ));
    // B settles (it asks A to propose the final); everyone countersigns; every leaf is paid out.
    let now = net.now;
    net.nodes[last].settle(v, now).unwrap();
    net.pump();
    assert!(net.refused.is_empty(), "{:?}", net.refused);
    for i in 0..members {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    // A ends with 50 - 30 + 5 = 25 in V, B with 20 + 30 - 5 = 45: every ledger's A side gets 25, B side 45.
    for hop in 0..members - 1 {
        assert_eq!(
            net.balance(hop, hop),
            U256::from(DEPOSIT - 50 + 25),
            "A side of ledger {hop}"
        );
        assert_eq!(
            net.balance(hop + 1, hop),
            U256::from(DEPOSIT - 20 + 45),
            "B side of ledger {hop}"
        );
        assert!(
            net.nodes[hop]
                .ledger()
                .table(&net.hops[hop])
                .unwrap()
                .is_empty()
        );
    }
    // Each intermediary breaks even across its two ledgers.
    for i in 1..last {
        assert_eq!(
            net.balance(i, i - 1) + net.balance(i, i),
            U256::from(2 * DEPOSIT)
        );
    }
    assert_eq!(net.txs, 0, "settling V touches no chain");
}

#[test]
fn open_pay_settle_with_one_intermediary() {
    open_pay_settle(3);
}

#[test]
fn open_pay_settle_with_two_intermediaries() {
    open_pay_settle(4);
}

#[test]
fn open_pay_settle_with_four_intermediaries() {
    open_pay_settle(6);
}

#[test]
fn open_pay_settle_without_intermediary() {
    open_pay_settle(2);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let mut net = Net::path(3);
    let path: Vec<Address> = (0..3).map(|i| net.addr(i)).collect();
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path: path.clone(),
                hops: net.hops.clone(),
                app: Address::repeat_byte(0xaa),
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO; 3],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    // A voucher for a channel that is not funded yet is refused (go-nitro #1721).
    assert!(matches!(
        net.nodes[0].pay(v, ETH, U256::from(1)),
        Err(ferry_virtual::Error::Virtual(VirtualError::NotFunded))
    ));
    net.pump();
    // A voucher signed by someone else, and one from a stranger.
    let mallory = Signer::random();
    let params = net.nodes[2].channel(&v).unwrap().params().clone();
    let sig =
        ferry_virtual::ledger::app::payment::sign_voucher(&mallory, &params, ETH, U256::from(5));
    let forged = Message::Virtual(VirtualMessage::Voucher {
        channel_id: v,
        asset: ETH,
        cumulative: U256::from(5),
        sig: sig.clone(),
    });
    let a = net.addr(0);
    assert!(net.nodes[2].handle_message(a, forged.clone(), 0).is_err());
    assert!(matches!(
        net.nodes[2].handle_message(mallory.address(), forged, 0),
        Err(ferry_virtual::Error::Virtual(VirtualError::NotNeighbour(_)))
    ));
    // A voucher above the payer's funds.
    let big = ferry_virtual::ledger::app::payment::sign_voucher(
        &net.keys[0],
        &params,
        ETH,
        U256::from(51),
    );
    let over = Message::Virtual(VirtualMessage::Voucher {
        channel_id: v,
        asset: ETH,
        cumulative: U256::from(51),
        sig: big,
    });
    assert!(matches!(
        net.nodes[2].handle_message(a, over, 0),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::InsufficientFunds
        ))
    ));
    // A path member that is not who it claims: a pre-fund for a path this node is not on.
    let stranger = Signer::random();
    let bogus_path = vec![stranger.address(), net.addr(1)];
    let bogus = ferry_virtual::ledger::channel::virtual_params(
        &ctx(),
        bogus_path,
        vec![net.hops[0]],
        Address::ZERO,
        3600,
        0,
    );
    let prefund = net.nodes[0].channel(&v).unwrap().prefund().clone();
    let msg = Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(bogus)),
        state: prefund,
        sigs: vec![None, None],
        fees: vec![U256::ZERO; 2],
    });
    assert!(
        net.nodes[2]
            .handle_message(stranger.address(), msg, 0)
            .is_err()
    );
    let before = net.nodes[2].channel(&v).unwrap().clone();
    assert_eq!(net.nodes[2].channel(&v).unwrap(), &before);
    assert_eq!(
        net.nodes[2].channel(&v).unwrap().phase(),
        VirtualPhase::Open
    );
}

impl Net {
    /// Opens a payment channel V from the first member to the last over the whole path, without fees: A puts in
    /// `a`, B `b`. Returns V's id.
    fn open_payment(&mut self, a: u64, b: u64) -> B256 {
        let path: Vec<Address> = (0..self.nodes.len()).map(|i| self.addr(i)).collect();
        let n = path.len();
        self.nodes[0]
            .open(
                OpenRequest {
                    path,
                    hops: self.hops.clone(),
                    app: Address::repeat_byte(0xaa),
                    balances: vec![(ETH, [U256::from(a), U256::from(b)])],
                    fees: vec![U256::ZERO; n],
                    challenge_duration: 3600,
                },
                0,
            )
            .unwrap()
    }

    /// Crashes member `i` (everything it had not sent is lost) and restarts it from its store.
    fn crash_restart(&mut self, i: usize) {
        let config = self.nodes[i].ledger().config().clone();
        let placeholder = VirtualNode::open_store(
            LedgerNode::open_store(
                self.keys[i].clone(),
                ctx(),
                config.clone(),
                MemoryStore::new(),
                0,
            )
            .unwrap(),
            0,
        )
        .unwrap();
        let store = std::mem::replace(&mut self.nodes[i], placeholder).into_store();
        let ledger =
            LedgerNode::open_store(self.keys[i].clone(), ctx(), config, store, self.now).unwrap();
        self.nodes[i] = with_apps(VirtualNode::open_store(ledger, self.now).unwrap());
    }

    /// Delivers one round of messages (no timers), dropping what `lost` selects.
    fn step(&mut self, lost: impl Fn(usize, usize) -> bool) {
        self.step_selective(|from, to, _| lost(from, to));
    }

    /// Delivers one round of messages (no timers), dropping the messages `lost` selects by sender, receiver and
    /// content; records the transactions and events the nodes produced.
    fn step_selective(&mut self, lost: impl Fn(usize, usize, &Message) -> bool) {
        let mut wire = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some((to, m)) = node.poll_transmit() {
                wire.push((i, to, m));
            }
            while let Some(tx) = node.poll_tx() {
                self.tx_log.push((i, tx));
            }
            while let Some(e) = node.poll_event() {
                self.events[i].push(e);
            }
        }
        for (from, to, m) in wire {
            let to = self.index(to);
            if lost(from, to, &m) {
                continue;
            }
            let sender = self.addr(from);
            let now = self.now;
            let _ = self.nodes[to].handle_message(sender, m, now);
        }
    }
}

#[test]
fn members_crashing_mid_open_and_mid_settle_resume_from_their_stores() {
    let mut net = Net::path(4);
    let v = net.open_payment(50, 20);
    // I1 joins, then crashes before anything it sent arrives.
    net.step(|_, _| false);
    assert!(net.nodes[1].channel(&v).is_some());
    net.crash_restart(1);
    assert!(
        net.nodes[1].channel(&v).is_some(),
        "the join survived the crash"
    );
    net.pump();
    for i in 0..4 {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Open,
            "member {i}"
        );
    }
    net.nodes[0].pay(v, ETH, U256::from(7)).unwrap();
    net.pump();
    // B crashes after receiving the payment; the voucher it kept survives.
    net.crash_restart(3);
    assert_eq!(net.nodes[3].channel(&v).unwrap().balance(0), U256::from(27));
    // A settles; I2 crashes right after countersigning, its messages lost.
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    for _ in 0..3 {
        net.step(|from, _| from == 2);
        if net.nodes[2].channel(&v).unwrap().phase() != VirtualPhase::Open {
            break;
        }
    }
    net.crash_restart(2);
    net.pump();
    for i in 0..4 {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    for hop in 0..3 {
        assert_eq!(net.balance(hop, hop), U256::from(DEPOSIT - 7));
        assert_eq!(net.balance(hop + 1, hop), U256::from(DEPOSIT + 7));
    }
}

#[test]
fn intermediaries_charge_their_fees_in_the_funding_update_and_refuse_what_breaks_their_policy() {
    let mut net = Net::path(4);
    net.nodes[1].set_policy(IntermediaryPolicy {
        fee_flat: U256::from(2),
        ..IntermediaryPolicy::default()
    });
    net.nodes[2].set_policy(IntermediaryPolicy {
        fee_ppm: 100_000,
        ..IntermediaryPolicy::default()
    });
    let total = U256::from(70);
    let fees = vec![
        U256::ZERO,
        net.nodes[1].quote(total),
        net.nodes[2].quote(total),
        U256::ZERO,
    ];
    assert_eq!(fees[1..3], [U256::from(2), U256::from(7)]);
    let path: Vec<Address> = (0..4).map(|i| net.addr(i)).collect();
    let app = Address::repeat_byte(0xaa);
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path: path.clone(),
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: fees.clone(),
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert!(net.refused.is_empty(), "{:?}", net.refused);
    assert_eq!(
        net.nodes[3].channel(&v).unwrap().phase(),
        VirtualPhase::Open
    );
    // The funding updates hold the fees in V's leaves: A puts both fees (9) into its leaf with I1, I1 the 7 it
    // passes on into its leaf with I2. Nobody is paid yet: each fee is earned once V got past its pre-fund.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 9));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert_eq!(net.balance(1, 1), U256::from(DEPOSIT - 50 - 7));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT - 20));
    for (hop, fee) in [(0, 9u64), (1, 7), (2, 0)] {
        let table = net.nodes[hop].ledger().table(&net.hops[hop]).unwrap();
        let leaf = table.get(&v).unwrap();
        assert_eq!(
            (leaf.fee, leaf.amounts[0].amount),
            (U256::from(fee), U256::from(70 + fee)),
            "ledger {hop}"
        );
    }
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    net.pump();
    assert_eq!(
        net.balance(1, 0) + net.balance(1, 1),
        U256::from(2 * DEPOSIT + 2),
        "I1 earned its fee"
    );
    assert_eq!(
        net.balance(2, 1) + net.balance(2, 2),
        U256::from(2 * DEPOSIT + 7),
        "I2 earned its fee"
    );
    assert_eq!(
        net.balance(0, 0),
        U256::from(DEPOSIT - 9),
        "A paid the fees, nothing else"
    );

    // A quote below I2's fee, a channel above I1's cap, a side above what I1 holds: each refused by name.
    let mut low = fees.clone();
    low[2] = U256::from(1);
    net.refused.clear();
    net.nodes[0]
        .open(
            OpenRequest {
                path: path.clone(),
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: low,
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert!(
        net.refused.iter().any(|r| r.contains("charges 7")),
        "{:?}",
        net.refused
    );
    net.nodes[1].set_policy(IntermediaryPolicy {
        max_per_channel: U256::from(60),
        ..IntermediaryPolicy::default()
    });
    net.nodes[2].set_policy(IntermediaryPolicy::default());
    net.refused.clear();
    net.nodes[0]
        .open(
            OpenRequest {
                path: path.clone(),
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO; 4],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert!(
        net.refused.iter().any(|r| r.contains("per-channel cap")),
        "{:?}",
        net.refused
    );
    net.nodes[1].set_policy(IntermediaryPolicy::default());
    net.refused.clear();
    net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(5), U256::from(150)])],
                fees: vec![U256::ZERO; 4],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap_or_default();
    net.pump();
    assert!(
        net.refused.iter().any(|r| r.contains("capacity short")),
        "{:?}",
        net.refused
    );
    // The refused opens were given up after the open timeout by A, which never signed their post-funds: nothing
    // of them is locked anywhere.
    let failed = net.events[0]
        .iter()
        .filter(|e| matches!(e, VirtualEvent::OpenFailed { .. }))
        .count();
    assert_eq!(failed, 3);
    for h in 0..3 {
        assert!(
            net.nodes[h]
                .ledger()
                .table(&net.hops[h])
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn fifty_virtual_channels_open_and_settle_concurrently_with_batched_ledger_updates() {
    let mut net = Net::path(3);
    let path: Vec<Address> = (0..3).map(|i| net.addr(i)).collect();
    let app = Address::repeat_byte(0xaa);
    let mut vs = Vec::new();
    for _ in 0..50 {
        let v = net.nodes[0]
            .open(
                OpenRequest {
                    path: path.clone(),
                    hops: net.hops.clone(),
                    app,
                    balances: vec![(ETH, [U256::from(1), U256::from(1)])],
                    fees: vec![U256::ZERO; 3],
                    challenge_duration: 3600,
                },
                0,
            )
            .unwrap();
        vs.push(v);
    }
    let before = [0, 1].map(|h| {
        net.nodes[h]
            .ledger()
            .channel(&net.hops[h])
            .unwrap()
            .supported()
            .unwrap()
            .version()
    });
    net.pump();
    for v in &vs {
        assert_eq!(net.nodes[2].channel(v).unwrap().phase(), VirtualPhase::Open);
    }
    let after = [0, 1].map(|h| {
        net.nodes[h]
            .ledger()
            .channel(&net.hops[h])
            .unwrap()
            .supported()
            .unwrap()
            .version()
    });
    for h in 0..2 {
        assert_eq!(net.nodes[h].ledger().table(&net.hops[h]).unwrap().len(), 50);
        assert!(
            after[h] - before[h] < 50,
            "50 leaves in {} ledger updates: batched",
            after[h] - before[h]
        );
    }
    for v in &vs {
        net.nodes[0].pay(*v, ETH, U256::from(1)).unwrap();
        let now = net.now;
        net.nodes[0].settle(*v, now).unwrap();
    }
    net.pump();
    for h in 0..2 {
        assert!(
            net.nodes[h]
                .ledger()
                .table(&net.hops[h])
                .unwrap()
                .is_empty()
        );
        assert_eq!(net.balance(h, h), U256::from(DEPOSIT - 50));
        assert_eq!(net.balance(h + 1, h), U256::from(DEPOSIT + 50));
    }
}

#[test]
fn members_need_not_be_online_together() {
    let mut net = Net::path(5);
    let v = net.open_payment(10, 10);
    // Members come online one at a time; while a member is away everything sent to it is lost.
    for online in [
        vec![0, 1],
        vec![1, 2],
        vec![2, 3],
        vec![3, 4],
        vec![4, 3, 2],
        vec![2, 1, 0],
    ] {
        for _ in 0..6 {
            net.step(|from, to| !(online.contains(&from) && online.contains(&to)));
        }
    }
    net.pump();
    for i in 0..5 {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Open,
            "member {i}"
        );
    }
    net.nodes[4].pay(v, ETH, U256::from(4)).unwrap();
    net.pump();
    let now = net.now;
    net.nodes[4].settle(v, now).unwrap();
    net.pump();
    for i in 0..5 {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
}

#[test]
fn a_game_runs_in_a_virtual_channel_by_moves_both_endpoints_sign() {
    use ferry_virtual::ledger::app::rps::{self, Hand};
    let mut net = Net::path(3);
    let path: Vec<Address> = (0..3).map(|i| net.addr(i)).collect();
    let game = Address::repeat_byte(0xbb);
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app: game,
                balances: vec![(ETH, [U256::from(30), U256::from(30)])],
                fees: vec![U256::ZERO; 3],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert_eq!(
        net.nodes[2].channel(&v).unwrap().phase(),
        VirtualPhase::Open
    );
    // Payments are for payment channels only.
    assert!(net.nodes[0].pay(v, ETH, U256::from(1)).is_err());
    let params = net.nodes[0].channel(&v).unwrap().params().clone();
    let salt = B256::repeat_byte(0x51);
    // A commits 10 on rock; B plays paper; A reveals: B wins the stake.
    let from = net.nodes[0].channel(&v).unwrap().current();
    let commit = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    // B may not move first, and a move that breaks the rules is refused before it is signed.
    let b_first = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    assert!(net.nodes[2].make_move(v, b_first).is_err());
    let mut cheat = commit.clone();
    cheat.outcome.assets[0].balances[0] += U256::from(1);
    assert!(net.nodes[0].make_move(v, cheat).is_err());
    net.nodes[0].make_move(v, commit).unwrap();
    net.pump();
    let from = net.nodes[2].channel(&v).unwrap().current();
    assert_eq!(from.version.to::<u64>(), 2);
    let play = rps::play(&params, &from, Hand::Paper).unwrap();
    net.nodes[2].make_move(v, play).unwrap();
    net.pump();
    let from = net.nodes[0].channel(&v).unwrap().current();
    let reveal = rps::reveal(&params, &from, Hand::Rock, salt).unwrap();
    net.nodes[0].make_move(v, reveal).unwrap();
    net.pump();
    let latest = net.nodes[2].channel(&v).unwrap().latest().cloned().unwrap();
    assert_eq!(latest.version(), 4);
    assert_eq!(
        latest.state.outcome.assets[0].balances,
        vec![U256::from(20), U256::ZERO, U256::from(40)]
    );
    assert!(net.refused.is_empty(), "{:?}", net.refused);
    let now = net.now;
    net.nodes[2].settle(v, now).unwrap();
    net.pump();
    for i in 0..3 {
        assert_eq!(
            net.nodes[i].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

#[test]
fn colluding_endpoints_cannot_make_a_hub_resolve_its_two_ledgers_differently() {
    let mut net = Net::path(4);
    let path: Vec<Address> = (0..4).map(|i| net.addr(i)).collect();
    let app = Address::repeat_byte(0xaa);
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app,
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO; 4],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    let params = net.nodes[0].channel(&v).unwrap().params().clone();
    let post = net.nodes[0].channel(&v).unwrap().postfund();
    let final_with = |a: u64, b: u64| {
        let mut f = post.clone();
        f.version = ferry_virtual::ledger::state::version(2).unwrap();
        f.isFinal = true;
        f.outcome.assets[0].balances = vec![U256::from(a), U256::ZERO, U256::ZERO, U256::from(b)];
        f
    };
    // A and B (colluding) sign two different finals and show one to each hub.
    let (f1, f2) = (final_with(70, 0), final_with(0, 70));
    let sigs_for = |f: &ferry_virtual::ledger::State| {
        let mut s = vec![None; 4];
        s[0] = Some(net.keys[0].sign_state(&ctx(), f));
        s[3] = Some(net.keys[3].sign_state(&ctx(), f));
        s
    };
    let (s1, s2) = (sigs_for(&f1), sigs_for(&f2));
    let (a, b) = (net.addr(0), net.addr(3));
    let sigs = |state: ferry_virtual::ledger::State,
                sigs: Vec<Option<ferry_virtual::ledger::Signature>>| {
        Message::Virtual(VirtualMessage::Sigs {
            params: None,
            state,
            sigs,
            fees: vec![],
        })
    };
    net.nodes[1]
        .handle_message(a, sigs(f1.clone(), s1.clone()), 0)
        .unwrap();
    // I1 signed f1; shown f2, it refuses: at most one final per member (S4).
    assert!(matches!(
        net.nodes[1].handle_message(a, sigs(f2.clone(), s2.clone()), 0),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::ConflictingFinal
        ))
    ));
    net.nodes[2]
        .handle_message(b, sigs(f2.clone(), s2), 0)
        .unwrap();
    // Neither final can be complete: I1 never signs f2, I2 never signs f1 (however long they gossip; V's way
    // out is now the chain).
    for _ in 0..20 {
        net.step(|_, _| false);
    }
    for i in [1, 2] {
        assert!(
            net.nodes[i].channel(&v).unwrap().final_signed().is_none(),
            "member {i}"
        );
    }
    // No leaf moves without a final signed by the whole path (S10), and no refund after the post-fund (S8):
    // the hub's guard refuses both, whichever ledger side asks.
    let leaf = net.nodes[0]
        .ledger()
        .table(&net.hops[0])
        .unwrap()
        .get(&v)
        .unwrap()
        .clone();
    let l0 = net.nodes[0]
        .ledger()
        .channel(&net.hops[0])
        .unwrap()
        .params()
        .clone();
    let refund = ferry_virtual::protocol::registry::split(
        &l0,
        &params,
        net.nodes[1].channel(&v).unwrap().prefund(),
        &leaf,
    )
    .unwrap();
    let before = net.nodes[1]
        .ledger()
        .channel(&net.hops[0])
        .unwrap()
        .supported()
        .cloned();
    // A's own node refuses to ask; a byzantine A forges the ledger proposal by hand and I1 rejects it.
    assert!(
        net.nodes[0]
            .ledger_mut()
            .remove_sub_channel(net.hops[0], v, refund.clone(), 0)
            .is_err()
    );
    let base = net.nodes[0]
        .ledger()
        .channel(&net.hops[0])
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    let mut table = net.nodes[0].ledger().table(&net.hops[0]).unwrap().clone();
    let batch = vec![ferry_virtual::ledger::protocol::Proposal {
        proposer: 0,
        seq: 999,
        op: ferry_virtual::ledger::protocol::Op::RemoveSub {
            channel_id: v,
            payout: refund,
        },
    }];
    let (state, _) = ferry_virtual::ledger::protocol::ops::build(
        &base.state,
        &mut table,
        &batch,
        base.version() + 1,
    )
    .unwrap();
    let sig = net.keys[0].sign_state(&ctx(), &state);
    let forged = Message::Ledger(ferry_virtual::ledger::protocol::LedgerMessage::Propose {
        state,
        sig,
        batch,
    });
    net.nodes[1].handle_message(a, forged, 0).unwrap();
    for _ in 0..10 {
        net.step(|_, _| false);
    }
    assert!(
        net.nodes[1]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .contains(&v),
        "the leaf stays"
    );
    assert_eq!(
        net.nodes[1]
            .ledger()
            .channel(&net.hops[0])
            .unwrap()
            .supported()
            .cloned(),
        before
    );
}

#[test]
fn once_v_is_final_on_chain_ledgers_settle_its_leaf_off_chain_from_that_outcome() {
    let mut net = Net::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    let cert = net.nodes[0].channel(&v).unwrap().certificate().unwrap();
    // B stops answering; V is challenged with its certificate and the window passes (the chain's events, as the
    // watcher hands them over).
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: cert.state.clone(),
        sigs: cert.sigs.clone(),
    });
    for i in 0..2 {
        net.nodes[i]
            .handle_chain_event(900, 0, &registered, 0)
            .unwrap();
        net.nodes[i].handle_block(900, 4_000, 0).unwrap();
    }
    // Before the deadline nothing moves.
    assert!(
        net.nodes[0]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .contains(&v)
    );
    for i in 0..2 {
        net.nodes[i].handle_block(901, 5_000, 0).unwrap();
    }
    for _ in 0..20 {
        net.step(|from, to| from == 2 || to == 2);
    }
    // A and I replace V's leaf in their ledger by the on-chain outcome (S10), without B and without a transaction.
    assert!(
        net.nodes[0]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .is_empty()
    );
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT));
    assert_eq!(
        net.nodes[0].channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    // What the member holds as V's on-chain outcome is the registered certificate.
    assert_eq!(
        net.nodes[0].channel(&v).unwrap().onchain_final(),
        Some(&cert.state)
    );
}

/// The ledger messages on the wire between path members 1 and 2 (both ways).
fn ledger_between_1_and_2(from: usize, to: usize, m: &Message) -> bool {
    matches!(m, Message::Ledger(_)) && from + to == 3 && from.abs_diff(to) == 1
}

/// What the ledger between path members `hop` and `hop + 1` locks (ETH) in the state member `k` holds signed by
/// both.
fn locked(net: &Net, k: usize, hop: usize) -> U256 {
    net.nodes[k]
        .ledger()
        .channel(&net.hops[hop])
        .and_then(|c| c.supported())
        .map(|s| s.state.outcome.assets[0].locked)
        .unwrap_or_default()
}

/// The challenges of V member `k` asked for: (registered state, with a certificate).
fn challenges_by(net: &Net, k: usize) -> Vec<(ferry_virtual::ledger::SignedState, bool)> {
    net.tx_log
        .iter()
        .filter(|(i, _)| *i == k)
        .filter_map(|(_, tx)| match tx {
            Tx::Virtual(VirtualTx::Challenge { state, cert, .. }) => {
                Some((state.clone(), cert.is_some()))
            }
            _ => None,
        })
        .collect()
}

/// A–I–B where I charges a fee of 3: A opens V (A 50, B 20) and the I–B ledger loses every message for 20 steps,
/// so A–I holds V's leaf (with the fee) and I–B does not.
fn open_with_the_i_b_ledger_cut() -> (Net, B256) {
    let mut net = Net::path(3);
    net.nodes[1].set_policy(IntermediaryPolicy {
        fee_flat: U256::from(3),
        ..IntermediaryPolicy::default()
    });
    let path: Vec<Address> = (0..3).map(|i| net.addr(i)).collect();
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app: Address::repeat_byte(0xaa),
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO, U256::from(3), U256::ZERO],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    for _ in 0..20 {
        net.step_selective(ledger_between_1_and_2);
    }
    (net, v)
}

#[test]
fn a_failed_open_refunds_the_fee_and_a_member_that_signed_the_post_fund_challenges_v_with_its_pre_fund()
 {
    // The I–B ledger loses every message: B's side never gets V's leaf.
    let (mut net, v) = open_with_the_i_b_ledger_cut();
    // A–I holds the leaf with I's fee in it (A put in its 50 and the 3). A signed the post-fund; I, whose ledger
    // with B lacks the leaf, did not.
    assert_eq!(locked(&net, 0, 0), U256::from(70 + 3));
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 3));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert!(challenges_by(&net, 0).is_empty());
    // The open times out.
    net.now = OPEN_TIMEOUT_MS + 1_000;
    let now = net.now;
    for node in &mut net.nodes {
        node.handle_timeout(now).unwrap();
    }
    for _ in 0..20 {
        net.step_selective(ledger_between_1_and_2);
    }
    // I gives the open up (S8). It never earned the fee: it stays in the leaf, which still locks A's side of V and
    // the fee (A signed the post-fund, so A does not agree to a refund off-chain).
    assert_eq!(
        net.nodes[1].channel(&v).unwrap().phase(),
        VirtualPhase::Aborted
    );
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 3));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert_eq!(locked(&net, 0, 0), U256::from(70 + 3));
    assert_eq!(
        net.nodes[2].channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    // A signed the post-fund, so it never refunds (S8): it challenges V with the pre-fund signed by the whole path,
    // once, and reports the failed open.
    let prefund = net.nodes[0].channel(&v).unwrap().prefund().clone();
    let asked = challenges_by(&net, 0);
    assert_eq!(asked.len(), 1);
    assert_eq!((&asked[0].0.state, asked[0].1), (&prefund, false));
    assert!(net.events[0].contains(&VirtualEvent::OpenFailed { channel_id: v }));
    assert!(
        net.nodes[0]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .contains(&v)
    );
    // The chain registers the pre-fund and V finalizes by it: A and I replace the leaf by that outcome, off-chain,
    // which gives A the fee back (V never got past its pre-fund, S9).
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: prefund,
        sigs: asked[0].0.sigs.clone(),
    });
    for i in 0..3 {
        net.nodes[i]
            .handle_chain_event(900, 0, &registered, now)
            .unwrap();
        net.nodes[i].handle_block(901, 5_000, now).unwrap();
    }
    net.pump();
    assert_eq!(
        net.balance(0, 0),
        U256::from(DEPOSIT),
        "A whole, fee included"
    );
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT));
    for k in [0, 1] {
        assert!(
            net.nodes[k]
                .ledger()
                .table(&net.hops[0])
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(
        net.nodes[0].channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    assert_eq!(
        net.events[1]
            .iter()
            .filter(|e| matches!(e, VirtualEvent::Ledger(ferry_virtual::ledger::protocol::LedgerEvent::Updated { channel_id, .. }) if *channel_id == net.hops[0]))
            .count(),
        2,
        "A–I took two updates: the leaf with the fee in it, the leaf's removal giving the fee back"
    );
}

#[test]
fn a_hub_that_completes_the_certificate_after_v_s_pre_fund_was_registered_answers_with_it_then() {
    // The I–B ledger loses every message for now: I cannot sign the post-fund.
    let (mut net, v) = open_with_the_i_b_ledger_cut();
    assert!(!net.nodes[1].channel(&v).unwrap().is_funded());
    // Someone registers V's pre-fund on-chain. I holds nothing newer yet: it has nothing to answer with.
    let pre = net.nodes[1].channel(&v).unwrap().prefund_signed().unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: pre.state.clone(),
        sigs: pre.sigs.clone(),
    });
    net.tx_log.clear();
    for i in 0..3 {
        net.nodes[i]
            .handle_chain_event(900, 0, &registered, 0)
            .unwrap();
    }
    net.step(|_, _| true);
    assert!(challenges_by(&net, 1).is_empty());
    // The wire heals before the deadline; the certificate completes. I answers the pending registration with it
    // (version 1 replaces the pre-fund, S5), so V finalizes past its pre-fund and the fee in its leaf is I's (S9).
    net.pump();
    assert!(net.nodes[1].channel(&v).unwrap().is_funded());
    let asked = challenges_by(&net, 1);
    assert_eq!(asked.len(), 1, "{:?}", net.tx_log);
    assert_eq!(asked[0].0.version(), 1);
    net.pump();
    assert_eq!(
        challenges_by(&net, 1).len(),
        1,
        "once per registered version"
    );
}

#[test]
fn a_member_that_gave_up_an_open_waits_for_its_abandoned_update_and_challenges_v_when_the_peer_registers_it()
 {
    // V over members 1 (A), 2 (I) and 3 (B): I leads its ledger with B.
    let mut net = Net::path(4);
    let path: Vec<Address> = (1..4).map(|i| net.addr(i)).collect();
    let v = net.nodes[1]
        .open(
            OpenRequest {
                path,
                hops: net.hops[1..].to_vec(),
                app: Address::repeat_byte(0xaa),
                balances: vec![(ETH, [U256::from(50), U256::from(20)])],
                fees: vec![U256::ZERO; 3],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    // B countersigns I's update adding V's leaf; its signature never reaches I. The A–I ledger hears nothing of V.
    let b_to_i = |from: usize, to: usize, m: &Message| {
        matches!(m, Message::Ledger(_)) && matches!((from, to), (3, 2) | (1, 2) | (2, 1))
    };
    for _ in 0..20 {
        net.step_selective(b_to_i);
    }
    assert_eq!(locked(&net, 3, 2), U256::from(70));
    assert_eq!(locked(&net, 2, 2), U256::ZERO);
    assert_eq!(locked(&net, 2, 1), U256::ZERO);
    net.now = OPEN_TIMEOUT_MS + 1_000;
    let now = net.now;
    net.nodes[2].handle_timeout(now).unwrap();
    assert_eq!(
        net.nodes[2].channel(&v).unwrap().phase(),
        VirtualPhase::Aborted
    );
    // I's ledger with B goes on-chain with the latest state both signed that I knows (before the leaf): its update
    // in flight is abandoned and the leaf leaves I's table, but B may still register that update (B holds it
    // signed by both), so I does not count the leaf as gone.
    let hop = net.hops[2];
    let registered = |s: &ferry_virtual::ledger::SignedState| {
        Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: hop,
            finalizesAt: alloy::primitives::aliases::U48::from(9_000u32),
            state: s.state.clone(),
            sigs: s.sigs.clone(),
        })
    };
    let old = net.nodes[2]
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    net.nodes[2]
        .handle_chain_event(900, 0, &registered(&old), now)
        .unwrap();
    assert!(!net.nodes[2].ledger().table(&hop).unwrap().contains(&v));
    assert_eq!(
        net.nodes[2].channel(&v).unwrap().phase(),
        VirtualPhase::Aborted,
        "not released while its signed update may come back"
    );
    net.step_selective(b_to_i);
    assert!(challenges_by(&net, 2).is_empty());
    // B answers with the update adding the leaf: I adopts it; its ledger is on-chain with V's leaf, which can be
    // claimed only once V is final on-chain, so I challenges V with the pre-fund signed by the whole path.
    let newer = net.nodes[3]
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    net.nodes[2]
        .handle_chain_event(901, 0, &registered(&newer), now)
        .unwrap();
    assert!(net.nodes[2].ledger().table(&hop).unwrap().contains(&v));
    net.step_selective(b_to_i);
    let asked = challenges_by(&net, 2);
    assert_eq!(asked.len(), 1, "{:?}", net.tx_log);
    assert_eq!(
        (&asked[0].0.state, asked[0].1),
        (net.nodes[2].channel(&v).unwrap().prefund(), false)
    );
}

#[test]
fn a_game_move_left_without_its_countersignature_is_played_on_chain_with_progress() {
    use ferry_virtual::ledger::app::rps::{self, Hand};
    let mut net = Net::path(3);
    let path: Vec<Address> = (0..3).map(|i| net.addr(i)).collect();
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app: Address::repeat_byte(0xbb),
                balances: vec![(ETH, [U256::from(30), U256::from(30)])],
                fees: vec![U256::ZERO; 3],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    let params = net.nodes[0].channel(&v).unwrap().params().clone();
    let current = |net: &Net, k: usize| net.nodes[k].channel(&v).unwrap().current();
    let salt = B256::repeat_byte(9);
    // A commits (both sign); B plays, and its move never reaches A.
    let m = rps::commit(&params, &current(&net, 0), U256::from(10), Hand::Rock, salt).unwrap();
    net.nodes[0].make_move(v, m).unwrap();
    net.pump();
    let play = rps::play(&params, &current(&net, 2), Hand::Paper).unwrap();
    net.nodes[2].make_move(v, play.clone()).unwrap();
    net.step(|from, _| from == 2);
    net.tx_log.clear();
    // B challenges V with the latest state both signed, and the chain registers it: B's node plays its waiting move
    // on top of it with progress (S7), once however often the event comes.
    net.nodes[2].challenge(v).unwrap();
    net.step(|_, _| false);
    let asked = challenges_by(&net, 2);
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].0.version(), asked[0].1), (2, true));
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: asked[0].0.state.clone(),
        sigs: asked[0].0.sigs.clone(),
    });
    let now = net.now;
    for _ in 0..2 {
        net.nodes[2]
            .handle_chain_event(900, 0, &registered, now)
            .unwrap();
    }
    net.step(|_, _| false);
    let moves: Vec<_> = net
        .tx_log
        .iter()
        .filter_map(|(k, tx)| match tx {
            Tx::Virtual(VirtualTx::Progress {
                from,
                to,
                mover,
                sig,
                ..
            }) => Some((*k, from.clone(), to.clone(), *mover, sig.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(
        (moves[0].0, &moves[0].1, &moves[0].2, moves[0].3),
        (2, &asked[0].0.state, &play, 2)
    );
    // A learns B's move from the chain: its next move starts from there, and is played on-chain too.
    let progressed = Ev::Progressed(IAdjudicator::Progressed {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        moverIndex: U256::from(2),
        to: play.clone(),
        moverSig: moves[0].4.clone(),
    });
    for (block, ev) in [(900, &registered), (901, &progressed)] {
        net.nodes[0].handle_chain_event(block, 0, ev, now).unwrap();
    }
    assert_eq!(current(&net, 0), play);
    net.tx_log.clear();
    let reveal = rps::reveal(&params, &current(&net, 0), Hand::Rock, salt).unwrap();
    net.nodes[0].make_move(v, reveal.clone()).unwrap();
    net.step(|_, _| false);
    assert!(
        net.tx_log.iter().any(|(k, tx)| *k == 0
            && matches!(tx, Tx::Virtual(VirtualTx::Progress { from, to, mover: 0, .. })
                if *from == play && *to == reveal)),
        "{:?}",
        net.tx_log
    );
}

#[test]
fn once_v_is_registered_on_chain_no_payment_is_made_or_counted() {
    let mut net = Net::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    net.nodes[0].pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    // V's certificate is registered; B learns it first, and redeems the 5 it holds with one move.
    let cert = net.nodes[0].channel(&v).unwrap().certificate().unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: cert.state.clone(),
        sigs: cert.sigs.clone(),
    });
    let now = net.now;
    net.nodes[2]
        .handle_chain_event(900, 0, &registered, now)
        .unwrap();
    net.tx_log.clear();
    net.step(|_, _| false);
    let redeemed: Vec<_> = net
        .tx_log
        .iter()
        .filter_map(|(k, tx)| match tx {
            Tx::Virtual(VirtualTx::Progress { to, .. }) if *k == 2 => {
                Some(to.outcome.assets[0].balances.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        redeemed,
        vec![vec![U256::from(45), U256::ZERO, U256::from(25)]]
    );
    // A, which has not seen it yet, pays 3 more: B counts nothing after the registration it redeemed on.
    net.nodes[0].pay(v, ETH, U256::from(3)).unwrap();
    net.step(|_, _| false);
    net.step(|_, _| false);
    assert_eq!(net.nodes[2].channel(&v).unwrap().balance(0), U256::from(25));
    assert!(net.events[2].iter().any(|e| matches!(
        e,
        VirtualEvent::Refused { channel_id, .. } if *channel_id == v
    )));
    // Once A sees the registration it pays nothing more.
    net.nodes[0]
        .handle_chain_event(900, 0, &registered, now)
        .unwrap();
    assert_eq!(
        net.nodes[0].pay(v, ETH, U256::from(1)),
        Err(ferry_virtual::Error::Virtual(VirtualError::Settling))
    );
}

/// Opens a payment V over `net`'s whole path with A's and B's balances and waits until it is open.
fn open_payment_v(net: &mut Net, a: u64, b: u64) -> B256 {
    let n = net.nodes.len();
    let path: Vec<Address> = (0..n).map(|i| net.addr(i)).collect();
    let v = net.nodes[0]
        .open(
            OpenRequest {
                path,
                hops: net.hops.clone(),
                app: Address::repeat_byte(0xaa),
                balances: vec![(ETH, [U256::from(a), U256::from(b)])],
                fees: vec![U256::ZERO; n],
                challenge_duration: 3600,
            },
            0,
        )
        .unwrap();
    net.pump();
    assert!((0..n).all(|k| net.nodes[k].channel(&v).unwrap().phase() == VirtualPhase::Open));
    v
}

/// The conclusions of V member `k` asked for, by the final's version.
fn conclusions_by(net: &Net, k: usize) -> Vec<u64> {
    net.tx_log
        .iter()
        .filter(|(i, _)| *i == k)
        .filter_map(|(_, tx)| match tx {
            Tx::Virtual(VirtualTx::Conclude { state, .. }) => Some(state.version()),
            _ => None,
        })
        .collect()
}

#[test]
fn s10_a_member_holding_the_final_swaps_no_leaf_by_it_while_v_is_registered_and_concludes_v_with_it()
 {
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    // A cheating A registers V's certificate (which still gives it 50), then settles: the final (A 40, B 30) is
    // signed by the whole path.
    let cert = net.nodes[0].channel(&v).unwrap().certificate().unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: cert.state.clone(),
        sigs: cert.sigs.clone(),
    });
    net.pos += 1;
    for k in 0..3 {
        net.nodes[k]
            .handle_chain_event(net.pos, 0, &registered, 0)
            .unwrap();
    }
    net.tx_log.clear();
    net.nodes[0].settle(v, 0).unwrap();
    net.pump();
    let fin = net.nodes[1].channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(
        fin.state.outcome.assets[0].balances,
        vec![U256::from(40), U256::ZERO, U256::from(30)]
    );
    // No ledger swaps V's leaf by the final while V may still finalize on-chain by the certificate (which would pay
    // the hub 20 + 50 for the 40 + 30 it owes): each member concludes V with the final instead (S10), and nobody
    // answers the certificate with a challenge.
    for (k, hop) in [(0, 0), (1, 0), (1, 1), (2, 1)] {
        assert!(
            net.nodes[k]
                .ledger()
                .table(&net.hops[hop])
                .unwrap()
                .contains(&v),
            "member {k} swapped the leaf in ledger {hop}"
        );
    }
    for k in 0..3 {
        assert_eq!(conclusions_by(&net, k), vec![fin.version()], "member {k}");
    }
    assert!(challenges_by(&net, 1).is_empty());
    // The conclusion lands: V is final on-chain by the final, and both ledgers swap the leaf by it off-chain.
    let concluded = Ev::Concluded(IAdjudicator::Concluded {
        channelId: v,
        version: alloy::primitives::aliases::U48::from(fin.version()),
    });
    net.pos += 1;
    for k in 0..3 {
        net.nodes[k]
            .handle_chain_event(net.pos, 0, &concluded, 0)
            .unwrap();
    }
    net.pump();
    for hop in 0..2 {
        assert!(
            net.nodes[1]
                .ledger()
                .table(&net.hops[hop])
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(
        net.balance(1, 0) + net.balance(1, 1),
        U256::from(2 * DEPOSIT)
    );
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

#[test]
fn s10_a_hub_whose_ledger_goes_on_chain_with_the_leaf_concludes_v_with_the_final_it_holds() {
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    // A settles but withholds its ledger messages from the hub: the final completes, the hub's ledger with B is
    // paid out by it, A's is not.
    net.nodes[0].settle(v, 0).unwrap();
    for _ in 0..30 {
        net.step_selective(|from, to, m| from == 0 && to == 1 && matches!(m, Message::Ledger(_)));
    }
    assert!(net.nodes[1].channel(&v).unwrap().final_signed().is_some());
    assert!(
        net.nodes[1]
            .ledger()
            .table(&net.hops[1])
            .unwrap()
            .is_empty()
    );
    assert!(
        net.nodes[1]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .contains(&v)
    );
    // The hub takes its ledger with A on-chain. Its leaf can be claimed there only by V's on-chain outcome: the hub
    // concludes V with the final (a challenge with the certificate would let V finalize by A 50, B 20 and cost the
    // hub the 10 it already paid B).
    net.tx_log.clear();
    net.nodes[1].ledger_mut().challenge(net.hops[0]).unwrap();
    net.step(|_, _| true);
    let challenge =
        net.tx_log
            .iter()
            .find_map(|(k, tx)| match tx {
                Tx::Ledger(ferry_virtual::ledger::protocol::ChainTx::Challenge {
                    state, ..
                }) if *k == 1 => Some(state.clone()),
                _ => None,
            })
            .unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: net.hops[0],
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: challenge.state.clone(),
        sigs: challenge.sigs.clone(),
    });
    net.pos += 1;
    net.nodes[1]
        .handle_chain_event(net.pos, 0, &registered, 0)
        .unwrap();
    net.step(|_, _| true);
    let fin = net.nodes[1].channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(conclusions_by(&net, 1), vec![fin.version()]);
    assert!(challenges_by(&net, 1).is_empty());
}

#[test]
fn s7_payments_both_ways_above_the_balances_are_redeemed_in_one_move_that_nets_them() {
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 10, 10);
    // A pays 10, B 15, A 12: each payee's vouchers exceed what the payer holds in the certificate (10).
    for (k, amount) in [(0, 10), (2, 15), (0, 12)] {
        net.nodes[k].pay(v, ETH, U256::from(amount)).unwrap();
        net.pump();
    }
    assert_eq!(net.nodes[0].channel(&v).unwrap().balance(0), U256::from(3));
    assert_eq!(net.nodes[2].channel(&v).unwrap().balance(0), U256::from(17));
    let cert = net.nodes[0].channel(&v).unwrap().certificate().unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: cert.state.clone(),
        sigs: cert.sigs.clone(),
    });
    net.tx_log.clear();
    net.pos += 1;
    for k in [0, 2] {
        net.nodes[k]
            .handle_chain_event(net.pos, 0, &registered, 0)
            .unwrap();
    }
    net.step(|_, _| true);
    // Each payee's move redeems the other's vouchers and counts its own payments: the balances each endpoint's
    // accounting says, whichever lands first (a redeem alone would take 15 from B's 10, which the app refuses).
    for k in [0, 2] {
        let moves: Vec<_> = net
            .tx_log
            .iter()
            .filter_map(|(i, tx)| match tx {
                Tx::Virtual(VirtualTx::Progress {
                    from, to, mover, ..
                }) if *i == k => {
                    assert_eq!(*mover, k);
                    assert_eq!(from, &cert.state);
                    Some(to.outcome.assets[0].balances.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            moves,
            vec![vec![U256::from(3), U256::ZERO, U256::from(17)]],
            "member {k}"
        );
    }
}

#[test]
fn s4_an_endpoint_signs_no_final_a_lone_cheater_could_outrun_on_chain_by_its_own_moves() {
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    let params = net.nodes[0].channel(&v).unwrap().params().clone();
    let max_moves = params.maxMoves.to::<u64>();
    // A cheating A signs a final at the next version (2) and shows it: a lone A could register the certificate (1)
    // and play its own `max_moves` moves on top. A whole-path final concludes V over any registered version (S5),
    // but the floor stays as defence in depth: B does not sign it.
    let mut low = net.nodes[0].channel(&v).unwrap().postfund();
    low.version = ferry_virtual::ledger::state::version(2).unwrap();
    low.isFinal = true;
    let sigs = vec![Some(net.keys[0].sign_state(&ctx(), &low)), None, None];
    let msg = Message::Virtual(VirtualMessage::Sigs {
        params: None,
        state: low,
        sigs,
        fees: vec![],
    });
    let a = net.addr(0);
    net.nodes[1].handle_message(a, msg, 0).unwrap();
    for _ in 0..20 {
        net.step(|_, _| false);
    }
    assert!(net.nodes[2].channel(&v).unwrap().final_signed().is_none());
    assert!(net.nodes[1].channel(&v).unwrap().final_signed().is_none());
    // An honest A proposes its final above that: the certificate's version + 1 + max_moves; B signs it.
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].settle(v, 0).unwrap();
    net.pump();
    let fin = net.nodes[2].channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(fin.version(), 1 + 1 + max_moves);
}

#[test]
fn a_released_virtual_channel_is_pruned_after_the_retention_period_and_late_messages_about_it_are_refused()
 {
    const RETAIN_MS: u64 = 60_000;
    let mut net = Net::path(3);
    for node in &mut net.nodes {
        node.set_release_retention(RETAIN_MS);
    }
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    // A late copy of the pre-fund's gossip (with V's params): to a node that never heard of V it is an open.
    let ch = net.nodes[0].channel(&v).unwrap();
    let pre = ch.prefund_signed().unwrap();
    let late = Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(ch.params().clone())),
        state: pre.state.clone(),
        sigs: pre.sigs.iter().cloned().map(Some).collect(),
        fees: ch.fees().to_vec(),
    });
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    net.pump();
    for k in 0..3 {
        assert_eq!(
            net.nodes[k].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {k}"
        );
        assert!(
            net.nodes[k].poll_timeout().is_some(),
            "member {k}: a prune is due"
        );
    }
    // Within the retention period the record stays.
    net.now += RETAIN_MS - 1_000;
    let now = net.now;
    for node in &mut net.nodes {
        node.handle_timeout(now).unwrap();
    }
    assert!(net.nodes.iter().all(|n| n.channel(&v).is_some()));
    // After it, each member prunes V: gone from memory and from the store (a restart does not bring it back),
    // its id kept as a tombstone.
    net.now += 2_000;
    let now = net.now;
    for node in &mut net.nodes {
        node.handle_timeout(now).unwrap();
    }
    for k in 0..3 {
        assert!(net.nodes[k].channel(&v).is_none(), "member {k}");
        assert!(net.nodes[k].is_pruned(&v), "member {k}");
    }
    net.crash_restart(1);
    assert!(net.nodes[1].channel(&v).is_none());
    assert!(net.nodes[1].is_pruned(&v));
    // The late gossip is refused by name and re-opens nothing.
    let a = net.addr(0);
    let err = net.nodes[1].handle_message(a, late, now).unwrap_err();
    assert!(err.to_string().contains("pruned"), "{err}");
    assert!(net.nodes[1].channel(&v).is_none());
    // The ledgers are untouched: V's payment stays where the settle put it.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 5));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT + 5));
}

/// A byzantine member's forged update of ledger `hop` adding V's leaf again, built on `from`'s own view of the
/// ledger with `from`'s key: a `Propose` when `from` leads the ledger, a `Request` otherwise.
fn forged_add(net: &Net, from: usize, hop: B256, v: B256) -> Message {
    use ferry_virtual::ledger::protocol::{LedgerMessage, Op, Proposal, ops};
    use ferry_virtual::protocol::registry;
    let node = &net.nodes[from];
    let lc = node.ledger().channel(&hop).unwrap();
    let (lparams, me) = (lc.params().clone(), lc.me());
    let ch = node.channel(&v).unwrap();
    let leaf = registry::leaf_in(&lparams, ch.params(), ch.prefund(), ch.fees()).unwrap();
    let contributions = registry::split(&lparams, ch.params(), ch.prefund(), &leaf).unwrap();
    let mut batch = vec![Proposal {
        proposer: me,
        seq: 1_000,
        op: Op::AddSub {
            slot: 0,
            leaf,
            contributions,
        },
    }];
    if me != 0 {
        return Message::Ledger(LedgerMessage::Request {
            channel_id: hop,
            proposals: batch,
        });
    }
    let base = lc.supported().unwrap().clone();
    let mut table = node.ledger().table(&hop).unwrap().clone();
    let (state, _) = ops::build_placing(&base.state, &mut table, &mut batch, base.version() + 1)
        .map_err(|(_, e)| e)
        .unwrap();
    let sig = net.keys[from].sign_state(&ctx(), &state);
    Message::Ledger(LedgerMessage::Propose { state, sig, batch })
}

#[test]
fn s8_a_settled_v_s_leaf_is_never_added_again_not_even_after_a_restart() {
    // A–H–B: A pays B 30, V settles (A 20, B 30), both leaves are paid out. B (leading H–B) then proposes V's
    // leaf in H–B again, H contributing A's side (50): accepted, B would remove it again by the final and take
    // 30 from H each time. H's guard refuses: H is no longer joining V (S8), before and after a restart.
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 0);
    net.nodes[0].pay(v, ETH, U256::from(30)).unwrap();
    net.pump();
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    net.pump();
    let hop = net.hops[1];
    for k in 0..3 {
        assert_eq!(
            net.nodes[k].channel(&v).unwrap().phase(),
            VirtualPhase::Released
        );
    }
    assert_eq!(net.nodes[2].ledger().channel(&hop).unwrap().me(), 0);
    let before = net.nodes[1]
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .cloned();
    let b = net.addr(2);
    for restart in [false, true] {
        if restart {
            net.crash_restart(1);
            net.pump();
        }
        let forged = forged_add(&net, 2, hop, v);
        let now = net.now;
        let _ = net.nodes[1].handle_message(b, forged, now);
        net.pump();
        assert!(
            !net.nodes[1].ledger().table(&hop).unwrap().contains(&v),
            "restart {restart}: the leaf stays out"
        );
        assert_eq!(
            net.nodes[1]
                .ledger()
                .channel(&hop)
                .unwrap()
                .supported()
                .cloned(),
            before,
            "restart {restart}: H signed nothing"
        );
    }
}

/// A–H–B with V (A 50, B 20), A paid 10, a state of V registered on-chain (A's certificate) and the final (A 40,
/// B 30) signed by the whole path; then V is concluded with the final on-chain. Returns V's id.
fn registered_then_concluded(net: &mut Net) -> B256 {
    let v = open_payment_v(net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let cert = net.nodes[0].channel(&v).unwrap().certificate().unwrap();
    let registered = Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: v,
        finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
        state: cert.state.clone(),
        sigs: cert.sigs.clone(),
    });
    net.pos += 1;
    for k in 0..3 {
        net.nodes[k]
            .handle_chain_event(net.pos, 0, &registered, 0)
            .unwrap();
    }
    net.nodes[0].settle(v, 0).unwrap();
    net.pump();
    let fin = net.nodes[1].channel(&v).unwrap().final_signed().unwrap();
    let concluded = Ev::Concluded(IAdjudicator::Concluded {
        channelId: v,
        version: alloy::primitives::aliases::U48::from(fin.version()),
    });
    net.pos += 1;
    for k in 0..3 {
        net.nodes[k]
            .handle_chain_event(net.pos, 0, &concluded, 0)
            .unwrap();
    }
    v
}

#[test]
fn s10_a_restarted_member_still_pays_a_leaf_out_by_v_s_outcome_on_chain() {
    // The hub restarts right after V was concluded on-chain (no chain event about V comes again): its guard is
    // rebuilt from its record of V, so it still takes the leaf removals by V's outcome on-chain, in both ledgers.
    let mut net = Net::path(3);
    let v = registered_then_concluded(&mut net);
    net.crash_restart(1);
    net.pump();
    for hop in 0..2 {
        assert!(
            net.nodes[1]
                .ledger()
                .table(&net.hops[hop])
                .unwrap()
                .is_empty(),
            "ledger {hop} still holds V's leaf"
        );
    }
    assert_eq!(
        net.nodes[1].channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

#[test]
fn s10_a_leaf_whose_removal_the_peer_ignores_is_taken_on_chain() {
    // V settles, but A (which stands for A's side of ledger A–H, so proposes the leaf's removal there) never
    // sends a ledger message again: the leaf would lock H's side of it for as long as A likes. ESCALATE_MS after
    // H held the final signed by the whole path, H challenges A–H (V's leaf is then claimed on-chain); it leaves
    // H–B, whose leaf was paid out, alone.
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let silent = |from: usize, to: usize, m: &Message| {
        matches!(m, Message::Ledger(_)) && (from == 0 || to == 0)
    };
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    for _ in 0..20 {
        net.step_selective(silent);
    }
    assert!(net.nodes[1].channel(&v).unwrap().final_signed().is_some());
    assert!(
        !net.nodes[1]
            .ledger()
            .table(&net.hops[0])
            .unwrap()
            .is_empty()
    );
    assert!(
        net.nodes[1]
            .ledger()
            .table(&net.hops[1])
            .unwrap()
            .is_empty()
    );
    let ledger_challenges = |net: &Net| {
        net.tx_log
            .iter()
            .filter_map(|(i, tx)| match tx {
                Tx::Ledger(ferry_virtual::ledger::protocol::ChainTx::Challenge {
                    params, ..
                }) if *i == 1 => Some(ferry_virtual::ledger::contracts::channel_id(params)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    net.now += ferry_virtual::protocol::ESCALATE_MS / 2;
    let now = net.now;
    net.nodes[1].handle_timeout(now).unwrap();
    net.step_selective(silent);
    assert!(ledger_challenges(&net).is_empty(), "too early");
    net.now += ferry_virtual::protocol::ESCALATE_MS;
    let now = net.now;
    net.nodes[1].handle_timeout(now).unwrap();
    net.step_selective(silent);
    assert_eq!(ledger_challenges(&net), vec![net.hops[0]]);
}

#[test]
fn s4_a_final_without_a_s_signature_is_not_kept_so_it_cannot_wedge_the_settle() {
    // Any member (here B) sends the hub a final of V that keeps S3 but carries no signature at all. Kept and
    // countersigned, it would use up the hub's one final (S4) and A's real final would be refused as conflicting:
    // V's cooperative settle wedged for good. The hub refuses it; A's final then settles V as usual.
    let mut net = Net::path(3);
    let v = open_payment_v(&mut net, 50, 20);
    net.nodes[0].pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let ch = net.nodes[2].channel(&v).unwrap().clone();
    let mut fake = ch.postfund();
    fake.isFinal = true;
    fake.version = alloy::primitives::aliases::U48::from(50u8);
    fake.outcome.assets[0].balances = vec![U256::ZERO, U256::ZERO, U256::from(70)];
    let b = net.addr(2);
    let err = net.nodes[1]
        .handle_message(
            b,
            Message::Virtual(VirtualMessage::Sigs {
                params: None,
                state: fake.clone(),
                sigs: vec![None; 3],
                fees: vec![],
            }),
            net.now,
        )
        .unwrap_err();
    assert!(err.to_string().contains("A's signature"), "{err}");
    assert_eq!(
        net.nodes[1].channel(&v).unwrap().phase(),
        VirtualPhase::Open
    );
    // B's own signature alone does not do either.
    let sig = net.keys[2].sign_state(&ctx(), &fake);
    assert!(
        net.nodes[1]
            .handle_message(
                b,
                Message::Virtual(VirtualMessage::Sigs {
                    params: None,
                    state: fake,
                    sigs: vec![None, None, Some(sig)],
                    fees: vec![],
                }),
                net.now,
            )
            .is_err()
    );
    let now = net.now;
    net.nodes[0].settle(v, now).unwrap();
    net.pump();
    for k in 0..3 {
        assert_eq!(
            net.nodes[k].channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {k}"
        );
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}
