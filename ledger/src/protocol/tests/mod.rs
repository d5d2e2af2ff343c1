//! Unit tests of the ledger protocol: every objective step and every rejection, on two in-memory nodes with the
//! chain replaced by synthetic adjudicator events. This file holds the shared setup (the node pair, the test
//! guard and leaves); each subject has its own file.

#![allow(clippy::unwrap_used)]

use alloy::primitives::{Address, B256, U256};
use ferry_contracts::IAdjudicator::{self, IAdjudicatorEvents as Ev};

use super::*;
use crate::store::{MemoryStore, backup};
use crate::{ChainContext, Error, Signer};

mod close;
mod open;
mod outside_attack_9;
mod persistence;
mod reorg;
mod s14;
mod strangers;
mod sub_channels;
mod updates;

const ETH: Address = Address::ZERO;

fn ctx() -> ChainContext {
    ChainContext {
        chain_id: 31337,
        adjudicator: Address::repeat_byte(0xad),
    }
}

fn config() -> Config {
    Config {
        open: OpenPolicy {
            accept: true,
            max_own_deposit: U256::from(1000),
            ..OpenPolicy::default()
        },
        ..Config::default()
    }
}

struct Pair {
    keys: [Signer; 2],
    n: [Option<LedgerNode<MemoryStore>>; 2],
    now: u64,
    pos: u64,
    /// Messages taken off the wire and not delivered (to test loss, reordering and duplication).
    held: Vec<(usize, LedgerMessage)>,
    events: [Vec<LedgerEvent>; 2],
    txs: [Vec<ChainTx>; 2],
}

impl Pair {
    fn new() -> Self {
        let keys = [Signer::random(), Signer::random()];
        let node = |k: &Signer| {
            LedgerNode::open_store(k.clone(), ctx(), config(), MemoryStore::new(), 0).unwrap()
        };
        Self {
            n: [Some(node(&keys[0])), Some(node(&keys[1]))],
            keys,
            now: 0,
            pos: 1,
            held: vec![],
            events: [vec![], vec![]],
            txs: [vec![], vec![]],
        }
    }

    fn node(&mut self, i: usize) -> &mut LedgerNode<MemoryStore> {
        self.n[i].as_mut().unwrap()
    }

    fn addr(&self, i: usize) -> Address {
        self.keys[i].address()
    }

    /// Drains outputs: messages of `i` into `held`, events and transactions into the logs.
    fn drain(&mut self, i: usize) {
        let Some(node) = self.n[i].as_mut() else {
            return;
        };
        while let Some((_, m)) = node.poll_transmit() {
            self.held.push((i, m));
        }
        while let Some(e) = node.poll_event() {
            self.events[i].push(e);
        }
        while let Some(t) = node.poll_tx() {
            self.txs[i].push(t);
        }
    }

    /// Delivers everything until quiet.
    fn pump(&mut self) {
        for _ in 0..100 {
            self.drain(0);
            self.drain(1);
            if self.held.is_empty() {
                return;
            }
            for (from, m) in std::mem::take(&mut self.held) {
                let sender = self.addr(from);
                let now = self.now;
                if let Some(node) = self.n[1 - from].as_mut() {
                    node.handle_message(sender, m, now).unwrap();
                }
            }
        }
        panic!("no quiescence");
    }

    fn chain(&mut self, ev: Ev) {
        self.pos += 1;
        let (pos, now) = (self.pos, self.now);
        for i in 0..2 {
            if let Some(n) = self.n[i].as_mut() {
                n.handle_chain_event(pos, 0, &ev, now).unwrap();
            }
        }
    }

    fn block(&mut self, timestamp: u64) {
        self.pos += 1;
        let (pos, now) = (self.pos, self.now);
        for i in 0..2 {
            if let Some(n) = self.n[i].as_mut() {
                n.handle_block(pos, timestamp, now).unwrap();
            }
        }
    }

    fn deposit(&mut self, id: B256, p: u8, amount: u64) {
        self.chain(Ev::Deposited(IAdjudicator::Deposited {
            channelId: id,
            asset: ETH,
            participant: U256::from(p),
            taken: U256::from(amount),
            depositedTotal: U256::ZERO,
        }));
    }

    /// Node 0 opens a channel with node 1, depositing `a` against node 1's `b` (ETH); both sign the pre-fund.
    fn propose(&mut self, a: u64, b: u64) -> B256 {
        let peer = self.addr(1);
        let id = self
            .node(0)
            .open(peer, &[(ETH, [U256::from(a), U256::from(b)])], 3600, 0)
            .unwrap();
        self.pump();
        id
    }

    fn open(&mut self) -> B256 {
        let id = self.propose(100, 100);
        self.deposit(id, 0, 100);
        self.pump();
        self.deposit(id, 1, 100);
        self.pump();
        assert_eq!(self.phase(0, id), Phase::Running);
        assert_eq!(self.phase(1, id), Phase::Running);
        id
    }

    /// Both nodes learn that every block from `fork` on that they read was replaced (as the runtime does on
    /// `ChainOutcome::Reorg`).
    fn rewind_both(&mut self, fork: u64) {
        let read_up_to = self.pos;
        for i in 0..2 {
            self.node(i).rewind(fork, read_up_to, 0).unwrap();
        }
        self.pump();
    }

    /// The deposits node `i` counts in `id` (ETH), per participant.
    fn deposits(&self, i: usize, id: B256) -> [U256; 2] {
        self.ch(i, id)
            .chain_deposited()
            .get(&ETH)
            .copied()
            .unwrap_or_default()
    }

    fn ch(&self, i: usize, id: B256) -> &LedgerChannel {
        self.n[i].as_ref().unwrap().channel(&id).unwrap()
    }

    fn phase(&self, i: usize, id: B256) -> Phase {
        self.ch(i, id).phase()
    }

    fn version(&self, i: usize, id: B256) -> u64 {
        self.ch(i, id)
            .supported()
            .map(|s| s.version())
            .unwrap_or_default()
    }

    fn crash_restart(&mut self, i: usize) {
        let store = self.n[i].take().unwrap().into_store();
        self.n[i] = Some(
            LedgerNode::open_store(self.keys[i].clone(), ctx(), config(), store, self.now).unwrap(),
        );
    }
}

/// A guard that agrees to every sub-channel operation whose leaf id starts with 0x5b ("sub").
struct TestGuard;

impl SubChannelGuard for TestGuard {
    fn check_add(
        &self,
        _: &ChannelParams,
        leaf: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        (leaf.channelId[0] == 0x5b)
            .then_some(())
            .ok_or(GuardRefusal::UnknownVirtualChannel {
                channel: leaf.channelId,
            })
    }
    fn check_remove(
        &self,
        _: &ChannelParams,
        leaf: &SubAlloc,
        _: &[Vec<U256>; 2],
    ) -> Result<(), GuardRefusal> {
        (leaf.channelId[0] == 0x5b)
            .then_some(())
            .ok_or(GuardRefusal::NoFinal {
                channel: leaf.channelId,
            })
    }
}

/// A leaf the test guard agrees to: id `0x5b…5b id`, `amount` of ETH, no fee.
fn leaf(id: u8, amount: u64) -> SubAlloc {
    let mut channel = [0x5b; 32];
    channel[31] = id;
    SubAlloc {
        fee: U256::ZERO,
        channelId: B256::from(channel),
        amounts: vec![ferry_contracts::AssetAmount {
            asset: ETH,
            amount: U256::from(amount),
        }],
    }
}
