//! Connections: the `Hello` handshake (dialer and acceptor), registration (one connection per peer), and the
//! three tasks of a registered connection — the reader (frames in: acknowledgements at once, messages to the
//! delivery queue), the deliverer (messages to the node, then their acknowledgement) and the writer (our
//! acknowledgements and the outbox within the window).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, keccak256};
use quinn::VarInt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::admission::{Full, Slot, Verdict};
use super::identity::SERVER_NAME;
use super::{Inbound, Inner, Peer, bump, close_code, lock};
use crate::wire::{self, Frame, Hello, WireError};
use ferry_virtual::protocol::Message;

/// The domain string in front of every hello digest.
pub const HELLO_DOMAIN: &[u8] = b"ferry/hello/v1";
/// The exporter label of the keying material a `Hello` is bound to.
pub const HELLO_LABEL: &[u8] = b"ferry hello";
/// The handshake version in [`Hello::version`].
pub const HELLO_VERSION: u16 = 1;
/// Time for the QUIC handshake, and then for the `Hello` exchange.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which side of a connection signs a `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Dialer = 0,
    Acceptor = 1,
}

/// The digest a `Hello` signs on `conn` for `role`: `keccak256(HELLO_DOMAIN ‖ ekm ‖ role)`.
pub(crate) fn hello_digest(conn: &quinn::Connection, role: Role) -> Result<B256, String> {
    let mut ekm = [0u8; 32];
    conn.export_keying_material(&mut ekm, HELLO_LABEL, b"")
        .map_err(|_| "the TLS session exports no keying material".to_string())?;
    let mut data = Vec::with_capacity(HELLO_DOMAIN.len() + 33);
    data.extend_from_slice(HELLO_DOMAIN);
    data.extend_from_slice(&ekm);
    data.push(role as u8);
    Ok(keccak256(data))
}

/// The `Hello` `signer` sends on `conn` as `role`.
pub(crate) fn make_hello(
    signer: &ferry_ledger::Signer,
    conn: &quinn::Connection,
    role: Role,
) -> Result<Hello, String> {
    Ok(Hello {
        version: HELLO_VERSION,
        address: signer.address(),
        sig: signer.sign_digest(&hello_digest(conn, role)?),
    })
}

/// The address a `Hello` received on `conn` from the side playing `role` proves.
fn verify_hello(conn: &quinn::Connection, hello: &Hello, role: Role) -> Result<Address, Refusal> {
    if hello.version != HELLO_VERSION {
        return Err(Refusal::auth(format!(
            "hello version {}, this build speaks {HELLO_VERSION}",
            hello.version
        )));
    }
    let digest = hello_digest(conn, role).map_err(Refusal::auth)?;
    let signer = ferry_ledger::signature::recover(&digest, &hello.sig)
        .map_err(|_| Refusal::auth("hello signature is malformed".into()))?;
    if signer != hello.address {
        return Err(Refusal::auth(format!(
            "hello claims {} but is not signed for this connection by it (replayed or forged)",
            hello.address
        )));
    }
    Ok(signer)
}

/// Why a connection is not taken: the close code, the reason, and whether it is the remote's fault (reported as
/// [`Inbound::Rejected`]) rather than a failed connection.
#[derive(Debug)]
struct Refusal {
    code: u32,
    reason: String,
    report: bool,
}

impl Refusal {
    fn auth(reason: String) -> Self {
        Self {
            code: close_code::AUTH,
            reason,
            report: true,
        }
    }

    fn lost(e: impl std::fmt::Display) -> Self {
        Self {
            code: close_code::SHUTDOWN,
            reason: e.to_string(),
            report: false,
        }
    }

    fn timeout() -> Self {
        Self {
            code: close_code::TIMEOUT,
            reason: "no hello in time".into(),
            report: true,
        }
    }

    fn wire(e: WireError) -> Self {
        if e.is_violation() {
            Self {
                code: violation_code(&e),
                reason: e.to_string(),
                report: true,
            }
        } else {
            Self::lost(e)
        }
    }
}

