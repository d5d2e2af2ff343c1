//! The support rules, named after the safety rules they enforce: every rejection of `check_final`,
//! `check_challenge`, `check_checkpoint`, `check_move`, `check_withdraw_partial` and `check_claim`.

use alloy::primitives::aliases::U48;
use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_contracts::{AssetAmount, Certificate, ChannelParams, State, SubAlloc};
use ferry_ledger::channel::{funded_asset, ledger_params, sign_all, state, virtual_params};
use ferry_ledger::state::required_signers;
use ferry_ledger::support::{
    ChainContext, Registered, check_challenge, check_checkpoint, check_claim, check_final,
    check_move, check_withdraw_partial,
};
use ferry_ledger::{Error, SignedState, Signer, SubTree, app::PaymentApp, params};

pub struct Net {
    pub ctx: ChainContext,
    pub a: Signer,
    pub i: Signer,
    pub b: Signer,
}

pub fn net() -> Net {
    Net {
        ctx: ChainContext {
            chain_id: 31337,
            adjudicator: Address::repeat_byte(0xad),
        },
        a: Signer::random(),
        i: Signer::random(),
        b: Signer::random(),
    }
}

pub fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18))
}

impl Net {
    /// The ledger between A and I.
    pub fn ledger(&self) -> ChannelParams {
        ledger_params(&self.ctx, self.a.address(), self.i.address(), 3600)
    }
    /// A virtual channel A → I → B over `left` (A–I) and a fresh I–B ledger.
    pub fn virt_over(&self, left: &ChannelParams) -> ChannelParams {
        let l1 = ferry_contracts::channel_id(left);
        let l2 = ferry_contracts::channel_id(&ledger_params(
            &self.ctx,
            self.i.address(),
            self.b.address(),
            3600,
        ));
        virtual_params(
            &self.ctx,
            vec![self.a.address(), self.i.address(), self.b.address()],
            vec![l1, l2],
            Address::ZERO,
            3600,
            5,
        )
    }
    pub fn virt(&self) -> ChannelParams {
        self.virt_over(&self.ledger())
    }
    /// V's state where A paid `paid` ether of its 3 to B (B funded 1).
    pub fn vstate(&self, v: &ChannelParams, version: u64, paid: u64, fin: bool) -> State {
        let mut asset = funded_asset(Address::ZERO, vec![eth(3), U256::ZERO, eth(1)]);
        asset.balances = vec![eth(3) - eth(paid), U256::ZERO, eth(1) + eth(paid)];
        state(v, version, vec![asset], Bytes::new(), fin)
    }
    pub fn cert(&self, v: &ChannelParams) -> Certificate {
        let post = self.vstate(v, 1, 0, false);
        Certificate {
            sigs: sign_all(&self.ctx, &post, &[&self.a, &self.i, &self.b]),
            state: post,
        }
    }
    /// A ledger state (A 1 ether, I 1 ether).
    pub fn lstate(&self, l: &ChannelParams, version: u64, fin: bool) -> State {
        state(
            l,
            version,
            vec![funded_asset(Address::ZERO, vec![eth(1), eth(1)])],
            Bytes::new(),
            fin,
        )
    }
}

// ---------------------------------------------------------------------------------------------- S1, S2: params

#[test]
fn s1_params_are_checked_against_chain_and_adjudicator() {
    let n = net();
    let p = n.ledger();
    assert!(params::validate_for(&p, 31337, n.ctx.adjudicator).is_ok());
    assert_eq!(
        params::validate_for(&p, 1, n.ctx.adjudicator),
        Err(Error::WrongChain {
            got: 31337,
            expected: 1
        })
    );
    assert_eq!(
        params::validate_for(&p, 31337, Address::ZERO),
        Err(Error::WrongAdjudicator)
    );
    // Every entry point checks the chain first.
    let s = n.lstate(&p, 3, true);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    let other = ChainContext {
        chain_id: 1,
        ..n.ctx
    };
    assert!(matches!(
        check_final(&other, &p, &s, &sigs, 0),
        Err(Error::WrongChain { .. })
    ));
    assert_ne!(params::fresh_nonce(), params::fresh_nonce());
}

// ---------------------------------------------------------------------------------------------- S4: conclude

