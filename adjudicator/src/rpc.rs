//! `RpcChain`: any Ethereum JSON-RPC node (HTTP or WebSocket) through an alloy provider: anvil locally, any EVM
//! chain or rollup in production.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::Transaction as _;
use alloy::eips::BlockId;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{BlockNumberOrTag, Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;
use ferry_contracts::Artifact;

use crate::chain::{BlockInfo, Chain, ChainEvent, Receipt, TxRequest, decode_events};
use crate::error::ContractError;
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
    /// The Adjudicator to attach to; `None` deploys a fresh one from the first account, followed by the bundled
    /// apps that are not given below.
    pub adjudicator: Option<Address>,
    /// The payment app to use (deployed with a fresh Adjudicator when `None`).
    pub payment_app: Option<Address>,
    /// The rock-paper-scissors app to use (deployed with a fresh Adjudicator when `None`).
    pub rock_paper_scissors: Option<Address>,
    /// Blocks a transaction's block needs on top of it, itself included, before its receipt counts and its events
    /// are streamed (1 = mined).
    pub confirmations: u64,
    /// How often to poll for new blocks.
    pub poll_interval: Duration,
    /// How long to wait for a transaction to be mined and confirmed.
    pub receipt_timeout: Duration,
    /// A transaction not mined this long after it was sent is sent again with the same nonce and fees a quarter
    /// higher (a node's pool takes a replacement that pays at least a tenth more), and again after as long, until
    /// one of them is mined or `receipt_timeout` passes.
    pub replace_after: Duration,
    /// The most blocks one `eth_getLogs` request spans (public nodes cap it); longer ranges are split.
    pub max_log_range: u64,
}

/// Chain ids of local development chains (anvil, hardhat, ganache): one block is final there.
pub const DEV_CHAIN_IDS: [u64; 2] = [31_337, 1_337];

/// Confirmations on any other chain: a reorg this deep has not happened on Ethereum since the Merge.
pub const PUBLIC_CONFIRMATIONS: u64 = 12;

impl RpcConfig {
    /// The confirmations a chain needs by default: 1 on a local development chain ([`DEV_CHAIN_IDS`]),
    /// [`PUBLIC_CONFIRMATIONS`] on any other. An event is acted on only once its block is that deep, so a reorg
    /// shallower than this changes nothing a node did.
    pub fn default_confirmations(chain_id: u64) -> u64 {
        if DEV_CHAIN_IDS.contains(&chain_id) {
            1
        } else {
            PUBLIC_CONFIRMATIONS
        }
    }

    /// A config with the confirmations that suit the chain ([`RpcConfig::default_confirmations`]), 100 ms polling,
    /// a two-minute receipt timeout and stuck transactions replaced after 30 s, deploying a fresh Adjudicator and
    /// the bundled apps.
    pub fn new(url: impl Into<String>, chain_id: u64, keys: Vec<B256>) -> Self {
        Self {
            url: url.into(),
            chain_id,
            keys,
            adjudicator: None,
            payment_app: None,
            rock_paper_scissors: None,
            confirmations: Self::default_confirmations(chain_id),
            poll_interval: Duration::from_millis(100),
            receipt_timeout: Duration::from_secs(120),
            replace_after: Duration::from_secs(30),
            max_log_range: 10_000,
        }
    }
}

/// A chain reached over JSON-RPC.
#[derive(Debug, Clone)]
pub struct RpcChain {
    provider: DynProvider,
    chain_id: u64,
    adjudicator: Address,
    contracts: HashMap<Artifact, Address>,
    accounts: Vec<Address>,
    /// One lock per account, held from nonce assignment until the node accepted the transaction, so concurrent
    /// sends from one account get distinct nonces.
    send_locks: HashMap<Address, Arc<tokio::sync::Mutex<()>>>,
    confirmations: u64,
    poll_interval: Duration,
    receipt_timeout: Duration,
    replace_after: Duration,
    max_log_range: u64,
}

/// Maps a JSON-RPC failure: reverts with their data, out of gas, transport failures as [`Error::Unreachable`].
fn rpc_error(e: RpcError<TransportErrorKind>) -> Error {
    if let Some(payload) = e.as_error_resp() {
        if let Some(data) = payload.as_revert_data() {
            return Error::reverted(data);
        }
        let msg = payload.message.to_string();
        if msg.contains("out of gas") || msg.contains("gas required exceeds") {
            return Error::OutOfGas { gas_limit: 0 };
        }
        if msg.contains("revert") {
            return Error::Reverted {
                reason: msg,
                error: Box::new(ContractError::Unknown(Bytes::new())),
                data: Bytes::new(),
            };
        }
        if msg.contains("nonce")
            || msg.contains("intrinsic gas")
            || msg.contains("insufficient funds")
        {
            return Error::InvalidTransaction(msg);
        }
        return Error::Node(msg);
    }
    match e {
        RpcError::Transport(kind) => Error::Unreachable(kind.to_string()),
        other => Error::Node(other.to_string()),
    }
}

