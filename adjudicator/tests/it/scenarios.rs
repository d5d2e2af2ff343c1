//! Scenarios every `Chain` implementation must pass. Each runs on a fresh chain; transactions whose gas is
//! reported are recorded with `Harness::rec`.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolCall;
use ferry_adjudicator::{AdjudicatorEvent, ContractError, Error, TxRequest};
use ferry_contracts::IAdjudicator::{self as Adj, IAdjudicatorErrors};
use ferry_contracts::{Artifact, AssetAmount, SubAlloc, channel_id, fingerprint};
use ferry_ledger::SubTree;
use ferry_ledger::app::{payment_data_bytes, sign_voucher, voucher_move};
use ferry_ledger::channel::{funded_asset, state};
use futures::StreamExt;

use crate::R;
use crate::harness::{Harness, assert_reverts, eth};

pub async fn deploys_contracts_and_reads_the_head(h: &Harness) -> R {
    let head = h.chain.head().await?;
    assert!(head.number >= 1, "the bundled contracts are deployed");
    let r = h
        .rec(
            "deploy TestToken",
            h.client.deploy_receipt(h.tx[0], Artifact::TestToken),
        )
        .await?;
    let token = r.contract_address.ok_or("no contract address")?;
    assert!(r.block > head.number);
    assert_eq!(h.chain.head().await?.number, r.block);
    assert_eq!(h.client.token_balance(token, h.tx[0]).await?, U256::ZERO);
    let payment = h
        .chain
        .deployed(Artifact::PaymentApp)
        .ok_or("no payment app")?;
    let rps = h
        .chain
        .deployed(Artifact::RockPaperScissors)
        .ok_or("no rps app")?;
    assert_ne!(payment, rps);
    assert_ne!(payment, h.chain.adjudicator());
    // The Adjudicator answers its views with the chain's EIP-712 domain.
    let sep = h
        .chain
        .call(
            h.chain.adjudicator(),
            Adj::domainSeparatorCall {}.abi_encode().into(),
        )
        .await?;
    let expected =
        ferry_contracts::domain(U256::from(h.chain.chain_id()), h.chain.adjudicator()).separator();
    assert_eq!(
        Adj::domainSeparatorCall::abi_decode_returns(&sep)?,
        expected
    );
    Ok(())
}

pub async fn transfers_pay_intrinsic_and_calldata_gas(h: &Harness) -> R {
    let to = Address::repeat_byte(0x77);
    let plain = h
        .rec(
            "ETH transfer",
            h.chain
                .send(TxRequest::new(h.tx[0], to, Bytes::new()).with_value(U256::from(5))),
        )
        .await?;
    assert_eq!(plain.gas_used, 21_000);
    // Two non-zero calldata bytes: 8 tokens; the EIP-7623 floor (21000 + 10 * 8) beats 21000 + 16 * 2.
    let with_data = h
        .rec(
            "ETH transfer with 2 bytes of data",
            h.chain.send(TxRequest::new(h.tx[0], to, vec![1u8, 2])),
        )
        .await?;
    assert_eq!(with_data.gas_used, 21_080);
    assert_eq!(h.chain.balance(to).await?, U256::from(5));
    assert!(with_data.logs.is_empty() && with_data.events.is_empty());
    Ok(())
}

