//! What members refuse (synthetic chain): typed refusals that change nothing, forged vouchers and finals, two finals
//! shown to two hubs, a refund asked after the post-fund, a settled V's leaf added again.

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::Signer;
use ferry_simulations::virtual_net::{DEFAULT_DEPOSIT as DEPOSIT, ETH, OpenV, VirtualNet};
use ferry_virtual::protocol::{Message, VirtualError, VirtualMessage, VirtualPhase};

#[test]
fn refusals_are_typed_and_change_nothing() {
    let mut net = VirtualNet::path(3);
    let v = net.open(OpenV::payment(50, 20)).unwrap();
    // A voucher for a channel that is not funded yet is refused (go-nitro #1721).
    assert!(matches!(
        net.node_mut(0).pay(v, ETH, U256::from(1)),
        Err(ferry_virtual::Error::Virtual(VirtualError::NotFunded))
    ));
    net.pump();
    // A voucher signed by someone else, and one from a stranger.
    let mallory = Signer::random();
    let params = net.node(2).channel(&v).unwrap().params().clone();
    let sig = ferry_ledger::app::payment::sign_voucher(&mallory, &params, ETH, U256::from(5));
    let forged = Message::Virtual(VirtualMessage::Voucher {
        channel_id: v,
        asset: ETH,
        cumulative: U256::from(5),
        sig: sig.clone(),
    });
    let a = net.addr(0);
    assert!(
        net.node_mut(2)
            .handle_message(a, forged.clone(), 0)
            .is_err()
    );
    assert!(matches!(
        net.node_mut(2).handle_message(mallory.address(), forged, 0),
        Err(ferry_virtual::Error::Virtual(VirtualError::NotNeighbour(_)))
    ));
    // A voucher above the payer's funds.
    let big = ferry_ledger::app::payment::sign_voucher(net.signer(0), &params, ETH, U256::from(51));
    let over = Message::Virtual(VirtualMessage::Voucher {
        channel_id: v,
        asset: ETH,
        cumulative: U256::from(51),
        sig: big,
    });
    assert!(matches!(
        net.node_mut(2).handle_message(a, over, 0),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::InsufficientFunds
        ))
    ));
    // A path member that is not who it claims: a pre-fund for a path this node is not on.
    let stranger = Signer::random();
    let bogus_path = vec![stranger.address(), net.addr(1)];
    let bogus = ferry_ledger::channel::virtual_params(
        &net.ctx(),
        bogus_path,
        vec![net.hop(0)],
        Address::ZERO,
        3600,
        0,
    );
    let prefund = net.node(0).channel(&v).unwrap().prefund().clone();
    let msg = Message::Virtual(VirtualMessage::Sigs {
        params: Some(Box::new(bogus)),
        state: prefund,
        sigs: vec![None, None],
        fees: vec![U256::ZERO; 2],
    });
    assert!(
        net.node_mut(2)
            .handle_message(stranger.address(), msg, 0)
            .is_err()
    );
    let before = net.node(2).channel(&v).unwrap().clone();
    assert_eq!(net.node(2).channel(&v).unwrap(), &before);
    assert_eq!(net.node(2).channel(&v).unwrap().phase(), VirtualPhase::Open);
}

