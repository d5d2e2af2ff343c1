//! The on-chain fallback of a virtual channel, end to end on the embedded chain (A–I–B over two ledgers): B offline
//! after payments; A registering a stale state; the intermediary offline during open, during run and during settle;
//! a game player stopping mid-round. Every honest party gets at least its latest balance, funds are conserved, and
//! where the ledgers close nothing stays in the adjudicator. The net ticks every member in turn (messages, timers,
//! its chain duties), with selective delivery to stop a protocol half-way.

use alloy::primitives::{B256, U256};
use ferry_adjudicator::Chain;
use ferry_ledger::protocol::Phase;
use ferry_simulations::virtual_net::{
    CHALLENGE_DURATION as WINDOW, DEFAULT_DEPOSIT as DEPOSIT, ETH, Leaders, OpenV, VirtualNet,
};
use ferry_virtual::protocol::{IntermediaryPolicy, Message, OPEN_TIMEOUT_MS, VirtualPhase};

/// A–I–B on the embedded chain with events counting after `confirmations` blocks: A leads its ledger with I
/// (`hop 0`), I its ledger with B (`hop 1`), both funded.
fn a_i_b(confirmations: u64) -> VirtualNet {
    VirtualNet::builder(3)
        .embedded(confirmations)
        .leaders(Leaders::TowardA)
        .build()
}

