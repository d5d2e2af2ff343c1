//! The `Chain` trait: everything Ferry asks of a chain.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, Log, U256};
use alloy::sol_types::SolEventInterface;
use async_trait::async_trait;
use ferry_contracts::IAdjudicator::IAdjudicatorEvents;
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::{Error, Result};

/// A transaction to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRequest {
    /// The sender: one of the chain's accounts.
    pub from: Address,
    /// The callee.
    pub to: Address,
    /// Calldata.
    pub data: Bytes,
    /// ETH sent along.
    pub value: U256,
}

/// What a mined transaction left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction hash.
    pub tx_hash: B256,
    /// The block it was mined in.
    pub block: u64,
    /// Gas used, as a receipt reports it (intrinsic and calldata cost included, refunds deducted).
    pub gas_used: u64,
    /// Adjudicator events it emitted, decoded.
    pub events: Vec<ChainEvent>,
    /// The address of a contract it created.
    pub contract_address: Option<Address>,
}

/// A block's number and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
}

/// A decoded Adjudicator event with its position in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// The block it was emitted in.
    pub block: u64,
    /// Its index among the block's logs.
    pub log_index: u64,
    /// The event.
    pub event: IAdjudicatorEvents,
}

/// A channel's registered status (`statusOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelStatus {
    /// Registered version.
    pub version: u64,
    /// When a challenge finalizes (0: none registered).
    pub finalizes_at: u64,
    /// Progress moves made on-chain.
    pub moves: u16,
    /// Whether V is registered as certified.
    pub certified: bool,
    /// Low 136 bits of the registered state's struct hash.
    pub fingerprint: U256,
}

impl ChannelStatus {
    /// Whether the channel is finalized at `now`.
    pub fn is_finalized(&self, now: u64) -> bool {
        self.finalizes_at != 0 && now >= self.finalizes_at
    }
}

/// A ledger's on-chain holdings of one asset (`holdings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holdings {
    /// Cumulative deposits per participant.
    pub deposited: [U256; 2],
    /// Cumulative withdrawals per participant.
    pub withdrawn: [U256; 2],
    /// Paid out by claims.
    pub claimed: U256,
}

/// Decodes the adjudicator's logs among `logs`, skipping other contracts' logs.
pub fn decode_events(
    adjudicator: Address,
    block: u64,
    first_index: u64,
    logs: &[Log],
) -> Result<Vec<ChainEvent>> {
    let mut out = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        if log.address != adjudicator {
            continue;
        }
        let event = IAdjudicatorEvents::decode_log(log).map_err(|e| Error::Decode {
            what: "adjudicator event",
            reason: e.to_string(),
        })?;
        out.push(ChainEvent {
            block,
            log_index: first_index + i as u64,
            event: event.data,
        });
    }
    Ok(out)
}

/// Everything Ferry asks of a chain. Implemented by [`crate::EmbeddedChain`] (in-process revm, the default) and
/// [`crate::RpcChain`] (any Ethereum JSON-RPC node).
#[async_trait]
pub trait Chain: Send + Sync + 'static {
    /// The chain id.
    fn chain_id(&self) -> u64;

    /// The Adjudicator's address.
    fn adjudicator(&self) -> Address;

    /// Accounts this chain can send transactions from.
    fn accounts(&self) -> Vec<Address>;

    /// Submits a transaction and waits until it is mined (and confirmed, where the chain asks for confirmations).
    /// A revert comes back as [`Error::Reverted`] and changes nothing.
    async fn send(&self, tx: TxRequest) -> Result<Receipt>;

    /// Deploys a contract from `from` with creation bytecode `code`.
    async fn deploy(&self, from: Address, code: Bytes) -> Result<Address>;

    /// Executes a call against the latest state without a transaction (`eth_call`).
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes>;

    /// The latest block.
    async fn head(&self) -> Result<BlockInfo>;

    /// An account's ETH balance.
    async fn balance(&self, who: Address) -> Result<U256>;

    /// Adjudicator events in blocks `from..=to`, in chain order.
    async fn events_between(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>>;

    /// Waits until a block after `after` exists, or `timeout` passes.
    async fn wait_for_block(&self, after: u64, timeout: Duration) -> Result<()>;

    /// Moves the chain's clock forward by `secs` and mines a block (test chains only).
    async fn advance_time(&self, secs: u64) -> Result<()>;
}

/// Streams the adjudicator's events from `from_block` on: first every past block, then new blocks as they come.
/// A watcher that persists the last block it processed restarts from there and misses nothing.
pub fn event_stream(
    chain: Arc<dyn Chain>,
    from_block: u64,
) -> BoxStream<'static, Result<ChainEvent>> {
    struct Cursor {
        chain: Arc<dyn Chain>,
        next: u64,
        queue: std::collections::VecDeque<ChainEvent>,
    }
    let cursor = Cursor {
        chain,
        next: from_block,
        queue: Default::default(),
    };
    futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(ev) = c.queue.pop_front() {
                return Some((Ok(ev), c));
            }
            let head = match c.chain.head().await {
                Ok(h) => h.number,
                Err(e) => return Some((Err(e), c)),
            };
            if head >= c.next {
                match c.chain.events_between(c.next, head).await {
                    Ok(events) => {
                        c.queue.extend(events);
                        c.next = head + 1;
                    }
                    Err(e) => return Some((Err(e), c)),
                }
            } else if let Err(e) = c
                .chain
                .wait_for_block(head, Duration::from_millis(500))
                .await
            {
                return Some((Err(e), c));
            }
        }
    })
    .boxed()
}
