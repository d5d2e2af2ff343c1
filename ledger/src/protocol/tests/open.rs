//! Opening and funding (S1, S6, S11, S13, S16): deposits in participant order, every refusal at open and accept,
//! the token list, and a stranger's deposits.

use super::*;

#[test]
fn open_deposits_in_participant_order_then_post_fund() {
    let mut p = Pair::new();
    let id = p.propose(100, 50);
    assert_eq!(p.phase(0, id), Phase::Funding);
    assert_eq!(p.phase(1, id), Phase::Funding);
    // Only participant 0 deposits first, with expectedHeld 0.
    assert!(
        matches!(p.txs[0].as_slice(), [ChainTx::Deposit { participant: 0, expected_held, .. }] if expected_held.is_zero())
    );
    assert!(
        p.txs[1].is_empty(),
        "participant 1 waits for participant 0's deposit"
    );
    p.deposit(id, 0, 100);
    p.pump();
    assert!(
        matches!(p.txs[1].as_slice(), [ChainTx::Deposit { participant: 1, expected_held, amount, .. }]
        if expected_held.is_zero() && *amount == U256::from(50)),
        "participant 1 expects its own deposit (none yet), not the channel's (S16)"
    );
    assert_eq!(
        p.phase(0, id),
        Phase::Funding,
        "no post-fund before both deposits"
    );
    p.deposit(id, 1, 50);
    p.pump();
    assert_eq!(p.version(0, id), 1);
    assert_eq!(p.phase(0, id), Phase::Running);
    assert!(p.events[0].contains(&LedgerEvent::Funded { channel_id: id }));
    assert!(p.events[1].contains(&LedgerEvent::OpenAccepted { channel_id: id }));
}

#[test]
fn open_refusals_change_nothing() {
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    let params = crate::channel::ledger_params(&ctx(), a, b, 3600);
    let id = ferry_contracts::channel_id(&params);
    let prefund = crate::channel::state(
        &params,
        0,
        vec![crate::channel::funded_asset(
            ETH,
            vec![U256::from(1), U256::from(1)],
        )],
        Default::default(),
        false,
    );
    let good_sig = p.keys[0].sign_state(&ctx(), &prefund);
    let open = |params: ChannelParams, prefund: State, sig| LedgerMessage::Open {
        params,
        prefund,
        sig,
    };
    // Signed by someone else.
    let bad_sig = Signer::random().sign_state(&ctx(), &prefund);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), prefund.clone(), bad_sig), 0),
        Err(Error::WrongSigner { .. })
    ));
    // From someone who is not participant 0.
    assert!(matches!(
        p.node(1).handle_message(
            Address::repeat_byte(9),
            open(params.clone(), prefund.clone(), good_sig.clone()),
            0
        ),
        Err(Error::Protocol(ProtocolError::NotPeer(_)))
    ));
    // Asks this node to deposit more than its policy allows.
    let mut greedy = prefund.clone();
    greedy.outcome.assets[0] =
        crate::channel::funded_asset(ETH, vec![U256::from(1), U256::from(5000)]);
    let sig = p.keys[0].sign_state(&ctx(), &greedy);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), greedy, sig), 0),
        Err(Error::Protocol(ProtocolError::OpenRefused(_)))
    ));
    // A pre-fund that is not version 0 / claims withdrawals.
    let mut v3 = prefund.clone();
    v3.version = crate::state::version(3).unwrap();
    let sig = p.keys[0].sign_state(&ctx(), &v3);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), v3, sig), 0),
        Err(Error::Protocol(ProtocolError::InvalidPrefund(_)))
    ));
    // A challenge window below the node's minimum (S6).
    let short = crate::channel::ledger_params(&ctx(), a, b, 5);
    let mut s2 = prefund.clone();
    s2.channelId = ferry_contracts::channel_id(&short);
    let sig = p.keys[0].sign_state(&ctx(), &s2);
    assert!(matches!(
        p.node(1).handle_message(a, open(short, s2, sig), 0),
        Err(Error::DurationPolicy(_))
    ));
    // Another chain (S1).
    let mut other = params.clone();
    other.chainId = U256::from(1);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(other, prefund.clone(), good_sig.clone()), 0),
        Err(Error::WrongChain { .. })
    ));
    assert_eq!(
        p.node(1).channels().count(),
        0,
        "no refused open left a channel"
    );
    p.drain(1);
    assert!(p.held.is_empty());
    // The good one is accepted, and a second open of the same id is refused (S1: never sign twice).
    p.node(1)
        .handle_message(
            a,
            open(params.clone(), prefund.clone(), good_sig.clone()),
            0,
        )
        .unwrap();
    assert!(p.node(1).channel(&id).is_some());
    let mut other_prefund = prefund.clone();
    other_prefund.outcome.assets[0] =
        crate::channel::funded_asset(ETH, vec![U256::from(2), U256::from(0)]);
    let sig = p.keys[0].sign_state(&ctx(), &other_prefund);
    assert!(matches!(
        p.node(1)
            .handle_message(a, open(params.clone(), other_prefund, sig), 0),
        Err(Error::Protocol(ProtocolError::ChannelExists(_)))
    ));
    let amounts = [(ETH, [U256::from(1), U256::from(1)])];
    p.node(0)
        .open_with_params(params.clone(), &amounts, 0)
        .unwrap();
    assert!(matches!(
        p.node(0).open_with_params(params, &amounts, 0),
        Err(Error::Protocol(ProtocolError::ChannelExists(_)))
    ));
}

