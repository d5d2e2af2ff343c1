//! The seventh outside attacker's findings, kept as regression tests: each asserted the bad outcome when written and
//! now asserts the fix (the doc comments describe the attack as it worked).

#![allow(clippy::unwrap_used)]

mod stake {
    use alloy::primitives::U256;
    use ferry_ledger::protocol::Phase;
    use ferry_simulations::virtual_net::{
        CHALLENGE_DURATION as WINDOW, Leaders, OpenV, VirtualNet,
    };
    use ferry_virtual::protocol::{ESCALATE_MS, VirtualPhase};

    /// What B puts into V (and the hub locks for B's side in its ledger with A).
    const X: u64 = 40;

    /// S9 / S16 ("nothing at stake" must not silence a member that has something at stake). A–H–B, H a hub with
    /// the default policy (no fee). A opens a payment channel V in which A puts in nothing and B puts in `X`
    /// (`OpenV::payment(0, X)`: B pays A by vouchers, a normal direction). H locks B's side, `X`, in its ledger
    /// with A (`hops[0]`, "the right side contributes B's balances"); B locks `X` in its ledger with H. Then A
    /// (the attacker, holding nothing in V) simply goes silent. B challenges V with its certificate and V
    /// finalizes on-chain (A 0, B `X`); H and B swap V's leaf in their ledger off-chain by that outcome. In A–H,
    /// A never answers the removal, so H escalates: it challenges the ledger, which finalizes with V's leaf in it.
    /// The leaf pays H `X` by `claim` — but `VirtualChannel::holds_mine` (fallback.rs) counts for an intermediary
    /// only A's side of the pre-fund (`balances.first()`) and its fee, not B's side it locked in its left ledger,
    /// so `claim_leaves_in_finalized_ledgers` drops the claim in `submit` and H never claims. Loss: H's `X`
    /// stays locked in the adjudicator for ever (A, who put nothing in, has nothing to claim either).
    #[tokio::test(flavor = "multi_thread")]
    async fn s9_s16_the_hub_claims_the_b_side_it_locked_in_its_ledger_with_a() {
        let mut sim = VirtualNet::builder(3)
            .embedded(1)
            .leaders(Leaders::TowardA)
            .build();
        let v = sim.open_and_run(OpenV::payment(0, X), 100);
        assert!(sim.all_in(v, VirtualPhase::Open), "{:?}", sim.failed());
        assert_eq!(sim.locked(1, 0), U256::from(X), "H locked B's side with A");
        let start_h = sim.balance_of(1);
        let start_adj = sim.adjudicator_balance();

        // A (nothing in V) disappears. B takes V on-chain with its certificate.
        sim.set_offline(0, true);
        sim.node_mut(2).challenge(v).expect("B challenges V");
        sim.run(5);
        assert!(sim.has_landed("challenge V"), "{:?}", sim.failed());
        sim.advance_chain_time(WINDOW + 1);
        sim.run(20);
        // H–B swap the leaf off-chain by V's outcome.
        assert!(
            sim.run_until(200, |s| s.table(1, 1).is_some_and(|t| t.is_empty())),
            "{:?}",
            sim.failed()
        );
        // A never answers H's removal in A–H: H escalates after ESCALATE_MS.
        let now = sim.now();
        sim.set_now(now + ESCALATE_MS + 1_000);
        assert!(
            sim.run_until(300, |s| matches!(
                s.ledger_phase(1, 0),
                Some(Phase::Disputed | Phase::Finalized)
            )),
            "H took its ledger with A on-chain: {:?} {:?}",
            sim.ledger_phase(1, 0),
            sim.failed()
        );
        for _ in 0..4 {
            sim.advance_chain_time(WINDOW + 1);
            sim.run(100);
        }
        assert!(
            matches!(
                sim.ledger_phase(1, 0),
                Some(Phase::Finalized | Phase::Closed)
            ),
            "A–H finalized (and H withdrew its balance) with V's leaf: {:?} {:?}",
            sim.ledger_phase(1, 0),
            sim.landed()
        );
        assert!(
            sim.table(1, 0).is_some_and(|t| t.contains(&v)),
            "V's leaf is in the finalized A–H"
        );
        // Fixed: H's B-side lock is its stake, so it claims V's leaf in the finalized A–H.
        assert!(
            sim.run_until(200, |s| s
                .landed()
                .iter()
                .any(|(k, n)| *k == 1 && *n == "claim")),
            "H claimed V's leaf: {:?} {:?}",
            sim.landed(),
            sim.failed()
        );
        // H and B close their ledger cooperatively: everything is paid out, and nobody loses.
        let (now, l) = (sim.now(), sim.hop(1));
        sim.node_mut(1).ledger_mut().close(l, now).unwrap();
        assert!(
            sim.run_until(200, |s| s.ledger_phase(1, 1) == Some(Phase::Closed)),
            "{:?}",
            sim.failed()
        );
        sim.run(50);
        let _ = (start_h, start_adj);
        assert_eq!(
            sim.adjudicator_balance(),
            U256::ZERO,
            "nothing stays locked"
        );
        for k in 0..3 {
            assert_eq!(
                sim.balance_of(k),
                sim.initial_holdings().0[k],
                "member {k} is whole (gas is free on the embedded chain)"
            );
        }
    }
}

