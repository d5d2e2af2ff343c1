//! A chain (embedded or anvil), a client, deterministic channel keys, and a gas log.

use std::future::Future;
use std::sync::{Arc, Mutex};

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use ferry_adjudicator::{
    AdjudicatorClient, Chain, EmbeddedChain, Error, Receipt, RpcChain, RpcConfig,
};
use ferry_contracts::{ChannelParams, Signature, State, channel_id};
use ferry_ledger::Signer;
use ferry_ledger::channel::{funded_asset, ledger_params, sign_all, state, virtual_params};
use ferry_ledger::support::ChainContext;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

/// How many of the chain's accounts the tests send from.
const SENDERS: usize = 4;

/// A chain, a client, and channel keys. Alice, the hub and Bob are keys only (their addresses receive payouts and
/// start empty); Carol is also the chain's account `tx[3]`, so she can send transactions herself.
pub struct Harness {
    pub chain: Arc<dyn Chain>,
    pub client: AdjudicatorClient,
    pub ctx: ChainContext,
    pub alice: Signer,
    pub hub: Signer,
    pub bob: Signer,
    pub carol: Signer,
    /// Transaction senders (the chain's first accounts).
    pub tx: Vec<Address>,
    /// Channel nonces are counted, not random, so a scenario sends the very same bytes on every backend.
    nonce: Mutex<u64>,
    /// `(label, gas used)` of every transaction recorded with [`Harness::rec`].
    pub gas: Mutex<Vec<(&'static str, u64)>>,
}

pub fn anvil_path() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin/anvil");
    assert!(
        p.exists(),
        "anvil is missing at {}: run `npm ci` at the repository root (it installs @foundry-rs/anvil)",
        p.display()
    );
    p
}

/// anvil on a free loopback port (the OS picks it), killed when the instance is dropped.
pub fn spawn_anvil() -> Result<AnvilInstance, BoxError> {
    Ok(Anvil::at(anvil_path())
        .host("127.0.0.1")
        .port(0u16)
        .chain_id(31337u64)
        .try_spawn()?)
}

/// The first [`SENDERS`] of anvil's funded keys.
pub fn anvil_keys(anvil: &AnvilInstance) -> Vec<B256> {
    anvil
        .keys()
        .iter()
        .take(SENDERS)
        .map(|k| B256::from_slice(&k.to_bytes()))
        .collect()
}

fn key(name: &str) -> Result<Signer, BoxError> {
    Ok(Signer::from_bytes(&keccak256(format!(
        "ferry test key {name}"
    )))?)
}

impl Harness {
    pub fn with(chain: Arc<dyn Chain>, keys: &[B256]) -> Result<Self, BoxError> {
        let ctx = ChainContext {
            chain_id: chain.chain_id(),
            adjudicator: chain.adjudicator(),
        };
        let tx = chain.accounts();
        let carol_key = keys.get(3).ok_or("the harness needs four accounts")?;
        let carol = Signer::from_bytes(carol_key)?;
        assert_eq!(carol.address(), tx[3]);
        Ok(Harness {
            client: AdjudicatorClient::new(chain.clone()),
            chain,
            ctx,
            alice: key("alice")?,
            hub: key("hub")?,
            bob: key("bob")?,
            carol,
            tx,
            nonce: Mutex::new(0),
            gas: Mutex::new(vec![]),
        })
    }

    pub fn embedded() -> Result<Self, BoxError> {
        let chain = EmbeddedChain::new()?;
        let keys = chain.keys().to_vec();
        Self::with(Arc::new(chain), &keys)
    }

    /// An embedded chain with anvil's keys: the same accounts, hence the same contract addresses.
    pub fn embedded_like(anvil: &AnvilInstance) -> Result<Self, BoxError> {
        let keys = anvil_keys(anvil);
        let chain = EmbeddedChain::builder().keys(keys.clone()).build()?;
        Self::with(Arc::new(chain), &keys)
    }

    pub async fn on_anvil(anvil: &AnvilInstance) -> Result<Self, BoxError> {
        let keys = anvil_keys(anvil);
        let chain =
            RpcChain::connect(RpcConfig::new(anvil.endpoint(), 31337, keys.clone())).await?;
        Self::with(Arc::new(chain), &keys)
    }

    fn next_nonce(&self) -> U256 {
        let mut n = self.nonce.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        U256::from(*n)
    }

    /// A ledger channel between `a` and `b` with a 600 s challenge duration.
    pub fn ledger(&self, a: &Signer, b: &Signer) -> ChannelParams {
        let mut p = ledger_params(&self.ctx, a.address(), b.address(), 600);
        p.nonce = self.next_nonce();
        p
    }

    /// A virtual channel over `path` and its ledgers.
    pub fn virtual_channel(
        &self,
        path: &[&Signer],
        hops: Vec<B256>,
        app: Address,
        max_moves: u64,
    ) -> ChannelParams {
        let path = path.iter().map(|s| s.address()).collect();
        let mut p = virtual_params(&self.ctx, path, hops, app, 600, max_moves);
        p.nonce = self.next_nonce();
        p
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

    /// Awaits a transaction and logs its gas under `label`.
    pub async fn rec(
        &self,
        label: &'static str,
        tx: impl Future<Output = Result<Receipt, Error>>,
    ) -> Result<Receipt, Error> {
        let r = tx.await?;
        self.gas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((label, r.gas_used));
        Ok(r)
    }

    /// Deposits ETH for both participants in order (each expecting its own cumulative deposit, none yet: S16).
    pub async fn fund_eth(&self, p: &ChannelParams, a: U256, b: U256) -> Result<(), Error> {
        let id = channel_id(p);
        self.rec(
            "deposit ETH (first)",
            self.client
                .deposit(self.tx[0], Address::ZERO, id, 0, U256::ZERO, a),
        )
        .await?;
        self.rec(
            "deposit ETH (second)",
            self.client
                .deposit(self.tx[1], Address::ZERO, id, 1, U256::ZERO, b),
        )
        .await?;
        Ok(())
    }
}

/// Asserts that `result` is a revert named `name`.
pub fn assert_reverts<T: std::fmt::Debug>(result: Result<T, Error>, name: &str) {
    match result {
        Err(e) if e.revert_name() == Some(name) => {}
        other => panic!("expected a {name} revert, got {other:?}"),
    }
}