pub async fn eth_deposits_follow_expected_held(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    let id = channel_id(&p);
    h.rec(
        "deposit ETH (first)",
        h.client
            .deposit(h.tx[0], Address::ZERO, id, 0, U256::ZERO, eth(2)),
    )
    .await?;
    // A duplicate of the same deposit takes nothing (and refunds the value).
    let before = h.chain.balance(h.adjudicator()).await?;
    let dup = h
        .rec(
            "deposit ETH (duplicate, refunded)",
            h.client
                .deposit(h.tx[0], Address::ZERO, id, 0, U256::ZERO, eth(2)),
        )
        .await?;
    assert!(
        dup.events
            .iter()
            .any(|e| matches!(&e.event, AdjudicatorEvent::Deposited(d) if d.taken.is_zero()))
    );
    assert_eq!(h.chain.balance(h.adjudicator()).await?, before);
    // The second participant's deposit expecting more than it deposited itself is refused, with the amounts (S16:
    // each participant's deposit is checked against its own total).
    let early = h
        .client
        .deposit(h.tx[1], Address::ZERO, id, 1, eth(3), eth(1))
        .await;
    match early.as_ref().err().and_then(Error::contract_error) {
        Some(ContractError::Adjudicator(IAdjudicatorErrors::HeldBelowExpected(e))) => {
            assert_eq!((e.held, e.expected), (U256::ZERO, eth(3)));
        }
        _ => panic!("expected HeldBelowExpected, got {early:?}"),
    }
    // Expecting less than it deposited takes only the difference: 1, then 3 - 1 more for a total of 3.
    h.client
        .deposit(h.tx[1], Address::ZERO, id, 1, U256::ZERO, eth(1))
        .await?;
    let r = h
        .rec(
            "deposit ETH (second)",
            h.client
                .deposit(h.tx[1], Address::ZERO, id, 1, U256::ZERO, eth(3)),
        )
        .await?;
    match &r.events[..] {
        [e] => match &e.event {
            AdjudicatorEvent::Deposited(d) => {
                assert_eq!(d.taken, eth(2));
                assert_eq!(d.channelId, id);
            }
            other => panic!("expected Deposited, got {other:?}"),
        },
        other => panic!("expected one event, got {other:?}"),
    }
    let holdings = h.client.holdings(id, Address::ZERO).await?;
    assert_eq!(holdings.deposited, [eth(2), eth(3)]);
    assert_eq!(holdings.held(), eth(5));
    assert_eq!(h.chain.balance(h.adjudicator()).await?, eth(5));
    Ok(())
}

pub async fn happy_close_is_one_transaction(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(3), eth(5)).await?;
    let mut fin = h.ledger_state(&p, 10, Address::ZERO, eth(3), eth(5), true);
    fin.outcome.assets[0].balances = vec![eth(1), eth(7)];
    let receipt = h
        .rec(
            "concludeAndWithdraw (ETH, 2 payouts)",
            h.client
                .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub])),
        )
        .await?;
    assert!(receipt.gas_used > 21_000);
    assert!(
        receipt
            .events
            .iter()
            .any(|e| matches!(e.event, AdjudicatorEvent::Concluded(_)))
    );
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(1));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(7));
    let status = h.client.status_of(channel_id(&p)).await?;
    assert_eq!(status.version, 10);
    // Settled in full with nothing locked: no state stays registered (S15 costs a cooperative close nothing).
    assert_eq!(status.fingerprint, alloy::primitives::B256::ZERO);
    assert_ne!(fingerprint(&fin), alloy::primitives::B256::ZERO);
    assert!(status.is_finalized(h.chain.head().await?.timestamp));
    Ok(())
}

pub async fn conclude_then_withdraw(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(2), eth(2)).await?;
    let mut fin = h.ledger_state(&p, 6, Address::ZERO, eth(2), eth(2), true);
    fin.outcome.assets[0].balances = vec![eth(3), eth(1)];
    let sigs = h.sign(&fin, &[&h.alice, &h.hub]);
    h.rec(
        "conclude (ledger)",
        h.client.conclude(h.tx[0], &p, &fin, &sigs),
    )
    .await?;
    h.rec(
        "withdraw (ETH, 2 payouts)",
        h.client.withdraw(h.tx[1], &p, &fin),
    )
    .await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(3));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(1));
    // Withdrawing again pays nothing more.
    h.client.withdraw(h.tx[1], &p, &fin).await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(3));
    assert_reverts(
        h.client.conclude(h.tx[0], &p, &fin, &sigs).await,
        "ChannelFinalized",
    );
    Ok(())
}

