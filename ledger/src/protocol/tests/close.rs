//! Closing and disputes: the cooperative close, the answer to a stale challenge (S5), a final countersigned after
//! the chain closed the channel.

use super::*;

#[test]
fn cooperative_close_and_the_dispute_answer() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    let stale = p.ch(1, id).supported().unwrap().clone();
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.pump();
    // A stale challenge: both answer with the newer state.
    p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: id,
        finalizesAt: alloy::primitives::aliases::U48::from(5000u32),
        state: stale.state.clone(),
        sigs: stale.sigs.clone(),
    }));
    p.drain(0);
    p.drain(1);
    assert!(
        p.txs[0]
            .iter()
            .any(|t| matches!(t, ChainTx::Challenge { state, .. } if state.version() == 3))
    );
    assert!(p.events[0].iter().any(|e| matches!(
        e,
        LedgerEvent::ChallengeAnswered {
            stale: 2,
            answered_with: 3,
            ..
        }
    )));
    assert_eq!(p.phase(0, id), Phase::Disputed);
    assert!(
        p.node(0).pay(id, ETH, U256::from(1), 0).is_err(),
        "no updates while disputed"
    );
    // The window passes: participant 0 withdraws with the registered state.
    p.block(5000);
    p.drain(0);
    assert!(
        p.txs[0]
            .iter()
            .any(|t| matches!(t, ChainTx::Withdraw { .. }))
    );
    assert_eq!(p.phase(0, id), Phase::Finalized);

    // Cooperative close on a fresh pair: exactly one concludeAndWithdraw, from the closer.
    let mut q = Pair::new();
    let id = q.open();
    q.node(1).close(id, 0).unwrap();
    q.pump();
    assert_eq!(q.phase(0, id), Phase::Closing);
    let closes = |txs: &[ChainTx]| {
        txs.iter()
            .filter(|t| matches!(t, ChainTx::ConcludeAndWithdraw { .. }))
            .count()
    };
    assert_eq!((closes(&q.txs[0]), closes(&q.txs[1])), (0, 1));
    assert!(
        q.node(0).pay(id, ETH, U256::from(1), 0).is_err(),
        "nothing after the final state"
    );
    q.chain(Ev::Concluded(IAdjudicator::Concluded {
        channelId: id,
        version: alloy::primitives::aliases::U48::from(3u8),
    }));
    let to = q.addr(0);
    q.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
        channelId: id,
        asset: ETH,
        to,
        amount: U256::from(100),
    }));
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    assert_eq!(
        closes(&q.txs[0]),
        0,
        "the leader never sent a second closing transaction"
    );
}

#[test]
fn a_final_countersigned_after_the_chain_closed_the_channel_leaves_it_closed() {
    let mut q = Pair::new();
    let id = q.open();
    q.node(0).close(id, 0).unwrap();
    // The leader's final reaches the follower, which countersigns it; the countersignature is slow to come back.
    q.drain(0);
    for (from, m) in std::mem::take(&mut q.held) {
        let sender = q.addr(from);
        q.node(1).handle_message(sender, m, 0).unwrap();
    }
    q.drain(1);
    let late = std::mem::take(&mut q.held);
    assert!(!late.is_empty());
    // Meanwhile the follower concluded with it on-chain: the leader reads the conclusion and the payouts.
    let version = q.ch(1, id).supported().unwrap().version();
    q.chain(Ev::Concluded(IAdjudicator::Concluded {
        channelId: id,
        version: alloy::primitives::aliases::U48::from(version),
    }));
    for i in 0..2 {
        let to = q.addr(i);
        q.chain(Ev::Withdrawn(IAdjudicator::Withdrawn {
            channelId: id,
            asset: ETH,
            to,
            amount: U256::from(100),
        }));
    }
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    q.txs[0].clear();
    // The countersignature arrives: the final is complete, the channel stays closed and nothing is sent on-chain.
    for (from, m) in late {
        let sender = q.addr(from);
        q.node(0).handle_message(sender, m, 0).unwrap();
    }
    q.drain(0);
    assert_eq!(q.phase(0, id), Phase::Closed);
    assert!(q.txs[0].is_empty(), "{:?}", q.txs[0]);
}

#[test]
fn s5_a_closing_node_answers_a_stale_challenge_with_the_final_at_once() {
    // The follower signed the leader's final and waits the grace period for the leader's closing transaction.
    // The leader registers an older state instead, with a challenge window shorter than that grace period (chain
    // time is not the node's clock): the follower must not wait, the final it holds ends the dispute now.
    let mut p = Pair::new();
    let id = p.open();
    let stale = p.ch(1, id).supported().unwrap().clone();
    p.node(1).pay(id, ETH, U256::from(30), 0).unwrap();
    p.pump();
    p.node(0).close(id, 0).unwrap();
    p.pump();
    assert_eq!(p.phase(1, id), Phase::Closing);
    let concludes = |txs: &[ChainTx]| {
        txs.iter()
            .filter(|t| matches!(t, ChainTx::ConcludeAndWithdraw { .. }))
            .count()
    };
    assert_eq!(concludes(&p.txs[1]), 0, "the follower waits for the closer");
    p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
        channelId: id,
        finalizesAt: alloy::primitives::aliases::U48::from(10u32),
        state: stale.state.clone(),
        sigs: stale.sigs.clone(),
    }));
    p.drain(1);
    let close = p.txs[1]
        .iter()
        .find_map(|t| match t {
            ChainTx::ConcludeAndWithdraw { state, .. } => Some(state.clone()),
            _ => None,
        })
        .expect("the follower concludes with the final before the window closes");
    assert!(close.state.isFinal);
    assert_eq!(close.state.outcome.assets[0].balances[1], U256::from(70));
    assert_eq!(concludes(&p.txs[1]), 1);
}
