use std::sync::Arc;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_adjudicator::{AdjudicatorClient, Chain, EmbeddedChain, RpcChain, RpcConfig};
use ferry_contracts::{ChannelParams, Signature, State, channel_id};
use ferry_ledger::Signer;
use ferry_ledger::channel::{funded_asset, ledger_params, sign_all, state};
use ferry_ledger::support::ChainContext;

pub fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

/// A chain, a client, and three channel keys (Alice, a hub, Bob) whose addresses receive payouts.
pub struct Harness {
    pub chain: Arc<dyn Chain>,
    pub client: AdjudicatorClient,
    pub ctx: ChainContext,
    pub alice: Signer,
    pub hub: Signer,
    pub bob: Signer,
    /// Transaction senders.
    pub tx: Vec<Address>,
}

pub fn anvil_path() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    assert!(
        p.exists(),
        "anvil is missing at {}: run `npm ci` at the repository root",
        p.display()
    );
    p
}

pub fn spawn_anvil() -> Result<AnvilInstance, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Anvil::at(anvil_path()).chain_id(31337u64).try_spawn()?)
}

impl Harness {
    fn with(chain: Arc<dyn Chain>) -> Self {
        let ctx = ChainContext {
            chain_id: chain.chain_id(),
            adjudicator: chain.adjudicator(),
        };
        let tx = chain.accounts();
        Harness {
            client: AdjudicatorClient::new(chain.clone()),
            chain,
            ctx,
            alice: Signer::random(),
            hub: Signer::random(),
            bob: Signer::random(),
            tx,
        }
    }

    pub async fn embedded() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self::with(Arc::new(EmbeddedChain::new()?)))
    }

    pub async fn anvil() -> Result<(Self, AnvilInstance), Box<dyn std::error::Error + Send + Sync>>
    {
        let anvil = spawn_anvil()?;
        let keys: Vec<B256> = anvil
            .keys()
            .iter()
            .take(4)
            .map(|k| B256::from_slice(&k.to_bytes()))
            .collect();
        let chain = RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, keys)).await?;
        Ok((Self::with(Arc::new(chain)), anvil))
    }

    pub fn ledger(&self, a: &Signer, b: &Signer) -> ChannelParams {
        ledger_params(&self.ctx, a.address(), b.address(), 600)
    }

    /// A one-asset ledger state where each side holds what it deposited.
    pub fn ledger_state(
        &self,
        p: &ChannelParams,
        version: u64,
        asset: Address,
        b0: U256,
        b1: U256,
        fin: bool,
    ) -> State {
        state(
            p,
            version,
            vec![funded_asset(asset, vec![b0, b1])],
            Bytes::new(),
            fin,
        )
    }

    pub fn sign(&self, s: &State, signers: &[&Signer]) -> Vec<Signature> {
        sign_all(&self.ctx, s, signers)
    }

    /// Deposits ETH for both participants in order (expectedHeld = what the first put in).
    pub async fn fund_eth(
        &self,
        p: &ChannelParams,
        a: U256,
        b: U256,
    ) -> Result<(), ferry_adjudicator::Error> {
        let id = channel_id(p);
        self.client
            .deposit(self.tx[0], Address::ZERO, id, 0, U256::ZERO, a)
            .await?;
        self.client
            .deposit(self.tx[1], Address::ZERO, id, 1, a, b)
            .await?;
        Ok(())
    }
}
