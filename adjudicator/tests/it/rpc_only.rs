//! Failure paths only a remote node has.

use alloy::primitives::B256;
use ferry_adjudicator::{Error, RpcChain, RpcConfig};

use crate::harness::spawn_anvil;

#[tokio::test]
async fn wrong_chain_id_is_refused_at_connect() -> crate::R {
    let anvil = spawn_anvil()?;
    let keys = vec![B256::from_slice(&anvil.keys()[0].to_bytes())];
    match RpcChain::connect(RpcConfig::new(anvil.endpoint(), 1, keys)).await {
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
    let url = format!("http://127.0.0.1:{port}");
    match RpcChain::connect(RpcConfig::new(url, 31337, vec![B256::repeat_byte(1)])).await {
        Err(Error::Unreachable(_)) => Ok(()),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_endpoint_works_too() -> crate::R {
    let anvil = spawn_anvil()?;
    let keys = vec![B256::from_slice(&anvil.keys()[0].to_bytes())];
    let chain = RpcChain::connect(RpcConfig::new(anvil.ws_endpoint(), 31337, keys)).await?;
    use ferry_adjudicator::Chain;
    assert!(
        chain.head().await?.number >= 1,
        "the adjudicator was deployed"
    );
    Ok(())
}

#[tokio::test]
async fn attaching_to_an_address_without_code_is_refused() -> crate::R {
    let anvil = spawn_anvil()?;
    let keys = vec![B256::from_slice(&anvil.keys()[0].to_bytes())];
    let mut cfg = RpcConfig::new(anvil.endpoint(), 31337, keys);
    cfg.adjudicator = Some(alloy::primitives::Address::repeat_byte(0x42));
    assert!(matches!(RpcChain::connect(cfg).await, Err(Error::Node(_))));
    Ok(())
}
