// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ChannelParams, State, Signature, SubAlloc, LeafProof, Certificate} from "./Types.sol";

/// The Adjudicator's interface: its entry points, events and errors (ARCH.md "On-chain specification").
/// The Rust side generates its bindings from this file.
interface IAdjudicator {
    /// Funds were deposited into a ledger channel.
    event Deposited(
        bytes32 indexed channelId, address indexed asset, uint256 participant, uint256 taken, uint256 depositedTotal
    );
    /// A challenge registered (or replaced) a state; it finalizes at `finalizesAt` unless answered.
    event ChallengeRegistered(bytes32 indexed channelId, uint48 finalizesAt, State state, Signature[] sigs);
    /// A ledger channel's challenge was cleared by a newer state signed by all.
    event Checkpointed(bytes32 indexed channelId, uint48 version);
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
    /// Cumulative deposits are below `expectedHeld`.
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
    /// The supplied state is not the registered one.
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

    /// Deposits into a ledger channel for participant 0 or 1 (ETH: `msg.value == amount`; tokens: pulled).
    function deposit(address asset, bytes32 channelId, uint256 participant, uint256 expectedHeld, uint256 amount)
        external
        payable;

    /// Finalizes a channel at once with a final state signed as S4 demands.
    function conclude(ChannelParams calldata params, State calldata state, Signature[] calldata sigs) external;

    /// `conclude` then `withdraw` in one transaction (ledger channels).
    function concludeAndWithdraw(ChannelParams calldata params, State calldata state, Signature[] calldata sigs)
        external;

    /// Registers a supported, non-final state (S5).
    function challenge(
        ChannelParams calldata params,
        State calldata state,
        Signature[] calldata sigs,
        Certificate calldata cert
    ) external;

    /// Clears a ledger channel's challenge with a newer state signed by all (S5).
    function checkpoint(ChannelParams calldata params, State calldata state, Signature[] calldata sigs) external;

    /// Registers an endpoint's app move on top of the registered state (S7).
    function progress(
        ChannelParams calldata params,
        State calldata from,
        State calldata to,
        uint256 moverIndex,
        Signature calldata moverSig
    ) external;

    /// Pays a finalized ledger channel's outcome out (S12).
    function withdraw(ChannelParams calldata params, State calldata state) external;

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

    /// The registered status of a channel.
    function statusOf(bytes32 channelId)
        external
        view
        returns (uint48 version, uint48 finalizesAt, uint16 moves, bool certified, uint136 fingerprint);

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
