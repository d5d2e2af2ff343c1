//! `hub-scale`: what one hub's operations cost as its number of live virtual channels grows (issue 13).
//!
//! One hub ([`VirtualNode`] on a [`RedbStore`] file) with `--users` ledger channels (one per user, funded by
//! synthetic `Deposited` events as `ferry_simulations::virtual_net` does), filled with payment channels user → hub
//! → user up to each of `--sizes` live virtual channels, in process, with real signatures and no network. At each
//! size it measures, over `--samples` operations each run to completion, the hub's own CPU time
//! (`CLOCK_THREAD_CPUTIME_ID` around the hub's calls only) per virtual open, per ledger payment (a user pays the
//! hub; a voucher never reaches the hub), per settle (to the release of V at every member), per chain event and
//! per block, and per timer round (`poll_timeout` + `handle_timeout` with nothing due), each operation's figure
//! including the next timer round, which steps what it left for the clock; memory per live channel (the whole
//! process's RSS delta, users included, and the hub's alone, as a fresh process reopening its store, above the
//! same hub with no virtual channel); the records' bytes and the file's size; and the hub's restart time. The last
//! line is the ratio of the cost per open at the largest size to that at the smallest. README, "Benchmarks", has
//! the figures measured.
//!
//! ```text
//! cargo run --release -p ferry-simulations --bin hub-scale -- --sizes 1000,10000 --users 10000 --samples 50
//! ```
//!
//! The fill commits without fsync (a bulk load, [`RedbStore::set_durable`]); the measured operations commit
//! durably, as a hub does.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents as Event};
use ferry_ledger::protocol::{Config, LedgerNode, OpenPolicy, Phase};
use ferry_ledger::store::{MemoryStore, RedbStore, Store};
use ferry_ledger::{ChainContext, Signer};
use ferry_simulations::virtual_net::{
    CHALLENGE_DURATION, ETH, SYNTHETIC_ADJUDICATOR, SYNTHETIC_CHAIN_ID, SYNTHETIC_PAYMENT_APP,
};
use ferry_virtual::protocol::{AppKind, Message, OpenRequest, VirtualNode, VirtualPhase};

/// Each side's deposit in each user's ledger.
const DEPOSIT: u128 = 1_000_000_000_000_000_000_000;
/// A's balance in each virtual channel.
const V_BALANCE: u64 = 1_000;
/// redb's cache (MiB) when the hub's own state is measured.
const SMALL_CACHE_MIB: usize = 4;
/// The hub's key.
const HUB_SECRET: [u8; 32] = [0x11; 32];

fn usage() -> &'static str {
    "usage: hub-scale [--sizes 1000,10000,100000] [--users 10000] [--samples 100] [--batch 2000] [--dir PATH]"
}

/// What to run.
struct Args {
    sizes: Vec<usize>,
    users: usize,
    samples: usize,
    batch: usize,
    dir: Option<PathBuf>,
    /// Internal: reopen the hub's store at this path, print the time and the RSS it took, and exit.
    restart_child: Option<PathBuf>,
    /// Internal, with `--restart-child`: redb's cache (MiB).
    cache_mib: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![1_000, 10_000, 100_000],
        users: 10_000,
        samples: 100,
        batch: 2_000,
        dir: None,
        restart_child: None,
        cache_mib: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|e| format!("{flag}: {v:?} is not a number: {e}"))
        };
        match flag.as_str() {
            "--sizes" => {
                args.sizes = value()?
                    .split(',')
                    .map(|s| number(s.trim().to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--users" => args.users = number(value()?)?,
            "--samples" => args.samples = number(value()?)?,
            "--batch" => args.batch = number(value()?)?,
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--restart-child" => args.restart_child = Some(PathBuf::from(value()?)),
            "--cache-mib" => args.cache_mib = Some(number(value()?)?),
            "-h" | "--help" => return Err(usage().to_string()),
            other => return Err(format!("unknown flag {other}\n{}", usage())),
        }
    }
    if args.users < 3 || args.samples == 0 || args.batch == 0 || args.sizes.is_empty() {
        return Err(format!(
            "need at least 3 users, one sample, a batch and a size\n{}",
            usage()
        ));
    }
    if !args.sizes.is_sorted() {
        return Err("--sizes must grow".into());
    }
    Ok(args)
}

// ----------------------------------------------------------------------------------------------- clocks, memory

/// This thread's time on the CPU (ns): `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, exact to the nanosecond (unlike
/// `/proc/thread-self/schedstat`, which moves only at scheduler ticks), blind to time spent waiting on fsync.
struct CpuClock;

impl CpuClock {
    fn new() -> Self {
        Self
    }

    fn now_ns(&self) -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        u64::try_from(t.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
    }
}

/// The process's resident set (KiB), from `/proc/self/status`.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

// ----------------------------------------------------------------------------------------------- the net

fn ctx() -> ChainContext {
    ChainContext {
        chain_id: SYNTHETIC_CHAIN_ID,
        adjudicator: SYNTHETIC_ADJUDICATOR,
    }
}

fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(DEPOSIT),
            ..OpenPolicy::default()
        },
        ..Config::default()
    }
}

