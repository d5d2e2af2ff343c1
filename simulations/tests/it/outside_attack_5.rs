//! A fifth outside reviewer's attacks (issue 13a). Each test PASSES WHILE THE ATTACK WORKS, asserting the damage.
//! - `a_refused_final_is_kept_and_blocks_the_players_move_on_chain`: S4/S7. A final an endpoint refuses to sign
//!   (below its entitlement) is still kept as its `final_state`; `check_move_from` then refuses every move with
//!   `Settling`, so `move_onchain` never plays the pending winning move after V is registered: the refusal that was
//!   meant to protect the winner is what makes it lose.
//! - `a_node_whose_balance_is_zero_cannot_take_its_own_top_up_back`: S12/S16 vs "nothing stays locked forever".
//!   `holds_mine` looks only at the state's balances and `locked`, not at the node's on-chain deposits the state
//!   does not count yet (`balance + dep_onchain − dep_state`): a node with 0 in the supported state that tops up is
//!   refused its own challenge (`NothingAtStake`) when the peer ignores the top-up; its deposit stays locked.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::app::rps::{self, Hand};
use ferry_simulations::virtual_net::{
    CHALLENGE_DURATION as VWINDOW, DEFAULT_DEPOSIT as VDEPOSIT, Leaders, OpenV, VirtualNet,
};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};

/// S4 / S7. A commits 10 on rock, B plays paper (B wins; A never countersigns). A sends the hub (and so B) a final
/// with the committed state's balances, signed by A alone. B rightly refuses to sign it (below its pending move),
/// but keeps it as V's `final_state`. A then challenges V with the committed state (co-signed). B's node sees the
/// registration and should play its pending move with `progress` (S7, as it does without the refused final) — but
/// `check_move_from` refuses with `Settling` because a final is kept. V finalizes by the committed state: B is not
/// paid its win.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_final_is_kept_and_blocks_the_players_move_on_chain() {
    let mut sim = VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::TowardA)
        .build();
    let v = sim.open_and_run(OpenV::game(30, 30), 100);
    let params = sim.channel(0, v).unwrap().params().clone();
    let salt = B256::repeat_byte(0x77);
    let from = sim.channel(0, v).unwrap().current();
    let commit = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    sim.node_mut(0).make_move(v, commit.clone()).unwrap();
    sim.run(3);
    // A drops B's moves (it reads them and countersigns none).
    sim.set_drop(|from, to, m| {
        from == 2 && to == 0 && matches!(m, Message::Virtual(VirtualMessage::Move { .. }))
    });
    let from = sim.channel(2, v).unwrap().current();
    let play = rps::play(&params, &from, Hand::Paper).unwrap();
    sim.node_mut(2).make_move(v, play.clone()).unwrap();
    sim.run(3);

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
    eprintln!("landed {:?} failed {:?}", sim.landed(), sim.failed());
    assert!(
        !sim.has_landed("progress V"),
        "B never plays its winning move on-chain"
    );
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, 2, "V registered at the committed state");

    sim.chain().advance_time(VWINDOW + 1).await.unwrap();
    let released = sim.run_until(400, |s| {
        s.v_phase(2, v) == Some(VirtualPhase::Released)
            && s.v_phase(1, v) == Some(VirtualPhase::Released)
    });
    let status = sim.chain().status_of(v).await.unwrap();
    let b_got = sim.balance(2, 1);
    eprintln!(
        "released {released}; V final at version {}; B's balance in its ledger {b_got} (with its win: {})",
        status.version,
        VDEPOSIT + 10
    );
    assert_eq!(status.version, 2, "V finalized by the committed state");
    assert!(
        b_got < U256::from(VDEPOSIT + 10),
        "B lost its win: got {b_got}"
    );
}

mod ledger {
    use crate::common::*;
    use alloy::primitives::U256;
    use ferry_ledger::protocol::Phase;
    use ferry_simulations::ledger_net::LedgerNet;

    /// S12 / "nothing stays locked forever". Any stranger (party 1) opens a ledger channel to the honest node
    /// asking nothing of it (`[1 wei, 0]`), funds its 1 wei; the channel runs. The honest node's user tops up
    /// `TOP` (a hub adding liquidity to an inbound channel). The stranger then vanishes without countersigning the
    /// top-up. The honest node counts the peer unresponsive and `auto_dispute`s — but `dispute` refuses with
    /// `NothingAtStake`, since `holds_mine` reads only the supported state's balance (0) and `locked` (0), not the
    /// node's own on-chain deposit beyond the state (which `withdraw` would pay it: `balance + dep_onchain −
    /// dep_state`). Nothing else ever takes the channel on-chain: `TOP` is locked for as long as the stranger
    /// likes, far beyond any challenge window.
    #[tokio::test]
    async fn a_node_whose_balance_is_zero_cannot_take_its_own_top_up_back() {
        const TOP: u64 = 500_000;
        let mut net = LedgerNet::in_memory(2, config(), 501).await.expect("net");
        let (honest, _stranger) = (net.address(0), net.address(1));
        let id = net
            .node(1)
            .open(honest, &[(ETH, [U256::from(1), U256::ZERO])], WINDOW, 0)
            .expect("open");
        let running = net
            .run_until(300, |n| {
                (0..2).all(|i| phase(n, i, id) == Some(Phase::Running))
            })
            .await
            .expect("run");
        assert!(running, "the stranger's channel runs");
        // The stranger vanishes; the honest user tops up.
        net.crash(1);
        net.node(0).top_up(id, ETH, U256::from(TOP)).expect("top up");
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
        let ph = phase(&net, 0, id);
        let paid = paid_to(&net, 0, honest);
        eprintln!(
            "honest phase {ph:?}; landed {:?}; failed {:?}; paid back {paid}; events {:?}",
            net.landed,
            net.failed,
            net.parties[0].events.iter().rev().take(8).collect::<Vec<_>>()
        );
        assert_eq!(landed(&net, "challenge"), 0, "the honest node never challenged");
        assert_eq!(paid, U256::ZERO, "nothing of the top-up came back");
        assert!(
            matches!(ph, Some(Phase::Running) | Some(Phase::Closing)),
            "still off-chain, the top-up locked: {ph:?}"
        );
        // And the node refuses to challenge even when its user asks.
        let r = net.node(0).challenge(id);
        eprintln!("user-asked challenge: {r:?}");
        assert!(r.is_err(), "NothingAtStake for the node's own 500000 wei");
    }
}
