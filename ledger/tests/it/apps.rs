//! The bundled apps' rules and the helpers that build their moves.

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolValue;
use ferry_contracts::{ChannelParams, GameData, PaymentData, State};
use ferry_ledger::Error;
use ferry_ledger::app::rps::{self, COMMITTED, PLAYED, READY};
use ferry_ledger::app::{
    App, Hand, PaymentApp, RockPaperScissors, commitment, initial_payment_data, pay, payment_data,
    sign_voucher, verify_voucher, voucher, voucher_move,
};
use ferry_ledger::channel::{funded_asset, state};
use proptest::prelude::*;

use crate::support::{Net, net};

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidTransition(_)))
}

// ---------------------------------------------------------------------------------------------- payments

fn payment_channel(n: &Net) -> (ChannelParams, State) {
    let mut v = n.virt();
    v.app = Address::repeat_byte(0xaa);
    let from = state(
        &v,
        5,
        vec![funded_asset(
            Address::ZERO,
            vec![U256::from(300), U256::ZERO, U256::from(100)],
        )],
        initial_payment_data(1),
        false,
    );
    (v, from)
}

#[test]
fn payee_redeems_a_voucher_and_nothing_more() -> Result<(), Error> {
    let n = net();
    let (v, from) = payment_channel(&n);
    let sig = sign_voucher(&n.a, &v, Address::ZERO, U256::from(120));
    verify_voucher(
        &v,
        &voucher(&v, n.a.address(), Address::ZERO, U256::from(120)),
        &sig,
    )?;
    let to = voucher_move(&v, &from, 2, &[U256::from(120)], vec![sig.clone()])?;
    assert_eq!(
        to.outcome.assets[0].balances,
        vec![U256::from(180), U256::ZERO, U256::from(220)]
    );
    assert_eq!(to.version, from.version + U48::from(1u8));
    PaymentApp.valid_transition(&v, &from, &to, 2)?;
    // A voucher for 120 does not pay 150.
    let greedy = voucher_move(&v, &from, 2, &[U256::from(150)], vec![sig.clone()])?;
    assert!(invalid(PaymentApp.valid_transition(&v, &from, &greedy, 2)));
    // A voucher signed by B for A's payment is worthless.
    let forged = sign_voucher(&n.b, &v, Address::ZERO, U256::from(120));
    assert_eq!(
        verify_voucher(
            &v,
            &voucher(&v, n.a.address(), Address::ZERO, U256::from(120)),
            &forged
        ),
        Err(Error::WrongSigner { index: 0 })
    );
    let forged_move = voucher_move(&v, &from, 2, &[U256::from(120)], vec![forged])?;
    assert!(invalid(PaymentApp.valid_transition(
        &v,
        &from,
        &forged_move,
        2
    )));
    // A voucher of another channel.
    let other = n.virt();
    let elsewhere = sign_voucher(&n.a, &other, Address::ZERO, U256::from(120));
    assert!(matches!(
        verify_voucher(
            &v,
            &voucher(&other, n.a.address(), Address::ZERO, U256::from(120)),
            &elsewhere
        ),
        Err(Error::WrongChannel { .. })
    ));
    let elsewhere_move = voucher_move(&v, &from, 2, &[U256::from(120)], vec![elsewhere])?;
    assert!(invalid(PaymentApp.valid_transition(
        &v,
        &from,
        &elsewhere_move,
        2
    )));
    // A move with the new total but no voucher signatures.
    let unsigned = voucher_move(&v, &from, 2, &[U256::from(120)], vec![])?;
    assert!(invalid(
        PaymentApp.valid_transition(&v, &from, &unsigned, 2)
    ));
    // Totals never fall; more than the payer holds cannot be paid.
    assert!(voucher_move(&v, &to, 2, &[U256::from(100)], vec![]).is_err());
    assert!(voucher_move(&v, &from, 2, &[U256::from(301)], vec![]).is_err());
    // The hub redeems nothing.
    assert_eq!(
        voucher_move(&v, &from, 1, &[U256::from(1)], vec![]),
        Err(Error::InvalidParticipant(1))
    );
    Ok(())
}

