//! Virtual channels opened, paid through and settled, each beside the signature-cost limit measured in the same run.
//!
//! A path of [`VirtualNode`]s (A, the intermediaries, B) with one ETH ledger channel between each pair of
//! neighbours, opened through the real ledger protocol and funded without a chain by synthetic `Deposited`
//! adjudicator events (1 ETH per side per ledger). Every node runs on a [`MemoryStore`]; messages are moved between
//! the nodes in memory (no network), always with the same local time, so no timer ever fires. What is timed is
//! everything else the protocol costs: EIP-712 hashing, secp256k1 signing and recovery, the ledger updates that add
//! and remove V's leaves, the sub-channel tree, and the bincode encoding and store commit each input makes.
//!
//! Benchmarks:
//! - `virtual/open/1_intermediary`, `virtual/open/3_intermediaries`: one open (`A.open`, then messages are pumped
//!   until every node is quiet; then every member holds V as `Open`), including the ledger updates that add V's
//!   leaf to each ledger on the path. After each timed open, V is settled untimed, so every open starts from the same
//!   number of live virtual channels (none). One element = one open.
//! - `virtual/open_batch_100/1_intermediary`: 100 `A.open` issued before pumping: the members work on them
//!   concurrently and the ledgers batch the leaves. One element = one open (100 per iteration).
//! - `virtual/pay/one_voucher`: one payment through an open V on A–I–B: `A.pay(1 wei)` and the delivery of its
//!   single voucher message to B (payments go endpoint to endpoint, no intermediary is involved). One element = one
//!   payment.
//! - `virtual/settle/1_intermediary`: V opened untimed, then `A.settle` and messages pumped until every member
//!   has V `Released` (the final signed by the whole path and every leaf paid out in the ledgers). One element =
//!   one settle.
//! - `limit/voucher_sign_plus_recover`: what one payment must cost at least: the payer signs a voucher (EIP-712 +
//!   secp256k1) and the payee recovers it (`sign_voucher` + `verify_voucher`).
//! - `limit/state_sign_plus_recover`: one EIP-712 signature on a state of V and one recovery.
//! - `profile/pay_only`, `profile/voucher_handle_only`: the two halves of `virtual/pay/one_voucher` (the payer's
//!   `pay`, the payee's `handle_message`); `profile/voucher_sign`, `profile/voucher_recover`: the two halves of the
//!   voucher limit; `profile/record_encode_commit`: the bincode encoding of a V record and its commit to a
//!   `MemoryStore`, which each input makes for each virtual channel it touches.
//!
//! Printed alongside:
//! - `paired (…)`: payments and the voucher limit timed alternately, one of each per round, so both see the same
//!   machine load (criterion measures them a minute apart, which on a shared machine can move either by 20%); the
//!   ratio of their medians is how close payments come to the limit.
//! - per open / settle bench: messages, ledger updates per ledger of the path, and duplicate leaf requests per
//!   operation. A duplicate leaf request is a member asking its ledger again for a leaf it already placed; its own
//!   ledger refuses it (`LedgerEvent::Refused`, "already in the table") and nothing changes. Members ask only while
//!   the leaf is not in their table, so this stays 0; the bench counts those apart and fails on any other refusal.
//!
//! Everything is CPU-bound. Run it with `cargo bench -p ferry-virtual --bench virtual_channels` (about two
//! minutes; HTML reports land in `target/criterion`), one group with e.g.
//! `cargo bench -p ferry-virtual --bench virtual_channels -- virtual/pay`, or once as a smoke test with
//! `cargo test -p ferry-virtual --benches`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ferry_ledger::app::payment::{sign_voucher, verify_voucher, voucher};
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents};
use ferry_ledger::protocol::{Config, LedgerEvent, LedgerNode, Op, OpenPolicy, Phase};
use ferry_ledger::signature::recover;
use ferry_ledger::store::{Batch, MemoryStore, Store, encode};
use ferry_ledger::{ChainContext, ChannelParams, Signer};
use ferry_virtual::protocol::{
    AppKind, Message, NS_VIRTUAL, OpenRequest, VirtualEvent, VirtualNode, VirtualPhase,
};