pub async fn erc20_ledger_round_trip(h: &Harness) -> R {
    let token = h.client.deploy_test_token(h.tx[0]).await?;
    let p = h.ledger(&h.alice, &h.hub);
    let id = channel_id(&p);
    for (i, amount) in [(0usize, 100u64), (1, 50)] {
        h.rec(
            "TestToken mint",
            h.client.mint(h.tx[i], token, h.tx[i], U256::from(amount)),
        )
        .await?;
        h.rec(
            "TestToken approve",
            h.client.approve(h.tx[i], token, U256::from(amount)),
        )
        .await?;
    }
    h.rec(
        "deposit ERC-20 (first)",
        h.client
            .deposit(h.tx[0], token, id, 0, U256::ZERO, U256::from(100)),
    )
    .await?;
    h.rec(
        "deposit ERC-20 (second)",
        h.client
            .deposit(h.tx[1], token, id, 1, U256::ZERO, U256::from(50)),
    )
    .await?;
    assert_eq!(
        h.client.token_balance(token, h.adjudicator()).await?,
        U256::from(150)
    );
    let fin = h.ledger_state(&p, 4, token, U256::from(100), U256::from(50), true);
    h.rec(
        "concludeAndWithdraw (ERC-20, 2 payouts)",
        h.client
            .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub])),
    )
    .await?;
    assert_eq!(
        h.client.asset_balance(token, h.alice.address()).await?,
        U256::from(100)
    );
    assert_eq!(
        h.client.token_balance(token, h.hub.address()).await?,
        U256::from(50)
    );
    assert_eq!(h.client.holdings(id, token).await?.held(), U256::ZERO);
    Ok(())
}

pub async fn challenge_is_cleared_by_checkpoint(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(1), eth(1)).await?;
    let s3 = h.ledger_state(&p, 3, Address::ZERO, eth(1), eth(1), false);
    let r = h
        .rec(
            "challenge (ledger)",
            h.client
                .challenge(h.tx[0], &p, &s3, &h.sign(&s3, &[&h.alice, &h.hub]), None),
        )
        .await?;
    let status = h.client.status_of(channel_id(&p)).await?;
    let head = h.chain.head().await?;
    assert_eq!(status.finalizes_at, head.timestamp + 600);
    assert_eq!(status.version, 3);
    match &r.events[0].event {
        AdjudicatorEvent::ChallengeRegistered(c) => {
            assert_eq!(c.state, s3);
            assert_eq!(c.finalizesAt.to::<u64>(), status.finalizes_at);
        }
        other => panic!("expected ChallengeRegistered, got {other:?}"),
    }
    let s5 = h.ledger_state(&p, 5, Address::ZERO, eth(1), eth(1), false);
    h.rec(
        "checkpoint (ledger)",
        h.client
            .checkpoint(h.tx[1], &p, &s5, &h.sign(&s5, &[&h.alice, &h.hub])),
    )
    .await?;
    let status = h.client.status_of(channel_id(&p)).await?;
    assert_eq!(status.finalizes_at, 0);
    assert_eq!(status.version, 5);
    // The stale state cannot be used again; the revert carries both versions.
    let stale = h
        .client
        .challenge(h.tx[0], &p, &s3, &h.sign(&s3, &[&h.alice, &h.hub]), None)
        .await;
    match stale.as_ref().err().and_then(Error::contract_error) {
        Some(ContractError::Adjudicator(IAdjudicatorErrors::StaleVersion(e))) => {
            assert_eq!((e.version.to::<u64>(), e.registered.to::<u64>()), (3, 5));
        }
        _ => panic!("expected StaleVersion, got {stale:?}"),
    }
    Ok(())
}

pub async fn challenge_then_withdraw_after_timeout(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(2), eth(2)).await?;
    let mut s = h.ledger_state(&p, 7, Address::ZERO, eth(2), eth(2), false);
    s.outcome.assets[0].balances = vec![eth(3), eth(1)];
    h.client
        .challenge(h.tx[0], &p, &s, &h.sign(&s, &[&h.alice, &h.hub]), None)
        .await?;
    assert_reverts(h.client.withdraw(h.tx[0], &p, &s).await, "NotFinalized");
    let before = h.chain.head().await?;
    h.chain.advance_time(601).await?;
    let after = h.chain.head().await?;
    assert!(after.number > before.number);
    assert!(after.timestamp >= before.timestamp + 601);
    let status = h.client.status_of(channel_id(&p)).await?;
    assert!(status.is_finalized(after.timestamp));
    let r = h
        .rec(
            "withdraw after challenge (ETH, 2 payouts)",
            h.client.withdraw(h.tx[0], &p, &s),
        )
        .await?;
    let withdrawn: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match &e.event {
            AdjudicatorEvent::Withdrawn(w) => Some((w.to, w.amount)),
            _ => None,
        })
        .collect();
    assert_eq!(
        withdrawn,
        vec![(h.alice.address(), eth(3)), (h.hub.address(), eth(1))]
    );
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(3));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(1));
    // A finalized channel takes no more challenges.
    assert_reverts(
        h.client
            .challenge(h.tx[0], &p, &s, &h.sign(&s, &[&h.alice, &h.hub]), None)
            .await,
        "ChannelFinalized",
    );
    Ok(())
}

