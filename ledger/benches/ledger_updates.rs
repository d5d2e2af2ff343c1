//! Ledger-channel updates per second, and the signature-cost limit they are measured against.
//!
//! Two [`LedgerNode`]s (participant 0 = the leader A, participant 1 = the follower B) hold one ETH ledger channel
//! between them. The channel is opened through the real protocol and funded without a chain, by feeding both nodes
//! synthetic `Deposited` adjudicator events; messages are moved between the nodes in memory (no network). What is
//! timed is everything else a real update costs: EIP-712 hashing, secp256k1 signing and recovery, the batch
//! checks, the bincode encoding of the channel record and the atomic store commit each step makes before its
//! message may leave the node (redb with `Durability::Immediate`, i.e. an fsync, on a file in a temporary
//! directory on the local disk).
//!
//! Benchmarks:
//! - `ledger/update/leader_pays`: `A.pay(1 wei)`, then messages are pumped until both nodes are quiet (A proposes
//!   and commits, B checks, countersigns and commits, A completes and commits). One element = one update.
//! - `ledger/update/follower_pays`: `B.pay(1 wei)`: a request to A, then the same round trip (one more commit).
//! - `ledger/update/batched_64`: 64 `A.pay` calls queued before pumping; the leader proposes the first at once and
//!   batches the other 63 while it is in flight, so 64 payments take 2 states. One element = one payment.
//! - `ledger/update/leader_pays_memory_store`, `ledger/update/batched_64_memory_store`: the same on
//!   [`MemoryStore`]: the updates without storage cost.
//! - `store/redb_commit_channel_record`: one redb commit (fsync) of a real channel record, alone.
//! - `limit/sign_plus_recover_x2`: the physical floor of an update: each party signs the state's EIP-712 digest once
//!   and recovers the other's signature once (2 signs + 2 recoveries). One element = one update.
//! - `limit/sign`, `limit/recover`: one of each, to split the limit (elements are operations here, not updates);
//!   `limit/recover_k256_reference`: k256's own recovery, which verifies again (what `recover` used before).
//! - `limit/state_digest`: the EIP-712 digest of a state (hashing only).
//! - `limit/protocol_crypto`: the cryptography a leader update really does: 3 digests, 2 signs, 2 recoveries.
//!
//! The redb figures are bounded by the disk's fsync latency, which varies a lot with other disk traffic (on a busy
//! VM disk a commit went from ~0.3 ms to ~3.5 ms); compare them with `store/redb_commit_channel_record` of the
//! same run. The memory-store and `limit/` figures are CPU-bound.
//!
//! Run it with `cargo bench -p ferry-ledger --bench ledger_updates` (about a minute and a half; HTML reports land in
//! `target/criterion`), one group with e.g. `cargo bench -p ferry-ledger --bench ledger_updates -- limit/`, or
//! once as a smoke test with `cargo test -p ferry-ledger --benches`.

use std::hint::black_box;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ferry_ledger::contracts::IAdjudicator::{self, IAdjudicatorEvents};
use ferry_ledger::protocol::{Config, LedgerEvent, LedgerNode, NS_CHANNELS, OpenPolicy, Phase};
use ferry_ledger::signature::{recover, recover_reference};
use ferry_ledger::store::{Batch, MemoryStore, RedbStore, Store};
use ferry_ledger::{ChainContext, Signer, State};

const ETH: Address = Address::ZERO;
/// Each side's deposit: 1 ETH, enough for any number of 1-wei payments a run makes.
const DEPOSIT: u64 = 1_000_000_000_000_000_000;
const CHALLENGE_DURATION: u64 = 3_600;
/// Local time (ms); constant, since no timer is ever due within a round trip.
const NOW: u64 = 1_000;
/// Payments queued per `batched_64` iteration.
const BATCH: usize = 64;

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

/// What one pump saw on the leader's side.
#[derive(Debug, Default, Clone, Copy)]
struct Pumped {
    /// `Updated` events of the leader: states that became supported.
    updates: usize,
    /// `Refused` / `RejectedProposal` events on either side.
    refused: usize,
}

/// Two nodes with a running channel between them.
struct Pair<S: Store> {
    a: LedgerNode<S>,
    b: LedgerNode<S>,
    id: B256,
    signers: [Signer; 2],
    /// Keeps the redb files alive (and deletes them at the end).
    _dir: Option<tempfile::TempDir>,
}

