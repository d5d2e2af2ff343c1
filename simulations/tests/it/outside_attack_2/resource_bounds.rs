//! Resource bounds: a follower's flood of requests and a stranger's unfunded channels keep the node bounded.

use crate::common::*;
use alloy::primitives::U256;
use ferry_ledger::protocol::{
    LedgerEvent, LedgerMessage, MAX_QUEUED_REQUESTS, OpenRefusal, Phase, ProtocolError,
};
use ferry_ledger::store::MemoryStore;
use ferry_simulations::ledger_net::LedgerNet;

/// "Unbounded memory per peer". The attacker (follower) rejects the leader's proposal and checkpoints it (the
/// setup of the first checkpoint attack), then floods the leader with requests, 4,000 a frame (each frame well under
/// the 1 MiB limit), while the leader's proposal of the first ones waits unanswered. Before the fix,
/// `LedgerChannel::on_request` queued every authorized request with no bound (a proposal drains at most `max_batch`,
/// one at a time): the leader's channel record, re-encoded and committed whole on every message, grew by every frame
/// (past a megabyte after a dozen). Now a leader keeps at most `MAX_QUEUED_REQUESTS` (256) of the follower's requests
/// queued and refuses the rest by name: the record stops growing once the queue is full.
#[tokio::test]
async fn a_follower_flooding_requests_is_refused_past_the_bound() {
    use ferry_ledger::protocol::{Op, Proposal};
    const PER_FRAME: usize = 4_000;
    const FRAMES: usize = 12;
    let Attacked {
        mut net,
        id,
        params,
        attacker,
        ..
    } = attacked_channel(71).await;
    let now = net.now;
    net.node(0).pay(id, ETH, U256::from(1), now).expect("pay");
    let mut hoard = Vec::new();
    steps_rejecting(&mut net, id, &mut hoard, 5).await;
    let (a, sig) = hoard.first().cloned().expect("A");
    let sigs = complete(&net, &a, sig);
    net.client
        .checkpoint(attacker, &params, &a, &sigs)
        .await
        .expect("checkpoint");
    steps_silent(&mut net, 5).await;
    let size = |net: &LedgerNet<MemoryStore>| {
        let ch = net.parties[0]
            .node
            .as_ref()
            .and_then(|n| n.channel(&id))
            .expect("the leader's channel");
        ferry_ledger::store::encode(ch).expect("encode").len()
    };
    let mut seq = 0u64;
    let mut sizes = Vec::new();
    let mut refused = 0;
    for _ in 0..FRAMES {
        let proposals: Vec<Proposal> = (0..PER_FRAME)
            .map(|_| {
                seq += 1;
                Proposal {
                    proposer: 1,
                    seq,
                    op: Op::Pay {
                        from: 1,
                        asset: ETH,
                        amount: U256::from(1),
                    },
                }
            })
            .collect();
        let msg = LedgerMessage::Request {
            channel_id: id,
            proposals,
        };
        let frame = ferry_ledger::store::encode(&msg).expect("encode").len();
        assert!(frame < 1 << 20, "each request fits one frame: {frame}");
        let now = net.now;
        net.node(0)
            .handle_message(attacker, msg, now)
            .expect("request");
        // A burst: well within `peer_timeout_ms`, so the leader's proposal just waits unanswered.
        for _ in 0..2 {
            net.step().await.expect("step");
            refused += std::mem::take(&mut net.diverted)
                .iter()
                .filter(|m| matches!(m.msg, LedgerMessage::Refuse { .. }))
                .count();
        }
        sizes.push(size(&net));
    }
    println!("leader's channel record size per frame: {sizes:?}");
    assert_eq!(
        phase(&net, 0, id),
        Some(Phase::Running),
        "the flood came while the leader waited"
    );
    assert!(
        refused >= FRAMES * PER_FRAME - 2 * MAX_QUEUED_REQUESTS,
        "every request past the bound is refused: {refused}"
    );
    assert!(
        sizes[FRAMES - 1] <= sizes[1],
        "the record stops growing once the queue is full: {sizes:?}"
    );
    assert!(
        sizes[FRAMES - 1] < 100_000,
        "the record stays small: {sizes:?}"
    );
}

/// "Unbounded memory per peer" from a stranger. Any keyed peer may send `Open` (the default `OpenPolicy` accepts)
/// and the honest node stores the channel and countersigns its pre-fund. The stranger tries 500 channels asking
/// nothing of the node (`[1, 0]`) and never deposits. Before the fix a channel in funding had no timer (the
/// follower waited for participant 0's deposit with nothing set to wake it): every record stayed in `Funding`, in
/// memory and in the store, reloaded at every restart, for ever, at no gas to the stranger. Now a peer has at most
/// `max_pending_per_peer` opens waiting (the rest refused by name), and after `funding_timeout_ms`, with nothing of
/// the node's own deposited or sent, each fails (`OpenFailed`) and is forgotten, record and all: nothing of the
/// stranger's is left and the node sent no transaction for it.
#[tokio::test]
async fn a_strangers_unfunded_channels_fail_after_the_funding_timeout() {
    const OPENS: usize = 500;
    let mut net = LedgerNet::in_memory(2, config(), 121).await.expect("net");
    let stranger = net.address(1);
    let limit = config().open.max_pending_per_peer;
    let mut refused = 0;
    for _ in 0..OPENS {
        let me = net.address(0);
        net.node(1)
            .open(me, &[(ETH, [U256::from(1), U256::ZERO])], WINDOW, 0)
            .expect("open");
        while let Some((_, m)) = net.node(1).poll_transmit() {
            match net.node(0).handle_message(stranger, m, 0) {
                Ok(()) => {}
                Err(ferry_ledger::Error::Protocol(ProtocolError::OpenRefused(
                    OpenRefusal::TooManyPending { .. },
                ))) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert_eq!(
        refused,
        OPENS - limit,
        "past the limit, opens are refused by name"
    );
    assert!(
        net.node(0).poll_timeout().is_some(),
        "a timer waits on the channels in funding"
    );
    // The stranger's own node goes away; hours pass on the honest node (past `funding_timeout_ms`, 1 h by
    // default), which restarts too.
    net.crash(1);
    for _ in 0..3 {
        net.now += 3_600_000;
        steps_silent(&mut net, 20).await;
    }
    net.crash(0);
    net.restart(0).expect("restart");
    steps_silent(&mut net, 20).await;
    let theirs = net
        .node(0)
        .channels()
        .filter(|c| c.peer() == stranger)
        .count();
    let failed_opens = net.parties[0]
        .events
        .iter()
        .filter(|e| matches!(e, LedgerEvent::OpenFailed { .. }))
        .count();
    assert_eq!(theirs, 0, "every stranger's channel is forgotten");
    assert_eq!(
        failed_opens, limit,
        "each accepted one reported as a failed open"
    );
    assert_eq!(
        net.node(0).poll_timeout(),
        None,
        "nothing waits on them any more"
    );
    assert!(
        net.landed.is_empty(),
        "the node sent no transaction: {:?}",
        net.landed
    );
}