#[test]
fn s4_final_of_virtual_needs_the_whole_path() {
    let n = net();
    let v = n.virt();
    let fin = n.vstate(&v, 9, 1, true);
    let endpoints = sign_all(&n.ctx, &fin, &[&n.a, &n.b]);
    assert_eq!(
        check_final(&n.ctx, &v, &fin, &endpoints, 0),
        Err(Error::WrongSigner { index: 2 })
    );
    let all = sign_all(&n.ctx, &fin, &[&n.a, &n.i, &n.b]);
    assert_eq!(check_final(&n.ctx, &v, &fin, &all, 0), Ok(()));
    assert_eq!(required_signers(&v, &fin).len(), 3);
    let not_final = n.vstate(&v, 9, 1, false);
    let sigs = sign_all(&n.ctx, &not_final, &[&n.a, &n.i, &n.b]);
    assert!(matches!(
        check_final(&n.ctx, &v, &not_final, &sigs, 0),
        Err(Error::FinalityMismatch(_))
    ));
}

#[test]
fn s4_conclude_rejects_other_channels_stale_versions_and_bad_outcomes() {
    let n = net();
    let l = n.ledger();
    let fin = n.lstate(&l, 7, true);
    let sigs = sign_all(&n.ctx, &fin, &[&n.a, &n.i]);
    assert_eq!(check_final(&n.ctx, &l, &fin, &sigs, 7), Ok(()));
    assert_eq!(
        check_final(&n.ctx, &l, &fin, &sigs, 8),
        Err(Error::StaleVersion {
            version: 7,
            reference: 8
        })
    );
    let mut other = fin.clone();
    other.channelId = B256::repeat_byte(1);
    assert_eq!(
        check_final(&n.ctx, &l, &other, &sigs, 0),
        Err(Error::WrongChannel {
            got: B256::repeat_byte(1),
            expected: ferry_contracts::channel_id(&l)
        })
    );
    let mut bad = fin.clone();
    bad.outcome.assets[0].balances[0] += U256::from(1);
    assert_eq!(
        check_final(&n.ctx, &l, &bad, &sigs, 0),
        Err(Error::InvalidOutcome(3))
    );
    // Signatures in the wrong order, or a malformed one.
    let swapped = vec![sigs[1].clone(), sigs[0].clone()];
    assert_eq!(
        check_final(&n.ctx, &l, &fin, &swapped, 0),
        Err(Error::WrongSigner { index: 0 })
    );
    let mut malformed = sigs.clone();
    malformed[1].v = 30;
    assert_eq!(
        check_final(&n.ctx, &l, &fin, &malformed, 0),
        Err(Error::InvalidSignature)
    );
    let mut bad_params = l.clone();
    bad_params.challengeDuration = U48::ZERO;
    assert_eq!(
        check_final(&n.ctx, &bad_params, &fin, &sigs, 0),
        Err(Error::InvalidParams(7))
    );
}

// ---------------------------------------------------------------------------------------------- S4, S5: challenge

#[test]
fn s4_endpoint_state_needs_the_certificate() {
    let n = net();
    let v = n.virt();
    let s5 = n.vstate(&v, 5, 1, false);
    let sigs = sign_all(&n.ctx, &s5, &[&n.a, &n.b]);
    assert_eq!(
        required_signers(&v, &s5),
        vec![n.a.address(), n.b.address()]
    );
    let none = Registered::default();
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, None, &none),
        Err(Error::MissingCertificate)
    );
    // A certificate without signatures is no certificate, as on-chain.
    let empty = Certificate {
        state: n.cert(&v).state,
        sigs: vec![],
    };
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, Some(&empty), &none),
        Err(Error::MissingCertificate)
    );
    let cert = n.cert(&v);
    let totals = check_challenge(&n.ctx, &v, &s5, &sigs, Some(&cert), &none);
    assert!(matches!(totals, Ok(Some(_))));
    // Once certified, later replacements need only the endpoints.
    let reg = Registered {
        version: 5,
        pending: true,
        certified_totals: totals.clone().ok().flatten(),
    };
    let s6 = n.vstate(&v, 6, 2, false);
    let sigs6 = sign_all(&n.ctx, &s6, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s6, &sigs6, None, &reg),
        Ok(None)
    );
    assert_eq!(
        check_challenge(&n.ctx, &v, &s6, &sigs6, Some(&cert), &reg),
        Ok(None)
    );
    // A certificate with other totals than the registered one.
    let other = Registered {
        certified_totals: Some(B256::repeat_byte(9)),
        ..reg
    };
    assert_eq!(
        check_challenge(&n.ctx, &v, &s6, &sigs6, Some(&cert), &other),
        Err(Error::InvalidCertificate)
    );
    // A certificate not signed by the whole path, or not the post-fund.
    let mut bad = n.cert(&v);
    bad.sigs[1] = bad.sigs[0].clone();
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, Some(&bad), &none),
        Err(Error::WrongSigner { index: 1 })
    );
    let pre = n.vstate(&v, 0, 0, false);
    let pre_cert = Certificate {
        sigs: sign_all(&n.ctx, &pre, &[&n.a, &n.i, &n.b]),
        state: pre,
    };
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, Some(&pre_cert), &none),
        Err(Error::InvalidCertificate)
    );
    let mut final_cert = n.cert(&v);
    final_cert.state.isFinal = true;
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, Some(&final_cert), &none),
        Err(Error::InvalidCertificate)
    );
    let other_v = n.virt();
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, Some(&n.cert(&other_v)), &none),
        Err(Error::InvalidCertificate)
    );
}

