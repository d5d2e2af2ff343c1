//! An app builder's own app through the harness: the `custom_app` example's Nim (its Rust rules and its contract,
//! deployed on the embedded chain) under a faulty wire, crashes, a player who stops answering, and a byzantine
//! player; and its rules against its contract on generated moves (`AppCheck`).

#[path = "../../../examples/custom_app/nim.rs"]
mod nim;
#[path = "../../../examples/custom_app/scenario.rs"]
mod scenario;

use alloy::primitives::U256;
use ferry_ledger::app::App;
use ferry_simulations::app_check::AppCheck;
use ferry_simulations::virtual_net::{App as NetApp, OpenV, VirtualNet};
use ferry_virtual::protocol::{Message, VirtualMessage, VirtualPhase};
use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scenario::{ALICE, BALANCE, BOB, HUB, STAKE};

/// The hub's two ledger balances together.
fn hub_total(net: &VirtualNet) -> U256 {
    net.balance(HUB, 0) + net.balance(HUB, 1)
}

#[test]
fn the_custom_app_example_runs_under_a_faulty_wire_crashes_and_a_player_who_stops() {
    let mut net = scenario::net();
    let hub = hub_total(&net);
    let (before, after) = scenario::a_game_over_a_faulty_wire(&mut net);
    // Alice took the last token: she keeps the lead, the stake.
    assert_eq!(after[0], before[0] + U256::from(STAKE));
    assert_eq!(after[1], before[1] - U256::from(STAKE));
    assert_eq!(hub_total(&net), hub, "the hub breaks even");
    let (version, before, after) = scenario::bob_stops_answering(&mut net);
    // Registered at version 3 (the latest both signed); Alice's waiting move made it version 4, her lead.
    assert_eq!(version, 4);
    assert_eq!(after[0], before[0] + U256::from(STAKE));
    assert_eq!(after[1], before[1] - U256::from(STAKE));
    assert_eq!(hub_total(&net), hub, "the hub breaks even");
    assert_eq!(
        net.holdings().1,
        net.initial_holdings().1,
        "funds conserved"
    );
}

#[test]
fn a_byzantine_player_registering_an_old_state_where_it_led_loses_to_the_newer_one() {
    let mut net = scenario::net();
    let v = scenario::open_game(&mut net);
    assert!(scenario::take(&mut net, v, ALICE, 2, 100));
    assert!(scenario::take(&mut net, v, BOB, 2, 100));
    // Bob leads at version 3 and keeps that state; Alice takes the last token at version 4.
    let stale = net.channel(BOB, v).unwrap().latest().cloned().unwrap();
    assert_eq!(stale.version(), 3);
    assert!(scenario::take(&mut net, v, ALICE, 3, 100));
    let ch = net.channel(BOB, v).unwrap();
    let (params, cert) = (ch.params().clone(), ch.certificate().unwrap());
    block_on(net.client().challenge(
        net.addr(BOB),
        &params,
        &stale.state,
        &stale.sigs,
        Some(&cert),
    ))
    .expect("the chain takes the old state for now");
    // Alice's node answers with the newer state before the deadline (S5); it is Bob's turn on an empty pile, so
    // nothing moves on top of it.
    assert!(net.run_until(50, |n| n.onchain_status(v).version == 4));
    net.advance_chain_time(scenario::CHALLENGE_WINDOW + 1);
    assert!(
        net.run_until(600, |n| n.all_in(v, VirtualPhase::Released)),
        "{:?}",
        net.failed()
    );
    let d = U256::from(ferry_simulations::virtual_net::DEFAULT_DEPOSIT);
    assert_eq!(net.balance(ALICE, 0), d + U256::from(STAKE));
    assert_eq!(net.balance(BOB, 1), d - U256::from(STAKE));
}

