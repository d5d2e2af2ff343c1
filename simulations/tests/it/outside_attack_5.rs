//! A fifth outside reviewer's attacks (issues 12 and 13), kept as regressions. Both worked when found and now fail:
//! - a final an endpoint refused (below its entitlement) was still kept and blocked its moves, so it never played its
//!   winning move on-chain: only a final this member signed makes it settle (`check_move_from`);
//! - a node with nothing in the signed state but its own top-up on-chain was refused its challenge
//!   (`NothingAtStake`) by the S16 gas guard: `holds_mine` counts its own top-ups not yet in a state.

#![allow(clippy::unwrap_used)]

use alloy::primitives::U256;
use ferry_adjudicator::Chain;
use ferry_simulations::virtual_net::{CHALLENGE_DURATION as VWINDOW, DEFAULT_DEPOSIT as VDEPOSIT};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};

/// S4 / S7. A commits 10 on rock, B plays paper (B wins; A never countersigns). A sends the hub (and so B) a final
/// with the committed state's balances, signed by A alone. B refuses to sign it (below its pending move). A then
/// challenges V with the committed state (co-signed). Found: B kept the refused final and `check_move_from` refused
/// every move with `Settling`, so B never played its move and lost its win. Now B plays its pending move with
/// `progress` (S7) and V finalizes by it.
#[tokio::test(flavor = "multi_thread")]
async fn s7_a_refused_final_does_not_block_the_players_move_on_chain() {
    let (mut sim, v, commit) = crate::common::a_withholds_bs_winning_move();

    // A's final: the committed state's balances, a high version, signed by A's key only.
    let mut fin = commit.clone();
    fin.version = alloy::primitives::aliases::U48::from(20u8);
    fin.isFinal = true;
    let sig = sim.sign(0, &fin);
    sim.inject(
        0,
        1,
        Message::Virtual(VirtualMessage::Sigs {
            params: None,
            state: fin.clone(),
            sigs: vec![Some(sig), None, None],
            fees: vec![],
        }),
    )
    .unwrap();
    sim.run(10);
    assert!(
        sim.channel(2, v).unwrap().final_signed().is_none(),
        "B refused the final (as designed)"
    );

    // A takes V on-chain with the committed state, which B countersigned.
    sim.node_mut(0).challenge(v).unwrap();
    sim.run(40);
    assert!(
        sim.has_landed("progress V"),
        "B plays its winning move on-chain: {:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, 3, "B's move on top of the committed state");

    sim.chain().advance_time(VWINDOW + 1).await.unwrap();
    let released = sim.run_until(400, |s| {
        s.v_phase(2, v) == Some(VirtualPhase::Released)
            && s.v_phase(1, v) == Some(VirtualPhase::Released)
    });
    assert!(released, "{:?}", sim.failed());
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, 3, "V finalized by B's move");
    assert_eq!(
        sim.balance(2, 1),
        U256::from(VDEPOSIT + 10),
        "B is paid its win"
    );
}

mod ledger {
    use crate::common::*;
    use alloy::primitives::U256;
    use ferry_ledger::protocol::Phase;

    /// S12 / S16 / "nothing stays locked forever". A stranger (party 1) opens a ledger channel to the honest node
    /// asking nothing of it (`[1 wei, 0]`) and funds its 1 wei; the channel runs. The honest node's user tops up
    /// `TOP` (a hub adding liquidity to an inbound channel); the stranger vanishes without countersigning the
    /// top-up. Found: `dispute` refused with `NothingAtStake`, as the signed state gave the node nothing, and `TOP`
    /// stayed locked. Now the node's own top-up counts: it challenges the silent peer and withdraws its `TOP`.
    #[tokio::test]
    async fn s16_a_node_takes_its_own_top_up_back_from_a_silent_peer() {
        const TOP: u64 = 500_000;
        let (mut net, id) = opened_channel(501, 1, [1, 0]).await;
        let honest = net.address(0);
        // The stranger vanishes; the honest user tops up.
        net.crash(1);
        net.node(0)
            .top_up(id, ETH, U256::from(TOP))
            .expect("top up");
        steps_silent(&mut net, 20).await;
        assert_eq!(
            net.node(0).channel(&id).unwrap().chain_deposited()[&ETH][1],
            U256::from(TOP),
            "the honest node's top-up is on-chain"
        );
        // Hours of local time (peer timeouts, resends), then many challenge windows of chain time.
        for _ in 0..6 {
            net.now += 3_600_000;
            steps_silent(&mut net, 30).await;
            after_window(&mut net, 30).await;
        }
        assert!(
            landed(&net, "challenge") >= 1,
            "{:?} {:?}",
            net.landed,
            net.failed
        );
        assert_eq!(
            paid_to(&net, 0, honest),
            U256::from(TOP),
            "the top-up came back: {:?}",
            net.landed
        );
        assert_eq!(phase(&net, 0, id), Some(Phase::Closed));
    }
}