pub async fn withdraw_partial_pays_one_side(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    let id = channel_id(&p);
    h.fund_eth(&p, eth(2), eth(2)).await?;
    // Alice takes 1 ether out while the channel stays open.
    let mut s = h.ledger_state(&p, 3, Address::ZERO, eth(2), eth(2), false);
    s.outcome.assets[0].balances = vec![eth(1), eth(2)];
    s.outcome.assets[0].withdrawn = vec![eth(1), U256::ZERO];
    let sigs = h.sign(&s, &[&h.alice, &h.hub]);
    h.rec(
        "withdrawPartial (ETH)",
        h.client.withdraw_partial(h.tx[2], &p, &s, &sigs, 0),
    )
    .await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(1));
    let holdings = h.client.holdings(id, Address::ZERO).await?;
    assert_eq!(holdings.withdrawn, [eth(1), U256::ZERO]);
    // Replaying it pays nothing.
    h.client.withdraw_partial(h.tx[2], &p, &s, &sigs, 0).await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(1));
    assert_reverts(
        h.client.withdraw_partial(h.tx[2], &p, &s, &sigs, 2).await,
        "InvalidParticipant",
    );
    // The close accounts for what was withdrawn.
    let mut fin = s.clone();
    fin.version = s.version + alloy::primitives::aliases::U48::from(1u8);
    fin.isFinal = true;
    h.client
        .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub]))
        .await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(2));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(2));
    Ok(())
}

pub async fn failed_payouts_are_credited_then_pulled(h: &Harness) -> R {
    let token = h.client.deploy(h.tx[0], Artifact::RevertingToken).await?;
    // Carol is a chain account, so she can pull her credit herself.
    let p = h.ledger(&h.carol, &h.hub);
    let id = channel_id(&p);
    for (i, amount) in [(0usize, 100u64), (1, 50)] {
        h.client
            .mint(h.tx[i], token, h.tx[i], U256::from(amount))
            .await?;
        h.client.approve(h.tx[i], token, U256::from(amount)).await?;
    }
    h.client
        .deposit(h.tx[0], token, id, 0, U256::ZERO, U256::from(100))
        .await?;
    h.client
        .deposit(h.tx[1], token, id, 1, U256::ZERO, U256::from(50))
        .await?;
    h.client
        .set_blocked(h.tx[0], token, h.carol.address(), true)
        .await?;
    let fin = h.ledger_state(&p, 2, token, U256::from(100), U256::from(50), true);
    let r = h
        .rec(
            "concludeAndWithdraw (ERC-20, 1 payout credited)",
            h.client
                .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.carol, &h.hub])),
        )
        .await?;
    assert!(r.events.iter().any(|e| matches!(
        &e.event,
        AdjudicatorEvent::PayoutCredited(c) if c.to == h.carol.address() && c.amount == U256::from(100)
    )));
    assert_eq!(
        h.client.token_balance(token, h.hub.address()).await?,
        U256::from(50),
        "one blocked recipient does not block the other"
    );
    assert_eq!(
        h.client.credit(token, h.carol.address()).await?,
        U256::from(100)
    );
    // While still blocked, pulling fails and keeps the credit.
    assert_reverts(
        h.client.withdraw_credit(h.carol.address(), token).await,
        "CreditTransferFailed",
    );
    h.client
        .set_blocked(h.tx[0], token, h.carol.address(), false)
        .await?;
    h.rec(
        "withdrawCredit (ERC-20)",
        h.client.withdraw_credit(h.carol.address(), token),
    )
    .await?;
    assert_eq!(
        h.client.token_balance(token, h.carol.address()).await?,
        U256::from(100)
    );
    assert_reverts(
        h.client.withdraw_credit(h.carol.address(), token).await,
        "NothingCredited",
    );
    Ok(())
}

