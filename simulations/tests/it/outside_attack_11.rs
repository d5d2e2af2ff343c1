//! Outside review 11 (S17), the node side: V's endpoints went on co-signing game moves while V was registered
//! on-chain and answered one registration at a time, so co-signed play could run `BOND_GRACE` (66) versions ahead
//! of a registration and an honest answer took the other honest endpoint's bond
//! (`contracts/test/OutsideAttack11.t.sol`, `test_rule_aCoSignedState66AboveARegistrationTakesItsBond`). Now an
//! endpoint signs no move `MAX_AHEAD_OF_REGISTRATION` (64) or more versions above V's registration, so every state
//! both signed stays within the grace of it.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{B256, U256};
use ferry_ledger::app::rps::{self, Hand};
use ferry_ledger::protocol::BOND_GRACE;
use ferry_simulations::virtual_net::{OpenV, VirtualNet, challenge_registered};
use ferry_virtual::Error;
use ferry_virtual::protocol::{MAX_AHEAD_OF_REGISTRATION, MoveError, VirtualError};

#[test]
fn s17_endpoints_sign_no_move_that_could_take_the_bond_of_vs_registration() {
    let mut net = VirtualNet::path(3);
    let v = net.open(OpenV::game(100, 100)).unwrap();
    net.pump();
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let current = |net: &VirtualNet, k: usize| net.node(k).channel(&v).unwrap().current();
    let salt = B256::repeat_byte(7);
    // One round of the game (three moves); stops at the first move a node refuses.
    let play_round = |net: &mut VirtualNet| -> Result<(), Error> {
        let c = rps::commit(&params, &current(net, 0), U256::from(1), Hand::Rock, salt).unwrap();
        net.node_mut(0).make_move(v, c)?;
        net.pump();
        let p = rps::play(&params, &current(net, 2), Hand::Paper).unwrap();
        net.node_mut(2).make_move(v, p)?;
        net.pump();
        let r = rps::reveal(&params, &current(net, 0), Hand::Rock, salt).unwrap();
        net.node_mut(0).make_move(v, r)?;
        net.pump();
        Ok(())
    };
    play_round(&mut net).unwrap();
    net.clear_tx_log();
    // B challenges V with its newest co-signed state; the chain registers it (B's bond held there).
    net.node_mut(2).challenge(v).unwrap();
    net.step(|_, _| false);
    let asked = net.challenges_by(2);
    assert_eq!(asked.len(), 1);
    let bonded = asked[0].0.clone();
    let reg = challenge_registered(v, 1_000_000, &bonded.state, &bonded.sigs);
    let now = net.now();
    for k in 0..3 {
        net.node_mut(k)
            .handle_chain_event(900, 0, &reg, now)
            .unwrap();
    }
    // The endpoints go on playing while the chain does not move: the first move at the limit is refused by name.
    let mut refused = None;
    for _ in 0..40 {
        if let Err(e) = play_round(&mut net) {
            refused = Some(e);
            break;
        }
    }
    match refused {
        Some(Error::Virtual(VirtualError::InvalidMove(MoveError::AheadOfRegistration {
            registered,
            version,
        }))) => {
            assert_eq!(registered, bonded.version());
            assert_eq!(version, bonded.version() + MAX_AHEAD_OF_REGISTRATION);
        }
        other => panic!("play must stop at the limit, got {other:?}"),
    }
    // Every state both endpoints signed is within the grace of the registration: none can take B's bond.
    for k in [0, 2] {
        let latest = net.node(k).channel(&v).unwrap().latest().cloned().unwrap();
        assert!(
            latest.version() < bonded.version() + BOND_GRACE,
            "member {k} holds v{} co-signed over a registration at v{}",
            latest.version(),
            bonded.version()
        );
    }
}
