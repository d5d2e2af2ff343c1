//! The `Chain` trait: everything Ferry asks of a chain.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, Log, U256};
use alloy::sol_types::{SolCall, SolEventInterface};
use async_trait::async_trait;
use ferry_contracts::Artifact;
use ferry_contracts::IAdjudicator::{self as Adj, IAdjudicatorEvents};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::{Error, Result};

alloy::sol! {
    /// The ERC-20 subset Ferry uses, plus the test tokens' `mint` and `setBlocked`.
    interface IERC20 {
        /// ERC-20 `approve`.
        function approve(address spender, uint256 amount) external returns (bool);
        /// ERC-20 `balanceOf`.
        function balanceOf(address owner) external view returns (uint256);
        /// ERC-20 `transfer`.
        function transfer(address to, uint256 amount) external returns (bool);
        /// The test tokens' public mint.
        function mint(address to, uint256 amount) external;
        /// `RevertingToken`/`GasBurningToken`: makes transfers to `who` fail.
        function setBlocked(address who, bool isBlocked) external;
    }
}

/// A transaction to submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRequest {
    /// The sender: one of the chain's accounts ([`Chain::accounts`]).
    pub from: Address,
    /// The callee.
    pub to: Address,
    /// Calldata.
    pub data: Bytes,
    /// ETH sent along.
    pub value: U256,
    /// The gas limit; `None` lets the chain pick (an estimate on a node, [`crate::TX_GAS_LIMIT`] embedded).
    pub gas_limit: Option<u64>,
}

impl TxRequest {
    /// A call of `to` with `data` from `from`, no value, gas picked by the chain.
    pub fn new(from: Address, to: Address, data: impl Into<Bytes>) -> Self {
        Self {
            from,
            to,
            data: data.into(),
            value: U256::ZERO,
            gas_limit: None,
        }
    }

    /// Sends `value` wei along.
    pub fn with_value(mut self, value: U256) -> Self {
        self.value = value;
        self
    }

    /// Sets the gas limit.
    pub fn with_gas_limit(mut self, gas_limit: u64) -> Self {
        self.gas_limit = Some(gas_limit);
        self
    }
}

/// What a mined, successful transaction left behind. (A transaction that reverts comes back as
/// [`Error::Reverted`], one that runs out of gas as [`Error::OutOfGas`].)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction hash (on the embedded chain, a unique identifier derived from the chain id and a counter).
    pub tx_hash: B256,
    /// The block it was mined in.
    pub block: u64,
    /// Gas used, as a receipt reports it: intrinsic gas (21,000, calldata, contract creation) included, refunds
    /// deducted, at least the EIP-7623 calldata floor.
    pub gas_used: u64,
    /// Adjudicator events it emitted, decoded.
    pub events: Vec<ChainEvent>,
    /// Every log it emitted (any contract), in order.
    pub logs: Vec<Log>,
    /// The address of a contract it created.
    pub contract_address: Option<Address>,
}

/// A block's number, timestamp and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block number.
    pub number: u64,
    /// Block timestamp (seconds).
    pub timestamp: u64,
    /// Block hash (on the embedded chain, which never reorganizes, one derived from its number and timestamp).
    pub hash: B256,
}

/// A decoded Adjudicator event with its position in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// The block it was emitted in.
    pub block: u64,
    /// Its index among the block's logs (all contracts' logs count).
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
    /// Progress moves made on-chain by each endpoint: `[participant 0, last participant]` (S7: each has its
    /// own `max_moves`).
    pub moves: [u8; 2],
    /// Whether V is registered as certified.
    pub certified: bool,
    /// The registered state's whole struct hash (S15); zero while nothing is registered.
    pub fingerprint: B256,
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

impl Holdings {
    /// What the adjudicator holds for the channel: deposits minus withdrawals minus claims.
    pub fn held(&self) -> U256 {
        (self.deposited[0] + self.deposited[1])
            .saturating_sub(self.withdrawn[0] + self.withdrawn[1])
            .saturating_sub(self.claimed)
    }
}

/// Decodes the adjudicator's logs among `logs` (a block's or a transaction's logs, the first at `first_index`),
/// skipping other contracts' logs.
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

async fn view<C: SolCall + Send>(
    chain: &(impl Chain + ?Sized),
    to: Address,
    call: C,
) -> Result<C::Return> {
    let out = chain.call(to, Bytes::from(call.abi_encode())).await?;
    C::abi_decode_returns(&out).map_err(|e| Error::Decode {
        what: "call return",
        reason: e.to_string(),
    })
}

