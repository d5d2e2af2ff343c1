//! S14, a node is held to every state it signed: a refused close, a countersigned final, a withdrawal in a refused
//! proposal, a peer refusing every proposal, and refused or abandoned proposals registered in any order.

use super::*;

#[test]
fn s14_a_refused_close_stays_proposed_and_the_leader_signs_nothing_after_its_final() {
    // The leader proposes the close (a final at v+1); the follower answers Reject but keeps the signature. Were
    // the channel to go on at v+2 and later, the follower could countersign the old final at any time and
    // `conclude` with it, erasing every later state. The leader signs nothing else of the channel: the same final
    // stays proposed (resent), new operations are refused by name, and a restart changes none of it.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    p.node(0).close(id, 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state: fin, .. } = &propose else {
        panic!("{propose:?}")
    };
    assert!(fin.isFinal);
    let v = fin.version.to::<u64>();
    p.node(0)
        .handle_message(
            b,
            LedgerMessage::Reject {
                channel_id: id,
                version: v,
                index: 0,
                reason: "not now".into(),
            },
            0,
        )
        .unwrap();
    p.drain(0);
    assert!(p.held.is_empty(), "nothing new is proposed");
    for restart in [false, true] {
        if restart {
            p.crash_restart(0);
            p.held.clear();
        }
        assert_eq!(p.ch(0, id).signed_final(), Some(fin));
        assert_eq!(p.ch(0, id).signed_up_to(), v);
        let err = p.node(0).pay(id, ETH, U256::from(1), 0).unwrap_err();
        assert!(
            matches!(err, Error::Protocol(ProtocolError::FinalSigned(x)) if x == v),
            "{err}"
        );
        // The follower's requests are refused as well: the leader never builds a state on top of them.
        p.node(1).pay(id, ETH, U256::from(1), 0).unwrap();
        p.drain(1);
        let (from, request) = p.held.pop().unwrap();
        assert_eq!(from, 1);
        let now = p.now;
        p.node(0).handle_message(b, request, now).unwrap();
        p.drain(0);
        assert!(
            p.held.iter().all(|(_, m)| match m {
                LedgerMessage::Propose { state, .. } => state == fin,
                _ => true,
            }),
            "{:?}",
            p.held
        );
        assert_eq!(p.ch(0, id).signed_up_to(), v);
        p.held.clear();
    }
    // The resend timer proposes the very same final again; the follower, once it agrees, completes the close.
    p.now += 60_000;
    let now = p.now;
    p.node(0).handle_timeout(now).unwrap();
    p.drain(0);
    assert!(
        p.held
            .iter()
            .any(|(_, m)| matches!(m, LedgerMessage::Propose { state, .. } if state == fin))
    );
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Closing);
    assert_eq!(p.phase(1, id), Phase::Closing);
    assert_eq!(p.version(1, id), v);
}

#[test]
fn s14_a_follower_that_countersigned_a_final_signs_no_later_state() {
    // A leader that got the follower's signature on the final proposes another state at v+2 anyway (say a payment
    // to itself): the follower refuses it, whatever it holds.
    let mut p = Pair::new();
    let id = p.open();
    let a = p.addr(0);
    p.node(0).close(id, 0).unwrap();
    p.pump();
    let fin = p.ch(1, id).supported().unwrap().state.clone();
    assert!(fin.isFinal);
    let mut later = fin.clone();
    later.isFinal = false;
    later.version = crate::state::version(fin.version.to::<u64>() + 1).unwrap();
    let sig = p.keys[0].sign_state(&ctx(), &later);
    let before = p.ch(1, id).clone();
    let now = p.now;
    let _ = p.node(1).handle_message(
        a,
        LedgerMessage::Propose {
            state: later,
            sig,
            batch: vec![],
        },
        now,
    );
    p.drain(1);
    assert_eq!(p.ch(1, id).signed_up_to(), before.signed_up_to());
    assert_eq!(p.ch(1, id).signed_final(), Some(&fin));
    assert!(
        p.held
            .iter()
            .all(|(_, m)| !matches!(m, LedgerMessage::Sign { .. }))
    );
}