fn violation_code(e: &WireError) -> u32 {
    match e {
        WireError::Oversize { .. } => close_code::OVERSIZE,
        WireError::Slow(_) => close_code::SLOW,
        _ => close_code::PROTOCOL,
    }
}

/// Reads the first frame of a stream, which must be a `Hello` (at most [`wire::MAX_HELLO`] bytes).
async fn read_hello(recv: &mut quinn::RecvStream) -> Result<Hello, Refusal> {
    match wire::read_frame(recv, wire::MAX_HELLO).await {
        Ok(Some(Frame::Hello(hello))) => Ok(hello),
        Ok(Some(Frame::Msg { .. })) => Err(Refusal {
            code: close_code::PROTOCOL,
            reason: "a message before the hello".into(),
            report: true,
        }),
        Ok(Some(Frame::Ack { .. })) => Err(Refusal {
            code: close_code::PROTOCOL,
            reason: "an acknowledgement before the hello".into(),
            report: true,
        }),
        Ok(None) => Err(Refusal::lost("stream finished before the hello")),
        Err(e) => Err(Refusal::wire(e)),
    }
}

/// How a connection ended, for the deliverer to report after the last message.
#[derive(Debug, Clone)]
struct LinkEnd {
    reason: String,
    violation: bool,
    was_current: bool,
}

/// A registered connection to a peer.
#[derive(Clone)]
pub(super) struct Link {
    /// This run's number for it.
    pub id: u64,
    /// The connection.
    pub conn: quinn::Connection,
    /// Who dialed it.
    pub dialer: Address,
    /// When it was registered.
    pub since: std::time::Instant,
    shared: Arc<LinkShared>,
}

/// A connection we dialed that the peer has been silent on for this long is presumed dead (the peer restarted) when
/// the peer dials a new one: the new one replaces it instead of waiting for the idle timeout. See
/// [`Link::presumed_dead`].
pub(super) const SIMULTANEOUS_DIAL: std::time::Duration = std::time::Duration::from_secs(2);

struct LinkShared {
    /// The highest id sent on this connection (or the acknowledged id it started from).
    sent_high: AtomicU64,
    /// The highest id taken in from the peer and not yet acknowledged (0: none).
    pending_ack: AtomicU64,
    /// The highest id the peer sent on this connection that reached the deliverer: the highest this side may
    /// acknowledge on it (the peer refuses an acknowledgement of an id it never sent on the connection).
    received_high: AtomicU64,
    /// Wakes the writer: new messages, an opened window, an acknowledgement to send.
    notify: Notify,
    /// When the last frame after the `Hello` came in, in milliseconds after `since`, plus one (0: none yet).
    heard: AtomicU64,
    end: Mutex<Option<LinkEnd>>,
    /// Why we closed it, if we did on purpose ([`Link::close_here`]).
    closing: Mutex<Option<String>>,
}

impl Link {
    fn new(id: u64, conn: quinn::Connection, dialer: Address) -> Self {
        Self {
            id,
            conn,
            dialer,
            since: std::time::Instant::now(),
            shared: Arc::new(LinkShared {
                sent_high: AtomicU64::new(0),
                pending_ack: AtomicU64::new(0),
                received_high: AtomicU64::new(0),
                notify: Notify::new(),
                heard: AtomicU64::new(0),
                end: Mutex::new(None),
                closing: Mutex::new(None),
            }),
        }
    }

    /// Whether the connection is still open.
    pub fn is_live(&self) -> bool {
        self.conn.close_reason().is_none()
    }

    /// Closes the connection with `code` and `reason`, which its end is reported with.
    pub fn close_here(&self, code: u32, reason: &str) {
        *lock(&self.shared.closing) = Some(reason.to_string());
        self.conn.close(VarInt::from_u32(code), reason.as_bytes());
    }

    fn closing(&self) -> Option<String> {
        lock(&self.shared.closing).clone()
    }

    /// Records a frame from the peer (after the `Hello`).
    fn heard(&self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.shared.heard.fetch_max(ms + 1, Ordering::AcqRel);
    }

