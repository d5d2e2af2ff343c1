// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {ReferenceHarness} from "./utils/RefChannelLib.sol";
import {ChannelLib, EMPTY_ROOT} from "../src/ChannelLib.sol";
import {
    IFerryHarness,
    ChannelParams,
    State,
    Outcome,
    AssetOutcome,
    Signature,
    SubAlloc,
    AssetAmount,
    LeafProof,
    Voucher,
    InvalidSignature
} from "../src/Types.sol";

/// The optimized ChannelLib (assembly hashing, fused validation) against the plain Solidity reference
/// (`test/utils/RefChannelLib.sol`) and against the EIP-712 definitions written out by hand: same hashes, same
/// verdicts, same revert reasons (S1, S4).
contract HashingTest is FerryBase {
    IFerryHarness internal ref;

    function setUp() public override {
        super.setUp();
        ref = new ReferenceHarness();
    }

    /// Both harnesses answer the same call with the same success and the same bytes (result or revert data).
    function same(bytes memory call) internal view {
        (bool okA, bytes memory a) = address(harness).staticcall(call);
        (bool okB, bytes memory b) = address(ref).staticcall(call);
        assertTrue(okA == okB, "same success");
        assertEq(keccak256(a), keccak256(b), "same return or revert data");
    }

    // ------------------------------------------------------------ builders from fuzz input

    function outcomeFrom(uint256 seed, uint256 n, uint256 m, bool valid) internal pure returns (Outcome memory o) {
        AssetOutcome[] memory assets = new AssetOutcome[](m);
        for (uint256 i = 0; i < m; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            uint256[] memory b = new uint256[](n);
            uint256[] memory d = new uint256[](n);
            uint256[] memory w = new uint256[](n);
            uint256 locked = (r >> 8) % 4 == 0 ? (r >> 16) % 1000 : 0;
            for (uint256 p = 0; p < n; p++) {
                b[p] = (r >> (24 + 8 * p)) % 100;
                d[p] = b[p];
            }
            if (n > 0) d[0] += locked;
            if (!valid && r % 3 == 0 && n > 0) d[n - 1] += 1; // break the invariant
            assets[i] = AssetOutcome(address(uint160(0x1000 + i * 7 + (valid ? 0 : r % 9))), b, d, w, locked);
        }
        o = Outcome(assets, seed % 2 == 0 ? EMPTY_ROOT : keccak256(abi.encode(seed)));
    }

    // ------------------------------------------------------------ fixed vectors

    function test_hashing_typeHashesFollowEip712() public pure {
        // encodeType: the primary type, then every referenced type in alphabetical order.
        assertEq(
            ChannelLib.STATE_TYPEHASH,
            keccak256(
                "State(bytes32 channelId,uint48 version,Outcome outcome,bytes appData,bool isFinal)AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)Outcome(AssetOutcome[] assets,bytes32 subRoot)"
            ),
            "State"
        );
        assertEq(
            ChannelLib.OUTCOME_TYPEHASH,
            keccak256(
                "Outcome(AssetOutcome[] assets,bytes32 subRoot)AssetOutcome(address asset,uint256[] balances,uint256[] deposited,uint256[] withdrawn,uint256 locked)"
            ),
            "Outcome"
        );
        assertEq(
            ChannelLib.VOUCHER_TYPEHASH,
            keccak256("Voucher(bytes32 channelId,address payer,address asset,uint256 amount)"),
            "Voucher"
        );
    }

    function test_hashing_stateHashWrittenOut() public view {
        State memory s = ledgerState(keccak256("c"), 7, address(0), 1 ether, 2 ether, true);
        s.appData = hex"c0ffee";
        AssetOutcome memory a = s.outcome.assets[0];
        bytes32 ah = keccak256(
            abi.encode(
                ChannelLib.ASSET_OUTCOME_TYPEHASH,
                a.asset,
                keccak256(abi.encodePacked(a.balances)),
                keccak256(abi.encodePacked(a.deposited)),
                keccak256(abi.encodePacked(a.withdrawn)),
                a.locked
            )
        );
        bytes32 oh = keccak256(
            abi.encode(ChannelLib.OUTCOME_TYPEHASH, keccak256(abi.encodePacked(ah)), s.outcome.subRoot)
        );
        bytes32 sh = keccak256(
            abi.encode(ChannelLib.STATE_TYPEHASH, s.channelId, s.version, oh, keccak256(s.appData), s.isFinal)
        );
        assertEq(harness.stateHash(s), sh, "hashStruct(State)");
        bytes32 sep = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Ferry"),
                keccak256("1"),
                uint256(31337),
                address(0xAD)
            )
        );
        assertEq(harness.domainSeparator(31337, address(0xAD)), sep, "domain separator");
        assertEq(
            harness.stateDigest(s, 31337, address(0xAD)),
            keccak256(abi.encodePacked(hex"1901", sep, sh)),
            "digest"
        );
    }

    function test_tree_zeroHashesAreTheEmptySubtrees() public pure {
        bytes memory zeros = ChannelLib.ZERO_HASHES;
        assertEq(zeros.length, 32 * 32, "32 levels");
        bytes32 z;
        for (uint256 level = 0; level < 32; level++) {
            bytes32 stored;
            assembly {
                stored := mload(add(add(zeros, 0x20), shl(5, level)))
            }
            assertEq(stored, z, "Z[level]");
            z = keccak256(abi.encodePacked(bytes1(0x01), z, z));
        }
        assertEq(z, EMPTY_ROOT, "EMPTY_ROOT = Z[32]");
    }

    function test_tree_leafHashWrittenOut() public view {
        SubAlloc memory leaf = leafWithFee(keccak256("v"), 5 ether, 0.1 ether);
        assertEq(
            harness.leafHash(leaf),
            keccak256(abi.encodePacked(bytes1(0x00), abi.encode(leaf.channelId, leaf.amounts, leaf.fee))),
            "0x00 || abi.encode(channelId, amounts, fee)"
        );
    }

    // ------------------------------------------------------------ fuzz: optimized == reference

    function testFuzz_hashing_stateHashMatchesReference(
        uint256 seed,
        uint8 n,
        uint8 m,
        uint48 version,
        bytes memory appData,
        bool fin
    ) public view {
        Outcome memory o = outcomeFrom(seed, bound(n, 0, 5), bound(m, 0, 4), seed % 5 != 0);
        State memory s = State(bytes32(seed), version, o, appData, fin);
        same(abi.encodeCall(IFerryHarness.stateHash, (s)));
        same(abi.encodeCall(IFerryHarness.stateDigest, (s, seed % 100_000, address(uint160(seed)))));
        same(abi.encodeCall(IFerryHarness.totalsHash, (o)));
    }

    function testFuzz_hashing_outcomeVerdictsMatchReference(uint256 seed, uint8 n, uint8 m, uint8 want, bool virt)
        public
        view
    {
        uint256 participants = bound(n, 0, 5);
        Outcome memory o = outcomeFrom(seed, participants, bound(m, 0, 4), seed % 3 != 0);
        uint256 asked = seed % 7 == 0 ? bound(want, 0, 6) : participants;
        same(abi.encodeCall(IFerryHarness.validateOutcome, (o, asked, virt ? 1 : 0)));
    }

    function test_hashing_outcomeOverflowPanicsLikeReference() public view {
        Outcome memory o = outcomeFrom(1, 2, 1, true);
        o.assets[0].balances[0] = type(uint256).max;
        same(abi.encodeCall(IFerryHarness.validateOutcome, (o, 2, 0)));
        o.assets[0].balances[0] = 0;
        o.assets[0].withdrawn[1] = type(uint256).max;
        o.assets[0].withdrawn[0] = 1;
        same(abi.encodeCall(IFerryHarness.validateOutcome, (o, 2, 0)));
    }

    function testFuzz_params_idsAndVerdictsMatchReference(uint256 seed, uint8 n, uint8 h, uint8 kind, bool dup)
        public
        view
    {
        uint256 np = bound(n, 0, 5);
        address[] memory ps = new address[](np);
        for (uint256 i = 0; i < np; i++) {
            ps[i] = address(uint160(uint256(keccak256(abi.encode(seed, i))) % 8));
        }
        uint256 nh = bound(h, 0, 5);
        bytes32[] memory hops = new bytes32[](nh);
        for (uint256 i = 0; i < nh; i++) {
            hops[i] = dup ? bytes32(i % 2) : keccak256(abi.encode(seed, "hop", i));
        }
        // Apps, moves and durations: zero, small or extreme, in every combination (S6, S13).
        uint256 r = uint256(keccak256(abi.encode(seed, "app")));
        address app = r % 3 == 0 ? address(0) : address(uint160(seed >> 7));
        uint48 maxMoves = (r >> 8) % 3 == 0 ? 0 : uint48(seed >> 200);
        uint48 duration = [uint48(0), 1, 365 days, 365 days + 1, type(uint48).max][(r >> 16) % 5];
        ChannelParams memory p = ChannelParams(
            uint8(bound(kind, 0, 2)), seed, address(uint160(seed >> 96)), ps, seed >> 3, app, duration, maxMoves, uint96(seed >> 160), hops
        );
        same(abi.encodeCall(IFerryHarness.channelId, (p)));
        same(abi.encodeCall(IFerryHarness.validateParams, (p)));
    }

    function testFuzz_tree_rootMatchesReference(bytes32 cid, uint32 index, uint8 depth, uint96 amount, uint96 fee)
        public
        view
    {
        bytes32[] memory sibs = new bytes32[](bound(depth, 0, 33));
        for (uint256 i = 0; i < sibs.length; i++) {
            sibs[i] = keccak256(abi.encode(cid, i));
        }
        SubAlloc memory leaf = leafFor(cid, amount);
        leaf.fee = fee;
        same(abi.encodeCall(IFerryHarness.leafHash, (leaf)));
        same(abi.encodeCall(IFerryHarness.rootFromProof, (leaf, LeafProof(index, sibs))));
    }

    /// A tree of `n` leaves in slots 0..n-1 built level by level; every leaf's ⌈log2 n⌉-sibling proof leads to its
    /// root, and so does the same proof padded with explicit empty-subtree siblings.
    function testFuzz_tree_minimalProofsOfANaiveTree(uint8 count, bytes32 seed) public view {
        uint256 n = bound(count, 1, 40);
        uint256 k;
        while ((1 << k) < n) k++;
        bytes32[][] memory layers = new bytes32[][](k + 1);
        layers[0] = new bytes32[](1 << k);
        SubAlloc[] memory leaves = new SubAlloc[](n);
        for (uint256 i = 0; i < n; i++) {
            leaves[i] = leafFor(keccak256(abi.encode(seed, i)), i * 1 ether);
            layers[0][i] = harness.leafHash(leaves[i]);
        }
        bytes memory zeros = ChannelLib.ZERO_HASHES;
        for (uint256 level = 1; level <= k; level++) {
            layers[level] = new bytes32[](1 << (k - level));
            for (uint256 j = 0; j < layers[level].length; j++) {
                layers[level][j] = node(layers[level - 1][2 * j], layers[level - 1][2 * j + 1]);
            }
        }
        bytes32 root = layers[k][0];
        for (uint256 level = k; level < 32; level++) {
            bytes32 z;
            assembly {
                z := mload(add(add(zeros, 0x20), shl(5, level)))
            }
            root = node(root, z);
        }
        for (uint256 i = 0; i < n; i++) {
            bytes32[] memory sibs = new bytes32[](k);
            bytes32[] memory padded = new bytes32[](32);
            for (uint256 level = 0; level < 32; level++) {
                bytes32 sib;
                if (level < k) {
                    sib = layers[level][(i >> level) ^ 1];
                    sibs[level] = sib;
                } else {
                    assembly {
                        sib := mload(add(add(zeros, 0x20), shl(5, level)))
                    }
                }
                padded[level] = sib;
            }
            assertEq(harness.rootFromProof(leaves[i], LeafProof(uint32(i), sibs)), root, "minimal proof");
            assertEq(harness.rootFromProof(leaves[i], LeafProof(uint32(i), padded)), root, "padded proof");
        }
        if (n > 1) {
            bytes32[] memory sibs0 = new bytes32[](k);
            for (uint256 level = 0; level < k; level++) {
                sibs0[level] = layers[level][1];
            }
            assertTrue(harness.rootFromProof(leaves[0], LeafProof(1, sibs0)) != root, "wrong slot fails");
        }
    }

    function testFuzz_signatures_verdictsMatchReference(uint256 pk, bytes32 d, uint8 mutate) public view {
        pk = bound(pk, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, d);
        Signature memory sig = Signature(v, r, s);
        uint256 n = ChannelLib.SECP256K1_N;
        uint256 which = mutate % 7;
        if (which == 1) {
            sig.s = bytes32(n - uint256(s)); // the high-s twin
            sig.v = v == 27 ? 28 : 27;
        } else if (which == 2) {
            sig.v = 29;
        } else if (which == 3) {
            sig.r = 0;
        } else if (which == 4) {
            sig.r = bytes32(n);
        } else if (which == 5) {
            sig.s = 0;
        } else if (which == 6) {
            sig.v = 0;
        }
        same(abi.encodeCall(IFerryHarness.recover, (d, sig)));
        if (which == 0) assertEq(harness.recover(d, sig), vm.addr(pk), "recovers the signer");
    }

    function test_s1_highSTwinOfAValidSignatureIsRejected() public {
        bytes32 d = keccak256("digest");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, d);
        assertEq(harness.recover(d, Signature(v, r, s)), alice, "low s accepted");
        bytes32 highS = bytes32(ChannelLib.SECP256K1_N - uint256(s));
        // ecrecover itself accepts the twin; Ferry must not.
        assertEq(ecrecover(d, v == 27 ? 28 : 27, r, highS), alice, "the twin is a valid ECDSA signature");
        vm.expectRevert(InvalidSignature.selector);
        harness.recover(d, Signature(v == 27 ? 28 : 27, r, highS));
    }

    function test_s1_signatureRecoveringToNoAddressIsRejected() public {
        // r = 1 is not the x-coordinate of a curve point with this recovery id for most digests: ecrecover
        // returns 0, which must not count as anyone's signature.
        vm.expectRevert(InvalidSignature.selector);
        harness.recover(keccak256("x"), Signature(27, bytes32(uint256(5)), bytes32(uint256(1))));
    }

    function testFuzz_voucherDigestMatchesReference(bytes32 cid, address payer, address asset, uint256 amount)
        public
        view
    {
        same(abi.encodeCall(IFerryHarness.voucherDigest, (Voucher(cid, payer, asset, amount), 5, address(7))));
    }
}
