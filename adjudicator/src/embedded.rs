//! `EmbeddedChain`: an Ethereum chain in-process on revm, with the Adjudicator and the bundled apps deployed at
//! start, funded test accounts, a clock the caller controls, and blocks mined per transaction (automine) or on
//! demand ([`EmbeddedChain::mine`]). Ferry's default chain: zero setup, and challenge windows can be tested without
//! waiting.
//!
//! Gas is counted exactly as a node counts it (revm's `tx_gas_used`: intrinsic gas, calldata, refunds, EIP-7623
//! floor) but not charged: the gas price and base fee are zero, so balances move only by value transfers.
//! Transactions are not signed; senders must be one of the chain's accounts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, Log, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use async_trait::async_trait;
use ferry_contracts::Artifact;
use revm::context::result::{ExecutionResult, HaltReason, Output};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::MainBuilder;
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{DatabaseCommit, DatabaseRef, ExecuteEvm, Journal};
use tokio::sync::{oneshot, watch};

use crate::chain::{BlockInfo, Chain, ChainEvent, Receipt, TxRequest, decode_events};
use crate::{Error, Result};

type Db = CacheDB<EmptyDB>;

/// Gas limit of an embedded transaction that does not set one (below the EIP-7825 per-transaction cap).
pub const TX_GAS_LIMIT: u64 = 16_000_000;
/// The block gas limit.
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;
/// The default chain id (the usual development chain id).
pub const DEFAULT_CHAIN_ID: u64 = 31_337;
/// ETH each test account starts with.
pub const ACCOUNT_FUNDS_ETH: u64 = 10_000;
/// The genesis block's timestamp.
pub const GENESIS_TIME: u64 = 1_700_000_000;
/// The hardfork the embedded EVM runs by default (what anvil runs by default).
pub const DEFAULT_SPEC: SpecId = SpecId::OSAKA;

/// The contracts deployed when an embedded chain starts, in this order, from the first account.
pub const BUNDLED: [Artifact; 3] = [
    Artifact::Adjudicator,
    Artifact::PaymentApp,
    Artifact::RockPaperScissors,
];

/// How to build an [`EmbeddedChain`]; start from [`EmbeddedChain::builder`].
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    chain_id: u64,
    accounts: usize,
    keys: Option<Vec<B256>>,
    genesis_time: u64,
    spec: SpecId,
    confirmations: u64,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            chain_id: DEFAULT_CHAIN_ID,
            accounts: 10,
            keys: None,
            genesis_time: GENESIS_TIME,
            spec: DEFAULT_SPEC,
            confirmations: 1,
        }
    }
}

impl EmbeddedConfig {
    /// The chain id (default 31337).
    pub fn chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = chain_id;
        self
    }

    /// The number of funded accounts, with keys derived deterministically (default 10; see
    /// [`EmbeddedChain::account_key`]).
    pub fn accounts(mut self, n: usize) -> Self {
        self.accounts = n;
        self
    }

    /// Uses these private keys for the funded accounts instead of derived ones (e.g. anvil's, to get the very
    /// same addresses on both chains).
    pub fn keys(mut self, keys: Vec<B256>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The genesis block's timestamp (default [`GENESIS_TIME`]).
    pub fn genesis_time(mut self, timestamp: u64) -> Self {
        self.genesis_time = timestamp;
        self
    }

    /// How many blocks make an event count for the nodes reading this chain (default 1: mined). With more, a
    /// node's view of the chain lags the head by `n - 1` blocks, as on a real chain with a finality depth; a
    /// transaction's receipt still comes when it is mined.
    pub fn confirmations(mut self, n: u64) -> Self {
        self.confirmations = n.max(1);
        self
    }

    /// The hardfork (default [`DEFAULT_SPEC`]).
    pub fn spec(mut self, spec: SpecId) -> Self {
        self.spec = spec;
        self
    }

    /// Starts the chain: funds the accounts and deploys the [`BUNDLED`] contracts in block 1.
    pub fn build(self) -> Result<EmbeddedChain> {
        EmbeddedChain::start(self)
    }
}

/// A sealed block.
struct Block {
    timestamp: u64,
    /// Every log of the block, in order.
    logs: Vec<Log>,
}

/// A transaction executed in the pending block, waiting for the block to be mined.
struct Waiting {
    receipt: Receipt,
    reply: oneshot::Sender<Receipt>,
}

