//! QUIC transport between Ferry nodes: authenticated connections, a persisted outbox, acknowledgements, resends.
//!
//! - **Connections**: QUIC (quinn) with TLS 1.3 on rustls' ring provider. A node's TLS certificate is self-signed
//!   and accepted by any dialer: it only encrypts. Authentication is by channel key: each side sends a
//!   [`Hello`](crate::wire::Hello) signed by its channel key over `keccak256("ferry/hello/v1" ‖ ekm ‖ role)`,
//!   where `ekm` is 32 bytes of the connection's TLS keying-material exporter (label `"ferry hello"`) and `role`
//!   is 0 for the dialer and 1 for the acceptor — a proof is good for one connection and one direction only. The
//!   acceptor sends its `Hello` first; the dialer checks it against the address it meant to reach before it sends
//!   its own, so a wrong peer learns nothing.
//! - **One connection per peer**, carrying traffic both ways on one unidirectional stream per side (`Hello`, then
//!   `Msg`/`Ack` frames, see [`crate::wire`]). If both dial at once, the connection dialed by the lower address is
//!   kept and the other closed; a newer connection from the same dialer replaces the older one. A side whose only
//!   connection the peer closed as a duplicate dials again (with backoff, even with nothing to send) until it has
//!   one, so the two sides end up on the same connection even if they once decided differently.
//! - **Outbox**: [`Transport::send`] commits the message, with the peer's next id, to the transport's own store
//!   and returns. A per-connection writer sends the outbox in id order, at most `window` unacknowledged messages
//!   at a time (read from the store as the window opens). The receiver acknowledges cumulatively once a message is
//!   handed to the node, or (with [`TransportConfig::ack_when_committed`], as a node's runtime runs it) once the
//!   node reports what it did with it durable; acknowledged messages are deleted. After a reconnection everything unacknowledged is sent
//!   again, in order, with its original id, and the receiver drops what it already delivered.
//! - **Abuse** (malformed, oversize or unknown-version frames, frames out of place, acknowledgements of messages
//!   never sent, more than `max_frames_per_sec`, a frame not complete within `frame_timeout`) closes that connection
//!   only, with an application error code ([`close_code`]) and a reason, and is reported as [`Inbound::Rejected`].
//! - **Strangers are bounded** (anyone can reach a node and make a channel key): incoming connections are capped in
//!   total and per remote IP (IPv6: per /64), handshakes likewise; once many handshakes are in progress, a connection
//!   attempt from an address QUIC has not validated gets a Retry (it must prove it receives at its address before it
//!   holds anything). A connection's buffers have a budget (`conn_buffer`: frames read and not yet taken by the node,
//!   the frame being read included, and QUIC's own windows); the `Hello` is read with its own small limit
//!   ([`crate::wire::MAX_HELLO`]). The node closes a peer's connection with [`Transport::disconnect`] (e.g. too many
//!   refused messages), which refuses that peer for `ban`. Warnings about refusals are rate-limited
//!   (`max_warn_per_sec`, the rest counted in [`TransportStats::warnings_suppressed`]).

mod admission;
mod conn;
mod identity;
mod outbox;

pub use identity::{ALPN, CERT_FILE, Identity, KEY_FILE};
pub use outbox::NS_OUTBOX;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use ferry_ledger::store::{Batch, Store};
use tokio::sync::{mpsc, watch};

use crate::wire::{MAX_FRAME, WireError};
use ferry_virtual::protocol::Message;
use outbox::{PeerRecord, RecvWindow};

/// Application error codes a connection is closed with (the reason text says more).
pub mod close_code {
    /// The node shuts down.
    pub const SHUTDOWN: u32 = 0;
    /// Another connection to the same peer is kept.
    pub const DUPLICATE: u32 = 1;
    /// A frame that is malformed, truncated, of an unknown wire version, or out of place.
    pub const PROTOCOL: u32 = 2;
    /// A frame longer than the limit.
    pub const OVERSIZE: u32 = 3;
    /// The `Hello` does not prove the expected channel key.
    pub const AUTH: u32 = 4;
    /// More frames per second than allowed.
    pub const FLOOD: u32 = 5;
    /// No `Hello` in time.
    pub const TIMEOUT: u32 = 6;
    /// A frame whose first byte arrived was not complete within `frame_timeout`.
    pub const SLOW: u32 = 7;
    /// The node closed the connection ([`Transport::disconnect`](super::Transport::disconnect), e.g. too many
    /// refused messages) and refuses the peer for a while.
    pub const DISCONNECTED: u32 = 8;
    /// Too many connections (in total or from the remote's IP address).
    pub const BUSY: u32 = 9;
}

