//! A fourth outside reviewer's attacks on the virtual-channel protocol and its app interface. Each test PASSES WHEN
//! THE ATTACK WORKS: it asserts the damage done to an honest member.
//!
//! Worked (all four against an honest endpoint, hubs unharmed, S3 intact):
//! - `s4_a_no_op_move_in_a_payment_channel_makes_the_payee_sign_away_its_vouchers` (+ the generated
//!   `generated::s4_a_no_op_move_erases_every_voucher_in_a_payment_channel`): `Move` is accepted in payment channels
//!   and `VirtualChannel::balance` then reads only `latest`, forgetting vouchers (channel/mod.rs `balance`,
//!   channel/app.rs `check_move_from`).
//! - `s7_a_payment_channel_opened_with_max_moves_zero_leaves_the_payee_unable_to_redeem`: `check_prefund` never
//!   checks `params.maxMoves` against V's app (channel/open.rs).
//! - `s4_a_losing_player_settles_on_the_state_before_the_winning_move_it_leaves_unsigned` and
//!   `s5_a_final_signed_while_v_is_registered_undoes_the_payees_on_chain_move`: `check_final_for_me` compares a final
//!   with the latest off-chain co-signed state only, ignoring this endpoint's waiting move and V's registered state
//!   (channel/settle.rs).

use alloy::primitives::{B256, Bytes, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::app::rps::{self, Hand};
use ferry_ledger::app::{App, PaymentApp, payment};
use ferry_ledger::{ChannelParams, State};
use ferry_simulations::virtual_net::{
    CHALLENGE_DURATION as WINDOW, DEFAULT_DEPOSIT as DEPOSIT, ETH, Leaders, OpenV, VirtualNet,
};
use ferry_virtual::protocol::{AppRules, Message, TurnApp, VirtualMessage, VirtualPhase};

/// S4 ("B signs only a final worth its vouchers"). In a payment channel the core also accepts app `Move`s (nothing
/// limits `Move`/`make_move` to turn-based apps), and once a co-signed move exists an endpoint's own accounting
/// (`VirtualChannel::balance`) reads the balances of that move alone, forgetting every voucher received. A pays B 30
/// by vouchers (B delivers), then plays a no-op payment move (pays 0 on its own signature) from the post-fund; B's
/// node countersigns it (a valid payment-app transition), which resets B's view of its balance to the post-fund's.
/// A then settles: the final gives A its 50 back; B checks the final against its (now forgotten) vouchers and signs.
/// B is paid nothing of the 30 it was given.
#[test]
fn s4_a_no_op_move_in_a_payment_channel_makes_the_payee_sign_away_its_vouchers() {
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
    net.node_mut(0).make_move(v, to).unwrap();
    net.pump();
    // B countersigned: its own accounting now says it holds 20, the 30 received forgotten.
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(20));

    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    assert!(
        net.all_in(v, VirtualPhase::Released),
        "V settled and released"
    );
    // B's due in its ledger with the hub: DEPOSIT - 20 + 50. It got DEPOSIT - 20 + 20.
    let b = net.balance(2, 1);
    eprintln!("B's balance {b}, due {}", DEPOSIT + 30);
    assert_eq!(b, U256::from(DEPOSIT), "B got back only its own 20");
    assert!(b < U256::from(DEPOSIT + 30), "B lost the 30 it was paid");
    // A got its 50 back: A paid nothing for what B delivered.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT));
}