#[test]
fn s4_endpoint_signatures_are_a_then_b() {
    let n = net();
    let v = n.virt();
    let cert = n.cert(&v);
    let s5 = n.vstate(&v, 5, 1, false);
    let none = Registered::default();
    let three = sign_all(&n.ctx, &s5, &[&n.a, &n.i, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &three, Some(&cert), &none),
        Err(Error::WrongSigner { index: 3 })
    );
    let swapped = sign_all(&n.ctx, &s5, &[&n.b, &n.a]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &swapped, Some(&cert), &none),
        Err(Error::WrongSigner { index: 0 })
    );
    // B's signature is reported at its path index, n - 1.
    let hub = sign_all(&n.ctx, &s5, &[&n.a, &n.i]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &hub, Some(&cert), &none),
        Err(Error::WrongSigner { index: 2 })
    );
}

#[test]
fn s5_whole_path_post_fund_certifies_v() {
    let n = net();
    let v = n.virt();
    let cert = n.cert(&v);
    let registered = check_challenge(
        &n.ctx,
        &v,
        &cert.state,
        &cert.sigs,
        None,
        &Registered::default(),
    );
    assert_eq!(
        registered,
        Ok(Some(ferry_ledger::outcome::totals_hash(
            &cert.state.outcome
        )))
    );
    // The pre-fund needs the whole path too, and certifies nothing.
    let pre = n.vstate(&v, 0, 0, false);
    let endpoints = sign_all(&n.ctx, &pre, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &pre, &endpoints, None, &Registered::default()),
        Err(Error::WrongSigner { index: 2 })
    );
    let all = sign_all(&n.ctx, &pre, &[&n.a, &n.i, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &pre, &all, None, &Registered::default()),
        Ok(None)
    );
}

#[test]
fn s3_conservation_breaking_states_are_rejected() {
    let n = net();
    let v = n.virt();
    let cert = n.cert(&v);
    let mut more = n.vstate(&v, 5, 0, false);
    more.outcome.assets[0].balances[2] += U256::from(1);
    more.outcome.assets[0].deposited[2] += U256::from(1);
    let sigs = sign_all(&n.ctx, &more, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(
            &n.ctx,
            &v,
            &more,
            &sigs,
            Some(&cert),
            &Registered::default()
        ),
        Err(Error::ConservationViolated)
    );
    let mut hub_paid = n.vstate(&v, 5, 0, false);
    hub_paid.outcome.assets[0].balances[0] -= U256::from(1);
    hub_paid.outcome.assets[0].balances[1] += U256::from(1);
    let sigs = sign_all(&n.ctx, &hub_paid, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(
            &n.ctx,
            &v,
            &hub_paid,
            &sigs,
            Some(&cert),
            &Registered::default()
        ),
        Err(Error::ConservationViolated)
    );
    // Another asset list.
    let mut token = n.vstate(&v, 5, 0, false);
    token.outcome.assets[0].asset = Address::repeat_byte(0x70);
    let sigs = sign_all(&n.ctx, &token, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(
            &n.ctx,
            &v,
            &token,
            &sigs,
            Some(&cert),
            &Registered::default()
        ),
        Err(Error::ConservationViolated)
    );
}

