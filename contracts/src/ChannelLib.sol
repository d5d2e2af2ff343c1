// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {
    ChannelParams, State, Outcome, AssetOutcome, AssetAmount, Signature, SubAlloc, LeafProof, Voucher
} from "./Types.sol";
import {InvalidParams, InvalidSignature, WrongSigner, InvalidOutcome} from "./Types.sol";

// Channel kinds (`ChannelParams.kind`).
uint8 constant KIND_LEDGER = 0;
// Channel kinds (`ChannelParams.kind`).
uint8 constant KIND_VIRTUAL = 1;
// Depth of the fixed-depth sub-channel tree.
uint256 constant TREE_DEPTH = 32;
// The longest challenge duration params may name (S6): `now + challengeDuration` always fits the uint48 deadline,
// so every challenge and move can be registered and every dispute ends by a timeout.
uint48 constant MAX_CHALLENGE_DURATION = 365 days;
// The root of the empty sub-channel tree, `Z[32]` (`Z[0] = 0`, `Z[i+1] = node(Z[i], Z[i])`).
bytes32 constant EMPTY_ROOT = 0x7c1d0e8a93ea9c09cc13b91ead8f72de66a33cb695c30934dc2d75bffac1248e;

/// EIP-712 hashing, signature recovery, params/outcome validation and the sub-channel tree: the rules both the
/// Adjudicator and the Rust side implement (SPEC.md).
library ChannelLib {
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
    /// `Z[0] ‖ Z[1] ‖ … ‖ Z[31]`: the empty subtree hash of each level (`test_tree_zeroHashesAreTheEmptySubtrees`).
    bytes internal constant ZERO_HASHES = hex"0000000000000000000000000000000000000000000000000000000000000000c07a1e8b7e0057673fdc2affe190d8a960c5fe615663f27b7ce84f3d93ef92a6fd47517474a597637d54038a0663d1d03b931b238de06b73e3c12cf443de6e8d47a8f5e8fa70be2760378067c9c6d410dd96be07820b4230c11254c7ff10c298aed19ca4bfe2365b1b33fa94744cd0c6a2d550506c7e7efc073879cb79459b9a6e6998a7da8b2db5c98eb853099d8caec63797b5283b7dac37b2ffb630a86e24181c19735bff23b55bc295fc0b60c1c5c7288209b261a08e26924598ce72404eecb408b290ab2920e63611ef1e8ca964aebb66ea5739f19d24b92094f28e44f8294bf9785e1391d24d52abf915636a73bdaa12ed29e85e21dae14c09d0f2e34bcf7e37a934683edec795e3529db8fac0863519c2419ba24c0f6e4efa86ec7d1a72ce48cca9bc743fed84a0bdc00ad2c5b540323849c982f671a9bd8d52d157190e2d7d0b695fdcd9dc6c54313ae652218375c3358d34ade3dcc49dda05c0db10a0a786a71d24007a23f5ce21e6997a305baeefaf348937a8b74974cb039c10c80628cb6496193e6a55ece4a8240384e142273eeb9cc4bdae680f971fd1929f102c3b833a3ca9d6f02055871655dd18f003a279f84a334bf6050899a9bc1cedc31a6c5e9fd899efca64c2aca6243434b423d791f92a839c0c92ce0a5a51a07234a9942b0fabdf9bf32241f8245eb26737ffbd91822ac484ae857fc35d21fb652f7e4206a110a8721cc68455c35400b056251398dfcf98b04aeee19549bfd2122fbfb429bfebb3aa270012d8063896d205bfd8ce116e4a304335bd59e9471f9fcce22fa8fff28cfb1f3664382ced6d3f1d634ef2851c10b1dce18c57c957985bf9d29bf231e30afb5cd1bc01d214e905c60c87533bf967a94877b3843bb0bdef5d146d57f70bcb580465116619359a35ece364f17e8d56524b5eee8bf6b8ebfdf6cdbc0759e847f96beb000c3cc51e30f8b2ccac5dcc5c409fea938a3345f8b60386e4b0792326c35995f1563b0d8f99fc38b0348a356e149c04b2783d5bd4cfb845965170d4d5afdbc7dd54ef3beb044e3a61bdc1a96a4d31beaaee6b75a3f063b4603e46f0de988e62ff27b69f4d393a18f5ed31ea265fee69e73dc4eeddc902b394b29ffe4175348b892c892e0eee5e565c83ebbe247de17cd9bf999d75d2b7ad44e31db4754e01afbb20b8aceb34ce5ef195a9701a7115326091c4fedb5a440bf2ca8aa236c35d3e7bd0ba97c8e772194462c90b5bb6caea4774e4100e95efde0aa4f414066517b910862d802e616c418bf24150940c3b74b46e6a4e84b15a5368cf00e43190f04a959a2bfd87d648b02bb4494a00b755c1198da350e04cdb223c1c9f16dfa65bdc98bd2ff419b6f1c47596c3f1eed71c5a3d3c2a3c33f99b";

    // ---------------------------------------------------------------- identity

    /// The channel id: `keccak256(abi.encode(params))`.
    function channelId(ChannelParams calldata params) internal pure returns (bytes32 h) {
        // The canonical encoding of the one-tuple `(params)`: offset 0x20, the ten head words, then the arrays.
        uint256 kind = params.kind;
        uint256 chainId_ = params.chainId;
        address adjudicator = params.adjudicator;
        uint256 nonce = params.nonce;
        address app = params.app;
        uint256 duration = params.challengeDuration;
        uint256 maxMoves = params.maxMoves;
        uint256 bond = params.challengeBond;
        address[] calldata ps = params.participants;
        bytes32[] calldata hops = params.hops;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, 0x20)
            mstore(add(ptr, 0x20), kind)
            mstore(add(ptr, 0x40), chainId_)
            mstore(add(ptr, 0x60), adjudicator)
            mstore(add(ptr, 0x80), 0x140)
            mstore(add(ptr, 0xa0), nonce)
            mstore(add(ptr, 0xc0), app)
            mstore(add(ptr, 0xe0), duration)
            mstore(add(ptr, 0x100), maxMoves)
            mstore(add(ptr, 0x120), bond)
            let psBytes := shl(5, ps.length)
            mstore(add(ptr, 0x140), add(0x160, psBytes))
            mstore(add(ptr, 0x160), ps.length)
            // Copied raw: a dirty address word gives an id no registered channel has (`validate` rejects it).
            calldatacopy(add(ptr, 0x180), ps.offset, psBytes)
            let hp := add(add(ptr, 0x180), psBytes)
            mstore(hp, hops.length)
            let hopsBytes := shl(5, hops.length)
            calldatacopy(add(hp, 0x20), hops.offset, hopsBytes)
            h := keccak256(ptr, sub(add(add(hp, 0x20), hopsBytes), ptr))
        }
    }

    /// Checks params against S1/S2/S13 without chain context. Reason codes: 1 unknown kind, 2 participant count,
    /// 3 zero participant, 4 repeated participant, 5 hops count, 6 repeated hop, 7 zero challenge duration,
    /// 9 a ledger naming an app, 10 a ledger allowing moves (S13: a ledger channel has no app and no moves),
    /// 11 challenge duration above `MAX_CHALLENGE_DURATION` (S6).
    function validate(ChannelParams calldata params) internal pure {
        address[] calldata ps = params.participants;
        bytes32[] calldata hops = params.hops;
        uint256 n = ps.length;
        uint8 kind = params.kind;
        if (kind == KIND_LEDGER) {
            if (n != 2) revert InvalidParams(2);
            if (hops.length != 0) revert InvalidParams(5);
            if (params.app != address(0)) revert InvalidParams(9); // S13
            if (params.maxMoves != 0) revert InvalidParams(10); // S13
        } else if (kind == KIND_VIRTUAL) {
            if (n < 2) revert InvalidParams(2);
            if (hops.length != n - 1) revert InvalidParams(5);
            for (uint256 i = 1; i < hops.length; i++) {
                bytes32 h = hops[i];
                for (uint256 j = 0; j < i; j++) {
                    if (h == hops[j]) revert InvalidParams(6);
                }
            }
        } else {
            revert InvalidParams(1);
        }
        for (uint256 i = 0; i < n; i++) {
            address p = ps[i];
            if (p == address(0)) revert InvalidParams(3);
            for (uint256 j = 0; j < i; j++) {
                if (p == ps[j]) revert InvalidParams(4);
            }
        }
        uint256 duration = params.challengeDuration;
        if (duration == 0) revert InvalidParams(7);
        if (duration > MAX_CHALLENGE_DURATION) revert InvalidParams(11); // S6
    }

    // ---------------------------------------------------------------- EIP-712

    /// The EIP-712 domain separator for a chain and adjudicator.
    function domainSeparator(uint256 chainId, address adjudicator) internal pure returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chainId, adjudicator));
    }

    /// Walks an outcome once: with `check`, enforces the outcome rules (see `validateOutcome`) for `n` participants
    /// of `kind`; always returns `hashStruct(Outcome)`. Memory from the free memory pointer on is scratch.
    /// Calldata is read raw: an offset or length pointing outside calldata reads zeros, which can only give a hash
    /// no one signed; every value the adjudicator later uses is read again through Solidity's checked accessors
    /// from the same positions, so the hash always commits to the values used.
    function _walkOutcome(Outcome calldata o, uint256 n, uint256 kind, bool check) private pure returns (bytes32 h) {
        AssetOutcome[] calldata assets = o.assets;
        bytes32 subRoot = o.subRoot;
        bytes32 assetTypeHash = ASSET_OUTCOME_TYPEHASH;
        bytes32 outcomeTypeHash = OUTCOME_TYPEHASH;
        bytes4 invalidOutcome = InvalidOutcome.selector;
        assembly ("memory-safe") {
            function fail(selector, reason) {
                mstore(0x00, selector)
                mstore(0x04, reason)
                revert(0x00, 0x24)
            }
            // keccak256 of the uint256[] at calldata `arr` (length word, then elements), via scratch `at`.
            function arrayHash(arr, at) -> ah, len {
                len := calldataload(arr)
                if gt(len, 0xffffffff) { revert(0, 0) }
                let bytesLen := shl(5, len)
                calldatacopy(at, add(arr, 0x20), bytesLen)
                ah := keccak256(at, bytesLen)
            }
            let m := assets.length
            let ptr := mload(0x40)
            let scratch := add(ptr, shl(5, m))
            let prev := 0
            for { let i := 0 } lt(i, m) { i := add(i, 1) } {
                let a := add(assets.offset, calldataload(add(assets.offset, shl(5, i))))
                let asset := calldataload(a)
                let locked := calldataload(add(a, 0x80))
                let b := add(a, calldataload(add(a, 0x20)))
                let d := add(a, calldataload(add(a, 0x40)))
                let w := add(a, calldataload(add(a, 0x60)))
                if check {
                    if and(gt(i, 0), iszero(gt(asset, prev))) { fail(invalidOutcome, 1) }
                    prev := asset
                    if iszero(and(and(eq(calldataload(b), n), eq(calldataload(d), n)), eq(calldataload(w), n))) {
                        fail(invalidOutcome, 2)
                    }
                    let lhs := locked
                    let dep := 0
                    let wd := 0
                    let overflow := 0
                    for { let off := 0x20 } iszero(gt(off, shl(5, n))) { off := add(off, 0x20) } {
                        let x := calldataload(add(b, off))
                        lhs := add(lhs, x)
                        overflow := or(overflow, lt(lhs, x))
                        x := calldataload(add(d, off))
                        dep := add(dep, x)
                        overflow := or(overflow, lt(dep, x))
                        x := calldataload(add(w, off))
                        wd := add(wd, x)
                        overflow := or(overflow, lt(wd, x))
                    }
                    // Checked arithmetic, as Solidity: Panic(0x11).
                    if overflow { fail(0x4e487b7100000000000000000000000000000000000000000000000000000000, 0x11) }
                    if or(lt(dep, wd), iszero(eq(lhs, sub(dep, wd)))) { fail(invalidOutcome, 3) }
                    if and(eq(kind, 1), iszero(iszero(locked))) { fail(invalidOutcome, 4) }
                }
                let hb := 0
                let hd := 0
                let hw := 0
                let len := 0
                hb, len := arrayHash(b, scratch)
                hd, len := arrayHash(d, scratch)
                hw, len := arrayHash(w, scratch)
                mstore(scratch, assetTypeHash)
                mstore(add(scratch, 0x20), asset)
                mstore(add(scratch, 0x40), hb)
                mstore(add(scratch, 0x60), hd)
                mstore(add(scratch, 0x80), hw)
                mstore(add(scratch, 0xa0), locked)
                mstore(add(ptr, shl(5, i)), keccak256(scratch, 0xc0))
            }
            if check {
                if and(eq(kind, 1), iszero(eq(subRoot, EMPTY_ROOT))) { fail(invalidOutcome, 4) }
            }
            let arr := keccak256(ptr, shl(5, m))
            mstore(ptr, outcomeTypeHash)
            mstore(add(ptr, 0x20), arr)
            mstore(add(ptr, 0x40), subRoot)
            h := keccak256(ptr, 0x60)
        }
    }

    /// `hashStruct(Outcome)`.
    function hashOutcome(Outcome calldata o) internal pure returns (bytes32) {
        return _walkOutcome(o, 0, 0, false);
    }

    /// `hashStruct(State)` given the outcome's struct hash.
    function _stateHash(State calldata s, bytes32 outcomeHash) private pure returns (bytes32 h) {
        bytes32 cid = s.channelId;
        uint256 version = s.version;
        bool isFinal = s.isFinal;
        bytes calldata appData = s.appData;
        bytes32 typeHash = STATE_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, appData.offset, appData.length)
            let ah := keccak256(ptr, appData.length)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), cid)
            mstore(add(ptr, 0x40), version)
            mstore(add(ptr, 0x60), outcomeHash)
            mstore(add(ptr, 0x80), ah)
            mstore(add(ptr, 0xa0), isFinal)
            h := keccak256(ptr, 0xc0)
        }
    }

    /// `hashStruct(State)`: also the registered state's fingerprint (all 256 bits, S15).
    function hashState(State calldata s) internal pure returns (bytes32) {
        return _stateHash(s, _walkOutcome(s.outcome, 0, 0, false));
    }

    /// `validateOutcome(s.outcome, n, kind)` and `hashState(s)` in one pass over the outcome.
    function checkedStateHash(State calldata s, uint256 n, uint8 kind) internal pure returns (bytes32) {
        return _stateHash(s, _walkOutcome(s.outcome, n, kind, true));
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
    /// A sum beyond 256 bits reverts with Panic(0x11).
    function validateOutcome(Outcome calldata o, uint256 n, uint8 kind) internal pure {
        _walkOutcome(o, n, kind, true);
    }

    /// `keccak256(abi.encode(assets, totals))`: the asset list and per-asset totals (`sum(balances) + locked`),
    /// what S3 keeps constant across V's states.
    function totalsHash(Outcome calldata o) internal pure returns (bytes32 h) {
        AssetOutcome[] calldata assets = o.assets;
        uint256 m = assets.length;
        // abi.encode(address[], uint256[]): two offsets, then each array (length, elements).
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := mload(0x40)
            mstore(ptr, 0x40)
            mstore(add(ptr, 0x20), add(0x60, shl(5, m)))
            mstore(add(ptr, 0x40), m)
            mstore(add(ptr, add(0x60, shl(5, m))), m)
        }
        uint256 totalsAt = ptr + 0x80 + 32 * m;
        for (uint256 i = 0; i < m; i++) {
            AssetOutcome calldata a = assets[i];
            address asset = a.asset;
            uint256[] calldata b = a.balances;
            uint256 t = a.locked;
            for (uint256 p = 0; p < b.length; p++) {
                t += b[p];
            }
            assembly ("memory-safe") {
                mstore(add(ptr, add(0x60, shl(5, i))), asset)
                mstore(add(totalsAt, shl(5, i)), t)
            }
        }
        assembly ("memory-safe") {
            h := keccak256(ptr, add(0x80, shl(6, m)))
        }
    }

    /// True when every intermediary (participants 1..n-2) holds nothing in `o` (S3).
    function intermediariesEmpty(Outcome calldata o) internal pure returns (bool) {
        AssetOutcome[] calldata assets = o.assets;
        for (uint256 i = 0; i < assets.length; i++) {
            uint256[] calldata b = assets[i].balances;
            for (uint256 p = 1; p + 1 < b.length; p++) {
                if (b[p] != 0) return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- sub-channel tree

    /// `keccak256(0x00 ‖ abi.encode(leaf.channelId, leaf.amounts, leaf.fee))`.
    function leafHash(SubAlloc calldata leaf) internal pure returns (bytes32 h) {
        bytes32 cid = leaf.channelId;
        AssetAmount[] calldata amounts = leaf.amounts;
        uint256 fee = leaf.fee;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, 0x00)
            mstore(add(ptr, 0x01), cid)
            mstore(add(ptr, 0x21), 0x60)
            mstore(add(ptr, 0x41), fee)
            mstore(add(ptr, 0x61), amounts.length)
            let len := shl(6, amounts.length)
            calldatacopy(add(ptr, 0x81), amounts.offset, len)
            h := keccak256(ptr, add(0x81, len))
        }
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
    function emptyRoot() internal pure returns (bytes32) {
        return EMPTY_ROOT;
    }

    /// The root a leaf hash and its proof commit to; siblings missing above `siblings.length` are empty subtrees.
    /// Unrolled over the 32 levels, with each level's empty-subtree hash `Z[level]` inlined (`ZERO_HASHES`).
    function rootFromProof(bytes32 leaf, LeafProof calldata proof) internal pure returns (bytes32 cur) {
        bytes32[] calldata siblings = proof.siblings;
        uint256 len = siblings.length;
        if (len > TREE_DEPTH) revert InvalidParams(8);
        uint256 index = proof.index;
        cur = leaf;
        assembly ("memory-safe") {
            // node(l, r) = keccak256(0x01 ‖ l ‖ r) at ptr; bit `level` of the index set puts the sibling left.
            let ptr := mload(0x40)
            mstore8(ptr, 0x01)
            let p1 := add(ptr, 0x01)
            let p2 := add(ptr, 0x21)
            let sib := 0
            let shift := 0
            // level 0
            sib := 0x0000000000000000000000000000000000000000000000000000000000000000
            if lt(0, len) { sib := calldataload(add(siblings.offset, 0x0)) }
            shift := shl(5, and(shr(0, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 1
            sib := 0xc07a1e8b7e0057673fdc2affe190d8a960c5fe615663f27b7ce84f3d93ef92a6
            if lt(1, len) { sib := calldataload(add(siblings.offset, 0x20)) }
            shift := shl(5, and(shr(1, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 2
            sib := 0xfd47517474a597637d54038a0663d1d03b931b238de06b73e3c12cf443de6e8d
            if lt(2, len) { sib := calldataload(add(siblings.offset, 0x40)) }
            shift := shl(5, and(shr(2, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 3
            sib := 0x47a8f5e8fa70be2760378067c9c6d410dd96be07820b4230c11254c7ff10c298
            if lt(3, len) { sib := calldataload(add(siblings.offset, 0x60)) }
            shift := shl(5, and(shr(3, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 4
            sib := 0xaed19ca4bfe2365b1b33fa94744cd0c6a2d550506c7e7efc073879cb79459b9a
            if lt(4, len) { sib := calldataload(add(siblings.offset, 0x80)) }
            shift := shl(5, and(shr(4, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 5
            sib := 0x6e6998a7da8b2db5c98eb853099d8caec63797b5283b7dac37b2ffb630a86e24
            if lt(5, len) { sib := calldataload(add(siblings.offset, 0xa0)) }
            shift := shl(5, and(shr(5, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 6
            sib := 0x181c19735bff23b55bc295fc0b60c1c5c7288209b261a08e26924598ce72404e
            if lt(6, len) { sib := calldataload(add(siblings.offset, 0xc0)) }
            shift := shl(5, and(shr(6, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 7
            sib := 0xecb408b290ab2920e63611ef1e8ca964aebb66ea5739f19d24b92094f28e44f8
            if lt(7, len) { sib := calldataload(add(siblings.offset, 0xe0)) }
            shift := shl(5, and(shr(7, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 8
            sib := 0x294bf9785e1391d24d52abf915636a73bdaa12ed29e85e21dae14c09d0f2e34b
            if lt(8, len) { sib := calldataload(add(siblings.offset, 0x100)) }
            shift := shl(5, and(shr(8, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 9
            sib := 0xcf7e37a934683edec795e3529db8fac0863519c2419ba24c0f6e4efa86ec7d1a
            if lt(9, len) { sib := calldataload(add(siblings.offset, 0x120)) }
            shift := shl(5, and(shr(9, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 10
            sib := 0x72ce48cca9bc743fed84a0bdc00ad2c5b540323849c982f671a9bd8d52d15719
            if lt(10, len) { sib := calldataload(add(siblings.offset, 0x140)) }
            shift := shl(5, and(shr(10, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 11
            sib := 0x0e2d7d0b695fdcd9dc6c54313ae652218375c3358d34ade3dcc49dda05c0db10
            if lt(11, len) { sib := calldataload(add(siblings.offset, 0x160)) }
            shift := shl(5, and(shr(11, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 12
            sib := 0xa0a786a71d24007a23f5ce21e6997a305baeefaf348937a8b74974cb039c10c8
            if lt(12, len) { sib := calldataload(add(siblings.offset, 0x180)) }
            shift := shl(5, and(shr(12, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 13
            sib := 0x0628cb6496193e6a55ece4a8240384e142273eeb9cc4bdae680f971fd1929f10
            if lt(13, len) { sib := calldataload(add(siblings.offset, 0x1a0)) }
            shift := shl(5, and(shr(13, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 14
            sib := 0x2c3b833a3ca9d6f02055871655dd18f003a279f84a334bf6050899a9bc1cedc3
            if lt(14, len) { sib := calldataload(add(siblings.offset, 0x1c0)) }
            shift := shl(5, and(shr(14, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 15
            sib := 0x1a6c5e9fd899efca64c2aca6243434b423d791f92a839c0c92ce0a5a51a07234
            if lt(15, len) { sib := calldataload(add(siblings.offset, 0x1e0)) }
            shift := shl(5, and(shr(15, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 16
            sib := 0xa9942b0fabdf9bf32241f8245eb26737ffbd91822ac484ae857fc35d21fb652f
            if lt(16, len) { sib := calldataload(add(siblings.offset, 0x200)) }
            shift := shl(5, and(shr(16, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 17
            sib := 0x7e4206a110a8721cc68455c35400b056251398dfcf98b04aeee19549bfd2122f
            if lt(17, len) { sib := calldataload(add(siblings.offset, 0x220)) }
            shift := shl(5, and(shr(17, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 18
            sib := 0xbfb429bfebb3aa270012d8063896d205bfd8ce116e4a304335bd59e9471f9fcc
            if lt(18, len) { sib := calldataload(add(siblings.offset, 0x240)) }
            shift := shl(5, and(shr(18, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 19
            sib := 0xe22fa8fff28cfb1f3664382ced6d3f1d634ef2851c10b1dce18c57c957985bf9
            if lt(19, len) { sib := calldataload(add(siblings.offset, 0x260)) }
            shift := shl(5, and(shr(19, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 20
            sib := 0xd29bf231e30afb5cd1bc01d214e905c60c87533bf967a94877b3843bb0bdef5d
            if lt(20, len) { sib := calldataload(add(siblings.offset, 0x280)) }
            shift := shl(5, and(shr(20, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 21
            sib := 0x146d57f70bcb580465116619359a35ece364f17e8d56524b5eee8bf6b8ebfdf6
            if lt(21, len) { sib := calldataload(add(siblings.offset, 0x2a0)) }
            shift := shl(5, and(shr(21, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 22
            sib := 0xcdbc0759e847f96beb000c3cc51e30f8b2ccac5dcc5c409fea938a3345f8b603
            if lt(22, len) { sib := calldataload(add(siblings.offset, 0x2c0)) }
            shift := shl(5, and(shr(22, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 23
            sib := 0x86e4b0792326c35995f1563b0d8f99fc38b0348a356e149c04b2783d5bd4cfb8
            if lt(23, len) { sib := calldataload(add(siblings.offset, 0x2e0)) }
            shift := shl(5, and(shr(23, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 24
            sib := 0x45965170d4d5afdbc7dd54ef3beb044e3a61bdc1a96a4d31beaaee6b75a3f063
            if lt(24, len) { sib := calldataload(add(siblings.offset, 0x300)) }
            shift := shl(5, and(shr(24, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 25
            sib := 0xb4603e46f0de988e62ff27b69f4d393a18f5ed31ea265fee69e73dc4eeddc902
            if lt(25, len) { sib := calldataload(add(siblings.offset, 0x320)) }
            shift := shl(5, and(shr(25, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 26
            sib := 0xb394b29ffe4175348b892c892e0eee5e565c83ebbe247de17cd9bf999d75d2b7
            if lt(26, len) { sib := calldataload(add(siblings.offset, 0x340)) }
            shift := shl(5, and(shr(26, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 27
            sib := 0xad44e31db4754e01afbb20b8aceb34ce5ef195a9701a7115326091c4fedb5a44
            if lt(27, len) { sib := calldataload(add(siblings.offset, 0x360)) }
            shift := shl(5, and(shr(27, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 28
            sib := 0x0bf2ca8aa236c35d3e7bd0ba97c8e772194462c90b5bb6caea4774e4100e95ef
            if lt(28, len) { sib := calldataload(add(siblings.offset, 0x380)) }
            shift := shl(5, and(shr(28, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 29
            sib := 0xde0aa4f414066517b910862d802e616c418bf24150940c3b74b46e6a4e84b15a
            if lt(29, len) { sib := calldataload(add(siblings.offset, 0x3a0)) }
            shift := shl(5, and(shr(29, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 30
            sib := 0x5368cf00e43190f04a959a2bfd87d648b02bb4494a00b755c1198da350e04cdb
            if lt(30, len) { sib := calldataload(add(siblings.offset, 0x3c0)) }
            shift := shl(5, and(shr(30, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
            // level 31
            sib := 0x223c1c9f16dfa65bdc98bd2ff419b6f1c47596c3f1eed71c5a3d3c2a3c33f99b
            if lt(31, len) { sib := calldataload(add(siblings.offset, 0x3e0)) }
            shift := shl(5, and(shr(31, index), 1))
            mstore(add(p1, shift), cur)
            mstore(sub(p2, shift), sib)
            cur := keccak256(ptr, 0x41)
        }
    }
}