    /// Whether this connection, which we (the lower address) dialed, is presumed dead now that the peer dials a
    /// new one (the peer restarted and lost it): the peer has sent nothing on it for [`SIMULTANEOUS_DIAL`], or
    /// nothing at all for [`HANDSHAKE_TIMEOUT`].
    ///
    /// The peer keeps ours over its own new one (ours was dialed by the lower address) whenever it registers ours,
    /// so replacing ours while the peer still has it, or is still to register it, makes the two sides keep
    /// different connections and close both. The peer only writes on a connection once it registered it: one it
    /// never wrote on may still be in its handshake (a slow or loaded peer, which dialed meanwhile because it had no
    /// connection yet) — past the handshake timeout the peer has registered it or closed it. One it wrote on
    /// recently is in use by it (its new connection was dialed before it registered ours).
    pub fn presumed_dead(&self) -> bool {
        match self.shared.heard.load(Ordering::Acquire) {
            0 => self.since.elapsed() > HANDSHAKE_TIMEOUT.max(SIMULTANEOUS_DIAL),
            heard => {
                let last = self.since + Duration::from_millis(heard - 1);
                last.elapsed() > SIMULTANEOUS_DIAL
            }
        }
    }

    /// Whether the peer closed the connection as a duplicate (it keeps another one).
    fn closed_as_duplicate(&self) -> bool {
        matches!(
            self.conn.close_reason(),
            Some(quinn::ConnectionError::ApplicationClosed(close))
                if close.error_code == VarInt::from_u32(close_code::DUPLICATE)
        )
    }

    /// The highest id sent on this connection.
    pub fn sent_high(&self) -> u64 {
        self.shared.sent_high.load(Ordering::Acquire)
    }

    pub(super) fn set_sent_high(&self, id: u64) {
        self.shared.sent_high.store(id, Ordering::Release);
    }

    /// Wakes the writer.
    pub fn wake(&self) {
        self.shared.notify.notify_one();
    }

    fn ack(&self, id: u64) {
        self.shared.pending_ack.fetch_max(id, Ordering::AcqRel);
        self.wake();
    }

    /// Acknowledges what the node committed (`committed`, cumulative) as far as this connection carried it.
    pub(super) fn ack_committed(&self, committed: u64) {
        let carried = self.shared.received_high.load(Ordering::Acquire);
        let id = committed.min(carried);
        if id != 0 {
            self.ack(id);
        }
    }

    fn take_pending_ack(&self) -> Option<u64> {
        Some(self.shared.pending_ack.swap(0, Ordering::AcqRel)).filter(|id| *id != 0)
    }
}

/// A frame's bytes in its connection's buffer budget, and in the transport's `buffered` count, until dropped.
pub(super) struct Reserved {
    _permit: OwnedSemaphorePermit,
    bytes: u64,
    buffered: Arc<AtomicU64>,
}