const ETH: Address = Address::ZERO;
/// The payment app's address (every node knows it as the payment app).
const APP: Address = Address::repeat_byte(0xaa);
/// Each side's deposit in each ledger: 1 ETH.
const DEPOSIT: u64 = 1_000_000_000_000_000_000;
/// A's and B's balance in each virtual channel: 0.001 ETH, so a thousand live V's fit in a ledger, and any
/// number of 1-wei payments in one V.
const V_BALANCE: u64 = 1_000_000_000_000_000;
const CHALLENGE_DURATION: u64 = 3_600;
/// Local time (ms); constant, so no resend or retry timer is ever due.
const NOW: u64 = 1_000;
/// Opens issued before pumping in `open_batch_100`.
const BATCH: usize = 100;
/// Rounds of the paired payment / voucher-limit measurement.
const PAIRED_ROUNDS: u64 = 300;

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
        ..Config::default()
    }
}

/// What one pump saw.
#[derive(Debug, Default, Clone)]
struct Pumped {
    /// Messages delivered.
    messages: usize,
    /// `Refused` events and refused messages, virtual or ledger, on any node.
    refused: usize,
    /// Why, for the first few.
    reasons: Vec<String>,
    /// Duplicate leaf requests a member's own ledger refused.
    duplicate_adds: usize,
    /// Transactions asked for (none is expected: virtual channels live off-chain).
    txs: usize,
}

impl Pumped {
    fn refuse(&mut self, reason: String) {
        self.refused += 1;
        if self.reasons.len() < 8 {
            self.reasons.push(reason);
        }
    }
}

/// A path of members with a funded ledger between each pair of neighbours.
struct Net {
    nodes: Vec<VirtualNode<MemoryStore>>,
    addrs: Vec<Address>,
    keys: Vec<Signer>,
    /// `hops[k]`: the ledger between members k and k + 1.
    hops: Vec<B256>,
    stats: Stats,
}

/// Totals over one kind of operation (opens or settles), for the per-operation averages printed after a bench.
#[derive(Debug, Default, Clone)]
struct Tally {
    ops: usize,
    messages: usize,
    duplicate_adds: usize,
    /// Per ledger of the path.
    ledger_updates: Vec<u64>,
}

impl Tally {
    fn add(&mut self, ops: usize, seen: &Pumped, before: &[u64], after: &[u64]) {
        self.ops += ops;
        self.messages += seen.messages;
        self.duplicate_adds += seen.duplicate_adds;
        self.ledger_updates.resize(after.len(), 0);
        for (total, (b, a)) in self.ledger_updates.iter_mut().zip(before.iter().zip(after)) {
            *total += a - b;
        }
    }

    fn report(&self, what: &str) {
        let per = |x: f64| x / self.ops.max(1) as f64;
        let updates: Vec<String> = self
            .ledger_updates
            .iter()
            .map(|u| format!("{:.3}", per(*u as f64)))
            .collect();
        println!(
            "{what}: {} ops; per op {:.2} messages, ledger updates [{}] (per ledger of the path), {:.3} \
             duplicate leaf requests refused by the requester's own ledger",
            self.ops,
            per(self.messages as f64),
            updates.join(", "),
            per(self.duplicate_adds as f64),
        );
    }
}

#[derive(Debug, Default, Clone)]
struct Stats {
    open: Tally,
    settle: Tally,
}

fn deposited(id: B256, participant: u8, total: u64) -> IAdjudicatorEvents {
    IAdjudicatorEvents::Deposited(IAdjudicator::Deposited {
        channelId: id,
        asset: ETH,
        participant: U256::from(participant),
        taken: U256::from(DEPOSIT),
        depositedTotal: U256::from(total),
    })
}