#[test]
fn a_mover_pays_on_its_own_signature() -> Result<(), Error> {
    let n = net();
    let (v, from) = payment_channel(&n);
    let to = pay(&v, &from, 0, &[U256::from(50)])?;
    assert_eq!(payment_data(&to)?.paidByFirst, vec![U256::from(50)]);
    PaymentApp.valid_transition(&v, &from, &to, 0)?;
    // B cannot claim it raised A's total.
    assert!(invalid(PaymentApp.valid_transition(&v, &from, &to, 2)));
    // B pays back.
    let back = pay(&v, &to, 2, &[U256::from(20)])?;
    PaymentApp.valid_transition(&v, &to, &back, 2)?;
    assert_eq!(
        back.outcome.assets[0].balances,
        vec![U256::from(270), U256::ZERO, U256::from(130)]
    );
    assert!(pay(&v, &from, 0, &[U256::from(301)]).is_err());
    assert!(pay(&v, &from, 0, &[]).is_err());
    Ok(())
}

#[test]
fn payment_moves_keep_everything_else() -> Result<(), Error> {
    let n = net();
    let (v, from) = payment_channel(&n);
    let to = pay(&v, &from, 0, &[U256::from(50)])?;
    let edit = |f: &dyn Fn(&mut State)| {
        let mut s = to.clone();
        f(&mut s);
        s
    };
    let cases = [
        edit(&|s| s.outcome.assets[0].asset = Address::repeat_byte(1)),
        edit(&|s| s.outcome.assets[0].locked = U256::from(1)),
        edit(&|s| s.outcome.assets[0].balances[1] = U256::from(1)),
        edit(&|s| s.outcome.assets[0].balances[0] += U256::from(1)),
        edit(&|s| s.outcome.assets[0].balances[2] -= U256::from(1)),
        edit(&|s| s.outcome.assets.clear()),
        edit(&|s| s.outcome.assets[0].balances.truncate(1)),
        edit(&|s| s.appData = Bytes::from_static(b"junk")),
        edit(&|s| {
            s.appData = PaymentData {
                paidByFirst: vec![U256::from(50), U256::ZERO],
                paidByLast: vec![U256::ZERO],
                voucherSigs: vec![],
            }
            .abi_encode()
            .into()
        }),
        edit(&|s| {
            s.appData = PaymentData {
                paidByFirst: vec![U256::from(50)],
                paidByLast: vec![],
                voucherSigs: vec![],
            }
            .abi_encode()
            .into()
        }),
    ];
    for (k, bad) in cases.iter().enumerate() {
        assert!(
            invalid(PaymentApp.valid_transition(&v, &from, bad, 0)),
            "case {k}"
        );
    }
    // Cumulative totals never fall.
    let lower = pay(&v, &to, 0, &[U256::ZERO])?;
    let mut lower = lower;
    lower.appData = payment_data_bytes_with(&[U256::from(49)], &[U256::ZERO]);
    lower.outcome.assets[0].balances = vec![U256::from(251), U256::ZERO, U256::from(149)];
    assert!(invalid(PaymentApp.valid_transition(&v, &to, &lower, 0)));
    // Params without participants or a mover that is no endpoint.
    assert!(invalid(PaymentApp.valid_transition(&v, &from, &to, 1)));
    let mut empty = v.clone();
    empty.participants.clear();
    assert!(invalid(PaymentApp.valid_transition(&empty, &from, &to, 0)));
    Ok(())
}

fn payment_data_bytes_with(first: &[U256], last: &[U256]) -> Bytes {
    ferry_ledger::app::payment_data_bytes(first, last)
}

#[test]
fn app_data_with_dirty_uint8_is_refused_like_solidity() {
    // A voucher signature's `v` is a uint8: high bits set make Solidity's abi.decode revert.
    let data = PaymentData {
        paidByFirst: vec![U256::ZERO],
        paidByLast: vec![U256::ZERO],
        voucherSigs: vec![ferry_contracts::Signature {
            v: 27,
            r: B256::repeat_byte(1),
            s: B256::repeat_byte(2),
        }],
    };
    let mut bytes = data.abi_encode();
    assert!(ferry_ledger::app::decode_app_data::<PaymentData>(&bytes).is_ok());
    // Trailing bytes are fine, as in Solidity.
    bytes.extend_from_slice(&[0u8; 7]);
    assert!(ferry_ledger::app::decode_app_data::<PaymentData>(&bytes).is_ok());
    bytes.truncate(bytes.len() - 7);
    let v_word = bytes.len() - 3 * 32; // the last signature's v
    bytes[v_word] = 1;
    assert!(matches!(
        ferry_ledger::app::decode_app_data::<PaymentData>(&bytes),
        Err(Error::AppData(_))
    ));
}