pub async fn virtual_channel_claims_pay_both_ledgers(h: &Harness) -> R {
    let l1 = h.ledger(&h.alice, &h.hub);
    let l2 = h.ledger(&h.hub, &h.bob);
    h.fund_eth(&l1, eth(5), eth(5)).await?;
    h.fund_eth(&l2, eth(5), eth(5)).await?;
    let v = h.virtual_channel(
        &[&h.alice, &h.hub, &h.bob],
        vec![channel_id(&l1), channel_id(&l2)],
        Address::ZERO,
        0,
    );
    let vid = channel_id(&v);
    let leaf = SubAlloc {
        fee: U256::ZERO,
        channelId: vid,
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: eth(4),
        }],
    };
    // Other sub-channels share the table; V's proof still verifies on-chain.
    let mut tree = SubTree::new();
    for i in 0..5u8 {
        tree.insert(SubAlloc {
            fee: U256::ZERO,
            channelId: B256::repeat_byte(i + 1),
            amounts: vec![],
        })?;
    }
    let slot = tree.insert(leaf.clone())?;
    let proof = tree.proof(&vid)?;
    let ledger_final = |p: &ferry_contracts::ChannelParams, b0: U256, b1: U256| {
        let mut a = funded_asset(Address::ZERO, vec![eth(5), eth(5)]);
        a.balances = vec![b0, b1];
        a.locked = eth(4);
        let mut s = state(p, 3, vec![a], Bytes::new(), true);
        s.outcome.subRoot = tree.root();
        s
    };
    // L1: alice funded A's 3 ether, the hub B's 1; L2: the hub funded A's 3, bob B's 1.
    let s1 = ledger_final(&l1, eth(2), eth(4));
    let s2 = ledger_final(&l2, eth(2), eth(4));
    h.rec(
        "conclude (ledger with sub-channels)",
        h.client
            .conclude(h.tx[0], &l1, &s1, &h.sign(&s1, &[&h.alice, &h.hub])),
    )
    .await?;
    h.client
        .conclude(h.tx[0], &l2, &s2, &h.sign(&s2, &[&h.hub, &h.bob]))
        .await?;
    let mut vasset = funded_asset(Address::ZERO, vec![eth(3), U256::ZERO, eth(1)]);
    vasset.balances = vec![eth(1), U256::ZERO, eth(3)];
    let vfin = state(&v, 9, vec![vasset], Bytes::new(), true);
    h.rec(
        "conclude (virtual, 3-member path)",
        h.client.conclude(
            h.tx[1],
            &v,
            &vfin,
            &h.sign(&vfin, &[&h.alice, &h.hub, &h.bob]),
        ),
    )
    .await?;
    let r = h
        .rec(
            "claim (6-leaf table, 2 payouts)",
            h.client.claim(h.tx[2], &l1, &s1, &leaf, &proof, &v, &vfin),
        )
        .await?;
    let claimed: Vec<_> = r
        .events
        .iter()
        .filter_map(|e| match &e.event {
            AdjudicatorEvent::Claimed(c) => Some((c.virtualId, c.toLeft, c.toRight)),
            _ => None,
        })
        .collect();
    assert_eq!(claimed, vec![(vid, eth(1), eth(3))]);
    assert!(h.client.is_claimed(channel_id(&l1), slot).await?);
    assert_eq!(
        h.client
            .claimed_total(channel_id(&l1), Address::ZERO)
            .await?,
        eth(4)
    );
    h.client
        .claim(h.tx[2], &l2, &s2, &leaf, &proof, &v, &vfin)
        .await?;
    h.rec(
        "withdraw (ledger after claim)",
        h.client.withdraw(h.tx[2], &l1, &s1),
    )
    .await?;
    h.client.withdraw(h.tx[2], &l2, &s2).await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(2) + eth(1));
    assert_eq!(h.chain.balance(h.bob.address()).await?, eth(4) + eth(3));
    assert_eq!(
        h.chain.balance(h.hub.address()).await?,
        eth(4) + eth(2) + eth(4),
        "the hub breaks even"
    );
    assert_reverts(
        h.client
            .claim(h.tx[2], &l1, &s1, &leaf, &proof, &v, &vfin)
            .await,
        "AlreadyClaimed",
    );
    Ok(())
}

