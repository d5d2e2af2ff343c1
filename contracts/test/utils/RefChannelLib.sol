// SPDX-License-Identifier: MIT OR Apache-2.0
// The straightforward (pre-optimization) Solidity implementation of ChannelLib, kept as the reference the
// optimized library is fuzzed against (test/Hashing.t.sol).
pragma solidity ^0.8.28;

import {
    ChannelParams, State, Outcome, AssetOutcome, Signature, SubAlloc, LeafProof, Voucher
} from "../../src/Types.sol";
import {InvalidParams, InvalidSignature, WrongSigner, InvalidOutcome, IFerryHarness} from "../../src/Types.sol";

// Channel kinds (`ChannelParams.kind`).
uint8 constant REF_KIND_LEDGER = 0;
// Channel kinds (`ChannelParams.kind`).
uint8 constant REF_KIND_VIRTUAL = 1;
// Depth of the fixed-depth sub-channel tree.
uint256 constant REF_TREE_DEPTH = 32;

/// EIP-712 hashing, signature recovery, params/outcome validation and the sub-channel tree: the rules both the
/// Adjudicator and the Rust side implement (SPEC.md).
library RefChannelLib {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant NAME_HASH = keccak256("Ferry");
    bytes32 internal constant VERSION_HASH = keccak256("1");
    bytes32 internal constant ASSET_OUTCOME_TYPEHASH = keccak256(
        "AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)"
    );
    bytes32 internal constant OUTCOME_TYPEHASH = keccak256(
        "Outcome(AssetOutcome[] assets,bytes32 subRoot)"
        "AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)"
    );
    bytes32 internal constant STATE_TYPEHASH = keccak256(
        "State(bytes32 channelId,uint48 version,Outcome outcome,bytes appData,bool isFinal)"
        "AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)"
        "Outcome(AssetOutcome[] assets,bytes32 subRoot)"
    );
    bytes32 internal constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,address payer,address asset,uint256 amount)");

    /// secp256k1 group order and half of it (low-s rule).
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    // ---------------------------------------------------------------- identity

    /// The channel id: `keccak256(abi.encode(params))`.
    function channelId(ChannelParams calldata params) internal pure returns (bytes32) {
        return keccak256(abi.encode(params));
    }

    /// Checks params against S1/S2/S13 without chain context. Reason codes: 1 unknown kind, 2 participant count,
    /// 3 zero participant, 4 repeated participant, 5 hops count, 6 repeated hop, 7 zero challenge duration,
    /// 9 a ledger naming an app, 10 a ledger allowing moves, 11 challenge duration above 365 days.
    function validate(ChannelParams calldata params) internal pure {
        address[] calldata ps = params.participants;
        uint256 n = ps.length;
        if (params.kind == REF_KIND_LEDGER) {
            if (n != 2) revert InvalidParams(2);
            if (params.hops.length != 0) revert InvalidParams(5);
            if (params.app != address(0)) revert InvalidParams(9);
            if (params.maxMoves != 0) revert InvalidParams(10);
        } else if (params.kind == REF_KIND_VIRTUAL) {
            if (n < 2) revert InvalidParams(2);
            if (params.hops.length != n - 1) revert InvalidParams(5);
            for (uint256 i = 1; i < params.hops.length; i++) {
                for (uint256 j = 0; j < i; j++) {
                    if (params.hops[i] == params.hops[j]) revert InvalidParams(6);
                }
            }
        } else {
            revert InvalidParams(1);
        }
        for (uint256 i = 0; i < n; i++) {
            if (ps[i] == address(0)) revert InvalidParams(3);
            for (uint256 j = 0; j < i; j++) {
                if (ps[i] == ps[j]) revert InvalidParams(4);
            }
        }
        if (params.challengeDuration == 0) revert InvalidParams(7);
        if (params.challengeDuration > 365 days) revert InvalidParams(11);
    }

    // ---------------------------------------------------------------- EIP-712

    /// The EIP-712 domain separator for a chain and adjudicator.
    function domainSeparator(uint256 chainId, address adjudicator) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, adjudicator));
    }

    /// `hashStruct(AssetOutcome)`.
    function hashAssetOutcome(AssetOutcome calldata a) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ASSET_OUTCOME_TYPEHASH,
                a.asset,
                keccak256(abi.encodePacked(a.balances)),
                keccak256(abi.encodePacked(a.deposited)),
                keccak256(abi.encodePacked(a.withdrawn)),
                a.locked
            )
        );
    }

    /// `hashStruct(Outcome)`.
    function hashOutcome(Outcome calldata o) internal pure returns (bytes32) {
        uint256 m = o.assets.length;
        bytes32[] memory hashes = new bytes32[](m);
        for (uint256 i = 0; i < m; i++) {
            hashes[i] = hashAssetOutcome(o.assets[i]);
        }
        return keccak256(abi.encode(OUTCOME_TYPEHASH, keccak256(abi.encodePacked(hashes)), o.subRoot));
    }

    /// `hashStruct(State)`: also the registered state's fingerprint (all 256 bits).
    function hashState(State calldata s) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                STATE_TYPEHASH, s.channelId, s.version, hashOutcome(s.outcome), keccak256(s.appData), s.isFinal
            )
        );
    }

    /// `hashStruct(Voucher)`.
    function hashVoucher(Voucher memory v) internal pure returns (bytes32) {
        return keccak256(abi.encode(VOUCHER_TYPEHASH, v.channelId, v.payer, v.asset, v.amount));
    }

    /// The EIP-712 digest `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
    function digest(bytes32 separator, bytes32 structHash) internal pure returns (bytes32 d) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), separator)
            mstore(add(ptr, 0x22), structHash)
            d := keccak256(ptr, 0x42)
        }
    }

    // ---------------------------------------------------------------- signatures

    /// Recovers the signer of `d`; reverts on any malformed or high-s signature.
    function recover(bytes32 d, Signature calldata sig) internal pure returns (address signer) {
        uint256 r = uint256(sig.r);
        uint256 s = uint256(sig.s);
        if ((sig.v != 27 && sig.v != 28) || r == 0 || r >= SECP256K1_N || s == 0 || s > SECP256K1_HALF_N) {
            revert InvalidSignature();
        }
        signer = ecrecover(d, sig.v, sig.r, sig.s);
        if (signer == address(0)) revert InvalidSignature();
    }

    /// Requires exactly one signature per signer, in order (S4).
    function requireSignedByAll(bytes32 d, Signature[] calldata sigs, address[] calldata signers) internal pure {
        uint256 n = signers.length;
        if (sigs.length != n) revert WrongSigner(sigs.length);
        for (uint256 i = 0; i < n; i++) {
            if (recover(d, sigs[i]) != signers[i]) revert WrongSigner(i);
        }
    }

    // ---------------------------------------------------------------- outcome

    /// Checks an outcome: assets strictly ascending; one balance/deposited/withdrawn entry per participant;
    /// `sum(balances) + locked == sum(deposited) - sum(withdrawn)` per asset; a virtual channel locks nothing and
    /// hosts no sub-channels. Reason codes: 1 asset order, 2 array length, 3 invariant, 4 virtual hosts funds.
    function validateOutcome(Outcome calldata o, uint256 n, uint8 kind) internal pure {
        uint256 m = o.assets.length;
        address prev;
        for (uint256 i = 0; i < m; i++) {
            AssetOutcome calldata a = o.assets[i];
            if (i > 0 && a.asset <= prev) revert InvalidOutcome(1);
            prev = a.asset;
            if (a.balances.length != n || a.deposited.length != n || a.withdrawn.length != n) {
                revert InvalidOutcome(2);
            }
            uint256 lhs = a.locked;
            uint256 dep;
            uint256 wd;
            for (uint256 p = 0; p < n; p++) {
                lhs += a.balances[p];
                dep += a.deposited[p];
                wd += a.withdrawn[p];
            }
            if (dep < wd || lhs != dep - wd) revert InvalidOutcome(3);
            if (kind == REF_KIND_VIRTUAL && a.locked != 0) revert InvalidOutcome(4);
        }
        if (kind == REF_KIND_VIRTUAL && o.subRoot != emptyRoot()) revert InvalidOutcome(4);
    }

    /// `keccak256(abi.encode(assets, totals))`: the asset list and per-asset totals (`sum(balances) + locked`),
    /// what S3 keeps constant across V's states.
    function totalsHash(Outcome calldata o) internal pure returns (bytes32) {
        uint256 m = o.assets.length;
        address[] memory assets = new address[](m);
        uint256[] memory totals = new uint256[](m);
        for (uint256 i = 0; i < m; i++) {
            AssetOutcome calldata a = o.assets[i];
            assets[i] = a.asset;
            uint256 t = a.locked;
            for (uint256 p = 0; p < a.balances.length; p++) {
                t += a.balances[p];
            }
            totals[i] = t;
        }
        return keccak256(abi.encode(assets, totals));
    }

    /// True when every intermediary (participants 1..n-2) holds nothing in `o` (S3).
    function intermediariesEmpty(Outcome calldata o) internal pure returns (bool) {
        for (uint256 i = 0; i < o.assets.length; i++) {
            uint256[] calldata b = o.assets[i].balances;
            for (uint256 p = 1; p + 1 < b.length; p++) {
                if (b[p] != 0) return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- sub-channel tree

    /// `keccak256(0x00 ‖ abi.encode(leaf.channelId, leaf.amounts, leaf.fee))`.
    function leafHash(SubAlloc calldata leaf) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), abi.encode(leaf.channelId, leaf.amounts, leaf.fee)));
    }

    /// `keccak256(0x01 ‖ left ‖ right)`.
    function node(bytes32 left, bytes32 right) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 0x01)
            mstore(add(ptr, 0x01), left)
            mstore(add(ptr, 0x21), right)
            h := keccak256(ptr, 0x41)
        }
    }

    /// The root of the empty tree, `Z[32]`.
    function emptyRoot() internal pure returns (bytes32 z) {
        for (uint256 level = 0; level < REF_TREE_DEPTH; level++) {
            z = node(z, z);
        }
    }

    /// The root a leaf hash and its proof commit to; siblings missing above `siblings.length` are empty subtrees.
    function rootFromProof(bytes32 leaf, LeafProof calldata proof) internal pure returns (bytes32 cur) {
        uint256 len = proof.siblings.length;
        if (len > REF_TREE_DEPTH) revert InvalidParams(8);
        uint256 index = proof.index;
        cur = leaf;
        bytes32 z;
        for (uint256 level = 0; level < REF_TREE_DEPTH; level++) {
            bytes32 sib = level < len ? proof.siblings[level] : z;
            cur = (index >> level) & 1 == 0 ? node(cur, sib) : node(sib, cur);
            z = node(z, z);
        }
    }
}

