//! The support rules, named after the safety rules they enforce.

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_contracts::{Certificate, ChannelParams, State};
use ferry_ledger::channel::{funded_asset, ledger_params, sign_all, state, virtual_params};
use ferry_ledger::support::{
    ChainContext, Registered, check_challenge, check_checkpoint, check_final, check_move,
};
use ferry_ledger::{Error, Signer, app::PaymentApp, params};

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

fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18))
}

impl Net {
    pub fn ledger(&self) -> ChannelParams {
        ledger_params(&self.ctx, self.a.address(), self.i.address(), 3600)
    }
    pub fn virt(&self) -> ChannelParams {
        let l1 = ferry_contracts::channel_id(&self.ledger());
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
}

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
    let mut same = p.clone();
    same.participants = vec![n.a.address(), n.a.address()];
    assert_eq!(params::validate(&same), Err(Error::InvalidParams(4)));
    let mut zero = p.clone();
    zero.participants = vec![Address::ZERO, n.a.address()];
    assert_eq!(params::validate(&zero), Err(Error::InvalidParams(3)));
    let mut three = p;
    three.participants.push(n.b.address());
    assert_eq!(params::validate(&three), Err(Error::InvalidParams(2)));
    assert_ne!(params::fresh_nonce(), params::fresh_nonce());
}

#[test]
fn s2_looping_or_mismatched_paths_are_rejected() {
    let n = net();
    let mut v = n.virt();
    v.participants = vec![n.a.address(), n.i.address(), n.a.address()];
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(4)));
    let mut v = n.virt();
    v.hops.pop();
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(5)));
    let mut v = n.virt();
    v.hops[1] = v.hops[0];
    assert_eq!(params::validate(&v), Err(Error::InvalidParams(6)));
}

#[test]
fn s4_final_of_virtual_needs_the_whole_path() {
    let n = net();
    let v = n.virt();
    let fin = n.vstate(&v, 9, 1, true);
    let endpoints = sign_all(&n.ctx, &fin, &[&n.a, &n.b]);
    assert_eq!(
        check_final(&n.ctx, &v, &fin, &endpoints),
        Err(Error::WrongSigner { index: 2 })
    );
    let all = sign_all(&n.ctx, &fin, &[&n.a, &n.i, &n.b]);
    assert_eq!(check_final(&n.ctx, &v, &fin, &all), Ok(()));
    let not_final = n.vstate(&v, 9, 1, false);
    let sigs = sign_all(&n.ctx, &not_final, &[&n.a, &n.i, &n.b]);
    assert!(matches!(
        check_final(&n.ctx, &v, &not_final, &sigs),
        Err(Error::WrongKind(_))
    ));
}

#[test]
fn s4_endpoint_state_needs_the_certificate() {
    let n = net();
    let v = n.virt();
    let s5 = n.vstate(&v, 5, 1, false);
    let sigs = sign_all(&n.ctx, &s5, &[&n.a, &n.b]);
    let none = Registered::default();
    assert_eq!(
        check_challenge(&n.ctx, &v, &s5, &sigs, None, &none),
        Err(Error::MissingCertificate)
    );
    let cert = n.cert(&v);
    let totals = check_challenge(&n.ctx, &v, &s5, &sigs, Some(&cert), &none);
    assert!(matches!(totals, Ok(Some(_))));
    // Once certified, later replacements need only the endpoints.
    let reg = Registered {
        version: 5,
        pending: true,
        certified_totals: totals.ok().flatten(),
    };
    let s6 = n.vstate(&v, 6, 2, false);
    let sigs6 = sign_all(&n.ctx, &s6, &[&n.a, &n.b]);
    assert_eq!(
        check_challenge(&n.ctx, &v, &s6, &sigs6, None, &reg),
        Ok(None)
    );
    // A certificate not signed by the whole path, or not the post-fund, is refused.
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
}

#[test]
fn s5_stale_challenges_and_finals_are_rejected() {
    let n = net();
    let l = n.ledger();
    let s = state(
        &l,
        4,
        vec![funded_asset(Address::ZERO, vec![eth(1), eth(1)])],
        Bytes::new(),
        false,
    );
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
    let mut fin = s.clone();
    fin.isFinal = true;
    let fsigs = sign_all(&n.ctx, &fin, &[&n.a, &n.i]);
    assert!(matches!(
        check_challenge(&n.ctx, &l, &fin, &fsigs, None, &idle),
        Err(Error::WrongKind(_))
    ));
    assert_eq!(
        check_checkpoint(&n.ctx, &l, &s, &sigs, 4),
        Err(Error::StaleVersion {
            version: 4,
            reference: 4
        })
    );
    assert_eq!(check_checkpoint(&n.ctx, &l, &s, &sigs, 3), Ok(()));
    let v = n.virt();
    let post = n.cert(&v);
    assert!(matches!(
        check_checkpoint(&n.ctx, &v, &post.state, &post.sigs, 0),
        Err(Error::WrongKind(_))
    ));
}

#[test]
fn s7_moves_step_by_one_are_signed_by_an_endpoint_and_never_final() {
    let n = net();
    let mut v = n.virt();
    v.app = Address::repeat_byte(0xaa);
    let from = {
        let mut s = n.vstate(&v, 5, 1, false);
        s.appData = ferry_ledger::app::payment_data_bytes(&[eth(1)], &[U256::ZERO]);
        s
    };
    // A pays B one more ether on its own signature: valid.
    let mut to = n.vstate(&v, 6, 2, false);
    to.appData = ferry_ledger::app::payment_data_bytes(&[eth(2)], &[U256::ZERO]);
    let sig_a = n.a.sign_digest(&n.ctx.digest(&to));
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
    // B taking A's money without a voucher.
    let sig_b = n.b.sign_digest(&n.ctx.digest(&to));
    assert!(matches!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &to, 2, &sig_b),
        Err(Error::InvalidTransition(_))
    ));
    let mut fin = to.clone();
    fin.isFinal = true;
    let sig = n.a.sign_digest(&n.ctx.digest(&fin));
    assert!(matches!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &fin, 0, &sig),
        Err(Error::WrongKind(_))
    ));
    let mut skip = to;
    skip.version = from.version + alloy::primitives::aliases::U48::from(2u8);
    let sig = n.a.sign_digest(&n.ctx.digest(&skip));
    assert_eq!(
        check_move(&n.ctx, &v, &PaymentApp, &from, &skip, 0, &sig),
        Err(Error::StaleVersion {
            version: 7,
            reference: 5
        })
    );
}

#[test]
fn s12_outcome_invariant_is_checked_by_every_signer() {
    let n = net();
    let l = n.ledger();
    let mut asset = funded_asset(Address::ZERO, vec![eth(1), eth(1)]);
    asset.balances[0] = eth(2);
    let s = state(&l, 1, vec![asset], Bytes::new(), true);
    let sigs = sign_all(&n.ctx, &s, &[&n.a, &n.i]);
    assert_eq!(
        check_final(&n.ctx, &l, &s, &sigs),
        Err(Error::InvalidOutcome(3))
    );
    let _ = B256::ZERO;
}