#[test]
fn s2_virtual_outcome_locks_nothing() {
    let n = net();
    let v = n.virt();
    let mut s = n.vstate(&v, 1, 0, false);
    s.outcome.subRoot = B256::repeat_byte(1);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s, &sigs, None, &Registered::default()),
        Err(Error::InvalidOutcome(4))
    );
}

#[test]
fn s5_stale_challenges_and_finals_are_rejected() {
    let n = net();
    let l = n.ledger();
    let s = n.lstate(&l, 4, false);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    let pending = Registered {
        version: 4,
        pending: true,
        certified_totals: None,
    };
    assert_eq!(
        check_challenge(&n.ctx, &l, &s, &sigs, None, &pending),
        Err(Error::StaleVersion {
            version: 4,
            reference: 4
        })
    );
    let idle = Registered {
        version: 4,
        pending: false,
        certified_totals: None,
    };
    assert_eq!(
        check_challenge(&n.ctx, &l, &s, &sigs, None, &idle),
        Ok(None)
    );
    let older = Registered { version: 5, ..idle };
    assert_eq!(
        check_challenge(&n.ctx, &l, &s, &sigs, None, &older),
        Err(Error::StaleVersion {
            version: 4,
            reference: 5
        })
    );
    let fin = n.lstate(&l, 4, true);
    let fsigs = sign_all(&n.ctx, &fin, &[&n.a, &n.i]);
    assert!(matches!(
        check_challenge(&n.ctx, &l, &fin, &fsigs, None, &idle),
        Err(Error::FinalityMismatch(_))
    ));
    // A ledger state needs both participants, whatever its version.
    assert_eq!(
        check_challenge(&n.ctx, &l, &s, &sigs[..1], None, &idle),
        Err(Error::WrongSigner { index: 1 })
    );
}

// ---------------------------------------------------------------------------------------------- S5: checkpoint

#[test]
fn s5_checkpoint_is_for_newer_non_final_ledger_states_signed_by_both() {
    let n = net();
    let l = n.ledger();
    let s = n.lstate(&l, 4, false);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    assert_eq!(
        check_checkpoint(&n.ctx, &l, &s, &sigs, 4),
        Err(Error::StaleVersion {
            version: 4,
            reference: 4
        })
    );
    assert_eq!(check_checkpoint(&n.ctx, &l, &s, &sigs, 3), Ok(()));
    assert_eq!(
        check_checkpoint(&n.ctx, &l, &s, &sigs[..1], 3),
        Err(Error::WrongSigner { index: 1 })
    );
    let fin = n.lstate(&l, 5, true);
    let fsigs = sign_all(&n.ctx, &fin, &[&n.a, &n.i]);
    assert!(matches!(
        check_checkpoint(&n.ctx, &l, &fin, &fsigs, 3),
        Err(Error::FinalityMismatch(_))
    ));
    let v = n.virt();
    let post = n.cert(&v);
    assert!(matches!(
        check_checkpoint(&n.ctx, &v, &post.state, &post.sigs, 0),
        Err(Error::WrongKind(_))
    ));
    let mut other = s.clone();
    other.channelId = B256::ZERO;
    assert!(matches!(
        check_checkpoint(&n.ctx, &l, &other, &sigs, 3),
        Err(Error::WrongChannel { .. })
    ));
}

// ---------------------------------------------------------------------------------------------- S7: progress

fn payment_channel(n: &Net) -> (ChannelParams, State) {
    let mut v = n.virt();
    v.app = Address::repeat_byte(0xaa);
    let mut from = n.vstate(&v, 5, 1, false);
    from.appData = ferry_ledger::app::payment_data_bytes(&[eth(1)], &[U256::ZERO]);
    (v, from)
}

