//! What only the embedded chain has: deterministic accounts, configuration, batched blocks, the clock.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolCall;
use ferry_adjudicator::{
    AdjudicatorClient, AdjudicatorEvent, Chain, EmbeddedChain, Error, GENESIS_TIME, TxRequest,
    event_stream,
};
use ferry_contracts::IAdjudicator as Adj;
use ferry_contracts::{Artifact, channel_id};
use futures::StreamExt;

use crate::harness::{Harness, eth};

#[tokio::test]
async fn accounts_are_deterministic_and_funded() -> crate::R {
    let a = EmbeddedChain::new()?;
    let b = EmbeddedChain::new()?;
    assert_eq!(a.accounts(), b.accounts());
    assert_eq!(a.accounts().len(), 10);
    assert_eq!(a.adjudicator(), b.adjudicator());
    assert_eq!(a.keys()[0], EmbeddedChain::account_key(0));
    for who in a.accounts() {
        assert_eq!(a.balance(who).await?, eth(10_000));
    }
    let head = a.head().await?;
    assert_eq!(
        head.number, 1,
        "genesis, then one block with the bundled contracts"
    );
    assert_eq!(head.timestamp, GENESIS_TIME + 1);
    for artifact in [
        Artifact::Adjudicator,
        Artifact::PaymentApp,
        Artifact::RockPaperScissors,
    ] {
        assert!(a.deployed(artifact).is_some(), "{}", artifact.name());
    }
    assert_eq!(a.deployed(Artifact::TestToken), None);
    Ok(())
}

#[tokio::test]
async fn chain_id_is_configurable() -> crate::R {
    let chain = EmbeddedChain::builder().chain_id(10).accounts(2).build()?;
    assert_eq!(chain.chain_id(), 10);
    assert_eq!(chain.accounts().len(), 2);
    let out = chain
        .call(
            chain.adjudicator(),
            Adj::domainSeparatorCall {}.abi_encode().into(),
        )
        .await?;
    let expected = ferry_contracts::domain(U256::from(10), chain.adjudicator()).separator();
    assert_eq!(
        Adj::domainSeparatorCall::abi_decode_returns(&out)?,
        expected
    );
    assert!(matches!(
        EmbeddedChain::builder().accounts(0).build(),
        Err(Error::Config(_))
    ));
    Ok(())
}

#[tokio::test]
async fn unknown_senders_are_refused() -> crate::R {
    let chain = EmbeddedChain::new()?;
    let stranger = Address::repeat_byte(0x99);
    let tx = TxRequest::new(stranger, chain.adjudicator(), Bytes::new());
    assert!(matches!(chain.send(tx).await, Err(Error::UnknownSender(a)) if a == stranger));
    Ok(())
}

#[tokio::test]
async fn the_clock_moves_only_forward() -> crate::R {
    let chain = EmbeddedChain::new()?;
    let start = chain.head().await?;
    chain.advance_time(100).await?;
    let h = chain.head().await?;
    assert_eq!(
        (h.number, h.timestamp),
        (start.number + 1, start.timestamp + 100)
    );
    let h = chain.set_time(start.timestamp + 5_000);
    assert_eq!(
        (h.number, h.timestamp),
        (start.number + 2, start.timestamp + 5_000)
    );
    // Back in time: the next block is one second later instead.
    let h = chain.set_time(start.timestamp);
    assert_eq!(h.timestamp, start.timestamp + 5_001);
    // Each transaction is mined one second after the previous block.
    let to = Address::repeat_byte(3);
    let r = chain
        .send(TxRequest::new(chain.accounts()[0], to, Bytes::new()).with_value(U256::from(1)))
        .await?;
    assert_eq!(r.block, h.number + 1);
    assert_eq!(chain.head().await?.timestamp, h.timestamp + 1);
    Ok(())
}

