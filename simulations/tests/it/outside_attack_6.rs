//! A sixth outside reviewer's attacks (issue 13: the hub's per-operation cost work and the stranger rules), kept
//! as regression tests: each asserted the bad outcome when written, and now asserts the fix (the doc comments
//! describe the attack as it worked).

#![allow(clippy::unwrap_used)]

mod ledger {
    use crate::common::*;
    use alloy::primitives::U256;
    use ferry_adjudicator::Chain;
    use ferry_ledger::protocol::Phase;

    /// S12 / S16 / "nothing stays locked forever". The honest node (party 0, the leader) funds a channel with the
    /// attacker alone (`[DEPOSIT, 0]`) and later withdraws its whole balance off-chain (`withdraw`, to be paid by
    /// `withdrawPartial`). The attacker never countersigns over the wire: it completes the leader's proposal with its
    /// own signature and registers it with `challenge`. The leader adopts it (its own proposal, S14) and the channel
    /// finalizes by it. In that state the leader's balance is 0 and nothing is locked, its `DEPOSIT` being owed as
    /// `withdrawn[0]` (paid by `withdrawPartial`, or by `withdraw` as `wd_state - wd_onchain`). But
    /// `LedgerChannel::holds_mine` looks only at balances, locked leaves and uncounted top-ups, not at a withdrawal
    /// the chain has not paid: `drive_finalized` sends no `withdraw`, the user's `challenge` is refused with
    /// `NothingAtStake`, and `drive_partial_withdrawals` runs only in `Running`, so the `withdrawPartial` is never
    /// sent either (it would still pay while the challenge is pending). Loss: the honest node's whole `DEPOSIT`
    /// stays in the adjudicator for as long as the attacker likes (the attacker has nothing in the channel, so it
    /// never needs to call `withdraw`, which would pay both).
    #[tokio::test]
    async fn s12_a_full_withdrawal_the_peer_registers_is_paid_to_the_leader() {
        let (mut net, id) = opened_channel(601, 0, [DEPOSIT, 0]).await;
        let (honest, attacker) = (net.address(0), net.address(1));
        let params = channel_params(&mut net, id);
        let adjudicator = net.chain.adjudicator();
        let held_before = net.chain.balance(adjudicator).await.unwrap();
        assert_eq!(held_before, U256::from(DEPOSIT));

        // From now on the attacker owns its inbox. The honest user cashes out its whole balance.
        net.divert_to = Some(1);
        let now = net.now;
        net.node(0)
            .withdraw(id, ETH, U256::from(DEPOSIT), now)
            .expect("withdraw");
        let (state, honest_sig) = last_proposal(&mut net, 3).await.expect("the proposal");
        assert_eq!(state.outcome.assets[0].balances[0], U256::ZERO);
        assert_eq!(state.outcome.assets[0].withdrawn[0], U256::from(DEPOSIT));
        // The attacker completes the proposal and registers it.
        let sigs = complete(&net, &state, honest_sig);
        net.client
            .challenge(attacker, &params, &state, &sigs, None)
            .await
            .expect("challenge with the completed withdrawal");
        steps_silent(&mut net, 20).await;
        // Many challenge windows and hours of local time: every timer the node has fires.
        for _ in 0..4 {
            net.now += 3_600_000;
            after_window(&mut net, 40).await;
        }
        let ch = net.node(0).channel(&id).expect("ch").clone();
        assert_eq!(
            ch.finalized_state(),
            Some(&state),
            "the ledger finalized by the full withdrawal"
        );
        // Fixed: the unpaid withdrawal counts as the leader's stake, and `withdrawPartial` (while the challenge
        // runs) or `withdraw` (after) pays it.
        assert!(
            landed(&net, "withdrawPartial") + landed(&net, "withdraw") >= 1,
            "a payout was sent: {:?} {:?}",
            net.landed,
            net.failed
        );
        assert_eq!(
            paid_to(&net, 0, honest),
            U256::from(DEPOSIT),
            "the leader got its whole deposit back"
        );
        assert_eq!(
            net.chain.balance(adjudicator).await.unwrap(),
            U256::ZERO,
            "nothing stays in the adjudicator"
        );
        let _ = (&ch, &params, attacker);
    }
    /// S12 / S14 / "nothing stays locked forever", against a follower (a user whose hub leads the ledger). The
    /// attacker (party 0, the leader) opened the channel with 1 wei of its own; the honest follower (party 1) put in
    /// `DEPOSIT`. The follower asks to withdraw its whole balance. The leader answers with one proposal batching the
    /// follower's request with its own `Close` (a batch an honest leader may build too): a final state in
    /// which the follower's balance is 0 and `withdrawn[1] = DEPOSIT`. The follower countersigns (it is exactly
    /// its request plus a close) and is now `Closing`. The leader never concludes. `drive_closing` sends the
    /// follower's `concludeAndWithdraw` only if `holds_mine(final)`, which ignores the unpaid withdrawal, and
    /// `drive_partial_withdrawals` runs only while `Running`, so the follower sends nothing, ever, and its
    /// `challenge` is refused with `NothingAtStake`. Loss: the follower's whole `DEPOSIT` (the attacker risks 1 wei).
    #[tokio::test]
    async fn s12_a_full_withdrawal_batched_with_a_close_is_paid_to_the_follower() {
        use ferry_ledger::protocol::{LedgerMessage, Op, Proposal, ops};
        let (mut net, id) = opened_channel(602, 0, [1, DEPOSIT]).await;
        let (attacker, honest) = (net.address(0), net.address(1));
        let params = channel_params(&mut net, id);
        let adjudicator = net.chain.adjudicator();
        assert_eq!(
            net.chain.balance(adjudicator).await.unwrap(),
            U256::from(DEPOSIT + 1)
        );

        // The attacker owns its inbox from now on; the honest follower cashes out.
        net.divert_to = Some(0);
        let now = net.now;
        net.node(1)
            .withdraw(id, ETH, U256::from(DEPOSIT), now)
            .expect("withdraw");
        net.step().await.unwrap();
        let request = std::mem::take(&mut net.diverted)
            .into_iter()
            .find_map(|m| match m.msg {
                LedgerMessage::Request { proposals, .. } => proposals.into_iter().next(),
                _ => None,
            })
            .expect("the follower's request");
        // The leader's answer: the request and its own close, in one final state.
        let base = net
            .node(1)
            .channel(&id)
            .unwrap()
            .supported()
            .unwrap()
            .state
            .clone();
        let mut table = net.node(1).table(&id).unwrap().clone();
        let batch = vec![
            request,
            Proposal {
                proposer: 0,
                seq: 1,
                op: Op::Close,
            },
        ];
        let version = base.version.to::<u64>() + 1;
        let (state, _) = ops::build(&base, &mut table, &batch, version).expect("a valid batch");
        assert!(state.isFinal);
        assert_eq!(state.outcome.assets[0].balances[1], U256::ZERO);
        assert_eq!(state.outcome.assets[0].withdrawn[1], U256::from(DEPOSIT));
        let ctx = *net.node(1).context();
        let sig = net.parties[0].signer.sign_state(&ctx, &state);
        let now = net.now;
        net.node(1)
            .handle_message(
                attacker,
                LedgerMessage::Propose {
                    state: state.clone(),
                    sig: sig.clone(),
                    batch,
                },
                now,
            )
            .expect("the follower takes the proposal");
        assert_eq!(
            phase(&net, 1, id),
            Some(Phase::Closing),
            "the follower countersigned the final"
        );
        // Hours of local time and many challenge windows.
        for _ in 0..4 {
            net.now += 3_600_000;
            after_window(&mut net, 40).await;
        }
        // Fixed: the follower's unpaid withdrawal is its stake: it concludes the final (or is paid by
        // `withdrawPartial`) on its own.
        assert!(
            landed(&net, "withdrawPartial")
                + landed(&net, "concludeAndWithdraw")
                + landed(&net, "challenge")
                >= 1,
            "the follower went on-chain: {:?} {:?}",
            net.landed,
            net.failed
        );
        assert_eq!(
            paid_to(&net, 1, honest),
            U256::from(DEPOSIT),
            "the follower got its whole deposit back"
        );
        assert!(
            net.chain.balance(adjudicator).await.unwrap() <= U256::from(1u64),
            "at most the attacker's own wei stays in the adjudicator"
        );
        let _ = params;
    }
    /// S11 / S12 ("withdrawUnlisted pays an asset the state does not list: a top-up in a new token the peer never
    /// countersigned, which withdraw would leave in the adjudicator forever"). No attacker needed: the leader's
    /// operator lists token T, the follower's does not. The leader's user tops up `AMOUNT` of T; the deposit lands,
    /// the leader proposes the top-up and the follower refuses it by name (`AssetNotAccepted`), so the leader stops
    /// counting T (`note_refused_top_up`, as designed: "others go to withdrawUnlisted"). The channel then closes
    /// cooperatively. But no core ever sends `withdrawUnlisted` (`ChainTx` has no such transaction): the closing
    /// `concludeAndWithdraw` pays ETH only, the leader calls the channel `Closed`, and its `AMOUNT` of T stays in
    /// the adjudicator. Loss: the leader's whole top-up.
    #[tokio::test]
    async fn s12_a_top_up_in_a_token_the_peer_refuses_is_paid_back() {
        const AMOUNT: u64 = 1_000;
        let (mut net, id) = running_channel(1, 603).await;
        let honest = net.address(0);
        let adjudicator = net.chain.adjudicator();
        let token = stranger_token(&net, honest, AMOUNT).await;
        // The leader's operator lists T (restart with it listed); the follower's does not.
        restart_listing(&mut net, 0, token);
        steps_silent(&mut net, 5).await;
        net.node(0)
            .top_up(id, token, U256::from(AMOUNT))
            .expect("top up in T");
        steps_silent(&mut net, 30).await;
        assert_eq!(
            net.client.token_balance(token, adjudicator).await.unwrap(),
            U256::from(AMOUNT),
            "the top-up is on-chain"
        );
        assert!(
            net.parties[1].refused.iter().any(|r| r.contains("ccept"))
                || net.parties[0]
                    .events
                    .iter()
                    .any(|e| matches!(e, ferry_ledger::protocol::LedgerEvent::Refused { .. })),
            "the follower refused the top-up: {:?} {:?}",
            net.parties[1].refused,
            net.parties[0].events
        );
        // A cooperative close.
        let now = net.now;
        net.node(0).close(id, now).expect("close");
        let closed = net
            .run_until(300, |n| {
                (0..2).all(|i| phase(n, i, id) == Some(Phase::Closed))
            })
            .await
            .expect("run");
        assert!(closed, "{:?} {:?}", net.landed, net.failed);
        for _ in 0..3 {
            net.now += 3_600_000;
            after_window(&mut net, 30).await;
        }
        assert_eq!(landed(&net, "concludeAndWithdraw"), 1);
        // Fixed: `withdrawUnlisted` pays the refused top-up back, once.
        assert_eq!(landed(&net, "withdrawUnlisted"), 1, "{:?}", net.landed);
        assert_eq!(
            net.client.token_balance(token, honest).await.unwrap(),
            U256::from(AMOUNT),
            "the leader got its T back"
        );
        assert_eq!(
            net.client.token_balance(token, adjudicator).await.unwrap(),
            U256::ZERO,
            "no T stays in the adjudicator"
        );
    }
    /// What one generated case does: the honest leader (party 0) funds `[DEPOSIT, 0]`, runs `ops` with the peer
    /// cooperating (a payment to the peer, or a withdrawal paid by `withdrawPartial`, each `pct`% of its balance
    /// then), and finally withdraws all it has left. The peer completes that last proposal itself, registers it and
    /// leaves. Returns (what the leader was paid, what it is entitled to, the last withdrawal).
    async fn withdraw_all_case(ops: Vec<(bool, u64)>, seed: u64) -> (U256, U256, U256) {
        let (mut net, id) = opened_channel(seed, 0, [DEPOSIT, 0]).await;
        let (honest, attacker) = (net.address(0), net.address(1));
        let params = channel_params(&mut net, id);
        let mut balance = DEPOSIT;
        let mut paid = 0u64;
        for (is_pay, pct) in ops {
            let amount = balance * pct / 100;
            if amount == 0 || amount >= balance {
                continue;
            }
            let now = net.now;
            if is_pay {
                net.node(0)
                    .pay(id, ETH, U256::from(amount), now)
                    .expect("pay");
                paid += amount;
            } else {
                net.node(0)
                    .withdraw(id, ETH, U256::from(amount), now)
                    .expect("withdraw");
            }
            balance -= amount;
            steps_silent(&mut net, 20).await;
        }
        net.divert_to = Some(1);
        let now = net.now;
        net.node(0)
            .withdraw(id, ETH, U256::from(balance), now)
            .expect("withdraw the rest");
        let (state, honest_sig) = last_proposal(&mut net, 3).await.expect("the proposal");
        let sigs = complete(&net, &state, honest_sig);
        net.client
            .challenge(attacker, &params, &state, &sigs, None)
            .await
            .expect("challenge");
        net.crash(1);
        steps_silent(&mut net, 20).await;
        for _ in 0..3 {
            net.now += 3_600_000;
            after_window(&mut net, 40).await;
        }
        (
            paid_to(&net, 0, honest),
            U256::from(DEPOSIT - paid),
            U256::from(balance),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, max_shrink_iters: 20, ..proptest::prelude::ProptestConfig::default() })]

        /// S12, generated: whatever the honest leader paid and withdrew before (each step countersigned), its last
        /// withdrawal of everything it has left, registered by the peer, was never paid (the leader ended short by
        /// exactly that withdrawal). Fixed: it is paid, to the wei.
        #[test]
        fn s12_generated_the_last_full_withdrawal_is_paid(
            ops in proptest::collection::vec((proptest::prelude::any::<bool>(), 1..90u64), 0..4),
            seed in 0..1_000u64,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let (got, entitled, last) = rt.block_on(withdraw_all_case(ops, seed));
            // Fixed: the leader is paid all it is entitled to, the last withdrawal included.
            proptest::prop_assert_eq!(got, entitled, "paid {}, entitled to {} (last withdrawal {})", got, entitled, last);
        }
    }
}