fn hub_signer() -> Result<Signer, String> {
    Signer::from_bytes(&B256::from(HUB_SECRET)).map_err(|e| format!("hub key: {e}"))
}

/// Opens the hub on its store file.
fn open_hub(path: &Path, now: u64) -> Result<VirtualNode<RedbStore>, String> {
    open_hub_cached(path, None, now)
}

/// Opens the hub on its store file, with redb's page cache capped at `cache` bytes (redb's default: `None`).
fn open_hub_cached(
    path: &Path,
    cache: Option<usize>,
    now: u64,
) -> Result<VirtualNode<RedbStore>, String> {
    let store = match cache {
        Some(bytes) => RedbStore::open_with_cache(path, bytes),
        None => RedbStore::open(path),
    }
    .map_err(|e| format!("hub store: {e}"))?;
    let ledger = LedgerNode::open_store(hub_signer()?, ctx(), config(), store, now)
        .map_err(|e| format!("hub ledger node: {e}"))?;
    let mut hub = VirtualNode::open_store(ledger, now).map_err(|e| format!("hub node: {e}"))?;
    hub.set_app(SYNTHETIC_PAYMENT_APP, AppKind::Payment);
    Ok(hub)
}

/// Where a message goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Hub,
    User(usize),
}

/// The hub, its users, the messages between them and the hub's CPU time.
struct Net {
    hub: VirtualNode<RedbStore>,
    hub_path: PathBuf,
    hub_addr: Address,
    users: Vec<VirtualNode<MemoryStore>>,
    by_addr: HashMap<Address, usize>,
    /// Each user's ledger with the hub.
    ledgers: Vec<B256>,
    /// Each user's deposits on-chain in its ledger (for made-up top-up events).
    deposited: Vec<U256>,
    queue: VecDeque<(Address, Who, Message)>,
    now: u64,
    block: u64,
    clock: CpuClock,
    /// The hub's CPU time so far (ns).
    hub_ns: u64,
    refused: usize,
    first_refusals: Vec<String>,
}

impl Net {
    fn who(&self, addr: &Address) -> Option<Who> {
        if *addr == self.hub_addr {
            Some(Who::Hub)
        } else {
            self.by_addr.get(addr).map(|i| Who::User(*i))
        }
    }

    fn refusal(&mut self, e: impl std::fmt::Display) {
        self.refused += 1;
        if self.first_refusals.len() < 5 {
            self.first_refusals.push(e.to_string());
        }
    }

    /// Runs `f` on the hub and drains what it produced, counting the hub's CPU time.
    fn on_hub<T>(&mut self, f: impl FnOnce(&mut VirtualNode<RedbStore>) -> T) -> T {
        let t0 = self.clock.now_ns();
        let out = f(&mut self.hub);
        let mut sent = Vec::new();
        while let Some(m) = self.hub.poll_transmit() {
            sent.push(m);
        }
        while self.hub.poll_tx().is_some() {}
        while self.hub.poll_event().is_some() {}
        self.hub_ns += self.clock.now_ns().saturating_sub(t0);
        for (to, msg) in sent {
            if let Some(w) = self.who(&to) {
                self.queue.push_back((self.hub_addr, w, msg));
            }
        }
        out
    }

