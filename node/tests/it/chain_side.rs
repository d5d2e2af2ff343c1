//! The node's chain side on a real anvil: the loop never waits for the chain, several transactions from one
//! account are in flight at once, a stuck transaction is replaced with a higher fee, and a reorganization below
//! the blocks a node read is detected, reported and replayed from the fork (a deposit it took away pauses the
//! channel until the new chain shows it again).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use ferry_node::adjudicator::{AdjudicatorClient, Chain, RpcChain, RpcConfig};
use ferry_node::ledger::Signer;
use ferry_node::ledger::contracts::Artifact;
use ferry_node::ledger::protocol::LedgerEvent;
use ferry_node::ledger::store::RedbStore;
use ferry_node::runtime::{MemoryNetwork, Node, NodeConfig, NodeEvent};
use ferry_node::virtual_channels::protocol::VirtualEvent;

const ETH: Address = Address::ZERO;
const WEI: u64 = 1_000_000_000_000_000_000;
const T: Duration = Duration::from_secs(30);

fn anvil() -> AnvilInstance {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    assert!(bin.exists(), "anvil is missing: run `npm ci`");
    Anvil::at(bin)
        .host("127.0.0.1")
        .port(0u16)
        .chain_id(31337u64)
        .try_spawn()
        .unwrap()
}

fn key(anvil: &AnvilInstance, i: usize) -> B256 {
    B256::from_slice(&anvil.keys()[i].to_bytes())
}

/// The contracts deployed from account 0; returns that chain.
async fn deployed(anvil: &AnvilInstance) -> RpcChain {
    RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, vec![key(anvil, 0)]))
        .await
        .unwrap()
}

/// A chain for account `i` on the contracts `at` deployed, with `tune` applied to its config.
async fn chain_for(
    anvil: &AnvilInstance,
    at: &RpcChain,
    i: usize,
    tune: impl FnOnce(&mut RpcConfig),
) -> RpcChain {
    let mut cfg = RpcConfig::new(anvil.endpoint(), 31337, vec![key(anvil, i)]);
    cfg.adjudicator = Some(at.adjudicator());
    cfg.payment_app = at.deployed(Artifact::PaymentApp);
    cfg.rock_paper_scissors = at.deployed(Artifact::RockPaperScissors);
    cfg.poll_interval = Duration::from_millis(20);
    tune(&mut cfg);
    RpcChain::connect(cfg).await.unwrap()
}

async fn automine(chain: &RpcChain, on: bool) {
    chain
        .provider()
        .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (on,))
        .await
        .unwrap();
}

async fn mine(chain: &RpcChain) {
    chain.mine().await.unwrap();
}

