//! `RpcChain`: any Ethereum JSON-RPC node (HTTP or WebSocket) through an alloy provider: anvil locally, any EVM
//! chain or rollup in production.

use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{BlockNumberOrTag, Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;
use ferry_contracts::Artifact;

use crate::chain::{BlockInfo, Chain, ChainEvent, Receipt, TxRequest, decode_events};
use crate::{Error, Result};

/// How to reach and use a JSON-RPC chain.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// `http://…`, `https://…`, `ws://…` or `wss://…`.
    pub url: String,
    /// The chain id the node must report.
    pub chain_id: u64,
    /// Private keys of the accounts that send transactions.
    pub keys: Vec<B256>,
    /// The Adjudicator to attach to; `None` deploys a fresh one from the first account.
    pub adjudicator: Option<Address>,
    /// Blocks to wait on top of a transaction's block before its receipt counts (1 = mined).
    pub confirmations: u64,
    /// How often to poll for new blocks.
    pub poll_interval: Duration,
}

impl RpcConfig {
    /// A config with one confirmation and 100 ms polling.
    pub fn new(url: impl Into<String>, chain_id: u64, keys: Vec<B256>) -> Self {
        Self {
            url: url.into(),
            chain_id,
            keys,
            adjudicator: None,
            confirmations: 1,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// A chain reached over JSON-RPC.
#[derive(Debug, Clone)]
pub struct RpcChain {
    provider: DynProvider,
    chain_id: u64,
    adjudicator: Address,
    accounts: Vec<Address>,
    confirmations: u64,
    poll_interval: Duration,
}

fn rpc_error(e: RpcError<TransportErrorKind>) -> Error {
    if let Some(payload) = e.as_error_resp() {
        if let Some(data) = payload.as_revert_data() {
            return Error::reverted(data);
        }
        let msg = payload.message.to_string();
        if msg.contains("out of gas") || msg.contains("gas required exceeds") {
            return Error::Halted(msg);
        }
        if msg.contains("revert") {
            return Error::Reverted {
                reason: msg,
                data: Bytes::new(),
            };
        }
        return Error::Node(msg);
    }
    match e {
        RpcError::Transport(kind) => Error::Unreachable(kind.to_string()),
        other => Error::Node(other.to_string()),
    }
}

impl RpcChain {
    /// Connects, checks the node's chain id, and attaches to (or deploys) the Adjudicator.
    pub async fn connect(config: RpcConfig) -> Result<Self> {
        let mut signers = config.keys.iter().map(|k| {
            PrivateKeySigner::from_bytes(k)
                .map_err(|e| Error::Node(format!("bad private key: {e}")))
        });
        let first = signers
            .next()
            .ok_or(Error::Unsupported("an RPC chain needs at least one key"))??;
        let mut accounts = vec![first.address()];
        let mut wallet = EthereumWallet::from(first);
        for s in signers {
            let s = s?;
            accounts.push(s.address());
            wallet.register_signer(s);
        }
        // Nonces are fetched from the node for every transaction: a locally cached nonce would drift after a
        // transaction that fails gas estimation (a revert) and leave the account stuck behind a nonce gap.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(wallet)
            .connect(&config.url)
            .await
            .map_err(|e| Error::Unreachable(format!("{}: {e}", config.url)))?
            .erased();
        let actual = provider.get_chain_id().await.map_err(rpc_error)?;
        if actual != config.chain_id {
            return Err(Error::WrongChainId {
                expected: config.chain_id,
                actual,
            });
        }
        let mut chain = Self {
            provider,
            chain_id: actual,
            adjudicator: Address::ZERO,
            accounts,
            confirmations: config.confirmations.max(1),
            poll_interval: config.poll_interval,
        };
        chain.adjudicator = match config.adjudicator {
            Some(a) => {
                let code = chain.provider.get_code_at(a).await.map_err(rpc_error)?;
                if code.is_empty() {
                    return Err(Error::Node(format!(
                        "no contract at adjudicator address {a}"
                    )));
                }
                a
            }
            None => {
                chain
                    .deploy(chain.accounts[0], Artifact::Adjudicator.bytecode()?)
                    .await?
            }
        };
        Ok(chain)
    }

    /// The provider, for anything the trait does not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    async fn submit(&self, req: TransactionRequest) -> Result<Receipt> {
        let pending = self
            .provider
            .send_transaction(req)
            .await
            .map_err(rpc_error)?;
        let receipt = pending
            .with_required_confirmations(self.confirmations)
            .with_timeout(Some(Duration::from_secs(120)))
            .get_receipt()
            .await
            .map_err(|e| Error::Node(e.to_string()))?;
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            return Err(Error::Reverted {
                reason: "reverted on-chain".into(),
                data: Bytes::new(),
            });
        }
        let logs: Vec<alloy::primitives::Log> = receipt
            .inner
            .logs()
            .iter()
            .map(|l| l.inner.clone())
            .collect();
        let first_index = receipt
            .inner
            .logs()
            .first()
            .and_then(|l| l.log_index)
            .unwrap_or_default();
        Ok(Receipt {
            tx_hash: receipt.transaction_hash,
            block,
            gas_used: receipt.gas_used,
            events: decode_events(self.adjudicator, block, first_index, &logs)?,
            contract_address: receipt.contract_address,
        })
    }
}

#[async_trait]
impl Chain for RpcChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn adjudicator(&self) -> Address {
        self.adjudicator
    }

