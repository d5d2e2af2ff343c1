//! A deterministic network of ledger nodes over the embedded chain: a virtual clock, a wire that can drop,
//! duplicate, delay and reorder messages, crashes with restart from the store, and hooks for byzantine peers.
//! Used by the end-to-end tests, the property tests and the benchmarks.

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use ferry_adjudicator::{AdjudicatorClient, Chain, EmbeddedChain, watcher};
use ferry_ledger::protocol::{Config, LedgerEvent, LedgerMessage, LedgerNode};
use ferry_ledger::store::{MemoryStore, Store};
use ferry_ledger::{ChainContext, Signer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Result;

/// How the wire treats messages (probabilities in percent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Chance a message is lost.
    pub drop_pct: u8,
    /// Chance a message is delivered twice.
    pub dup_pct: u8,
    /// Largest extra delay in milliseconds (random per message: reorders them).
    pub max_delay_ms: u64,
}

/// A message on the wire.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Delivery time (virtual milliseconds).
    pub at: u64,
    /// Sender index.
    pub from: usize,
    /// Recipient index.
    pub to: usize,
    /// The message.
    pub msg: LedgerMessage,
}

/// One participant: its key, its node (absent while crashed), what it observed.
pub struct Party<S: Store> {
    /// The channel key (also its chain account).
    pub signer: Signer,
    /// The node; `None` while crashed.
    pub node: Option<LedgerNode<S>>,
    /// The store kept across a crash.
    pub crashed_store: Option<S>,
    /// Every event the node emitted.
    pub events: Vec<LedgerEvent>,
    /// Highest version this party ever sent its signature for, per channel (what it must never forget).
    pub sent_signed: std::collections::HashMap<B256, u64>,
    /// Whether its outgoing messages reach the wire.
    pub online: bool,
    /// Errors the node returned on inputs (bad messages are refused with a typed error).
    pub refused: Vec<String>,
    /// Gas of every transaction its node sent that landed (what it paid on a chain with a gas price).
    pub gas_used: u64,
}

