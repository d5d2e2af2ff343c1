//! `EmbeddedChain`: an Ethereum chain in-process on revm, with the Adjudicator deployed at start, funded test
//! accounts, one block per transaction and a clock the caller controls. Ferry's default chain: zero setup, and
//! challenge windows can be tested without waiting.

use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::{Address, Bytes, Log, U256, keccak256};
use async_trait::async_trait;
use ferry_contracts::Artifact;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::MainBuilder;
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{DatabaseCommit, DatabaseRef, ExecuteEvm, Journal};
use tokio::sync::watch;

use crate::chain::{BlockInfo, Chain, ChainEvent, Receipt, TxRequest, decode_events};
use crate::{Error, Result};

type Db = CacheDB<EmptyDB>;

/// Gas limit of every embedded transaction (below the EIP-7825 per-transaction cap).
pub const TX_GAS_LIMIT: u64 = 16_000_000;
/// The default chain id (the usual development chain id).
pub const DEFAULT_CHAIN_ID: u64 = 31_337;
/// ETH each test account starts with.
pub const ACCOUNT_FUNDS_ETH: u64 = 10_000;
/// The first block's timestamp.
pub const GENESIS_TIME: u64 = 1_700_000_000;

/// The chain's state. revm's EVM is not `Send`, so only the database is kept; each transaction runs in a
/// fresh EVM over it.
struct Inner {
    db: Db,
    chain_id: u64,
    number: u64,
    timestamp: u64,
    /// Logs per block number (index = block number).
    logs: Vec<Vec<Log>>,
    txs: u64,
}

/// An in-process chain on revm.
pub struct EmbeddedChain {
    inner: Mutex<Inner>,
    chain_id: u64,
    adjudicator: Address,
    accounts: Vec<Address>,
    blocks: watch::Sender<u64>,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedChain")
            .field("chain_id", &self.chain_id)
            .field("adjudicator", &self.adjudicator)
            .finish_non_exhaustive()
    }
}

fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

impl EmbeddedChain {
    /// A chain with id 31337 and 10 funded accounts.
    pub fn new() -> Result<Self> {
        Self::with_accounts(DEFAULT_CHAIN_ID, 10)
    }

