// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

// Ferry's on-chain interface: the types, the errors, and the interfaces of the Adjudicator, the apps and the test
// harness. This file is the single source of truth for all of them: the Rust side (`ferry-contracts`) generates its
// types and bindings from this very file with `sol!`, so the ABI encodings and EIP-712 hashes of both sides come
// from one definition.

/// The parameters that fix a channel. `channelId = keccak256(abi.encode(params))`.
struct ChannelParams {
    /// 0 = ledger channel (exactly two participants, funded on-chain),
    /// 1 = virtual channel (participants = the whole path [A, I1, ..., In, B]).
    uint8 kind;
    /// Must equal `block.chainid` (S1).
    uint256 chainId;
    /// Must equal the adjudicator's address (S1).
    address adjudicator;
    /// Distinct, non-zero (S1).
    address[] participants;
    /// Fresh random 256-bit value.
    uint256 nonce;
    /// The app contract (IApp) that judges `progress` moves; address(0) for none. Ledger channels: always
    /// address(0) (S13).
    address app;
    /// Seconds a challenge stays open: 1 to 365 days (S6).
    uint48 challengeDuration;
    /// Maximum number of `progress` moves on-chain per endpoint (S7; counted up to 255 each). Ledger channels:
    /// always 0 (S13).
    uint48 maxMoves;
    /// S17: the ETH (in wei) that `challenge` takes as a bond with every registration: it goes to whoever
    /// registers a newer state over it (`challenge`, `checkpoint`, `conclude`), back to the challenger once its
    /// state (or the moves made from it) finalizes (`reclaimBond`). 0 = no bond.
    uint96 challengeBond;
    /// Virtual channels: hops[k] is the ledger channel between participants[k] and participants[k+1] (S2).
    /// Ledger channels: empty.
    bytes32[] hops;
}

/// One asset's share of a state.
struct AssetOutcome {
    /// address(0) = native ETH, otherwise an ERC-20.
    address asset;
    /// One balance per participant.
    uint256[] balances;
    /// Per participant, the total deposited as this state knows it (S12).
    uint256[] deposited;
    /// Per participant, the total withdrawn as this state knows it (S12).
    uint256[] withdrawn;
    /// Total locked in hosted sub-channels (the sum of their leaf amounts for this asset).
    uint256 locked;
}

/// What a state pays out. Assets are strictly ascending by address.
struct Outcome {
    AssetOutcome[] assets;
    /// Root of the sub-channel table (fixed-depth Merkle tree of SubAlloc leaves).
    bytes32 subRoot;
}

/// A channel state; signed as EIP-712 typed data.
struct State {
    bytes32 channelId;
    /// The turn number; orders states.
    uint48 version;
    Outcome outcome;
    bytes appData;
    bool isFinal;
}

/// A 65-byte secp256k1 signature, v in {27, 28}, low s.
struct Signature {
    uint8 v;
    bytes32 r;
    bytes32 s;
}

/// Amount of one asset.
struct AssetAmount {
    address asset;
    uint256 amount;
}

/// A leaf of a ledger's sub-channel table: the funds a virtual channel holds in this ledger.
struct SubAlloc {
    /// The virtual channel's id.
    bytes32 channelId;
    /// What the leaf locks, sorted by asset, equal to V's asset list: per asset V's total, plus `fee` in the first.
    AssetAmount[] amounts;
    /// The routing fee the side standing for A put into the leaf, in the first asset (part of `amounts[0]`):
    /// `claim` pays it to the side standing for B if V finalized past its pre-fund (version >= 1), back to A's side
    /// otherwise (the open never completed).
    uint256 fee;
}

/// Inclusion proof of one leaf in the sub-channel tree.
struct LeafProof {
    /// The leaf's slot (0 <= index < 2**32).
    uint32 index;
    /// Siblings from the leaf level upwards; levels at and above siblings.length use the empty-subtree hash.
    bytes32[] siblings;
}

/// V's funding certificate: its post-fund state (version 1) signed by the whole path.
struct Certificate {
    State state;
    Signature[] sigs;
}

/// A payment voucher: the payer's cumulative payment to the other endpoint of a virtual channel.
struct Voucher {
    bytes32 channelId;
    address payer;
    address asset;
    uint256 amount;
}

/// App data of the bundled payment app (PaymentApp): per asset index of the outcome, the cumulative amount each
/// endpoint has paid the other since the funding certificate. A `progress` move that raises the *other* endpoint's
/// cumulative amount for asset j carries, at `voucherSigs[j]`, that endpoint's signature over
/// `Voucher{channelId, payer, asset_j, newCumulative_j}`; `voucherSigs` is empty in co-signed states.
struct PaymentData {
    uint256[] paidByFirst;
    uint256[] paidByLast;
    Signature[] voucherSigs;
}

