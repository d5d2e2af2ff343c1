//! Scenarios every `Chain` implementation must pass.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, U256};
use ferry_adjudicator::{ChannelStatus, event_stream};
use ferry_contracts::IAdjudicator::IAdjudicatorEvents;
use ferry_contracts::{Artifact, AssetAmount, SubAlloc, channel_id, fingerprint};
use ferry_ledger::SubTree;
use ferry_ledger::channel::{funded_asset, state, virtual_params};
use futures::StreamExt;

use crate::R;
use crate::harness::{Harness, eth};

pub async fn eth_deposits_follow_expected_held(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    let id = channel_id(&p);
    h.client
        .deposit(h.tx[0], Address::ZERO, id, 0, U256::ZERO, eth(2))
        .await?;
    // A duplicate of the same deposit takes nothing.
    let dup = h
        .client
        .deposit(h.tx[0], Address::ZERO, id, 0, U256::ZERO, eth(2))
        .await?;
    assert!(
        dup.events
            .iter()
            .any(|e| matches!(&e.event, IAdjudicatorEvents::Deposited(d) if d.taken.is_zero()))
    );
    // The second participant's deposit before the first's lands is refused.
    let early = h
        .client
        .deposit(h.tx[1], Address::ZERO, id, 1, eth(3), eth(1))
        .await;
    assert!(
        early
            .err()
            .and_then(|e| e.revert_reason().map(|r| r.contains("HeldBelowExpected")))
            .unwrap_or(false)
    );
    h.client
        .deposit(h.tx[1], Address::ZERO, id, 1, eth(2), eth(3))
        .await?;
    let holdings = h.client.holdings(id, Address::ZERO).await?;
    assert_eq!(holdings.deposited, [eth(2), eth(3)]);
    assert_eq!(h.chain.balance(h.chain.adjudicator()).await?, eth(5));
    Ok(())
}

pub async fn happy_close_is_one_transaction(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(3), eth(5)).await?;
    let mut fin = h.ledger_state(&p, 10, Address::ZERO, eth(3), eth(5), true);
    fin.outcome.assets[0].balances = vec![eth(1), eth(7)];
    let receipt = h
        .client
        .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub]))
        .await?;
    assert!(receipt.gas_used > 21_000);
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(1));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(7));
    let status = h.client.status_of(channel_id(&p)).await?;
    assert_eq!(status.version, 10);
    assert_eq!(status.fingerprint, fingerprint(&fin));
    Ok(())
}

pub async fn erc20_ledger_round_trip(h: &Harness) -> R {
    let token = h.client.deploy(h.tx[0], Artifact::TestToken).await?;
    let p = h.ledger(&h.alice, &h.hub);
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
        .deposit(h.tx[1], token, id, 1, U256::from(100), U256::from(50))
        .await?;
    let fin = h.ledger_state(&p, 4, token, U256::from(100), U256::from(50), true);
    h.client
        .conclude_and_withdraw(h.tx[2], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub]))
        .await?;
    assert_eq!(
        h.client.token_balance(token, h.alice.address()).await?,
        U256::from(100)
    );
    assert_eq!(
        h.client.token_balance(token, h.hub.address()).await?,
        U256::from(50)
    );
    Ok(())
}

pub async fn challenge_is_cleared_by_checkpoint(h: &Harness) -> R {
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(1), eth(1)).await?;
    let s3 = h.ledger_state(&p, 3, Address::ZERO, eth(1), eth(1), false);
    h.client
        .challenge(h.tx[0], &p, &s3, &h.sign(&s3, &[&h.alice, &h.hub]), None)
        .await?;
    let status = h.client.status_of(channel_id(&p)).await?;
    assert!(status.finalizes_at > 0);
    let s5 = h.ledger_state(&p, 5, Address::ZERO, eth(1), eth(1), false);
    h.client
        .checkpoint(h.tx[1], &p, &s5, &h.sign(&s5, &[&h.alice, &h.hub]))
        .await?;
    let status = h.client.status_of(channel_id(&p)).await?;
    assert_eq!(status.finalizes_at, 0);
    assert_eq!(status.version, 5);
    // The stale state cannot be used again.
    let stale = h
        .client
        .challenge(h.tx[0], &p, &s3, &h.sign(&s3, &[&h.alice, &h.hub]), None)
        .await;
    assert!(
        stale
            .err()
            .and_then(|e| e.revert_reason().map(|r| r.contains("StaleVersion")))
            .unwrap_or(false)
    );
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
    let early = h.client.withdraw(h.tx[0], &p, &s).await;
    assert!(
        early
            .err()
            .and_then(|e| e.revert_reason().map(|r| r.contains("NotFinalized")))
            .unwrap_or(false)
    );
    h.chain.advance_time(601).await?;
    h.client.withdraw(h.tx[0], &p, &s).await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(3));
    assert_eq!(h.chain.balance(h.hub.address()).await?, eth(1));
    let head = h.chain.head().await?;
    let status: ChannelStatus = h.client.status_of(channel_id(&p)).await?;
    assert!(status.is_finalized(head.timestamp));
    Ok(())
}

