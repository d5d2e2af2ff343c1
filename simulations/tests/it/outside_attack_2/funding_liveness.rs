//! Funding liveness: a peer that never deposits, and a funding deposit that fails once, leave nothing locked.

use crate::common::*;
use alloy::primitives::U256;
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::{LedgerEvent, LedgerMessage, Phase};
use ferry_simulations::ledger_net::LedgerNet;

/// "Nothing stays locked forever … a ledger whose peer stops answering is challenged after `peer_timeout_ms`". The
/// attacker countersigns the honest opener's pre-fund (so the opener deposits) and then never deposits its own
/// share. Before the fix nothing waited on the peer's deposit (the pre-fund completed stopped the timer and the
/// post-fund is signed only once every deposit is in): the opener's channel stayed in `Funding` for ever, with no
/// timer, no `PeerUnresponsive` and no challenge, its deposit locked until its operator noticed. Now after
/// `funding_timeout_ms` the opener, having deposited, reports the peer unresponsive and (`auto_dispute`) challenges
/// with the pre-fund, whose payout gives each side its own deposits: the opener is paid its `DEPOSIT` back.
#[tokio::test]
async fn an_opener_whose_peer_never_deposits_is_paid_back_after_the_funding_timeout() {
    let mut net = LedgerNet::in_memory(2, config(), 131).await.expect("net");
    let adjudicator = net.chain.adjudicator();
    let (honest, attacker) = (net.address(0), net.address(1));
    net.crash(1);
    let id = net
        .node(0)
        .open(
            attacker,
            &[(ETH, [U256::from(DEPOSIT), U256::from(DEPOSIT)])],
            WINDOW,
            0,
        )
        .expect("open");
    let (_, open) = net.node(0).poll_transmit().expect("open message");
    let LedgerMessage::Open { prefund, .. } = open else {
        panic!("not an open")
    };
    let ctx = *net.node(0).context();
    let sig = net.parties[1].signer.sign_state(&ctx, &prefund);
    net.node(0)
        .handle_message(
            attacker,
            LedgerMessage::Sign {
                channel_id: id,
                version: 0,
                sig,
                have_yours: true,
            },
            0,
        )
        .expect("pre-fund countersigned");
    // Hours pass (past `funding_timeout_ms`, 1 h by default), and the chain's time with them.
    for _ in 0..5 {
        steps_silent(&mut net, 200).await;
        net.advance_chain_time(WINDOW + 1).await.expect("time");
        net.now += 3_600_000;
    }
    assert!(
        net.parties[0]
            .events
            .iter()
            .any(|e| matches!(e, LedgerEvent::PeerUnresponsive { .. })),
        "the peer is reported unresponsive"
    );
    assert!(
        landed(&net, "challenge") >= 1,
        "the opener challenged with the pre-fund: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    assert_eq!(
        paid_to(&net, 0, honest),
        U256::from(DEPOSIT),
        "the opener gets its deposit back"
    );
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::ZERO, "nothing stays locked in the adjudicator");
}

/// Liveness between two honest nodes ("nothing stays locked forever"); no attacker beyond one failed transaction.
/// The follower's funding deposit fails once (an RPC error, a gas spike: `handle_tx_failed`). Before the fix nothing
/// asked for it again: `handle_tx_failed` did not re-run `drive`, and in `Funding` neither node had a timer (the
/// pre-fund completed, the opener's deposit in), so both stayed in `Funding` for ever with the opener's deposit
/// locked. Now a channel in funding wakes up periodically (every `max_resend_ms`) and asks again for a deposit that
/// failed: the follower's deposit lands and the channel runs.
#[tokio::test]
async fn a_followers_failed_funding_deposit_is_asked_again() {
    use ferry_adjudicator::watcher;
    use ferry_ledger::protocol::ChainTx;
    let (mut net, id) = prefunded_by_hand(141).await;
    let adjudicator = net.chain.adjudicator();
    let a0 = net.address(0);
    let first = net.node(0).poll_tx().expect("the opener's deposit");
    watcher::submit(&net.client, a0, &first)
        .await
        .expect("opener deposits");
    net.node(0).handle_tx_done(&first).expect("done");
    let chain: std::sync::Arc<dyn Chain> = net.chain.clone();
    watcher::sync::<_, ferry_adjudicator::Error>(chain.as_ref(), net.node(1), 0)
        .await
        .expect("sync");
    let second = net.node(1).poll_tx().expect("the follower's deposit");
    assert!(matches!(second, ChainTx::Deposit { participant: 1, .. }));
    net.node(1)
        .handle_tx_failed(&second, "transient RPC error".into())
        .expect("reported");
    // Both honest nodes run on for hours.
    for _ in 0..5 {
        steps_silent(&mut net, 200).await;
        net.now += 3_600_000;
    }
    assert!(
        landed(&net, "deposit") >= 1,
        "the follower's deposit is asked again and lands: {:?}",
        net.landed
    );
    assert_eq!(phase(&net, 0, id), Some(Phase::Running));
    assert_eq!(phase(&net, 1, id), Some(Phase::Running));
    let held = net.chain.balance(adjudicator).await.expect("bal");
    assert_eq!(held, U256::from(2 * DEPOSIT), "both deposits are in");
}
