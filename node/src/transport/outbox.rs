//! The persisted outbox: its layout in the transport's [`Store`], and the receive-side duplicate window.
//!
//! Namespace [`NS_OUTBOX`]:
//! - `b'm' ‖ peer (20 bytes) ‖ id (8 bytes, big-endian)` → the message ([`ferry_ledger::store::encode`]);
//! - `b'p' ‖ peer (20 bytes)` → the peer's [`PeerRecord`]: the next id to give and the highest id acknowledged.
//!
//! A peer's unacknowledged messages are exactly the ids `acked + 1 .. next_id`: ids are given in order, and an
//! acknowledgement covers every id up to its own, so the outbox is one contiguous range per peer.

use alloy::primitives::Address;
use ferry_ledger::store::{self, Batch, Store};
use serde::{Deserialize, Serialize};

use ferry_virtual::protocol::Message;

/// The store namespace of the outbox.
pub const NS_OUTBOX: &str = "transport.outbox";

/// What is persisted per peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerRecord {
    /// The id the next message to this peer gets.
    pub next_id: u64,
    /// Every id up to this one is acknowledged (and deleted).
    pub acked: u64,
}

impl PeerRecord {
    /// The record of a peer never written to: ids start from the wall clock in nanoseconds, so even a node whose
    /// outbox store was lost (a `MemoryStore`) gives ids above those it gave before (no node sends one message per
    /// nanosecond), and the peer's duplicate window does not swallow its new messages.
    pub fn fresh() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(1)
            .max(1);
        Self {
            next_id: now,
            acked: now - 1,
        }
    }

    /// How many messages wait for an acknowledgement.
    pub fn pending(&self) -> u64 {
        self.next_id.saturating_sub(self.acked + 1)
    }
}

pub(crate) fn message_key(peer: &Address, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(29);
    key.push(b'm');
    key.extend_from_slice(peer.as_slice());
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub(crate) fn record_key(peer: &Address) -> Vec<u8> {
    let mut key = Vec::with_capacity(21);
    key.push(b'p');
    key.extend_from_slice(peer.as_slice());
    key
}

/// Every peer record in the store.
pub(crate) fn load_records(
    store: &dyn Store,
) -> Result<Vec<(Address, PeerRecord)>, ferry_ledger::Error> {
    let mut out = Vec::new();
    for (key, value) in store.scan(NS_OUTBOX, b"p")? {
        if key.len() != 21 {
            return Err(ferry_ledger::Error::Codec {
                what: NS_OUTBOX,
                reason: format!("peer record key of {} bytes", key.len()),
            });
        }
        let peer = Address::from_slice(&key[1..]);
        out.push((peer, store::decode(NS_OUTBOX, &value)?));
    }
    Ok(out)
}

/// Adds the record's put to `batch`.
pub(crate) fn put_record(
    batch: &mut Batch,
    peer: &Address,
    record: &PeerRecord,
) -> Result<(), ferry_ledger::Error> {
    batch.put(NS_OUTBOX, record_key(peer), record)
}

/// The stored message `id` to `peer`, if it is there and readable.
pub(crate) fn load_message(
    store: &dyn Store,
    peer: &Address,
    id: u64,
) -> Result<Option<Message>, ferry_ledger::Error> {
    store
        .get(NS_OUTBOX, &message_key(peer, id))?
        .map(|bytes| store::decode(NS_OUTBOX, &bytes))
        .transpose()
}

/// Which message ids from one peer were delivered: the highest, and a bitmap of the [`RecvWindow::SPAN`] ids at
/// and below it. An id above the window's bottom not yet seen is new; one seen, or below the window, is a duplicate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RecvWindow {
    high: u64,
    seen: u128,
}

impl RecvWindow {
    /// Ids below `high - SPAN` count as delivered.
    pub const SPAN: u64 = 128;

    /// Records `id`; whether it is new (to be delivered).
    pub fn accept(&mut self, id: u64) -> bool {
        if id > self.high || (self.high == 0 && self.seen == 0) {
            let shift = id - self.high;
            self.seen = if shift >= Self::SPAN {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.high = id;
            return true;
        }
        let back = self.high - id;
        if back >= Self::SPAN {
            return false;
        }
        let bit = 1u128 << back;
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_window_drops_duplicates() {
        let mut w = RecvWindow::default();
        assert!(w.accept(10));
        assert!(!w.accept(10));
        assert!(w.accept(12));
        assert!(w.accept(11));
        assert!(!w.accept(11));
        assert!(w.accept(500));
        assert!(!w.accept(12)); // below the window: counted as delivered
        assert!(w.accept(499));
        assert!(!w.accept(499));
        assert!(w.accept(500 + RecvWindow::SPAN));
        assert!(!w.accept(500));
    }

    #[test]
    fn fresh_ids_grow_with_the_clock() {
        let a = PeerRecord::fresh();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = PeerRecord::fresh();
        assert!(b.next_id > a.next_id);
        assert_eq!(a.pending(), 0);
    }
}