mod busy {
    use alloy::primitives::{Address, B256, U256};
    use ferry_ledger::channel::{funded_asset, virtual_params};
    use ferry_simulations::virtual_net::{CHALLENGE_DURATION, OpenV, VirtualNet};
    use ferry_virtual::protocol::{
        DEFAULT_MAX_OPENING, DEFAULT_MAX_OPENING_PER_PEER, Message, OPEN_TIMEOUT_MS,
        VirtualMessage, VirtualPhase,
    };

    /// A pre-fund of a V on which the honest hub (member 1) is an intermediary between its two real neighbours
    /// (member 2, the attacker, on its left and member 0, an honest user, on its right), inside a longer path whose
    /// ends are made-up keys on made-up ledgers. Everyone holds 0. Only the attacker signs (as the hub's left
    /// neighbour; the hub's join needs nobody's signature).
    fn bogus(sim: &VirtualNet, salt: u16) -> Message {
        let z = |b: u8| {
            let mut a = [b; 20];
            a[..2].copy_from_slice(&salt.to_be_bytes());
            Address::from(a)
        };
        let path = vec![z(0xa1), sim.addr(2), sim.addr(1), sim.addr(0), z(0xb2)];
        let hops = vec![
            B256::repeat_byte(0x11),
            sim.hop(1),
            sim.hop(0),
            B256::repeat_byte(0x22),
        ];
        let params = virtual_params(
            &sim.ctx(),
            path,
            hops,
            sim.payment_app(),
            CHALLENGE_DURATION,
            1,
        );
        let prefund = ferry_ledger::channel::state(
            &params,
            0,
            vec![funded_asset(Address::ZERO, vec![U256::ZERO; 5])],
            ferry_ledger::app::payment::initial_payment_data(1),
            false,
        );
        let mut sigs = vec![None; 5];
        sigs[1] = Some(sim.sign(2, &prefund));
        Message::Virtual(VirtualMessage::Sigs {
            params: Some(Box::new(params)),
            state: prefund,
            sigs,
            fees: vec![U256::ZERO; 5],
        })
    }

