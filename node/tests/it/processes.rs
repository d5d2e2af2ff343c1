//! Process-level tests: three `ferry node` processes (Alice, an intermediary, Bob) over loopback QUIC against a
//! real anvil, driven only through their JSON-RPC APIs. The contracts are deployed with `ferry deploy`.
//!
//! - the full happy path: ledgers funded, a virtual channel opened, paid, settled, ledgers closed; every payout
//!   checked on-chain;
//! - crash safety: a node is killed with SIGKILL in the middle of a virtual open, a payment stream and a settle,
//!   and restarted from its store; everything completes and no funds are lost;
//! - a dispute: Bob is killed for good after payments; Alice and the intermediary recover their funds on-chain
//!   (V challenged with its funding certificate, the intermediary's ledger with Bob challenged and V's leaf
//!   claimed).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, U256};
use ferry_node::adjudicator::{Chain, RpcChain, RpcConfig};
use ferry_node::cli::config::DEFAULT_CHALLENGE_BOND;
use ferry_node::rpc::{self, FerryApiClient};
use ferry_node::runtime::{NodeStatus, OpenVirtual};
use ferry_virtual::protocol::{AppKind, VirtualPhase};
use jsonrpsee::http_client::HttpClient;

pub(crate) const ETH: Address = Address::ZERO;
const TOKEN: &str = "process-test-token-0123";
pub(crate) const WEI: u128 = 1_000_000_000_000_000_000;

fn anvil(block_time: Option<u64>) -> AnvilInstance {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    assert!(
        bin.exists(),
        "anvil is missing at {}: run `npm ci` at the repository root",
        bin.display()
    );
    let anvil = Anvil::at(bin)
        .host("127.0.0.1")
        .port(0u16)
        .chain_id(31337u64);
    match block_time {
        Some(secs) => anvil.block_time(secs),
        None => anvil,
    }
    .try_spawn()
    .unwrap()
}

fn key_hex(anvil: &AnvilInstance, i: usize) -> String {
    format!("0x{}", hex::encode(anvil.keys()[i].to_bytes()))
}

/// `ferry deploy`: the addresses, as node.toml lines.
fn deploy(anvil: &AnvilInstance, dir: &Path) -> String {
    let key = dir.join("deployer.key");
    std::fs::write(&key, key_hex(anvil, 0)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["deploy", "--chain", &anvil.endpoint(), "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("adjudicator = \"0x"), "{text}");
    text
}

pub(crate) struct Proc {
    name: &'static str,
    dir: PathBuf,
    child: Child,
    pub(crate) api: HttpClient,
    pub(crate) quic: String,
    pub(crate) address: Address,
}

impl Proc {
    /// Starts `ferry node` with its config in `dir` (written on the first start), and waits for its line on
    /// stdout.
    fn start(
        name: &'static str,
        dir: &Path,
        chain: &str,
        deployed: &str,
        key: &str,
        ledger_extra: &str,
    ) -> Proc {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("node.toml");
        if !config.exists() {
            std::fs::write(dir.join("node.key"), key).unwrap();
            std::fs::write(
                &config,
                format!(
                    "chain = \"{chain}\"\n{deployed}\nkey_file = \"node.key\"\ndata_dir = \"data\"\n\
                     listen = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n\n\
                     [ledger]\nmax_own_deposit = \"100000000000000000000\"\npeer_timeout_ms = 3000\nmin_challenge = 10\n\
                     {ledger_extra}\n"
                ),
            )
            .unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["node", "--config"])
            .arg(&config)
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "ferry node 0x… listening on 127.0.0.1:P (QUIC), API on http://127.0.0.1:Q"
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(words.len() >= 9, "{name}: unexpected first line {line:?}");
        let address: Address = words[2].parse().unwrap();
        let quic = words[5].to_string();
        let api_url = words[words.len() - 1].to_string();
        let api = rpc::http_client(&api_url, TOKEN).unwrap();
        Proc {
            name,
            dir: dir.parent().unwrap().to_path_buf(),
            child,
            api,
            quic,
            address,
        }
    }

