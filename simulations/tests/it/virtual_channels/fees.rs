//! Routing fees and failed opens (synthetic chain): fees charged in the funding update and earned once V is past
//! its pre-fund, policies refused by name; an open that fails half-way refunds the fee through V's pre-fund
//! outcome on-chain, and whoever signed the post-fund goes on-chain rather than refunding.

use alloy::primitives::{B256, U256};
use ferry_ledger::protocol::LedgerEvent;
use ferry_simulations::virtual_net::{
    DEFAULT_DEPOSIT as DEPOSIT, OpenV, VirtualNet, challenge_registered,
};
use ferry_virtual::protocol::{
    IntermediaryPolicy, Message, OPEN_TIMEOUT_MS, VirtualEvent, VirtualPhase,
};

#[test]
fn intermediaries_charge_their_fees_in_the_funding_update_and_refuse_what_breaks_their_policy() {
    let mut net = VirtualNet::path(4);
    net.set_policy(
        1,
        IntermediaryPolicy {
            fee_flat: U256::from(2),
            ..IntermediaryPolicy::default()
        },
    );
    net.set_policy(
        2,
        IntermediaryPolicy {
            fee_ppm: 100_000,
            ..IntermediaryPolicy::default()
        },
    );
    let total = U256::from(70);
    let fees = vec![
        U256::ZERO,
        net.node(1).quote(total),
        net.node(2).quote(total),
        U256::ZERO,
    ];
    assert_eq!(fees[1..3], [U256::from(2), U256::from(7)]);
    let v = net.open(OpenV::payment(50, 20).fees(fees.clone())).unwrap();
    net.pump();
    assert!(net.refused().is_empty(), "{:?}", net.refused());
    assert_eq!(net.node(3).channel(&v).unwrap().phase(), VirtualPhase::Open);
    // The funding updates hold the fees in V's leaves: A puts both fees (9) into its leaf with I1, I1 the 7 it
    // passes on into its leaf with I2. Nobody is paid yet: each fee is earned once V got past its pre-fund.
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 9));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert_eq!(net.balance(1, 1), U256::from(DEPOSIT - 50 - 7));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT - 20));
    for (hop, fee) in [(0, 9u64), (1, 7), (2, 0)] {
        let table = net.table(hop, hop).unwrap();
        let leaf = table.get(&v).unwrap();
        assert_eq!(
            (leaf.fee, leaf.amounts[0].amount),
            (U256::from(fee), U256::from(70 + fee)),
            "ledger {hop}"
        );
    }
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    assert_eq!(
        net.balance(1, 0) + net.balance(1, 1),
        U256::from(2 * DEPOSIT + 2),
        "I1 earned its fee"
    );
    assert_eq!(
        net.balance(2, 1) + net.balance(2, 2),
        U256::from(2 * DEPOSIT + 7),
        "I2 earned its fee"
    );
    assert_eq!(
        net.balance(0, 0),
        U256::from(DEPOSIT - 9),
        "A paid the fees, nothing else"
    );

    // A quote below I2's fee, a channel above I1's cap, a side above what I1 holds: each refused by name.
    let mut low = fees.clone();
    low[2] = U256::from(1);
    net.clear_refused();
    net.open(OpenV::payment(50, 20).fees(low)).unwrap();
    net.pump();
    assert!(
        net.refused().iter().any(|r| r.contains("charges 7")),
        "{:?}",
        net.refused()
    );
    net.set_policy(
        1,
        IntermediaryPolicy {
            max_per_channel: U256::from(60),
            ..IntermediaryPolicy::default()
        },
    );
    net.set_policy(2, IntermediaryPolicy::default());
    net.clear_refused();
    net.open(OpenV::payment(50, 20).fees(vec![U256::ZERO; 4]))
        .unwrap();
    net.pump();
    assert!(
        net.refused().iter().any(|r| r.contains("per-channel cap")),
        "{:?}",
        net.refused()
    );
    net.set_policy(1, IntermediaryPolicy::default());
    net.clear_refused();
    net.open(OpenV::payment(5, 150).fees(vec![U256::ZERO; 4]))
        .unwrap_or_default();
    net.pump();
    assert!(
        net.refused().iter().any(|r| r.contains("capacity short")),
        "{:?}",
        net.refused()
    );
    // The refused opens were given up after the open timeout by A, which never signed their post-funds: nothing
    // of them is locked anywhere.
    let failed = net
        .events(0)
        .iter()
        .filter(|e| matches!(e, VirtualEvent::OpenFailed { .. }))
        .count();
    assert_eq!(failed, 3);
    for h in 0..3 {
        assert!(net.table(h, h).unwrap().is_empty());
    }
}