#[test]
fn colluding_endpoints_cannot_make_a_hub_resolve_its_two_ledgers_differently() {
    let mut net = VirtualNet::path(4);
    let v = net.open(OpenV::payment(50, 20)).unwrap();
    net.pump();
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let post = net.node(0).channel(&v).unwrap().postfund();
    let final_with = |a: u64, b: u64| {
        let mut f = post.clone();
        f.version = ferry_ledger::state::version(2).unwrap();
        f.isFinal = true;
        f.outcome.assets[0].balances = vec![U256::from(a), U256::ZERO, U256::ZERO, U256::from(b)];
        f
    };
    // A and B (colluding) sign two different finals and show one to each hub.
    let (f1, f2) = (final_with(70, 0), final_with(0, 70));
    let sigs_for = |f: &ferry_ledger::State| {
        let mut s = vec![None; 4];
        s[0] = Some(net.sign(0, f));
        s[3] = Some(net.sign(3, f));
        s
    };
    let (s1, s2) = (sigs_for(&f1), sigs_for(&f2));
    let (a, b) = (net.addr(0), net.addr(3));
    let sigs = |state: ferry_ledger::State, sigs: Vec<Option<ferry_ledger::Signature>>| {
        Message::Virtual(VirtualMessage::Sigs {
            params: None,
            state,
            sigs,
            fees: vec![],
        })
    };
    net.node_mut(1)
        .handle_message(a, sigs(f1.clone(), s1.clone()), 0)
        .unwrap();
    // I1 signed f1; shown f2, it refuses: at most one final per member (S4).
    assert!(matches!(
        net.node_mut(1)
            .handle_message(a, sigs(f2.clone(), s2.clone()), 0),
        Err(ferry_virtual::Error::Virtual(
            VirtualError::ConflictingFinal
        ))
    ));
    net.node_mut(2)
        .handle_message(b, sigs(f2.clone(), s2), 0)
        .unwrap();
    // Neither final can be complete: I1 never signs f2, I2 never signs f1 (however long they gossip; V's way
    // out is now the chain).
    for _ in 0..20 {
        net.step(|_, _| false);
    }
    for i in [1, 2] {
        assert!(
            net.node(i).channel(&v).unwrap().final_signed().is_none(),
            "member {i}"
        );
    }
    // No leaf moves without a final signed by the whole path (S10), and no refund after the post-fund (S8):
    // the hub's guard refuses both, whichever ledger side asks.
    let hop = net.hop(0);
    let leaf = net.table(0, 0).unwrap().get(&v).unwrap().clone();
    let l0 = net.node(0).ledger().channel(&hop).unwrap().params().clone();
    let refund = ferry_virtual::protocol::registry::split(
        &l0,
        &params,
        net.node(1).channel(&v).unwrap().prefund(),
        &leaf,
    )
    .unwrap();
    let before = net
        .node(1)
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .cloned();
    // A's own node refuses to ask; a byzantine A forges the ledger proposal by hand and I1 rejects it.
    assert!(
        net.node_mut(0)
            .ledger_mut()
            .remove_sub_channel(hop, v, refund.clone(), 0)
            .is_err()
    );
    let base = net
        .node(0)
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .unwrap()
        .clone();
    let mut table = net.table(0, 0).unwrap().clone();
    let batch = vec![ferry_ledger::protocol::Proposal {
        proposer: 0,
        seq: 999,
        op: ferry_ledger::protocol::Op::RemoveSub {
            channel_id: v,
            payout: refund,
        },
    }];
    let (state, _) =
        ferry_ledger::protocol::ops::build(&base.state, &mut table, &batch, base.version() + 1)
            .unwrap();
    let sig = net.sign(0, &state);
    let forged =
        Message::Ledger(ferry_ledger::protocol::LedgerMessage::Propose { state, sig, batch });
    net.node_mut(1).handle_message(a, forged, 0).unwrap();
    for _ in 0..10 {
        net.step(|_, _| false);
    }
    assert!(net.table(1, 0).unwrap().contains(&v), "the leaf stays");
    assert_eq!(
        net.node(1)
            .ledger()
            .channel(&hop)
            .unwrap()
            .supported()
            .cloned(),
        before
    );
}

