//! V settled through the chain (synthetic chain: the chain's events made up and handed over, the transactions
//! read from the log): ledgers swap a leaf by V's on-chain outcome off-chain (S10), payees redeem their vouchers in
//! one move (S7), members conclude with the final rather than swap a leaf while V may still finalize otherwise, a
//! leaf whose removal goes unanswered is taken on-chain.

use alloy::primitives::U256;
use ferry_ledger::protocol::ChainTx;
use ferry_simulations::virtual_net::{
    DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet, challenge_registered, concluded,
};
use ferry_virtual::protocol::{Message, Tx, VirtualError, VirtualEvent, VirtualPhase, VirtualTx};

#[test]
fn once_v_is_final_on_chain_ledgers_settle_its_leaf_off_chain_from_that_outcome() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    let cert = net.node(0).channel(&v).unwrap().certificate().unwrap();
    // B stops answering; V is challenged with its certificate and the window passes (the chain's events, as the
    // watcher hands them over).
    let registered = challenge_registered(v, 5_000, &cert.state, &cert.sigs);
    for i in 0..2 {
        net.node_mut(i)
            .handle_chain_event(900, 0, &registered, 0)
            .unwrap();
        net.node_mut(i).handle_block(900, 4_000, 0).unwrap();
    }
    // Before the deadline nothing moves.
    assert!(net.table(0, 0).unwrap().contains(&v));
    for i in 0..2 {
        net.node_mut(i).handle_block(901, 5_000, 0).unwrap();
    }
    for _ in 0..20 {
        net.step(|from, to| from == 2 || to == 2);
    }
    // A and I replace V's leaf in their ledger by the on-chain outcome (S10), without B and without a transaction.
    assert!(net.table(0, 0).unwrap().is_empty());
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT));
    assert_eq!(net.balance(1, 0), U256::from(DEPOSIT));
    assert_eq!(
        net.node(0).channel(&v).unwrap().phase(),
        VirtualPhase::Released
    );
    // What the member holds as V's on-chain outcome is the registered certificate.
    assert_eq!(
        net.node(0).channel(&v).unwrap().onchain_final(),
        Some(&cert.state)
    );
}