/// How many inbound events wait for the node before the transport stops taking messages in.
pub const INBOUND_CAPACITY: usize = 1024;

/// The transport's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The UDP address to listen on (and dial from).
    pub listen: SocketAddr,
    /// At most this many unacknowledged messages per peer are in flight (and in memory).
    pub window: usize,
    /// At most this many unacknowledged messages per peer in the outbox; [`Transport::send`] refuses more.
    pub max_outbox: usize,
    /// A connection sending more frames per second than this (token bucket, one second of burst) is closed.
    pub max_frames_per_sec: u32,
    /// The largest frame body accepted (at most [`MAX_FRAME`]); also the largest message [`Transport::send`] takes.
    pub max_frame: usize,
    /// The cap of the dial backoff (which starts at 100 ms and doubles).
    pub backoff_max: Duration,
    /// At most this many incoming connections at once (in their handshake or logged in); more are refused.
    pub max_connections: usize,
    /// At most this many incoming connections at once from one IP address (IPv6: one /64); more are refused.
    pub max_connections_per_ip: usize,
    /// At most this many incoming connections at once between their first packet and their `Hello`.
    pub max_handshakes: usize,
    /// At most this many of those handshakes from one IP address (IPv6: one /64).
    pub max_handshakes_per_ip: usize,
    /// Once this many handshakes are in progress (or a cap is reached), a connection attempt from an address QUIC has
    /// not validated is answered with a Retry: it holds nothing until it proves it receives at its address (0: always).
    pub validate_above: usize,
    /// A frame whose first byte arrived must be complete within this long (time spent waiting for the node to take
    /// earlier messages not counted), else the connection is closed ([`close_code::SLOW`]).
    pub frame_timeout: Duration,
    /// The buffer budget of one connection, in bytes (at least `max_frame`): frames read and not yet taken by the
    /// node, the one being read included (reading waits beyond it); also QUIC's receive and send windows.
    pub conn_buffer: usize,
    /// At most this many warnings a second about refused or closed connections; the rest are counted
    /// ([`TransportStats::warnings_suppressed`]).
    pub max_warn_per_sec: u32,
    /// How long a peer closed by [`Transport::disconnect`] is refused (and not dialed).
    pub ban: Duration,
    /// Acknowledge a peer's message only once the node reports that what it did with it is durable
    /// ([`Transport::committed`], told the message's id by [`Inbound::Message::ack`]), so a crash between taking
    /// a message in and committing its effect loses nothing: the peer sends it again. Off, a message is
    /// acknowledged when handed to the node (for users of the transport alone). A node's runtime turns it on.
    pub ack_when_committed: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            window: 256,
            max_outbox: 100_000,
            max_frames_per_sec: 20_000,
            max_frame: MAX_FRAME,
            backoff_max: Duration::from_secs(5),
            max_connections: 4096,
            max_connections_per_ip: 16,
            max_handshakes: 256,
            max_handshakes_per_ip: 8,
            validate_above: 128,
            frame_timeout: Duration::from_secs(10),
            conn_buffer: 2 * MAX_FRAME,
            max_warn_per_sec: 10,
            ban: Duration::from_secs(60),
            ack_when_committed: false,
        }
    }
}