// ---------------------------------------------------------------------------------------------- rock-paper-scissors

fn game(v: &ChannelParams, version: u64, a: u64, b: u64, g: GameData) -> State {
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

fn ready(v: &ChannelParams) -> State {
    let mut s = game(v, 1, 100, 100, GameData::default());
    s.appData = rps::ready_data();
    s
}

#[test]
fn rock_paper_scissors_rounds_built_with_the_helpers() -> Result<(), Error> {
    let n = net();
    let v = n.virt();
    let stake = U256::from(10);
    for (first, last, a_after) in [
        (Hand::Paper, Hand::Rock, 110u64),
        (Hand::Rock, Hand::Paper, 90),
        (Hand::Scissors, Hand::Scissors, 100),
    ] {
        let salt = rps::random_salt();
        let r = ready(&v);
        let c = rps::commit(&v, &r, stake, first, salt)?;
        assert_eq!(rps::game_data(&c)?.commitment, commitment(first, salt));
        let p = rps::play(&v, &c, last)?;
        assert_eq!(
            p.outcome.assets[0].balances,
            vec![U256::from(90), U256::ZERO, U256::from(110)]
        );
        let done = rps::reveal(&v, &p, first, salt)?;
        assert_eq!(
            done.outcome.assets[0].balances,
            vec![U256::from(a_after), U256::ZERO, U256::from(200 - a_after)]
        );
        assert_eq!(rps::game_data(&done)?.phase, READY);
        assert_eq!(done.version, r.version + U48::from(3u8));
        // The next round starts from the revealed state.
        rps::commit(&v, &done, stake, Hand::Rock, salt)?;
        // A reveal that does not open the commitment.
        assert!(invalid(rps::reveal(&v, &p, Hand::Rock, B256::ZERO)));
    }
    // Stakes beyond a balance, or zero.
    assert!(invalid(rps::commit(
        &v,
        &ready(&v),
        U256::from(101),
        Hand::Rock,
        B256::ZERO
    )));
    assert!(invalid(rps::commit(
        &v,
        &ready(&v),
        U256::ZERO,
        Hand::Rock,
        B256::ZERO
    )));
    // Out of turn.
    assert!(invalid(rps::play(&v, &ready(&v), Hand::Rock)));
    assert!(Hand::Rock.beats(Hand::Scissors) && !Hand::Rock.beats(Hand::Paper));
    assert_eq!(Hand::from_u8(2), Some(Hand::Paper));
    assert_eq!(Hand::from_u8(4), None);
    Ok(())
}

#[allow(clippy::too_many_arguments)] // one argument per GameData field, for compact tables below
fn phase(
    v: &ChannelParams,
    p: u8,
    a: u64,
    b: u64,
    stake: u64,
    c: B256,
    ml: u8,
    mf: u8,
    salt: B256,
) -> State {
    game(
        v,
        3,
        a,
        b,
        GameData {
            phase: p,
            stake: U256::from(stake),
            commitment: c,
            moveLast: ml,
            moveFirst: mf,
            salt,
        },
    )
}

#[test]
fn every_game_rule_rejects() {
    let n = net();
    let v = n.virt();
    let salt = B256::repeat_byte(5);
    let c = commitment(Hand::Paper, salt);
    let z = B256::ZERO;
    let ready = phase(&v, READY, 100, 100, 0, z, 0, 0, z);
    let committed = phase(&v, COMMITTED, 100, 100, 10, c, 0, 0, z);
    let played = phase(&v, PLAYED, 90, 110, 10, c, Hand::Rock as u8, 0, z);
    let revealed = phase(
        &v,
        READY,
        110,
        90,
        10,
        c,
        Hand::Rock as u8,
        Hand::Paper as u8,
        salt,
    );
    let ok =
        |from: &State, to: &State, mover| RockPaperScissors.valid_transition(&v, from, to, mover);
    assert_eq!(ok(&ready, &committed, 0), Ok(()));
    assert_eq!(ok(&committed, &played, 2), Ok(()));
    assert_eq!(ok(&played, &revealed, 0), Ok(()));
    let rejected = [
        // commit
        (&ready, &committed, 2, "B cannot commit for A"),
        (
            &ready,
            &phase(&v, PLAYED, 100, 100, 10, c, 0, 0, z),
            0,
            "skips a phase",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 0, c, 0, 0, z),
            0,
            "zero stake",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 101, c, 0, 0, z),
            0,
            "stake above balances",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 10, z, 0, 0, z),
            0,
            "no commitment",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 10, c, 1, 0, z),
            0,
            "moveLast set",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 10, c, 0, 1, z),
            0,
            "moveFirst set",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 100, 100, 10, c, 0, 0, salt),
            0,
            "salt set",
        ),
        (
            &ready,
            &phase(&v, COMMITTED, 90, 110, 10, c, 0, 0, z),
            0,
            "balances move",
        ),
        // play
        (&committed, &played, 0, "A cannot play for B"),
        (
            &committed,
            &phase(&v, READY, 90, 110, 10, c, 1, 0, z),
            2,
            "wrong phase",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 11, c, 1, 0, z),
            2,
            "stake changes",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 10, z, 1, 0, z),
            2,
            "commitment changes",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 10, c, 0, 0, z),
            2,
            "no hand",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 10, c, 4, 0, z),
            2,
            "no such hand",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 10, c, 1, 1, z),
            2,
            "moveFirst set",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 90, 110, 10, c, 1, 0, salt),
            2,
            "salt set",
        ),
        (
            &committed,
            &phase(&v, PLAYED, 100, 100, 10, c, 1, 0, z),
            2,
            "stake does not move",
        ),
        // reveal
        (&played, &revealed, 2, "B cannot reveal"),
        (
            &played,
            &phase(&v, COMMITTED, 110, 90, 10, c, 1, 2, salt),
            0,
            "wrong phase",
        ),
        (
            &played,
            &phase(&v, READY, 110, 90, 11, c, 1, 2, salt),
            0,
            "stake changes",
        ),
        (
            &played,
            &phase(&v, READY, 110, 90, 10, z, 1, 2, salt),
            0,
            "commitment changes",
        ),
        (
            &played,
            &phase(&v, READY, 110, 90, 10, c, 2, 2, salt),
            0,
            "moveLast changes",
        ),
        (
            &played,
            &phase(&v, READY, 110, 90, 10, c, 1, 0, salt),
            0,
            "no hand",
        ),
        (
            &played,
            &phase(&v, READY, 130, 70, 10, c, 1, 3, salt),
            0,
            "hand not committed",
        ),
        (
            &played,
            &phase(&v, READY, 110, 90, 10, c, 1, 2, z),
            0,
            "wrong salt",
        ),
        (
            &played,
            &phase(&v, READY, 120, 80, 10, c, 1, 2, salt),
            0,
            "overpaid",
        ),
        (
            &played,
            &phase(&v, READY, 90, 110, 10, c, 1, 2, salt),
            0,
            "underpaid",
        ),
    ];
    for (from, to, mover, why) in rejected {
        assert!(invalid(ok(from, to, mover)), "{why}");
    }
    // Unknown phase, other assets moving, a malformed outcome, undecodable data.
    let odd = phase(&v, 3, 100, 100, 0, z, 0, 0, z);
    assert!(invalid(ok(&odd, &committed, 0)));
    let mut two = committed.clone();
    two.outcome.assets.push(funded_asset(
        Address::repeat_byte(1),
        vec![U256::from(1); 3],
    ));
    let mut two_changed = two.clone();
    two_changed.outcome.assets[1].balances[0] = U256::ZERO;
    two_changed.outcome.assets[1].balances[2] = U256::from(2);
    let mut two_ready = ready.clone();
    two_ready.outcome.assets = two.outcome.assets.clone();
    assert_eq!(ok(&two_ready, &two, 0), Ok(()));
    assert!(invalid(ok(&two_ready, &two_changed, 0)));
    let mut short = committed.clone();
    short.outcome.assets[0].balances.truncate(2);
    assert!(invalid(ok(&ready, &short, 0)));
    let mut junk = committed.clone();
    junk.appData = Bytes::from_static(&[1, 2, 3]);
    assert!(invalid(ok(&ready, &junk, 0)));
    let mut none = committed.clone();
    none.outcome.assets.clear();
    assert!(invalid(ok(&ready, &none, 0)));
}