#[tokio::test]
async fn a_challenge_times_out_with_the_clock() -> crate::R {
    let h = Harness::embedded()?;
    let p = h.ledger(&h.alice, &h.hub);
    h.fund_eth(&p, eth(1), eth(1)).await?;
    let s = h.ledger_state(&p, 1, Address::ZERO, eth(1), eth(1), false);
    h.client
        .challenge(h.tx[0], &p, &s, &h.sign(&s, &[&h.alice, &h.hub]), None)
        .await?;
    let status = h.client.status_of(channel_id(&p)).await?;
    // Two seconds before the deadline the head is not finalized, nor is the next block (one second later).
    let head = h.chain.head().await?;
    h.chain
        .advance_time(status.finalizes_at - head.timestamp - 2)
        .await?;
    assert!(!status.is_finalized(h.chain.head().await?.timestamp));
    assert!(h.client.withdraw(h.tx[0], &p, &s).await.is_err());
    h.chain.advance_time(1).await?;
    h.client.withdraw(h.tx[0], &p, &s).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_blocks_hold_several_transactions() -> crate::R {
    let chain = Arc::new(EmbeddedChain::new()?);
    let client = AdjudicatorClient::new(chain.clone());
    let accounts = chain.accounts();
    let from_block = chain.head().await?.number + 1;
    chain.set_automine(false);
    let id = alloy::primitives::B256::repeat_byte(0xab);
    let mut sends = Vec::new();
    for (i, from) in accounts.iter().take(3).enumerate() {
        let client = client.clone();
        let from = *from;
        sends.push(tokio::spawn(async move {
            client
                .deposit(
                    from,
                    Address::ZERO,
                    id,
                    (i % 2) as u8,
                    eth((i / 2) as u64),
                    eth(1),
                )
                .await
        }));
        // Keep the submission order deterministic.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sends.iter().all(|s| !s.is_finished()), "nothing mined yet");
    assert_eq!(chain.head().await?.number, from_block - 1);
    let block = chain.mine();
    assert_eq!(block, from_block);
    let mut receipts = Vec::new();
    for s in sends {
        receipts.push(s.await??);
    }
    assert!(receipts.iter().all(|r| r.block == block));
    let indices: Vec<u64> = receipts.iter().map(|r| r.events[0].log_index).collect();
    assert_eq!(indices, vec![0, 1, 2]);
    // The stream replays the block with the same positions.
    let streamed: Vec<_> = event_stream(chain.clone(), from_block)
        .take(3)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(
        streamed,
        receipts
            .iter()
            .map(|r| r.events[0].clone())
            .collect::<Vec<_>>()
    );
    assert!(
        streamed
            .iter()
            .all(|e| matches!(e.event, AdjudicatorEvent::Deposited(_)))
    );
    // An empty block, then automine again.
    assert_eq!(chain.mine(), block + 1);
    chain.set_automine(true);
    let r = client
        .deposit(accounts[0], Address::ZERO, id, 0, eth(2), eth(1))
        .await?;
    assert_eq!(r.block, block + 2);
    Ok(())
}

#[tokio::test]
async fn gas_used_counts_intrinsic_gas_and_calldata() -> crate::R {
    let chain = EmbeddedChain::new()?;
    let from = chain.accounts()[0];
    let to = Address::repeat_byte(0x44);
    // Zero bytes: 4 gas each (1 token), non-zero: 16 (4 tokens); the EIP-7623 floor is 10 per token.
    let cases: [(&[u8], u64); 3] = [
        (&[], 21_000),
        (&[0u8; 100], 21_000 + 100 * 10),
        (&[1u8; 10], 21_000 + 40 * 10),
    ];
    for (data, expected) in cases {
        let r = chain
            .send(TxRequest::new(from, to, Bytes::copy_from_slice(data)))
            .await?;
        assert_eq!(r.gas_used, expected, "{} bytes", data.len());
    }
    // Below the intrinsic gas, the transaction is refused before it runs.
    let low = TxRequest::new(from, to, Bytes::new()).with_gas_limit(20_000);
    assert!(matches!(
        chain.send(low).await,
        Err(Error::InvalidTransaction(_))
    ));
    Ok(())
}

#[tokio::test]
async fn funding_any_address_and_calls_without_a_sender() -> crate::R {
    let chain = EmbeddedChain::new()?;
    let who = Address::repeat_byte(0x21);
    chain.fund(who, eth(2));
    chain.fund(who, eth(1));
    assert_eq!(chain.balance(who).await?, eth(3));
    // Views need no account.
    let status = chain.status_of(alloy::primitives::B256::ZERO).await?;
    assert_eq!(status, Default::default());
    Ok(())
}
