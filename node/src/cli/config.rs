//! `node.toml`: what `ferry node` runs with. Unknown keys, missing keys and bad values are refused with the key's
//! name and the reason; relative paths are relative to the config file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::aliases::U96;
use alloy::primitives::{Address, B256, U256};
use ferry_ledger::Signer;
use serde::Deserialize;

use crate::{Error, Result};
use ferry_virtual::protocol::IntermediaryPolicy;

/// The challenge bond (S17) a node writes into the channels it opens unless `[ledger] challenge_bond` says
/// otherwise: 0.001 ETH, about what an answer to a stale challenge (~110,000 gas) costs at 9 gwei.
pub const DEFAULT_CHALLENGE_BOND: u64 = 1_000_000_000_000_000;

/// The config file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// `"embedded"` (an in-process chain, for trying things alone) or a JSON-RPC URL (`http://…`, `ws://…`).
    pub chain: String,
    /// The chain id a JSON-RPC chain must report.
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    /// The Adjudicator on a JSON-RPC chain (from `ferry deploy`).
    pub adjudicator: Option<Address>,
    /// The payment app on a JSON-RPC chain.
    pub payment_app: Option<Address>,
    /// The rock-paper-scissors app on a JSON-RPC chain.
    pub rock_paper_scissors: Option<Address>,
    /// Blocks on top of an event's block (its own included) before the node acts on it, on a JSON-RPC chain;
    /// by default 1 on a development chain (ids 31337, 1337) and 12 on any other.
    pub confirmations: Option<u64>,
    /// Seconds before a transaction that is not mined is sent again with higher fees (default 30).
    pub replace_after_secs: Option<u64>,
    /// The channel key: a file holding the private key in hex; created (mode 0600) if it does not exist.
    pub key_file: PathBuf,
    /// Where the node keeps its channels, outbox and TLS identity.
    pub data_dir: PathBuf,
    /// The QUIC address to listen on.
    pub listen: SocketAddr,
    /// The JSON-RPC API address (HTTP and WebSocket).
    pub api: SocketAddr,
    /// The API's bearer token (at least 16 characters), or …
    pub api_token: Option<String>,
    /// … a file holding it.
    pub api_token_file: Option<PathBuf>,
    /// Peers this node knows the QUIC address of.
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    /// The intermediary's terms.
    #[serde(default)]
    pub policy: PolicyFile,
    /// Ledger channel settings.
    #[serde(default)]
    pub ledger: LedgerFile,
    /// What strangers may hold of the node: connections, handshakes, buffers, refusals.
    #[serde(default)]
    pub transport: TransportFile,
    /// How long a released virtual channel is kept (status, store) before it is pruned, in seconds.
    #[serde(default = "default_release_retention")]
    pub release_retention_secs: u64,
}

fn default_chain_id() -> u64 {
    31_337
}

fn default_release_retention() -> u64 {
    ferry_virtual::protocol::RELEASED_RETENTION_MS / 1_000
}

/// One known peer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Its channel address.
    pub address: Address,
    /// Its QUIC address.
    pub at: SocketAddr,
}

/// `[policy]`: routing fees and liquidity caps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyFile {
    /// Flat fee per virtual channel, in wei of V's first asset.
    pub fee_flat: U256,
    /// Proportional fee, parts per million.
    pub fee_ppm: u64,
    /// Most one virtual channel may hold, per asset.
    pub max_per_channel: Option<U256>,
    /// Most this node locks for one neighbour.
    pub max_per_user: Option<U256>,
    /// Most virtual channels this node routes that are still opening; more are refused as busy.
    pub max_opening: usize,
    /// Of those, the most one neighbour may have brought.
    pub max_opening_per_peer: usize,
}

impl Default for PolicyFile {
    fn default() -> Self {
        Self {
            fee_flat: U256::ZERO,
            fee_ppm: 0,
            max_per_channel: None,
            max_per_user: None,
            max_opening: ferry_virtual::protocol::DEFAULT_MAX_OPENING,
            max_opening_per_peer: ferry_virtual::protocol::DEFAULT_MAX_OPENING_PER_PEER,
        }
    }
}