    /// The process's resident memory, in bytes (Linux `/proc`).
    pub(crate) fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1_024
    }

    pub(crate) fn kill(&mut self) {
        // SIGKILL: no shutdown, no flush; only what the store committed survives.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) async fn status(&self) -> NodeStatus {
        self.api.status().await.unwrap()
    }

    pub(crate) async fn wait(&self, what: &str, f: impl Fn(&NodeStatus) -> bool) -> NodeStatus {
        for _ in 0..1_200 {
            if let Ok(s) = self.api.status().await
                && f(&s)
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{}: timed out waiting for {what}: {:#?}",
            self.name,
            self.status().await
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every node learns where the others listen.
pub(crate) async fn introduce(nodes: &[&Proc]) {
    for a in nodes {
        for b in nodes {
            if a.address != b.address {
                a.api.add_peer(b.address, b.quic.clone()).await.unwrap();
            }
        }
    }
}

pub(crate) struct World {
    anvil: AnvilInstance,
    pub(crate) chain: RpcChain,
    dir: tempfile::TempDir,
    deployed: String,
}

impl World {
    pub(crate) async fn new() -> World {
        Self::with_block_time(None).await
    }

    /// A world on an anvil that mines a block every `block_time` seconds (`None`: one per transaction).
    pub(crate) async fn with_block_time(block_time: Option<u64>) -> World {
        let anvil = anvil(block_time);
        let dir = tempfile::tempdir().unwrap();
        let deployed = deploy(&anvil, dir.path());
        let adjudicator: Address = deployed
            .lines()
            .find_map(|l| l.strip_prefix("adjudicator = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .parse()
            .unwrap();
        let mut cfg = RpcConfig::new(
            anvil.endpoint(),
            31337,
            vec![B256::from_slice(&anvil.keys()[9].to_bytes())],
        );
        cfg.adjudicator = Some(adjudicator);
        let chain = RpcChain::connect(cfg).await.unwrap();
        World {
            anvil,
            chain,
            dir,
            deployed,
        }
    }

    pub(crate) fn start(&self, name: &'static str, key: usize) -> Proc {
        self.start_with(name, key, "")
    }

    /// Starts a node with more `[ledger]` settings (TOML lines).
    pub(crate) fn start_with(&self, name: &'static str, key: usize, ledger_extra: &str) -> Proc {
        Proc::start(
            name,
            self.dir.path(),
            &self.anvil.endpoint(),
            &self.deployed,
            &key_hex(&self.anvil, key),
            ledger_extra,
        )
    }

    pub(crate) fn restart(&self, p: &mut Proc) {
        p.kill();
        let name = p.name;
        let fresh = Proc::start(name, &p.dir, &self.anvil.endpoint(), &self.deployed, "", "");
        let _ = std::mem::replace(p, fresh);
    }

    pub(crate) async fn balance(&self, a: Address) -> U256 {
        self.chain.balance(a).await.unwrap()
    }

    /// Ledgers A–I and B–I, 10 ETH each side.
    pub(crate) async fn ledgers(&self, a: &Proc, i: &Proc, b: &Proc) -> (B256, B256) {
        let amounts = vec![(ETH, [U256::from(10 * WEI), U256::from(10 * WEI)])];
        let ai = a
            .api
            .open_ledger(i.address, amounts.clone(), 60)
            .await
            .unwrap();
        let bi = b.api.open_ledger(i.address, amounts, 60).await.unwrap();
        for (n, id) in [(a, ai), (i, ai), (b, bi), (i, bi)] {
            n.wait("the ledger to run", |s| {
                s.ledger(&id).is_some_and(|l| l.phase == "running")
            })
            .await;
        }
        (ai, bi)
    }
}

pub(crate) fn open_req(
    a: &Proc,
    i: &Proc,
    b: &Proc,
    hops: (B256, B256),
    amount: u128,
) -> OpenVirtual {
    OpenVirtual {
        path: vec![a.address, i.address, b.address],
        hops: vec![hops.0, hops.1],
        app: AppKind::Payment,
        balances: vec![(ETH, [U256::from(amount), U256::ZERO])],
        fees: vec![],
        challenge_duration: 30,
    }
}

pub(crate) fn phase_at_least(s: &NodeStatus, v: &B256, p: VirtualPhase) -> bool {
    let rank = |p: VirtualPhase| p as u8;
    s.virtual_channel(v)
        .is_some_and(|c| c.phase != VirtualPhase::Aborted && rank(c.phase) >= rank(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_happy_path_and_crash_recovery_on_anvil() {
    let w = World::new().await;
    let mut a = w.start("alice", 1);
    let i = w.start("ingrid", 2);
    let mut b = w.start("bob", 3);
    introduce(&[&a, &i, &b]).await;
    let hops = w.ledgers(&a, &i, &b).await;
    let start = [w.balance(a.address).await, w.balance(b.address).await];

    // A virtual open, with Bob killed while it runs and restarted from his store.
    let v = a
        .api
        .open_virtual(open_req(&a, &i, &b, hops, 2 * WEI))
        .await
        .unwrap();
    w.restart(&mut b);
    introduce(&[&a, &i, &b]).await;
    for n in [&a, &i, &b] {
        n.wait("V to open", |s| phase_at_least(s, &v, VirtualPhase::Open))
            .await;
    }

    // A payment stream with Alice killed in the middle.
    let each = U256::from(WEI / 100);
    for _ in 0..20 {
        a.api.pay(v, ETH, each).await.unwrap();
    }
    w.restart(&mut a);
    introduce(&[&a, &i, &b]).await;
    for _ in 0..20 {
        a.api.pay(v, ETH, each).await.unwrap();
    }
    let total = each * U256::from(40);
    b.wait("Bob to count 40 payments", |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances[0].theirs == total)
    })
    .await;

    // A settle, with Bob killed right after asking for it.
    b.api.settle(v).await.unwrap();
    w.restart(&mut b);
    introduce(&[&a, &i, &b]).await;
    for n in [&a, &i, &b] {
        n.wait("V to be released", |s| {
            phase_at_least(s, &v, VirtualPhase::Released)
        })
        .await;
    }

    // Close both ledgers; the payouts are exact (anvil charges gas: compare ledger balances with the chain).
    let sa = a.status().await.ledger(&hops.0).unwrap().balances[0].clone();
    assert_eq!(sa.mine, U256::from(10 * WEI) - total);
    a.api.close_ledger(hops.0).await.unwrap();
    b.api.close_ledger(hops.1).await.unwrap();
    for (n, id) in [(&a, hops.0), (&b, hops.1)] {
        n.wait("the ledger to close", |s| {
            s.ledger(&id).is_none_or(|l| l.phase == "closed")
        })
        .await;
    }
    let end = [w.balance(a.address).await, w.balance(b.address).await];
    // Alice got back 10 ETH − 0.4 ETH (minus gas, below 0.01 ETH); Bob got 10.4 ETH.
    let gas_cap = U256::from(WEI / 100);
    let a_gain = end[0] - start[0];
    let a_due = U256::from(10 * WEI) - total;
    assert!(a_gain + gas_cap >= a_due && a_gain <= a_due, "{a_gain}");
    let b_gain = end[1] - start[1];
    let b_due = U256::from(10 * WEI) + total;
    assert!(b_gain + gas_cap >= b_due && b_gain <= b_due, "{b_gain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_dispute_when_bob_dies_for_good() {
    let w = World::new().await;
    let a = w.start("alice", 1);
    let i = w.start("ingrid", 2);
    let mut b = w.start("bob", 3);
    introduce(&[&a, &i, &b]).await;
    let hops = w.ledgers(&a, &i, &b).await;
    let v = a
        .api
        .open_virtual(open_req(&a, &i, &b, hops, 2 * WEI))
        .await
        .unwrap();
    for n in [&a, &i, &b] {
        n.wait("V to open", |s| phase_at_least(s, &v, VirtualPhase::Open))
            .await;
    }
    // S17: the opener's default bond is in V's params and in every ledger's, as `status` shows.
    let bond = U256::from(DEFAULT_CHALLENGE_BOND);
    let sa = a.status().await;
    assert_eq!(sa.virtual_channel(&v).unwrap().challenge_bond, bond);
    assert_eq!(sa.ledger(&hops.0).unwrap().challenge_bond, bond);
    let paid = U256::from(WEI / 2);
    a.api.pay(v, ETH, paid).await.unwrap();
    b.wait("Bob to be paid", |s| {
        s.virtual_channel(&v)
            .is_some_and(|c| c.balances[0].theirs == paid)
    })
    .await;
    b.kill();

    // Alice challenges V with its funding certificate and her latest state; the window passes.
    a.api.challenge_virtual(v).await.unwrap();
    // Alice's deposit, then her challenge of V.
    a.wait("V's challenge to land", |s| s.stats.txs_landed >= 2)
        .await;
    // S17: the challenge sent the bond the opener (Alice, the nodes' default) wrote into V's params.
    assert_eq!(
        bond_held(&w.chain, v).await,
        (a.address, U256::from(DEFAULT_CHALLENGE_BOND))
    );
    w.chain.advance_time(31).await.unwrap();
    // Alice and Ingrid settle V's leaf in their ledger from V's on-chain outcome; Ingrid's ledger with the dead
    // Bob is challenged (peer timeout) and V's leaf claimed there once its window passes.
    a.wait("V's leaf to leave A–I", |s| {
        s.ledger(&hops.0).is_some_and(|l| l.sub_channels == 0)
    })
    .await;
    i.wait("Ingrid to challenge her ledger with Bob", |s| {
        s.ledger(&hops.1).is_some_and(|l| l.phase != "running")
    })
    .await;
    w.chain.advance_time(61).await.unwrap();
    i.wait("Ingrid's ledger with Bob to close", |s| {
        s.ledger(&hops.1).is_some_and(|l| l.phase == "closed")
    })
    .await;
    // Alice holds at least her latest balance (10 − 0.5 ETH) in her ledger: all of it here, since Bob died before
    // redeeming her voucher on-chain; Ingrid is whole; then the ledger closes cooperatively.
    let sa = a.status().await.ledger(&hops.0).unwrap().balances[0].clone();
    assert!(sa.mine >= U256::from(10 * WEI) - paid, "{sa:?}");
    assert_eq!(sa.mine + sa.theirs, U256::from(20 * WEI));
    assert!(sa.theirs >= U256::from(10 * WEI), "{sa:?}");
    let before = w.balance(a.address).await;
    a.api.close_ledger(hops.0).await.unwrap();
    a.wait("A–I to close", |s| {
        s.ledger(&hops.0).is_none_or(|l| l.phase == "closed")
    })
    .await;
    let gain = w.balance(a.address).await + U256::from(WEI / 100) - before;
    assert!(gain >= sa.mine, "{gain}");
    // Nothing of the two ledgers is left in the adjudicator but Bob's own due (paid out on the withdraw).
    let held = w.chain.holdings(hops.1, ETH).await.unwrap().held();
    assert_eq!(held, U256::ZERO);
    // S17: Alice's challenge of V and Ingrid's of her ledger with Bob finalized: each node took its bond back.
    for (id, who) in [
        (v, "Alice's bond on V"),
        (hops.1, "Ingrid's bond on her ledger with Bob"),
    ] {
        let mut left = 600;
        while bond_held(&w.chain, id).await.1 != U256::ZERO {
            left -= 1;
            assert!(left > 0, "{who} was never reclaimed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The challenge bond the adjudicator holds for a channel (S17): `(poster, amount)`.
async fn bond_held(chain: &RpcChain, id: B256) -> (Address, U256) {
    use alloy::sol_types::SolCall;
    use ferry_ledger::contracts::IAdjudicator::bondOfCall;
    let out = chain
        .call(
            chain.adjudicator(),
            bondOfCall { channelId: id }.abi_encode().into(),
        )
        .await
        .unwrap();
    let r = bondOfCall::abi_decode_returns(&out).unwrap();
    (r.poster, r.amount)
}