#[test]
fn once_v_is_registered_on_chain_no_payment_is_made_or_counted() {
    let mut net = VirtualNet::path(3);
    let v = net.open_payment(50, 20);
    net.pump();
    net.node_mut(0).pay(v, ETH, U256::from(5)).unwrap();
    net.pump();
    // V's certificate is registered; B learns it first, and redeems the 5 it holds with one move.
    let cert = net.node(0).channel(&v).unwrap().certificate().unwrap();
    let registered = challenge_registered(v, 5_000, &cert.state, &cert.sigs);
    let now = net.now();
    net.node_mut(2)
        .handle_chain_event(900, 0, &registered, now)
        .unwrap();
    net.clear_tx_log();
    net.step(|_, _| false);
    let redeemed: Vec<_> = net
        .tx_log()
        .iter()
        .filter_map(|(k, tx)| match tx {
            Tx::Virtual(VirtualTx::Progress { to, .. }) if *k == 2 => {
                Some(to.outcome.assets[0].balances.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        redeemed,
        vec![vec![U256::from(45), U256::ZERO, U256::from(25)]]
    );
    // A, which has not seen it yet, pays 3 more: B counts nothing after the registration it redeemed on.
    net.node_mut(0).pay(v, ETH, U256::from(3)).unwrap();
    net.step(|_, _| false);
    net.step(|_, _| false);
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(25));
    assert!(net.events(2).iter().any(|e| matches!(
        e,
        VirtualEvent::Refused { channel_id, .. } if *channel_id == v
    )));
    // Once A sees the registration it pays nothing more.
    net.node_mut(0)
        .handle_chain_event(900, 0, &registered, now)
        .unwrap();
    assert_eq!(
        net.node_mut(0).pay(v, ETH, U256::from(1)),
        Err(ferry_virtual::Error::Virtual(VirtualError::Settling))
    );
}

#[test]
fn s10_a_member_holding_the_final_swaps_no_leaf_by_it_while_v_is_registered_and_concludes_v_with_it()
 {
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    // A cheating A registers V's certificate (which still gives it 50), then settles: the final (A 40, B 30) is
    // signed by the whole path.
    let cert = net.node(0).channel(&v).unwrap().certificate().unwrap();
    net.feed(
        0..3,
        &challenge_registered(v, 5_000, &cert.state, &cert.sigs),
    );
    net.clear_tx_log();
    net.node_mut(0).settle(v, 0).unwrap();
    net.pump();
    let fin = net.node(1).channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(
        fin.state.outcome.assets[0].balances,
        vec![U256::from(40), U256::ZERO, U256::from(30)]
    );
    // No ledger swaps V's leaf by the final while V may still finalize on-chain by the certificate (which would pay
    // the hub 20 + 50 for the 40 + 30 it owes): each member concludes V with the final instead (S10), and nobody
    // answers the certificate with a challenge.
    for (k, hop) in [(0, 0), (1, 0), (1, 1), (2, 1)] {
        assert!(
            net.table(k, hop).unwrap().contains(&v),
            "member {k} swapped the leaf in ledger {hop}"
        );
    }
    for k in 0..3 {
        assert_eq!(net.conclusions_by(k), vec![fin.version()], "member {k}");
    }
    assert!(net.challenges_by(1).is_empty());
    // The conclusion lands: V is final on-chain by the final, and both ledgers swap the leaf by it off-chain.
    net.feed(0..3, &concluded(v, fin.version()));
    net.pump();
    for hop in 0..2 {
        assert!(net.table(1, hop).unwrap().is_empty());
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(
        net.balance(1, 0) + net.balance(1, 1),
        U256::from(2 * DEPOSIT)
    );
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

#[test]
fn s10_a_hub_whose_ledger_goes_on_chain_with_the_leaf_concludes_v_with_the_final_it_holds() {
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    // A settles but withholds its ledger messages from the hub: the final completes, the hub's ledger with B is
    // paid out by it, A's is not.
    net.node_mut(0).settle(v, 0).unwrap();
    for _ in 0..30 {
        net.step_selective(|from, to, m| from == 0 && to == 1 && matches!(m, Message::Ledger(_)));
    }
    assert!(net.node(1).channel(&v).unwrap().final_signed().is_some());
    assert!(net.table(1, 1).unwrap().is_empty());
    assert!(net.table(1, 0).unwrap().contains(&v));
    // The hub takes its ledger with A on-chain. Its leaf can be claimed there only by V's on-chain outcome: the hub
    // concludes V with the final (a challenge with the certificate would let V finalize by A 50, B 20 and cost the
    // hub the 10 it already paid B).
    net.clear_tx_log();
    let hop = net.hop(0);
    net.node_mut(1).ledger_mut().challenge(hop).unwrap();
    net.step(|_, _| true);
    let challenge = net
        .tx_log()
        .iter()
        .find_map(|(k, tx)| match tx {
            Tx::Ledger(ChainTx::Challenge { state, .. }) if *k == 1 => Some(state.clone()),
            _ => None,
        })
        .unwrap();
    net.feed(
        [1],
        &challenge_registered(hop, 5_000, &challenge.state, &challenge.sigs),
    );
    net.step(|_, _| true);
    let fin = net.node(1).channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(net.conclusions_by(1), vec![fin.version()]);
    assert!(net.challenges_by(1).is_empty());
}

#[test]
fn s7_payments_both_ways_above_the_balances_are_redeemed_in_one_move_that_nets_them() {
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(10, 10));
    // A pays 10, B 15, A 12: each payee's vouchers exceed what the payer holds in the certificate (10).
    for (k, amount) in [(0, 10), (2, 15), (0, 12)] {
        net.node_mut(k).pay(v, ETH, U256::from(amount)).unwrap();
        net.pump();
    }
    assert_eq!(net.node(0).channel(&v).unwrap().balance(0), U256::from(3));
    assert_eq!(net.node(2).channel(&v).unwrap().balance(0), U256::from(17));
    let cert = net.node(0).channel(&v).unwrap().certificate().unwrap();
    net.clear_tx_log();
    net.feed(
        [0, 2],
        &challenge_registered(v, 5_000, &cert.state, &cert.sigs),
    );
    net.step(|_, _| true);
    // Each payee's move redeems the other's vouchers and counts its own payments: the balances each endpoint's
    // accounting says, whichever lands first (a redeem alone would take 15 from B's 10, which the app refuses).
    for k in [0, 2] {
        let moves: Vec<_> = net
            .tx_log()
            .iter()
            .filter_map(|(i, tx)| match tx {
                Tx::Virtual(VirtualTx::Progress {
                    from, to, mover, ..
                }) if *i == k => {
                    assert_eq!(*mover, k);
                    assert_eq!(from, &cert.state);
                    Some(to.outcome.assets[0].balances.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            moves,
            vec![vec![U256::from(3), U256::ZERO, U256::from(17)]],
            "member {k}"
        );
    }
}

#[test]
fn s10_a_leaf_whose_removal_the_peer_ignores_is_taken_on_chain() {
    // V settles, but A (which stands for A's side of ledger A–H, so proposes the leaf's removal there) never
    // sends a ledger message again: the leaf would lock H's side of it for as long as A likes. ESCALATE_MS after
    // H held the final signed by the whole path, H challenges A–H (V's leaf is then claimed on-chain); it leaves
    // H–B, whose leaf was paid out, alone.
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let silent = |from: usize, to: usize, m: &Message| {
        matches!(m, Message::Ledger(_)) && (from == 0 || to == 0)
    };
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    for _ in 0..20 {
        net.step_selective(silent);
    }
    assert!(net.node(1).channel(&v).unwrap().final_signed().is_some());
    assert!(!net.table(1, 0).unwrap().is_empty());
    assert!(net.table(1, 1).unwrap().is_empty());
    let ledger_challenges = |net: &VirtualNet| {
        net.tx_log()
            .iter()
            .filter_map(|(i, tx)| match tx {
                Tx::Ledger(ChainTx::Challenge { params, .. }) if *i == 1 => {
                    Some(ferry_ledger::contracts::channel_id(params))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    net.set_now(net.now() + ferry_virtual::protocol::ESCALATE_MS / 2);
    let now = net.now();
    net.node_mut(1).handle_timeout(now).unwrap();
    net.step_selective(silent);
    assert!(ledger_challenges(&net).is_empty(), "too early");
    net.set_now(net.now() + ferry_virtual::protocol::ESCALATE_MS);
    let now = net.now();
    net.node_mut(1).handle_timeout(now).unwrap();
    net.step_selective(silent);
    assert_eq!(ledger_challenges(&net), vec![net.hop(0)]);
}