/// `[ledger]`: what this node accepts when a peer opens a ledger channel, and its timers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerFile {
    /// Whether peers may open ledger channels with this node.
    pub accept_opens: bool,
    /// The most this node deposits itself into a channel a peer opens, per asset, in wei.
    pub max_own_deposit: U256,
    /// The ERC-20 tokens this node takes into a channel a peer opens or tops up, besides ETH: only tokens the
    /// operator vetted (no fee on transfer, no balance that shrinks by itself).
    pub tokens: Vec<Address>,
    /// The most channels one peer may have opened with this node and not funded yet; more opens are refused.
    pub max_pending_per_peer: usize,
    /// The most channels all peers together may have opened with this node and not funded yet.
    pub max_pending_total: usize,
    /// How long a peer may leave a request unanswered before the node disputes on-chain, in milliseconds.
    pub peer_timeout_ms: u64,
    /// How long a channel may stay in funding before the node gives up on it (drops it if nothing of its own was
    /// deposited, else disputes with the pre-fund state), in milliseconds.
    pub funding_timeout_ms: u64,
    /// The shortest challenge duration this node accepts, in seconds.
    pub min_challenge: u64,
    /// S17: the challenge bond, in wei of ETH, this node writes into the channels it opens (ledger and virtual):
    /// every `challenge` of such a channel sends it along, and it goes to whoever answers with a newer state, or
    /// back to the challenger once its state finalizes. 0 = no bond.
    pub challenge_bond: U256,
    /// S17: the largest challenge bond, in wei, this node accepts in a channel another member opens. The node needs
    /// that much ETH at hand to challenge, so keep it below what its account holds.
    pub max_challenge_bond: U256,
}

impl Default for LedgerFile {
    fn default() -> Self {
        let d = ferry_ledger::protocol::Config::default();
        Self {
            accept_opens: d.open.accept,
            max_own_deposit: d.open.max_own_deposit,
            tokens: d.open.tokens,
            max_pending_per_peer: d.open.max_pending_per_peer,
            max_pending_total: d.open.max_pending_total,
            peer_timeout_ms: d.peer_timeout_ms,
            funding_timeout_ms: d.funding_timeout_ms,
            min_challenge: d.durations.min_challenge,
            challenge_bond: U256::from(DEFAULT_CHALLENGE_BOND),
            max_challenge_bond: U256::from(d.durations.max_challenge_bond),
        }
    }
}

/// `[transport]`: the bounds on what any peer (a stranger included) may hold of the node (SECURITY.md "What a hub
/// exposes to strangers").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransportFile {
    /// Incoming connections at most, in total.
    pub max_connections: usize,
    /// Incoming connections at most from one IP address (IPv6: one /64).
    pub max_connections_per_ip: usize,
    /// Handshakes in progress at most, in total.
    pub max_handshakes: usize,
    /// Handshakes in progress at most from one IP address.
    pub max_handshakes_per_ip: usize,
    /// Handshakes in progress above which an address QUIC has not validated gets a Retry first (0: always).
    pub validate_above: usize,
    /// How long a frame may take once its first byte arrived, in milliseconds.
    pub frame_timeout_ms: u64,
    /// Bytes of frames one connection may hold that the node has not taken yet.
    pub conn_buffer: usize,
    /// Messages of one peer the node may refuse within a minute before it disconnects the peer.
    pub max_refusals: u32,
    /// How long a disconnected peer is refused, in seconds.
    pub ban_secs: u64,
}

impl Default for TransportFile {
    fn default() -> Self {
        let t = crate::transport::TransportConfig::default();
        Self {
            max_connections: t.max_connections,
            max_connections_per_ip: t.max_connections_per_ip,
            max_handshakes: t.max_handshakes,
            max_handshakes_per_ip: t.max_handshakes_per_ip,
            validate_above: t.validate_above,
            frame_timeout_ms: u64::try_from(t.frame_timeout.as_millis()).unwrap_or(u64::MAX),
            conn_buffer: t.conn_buffer,
            max_refusals: crate::runtime::DEFAULT_MAX_REFUSALS,
            ban_secs: t.ban.as_secs(),
        }
    }
}

/// A config file read and checked, paths resolved.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The file as written (paths resolved against its folder).
    pub file: NodeFile,
    /// The API token.
    pub token: String,
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

