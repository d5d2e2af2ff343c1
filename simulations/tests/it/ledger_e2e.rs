//! Ledger channels end to end on the embedded chain: open, many updates, cooperative close; and the dispute paths
//! (a stale challenge answered by the watcher, an unresponsive peer challenged), with the chain clock advanced.

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{Config, LedgerEvent, OpenPolicy, Phase};
use ferry_ledger::store::{MemoryStore, RedbStore, Store};
use ferry_simulations::ledger_net::LedgerNet;

const ETH: Address = Address::ZERO;
const DEPOSIT: u64 = 1_000_000_000_000_000_000;
const WINDOW: u64 = 3_600;

fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(DEPOSIT),
            ..OpenPolicy::default()
        },
        peer_timeout_ms: 5_000,
        grace_ms: 2_000,
        ..Config::default()
    }
}

fn phase<S: Store>(net: &mut LedgerNet<S>, i: usize, id: B256) -> Option<Phase> {
    net.parties[i]
        .node
        .as_ref()
        .and_then(|n| n.channel(&id))
        .map(|c| c.phase())
}

async fn open<S: Store>(net: &mut LedgerNet<S>) -> B256 {
    let b = net.address(1);
    let now = net.now;
    let id = net
        .node(0)
        .open(
            b,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            now,
        )
        .expect("open");
    let funded = net
        .run_until(200, |n| {
            phase(n, 0, id) == Some(Phase::Running) && phase(n, 1, id) == Some(Phase::Running)
        })
        .await
        .expect("run");
    assert!(funded, "the channel did not get funded");
    id
}