#[test]
fn s14_a_partial_withdrawal_in_a_refused_proposal_is_carried_into_every_later_state() {
    // The follower asks to withdraw 20, refuses the leader's proposal carrying it (keeping the leader's
    // signature), and lets the channel go on. Were the withdrawal left out of later states, the follower could
    // complete the refused one, take the 20 with `withdrawPartial`, and still hold them in the newer states: the
    // leader would be short at the close. The leader signs no state below the withdrawal it once signed.
    let mut p = Pair::new();
    let id = p.open();
    let a = p.addr(0);
    let b = p.addr(1);
    p.node(1).withdraw(id, ETH, U256::from(20), 0).unwrap();
    p.drain(1);
    let (_, request) = p.held.pop().unwrap();
    p.node(0).handle_message(b, request, 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state, .. } = &propose else {
        panic!("{propose:?}")
    };
    assert_eq!(state.outcome.assets[0].withdrawn[1], U256::from(20));
    let v = state.version.to::<u64>();
    p.node(0)
        .handle_message(
            b,
            LedgerMessage::Reject {
                channel_id: id,
                version: v,
                index: 0,
                reason: "no".into(),
            },
            0,
        )
        .unwrap();
    // The leader pays 5 meanwhile; whatever it proposes from now on keeps the withdrawal.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    for _ in 0..5 {
        p.now += 60_000;
        let now = p.now;
        p.node(0).handle_timeout(now).unwrap();
        p.drain(0);
        for (_, m) in std::mem::take(&mut p.held) {
            if let LedgerMessage::Propose { state, .. } = &m {
                assert!(
                    state.outcome.assets[0].withdrawn[1] >= U256::from(20),
                    "a later proposal left the withdrawal out: {state:?}"
                );
            }
            let _ = p.node(1).handle_message(a, m, now);
        }
        p.drain(1);
        for (_, m) in std::mem::take(&mut p.held) {
            let _ = p.node(0).handle_message(b, m, now);
        }
    }
    let s = p.ch(0, id).supported().unwrap().clone();
    assert_eq!(s.state.outcome.assets[0].withdrawn[1], U256::from(20));
    assert_eq!(
        s.state.outcome.assets[0].balances[1],
        U256::from(100 - 20 + 5)
    );
}

#[test]
fn s14_a_peer_refusing_every_proposal_holds_a_bounded_number_of_them_and_is_reported() {
    // The follower refuses each of the leader's proposals and keeps them all (it may complete and register any).
    // The leader keeps every refused one to adopt it if it is registered, but signs at most
    // `MAX_ABANDONED` of them: then it proposes nothing more and reports the peer unresponsive.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    for _ in 0..(channel::MAX_ABANDONED + 10) {
        p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    }
    let mut refused = 0;
    loop {
        p.drain(0);
        let proposals: Vec<u64> = std::mem::take(&mut p.held)
            .into_iter()
            .filter_map(|(_, m)| match m {
                LedgerMessage::Propose { state, .. } => Some(state.version.to::<u64>()),
                _ => None,
            })
            .collect();
        if proposals.is_empty() {
            break;
        }
        for version in proposals {
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version,
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
            refused += 1;
        }
    }
    assert_eq!(refused, channel::MAX_ABANDONED);
    assert_eq!(
        p.ch(0, id).signed_states().len(),
        1 + channel::MAX_ABANDONED
    );
    let later = Config::default().peer_timeout_ms + 1;
    p.node(0).handle_timeout(later).unwrap();
    p.drain(0);
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::PeerUnresponsive { .. })),
        "{:?}",
        p.events[0]
    );
    assert!(
        !p.held
            .iter()
            .any(|(_, m)| matches!(m, LedgerMessage::Propose { .. })),
        "no proposal past the bound"
    );
}

