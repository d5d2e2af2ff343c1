//! The bundled apps' rules.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_contracts::GameData;
use ferry_ledger::Error;
use ferry_ledger::app::{
    App, Hand, PaymentApp, RockPaperScissors, commitment, sign_voucher, voucher_move,
};
use ferry_ledger::channel::{funded_asset, state};

use crate::support::net;

#[test]
fn payee_redeems_a_voucher_and_nothing_more() -> Result<(), Error> {
    let n = net();
    let mut v = n.virt();
    v.app = Address::repeat_byte(0xaa);
    let mut from = state(
        &v,
        5,
        vec![funded_asset(
            Address::ZERO,
            vec![U256::from(300), U256::ZERO, U256::from(100)],
        )],
        Bytes::new(),
        false,
    );
    from.appData = ferry_ledger::app::payment_data_bytes(&[U256::ZERO], &[U256::ZERO]);
    let sig = sign_voucher(&n.a, &v, Address::ZERO, U256::from(120));
    let to = voucher_move(&v, &from, 2, &[U256::from(120)], vec![sig.clone()])?;
    assert_eq!(
        to.outcome.assets[0].balances,
        vec![U256::from(180), U256::ZERO, U256::from(220)]
    );
    PaymentApp.valid_transition(&v, &from, &to, 2)?;
    // A voucher for 120 does not pay 150.
    let greedy = voucher_move(&v, &from, 2, &[U256::from(150)], vec![sig])?;
    assert!(matches!(
        PaymentApp.valid_transition(&v, &from, &greedy, 2),
        Err(Error::InvalidTransition(_))
    ));
    // A voucher signed by B for A's payment is worthless.
    let forged = sign_voucher(&n.b, &v, Address::ZERO, U256::from(120));
    let forged_move = voucher_move(&v, &from, 2, &[U256::from(120)], vec![forged])?;
    assert!(
        PaymentApp
            .valid_transition(&v, &from, &forged_move, 2)
            .is_err()
    );
    // Totals never fall.
    assert!(voucher_move(&v, &to, 2, &[U256::from(100)], vec![]).is_err());
    Ok(())
}

fn game(
    v: &ferry_contracts::ChannelParams,
    version: u64,
    a: u64,
    b: u64,
    g: GameData,
) -> ferry_contracts::State {
    state(
        v,
        version,
        vec![funded_asset(
            Address::ZERO,
            vec![U256::from(a), U256::ZERO, U256::from(b)],
        )],
        g.abi_encode().into(),
        false,
    )
}

#[test]
fn rock_paper_scissors_round() {
    let n = net();
    let v = n.virt();
    let salt = B256::repeat_byte(5);
    let c = commitment(Hand::Paper, salt);
    let ready = game(
        &v,
        1,
        100,
        100,
        GameData {
            phase: 0,
            stake: U256::ZERO,
            commitment: B256::ZERO,
            moveLast: 0,
            moveFirst: 0,
            salt: B256::ZERO,
        },
    );
    let committed = game(
        &v,
        2,
        100,
        100,
        GameData {
            phase: 1,
            stake: U256::from(10),
            commitment: c,
            moveLast: 0,
            moveFirst: 0,
            salt: B256::ZERO,
        },
    );
    let played = game(
        &v,
        3,
        90,
        110,
        GameData {
            phase: 2,
            stake: U256::from(10),
            commitment: c,
            moveLast: Hand::Rock as u8,
            moveFirst: 0,
            salt: B256::ZERO,
        },
    );
    let revealed = game(
        &v,
        4,
        110,
        90,
        GameData {
            phase: 0,
            stake: U256::from(10),
            commitment: c,
            moveLast: Hand::Rock as u8,
            moveFirst: Hand::Paper as u8,
            salt,
        },
    );
    assert_eq!(
        RockPaperScissors.valid_transition(&v, &ready, &committed, 0),
        Ok(())
    );
    assert!(
        RockPaperScissors
            .valid_transition(&v, &ready, &committed, 2)
            .is_err(),
        "B cannot commit for A"
    );
    assert_eq!(
        RockPaperScissors.valid_transition(&v, &committed, &played, 2),
        Ok(())
    );
    assert_eq!(
        RockPaperScissors.valid_transition(&v, &played, &revealed, 0),
        Ok(())
    );
    let lie = game(
        &v,
        4,
        110,
        90,
        GameData {
            phase: 0,
            stake: U256::from(10),
            commitment: c,
            moveLast: Hand::Rock as u8,
            moveFirst: Hand::Scissors as u8,
            salt,
        },
    );
    assert!(
        RockPaperScissors
            .valid_transition(&v, &played, &lie, 0)
            .is_err(),
        "reveal must match the commitment"
    );
    let overpaid = game(
        &v,
        4,
        120,
        80,
        GameData {
            phase: 0,
            stake: U256::from(10),
            commitment: c,
            moveLast: Hand::Rock as u8,
            moveFirst: Hand::Paper as u8,
            salt,
        },
    );
    assert!(
        RockPaperScissors
            .valid_transition(&v, &played, &overpaid, 0)
            .is_err()
    );
    let too_big = game(
        &v,
        2,
        100,
        100,
        GameData {
            phase: 1,
            stake: U256::from(101),
            commitment: c,
            moveLast: 0,
            moveFirst: 0,
            salt: B256::ZERO,
        },
    );
    assert!(
        RockPaperScissors
            .valid_transition(&v, &ready, &too_big, 0)
            .is_err()
    );
}
