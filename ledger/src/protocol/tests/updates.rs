//! Running updates between leader and follower: every message rejection, rejected proposals, lost, duplicated and
//! reordered messages, top-ups and partial withdrawals.

use super::*;

#[test]
fn leader_and_follower_updates_and_every_message_rejection() {
    let mut p = Pair::new();
    let id = p.open();
    let (a, b) = (p.addr(0), p.addr(1));
    p.node(0).pay(id, ETH, U256::from(10), 0).unwrap();
    p.pump();
    p.node(1).pay(id, ETH, U256::from(3), 0).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 3);
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(93));
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(107));
    let snapshot = p.ch(1, id).clone();
    let s = p.ch(1, id).supported().unwrap().clone();
    let mallory = Signer::random();
    let mut next = s.state.clone();
    next.version = crate::state::version(4).unwrap();
    next.outcome.assets[0].balances = vec![U256::from(0), U256::from(200)];
    // Forged leader signature.
    let forged = LedgerMessage::Propose {
        state: next.clone(),
        sig: mallory.sign_state(&ctx(), &next),
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, forged, 0),
        Err(Error::WrongSigner { .. })
    ));
    // A state that does not match its (empty) batch: rejected with a Reject message, nothing signed.
    let lying = LedgerMessage::Propose {
        state: next.clone(),
        sig: p.keys[0].sign_state(&ctx(), &next),
        batch: vec![],
    };
    p.node(1).handle_message(a, lying, 0).unwrap();
    p.drain(1);
    assert!(matches!(
        p.held.as_slice(),
        [(1, LedgerMessage::Reject { version: 4, .. })]
    ));
    p.held.clear();
    // A batch taking the follower's funds without its request.
    let theft = vec![Proposal {
        proposer: 0,
        seq: 99,
        op: Op::Pay {
            from: 1,
            asset: ETH,
            amount: U256::from(5),
        },
    }];
    let mut stolen = s.state.clone();
    stolen.version = crate::state::version(5).unwrap();
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &stolen),
        state: stolen,
        batch: theft,
    };
    p.node(1).handle_message(a, msg, 0).unwrap();
    p.drain(1);
    assert!(
        matches!(&p.held[..], [(1, LedgerMessage::Reject { reason, .. })] if reason.contains("would take funds"))
    );
    p.held.clear();
    // A conflicting state with the supported version, a stale version, a message from a stranger, an unknown channel.
    let mut conflict = s.state.clone();
    conflict.outcome.assets[0].balances.swap(0, 1);
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &conflict),
        state: conflict,
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, msg, 0),
        Err(Error::Protocol(ProtocolError::ConflictingState(3)))
    ));
    let mut old = s.state.clone();
    old.version = crate::state::version(2).unwrap();
    let msg = LedgerMessage::Propose {
        sig: p.keys[0].sign_state(&ctx(), &old),
        state: old,
        batch: vec![],
    };
    assert!(matches!(
        p.node(1).handle_message(a, msg, 0),
        Err(Error::Protocol(ProtocolError::StaleVersion { .. }))
    ));
    let sign = LedgerMessage::Sign {
        channel_id: id,
        version: 3,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1)
            .handle_message(Address::repeat_byte(3), sign.clone(), 0),
        Err(Error::Protocol(ProtocolError::NotPeer(_)))
    ));
    let unknown = LedgerMessage::Sign {
        channel_id: B256::repeat_byte(1),
        version: 3,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1).handle_message(a, unknown, 0),
        Err(Error::Protocol(ProtocolError::UnknownChannel(_)))
    ));
    let far = LedgerMessage::Sign {
        channel_id: id,
        version: 40,
        sig: s.sigs[0].clone(),
        have_yours: true,
    };
    assert!(matches!(
        p.node(1).handle_message(a, far, 0),
        Err(Error::Protocol(ProtocolError::UnexpectedVersion(40)))
    ));
    assert_eq!(
        p.ch(1, id),
        &snapshot,
        "no rejected message changed the follower"
    );
    // The follower's request that takes the leader's funds is refused by the leader.
    let req = LedgerMessage::Request {
        channel_id: id,
        proposals: vec![Proposal {
            proposer: 1,
            seq: 2,
            op: Op::Pay {
                from: 0,
                asset: ETH,
                amount: U256::from(1),
            },
        }],
    };
    p.node(0).handle_message(b, req, 0).unwrap();
    p.drain(0);
    assert!(matches!(
        p.held.as_slice(),
        [(0, LedgerMessage::Refuse { seq: 2, .. })]
    ));
    p.held.clear();
    // Commands that take the peer's funds, overdraw, or pay zero are refused at once.
    assert!(p.node(0).pay(id, ETH, U256::from(1000), 0).is_err());
    assert!(p.node(0).pay(id, ETH, U256::ZERO, 0).is_err());
    assert!(
        p.node(0)
            .pay(id, Address::repeat_byte(5), U256::from(1), 0)
            .is_err()
    );
    assert!(matches!(
        p.node(0).add_sub_channel(
            id,
            SubAlloc {
                fee: U256::ZERO,
                channelId: B256::repeat_byte(8),
                amounts: vec![]
            },
            [vec![], vec![]],
            0
        ),
        Err(Error::Protocol(ProtocolError::GuardRefused(_)))
    ));
}

