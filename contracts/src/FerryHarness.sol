// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {
    ChannelParams, State, Outcome, Signature, SubAlloc, LeafProof, Voucher
} from "./Types.sol";
import {ChannelLib} from "./ChannelLib.sol";
import {IFerryHarness} from "./Types.sol";

/// Exposes ChannelLib for the Rust differential tests (deployed only by tests): the same code the Adjudicator runs.
contract FerryHarness is IFerryHarness {
    /// `keccak256(abi.encode(params))`.
    function channelId(ChannelParams calldata params) external pure returns (bytes32) {
        return ChannelLib.channelId(params);
    }

    /// Reverts with `InvalidParams(reason)` unless params pass S1/S2's structural checks.
    function validateParams(ChannelParams calldata params) external pure returns (bool) {
        ChannelLib.validate(params);
        return true;
    }

    /// Reverts with `InvalidOutcome(reason)` unless the outcome passes the outcome rules.
    function validateOutcome(Outcome calldata outcome, uint256 participants, uint8 kind)
        external
        pure
        returns (bool)
    {
        ChannelLib.validateOutcome(outcome, participants, kind);
        return true;
    }

    /// EIP-712 `hashStruct(State)`.
    function stateHash(State calldata state) external pure returns (bytes32) {
        return ChannelLib.hashState(state);
    }

    /// The EIP-712 digest a participant signs for `state`.
    function stateDigest(State calldata state, uint256 chainId, address adjudicator) external pure returns (bytes32) {
        return ChannelLib.digest(ChannelLib.domainSeparator(chainId, adjudicator), ChannelLib.hashState(state));
    }

    /// The EIP-712 digest a payer signs for `voucher`.
    function voucherDigest(Voucher calldata voucher, uint256 chainId, address adjudicator)
        external
        pure
        returns (bytes32)
    {
        return ChannelLib.digest(ChannelLib.domainSeparator(chainId, adjudicator), ChannelLib.hashVoucher(voucher));
    }

    /// The EIP-712 domain separator.
    function domainSeparator(uint256 chainId, address adjudicator) external pure returns (bytes32) {
        return ChannelLib.domainSeparator(chainId, adjudicator);
    }

    /// The S3 totals hash of an outcome.
    function totalsHash(Outcome calldata outcome) external pure returns (bytes32) {
        return ChannelLib.totalsHash(outcome);
    }

    /// A sub-channel leaf's hash.
    function leafHash(SubAlloc calldata leaf) external pure returns (bytes32) {
        return ChannelLib.leafHash(leaf);
    }

    /// The empty tree's root.
    function emptyRoot() external pure returns (bytes32) {
        return ChannelLib.emptyRoot();
    }

    /// The root a leaf and its proof lead to.
    function rootFromProof(SubAlloc calldata leaf, LeafProof calldata proof) external pure returns (bytes32) {
        return ChannelLib.rootFromProof(ChannelLib.leafHash(leaf), proof);
    }

    /// The signer of a digest; reverts on malformed or high-s signatures.
    function recover(bytes32 digest, Signature calldata sig) external pure returns (address) {
        return ChannelLib.recover(digest, sig);
    }
}