/// A network of ledger nodes over one embedded chain.
pub struct LedgerNet<S: Store> {
    /// The chain.
    pub chain: Arc<EmbeddedChain>,
    /// A client on it.
    pub client: AdjudicatorClient,
    /// The parties.
    pub parties: Vec<Party<S>>,
    /// Virtual local time in milliseconds.
    pub now: u64,
    /// Messages in flight.
    pub wire: Vec<InFlight>,
    /// Wire behaviour.
    pub faults: Faults,
    /// Messages put on the wire.
    pub messages: u64,
    /// Transactions that landed: name and gas.
    pub landed: Vec<(&'static str, u64)>,
    /// Transactions that failed: name and reason.
    pub failed: Vec<(&'static str, String)>,
    /// Milliseconds each step advances the clock.
    pub tick_ms: u64,
    /// A party whose inbox the caller controls (a byzantine peer's harness): messages to it are kept in
    /// [`LedgerNet::diverted`] instead of being delivered.
    pub divert_to: Option<usize>,
    /// Messages to [`LedgerNet::divert_to`], in delivery order, for the caller to deliver, drop or answer.
    pub diverted: Vec<InFlight>,
    config: Config,
    rng: StdRng,
}

impl LedgerNet<MemoryStore> {
    /// `n` parties with in-memory stores.
    pub async fn in_memory(n: usize, config: Config, seed: u64) -> Result<Self> {
        Self::new(n, config, seed, |_| Ok(MemoryStore::new())).await
    }

    /// [`LedgerNet::in_memory`] over a chain whose nodes count an event only after `confirmations` blocks (each
    /// step mines a block, so their view keeps moving, `confirmations - 1` blocks behind the head).
    pub async fn in_memory_confirmed(
        n: usize,
        config: Config,
        seed: u64,
        confirmations: u64,
    ) -> Result<Self> {
        let chain = EmbeddedChain::builder()
            .chain_id(ferry_adjudicator::DEFAULT_CHAIN_ID)
            .accounts(n + 1)
            .confirmations(confirmations)
            .build()?;
        Self::on_chain(Arc::new(chain), n, config, seed, |_| Ok(MemoryStore::new()))
    }
}

impl<S: Store> LedgerNet<S> {
    /// `n` parties, each on the store `store(i)` makes, over a fresh embedded chain whose first `n` accounts are
    /// the parties' keys.
    pub async fn new(
        n: usize,
        config: Config,
        seed: u64,
        store: impl FnMut(usize) -> Result<S>,
    ) -> Result<Self> {
        let chain = Arc::new(EmbeddedChain::with_accounts(
            ferry_adjudicator::DEFAULT_CHAIN_ID,
            n + 1,
        )?);
        Self::on_chain(chain, n, config, seed, store)
    }

    /// `n` parties on `chain`, whose accounts 1..=n are the parties' keys.
    fn on_chain(
        chain: Arc<EmbeddedChain>,
        n: usize,
        config: Config,
        seed: u64,
        mut store: impl FnMut(usize) -> Result<S>,
    ) -> Result<Self> {
        let client = AdjudicatorClient::new(chain.clone());
        let ctx = ChainContext {
            chain_id: chain.chain_id(),
            adjudicator: chain.adjudicator(),
        };
        let mut parties = Vec::with_capacity(n);
        for i in 0..n {
            let signer = Signer::from_bytes(&EmbeddedChain::account_key(i + 1))?;
            let node = LedgerNode::open_store(signer.clone(), ctx, config.clone(), store(i)?, 0)?;
            parties.push(Party {
                signer,
                node: Some(node),
                crashed_store: None,
                events: Vec::new(),
                sent_signed: Default::default(),
                online: true,
                refused: Vec::new(),
                gas_used: 0,
            });
        }
        Ok(Self {
            chain,
            client,
            parties,
            now: 0,
            wire: Vec::new(),
            faults: Faults::default(),
            messages: 0,
            landed: Vec::new(),
            failed: Vec::new(),
            tick_ms: 100,
            divert_to: None,
            diverted: Vec::new(),
            config,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Party `i`'s address.
    pub fn address(&self, i: usize) -> Address {
        self.parties[i].signer.address()
    }

    /// Party `i`'s node (panics in a test when it is crashed: a harness misuse, not an input error).
    pub fn node(&mut self, i: usize) -> &mut LedgerNode<S> {
        match self.parties[i].node.as_mut() {
            Some(n) => n,
            None => panic!("party {i} is crashed"),
        }
    }

    fn index_of(&self, a: Address) -> Option<usize> {
        self.parties.iter().position(|p| p.signer.address() == a)
    }

    /// Moves every party's outputs: messages onto the wire (through the faults), events into its log.
    fn collect(&mut self) {
        for i in 0..self.parties.len() {
            let party = &mut self.parties[i];
            let Some(node) = party.node.as_mut() else {
                continue;
            };
            let mut out = Vec::new();
            while let Some(m) = node.poll_transmit() {
                out.push(m);
            }
            while let Some(e) = node.poll_event() {
                party.events.push(e);
            }
            for (to, msg) in out {
                self.note_signed(i, &msg);
                if !self.parties[i].online {
                    continue;
                }
                let Some(to) = self.index_of(to) else {
                    continue;
                };
                self.messages += 1;
                if self.rng.random_range(0..100u8) < self.faults.drop_pct {
                    continue;
                }
                let copies = if self.rng.random_range(0..100u8) < self.faults.dup_pct {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let delay = if self.faults.max_delay_ms == 0 {
                        0
                    } else {
                        self.rng.random_range(0..=self.faults.max_delay_ms)
                    };
                    self.wire.push(InFlight {
                        at: self.now + delay,
                        from: i,
                        to,
                        msg: msg.clone(),
                    });
                }
            }
        }
    }

    fn note_signed(&mut self, i: usize, msg: &LedgerMessage) {
        let (id, v) = match msg {
            LedgerMessage::Open { prefund, .. } => (prefund.channelId, 0),
            LedgerMessage::Sign {
                channel_id,
                version,
                ..
            } => (*channel_id, *version),
            LedgerMessage::Propose { state, .. } => (state.channelId, state.version.to::<u64>()),
            _ => return,
        };
        let e = self.parties[i].sent_signed.entry(id).or_insert(0);
        *e = (*e).max(v);
    }

    /// Delivers every message due by now (in delivery-time order) to online, running parties.
    fn deliver(&mut self) {
        self.wire.sort_by_key(|m| m.at);
        let due: Vec<InFlight> = {
            let split = self.wire.partition_point(|m| m.at <= self.now);
            self.wire.drain(..split).collect()
        };
        for m in due {
            if self.divert_to == Some(m.to) {
                self.diverted.push(m);
                continue;
            }
            let from = self.parties[m.from].signer.address();
            let now = self.now;
            let party = &mut self.parties[m.to];
            if !party.online {
                continue;
            }
            if let Some(node) = party.node.as_mut()
                && let Err(e) = node.handle_message(from, m.msg, now)
            {
                party.refused.push(e.to_string());
            }
        }
    }

    /// One step: outputs onto the wire, due messages delivered, timers, every running party's transactions and
    /// chain events, then the clock moves by `tick_ms`.
    pub async fn step(&mut self) -> Result<()> {
        self.collect();
        self.deliver();
        self.collect();
        for i in 0..self.parties.len() {
            let now = self.now;
            let from = self.parties[i].signer.address();
            let Some(node) = self.parties[i].node.as_mut() else {
                continue;
            };
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now)?;
            }
            let round = watcher::drive::<_, _, crate::Error>(
                &self.client,
                &watcher::LedgerTxs,
                from,
                node,
                now,
            )
            .await?;
            self.parties[i].gas_used += round.landed.iter().map(|(_, gas)| gas).sum::<u64>();
            self.landed.extend(round.landed);
            self.failed.extend(round.failed);
        }
        self.collect();
        if self.chain.confirmations() > 1 {
            self.chain.mine();
        }
        self.now += self.tick_ms;
        Ok(())
    }

    /// Steps until `done` holds or `max_steps` pass; returns whether it held.
    pub async fn run_until(
        &mut self,
        max_steps: usize,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<bool> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(true);
            }
            self.step().await?;
        }
        Ok(done(self))
    }

    /// Whether every running party has nothing in flight on any channel and the wire is empty.
    pub fn quiet(&self) -> bool {
        self.wire.is_empty()
            && self
                .parties
                .iter()
                .filter_map(|p| p.node.as_ref())
                .all(|n| n.channels().all(|c| !c.is_busy()))
    }

    /// Crashes party `i`: its node and every output it had not handed over are gone; its store keeps what was
    /// committed.
    pub fn crash(&mut self, i: usize) {
        if let Some(node) = self.parties[i].node.take() {
            self.parties[i].crashed_store = Some(node.into_store());
        }
    }

    /// Restarts a crashed party from its store.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        if let Some(store) = self.parties[i].crashed_store.take() {
            let ctx = ChainContext {
                chain_id: self.chain.chain_id(),
                adjudicator: self.chain.adjudicator(),
            };
            let node = LedgerNode::open_store(
                self.parties[i].signer.clone(),
                ctx,
                self.config.clone(),
                store,
                self.now,
            )?;
            self.parties[i].node = Some(node);
        }
        Ok(())
    }

    /// Moves the chain's clock forward (a new block carries the new time).
    pub async fn advance_chain_time(&self, secs: u64) -> Result<()> {
        self.chain.advance_time(secs).await?;
        Ok(())
    }

    /// Party `i`'s ETH balance on-chain.
    pub async fn eth_balance(&self, i: usize) -> Result<U256> {
        Ok(self.chain.balance(self.address(i)).await?)
    }
}