/// App data of the bundled game app (RockPaperScissors), staked in the outcome's first asset.
/// phase 0 = ready, 1 = first endpoint committed, 2 = last endpoint played (stake tentatively moved to it).
/// Moves: 1 = rock, 2 = paper, 3 = scissors. commitment = keccak256(abi.encode(uint8 moveFirst, bytes32 salt)).
/// The reveal move returns to phase 0 and keeps the round's stake, commitment, moves and salt for the record;
/// the next commit clears moveLast, moveFirst and salt.
struct GameData {
    uint8 phase;
    uint256 stake;
    bytes32 commitment;
    uint8 moveLast;
    uint8 moveFirst;
    bytes32 salt;
}

// Errors raised by ChannelLib's checks, shared by the Adjudicator, the apps and the harness.

/// Params break S1/S2/S13. Reasons: 1 unknown kind, 2 participant count, 3 zero participant, 4 repeated participant,
/// 5 hops count, 6 repeated hop, 7 zero challenge duration, 8 proof longer than the tree, 9 a ledger channel naming
/// an app (`app != 0`), 10 a ledger channel allowing moves (`maxMoves != 0`), 11 challenge duration above
/// 365 days (`MAX_CHALLENGE_DURATION`, S6).
error InvalidParams(uint256 reason);
/// A signature is malformed: bad v, r or s out of range, high s, or it recovers to no address (S1, S4).
error InvalidSignature();
/// The signature at `index` was not made by the required signer, or the signature count is wrong (S4).
error WrongSigner(uint256 index);
/// The outcome breaks the outcome rules. Reasons: 1 asset order, 2 array length, 3 invariant
/// `sum(balances) + locked == sum(deposited) - sum(withdrawn)`, 4 a virtual channel that locks funds or hosts
/// sub-channels.
error InvalidOutcome(uint256 reason);

/// The rules of an app run in a channel. The adjudicator calls it by `staticcall` with a gas cap during `progress`
/// (S7); a revert or any answer but `true` means the move is invalid. The adjudicator has already checked the
/// version step, the mover's signature, the outcome rules and conservation (S3) before it asks the app.
interface IApp {
    /// Whether `to` is a valid move from `from` by the participant at `moverIndex` (an endpoint).
    function validTransition(ChannelParams calldata params, State calldata from, State calldata to, uint256 moverIndex)
        external
        view
        returns (bool);
}

/// The Adjudicator's interface: its entry points, events and errors (SPEC.md).
/// The Rust side generates its bindings from this file.
interface IAdjudicator {
    /// Funds were deposited into a ledger channel for `participant`: `taken` is what this deposit added,
    /// `depositedTotal` that participant's new cumulative deposit of `asset` (its own, not the channel's, S16).
    event Deposited(
        bytes32 indexed channelId, address indexed asset, uint256 participant, uint256 taken, uint256 depositedTotal
    );
    /// A challenge registered (or replaced) a state; it finalizes at `finalizesAt` unless answered.
    event ChallengeRegistered(bytes32 indexed channelId, uint48 finalizesAt, State state, Signature[] sigs);
    /// A ledger channel's version was raised (and any challenge cleared) by a newer state signed by all. The state
    /// and signatures are in the event: a participant that signed the state but never got the other's signature
    /// (a proposal it saw refused) learns it holds a supported state at this version, the only kind that can still
    /// be registered.
    event Checkpointed(bytes32 indexed channelId, uint48 version, State state, Signature[] sigs);
    /// An app move was registered on-chain.
    event Progressed(
        bytes32 indexed channelId, uint48 finalizesAt, uint256 moverIndex, State to, Signature moverSig
    );
    /// A channel was finalized at once by a final state.
    event Concluded(bytes32 indexed channelId, uint48 version);
    /// A payout left the adjudicator (or was credited, see PayoutCredited).
    event Withdrawn(bytes32 indexed channelId, address indexed asset, address indexed to, uint256 amount);
    /// A leaf of a finalized ledger was paid out according to V's finalized outcome.
    event Claimed(
        bytes32 indexed ledgerId, bytes32 indexed virtualId, address indexed asset, uint256 toLeft, uint256 toRight
    );
    /// A payout could not be pushed and was credited to its owner.
    event PayoutCredited(address indexed asset, address indexed to, uint256 amount);
    /// A challenge bond left the adjudicator (S17): to whoever registered a newer state over the bonded one, or
    /// back to its challenger once the channel finalized (pushed, or credited as ETH if the push failed).
    event BondPaid(bytes32 indexed channelId, address indexed to, uint256 amount);

