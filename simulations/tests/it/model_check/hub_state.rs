//! Model 2 (a hub): its constants, the model's state (every node's store, the messages in flight, the hub's
//! mempool, the chain, the hub-signed states the endpoints hoard) and actions, and the virtual nodes it runs.

use std::hash::{Hash, Hasher};

use alloy::primitives::Address;
use ferry_ledger::Signer;
use ferry_ledger::contracts::{Signature, State};
use ferry_ledger::protocol::{Config, LedgerNode, NS_CHANNELS, NS_CURSOR, NS_LEAVES};
use ferry_ledger::store::MemoryStore;
use ferry_virtual::protocol::{
    AppKind, IntermediaryPolicy, Message, NS_PRUNED, NS_VIRTUAL, Tx as VTx, VirtualNode,
};

use super::chain::{Chain, Snapshot};
use super::hub_chain::VChain;
use super::{config, ctx, u};

/// The namespaces of a virtual node's store (its ledger node's and its own).
pub(super) const HUB_NS: [&str; 5] = [NS_CHANNELS, NS_LEAVES, NS_CURSOR, NS_VIRTUAL, NS_PRUNED];
/// The hub's routing fee.
pub(super) const FEE: u64 = 1;
/// A's balance in V (B starts with nothing).
pub(super) const V_A: u64 = 2;
/// Path members: the endpoints A and B (colluding), the hub H in between.
pub(super) const A: usize = 0;
pub(super) const H: usize = 1;
pub(super) const B: usize = 2;

pub(super) fn pay_app() -> Address {
    Address::repeat_byte(0xaa)
}

/// Messages in flight: (from, to, message).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(super) struct Wire(pub(super) Vec<(usize, usize, Message)>);

impl Hash for Wire {
    fn hash<S: Hasher>(&self, h: &mut S) {
        for (from, to, m) in &self.0 {
            (from, to).hash(h);
            ferry_ledger::store::encode(m).unwrap_or_default().hash(h);
        }
    }
}

/// The hub's pending transactions.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(super) struct HubPool(pub(super) Vec<VTx>);

impl Hash for HubPool {
    fn hash<S: Hasher>(&self, h: &mut S) {
        for tx in &self.0 {
            format!("{tx:?}").hash(h);
        }
    }
}

impl HubPool {
    pub(super) fn add(&mut self, tx: VTx) {
        if !self.0.contains(&tx) {
            self.0.push(tx);
        }
    }
}

/// What happens next: the honest schedule (`Pump`) or one of the colluding endpoints' deviations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum HAct {
    /// The network and the chain make honest progress: the hub's transactions land, else every message in flight
    /// is delivered, else the endpoints take their next step (A pays B, then B settles, then the hub is asked to
    /// take both ledgers on-chain), else time passes.
    Pump,
    /// The endpoint withholds (drops) every message it has in flight to the hub.
    Withhold(usize),
    /// The hub crashes and restarts from its store.
    Crash,
    /// The endpoint on ledger `k` registers hoarded hub-signed state `i` (challenge, or conclude for a final).
    LedgerAttack(usize),
    /// A and B conclude V with hoarded hub-signed final `i`, or challenge V with hoarded whole-path state `i`.
    VConclude(usize),
    VChallenge(usize),
    /// A and B challenge V with a version-2 state giving A `a` of V's funds, with the certificate they hoarded.
    VEndpoints(u64),
    /// Time passes (with the hub's transactions landed).
    Tick,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct HState {
    pub(super) stores: [Snapshot; 3],
    pub(super) wire: Wire,
    pub(super) pool: HubPool,
    pub(super) ledgers: [Chain; 2],
    pub(super) v: VChain,
    /// Hub-signed ledger states (ledger index, state, hub signature) and V states (state, hub signature).
    pub(super) hoard_l: Vec<(usize, State, Signature)>,
    pub(super) hoard_v: Vec<(State, Signature)>,
    /// The endpoints' schedule: 0 pay, 1 settle, 2 ask the hub to go on-chain, 3 done.
    pub(super) stage: u8,
    pub(super) deviations: u8,
    pub(super) ticks: u8,
    /// Ghost: the hub held V's certificate before V was final on-chain (so its fee is due).
    pub(super) certified: bool,
}

fn hub_config() -> Config {
    Config {
        peer_timeout_ms: 20_000,
        ..config()
    }
}

/// A virtual node restarted on `store`, with the payment app and (for the hub) its fee.
pub(super) fn vnode(key: &Signer, store: MemoryStore, now: u64) -> VirtualNode<MemoryStore> {
    let ledger = LedgerNode::open_store(key.clone(), ctx(), hub_config(), store, now)
        .unwrap_or_else(|e| panic!("ledger store: {e}"));
    let mut v =
        VirtualNode::open_store(ledger, now).unwrap_or_else(|e| panic!("virtual store: {e}"));
    v.set_app(pay_app(), AppKind::Payment);
    v.set_policy(IntermediaryPolicy {
        fee_flat: u(FEE),
        ..IntermediaryPolicy::default()
    });
    v
}

pub(super) type Out = (Vec<(Address, Message)>, Vec<VTx>);

pub(super) fn vdrain(node: &mut VirtualNode<MemoryStore>) -> Out {
    let mut msgs = Vec::new();
    let mut txs = Vec::new();
    while let Some(m) = node.poll_transmit() {
        msgs.push(m);
    }
    while let Some(t) = node.poll_tx() {
        txs.push(t);
    }
    while node.poll_event().is_some() {}
    (msgs, txs)
}