impl Net {
    /// `n` members, ledgers opened alternately by the left and the right member (so the member on A's side is
    /// sometimes participant 1 of its ledger), each funded with [`DEPOSIT`] per side.
    fn path(n: usize) -> Self {
        let keys: Vec<Signer> = (0..n).map(|_| Signer::random()).collect();
        let addrs = keys.iter().map(Signer::address).collect();
        let nodes = keys
            .iter()
            .map(|k| {
                let ledger =
                    LedgerNode::open_store(k.clone(), ctx(), config(), MemoryStore::new(), NOW)
                        .expect("open the ledger node");
                let mut node = VirtualNode::open_store(ledger, NOW).expect("open the virtual node");
                node.set_app(APP, AppKind::Payment);
                node
            })
            .collect();
        let mut net = Net {
            nodes,
            addrs,
            keys,
            hops: Vec::new(),
            stats: Stats::default(),
        };
        let amount = U256::from(DEPOSIT);
        for k in 0..n - 1 {
            let (opener, peer) = if k % 2 == 0 { (k, k + 1) } else { (k + 1, k) };
            let id = net.nodes[opener]
                .ledger_mut()
                .open(
                    net.addrs[peer],
                    &[(ETH, [amount, amount])],
                    CHALLENGE_DURATION,
                    NOW,
                )
                .expect("open a ledger");
            net.pump();
            // Funding without a chain: participant 0's deposit, then participant 1's.
            let events = [deposited(id, 0, DEPOSIT), deposited(id, 1, 2 * DEPOSIT)];
            for (log_index, event) in (0u64..).zip(&events) {
                for m in [opener, peer] {
                    net.nodes[m]
                        .handle_chain_event(k as u64 + 1, log_index, event, NOW)
                        .expect("handle a deposit");
                }
            }
            let seen = net.pump();
            assert_eq!(
                seen.refused, 0,
                "funding ledger {k}: nothing refused: {:?}",
                seen.reasons
            );
            for m in [k, k + 1] {
                let phase = net.nodes[m].ledger().channel(&id).map(|c| c.phase());
                assert_eq!(phase, Some(Phase::Running), "ledger {k} is not funded");
            }
            net.hops.push(id);
        }
        net
    }

    fn index(&self, a: Address) -> usize {
        self.addrs
            .iter()
            .position(|x| *x == a)
            .expect("a message to a path member")
    }

    /// Drains a node's events and transactions, counting refusals and transactions.
    fn drain(node: &mut VirtualNode<MemoryStore>, seen: &mut Pumped) {
        while let Some(e) = node.poll_event() {
            match &e {
                // A member's own ledger refusing a second request for a leaf it already placed (see the
                // module doc): counted apart, nothing changes.
                VirtualEvent::Ledger(LedgerEvent::Refused {
                    op: Op::AddSub { .. },
                    reason,
                    ..
                }) if reason.ends_with("is already in the table") => seen.duplicate_adds += 1,
                VirtualEvent::Refused { .. }
                | VirtualEvent::Ledger(
                    LedgerEvent::Refused { .. } | LedgerEvent::RejectedProposal { .. },
                ) => seen.refuse(format!("{e:?}")),
                _ => {}
            }
        }
        while node.poll_tx().is_some() {
            seen.txs += 1;
        }
    }

    /// Delivers every message until every node is quiet (at the constant local time [`NOW`]).
    fn pump(&mut self) -> Pumped {
        let mut seen = Pumped::default();
        let mut wire = Vec::new();
        loop {
            for i in 0..self.nodes.len() {
                while let Some((to, m)) = self.nodes[i].poll_transmit() {
                    wire.push((i, to, m));
                }
                Self::drain(&mut self.nodes[i], &mut seen);
            }
            if wire.is_empty() {
                return seen;
            }
            for (from, to, m) in wire.drain(..) {
                let to = self.index(to);
                seen.messages += 1;
                if let Err(e) = self.nodes[to].handle_message(self.addrs[from], m, NOW) {
                    seen.refuse(format!(
                        "member {to} refused a message from member {from}: {e}"
                    ));
                }
            }
        }
    }

    fn path_addrs(&self) -> Vec<Address> {
        self.addrs.clone()
    }

