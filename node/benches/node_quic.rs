//! End-to-end throughput of the node runtime: three `Node`s (A–I–B) on one embedded chain, over real QUIC on
//! loopback with their stores on disk (durable), the same in memory, and over the in-process `MemoryNetwork`,
//! beside the signature-cost limit, all in one run.
//!
//! `cargo bench -p ferry-node --bench node_quic` (release build). Prints one table; `FERRY_BENCH_PAYMENTS`,
//! `FERRY_BENCH_OPENS` and `FERRY_BENCH_IN_FLIGHT` set the sizes (defaults 20,000, 100 and 32 payment requests at
//! once).

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use ferry_node::adjudicator::{DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_node::ledger::app::payment::{sign_voucher, verify_voucher, voucher};
use ferry_node::ledger::store::RedbStore;
use ferry_node::ledger::{Signer, channel};
use ferry_node::runtime::{MemoryNetwork, Node, NodeConfig, NodeSetup, OpenVirtual};
use ferry_virtual::protocol::{AppKind, VirtualPhase};

const ETH: Address = Address::ZERO;
const T: Duration = Duration::from_secs(120);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(i: usize) -> NodeConfig {
    let mut c = NodeConfig::new(Signer::from_bytes(&EmbeddedChain::account_key(i)).unwrap());
    c.ledger.open.max_own_deposit = U256::MAX;
    c.chain_poll = Duration::from_millis(20);
    c
}

/// Three nodes over QUIC on loopback; `disk`: each keeps its store and outbox in redb files there (fsynced), else
/// in memory.
async fn quic_nodes(chain: &Arc<EmbeddedChain>, disk: Option<&std::path::Path>) -> Vec<Node> {
    let mut nodes = vec![];
    let mut transports = vec![];
    for i in 1..=3 {
        let setup = NodeSetup {
            data_dir: disk.map(|d| d.join(format!("node{i}"))),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            peers: vec![],
            transport: Default::default(),
        };
        let (node, t) = Node::launch(config(i), setup, chain.clone()).await.unwrap();
        nodes.push(node);
        transports.push(t);
    }
    for a in &transports {
        for b in &transports {
            if a.address() != b.address() {
                a.add_peer(b.address(), b.local_addr());
            }
        }
    }
    // The transports live as long as the process: the bench ends with it.
    std::mem::forget(transports);
    nodes
}

async fn memory_nodes(chain: &Arc<EmbeddedChain>) -> Vec<Node> {
    let net = MemoryNetwork::new();
    let mut nodes = vec![];
    for i in 1..=3 {
        let c = config(i);
        let (link, inbound) = net.join(c.signer.address());
        nodes.push(
            Node::start(
                c,
                RedbStore::in_memory().unwrap(),
                chain.clone(),
                link,
                inbound,
            )
            .await
            .unwrap(),
        );
    }
    nodes
}

struct Figures {
    payments_per_s: f64,
    open_ms: f64,
    opens_per_s: f64,
}

async fn measure(nodes: &[Node], payments: u64, opens: u64) -> Figures {
    let (a, i, b) = (&nodes[0], &nodes[1], &nodes[2]);
    // 1,000 ETH each side (the embedded chain's accounts hold 10,000).
    let big = U256::from(10u64).pow(U256::from(21));
    let amounts = vec![(ETH, [big, big])];
    let ai = a
        .open_ledger(i.address(), amounts.clone(), 3_600)
        .await
        .unwrap();
    let bi = b.open_ledger(i.address(), amounts, 3_600).await.unwrap();
    for (n, id) in [(a, ai), (i, ai), (b, bi), (i, bi)] {
        n.wait_ledger_running(id, T).await.unwrap();
    }
    let req = OpenVirtual {
        path: vec![a.address(), i.address(), b.address()],
        hops: vec![ai, bi],
        app: AppKind::Payment,
        balances: vec![(ETH, [U256::from(10u64).pow(U256::from(18)), U256::ZERO])],
        fees: vec![],
        challenge_duration: 600,
    };
    // Open latency: one at a time until every member holds the certificate.
    let mut v = B256::ZERO;
    let started = Instant::now();
    let sequential = 10;
    for _ in 0..sequential {
        v = a.open_virtual(req.clone()).await.unwrap();
        for n in [a, i, b] {
            n.wait_virtual(v, VirtualPhase::Open, T).await.unwrap();
        }
    }
    let open_ms = started.elapsed().as_secs_f64() * 1e3 / sequential as f64;
    // Opens per second: `opens` asked for at once.
    let started = Instant::now();
    let mut ids = vec![];
    for _ in 0..opens {
        ids.push(a.open_virtual(req.clone()).await.unwrap());
    }
    for id in &ids {
        b.wait_virtual(*id, VirtualPhase::Open, T).await.unwrap();
        a.wait_virtual(*id, VirtualPhase::Open, T).await.unwrap();
    }
    let opens_per_s = opens as f64 / started.elapsed().as_secs_f64();
    // Payments through one V, `in_flight` requests at once, until B has counted them all.
    let in_flight = env("FERRY_BENCH_IN_FLIGHT", 32);
    let each = U256::from(1_000u64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = payments / in_flight;
    for _ in 0..in_flight {
        let a = a.clone();
        tasks.spawn(async move {
            for _ in 0..per_task {
                a.pay(v, ETH, each).await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let total = each * U256::from(per_task * in_flight);
    b.wait_until("B to count the payments", T, |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances[0].theirs == total)
    })
    .await
    .unwrap();
    let payments_per_s = (per_task * in_flight) as f64 / started.elapsed().as_secs_f64();
    for n in nodes {
        n.shutdown().await;
    }
    Figures {
        payments_per_s,
        open_ms,
        opens_per_s,
    }
}

/// The signature cost of one payment: the payer signs a voucher, the payee recovers its signer. Returns the rates
/// (per second) of signing alone and of recovering alone, each on one core.
fn voucher_costs(n: u32) -> (f64, f64) {
    let ctx = ferry_node::ledger::ChainContext {
        chain_id: DEFAULT_CHAIN_ID,
        adjudicator: Address::repeat_byte(1),
    };
    let payer = Signer::random();
    let payee = Signer::random();
    let params = channel::virtual_params(
        &ctx,
        vec![payer.address(), Address::repeat_byte(9), payee.address()],
        vec![B256::repeat_byte(1), B256::repeat_byte(2)],
        Address::repeat_byte(3),
        600,
        2,
    );
    let started = Instant::now();
    let sigs: Vec<_> = (0..n)
        .map(|k| sign_voucher(&payer, &params, ETH, U256::from(k + 1)))
        .collect();
    let sign = f64::from(n) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (k, sig) in sigs.iter().enumerate() {
        let v = voucher(&params, payer.address(), ETH, U256::from(k + 1));
        verify_voucher(&params, &v, sig).unwrap();
    }
    let recover = f64::from(n) / started.elapsed().as_secs_f64();
    (sign, recover)
}

fn main() {
    let payments = env("FERRY_BENCH_PAYMENTS", 20_000);
    let opens = env("FERRY_BENCH_OPENS", 100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sign, recover) = voucher_costs(2_000);
    // One core doing both; two cores doing both (the runtime signs and recovers a batch's signatures on every
    // core, so the signature work of the payer and the payee spreads over both).
    let serial = 1.0 / (1.0 / sign + 1.0 / recover);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let dir = tempfile::tempdir().unwrap();
    let (durable, quic, memory) = rt.block_on(async {
        let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
        let durable = measure(&quic_nodes(&chain, Some(dir.path())).await, payments, opens).await;
        let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
        let quic = measure(&quic_nodes(&chain, None).await, payments, opens).await;
        let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
        let memory = measure(&memory_nodes(&chain).await, payments, opens).await;
        (durable, quic, memory)
    });
    println!("node runtime, A–I–B on one embedded chain ({payments} payments, {opens} opens)\n");
    println!("| | payments/s | vs. one core | open latency | opens/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| limit, one core: 1 sign ({sign:.0}/s) + 1 recovery ({recover:.0}/s) per voucher | {serial:.0} | 1.00 | | |"
    );
    println!(
        "| limit, all {cores} cores doing nothing else | {:.0} | {cores:.2} | | |",
        serial * cores
    );
    for (name, f) in [
        ("QUIC on loopback, redb on disk (durable)", &durable),
        ("QUIC on loopback, in-memory stores", &quic),
        ("MemoryNetwork, in-memory stores", &memory),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.1} ms | {:.0} |",
            f.payments_per_s,
            f.payments_per_s / serial,
            f.open_ms,
            f.opens_per_s
        );
    }
}
