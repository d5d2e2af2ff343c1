//! A rock-paper-scissors game in a virtual channel (synthetic chain): moves both endpoints sign, moves that break
//! the rules refused, and a move left without its countersignature played on-chain with `progress`.

use alloy::primitives::{B256, U256};
use ferry_ledger::app::rps::{self, Hand};
use ferry_simulations::virtual_net::{
    DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet, challenge_registered,
};
use ferry_virtual::protocol::{Tx, VirtualPhase, VirtualTx};

#[test]
fn a_game_runs_in_a_virtual_channel_by_moves_both_endpoints_sign() {
    let mut net = VirtualNet::path(3);
    let v = net.open(OpenV::game(30, 30)).unwrap();
    net.pump();
    assert_eq!(net.node(2).channel(&v).unwrap().phase(), VirtualPhase::Open);
    // Payments are for payment channels only.
    assert!(net.node_mut(0).pay(v, ETH, U256::from(1)).is_err());
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let salt = B256::repeat_byte(0x51);
    // A commits 10 on rock; B plays paper; A reveals: B wins the stake.
    let from = net.node(0).channel(&v).unwrap().current();
    let commit = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    // B may not move first, and a move that breaks the rules is refused before it is signed.
    let b_first = rps::commit(&params, &from, U256::from(10), Hand::Rock, salt).unwrap();
    assert!(net.node_mut(2).make_move(v, b_first).is_err());
    let mut cheat = commit.clone();
    cheat.outcome.assets[0].balances[0] += U256::from(1);
    assert!(net.node_mut(0).make_move(v, cheat).is_err());
    net.node_mut(0).make_move(v, commit).unwrap();
    net.pump();
    let from = net.node(2).channel(&v).unwrap().current();
    assert_eq!(from.version.to::<u64>(), 2);
    let play = rps::play(&params, &from, Hand::Paper).unwrap();
    net.node_mut(2).make_move(v, play).unwrap();
    net.pump();
    let from = net.node(0).channel(&v).unwrap().current();
    let reveal = rps::reveal(&params, &from, Hand::Rock, salt).unwrap();
    net.node_mut(0).make_move(v, reveal).unwrap();
    net.pump();
    let latest = net.node(2).channel(&v).unwrap().latest().cloned().unwrap();
    assert_eq!(latest.version(), 4);
    assert_eq!(
        latest.state.outcome.assets[0].balances,
        vec![U256::from(20), U256::ZERO, U256::from(40)]
    );
    assert!(net.refused().is_empty(), "{:?}", net.refused());
    let now = net.now();
    net.node_mut(2).settle(v, now).unwrap();
    net.pump();
    for i in 0..3 {
        assert_eq!(
            net.node(i).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {i}"
        );
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

#[test]
fn a_game_move_left_without_its_countersignature_is_played_on_chain_with_progress() {
    let mut net = VirtualNet::path(3);
    let v = net.open(OpenV::game(30, 30)).unwrap();
    net.pump();
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let current = |net: &VirtualNet, k: usize| net.node(k).channel(&v).unwrap().current();
    let salt = B256::repeat_byte(9);
    // A commits (both sign); B plays, and its move never reaches A.
    let m = rps::commit(&params, &current(&net, 0), U256::from(10), Hand::Rock, salt).unwrap();
    net.node_mut(0).make_move(v, m).unwrap();
    net.pump();
    let play = rps::play(&params, &current(&net, 2), Hand::Paper).unwrap();
    net.node_mut(2).make_move(v, play.clone()).unwrap();
    net.step(|from, _| from == 2);
    net.clear_tx_log();
    // B challenges V with the latest state both signed, and the chain registers it: B's node plays its waiting move
    // on top of it with progress (S7), once however often the event comes.
    net.node_mut(2).challenge(v).unwrap();
    net.step(|_, _| false);
    let asked = net.challenges_by(2);
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].0.version(), asked[0].1), (2, true));
    let registered = challenge_registered(v, 5_000, &asked[0].0.state, &asked[0].0.sigs);
    let now = net.now();
    for _ in 0..2 {
        net.node_mut(2)
            .handle_chain_event(900, 0, &registered, now)
            .unwrap();
    }
    net.step(|_, _| false);
    let moves: Vec<_> = net
        .tx_log()
        .iter()
        .filter_map(|(k, tx)| match tx {
            Tx::Virtual(VirtualTx::Progress {
                from,
                to,
                mover,
                sig,
                ..
            }) => Some((*k, from.clone(), to.clone(), *mover, sig.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(
        (moves[0].0, &moves[0].1, &moves[0].2, moves[0].3),
        (2, &asked[0].0.state, &play, 2)
    );
    // A learns B's move from the chain: its next move starts from there, and is played on-chain too.
    let progressed = ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents::Progressed(
        ferry_ledger::contracts::IAdjudicator::Progressed {
            channelId: v,
            finalizesAt: alloy::primitives::aliases::U48::from(5_000u32),
            moverIndex: U256::from(2),
            to: play.clone(),
            moverSig: moves[0].4.clone(),
        },
    );
    for (block, ev) in [(900, &registered), (901, &progressed)] {
        net.node_mut(0)
            .handle_chain_event(block, 0, ev, now)
            .unwrap();
    }
    assert_eq!(current(&net, 0), play);
    net.clear_tx_log();
    let reveal = rps::reveal(&params, &current(&net, 0), Hand::Rock, salt).unwrap();
    net.node_mut(0).make_move(v, reveal.clone()).unwrap();
    net.step(|_, _| false);
    assert!(
        net.tx_log().iter().any(|(k, tx)| *k == 0
            && matches!(tx, Tx::Virtual(VirtualTx::Progress { from, to, mover: 0, .. })
                if *from == play && *to == reveal)),
        "{:?}",
        net.tx_log()
    );
}
