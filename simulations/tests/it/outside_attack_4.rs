//! A fourth outside reviewer's attacks on the virtual-channel protocol and its app interface (issue 12), kept as
//! regressions. Each worked against an honest endpoint when it was found (hubs unharmed, S3 intact) and now fails:
//! - a no-op app move in a payment channel made the payee's accounting forget its vouchers: payment channels refuse
//!   app moves (`MoveError::PaymentChannel`);
//! - a payment channel opened with `maxMoves = 0` left the payee unable to redeem on-chain: every member checks V's
//!   `maxMoves` against its app's at join;
//! - a losing player proposed the final from the state before the other's winning move, and a final signed while V
//!   was registered undid the payee's on-chain move: an endpoint signs a final only if it gives it at least the best
//!   of its own accounting, V's registered state and its own move waiting for a countersignature
//!   (`VirtualChannel::entitlement`).

#![allow(clippy::unwrap_used)]

use alloy::primitives::{B256, Bytes, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::app::rps::{self, Hand};
use ferry_ledger::app::{App, PaymentApp, payment};
use ferry_ledger::{ChannelParams, State};
use ferry_simulations::virtual_net::{
    CHALLENGE_DURATION as WINDOW, DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet,
};
use ferry_virtual::protocol::{
    AppRules, Message, MoveError, TurnApp, VirtualError, VirtualMessage, VirtualPhase,
};

/// S4 ("B signs only a final worth its vouchers"). Found: the core accepted app `Move`s in payment channels, and once
/// a co-signed move existed an endpoint's accounting read that move alone, forgetting every voucher received. A paid
/// B 30 by vouchers, played a no-op payment move from the post-fund, B countersigned it and then signed a final
/// giving A its 50 back. Now a payment channel refuses app moves, from its own node and from the peer, and B is
/// paid its 30.
#[test]
fn s4_a_payment_channel_refuses_app_moves_so_none_erases_the_vouchers() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    assert!(net.all_in(v, VirtualPhase::Open));
    net.node_mut(0).pay(v, ETH, U256::from(30)).unwrap();
    net.pump();
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(50));

    // A's no-op move: it pays 0 on its own signature, from the post-fund (a valid payment-app transition).
    let ch = net.node(0).channel(&v).unwrap().clone();
    let to = payment::pay(ch.params(), &ch.current(), 0, &[U256::ZERO]).unwrap();
    assert!(matches!(
        net.node_mut(0).make_move(v, to.clone()),
        Err(ferry_virtual::Error::Virtual(VirtualError::InvalidMove(
            MoveError::PaymentChannel
        )))
    ));
    // A's key signs it anyway and sends it: B refuses it and keeps its vouchers.
    let sig = net.sign(0, &to);
    let sent = Message::Virtual(VirtualMessage::Move { state: to, sig });
    assert!(net.inject(0, 2, sent).is_err());
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(50));

    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    assert!(
        net.all_in(v, VirtualPhase::Released),
        "V settled and released"
    );
    // B's due in its ledger with the hub: DEPOSIT - 20 + 50; A paid its 30.
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 30));
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 30));
}

/// S7 ("a payee redeems its vouchers on-chain in one move") through V's params. Found: no member checked that V's
/// `maxMoves` is what V's app needs. A declared the payment app under rules of its own with `max_moves` 0, the hub
/// and B joined a payment V with `maxMoves = 0`, and B's redeem reverted on-chain (`TooManyMoves`). Now every member
/// checks V's `maxMoves` against its own rules for V's app: the hub refuses to join, and V never opens.
#[test]
fn s7_a_virtual_channel_whose_max_moves_are_not_its_apps_is_refused_at_join() {
    /// The payment app's rules with no on-chain move.
    #[derive(Debug)]
    struct NoMovePayment;
    impl App for NoMovePayment {
        fn valid_transition(
            &self,
            params: &ChannelParams,
            from: &State,
            to: &State,
            mover: usize,
        ) -> ferry_ledger::Result<()> {
            PaymentApp.valid_transition(params, from, to, mover)
        }
    }
    impl TurnApp for NoMovePayment {
        fn initial_data(&self, assets: usize) -> Bytes {
            payment::initial_payment_data(assets)
        }
        fn max_moves(&self) -> u64 {
            0
        }
    }
    let mut net = VirtualNet::path(3);
    let pay_app = net.payment_app();
    net.node_mut(0)
        .set_app(pay_app, AppRules::turns(NoMovePayment));
    let v = net.open(OpenV::payment(50, 20)).unwrap();
    assert_eq!(
        net.node(0)
            .channel(&v)
            .unwrap()
            .params()
            .maxMoves
            .to::<u64>(),
        0
    );
    net.pump();
    assert!(net.channel(1, v).is_none(), "the hub did not join");
    assert!(net.channel(2, v).is_none(), "B never heard of it");
    assert!(
        net.refused()
            .iter()
            .any(|r| r.contains("the params' max_moves are not the app's")),
        "{:?}",
        net.refused()
    );
}