/// Account `i`'s transaction count, mined ones only.
async fn nonce(chain: &RpcChain, who: Address) -> u64 {
    chain
        .provider()
        .get_transaction_count(who)
        .latest()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_a_higher_fee_and_lands_once() {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let chain = chain_for(&anvil, &base, 1, |c| {
        c.replace_after = Duration::from_millis(150)
    })
    .await;
    let from = chain.accounts()[0];
    let before = nonce(&chain, from).await;
    automine(&base, false).await;
    // No block is mined until the end: the fee the first send pays is this estimate.
    let first = base.provider().estimate_eip1559_fees().await.unwrap();
    let client = AdjudicatorClient::new(Arc::new(chain.clone()));
    let send = tokio::spawn(async move {
        client
            .deposit(
                from,
                ETH,
                B256::repeat_byte(7),
                0,
                U256::ZERO,
                U256::from(1_000u64),
            )
            .await
    });
    // Not mined: the transaction waits in the pool and is replaced a few times.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!send.is_finished(), "nothing was mined yet");
    let pending: serde_json::Value = base
        .provider()
        .raw_request("txpool_content".into(), ())
        .await
        .unwrap();
    let queued = pending["pending"][format!("{from:#x}")]
        .as_object()
        .or_else(|| pending["pending"][from.to_checksum(None)].as_object())
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(
        queued, 1,
        "one transaction per nonce in the pool: {pending}"
    );
    mine(&base).await;
    let receipt = send.await.unwrap().unwrap();
    let tx = base
        .provider()
        .get_transaction_by_hash(receipt.tx_hash)
        .await
        .unwrap()
        .unwrap();
    use alloy::consensus::Transaction as _;
    assert!(
        tx.inner.max_fee_per_gas() >= first.max_fee_per_gas * 5 / 4,
        "the mined transaction is a replacement at a higher fee: {} against a first fee of {}",
        tx.inner.max_fee_per_gas(),
        first.max_fee_per_gas
    );
    assert_eq!(nonce(&chain, from).await, before + 1, "it landed once");
    automine(&base, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_from_one_account_get_consecutive_nonces() {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let chain = Arc::new(chain_for(&anvil, &base, 1, |_| {}).await);
    let from = chain.accounts()[0];
    let before = nonce(&chain, from).await;
    automine(&base, false).await;
    let mut sends = Vec::new();
    for k in 0..6u8 {
        let client = AdjudicatorClient::new(chain.clone());
        sends.push(tokio::spawn(async move {
            client
                .deposit(
                    from,
                    ETH,
                    B256::repeat_byte(k + 1),
                    0,
                    U256::ZERO,
                    U256::from(10u64),
                )
                .await
        }));
    }
    // All six wait in the pool at once, then land in one block.
    for _ in 0..200 {
        let status: serde_json::Value = base
            .provider()
            .raw_request("txpool_status".into(), ())
            .await
            .unwrap();
        if status["pending"].as_str() == Some("0x6") || status["pending"].as_u64() == Some(6) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mine(&base).await;
    for s in sends {
        s.await.unwrap().unwrap();
    }
    assert_eq!(nonce(&chain, from).await, before + 6);
    automine(&base, true).await;
}

fn node_config(anvil: &AnvilInstance, i: usize) -> NodeConfig {
    let signer = Signer::from_bytes(&key(anvil, i)).unwrap();
    let mut c = NodeConfig::new(signer);
    c.ledger.open.max_own_deposit = U256::from(100u64) * U256::from(WEI);
    c.chain_poll = Duration::from_millis(20);
    c
}

/// Nodes for accounts `keys` on one in-memory network, each with its own chain handle.
async fn nodes(anvil: &AnvilInstance, base: &RpcChain, keys: &[usize]) -> Vec<Node> {
    let net = MemoryNetwork::new();
    let mut out = Vec::new();
    for &i in keys {
        let chain: Arc<dyn Chain> = Arc::new(chain_for(anvil, base, i, |_| {}).await);
        let c = node_config(anvil, i);
        let (link, inbound) = net.join(c.signer.address());
        out.push(
            Node::start(c, RedbStore::in_memory().unwrap(), chain, link, inbound)
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_answers_while_its_transactions_wait_to_be_mined() {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let n = nodes(&anvil, &base, &[1, 2]).await;
    let (a, b) = (&n[0], &n[1]);
    automine(&base, false).await;
    let amounts = vec![(ETH, [U256::from(WEI), U256::from(WEI)])];
    let id = a.open_ledger(b.address(), amounts, 60).await.unwrap();
    // Alice's deposit is submitted and waits in the pool: her node keeps answering (before, its loop waited for
    // the receipt and every call hung with it).
    let waiting = a
        .wait_until("a deposit in flight", T, |s| s.stats.txs_in_flight == 1)
        .await
        .unwrap();
    assert_eq!(waiting.stats.txs_landed, 0);
    for _ in 0..20 {
        let s = a.status().await.unwrap();
        assert_eq!(s.stats.txs_in_flight, 1, "still waiting, still answering");
        a.quote(U256::from(1_000u64)).await.unwrap();
    }
    // Mining resumes: both deposits land and the ledger runs.
    let miner = {
        let base = base.clone();
        tokio::spawn(async move {
            loop {
                let _ = base.mine().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    a.wait_ledger_running(id, T).await.unwrap();
    b.wait_ledger_running(id, T).await.unwrap();
    let done = a
        .wait_until("nothing in flight", T, |s| s.stats.txs_in_flight == 0)
        .await
        .unwrap();
    assert_eq!(done.stats.txs_landed, 1);
    miner.abort();
    automine(&base, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorganization_below_the_blocks_read_is_reported() {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let n = nodes(&anvil, &base, &[1]).await;
    let a = &n[0];
    let mut events = a.subscribe();
    for _ in 0..5 {
        mine(&base).await;
    }
    let head = base.head().await.unwrap().number;
    a.wait_until("the blocks read", T, |s| s.stats.next_block > head)
        .await
        .unwrap();
    // Three blocks the node read are replaced (a reorg deeper than its one confirmation), then the chain goes on.
    base.provider()
        .raw_request::<_, serde_json::Value>(
            "anvil_reorg".into(),
            serde_json::json!({"depth": 3, "tx_block_pairs": []}),
        )
        .await
        .unwrap();
    mine(&base).await;
    let reorg = tokio::time::timeout(T, async {
        loop {
            match events.recv().await.unwrap() {
                NodeEvent::ChainReorg { kept, read_up_to } => return (kept, read_up_to),
                _ => continue,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reorg.1, head);
    assert!(
        reorg.0.is_none_or(|kept| kept <= head - 3),
        "the newest block kept is below the fork: {reorg:?}"
    );
    let s = a
        .wait_until("the reorg counted", T, |s| s.stats.reorgs == 1)
        .await
        .unwrap();
    // Reported once; the node reads on.
    mine(&base).await;
    let after = base.head().await.unwrap().number;
    let s2 = a
        .wait_until("reading on", T, |s| s.stats.next_block > after)
        .await
        .unwrap();
    assert_eq!(s2.stats.reorgs, s.stats.reorgs);
}

/// The transaction `who` sent most recently, searched from block `head` down: its block and its raw bytes.
async fn last_tx_from(
    chain: &RpcChain,
    who: Address,
    head: u64,
) -> (u64, alloy::primitives::Bytes) {
    for n in (1..=head).rev() {
        let block: serde_json::Value = chain
            .provider()
            .raw_request("eth_getBlockByNumber".into(), (format!("{n:#x}"), true))
            .await
            .unwrap();
        for tx in block["transactions"].as_array().into_iter().flatten() {
            let from: Address = tx["from"].as_str().unwrap().parse().unwrap();
            if from == who {
                let raw = chain
                    .provider()
                    .raw_request(
                        "eth_getRawTransactionByHash".into(),
                        (tx["hash"].as_str().unwrap(),),
                    )
                    .await
                    .unwrap();
                return (n, raw);
            }
        }
    }
    panic!("no transaction from {who}");
}

/// The next ledger event of `channel` that `pick` takes, from a node's event stream.
async fn ledger_event(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    pick: impl Fn(&LedgerEvent) -> bool,
) -> LedgerEvent {
    tokio::time::timeout(T, async {
        loop {
            if let NodeEvent::Channel(VirtualEvent::Ledger(e)) = events.recv().await.unwrap()
                && pick(&e)
            {
                return e;
            }
        }
    })
    .await
    .expect("the ledger event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorganization_that_takes_a_deposit_away_pauses_the_channel_until_the_deposit_is_mined_again()
 {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let n = nodes(&anvil, &base, &[1, 2]).await;
    let (a, b) = (&n[0], &n[1]);
    let mut events = a.subscribe();
    let amounts = vec![(ETH, [U256::from(WEI), U256::from(WEI)])];
    let id = a.open_ledger(b.address(), amounts, 60).await.unwrap();
    a.wait_ledger_running(id, T).await.unwrap();
    b.wait_ledger_running(id, T).await.unwrap();
    // Bob's deposit, then two more blocks, all read by both nodes (one confirmation).
    let head = base.head().await.unwrap().number;
    let (deposit_block, raw) = last_tx_from(&base, b.address(), head).await;
    mine(&base).await;
    mine(&base).await;
    let read = head + 2;
    for n in [a, b] {
        n.wait_until("the blocks read", T, |s| s.stats.next_block > read)
            .await
            .unwrap();
    }
    // The blocks from Bob's deposit on are replaced by empty ones: the deposit is gone.
    base.provider()
        .raw_request::<_, serde_json::Value>(
            "anvil_reorg".into(),
            serde_json::json!({"depth": read - deposit_block + 1, "tx_block_pairs": []}),
        )
        .await
        .unwrap();
    mine(&base).await;
    let reorganized = ledger_event(
        &mut events,
        |e| matches!(e, LedgerEvent::Reorganized { channel_id, .. } if *channel_id == id),
    )
    .await;
    assert!(
        matches!(reorganized, LedgerEvent::Reorganized { vanished, .. } if vanished >= 1),
        "{reorganized:?}"
    );
    ledger_event(&mut events, |e| {
        matches!(e, LedgerEvent::Replayed { channel_id, unchanged: false } if *channel_id == id)
    })
    .await;
    let paused = a.status().await.unwrap();
    let version = paused.ledgers[0].version;
    // Nothing is signed while the deposit is missing: Alice's close is refused by name and the channel stays.
    a.close_ledger(id).await.unwrap();
    let refused = ledger_event(&mut events, |e| matches!(e, LedgerEvent::Refused { .. })).await;
    assert!(
        matches!(&refused, LedgerEvent::Refused { reason, .. } if reason.contains("reorganized")),
        "{refused:?}"
    );
    let still = a.status().await.unwrap();
    assert!(still.ledgers[0].reorganized);
    assert_eq!(still.ledgers[0].version, version);
    assert_eq!(still.ledgers[0].phase, "running");
    // Bob's deposit is mined again (the same signed transaction): the channel goes on and closes.
    base.provider()
        .raw_request::<_, serde_json::Value>("eth_sendRawTransaction".into(), (raw,))
        .await
        .unwrap();
    ledger_event(
        &mut events,
        |e| matches!(e, LedgerEvent::Replayed { channel_id, unchanged: true } if *channel_id == id),
    )
    .await;
    assert!(!a.status().await.unwrap().ledgers[0].reorganized);
    a.close_ledger(id).await.unwrap();
    a.wait_ledger_closed(id, T).await.unwrap();
    b.wait_ledger_closed(id, T).await.unwrap();
    let s = a.status().await.unwrap();
    assert!(s.stats.reorgs >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_in_flight_when_the_node_stops_is_asked_again_after_the_restart_and_lands_once()
 {
    let anvil = anvil();
    let base = deployed(&anvil).await;
    let dir = tempfile::tempdir().unwrap();
    let net = MemoryNetwork::new();
    let start = |i: usize, store: RedbStore| {
        let (anvil, base, net) = (&anvil, &base, net.clone());
        async move {
            let chain: Arc<dyn Chain> = Arc::new(chain_for(anvil, base, i, |_| {}).await);
            let c = node_config(anvil, i);
            let (link, inbound) = net.join(c.signer.address());
            Node::start(c, store, chain, link, inbound).await.unwrap()
        }
    };
    let path = dir.path().join("alice.redb");
    let mut a = start(1, RedbStore::open(&path).unwrap()).await;
    let b = start(2, RedbStore::in_memory().unwrap()).await;
    automine(&base, false).await;
    let amounts = vec![(ETH, [U256::from(WEI), U256::from(WEI)])];
    let id = a.open_ledger(b.address(), amounts, 60).await.unwrap();
    a.wait_until("Alice's deposit in flight", T, |s| {
        s.stats.txs_in_flight == 1
    })
    .await
    .unwrap();
    // Alice's node stops with its deposit waiting in the pool, and starts again from its store.
    a.shutdown().await;
    a = start(1, RedbStore::open(&path).unwrap()).await;
    let miner = {
        let base = base.clone();
        tokio::spawn(async move {
            loop {
                let _ = base.mine().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    a.wait_ledger_running(id, T).await.unwrap();
    b.wait_ledger_running(id, T).await.unwrap();
    // Both deposits, each once: the adjudicator holds exactly 2 ETH (a repeated deposit takes nothing and refunds).
    let held = base.balance(base.adjudicator()).await.unwrap();
    assert_eq!(held, U256::from(2 * WEI));
    // The restarted node asked for its deposit again (it remembers what it asked for within one start only).
    let s = a.status().await.unwrap();
    assert!(s.stats.txs_landed >= 1, "{:?}", s.stats);
    miner.abort();
    automine(&base, true).await;
}