#[test]
fn a_rejected_proposal_is_dropped_and_its_version_never_reused() {
    let mut p = Pair::new();
    let id = p.open();
    let b = p.addr(1);
    p.node(0).pay(id, ETH, U256::from(10), 0).unwrap();
    p.drain(0);
    let (_, propose) = p.held.pop().unwrap();
    let LedgerMessage::Propose { state, .. } = &propose else {
        panic!("{propose:?}")
    };
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
    p.drain(0);
    assert!(
        p.events[0]
            .iter()
            .any(|e| matches!(e, LedgerEvent::Refused { .. }))
    );
    p.node(0).pay(id, ETH, U256::from(4), 0).unwrap();
    p.pump();
    assert_eq!(
        p.version(1, id),
        v + 1,
        "the next proposal skips the rejected version"
    );
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(104));
}

#[test]
fn lost_duplicated_and_reordered_messages_recover() {
    let mut p = Pair::new();
    let id = p.open();
    // Lost: the leader's proposal disappears; the resend timer brings it back.
    p.node(0).pay(id, ETH, U256::from(1), 0).unwrap();
    p.drain(0);
    p.held.clear();
    let t = p.node(0).poll_timeout().unwrap();
    p.now = t;
    p.node(0).handle_timeout(t).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 2);
    // Lost answer: the follower signed, its Sign is lost; the resent proposal gets the same signature again.
    p.node(0).pay(id, ETH, U256::from(1), t).unwrap();
    p.drain(0);
    let proposal = p.held.pop().unwrap();
    let a = p.addr(0);
    p.node(1).handle_message(a, proposal.1.clone(), t).unwrap();
    p.drain(1);
    p.held.clear();
    assert_eq!(p.version(1, id), 3);
    // Duplicate: delivered twice more, it changes nothing and is answered each time.
    let before = p.ch(1, id).clone();
    p.node(1).handle_message(a, proposal.1.clone(), t).unwrap();
    p.node(1).handle_message(a, proposal.1, t).unwrap();
    assert_eq!(p.ch(1, id), &before);
    p.pump();
    assert_eq!(p.version(0, id), 3);
    // Reordered requests: seq 2 before seq 1 waits; the resend carries both.
    let b = p.addr(1);
    p.node(1).pay(id, ETH, U256::from(1), t).unwrap();
    p.node(1).pay(id, ETH, U256::from(1), t).unwrap();
    p.drain(1);
    let mut reqs: Vec<_> = std::mem::take(&mut p.held);
    reqs.reverse();
    let (_, second) = reqs.remove(0);
    let LedgerMessage::Request { proposals, .. } = &second else {
        panic!()
    };
    let only_second = LedgerMessage::Request {
        channel_id: id,
        proposals: proposals
            .iter()
            .filter(|q| q.seq == proposals.iter().map(|q| q.seq).max().unwrap())
            .cloned()
            .collect(),
    };
    p.node(0).handle_message(b, only_second, t).unwrap();
    p.drain(0);
    assert!(p.held.is_empty(), "a request after a gap waits");
    p.node(0).handle_message(b, second, t).unwrap();
    p.pump();
    assert_eq!(p.ch(0, id).balance(&ETH), U256::from(100 - 2 + 2));
}

#[test]
fn top_ups_wait_for_the_chain_and_partial_withdrawals_follow_agreement() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(1).top_up(id, ETH, U256::from(30)).unwrap();
    p.drain(1);
    assert!(
        matches!(p.txs[1].last(), Some(ChainTx::Deposit { participant: 1, expected_held, .. }) if *expected_held == U256::from(100))
    );
    p.deposit(id, 1, 30);
    p.pump();
    let s = p.ch(0, id).supported().unwrap().clone();
    assert_eq!(s.state.outcome.assets[0].deposited[1], U256::from(130));
    assert_eq!(p.ch(1, id).balance(&ETH), U256::from(130));
    // A leader's proposal counting a top-up the follower's chain view lacks waits, then goes through.
    p.node(0).top_up(id, ETH, U256::from(7)).unwrap();
    p.pos += 1;
    let ev = Ev::Deposited(IAdjudicator::Deposited {
        channelId: id,
        asset: ETH,
        participant: U256::ZERO,
        taken: U256::from(7),
        depositedTotal: U256::ZERO,
    });
    let pos = p.pos;
    p.node(0).handle_chain_event(pos, 0, &ev, 0).unwrap();
    p.pump();
    assert_eq!(
        p.version(1, id),
        s.version(),
        "the follower waits for the chain"
    );
    p.node(1).handle_chain_event(pos, 0, &ev, 0).unwrap();
    p.pump();
    assert_eq!(p.version(1, id), s.version() + 1);
    // Re-delivering the same event changes nothing.
    let before = p.ch(1, id).clone();
    p.node(1).handle_chain_event(pos, 0, &ev, 0).unwrap();
    assert_eq!(p.ch(1, id), &before);
    // Partial withdrawal: agreed, then withdrawPartial asked for.
    p.node(1).withdraw(id, ETH, U256::from(20), 0).unwrap();
    p.pump();
    assert!(
        p.txs[1]
            .iter()
            .any(|t| matches!(t, ChainTx::WithdrawPartial { participant: 1, .. }))
    );
}