impl NodeSettings {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// Parses and checks a config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> std::result::Result<Self, String> {
        let mut file: NodeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let chain = file.chain.as_str();
        if chain != "embedded"
            && !["http://", "https://", "ws://", "wss://"]
                .iter()
                .any(|p| chain.starts_with(p))
        {
            return Err(format!(
                "chain = \"{chain}\": use \"embedded\" or a JSON-RPC URL (http://, https://, ws://, wss://)"
            ));
        }
        if chain != "embedded" && file.adjudicator.is_none() {
            return Err(
                "a JSON-RPC chain needs `adjudicator` (deploy it once with `ferry deploy`)".into(),
            );
        }
        if file.confirmations == Some(0) {
            return Err("confirmations must be at least 1 (the block of the event itself)".into());
        }
        let l = &file.ledger;
        if l.challenge_bond > l.max_challenge_bond {
            return Err(format!(
                "[ledger] challenge_bond = {} is above max_challenge_bond = {}: this node would refuse its own opens",
                l.challenge_bond, l.max_challenge_bond
            ));
        }
        if l.max_challenge_bond > U256::from(U96::MAX) {
            return Err(format!(
                "[ledger] max_challenge_bond = {} does not fit the contract's 96-bit bond",
                l.max_challenge_bond
            ));
        }
        if file.replace_after_secs == Some(0) {
            return Err("replace_after_secs must be positive".into());
        }
        file.key_file = resolve(base, &file.key_file);
        file.data_dir = resolve(base, &file.data_dir);
        let token = match (&file.api_token, &file.api_token_file) {
            (Some(t), None) => t.clone(),
            (None, Some(f)) => {
                let f = resolve(base, f);
                std::fs::read_to_string(&f)
                    .map_err(|e| format!("api_token_file {}: {e}", f.display()))?
                    .trim()
                    .to_string()
            }
            (Some(_), Some(_)) => return Err("give api_token or api_token_file, not both".into()),
            (None, None) => return Err("missing api_token (or api_token_file)".into()),
        };
        if token.len() < 16 {
            return Err("the API token must be at least 16 characters".into());
        }
        if file.policy.max_opening == 0 || file.policy.max_opening_per_peer == 0 {
            return Err(
                "policy.max_opening and policy.max_opening_per_peer must be positive".into(),
            );
        }
        if file.policy.fee_ppm > 1_000_000 {
            return Err("policy.fee_ppm is at most 1000000 (100%)".into());
        }
        let t = &file.transport;
        for (name, value) in [
            ("max_connections", t.max_connections),
            ("max_connections_per_ip", t.max_connections_per_ip),
            ("max_handshakes", t.max_handshakes),
            ("max_handshakes_per_ip", t.max_handshakes_per_ip),
            ("conn_buffer", t.conn_buffer),
            ("max_refusals", t.max_refusals as usize),
            ("frame_timeout_ms", usize::from(t.frame_timeout_ms > 0)),
        ] {
            if value == 0 {
                return Err(format!("transport.{name} must be positive"));
            }
        }
        if t.conn_buffer < crate::wire::MAX_FRAME {
            return Err(format!(
                "transport.conn_buffer must hold a whole frame ({} bytes)",
                crate::wire::MAX_FRAME
            ));
        }
        if file.ledger.max_pending_per_peer == 0 {
            return Err("ledger.max_pending_per_peer must be positive".into());
        }
        if file.ledger.max_pending_total == 0 {
            return Err("ledger.max_pending_total must be positive".into());
        }
        Ok(Self { file, token })
    }

    /// The intermediary policy.
    pub fn policy(&self) -> IntermediaryPolicy {
        let p = &self.file.policy;
        IntermediaryPolicy {
            fee_flat: p.fee_flat,
            fee_ppm: p.fee_ppm,
            max_per_channel: p.max_per_channel.unwrap_or(U256::MAX),
            max_per_user: p.max_per_user.unwrap_or(U256::MAX),
            max_opening: p.max_opening,
            max_opening_per_peer: p.max_opening_per_peer,
        }
    }

    /// The transport's bounds (`listen` is set by the caller).
    pub fn transport(&self) -> crate::transport::TransportConfig {
        let t = &self.file.transport;
        crate::transport::TransportConfig {
            max_connections: t.max_connections,
            max_connections_per_ip: t.max_connections_per_ip,
            max_handshakes: t.max_handshakes,
            max_handshakes_per_ip: t.max_handshakes_per_ip,
            validate_above: t.validate_above,
            frame_timeout: std::time::Duration::from_millis(t.frame_timeout_ms),
            conn_buffer: t.conn_buffer,
            ban: std::time::Duration::from_secs(t.ban_secs),
            ..crate::transport::TransportConfig::default()
        }
    }

    /// The ledger protocol's config.
    pub fn ledger(&self) -> ferry_ledger::protocol::Config {
        let l = &self.file.ledger;
        let mut c = ferry_ledger::protocol::Config::default();
        c.open.accept = l.accept_opens;
        c.open.max_own_deposit = l.max_own_deposit;
        c.open.tokens = l.tokens.clone();
        c.open.max_pending_per_peer = l.max_pending_per_peer;
        c.open.max_pending_total = l.max_pending_total;
        c.peer_timeout_ms = l.peer_timeout_ms;
        c.funding_timeout_ms = l.funding_timeout_ms;
        c.durations.min_challenge = l.min_challenge;
        // Both fit 96 bits: `parse` checked `challenge_bond <= max_challenge_bond < 2^96`.
        c.durations.challenge_bond = U96::saturating_from(l.challenge_bond);
        c.durations.max_challenge_bond = U96::saturating_from(l.max_challenge_bond);
        c
    }
}

