//! Differential property tests: the Rust rules (`ferry-ledger`, `ferry-contracts`) and the contracts (run in the
//! EVM of `EmbeddedChain`) give the same hash and the same verdict on the same random inputs.

use std::sync::Arc;

use alloy::primitives::aliases::{U48, U96};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolCall, SolValue};
use ferry_adjudicator::{AdjudicatorClient, Chain, EmbeddedChain, Error as ChainError};
use ferry_contracts::IFerryHarness as H;
use ferry_contracts::{
    Artifact, AssetAmount, AssetOutcome, ChannelParams, GameData, Outcome, PaymentData, Signature,
    State, SubAlloc, Voucher,
};
use ferry_ledger::app::{App, Hand, PaymentApp, RockPaperScissors, commitment};
use ferry_ledger::signature::recover;
use ferry_ledger::{Error, Signer, SubTree, outcome, params};
use ferry_simulations::app_check::AppCheck;
use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::Config;

fn cases(default: u32) -> Config {
    let cases = std::env::var("FERRY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// An embedded chain with the harness deployed.
struct Evm {
    chain: Arc<EmbeddedChain>,
    harness: Address,
}

impl Evm {
    fn new() -> Self {
        let chain =
            Arc::new(EmbeddedChain::new().unwrap_or_else(|e| panic!("embedded chain: {e}")));
        let client = AdjudicatorClient::new(chain.clone());
        let from = chain.accounts()[0];
        let deploy = |a| block_on(client.deploy(from, a)).unwrap_or_else(|e| panic!("deploy: {e}"));
        Evm {
            harness: deploy(Artifact::FerryHarness),
            chain,
        }
    }

    /// Calls `to`; a revert comes back as its decoded name.
    fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, String> {
        match block_on(self.chain.call(to, Bytes::from(call.abi_encode()))) {
            Ok(out) => C::abi_decode_returns(&out).map_err(|e| format!("decode: {e}")),
            Err(ChainError::Reverted { reason, .. }) => Err(reason),
            Err(e) => panic!("chain error: {e}"),
        }
    }
}

// ------------------------------------------------------------------ strategies

fn pool_address() -> impl Strategy<Value = Address> {
    prop_oneof![Just(Address::ZERO), (1u8..6).prop_map(Address::repeat_byte)]
}

fn params_strategy() -> impl Strategy<Value = ChannelParams> {
    (
        0u8..3,
        prop::collection::vec(pool_address(), 0..5),
        prop::collection::vec((0u8..4).prop_map(B256::repeat_byte), 0..5),
        0u64..3,
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(kind, participants, hops, duration, nonce)| ChannelParams {
                kind,
                chainId: U256::from(31337),
                adjudicator: Address::repeat_byte(0xad),
                participants,
                nonce: U256::from_be_bytes(nonce),
                app: Address::ZERO,
                challengeDuration: U48::from(duration),
                maxMoves: U48::from(3u8),
                challengeBond: U96::from(duration),
                hops,
            },
        )
}

fn small() -> impl Strategy<Value = U256> {
    (0u64..4).prop_map(U256::from)
}

/// Outcomes that are often valid and often off by a little.
fn outcome_strategy() -> impl Strategy<Value = (Outcome, usize, u8)> {
    (
        2usize..4,
        0u8..2,
        prop::collection::vec(
            (
                pool_address(),
                prop::collection::vec((small(), small()), 2..4),
                small(),
                any::<bool>(),
            ),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(n, kind, assets, empty_root)| {
            let assets = assets
                .into_iter()
                .map(|(asset, bals, locked, balanced)| {
                    let balances: Vec<U256> = bals.iter().map(|b| b.0).take(n).collect();
                    let mut deposited: Vec<U256> = bals.iter().map(|b| b.1).take(n).collect();
                    if balanced {
                        // Make the invariant hold: deposits = balances (+ locked on the first participant).
                        deposited = balances.clone();
                        deposited[0] += locked;
                    }
                    let len = balances.len();
                    AssetOutcome {
                        asset,
                        balances,
                        deposited,
                        withdrawn: vec![U256::ZERO; len],
                        locked,
                    }
                })
                .collect();
            let sub_root = if empty_root {
                ferry_contracts::empty_root()
            } else {
                B256::repeat_byte(1)
            };
            (
                Outcome {
                    assets,
                    subRoot: sub_root,
                },
                n,
                kind,
            )
        })
}

fn state_strategy() -> impl Strategy<Value = State> {
    (
        any::<[u8; 32]>(),
        0u64..1000,
        outcome_strategy(),
        prop::collection::vec(any::<u8>(), 0..80),
        any::<bool>(),
    )
        .prop_map(|(id, version, (o, _, _), app, fin)| State {
            channelId: B256::from(id),
            version: U48::from(version),
            outcome: o,
            appData: Bytes::from(app),
            isFinal: fin,
        })
}

fn leaf_strategy() -> impl Strategy<Value = SubAlloc> {
    (
        any::<[u8; 32]>(),
        prop::collection::vec((pool_address(), any::<u64>()), 0..3),
    )
        .prop_map(|(id, a)| SubAlloc {
            fee: U256::ZERO,
            channelId: B256::from(id),
            amounts: a
                .into_iter()
                .map(|(asset, amount)| AssetAmount {
                    asset,
                    amount: U256::from(amount),
                })
                .collect(),
        })
}

fn reason_code(reason: &str, name: &str) -> Option<u8> {
    let rest = reason.strip_prefix(name)?;
    let digits: String = rest.chars().filter(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

// ------------------------------------------------------------------ properties

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn channel_ids_and_param_verdicts_match(p in params_strategy()) {
        let evm = Evm::new();
        let id = evm.call(evm.harness, H::channelIdCall { params: p.clone() });
        prop_assert_eq!(id, Ok(ferry_contracts::channel_id(&p)));
        let sol = evm.call(evm.harness, H::validateParamsCall { params: p.clone() });
        match (params::validate(&p), sol) {
            (Ok(()), Ok(true)) => {}
            (Err(Error::InvalidParams(code)), Err(reason)) => {
                prop_assert_eq!(Some(code), reason_code(&reason, "InvalidParams"), "{}", reason);
            }
            (rust, sol) => prop_assert!(false, "rust {:?} vs solidity {:?}", rust, sol),
        }
    }

    #[test]
    fn state_hashes_and_digests_match(s in state_strategy(), chain_id in 1u64..100_000, adj in any::<[u8; 20]>()) {
        let evm = Evm::new();
        let adj = Address::from(adj);
        prop_assert_eq!(evm.call(evm.harness, H::stateHashCall { state: s.clone() }), Ok(ferry_contracts::state_hash(&s)));
        prop_assert_eq!(
            evm.call(evm.harness, H::stateDigestCall { state: s.clone(), chainId: U256::from(chain_id), adjudicator: adj }),
            Ok(ferry_contracts::state_digest(&s, U256::from(chain_id), adj))
        );
        prop_assert_eq!(evm.call(evm.harness, H::totalsHashCall { outcome: s.outcome.clone() }), Ok(outcome::totals_hash(&s.outcome)));
    }

    #[test]
    fn voucher_digests_match(id in any::<[u8; 32]>(), payer in any::<[u8; 20]>(), asset in pool_address(), amount in any::<u128>()) {
        let evm = Evm::new();
        let v = Voucher { channelId: B256::from(id), payer: Address::from(payer), asset, amount: U256::from(amount) };
        let adj = Address::repeat_byte(7);
        prop_assert_eq!(
            evm.call(evm.harness, H::voucherDigestCall { voucher: v.clone(), chainId: U256::from(5), adjudicator: adj }),
            Ok(ferry_contracts::voucher_digest(&v, U256::from(5), adj))
        );
    }

    #[test]
    fn outcome_verdicts_match((o, n, kind) in outcome_strategy()) {
        let evm = Evm::new();
        let sol = evm.call(evm.harness, H::validateOutcomeCall { outcome: o.clone(), participants: U256::from(n), kind });
        match (outcome::validate(&o, n, kind), sol) {
            (Ok(()), Ok(true)) => {}
            (Err(Error::InvalidOutcome(code)), Err(reason)) => {
                prop_assert_eq!(Some(code), reason_code(&reason, "InvalidOutcome"), "{}", reason);
            }
            (rust, sol) => prop_assert!(false, "rust {:?} vs solidity {:?}", rust, sol),
        }
    }

    #[test]
    fn merkle_proofs_from_rust_verify_in_the_evm(leaves in prop::collection::vec(leaf_strategy(), 1..40), removals in prop::collection::vec(any::<prop::sample::Index>(), 0..10), pick in any::<prop::sample::Index>()) {
        let evm = Evm::new();
        let mut tree = SubTree::new();
        let mut present = Vec::new();
        for l in &leaves {
            if tree.insert(l.clone()).is_ok() {
                present.push(l.clone());
            }
        }
        for r in removals {
            if present.len() > 1 {
                let l = present.remove(r.index(present.len()));
                prop_assert!(tree.remove(&l.channelId).is_ok());
            }
        }
        let leaf = present[pick.index(present.len())].clone();
        prop_assert_eq!(evm.call(evm.harness, H::leafHashCall { leaf: leaf.clone() }), Ok(ferry_contracts::leaf_hash(&leaf)));
        let proof = tree.proof(&leaf.channelId).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(evm.call(evm.harness, H::rootFromProofCall { leaf, proof }), Ok(tree.root()));
    }

    #[test]
    fn signature_verdicts_match(digest in any::<[u8; 32]>(), key in 1u64..u64::MAX, mutate in 0u8..6) {
        let evm = Evm::new();
        let signer = Signer::from_bytes(&B256::from(U256::from(key))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let d = B256::from(digest);
        let mut sig = signer.sign_digest(&d);
        let n = U256::from_str_radix("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16).unwrap_or_default();
        match mutate {
            1 => { sig.s = B256::from(n - U256::from_be_bytes(sig.s.0)); sig.v ^= 0x03; } // high-s twin (27 <-> 28)
            2 => sig.v = 29,
            3 => sig.r = B256::ZERO,
            4 => sig.r = B256::from(n),
            5 => sig.s = B256::repeat_byte(0x7f),
            _ => {}
        }
        let rust = recover(&d, &sig);
        let sol = evm.call(evm.harness, H::recoverCall { digest: d, sig: sig.clone() });
        match (rust, sol) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(Error::InvalidSignature), Err(reason)) => prop_assert!(reason.contains("InvalidSignature"), "{}", reason),
            (rust, sol) => prop_assert!(false, "rust {:?} vs solidity {:?} for {:?}", rust, sol, sig),
        }
    }
}

// ------------------------------------------------------------------ app transitions

/// The contract of a bundled app on an embedded chain of its own, to compare with its Rust rules.
fn app_check(app: Artifact) -> AppCheck {
    AppCheck::deploy(app.bytecode().unwrap_or_else(|e| panic!("bytecode: {e}")))
        .unwrap_or_else(|e| panic!("deploy: {e}"))
}

fn app_verdicts_match(
    check: &AppCheck,
    app: &dyn App,
    p: &ChannelParams,
    from: &State,
    to: &State,
    mover: usize,
) -> Result<(), TestCaseError> {
    check
        .agree(app, p, from, to, mover)
        .map(|_| ())
        .map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn payment_app_verdicts_match(
        a in 0u64..100, b in 0u64..100, paid_a in 0u64..50, paid_b in 0u64..50,
        more_a in 0u64..60, more_b in 0u64..60, mover_last in any::<bool>(), voucher_by in 0u8..3, skew in -2i64..3,
    ) {
        let check = app_check(Artifact::PaymentApp);
        let alice = Signer::from_bytes(&B256::repeat_byte(0x11)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bob = Signer::from_bytes(&B256::repeat_byte(0x22)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut p = check.params(3);
        p.participants = vec![alice.address(), Address::repeat_byte(9), bob.address()];
        let data = |fa: u64, fb: u64, sigs: Vec<Signature>| PaymentData { paidByFirst: vec![U256::from(fa)], paidByLast: vec![U256::from(fb)], voucherSigs: sigs }.abi_encode().into();
        let from = check.state(&p, 5, &[a + 100, 0, b + 100], data(paid_a, paid_b, vec![]));
        let (na, nb) = (paid_a + more_a, paid_b + more_b);
        // Balances move by the paid deltas, sometimes skewed by a little.
        let ta = (a + 100 + more_b).saturating_sub(more_a) as i64 + skew;
        let tb = (b + 100 + more_a).saturating_sub(more_b) as i64;
        let mover = if mover_last { 2 } else { 0 };
        // The non-mover's voucher for its new total, signed by the right key, the wrong key, or missing.
        let (payer, total) = if mover_last { (&alice, na) } else { (&bob, nb) };
        let other = if mover_last { &bob } else { &alice };
        let sigs = match voucher_by {
            0 => vec![ferry_ledger::app::sign_voucher(payer, &p, Address::ZERO, U256::from(total))],
            1 => vec![ferry_ledger::app::sign_voucher(other, &p, Address::ZERO, U256::from(total))],
            _ => vec![],
        };
        let to = check.state(&p, 6, &[ta.max(0) as u64, 0, tb.max(0) as u64], data(na, nb, sigs));
        app_verdicts_match(&check, &PaymentApp, &p, &from, &to, mover)?;
    }

    #[test]
    fn game_app_verdicts_match(
        phase in 0u8..3, to_phase in 0u8..3, stake in 0u64..8, to_stake in 0u64..8, a in 0u64..10, b in 0u64..10,
        da in -10i64..11, db in -10i64..11, hand_first in 1u8..4, hand_last in 0u8..5, honest_reveal in any::<bool>(),
        mover_last in any::<bool>(),
    ) {
        let check = app_check(Artifact::RockPaperScissors);
        let p = check.params(3);
        let salt = B256::repeat_byte(3);
        let hand = match hand_first { 1 => Hand::Rock, 2 => Hand::Paper, _ => Hand::Scissors };
        let c = commitment(hand, salt);
        let from_data = GameData {
            phase,
            stake: U256::from(stake),
            commitment: if phase == 0 { B256::ZERO } else { c },
            moveLast: if phase == 2 { hand_last.clamp(1, 3) } else { 0 },
            moveFirst: 0,
            salt: B256::ZERO,
        };
        let to_data = GameData {
            phase: to_phase,
            stake: U256::from(to_stake),
            commitment: c,
            moveLast: if to_phase == 0 && phase != 2 { 0 } else { hand_last },
            moveFirst: if to_phase == 0 && phase == 2 { if honest_reveal { hand_first } else { hand_first % 3 + 1 } } else { 0 },
            salt: if to_phase == 0 && phase == 2 { salt } else { B256::ZERO },
        };
        let (fa, fb) = (a + 10, b + 10);
        let from = check.state(&p, 3, &[fa, 0, fb], from_data.abi_encode().into());
        let to = check.state(&p, 4, &[(fa as i64 + da).max(0) as u64, 0, (fb as i64 + db).max(0) as u64], to_data.abi_encode().into());
        app_verdicts_match(&check, &RockPaperScissors, &p, &from, &to, if mover_last { 2 } else { 0 })?;
    }
}

/// The honest game round is accepted by both (so the property above is not vacuous).
#[test]
fn honest_game_round_is_accepted_by_both() -> Result<(), TestCaseError> {
    let check = app_check(Artifact::RockPaperScissors);
    let p = check.params(3);
    let salt = B256::repeat_byte(3);
    let c = commitment(Hand::Scissors, salt);
    let g = |phase, stake: u64, commitment, move_last, move_first, salt| {
        GameData {
            phase,
            stake: U256::from(stake),
            commitment,
            moveLast: move_last,
            moveFirst: move_first,
            salt,
        }
        .abi_encode()
        .into()
    };
    let ready = check.state(&p, 1, &[50, 0, 50], g(0, 0, B256::ZERO, 0, 0, B256::ZERO));
    let committed = check.state(&p, 2, &[50, 0, 50], g(1, 5, c, 0, 0, B256::ZERO));
    let played = check.state(&p, 3, &[45, 0, 55], g(2, 5, c, 2, 0, B256::ZERO));
    let revealed = check.state(&p, 4, &[55, 0, 45], g(0, 5, c, 2, 3, salt));
    for (from, to, mover) in [
        (&ready, &committed, 0),
        (&committed, &played, 2),
        (&played, &revealed, 0),
    ] {
        prop_assert!(
            RockPaperScissors
                .valid_transition(&p, from, to, mover)
                .is_ok()
        );
        app_verdicts_match(&check, &RockPaperScissors, &p, from, to, mover)?;
    }
    Ok(())
}
