// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

// The on-chain types of Ferry. This file is the single source of truth for their layout:
// the Rust side (`ferry-contracts`) generates its types from this very file with `sol!`,
// so the ABI encodings and EIP-712 hashes of both sides come from one definition.

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
    /// The app contract (IApp) that judges `progress` moves; address(0) for none.
    address app;
    /// Seconds a challenge stays open.
    uint48 challengeDuration;
    /// Maximum number of `progress` moves on-chain (S7).
    uint48 maxMoves;
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
    /// Sorted by asset, equal to V's asset list.
    AssetAmount[] amounts;
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
