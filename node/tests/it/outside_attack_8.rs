//! The eighth outside attacker, against the node runtime (signatures computed ahead, group flushes), kept as a
//! regression test: it asserted the bad outcome when written and now asserts the fix (the text below describes
//! the attack as it worked; the fix is in `VirtualNode::signatures_to_check`, see
//! `simulations/tests/it/outside_attack_8.rs`).
//!
//! # Signatures recovered ahead for a pre-fund the core refuses at once (CPU at a peer's command)
//!
//! `Runtime::recover_ahead` asks `VirtualNode::signatures_to_check` (virtual/src/protocol/node/ahead.rs) which
//! signatures a burst of messages will make the core recover. For a `VirtualMessage::Sigs` introducing an unknown V
//! (a pre-fund with params), it only checks that the sender is this node's neighbour on the claimed path over a
//! running ledger channel, then returns `new_signatures(ctx, state, &vec![None; sigs.len()], sigs)`: **one pair per
//! signature in the message, whatever their number**. Nothing compares `sigs.len()` with the path's length, the
//! params with the state's id, or the params with anything `check_prefund` checks. The core itself
//! (`VirtualNode::join` → `check_prefund`) refuses such a message before recovering a single signature (here at
//! `params::validate_for`). So one message of one frame (< 1 MiB) from any ledger peer makes the node compute
//! ~15,000 secp256k1 recoveries on every core, while its loop waits for them (`par_iter` inside the loop), for a
//! message the core refuses in microseconds. Each such message counts as one refusal: 1,000 of them a minute
//! stay under `max_refusals`, i.e. ~15 million recoveries a minute from one peer. The peer needs no valid
//! signature: the same `r` with 15,000 different small `s` values passes `check_form` and the dedup, and each one
//! costs a full recovery (decompression plus a double-scalar multiplication).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_node::adjudicator::{Chain, DEFAULT_CHAIN_ID, EmbeddedChain};
use ferry_node::ledger::signature::memo;
use ferry_node::ledger::store::RedbStore;
use ferry_node::ledger::{ChainContext, Signature, Signer, channel};
use ferry_node::runtime::{Inbound, MemoryNetwork, Node};
use ferry_node::wire::{self, Frame};
use ferry_virtual::protocol::{Message, VirtualMessage};
use tokio::sync::mpsc;

use crate::node_runtime::config;

const ETH: Address = Address::ZERO;
const T: Duration = Duration::from_secs(30);

/// A hub and an attacker (a node holding a running ledger channel with the hub) on the embedded chain, and a
/// handle to put messages into the hub's inbound queue as if they came from the attacker over its connection
/// (the transport vouches for the sender's key: the attacker really can send them).
struct Setup {
    hub: Node,
    attacker: Address,
    ledger: B256,
    ctx: ChainContext,
    inject: mpsc::Sender<Inbound>,
    _chain: Arc<EmbeddedChain>,
    _attacker_node: Node,
}

async fn setup() -> Setup {
    let chain = Arc::new(EmbeddedChain::with_accounts(DEFAULT_CHAIN_ID, 4).unwrap());
    let net = MemoryNetwork::new();
    let ctx = ChainContext {
        chain_id: chain.chain_id(),
        adjudicator: chain.adjudicator(),
    };
    // The hub: its real inbound queue forwarded into one we can also write to.
    let hc = config(2);
    let (hub_link, mut hub_real_in) = net.join(hc.signer.address());
    let (inject, hub_in) = mpsc::channel::<Inbound>(65_536);
    let fwd = inject.clone();
    tokio::spawn(async move {
        while let Some(m) = hub_real_in.recv().await {
            if fwd.send(m).await.is_err() {
                break;
            }
        }
    });
    let hub = Node::start(
        hc,
        RedbStore::in_memory().unwrap(),
        chain.clone(),
        hub_link,
        hub_in,
    )
    .await
    .unwrap();
    let ac = config(1);
    let (a_link, a_in) = net.join(ac.signer.address());
    let attacker_node = Node::start(
        ac,
        RedbStore::in_memory().unwrap(),
        chain.clone(),
        a_link,
        a_in,
    )
    .await
    .unwrap();
    let amounts = vec![(ETH, [U256::from(1_000u64), U256::from(1_000u64)])];
    let ledger = attacker_node
        .open_ledger(hub.address(), amounts, 3_600)
        .await
        .unwrap();
    attacker_node.wait_ledger_running(ledger, T).await.unwrap();
    hub.wait_ledger_running(ledger, T).await.unwrap();
    Setup {
        attacker: attacker_node.address(),
        hub,
        ledger,
        ctx,
        inject,
        _chain: chain,
        _attacker_node: attacker_node,
    }
}

