//! The ninth outside attacker's finding on the chain side (the reorganization detection of `watcher::check_reorg`),
//! kept as a regression test: it asserted the bad outcome when written and now asserts the fix (the doc comment
//! describes the attack as it worked). Its findings on the ledger core are in `ledger/src/protocol/tests`.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use ferry_adjudicator::watcher;
use ferry_adjudicator::{BlockInfo, Chain, ChainEvent, Receipt, Result, TxRequest};

type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A chain of `head` blocks whose blocks from `replaced_from` on carry `epoch` in their hash (a reorganization
/// bumps `epoch` and lowers `replaced_from`). No events; a reorganization may be set to land while a read runs.
struct ReorgChain {
    s: Mutex<(u64, u64, u8)>,
    /// Replaces every block from this one on when the next read asks for events.
    during_read: Mutex<Option<u64>>,
}

impl ReorgChain {
    fn new(head: u64) -> Self {
        Self {
            s: Mutex::new((head, u64::MAX, 0)),
            during_read: Mutex::new(None),
        }
    }
    fn grow(&self, head: u64) {
        self.s.lock().unwrap().0 = head;
    }
    /// Every block from `fork` on is replaced.
    fn reorg(&self, fork: u64) {
        let mut s = self.s.lock().unwrap();
        s.1 = fork;
        s.2 += 1;
    }
    fn info(&self, n: u64) -> BlockInfo {
        let s = self.s.lock().unwrap();
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&n.to_be_bytes());
        if n >= s.1 {
            h[31] = s.2;
        }
        BlockInfo {
            number: n,
            timestamp: 1000 + n * 12,
            hash: B256::from(h),
        }
    }
}

impl Chain for ReorgChain {
    fn chain_id(&self) -> u64 {
        31337
    }
    fn adjudicator(&self) -> Address {
        Address::repeat_byte(0xad)
    }
    fn accounts(&self) -> Vec<Address> {
        vec![]
    }
    fn send<'a, 'b>(&'a self, _tx: TxRequest) -> Fut<'b, Receipt>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { unimplemented!() })
    }
    fn deploy<'a, 'b>(&'a self, _from: Address, _code: Bytes) -> Fut<'b, Receipt>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { unimplemented!() })
    }
    fn call<'a, 'b>(&'a self, _to: Address, _data: Bytes) -> Fut<'b, Bytes>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { unimplemented!() })
    }
    fn head<'a, 'b>(&'a self) -> Fut<'b, BlockInfo>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            let n = self.s.lock().unwrap().0;
            Ok(self.info(n))
        })
    }
    fn block<'a, 'b>(&'a self, number: u64) -> Fut<'b, BlockInfo>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move { Ok(self.info(number)) })
    }
    fn balance<'a, 'b>(&'a self, _who: Address) -> Fut<'b, U256>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { Ok(U256::ZERO) })
    }
    fn events_between<'a, 'b>(&'a self, _from: u64, _to: u64) -> Fut<'b, Vec<ChainEvent>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            if let Some(fork) = self.during_read.lock().unwrap().take() {
                self.reorg(fork);
            }
            Ok(vec![])
        })
    }
    fn wait_for_block<'a, 'b>(&'a self, _after: u64, _timeout: Duration) -> Fut<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { Ok(()) })
    }
    fn advance_time<'a, 'b>(&'a self, _secs: u64) -> Fut<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async { Ok(()) })
    }
}

/// The runtime's read task (`ChainSide::read`) ran `check_reorg` and then `watcher::read` as two steps against a
/// live chain. A reorganization that replaced blocks already read landed between the two: the read returned the
/// new chain's blocks from the cursor on, and the node kept (as the newest known block) a hash of the *new* chain.
/// `check_reorg` only compares the older known blocks when the newest one changed, so this reorganization was
/// never reported: no rewind, the events of the replaced blocks stayed counted and the channels kept signing on
/// them. The task now runs `watcher::checked_read`: the blocks read before are checked again after the read, and a
/// read whose last block changed while its events were fetched is not used.
#[test]
fn a_reorg_between_the_check_and_the_read_is_reported() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let chain = ReorgChain::new(10);
        let r = watcher::read(&chain, 0).await.unwrap().unwrap();
        assert_eq!(r.last, 10);
        let known = vec![(r.last, r.hash)];
        chain.grow(20);
        // The reorganization lands while the next read runs (after its first check).
        *chain.during_read.lock().unwrap() = Some(5);
        match watcher::checked_read(&chain, 11, &known).await.unwrap() {
            watcher::Checked::Reorg(reorg) => {
                assert_eq!(reorg.read_up_to, 10);
                assert_eq!(reorg.kept, None, "no block read before is kept");
            }
            watcher::Checked::Read(r) => panic!("read past the reorganization: {r:?}"),
        }
        // Without one, the read is used.
        chain.grow(30);
        let known = vec![(10, chain.block(10).await.unwrap().hash)];
        match watcher::checked_read(&chain, 11, &known).await.unwrap() {
            watcher::Checked::Read(Some(r)) => assert_eq!(r.last, 30),
            other => panic!("{other:?}"),
        }
        // A reorganization of the blocks being read, between their events and their last block: not used.
        *chain.during_read.lock().unwrap() = Some(25);
        assert_eq!(watcher::read(&chain, 11).await.unwrap(), None);
    });
}