    /// Reentrant call.
    error Reentrancy();
    /// params.chainId != block.chainid (S1).
    error WrongChain();
    /// params.adjudicator != this contract (S1).
    error WrongAdjudicator();
    /// The channel is finalized; nothing changes it any more (S1, S4).
    error ChannelFinalized();
    /// The channel is not finalized yet.
    error NotFinalized();
    /// The state belongs to another channel.
    error WrongChannel();
    /// The operation needs the other kind of channel.
    error WrongKind();
    /// The state's version is not newer than the registered one (S5).
    error StaleVersion(uint48 version, uint48 registered);
    /// conclude needs a final state; challenge and progress refuse one.
    error FinalityMismatch();
    /// The participant index is out of range or not an endpoint.
    error InvalidParticipant();
    /// msg.value does not fit the asset and amount (S11).
    error WrongValue();
    /// The participant's own cumulative deposit (`held`) is below `expectedHeld` (S16).
    error HeldBelowExpected(uint256 held, uint256 expected);
    /// A token transfer into the adjudicator failed, or the asset has no code.
    error TokenTransferFailed();
    /// A total would not fit in 128 bits.
    error AmountOverflow();
    /// An endpoint-signed state of V needs the funding certificate (S4, S5).
    error MissingCertificate();
    /// The certificate is not V's post-fund signed by the whole path (S4).
    error InvalidCertificate();
    /// The state breaks S3 (asset set, totals, intermediaries' balances).
    error ConservationViolated();
    /// The supplied state is not the registered one (its full struct hash differs, S15).
    error FingerprintMismatch();
    /// progress needs a pending, unexpired challenge.
    error NoPendingChallenge();
    /// The channel has no app, or the app rejected the move (S7).
    error InvalidTransition();
    /// No more progress moves are allowed (S7).
    error TooManyMoves();
    /// The ledger is not one of V's hops, or its participants are not that hop's path members (S9).
    error LedgerNotOnPath();
    /// The leaf belongs to another virtual channel (S9).
    error LeafMismatch();
    /// The Merkle proof does not lead to the ledger's sub-channel root (S9).
    error InvalidProof();
    /// This leaf was claimed before (S9).
    error AlreadyClaimed();
    /// Claims would exceed what the ledger locked (S9).
    error ClaimExceedsLocked();
    /// The claim would exceed what the ledger holds (S9).
    error ClaimExceedsHeld();
    /// Nothing is credited to the caller for this asset.
    error NothingCredited();
    /// Pulling a credited payout failed.
    error CreditTransferFailed();
    /// `withdrawUnlisted` was asked for an asset the registered state lists (use `withdraw`).
    error AssetListed();
    /// No challenge bond is held for this channel (S17).
    error NoBond();

    /// Deposits into a ledger channel for participant 0 or 1 (ETH: `msg.value == amount`; tokens: pulled):
    /// takes what brings that participant's own cumulative deposit from `expectedHeld` (reverts if below it) to
    /// `expectedHeld + amount` (S16).
    function deposit(address asset, bytes32 channelId, uint256 participant, uint256 expectedHeld, uint256 amount)
        external
        payable;

    /// Finalizes a channel at once with a final state signed as S4 demands.
    function conclude(ChannelParams calldata params, State calldata state, Signature[] calldata sigs) external;

    /// `conclude` then `withdraw` in one transaction (ledger channels).
    function concludeAndWithdraw(ChannelParams calldata params, State calldata state, Signature[] calldata sigs)
        external;

    /// Registers a supported, non-final state (S5), taking `params.challengeBond` as `msg.value` (S17).
    function challenge(
        ChannelParams calldata params,
        State calldata state,
        Signature[] calldata sigs,
        Certificate calldata cert
    ) external payable;

    /// Clears a ledger channel's challenge with a newer state signed by all (S5).
    function checkpoint(ChannelParams calldata params, State calldata state, Signature[] calldata sigs) external;

    /// Registers an endpoint's app move on top of V's registered state (S7); virtual channels only (S13).
    function progress(
        ChannelParams calldata params,
        State calldata from,
        State calldata to,
        uint256 moverIndex,
        Signature calldata moverSig
    ) external;