/// The ledger messages on the wire between path members 1 and 2 (both ways).
fn ledger_between_1_and_2(from: usize, to: usize, m: &Message) -> bool {
    matches!(m, Message::Ledger(_)) && from + to == 3 && from.abs_diff(to) == 1
}

/// A–I–B where I charges a fee of 3: A opens V (A 50, B 20) and the I–B ledger loses every message for 20 steps,
/// so A–I holds V's leaf (with the fee) and I–B does not.
fn open_with_the_i_b_ledger_cut() -> (VirtualNet, B256) {
    let mut net = VirtualNet::path(3);
    net.set_policy(
        1,
        IntermediaryPolicy {
            fee_flat: U256::from(3),
            ..IntermediaryPolicy::default()
        },
    );
    let v = net
        .open(OpenV::payment(50, 20).fees(vec![U256::ZERO, U256::from(3), U256::ZERO]))
        .unwrap();
    for _ in 0..20 {
        net.step_selective(ledger_between_1_and_2);
    }
    (net, v)
}

#[test]
fn a_failed_open_refunds_the_fee_and_a_member_that_signed_the_post_fund_challenges_v_with_its_pre_fund()
 {
    // The I–B ledger loses every message: B's side never gets V's leaf.
    let (mut net, v) = open_with_the_i_b_ledger_cut();
    // A–I holds the leaf with I's fee in it (A put in its 50 and the 3). A signed the post-fund; I, whose ledger
    // with B lacks the leaf, did not.
    assert_eq!(net.locked(0, 0), U256::from(70 + 3));
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 3));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert!(net.challenges_by(0).is_empty());
    // The open times out.
    net.set_now(OPEN_TIMEOUT_MS + 1_000);
    let now = net.now();
    net.fire_timers();
    for _ in 0..20 {
        net.step_selective(ledger_between_1_and_2);
    }
    // I gives the open up (S8). It never earned the fee: it stays in the leaf, which still locks A's side of V and
    // the fee (A signed the post-fund, so A does not agree to a refund off-chain).
    assert_eq!(
        net.node(1).channel(&v).unwrap().phase(),
        VirtualPhase::Aborted
    );
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 50 - 3));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT - 20));
    assert_eq!(net.locked(0, 0), U256::from(70 + 3));
    assert_eq!(
        net.node(2).channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    // A signed the post-fund, so it never refunds (S8): it challenges V with the pre-fund signed by the whole path,
    // once, and reports the failed open.
    let prefund = net.node(0).channel(&v).unwrap().prefund().clone();
    let asked = net.challenges_by(0);
    assert_eq!(asked.len(), 1);
    assert_eq!((&asked[0].0.state, asked[0].1), (&prefund, false));
    assert!(
        net.events(0)
            .contains(&VirtualEvent::OpenFailed { channel_id: v })
    );
    assert!(net.table(0, 0).unwrap().contains(&v));
    // The chain registers the pre-fund and V finalizes by it: A and I replace the leaf by that outcome, off-chain,
    // which gives A the fee back (V never got past its pre-fund, S9).
    let registered = challenge_registered(v, 5_000, &prefund, &asked[0].0.sigs);
    for i in 0..3 {
        net.node_mut(i)
            .handle_chain_event(900, 0, &registered, now)
            .unwrap();
        net.node_mut(i).handle_block(901, 5_000, now).unwrap();
    }
    net.pump();
    assert_eq!(
        net.balance(0, 0),
        U256::from(DEPOSIT),
        "A whole, fee included"
    );
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT));
    for k in [0, 1] {
        assert!(net.table(k, 0).unwrap().is_empty());
    }
    assert_eq!(
        net.node(0).channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    let hop = net.hop(0);
    assert_eq!(
        net.events(1)
            .iter()
            .filter(|e| matches!(e, VirtualEvent::Ledger(LedgerEvent::Updated { channel_id, .. }) if *channel_id == hop))
            .count(),
        2,
        "A–I took two updates: the leaf with the fee in it, the leaf's removal giving the fee back"
    );
}