/// What the transport hands the node.
// Messages are the common event; boxing them would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A message from an authenticated peer (each delivered once per transport run, in the peer's order).
    Message {
        /// The sender's channel address.
        from: Address,
        /// The message.
        msg: Message,
        /// With [`TransportConfig::ack_when_committed`]: the message's id, to report to [`Transport::committed`]
        /// once what the node did with it is durable (until then the peer keeps it and sends it again after a
        /// reconnection). `None`: acknowledged already.
        ack: Option<u64>,
    },
    /// A peer is connected (it proved its channel key).
    Connected(Address),
    /// A peer's connection ended.
    Disconnected {
        /// The peer.
        peer: Address,
        /// Why.
        reason: String,
    },
    /// A connection was refused or closed for misbehaving (or a dialed peer proved another address).
    Rejected {
        /// The remote socket address.
        remote: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Counters since start, and the current load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Frames written (`Hello`, `Msg`, `Ack`).
    pub frames_sent: u64,
    /// Frames read.
    pub frames_received: u64,
    /// Bytes of frames written (with their length prefixes).
    pub bytes_sent: u64,
    /// Bytes of frames read.
    pub bytes_received: u64,
    /// `Msg` frames written, resends included.
    pub messages_sent: u64,
    /// `Msg` frames written again after a reconnection (or a restart: what the outbox held at start counts).
    pub resent: u64,
    /// Messages handed to the node.
    pub delivered: u64,
    /// Messages received again after delivery, acknowledged and dropped.
    pub duplicates_dropped: u64,
    /// Connections refused or closed for misbehaving.
    pub rejected: u64,
    /// Connections closed because a frame was not complete within `frame_timeout` (also counted in `rejected`).
    pub slow_frames: u64,
    /// Incoming connections refused because the connection caps (`max_connections`, `max_connections_per_ip`) were
    /// reached.
    pub refused_connections: u64,
    /// Incoming connections refused because the handshake caps (`max_handshakes`, `max_handshakes_per_ip`) were
    /// reached.
    pub refused_handshakes: u64,
    /// Connection attempts answered with a QUIC Retry (address validation).
    pub retries: u64,
    /// Connections closed by [`Transport::disconnect`], and connections of a peer refused while it is banned.
    pub disconnects: u64,
    /// Warnings not logged for the `max_warn_per_sec` limit.
    pub warnings_suppressed: u64,
    /// Messages sent and not yet acknowledged, over all peers (each peer at most `window`).
    pub in_flight: u64,
    /// Messages in the outbox (unacknowledged), over all peers.
    pub outbox: u64,
    /// Peers connected now.
    pub connections: u64,
    /// Incoming connections held now (in their handshake or logged in).
    pub incoming: u64,
    /// Incoming connections in their handshake now.
    pub handshakes: u64,
    /// Bytes reserved in the connections' buffer budgets now, over all connections: frames being read (by their
    /// announced length; the memory grows only as their bytes arrive) and frames read but not yet taken by the node.
    pub buffered: u64,
}

/// What the transport refuses or fails at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The peer's outbox holds `max` unacknowledged messages already.
    #[error("outbox to {peer} is full ({max} unacknowledged messages)")]
    OutboxFull {
        /// The peer.
        peer: Address,
        /// The cap.
        max: usize,
    },
    /// The message does not fit in a frame.
    #[error("message of {len} bytes does not fit in a frame of at most {max}")]
    TooLarge {
        /// The encoded message's length.
        len: usize,
        /// The frame limit.
        max: usize,
    },
    /// A message addressed to this node itself.
    #[error("message to our own address {0}")]
    ToSelf(Address),
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The outbox store failed.
    #[error("outbox store: {0}")]
    Store(#[from] ferry_ledger::Error),
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// TLS or QUIC setup failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A file or socket operation failed.
    #[error("I/O: {0}")]
    Io(String),
    /// The transport is shut down.
    #[error("the transport is shut down")]
    Shutdown,
}

