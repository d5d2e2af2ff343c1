//! How a [`Node`](super::Node) reaches its peers: the [`Network`] trait, implemented by the QUIC transport for real
//! nodes and by [`MemoryNetwork`] for nodes in one process (tests, simulations, SDK experiments).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use alloy::primitives::Address;
use tokio::sync::mpsc;

pub use crate::transport::Inbound;
use crate::{Error, Result};
use ferry_virtual::protocol::Message;

/// The sending side of a node's network. Delivery is best-effort from the protocol's point of view: the protocol
/// cores resend what a peer has not answered, so a message lost here is made good later.
pub trait Network: Send + Sync + 'static {
    /// Queues `msgs` for delivery (each `(to, message)`), without waiting for the network.
    fn send_batch(&self, msgs: Vec<(Address, Message)>) -> Result<()>;
    /// The peers connected now.
    fn connected(&self) -> Vec<Address>;
    /// Closes `peer`'s connection for misbehaving (`reason`) and refuses it for a while, where the network has
    /// connections to close; the default does nothing (a [`MemoryNetwork`] holds no strangers).
    fn disconnect(&self, peer: Address, reason: &str) {
        let _ = (peer, reason);
    }
    /// Drops what is still queued for `peer`, a peer the node no longer has any channel with; the default does
    /// nothing (a [`MemoryNetwork`] queues nothing).
    fn forget(&self, peer: Address) {
        let _ = peer;
    }

    /// What the node did with peers' messages up to these ids (per peer, from [`Inbound::Message`]'s `ack`) is
    /// durable: the network may acknowledge them. Nothing to do for a network that acknowledges on delivery.
    fn committed(&self, acks: Vec<(Address, u64)>) {
        let _ = acks;
    }
}

/// Nodes in one process, wired by bounded channels. A node that [`MemoryNetwork::leave`]s is unreachable
/// (messages to it are dropped, as by a network partition) until it joins again.
#[derive(Debug, Default)]
pub struct MemoryNetwork {
    peers: Mutex<HashMap<Address, mpsc::Sender<Inbound>>>,
}

/// Messages a node may have waiting in a [`MemoryNetwork`] before more are dropped.
pub const MEMORY_QUEUE: usize = 65_536;

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<Address, mpsc::Sender<Inbound>>> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins `address` to the network: returns its sending side and its inbound queue. Joining again replaces the
    /// previous membership (a restarted node).
    pub fn join(self: &Arc<Self>, address: Address) -> (Arc<MemoryLink>, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(MEMORY_QUEUE);
        let others: Vec<(Address, mpsc::Sender<Inbound>)> = {
            let mut peers = self.peers();
            peers.insert(address, tx.clone());
            peers
                .iter()
                .filter(|(a, _)| **a != address)
                .map(|(a, s)| (*a, s.clone()))
                .collect()
        };
        for (other, sender) in others {
            // Both sides learn of the other, as a transport reports a new connection.
            let _ = sender.try_send(Inbound::Connected(address));
            let _ = tx.try_send(Inbound::Connected(other));
        }
        let link = Arc::new(MemoryLink {
            net: self.clone(),
            me: address,
        });
        (link, rx)
    }

    /// Takes `address` off the network: messages to it are dropped from now on.
    pub fn leave(&self, address: Address) {
        let others: Vec<mpsc::Sender<Inbound>> = {
            let mut peers = self.peers();
            peers.remove(&address);
            peers.values().cloned().collect()
        };
        for sender in others {
            let _ = sender.try_send(Inbound::Disconnected {
                peer: address,
                reason: "left the network".into(),
            });
        }
    }
}

/// One node's side of a [`MemoryNetwork`].
#[derive(Debug)]
pub struct MemoryLink {
    net: Arc<MemoryNetwork>,
    me: Address,
}

impl Network for MemoryLink {
    fn send_batch(&self, msgs: Vec<(Address, Message)>) -> Result<()> {
        let peers = self.net.peers();
        if !peers.contains_key(&self.me) {
            return Err(Error::Network("this node left the network".into()));
        }
        for (to, msg) in msgs {
            if let Some(sender) = peers.get(&to) {
                // A full queue drops the message, as a congested link would; the cores resend.
                let _ = sender.try_send(Inbound::Message {
                    from: self.me,
                    msg,
                    ack: None,
                });
            }
        }
        Ok(())
    }

    fn connected(&self) -> Vec<Address> {
        self.net
            .peers()
            .keys()
            .filter(|a| **a != self.me)
            .copied()
            .collect()
    }
}