    /// A issues the open of a V over the whole path (nothing pumped).
    fn issue_open(&mut self) -> B256 {
        let n = self.nodes.len();
        let balance = U256::from(V_BALANCE);
        let path = self.path_addrs();
        let hops = self.hops.clone();
        self.nodes[0]
            .open(
                OpenRequest {
                    path,
                    hops,
                    app: APP,
                    balances: vec![(ETH, [balance, balance])],
                    fees: vec![U256::ZERO; n],
                    challenge_duration: CHALLENGE_DURATION,
                },
                NOW,
            )
            .expect("A opens V")
    }

    /// Whether every member has V in `phase`.
    fn all_in(&self, v: &B256, phase: VirtualPhase) -> bool {
        self.nodes
            .iter()
            .all(|n| n.channel(v).map(|c| c.phase()) == Some(phase))
    }

    fn check(&self, vs: &[B256], phase: VirtualPhase, seen: &Pumped, what: &str) {
        assert_eq!(
            seen.refused, 0,
            "{what}: nothing refused: {:?}",
            seen.reasons
        );
        assert_eq!(seen.txs, 0, "{what}: no transaction");
        for v in vs {
            assert!(
                self.all_in(v, phase),
                "{what}: every member has V {phase:?}"
            );
        }
    }

    /// Opens V's and pumps; returns them once every member holds them open.
    fn open(&mut self, count: usize) -> Vec<B256> {
        let versions = self.ledger_versions();
        let vs: Vec<B256> = (0..count).map(|_| self.issue_open()).collect();
        let seen = self.pump();
        self.check(&vs, VirtualPhase::Open, &seen, "open");
        let after = self.ledger_versions();
        self.stats.open.add(count, &seen, &versions, &after);
        vs
    }

    /// A settles V's and pumps; checks every member released them.
    fn settle(&mut self, vs: &[B256]) {
        let versions = self.ledger_versions();
        for v in vs {
            self.nodes[0].settle(*v, NOW).expect("A settles V");
        }
        let seen = self.pump();
        self.check(vs, VirtualPhase::Released, &seen, "settle");
        let after = self.ledger_versions();
        self.stats.settle.add(vs.len(), &seen, &versions, &after);
    }

    /// The supported version of each ledger on the path.
    fn ledger_versions(&self) -> Vec<u64> {
        self.hops
            .iter()
            .enumerate()
            .map(|(k, h)| {
                self.nodes[k]
                    .ledger()
                    .channel(h)
                    .and_then(|c| c.supported())
                    .map_or(0, |s| s.version())
            })
            .collect()
    }

    /// Leaves hosted by the ledgers of the path.
    fn leaves(&self) -> usize {
        self.hops
            .iter()
            .enumerate()
            .map(|(k, h)| self.nodes[k].ledger().table(h).map_or(0, |t| t.len()))
            .sum()
    }
}

/// Times `count` opens on a fresh path of `members`; each batch is then settled untimed.
fn bench_opens(c: &mut Criterion, group: &str, name: &str, members: usize, count: usize) {
    let mut net = Net::path(members);
    // Setup check: one cycle works and leaves nothing behind.
    let vs = net.open(count);
    assert_eq!(
        net.leaves(),
        count * (members - 1),
        "one leaf per V per ledger"
    );
    net.settle(&vs);
    assert_eq!(net.leaves(), 0, "every leaf paid out");
    net.stats = Stats::default();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(count as u64));
    if count > 1 {
        // Long iterations (100 opens, then 100 settles untimed): the fewest samples criterion takes.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .measurement_time(Duration::from_secs(12));
    } else {
        // An open through 3 intermediaries takes ~20 ms: 15 linear samples (120 iterations) need ~3 s.
        g.measurement_time(Duration::from_secs(4));
    }
    g.bench_function(name, |bench| {
        bench.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let vs = net.open(count);
                timed += start.elapsed();
                net.settle(&vs);
            }
            timed
        });
    });
    g.finish();
    net.stats.open.report(&format!("{group}/{name}"));
    net.stats
        .settle
        .report(&format!("{group}/{name} (untimed settles)"));
}