async fn pay<S: Store>(net: &mut LedgerNet<S>, from: usize, id: B256, amount: u64) {
    let now = net.now;
    net.node(from)
        .pay(id, ETH, U256::from(amount), now)
        .expect("pay");
    assert!(
        net.run_until(200, |n| n.quiet()).await.expect("run"),
        "update stuck"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn open_1000_updates_and_cooperative_close_cost_two_deposits_and_one_closing_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let mut net = LedgerNet::new(2, config(), 1, |i| {
        Ok(RedbStore::open(path.join(format!("party{i}.redb")))?)
    })
    .await
    .expect("net");
    let start = [
        net.eth_balance(0).await.expect("bal"),
        net.eth_balance(1).await.expect("bal"),
    ];
    let id = open(&mut net).await;
    for k in 0..1000 {
        // The leader pays 3 wei, the follower (through a request) 1 wei.
        if k % 2 == 0 {
            pay(&mut net, 0, id, 3).await;
        } else {
            pay(&mut net, 1, id, 1).await;
        }
    }
    let v = net
        .node(0)
        .channel(&id)
        .and_then(|c| c.supported())
        .map(|s| s.version());
    assert_eq!(
        v,
        Some(1001),
        "post-fund is version 1, then one version per update"
    );
    let now = net.now;
    net.node(1).close(id, now).expect("close");
    let closed = net
        .run_until(200, |n| {
            phase(n, 0, id) == Some(Phase::Closed) && phase(n, 1, id) == Some(Phase::Closed)
        })
        .await
        .expect("run");
    assert!(
        closed,
        "not closed: {:?} {:?}",
        phase(&mut net, 0, id),
        phase(&mut net, 1, id)
    );
    let names: Vec<&str> = net.landed.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["deposit", "deposit", "concludeAndWithdraw"],
        "{:?}",
        net.failed
    );
    let end = [
        net.eth_balance(0).await.expect("bal"),
        net.eth_balance(1).await.expect("bal"),
    ];
    assert_eq!(end[0], start[0] - U256::from(1000));
    assert_eq!(end[1], start[1] + U256::from(1000));
    assert!(
        net.parties.iter().all(|p| p.refused.is_empty()),
        "honest messages refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_challenge_is_answered_by_the_watcher_and_the_newer_state_pays_out() {
    let mut net = LedgerNet::in_memory(2, config(), 2).await.expect("net");
    let start = net.eth_balance(0).await.expect("bal");
    let id = open(&mut net).await;
    for _ in 0..5 {
        pay(&mut net, 1, id, 10).await; // the follower pays the leader
    }
    let stale = net
        .node(1)
        .channel(&id)
        .and_then(|c| c.supported())
        .cloned()
        .expect("state");
    for _ in 0..5 {
        pay(&mut net, 1, id, 10).await;
    }
    let newest = net
        .node(0)
        .channel(&id)
        .and_then(|c| c.supported())
        .cloned()
        .expect("state");
    assert_eq!(newest.version(), stale.version() + 5);
    // The follower turns byzantine: it goes away and registers its stale state on-chain.
    net.crash(1);
    let params = net
        .node(0)
        .channel(&id)
        .map(|c| c.params().clone())
        .expect("params");
    net.client
        .challenge(net.address(1), &params, &stale.state, &stale.sigs, None)
        .await
        .expect("stale challenge");
    let answered = net
        .run_until(50, |n| {
            n.parties[0].events.iter().any(|e| matches!(e, LedgerEvent::ChallengeAnswered { stale: s, .. } if *s == stale.version()))
        })
        .await
        .expect("run");
    assert!(
        answered,
        "the watcher did not answer: {:?}",
        net.parties[0].events
    );
    net.run_until(10, |_| false).await.expect("run");
    let status = net.chain.status_of(id).await.expect("status");
    assert_eq!(
        status.version,
        newest.version(),
        "the newer state replaced the stale one"
    );
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    let closed = net
        .run_until(100, |n| phase(n, 0, id) == Some(Phase::Closed))
        .await
        .expect("run");
    assert!(closed, "{:?} {:?}", phase(&mut net, 0, id), net.failed);
    let end = net.eth_balance(0).await.expect("bal");
    assert_eq!(
        end,
        start + U256::from(100),
        "the leader got its latest balance"
    );
    let names: Vec<&str> = net.landed.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["deposit", "deposit", "challenge", "withdraw"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unresponsive_peer_is_challenged_and_the_funds_come_back_after_the_window() {
    let mut net = LedgerNet::in_memory(2, config(), 3).await.expect("net");
    let start = net.eth_balance(1).await.expect("bal");
    let id = open(&mut net).await;
    pay(&mut net, 0, id, 7).await;
    // The leader goes silent; the follower's next request is never answered.
    net.parties[0].online = false;
    let now = net.now;
    net.node(1).pay(id, ETH, U256::from(2), now).expect("pay");
    let challenged = net
        .run_until(200, |n| phase(n, 1, id) == Some(Phase::Disputed))
        .await
        .expect("run");
    assert!(challenged, "no challenge: {:?}", net.parties[1].events);
    assert!(
        net.parties[1]
            .events
            .iter()
            .any(|e| matches!(e, LedgerEvent::PeerUnresponsive { .. }))
    );
    assert!(
        net.parties[1]
            .events
            .iter()
            .any(|e| matches!(e, LedgerEvent::Refused { .. })),
        "the pending pay is refused"
    );
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    let closed = net
        .run_until(200, |n| phase(n, 1, id) == Some(Phase::Closed))
        .await
        .expect("run");
    assert!(closed, "{:?} {:?}", phase(&mut net, 1, id), net.failed);
    assert_eq!(
        net.eth_balance(1).await.expect("bal"),
        start + U256::from(7)
    );
    let _ = MemoryStore::new();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_restarted_after_a_crash_reads_on_from_its_cursor_and_still_answers_the_challenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let mut net = LedgerNet::new(2, config(), 4, |i| {
        Ok(RedbStore::open(path.join(format!("party{i}.redb")))?)
    })
    .await
    .expect("net");
    let start = net.eth_balance(0).await.expect("bal");
    let id = open(&mut net).await;
    pay(&mut net, 1, id, 40).await;
    let stale = net
        .node(1)
        .channel(&id)
        .and_then(|c| c.supported())
        .cloned()
        .expect("state");
    pay(&mut net, 1, id, 2).await;
    let cursor = net.node(0).next_block();
    // The leader's process dies; while it is down the follower registers its stale state and more blocks pass.
    net.crash(0);
    net.crash(1);
    // The params come from the follower's record on disk (what an attacker knows).
    let store = net.parties[1].crashed_store.take().expect("store");
    let follower = ferry_ledger::protocol::LedgerNode::open_store(
        net.parties[1].signer.clone(),
        ferry_ledger::ChainContext {
            chain_id: net.chain.chain_id(),
            adjudicator: net.chain.adjudicator(),
        },
        config(),
        store,
        net.now,
    )
    .expect("reopen");
    let params = follower
        .channel(&id)
        .map(|c| c.params().clone())
        .expect("params");
    drop(follower);
    net.client
        .challenge(net.address(1), &params, &stale.state, &stale.sigs, None)
        .await
        .expect("stale challenge");
    net.chain.mine();
    net.chain.mine();
    assert!(net.chain.head().await.expect("head").number > cursor);
    net.restart(0).expect("restart");
    assert_eq!(
        net.node(0).next_block(),
        cursor,
        "the cursor survived the crash"
    );
    let answered = net
        .run_until(50, |n| {
            n.parties[0]
                .events
                .iter()
                .any(|e| matches!(e, LedgerEvent::ChallengeAnswered { .. }))
        })
        .await
        .expect("run");
    assert!(
        answered,
        "the restarted node missed the challenge: {:?}",
        net.parties[0].events
    );
    net.run_until(10, |_| false).await.expect("run");
    net.advance_chain_time(WINDOW + 1).await.expect("time");
    let closed = net
        .run_until(100, |n| phase(n, 0, id) == Some(Phase::Closed))
        .await
        .expect("run");
    assert!(closed, "{:?}", net.failed);
    assert_eq!(
        net.eth_balance(0).await.expect("bal"),
        start + U256::from(42)
    );
}
