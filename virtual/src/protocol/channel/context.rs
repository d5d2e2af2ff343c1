//! What a channel step borrows from its node ([`NodeContext`]): the ledger node, the key, the chain, the apps,
//! the guard's registry, the output queues and what was asked for once per start.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use alloy::primitives::{Address, B256, U256};
use ferry_ledger::params::DurationPolicy;
use ferry_ledger::protocol::{LedgerNode, Phase};
use ferry_ledger::store::Store;
use ferry_ledger::{ChainContext, ChannelParams, Signature, Signer, State};

use super::super::registry::{Entry, Registry};
use super::super::{
    AppRules, Message, VirtualError, VirtualEvent, VirtualMessage, VirtualTx, leaf,
};
use super::{VirtualChannel, verr};
use crate::Result;

/// What a node's channels produced, waiting to be polled.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    /// Messages to path members.
    pub(crate) transmits: VecDeque<(Address, Message)>,
    /// Events for the user.
    pub(crate) events: VecDeque<VirtualEvent>,
    /// Transactions V needs on-chain.
    pub(crate) txs: VecDeque<VirtualTx>,
}

/// Something a member asks for at most once per start (asked again after a restart: a repeated transaction reverts
/// harmlessly, a repeated ledger request is refused), as the key that remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Once {
    /// V challenged on this member's own account: an open that timed out after it signed the post-fund, or a
    /// ledger of its that went on-chain with V's leaf (S8, S9).
    Challenge(B256),
    /// V's registration of this version answered with a newer state (S5).
    Answer(B256, u64),
    /// This endpoint's own `progress` move on V's registration of this version (S7).
    OwnMove(B256, u64),
    /// V concluded with its final, per registered version (`u64::MAX` when none is registered) (S5, S10).
    Conclude(B256, u64),
    /// V's leaf claimed in this ledger (S9).
    Claim {
        /// V.
        channel: B256,
        /// The ledger.
        ledger: B256,
    },
    /// V's leaf asked out of this ledger by the member on B's side, V being final on-chain (S10).
    RightRemoval {
        /// V.
        channel: B256,
        /// The ledger.
        ledger: B256,
    },
    /// This ledger taken on-chain because a resolved V's leaf stayed in it ([`ESCALATE_MS`](super::ESCALATE_MS)).
    Escalate(B256),
    /// V's challenge bond asked back once V is final on-chain (S17).
    ReclaimBond(B256),
}

impl Once {
    /// The virtual channel the key is about (none for a ledger's escalation, which outlives any one V).
    pub(crate) fn channel(&self) -> Option<B256> {
        match self {
            Once::Challenge(v)
            | Once::Answer(v, _)
            | Once::OwnMove(v, _)
            | Once::Conclude(v, _)
            | Once::ReclaimBond(v) => Some(*v),
            Once::Claim { channel, .. } | Once::RightRemoval { channel, .. } => Some(*channel),
            Once::Escalate(_) => None,
        }
    }
}

/// What a virtual channel's step needs of its node (as quinn-proto's `Connection` gets its endpoint's context):
/// borrowed for one step, so the channel's logic sees only this and its own record.
pub(crate) struct NodeContext<'a, S: Store> {
    /// The ledger node: V's leaves live in its ledgers.
    pub(crate) ledger: &'a mut LedgerNode<S>,
    /// This member's key.
    pub(crate) signer: &'a Signer,
    /// The chain and adjudicator the states are signed for.
    pub(crate) chain: &'a ChainContext,
    /// The challenge durations this node accepts (S6).
    pub(crate) durations: &'a DurationPolicy,
    /// The apps this node knows the rules of, by address.
    pub(crate) apps: &'a HashMap<Address, AppRules>,
    /// The ledger guard's view of the virtual channels (S8, S10).
    pub(crate) registry: &'a Mutex<Registry>,
    /// Where messages, events and transactions go.
    pub(crate) out: &'a mut Outputs,
    /// What was asked for once per start.
    pub(crate) asked: &'a mut BTreeSet<Once>,
}