    /// Pays a finalized ledger channel's outcome out (S12).
    function withdraw(ChannelParams calldata params, State calldata state) external;

    /// Returns a finalized ledger's on-chain deposits of an asset its registered state does not list (S12).
    function withdrawUnlisted(ChannelParams calldata params, State calldata state, address asset) external;

    /// Pays a participant the partial withdrawals a fully signed state agreed (S12).
    function withdrawPartial(
        ChannelParams calldata params,
        State calldata state,
        Signature[] calldata sigs,
        uint256 participant
    ) external;

    /// Pays one leaf of a finalized ledger according to V's finalized outcome (S9).
    function claim(
        ChannelParams calldata ledgerParams,
        State calldata ledgerState,
        SubAlloc calldata leaf,
        LeafProof calldata proof,
        ChannelParams calldata virtualParams,
        State calldata virtualState
    ) external;

    /// Pulls the caller's credited payouts of `asset` (S11).
    function withdrawCredit(address asset) external;

    /// Pays a finalized channel's challenge bond back to the challenger whose state (or the moves from it)
    /// finalized (S17); anyone may call it.
    function reclaimBond(bytes32 channelId) external;

    /// The challenge bond held for a channel (S17): who posted it and how much (zero when none is held).
    function bondOf(bytes32 channelId) external view returns (address poster, uint256 amount);

    /// S17: how many versions above a bonded state a newer one must be to take its bond (66).
    function BOND_GRACE() external view returns (uint256);

    /// The registered status of a channel. `fingerprint` is the full EIP-712 struct hash (`hashStruct(State)`, not
    /// the digest) of the registered state while a challenge is pending or once finalized, zero otherwise (S15).
    function statusOf(bytes32 channelId)
        external
        view
        returns (
            uint48 version,
            uint48 finalizesAt,
            uint8 movesFirst,
            uint8 movesLast,
            bool certified,
            bytes32 fingerprint
        );

    /// Cumulative deposits and withdrawals per participant, and the total claimed against a ledger.
    function holdings(bytes32 channelId, address asset)
        external
        view
        returns (uint256 dep0, uint256 dep1, uint256 wd0, uint256 wd1, uint256 claimed);

    /// Total paid out by claims against a ledger for an asset.
    function claimedTotal(bytes32 ledgerId, address asset) external view returns (uint256);

    /// Payouts credited to an owner because they could not be pushed.
    function credit(address asset, address owner) external view returns (uint256);

    /// Whether a leaf slot of a ledger was claimed.
    function isClaimed(bytes32 ledgerId, uint32 index) external view returns (bool);

    /// The EIP-712 domain separator of this adjudicator.
    function domainSeparator() external view returns (bytes32);
}

/// ChannelLib's rules as external functions, for the Rust differential tests. The Rust side generates its bindings
/// from this file.
interface IFerryHarness {
    /// `keccak256(abi.encode(params))`.
    function channelId(ChannelParams calldata params) external pure returns (bytes32);

    /// Reverts with `InvalidParams(reason)` unless params pass S1/S2's structural checks.
    function validateParams(ChannelParams calldata params) external pure returns (bool);

    /// Reverts with `InvalidOutcome(reason)` unless the outcome passes the outcome rules.
    function validateOutcome(Outcome calldata outcome, uint256 participants, uint8 kind)
        external
        pure
        returns (bool);

    /// EIP-712 `hashStruct(State)`.
    function stateHash(State calldata state) external pure returns (bytes32);

    /// The EIP-712 digest a participant signs for `state`.
    function stateDigest(State calldata state, uint256 chainId, address adjudicator) external pure returns (bytes32);

    /// The EIP-712 digest a payer signs for `voucher`.
    function voucherDigest(Voucher calldata voucher, uint256 chainId, address adjudicator)
        external
        pure
        returns (bytes32);

    /// The EIP-712 domain separator.
    function domainSeparator(uint256 chainId, address adjudicator) external pure returns (bytes32);

    /// The S3 totals hash of an outcome.
    function totalsHash(Outcome calldata outcome) external pure returns (bytes32);

    /// A sub-channel leaf's hash.
    function leafHash(SubAlloc calldata leaf) external pure returns (bytes32);

    /// The empty tree's root.
    function emptyRoot() external pure returns (bytes32);

    /// The root a leaf and its proof lead to.
    function rootFromProof(SubAlloc calldata leaf, LeafProof calldata proof) external pure returns (bytes32);

    /// The signer of a digest; reverts on malformed or high-s signatures.
    function recover(bytes32 digest, Signature calldata sig) external pure returns (address);
}