mod caps {
    use alloy::primitives::{Address, B256, U256};
    use ferry_ledger::channel::{funded_asset, virtual_params};
    use ferry_simulations::virtual_net::{CHALLENGE_DURATION, OpenV, VirtualNet};
    use ferry_virtual::protocol::{IntermediaryPolicy, Message, VirtualMessage, VirtualPhase};

    /// The hub's per-user cap.
    const CAP: u64 = 50;

    /// A pre-fund for a V whose path ends at the honest hub (member 1) as its last endpoint B, coming from its
    /// neighbour on the path, member 2 (the attacker, a user of the hub with a running ledger to it). The path's
    /// first two members are made-up keys, and its first hop names `foreign`, a ledger of the hub with someone
    /// else. A holds `a` (B nothing), no signature but the hub's own is needed for the hub to join.
    fn bogus_prefund(sim: &VirtualNet, foreign: B256, a: U256, salt: u8) -> Message {
        let path = vec![
            Address::repeat_byte(0xa0 ^ salt),
            Address::repeat_byte(0xb0 ^ salt),
            sim.addr(2),
            sim.addr(1),
        ];
        let hops = vec![foreign, B256::repeat_byte(0x5a ^ salt), sim.hop(1)];
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
            vec![funded_asset(
                Address::ZERO,
                vec![a, U256::ZERO, U256::ZERO, U256::ZERO],
            )],
            ferry_ledger::app::payment::initial_payment_data(1),
            false,
        );
        Message::Virtual(VirtualMessage::Sigs {
            params: Some(Box::new(params)),
            state: prefund,
            sigs: vec![None; 4],
            fees: vec![U256::ZERO; 4],
        })
    }

    /// Found by reading (the sixth attacker's notes): the per-user cap counted a V's first asset only, and ETH (address
    /// zero) always sorts first, so a V holding 1 wei of ETH and any amount of a token passed it, letting one
    /// neighbour lock all of the hub's liquidity in that token. Fixed: the cap holds in every asset (each in its own
    /// units). U (member 0) asks the hub to route a V of 1 wei and 100 of a token under a cap of `CAP` = 50: refused
    /// by the per-user cap (before, it passed the cap and only the hub's missing token liquidity stopped it).
    #[test]
    fn per_user_cap_holds_in_every_asset_not_only_the_first() {
        let mut sim = VirtualNet::builder(3)
            .intermediary_policy(IntermediaryPolicy {
                max_per_user: U256::from(CAP),
                ..IntermediaryPolicy::default()
            })
            .build();
        let token = Address::repeat_byte(0x77);
        let path = vec![sim.addr(0), sim.addr(1), sim.addr(2)];
        let params = virtual_params(
            &sim.ctx(),
            path,
            vec![sim.hop(0), sim.hop(1)],
            sim.payment_app(),
            CHALLENGE_DURATION,
            1,
        );
        let prefund = ferry_ledger::channel::state(
            &params,
            0,
            vec![
                funded_asset(Address::ZERO, vec![U256::from(1), U256::ZERO, U256::ZERO]),
                funded_asset(token, vec![U256::from(100), U256::ZERO, U256::ZERO]),
            ],
            ferry_ledger::app::payment::initial_payment_data(2),
            false,
        );
        let msg = Message::Virtual(VirtualMessage::Sigs {
            params: Some(Box::new(params)),
            state: prefund,
            sigs: vec![None; 3],
            fees: vec![U256::ZERO; 3],
        });
        let refused = sim.inject(0, 1, msg).expect_err("the hub refuses to join");
        assert!(
            refused.to_string().contains("above the per-user cap 50"),
            "refused by the per-user cap in the token: {refused}"
        );
    }

    /// Per-user cap (SECURITY.md "What a hub exposes": a hub's honest users refused by someone else's doing). The
    /// hub (member 1) routes for its user U (member 0) to member 2 under a per-user cap of `CAP` on each ledger.
    /// Member 2, a user of the hub, sends the hub a pre-fund of a V that ends at the hub (the hub is its B) and whose
    /// path *before* the hub names the hub's ledger with U as a hop, between two made-up keys, with A holding a huge
    /// balance. The hub checks only its own hop (its ledger with member 2) and joins, signing nothing but the
    /// pre-fund; nothing is ever funded or signed by anyone else. But the running sum the cap reads
    /// (`node/mod.rs: locks`, like the per-hop scan before it) counts *every* hop of V's path, the hub's own or not,
    /// so `locked_in(U's ledger)` jumps by A's balance. Loss: every V of U through the hub is refused
    /// (`AbovePerUserCap`) for as long as the bogus V lives (the open timeout, 60 s; a new one costs the attacker
    /// one message, no gas, no funds), and one bogus V can list many of the hub's ledgers at once.
    #[test]
    fn per_user_cap_of_an_honest_user_is_not_spent_by_a_v_that_never_touches_its_ledger() {
        let mut sim = VirtualNet::builder(3)
            .intermediary_policy(IntermediaryPolicy {
                max_per_user: U256::from(CAP),
                ..IntermediaryPolicy::default()
            })
            .build();
        // Before: U opens a V of 10 through the hub to member 2.
        let before = sim.open_and_run(OpenV::payment(10, 0), 50);
        assert_eq!(sim.v_phase(1, before), Some(VirtualPhase::Open));

        // The attack: one message from member 2 to the hub.
        let u_ledger = sim.hop(0);
        let msg = bogus_prefund(&sim, u_ledger, U256::from(1_000_000_000u64), 1);
        sim.inject(2, 1, msg).expect("the hub joins the bogus V");
        sim.run(3);
        let joined = sim
            .node(1)
            .channels()
            .filter(|c| c.params().hops[0] == u_ledger && c.me() == 3)
            .count();
        assert_eq!(joined, 1, "the hub joined the V that ends at it");

        // Fixed: the hub counts a V on its own hops only, so U's next V of 10 (10 locked + 10, within the cap)
        // opens.
        sim.clear_refused();
        let after = sim.open(OpenV::payment(10, 0)).expect("U proposes");
        sim.run(50);
        assert_eq!(
            sim.v_phase(0, after),
            Some(VirtualPhase::Open),
            "{:?}",
            sim.refused()
        );
        assert!(
            !sim.refused()
                .iter()
                .any(|r| r.contains("above the per-user cap")),
            "{:?}",
            sim.refused()
        );
    }
}