    /// SECURITY.md "What a hub exposes" (a hub's honest users refused by someone else's doing; the sixth attacker's
    /// per-user-cap finding, same class) against the new back-pressure. `IntermediaryPolicy::max_opening` counts
    /// every V the hub routes that is still opening (`node/mod.rs` `routing_opens`), whoever asked, with no
    /// per-neighbour share. Member 2, any user with a ledger to the hub, sends `DEFAULT_MAX_OPENING` (4,096) pre-fund
    /// messages of V's that put the hub between member 2 and member 0 (made-up ends and ledgers beyond them, all
    /// balances 0: no liquidity, no cap, no fee). The hub checks only its own two hops (both running) and joins each,
    /// signing the pre-fund; nothing is ever funded, so each stays "opening" until the open timeout (60 s). Every
    /// honest open through the hub meanwhile is refused with `PolicyRefusal::Busy`; repeated each minute, the hub
    /// routes nothing for anyone. Cost to the attacker: messages and one signature each, no gas, no funds.
    #[test]
    fn one_user_cannot_fill_the_hubs_max_opening_for_everyone() {
        let mut sim = VirtualNet::builder(3).build();
        let before = sim.open_and_run(OpenV::payment(10, 0), 50);
        assert_eq!(sim.v_phase(1, before), Some(VirtualPhase::Open));

        // Fixed: one neighbour brings at most `max_opening_per_peer` (256) opens; the rest are refused by name.
        let mut joined = 0;
        let mut refused = None;
        for salt in 0..DEFAULT_MAX_OPENING as u16 {
            let msg = bogus(&sim, salt);
            match sim.inject(2, 1, msg) {
                Ok(()) => joined += 1,
                Err(e) => {
                    refused = Some(e.to_string());
                    break;
                }
            }
        }
        assert_eq!(joined, DEFAULT_MAX_OPENING_PER_PEER);
        assert!(
            refused
                .as_deref()
                .is_some_and(|r| r.contains("busy") && r.contains(&format!("{}", sim.addr(2)))),
            "{refused:?}"
        );
        sim.run(3);
        // The honest user's next open goes through.
        let after = sim.open(OpenV::payment(10, 0)).expect("U proposes");
        sim.run(50);
        assert_eq!(
            sim.v_phase(0, after),
            Some(VirtualPhase::Open),
            "{:?}",
            sim.refused()
        );
        let _ = OPEN_TIMEOUT_MS;
    }
}

mod stake_generated {
    use alloy::primitives::U256;
    use ferry_simulations::virtual_net::{ETH, OpenV, VirtualNet};
    use ferry_virtual::protocol::{IntermediaryPolicy, VirtualError, VirtualPhase};

    /// One generated case: a path of `n` members (3 or 4), every hub with a 1% proportional fee (`fee_ppm`
    /// 10,000, no flat fee); A puts in nothing, B puts in `b`; the second hub (on a 4-path) is quoted `f` by hand;
    /// B then pays A `pays` by vouchers. Returns (what the first hub locked of its own for V in its ledger with A,
    /// whether its `challenge` was refused with `NothingAtStake`).
    fn case(n: usize, b: u64, f: u64, pays: Vec<u64>) -> (U256, bool) {
        let mut sim = VirtualNet::builder(n)
            .intermediary_policy(IntermediaryPolicy {
                fee_ppm: 10_000,
                ..IntermediaryPolicy::default()
            })
            .build();
        let mut req = OpenV::payment(0, b);
        if n == 4 {
            // The first hub's own fee rounds to 0 on V's total; the second quotes `f` (at least its 1%).
            req = req.fees(vec![
                U256::ZERO,
                U256::ZERO,
                U256::from(f + b / 100),
                U256::ZERO,
            ]);
        }
        let v = sim.open_and_run(req, 80);
        assert!(sim.all_in(v, VirtualPhase::Open), "{:?}", sim.refused());
        let last = n - 1;
        let mut left = b;
        for p in pays {
            let p = p.min(left);
            if p == 0 {
                continue;
            }
            sim.node_mut(last)
                .pay(v, ETH, U256::from(p))
                .expect("B pays A");
            left -= p;
            sim.run(5);
        }
        // The first hub's own funds in V: B's side in its ledger with A.
        let hub_fee = sim.channel(1, v).unwrap().fees()[1];
        assert!(hub_fee.is_zero(), "1% of a V under 100 rounds to 0");
        let locked = sim.locked(1, 0);
        let refused = matches!(
            sim.node_mut(1).challenge(v),
            Err(ferry_virtual::Error::Virtual(VirtualError::NothingAtStake))
        );
        (locked, refused)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, max_shrink_iters: 10, ..proptest::prelude::ProptestConfig::default() })]

        /// S9 / S16, generated: whatever V's size (under 100, so a 1% fee rounds to 0), the other hub's fee and
        /// the payments B makes to A, the first hub locks B's side of V (and the fees it passes on) in its ledger
        /// with A, yet its own core calls that "nothing at stake" (`VirtualChannel::holds_mine` counts only A's
        /// side and its own fee): its `challenge` is refused, and every claim, answer or conclusion it would send
        /// for V is dropped by `submit` (see `s9_s16_the_hub_claims_the_b_side_it_locked_in_its_ledger_with_a`
        /// for the loss on-chain).
        #[test]
        fn s16_generated_a_hub_with_b_s_side_locked_has_something_at_stake(
            n in 3usize..5,
            b in 1u64..100,
            f in 0u64..5,
            pays in proptest::collection::vec(0u64..40, 0..3),
        ) {
            let (locked, refused) = case(n, b, f, pays);
            proptest::prop_assert!(locked >= U256::from(b), "the hub locked B's side: {}", locked);
            // Fixed: its lock is its stake; its challenge is not refused as "nothing at stake".
            proptest::prop_assert!(!refused, "the hub's challenge was refused as nothing at stake");
        }
    }
}