    /// A chain with the given id and `n` funded accounts (deterministic addresses; the embedded chain does not
    /// check transaction signatures, so accounts need no keys).
    pub fn with_accounts(chain_id: u64, n: usize) -> Result<Self> {
        let mut db = CacheDB::new(EmptyDB::default());
        let accounts: Vec<Address> = (0..n)
            .map(|i| Address::from_slice(&keccak256(format!("ferry embedded account {i}"))[12..]))
            .collect();
        for a in &accounts {
            db.insert_account_info(*a, AccountInfo::from_balance(eth(ACCOUNT_FUNDS_ETH)));
        }
        let mut inner = Inner {
            db,
            chain_id,
            number: 0,
            timestamp: GENESIS_TIME,
            logs: vec![],
            txs: 0,
        };
        let deployer = *accounts
            .first()
            .ok_or(Error::Unsupported("a chain needs at least one account"))?;
        let receipt = inner.execute(
            deployer,
            TxKind::Create,
            Artifact::Adjudicator.bytecode()?,
            U256::ZERO,
            Address::ZERO,
        )?;
        let adjudicator = receipt
            .contract_address
            .ok_or_else(|| Error::Node("adjudicator deployment created no contract".into()))?;
        let (blocks, _) = watch::channel(inner.number);
        Ok(Self {
            inner: Mutex::new(inner),
            chain_id,
            adjudicator,
            accounts,
            blocks,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the EVM half-committed (commits are single calls), so a
        // poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `amount` wei to an account.
    pub fn fund(&self, who: Address, amount: U256) {
        let mut inner = self.lock();
        let db = &mut inner.db;
        let mut info = db.basic_ref(who).ok().flatten().unwrap_or_default();
        info.balance = info.balance.saturating_add(amount);
        db.insert_account_info(who, info);
    }

    /// Sets the clock to `timestamp` (never backwards) and mines a block.
    pub fn set_time(&self, timestamp: u64) {
        let number = {
            let mut inner = self.lock();
            inner.timestamp = inner.timestamp.max(timestamp.saturating_sub(1));
            inner.mine(vec![])
        };
        self.blocks.send_replace(number);
    }
}

impl Inner {
    /// Seals the current block with `logs` and opens the next one (one second later).
    fn mine(&mut self, logs: Vec<Log>) -> u64 {
        debug_assert_eq!(self.logs.len() as u64, self.number);
        self.logs.push(logs);
        self.number += 1;
        self.timestamp += 1;
        self.number
    }

    fn nonce(&self, who: Address) -> u64 {
        self.db
            .basic_ref(who)
            .ok()
            .flatten()
            .map(|a| a.nonce)
            .unwrap_or(0)
    }

    /// Runs a transaction in the open block; commits its state only if it succeeds and `commit` is set.
    fn run(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        commit: bool,
    ) -> Result<ExecutionResult> {
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .value(value)
            .gas_limit(TX_GAS_LIMIT)
            .gas_price(0)
            .nonce(self.nonce(from))
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| Error::InvalidTransaction(format!("{e:?}")))?;
        let (chain_id, number, timestamp) = (self.chain_id, self.number, self.timestamp);
        let db = std::mem::replace(&mut self.db, CacheDB::new(EmptyDB::default()));
        let mut evm =
            Context::<BlockEnv, TxEnv, CfgEnv, Db, Journal<Db>, ()>::new(db, SpecId::PRAGUE)
                .modify_cfg_chained(|cfg| cfg.chain_id = chain_id)
                .modify_block_chained(|b: &mut BlockEnv| {
                    b.number = U256::from(number);
                    b.timestamp = U256::from(timestamp);
                    b.basefee = 0;
                    b.gas_limit = 30_000_000;
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

    /// Executes a transaction in the open block; commits and mines only if it succeeds.
    fn execute(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
        adjudicator: Address,
    ) -> Result<Receipt> {
        match self.run(from, kind, data, value, true)? {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => {
                let contract_address = match output {
                    Output::Create(_, addr) => addr,
                    Output::Call(_) => None,
                };
                self.txs += 1;
                let tx_hash = keccak256(self.txs.to_be_bytes());
                let events = decode_events(adjudicator, self.number, 0, &logs)?;
                let block = self.number;
                self.mine(logs);
                Ok(Receipt {
                    tx_hash,
                    block,
                    gas_used: gas.tx_gas_used(),
                    events,
                    contract_address,
                })
            }
            ExecutionResult::Revert { output, .. } => Err(Error::reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(Error::Halted(format!("{reason:?}"))),
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

    fn accounts(&self) -> Vec<Address> {
        self.accounts.clone()
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt> {
        if !self.accounts.contains(&tx.from) {
            return Err(Error::UnknownSender(tx.from));
        }
        let receipt = self.lock().execute(
            tx.from,
            TxKind::Call(tx.to),
            tx.data,
            tx.value,
            self.adjudicator,
        )?;
        self.blocks.send_replace(receipt.block + 1);
        Ok(receipt)
    }

    async fn deploy(&self, from: Address, code: Bytes) -> Result<Address> {
        if !self.accounts.contains(&from) {
            return Err(Error::UnknownSender(from));
        }
        let receipt =
            self.lock()
                .execute(from, TxKind::Create, code, U256::ZERO, self.adjudicator)?;
        self.blocks.send_replace(receipt.block + 1);
        receipt
            .contract_address
            .ok_or_else(|| Error::Node("deployment created no contract".into()))
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes> {
        match self
            .lock()
            .run(Address::ZERO, TxKind::Call(to), data, U256::ZERO, false)?
        {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(Error::reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(Error::Halted(format!("{reason:?}"))),
        }
    }

    async fn head(&self) -> Result<BlockInfo> {
        let inner = self.lock();
        // The sealed head is the block before the open one.
        Ok(BlockInfo {
            number: inner.number.saturating_sub(1),
            timestamp: inner.timestamp.saturating_sub(1),
        })
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
        let last = to.min(inner.number.saturating_sub(1));
        for block in from..=last {
            if let Some(logs) = inner.logs.get(block as usize) {
                out.extend(decode_events(self.adjudicator, block, 0, logs)?);
            }
        }
        Ok(out)
    }

    async fn wait_for_block(&self, after: u64, timeout: Duration) -> Result<()> {
        let mut rx = self.blocks.subscribe();
        // `blocks` holds the open block's number: a block after `after` is sealed once it exceeds `after + 1`.
        let _ = tokio::time::timeout(timeout, rx.wait_for(|open| *open > after + 1)).await;
        Ok(())
    }

    async fn advance_time(&self, secs: u64) -> Result<()> {
        let number = {
            let mut inner = self.lock();
            inner.timestamp = inner.timestamp.saturating_add(secs);
            inner.mine(vec![])
        };
        self.blocks.send_replace(number);
        Ok(())
    }
}