/// Reads the channel key from `path`, or creates one there (mode 0600) if the file does not exist.
pub fn load_or_create_key(path: &Path) -> Result<Signer> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            parse_key(&text).map_err(|e| Error::Config(format!("key file {}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = Signer::random();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Config(format!("{}: {e}", dir.display())))?;
            }
            write_secret(path, &format!("{}\n", signer.secret_bytes()))?;
            Ok(signer)
        }
        Err(e) => Err(Error::Config(format!(
            "cannot read key file {}: {e}",
            path.display()
        ))),
    }
}

/// Parses a hex private key (with or without `0x`).
pub fn parse_key(text: &str) -> std::result::Result<Signer, String> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes: B256 = t
        .parse()
        .map_err(|_| "not a 32-byte hex private key".to_string())?;
    Signer::from_bytes(&bytes).map_err(|_| "not a valid secp256k1 private key".to_string())
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| Error::Config(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
chain = "embedded"
key_file = "alice.key"
data_dir = "alice"
listen = "127.0.0.1:7000"
api = "127.0.0.1:7100"
api_token = "0123456789abcdef"

[[peers]]
address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
at = "127.0.0.1:7001"

[policy]
fee_flat = "1000"
fee_ppm = 500

[ledger]
max_own_deposit = "1000000000000000000"
tokens = ["0x5FbDB2315678afecb367f032d93F642f64180aa3"]
"#;

    #[test]
    fn a_good_config_parses_with_paths_resolved() {
        let s = NodeSettings::parse(GOOD, Path::new("/etc/ferry")).unwrap();
        assert_eq!(s.file.key_file, PathBuf::from("/etc/ferry/alice.key"));
        assert_eq!(s.file.peers.len(), 1);
        assert_eq!(s.policy().fee(U256::from(1_000_000)), U256::from(1_500));
        assert_eq!(
            s.ledger().open.max_own_deposit,
            U256::from(1_000_000_000_000_000_000u128)
        );
        let token: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap();
        assert_eq!(s.ledger().open.tokens, vec![token]);
        assert!(s.ledger().open.allows(&Address::ZERO));
        assert!(!s.ledger().open.allows(&Address::repeat_byte(1)));
        assert_eq!(s.transport(), crate::transport::TransportConfig::default());
        let text = format!("{GOOD}\n[transport]\nmax_connections_per_ip = 4\nban_secs = 5\n");
        let s = NodeSettings::parse(&text, Path::new("/etc/ferry")).unwrap();
        assert_eq!(s.transport().max_connections_per_ip, 4);
        assert_eq!(s.transport().ban, std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_configs_name_what_is_wrong() {
        let cases = [
            (
                GOOD.replace("chain = \"embedded\"", "chain = \"mainnet\""),
                "embedded",
            ),
            (
                GOOD.replace("listen = \"127.0.0.1:7000\"", "listen = \"here\""),
                "listen",
            ),
            (
                GOOD.replace("api_token = \"0123456789abcdef\"", "api_token = \"short\""),
                "16",
            ),
            (
                GOOD.replace("api_token = \"0123456789abcdef\"", ""),
                "api_token",
            ),
            (
                GOOD.replace("fee_ppm = 500", "fee_ppm = 5000000"),
                "fee_ppm",
            ),
            (GOOD.replace("fee_ppm = 500", "fee_pm = 5"), "fee_pm"),
            (
                format!("{GOOD}\n[transport]\nmax_connections_per_ip = 0\n"),
                "transport.max_connections_per_ip",
            ),
            (
                format!("{GOOD}\n[transport]\nconn_buffer = 1000\n"),
                "transport.conn_buffer",
            ),
            (format!("{GOOD}\n[transport]\nmax_conn = 5\n"), "max_conn"),
            (
                GOOD.replace("chain = \"embedded\"", "chain = \"http://x:8545\""),
                "ferry deploy",
            ),
            ("not toml at all [".to_string(), ""),
        ];
        for (text, needle) in cases {
            let err = NodeSettings::parse(&text, Path::new(".")).unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn keys_are_created_once_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a.address(), b.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("bad.key"), "zz").unwrap();
        assert!(load_or_create_key(&dir.path().join("bad.key")).is_err());
        assert!(parse_key(&format!("0x{}", "00".repeat(32))).is_err());
    }
}