mod gas {
    use alloy::primitives::U256;
    use ferry_simulations::virtual_net::{OpenV, VirtualNet};
    use ferry_virtual::protocol::{Message, OPEN_TIMEOUT_MS, VirtualMessage, VirtualPhase};

    /// S16 ("no transaction carries a state holding nothing of the node's"; SECURITY.md "make the node pay gas
    /// for a channel"), the sixth attacker's gas attack again, through the fee. X (member 0) and Y (member 2), two
    /// keys of one attacker each with a ledger to the honest hub H (member 1, default policy: it charges nothing),
    /// open V = [X, H, Y] with every balance 0 and a routing fee of 1 wei quoted for H (more than H asks, so H
    /// takes it). X's side adds V's leaf (the 1-wei fee) in X–H, H adds its (empty) leaf in H–Y and signs the
    /// post-fund; X never sends its own post-fund signature. After `OPEN_TIMEOUT_MS` H, having signed the
    /// post-fund, takes V on-chain with the pre-fund. `VirtualChannel::holds_mine` counts `fees[me]` whether or
    /// not V got past its pre-fund, but a failed open pays the fee back to A's side (`leaf_payout`: "no fee kept
    /// for a failed open"): H holds nothing in V and pays a `challenge` of V (then whatever follows). X paid no
    /// gas, and its 1 wei comes back to it; each new V costs the attacker nothing.
    #[test]
    fn s16_a_one_wei_fee_h_never_earns_does_not_make_it_pay_for_v() {
        let mut sim = VirtualNet::builder(3).embedded(1).build();
        // X withholds its post-fund signature.
        sim.set_drop(|from, _to, m| {
            from == 0
                && matches!(m, Message::Virtual(VirtualMessage::Sigs { state, .. })
                    if state.version.to::<u64>() == 1)
        });
        let v = sim
            .open(OpenV::payment(0, 0).fees(vec![U256::ZERO, U256::from(1), U256::ZERO]))
            .expect("X opens V through H to Y");
        let signed = sim.run_until(200, |s| {
            s.channel(1, v)
                .is_some_and(|c| c.certificate().is_none() && c.fees()[1] == U256::from(1))
                && s.table(1, 0).is_some_and(|t| t.contains(&v))
                && s.table(1, 1).is_some_and(|t| t.contains(&v))
        });
        assert!(signed, "both leaves in: {:?}", sim.failed());
        sim.run(10);
        assert_eq!(sim.v_phase(1, v), Some(VirtualPhase::Opening));
        assert!(sim.channel(1, v).unwrap().certificate().is_none());
        let prefund = sim.channel(1, v).unwrap().prefund().clone();
        assert!(
            prefund.outcome.assets[0]
                .balances
                .iter()
                .all(|b| b.is_zero()),
            "nobody holds anything in V"
        );
        sim.set_offline(0, true);
        let n = OPEN_TIMEOUT_MS / 100 + 40;
        sim.run(n as usize);
        // Fixed: a fee counts only once earned (V past its pre-fund): H sends nothing for V.
        let sent: Vec<_> = sim
            .landed()
            .iter()
            .filter(|(k, n)| *k == 1 && *n != "deposit")
            .collect();
        assert!(
            sent.is_empty(),
            "H paid for a V holding nothing of its own: {:?} {:?}",
            sim.landed(),
            sim.failed()
        );
    }
}

mod stake_onchain_generated {
    use alloy::primitives::U256;
    use ferry_ledger::protocol::Phase;
    use ferry_simulations::virtual_net::{
        CHALLENGE_DURATION as WINDOW, ETH, Leaders, OpenV, VirtualNet,
    };
    use ferry_virtual::protocol::{ESCALATE_MS, VirtualPhase};