#[test]
fn s7_moves_step_by_one_are_signed_by_an_endpoint_and_never_final() {
    let n = net();
    let (v, from) = payment_channel(&n);
    // A pays B one more ether on its own signature: valid.
    let to = ferry_ledger::app::pay(&v, &from, 0, &[eth(1)]).unwrap_or_else(|e| panic!("{e}"));
    let sig_a = n.a.sign_state(&n.ctx, &to);
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 0, &sig_a),
        Ok(())
    );
    // Signed by someone else, or by the hub as mover.
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 2, &sig_a),
        Err(Error::WrongSigner { index: 2 })
    );
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 1, &sig_a),
        Err(Error::InvalidParticipant(1))
    );
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 7, &sig_a),
        Err(Error::InvalidParticipant(7))
    );
    // B taking A's money without a voucher.
    let sig_b = n.b.sign_state(&n.ctx, &to);
    assert!(matches!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 2, &sig_b),
        Err(Error::InvalidTransition(_))
    ));
    let mut fin = to.clone();
    fin.isFinal = true;
    let sig = n.a.sign_state(&n.ctx, &fin);
    assert!(matches!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &fin, 0, &sig),
        Err(Error::FinalityMismatch(_))
    ));
    let mut skip = to.clone();
    skip.version = from.version + U48::from(2u8);
    let sig = n.a.sign_state(&n.ctx, &skip);
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &skip, 0, &sig),
        Err(Error::StaleVersion {
            version: 7,
            reference: 5
        })
    );
    let mut other = to.clone();
    other.channelId = B256::ZERO;
    let sig = n.a.sign_state(&n.ctx, &other);
    assert!(matches!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &other, 0, &sig),
        Err(Error::WrongChannel { .. })
    ));
}

#[test]
fn s7_moves_keep_s3_and_need_an_app() {
    let n = net();
    let (v, from) = payment_channel(&n);
    // Minting: both balances and deposits grow (a valid outcome, but not conserved).
    let mut mint =
        ferry_ledger::app::pay(&v, &from, 0, &[U256::ZERO]).unwrap_or_else(|e| panic!("{e}"));
    mint.outcome.assets[0].balances[2] += U256::from(5);
    mint.outcome.assets[0].deposited[2] += U256::from(5);
    let sig = n.a.sign_state(&n.ctx, &mint);
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &mint, 0, &sig),
        Err(Error::ConservationViolated)
    );
    // An invalid outcome.
    let mut broken =
        ferry_ledger::app::pay(&v, &from, 0, &[U256::ZERO]).unwrap_or_else(|e| panic!("{e}"));
    broken.outcome.assets[0].balances.pop();
    let sig = n.a.sign_state(&n.ctx, &broken);
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &broken, 0, &sig),
        Err(Error::InvalidOutcome(2))
    );
    // No app: every move is invalid.
    let mut no_app = v.clone();
    no_app.app = Address::ZERO;
    let mut from = from.clone();
    from.channelId = ferry_contracts::channel_id(&no_app);
    let to = ferry_ledger::app::pay(&no_app, &from, 0, &[eth(1)]).unwrap_or_else(|e| panic!("{e}"));
    let sig = n.a.sign_state(&n.ctx, &to);
    assert!(matches!(
        check_move(&n.ctx, &no_app, &PaymentApp, &from, &to, 0, &sig),
        Err(Error::InvalidTransition(_))
    ));
}

// ---------------------------------------------------------------------------------------------- S12: partial withdrawal

#[test]
fn s12_outcome_invariant_is_checked_by_every_signer() {
    let n = net();
    let l = n.ledger();
    let mut asset = funded_asset(Address::ZERO, vec![eth(1), eth(1)]);
    asset.balances[0] = eth(2);
    let s = state(&l, 1, vec![asset], Bytes::new(), true);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    assert_eq!(
        check_final(&n.ctx, &l, &s, &sigs, 0),
        Err(Error::InvalidOutcome(3))
    );
}

#[test]
fn s12_partial_withdrawals_need_a_ledger_state_signed_by_both() {
    let n = net();
    let l = n.ledger();
    let mut s = n.lstate(&l, 3, false);
    s.outcome.assets[0].balances[0] = U256::ZERO;
    s.outcome.assets[0].withdrawn[0] = eth(1);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    assert_eq!(check_withdraw_partial(&n.ctx, &l, &s, &sigs, 0), Ok(()));
    assert_eq!(
        check_withdraw_partial(&n.ctx, &l, &s, &sigs, 2),
        Err(Error::InvalidParticipant(2))
    );
    assert_eq!(
        check_withdraw_partial(&n.ctx, &l, &s, &sigs[..1], 0),
        Err(Error::WrongSigner { index: 1 })
    );
    let v = n.virt();
    assert!(matches!(
        check_withdraw_partial(&n.ctx, &v, &s, &sigs, 0),
        Err(Error::WrongKind(_))
    ));
}

// ---------------------------------------------------------------------------------------------- S9: claim