fn open(c: &mut Criterion) {
    bench_opens(c, "virtual/open", "1_intermediary", 3, 1);
    bench_opens(c, "virtual/open", "3_intermediaries", 5, 1);
    bench_opens(c, "virtual/open_batch_100", "1_intermediary", 3, BATCH);
}

/// One payment: A's `pay`, then B handles the voucher. Returns B's balance afterwards.
fn pay_once(net: &mut Net, v: B256) -> U256 {
    net.nodes[0].pay(v, ETH, U256::from(1)).expect("A pays");
    let (to, msg) = net.nodes[0].poll_transmit().expect("A's voucher");
    debug_assert_eq!(to, net.addrs[2]);
    net.nodes[2]
        .handle_message(net.addrs[0], msg, NOW)
        .expect("B takes the voucher");
    while net.nodes[2].poll_event().is_some() {}
    net.nodes[2]
        .channel(&v)
        .map(|c| c.balance(0))
        .unwrap_or_default()
}

/// The voucher limit's work: the payer signs, the payee recovers.
fn voucher_limit(payer: &Signer, params: &ChannelParams, cumulative: U256) {
    let sig = sign_voucher(payer, black_box(params), ETH, black_box(cumulative));
    let v = voucher(params, payer.address(), ETH, cumulative);
    verify_voucher(params, &v, &sig).expect("a valid voucher");
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Payments and the voucher limit timed alternately, one of each per round, so that both see the same machine
/// load (criterion runs them a minute apart); prints the medians and their ratio.
fn paired_ratio(net: &mut Net, v: B256) {
    let payer = net.keys[0].clone();
    let params = net.nodes[0]
        .channel(&v)
        .expect("A holds V")
        .params()
        .clone();
    let rounds = if cfg!(debug_assertions) {
        3
    } else {
        PAIRED_ROUNDS
    };
    let (mut pay_t, mut limit_t) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let start = Instant::now();
        pay_once(net, v);
        pay_t.push(start.elapsed());
        let start = Instant::now();
        voucher_limit(&payer, &params, U256::from(round + 1));
        limit_t.push(start.elapsed());
    }
    let (p, l) = (median(pay_t), median(limit_t));
    println!(
        "paired ({rounds} rounds, medians): payment {p:.1?}, voucher sign + recover {l:.1?}: payments reach {:.1}% \
         of the voucher limit",
        100.0 * l.as_secs_f64() / p.as_secs_f64()
    );
}