#[test]
fn a_hub_that_completes_the_certificate_after_v_s_pre_fund_was_registered_answers_with_it_then() {
    // The I–B ledger loses every message for now: I cannot sign the post-fund.
    let (mut net, v) = open_with_the_i_b_ledger_cut();
    assert!(!net.node(1).channel(&v).unwrap().is_funded());
    // Someone registers V's pre-fund on-chain. I holds nothing newer yet: it has nothing to answer with.
    let pre = net.node(1).channel(&v).unwrap().prefund_signed().unwrap();
    let registered = challenge_registered(v, 5_000, &pre.state, &pre.sigs);
    net.clear_tx_log();
    for i in 0..3 {
        net.node_mut(i)
            .handle_chain_event(900, 0, &registered, 0)
            .unwrap();
    }
    net.step(|_, _| true);
    assert!(net.challenges_by(1).is_empty());
    // The wire heals before the deadline; the certificate completes. I answers the pending registration with it
    // (version 1 replaces the pre-fund, S5), so V finalizes past its pre-fund and the fee in its leaf is I's (S9).
    net.pump();
    assert!(net.node(1).channel(&v).unwrap().is_funded());
    let asked = net.challenges_by(1);
    assert_eq!(asked.len(), 1, "{:?}", net.tx_log());
    assert_eq!(asked[0].0.version(), 1);
    net.pump();
    assert_eq!(net.challenges_by(1).len(), 1, "once per registered version");
}

#[test]
fn a_member_that_gave_up_an_open_waits_for_its_abandoned_update_and_challenges_v_when_the_peer_registers_it()
 {
    // V over members 1 (A), 2 (I) and 3 (B): I leads its ledger with B.
    let mut net = VirtualNet::path(4);
    let v = net.open(OpenV::payment(50, 20).between(1, 3)).unwrap();
    // B countersigns I's update adding V's leaf; its signature never reaches I. The A–I ledger hears nothing of V.
    let b_to_i = |from: usize, to: usize, m: &Message| {
        matches!(m, Message::Ledger(_)) && matches!((from, to), (3, 2) | (1, 2) | (2, 1))
    };
    for _ in 0..20 {
        net.step_selective(b_to_i);
    }
    assert_eq!(net.locked(3, 2), U256::from(70));
    assert_eq!(net.locked(2, 2), U256::ZERO);
    assert_eq!(net.locked(2, 1), U256::ZERO);
    net.set_now(OPEN_TIMEOUT_MS + 1_000);
    let now = net.now();
    net.node_mut(2).handle_timeout(now).unwrap();
    assert_eq!(
        net.node(2).channel(&v).unwrap().phase(),
        VirtualPhase::Aborted
    );
    // I's ledger with B goes on-chain with the latest state both signed that I knows (before the leaf): its update
    // in flight is abandoned and the leaf leaves I's table, but B may still register that update (B holds it
    // signed by both), so I does not count the leaf as gone.
    let hop = net.hop(2);
    let registered =
        |s: &ferry_ledger::SignedState| challenge_registered(hop, 9_000, &s.state, &s.sigs);
    let old = net
        .node(2)
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    net.node_mut(2)
        .handle_chain_event(900, 0, &registered(&old), now)
        .unwrap();
    assert!(!net.table(2, 2).unwrap().contains(&v));
    assert_eq!(
        net.node(2).channel(&v).unwrap().phase(),
        VirtualPhase::Aborted,
        "not released while its signed update may come back"
    );
    net.step_selective(b_to_i);
    assert!(net.challenges_by(2).is_empty());
    // B answers with the update adding the leaf: I adopts it; its ledger is on-chain with V's leaf, which can be
    // claimed only once V is final on-chain, so I challenges V with the pre-fund signed by the whole path.
    let newer = net
        .node(3)
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    net.node_mut(2)
        .handle_chain_event(901, 0, &registered(&newer), now)
        .unwrap();
    assert!(net.table(2, 2).unwrap().contains(&v));
    net.step_selective(b_to_i);
    let asked = net.challenges_by(2);
    assert_eq!(asked.len(), 1, "{:?}", net.tx_log());
    assert_eq!(
        (&asked[0].0.state, asked[0].1),
        (net.node(2).channel(&v).unwrap().prefund(), false)
    );
}