/// Drains a node's events and transactions (nothing here submits transactions), counting what matters.
fn drain<S: Store>(node: &mut LedgerNode<S>, leader: bool, seen: &mut Pumped) {
    while let Some(e) = node.poll_event() {
        match e {
            LedgerEvent::Updated { .. } if leader => seen.updates += 1,
            LedgerEvent::Refused { .. } | LedgerEvent::RejectedProposal { .. } => seen.refused += 1,
            _ => {}
        }
    }
    while node.poll_tx().is_some() {}
}

/// Moves every message each node wants to send to the other, until both are quiet.
fn pump<S: Store>(a: &mut LedgerNode<S>, b: &mut LedgerNode<S>) -> Pumped {
    let (addr_a, addr_b) = (a.address(), b.address());
    let mut seen = Pumped::default();
    loop {
        let mut moved = false;
        while let Some((to, msg)) = a.poll_transmit() {
            debug_assert_eq!(to, addr_b);
            b.handle_message(addr_a, msg, NOW)
                .expect("B handles A's message");
            moved = true;
        }
        while let Some((to, msg)) = b.poll_transmit() {
            debug_assert_eq!(to, addr_a);
            a.handle_message(addr_b, msg, NOW)
                .expect("A handles B's message");
            moved = true;
        }
        drain(a, true, &mut seen);
        drain(b, false, &mut seen);
        if !moved {
            return seen;
        }
    }
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

impl<S: Store> Pair<S> {
    /// Opens and funds a channel between two fresh nodes on the stores `store(0)` and `store(1)`.
    fn new(mut store: impl FnMut(usize) -> S, dir: Option<tempfile::TempDir>) -> Self {
        let signers = [Signer::random(), Signer::random()];
        let node = |i: usize, s: S| {
            LedgerNode::open_store(signers[i].clone(), ctx(), config(), s, NOW)
                .expect("open the node's store")
        };
        let mut a = node(0, store(0));
        let mut b = node(1, store(1));
        let amount = U256::from(DEPOSIT);
        let id = a
            .open(
                b.address(),
                &[(ETH, [amount, amount])],
                CHALLENGE_DURATION,
                NOW,
            )
            .expect("open the channel");
        pump(&mut a, &mut b);
        // Funding without a chain: participant 0's deposit, then participant 1's, in block 1.
        let events = [deposited(id, 0, DEPOSIT), deposited(id, 1, 2 * DEPOSIT)];
        for (log_index, event) in (0u64..).zip(&events) {
            for n in [&mut a, &mut b] {
                n.handle_chain_event(1, log_index, event, NOW)
                    .expect("handle a deposit");
            }
        }
        for n in [&mut a, &mut b] {
            n.handle_block(1, 12, NOW).expect("handle block 1");
        }
        pump(&mut a, &mut b);
        for n in [&a, &b] {
            let phase = n.channel(&id).map(|c| c.phase());
            assert_eq!(
                phase,
                Some(Phase::Running),
                "the channel did not get funded"
            );
        }
        Self {
            a,
            b,
            id,
            signers,
            _dir: dir,
        }
    }

    fn leader_pays(&mut self) -> Pumped {
        self.a
            .pay(self.id, ETH, U256::from(1), NOW)
            .expect("A pays");
        pump(&mut self.a, &mut self.b)
    }

    fn follower_pays(&mut self) -> Pumped {
        self.b
            .pay(self.id, ETH, U256::from(1), NOW)
            .expect("B pays");
        pump(&mut self.a, &mut self.b)
    }

    fn batched(&mut self, n: usize) -> Pumped {
        for _ in 0..n {
            self.a
                .pay(self.id, ETH, U256::from(1), NOW)
                .expect("A pays");
        }
        pump(&mut self.a, &mut self.b)
    }

    fn version(&self) -> u64 {
        self.a
            .channel(&self.id)
            .and_then(|c| c.supported())
            .map(|s| s.version())
            .expect("a supported state")
    }

    fn supported_state(&self) -> State {
        self.a
            .channel(&self.id)
            .and_then(|c| c.supported())
            .map(|s| s.state.clone())
            .expect("a supported state")
    }
}

fn redb_pair() -> Pair<RedbStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_path_buf();
    Pair::new(
        |i| RedbStore::open(path.join(format!("party{i}.redb"))).expect("open redb"),
        Some(dir),
    )
}

fn memory_pair() -> Pair<MemoryStore> {
    Pair::new(|_| MemoryStore::new(), None)
}

