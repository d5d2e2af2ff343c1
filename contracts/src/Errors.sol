// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

// Errors raised by ChannelLib's checks, shared by the Adjudicator, the apps and the harness.

/// Params break S1/S2. Reasons: 1 unknown kind, 2 participant count, 3 zero participant, 4 repeated participant,
/// 5 hops count, 6 repeated hop, 7 zero challenge duration, 8 proof longer than the tree.
error InvalidParams(uint256 reason);
/// A signature is malformed: bad v, r or s out of range, high s, or it recovers to no address (S1, S4).
error InvalidSignature();
/// The signature at `index` was not made by the required signer, or the signature count is wrong (S4).
error WrongSigner(uint256 index);
/// The outcome breaks the outcome rules. Reasons: 1 asset order, 2 array length, 3 invariant
/// `sum(balances) + locked == sum(deposited) - sum(withdrawn)`, 4 a virtual channel that locks funds or hosts
/// sub-channels.
error InvalidOutcome(uint256 reason);