#[test]
fn a_winning_stake_that_overflows_is_refused() {
    // 2 * stake overflows: the contract reverts, so the move is invalid (never a saturated payout).
    let n = net();
    let v = n.virt();
    let salt = B256::repeat_byte(5);
    let c = commitment(Hand::Paper, salt);
    let big = U256::MAX / U256::from(2) + U256::from(1);
    let mut played = phase(&v, PLAYED, 0, 0, 0, c, Hand::Rock as u8, 0, B256::ZERO);
    played.appData = GameData {
        phase: PLAYED,
        stake: big,
        commitment: c,
        moveLast: Hand::Rock as u8,
        moveFirst: 0,
        salt: B256::ZERO,
    }
    .abi_encode()
    .into();
    played.outcome.assets[0].balances = vec![U256::ZERO, U256::ZERO, U256::MAX];
    let mut revealed = played.clone();
    revealed.appData = GameData {
        phase: READY,
        stake: big,
        commitment: c,
        moveLast: Hand::Rock as u8,
        moveFirst: Hand::Paper as u8,
        salt,
    }
    .abi_encode()
    .into();
    revealed.outcome.assets[0].balances = vec![U256::MAX, U256::ZERO, U256::ZERO];
    assert!(invalid(
        RockPaperScissors.valid_transition(&v, &played, &revealed, 0)
    ));
}