#[test]
fn s4_an_endpoint_signs_no_final_a_lone_cheater_could_outrun_on_chain_by_its_own_moves() {
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    let params = net.node(0).channel(&v).unwrap().params().clone();
    let max_moves = params.maxMoves.to::<u64>();
    // A cheating A signs a final at the next version (2) and shows it: a lone A could register the certificate (1)
    // and play its own `max_moves` moves on top. A whole-path final concludes V over any registered version (S5),
    // but the floor stays as defence in depth: B does not sign it.
    let mut low = net.node(0).channel(&v).unwrap().postfund();
    low.version = ferry_ledger::state::version(2).unwrap();
    low.isFinal = true;
    let sigs = vec![Some(net.sign(0, &low)), None, None];
    let msg = Message::Virtual(VirtualMessage::Sigs {
        params: None,
        state: low,
        sigs,
        fees: vec![],
    });
    let a = net.addr(0);
    net.node_mut(1).handle_message(a, msg, 0).unwrap();
    for _ in 0..20 {
        net.step(|_, _| false);
    }
    assert!(net.node(2).channel(&v).unwrap().final_signed().is_none());
    assert!(net.node(1).channel(&v).unwrap().final_signed().is_none());
    // An honest A proposes its final above that: the certificate's version + 1 + max_moves; B signs it.
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).settle(v, 0).unwrap();
    net.pump();
    let fin = net.node(2).channel(&v).unwrap().final_signed().unwrap();
    assert_eq!(fin.version(), 1 + 1 + max_moves);
}

#[test]
fn s4_a_final_without_a_s_signature_is_not_kept_so_it_cannot_wedge_the_settle() {
    // Any member (here B) sends the hub a final of V that keeps S3 but carries no signature at all. Kept and
    // countersigned, it would use up the hub's one final (S4) and A's real final would be refused as conflicting:
    // V's cooperative settle wedged for good. The hub refuses it; A's final then settles V as usual.
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 20));
    net.node_mut(0).pay(v, ETH, U256::from(10)).unwrap();
    net.pump();
    let ch = net.node(2).channel(&v).unwrap().clone();
    let mut fake = ch.postfund();
    fake.isFinal = true;
    fake.version = alloy::primitives::aliases::U48::from(50u8);
    fake.outcome.assets[0].balances = vec![U256::ZERO, U256::ZERO, U256::from(70)];
    let (b, now) = (net.addr(2), net.now());
    let err = net
        .node_mut(1)
        .handle_message(
            b,
            Message::Virtual(VirtualMessage::Sigs {
                params: None,
                state: fake.clone(),
                sigs: vec![None; 3],
                fees: vec![],
            }),
            now,
        )
        .unwrap_err();
    assert!(err.to_string().contains("A's signature"), "{err}");
    assert_eq!(net.node(1).channel(&v).unwrap().phase(), VirtualPhase::Open);
    // B's own signature alone does not do either.
    let sig = net.sign(2, &fake);
    assert!(
        net.node_mut(1)
            .handle_message(
                b,
                Message::Virtual(VirtualMessage::Sigs {
                    params: None,
                    state: fake,
                    sigs: vec![None, None, Some(sig)],
                    fees: vec![],
                }),
                now,
            )
            .is_err()
    );
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    for k in 0..3 {
        assert_eq!(
            net.node(k).channel(&v).unwrap().phase(),
            VirtualPhase::Released,
            "member {k}"
        );
    }
    assert_eq!(net.balance(0, 0), U256::from(DEPOSIT - 10));
    assert_eq!(net.balance(2, 1), U256::from(DEPOSIT + 10));
}

/// A byzantine member's forged update of ledger `hop` adding V's leaf again, built on `from`'s own view of the
/// ledger with `from`'s key: a `Propose` when `from` leads the ledger, a `Request` otherwise.
fn forged_add(net: &VirtualNet, from: usize, hop: B256, v: B256) -> Message {
    use ferry_ledger::protocol::{LedgerMessage, Op, Proposal, ops};
    use ferry_virtual::protocol::registry;
    let node = net.node(from);
    let lc = node.ledger().channel(&hop).unwrap();
    let (lparams, me) = (lc.params().clone(), lc.me());
    let ch = node.channel(&v).unwrap();
    let leaf = registry::leaf_in(&lparams, ch.params(), ch.prefund(), ch.fees()).unwrap();
    let contributions = registry::split(&lparams, ch.params(), ch.prefund(), &leaf).unwrap();
    let mut batch = vec![Proposal {
        proposer: me,
        seq: 1_000,
        op: Op::AddSub {
            slot: 0,
            leaf,
            contributions,
        },
    }];
    if me != 0 {
        return Message::Ledger(LedgerMessage::Request {
            channel_id: hop,
            proposals: batch,
        });
    }
    let base = lc.supported().unwrap().clone();
    let mut table = node.ledger().table(&hop).unwrap().clone();
    let (state, _) = ops::build_placing(&base.state, &mut table, &mut batch, base.version() + 1)
        .map_err(|(_, e)| e)
        .unwrap();
    let sig = net.sign(from, &state);
    Message::Ledger(LedgerMessage::Propose { state, sig, batch })
}