/// The chain's state. revm's EVM is not `Send`, so only the database is kept; each transaction runs in a fresh
/// EVM over it.
struct Inner {
    db: Db,
    chain_id: u64,
    spec: SpecId,
    adjudicator: Address,
    /// Sealed blocks; the index is the block number.
    blocks: Vec<Block>,
    /// The pending block's timestamp (its number is `blocks.len()`).
    timestamp: u64,
    /// Logs of the transactions executed in the pending block.
    pending_logs: Vec<Log>,
    /// Their receipts, delivered when the block is mined.
    waiting: Vec<Waiting>,
    automine: bool,
    txs: u64,
}

/// An in-process chain on revm.
pub struct EmbeddedChain {
    inner: Mutex<Inner>,
    chain_id: u64,
    contracts: HashMap<Artifact, Address>,
    adjudicator: Address,
    keys: Vec<B256>,
    accounts: Vec<Address>,
    /// The head (latest sealed block number).
    head: watch::Sender<u64>,
    confirmations: u64,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedChain")
            .field("chain_id", &self.chain_id)
            .field("adjudicator", &self.adjudicator)
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

impl EmbeddedChain {
    /// A chain with id 31337 and 10 funded accounts.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A chain with the given id and `n` funded accounts.
    pub fn with_accounts(chain_id: u64, n: usize) -> Result<Self> {
        Self::builder().chain_id(chain_id).accounts(n).build()
    }

    /// A builder, with the defaults of [`EmbeddedChain::new`].
    pub fn builder() -> EmbeddedConfig {
        EmbeddedConfig::default()
    }

    /// The private key of derived account `i`: `keccak256("ferry embedded account {i}")`.
    pub fn account_key(i: usize) -> B256 {
        keccak256(format!("ferry embedded account {i}"))
    }