    /// One case of the on-chain loss: A–H–B, V = payment(0, `x`), B pays A `paid` by vouchers, A goes silent, B
    /// takes V on-chain, H's ledger with A is challenged and finalized with V's leaf in it, H–B closes. Returns
    /// (H's shortfall against its wallet before the ledgers, what stays in the adjudicator, claims landed).
    fn case(x: u64, paid: u64, leaders: Leaders) -> (U256, U256, usize) {
        let mut sim = VirtualNet::builder(3).embedded(1).leaders(leaders).build();
        let v = sim.open_and_run(OpenV::payment(0, x), 100);
        assert!(sim.all_in(v, VirtualPhase::Open), "{:?}", sim.failed());
        if paid > 0 {
            sim.node_mut(2)
                .pay(v, ETH, U256::from(paid))
                .expect("B pays A");
            sim.run(5);
        }
        sim.set_offline(0, true);
        sim.node_mut(2).challenge(v).expect("B challenges V");
        sim.run(5);
        sim.advance_chain_time(WINDOW + 1);
        sim.run(50);
        let now = sim.now();
        sim.set_now(now + ESCALATE_MS + 1_000);
        sim.run(100);
        for _ in 0..4 {
            sim.advance_chain_time(WINDOW + 1);
            sim.run(100);
        }
        assert!(
            matches!(
                sim.ledger_phase(1, 0),
                Some(Phase::Finalized | Phase::Closed)
            ),
            "{:?} {:?}",
            sim.ledger_phase(1, 0),
            sim.landed()
        );
        let (now, l) = (sim.now(), sim.hop(1));
        if sim.ledger_phase(1, 1) == Some(Phase::Running) {
            sim.node_mut(1).ledger_mut().close(l, now).unwrap();
        }
        sim.run_until(200, |s| s.ledger_phase(1, 1) == Some(Phase::Closed));
        sim.run(50);
        let short = sim.initial_holdings().0[1].saturating_sub(sim.balance_of(1));
        (short, sim.adjudicator_balance(), sim.landed_count("claim"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 16, max_shrink_iters: 10, ..proptest::prelude::ProptestConfig::default() })]

        /// S9 / S16, generated on-chain: whatever B put in (`x`), whatever it paid A before A went silent, and
        /// whoever leads the ledgers, H never claims V's leaf in its finalized ledger with A and ends short by
        /// exactly `x` (B's balance in V's on-chain outcome, the certificate, as the silent A never redeems: what
        /// the leaf owes H), while the whole leaf `x` stays in the adjudicator.
        #[test]
        fn s9_s16_generated_the_hub_gets_b_s_final_balance_back(
            x in 1u64..=100,
            pct in 0u64..100,
            toward_a in proptest::prelude::any::<bool>(),
        ) {
            let paid = x * pct / 100;
            let leaders = if toward_a { Leaders::TowardA } else { Leaders::Alternating };
            let (short, held, claims) = case(x, paid, leaders);
            // Fixed: H claims V's leaf, ends whole, and nothing stays in the adjudicator.
            proptest::prop_assert!(claims >= 1, "H claimed");
            proptest::prop_assert_eq!(short, U256::ZERO, "H's shortfall");
            proptest::prop_assert_eq!(held, U256::ZERO, "nothing stays in the adjudicator");
        }
    }
}

mod theft {
    use alloy::primitives::U256;
    use alloy::primitives::aliases::U48;
    use ferry_simulations::virtual_net::{
        CHALLENGE_DURATION as WINDOW, DEFAULT_DEPOSIT as DEPOSIT, Leaders, OpenV, VirtualNet,
    };
    use ferry_virtual::protocol::{Message, VirtualPhase};

    const X: u64 = 40;

