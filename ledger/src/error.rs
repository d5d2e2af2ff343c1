//! The errors of `ferry-ledger`: [`Error`], the [`ProtocolError`] it wraps and the [`GuardRefusal`] that wraps
//! (both re-exported from `ferry_ledger::protocol`). The bottom layer: it imports no module of this crate.

use alloy::primitives::{Address, B256, U256};

/// Everything that can be wrong with channel data handed to this crate. Every check runs before anything changes,
/// so an error leaves the caller's data (a [`SubTree`](crate::SubTree), a [`SignedState`](crate::SignedState)) as
/// it was.
///
/// Where the contract has a matching revert, the variant carries the same reason code and
/// [`Error::revert_name`] gives the Solidity error's name, so differential tests can compare verdicts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Params break S1/S2; the reason code is the contract's (`InvalidParams(reason)` in `Types.sol`): 1 unknown
    /// kind, 2 participant count, 3 zero participant, 4 repeated participant, 5 hops count, 6 repeated hop, 7 zero
    /// challenge duration, 8 proof longer than the tree, 9 a ledger naming an app, 10 a ledger allowing moves (S13),
    /// 11 challenge duration above `MAX_CHALLENGE_DURATION` (S6).
    #[error("invalid channel params: {}", params_reason(*.0))]
    InvalidParams(u8),
    /// `params.chain_id` is not the chain this node is on (S1).
    #[error("channel is for chain {got}, expected {expected}")]
    WrongChain {
        /// The chain the params name (saturated to `u64`).
        got: u64,
        /// The chain expected.
        expected: u64,
    },
    /// `params.adjudicator` is not the adjudicator this node uses (S1).
    #[error("channel is for another adjudicator")]
    WrongAdjudicator,
    /// The outcome breaks the outcome rules; the reason code is the contract's (`InvalidOutcome(reason)`): 1 asset
    /// order, 2 array length, 3 `sum(balances) + locked != sum(deposited) - sum(withdrawn)`, 4 a virtual channel
    /// that locks funds or hosts sub-channels.
    #[error("invalid outcome: {}", outcome_reason(*.0))]
    InvalidOutcome(u8),
    /// A signature is malformed: bad v, r or s out of range, high s, or no address recovers (S1, S4). The contract
    /// folds all of these into one revert; [`signature::check_form`](crate::signature::check_form) names the fault.
    #[error("malformed signature")]
    InvalidSignature,
    /// The signature at `index` is not by the required signer, or the count is wrong (S4).
    #[error("signature {index} is not by the required signer")]
    WrongSigner {
        /// Position of the offending signature (or the count given, when the count is wrong), as the contract
        /// reports it: for an endpoint-signed virtual state the second endpoint is reported as `n - 1`.
        index: usize,
    },
    /// The state belongs to another channel.
    #[error("state is for channel {got}, expected {expected}")]
    WrongChannel {
        /// The state's channel id.
        got: B256,
        /// The channel expected.
        expected: B256,
    },
    /// The operation needs the other kind of channel (ledger / virtual).
    #[error("wrong kind of channel: {0}")]
    WrongKind(&'static str),
    /// The operation needs a state of the other finality (`conclude` takes finals; `challenge`, `checkpoint` and
    /// moves refuse them).
    #[error("wrong finality: {0}")]
    FinalityMismatch(&'static str),
    /// An endpoint-signed state of V needs the funding certificate (S4, S5).
    #[error("an endpoint-signed virtual state needs the funding certificate")]
    MissingCertificate,
    /// The certificate is not V's post-fund signed by the whole path, or not the one registered (S4).
    #[error("invalid funding certificate")]
    InvalidCertificate,
    /// The state breaks S3: another asset list, other per-asset totals, or an intermediary holding funds.
    #[error("state breaks conservation (S3)")]
    ConservationViolated,
    /// The version does not follow the rules (stale, or not exactly one step for a move).
    #[error("version {version} does not follow {reference}")]
    StaleVersion {
        /// The offered version.
        version: u64,
        /// The version it had to follow.
        reference: u64,
    },
    /// The mover is not an endpoint, or a participant index is out of range.
    #[error("participant {0} cannot do this")]
    InvalidParticipant(usize),
    /// The app rejects the move, or the channel has no app (S7).
    #[error("invalid move: {0}")]
    InvalidTransition(&'static str),
    /// App data could not be decoded as the app's struct.
    #[error("app data does not decode: {0}")]
    AppData(String),
    /// A sub-channel leaf for this virtual channel is already in the table (one position per V).
    #[error("sub-channel {0} is already in the table")]
    DuplicateSubChannel(B256),
    /// The sub-channel is not in the table.
    #[error("sub-channel {0} is not in the table")]
    UnknownSubChannel(B256),
    /// The slot is taken, or beyond the next free slot of the table.
    #[error("slot {0} is taken or not available")]
    SlotUnavailable(u64),
    /// The table holds as many sub-channels as it may.
    #[error("the sub-channel table is full ({capacity} leaves)")]
    TreeFull {
        /// The table's capacity.
        capacity: u64,
    },
    /// A leaf's amounts are not strictly ascending by asset.
    #[error("invalid sub-channel leaf: {0}")]
    InvalidLeaf(&'static str),
    /// A ledger outcome's `locked` differs from the sum of its sub-channel leaves for an asset.
    #[error("locked {locked} of asset {asset} differs from the sub-channel total {expected}")]
    LockedMismatch {
        /// The asset.
        asset: Address,
        /// The outcome's `locked`.
        locked: U256,
        /// The sum of the leaves' amounts.
        expected: U256,
    },
    /// A ledger outcome's `subRoot` is not the root of its sub-channel table.
    #[error("sub-channel root {got} differs from the table's {expected}")]
    SubRootMismatch {
        /// The outcome's `subRoot`.
        got: B256,
        /// The table's root.
        expected: B256,
    },
    /// The ledger is not one of V's hops, or its participants are not that hop's path members (S9).
    #[error("the ledger is not on the virtual channel's path")]
    LedgerNotOnPath,
    /// The leaf belongs to another virtual channel, or its assets differ from V's (S9).
    #[error("the leaf does not match the virtual channel")]
    LeafMismatch,
    /// The Merkle proof does not lead to the ledger's sub-channel root (S9).
    #[error("the proof does not lead to the sub-channel root")]
    InvalidProof,
    /// An amount overflowed 256 bits (the contract reverts with a panic).
    #[error("amount overflow")]
    Overflow,
    /// The channel's durations are outside this node's policy (S6).
    #[error("channel durations outside policy: {0}")]
    DurationPolicy(String),
    /// The store failed (I/O, a corrupt database, a transaction that could not commit); nothing was written.
    #[error("store: {0}")]
    Store(String),
    /// Stored or received bytes could not be decoded (unknown format version, truncated or malformed data).
    #[error("decode {what}: {reason}")]
    Codec {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A protocol message or command was refused; the channel is unchanged.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl Error {
    /// The name of the contract's revert that matches this error (`"InvalidParams"`, `"StaleVersion"`, …), or
    /// `"Panic"` for an overflow; `None` for errors that only exist off-chain (the sub-channel table's bookkeeping,
    /// app-data decoding, a chain or adjudicator mismatch, which the contract names `WrongChain` /
    /// `WrongAdjudicator` without arguments and returns here as well).
    pub fn revert_name(&self) -> Option<&'static str> {
        Some(match self {
            Error::InvalidParams(_) => "InvalidParams",
            Error::WrongChain { .. } => "WrongChain",
            Error::WrongAdjudicator => "WrongAdjudicator",
            Error::InvalidOutcome(_) => "InvalidOutcome",
            Error::InvalidSignature => "InvalidSignature",
            Error::WrongSigner { .. } => "WrongSigner",
            Error::WrongChannel { .. } => "WrongChannel",
            Error::WrongKind(_) => "WrongKind",
            Error::FinalityMismatch(_) => "FinalityMismatch",
            Error::MissingCertificate => "MissingCertificate",
            Error::InvalidCertificate => "InvalidCertificate",
            Error::ConservationViolated => "ConservationViolated",
            Error::StaleVersion { .. } => "StaleVersion",
            Error::InvalidParticipant(_) => "InvalidParticipant",
            Error::InvalidTransition(_) => "InvalidTransition",
            Error::LedgerNotOnPath => "LedgerNotOnPath",
            Error::LeafMismatch => "LeafMismatch",
            Error::InvalidProof => "InvalidProof",
            Error::Overflow => "Panic",
            Error::AppData(_)
            | Error::DuplicateSubChannel(_)
            | Error::UnknownSubChannel(_)
            | Error::SlotUnavailable(_)
            | Error::TreeFull { .. }
            | Error::InvalidLeaf(_)
            | Error::LockedMismatch { .. }
            | Error::SubRootMismatch { .. }
            | Error::DurationPolicy(_)
            | Error::Store(_)
            | Error::Codec { .. }
            | Error::Protocol(_) => return None,
        })
    }
}

/// Why a protocol message or command was refused. The channel is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// No channel with this id.
    #[error("unknown channel {0}")]
    UnknownChannel(B256),
    /// A message came from someone who is not the channel's peer.
    #[error("{0} is not this channel's peer")]
    NotPeer(Address),
    /// This node is not a participant of the channel (or not the one the message or command needs).
    #[error("this node is not {0} of the channel")]
    NotParticipant(&'static str),
    /// The channel id was used before: a node never signs for the same channel twice (S1).
    #[error("channel {0} is already known")]
    ChannelExists(B256),
    /// The command or message does not fit the channel's current phase.
    #[error("not possible while the channel is {phase}: {what}")]
    WrongPhase {
        /// The channel's phase.
        phase: &'static str,
        /// What was attempted.
        what: &'static str,
    },
    /// The state holds nothing of this node's (no balance, no leaves): it spends no gas on the channel, whose
    /// peer can settle its own funds (S16: nobody makes a node pay for a channel it has nothing in).
    #[error("the channel holds nothing of this node's: it sends no transaction for it")]
    NothingAtStake,
    /// The open request does not meet this node's open policy.
    #[error("open refused: {0}")]
    OpenRefused(OpenRefusal),
    /// This node signed a final state of the channel and signs no other state of it (S14): the peer could
    /// complete that final at any time and erase every later state with it.
    #[error("a final state of this channel is signed (version {0}): the channel is closing")]
    FinalSigned(u64),
    /// The chain reorganized below blocks whose events this channel acted on: the node signs nothing for it until
    /// the new chain shows the same events again (`replaying`), or at all once it showed others (the operator
    /// takes the channel on-chain with what is already signed).
    #[error(
        "the chain reorganized below events this channel acted on ({0}): nothing is signed for it"
    )]
    Reorganized(&'static str),
    /// The state leaves out a partial withdrawal of `asset` that a state this node signed before counts (S14): the
    /// peer could be paid it on-chain by the older state and keep the funds in the newer one.
    #[error("the state leaves out a partial withdrawal of {0} this node signed before")]
    WithdrawalDropped(Address),
    /// The asset is not in the channel.
    #[error("asset {0} is not in the channel")]
    UnknownAsset(Address),
    /// The peer asked this node to take an ERC-20 token that is not on its list of accepted tokens
    /// ([`OpenPolicy::tokens`](crate::protocol::OpenPolicy::tokens)).
    #[error("asset {0} is not on this node's list of accepted tokens")]
    AssetNotAccepted(Address),
    /// An amount was zero.
    #[error("zero amount")]
    ZeroAmount,
    /// Not enough funds for the operation.
    #[error("insufficient funds: {0}")]
    Insufficient(&'static str),
    /// Lengths or sums of an operation do not fit.
    #[error("malformed operation: {0}")]
    ShapeMismatch(&'static str),
    /// A close while sub-channels are still hosted.
    #[error("{0} sub-channels are still open")]
    SubChannelsOpen(usize),
    /// The channel is closing (a final state exists); nothing else can change.
    #[error("the channel is closing")]
    ChannelClosing,
    /// An operation takes funds from a participant who did not propose or request it.
    #[error("operation {op} would take funds from participant {victim}, who did not ask for it")]
    Unauthorized {
        /// The operation's name.
        op: &'static str,
        /// The participant it would take from.
        victim: u8,
    },
    /// A request's sequence number is not the next one.
    #[error("request {got} out of sequence (next is {expected})")]
    OutOfSequence {
        /// The sequence number received.
        got: u64,
        /// The one expected.
        expected: u64,
    },
    /// The sub-channel guard refused an operation (S8, S10).
    #[error("sub-channel operation refused: {0}")]
    GuardRefused(GuardRefusal),
    /// The proposed state is not what the batch gives.
    #[error("the proposed state does not match its batch")]
    StateMismatch,
    /// The peer signed a different state with a version already used: evidence of a byzantine peer.
    #[error("conflicting state for version {0}")]
    ConflictingState(u64),
    /// A state with a version this node signed something else for, or older than its latest supported one.
    #[error("version {version} is stale (latest {latest})")]
    StaleVersion {
        /// The version received.
        version: u64,
        /// This node's latest signed or supported version.
        latest: u64,
    },
    /// A message for a version this node does not expect.
    #[error("unexpected version {0}")]
    UnexpectedVersion(u64),
    /// A top-up the chain does not show yet (the message is kept and answered once it does).
    #[error("waiting for the chain to show a deposit")]
    AwaitingChain,
    /// A malformed open: the pre-fund state is not a plain version-0 funding state.
    #[error("invalid pre-fund state: {0}")]
    InvalidPrefund(&'static str),
    /// The channel's table already holds its maximum of sub-channels, or a batch is too large.
    #[error("limit reached: {0}")]
    Limit(&'static str),
}

/// Why a [`SubChannelGuard`](crate::protocol::SubChannelGuard) refused to let a sub-channel operation into a ledger
/// state: S8 for an added leaf, S10 for a removed one. `channel` is the virtual channel V whose leaf it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardRefusal {
    /// The node hosts no virtual channels ([`NoSubChannels`](crate::protocol::NoSubChannels)).
    #[error("this node hosts no sub-channels")]
    NoSubChannels,
    /// The guard's record of virtual channels could not be read (its lock was poisoned by a panic).
    #[error("registry poisoned")]
    RegistryPoisoned,
    /// The guard knows no virtual channel with this id (or not its params).
    #[error("unknown virtual channel {channel}")]
    UnknownVirtualChannel {
        /// V's id.
        channel: B256,
    },
    /// S8: this member is no longer joining V (its post-fund is signed, the open given up, or V final), the only
    /// time a leaf for V may be added.
    #[error("this member is no longer joining V (post-fund signed, open given up, or V final)")]
    NotJoining {
        /// V's id.
        channel: B256,
    },
    /// S8: V's pre-fund is not signed by the whole path yet.
    #[error("the pre-fund is not signed by the whole path")]
    PrefundNotSigned {
        /// V's id.
        channel: B256,
    },
    /// S8: the leaf's routing fee is not the one quoted for this ledger's place on the path.
    #[error("the fee is not the one quoted for this path")]
    WrongFee {
        /// V's id.
        channel: B256,
        /// The fee quoted for this ledger.
        expected: U256,
        /// The leaf's fee.
        got: U256,
    },
    /// S8: the leaf is not V's pre-fund totals (plus the quoted fee).
    #[error("the leaf is not the pre-fund's totals")]
    LeafNotPrefund {
        /// V's id.
        channel: B256,
    },
    /// S8: the two sides' contributions are not the balances of the sides of V they stand for.
    #[error("the contributions are not the two sides' balances")]
    WrongContributions {
        /// V's id.
        channel: B256,
    },
    /// S10: no final state of V signed by the whole path is known (and V did not finalize on-chain).
    #[error("no final state signed by the whole path")]
    NoFinal {
        /// V's id.
        channel: B256,
    },
    /// S10: a state of V is registered on-chain, where V may finalize by another outcome: conclude it with the
    /// final first.
    #[error("V is registered on-chain: conclude it with the final first")]
    RegisteredOnChain {
        /// V's id.
        channel: B256,
    },
    /// S10: the payout is not what V's final state gives each side.
    #[error("the payout is not the final state's")]
    WrongPayout {
        /// V's id.
        channel: B256,
    },
    /// The ledger, the leaf or V's state breaks a channel rule the guard checks with this crate (the ledger is not
    /// on V's path, the leaf's assets are not V's, a malformed leaf).
    #[error("{error}")]
    Invalid {
        /// V's id.
        channel: B256,
        /// The rule broken.
        error: Box<Error>,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn params_reason(code: u8) -> &'static str {
    match code {
        1 => "unknown kind",
        2 => "wrong participant count",
        3 => "zero participant",
        4 => "repeated participant",
        5 => "hops do not match the path",
        6 => "repeated hop",
        7 => "zero challenge duration",
        8 => "proof longer than the tree",
        9 => "a ledger channel names an app (S13)",
        10 => "a ledger channel allows moves (S13)",
        11 => "challenge duration above the maximum (S6)",
        _ => "unknown reason",
    }
}

fn outcome_reason(code: u8) -> &'static str {
    match code {
        1 => "assets not strictly ascending",
        2 => "array lengths differ from the participant count",
        3 => "sum(balances) + locked != sum(deposited) - sum(withdrawn)",
        4 => "a virtual channel locks funds or hosts sub-channels",
        _ => "unknown reason",
    }
}

/// Why a node refuses a ledger channel a peer opens with it (its [`OpenPolicy`](crate::protocol::OpenPolicy)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenRefusal {
    /// The node accepts no opens (`OpenPolicy::accept` is off).
    #[error("this node accepts no opens")]
    AcceptsNoOpens,
    /// The pre-fund holds no asset: a channel with nothing in it.
    #[error("the channel holds no asset")]
    NoAssets,
    /// The opener puts nothing into the channel, or nothing of an asset this node is asked to deposit: a stranger
    /// must lock funds of its own (and pay its own deposit first) before this node locks any.
    #[error("the opener deposits nothing of {asset}")]
    OpenerDepositsNothing {
        /// The asset.
        asset: Address,
    },
    /// The peer has as many channels with this node waiting for funding as the policy allows.
    #[error("the peer has {limit} channels with this node not funded yet")]
    TooManyPending {
        /// `OpenPolicy::max_pending_per_peer`.
        limit: usize,
    },
    /// Peers together have as many channels with this node waiting for funding as the policy allows.
    #[error("{limit} channels opened with this node are not funded yet; try again later")]
    TooManyPendingInAll {
        /// `OpenPolicy::max_pending_total`.
        limit: usize,
    },
    /// The open asks the node to deposit more of an asset than its limit.
    #[error("asks this node to deposit {asked} of {asset}, above its limit {limit}")]
    DepositAboveLimit {
        /// The asset.
        asset: Address,
        /// What the open asks this node to deposit.
        asked: U256,
        /// The node's limit (`OpenPolicy::max_own_deposit`).
        limit: U256,
    },
}
