//! `ferry demo`: the whole life of a virtual channel on the embedded chain, with no setup. Alice, an intermediary
//! (Ingrid) and Bob run as three nodes in this process over loopback QUIC; Alice and Bob each fund a ledger channel
//! with Ingrid, open a virtual payment channel through her, stream payments, play rock-paper-scissors in a second
//! virtual channel, settle both off-chain and close the ledgers on-chain. The report says what went on-chain (and
//! its gas) and what stayed off it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::{Chain, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_ledger::Signer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::runtime::{GameMove, Node, NodeConfig, NodeEvent, NodeSetup, OpenVirtual};
use crate::transport::Transport;
use crate::{Error, Result};
use ferry_virtual::protocol::{AppKind, VirtualPhase};

/// One ether in wei.
const ETH_WEI: u128 = 1_000_000_000_000_000_000;
/// ETH is asset zero.
const ETH: Address = Address::ZERO;
/// How long any one step may take before the demo gives up.
const STEP: Duration = Duration::from_secs(60);

/// What the demo does.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Payments Alice streams to Bob.
    pub payments: u64,
    /// Rounds of rock-paper-scissors.
    pub rounds: u64,
    /// Draw progress bars on the terminal.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            payments: 1_000,
            rounds: 3,
            progress: true,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoReport {
    /// Transactions that went on-chain, by name, with their gas.
    pub onchain: Vec<(String, u64)>,
    /// Their total gas.
    pub gas_total: u64,
    /// Protocol messages the three nodes sent each other.
    pub offchain_messages: u64,
    /// Payments streamed through the virtual channel.
    pub payments: u64,
    /// Payments per second (until Bob had counted the last one).
    pub payments_per_second: f64,
    /// Time from Alice's open to every member holding V's funding certificate, in milliseconds.
    pub open_latency_ms: f64,
    /// Time to settle V off-chain (until every member released it), in milliseconds.
    pub settle_ms: f64,
    /// Game rounds played, and Alice's net winnings in wei (negative: losses).
    pub rounds: u64,
    /// Alice's net game result in wei.
    pub alice_game_net: i128,
    /// What each party got back on-chain when the ledgers closed, in wei: Alice, Ingrid, Bob.
    pub payouts: [u128; 3],
    /// What each party deposited, in wei: Alice, Ingrid (both ledgers), Bob.
    pub deposits: [u128; 3],
}

fn wei(x: U256) -> u128 {
    x.try_into().unwrap_or(u128::MAX)
}

fn fmt_eth(w: u128) -> String {
    format!("{:.4} ETH", w as f64 / ETH_WEI as f64)
}

impl DemoReport {
    /// The report as the terminal shows it.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("\nFerry demo report\n=================\n");
        s.push_str(&format!(
            "on-chain transactions: {} ({} gas in all)\n",
            self.onchain.len(),
            self.gas_total
        ));
        for (name, gas) in &self.onchain {
            s.push_str(&format!("  {name:<24} {gas:>9} gas\n"));
        }
        s.push_str(&format!(
            "off-chain messages:    {} (zero transactions for the virtual channels)\n",
            self.offchain_messages
        ));
        s.push_str(&format!(
            "virtual open latency:  {:.1} ms (A → Ingrid → B, funding certificate complete)\n",
            self.open_latency_ms
        ));
        s.push_str(&format!(
            "payments:              {} at {:.0} payments/s over loopback QUIC\n",
            self.payments, self.payments_per_second
        ));
        s.push_str(&format!(
            "settle:                {:.1} ms off-chain\n",
            self.settle_ms
        ));
        s.push_str(&format!(
            "game:                  {} rounds of rock-paper-scissors, Alice {} {}\n",
            self.rounds,
            if self.alice_game_net >= 0 {
                "won"
            } else {
                "lost"
            },
            fmt_eth(self.alice_game_net.unsigned_abs())
        ));
        let names = ["Alice", "Ingrid", "Bob"];
        for (k, name) in names.iter().enumerate() {
            s.push_str(&format!(
                "  {:<7} deposited {:>12}, got back {:>12}\n",
                name,
                fmt_eth(self.deposits[k]),
                fmt_eth(self.payouts[k])
            ));
        }
        s
    }
}

struct Steps {
    bar: ProgressBar,
}

impl Steps {
    fn new(progress: bool, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(total),
            if progress {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar }
    }

    fn step(&self, prefix: &str, msg: &str) {
        self.bar.set_prefix(prefix.to_string());
        self.bar.set_message(msg.to_string());
    }
}