fn pay(c: &mut Criterion) {
    let mut net = Net::path(3);
    let v = net.open(1)[0];
    let before = net.nodes[2].channel(&v).expect("B holds V").balance(0);
    net.nodes[0].pay(v, ETH, U256::from(1)).expect("A pays");
    let (to, msg) = net.nodes[0].poll_transmit().expect("A's voucher");
    assert_eq!(to, net.addrs[2], "the voucher goes to B");
    assert!(
        matches!(msg, Message::Virtual(_)),
        "a virtual-protocol message"
    );
    assert!(
        net.nodes[0].poll_transmit().is_none(),
        "one message per payment"
    );
    net.nodes[2]
        .handle_message(net.addrs[0], msg, NOW)
        .expect("B takes the voucher");
    let mut paid = false;
    while let Some(e) = net.nodes[2].poll_event() {
        paid |= matches!(e, VirtualEvent::Paid { amount, .. } if amount == U256::from(1));
    }
    assert!(paid, "B reports the payment");
    assert_eq!(
        net.nodes[2].channel(&v).expect("B holds V").balance(0),
        before + U256::from(1),
        "B's balance in V grew by the payment"
    );
    assert_eq!(
        pay_once(&mut net, v),
        before + U256::from(2),
        "the next payment too"
    );

    let mut g = c.benchmark_group("virtual/pay");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_voucher", |bench| {
        bench.iter(|| pay_once(&mut net, v));
    });
    g.finish();
    let after = net.nodes[2].channel(&v).expect("B holds V").balance(0);
    // (Equal when the bench is filtered out; a refused voucher fails `pay_once` itself.)
    assert!(
        after >= before + U256::from(2),
        "every timed payment accepted"
    );

    paired_ratio(&mut net, v);

    // The two halves, for the profile.
    let mut g = c.benchmark_group("profile");
    g.throughput(Throughput::Elements(1));
    let mut payer = Net::path(3);
    let pv = payer.open(1)[0];
    g.bench_function("pay_only", |bench| {
        bench.iter(|| {
            payer.nodes[0].pay(pv, ETH, U256::from(1)).expect("A pays");
            payer.nodes[0].poll_transmit().expect("A's voucher")
        });
    });
    let (a, b) = net.nodes.split_at_mut(2);
    let (a, b) = (&mut a[0], &mut b[0]);
    let from = a.address();
    g.bench_function("voucher_handle_only", |bench| {
        bench.iter_batched(
            || {
                a.pay(v, ETH, U256::from(1)).expect("A pays");
                a.poll_transmit().expect("A's voucher").1
            },
            |msg| {
                b.handle_message(from, msg, NOW)
                    .expect("B takes the voucher");
                while b.poll_event().is_some() {}
            },
            BatchSize::SmallInput,
        );
    });
    let record = b.channel(&v).expect("B holds V").clone();
    let mut store = MemoryStore::new();
    g.bench_function("record_encode_commit", |bench| {
        bench.iter(|| {
            let bytes = encode(black_box(&record)).expect("encode the record");
            let mut batch = Batch::new();
            batch.put_raw(NS_VIRTUAL, v.to_vec(), bytes);
            store.commit(batch).expect("commit");
        });
    });
    let bytes = encode(&record).expect("encode the record");
    println!(
        "profile: a V record (A–I–B, one asset) is {} bytes",
        bytes.len()
    );
    g.finish();
    let after_profile = b.channel(&v).expect("B holds V").balance(0);
    assert!(after_profile >= after, "every profiled payment accepted");
}

fn settle(c: &mut Criterion) {
    let mut net = Net::path(3);
    let mut g = c.benchmark_group("virtual/settle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("1_intermediary", |bench| {
        bench.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let vs = net.open(1);
                let start = Instant::now();
                net.settle(&vs);
                timed += start.elapsed();
            }
            timed
        });
    });
    g.finish();
    assert_eq!(net.leaves(), 0, "every leaf paid out");
    net.stats.settle.report("virtual/settle/1_intermediary");
}

fn limit(c: &mut Criterion) {
    let mut net = Net::path(3);
    let v = net.open(1)[0];
    let ch = net.nodes[0].channel(&v).expect("A holds V").clone();
    let params = ch.params().clone();
    let payer = net.keys[0].clone();
    let state = ch.certificate().expect("V's funding certificate").state;
    let ctx = ctx();
    let cumulative = U256::from(12_345);
    let sig = sign_voucher(&payer, &params, ETH, cumulative);
    verify_voucher(
        &params,
        &voucher(&params, payer.address(), ETH, cumulative),
        &sig,
    )
    .expect("a valid voucher");

    let mut g = c.benchmark_group("limit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("voucher_sign_plus_recover", |bench| {
        bench.iter(|| voucher_limit(&payer, &params, cumulative));
    });
    g.bench_function("state_sign_plus_recover", |bench| {
        bench.iter(|| {
            let s = black_box(&state);
            let sig = payer.sign_state(&ctx, s);
            let by = recover(&ctx.digest(s), &sig).expect("recover");
            debug_assert_eq!(by, payer.address());
            by
        });
    });
    g.finish();

    let mut g = c.benchmark_group("profile");
    g.throughput(Throughput::Elements(1));
    g.bench_function("voucher_sign", |bench| {
        bench.iter(|| sign_voucher(&payer, black_box(&params), ETH, black_box(cumulative)));
    });
    let v = voucher(&params, payer.address(), ETH, cumulative);
    g.bench_function("voucher_recover", |bench| {
        bench.iter(|| verify_voucher(black_box(&params), black_box(&v), &sig).expect("valid"));
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = limit, pay, open, settle
}
criterion_main!(benches);