/// IFerryHarness over the reference library.
contract ReferenceHarness is IFerryHarness {
    function channelId(ChannelParams calldata params) external pure returns (bytes32) {
        return RefChannelLib.channelId(params);
    }

    function validateParams(ChannelParams calldata params) external pure returns (bool) {
        RefChannelLib.validate(params);
        return true;
    }

    function validateOutcome(Outcome calldata outcome, uint256 participants, uint8 kind)
        external
        pure
        returns (bool)
    {
        RefChannelLib.validateOutcome(outcome, participants, kind);
        return true;
    }

    function stateHash(State calldata state) external pure returns (bytes32) {
        return RefChannelLib.hashState(state);
    }

    function stateDigest(State calldata state, uint256 chainId, address adjudicator) external pure returns (bytes32) {
        return RefChannelLib.digest(RefChannelLib.domainSeparator(chainId, adjudicator), RefChannelLib.hashState(state));
    }

    function voucherDigest(Voucher calldata voucher, uint256 chainId, address adjudicator)
        external
        pure
        returns (bytes32)
    {
        return RefChannelLib.digest(
            RefChannelLib.domainSeparator(chainId, adjudicator), RefChannelLib.hashVoucher(voucher)
        );
    }

    function domainSeparator(uint256 chainId, address adjudicator) external pure returns (bytes32) {
        return RefChannelLib.domainSeparator(chainId, adjudicator);
    }

    function totalsHash(Outcome calldata outcome) external pure returns (bytes32) {
        return RefChannelLib.totalsHash(outcome);
    }

    function leafHash(SubAlloc calldata leaf) external pure returns (bytes32) {
        return RefChannelLib.leafHash(leaf);
    }

    function emptyRoot() external pure returns (bytes32) {
        return RefChannelLib.emptyRoot();
    }

    function rootFromProof(SubAlloc calldata leaf, LeafProof calldata proof) external pure returns (bytes32) {
        return RefChannelLib.rootFromProof(RefChannelLib.leafHash(leaf), proof);
    }

    function recover(bytes32 digest, Signature calldata sig) external pure returns (address) {
        return RefChannelLib.recover(digest, sig);
    }
}