/// Counters behind [`TransportStats`].
#[derive(Debug, Default)]
struct Counters {
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    messages_sent: AtomicU64,
    resent: AtomicU64,
    delivered: AtomicU64,
    duplicates_dropped: AtomicU64,
    rejected: AtomicU64,
    slow_frames: AtomicU64,
    refused_connections: AtomicU64,
    refused_handshakes: AtomicU64,
    retries: AtomicU64,
    disconnects: AtomicU64,
    /// Shared with the frames' reservations, which give their bytes back when dropped.
    buffered: Arc<AtomicU64>,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Locks a mutex, recovering it if a panicking thread poisoned it (every update under these locks is complete
/// before anything that can panic).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The QUIC transport of a Ferry node. Cheap to clone (one `Arc` inside).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("address", &self.inner.address)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

/// One peer's state.
struct Peer {
    /// Where to dial it, if known.
    addr: Option<SocketAddr>,
    /// Its ids (in the store once a message to it was).
    record: PeerRecord,
    /// The highest id sent in this run (for counting resends).
    sent_high: u64,
    /// The connection carrying its traffic.
    link: Option<conn::Link>,
    /// A dial loop is running.
    dialing: bool,
    /// The peer closed our link as a duplicate and we have none: dial even with nothing to send, until a link is
    /// registered (so both sides end up with one even if they kept different connections).
    redial: bool,
    /// Which of its messages were delivered.
    recv: RecvWindow,
    /// The highest of its message ids the node reported committed ([`Transport::committed`]).
    committed: u64,
    /// Serializes the delivering tasks of its successive connections, so their events and messages reach the
    /// node in order.
    lane: Arc<tokio::sync::Mutex<()>>,
    /// Refused (and not dialed) until then: closed by [`Transport::disconnect`].
    banned_until: Option<Instant>,
    /// The node wrote to it, knows its address, or found it in the outbox at start: its entry stays. An entry
    /// that is none of these (a stranger that only sent) is dropped when its connection ends
    /// ([`Peer::forgettable`]), so keys that come and go leave nothing behind.
    kept: bool,
}

impl Peer {
    fn new(record: PeerRecord) -> Self {
        Self {
            addr: None,
            record,
            sent_high: 0,
            link: None,
            dialing: false,
            redial: false,
            recv: RecvWindow::default(),
            committed: 0,
            lane: Arc::new(tokio::sync::Mutex::new(())),
            banned_until: None,
            kept: false,
        }
    }

    /// Nothing of it is worth keeping once its connection ended: the node never wrote to it and does not know its
    /// address, nothing is queued or dialing, and it is not banned.
    fn forgettable(&self) -> bool {
        !self.kept
            && self.addr.is_none()
            && self.link.is_none()
            && !self.dialing
            && !self.redial
            && self.record.pending() == 0
            && self.ban_left().is_none()
    }

    /// How long it stays banned, if it is.
    fn ban_left(&self) -> Option<Duration> {
        self.banned_until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    fn live_link(&self) -> Option<&conn::Link> {
        self.link.as_ref().filter(|l| l.is_live())
    }

    /// Whether a connection to it is wanted: messages wait for it, or it closed our link as a duplicate.
    fn wants_link(&self) -> bool {
        self.record.pending() > 0 || self.redial
    }
}

struct Inner {
    config: TransportConfig,
    signer: ferry_ledger::Signer,
    address: Address,
    endpoint: quinn::Endpoint,
    client_config: quinn::ClientConfig,
    local_addr: SocketAddr,
    peers: Mutex<HashMap<Address, Peer>>,
    /// The outbox store; taken out at shutdown, so the file is free for the next start.
    store: Mutex<Option<Box<dyn Store>>>,
    inbound: mpsc::Sender<Inbound>,
    stats: Counters,
    shutdown: watch::Sender<bool>,
    next_link_id: AtomicU64,
    /// Incoming connections held, in total and per IP address.
    admission: Arc<admission::Admission>,
    /// The rate limit of warnings.
    warnings: admission::LogLimit,
}

impl Transport {
    /// Binds the endpoint on `config.listen`, loads the outbox's peer records from `outbox`, and starts accepting
    /// connections. The receiver gets every [`Inbound`] event; it is bounded ([`INBOUND_CAPACITY`]): while it is
    /// full, peers' messages wait in their connections (acknowledgements of our own messages still flow).
    pub async fn start<S: Store + 'static>(
        config: TransportConfig,
        identity: Identity,
        outbox: S,
    ) -> Result<(Transport, mpsc::Receiver<Inbound>), TransportError> {
        if config.window == 0 || config.max_outbox == 0 || config.max_frames_per_sec == 0 {
            return Err(TransportError::Config(
                "window, max_outbox and max_frames_per_sec must be positive".into(),
            ));
        }
        if !(64..=MAX_FRAME).contains(&config.max_frame) {
            return Err(TransportError::Config(format!(
                "max_frame must be within 64..={MAX_FRAME}"
            )));
        }
        if config.max_connections == 0
            || config.max_connections_per_ip == 0
            || config.max_handshakes == 0
            || config.max_handshakes_per_ip == 0
        {
            return Err(TransportError::Config(
                "max_connections, max_connections_per_ip, max_handshakes and max_handshakes_per_ip must be positive"
                    .into(),
            ));
        }
        if config.conn_buffer < config.max_frame || u32::try_from(config.conn_buffer).is_err() {
            return Err(TransportError::Config(format!(
                "conn_buffer must be within max_frame ({})..={}",
                config.max_frame,
                u32::MAX
            )));
        }
        if config.frame_timeout.is_zero() {
            return Err(TransportError::Config(
                "frame_timeout must be positive".into(),
            ));
        }
        let store: Box<dyn Store> = Box::new(outbox);
        let mut peers = HashMap::new();
        for (peer, record) in outbox::load_records(store.as_ref())? {
            let mut state = Peer::new(record);
            state.kept = true;
            // What the outbox holds at start was probably sent before: sending it again counts as a resend.
            state.sent_high = record.next_id.saturating_sub(1);
            peers.insert(peer, state);
        }
        let (server_config, client_config) = identity.quic_configs(config.conn_buffer as u64)?;
        let endpoint = quinn::Endpoint::server(server_config, config.listen)
            .map_err(|e| TransportError::Io(format!("bind {}: {e}", config.listen)))?;
        let local_addr = endpoint
            .local_addr()
            .map_err(|e| TransportError::Io(format!("local address: {e}")))?;
        let (inbound, receiver) = mpsc::channel(INBOUND_CAPACITY);
        let signer = identity.signer().clone();
        let admission = Arc::new(admission::Admission::new(&config));
        let warnings = admission::LogLimit::new(config.max_warn_per_sec);
        let inner = Arc::new(Inner {
            address: signer.address(),
            signer,
            config,
            endpoint,
            client_config,
            local_addr,
            peers: Mutex::new(peers),
            store: Mutex::new(Some(store)),
            inbound,
            stats: Counters::default(),
            shutdown: watch::Sender::new(false),
            next_link_id: AtomicU64::new(1),
            admission,
            warnings,
        });
        tokio::spawn(inner.clone().accept_loop());
        Ok((Transport { inner }, receiver))
    }

    /// The UDP address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Our channel address.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// Records where `peer` can be dialed. It is dialed when there is traffic for it (at once if the outbox holds
    /// some), with exponential backoff while it cannot be reached.
    pub fn add_peer(&self, peer: Address, at: SocketAddr) {
        if peer == self.inner.address {
            return;
        }
        {
            let mut peers = lock(&self.inner.peers);
            peers
                .entry(peer)
                .or_insert_with(|| Peer::new(PeerRecord::fresh()))
                .addr = Some(at);
        }
        self.inner.ensure_dialing(peer, Duration::ZERO);
    }

    /// Puts `msg` in `peer`'s outbox (one store commit) and returns; it is sent when a connection allows.
    pub fn send(&self, to: Address, msg: Message) -> Result<(), TransportError> {
        self.send_batch(vec![(to, msg)])
    }

    /// Puts every message in its peer's outbox, all in one store commit (all or nothing), in order.
    pub fn send_batch(&self, msgs: Vec<(Address, Message)>) -> Result<(), TransportError> {
        let touched = self.inner.enqueue(msgs)?;
        for peer in touched {
            let link = {
                let peers = lock(&self.inner.peers);
                peers.get(&peer).and_then(|p| p.live_link().cloned())
            };
            match link {
                Some(link) => link.wake(),
                None => self.inner.ensure_dialing(peer, Duration::ZERO),
            }
        }
        Ok(())
    }

    /// The peers connected now.
    pub fn connected(&self) -> Vec<Address> {
        let peers = lock(&self.inner.peers);
        let mut out: Vec<Address> = peers
            .iter()
            .filter(|(_, p)| p.live_link().is_some())
            .map(|(a, _)| *a)
            .collect();
        out.sort();
        out
    }

    /// Counters since start and the current load.
    pub fn stats(&self) -> TransportStats {
        let s = &self.inner.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut stats = TransportStats {
            frames_sent: load(&s.frames_sent),
            frames_received: load(&s.frames_received),
            bytes_sent: load(&s.bytes_sent),
            bytes_received: load(&s.bytes_received),
            messages_sent: load(&s.messages_sent),
            resent: load(&s.resent),
            delivered: load(&s.delivered),
            duplicates_dropped: load(&s.duplicates_dropped),
            rejected: load(&s.rejected),
            slow_frames: load(&s.slow_frames),
            refused_connections: load(&s.refused_connections),
            refused_handshakes: load(&s.refused_handshakes),
            retries: load(&s.retries),
            disconnects: load(&s.disconnects),
            warnings_suppressed: self.inner.warnings.suppressed(),
            buffered: load(&s.buffered),
            ..TransportStats::default()
        };
        let (incoming, handshakes) = self.inner.admission.load();
        stats.incoming = incoming as u64;
        stats.handshakes = handshakes as u64;
        let peers = lock(&self.inner.peers);
        for peer in peers.values() {
            stats.outbox += peer.record.pending();
            if let Some(link) = peer.live_link() {
                stats.connections += 1;
                stats.in_flight += link.sent_high().saturating_sub(peer.record.acked);
            }
        }
        stats
    }

    /// Closes `peer`'s connection (code [`close_code::DISCONNECTED`], with `reason`) and refuses it for
    /// `config.ban`: its connections are closed once it proves its key, and it is not dialed (its outbox waits).
    /// Used by the node for a peer that misbehaves above the transport, e.g. sends too many messages it refuses.
    pub fn disconnect(&self, peer: Address, reason: &str) {
        let inner = &self.inner;
        if peer == inner.address {
            return;
        }
        let link = {
            let mut peers = lock(&inner.peers);
            let state = peers
                .entry(peer)
                .or_insert_with(|| Peer::new(PeerRecord::fresh()));
            state.banned_until = Some(Instant::now() + inner.config.ban);
            let link = state.link.clone();
            // Strangers whose bans ended leave nothing behind (a disconnect takes many refusals: this is rare).
            peers.retain(|_, p| !p.forgettable());
            link
        };
        bump(&inner.stats.disconnects, 1);
        if let Some(suppressed) = inner.warnings.allow() {
            tracing::warn!(%peer, %reason, ban = ?inner.config.ban, suppressed, "peer disconnected");
        }
        if let Some(link) = link {
            link.close_here(close_code::DISCONNECTED, &format!("disconnected: {reason}"));
        }
    }

    /// The node made durable what it did with `peer`'s messages up to `id` (each told by
    /// [`Inbound::Message::ack`]): they are acknowledged to the peer, which drops them from its outbox. Only with
    /// [`TransportConfig::ack_when_committed`]; ids already reported change nothing.
    pub fn committed(&self, peer: Address, id: u64) {
        let link = {
            let mut peers = lock(&self.inner.peers);
            let Some(state) = peers.get_mut(&peer) else {
                // Forgotten since (a stranger whose connection ended): it sends again, and is delivered again.
                return;
            };
            if id <= state.committed {
                return;
            }
            state.committed = id;
            state.link.clone()
        };
        if let Some(link) = link {
            // On the current connection as far as it carried them; the rest when the peer sends them again there.
            link.ack_committed(id);
        }
    }

    /// Drops every message still waiting for `peer` (one store commit), as if acknowledged: for a peer the node no
    /// longer has any channel with, such as a stranger whose abandoned opens it forgot, so what a peer never
    /// acknowledges costs no store. The ids go on from where they were, so the peer's duplicate filter is not
    /// confused; a live connection stays.
    pub fn forget_peer(&self, peer: Address) -> Result<(), TransportError> {
        let inner = &self.inner;
        let mut peers = lock(&inner.peers);
        let Some(state) = peers.get_mut(&peer) else {
            return Ok(());
        };
        let mut record = state.record;
        let last = record.next_id.saturating_sub(1);
        let mut batch = Batch::new();
        for id in record.acked + 1..=last {
            batch.delete(NS_OUTBOX, outbox::message_key(&peer, id));
        }
        // Its record goes too: ids given to it later start from the clock (`PeerRecord::fresh`), above these.
        batch.delete(NS_OUTBOX, outbox::record_key(&peer));
        {
            let mut store = lock(&inner.store);
            let store = store.as_mut().ok_or(TransportError::Shutdown)?;
            store.commit(batch)?;
        }
        record.acked = last;
        state.record = record;
        state.kept = false;
        if state.forgettable() {
            peers.remove(&peer);
        }
        Ok(())
    }

    /// Peers the transport holds an entry for: those it knows the address of, wrote to, or is connected to.
    pub fn known_peers(&self) -> usize {
        lock(&self.inner.peers).len()
    }

    /// Closes every connection and the endpoint and releases the outbox store; what is unacknowledged stays in
    /// the store for the next start.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let code = quinn::VarInt::from_u32(close_code::SHUTDOWN);
        {
            let mut peers = lock(&inner.peers);
            for peer in peers.values_mut() {
                if let Some(link) = peer.link.take() {
                    link.conn.close(code, b"shutdown");
                }
            }
        }
        inner.endpoint.close(code, b"shutdown");
        // Connections first: the tasks that stop now must not end their streams on a connection still open.
        inner.shutdown.send_replace(true);
        drop(lock(&inner.store).take());
        let _ = tokio::time::timeout(Duration::from_secs(1), inner.endpoint.wait_idle()).await;
    }
}

impl Inner {
    fn is_shutdown(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once the transport shuts down.
    async fn shut_down(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Hands an event to the node; `false` if the node dropped its receiver or the transport shuts down.
    async fn emit(&self, event: Inbound) -> bool {
        tokio::select! {
            sent = self.inbound.send(event) => sent.is_ok(),
            () = self.shut_down() => false,
        }
    }

    /// Commits the messages to the outbox with fresh ids; the peers written to.
    fn enqueue(&self, msgs: Vec<(Address, Message)>) -> Result<Vec<Address>, TransportError> {
        if msgs.is_empty() {
            return Ok(Vec::new());
        }
        // Leave room for the frame around the message: variant, id, version byte.
        let max_message = self.config.max_frame.saturating_sub(16);
        let mut encoded = Vec::with_capacity(msgs.len());
        for (to, msg) in &msgs {
            if *to == self.address {
                return Err(TransportError::ToSelf(*to));
            }
            let bytes = ferry_ledger::store::encode(msg)?;
            if bytes.len() > max_message {
                return Err(TransportError::TooLarge {
                    len: bytes.len(),
                    max: max_message,
                });
            }
            encoded.push((*to, bytes));
        }
        let mut peers = lock(&self.peers);
        let mut records: BTreeMap<Address, PeerRecord> = BTreeMap::new();
        let mut batch = Batch::new();
        for (to, bytes) in encoded {
            let record = records.entry(to).or_insert_with(|| {
                peers
                    .get(&to)
                    .map(|p| p.record)
                    .unwrap_or_else(PeerRecord::fresh)
            });
            if record.pending() >= self.config.max_outbox as u64 {
                return Err(TransportError::OutboxFull {
                    peer: to,
                    max: self.config.max_outbox,
                });
            }
            batch.put_raw(NS_OUTBOX, outbox::message_key(&to, record.next_id), bytes);
            record.next_id += 1;
        }
        for (peer, record) in &records {
            outbox::put_record(&mut batch, peer, record)?;
        }
        {
            let mut store = lock(&self.store);
            let store = store.as_mut().ok_or(TransportError::Shutdown)?;
            store.commit(batch)?;
        }
        let touched: Vec<Address> = records.keys().copied().collect();
        for (peer, record) in records {
            let state = peers.entry(peer).or_insert_with(|| Peer::new(record));
            state.record = record;
            state.kept = true;
        }
        Ok(touched)
    }

    /// Starts a dial loop for `peer` unless one runs, it is connected, its address is unknown or no link is wanted
    /// (nothing waits for it, and it did not close our link as a duplicate).
    fn ensure_dialing(self: &Arc<Self>, peer: Address, delay: Duration) {
        if self.is_shutdown() {
            return;
        }
        {
            let mut peers = lock(&self.peers);
            let Some(state) = peers.get_mut(&peer) else {
                return;
            };
            if state.dialing
                || state.addr.is_none()
                || !state.wants_link()
                || state.live_link().is_some()
            {
                return;
            }
            state.dialing = true;
        }
        tokio::spawn(self.clone().dial_loop(peer, delay));
    }

    /// Dials `peer` until it is connected (by us or by it), no link is wanted any more, or shutdown. Backs off
    /// after every dial, also one that connected: a connection closed at once (a duplicate the peer rejected while
    /// its own connection to us is in its handshake) is not dialed again right away.
    async fn dial_loop(self: Arc<Self>, peer: Address, first_delay: Duration) {
        let initial = Duration::from_millis(100);
        let mut backoff = initial;
        let mut delay = first_delay;
        let mut failed = false;
        loop {
            if !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.shut_down() => {}
                }
            }
            let addr = {
                let mut peers = lock(&self.peers);
                let Some(state) = peers.get_mut(&peer) else {
                    return;
                };
                let addr = state.addr;
                if self.is_shutdown() || !state.wants_link() || state.live_link().is_some() {
                    state.dialing = false;
                    return;
                }
                let Some(addr) = addr else {
                    state.dialing = false;
                    return;
                };
                // Disconnected by the node: not dialed until the ban ends.
                match state.ban_left() {
                    Some(left) => Err(left),
                    None => Ok(addr),
                }
            };
            let addr = match addr {
                Ok(addr) => addr,
                Err(left) => {
                    delay = left;
                    continue;
                }
            };
            match self.clone().dial(peer, addr).await {
                Ok(()) => {
                    // Connected after failures: the backoff starts over (it grows again while the connections are
                    // closed at once).
                    if failed {
                        backoff = initial;
                    }
                    failed = false;
                }
                Err(reason) => {
                    tracing::debug!(%peer, %addr, %reason, "dial failed");
                    failed = true;
                    // Unreachable: only messages waiting for it keep us dialing.
                    if let Some(state) = lock(&self.peers).get_mut(&peer) {
                        state.redial = false;
                    }
                }
            }
            delay = backoff;
            backoff = (backoff * 2).min(self.config.backoff_max.max(initial));
        }
    }