#[test]
fn s9_claims_split_the_leaf_by_a_s_balance() -> Result<(), Error> {
    let n = net();
    let l = n.ledger();
    let v = n.virt_over(&l);
    let vid = ferry_contracts::channel_id(&v);
    let mut table = SubTree::new();
    for k in 0..5u8 {
        table.insert(SubAlloc {
            fee: U256::ZERO,
            channelId: B256::repeat_byte(k + 1),
            amounts: vec![],
        })?;
    }
    let leaf = SubAlloc {
        fee: U256::ZERO,
        channelId: vid,
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: eth(4),
        }],
    };
    table.insert(leaf.clone())?;
    let mut ls = n.lstate(&l, 9, true);
    ls.outcome.subRoot = table.root();
    let proof = table.proof(&vid)?;
    let vs = n.vstate(&v, 8, 1, true); // A 2, B 2
    let claim = check_claim(&n.ctx, &l, &ls, &leaf, &proof, &v, &vs)?;
    assert_eq!(claim.position.hop, 0);
    assert_eq!(claim.position.left, n.a.address());
    assert_eq!(claim.payouts[0].to_left, eth(2));
    assert_eq!(claim.payouts[0].to_right, eth(2));

    // The proof of another leaf, another V, the ledger not on the path, a ledger of the wrong kind.
    let mut other_proof = proof.clone();
    other_proof.index ^= 1;
    assert_eq!(
        check_claim(&n.ctx, &l, &ls, &leaf, &other_proof, &v, &vs),
        Err(Error::InvalidProof)
    );
    let mut other_leaf = leaf.clone();
    other_leaf.channelId = B256::repeat_byte(1);
    assert_eq!(
        check_claim(&n.ctx, &l, &ls, &other_leaf, &proof, &v, &vs),
        Err(Error::LeafMismatch)
    );
    let stranger = ledger_params(&n.ctx, n.a.address(), n.b.address(), 3600);
    assert_eq!(
        check_claim(&n.ctx, &stranger, &ls, &leaf, &proof, &v, &vs),
        Err(Error::LedgerNotOnPath)
    );
    assert!(matches!(
        check_claim(&n.ctx, &v, &ls, &leaf, &proof, &v, &vs),
        Err(Error::WrongKind(_))
    ));
    // V's asset list must be the leaf's.
    let mut token_v = vs.clone();
    token_v.outcome.assets[0].asset = Address::repeat_byte(0x70);
    assert_eq!(
        check_claim(&n.ctx, &l, &ls, &leaf, &proof, &v, &token_v),
        Err(Error::LeafMismatch)
    );
    Ok(())
}

#[test]
fn s9_the_routing_fee_in_a_leaf_goes_to_b_s_side_only_once_v_got_past_its_pre_fund()
-> Result<(), Error> {
    use ferry_ledger::support::{leaf_of, leaf_payout};
    let n = net();
    let v = n.virt();
    let pre = n.vstate(&v, 0, 0, false); // A 3, B 1
    let leaf = leaf_of(&v, &pre, eth(1));
    // The open never completed (V final by its pre-fund): the fee goes back with A's side.
    let refund = leaf_payout(&leaf, &pre)?;
    assert_eq!((refund[0].to_left, refund[0].to_right), (eth(4), eth(1)));
    // V got past its pre-fund (A 2, B 2): the fee is the hub's, on B's side.
    let settled = leaf_payout(&leaf, &n.vstate(&v, 8, 1, true))?;
    assert_eq!((settled[0].to_left, settled[0].to_right), (eth(2), eth(3)));
    // A fee that is not part of the first amount is refused, as `claim` refuses it.
    let mut bad = leaf.clone();
    bad.fee = eth(6);
    assert!(matches!(
        leaf_payout(&bad, &pre),
        Err(Error::InvalidLeaf(_))
    ));
    Ok(())
}