fn updates(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger/update");
    group.throughput(Throughput::Elements(1));

    let mut pair = redb_pair();
    let first = pair.leader_pays();
    assert_eq!(
        (first.updates, first.refused),
        (1, 0),
        "one leader payment, one state"
    );
    group.bench_function("leader_pays", |bench| {
        bench.iter(|| pair.leader_pays());
    });

    let first = pair.follower_pays();
    assert_eq!(
        (first.updates, first.refused),
        (1, 0),
        "one follower payment, one state"
    );
    group.bench_function("follower_pays", |bench| {
        bench.iter(|| pair.follower_pays());
    });

    let before = pair.version();
    let first = pair.batched(BATCH);
    assert_eq!(first.refused, 0, "no payment of the batch refused");
    assert_eq!(
        pair.version() - before,
        first.updates as u64,
        "one version per state"
    );
    println!(
        "ledger/update/batched_{BATCH}: {BATCH} payments queued before pumping -> {} states (supported versions)",
        first.updates
    );
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(format!("batched_{BATCH}"), |bench| {
        bench.iter(|| pair.batched(BATCH));
    });
    group.sampling_mode(SamplingMode::Auto);
    group.throughput(Throughput::Elements(1));

    let mut memory = memory_pair();
    group.bench_function("leader_pays_memory_store", |bench| {
        bench.iter(|| memory.leader_pays());
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("batched_{BATCH}_memory_store"), |bench| {
        bench.iter(|| memory.batched(BATCH));
    });
    group.finish();

    // The store's share: one commit of a real channel record, as each protocol step makes.
    let record = pair
        .a
        .store()
        .get(NS_CHANNELS, pair.id.as_slice())
        .expect("read the channel record")
        .expect("the channel record is stored");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut store = RedbStore::open(dir.path().join("commit.redb")).expect("open redb");
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("redb_commit_channel_record", |bench| {
        bench.iter(|| {
            let mut batch = Batch::new();
            batch.put_raw(NS_CHANNELS, pair.id.to_vec(), record.clone());
            store.commit(batch).expect("commit");
        });
    });
    group.finish();
    println!("store: a channel record is {} bytes", record.len());
}

fn limit(c: &mut Criterion) {
    let mut pair = memory_pair();
    pair.leader_pays();
    let state = pair.supported_state();
    let ctx = ctx();
    let digest = ctx.digest(&state);
    let [sa, sb] = &pair.signers;
    let (addr_a, addr_b) = (sa.address(), sb.address());
    let mut group = c.benchmark_group("limit");
    // CPU-bound and steady: a shorter measurement is enough.
    group.measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_plus_recover_x2", |bench| {
        bench.iter(|| {
            let d = black_box(&digest);
            // A signs, B recovers A; B countersigns, A recovers B.
            let sig_a = sa.sign_digest(d);
            let by_a = recover(d, &sig_a).expect("recover A");
            let sig_b = sb.sign_digest(d);
            let by_b = recover(d, &sig_b).expect("recover B");
            debug_assert_eq!((by_a, by_b), (addr_a, addr_b));
            (by_a, by_b)
        });
    });
    let sig_a = sa.sign_digest(&digest);
    group.bench_function("sign", |bench| {
        bench.iter(|| sa.sign_digest(black_box(&digest)));
    });
    group.bench_function("recover", |bench| {
        bench.iter(|| recover(black_box(&digest), black_box(&sig_a)).expect("recover A"));
    });
    // k256's own recovery, which verifies the signature again: what `recover` used before (same result).
    group.bench_function("recover_k256_reference", |bench| {
        bench.iter(|| recover_reference(black_box(&digest), black_box(&sig_a)).expect("recover A"));
    });
    group.bench_function("state_digest", |bench| {
        bench.iter(|| ctx.digest(black_box(&state)));
    });
    group.bench_function("protocol_crypto", |bench| {
        bench.iter(|| {
            let s = black_box(&state);
            // A: digest + sign; B: digest + recover + sign; A: digest + recover.
            let sig_a = sa.sign_digest(&ctx.digest(s));
            let d = ctx.digest(s);
            let by_a = recover(&d, &sig_a).expect("recover A");
            let sig_b = sb.sign_digest(&d);
            let by_b = recover(&ctx.digest(s), &sig_b).expect("recover B");
            (by_a, by_b)
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = updates, limit
}
criterion_main!(benches);