/// A byzantine Bob sends Alice moves of every shape (forged with his key, beside his own node); Alice's node
/// countersigns exactly those Nim's contract would accept, and a refused one changes nothing.
#[test]
fn a_player_countersigns_only_the_moves_the_contract_accepts() {
    let check = AppCheck::deploy(scenario::bytecode()).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: super::proptest_cases(24),
        failure_persistence: None,
        ..Config::default()
    });
    // Half of the moves by the rules, the rest bent: a balance skew, another stake, the wrong player's version.
    let moves = prop::collection::vec(
        (
            0u64..5,
            prop_oneof![Just(0i64), -6i64..7],
            prop_oneof![3 => Just(0i64), 1 => -1i64..2],
            prop_oneof![3 => Just(true), 1 => Just(false)],
        ),
        1..6,
    );
    let (taken, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&moves, |moves| {
            let mut net = VirtualNet::builder(3)
                .custom_app(scenario::rules(), scenario::bytecode())
                .build();
            let v = net
                .open(OpenV::payment(BALANCE, BALANCE).app(NetApp::Custom(0)))
                .unwrap();
            net.pump();
            assert!(scenario::take(&mut net, v, ALICE, 1, 50));
            for (take, skew, stake_skew, as_last) in moves {
                let ch = net.channel(ALICE, v).unwrap();
                let (params, from) = (ch.params().clone(), ch.current());
                let (pile, stake) = nim::data(&from).unwrap();
                // A move by the rules where one exists, bent by the generated skews.
                let mut to = nim::take(&params, &from, take.min(pile.to::<u64>()))
                    .unwrap_or_else(|_| ferry_ledger::state::next(&from).unwrap());
                let b = &mut to.outcome.assets[0].balances;
                b[2] = U256::try_from(i128::try_from(b[2]).unwrap() + i128::from(skew))
                    .unwrap_or(b[2]);
                let new_stake = if stake_skew >= 0 {
                    stake + U256::from(stake_skew)
                } else {
                    stake - U256::from(1)
                };
                to.appData = alloy::sol_types::SolValue::abi_encode_params(&(
                    nim::data(&to).map(|d| d.0).unwrap_or(pile),
                    new_stake,
                ))
                .into();
                if !as_last {
                    to.version = alloy::primitives::aliases::U48::from(to.version.to::<u64>() + 1);
                }
                let contract = check.contract_verdict(&params, &from, &to, 2).unwrap();
                let rules = scenario::rules()
                    .valid_transition(&params, &from, &to, 2)
                    .is_ok();
                prop_assert_eq!(rules, contract, "rules and contract disagree on {:?}", to);
                let sig = net.sign(BOB, &to);
                let answered = net.inject(
                    BOB,
                    ALICE,
                    Message::Virtual(VirtualMessage::Move {
                        state: to.clone(),
                        sig,
                    }),
                );
                net.pump();
                let now = net.channel(ALICE, v).unwrap().current();
                if contract {
                    prop_assert!(answered.is_ok(), "a valid move is taken: {:?}", answered);
                    prop_assert_eq!(&now, &to, "a valid move is countersigned");
                    taken.set(taken.get() + 1);
                    // Bob's own node never made that move, so the game cannot go on from here.
                    break;
                } else {
                    prop_assert!(answered.is_err(), "an invalid move is refused: {:?}", to);
                    prop_assert_eq!(now, from, "a refused move changes nothing");
                    refused.set(refused.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        taken.get() > 0 && refused.get() > 0,
        "both kinds of move were tried"
    );
}

/// Nim's rules and its contract give the same verdict on generated moves, valid and bent, by either endpoint.
#[test]
fn nim_rules_and_contract_agree() {
    let check = AppCheck::deploy(scenario::bytecode()).unwrap();
    let params = check.params(3);
    let mut runner = TestRunner::new(Config {
        cases: super::proptest_cases(200),
        failure_persistence: None,
        ..Config::default()
    });
    // Mostly a move by the rules, often bent a little: a skew of 0 and the mover whose turn it is come first.
    let skew = || prop_oneof![3 => Just(0i64), 1 => -12i64..13];
    let inputs = (
        (0u64..5, 0u64..8, 0u64..8, 0u64..40, 0u64..40),
        (
            0u64..5,
            skew(),
            skew(),
            prop_oneof![3 => Just(None), 1 => (0usize..3).prop_map(Some)],
        ),
        (
            prop_oneof![3 => Just(0i64), 1 => -1i64..2],
            prop_oneof![3 => Just(0u8), 1 => 1u8..3],
        ),
    );
    let valid = std::cell::Cell::new(0usize);
    runner
        .run(
            &inputs,
            |((version, pile, stake, a, b), (take, da, db, mover), (stake_skew, bend))| {
                let data = |p: u64, s: U256| -> alloy::primitives::Bytes {
                    alloy::sol_types::SolValue::abi_encode_params(&(U256::from(p), s)).into()
                };
                let from = check.state(&params, version, &[a, 0, b], data(pile, U256::from(stake)));
                let mut to = nim::take(&params, &from, take)
                    .unwrap_or_else(|_| ferry_ledger::state::next(&from).unwrap());
                let bal = &mut to.outcome.assets[0].balances;
                let bent = |x: U256, d: i64| U256::from((x.to::<u64>() as i64 + d).max(0) as u64);
                bal[0] = bent(bal[0], da);
                bal[2] = bent(bal[2], db);
                match bend {
                    1 => bal[1] = U256::from(1),
                    2 => to.outcome.assets[0].deposited[0] += U256::from(1),
                    _ => {}
                }
                let to_pile = nim::data(&to).map(|d| d.0.to::<u64>()).unwrap_or(pile);
                to.appData = data(
                    to_pile,
                    U256::from((stake as i64 + stake_skew).max(0) as u64),
                );
                let mover = mover.unwrap_or_else(|| nim::mover_of(&params, &to));
                let verdict = check
                    .agree(&scenario::rules(), &params, &from, &to, mover)
                    .map_err(TestCaseError::fail)?;
                valid.set(valid.get() + usize::from(verdict));
                Ok(())
            },
        )
        .unwrap();
    assert!(
        valid.get() > 0,
        "some generated moves are valid: the property is not vacuous"
    );
}