    fn accounts(&self) -> Vec<Address> {
        self.accounts.clone()
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        if !self.accounts.contains(&tx.from) {
            return Err(Error::UnknownSender(tx.from));
        }
        let req = TransactionRequest::default()
            .with_from(tx.from)
            .with_to(tx.to)
            .with_input(tx.data)
            .with_value(tx.value);
        self.submit(req).await
    }

    async fn deploy(&self, from: Address, code: Bytes) -> Result<Address> {
        if !self.accounts.contains(&from) {
            return Err(Error::UnknownSender(from));
        }
        let req = TransactionRequest::default()
            .with_from(from)
            .with_deploy_code(code);
        self.submit(req)
            .await?
            .contract_address
            .ok_or_else(|| Error::Node("deployment created no contract".into()))
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes> {
        let req = TransactionRequest::default().with_to(to).with_input(data);
        self.provider.call(req).await.map_err(rpc_error)
    }

    async fn head(&self) -> Result<BlockInfo> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(rpc_error)?
            .ok_or_else(|| Error::Node("no latest block".into()))?;
        Ok(BlockInfo {
            number: block.header.number,
            timestamp: block.header.timestamp,
        })
    }

    async fn balance(&self, who: Address) -> Result<U256> {
        self.provider.get_balance(who).await.map_err(rpc_error)
    }

    async fn events_between(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>> {
        let filter = Filter::new()
            .address(self.adjudicator)
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(rpc_error)?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            let block = log.block_number.unwrap_or_default();
            let index = log.log_index.unwrap_or_default();
            out.extend(decode_events(
                self.adjudicator,
                block,
                index,
                std::slice::from_ref(&log.inner),
            )?);
        }
        Ok(out)
    }

    async fn wait_for_block(&self, after: u64, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.provider.get_block_number().await.map_err(rpc_error)? > after {
                return Ok(());
            }
            tokio::time::sleep(self.poll_interval).await;
        }
        Ok(())
    }

    async fn advance_time(&self, secs: u64) -> Result<()> {
        self.provider
            .raw_request::<_, serde_json::Value>("evm_increaseTime".into(), (secs,))
            .await
            .map_err(|_| Error::Unsupported("the node cannot move its clock (evm_increaseTime)"))?;
        self.provider
            .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
            .await
            .map_err(|_| Error::Unsupported("the node cannot mine on demand (evm_mine)"))?;
        Ok(())
    }
}