    /// Runs `f` on user `i` and drains what it produced.
    fn on_user<T>(&mut self, i: usize, f: impl FnOnce(&mut VirtualNode<MemoryStore>) -> T) -> T {
        let user = &mut self.users[i];
        let out = f(user);
        let from = user.address();
        let mut sent = Vec::new();
        while let Some(m) = user.poll_transmit() {
            sent.push(m);
        }
        while user.poll_tx().is_some() {}
        while user.poll_event().is_some() {}
        for (to, msg) in sent {
            if let Some(w) = self.who(&to) {
                self.queue.push_back((from, w, msg));
            }
        }
        out
    }

    /// Delivers messages until none is left (the clock stands still).
    fn deliver(&mut self) {
        let now = self.now;
        while let Some((from, to, msg)) = self.queue.pop_front() {
            let r = match to {
                Who::Hub => self.on_hub(|h| h.handle_message(from, msg, now)),
                Who::User(i) => self.on_user(i, |u| u.handle_message(from, msg, now)),
            };
            if let Err(e) = r {
                self.refusal(e);
            }
        }
    }

    /// Fires every due timer (the clock moved by `ms` first), then delivers.
    fn tick(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        if self.hub.poll_timeout().is_some_and(|t| t <= now)
            && let Err(e) = self.on_hub(|h| h.handle_timeout(now))
        {
            self.refusal(e);
        }
        for i in 0..self.users.len() {
            if self.users[i].poll_timeout().is_some_and(|t| t <= now)
                && let Err(e) = self.on_user(i, |u| u.handle_timeout(now))
            {
                self.refusal(e);
            }
        }
        self.deliver();
    }