    /// Takes in an acknowledgement of every id up to `id` received on `link`: deletes them from the outbox.
    /// `Err` names a violation (an id never sent on this link).
    fn on_ack(&self, peer: Address, link: &conn::Link, id: u64) -> Result<(), String> {
        if id > link.sent_high() {
            return Err(format!(
                "acknowledgement of message {id}, never sent on this connection"
            ));
        }
        let mut peers = lock(&self.peers);
        let Some(state) = peers.get_mut(&peer) else {
            return Ok(());
        };
        if id <= state.record.acked {
            return Ok(());
        }
        let mut record = state.record;
        let mut batch = Batch::new();
        for acked in record.acked + 1..=id {
            batch.delete(NS_OUTBOX, outbox::message_key(&peer, acked));
        }
        record.acked = id;
        if let Err(e) = outbox::put_record(&mut batch, &peer, &record) {
            tracing::error!(%peer, error = %e, "outbox record");
            return Ok(());
        }
        {
            let mut store = lock(&self.store);
            let Some(store) = store.as_mut() else {
                return Ok(());
            };
            if let Err(e) = store.commit(batch) {
                // The messages stay; the next acknowledgement deletes them.
                tracing::error!(%peer, error = %e, "outbox commit of an acknowledgement");
                return Ok(());
            }
        }
        state.record = record;
        drop(peers);
        link.wake();
        Ok(())
    }