    /// S5 / S10 ("a whole-path final of V concludes over any registered version, so colluding endpoints cannot take
    /// back from a hub what the final gave it", contracts/SPEC.md), broken by the S16 gate. A–H–B, H with the
    /// default policy (no fee); A and B collude. V = payment(0, `X`): B funds it, so H locks `X` (B's side) in
    /// A–H and B locks `X` in H–B. A proposes the final (A 0, B `X`); the whole path signs it. H swaps the leaf in
    /// H–B by the final at once (B gets its `X` back), but A never proposes the removal in A–H (its ledger
    /// messages to H are withheld). Then A and B co-sign a later state of V giving A everything (A `X`, B 0,
    /// version 10) and A registers it with the certificate. H holds the whole-path final, and
    /// `conclude_with_final_when_onchain` is exactly the defence — but it goes through `submit`, and
    /// `VirtualChannel::holds_mine` says H has nothing in V (no A-side balance, no fee), so H never concludes. V
    /// finalizes by the colluders' state; A takes A–H on-chain and claims V's leaf, which pays A `X` (H's own
    /// `X`, B's side of V). Loss: H pays `X` to A, having already given B its `X` back; A and B together end `X`
    /// richer, H `X` poorer (asserted on-chain to the wei). The gate also drops H's claims and answers, so H
    /// has no other defence.
    #[tokio::test(flavor = "multi_thread")]
    async fn s5_s16_colluding_endpoints_cannot_take_back_the_hubs_lock_as_the_hub_concludes_with_the_final()
     {
        let mut sim = VirtualNet::builder(3)
            .embedded(1)
            .leaders(Leaders::TowardA)
            .build();
        let v = sim.open_and_run(OpenV::payment(0, X), 100);
        assert!(sim.all_in(v, VirtualPhase::Open), "{:?}", sim.failed());
        // A withholds its ledger messages to H (the A–H removal by the final never comes).
        sim.set_drop(|from, to, m| from == 0 && to == 1 && matches!(m, Message::Ledger(_)));
        let now = sim.now();
        sim.node_mut(0)
            .settle(v, now)
            .expect("A proposes the final");
        let swapped = sim.run_until(100, |s| {
            s.channel(1, v).is_some_and(|c| c.final_signed().is_some())
                && s.table(1, 1).is_some_and(|t| !t.contains(&v))
                && s.balance(2, 1) == U256::from(DEPOSIT)
                && s.locked(1, 1).is_zero()
                && s.locked(2, 1).is_zero()
        });
        assert!(swapped, "H–B swapped by the final: {:?}", sim.failed());
        assert!(sim.table(1, 0).is_some_and(|t| t.contains(&v)));
        assert_eq!(sim.balance(2, 1), U256::from(DEPOSIT), "B has its X back");

        // A and B (their own software from now on: silent) co-sign "A gets everything" and A registers it with
        // the certificate.
        sim.set_offline(0, true);
        sim.set_offline(2, true);
        let ch = sim.channel(1, v).unwrap().clone();
        let cert = ch.certificate().unwrap();
        let mut s = cert.state.clone();
        s.version = U48::from(10u8);
        s.outcome.assets[0].balances[0] = U256::from(X);
        s.outcome.assets[0].balances[2] = U256::ZERO;
        let sigs = vec![sim.sign(0, &s), sim.sign(2, &s)];
        sim.client()
            .challenge(sim.addr(0), ch.params(), &s, &sigs, Some(&cert))
            .await
            .expect("the colluders register their state");
        sim.run(30);
        assert!(
            sim.channel(1, v).unwrap().final_signed().is_some(),
            "H holds the whole-path final"
        );
        sim.advance_chain_time(WINDOW + 1);
        sim.run(30);
        // Fixed: H's lock is its stake, so it concludes V with the whole-path final it holds; V's outcome is the
        // final, not the colluders' state.
        assert!(sim.landed_count("conclude V") >= 1, "{:?}", sim.landed());
        assert_ne!(
            sim.channel(1, v).unwrap().onchain_final(),
            Some(&s),
            "V's outcome is not the colluders' state"
        );
        sim.clear_drop();
        sim.set_offline(0, false);
        for _ in 0..4 {
            sim.advance_chain_time(WINDOW + 1);
            sim.run(100);
        }
        let (initial, _) = sim.initial_holdings().clone();
        let a_gain = sim.balance_of(0).saturating_sub(initial[0]);
        assert_eq!(a_gain, U256::ZERO, "A takes nothing of H's");
        let h_now = sim.balance_of(1) + sim.balance(1, 1);
        assert!(
            h_now >= initial[1],
            "H lost nothing: {h_now} of {}",
            initial[1]
        );
    }
}