impl RpcChain {
    /// Connects, checks the node's chain id ([`Error::WrongChainId`]), and attaches to (or deploys) the
    /// Adjudicator and the bundled apps. A node that does not answer is [`Error::Unreachable`].
    pub async fn connect(config: RpcConfig) -> Result<Self> {
        let mut signers = config.keys.iter().map(|k| {
            PrivateKeySigner::from_bytes(k)
                .map_err(|e| Error::Config(format!("bad private key: {e}")))
        });
        let first = signers
            .next()
            .ok_or_else(|| Error::Config("an RPC chain needs at least one key".into()))??;
        let mut accounts = vec![first.address()];
        let mut wallet = EthereumWallet::from(first);
        for s in signers {
            let s = s?;
            accounts.push(s.address());
            wallet.register_signer(s);
        }
        // Nonces are fetched from the node (pending tag) for every transaction: a locally cached nonce would drift
        // after a transaction that fails gas estimation (a revert) and leave the account behind a nonce gap.
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
        let send_locks = accounts
            .iter()
            .map(|a| (*a, Arc::new(tokio::sync::Mutex::new(()))))
            .collect();
        let mut chain = Self {
            provider,
            chain_id: actual,
            adjudicator: Address::ZERO,
            contracts: HashMap::new(),
            accounts,
            send_locks,
            confirmations: config.confirmations.max(1),
            poll_interval: config.poll_interval,
            receipt_timeout: config.receipt_timeout,
            replace_after: config.replace_after.max(Duration::from_millis(1)),
            max_log_range: config.max_log_range.max(1),
        };
        let fresh = config.adjudicator.is_none();
        for (artifact, given) in [
            (Artifact::Adjudicator, config.adjudicator),
            (Artifact::PaymentApp, config.payment_app),
            (Artifact::RockPaperScissors, config.rock_paper_scissors),
        ] {
            let address = match given {
                Some(a) => {
                    let code = chain.provider.get_code_at(a).await.map_err(rpc_error)?;
                    if code.is_empty() {
                        return Err(Error::Config(format!(
                            "no contract at the {} address {a}",
                            artifact.name()
                        )));
                    }
                    a
                }
                None if fresh => {
                    let from = chain.accounts[0];
                    chain
                        .deploy(from, artifact.bytecode()?)
                        .await?
                        .contract_address
                        .ok_or_else(|| Error::Node("deployment created no contract".into()))?
                }
                None => continue,
            };
            chain.contracts.insert(artifact, address);
        }
        chain.adjudicator = chain
            .contracts
            .get(&Artifact::Adjudicator)
            .copied()
            .unwrap_or_default();
        Ok(chain)
    }

    /// The provider, for anything the trait does not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Asks a development node (anvil) to mine a block now (`evm_mine`).
    pub async fn mine(&self) -> Result<()> {
        self.provider
            .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
            .await
            .map_err(|_| Error::Unsupported("the node cannot mine on demand (evm_mine)"))?;
        Ok(())
    }