/// S7 ("a payee redeems its vouchers on-chain in one move") through V's params: no member checks that V's
/// `maxMoves` is what V's app needs (`check_prefund` checks the app's opening data, never `params.maxMoves`; only
/// A's own node derives it from the app). A runs its node with the payment app declared under rules of its own
/// whose `max_moves` is 0 (`set_app` is public; the opening data is the payment app's), so V is a payment channel
/// with `maxMoves = 0`: the hub and B join it as any payment channel. A pays B 30 by vouchers (B delivers), then
/// vanishes. B takes V on-chain with its certificate and tries to redeem: `progress` reverts (`TooManyMoves`, the
/// mover's count `0 < maxMoves` fails), V finalizes by the certificate, B gets its 20 back and none of the 30.
#[tokio::test(flavor = "multi_thread")]
async fn s7_a_payment_channel_opened_with_max_moves_zero_leaves_the_payee_unable_to_redeem() {
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
    let mut sim = VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::TowardA)
        .build();
    let pay_app = sim.payment_app();
    sim.node_mut(0)
        .set_app(pay_app, AppRules::turns(NoMovePayment));
    let v = sim.open_and_run(OpenV::payment(50, 20), 100);
    let params = sim.channel(2, v).unwrap().params().clone();
    assert_eq!(params.app, pay_app);
    assert_eq!(
        params.maxMoves.to::<u64>(),
        0,
        "the hub and B joined a payment V with no move"
    );
    // A pays B 30 by a voucher (its node would refuse to pay in what it calls a turn app; the key signs it anyway).
    let sig = payment::sign_voucher(sim.signer(0), &params, ETH, U256::from(30));
    sim.inject(
        0,
        2,
        Message::Virtual(VirtualMessage::Voucher {
            channel_id: v,
            asset: ETH,
            cumulative: U256::from(30),
            sig,
        }),
    )
    .unwrap();
    assert_eq!(sim.channel(2, v).unwrap().balance(0), U256::from(50));
    // A vanishes; B takes V on-chain and tries to redeem the 30.
    sim.set_offline(0, true);
    sim.node_mut(2).challenge(v).unwrap();
    sim.run(10);
    assert!(sim.has_landed("challenge V"), "{:?}", sim.failed());
    eprintln!("landed {:?}\nfailed {:?}", sim.landed(), sim.failed());
    assert!(!sim.has_landed("progress V"), "B's redeem cannot land");
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(300, |s| s.v_phase(2, v) == Some(VirtualPhase::Released)),
        "{:?} {:?}",
        sim.v_phase(2, v),
        sim.failed()
    );
    let b = sim.balance(2, 1);
    eprintln!("B's balance in its ledger {b}, due {}", DEPOSIT + 30);
    assert_eq!(
        b,
        U256::from(DEPOSIT),
        "B got back only its own 20, none of the 30 it was paid"
    );
}

/// S4 / S7 ("a move left without its countersignature is played on-chain"): an endpoint signs a final without
/// regard to its own move waiting for the other's countersignature. In rock-paper-scissors A commits 10 on rock,
/// B plays paper (B wins: on-chain B plays its move with `progress`, and A either reveals and loses or times out).
/// A sees B's move and does not countersign it; it proposes the final from the committed state instead, where
/// nobody has won. B's node checks the final against its `latest` (the committed state) only, and signs: B gets
/// its 30 back instead of the 40 it won.
#[test]
fn s4_a_losing_player_settles_on_the_state_before_the_winning_move_it_leaves_unsigned() {
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
    net.pump();
    // A, losing, settles from the committed state.
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    for _ in 0..10 {
        net.tick();
    }
    assert!(
        net.all_in(v, VirtualPhase::Released),
        "V settled: {:?}",
        net.refused()
    );
    let b = net.balance(2, 1);
    eprintln!("B's balance {b}, due {}", DEPOSIT + 10);
    assert_eq!(b, U256::from(DEPOSIT), "B's win is gone");
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT), "A lost nothing");
}