#[test]
fn s13_a_ledger_naming_an_app_or_allowing_moves_is_refused_at_open_and_at_accept() {
    // An attacker opening a ledger with a hub that names an always-true app and `max_moves >= 1` could, once it
    // registered the latest state, "move" the ledger alone with `progress` (every balance to itself, `locked` 0, the
    // sub-channel table emptied). Neither side of a ledger ever signs for such params.
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    let base = crate::channel::ledger_params(&ctx(), a, b, 3600);
    let mut with_app = base.clone();
    with_app.app = Address::repeat_byte(0xee);
    let mut with_moves = base.clone();
    with_moves.maxMoves = alloy::primitives::aliases::U48::from(1u8);
    let mut too_long = base.clone();
    too_long.challengeDuration =
        alloy::primitives::aliases::U48::from(crate::params::MAX_CHALLENGE_DURATION + 1);
    let amounts = [(ETH, [U256::from(10), U256::from(10)])];
    for (params, code) in [(with_app, 9), (with_moves, 10), (too_long, 11)] {
        // The opener refuses to sign the pre-fund.
        let err = p
            .node(0)
            .open_with_params(params.clone(), &amounts, 0)
            .unwrap_err();
        assert_eq!(err, Error::InvalidParams(code));
        // The peer refuses an `Open` carrying them, signed as it would be.
        let prefund = crate::channel::state(
            &params,
            0,
            vec![crate::channel::funded_asset(
                ETH,
                vec![U256::from(10), U256::from(10)],
            )],
            Default::default(),
            false,
        );
        let sig = p.keys[0].sign_state(&ctx(), &prefund);
        let err = p
            .node(1)
            .handle_message(
                a,
                LedgerMessage::Open {
                    params: params.clone(),
                    prefund,
                    sig,
                },
                0,
            )
            .unwrap_err();
        assert_eq!(err, Error::InvalidParams(code));
        assert!(p.n[1].as_ref().unwrap().channels().next().is_none());
    }
}