/// Runs until A's ledger and B's ledger (with the vanished intermediary) are both disputed.
fn until_both_ledgers_disputed(sim: &mut VirtualNet, steps: usize) {
    assert!(
        sim.run_until(steps, |s| s.ledger_phase(0, 0) == Some(Phase::Disputed)
            && s.ledger_phase(2, 1) == Some(Phase::Disputed)),
        "{:?} {:?} {:?}",
        sim.ledger_phase(0, 0),
        sim.ledger_phase(2, 1),
        sim.failed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn b_offline_after_payments_everyone_honest_gets_its_due_on_chain() {
    let mut sim = a_i_b(1);
    let (start, total) = sim.initial_holdings().clone();
    let (l0, l1) = (0, 1);
    let v = sim.open_and_run(OpenV::payment(50, 20), 100);
    sim.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.run(5);
    assert_eq!(sim.node(2).channel(&v).unwrap().balance(0), U256::from(30));
    // B disappears (it never redeems the voucher on-chain). A challenges V with its certificate.
    sim.set_offline(2, true);
    sim.node_mut(0).challenge(v).unwrap();
    sim.run(5);
    assert!(sim.has_landed("challenge V"), "{:?}", sim.failed());
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain: A and I swap the leaf in their ledger off-chain (S10); I's ledger with B is challenged
    // when B does not answer the removal, and after its window I claims V's leaf there.
    let l0_clear = sim.run_until(100, |s| s.table(0, l0).unwrap().is_empty());
    assert!(l0_clear, "L0 still hosts V: {:?}", sim.failed());
    assert!(
        sim.run_until(200, |s| s.ledger_phase(1, l1) == Some(Phase::Disputed)),
        "{:?}",
        sim.failed()
    );
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(200, |s| s.v_phase(1, v) == Some(VirtualPhase::Released)),
        "I did not get V's leaf back: {:?} {:?} {:?}",
        sim.v_phase(1, v),
        sim.landed(),
        sim.failed()
    );
    // A and I close their ledger cooperatively.
    let (now, l) = (sim.now(), sim.hop(l0));
    sim.node_mut(0).ledger_mut().close(l, now).unwrap();
    assert!(
        sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)),
        "{:?}",
        sim.failed()
    );
    // A paid B 10 by a voucher B never redeemed: A ends where it started; I breaks even; B gets its 100 back.
    for (k, start) in start.iter().enumerate() {
        assert_eq!(sim.balance_of(k), *start, "party {k}");
    }
    assert_eq!(sim.holdings().1, total, "funds conserved");
    for tx in [
        "challenge V",
        "challenge",
        "withdraw",
        "claim",
        "concludeAndWithdraw",
    ] {
        assert!(sim.has_landed(tx), "{tx} missing from {:?}", sim.landed());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_v_state_registered_by_a_is_answered_with_the_newest_and_the_ledgers_settle_by_it()
{
    use ferry_ledger::app::rps::{self, Hand};
    let mut sim = a_i_b(1);
    let (l0, l1) = (0, 1);
    let v = sim.open_and_run(OpenV::game(30, 30), 100);
    // A commits rock, B plays paper, A reveals: A lost 10.
    let params = sim.node(0).channel(&v).unwrap().params().clone();
    let salt = B256::repeat_byte(7);
    let from = sim.node(0).channel(&v).unwrap().current();
    let m = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    sim.node_mut(0).make_move(v, m).unwrap();
    sim.run(3);
    let from = sim.node(2).channel(&v).unwrap().current();
    let m = rps::play(&params, &from, Hand::Paper).unwrap();
    sim.node_mut(2).make_move(v, m).unwrap();
    sim.run(3);
    let from = sim.node(0).channel(&v).unwrap().current();
    let m = rps::reveal(&params, &from, Hand::Rock, salt).unwrap();
    sim.node_mut(0).make_move(v, m).unwrap();
    sim.run(3);
    assert_eq!(
        sim.node(2)
            .channel(&v)
            .unwrap()
            .latest()
            .map(|l| l.version()),
        Some(4)
    );
    // A cheats: it registers V's certificate, where it still had its stake.
    let cert = sim.node(0).channel(&v).unwrap().certificate().unwrap();
    sim.client()
        .challenge(sim.addr(0), &params, &cert.state, &cert.sigs, None)
        .await
        .unwrap();
    // B's node answers with the newest state both endpoints signed (and the certificate).
    assert!(
        sim.run_until(20, |s| s.has_landed("challenge V")),
        "no answer: {:?}",
        sim.failed()
    );
    assert_eq!(sim.chain().status_of(v).await.unwrap().version, 4);
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain at version 4: both ledgers replace the leaf by that outcome, off-chain (S10).
    assert!(
        sim.run_until(100, |s| (0..3)
            .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Released))),
        "{:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.failed()
    );
    assert_eq!(sim.balance(0, l0), U256::from(DEPOSIT - 10));
    assert_eq!(
        sim.balance(1, l0) + sim.balance(1, l1),
        U256::from(2 * DEPOSIT)
    );
    assert_eq!(sim.balance(2, l1), U256::from(DEPOSIT + 10));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_settle_the_payee_redeems_its_vouchers_and_both_ledgers_are_claimed()
 {
    // The intermediary charges a fee, held in V's leaf in A's ledger with it: V got past its pre-fund, so the claim
    // pays it the fee even though it never comes back.
    const FEE: u64 = 4;
    let mut sim = a_i_b(1);
    let (start, total) = sim.initial_holdings().clone();
    let (l0, l1) = (0, 1);
    sim.set_policy(
        1,
        IntermediaryPolicy {
            fee_flat: U256::from(FEE),
            ..IntermediaryPolicy::default()
        },
    );
    let v = sim.open_and_run(
        OpenV::payment(50, 20).fees(vec![U256::ZERO, U256::from(FEE), U256::ZERO]),
        100,
    );
    sim.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.run(3);
    // The intermediary vanishes as A settles: the final can never be signed by the whole path.
    sim.set_offline(1, true);
    let now = sim.now();
    sim.node_mut(0).settle(v, now).unwrap();
    sim.run(10);
    // B challenges V with its certificate and redeems A's voucher on-chain with one move (S7).
    sim.node_mut(2).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.has_landed("progress V")),
        "{:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    assert_eq!(sim.chain().status_of(v).await.unwrap().version, 2);
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain (A 40, B 30). Each endpoint's removal goes unanswered, so each challenges its ledger
    // with the vanished intermediary; after the windows both claim V's leaf.
    until_both_ledgers_disputed(&mut sim, 300);
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(300, |s| s.v_phase(0, v) == Some(VirtualPhase::Released)
            && s.v_phase(2, v) == Some(VirtualPhase::Released)),
        "{:?} {:?} {:?}",
        sim.v_phase(0, v),
        sim.v_phase(2, v),
        sim.failed()
    );
    assert!(
        sim.run_until(300, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)
            && s.ledger_phase(2, l1) == Some(Phase::Closed)),
        "{:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    // A paid 10 and the fee; B ends 10 up; the intermediary's funds (paid to its address by the withdrawals and
    // the claims, without it doing anything) are whole, plus the fee it earned.
    assert_eq!(sim.balance_of(0), start[0] - U256::from(10 + FEE));
    assert_eq!(sim.balance_of(2), start[2] + U256::from(10));
    assert_eq!(sim.balance_of(1), start[1] + U256::from(FEE));
    assert_eq!(sim.holdings().1, total, "funds conserved");
}