fn demo_config(i: usize) -> Result<NodeConfig> {
    let signer = Signer::from_bytes(&EmbeddedChain::account_key(i))?;
    let mut config = NodeConfig::new(signer);
    config.ledger.open.max_own_deposit = U256::from(100u128 * ETH_WEI);
    config.ledger.grace_ms = 500;
    config.chain_poll = Duration::from_millis(20);
    Ok(config)
}

/// Launches Alice, Ingrid and Bob (the chain's accounts 1–3) on loopback QUIC and introduces them to each other.
async fn launch_all(chain: &Arc<EmbeddedChain>) -> Result<([Node; 3], Vec<Transport>)> {
    let mut nodes = Vec::new();
    let mut transports: Vec<Transport> = Vec::new();
    for i in 1..=3 {
        let setup = NodeSetup {
            data_dir: None,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            peers: Vec::new(),
            transport: Default::default(),
        };
        let (node, transport) = Node::launch(demo_config(i)?, setup, chain.clone()).await?;
        nodes.push(node);
        transports.push(transport);
    }
    for a in &transports {
        for b in &transports {
            if a.address() != b.address() {
                a.add_peer(b.address(), b.local_addr());
            }
        }
    }
    let nodes = nodes
        .try_into()
        .map_err(|_| Error::Config("three demo nodes".into()))?;
    Ok((nodes, transports))
}