/// Everything Ferry asks of a chain. Implemented by [`crate::EmbeddedChain`] (in-process revm, the default) and
/// [`crate::RpcChain`] (any Ethereum JSON-RPC node); used as `Arc<dyn Chain>`.
///
/// Reads (`call`, `status_of`, …) see the latest state. A transaction that would revert is refused with
/// [`Error::Reverted`] and changes nothing.
#[async_trait]
pub trait Chain: Send + Sync + 'static {
    /// The chain id.
    fn chain_id(&self) -> u64;

    /// The Adjudicator's address.
    fn adjudicator(&self) -> Address;

    /// Where a bundled contract (the Adjudicator, the payment app, the rock-paper-scissors app) is deployed on
    /// this chain, if it is.
    fn deployed(&self, artifact: Artifact) -> Option<Address> {
        (artifact == Artifact::Adjudicator).then(|| self.adjudicator())
    }

    /// Accounts this chain can send transactions from.
    fn accounts(&self) -> Vec<Address>;

    /// How many blocks make a transaction count (1 = mined). Receipts and [`event_stream`] wait for them.
    fn confirmations(&self) -> u64 {
        1
    }

    /// Submits a transaction and waits until it is mined (and confirmed, where the chain asks for confirmations).
    async fn send(&self, tx: TxRequest) -> Result<Receipt>;

    /// Deploys a contract from `from` with creation bytecode `code` (constructor arguments appended); the receipt
    /// carries its address.
    async fn deploy(&self, from: Address, code: Bytes) -> Result<Receipt>;

    /// Executes a call against the latest state without a transaction (`eth_call`).
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes>;

    /// The latest block.
    async fn head(&self) -> Result<BlockInfo>;

    /// Block `number` (its timestamp is the chain time as of that block: what a node that has read the chain up
    /// to that block may take as "now" on-chain).
    async fn block(&self, number: u64) -> Result<BlockInfo>;

    /// An account's ETH balance.
    async fn balance(&self, who: Address) -> Result<U256>;

    /// An account's balance of an ERC-20 `token`.
    async fn token_balance(&self, token: Address, owner: Address) -> Result<U256> {
        view(self, token, IERC20::balanceOfCall { owner }).await
    }

    /// The balance of `asset` (zero address: ETH, otherwise an ERC-20).
    async fn asset_balance(&self, asset: Address, owner: Address) -> Result<U256> {
        if asset == Address::ZERO {
            self.balance(owner).await
        } else {
            self.token_balance(asset, owner).await
        }
    }

    /// A channel's registered status (`statusOf`).
    async fn status_of(&self, channel_id: B256) -> Result<ChannelStatus> {
        let r = view(
            self,
            self.adjudicator(),
            Adj::statusOfCall {
                channelId: channel_id,
            },
        )
        .await?;
        Ok(ChannelStatus {
            version: r.version.to::<u64>(),
            finalizes_at: r.finalizesAt.to::<u64>(),
            moves: [r.movesFirst, r.movesLast],
            certified: r.certified,
            fingerprint: r.fingerprint,
        })
    }

    /// A ledger channel's holdings of `asset` (`holdings`).
    async fn holdings(&self, channel_id: B256, asset: Address) -> Result<Holdings> {
        let r = view(
            self,
            self.adjudicator(),
            Adj::holdingsCall {
                channelId: channel_id,
                asset,
            },
        )
        .await?;
        Ok(Holdings {
            deposited: [r.dep0, r.dep1],
            withdrawn: [r.wd0, r.wd1],
            claimed: r.claimed,
        })
    }

    /// Adjudicator events in blocks `from..=to`, in chain order.
    async fn events_between(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>>;

    /// Waits until a block after `after` exists, or `timeout` passes (no error on timeout).
    async fn wait_for_block(&self, after: u64, timeout: Duration) -> Result<()>;

    /// Moves the chain's clock forward by `secs` and mines a block (test chains only; on anvil
    /// `evm_increaseTime` + `evm_mine`).
    async fn advance_time(&self, secs: u64) -> Result<()>;
}

/// Streams the adjudicator's events from `from_block` on: first every past block, then new blocks as they come,
/// each block once it has [`Chain::confirmations`]. A watcher that persists the last block it processed restarts
/// from there and misses nothing. An error is yielded once and the stream goes on from where it was.
pub fn event_stream(
    chain: Arc<dyn Chain>,
    from_block: u64,
) -> BoxStream<'static, Result<ChainEvent>> {
    struct Cursor {
        chain: Arc<dyn Chain>,
        next: u64,
        queue: VecDeque<ChainEvent>,
    }
    let cursor = Cursor {
        chain,
        next: from_block,
        queue: VecDeque::new(),
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
            // The newest block with enough confirmations; none yet if the chain is younger than that.
            let confirmed = (head + 1).checked_sub(c.chain.confirmations().max(1));
            match confirmed {
                Some(last) if last >= c.next => match c.chain.events_between(c.next, last).await {
                    Ok(events) => {
                        c.queue.extend(events);
                        c.next = last + 1;
                    }
                    Err(e) => return Some((Err(e), c)),
                },
                _ => {
                    if let Err(e) = c
                        .chain
                        .wait_for_block(head, Duration::from_millis(500))
                        .await
                    {
                        return Some((Err(e), c));
                    }
                }
            }
        }
    })
    .boxed()
}