/// S4 / S5 / S7, on the embedded chain: an endpoint signs a final worth less than V's state registered on-chain,
/// even one it registered itself. As above, A commits 10 on rock, B plays paper and A withholds its
/// countersignature. B does everything right: it challenges V with the committed state and plays its move with
/// `progress` (the stake is now B's on-chain, A can only reveal and lose or time out). A then signs a final with the
/// committed state's balances at a version above B's floor and hands it to the hub. The hub signs it (S3 holds, it
/// cannot judge the game), and so does B's node: `check_final_for_me` compares the final with `balance()`, i.e.
/// the latest state both signed off-chain, not with V's registered state nor with its own waiting move. The final,
/// signed by the whole path, concludes V over the registered move (S5) and the ledgers pay out by it: B's win is
/// undone on-chain.
#[tokio::test(flavor = "multi_thread")]
async fn s5_a_final_signed_while_v_is_registered_undoes_the_payees_on_chain_move() {
    let mut sim = VirtualNet::builder(3)
        .embedded(1)
        .leaders(Leaders::TowardA)
        .build();
    let v = sim.open_and_run(OpenV::game(30, 30), 100);
    let params = sim.channel(0, v).unwrap().params().clone();
    let salt = B256::repeat_byte(0x24);
    let from = sim.channel(0, v).unwrap().current();
    let commit = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    sim.node_mut(0).make_move(v, commit.clone()).unwrap();
    sim.run(3);
    sim.set_drop(|from, to, m| {
        from == 2 && to == 0 && matches!(m, Message::Virtual(VirtualMessage::Move { .. }))
    });
    let from = sim.channel(2, v).unwrap().current();
    let play = rps::play(&params, &from, Hand::Paper).unwrap();
    sim.node_mut(2).make_move(v, play.clone()).unwrap();
    sim.run(3);
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
    assert!(
        sim.run_until(300, |s| (0..3)
            .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Released))),
        "{:?} {:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.landed(),
        sim.failed()
    );
    eprintln!("landed {:?}", sim.landed());
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(
        status.version, 10,
        "V concluded by A's final over B's registered move"
    );
    let b = sim.balance(2, 1);
    eprintln!("B's balance {b}, due {}", DEPOSIT + 10);
    assert_eq!(b, U256::from(DEPOSIT), "B's on-chain win is undone");
    assert_eq!(sim.balance(0, 0), U256::from(DEPOSIT), "A lost nothing");
}

mod generated {
    //! The first attack as a generated adversary: any payments both ways by vouchers, then a no-op payment move by
    //! either endpoint (a valid payment-app transition its node makes through its public `make_move`), then the
    //! settle. Whenever the payments do not net to zero, the endpoint that was paid on balance ends with less than
    //! its due: the final is the post-fund's split.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn s4_a_no_op_move_erases_every_voucher_in_a_payment_channel(
            a in 10u64..100,
            b in 10u64..100,
            pays in proptest::collection::vec((any::<bool>(), 1u64..20), 1..6),
            mover_is_a in any::<bool>(),
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
            prop_assume!(by_a != by_b);
            let m = if mover_is_a { 0 } else { 2 };
            let ch = net.node(m).channel(&v).unwrap().clone();
            let to = payment::pay(ch.params(), &ch.current(), m, &[U256::ZERO]).unwrap();
            net.node_mut(m).make_move(v, to).unwrap();
            net.pump();
            let now = net.now();
            net.node_mut(0).settle(v, now).unwrap();
            net.pump();
            prop_assert!(net.all_in(v, VirtualPhase::Released));
            // Dues: each endpoint's own deposit in its ledger, minus its side of V, plus its balance in V.
            let due_a = DEPOSIT - a + a - by_a + by_b;
            let due_b = DEPOSIT - b + b - by_b + by_a;
            let (got_a, got_b) = (net.balance(0, 0), net.balance(2, 1));
            let (payee, got, due) = if by_b > by_a { ("A", got_a, due_a) } else { ("B", got_b, due_b) };
            prop_assert!(got < U256::from(due), "{} got {} of its due {}", payee, got, due);
            prop_assert_eq!(U256::from(due) - got, U256::from(by_a.abs_diff(by_b)));
        }
    }
}