    fn start(config: EmbeddedConfig) -> Result<Self> {
        let keys = config.keys.unwrap_or_else(|| {
            (0..config.accounts)
                .map(EmbeddedChain::account_key)
                .collect()
        });
        let accounts = keys
            .iter()
            .map(|k| {
                PrivateKeySigner::from_bytes(k)
                    .map(|s| s.address())
                    .map_err(|e| Error::Config(format!("bad private key: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let deployer = *accounts
            .first()
            .ok_or_else(|| Error::Config("an embedded chain needs at least one account".into()))?;
        let mut db = CacheDB::new(EmptyDB::default());
        for a in &accounts {
            db.insert_account_info(*a, AccountInfo::from_balance(eth(ACCOUNT_FUNDS_ETH)));
        }
        let mut inner = Inner {
            db,
            chain_id: config.chain_id,
            spec: config.spec,
            adjudicator: Address::ZERO,
            blocks: vec![Block {
                timestamp: config.genesis_time,
                logs: vec![],
            }],
            timestamp: config.genesis_time.saturating_add(1),
            pending_logs: vec![],
            waiting: vec![],
            automine: true,
            txs: 0,
        };
        let mut contracts = HashMap::new();
        for artifact in BUNDLED {
            let receipt = inner.execute(
                deployer,
                TxKind::Create,
                artifact.bytecode()?,
                U256::ZERO,
                None,
            )?;
            let address = receipt.contract_address.ok_or_else(|| {
                Error::Node(format!("deploying {} created no contract", artifact.name()))
            })?;
            contracts.insert(artifact, address);
        }
        let adjudicator = contracts
            .get(&Artifact::Adjudicator)
            .copied()
            .unwrap_or_default();
        inner.adjudicator = adjudicator;
        let head = inner.seal();
        let (head, _) = watch::channel(head);
        Ok(Self {
            inner: Mutex::new(inner),
            chain_id: config.chain_id,
            contracts,
            adjudicator,
            keys,
            accounts,
            head,
            confirmations: config.confirmations,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every change under the lock is a single commit or push, so a poisoned lock holds consistent state.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state and announces the new head if it moved.
    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let (out, head) = {
            let mut inner = self.lock();
            let out = f(&mut inner);
            (out, inner.head())
        };
        self.head.send_if_modified(|h| {
            let moved = *h != head;
            *h = head;
            moved
        });
        out
    }

    /// The accounts' private keys, in the order of [`Chain::accounts`].
    pub fn keys(&self) -> &[B256] {
        &self.keys
    }

    /// Adds `amount` wei to an account (any address).
    pub fn fund(&self, who: Address, amount: U256) {
        self.with_inner(|inner| {
            let mut info = inner.db.basic_ref(who).ok().flatten().unwrap_or_default();
            info.balance = info.balance.saturating_add(amount);
            inner.db.insert_account_info(who, info);
        })
    }

    /// Mines the pending block (with the transactions sent since the last block, possibly none) and returns its
    /// number.
    pub fn mine(&self) -> u64 {
        self.with_inner(Inner::seal)
    }

    /// Whether every transaction is mined in its own block at once (the default). When off, transactions run in
    /// the pending block as they come and [`Chain::send`] returns when [`EmbeddedChain::mine`] seals it. Turning
    /// it back on mines the pending transactions.
    pub fn set_automine(&self, on: bool) {
        self.with_inner(|inner| {
            inner.automine = on;
            if on && !inner.waiting.is_empty() {
                inner.seal();
            }
        })
    }

    /// Sets the clock: mines any pending transactions, then an empty block with timestamp `timestamp` (or one
    /// second after the head if that is later: time never goes back). Returns the new head.
    pub fn set_time(&self, timestamp: u64) -> BlockInfo {
        self.with_inner(|inner| {
            inner.seal_if_pending();
            inner.timestamp = inner.timestamp.max(timestamp);
            inner.seal();
            inner.head_info()
        })
    }

    /// The head block with its timestamp, synchronously.
    pub fn head_info(&self) -> BlockInfo {
        self.lock().head_info()
    }
}

/// A block of the embedded chain, with a hash derived from its number and timestamp (the chain never reorganizes).
fn block_info(number: u64, timestamp: u64) -> BlockInfo {
    let mut preimage = [0u8; 16];
    preimage[..8].copy_from_slice(&number.to_be_bytes());
    preimage[8..].copy_from_slice(&timestamp.to_be_bytes());
    BlockInfo {
        number,
        timestamp,
        hash: alloy::primitives::keccak256(preimage),
    }
}

impl Inner {
    fn head(&self) -> u64 {
        (self.blocks.len() as u64).saturating_sub(1)
    }

    fn head_info(&self) -> BlockInfo {
        let number = self.head();
        block_info(
            number,
            self.blocks.last().map(|b| b.timestamp).unwrap_or_default(),
        )
    }

    /// Seals the pending block, delivers its receipts, opens the next one (one second later) and returns the
    /// sealed block's number.
    fn seal(&mut self) -> u64 {
        let number = self.blocks.len() as u64;
        self.blocks.push(Block {
            timestamp: self.timestamp,
            logs: std::mem::take(&mut self.pending_logs),
        });
        self.timestamp = self.timestamp.saturating_add(1);
        for w in self.waiting.drain(..) {
            // The sender may have stopped waiting; the transaction is mined all the same.
            let _ = w.reply.send(w.receipt);
        }
        number
    }

    fn seal_if_pending(&mut self) {
        if !self.waiting.is_empty() || !self.pending_logs.is_empty() {
            self.seal();
        }
    }

    fn nonce(&self, who: Address) -> u64 {
        self.db
            .basic_ref(who)
            .ok()
            .flatten()
            .map(|a| a.nonce)
            .unwrap_or(0)
    }

    /// Runs a transaction (or a call, when `commit` is off) in the pending block; commits its state only if it
    /// succeeds and `commit` is set.
    fn run(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        gas_limit: u64,
        commit: bool,
    ) -> Result<ExecutionResult> {
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .value(value)
            .gas_limit(gas_limit)
            .gas_price(0)
            .nonce(self.nonce(from))
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| Error::InvalidTransaction(format!("{e:?}")))?;
        let (chain_id, number, timestamp) =
            (self.chain_id, self.blocks.len() as u64, self.timestamp);
        let db = std::mem::replace(&mut self.db, CacheDB::new(EmptyDB::default()));
        let mut evm = Context::<BlockEnv, TxEnv, CfgEnv, Db, Journal<Db>, ()>::new(db, self.spec)
            .modify_cfg_chained(|cfg| {
                cfg.chain_id = chain_id;
                cfg.disable_nonce_check = !commit;
            })
            .modify_block_chained(|b: &mut BlockEnv| {
                b.number = U256::from(number);
                b.timestamp = U256::from(timestamp);
                b.basefee = 0;
                b.gas_limit = BLOCK_GAS_LIMIT;
            })
            .build_mainnet();
        let out = evm.transact(tx);
        let mut db = std::mem::replace(
            &mut evm.ctx.journaled_state.database,
            CacheDB::new(EmptyDB::default()),
        );
        let result = match out {
            Ok(out) => {
                if commit && out.result.is_success() {
                    db.commit(out.state);
                }
                Ok(out.result)
            }
            Err(e) => Err(Error::InvalidTransaction(format!("{e:?}"))),
        };
        self.db = db;
        result
    }

    /// Executes a transaction in the pending block and commits it if it succeeds; the receipt names the pending
    /// block, which the caller seals (or leaves open to batch more transactions).
    fn execute(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        gas_limit: Option<u64>,
    ) -> Result<Receipt> {
        let gas_limit = gas_limit.unwrap_or(TX_GAS_LIMIT);
        match self.run(from, kind, data, value, gas_limit, true)? {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => {
                let contract_address = match output {
                    Output::Create(_, addr) => addr,
                    Output::Call(_) => None,
                };
                self.txs += 1;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&self.chain_id.to_be_bytes());
                id[8..].copy_from_slice(&self.txs.to_be_bytes());
                let block = self.blocks.len() as u64;
                let first_index = self.pending_logs.len() as u64;
                let events = decode_events(self.adjudicator, block, first_index, &logs)?;
                self.pending_logs.extend(logs.iter().cloned());
                Ok(Receipt {
                    tx_hash: keccak256(id),
                    block,
                    gas_used: gas.tx_gas_used(),
                    events,
                    logs,
                    contract_address,
                })
            }
            ExecutionResult::Revert { output, .. } => Err(Error::reverted(output)),
            ExecutionResult::Halt {
                reason: HaltReason::OutOfGas(_),
                ..
            } => Err(Error::OutOfGas { gas_limit }),
            ExecutionResult::Halt { reason, .. } => Err(Error::Halted(format!("{reason:?}"))),
        }
    }
}

impl EmbeddedChain {
    async fn submit(&self, from: Address, kind: TxKind, tx: TxRequest) -> Result<Receipt> {
        if !self.accounts.contains(&from) {
            return Err(Error::UnknownSender(from));
        }
        enum Submitted {
            Mined(Receipt),
            Pending(oneshot::Receiver<Receipt>),
        }
        let submitted = self.with_inner(|inner| {
            let receipt = inner.execute(from, kind, tx.data, tx.value, tx.gas_limit)?;
            if inner.automine {
                inner.seal();
                return Ok(Submitted::Mined(receipt));
            }
            let (reply, rx) = oneshot::channel();
            inner.waiting.push(Waiting { receipt, reply });
            Ok::<_, Error>(Submitted::Pending(rx))
        })?;
        match submitted {
            Submitted::Mined(receipt) => Ok(receipt),
            Submitted::Pending(rx) => rx
                .await
                .map_err(|_| Error::Node("the embedded chain was dropped before mining".into())),
        }
    }
}

#[async_trait]
impl Chain for EmbeddedChain {
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
        self.submit(tx.from, TxKind::Call(tx.to), tx).await
    }

    async fn deploy(&self, from: Address, code: Bytes) -> Result<Receipt> {
        let tx = TxRequest::new(from, Address::ZERO, code);
        let receipt = self.submit(from, TxKind::Create, tx).await?;
        if receipt.contract_address.is_none() {
            return Err(Error::Node("deployment created no contract".into()));
        }
        Ok(receipt)
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes> {
        let result = self.lock().run(
            Address::ZERO,
            TxKind::Call(to),
            data,
            U256::ZERO,
            TX_GAS_LIMIT,
            false,
        )?;
        match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(Error::reverted(output)),
            ExecutionResult::Halt {
                reason: HaltReason::OutOfGas(_),
                ..
            } => Err(Error::OutOfGas {
                gas_limit: TX_GAS_LIMIT,
            }),
            ExecutionResult::Halt { reason, .. } => Err(Error::Halted(format!("{reason:?}"))),
        }
    }

    async fn head(&self) -> Result<BlockInfo> {
        Ok(self.head_info())
    }

    async fn block(&self, number: u64) -> Result<BlockInfo> {
        let inner = self.lock();
        let b = inner
            .blocks
            .get(usize::try_from(number).unwrap_or(usize::MAX))
            .ok_or_else(|| Error::Node(format!("no block {number}")))?;
        Ok(block_info(number, b.timestamp))
    }

    async fn balance(&self, who: Address) -> Result<U256> {
        let inner = self.lock();
        Ok(inner
            .db
            .basic_ref(who)
            .ok()
            .flatten()
            .map(|a| a.balance)
            .unwrap_or_default())
    }

    async fn events_between(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>> {
        let inner = self.lock();
        let mut out = Vec::new();
        let last = to.min(inner.head());
        for block in from..=last {
            if let Some(b) = inner.blocks.get(block as usize) {
                out.extend(decode_events(self.adjudicator, block, 0, &b.logs)?);
            }
        }
        Ok(out)
    }

    async fn wait_for_block(&self, after: u64, timeout: Duration) -> Result<()> {
        let mut rx = self.head.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|head| *head > after)).await;
        Ok(())
    }

    async fn advance_time(&self, secs: u64) -> Result<()> {
        self.with_inner(|inner| {
            inner.seal_if_pending();
            let last = inner.head_info().timestamp;
            inner.timestamp = inner.timestamp.max(last.saturating_add(secs));
            inner.seal();
        });
        Ok(())
    }
}