impl<S: Store> NodeContext<'_, S> {
    /// Sends a virtual-protocol message.
    pub(crate) fn send(&mut self, to: Address, msg: VirtualMessage) {
        self.out.transmits.push_back((to, Message::Virtual(msg)));
    }

    /// Reports an event.
    pub(crate) fn event(&mut self, event: VirtualEvent) {
        self.out.events.push_back(event);
    }

    /// Asks for a transaction.
    pub(crate) fn tx(&mut self, tx: VirtualTx) {
        self.out.txs.push_back(tx);
    }

    /// Whether `key` was not asked for yet since the start; remembers it.
    pub(crate) fn once(&mut self, key: Once) -> bool {
        self.asked.insert(key)
    }

    /// This member's signature on a state.
    pub(crate) fn sign(&self, state: &State) -> Signature {
        self.signer.sign_state(self.chain, state)
    }

    /// The app at `app`, when this node knows its rules.
    pub(crate) fn app_at(&self, app: Address) -> Result<AppRules> {
        self.apps
            .get(&app)
            .cloned()
            .ok_or(verr(VirtualError::UnknownApp(app)))
    }

    /// The app of a channel with `params`, when this node knows its rules.
    pub(crate) fn app_of(&self, params: &ChannelParams) -> Result<AppRules> {
        self.app_at(params.app)
    }

    /// Brings the guard's entry for V in line with this member's record of V (S8, S10): the entry is derived from
    /// the record alone, so what the guard allows is the same before and after a restart.
    pub(crate) fn sync(&self, ch: &VirtualChannel) {
        if let Ok(mut reg) = self.registry.lock() {
            reg.entries.insert(ch.id, Entry::of(ch));
        }
    }

    /// Checks that `hop` is a running ledger of this node with `peer`.
    pub(crate) fn check_ledger(&self, hop: B256, peer: Address) -> Result<()> {
        match self.ledger.channel(&hop) {
            Some(l) if l.peer() == peer && l.phase() == Phase::Running => Ok(()),
            _ => Err(verr(VirtualError::LedgerMissing(hop))),
        }
    }

    /// Whether ledger `hop`'s table (of the latest state this node signed) holds V's leaf.
    pub(crate) fn holds(&self, hop: B256, id: &B256) -> bool {
        self.ledger.table(&hop).is_some_and(|t| t.contains(id))
    }

    /// Whether V's leaf is gone from ledger `hop` for good: removed by a state both participants signed, with no
    /// state this member signed above it that the peer could still complete and register (a proposal in flight,
    /// or one abandoned when the ledger went on-chain, whose fate the chain decides) unless the ledger is final.
    pub(crate) fn leaf_gone(&self, hop: B256, id: &B256) -> bool {
        !self.holds(hop, id)
            && self.table_is_signed(hop)
            && self.ledger.channel(&hop).is_some_and(|l| {
                l.finalized_state().is_some()
                    || l.supported()
                        .is_some_and(|s| s.version() >= l.signed_up_to())
            })
    }

    /// Whether ledger `hop`'s table is that of the state both participants signed (no update of it in flight).
    pub(crate) fn table_is_signed(&self, hop: B256) -> bool {
        self.ledger
            .channel(&hop)
            .and_then(|l| l.supported())
            .zip(self.ledger.table(&hop))
            .is_some_and(|(s, t)| s.state.outcome.subRoot == t.root())
    }

    /// Whether ledger `hop` is running (funded at the confirmation depth, undisputed).
    pub(crate) fn is_running(&self, hop: B256) -> bool {
        self.ledger
            .channel(&hop)
            .is_some_and(|l| l.phase() == Phase::Running)
    }

    /// What V's leaf in ledger `hop`, as this member's table holds it, pays each ledger participant by V's state
    /// `state` (the claim's split, the routing fee included).
    pub(crate) fn payout_in(
        &self,
        hop: B256,
        ch: &VirtualChannel,
        state: &State,
    ) -> Option<[Vec<U256>; 2]> {
        let params = self.ledger.channel(&hop)?.params();
        let leaf = self.ledger.table(&hop)?.get(&ch.id)?;
        leaf::split(params, &ch.params, state, leaf).ok()
    }
}