#[test]
fn s8_a_settled_v_s_leaf_is_never_added_again_not_even_after_a_restart() {
    // A–H–B: A pays B 30, V settles (A 20, B 30), both leaves are paid out. B (leading H–B) then proposes V's
    // leaf in H–B again, H contributing A's side (50): accepted, B would remove it again by the final and take
    // 30 from H each time. H's guard refuses: H is no longer joining V (S8), before and after a restart.
    let mut net = VirtualNet::path(3);
    let v = net.open_and_pump(OpenV::payment(50, 0));
    net.node_mut(0).pay(v, ETH, U256::from(30)).unwrap();
    net.pump();
    let now = net.now();
    net.node_mut(0).settle(v, now).unwrap();
    net.pump();
    let hop = net.hop(1);
    for k in 0..3 {
        assert_eq!(
            net.node(k).channel(&v).unwrap().phase(),
            VirtualPhase::Released
        );
    }
    assert_eq!(net.node(2).ledger().channel(&hop).unwrap().me(), 0);
    let before = net
        .node(1)
        .ledger()
        .channel(&hop)
        .unwrap()
        .supported()
        .cloned();
    let b = net.addr(2);
    for restart in [false, true] {
        if restart {
            net.crash_restart(1);
            net.pump();
        }
        let forged = forged_add(&net, 2, hop, v);
        let now = net.now();
        let _ = net.node_mut(1).handle_message(b, forged, now);
        net.pump();
        assert!(
            !net.table(1, 1).unwrap().contains(&v),
            "restart {restart}: the leaf stays out"
        );
        assert_eq!(
            net.node(1)
                .ledger()
                .channel(&hop)
                .unwrap()
                .supported()
                .cloned(),
            before,
            "restart {restart}: H signed nothing"
        );
    }
}

/// Back-pressure: a hub routing `max_opening` opens at once refuses the next by name (`PolicyRefusal::Busy`) instead
/// of taking it on and letting it wait past the open timeout (after which members that signed the post-fund go
/// on-chain). The opener's pre-fund gossip (every `RESEND_MS` while the stage is incomplete) asks again, and the hub
/// takes it once the opens in progress completed: all three open, none through a hub past its limit.
#[test]
fn a_busy_hub_refuses_opens_past_max_opening_by_name_and_takes_them_again_later() {
    use ferry_virtual::protocol::IntermediaryPolicy;
    let mut net = VirtualNet::builder(3)
        .intermediary_policy(IntermediaryPolicy {
            max_opening: 2,
            ..IntermediaryPolicy::default()
        })
        .build();
    // Three opens asked at once: the hub takes two and refuses the third as busy.
    let vs: Vec<B256> = (0..3)
        .map(|_| net.open(OpenV::payment(10, 0)).unwrap())
        .collect();
    let refused_busy = |net: &VirtualNet| {
        net.refused()
            .iter()
            .any(|r| r.contains("busy: 2 virtual channels opening through this node already"))
    };
    let busy = net.run_until(20, |n| refused_busy(n));
    assert!(busy, "{:?}", net.refused());
    assert_eq!(
        net.v_phase(1, vs[2]),
        None,
        "the hub did not join the third"
    );
    // The opener asks again; once the first two are open the hub takes the third.
    let all = net.run_until(200, |n| {
        vs.iter()
            .all(|v| (0..3).all(|k| n.v_phase(k, *v) == Some(VirtualPhase::Open)))
    });
    assert!(all, "{:?}", net.refused());
}