    /// Sends `req` from `from` and waits for its receipt with the configured confirmations, replacing it with
    /// higher fees while it is not mined ([`RpcConfig::replace_after`]). The nonce, gas limit and fees are fixed
    /// here, under the account's lock, so concurrent sends from one account get consecutive nonces and a
    /// replacement is the same transaction at a higher price. A call that would revert fails here, at the gas
    /// estimate, and is never sent.
    async fn submit(&self, from: Address, mut req: TransactionRequest) -> Result<Receipt> {
        let lock = self
            .send_locks
            .get(&from)
            .ok_or(Error::UnknownSender(from))?
            .clone();
        let mut sent = {
            let _guard = lock.lock().await;
            let nonce = self
                .provider
                .get_transaction_count(from)
                .pending()
                .await
                .map_err(rpc_error)?;
            req.set_nonce(nonce);
            if req.gas.is_none() {
                let gas = self
                    .provider
                    .estimate_gas(req.clone())
                    .await
                    .map_err(rpc_error)?;
                req.set_gas_limit(gas);
            }
            let fees = self
                .provider
                .estimate_eip1559_fees()
                .await
                .map_err(rpc_error)?;
            req.set_max_fee_per_gas(fees.max_fee_per_gas);
            req.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            let pending = self
                .provider
                .send_transaction(req.clone())
                .await
                .map_err(rpc_error)?;
            vec![*pending.tx_hash()]
        };
        let receipt = self.mined(&mut req, &mut sent).await?;
        let block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            return Err(self.explain_failure(req, &receipt).await);
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
            logs,
            contract_address: receipt.contract_address,
        })
    }

    /// Waits until one of the transactions `sent` (one nonce, rising fees) is mined with the configured
    /// confirmations, sending `req` again with fees a quarter higher whenever none was mined for `replace_after`.
    async fn mined(
        &self,
        req: &mut TransactionRequest,
        sent: &mut Vec<B256>,
    ) -> Result<alloy::rpc::types::TransactionReceipt> {
        let started = tokio::time::Instant::now();
        let mut last_sent = started;
        loop {
            let mut mined = false;
            for hash in sent.iter().rev() {
                let Some(receipt) = self
                    .provider
                    .get_transaction_receipt(*hash)
                    .await
                    .map_err(rpc_error)?
                else {
                    continue;
                };
                mined = true;
                let block = receipt.block_number.unwrap_or_default();
                let head = self.provider.get_block_number().await.map_err(rpc_error)?;
                if head + 1 >= block + self.confirmations {
                    return Ok(receipt);
                }
            }
            if started.elapsed() >= self.receipt_timeout {
                return Err(Error::Timeout(format!(
                    "no receipt for {} after {:?} ({} sent)",
                    sent.last().copied().unwrap_or_default(),
                    self.receipt_timeout,
                    sent.len()
                )));
            }
            if !mined && last_sent.elapsed() >= self.replace_after {
                let bump = |fee: Option<u128>| fee.unwrap_or_default().saturating_mul(5) / 4 + 1;
                let max_fee = bump(req.max_fee_per_gas);
                let tip = bump(req.max_priority_fee_per_gas).min(max_fee);
                req.set_max_fee_per_gas(max_fee);
                req.set_max_priority_fee_per_gas(tip);
                last_sent = tokio::time::Instant::now();
                match self.provider.send_transaction(req.clone()).await {
                    Ok(pending) => {
                        tracing::info!(from = ?req.from, nonce = ?req.nonce, max_fee, "stuck transaction replaced with a higher fee");
                        sent.push(*pending.tx_hash());
                    }
                    // An earlier one of them was mined meanwhile (nonce too low) or the pool wants more: the next
                    // round sees the receipt, or bumps again.
                    Err(e) => tracing::debug!(error = %e, "replacement not taken"),
                }
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// Why a mined transaction failed: out of gas when it used all its gas, otherwise the revert it gives when
    /// replayed on the state before its block.
    async fn explain_failure(
        &self,
        req: TransactionRequest,
        receipt: &alloy::rpc::types::TransactionReceipt,
    ) -> Error {
        let gas_limit = match self
            .provider
            .get_transaction_by_hash(receipt.transaction_hash)
            .await
        {
            Ok(Some(tx)) => tx.inner.gas_limit(),
            _ => req.gas.unwrap_or_default(),
        };
        if gas_limit != 0 && receipt.gas_used >= gas_limit {
            return Error::OutOfGas { gas_limit };
        }
        let before = receipt.block_number.unwrap_or_default().saturating_sub(1);
        match self
            .provider
            .call(req)
            .block(BlockId::number(before))
            .await
            .map_err(rpc_error)
        {
            Err(e @ Error::Reverted { .. }) => e,
            _ => Error::Reverted {
                reason: "reverted on-chain".into(),
                error: Box::new(ContractError::Unknown(Bytes::new())),
                data: Bytes::new(),
            },
        }
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

    fn deployed(&self, artifact: Artifact) -> Option<Address> {
        self.contracts.get(&artifact).copied()
    }

    fn accounts(&self) -> Vec<Address> {
        self.accounts.clone()
    }

    fn confirmations(&self) -> u64 {
        self.confirmations
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        let mut req = TransactionRequest::default()
            .with_from(tx.from)
            .with_to(tx.to)
            .with_input(tx.data)
            .with_value(tx.value);
        if let Some(gas) = tx.gas_limit {
            req.set_gas_limit(gas);
        }
        self.submit(tx.from, req).await
    }

    async fn deploy(&self, from: Address, code: Bytes) -> Result<Receipt> {
        let req = TransactionRequest::default()
            .with_from(from)
            .with_deploy_code(code);
        let receipt = self.submit(from, req).await?;
        if receipt.contract_address.is_none() {
            return Err(Error::Node("deployment created no contract".into()));
        }
        Ok(receipt)
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
            hash: block.header.hash,
        })
    }

    async fn block(&self, number: u64) -> Result<BlockInfo> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(rpc_error)?
            .ok_or_else(|| Error::Node(format!("no block {number}")))?;
        Ok(BlockInfo {
            number: block.header.number,
            timestamp: block.header.timestamp,
            hash: block.header.hash,
        })
    }

    async fn balance(&self, who: Address) -> Result<U256> {
        self.provider.get_balance(who).await.map_err(rpc_error)
    }

    async fn events_between(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>> {
        let mut out = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(self.max_log_range - 1));
            let filter = Filter::new()
                .address(self.adjudicator)
                .from_block(start)
                .to_block(end);
            let logs = self.provider.get_logs(&filter).await.map_err(rpc_error)?;
            for log in logs {
                if log.removed {
                    continue;
                }
                let block = log.block_number.unwrap_or_default();
                let index = log.log_index.unwrap_or_default();
                out.extend(decode_events(
                    self.adjudicator,
                    block,
                    index,
                    std::slice::from_ref(&log.inner),
                )?);
            }
            match end.checked_add(1) {
                Some(next) => start = next,
                None => break,
            }
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
        self.mine().await
    }
}