// ---------------------------------------------------------------------------------------------- robustness

fn arbitrary_state() -> impl Strategy<Value = State> {
    (
        prop::collection::vec(
            (0u8..3, prop::collection::vec(0u64..200, 0..5), 0u64..3),
            0..3,
        ),
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        0u8..4,
    )
        .prop_map(|(assets, data, real, ph)| {
            let assets = assets
                .into_iter()
                .map(|(a, bals, locked)| {
                    let balances: Vec<U256> = bals.into_iter().map(U256::from).collect();
                    ferry_contracts::AssetOutcome {
                        asset: Address::repeat_byte(a),
                        deposited: balances.clone(),
                        withdrawn: vec![],
                        balances,
                        locked: U256::from(locked),
                    }
                })
                .collect();
            let app_data = if real {
                GameData {
                    phase: ph,
                    stake: U256::from(data.len()),
                    ..GameData::default()
                }
                .abi_encode()
            } else {
                data
            };
            State {
                channelId: B256::ZERO,
                version: U48::from(1u8),
                outcome: ferry_contracts::Outcome {
                    assets,
                    subRoot: B256::ZERO,
                },
                appData: app_data.into(),
                isFinal: false,
            }
        })
}

proptest! {
    #![proptest_config(crate::cases())]

    /// The apps never panic, whatever the params, states and mover: malformed input is a rejection.
    #[test]
    fn apps_never_panic(from in arbitrary_state(), to in arbitrary_state(), n in 0usize..5, mover in 0usize..6) {
        let v = ChannelParams {
            participants: (1..=n as u8).map(Address::repeat_byte).collect(),
            ..ChannelParams::default()
        };
        let _ = PaymentApp.valid_transition(&v, &from, &to, mover);
        let _ = RockPaperScissors.valid_transition(&v, &from, &to, mover);
        let _ = pay(&v, &from, mover, &[U256::from(1)]);
        let _ = voucher_move(&v, &from, mover, &[U256::from(1)], vec![]);
        let _ = rps::play(&v, &from, Hand::Rock);
        let _ = rps::reveal(&v, &from, Hand::Rock, B256::ZERO);
        let _ = rps::commit(&v, &from, U256::from(1), Hand::Rock, B256::ZERO);
    }

    /// A random payment history: every move built by the helpers is accepted, and balances always add up.
    #[test]
    fn payment_histories_are_valid(steps in prop::collection::vec((any::<bool>(), any::<bool>(), 0u64..40), 1..20)) {
        let n = net();
        let (v, mut cur) = payment_channel(&n);
        let mut paid = [U256::ZERO, U256::ZERO];
        for (by_first, with_voucher, amount) in steps {
            let (payer, payer_idx, payee_idx, k) = if by_first { (&n.a, 0usize, 2usize, 0usize) } else { (&n.b, 2, 0, 1) };
            let amount = U256::from(amount).min(cur.outcome.assets[0].balances[payer_idx]);
            let next = if with_voucher {
                let total = paid[k] + amount;
                let sig = sign_voucher(payer, &v, Address::ZERO, total);
                voucher_move(&v, &cur, payee_idx, &[total], vec![sig])
            } else {
                pay(&v, &cur, payer_idx, &[amount])
            };
            let next = next.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mover = if with_voucher { payee_idx } else { payer_idx };
            prop_assert_eq!(PaymentApp.valid_transition(&v, &cur, &next, mover), Ok(()));
            paid[k] += amount;
            let b = &next.outcome.assets[0].balances;
            prop_assert_eq!(b[0] + b[2], U256::from(400));
            cur = next;
        }
    }
}