pub async fn progress_registers_an_app_move(h: &Harness) -> R {
    let app = h.client.payment_app(h.tx[0]).await?;
    let l1 = h.ledger(&h.alice, &h.hub);
    let l2 = h.ledger(&h.hub, &h.bob);
    let v = h.virtual_channel(
        &[&h.alice, &h.hub, &h.bob],
        vec![channel_id(&l1), channel_id(&l2)],
        app,
        5,
    );
    let vid = channel_id(&v);
    let zero = [U256::ZERO];
    let v1 = state(
        &v,
        1,
        vec![funded_asset(
            Address::ZERO,
            vec![eth(3), U256::ZERO, eth(1)],
        )],
        payment_data_bytes(&zero, &zero),
        false,
    );
    // The post-fund, whole-path signed, registers V as certified.
    h.rec(
        "challenge (virtual post-fund, 3 sigs)",
        h.client.challenge(
            h.tx[0],
            &v,
            &v1,
            &h.sign(&v1, &[&h.alice, &h.hub, &h.bob]),
            None,
        ),
    )
    .await?;
    let status = h.client.status_of(vid).await?;
    assert!(status.certified);
    // Later (the same time on every chain, so the deadline is extended on every chain), Bob redeems Alice's voucher for 1 ether on-chain.
    let voucher = sign_voucher(&h.alice, &v, Address::ZERO, eth(1));
    let to = voucher_move(&v, &v1, 2, &[eth(1)], vec![voucher])?;
    let bob_sig = h.sign(&to, &[&h.bob]).remove(0);
    h.chain.advance_time(10).await?;
    let r = h
        .rec(
            "progress (payment app, voucher)",
            h.client.progress(h.tx[1], &v, &v1, &to, 2, &bob_sig),
        )
        .await?;
    match &r.events[..] {
        [e] => match &e.event {
            AdjudicatorEvent::Progressed(p) => {
                assert_eq!(p.to, to);
                assert_eq!(p.moverIndex, U256::from(2));
            }
            other => panic!("expected Progressed, got {other:?}"),
        },
        other => panic!("expected one event, got {other:?}"),
    }
    let deadline = status.finalizes_at;
    let status = h.client.status_of(vid).await?;
    assert_eq!((status.version, status.moves), (2, [0, 1]));
    assert!(
        status.finalizes_at > deadline,
        "a move extends the challenge"
    );
    assert_eq!(status.finalizes_at, h.chain.head().await?.timestamp + 600);
    assert_eq!(status.fingerprint, fingerprint(&to));
    // Alice cannot take Bob's money without Bob's voucher.
    let fake = sign_voucher(&h.alice, &v, Address::ZERO, eth(1));
    let steal = voucher_move(&v, &to, 0, &[eth(1)], vec![fake])?;
    let alice_sig = h.sign(&steal, &[&h.alice]).remove(0);
    assert_reverts(
        h.client
            .progress(h.tx[0], &v, &to, &steal, 0, &alice_sig)
            .await,
        "InvalidTransition",
    );
    // The intermediary cannot move.
    let hub_sig = h.sign(&steal, &[&h.hub]).remove(0);
    assert!(
        h.client
            .progress(h.tx[0], &v, &to, &steal, 1, &hub_sig)
            .await
            .is_err()
    );
    Ok(())
}

pub async fn reverts_are_decoded_by_name(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    let fin = h.ledger_state(&p, 1, Address::ZERO, U256::ZERO, U256::ZERO, true);
    // Signatures in the wrong order.
    let wrong = h
        .client
        .conclude(h.tx[0], &p, &fin, &h.sign(&fin, &[&h.hub, &h.alice]))
        .await;
    match wrong {
        Err(Error::Reverted {
            ref error,
            ref reason,
            ref data,
        }) if matches!(**error, ContractError::WrongSigner(_)) => {
            assert_eq!(**error, ContractError::WrongSigner(U256::ZERO));
            assert!(reason.contains("WrongSigner"), "{reason}");
            assert!(data.len() >= 4);
        }
        other => panic!("expected WrongSigner, got {other:?}"),
    }
    h.rec(
        "conclude (ledger, empty outcome)",
        h.client
            .conclude(h.tx[0], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub])),
    )
    .await?;
    // A deposit into a finalized channel.
    let late = h
        .client
        .deposit(
            h.tx[0],
            Address::ZERO,
            channel_id(&p),
            0,
            U256::ZERO,
            U256::from(1),
        )
        .await;
    assert_eq!(
        late.as_ref().err().and_then(Error::revert_name),
        Some("ChannelFinalized"),
        "{late:?}"
    );
    // A view that reverts decodes the same way.
    let bad_call = Adj::depositCall {
        asset: Address::ZERO,
        channelId: channel_id(&p),
        participant: U256::from(0),
        expectedHeld: U256::ZERO,
        amount: U256::from(1),
    };
    let call = h
        .chain
        .call(h.chain.adjudicator(), bad_call.abi_encode().into())
        .await;
    assert!(matches!(call, Err(Error::Reverted { .. })), "{call:?}");
    // A token's require message.
    let token = h.client.deploy_test_token(h.tx[0]).await?;
    let transfer = h
        .client
        .transfer(h.tx[0], token, h.tx[1], U256::from(1))
        .await;
    assert_eq!(
        transfer.as_ref().err().and_then(Error::contract_error),
        Some(&ContractError::Message("balance".into())),
        "{transfer:?}"
    );
    Ok(())
}

