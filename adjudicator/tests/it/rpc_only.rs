//! What only a remote node has: connection failures, chain-id check, WebSocket, confirmations, attaching.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_adjudicator::{Chain, Error, RpcChain, RpcConfig, TxRequest};
use ferry_contracts::Artifact;

use crate::harness::{anvil_keys, spawn_anvil};

#[tokio::test]
async fn wrong_chain_id_is_refused_at_connect() -> crate::R {
    let anvil = spawn_anvil()?;
    match RpcChain::connect(RpcConfig::new(anvil.endpoint(), 1, anvil_keys(&anvil))).await {
        Err(Error::WrongChainId {
            expected: 1,
            actual: 31337,
        }) => Ok(()),
        other => panic!("expected WrongChainId, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_node_is_reported() -> crate::R {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}"),
    ] {
        match RpcChain::connect(RpcConfig::new(url, 31337, vec![B256::repeat_byte(1)])).await {
            Err(Error::Unreachable(_)) => {}
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_node_that_goes_away_is_unreachable() -> crate::R {
    let anvil = spawn_anvil()?;
    let chain =
        RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil))).await?;
    drop(anvil);
    match chain.head().await {
        Err(Error::Unreachable(_)) => Ok(()),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_keys_are_refused() -> crate::R {
    let anvil = spawn_anvil()?;
    for keys in [vec![], vec![B256::ZERO]] {
        match RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, keys)).await {
            Err(Error::Config(_)) => {}
            other => panic!("expected Config, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn websocket_endpoint_works_too() -> crate::R {
    let anvil = spawn_anvil()?;
    let chain = RpcChain::connect(RpcConfig::new(
        anvil.ws_endpoint(),
        31337,
        anvil_keys(&anvil),
    ))
    .await?;
    assert!(
        chain.head().await?.number >= 3,
        "the adjudicator and the apps were deployed"
    );
    let to = Address::repeat_byte(9);
    let r = chain
        .send(TxRequest::new(chain.accounts()[1], to, Bytes::new()).with_value(U256::from(7)))
        .await?;
    assert_eq!(r.gas_used, 21_000);
    assert_eq!(chain.balance(to).await?, U256::from(7));
    Ok(())
}

#[tokio::test]
async fn attaching_reuses_a_deployment_and_refuses_an_empty_address() -> crate::R {
    let anvil = spawn_anvil()?;
    let first =
        RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil))).await?;
    let mut cfg = RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil));
    cfg.adjudicator = Some(first.adjudicator());
    cfg.payment_app = first.deployed(Artifact::PaymentApp);
    let attached = RpcChain::connect(cfg.clone()).await?;
    assert_eq!(attached.adjudicator(), first.adjudicator());
    assert_eq!(
        attached.deployed(Artifact::PaymentApp),
        first.deployed(Artifact::PaymentApp)
    );
    assert_eq!(attached.deployed(Artifact::RockPaperScissors), None);
    cfg.adjudicator = Some(Address::repeat_byte(0x42));
    assert!(matches!(
        RpcChain::connect(cfg).await,
        Err(Error::Config(_))
    ));
    Ok(())
}

#[tokio::test]
async fn receipts_wait_for_confirmations() -> crate::R {
    let anvil = spawn_anvil()?;
    let mut cfg = RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil));
    // Deploy with one confirmation, then attach with three.
    let first = RpcChain::connect(cfg.clone()).await?;
    cfg.adjudicator = Some(first.adjudicator());
    cfg.confirmations = 3;
    let chain = Arc::new(RpcChain::connect(cfg).await?);
    assert_eq!(chain.confirmations(), 3);
    let sender = chain.clone();
    let from = chain.accounts()[0];
    let send = tokio::spawn(async move {
        sender
            .send(
                TxRequest::new(from, Address::repeat_byte(5), Bytes::new())
                    .with_value(U256::from(1)),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!send.is_finished(), "one block is not three confirmations");
    chain.mine().await?;
    chain.mine().await?;
    let receipt = tokio::time::timeout(Duration::from_secs(10), send).await???;
    assert!(chain.head().await?.number >= receipt.block + 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_sends_from_one_account_get_distinct_nonces() -> crate::R {
    let anvil = spawn_anvil()?;
    let chain = Arc::new(
        RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil))).await?,
    );
    let from = chain.accounts()[2];
    let sends = (0..4u8).map(|i| {
        let chain = chain.clone();
        async move {
            chain
                .send(
                    TxRequest::new(from, Address::repeat_byte(0x60 + i), Bytes::new())
                        .with_value(U256::from(1)),
                )
                .await
        }
    });
    for r in futures::future::join_all(sends).await {
        r?;
    }
    for i in 0..4u8 {
        assert_eq!(
            chain.balance(Address::repeat_byte(0x60 + i)).await?,
            U256::from(1)
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_transaction_that_fails_on_chain_is_explained() -> crate::R {
    // A fixed gas limit skips estimation, so the failing transaction is mined; the error still names the revert.
    let anvil = spawn_anvil()?;
    let chain =
        RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil))).await?;
    let token = chain
        .deploy(chain.accounts()[0], Artifact::TestToken.bytecode()?)
        .await?
        .contract_address
        .ok_or("no token")?;
    let data = alloy::sol_types::SolCall::abi_encode(&ferry_adjudicator::IERC20::transferCall {
        to: Address::repeat_byte(1),
        amount: U256::from(1),
    });
    let before = chain.head().await?.number;
    let err = chain
        .send(TxRequest::new(chain.accounts()[0], token, data).with_gas_limit(100_000))
        .await;
    assert_eq!(
        err.as_ref().err().and_then(Error::revert_name),
        Some("Error"),
        "{err:?}"
    );
    assert!(
        chain.head().await?.number > before,
        "the failed transaction was mined"
    );
    Ok(())
}

#[tokio::test]
async fn long_log_ranges_are_split() -> crate::R {
    let anvil = spawn_anvil()?;
    let mut cfg = RpcConfig::new(anvil.endpoint(), 31337, anvil_keys(&anvil));
    cfg.max_log_range = 2;
    let chain: Arc<dyn Chain> = Arc::new(RpcChain::connect(cfg).await?);
    let client = ferry_adjudicator::AdjudicatorClient::new(chain.clone());
    let id = B256::repeat_byte(7);
    let from = chain.accounts()[0];
    for i in 0..3u64 {
        client
            .deposit(from, Address::ZERO, id, 0, U256::from(i), U256::from(1))
            .await?;
        chain.advance_time(1).await?;
    }
    let events = chain.events_between(0, chain.head().await?.number).await?;
    assert_eq!(events.len(), 3);
    assert!(events.windows(2).all(|w| w[0].block < w[1].block));
    Ok(())
}
