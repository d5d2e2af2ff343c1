//! The virtual node's side of the chain ([`ChainDuties`]): its ledgers' transactions and its virtual channels'
//! (`challenge`/`progress`/`conclude` of V, `claim` against a ledger) go out through the one chain driver; a ledger
//! transaction's outcome goes back to the ledger node, which asks again when it is still due.

use ferry_ledger::contracts::IAdjudicator::IAdjudicatorEvents as Event;
use ferry_ledger::protocol::ChainDuties;
use ferry_ledger::store::Store;

use super::{Tx, VirtualNode};
use crate::{Error, Result};

impl<S: Store> ChainDuties for VirtualNode<S> {
    type Tx = Tx;
    type Error = Error;

    fn poll_tx(&mut self) -> Option<Tx> {
        VirtualNode::poll_tx(self)
    }

    fn tx_done(&mut self, tx: &Tx) -> Result<()> {
        match tx {
            Tx::Ledger(t) => Ok(self.ledger_mut().handle_tx_done(t)?),
            // A virtual channel learns the outcome from the chain's events.
            Tx::Virtual(_) => Ok(()),
        }
    }

    fn tx_failed(&mut self, tx: &Tx, reason: String) -> Result<()> {
        match tx {
            Tx::Ledger(t) => Ok(self.ledger_mut().handle_tx_failed(t, reason)?),
            // Its timers ask again while the transaction is still due.
            Tx::Virtual(_) => Ok(()),
        }
    }

    fn next_block(&self) -> u64 {
        self.ledger().next_block()
    }

    fn chain_event(&mut self, block: u64, log_index: u64, event: &Event, now: u64) -> Result<()> {
        self.handle_chain_event(block, log_index, event, now)
    }

    fn block(&mut self, number: u64, timestamp: u64, now: u64) -> Result<()> {
        self.handle_block(number, timestamp, now)
    }
}