pub async fn out_of_gas_is_its_own_error(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    let id = channel_id(&p);
    let data = Adj::depositCall {
        asset: Address::ZERO,
        channelId: id,
        participant: U256::ZERO,
        expectedHeld: U256::ZERO,
        amount: eth(1),
    }
    .abi_encode();
    let tx = TxRequest::new(h.tx[0], h.chain.adjudicator(), data)
        .with_value(eth(1))
        .with_gas_limit(40_000);
    match h.chain.send(tx.clone()).await {
        Err(Error::OutOfGas { gas_limit }) => assert_eq!(gas_limit, 40_000),
        other => panic!("expected OutOfGas, got {other:?}"),
    }
    assert_eq!(
        h.client.holdings(id, Address::ZERO).await?.deposited,
        [U256::ZERO; 2]
    );
    // The account can go on sending; with enough gas the same deposit goes through.
    let ok = h.chain.send(tx.with_gas_limit(200_000)).await?;
    assert!(ok.gas_used < 200_000);
    assert_eq!(h.client.holdings(id, Address::ZERO).await?.held(), eth(1));
    Ok(())
}

pub async fn events_stream_from_a_past_block(h: &Harness) -> R {
    let start = h.chain.head().await?.number + 1;
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(1), eth(2)).await?;
    let s = h.ledger_state(&p, 2, Address::ZERO, eth(1), eth(2), false);
    h.client
        .challenge(h.tx[0], &p, &s, &h.sign(&s, &[&h.alice, &h.hub]), None)
        .await?;
    // Replay from a block before all of it: two deposits, then the challenge with the full state.
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(20),
        h.client.events(start).take(3).collect::<Vec<_>>(),
    )
    .await?
    .into_iter()
    .collect::<Result<_, _>>()?;
    assert!(matches!(&events[0].event, AdjudicatorEvent::Deposited(d) if d.participant.is_zero()));
    assert!(
        matches!(&events[1].event, AdjudicatorEvent::Deposited(d) if d.participant == U256::from(1))
    );
    match &events[2].event {
        AdjudicatorEvent::ChallengeRegistered(c) => {
            assert_eq!(c.state, s);
            assert_eq!(c.channelId, channel_id(&p));
        }
        other => panic!("expected a challenge, got {other:?}"),
    }
    assert!(events[0].block < events[1].block && events[1].block < events[2].block);
    // The same range read directly agrees.
    let direct = h.chain.events_between(start, events[2].block).await?;
    assert_eq!(direct, events);
    // Then it follows new blocks live.
    let mut stream = h.client.events(events[2].block + 1);
    let live = tokio::spawn(async move { stream.next().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s4 = h.ledger_state(&p, 4, Address::ZERO, eth(1), eth(2), false);
    let r = h
        .client
        .checkpoint(h.tx[1], &p, &s4, &h.sign(&s4, &[&h.alice, &h.hub]))
        .await?;
    let next = tokio::time::timeout(Duration::from_secs(20), live)
        .await??
        .ok_or("stream ended")??;
    assert!(matches!(next.event, AdjudicatorEvent::Checkpointed(_)));
    assert_eq!(next, r.events[0]);
    Ok(())
}

impl Harness {
    fn adjudicator(&self) -> Address {
        self.chain.adjudicator()
    }
}