/// A forged "pre-fund introducing V" from the attacker: a path [attacker, hub, someone] over the attacker's
/// running ledger with the hub (all `signatures_to_check` looks at), and `n` distinct, well-formed signatures
/// nobody made (one `r`, `s` = 1..=n). The params are a ledger channel's (kind 0): the core refuses the message at
/// its very first check.
fn forged_prefund(s: &Setup, hub: Address, n: usize) -> Message {
    let mut params = channel::ledger_params(&s.ctx, s.attacker, hub, 3_600);
    params.participants = vec![s.attacker, hub, Address::repeat_byte(0x77)];
    params.hops = vec![s.ledger, B256::repeat_byte(0x55)];
    // A fresh nonce per message: another digest, so nothing is deduplicated across messages.
    let state = channel::state(&params, 0, vec![], Bytes::new(), false);
    let base = Signer::random().sign_digest(&B256::repeat_byte(9));
    let sigs = (1..=n as u64)
        .map(|i| {
            Some(Signature {
                v: base.v,
                r: base.r,
                s: B256::from(U256::from(i)),
            })
        })
        .collect();
    Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(params)),
        state,
        sigs,
        fees: vec![],
    })
}

/// The most signatures that fit one frame (`MAX_FRAME`, 1 MiB).
fn max_sigs_per_frame(s: &Setup, hub: Address) -> usize {
    let mut n = 20_000;
    loop {
        let msg = forged_prefund(s, hub, n);
        if wire::encode(&Frame::Msg { id: 1, msg }).is_ok() {
            return n;
        }
        n -= 500;
    }
}

async fn refused(hub: &Node) -> u64 {
    hub.status().await.unwrap().stats.refused
}

async fn wait_refused(hub: &Node, at_least: u64) {
    let start = Instant::now();
    while refused(hub).await < at_least {
        assert!(start.elapsed() < Duration::from_secs(120), "not refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_peers_forged_prefunds_of_frame_size_get_nothing_recovered_ahead() {
    let s = setup().await;
    let hub = s.hub.address();
    let per_frame = max_sigs_per_frame(&s, hub);
    assert!(per_frame >= 10_000, "{per_frame} signatures per frame");
    // Twelve forged messages of one frame each (one burst or a few): the core refuses them all at its first check,
    // and nothing is recovered ahead for them (the memo is process-wide: other tests' leftovers are a few at most).
    let held_before = memo::recovered_held();
    let refused_before = refused(&s.hub).await;
    let started = Instant::now();
    for _ in 0..12 {
        s.inject
            .try_send(Inbound::Message {
                from: s.attacker,
                msg: forged_prefund(&s, hub, per_frame),
                ack: None,
            })
            .unwrap();
    }
    wait_refused(&s.hub, refused_before + 12).await;
    let held = memo::recovered_held().saturating_sub(held_before);
    eprintln!(
        "12 forged frames of {per_frame} signatures refused in {:?}, {held} recoveries left ahead",
        started.elapsed()
    );
    assert!(
        held < 100,
        "the hub recovered {held} signatures ahead for messages its core refused without recovering one"
    );
}
