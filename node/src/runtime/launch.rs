//! A node on QUIC: [`Node::launch`] builds the TLS identity, the stores and the transport, then starts the node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::primitives::Address;
use ferry_adjudicator::Chain;
use ferry_ledger::store::RedbStore;

use super::{Network, Node, NodeConfig};
use crate::transport::{Identity, Transport, TransportConfig};
use crate::{Error, Result};
use ferry_virtual::protocol::Message;

/// Where a node keeps its data and how it reaches its peers.
#[derive(Debug, Clone)]
pub struct NodeSetup {
    /// The folder for the channel store (`ferry.redb`), the transport's outbox (`outbox.redb`) and the TLS
    /// identity; `None` keeps everything in memory (lost when the process ends: for demos and benchmarks).
    pub data_dir: Option<PathBuf>,
    /// The QUIC address to listen on (port 0: the OS picks one; see [`Transport::local_addr`]).
    pub listen: SocketAddr,
    /// Peers whose QUIC address is known.
    pub peers: Vec<(Address, SocketAddr)>,
    /// Transport limits (window, outbox cap, flood limit, frame size, backoff); `listen` is taken from above.
    pub transport: TransportConfig,
}

impl Network for Transport {
    fn send_batch(&self, msgs: Vec<(Address, Message)>) -> Result<()> {
        Transport::send_batch(self, msgs).map_err(Error::from)
    }

    fn connected(&self) -> Vec<Address> {
        Transport::connected(self)
    }

    fn disconnect(&self, peer: Address, reason: &str) {
        Transport::disconnect(self, peer, reason);
    }

    fn forget(&self, peer: Address) {
        if let Err(e) = Transport::forget_peer(self, peer) {
            tracing::warn!(%peer, error = %e, "outbox: forgetting a peer");
        }
    }

    fn committed(&self, acks: Vec<(Address, u64)>) {
        for (peer, id) in acks {
            Transport::committed(self, peer, id);
        }
    }
}

impl Node {
    /// Starts a node on QUIC: its TLS identity (kept in the data folder), its channel store and outbox store
    /// (redb files there, or in memory), the transport listening on `setup.listen` with `setup.peers` known, and
    /// the node itself on `chain`. Returns the node and its transport (for [`Transport::local_addr`],
    /// [`Transport::add_peer`], [`Transport::stats`] and a clean [`Transport::shutdown`]).
    pub async fn launch(
        config: NodeConfig,
        setup: NodeSetup,
        chain: Arc<dyn Chain>,
    ) -> Result<(Node, Transport)> {
        let signer = config.signer.clone();
        let (identity, store, outbox) = match &setup.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Config(format!("data_dir {}: {e}", dir.display())))?;
                // The channel store groups its commits: the node syncs it once per flush, before anything leaves.
                let mut store = RedbStore::open(dir.join("ferry.redb"))?;
                store.set_group_commit(true);
                (
                    Identity::load_or_create(dir, signer)?,
                    store,
                    RedbStore::open(dir.join("outbox.redb"))?,
                )
            }
            None => (
                Identity::ephemeral(signer)?,
                RedbStore::in_memory()?,
                RedbStore::in_memory()?,
            ),
        };
        // A peer's message is acknowledged once the runtime's flush made its effect durable.
        let transport_config = TransportConfig {
            listen: setup.listen,
            ack_when_committed: true,
            ..setup.transport
        };
        let (transport, inbound) = Transport::start(transport_config, identity, outbox).await?;
        for (peer, at) in setup.peers {
            transport.add_peer(peer, at);
        }
        let net: Arc<dyn Network> = Arc::new(transport.clone());
        let node = Node::start(config, store, chain, net, inbound).await?;
        Ok((node, transport))
    }
}