/// The intermediary (charging a fee) vanishes mid-open, once A–I holds V's leaf and before the certificate is
/// complete. With `b_side_funded`, B's ledger with I holds the leaf too (B countersigned it, I never got B's
/// signature); otherwise I never got to add it there. With `back_once_v_is_final`, I returns once V is final
/// on-chain by its pre-fund; otherwise it never does.
async fn intermediary_offline_during_open(b_side_funded: bool, back_once_v_is_final: bool) {
    const FEE: u64 = 3;
    let mut sim = a_i_b(1);
    let (start, total) = sim.initial_holdings().clone();
    let (l0, l1) = (0, 1);
    sim.set_policy(
        1,
        IntermediaryPolicy {
            fee_flat: U256::from(FEE),
            ..IntermediaryPolicy::default()
        },
    );
    // The wire between I and B loses ledger messages: every one (B's ledger never hears of the leaf), or only B's
    // (B countersigns the leaf, I never learns it).
    sim.set_drop(move |from, to, m: &Message| {
        matches!(m, Message::Ledger(_))
            && if b_side_funded {
                (from, to) == (2, 1)
            } else {
                (from, to) == (1, 2) || (from, to) == (2, 1)
            }
    });
    let v = sim
        .open(OpenV::payment(50, 20).fees(vec![U256::ZERO, U256::from(FEE), U256::ZERO]))
        .unwrap();
    assert!(
        sim.run_until(100, |s| s.locked(0, l0) == U256::from(70 + FEE)
            && (!b_side_funded || s.locked(2, l1) == U256::from(70))),
        "the leaves were not added: {:?}",
        sim.failed()
    );
    // A–I holds V's leaf with I's fee in it (A put in its 50 and the fee); I–B's leaf holds no fee (B charges
    // none). The certificate is not complete.
    assert!(!sim.node(0).channel(&v).unwrap().is_funded());
    assert_eq!(sim.balance(0, l0), U256::from(DEPOSIT - 50 - FEE));
    // I vanishes.
    sim.set_offline(1, true);
    sim.clear_drop();
    // The open times out (S8). A (and B when its ledger holds the leaf) signed the post-fund, so they may not
    // refund: each challenges V with its pre-fund, signed by the whole path.
    assert!(
        sim.run_until((OPEN_TIMEOUT_MS / 100 + 50) as usize, |s| s
            .has_landed("challenge V")),
        "{:?}",
        sim.failed()
    );
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!((status.version, status.certified), (0, false));
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    if back_once_v_is_final {
        // I returns. It never signed the post-fund, so it has given the open up (S8); V is final on-chain by its
        // pre-fund, so A and I replace the leaf in their ledger by that outcome off-chain (S10), which gives the fee
        // in the leaf back to A: a failed open refunds the fee.
        sim.set_offline(1, false);
        assert!(
            sim.run_until(200, |s| s.v_phase(0, v) == Some(VirtualPhase::Released)
                && s.balance(0, l0) == U256::from(DEPOSIT)),
            "{:?} {:?} {:?} {:?}",
            (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
            [
                sim.ledger_phase(1, l0),
                sim.ledger_phase(1, l1),
                sim.ledger_phase(2, l1)
            ],
            sim.landed(),
            sim.failed()
        );
        assert_eq!(sim.balance(1, l0), U256::from(DEPOSIT));
        let (now, l) = (sim.now(), sim.hop(l0));
        sim.node_mut(0).ledger_mut().close(l, now).unwrap();
        assert!(
            sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)),
            "{:?}",
            sim.failed()
        );
        // I's proposal of the leaf to B went unanswered all along, so I's ledger, back, challenges B (with the state
        // before it); B's watcher answers with the update adding the leaf, which B countersigned. After the window
        // the leaf is claimed there by V's outcome.
        assert!(
            sim.run_until(100, |s| s.ledger_phase(2, l1) == Some(Phase::Disputed)),
            "{:?}",
            sim.failed()
        );
        sim.chain().advance_time(WINDOW + 1).await.unwrap();
        assert!(
            sim.run_until(300, |s| (1..3)
                .all(|k| s.ledger_phase(k, l1) == Some(Phase::Closed)
                    && s.v_phase(k, v) == Some(VirtualPhase::Released))),
            "{:?} {:?} {:?}",
            (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
            sim.landed(),
            sim.failed()
        );
        for (k, start) in start.iter().enumerate() {
            assert_eq!(sim.balance_of(k), *start, "party {k}");
        }
        assert!(sim.has_landed("concludeAndWithdraw"));
    } else {
        // V is final on-chain with its pre-fund outcome. A's removal of the leaf goes unanswered: A challenges its
        // ledger with the vanished I. B's ledger with I is challenged too: after B's unanswered removal when it
        // holds the leaf, or after B's unanswered close when it never did (B gave the open up, nothing of V is
        // with it).
        assert!(
            sim.run_until(100, |s| s.ledger_phase(0, l0) == Some(Phase::Disputed)),
            "{:?} {:?}",
            sim.ledger_phase(0, l0),
            sim.failed()
        );
        if !b_side_funded {
            assert_eq!(sim.v_phase(2, v), Some(VirtualPhase::Released));
            let (now, l) = (sim.now(), sim.hop(l1));
            sim.node_mut(2).ledger_mut().close(l, now).unwrap();
        }
        assert!(
            sim.run_until(100, |s| s.ledger_phase(2, l1) == Some(Phase::Disputed)),
            "{:?} {:?}",
            sim.ledger_phase(2, l1),
            sim.failed()
        );
        sim.chain().advance_time(WINDOW + 1).await.unwrap();
        assert!(
            sim.run_until(300, |s| s.ledger_phase(0, l0) == Some(Phase::Closed)
                && s.ledger_phase(2, l1) == Some(Phase::Closed)
                && s.v_phase(0, v) == Some(VirtualPhase::Released)
                && s.v_phase(2, v) == Some(VirtualPhase::Released)),
            "{:?} {:?} {:?} {:?}",
            sim.v_phase(0, v),
            sim.v_phase(2, v),
            sim.landed(),
            sim.failed()
        );
        // A gets its side of V and the fee back by the claim (V finalized by its pre-fund: the open never
        // completed, so the fee held in the leaf was not earned, S9) and B is whole. I, which never comes back, has
        // its deposits back at its address by the withdrawals and claims, without the fee.
        assert_eq!(sim.balance_of(0), start[0]);
        assert_eq!(sim.balance_of(2), start[2]);
        assert_eq!(sim.balance_of(1), start[1]);
        let claims = sim.landed_count("claim");
        assert_eq!(claims, if b_side_funded { 2 } else { 1 });
    }
    assert_eq!(sim.holdings().1, total, "funds conserved");
    assert_eq!(
        sim.adjudicator_balance(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_open_a_gets_its_side_back_on_chain_b_gives_the_open_up() {
    intermediary_offline_during_open(false, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_open_both_endpoints_get_their_sides_back_on_chain() {
    intermediary_offline_during_open(true, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_back_after_its_open_failed_pays_the_fee_back_and_everyone_ends_whole() {
    intermediary_offline_during_open(true, true).await;
}

/// A rock-paper-scissors V (stake 10) where player `stopper` stops mid-round: the other player's move waits for a
/// countersignature that never comes. The other challenges V with the latest state both signed (and the
/// certificate) and its node plays the waiting move on-chain with `progress`; the stopper never answers there, V
/// finalizes, and the outcome is claimed in the stopper's ledger with the intermediary.
async fn a_player_stops_mid_round(stopper: usize) {
    use ferry_ledger::app::rps::{self, Hand};
    let mut sim = a_i_b(1);
    let (start, total) = sim.initial_holdings().clone();
    let (l0, l1) = (0, 1);
    let v = sim.open_and_run(OpenV::game(30, 30), 100);
    let current = |s: &VirtualNet, k: usize| s.node(k).channel(&v).unwrap().current();
    let latest =
        |s: &VirtualNet, k: usize| s.node(k).channel(&v).unwrap().latest().map(|l| l.version());
    let params = sim.node(0).channel(&v).unwrap().params().clone();
    let (salt, stake) = (B256::repeat_byte(7), U256::from(10));
    // A commits rock.
    let m = rps::commit(&params, &current(&sim, 0), stake, Hand::Rock, salt).unwrap();
    sim.node_mut(0).make_move(v, m).unwrap();
    sim.run(3);
    assert_eq!(latest(&sim, 2), Some(2));
    let (active, winner, loser) = if stopper == 0 {
        // B plays paper and A, who would lose, stops before countersigning it.
        sim.set_offline(0, true);
        let m = rps::play(&params, &current(&sim, 2), Hand::Paper).unwrap();
        sim.node_mut(2).make_move(v, m).unwrap();
        (2, 2, 0)
    } else {
        // B plays scissors (both sign it); A reveals rock and wins, and B stops before countersigning the reveal.
        let m = rps::play(&params, &current(&sim, 2), Hand::Scissors).unwrap();
        sim.node_mut(2).make_move(v, m).unwrap();
        sim.run(3);
        assert_eq!(latest(&sim, 0), Some(3));
        sim.set_offline(2, true);
        let m = rps::reveal(&params, &current(&sim, 0), Hand::Rock, salt).unwrap();
        sim.node_mut(0).make_move(v, m).unwrap();
        (0, 0, 2)
    };
    sim.run(3);
    let registered = latest(&sim, active).unwrap();
    sim.node_mut(active).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.has_landed("progress V")),
        "{:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    // The round finished on-chain: one move on top of the registered state, within the game's max_moves.
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!(status.version, registered + 1);
    assert_eq!(status.moves.iter().sum::<u8>(), 1);
    assert_eq!(
        params.maxMoves.to::<u64>(),
        2,
        "two moves per player: a round's share"
    );
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain: the active player and I replace the leaf in their ledger off-chain (S10); I's removal in
    // its ledger with the stopper goes unanswered, so I challenges that ledger and claims the leaf after the window.
    let (stopped_ledger, active_ledger) = if stopper == 0 { (l0, l1) } else { (l1, l0) };
    assert!(
        sim.run_until(200, |s| s.ledger_phase(1, stopped_ledger)
            == Some(Phase::Disputed)
            && s.v_phase(active, v) == Some(VirtualPhase::Released)),
        "{:?} {:?} {:?}",
        sim.ledger_phase(1, stopped_ledger),
        sim.v_phase(active, v),
        sim.failed()
    );
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    assert!(
        sim.run_until(300, |s| s.ledger_phase(1, stopped_ledger)
            == Some(Phase::Closed)
            && s.v_phase(1, v) == Some(VirtualPhase::Released)),
        "{:?} {:?} {:?}",
        sim.v_phase(1, v),
        sim.landed(),
        sim.failed()
    );
    assert!(sim.has_landed("claim"), "{:?}", sim.landed());
    let (now, l) = (sim.now(), sim.hop(active_ledger));
    sim.node_mut(active).ledger_mut().close(l, now).unwrap();
    assert!(
        sim.run_until(100, |s| s.ledger_phase(active, active_ledger)
            == Some(Phase::Closed)),
        "{:?}",
        sim.failed()
    );
    // The winner took the stake, the loser lost it; the intermediary breaks even; nothing stays locked.
    assert_eq!(sim.balance_of(winner), start[winner] + stake);
    assert_eq!(sim.balance_of(loser), start[loser] - stake);
    assert_eq!(sim.balance_of(1), start[1]);
    assert_eq!(sim.holdings().1, total, "funds conserved");
    assert_eq!(
        sim.adjudicator_balance(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_player_stopping_before_revealing_loses_to_the_play_made_on_chain_by_progress() {
    a_player_stops_mid_round(0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_player_stopping_before_countersigning_the_reveal_loses_to_the_reveal_made_on_chain() {
    a_player_stops_mid_round(2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intermediary_offline_during_run_endpoints_get_their_latest_balances_and_the_hub_back_its_due()
 {
    let mut sim = a_i_b(1);
    let (start, total) = sim.initial_holdings().clone();
    let (l0, l1) = (0, 1);
    let v = sim.open_and_run(OpenV::payment(50, 20), 100);
    // Payments both ways: A pays 10 and 5, B pays 3.
    sim.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    sim.node_mut(2).pay(v, ETH, U256::from(3)).unwrap();
    sim.node_mut(0).pay(v, ETH, U256::from(5)).unwrap();
    sim.run(3);
    let balance = |s: &VirtualNet, k: usize| s.node(k).channel(&v).unwrap().balance(0);
    assert_eq!(
        (balance(&sim, 0), balance(&sim, 2)),
        (U256::from(38), U256::from(32))
    );
    // The intermediary disappears (its node is kept aside with everything it stored; it comes back later).
    sim.set_offline(1, true);
    // A and B still talk, but no final can be signed without I. A challenges V with its certificate; both payees
    // redeem on top of the registered state (S7), each with one progress move that nets both ways (the other's
    // latest voucher and its own payments). The first to land counts everything, so the second, built on the
    // certificate, is refused and has nothing left to redeem on the new registration: one move.
    sim.node_mut(0).challenge(v).unwrap();
    assert!(
        sim.run_until(20, |s| s.has_landed("progress V")),
        "{:?} {:?}",
        sim.landed(),
        sim.failed()
    );
    sim.run(10);
    let status = sim.chain().status_of(v).await.unwrap();
    assert_eq!((status.version, status.moves.iter().sum::<u8>()), (2, 1));
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // V is final on-chain (A 38, B 32). Each endpoint's removal of V's leaf goes unanswered, so each challenges its
    // ledger with I.
    until_both_ledgers_disputed(&mut sim, 200);
    // I comes back before the ledgers finalize: from its stored cursor on it reads V's registration, the two
    // moves, V's finalization and the challenges of both its ledgers, and holds V's on-chain outcome.
    sim.set_offline(1, false);
    sim.run(10);
    let outcome = sim
        .node(1)
        .channel(&v)
        .unwrap()
        .onchain_final()
        .cloned()
        .unwrap();
    assert_eq!(
        outcome.outcome.assets[0].balances,
        vec![U256::from(38), U256::ZERO, U256::from(32)]
    );
    for l in [l0, l1] {
        assert_eq!(sim.ledger_phase(1, l), Some(Phase::Disputed));
    }
    sim.chain().advance_time(WINDOW + 1).await.unwrap();
    // Both ledgers finalize with V's leaf in them; the leaf is claimed in each by V's outcome (with a Merkle proof
    // against the ledger's finalized state), and the withdrawals pay everyone's balances.
    assert!(
        sim.run_until(300, |s| (0..3)
            .all(|k| s.v_phase(k, v) == Some(VirtualPhase::Released))
            && [(0, l0), (1, l0), (1, l1), (2, l1)]
                .iter()
                .all(|(k, l)| s.ledger_phase(*k, *l) == Some(Phase::Closed))),
        "{:?} {:?} {:?}",
        (0..3).map(|k| sim.v_phase(k, v)).collect::<Vec<_>>(),
        sim.landed(),
        sim.failed()
    );
    let claims = sim.landed_count("claim");
    assert_eq!(claims, 2, "one claim per ledger: {:?}", sim.landed());
    // A paid 15 and received 3; B the reverse; I, not robbed, has exactly what it put in, at its address.
    assert_eq!(sim.balance_of(0), start[0] - U256::from(12));
    assert_eq!(sim.balance_of(2), start[2] + U256::from(12));
    assert_eq!(sim.balance_of(1), start[1]);
    assert_eq!(sim.holdings().1, total, "funds conserved");
    assert_eq!(
        sim.adjudicator_balance(),
        U256::ZERO,
        "nothing stays locked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s10_with_three_confirmations_v_is_final_by_the_state_registered_at_its_deadline_not_by_an_older_one()
 {
    // The nodes read the chain 2 blocks behind its head. A registers V's certificate (A 50, B 20); just before the
    // deadline A and B replace it with a newer state (A 30, B 40), and the next block is past the deadline. The
    // hub reads up to a block before the replacement: taking the head's time for "now" it would take V as final by
    // the certificate and pay its leaves out by it (S10) while the chain finalizes V by the newer state.
    let mut sim = a_i_b(3);
    let v = sim.open_and_run(OpenV::payment(50, 20), 100);
    let ch = sim.node(0).channel(&v).unwrap().clone();
    let cert = ch.certificate().unwrap();
    let a = sim.addr(0);
    sim.client()
        .challenge(a, ch.params(), &cert.state, &cert.sigs, None)
        .await
        .unwrap();
    let deadline = sim.chain().status_of(v).await.unwrap().finalizes_at;
    let mut newer = cert.state.clone();
    newer.version = alloy::primitives::aliases::U48::from(2u8);
    newer.outcome.assets[0].balances = vec![U256::from(30), U256::ZERO, U256::from(40)];
    let sigs = vec![sim.sign(0, &newer), sim.sign(2, &newer)];
    sim.chain().set_time(deadline - 10);
    sim.client()
        .challenge(a, ch.params(), &newer, &sigs, Some(&cert))
        .await
        .unwrap();
    sim.chain().set_time(deadline + 100);
    sim.drive(1);
    assert!(
        sim.node(1).channel(&v).unwrap().onchain_final().is_none(),
        "V taken as final by a state the chain may not finalize it by"
    );
    // Two blocks later the replacement is confirmed and the deadline is behind the last confirmed block.
    sim.chain().mine();
    sim.chain().mine();
    sim.drive(1);
    assert_eq!(
        sim.node(1).channel(&v).unwrap().onchain_final(),
        Some(&newer)
    );
}