#[test]
fn s9_ledger_participants_may_be_in_either_order() -> Result<(), Error> {
    let n = net();
    // The A–I ledger written [I, A].
    let l = ledger_params(&n.ctx, n.i.address(), n.a.address(), 3600);
    let v = n.virt_over(&l);
    let pos = params::path_position(&l, &v)?;
    assert_eq!(pos.left, n.a.address());
    assert_eq!(pos.left_index, 1);
    // A path member standing on the other hop is not this ledger's participant.
    let wrong = ledger_params(&n.ctx, n.i.address(), n.b.address(), 3600);
    let mut v2 = v.clone();
    v2.hops[0] = ferry_contracts::channel_id(&wrong);
    assert_eq!(
        params::path_position(&wrong, &v2),
        Err(Error::LedgerNotOnPath)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------- SignedState

#[test]
fn signed_states_collect_signatures_in_order() {
    let n = net();
    let l = n.ledger();
    let s = n.lstate(&l, 2, false);
    let mut signed = SignedState::new(s.clone());
    assert!(!signed.is_complete(&n.ctx, &l));
    // I's signature where A's is due is refused and changes nothing.
    assert_eq!(
        signed.push(&n.ctx, n.a.address(), n.i.sign_state(&n.ctx, &s)),
        Err(Error::WrongSigner { index: 0 })
    );
    assert!(signed.sigs.is_empty());
    assert_eq!(
        signed.push(&n.ctx, n.a.address(), n.a.sign_state(&n.ctx, &s)),
        Ok(())
    );
    assert_eq!(
        signed.push(&n.ctx, n.i.address(), n.i.sign_state(&n.ctx, &s)),
        Ok(())
    );
    assert!(signed.is_complete(&n.ctx, &l));
    assert_eq!(
        signed.signers(&n.ctx),
        Ok(vec![n.a.address(), n.i.address()])
    );
    assert_eq!(signed.check_checkpoint(&n.ctx, &l, 1), Ok(()));
    assert_eq!(
        signed.check_challenge(&n.ctx, &l, None, &Registered::default()),
        Ok(None)
    );
    assert_eq!(signed, SignedState::sign(&n.ctx, s, &[&n.a, &n.i]));
    let v = n.virt();
    let cert = SignedState::from(n.cert(&v));
    assert!(cert.is_complete(&n.ctx, &v));
    assert_eq!(cert.clone().into_certificate(), n.cert(&v));
}

// ---------------------------------------------------------------------------------------------- S8: leaves

#[test]
fn s8_a_leaf_is_the_whole_path_signed_pre_funds_totals() {
    use ferry_ledger::support::{check_leaf, leaf_of};
    let n = net();
    let v = n.virt();
    let pre = n.vstate(&v, 0, 0, false);
    let sigs = sign_all(&n.ctx, &pre, &[&n.a, &n.i, &n.b]);
    let leaf = leaf_of(&v, &pre, U256::ZERO);
    assert_eq!(leaf.channelId, ferry_contracts::channel_id(&v));
    assert_eq!(leaf.amounts[0].amount, eth(4));
    assert_eq!(check_leaf(&n.ctx, &v, &pre, &sigs, &leaf), Ok(()));
    // A routing fee rides on top of the first asset's total.
    let with_fee = leaf_of(&v, &pre, eth(1));
    assert_eq!((with_fee.amounts[0].amount, with_fee.fee), (eth(5), eth(1)));
    assert_eq!(check_leaf(&n.ctx, &v, &pre, &sigs, &with_fee), Ok(()));
    let mut fee_outside = leaf.clone();
    fee_outside.fee = eth(1);
    assert_eq!(
        check_leaf(&n.ctx, &v, &pre, &sigs, &fee_outside),
        Err(Error::LeafMismatch)
    );
    // A leaf for a V whose pre-fund the whole path never signed.
    let endpoints = sign_all(&n.ctx, &pre, &[&n.a, &n.b]);
    assert_eq!(
        check_leaf(&n.ctx, &v, &pre, &endpoints, &leaf),
        Err(Error::WrongSigner { index: 2 })
    );
    // Another amount, another channel, the post-fund instead of the pre-fund.
    let mut more = leaf.clone();
    more.amounts[0].amount += U256::from(1);
    assert_eq!(
        check_leaf(&n.ctx, &v, &pre, &sigs, &more),
        Err(Error::LeafMismatch)
    );
    let mut other = leaf.clone();
    other.channelId = B256::repeat_byte(3);
    assert_eq!(
        check_leaf(&n.ctx, &v, &pre, &sigs, &other),
        Err(Error::LeafMismatch)
    );
    let post = n.cert(&v);
    assert!(matches!(
        check_leaf(&n.ctx, &v, &post.state, &post.sigs, &leaf),
        Err(Error::StaleVersion { .. })
    ));
    let l = n.ledger();
    assert!(matches!(
        check_leaf(&n.ctx, &l, &pre, &sigs, &leaf),
        Err(Error::WrongKind(_))
    ));
}