    /// Delivers, then ticks until `done` holds (at most 60 ticks of a second).
    fn settle_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) -> Result<(), String> {
        self.deliver();
        for _ in 0..60 {
            if done(self) {
                return Ok(());
            }
            self.tick(1_000);
        }
        if done(self) {
            return Ok(());
        }
        Err(format!(
            "{what} did not complete; {} messages refused, first: {:?}",
            self.refused, self.first_refusals
        ))
    }

    /// A synthetic chain event for the members named, at the next block.
    fn feed(&mut self, members: &[Who], event: &Event) -> Result<(), String> {
        self.block += 1;
        let (block, now) = (self.block, self.now);
        for w in members {
            match *w {
                Who::Hub => self.on_hub(|h| h.handle_chain_event(block, 0, event, now)),
                Who::User(i) => self.on_user(i, |u| u.handle_chain_event(block, 0, event, now)),
            }
            .map_err(|e| format!("chain event: {e}"))?;
        }
        Ok(())
    }

    fn deposited(id: B256, participant: u8, taken: U256, total: U256) -> Event {
        Event::Deposited(IAdjudicator::Deposited {
            channelId: id,
            asset: ETH,
            participant: U256::from(participant),
            taken,
            depositedTotal: total,
        })
    }

    /// The hub and `users` users, each with a funded ledger with the hub (the user opens it, both deposit).
    fn build(users: usize, dir: &Path) -> Result<Self, String> {
        let hub_path = dir.join("hub.redb");
        let _ = std::fs::remove_file(&hub_path);
        let mut hub = open_hub(&hub_path, 0)?;
        hub.ledger_mut().store_mut().set_durable(false);
        let hub_addr = hub.address();
        let mut nodes = Vec::with_capacity(users);
        let mut by_addr = HashMap::new();
        for i in 0..users {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            secret[31] = 0x5a;
            let key = Signer::from_bytes(&B256::from(secret)).map_err(|e| format!("key: {e}"))?;
            let ledger = LedgerNode::open_store(key, ctx(), config(), MemoryStore::new(), 0)
                .map_err(|e| format!("user ledger node: {e}"))?;
            let mut node = VirtualNode::open_store(ledger, 0).map_err(|e| format!("user: {e}"))?;
            node.set_app(SYNTHETIC_PAYMENT_APP, AppKind::Payment);
            by_addr.insert(node.address(), i);
            nodes.push(node);
        }
        let mut net = Net {
            hub,
            hub_path,
            hub_addr,
            users: nodes,
            by_addr,
            ledgers: Vec::with_capacity(users),
            deposited: vec![U256::ZERO; users],
            queue: VecDeque::new(),
            now: 0,
            block: 0,
            clock: CpuClock::new(),
            hub_ns: 0,
            refused: 0,
            first_refusals: Vec::new(),
        };
        let d = U256::from(DEPOSIT);
        for i in 0..users {
            let id = net
                .on_user(i, |u| {
                    u.ledger_mut()
                        .open(hub_addr, &[(ETH, [d, d])], CHALLENGE_DURATION, 0)
                })
                .map_err(|e| format!("user {i} opens its ledger: {e}"))?;
            net.ledgers.push(id);
        }
        net.deliver();
        for (p, total) in [(0u8, d), (1u8, d + d)] {
            for i in 0..users {
                let ev = Self::deposited(net.ledgers[i], p, d, total);
                net.feed(&[Who::User(i), Who::Hub], &ev)?;
            }
            net.deliver();
        }
        net.deposited = vec![d; users];
        for (i, id) in net.ledgers.iter().enumerate() {
            let at_hub = net.hub.ledger().channel(id).map(|c| c.phase());
            let at_user = net.users[i].ledger().channel(id).map(|c| c.phase());
            if at_hub != Some(Phase::Running) || at_user != Some(Phase::Running) {
                return Err(format!(
                    "ledger {i} not running ({at_hub:?} at the hub, {at_user:?} at the user); refused {}: {:?}",
                    net.refused, net.first_refusals
                ));
            }
        }
        Ok(net)
    }

    /// The ends of the `k`-th virtual channel: every user is A of about as many as it is B.
    fn ends(&self, k: usize) -> (usize, usize) {
        let u = self.users.len();
        let a = k % u;
        let b = (a + 1 + (k / u) % (u - 1)) % u;
        (a, b)
    }

    /// User `a` opens a payment channel to user `b` through the hub (the open is not delivered).
    fn open_v(&mut self, a: usize, b: usize) -> Result<B256, String> {
        let req = OpenRequest {
            path: vec![
                self.users[a].address(),
                self.hub_addr,
                self.users[b].address(),
            ],
            hops: vec![self.ledgers[a], self.ledgers[b]],
            app: SYNTHETIC_PAYMENT_APP,
            balances: vec![(ETH, [U256::from(V_BALANCE), U256::ZERO])],
            fees: vec![U256::ZERO; 3],
            challenge_duration: CHALLENGE_DURATION,
        };
        let now = self.now;
        self.on_user(a, |u| u.open(req, now))
            .map_err(|e| format!("open {a} -> {b}: {e}"))
    }

    fn phase_at_hub(&self, v: &B256) -> Option<VirtualPhase> {
        self.hub.channel(v).map(|c| c.phase())
    }

    fn all_open(&self, vs: &[(B256, usize, usize)]) -> bool {
        vs.iter().all(|(v, a, b)| {
            self.phase_at_hub(v) == Some(VirtualPhase::Open)
                && [a, b].iter().all(|i| {
                    self.users[**i].channel(v).map(|c| c.phase()) == Some(VirtualPhase::Open)
                })
        })
    }

    fn all_released(&self, vs: &[(B256, usize, usize)]) -> bool {
        vs.iter().all(|(v, a, b)| {
            self.phase_at_hub(v) == Some(VirtualPhase::Released)
                && [a, b].iter().all(|i| {
                    self.users[**i].channel(v).map(|c| c.phase()) == Some(VirtualPhase::Released)
                })
        })
    }
}

// ----------------------------------------------------------------------------------------------- measuring

/// The hub with its ledgers and no virtual channel, as a fresh process reopening its store saw it.
#[derive(Clone, Copy)]
struct Base {
    kib: u64,
    small_kib: u64,
    data: u64,
}

/// What was measured at one size (memory per channel: RSS above the hub with its ledgers and no channel).
struct Row {
    live: usize,
    open_us: f64,
    pay_us: f64,
    settle_us: f64,
    event_us: f64,
    block_us: f64,
    timer_us: f64,
    rss_per_ch: f64,
    hub_rss_per_ch: Option<f64>,
    hub_own_per_ch: Option<f64>,
    data_per_ch: Option<f64>,
    store_mib: f64,
    restart_s: f64,
    /// Messages the hub queued when it restarted (what it sends again).
    restart_msgs: usize,
    fill_s: f64,
}

