//! The node runtime end to end in one process: three `Node`s (Alice, an intermediary, Bob) on an in-memory network
//! and the embedded chain fund two ledgers, open a virtual payment channel and a game channel through the
//! intermediary, pay, play, settle and close; bad commands come back as errors and change nothing; a node
//! restarted from its store carries on.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use ferry_node::Error;
use ferry_node::adjudicator::{Chain, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_node::ledger::Signer;
use ferry_node::ledger::store::RedbStore;
use ferry_node::runtime::{GameMove, MemoryNetwork, Node, NodeConfig, OpenVirtual};
use ferry_virtual::protocol::{AppKind, VirtualPhase};

const ETH: Address = Address::ZERO;
const T: Duration = Duration::from_secs(20);

/// Account `i`'s node on the embedded chain, quick to time out and to read the chain (also the outside attack tests').
pub(crate) fn config(i: usize) -> NodeConfig {
    let signer = Signer::from_bytes(&EmbeddedChain::account_key(i)).unwrap();
    let mut c = NodeConfig::new(signer);
    c.ledger.open.max_own_deposit = U256::from(1_000_000u64);
    c.ledger.grace_ms = 200;
    c.chain_poll = Duration::from_millis(20);
    c
}

struct Net {
    chain: Arc<EmbeddedChain>,
    net: Arc<MemoryNetwork>,
    nodes: Vec<Node>,
    configs: Vec<NodeConfig>,
}

impl Net {
    async fn start(stores: Vec<RedbStore>) -> Net {
        let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
        let net = MemoryNetwork::new();
        let mut nodes = vec![];
        let mut configs = vec![];
        for (i, store) in stores.into_iter().enumerate() {
            let c = config(i + 1);
            let (link, inbound) = net.join(c.signer.address());
            let node = Node::start(c.clone(), store, chain.clone(), link, inbound)
                .await
                .unwrap();
            nodes.push(node);
            configs.push(c);
        }
        Net {
            chain,
            net,
            nodes,
            configs,
        }
    }

    fn addr(&self, i: usize) -> Address {
        self.nodes[i].address()
    }

    /// Ledgers A–I and B–I, each side depositing `d`.
    async fn ledgers(&self, d: u64) -> (B256, B256) {
        let (a, i, b) = (&self.nodes[0], &self.nodes[1], &self.nodes[2]);
        let amounts = vec![(ETH, [U256::from(d), U256::from(d)])];
        let ai = a
            .open_ledger(i.address(), amounts.clone(), 3_600)
            .await
            .unwrap();
        let bi = b.open_ledger(i.address(), amounts, 3_600).await.unwrap();
        for (node, id) in [(a, ai), (i, ai), (b, bi), (i, bi)] {
            node.wait_ledger_running(id, T).await.unwrap();
        }
        (ai, bi)
    }
}

fn stores(n: usize) -> Vec<RedbStore> {
    (0..n).map(|_| RedbStore::in_memory().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runtime_full_life_of_payment_and_game_channels() {
    let net = Net::start(stores(3)).await;
    let (a, i, b) = (&net.nodes[0], &net.nodes[1], &net.nodes[2]);
    let (ai, bi) = net.ledgers(1_000).await;
    let path = vec![net.addr(0), net.addr(1), net.addr(2)];

    // A payment channel: A 100, B 50.
    let v = a
        .open_virtual(OpenVirtual {
            path: path.clone(),
            hops: vec![ai, bi],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(100), U256::from(50)])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .unwrap();
    for n in [a, i, b] {
        n.wait_virtual(v, VirtualPhase::Open, T).await.unwrap();
    }
    for _ in 0..10 {
        a.pay(v, ETH, U256::from(3)).await.unwrap();
    }
    b.pay(v, ETH, U256::from(5)).await.unwrap();
    let at_b = b
        .wait_until("B to count A's payments", T, |s| {
            s.virtual_channel(&v).unwrap().balances[0].theirs == U256::from(75)
        })
        .await
        .unwrap();
    assert_eq!(
        at_b.virtual_channel(&v).unwrap().balances[0].mine,
        U256::from(75)
    );

    // A payment above A's funds is refused and changes nothing.
    let err = a.pay(v, ETH, U256::from(1_000)).await.unwrap_err();
    assert!(matches!(err, Error::Virtual(_)), "{err}");

    // A game channel: A 40, B 40; A stakes 10 on rock, B plays scissors, A reveals and wins 10.
    let g = a
        .open_virtual(OpenVirtual {
            path,
            hops: vec![ai, bi],
            app: AppKind::Game,
            balances: vec![(ETH, [U256::from(40), U256::from(40)])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .unwrap();
    b.wait_virtual(g, VirtualPhase::Open, T).await.unwrap();
    a.wait_virtual(g, VirtualPhase::Open, T).await.unwrap();
    // An invalid move (B may not commit) is refused.
    assert!(
        b.game_move(
            g,
            GameMove::Commit {
                stake: U256::from(10),
                hand: 1
            }
        )
        .await
        .is_err()
    );
    a.game_move(
        g,
        GameMove::Commit {
            stake: U256::from(10),
            hand: 1,
        },
    )
    .await
    .unwrap();
    b.wait_until("B to see the commit", T, |s| {
        s.virtual_channel(&g).unwrap().version == 2
    })
    .await
    .unwrap();
    b.game_move(g, GameMove::Play { hand: 3 }).await.unwrap();
    a.wait_until("A to see B's hand", T, |s| {
        s.virtual_channel(&g).unwrap().version == 3
    })
    .await
    .unwrap();
    a.game_move(g, GameMove::Reveal).await.unwrap();
    let s = b
        .wait_until("the reveal", T, |s| {
            s.virtual_channel(&g).unwrap().version == 4
        })
        .await
        .unwrap();
    let gb = &s.virtual_channel(&g).unwrap().balances[0];
    assert_eq!((gb.mine, gb.theirs), (U256::from(50), U256::from(30)));
    a.wait_until("A to get the reveal countersigned", T, |s| {
        s.virtual_channel(&g).unwrap().version == 4
    })
    .await
    .unwrap();

    // Settle both; every ledger is released, then closed on-chain.
    b.settle(v).await.unwrap();
    a.settle(g).await.unwrap();
    for n in [a, i, b] {
        n.wait_virtual(v, VirtualPhase::Released, T).await.unwrap();
        n.wait_virtual(g, VirtualPhase::Released, T).await.unwrap();
    }
    let s = a.status().await.unwrap();
    let l = s.ledger(&ai).unwrap();
    // A: 1000 − 30 + 5 (payments) + 10 (won) = 985; I: 1000 + 30 − 5 − 10 = 1015.
    assert_eq!(l.balances[0].mine, U256::from(985));
    assert_eq!(l.balances[0].theirs, U256::from(1_015));
    assert_eq!(l.sub_channels, 0);
    let before = net.chain.balance(net.addr(0)).await.unwrap();
    a.close_ledger(ai).await.unwrap();
    b.close_ledger(bi).await.unwrap();
    a.wait_ledger_closed(ai, T).await.unwrap();
    b.wait_ledger_closed(bi, T).await.unwrap();
    let after = net.chain.balance(net.addr(0)).await.unwrap();
    // A's payout arrived (less any gas A paid for the close).
    assert!(after > before + U256::from(900), "{before} → {after}");
    let st = a.status().await.unwrap();
    assert!(st.stats.messages_sent > 0 && st.stats.txs_landed > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runtime_refuses_bad_commands_and_changes_nothing() {
    let net = Net::start(stores(3)).await;
    let (a, b) = (&net.nodes[0], &net.nodes[2]);
    let unknown = B256::repeat_byte(7);
    assert!(a.pay(unknown, ETH, U256::from(1)).await.is_err());
    assert!(a.settle(unknown).await.is_err());
    assert!(a.close_ledger(unknown).await.is_err());
    assert!(a.game_move(unknown, GameMove::Reveal).await.is_err());
    // A virtual channel over ledgers A does not have.
    let err = a
        .open_virtual(OpenVirtual {
            path: vec![net.addr(0), net.addr(1), net.addr(2)],
            hops: vec![unknown, B256::repeat_byte(8)],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(1), U256::ZERO])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Virtual(_)), "{err}");
    // A path that does not start with this node.
    assert!(
        b.open_virtual(OpenVirtual {
            path: vec![net.addr(0), net.addr(2)],
            hops: vec![unknown],
            app: AppKind::Payment,
            balances: vec![],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .is_err()
    );
    let s = a.status().await.unwrap();
    assert!(s.ledgers.is_empty() && s.virtuals.is_empty());
    // A stopped node answers with an error, not a panic.
    a.shutdown().await;
    assert!(matches!(a.status().await, Err(Error::Stopped)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runtime_restart_from_store_keeps_channels() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.redb")))
        .collect();
    let net = Net::start(paths.iter().map(|p| RedbStore::open(p).unwrap()).collect()).await;
    let (ai, bi) = net.ledgers(500).await;
    let (a, b) = (&net.nodes[0], &net.nodes[2]);
    let v = a
        .open_virtual(OpenVirtual {
            path: vec![net.addr(0), net.addr(1), net.addr(2)],
            hops: vec![ai, bi],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(100), U256::ZERO])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await
        .unwrap();
    b.wait_virtual(v, VirtualPhase::Open, T).await.unwrap();
    a.wait_virtual(v, VirtualPhase::Open, T).await.unwrap();
    a.pay(v, ETH, U256::from(40)).await.unwrap();
    b.wait_until("the payment", T, |s| {
        s.virtual_channel(&v).unwrap().balances[0].theirs == U256::from(40)
    })
    .await
    .unwrap();

    // B stops; a new B starts from the same store and settles.
    b.shutdown().await;
    net.net.leave(net.addr(2));
    let c = net.configs[2].clone();
    let (link, inbound) = net.net.join(c.signer.address());
    let store = RedbStore::open(&paths[2]).unwrap();
    let b2 = Node::start(c, store, net.chain.clone(), link, inbound)
        .await
        .unwrap();
    let s = b2.status().await.unwrap();
    assert_eq!(
        s.virtual_channel(&v).unwrap().balances[0].theirs,
        U256::from(40)
    );
    assert_eq!(s.ledger(&bi).unwrap().phase, "running");
    b2.settle(v).await.unwrap();
    b2.wait_virtual(v, VirtualPhase::Released, T).await.unwrap();
    a.wait_virtual(v, VirtualPhase::Released, T).await.unwrap();
    let l = b2.status().await.unwrap();
    assert_eq!(l.ledger(&bi).unwrap().balances[0].mine, U256::from(540));
}

/// S17: a node whose account holds less ETH than a challenge bond of its channels could not challenge there: its
/// status says so (`bond_funds_short`) once it checked its balance, and not before such a channel exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runtime_reports_an_account_short_of_a_channels_challenge_bond() {
    use alloy::primitives::aliases::U96;
    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 3).unwrap());
    let net = MemoryNetwork::new();
    // 20,000 ETH: more than an embedded account's 10,000.
    let bond = U96::from(20_000u64) * U96::from(10u64).pow(U96::from(18u8));
    let mut nodes = vec![];
    for i in 1..=2 {
        let mut c = config(i);
        c.ledger.durations.challenge_bond = bond;
        c.ledger.durations.max_challenge_bond = bond;
        c.balance_every = Duration::from_millis(50);
        let (link, inbound) = net.join(c.signer.address());
        let store = RedbStore::in_memory().unwrap();
        nodes.push(
            Node::start(c, store, chain.clone(), link, inbound)
                .await
                .unwrap(),
        );
    }
    let (a, i) = (&nodes[0], &nodes[1]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !a.status().await.unwrap().stats.bond_funds_short,
        "no channel, no bond to pay"
    );
    let amounts = vec![(ETH, [U256::from(1_000u64), U256::from(1_000u64)])];
    let id = a.open_ledger(i.address(), amounts, 3_600).await.unwrap();
    for n in [a, i] {
        n.wait_ledger_running(id, T).await.unwrap();
        let s = n
            .wait_until("the bond check", T, |s| s.stats.bond_funds_short)
            .await
            .unwrap();
        assert_eq!(s.ledger(&id).unwrap().challenge_bond, U256::from(bond));
    }
}
