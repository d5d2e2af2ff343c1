//! What a node accepts and how long it waits: the S6 durations policy, the open policy (how much liquidity a peer
//! may ask of it, S1's one open per channel id is the node's), the ERC-20 tokens it takes (SECURITY.md assumption 3)
//! and the protocol's timers. Persisted as part of no record: a node's configuration, not the store format.

use alloy::primitives::aliases::U96;
use alloy::primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::params::DurationPolicy;

/// What a node accepts when a peer opens a ledger channel with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPolicy {
    /// Whether this node accepts opens at all.
    pub accept: bool,
    /// The most this node deposits itself, per asset, into a channel a peer opens.
    pub max_own_deposit: U256,
    /// The ERC-20 tokens this node takes into a channel a peer opens or tops up, besides ETH (always taken). All
    /// channels' funds of one token sit pooled in the adjudicator, so a token whose balances shrink by themselves
    /// (a negative rebase) or that charges its sender would leave some channel short: only tokens the operator
    /// vetted belong here. Anything else is refused by name.
    pub tokens: Vec<Address>,
    /// The most channels one peer may have opened with this node that are not funded yet (proposed or in
    /// funding); more opens from it are refused by name. Keys are free, so this bounds what one key costs; the
    /// transport bounds what one address costs.
    pub max_pending_per_peer: usize,
    /// The most channels peers (all keys together) may have opened with this node that are not funded yet; more
    /// opens are refused by name until some are funded or forgotten. Keys cost nothing, so this bounds what all
    /// strangers together hold of the node's memory and store.
    pub max_pending_total: usize,
}

impl OpenPolicy {
    /// Whether this node takes `asset` into a channel a peer opens or tops up.
    pub fn allows(&self, asset: &Address) -> bool {
        asset.is_zero() || self.tokens.contains(asset)
    }
}

impl Default for OpenPolicy {
    fn default() -> Self {
        Self {
            accept: true,
            max_own_deposit: U256::ZERO,
            tokens: Vec::new(),
            max_pending_per_peer: 4,
            max_pending_total: 10_000,
        }
    }
}

/// The largest challenge bond (S17) a node accepts by default: 0.01 ETH, enough to pay an answer (a `challenge`,
/// ~110,000 gas) at up to ~90 gwei.
pub const DEFAULT_MAX_CHALLENGE_BOND: u128 = 10_000_000_000_000_000;

/// A node's protocol settings. Times are local milliseconds, except the durations policy (chain seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// First resend delay for an unanswered message; doubles up to `max_resend_ms`.
    pub resend_ms: u64,
    /// Longest resend delay.
    pub max_resend_ms: u64,
    /// How long the peer may leave an objective unanswered before it counts as unresponsive.
    pub peer_timeout_ms: u64,
    /// How long a channel may stay in funding (the peer's deposit or post-fund signature missing) before the node
    /// gives up: with nothing of its own deposited it drops the channel, otherwise the peer counts as unresponsive
    /// (and is challenged with the pre-fund state, which pays each side its own deposits, when `auto_dispute`).
    pub funding_timeout_ms: u64,
    /// Whether an unresponsive peer is challenged on-chain without the user asking.
    pub auto_dispute: bool,
    /// How long the participant that is not first in line waits before it sends a closing or withdrawing
    /// transaction itself (so the happy path has exactly one).
    pub grace_ms: u64,
    /// Most operations in one batch.
    pub max_batch: usize,
    /// Most sub-channels one ledger hosts.
    pub max_sub_channels: u64,
    /// S6: the challenge durations this node accepts; S17: the challenge bond it proposes and accepts.
    pub durations: DurationPolicy,
    /// What this node accepts when a peer opens a channel.
    pub open: OpenPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            resend_ms: 1_000,
            max_resend_ms: 30_000,
            peer_timeout_ms: 60_000,
            funding_timeout_ms: 3_600_000,
            auto_dispute: true,
            grace_ms: 30_000,
            max_batch: 4_096,
            max_sub_channels: 1 << 20,
            durations: DurationPolicy {
                min_challenge: 60,
                max_lock: 30 * 24 * 3600,
                challenge_bond: U96::ZERO,
                max_challenge_bond: U96::from(DEFAULT_MAX_CHALLENGE_BOND),
            },
            open: OpenPolicy::default(),
        }
    }
}