/// The hub's CPU time (µs) per operation over `n` runs of `op`.
///
/// A clock input (a timer round) before the runs takes what earlier work left for it, unmeasured; one after them is
/// measured with them, as it steps what the runs left for the next clock input.
fn per_op(
    net: &mut Net,
    n: usize,
    mut op: impl FnMut(&mut Net, usize) -> Result<(), String>,
) -> Result<f64, String> {
    clock_round(net)?;
    let start = net.hub_ns;
    for k in 0..n {
        op(net, k)?;
    }
    clock_round(net)?;
    Ok((net.hub_ns - start) as f64 / 1_000.0 / n as f64)
}

/// A timer round at the hub at the current time, and what it sends delivered.
fn clock_round(net: &mut Net) -> Result<(), String> {
    let now = net.now;
    net.on_hub(|h| h.handle_timeout(now))
        .map_err(|e| format!("timeout: {e}"))?;
    net.deliver();
    Ok(())
}

/// What a fresh process reopening the hub's store saw.
#[derive(Clone, Copy)]
struct Reopen {
    /// Seconds to open the hub.
    secs: f64,
    /// KiB of RSS the open took.
    kib: u64,
    /// Bytes of keys and values in the store.
    data: u64,
}

/// Reopens the hub's store in a fresh process (this binary with `--restart-child`), redb's cache capped at
/// `cache_mib` (its default: `None`).
fn reopen_in_child(path: &Path, cache_mib: Option<usize>) -> Option<Reopen> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--restart-child").arg(path);
    if let Some(mib) = cache_mib {
        cmd.arg("--cache-mib").arg(mib.to_string());
    }
    let out = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    Some(Reopen {
        secs: parts.next()?.parse().ok()?,
        kib: parts.next()?.parse().ok()?,
        data: parts.next()?.parse().ok()?,
    })
}