mod gas {
    use alloy::primitives::U256;
    use ferry_simulations::virtual_net::{OpenV, VirtualNet};
    use ferry_virtual::protocol::{Message, OPEN_TIMEOUT_MS, VirtualMessage, VirtualPhase};

    /// S16 ("no transaction carries a state holding nothing of the node's"; SECURITY.md "make the node pay gas for
    /// a channel"). X (member 0), any peer with a ledger to the honest node H (member 1), opens a two-member payment
    /// channel V = [X, H] over that ledger with X holding 1 wei and H nothing: H's balance in V is 0 and H puts
    /// nothing into V's leaf (B's side contributes B's balance). The whole path (both) signs the pre-fund, X's side
    /// adds the 1-wei leaf, H signs the post-fund, and X simply never sends its own post-fund signature, then goes
    /// quiet. After `OPEN_TIMEOUT_MS` H, having signed the post-fund, must not refund and takes V on-chain
    /// (`challenge_open_stuck_after_postfund`, no "holds mine" gate in the virtual core): a `challenge` of V with the
    /// pre-fund, a state in which H holds nothing, paid by H. X paid no gas at all, and each new V costs it one
    /// wei of leaf; H pays one V challenge per V (then the leaf's removal or claim).
    #[test]
    fn s16_a_peer_cannot_make_the_node_pay_for_a_v_holding_nothing_of_its_own() {
        let mut sim = VirtualNet::builder(2).embedded(1).build();
        // X withholds its post-fund signature from H.
        sim.set_drop(|from, to, m| {
            from == 0
                && to == 1
                && matches!(m, Message::Virtual(VirtualMessage::Sigs { state, .. })
                    if state.version.to::<u64>() == 1)
        });
        let v = sim.open(OpenV::payment(1, 0)).expect("X opens V to H");
        let held = sim.run_until(100, |s| {
            s.table(1, 0).is_some_and(|t| t.contains(&v)) && s.locked(1, 0) == U256::from(1)
        });
        assert!(held, "V's 1-wei leaf is in the ledger: {:?}", sim.failed());
        sim.run(10);
        let prefund = sim.channel(1, v).unwrap().prefund().clone();
        assert_eq!(
            prefund.outcome.assets[0].balances[1],
            U256::ZERO,
            "H holds nothing in V"
        );
        assert_eq!(sim.v_phase(1, v), Some(VirtualPhase::Opening));
        // X goes quiet; H waits out the open timeout.
        sim.set_offline(0, true);
        let before = sim
            .landed()
            .iter()
            .filter(|(k, n)| *k == 1 && *n == "challenge V")
            .count();
        assert_eq!(before, 0);
        let n = OPEN_TIMEOUT_MS / 100 + 40;
        sim.run(n as usize);
        // Fixed: H sends nothing for a V holding nothing of its own (its user's challenge is refused by name).
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
        assert!(matches!(
            sim.node_mut(1).challenge(v),
            Err(ferry_virtual::Error::Virtual(
                ferry_virtual::protocol::VirtualError::NothingAtStake
            ))
        ));
    }
}