impl Reserved {
    fn new(permit: OwnedSemaphorePermit, bytes: u64, buffered: &Arc<AtomicU64>) -> Self {
        buffered.fetch_add(bytes, Ordering::Relaxed);
        Self {
            _permit: permit,
            bytes,
            buffered: buffered.clone(),
        }
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.buffered.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Frames per second with one second of burst.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(per_sec: u32) -> Self {
        Self {
            rate: f64::from(per_sec),
            tokens: f64::from(per_sec),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Describes why a connection closed.
fn describe(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => format!(
            "closed by the peer (code {}): {}",
            close.error_code,
            String::from_utf8_lossy(&close.reason)
        ),
        quinn::ConnectionError::LocallyClosed => "closed here".into(),
        quinn::ConnectionError::TimedOut => "timed out".into(),
        other => other.to_string(),
    }
}

impl Inner {
    /// Accepts connections until shutdown.
    pub(super) async fn accept_loop(self: Arc<Self>) {
        loop {
            let incoming = tokio::select! {
                incoming = self.endpoint.accept() => incoming,
                () = self.shut_down() => None,
            };
            let Some(incoming) = incoming else {
                return;
            };
            let remote = incoming.remote_address();
            match self
                .admission
                .admit(remote, incoming.remote_address_validated())
            {
                Verdict::Admit(slot) => {
                    tokio::spawn(self.clone().accept(incoming, slot));
                }
                Verdict::Validate => match incoming.retry() {
                    Ok(()) => bump(&self.stats.retries, 1),
                    // Only an address already validated cannot be retried; it is not asked to.
                    Err(e) => e.into_incoming().ignore(),
                },
                Verdict::Refuse(full, reason) => {
                    self.count_full(full);
                    if let Some(suppressed) = self.warnings.allow() {
                        tracing::warn!(%remote, reason, suppressed, "connection refused");
                    }
                    incoming.refuse();
                }
            }
        }
    }

    fn count_full(&self, full: Full) {
        match full {
            Full::Connections => bump(&self.stats.refused_connections, 1),
            Full::Handshakes => bump(&self.stats.refused_handshakes, 1),
        }
    }

    /// Takes an admitted connection through its handshakes; `slot` is its place in the counts, held for as long as
    /// the connection.
    async fn accept(self: Arc<Self>, incoming: quinn::Incoming, mut slot: Slot) {
        let remote = incoming.remote_address();
        let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "incoming QUIC handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "incoming QUIC handshake timed out");
                return;
            }
        };
        // The handshake completed: the remote receives at its address, which now counts.
        if let Err((full, reason)) = slot.proven() {
            self.count_full(full);
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(%remote, reason, suppressed, "connection refused");
            }
            conn.close(VarInt::from_u32(close_code::BUSY), reason.as_bytes());
            return;
        }
        let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor_hello(&conn))
            .await
            .unwrap_or_else(|_| Err(Refusal::timeout()));
        match outcome {
            Ok((peer, send, recv)) => {
                slot.logged_in();
                self.register(peer, conn, peer, send, recv, Some(slot));
            }
            Err(refusal) => self.refuse(&conn, remote, refusal).await,
        }
    }

    /// The acceptor's side: our `Hello` first, then the dialer's, checked.
    async fn acceptor_hello(
        &self,
        conn: &quinn::Connection,
    ) -> Result<(Address, quinn::SendStream, quinn::RecvStream), Refusal> {
        let mut send = conn.open_uni().await.map_err(Refusal::lost)?;
        self.write_hello(&mut send, conn, Role::Acceptor).await?;
        let mut recv = conn.accept_uni().await.map_err(Refusal::lost)?;
        let hello = read_hello(&mut recv).await?;
        self.count_received(&hello);
        let peer = verify_hello(conn, &hello, Role::Dialer)?;
        if peer == self.address {
            return Err(Refusal::auth("the dialer claims our own address".into()));
        }
        Ok((peer, send, recv))
    }

    /// Dials `peer` at `addr` and registers the connection; `Err` says why not.
    pub(super) async fn dial(
        self: Arc<Self>,
        peer: Address,
        addr: SocketAddr,
    ) -> Result<(), String> {
        let connecting = self
            .endpoint
            .connect_with(self.client_config.clone(), addr, SERVER_NAME)
            .map_err(|e| e.to_string())?;
        let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(describe(&e)),
            Err(_) => return Err("QUIC handshake timed out".into()),
        };
        let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.dialer_hello(&conn, peer, addr))
            .await
            .unwrap_or_else(|_| Err(Refusal::timeout()));
        match outcome {
            Ok((send, recv)) => {
                self.register(peer, conn, self.address, send, recv, None);
                Ok(())
            }
            Err(refusal) => {
                let reason = refusal.reason.clone();
                self.refuse(&conn, addr, refusal).await;
                Err(reason)
            }
        }
    }

    /// The dialer's side: the acceptor's `Hello` must prove `peer` before we say who we are.
    async fn dialer_hello(
        &self,
        conn: &quinn::Connection,
        peer: Address,
        addr: SocketAddr,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), Refusal> {
        let mut recv = conn.accept_uni().await.map_err(Refusal::lost)?;
        let hello = read_hello(&mut recv).await?;
        self.count_received(&hello);
        let proved = verify_hello(conn, &hello, Role::Acceptor)?;
        if proved != peer {
            return Err(Refusal::auth(format!(
                "dialed {peer} at {addr}, but the node there proved {proved}"
            )));
        }
        let mut send = conn.open_uni().await.map_err(Refusal::lost)?;
        self.write_hello(&mut send, conn, Role::Dialer).await?;
        Ok((send, recv))
    }

    fn count_received(&self, hello: &Hello) {
        bump(&self.stats.frames_received, 1);
        let len = wire::encode(&Frame::Hello(hello.clone())).map_or(0, |b| b.len());
        bump(
            &self.stats.bytes_received,
            (wire::LENGTH_PREFIX + len) as u64,
        );
    }

    async fn write_hello(
        &self,
        send: &mut quinn::SendStream,
        conn: &quinn::Connection,
        role: Role,
    ) -> Result<(), Refusal> {
        let hello = make_hello(&self.signer, conn, role).map_err(Refusal::lost)?;
        let bytes = wire::encode_framed(&Frame::Hello(hello)).map_err(Refusal::lost)?;
        send.write_all(&bytes).await.map_err(Refusal::lost)?;
        bump(&self.stats.frames_sent, 1);
        bump(&self.stats.bytes_sent, bytes.len() as u64);
        Ok(())
    }

    async fn refuse(&self, conn: &quinn::Connection, remote: SocketAddr, refusal: Refusal) {
        conn.close(VarInt::from_u32(refusal.code), refusal.reason.as_bytes());
        if refusal.report {
            bump(&self.stats.rejected, 1);
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(%remote, reason = %refusal.reason, suppressed, "connection refused");
            }
            self.emit(Inbound::Rejected {
                remote,
                reason: refusal.reason,
            })
            .await;
        } else {
            tracing::debug!(%remote, reason = %refusal.reason, "connection lost during the handshake");
        }
    }

    /// Makes an authenticated connection `peer`'s link (or closes it if the one kept is another, or the peer is
    /// banned) and starts its tasks; `slot`, an incoming connection's place in the counts, goes with its reader.
    fn register(
        self: &Arc<Self>,
        peer: Address,
        conn: quinn::Connection,
        dialer: Address,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
        slot: Option<Slot>,
    ) {
        let link = Link::new(
            self.next_link_id.fetch_add(1, Ordering::Relaxed),
            conn,
            dialer,
        );
        let (connected, replaced, lane) = {
            let mut peers = lock(&self.peers);
            if self.is_shutdown() {
                drop(peers);
                link.conn
                    .close(VarInt::from_u32(close_code::SHUTDOWN), b"shutdown");
                return;
            }
            if !link.is_live() {
                // Closed during the handshake (the peer kept another connection, or is gone): registering it would
                // replace, and close, a live link for a dead one.
                tracing::debug!(%peer, "connection closed before it was registered");
                return;
            }
            let state = peers
                .entry(peer)
                .or_insert_with(|| Peer::new(super::PeerRecord::fresh()));
            if let Some(left) = state.ban_left() {
                drop(peers);
                let reason = format!(
                    "disconnected by the node: refused for {} s more",
                    left.as_secs() + 1
                );
                bump(&self.stats.disconnects, 1);
                bump(&self.stats.rejected, 1);
                if let Some(suppressed) = self.warnings.allow() {
                    tracing::warn!(%peer, remote = %link.conn.remote_address(), suppressed, "banned peer refused");
                }
                link.close_here(close_code::DISCONNECTED, &reason);
                return;
            }
            // A link that died and is not yet unlinked counts as connected still: no Connected without a
            // Disconnected before it.
            let connected = state.link.is_none();
            let mut replaced = None;
            if let Some(existing) = state.live_link() {
                // Both dialed at once: keep the connection the lower address dialed — both sides decide the same
                // from what both know. The same dialer again: it lost the older one (a restart), keep the newer.
                // The peer's new connection meeting one we dialed that is presumed dead (the peer restarted):
                // keep the new one; only the lower address can be in this case, the higher one never replaces
                // the lower's connection by its own.
                let keep_new = existing.dialer == dialer
                    || dialer == self.address.min(peer)
                    || (dialer == peer && existing.presumed_dead());
                if !keep_new {
                    drop(peers);
                    link.conn.close(
                        VarInt::from_u32(close_code::DUPLICATE),
                        b"duplicate connection: the one dialed by the lower address is kept",
                    );
                    return;
                }
                replaced = Some(existing.conn.clone());
            }
            link.set_sent_high(state.record.acked);
            state.link = Some(link.clone());
            state.redial = false;
            (connected, replaced, state.lane.clone())
        };
        if let Some(old) = replaced {
            old.close(
                VarInt::from_u32(close_code::DUPLICATE),
                b"replaced by a newer connection",
            );
        }
        tracing::debug!(%peer, remote = %link.conn.remote_address(), "connected");
        let (queue_in, queue_out) = mpsc::channel(self.config.window);
        tokio::spawn(
            self.clone()
                .reader(peer, link.clone(), recv, queue_in, slot),
        );
        tokio::spawn(
            self.clone()
                .deliverer(peer, link.clone(), queue_out, connected, lane),
        );
        tokio::spawn(self.clone().writer(peer, link, send));
    }

    /// Reads one frame within the connection's limits: once its first byte is in, the rest must come within
    /// `frame_timeout` (not counting the wait for `budget`); its body's bytes are reserved in `budget` before they are
    /// read, and the body grows as they arrive (a length prefix alone pins nothing). `Ok(None)`: the peer finished
    /// the stream between frames.
    async fn read_bounded(
        &self,
        recv: &mut quinn::RecvStream,
        budget: &Arc<Semaphore>,
    ) -> Result<Option<(Frame, usize, Reserved)>, WireError> {
        let stream = |e: quinn::ReadError| WireError::Stream(e.to_string());
        let timeout = self.config.frame_timeout;
        let mut prefix = [0u8; wire::LENGTH_PREFIX];
        match recv.read_exact(&mut prefix[..1]).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(_)) => return Ok(None),
            Err(quinn::ReadExactError::ReadError(e)) => return Err(stream(e)),
        }
        let mut deadline = tokio::time::Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, recv.read_exact(&mut prefix[1..])).await {
            Err(_) => return Err(WireError::Slow(timeout)),
            Ok(Ok(())) => {}
            Ok(Err(quinn::ReadExactError::FinishedEarly(_))) => return Err(WireError::Truncated),
            Ok(Err(quinn::ReadExactError::ReadError(e))) => return Err(stream(e)),
        }
        let len = u32::from_be_bytes(prefix);
        let max = self.config.max_frame.min(wire::MAX_FRAME);
        if len as usize > max {
            return Err(WireError::Oversize {
                len: len as usize,
                max,
            });
        }
        // Waiting for the node to take earlier messages is not the peer's time.
        let waiting = tokio::time::Instant::now();
        let permit = budget
            .clone()
            .acquire_many_owned(len)
            .await
            .map_err(|_| WireError::Stream("buffer budget closed".into()))?;
        deadline += waiting.elapsed();
        let reserved = Reserved::new(permit, u64::from(len), &self.stats.buffered);
        let len = len as usize;
        let mut body = Vec::with_capacity(len.min(16 * 1024));
        while body.len() < len {
            match tokio::time::timeout_at(deadline, recv.read_chunk(len - body.len(), true)).await {
                Err(_) => return Err(WireError::Slow(timeout)),
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk.bytes),
                Ok(Ok(None)) => return Err(WireError::Truncated),
                Ok(Err(e)) => return Err(stream(e)),
            }
        }
        let frame = wire::decode(&body)?;
        Ok(Some((frame, wire::LENGTH_PREFIX + len, reserved)))
    }

    /// Reads the peer's frames: acknowledgements are taken at once, messages go to the delivery queue (waiting
    /// for room only when the peer sends past its window or its buffer budget). A violation closes the connection
    /// with its code. `slot` (an incoming connection's place in the counts) is given back when it ends.
    async fn reader(
        self: Arc<Self>,
        peer: Address,
        link: Link,
        mut recv: quinn::RecvStream,
        queue: mpsc::Sender<(u64, Message, Reserved)>,
        slot: Option<Slot>,
    ) {
        let _slot = slot;
        let budget = Arc::new(Semaphore::new(self.config.conn_buffer));
        let mut bucket = TokenBucket::new(self.config.max_frames_per_sec);
        let mut violation: Option<(u32, String)> = None;
        let reason: String = loop {
            let read = tokio::select! {
                read = self.read_bounded(&mut recv, &budget) => read,
                () = self.shut_down() => break "shutdown".into(),
            };
            let (frame, reserved) = match read {
                Ok(Some((frame, len, reserved))) => {
                    link.heard();
                    bump(&self.stats.frames_received, 1);
                    bump(&self.stats.bytes_received, len as u64);
                    (frame, reserved)
                }
                Ok(None) => {
                    // A peer ends its stream when it closes the connection: wait a moment for the reason.
                    let closed =
                        tokio::time::timeout(Duration::from_secs(1), link.conn.closed()).await;
                    break closed
                        .map_or_else(|_| "the peer finished its stream".into(), |c| describe(&c));
                }
                Err(e) if e.is_violation() => {
                    if matches!(e, WireError::Slow(_)) {
                        bump(&self.stats.slow_frames, 1);
                    }
                    violation = Some((violation_code(&e), e.to_string()));
                    break e.to_string();
                }
                Err(e) => {
                    break link.closing().unwrap_or_else(|| {
                        link.conn
                            .close_reason()
                            .map_or_else(|| e.to_string(), |c| describe(&c))
                    });
                }
            };
            if !bucket.take() {
                let text = format!(
                    "flood: more than {} frames per second",
                    self.config.max_frames_per_sec
                );
                violation = Some((close_code::FLOOD, text.clone()));
                break text;
            }
            match frame {
                Frame::Hello(_) => {
                    let text = "a second hello".to_string();
                    violation = Some((close_code::PROTOCOL, text.clone()));
                    break text;
                }
                Frame::Ack { id } => {
                    if let Err(text) = self.on_ack(peer, &link, id) {
                        violation = Some((close_code::PROTOCOL, text.clone()));
                        break text;
                    }
                }
                Frame::Msg { id, msg } => {
                    let queued = tokio::select! {
                        queued = queue.send((id, msg, reserved)) => queued.is_ok(),
                        () = self.shut_down() => false,
                    };
                    if !queued {
                        break "delivery stopped".into();
                    }
                }
            }
        };
        if let Some((code, text)) = &violation {
            bump(&self.stats.rejected, 1);
            if let Some(suppressed) = self.warnings.allow() {
                tracing::warn!(%peer, remote = %link.conn.remote_address(), reason = %text, suppressed, "connection closed");
            }
            link.conn.close(VarInt::from_u32(*code), text.as_bytes());
        } else {
            let text: &[u8] = if self.is_shutdown() {
                b"shutdown"
            } else {
                b"stream ended"
            };
            link.conn
                .close(VarInt::from_u32(close_code::SHUTDOWN), text);
        }
        let was_current = {
            let mut peers = lock(&self.peers);
            match peers.get_mut(&peer) {
                Some(state) if state.link.as_ref().map(|l| l.id) == Some(link.id) => {
                    state.link = None;
                    // The peer closed our only link as a duplicate: it keeps another connection, which we either
                    // have not registered yet (it comes) or closed ourselves (the two sides decided differently, e.g.
                    // one registered a connection the other had already closed). Dial, even with nothing to send,
                    // until a link is registered, so both sides end up with one.
                    if link.closed_as_duplicate() {
                        state.redial = true;
                    }
                    // A stranger that only sent leaves nothing behind.
                    if state.forgettable() {
                        peers.remove(&peer);
                    }
                    true
                }
                _ => false,
            }
        };
        *lock(&link.shared.end) = Some(LinkEnd {
            reason,
            violation: violation.is_some(),
            was_current,
        });
        drop(queue);
        if was_current {
            self.ensure_dialing(peer, Duration::from_millis(100));
        }
    }

    /// Hands the peer's messages to the node in order, each new one once, and acknowledges each after it is
    /// handed over or found a duplicate (with [`super::TransportConfig::ack_when_committed`]: once the node
    /// reports it committed). Reports the connection's end after its last message.
    async fn deliverer(
        self: Arc<Self>,
        peer: Address,
        link: Link,
        mut queue: mpsc::Receiver<(u64, Message, Reserved)>,
        connected: bool,
        lane: Arc<tokio::sync::Mutex<()>>,
    ) {
        let _turn = tokio::select! {
            turn = lane.lock_owned() => turn,
            () = self.shut_down() => return,
        };
        if connected && !self.emit(Inbound::Connected(peer)).await {
            return;
        }
        let when_committed = self.config.ack_when_committed;
        while let Some((id, msg, reserved)) = queue.recv().await {
            link.shared.received_high.fetch_max(id, Ordering::AcqRel);
            if self.accept_incoming(peer, id) {
                let ack = when_committed.then_some(id);
                if !self
                    .emit(Inbound::Message {
                        from: peer,
                        msg,
                        ack,
                    })
                    .await
                {
                    return;
                }
                bump(&self.stats.delivered, 1);
            } else {
                bump(&self.stats.duplicates_dropped, 1);
            }
            // Taken by the node (or dropped): out of the connection's budget.
            drop(reserved);
            if !when_committed {
                link.ack(id);
            } else {
                // What the node committed is acknowledged on this connection as far as it carried it: a duplicate
                // of a committed message (the peer lost the first acknowledgement, or sent it again on a new
                // connection before the node reported it) is acknowledged here.
                link.ack_committed(self.committed_of(peer));
            }
        }
        let end = lock(&link.shared.end).take();
        if let Some(end) = end {
            if end.violation {
                let reason = format!("{peer}: {}", end.reason);
                let remote = link.conn.remote_address();
                if !self.emit(Inbound::Rejected { remote, reason }).await {
                    return;
                }
            }
            if end.was_current {
                self.emit(Inbound::Disconnected {
                    peer,
                    reason: end.reason,
                })
                .await;
            }
        }
    }

    /// Writes our acknowledgements and the outbox (within the window) to the peer.
    async fn writer(self: Arc<Self>, peer: Address, link: Link, mut send: quinn::SendStream) {
        loop {
            let mut buf = Vec::new();
            let mut frames = 0u64;
            let mut messages = 0u64;
            if let Some(id) = link.take_pending_ack()
                && let Ok(bytes) = wire::encode_framed(&Frame::Ack { id })
            {
                buf.extend_from_slice(&bytes);
                frames += 1;
            }
            let Some(batch) = self.next_batch(peer, &link) else {
                return;
            };
            for (id, msg) in batch {
                match wire::encode_framed(&Frame::Msg { id, msg }) {
                    Ok(bytes) => {
                        buf.extend_from_slice(&bytes);
                        frames += 1;
                        messages += 1;
                    }
                    Err(e) => tracing::error!(%peer, id, error = %e, "outbox message not sendable"),
                }
            }
            if buf.is_empty() {
                tokio::select! {
                    () = link.shared.notify.notified() => continue,
                    _ = link.conn.closed() => return,
                    () = self.shut_down() => return,
                }
            }
            // Counted before the write: the peer may acknowledge before this task runs again.
            bump(&self.stats.frames_sent, frames);
            bump(&self.stats.messages_sent, messages);
            bump(&self.stats.bytes_sent, buf.len() as u64);
            if send.write_all(&buf).await.is_err() {
                return;
            }
        }
    }
}