/// S4 / S7 ("a move left without its countersignature is played on-chain"). Found: an endpoint signed a final
/// without regard to its own move waiting for the other's countersignature. In rock-paper-scissors A commits 10 on
/// rock, B plays paper (B wins: on-chain B can play its move with `progress`); A withholds its countersignature and
/// proposes the final from the committed state, where nobody has won, and B signed it. Now B's floor counts its
/// pending move: it refuses the final, which never completes.
#[test]
fn s4_a_player_refuses_a_final_below_its_move_waiting_for_a_countersignature() {
    let mut net = VirtualNet::path(3);
    let v = net.open(OpenV::game(30, 30)).unwrap();
    net.pump();
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let salt = B256::repeat_byte(0x42);
    let from = net.node(0).channel(&v).unwrap().current();
    let commit = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    net.node_mut(0).make_move(v, commit).unwrap();
    net.pump();
    // A drops B's moves (it reads them, and countersigns none).
    net.set_drop(|from, to, m| {
        from == 2 && to == 0 && matches!(m, Message::Virtual(VirtualMessage::Move { .. }))
    });
    let from = net.node(2).channel(&v).unwrap().current();
    let play = rps::play(&params, &from, Hand::Paper).unwrap();
    net.node_mut(2).make_move(v, play).unwrap();
    // B resends its move while A drops it: the net never goes quiet, so it runs a while.
    net.run(20);
    // A, losing, settles from the committed state.
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    for _ in 0..10 {
        net.tick();
    }
    let at_b = net.channel(2, v).unwrap();
    assert!(
        at_b.final_signed().is_none(),
        "B signed no final below its pending move"
    );
    assert_ne!(at_b.phase(), VirtualPhase::Released);
    assert_eq!(
        net.balance(2, 1),
        U256::from(DEPOSIT - 30),
        "B's side still in V"
    );
}

/// S4 / S5 / S7, on the embedded chain. Found: an endpoint signed a final worth less than V's state registered
/// on-chain, even one it registered itself. A commits 10 on rock, B plays paper and A withholds its countersignature;
/// B challenges V and plays its move with `progress`. A then signed a final with the committed state's balances and
/// handed it to the hub; the hub and B signed it, and it concluded V over B's registered move (S5). Now B's floor
/// counts V's registered state: it refuses the final, V finalizes on-chain by B's move, and B is paid its win.
#[tokio::test(flavor = "multi_thread")]
async fn s5_a_player_refuses_a_final_below_v_registered_on_chain() {
    let (mut sim, v, commit) = crate::common::a_withholds_bs_winning_move();
    // B takes V on-chain and plays its move there.
    sim.node_mut(2).challenge(v).unwrap();
    assert!(
        sim.run_until(30, |s| s.has_landed("progress V")),
        "{:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, 3, "B's winning move is registered");
    // A's final: the committed state's balances, above B's version floor (3 + 1 + max_moves).
    let mut fin = commit.clone();
    fin.version = alloy::primitives::aliases::U48::from(10u8);
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
    sim.run(30);
    assert!(
        sim.channel(2, v).unwrap().final_signed().is_none(),
        "B signed no final below V's registered state"
    );
    // Nobody concludes: V finalizes on-chain by B's move, and every ledger pays out by it.
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(400, |s| s.v_phase(2, v) == Some(VirtualPhase::Released)
            && s.v_phase(1, v) == Some(VirtualPhase::Released)),
        "{:?} {:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.landed(),
        sim.failed()
    );
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, 3, "V finalized by B's registered move");
    assert_eq!(
        sim.balance(2, 1),
        U256::from(DEPOSIT + 10),
        "B is paid its win"
    );
}

mod generated {
    //! The first attack as a generated adversary: any payments both ways by vouchers, then any payment-app move by
    //! either endpoint (paying any amounts on its own signature, through its node or signed by its key and sent),
    //! then the settle. Every move is refused and each endpoint ends with exactly its due.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn s4_no_app_move_in_a_payment_channel_changes_what_the_endpoints_are_due(
            a in 10u64..100,
            b in 10u64..100,
            pays in proptest::collection::vec((any::<bool>(), 1u64..20), 1..6),
            mover_is_a in any::<bool>(),
            move_pays in 0u64..5,
        ) {
            let mut net = VirtualNet::path(3);
            let v = net.open_payment(a, b);
            net.pump();
            let (mut by_a, mut by_b) = (0u64, 0u64);
            for (from_a, amount) in pays {
                let k = if from_a { 0 } else { 2 };
                if net.node_mut(k).pay(v, ETH, U256::from(amount)).is_ok() {
                    if from_a { by_a += amount } else { by_b += amount }
                }
                net.pump();
            }
            let m = if mover_is_a { 0 } else { 2 };
            let ch = net.node(m).channel(&v).unwrap().clone();
            if let Ok(to) = payment::pay(ch.params(), &ch.current(), m, &[U256::from(move_pays)]) {
                prop_assert!(net.node_mut(m).make_move(v, to.clone()).is_err());
                let sig = net.sign(m, &to);
                let sent = Message::Virtual(VirtualMessage::Move { state: to, sig });
                prop_assert!(net.inject(m, 2 - m, sent).is_err());
            }
            net.pump();
            let now = net.now();
            net.node_mut(0).settle(v, now).unwrap();
            net.pump();
            prop_assert!(net.all_in(v, VirtualPhase::Released));
            // Dues: each endpoint's own deposit in its ledger, minus its side of V, plus its balance in V.
            let due_a = DEPOSIT - a + a - by_a + by_b;
            let due_b = DEPOSIT - b + b - by_b + by_a;
            prop_assert_eq!(net.balance(0, 0), U256::from(due_a));
            prop_assert_eq!(net.balance(2, 1), U256::from(due_b));
        }
    }
}