/// Collects the transactions a node lands, from its event stream.
fn collect_txs(
    node: &Node,
    into: Arc<std::sync::Mutex<Vec<(String, u64)>>>,
) -> tokio::task::JoinHandle<()> {
    let mut feed = node.subscribe();
    tokio::spawn(async move {
        loop {
            match feed.recv().await {
                Ok(NodeEvent::TxLanded { name, gas }) => {
                    if let Ok(mut v) = into.lock() {
                        v.push((name, gas));
                    }
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

async fn balances(chain: &EmbeddedChain, who: [Address; 3]) -> Result<[U256; 3]> {
    let mut out = [U256::ZERO; 3];
    for (k, a) in who.into_iter().enumerate() {
        out[k] = chain.balance(a).await.map_err(Error::Chain)?;
    }
    Ok(out)
}

/// Runs the demo.
pub async fn run(opts: DemoOptions) -> Result<DemoReport> {
    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).map_err(Error::Chain)?);
    let steps = Steps::new(opts.progress, 7 + opts.payments + opts.rounds);
    steps.step("start", "three nodes on loopback QUIC");
    let ([alice, ingrid, bob], transports) = launch_all(&chain).await?;
    let landed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let collectors: Vec<_> = [&alice, &ingrid, &bob]
        .into_iter()
        .map(|n| collect_txs(n, landed.clone()))
        .collect();
    steps.bar.inc(1);

    // Ledger channels: 1 ETH each side.
    steps.step("fund", "two ledger channels on-chain");
    let deposit = U256::from(ETH_WEI);
    let amounts = vec![(ETH, [deposit, deposit])];
    let ai = alice
        .open_ledger(ingrid.address(), amounts.clone(), 3_600)
        .await?;
    let bi = bob.open_ledger(ingrid.address(), amounts, 3_600).await?;
    for (n, id) in [(&alice, ai), (&ingrid, ai), (&bob, bi), (&ingrid, bi)] {
        n.wait_ledger_running(id, STEP).await?;
    }
    steps.bar.inc(1);

    // The virtual payment channel: Alice 0.5 ETH, Bob 0.
    steps.step("open", "virtual channel Alice → Ingrid → Bob");
    let path = vec![alice.address(), ingrid.address(), bob.address()];
    let started = Instant::now();
    let v = alice
        .open_virtual(OpenVirtual {
            path: path.clone(),
            hops: vec![ai, bi],
            app: AppKind::Payment,
            balances: vec![(ETH, [U256::from(ETH_WEI / 2), U256::ZERO])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await?;
    for n in [&alice, &ingrid, &bob] {
        n.wait_virtual(v, VirtualPhase::Open, STEP).await?;
    }
    let open_latency_ms = started.elapsed().as_secs_f64() * 1e3;
    steps.bar.inc(1);

    // Payments.
    steps.step("pay", "streaming payments Alice → Bob");
    let each = U256::from(ETH_WEI / 10_000);
    let started = Instant::now();
    for _ in 0..opts.payments {
        alice.pay(v, ETH, each).await?;
        steps.bar.inc(1);
    }
    let total = each * U256::from(opts.payments);
    bob.wait_until("Bob to count every payment", STEP, |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances.first().is_some_and(|b| b.theirs == total))
    })
    .await?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let payments_per_second = opts.payments as f64 / secs;

    // The game channel: 0.1 ETH each, stake 0.01 ETH a round.
    steps.step("play", "rock-paper-scissors in a second virtual channel");
    let g = alice
        .open_virtual(OpenVirtual {
            path,
            hops: vec![ai, bi],
            app: AppKind::Game,
            balances: vec![(ETH, [U256::from(ETH_WEI / 10), U256::from(ETH_WEI / 10)])],
            fees: vec![],
            challenge_duration: 600,
        })
        .await?;
    for n in [&alice, &bob] {
        n.wait_virtual(g, VirtualPhase::Open, STEP).await?;
    }
    let stake = U256::from(ETH_WEI / 100);
    let mut version = 1u64;
    for round in 0..opts.rounds {
        // Alice: rock, paper, scissors, …; Bob: scissors, rock, rock, …: Alice wins two rounds of three.
        let (a_hand, b_hand) = (1 + (round % 3) as u8, [3, 1, 1][(round % 3) as usize]);
        alice
            .game_move(
                g,
                GameMove::Commit {
                    stake,
                    hand: a_hand,
                },
            )
            .await?;
        version += 1;
        wait_version(&bob, g, version).await?;
        bob.game_move(g, GameMove::Play { hand: b_hand }).await?;
        version += 1;
        wait_version(&alice, g, version).await?;
        alice.game_move(g, GameMove::Reveal).await?;
        version += 1;
        wait_version(&alice, g, version).await?;
        wait_version(&bob, g, version).await?;
        steps.bar.inc(1);
    }
    let game = alice.status().await?;
    let alice_game = game
        .virtual_channel(&g)
        .and_then(|c| c.balances.first().map(|b| wei(b.mine)))
        .unwrap_or_default();
    let alice_game_net = alice_game as i128 - (ETH_WEI / 10) as i128;
    steps.bar.inc(1);

    // Settle both off-chain.
    steps.step("settle", "both virtual channels, off-chain");
    let started = Instant::now();
    bob.settle(v).await?;
    alice.settle(g).await?;
    for n in [&alice, &ingrid, &bob] {
        n.wait_virtual(v, VirtualPhase::Released, STEP).await?;
        n.wait_virtual(g, VirtualPhase::Released, STEP).await?;
    }
    let settle_ms = started.elapsed().as_secs_f64() * 1e3;
    steps.bar.inc(1);

    // Close the ledgers on-chain.
    steps.step("close", "both ledger channels on-chain");
    let who = [alice.address(), ingrid.address(), bob.address()];
    let before = balances(&chain, who).await?;
    alice.close_ledger(ai).await?;
    bob.close_ledger(bi).await?;
    for (n, id) in [(&alice, ai), (&bob, bi), (&ingrid, ai), (&ingrid, bi)] {
        n.wait_ledger_closed(id, STEP).await?;
    }
    let after = balances(&chain, who).await?;
    // Gas is free on the embedded chain: the difference is the payout.
    let payouts = [0, 1, 2].map(|k| wei(after[k].saturating_sub(before[k])));
    steps.bar.inc(1);
    steps.bar.finish_and_clear();

    let mut offchain_messages = 0;
    for n in [&alice, &ingrid, &bob] {
        offchain_messages += n.status().await?.stats.messages_sent;
    }
    for n in [&alice, &ingrid, &bob] {
        n.shutdown().await;
    }
    for t in &transports {
        t.shutdown().await;
    }
    // With the nodes and their handles gone, each event stream ends once its collector has read all of it.
    drop((alice, ingrid, bob));
    for c in collectors {
        let _ = c.await;
    }
    let txs = landed.lock().map(|v| v.clone()).unwrap_or_default();
    let gas_total = txs.iter().map(|(_, g)| g).sum();
    Ok(DemoReport {
        onchain: txs,
        gas_total,
        offchain_messages,
        payments: opts.payments,
        payments_per_second,
        open_latency_ms,
        settle_ms,
        rounds: opts.rounds,
        alice_game_net,
        payouts,
        deposits: [ETH_WEI, 2 * ETH_WEI, ETH_WEI],
    })
}

async fn wait_version(node: &Node, id: B256, version: u64) -> Result<()> {
    node.wait_until("the game move", STEP, |s| {
        s.virtual_channel(&id).is_some_and(|c| c.version >= version)
    })
    .await
    .map(|_| ())
}