#[test]
fn s11_a_token_off_the_nodes_list_is_refused_by_name_at_open_and_at_top_up() {
    // All channels' funds of a token sit pooled in the adjudicator: a token whose balances shrink by themselves or
    // that charges its sender would leave some channel short. A node takes only ETH and the tokens it lists.
    let token = Address::repeat_byte(0x70);
    let mut p = Pair::new();
    let (a, b) = (p.addr(0), p.addr(1));
    p.node(0)
        .open(b, &[(token, [U256::from(10), U256::from(10)])], 3600, 0)
        .unwrap();
    p.drain(0);
    let (_, open) = p.held.pop().unwrap();
    let err = p.node(1).handle_message(a, open, 0).unwrap_err();
    assert_eq!(
        err,
        Error::Protocol(ProtocolError::AssetNotAccepted(token)),
        "{err}"
    );
    assert!(p.n[1].as_ref().unwrap().channels().next().is_none());
    // A running ETH channel: the leader deposits the token on-chain and proposes counting it; the follower refuses.
    let id = p.open();
    let v = p.version(1, id);
    p.node(0).top_up(id, token, U256::from(5)).unwrap();
    p.chain(Ev::Deposited(IAdjudicator::Deposited {
        channelId: id,
        asset: token,
        participant: U256::ZERO,
        taken: U256::from(5),
        depositedTotal: U256::from(5),
    }));
    p.pump();
    assert_eq!(p.version(1, id), v);
    assert!(p.events[0].iter().any(|e| matches!(
        e,
        LedgerEvent::Refused { reason, .. } if reason.contains("list of accepted tokens")
    )));
    // With the token on its list the follower takes it.
    let mut listed = Pair::new();
    for n in 0..2 {
        let node = listed.n[n].take().unwrap();
        let mut config = config();
        config.open.tokens = vec![token];
        listed.n[n] = Some(
            LedgerNode::open_store(listed.keys[n].clone(), ctx(), config, node.into_store(), 0)
                .unwrap(),
        );
    }
    let b = listed.addr(1);
    listed
        .node(0)
        .open(b, &[(token, [U256::from(10), U256::from(10)])], 3600, 0)
        .unwrap();
    listed.pump();
    assert_eq!(listed.n[1].as_ref().unwrap().channels().count(), 1);
}

#[test]
fn s16_a_strangers_deposit_never_calls_for_another_deposit_and_a_failed_one_is_asked_again() {
    // While participant 0's deposit of 100 is in flight, a stranger lands 60 for it (and 1 for participant 1). The
    // node sends nothing more: its deposit in flight takes only what is missing (S16), so a stranger cannot make it
    // pay gas. When that deposit fails, the node asks again for the missing 40, expecting its own 60.
    let mut p = Pair::new();
    let b = p.addr(1);
    let id = p
        .node(0)
        .open(b, &[(ETH, [U256::from(100), U256::from(100)])], 3600, 0)
        .unwrap();
    p.pump();
    assert!(matches!(
        p.txs[0].as_slice(),
        [ChainTx::Deposit { expected_held, amount, .. }] if expected_held.is_zero() && *amount == U256::from(100)
    ));
    let first = p.txs[0][0].clone();
    p.deposit(id, 0, 60);
    p.pump();
    assert_eq!(p.txs[0].len(), 1, "{:?}", p.txs[0]);
    p.node(0)
        .handle_tx_failed(&first, "reverted".into())
        .unwrap();
    // Asked again at the channel's next chain event (here a stranger's 1 wei for participant 1).
    p.deposit(id, 1, 1);
    p.pump();
    assert!(matches!(
        p.txs[0].last(),
        Some(ChainTx::Deposit { participant: 0, expected_held, amount, .. })
            if *expected_held == U256::from(60) && *amount == U256::from(40)
    ));
    p.deposit(id, 0, 40);
    p.pump();
    // Participant 1 (holding 1 from the stranger) tops its own deposit up to 100.
    assert!(matches!(
        p.txs[1].last(),
        Some(ChainTx::Deposit { participant: 1, expected_held, amount, .. })
            if *expected_held == U256::from(1) && *amount == U256::from(99)
    ));
    assert_eq!(p.txs[1].len(), 1);
    p.deposit(id, 1, 99);
    p.pump();
    assert_eq!(p.phase(0, id), Phase::Running);
    assert_eq!(p.phase(1, id), Phase::Running);
}
