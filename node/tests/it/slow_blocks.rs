//! A hub on a chain with 2-second blocks (anvil `--block-time 2`), four `ferry node` processes driven through
//! JSON-RPC: while the hub's own deposit and dispute wait to be mined, its users keep opening virtual channels
//! through it and paying in them. Before the chain side ran off the node's loop, the hub answered nothing while it
//! waited for a receipt (each one or more blocks).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use ferry_node::rpc::FerryApiClient;
use ferry_virtual::protocol::VirtualPhase;

use super::processes::{ETH, WEI, World, introduce, open_req, phase_at_least};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_keep_opening_and_paying_through_a_hub_while_it_deposits_and_disputes_on_2s_blocks()
 {
    let w = World::with_block_time(Some(2)).await;
    let a = Arc::new(w.start("alice", 1));
    let i = Arc::new(w.start("ingrid", 2));
    let b = Arc::new(w.start("bob", 3));
    let c = w.start("carol", 4);
    introduce(&[&a, &i, &b, &c]).await;
    let hops = w.ledgers(&a, &i, &b).await;

    // Users open virtual channels through the hub and pay in each, all along.
    let opens = Arc::new(AtomicU64::new(0));
    let payments = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let users = {
        let (a, i, b) = (a.clone(), i.clone(), b.clone());
        let (opens, payments, stop) = (opens.clone(), payments.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let v = a
                    .api
                    .open_virtual(open_req(&a, &i, &b, hops, WEI / 100))
                    .await
                    .unwrap();
                a.wait("V to open", |s| phase_at_least(s, &v, VirtualPhase::Open))
                    .await;
                opens.fetch_add(1, Ordering::Relaxed);
                for _ in 0..10 {
                    a.api.pay(v, ETH, U256::from(1_000u64)).await.unwrap();
                    payments.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    // Meanwhile the hub deposits into a ledger with Carol, then disputes it.
    let amounts = vec![(ETH, [U256::from(WEI), U256::from(WEI)])];
    let ci = c.api.open_ledger(i.address, amounts, 10).await.unwrap();
    // Samples of the hub: (opens and payments so far, its transactions in flight).
    let mut samples = Vec::new();
    let started = Instant::now();
    let mut challenged = false;
    let mut done = false;
    while !done {
        let s = i.status().await;
        samples.push((
            opens.load(Ordering::Relaxed),
            payments.load(Ordering::Relaxed),
            s.stats.txs_in_flight,
            started.elapsed(),
        ));
        let ledger = s.ledger(&ci).map(|l| l.phase.clone());
        if !challenged && ledger.as_deref() == Some("running") {
            i.api.challenge_ledger(ci).await.unwrap();
            challenged = true;
        }
        done = challenged && ledger.as_deref().is_none_or(|p| p == "closed");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the hub's ledger with Carol did not close: {ledger:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    users.await.unwrap();

    // Opens and payments completed between two samples that both saw the hub waiting for the chain.
    let (mut opens_waiting, mut payments_waiting, mut waiting_time) = (0, 0, Duration::ZERO);
    for pair in samples.windows(2) {
        let ((o0, p0, f0, t0), (o1, p1, f1, t1)) = (pair[0], pair[1]);
        if f0 > 0 && f1 > 0 {
            opens_waiting += o1 - o0;
            payments_waiting += p1 - p0;
            waiting_time += t1 - t0;
        }
    }
    let (all_opens, all_payments, all_time) = (
        opens.load(Ordering::Relaxed),
        payments.load(Ordering::Relaxed),
        started.elapsed(),
    );
    println!(
        "2 s blocks: the hub waited for the chain {waiting_time:?} of {all_time:?}; opens through it {opens_waiting} \
         while it waited ({:.1}/s) against {all_opens} in all ({:.1}/s); payments {payments_waiting} ({:.1}/s) \
         against {all_payments} ({:.1}/s)",
        opens_waiting as f64 / waiting_time.as_secs_f64().max(1e-3),
        all_opens as f64 / all_time.as_secs_f64(),
        payments_waiting as f64 / waiting_time.as_secs_f64().max(1e-3),
        all_payments as f64 / all_time.as_secs_f64(),
    );
    assert!(
        waiting_time >= Duration::from_secs(2),
        "the hub had transactions in flight for at least a block: {waiting_time:?}"
    );
    assert!(
        opens_waiting >= 2 && payments_waiting >= 20,
        "the hub served its users while its transactions waited to be mined"
    );
    let ledger = i.status().await.ledger(&ci).map(|l| l.phase.clone());
    assert!(
        ledger.as_deref().is_none_or(|p| p == "closed"),
        "{ledger:?}"
    );
}