fn restart_child(path: &Path, cache_mib: Option<usize>) -> Result<(), String> {
    let before = rss_kib();
    let t = Instant::now();
    let hub = open_hub_cached(path, cache_mib.map(|m| m << 20), 0)?;
    let secs = t.elapsed().as_secs_f64();
    let after = rss_kib();
    let mut data = 0u64;
    for ns in [
        ferry_ledger::protocol::NS_CHANNELS,
        ferry_ledger::protocol::NS_LEAVES,
        ferry_ledger::protocol::NS_CURSOR,
        ferry_virtual::protocol::NS_VIRTUAL,
        ferry_virtual::protocol::NS_PRUNED,
    ] {
        let rows = hub
            .ledger()
            .store()
            .scan(ns, &[])
            .map_err(|e| format!("scan {ns}: {e}"))?;
        data += rows
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>();
    }
    println!("{secs} {} {data}", after.saturating_sub(before));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn measure(
    net: &mut Net,
    base: Base,
    args: &Args,
    live: &mut Vec<(B256, usize, usize)>,
    next_k: &mut usize,
    size: usize,
    rss0: u64,
) -> Result<Row, String> {
    // Fill to `size` live virtual channels, in batches (bulk load: no fsync).
    let t = Instant::now();
    net.hub.ledger_mut().store_mut().set_durable(false);
    while live.len() < size {
        let n = args.batch.min(size - live.len());
        let mut batch = Vec::with_capacity(n);
        for _ in 0..n {
            let (a, b) = net.ends(*next_k);
            *next_k += 1;
            let v = net.open_v(a, b)?;
            batch.push((v, a, b));
        }
        net.settle_until("a batch of opens", |n| n.all_open(&batch))?;
        live.extend(batch);
        eprint!("\r  filled {} / {size}", live.len());
    }
    eprintln!();
    let fill_s = t.elapsed().as_secs_f64();
    net.hub.ledger_mut().store_mut().set_durable(true);
    // A durable commit (a block's cursor) ends the bulk load: redb frees the pages the fill's commits left.
    net.block += 1;
    let (block, now) = (net.block, net.now);
    net.on_hub(|h| h.handle_block(block, block * 12, now))
        .map_err(|e| format!("block: {e}"))?;
    net.deliver();
    let rss_per_ch = (rss_kib().saturating_sub(rss0) as f64 * 1024.0) / live.len() as f64;

    // Opens, one at a time, each to `Open` at every member.
    let samples = args.samples;
    let mut opened = Vec::new();
    let open_us = per_op(net, samples, |net, _| {
        let (a, b) = net.ends(*next_k);
        *next_k += 1;
        let v = net.open_v(a, b)?;
        let one = [(v, a, b)];
        net.settle_until("an open", |n| n.all_open(&one))?;
        opened.push((v, a, b));
        Ok(())
    })?;
    live.extend(opened);

    // Ledger payments: a user pays the hub 1 wei (the user leads its ledger: a proposal the hub countersigns).
    let pay_us = per_op(net, samples, |net, k| {
        let i = (k * 7919) % net.users.len();
        let (id, now) = (net.ledgers[i], net.now);
        net.on_user(i, |u| u.ledger_mut().pay(id, ETH, U256::from(1), now))
            .map_err(|e| format!("ledger payment: {e}"))?;
        net.deliver();
        Ok(())
    })?;

    // Chain events (a user's top-up landing) and blocks, at the hub only.
    clock_round(net)?;
    let mut event_ns = 0u64;
    let mut block_ns = 0u64;
    for k in 0..samples {
        let i = (k * 104_729) % net.users.len();
        net.deposited[i] += U256::from(1);
        let ev = Net::deposited(net.ledgers[i], 0, U256::from(1), net.deposited[i]);
        let h0 = net.hub_ns;
        net.feed(&[Who::Hub], &ev)?;
        let h1 = net.hub_ns;
        let (block, now) = (net.block, net.now);
        net.on_hub(|h| h.handle_block(block, block * 12, now))
            .map_err(|e| format!("block: {e}"))?;
        event_ns += h1 - h0;
        block_ns += net.hub_ns - h1;
        net.deliver();
    }
    let event_us = event_ns as f64 / 1_000.0 / samples as f64;
    let block_us = block_ns as f64 / 1_000.0 / samples as f64;

    // Timer rounds with nothing due: what the loop pays to ask for the next timer and handle the clock.
    let timer_us = per_op(net, samples, |net, _| {
        let now = net.now;
        net.on_hub(|h| {
            let _ = h.poll_timeout();
            h.handle_timeout(now)
        })
        .map_err(|e| format!("timeout: {e}"))?;
        net.deliver();
        Ok(())
    })?;

    // Settles of the oldest live channels, each to its release at every member.
    let settled: Vec<_> = live.drain(..samples.min(live.len())).collect();
    let settle_us = per_op(net, settled.len(), |net, k| {
        let (v, a, b) = settled[k];
        let now = net.now;
        net.on_user(a, |u| u.settle(v, now))
            .map_err(|e| format!("settle: {e}"))?;
        net.settle_until("a settle", |n| n.all_released(&[(v, a, b)]))
    })?;
    // Keep the live count at `size`.
    while live.len() < size {
        let (a, b) = net.ends(*next_k);
        *next_k += 1;
        let v = net.open_v(a, b)?;
        live.push((v, a, b));
    }
    net.settle_until("refill", |n| {
        n.all_open(&live[live.len().saturating_sub(samples)..])
    })?;

    // Store size, the hub's own memory and its restart (in a fresh process), then reopen it here.
    let store_mib = std::fs::metadata(&net.hub_path)
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
        .unwrap_or(0.0);
    let (child, small, restart_s, restart_msgs) = restart(net)?;
    let per_ch = |now: Option<u64>, base: u64, unit: f64| {
        now.map(|v| v.saturating_sub(base) as f64 * unit / live.len() as f64)
    };
    Ok(Row {
        live: live.len(),
        open_us,
        pay_us,
        settle_us,
        event_us,
        block_us,
        timer_us,
        rss_per_ch,
        hub_rss_per_ch: per_ch(child.map(|c| c.kib), base.kib, 1024.0),
        hub_own_per_ch: per_ch(small.map(|c| c.kib), base.small_kib, 1024.0),
        data_per_ch: per_ch(small.map(|c| c.data), base.data, 1.0),
        store_mib,
        restart_s: child.map_or(restart_s, |c| c.secs),
        restart_msgs,
        fill_s,
    })
}

/// Closes the hub, reopens its store in a fresh process (its time and RSS there) and then here: (the child's
/// seconds and KiB, this process's seconds, the messages the restarted hub queued).
fn restart(net: &mut Net) -> Result<(Option<Reopen>, Option<Reopen>, f64, usize), String> {
    let placeholder = open_placeholder(net)?;
    let old = std::mem::replace(&mut net.hub, placeholder);
    drop(old.into_store());
    let child = reopen_in_child(&net.hub_path, None);
    let small = reopen_in_child(&net.hub_path, Some(SMALL_CACHE_MIB));
    let t = Instant::now();
    let mut hub = open_hub(&net.hub_path, net.now)?;
    let restart_s = t.elapsed().as_secs_f64();
    // What the restart sends again (only what is in flight: the users hold the rest already).
    let mut msgs = 0;
    while hub.poll_transmit().is_some() {
        msgs += 1;
    }
    while hub.poll_tx().is_some() {}
    while hub.poll_event().is_some() {}
    net.hub = hub;
    Ok((child, small, restart_s, msgs))
}

/// An empty hub in memory, standing in while the real one is closed.
fn open_placeholder(_net: &Net) -> Result<VirtualNode<RedbStore>, String> {
    let store = RedbStore::in_memory().map_err(|e| format!("placeholder store: {e}"))?;
    let ledger = LedgerNode::open_store(hub_signer()?, ctx(), config(), store, 0)
        .map_err(|e| format!("placeholder: {e}"))?;
    VirtualNode::open_store(ledger, 0).map_err(|e| format!("placeholder: {e}"))
}

fn run(args: &Args) -> Result<(), String> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("hub-scale-{}", std::process::id()));
            tmp.clone()
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let rss_start = rss_kib();
    let t = Instant::now();
    eprintln!("building the hub with {} funded ledgers ...", args.users);
    let mut net = Net::build(args.users, &dir)?;
    eprintln!("  {:.1} s", t.elapsed().as_secs_f64());
    // The hub's own memory with its ledgers and no virtual channel (a fresh process reopening its store).
    let (child0, small0, _, _) = restart(&mut net)?;
    let base = Base {
        kib: child0.map_or(0, |c| c.kib),
        small_kib: small0.map_or(0, |c| c.kib),
        data: small0.map_or(0, |c| c.data),
    };
    let rss0 = rss_kib();
    eprintln!(
        "  RSS {} MiB for the hub and {} users with their ledgers",
        rss0.saturating_sub(rss_start) / 1024,
        args.users
    );
    let mut live = Vec::new();
    let mut next_k = 0usize;
    let mut rows = Vec::new();
    println!(
        "| live V | open µs | pay µs | settle µs | event µs | block µs | timer µs | RSS B/ch (all) | hub B/ch | \
         hub own B/ch | data B/ch | file MiB | restart s | restart msgs | fill s |"
    );
    println!("|{}", " ---: |".repeat(15));
    let opt = |v: Option<f64>| v.map_or("?".to_string(), |b| format!("{b:.0}"));
    for &size in &args.sizes {
        let row = measure(&mut net, base, args, &mut live, &mut next_k, size, rss0)?;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} | {:.0} | {} | {} | {} | {:.1} | {:.2} | {} | {:.0} |",
            row.live,
            row.open_us,
            row.pay_us,
            row.settle_us,
            row.event_us,
            row.block_us,
            row.timer_us,
            row.rss_per_ch,
            opt(row.hub_rss_per_ch),
            opt(row.hub_own_per_ch),
            opt(row.data_per_ch),
            row.store_mib,
            row.restart_s,
            row.restart_msgs,
            row.fill_s
        );
        rows.push(row);
    }
    if net.refused > 0 {
        eprintln!(
            "{} messages refused (duplicates are normal), first: {:?}",
            net.refused, net.first_refusals
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!(
            "ratio of cost per open, {} to {} live: {:.2}",
            last.live,
            first.live,
            last.open_us / first.open_us
        );
    }
    if args.dir.is_none() {
        drop(net);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match &args.restart_child {
        Some(path) => restart_child(path, args.cache_mib),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