#[test]
fn s14_every_state_the_leader_signed_above_the_supported_one_is_adopted_when_registered_in_any_order()
 {
    // The follower refuses the leader's proposal v, leaves v+1 unanswered, and keeps both. It registers v (the
    // leader adopts it), then, within the window, v+1: the leader must adopt v+1 too, rebuilt on the state both were
    // built on, and withdraw by it.
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    let mut proposals = Vec::new();
    for amount in [7u64, 11] {
        p.node(0).pay(id, ETH, U256::from(amount), 0).unwrap();
        p.drain(0);
        for (_, m) in std::mem::take(&mut p.held) {
            if let LedgerMessage::Propose { state, sig, .. } = m {
                proposals.push((state, sig));
            }
        }
        if proposals.len() == 1 {
            let version = proposals[0].0.version.to::<u64>();
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version,
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
        }
    }
    assert_eq!(proposals.len(), 2, "{proposals:?}");
    let (v1, v2) = (proposals[0].clone(), proposals[1].clone());
    assert!(v2.0.version > v1.0.version);
    for (state, sig) in [&v1, &v2] {
        let theirs = p.keys[1].sign_state(&ctx(), state);
        p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: id,
            finalizesAt: alloy::primitives::aliases::U48::from(10u32),
            state: state.clone(),
            sigs: vec![sig.clone(), theirs],
        }));
        assert_eq!(
            p.ch(0, id).supported().unwrap().state,
            *state,
            "the registered state is adopted"
        );
    }
    p.block(11);
    p.drain(0);
    let withdrawn = p.txs[0].iter().find_map(|t| match t {
        ChainTx::Withdraw { state, .. } => Some(state.clone()),
        _ => None,
    });
    assert_eq!(withdrawn, Some(v2.0));
}

#[test]
fn s14_a_refused_proposal_built_on_an_adopted_one_is_adopted_with_the_whole_table() {
    // The follower refuses the leader's v1 (adding leaf 1), leaves v2 (adding leaf 2, built on the same state)
    // unanswered, registers v1 (the leader adopts it), then checkpoints v2 (adopted too: the channel runs again on
    // v2, without leaf 1). It refuses v3 (adding leaf 3, built on v2) and registers it: the leader's table must be
    // v3's, leaf 2 and leaf 3, the one the claims will need.
    let mut p = Pair::new();
    p.node(0).set_guard(Box::new(TestGuard));
    p.node(1).set_guard(Box::new(TestGuard));
    let id = p.open();
    let b = p.addr(1);
    let propose = |p: &mut Pair, l: SubAlloc, reject: bool| {
        p.node(0)
            .add_sub_channel(id, l, [vec![U256::from(1)], vec![U256::ZERO]], 0)
            .unwrap();
        p.drain(0);
        let (state, sig) = std::mem::take(&mut p.held)
            .into_iter()
            .find_map(|(_, m)| match m {
                LedgerMessage::Propose { state, sig, .. } => Some((state, sig)),
                _ => None,
            })
            .expect("a proposal");
        if reject {
            p.node(0)
                .handle_message(
                    b,
                    LedgerMessage::Reject {
                        channel_id: id,
                        version: state.version.to::<u64>(),
                        index: 0,
                        reason: "no".into(),
                    },
                    0,
                )
                .unwrap();
        }
        (state, sig)
    };
    let register = |p: &mut Pair, (state, sig): &(State, Signature)| {
        let theirs = p.keys[1].sign_state(&ctx(), state);
        p.chain(Ev::ChallengeRegistered(IAdjudicator::ChallengeRegistered {
            channelId: id,
            finalizesAt: alloy::primitives::aliases::U48::from(10u32),
            state: state.clone(),
            sigs: vec![sig.clone(), theirs],
        }));
        assert_eq!(p.ch(0, id).supported().unwrap().state, *state);
        let t = p.n[0].as_ref().unwrap().table(&id).unwrap();
        assert_eq!(
            t.root(),
            state.outcome.subRoot,
            "the table is the registered state's"
        );
    };
    let v1 = propose(&mut p, leaf(1, 1), true);
    let v2 = propose(&mut p, leaf(2, 1), false);
    register(&mut p, &v1);
    let theirs = p.keys[1].sign_state(&ctx(), &v2.0);
    p.chain(Ev::Checkpointed(IAdjudicator::Checkpointed {
        channelId: id,
        version: v2.0.version,
        state: v2.0.clone(),
        sigs: vec![v2.1.clone(), theirs],
    }));
    assert_eq!(p.phase(0, id), Phase::Running);
    assert_eq!(
        p.ch(0, id).supported().unwrap().state,
        v2.0,
        "the checkpointed state is adopted"
    );
    let v3 = propose(&mut p, leaf(3, 1), true);
    assert!(v3.0.version > v2.0.version);
    register(&mut p, &v3);
    let t = p.n[0].as_ref().unwrap().table(&id).unwrap();
    assert!(t.contains(&leaf(2, 1).channelId) && t.contains(&leaf(3, 1).channelId));
    assert!(!t.contains(&leaf(1, 1).channelId));
}