pub async fn virtual_channel_claims_pay_both_ledgers(h: &Harness) -> R {
    let l1 = h.ledger(&h.alice, &h.hub);
    let l2 = h.ledger(&h.hub, &h.bob);
    h.fund_eth(&l1, eth(5), eth(5)).await?;
    h.fund_eth(&l2, eth(5), eth(5)).await?;
    let path = vec![h.alice.address(), h.hub.address(), h.bob.address()];
    let v = virtual_params(
        &h.ctx,
        path,
        vec![channel_id(&l1), channel_id(&l2)],
        Address::ZERO,
        600,
        0,
    );
    let vid = channel_id(&v);
    let leaf = SubAlloc {
        channelId: vid,
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: eth(4),
        }],
    };
    // Other sub-channels share the table; V's proof still verifies on-chain.
    let mut tree = SubTree::new();
    for i in 0..5u8 {
        let other = SubAlloc {
            channelId: alloy::primitives::B256::repeat_byte(i + 1),
            amounts: vec![],
        };
        tree.insert(other)?;
    }
    tree.insert(leaf.clone())?;
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
    h.client
        .conclude(h.tx[0], &l1, &s1, &h.sign(&s1, &[&h.alice, &h.hub]))
        .await?;
    h.client
        .conclude(h.tx[0], &l2, &s2, &h.sign(&s2, &[&h.hub, &h.bob]))
        .await?;
    let mut vasset = funded_asset(Address::ZERO, vec![eth(3), U256::ZERO, eth(1)]);
    vasset.balances = vec![eth(1), U256::ZERO, eth(3)];
    let vfin = state(&v, 9, vec![vasset], Bytes::new(), true);
    h.client
        .conclude(
            h.tx[1],
            &v,
            &vfin,
            &h.sign(&vfin, &[&h.alice, &h.hub, &h.bob]),
        )
        .await?;
    h.client
        .claim(h.tx[2], &l1, &s1, &leaf, &proof, &v, &vfin)
        .await?;
    h.client
        .claim(h.tx[2], &l2, &s2, &leaf, &proof, &v, &vfin)
        .await?;
    h.client.withdraw(h.tx[2], &l1, &s1).await?;
    h.client.withdraw(h.tx[2], &l2, &s2).await?;
    assert_eq!(h.chain.balance(h.alice.address()).await?, eth(2) + eth(1));
    assert_eq!(h.chain.balance(h.bob.address()).await?, eth(4) + eth(3));
    assert_eq!(
        h.chain.balance(h.hub.address()).await?,
        eth(4) + eth(2) + eth(4),
        "the hub breaks even"
    );
    let again = h
        .client
        .claim(h.tx[2], &l1, &s1, &leaf, &proof, &v, &vfin)
        .await;
    assert!(
        again
            .err()
            .and_then(|e| e.revert_reason().map(|r| r.contains("AlreadyClaimed")))
            .unwrap_or(false)
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
    let reason = wrong
        .err()
        .and_then(|e| e.revert_reason().map(str::to_owned))
        .unwrap_or_default();
    assert!(reason.contains("WrongSigner"), "{reason}");
    h.client
        .conclude(h.tx[0], &p, &fin, &h.sign(&fin, &[&h.alice, &h.hub]))
        .await?;
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
    let reason = late
        .err()
        .and_then(|e| e.revert_reason().map(str::to_owned))
        .unwrap_or_default();
    assert!(reason.contains("ChannelFinalized"), "{reason}");
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
        event_stream(h.chain.clone(), start).take(3).collect(),
    )
    .await?;
    let events: Vec<_> = events.into_iter().collect::<Result<_, _>>()?;
    assert!(
        matches!(&events[0].event, IAdjudicatorEvents::Deposited(d) if d.participant.is_zero())
    );
    assert!(
        matches!(&events[1].event, IAdjudicatorEvents::Deposited(d) if d.participant == U256::from(1))
    );
    match &events[2].event {
        IAdjudicatorEvents::ChallengeRegistered(c) => assert_eq!(c.state, s),
        other => panic!("expected a challenge, got {other:?}"),
    }
    assert!(events[0].block < events[2].block);
    // Then it follows new blocks live.
    let mut stream = event_stream(h.chain.clone(), events[2].block + 1);
    let live = tokio::spawn(async move { stream.next().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s4 = h.ledger_state(&p, 4, Address::ZERO, eth(1), eth(2), false);
    h.client
        .checkpoint(h.tx[1], &p, &s4, &h.sign(&s4, &[&h.alice, &h.hub]))
        .await?;
    let next = tokio::time::timeout(Duration::from_secs(20), live).await??;
    assert!(
        matches!(next, Some(Ok(ref e)) if matches!(e.event, IAdjudicatorEvents::Checkpointed(_)))
    );
    Ok(())
}