    /// The next messages `link` may send to `peer` within the window, read from the store and marked sent;
    /// `None` if the link no longer carries the peer's traffic.
    fn next_batch(&self, peer: Address, link: &conn::Link) -> Option<Vec<(u64, Message)>> {
        let mut peers = lock(&self.peers);
        let state = peers.get_mut(&peer)?;
        if state.link.as_ref().map(|l| l.id) != Some(link.id) {
            return None;
        }
        let from = link.sent_high().max(state.record.acked) + 1;
        let last = (state.record.next_id - 1)
            .min(state.record.acked.saturating_add(self.config.window as u64));
        if last < from {
            return Some(Vec::new());
        }
        let store = lock(&self.store);
        let store = store.as_ref()?;
        let mut out = Vec::with_capacity((last - from + 1) as usize);
        for id in from..=last {
            match outbox::load_message(store.as_ref(), &peer, id) {
                Ok(Some(msg)) => out.push((id, msg)),
                // Unreadable or missing: skipped; the next acknowledgement covers its id.
                Ok(None) => tracing::error!(%peer, id, "outbox message missing"),
                Err(e) => tracing::error!(%peer, id, error = %e, "outbox message unreadable"),
            }
        }
        link.set_sent_high(last);
        let resent = state.sent_high.min(last).saturating_sub(from - 1);
        bump(&self.stats.resent, resent);
        state.sent_high = state.sent_high.max(last);
        Some(out)
    }

    /// Records the delivery of message `id` from `peer`; whether it is new.
    /// The highest of `peer`'s ids the node reported committed.
    fn committed_of(&self, peer: Address) -> u64 {
        lock(&self.peers).get(&peer).map_or(0, |p| p.committed)
    }

    fn accept_incoming(&self, peer: Address, id: u64) -> bool {
        let mut peers = lock(&self.peers);
        peers
            .entry(peer)
            .or_insert_with(|| Peer::new(PeerRecord::fresh()))
            .recv
            .accept(id)
    }
}

#[cfg(test)]
mod tests;
