//! What a protocol core exchanges with the chain, as one small trait: the transactions it asks for, their
//! outcome, and the adjudicator's confirmed events and blocks. One chain driver (`ferry_adjudicator::watcher`)
//! serves every core that implements it — the ledger node here, the virtual node in `ferry-virtual`.

use ferry_contracts::IAdjudicator::IAdjudicatorEvents as Event;

use super::{ChainTx, LedgerNode};
use crate::store::Store;

/// A sans-IO core's side of the chain: it asks for transactions, is told how each went, and is handed every
/// confirmed adjudicator event from its cursor on, then the last confirmed block with its own timestamp.
pub trait ChainDuties {
    /// A transaction the core asks for.
    type Tx;
    /// The core's error (a store failure: the driver stops its round).
    type Error;

    /// The next transaction to submit, if any.
    fn poll_tx(&mut self) -> Option<Self::Tx>;
    /// `tx` landed.
    fn tx_done(&mut self, tx: &Self::Tx) -> Result<(), Self::Error>;
    /// `tx` failed (reverted, or could not be sent); the core asks again when it is still due.
    fn tx_failed(&mut self, tx: &Self::Tx, reason: String) -> Result<(), Self::Error>;
    /// The first block the core has not read yet (its persisted cursor).
    fn next_block(&self) -> u64;
    /// One confirmed adjudicator event.
    fn chain_event(
        &mut self,
        block: u64,
        log_index: u64,
        event: &Event,
        now: u64,
    ) -> Result<(), Self::Error>;
    /// Every block up to `number` has been read; `timestamp` is that block's (chain time).
    fn block(&mut self, number: u64, timestamp: u64, now: u64) -> Result<(), Self::Error>;
}

impl<S: Store> ChainDuties for LedgerNode<S> {
    type Tx = ChainTx;
    type Error = crate::Error;

    fn poll_tx(&mut self) -> Option<ChainTx> {
        LedgerNode::poll_tx(self)
    }

    fn tx_done(&mut self, tx: &ChainTx) -> crate::Result<()> {
        self.handle_tx_done(tx)
    }

    fn tx_failed(&mut self, tx: &ChainTx, reason: String) -> crate::Result<()> {
        self.handle_tx_failed(tx, reason)
    }

    fn next_block(&self) -> u64 {
        LedgerNode::next_block(self)
    }

    fn chain_event(
        &mut self,
        block: u64,
        log_index: u64,
        event: &Event,
        now: u64,
    ) -> crate::Result<()> {
        self.handle_chain_event(block, log_index, event, now)
    }

    fn block(&mut self, number: u64, timestamp: u64, now: u64) -> crate::Result<()> {
        self.handle_block(number, timestamp, now)
    }
}
