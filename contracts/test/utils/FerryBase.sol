// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {Test} from "./Test.sol";
import {Adjudicator} from "../../src/Adjudicator.sol";
import {FerryHarness} from "../../src/FerryHarness.sol";
import {PaymentApp} from "../../src/apps/PaymentApp.sol";
import {RockPaperScissors} from "../../src/apps/RockPaperScissors.sol";
import {TestToken} from "../../src/tokens/TestTokens.sol";
import {
    ChannelParams, State, Outcome, AssetOutcome, Signature, SubAlloc, AssetAmount, LeafProof, Certificate
} from "../../src/Types.sol";

/// Builders shared by the forge tests: keys, params, states, signatures, leaves and a small Merkle prover.
abstract contract FerryBase is Test {
    Adjudicator internal adj;
    FerryHarness internal harness;
    PaymentApp internal payApp;
    RockPaperScissors internal rps;
    TestToken internal token;

    uint256 internal constant ALICE_PK = 0xA11CE;
    uint256 internal constant HUB_PK = 0xB0B;
    uint256 internal constant BOB_PK = 0xCAFE;
    uint256 internal constant HUB2_PK = 0xD00D;
    address internal alice;
    address internal hub;
    address internal bob;
    address internal hub2;
    uint48 internal constant DURATION = 1 days;
    uint256 internal nonceCounter;

    function setUp() public virtual {
        adj = new Adjudicator();
        harness = new FerryHarness();
        payApp = new PaymentApp();
        rps = new RockPaperScissors();
        token = new TestToken();
        alice = vm.addr(ALICE_PK);
        hub = vm.addr(HUB_PK);
        bob = vm.addr(BOB_PK);
        hub2 = vm.addr(HUB2_PK);
        vm.deal(alice, 1_000_000 ether);
        vm.deal(hub, 1_000_000 ether);
        vm.deal(bob, 1_000_000 ether);
        vm.deal(hub2, 1_000_000 ether);
        vm.warp(1_700_000_000);
    }

    // ------------------------------------------------------------ params

    function ledgerParams(address a, address b) internal returns (ChannelParams memory p) {
        address[] memory ps = new address[](2);
        ps[0] = a;
        ps[1] = b;
        p = ChannelParams(0, block.chainid, address(adj), ps, ++nonceCounter, address(0), DURATION, 0, 0, new bytes32[](0));
    }

    function virtualParams(address[] memory path, bytes32[] memory hops, address app, uint48 maxMoves)
        internal
        returns (ChannelParams memory)
    {
        return ChannelParams(1, block.chainid, address(adj), path, ++nonceCounter, app, DURATION, maxMoves, 0, hops);
    }

    function id(ChannelParams memory p) internal pure returns (bytes32) {
        return keccak256(abi.encode(p));
    }

    function addrs(address a, address b) internal pure returns (address[] memory r) {
        r = new address[](2);
        r[0] = a;
        r[1] = b;
    }

    function addrs(address a, address b, address c) internal pure returns (address[] memory r) {
        r = new address[](3);
        r[0] = a;
        r[1] = b;
        r[2] = c;
    }

    function u2(uint256 a, uint256 b) internal pure returns (uint256[] memory r) {
        r = new uint256[](2);
        r[0] = a;
        r[1] = b;
    }

    function u3(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory r) {
        r = new uint256[](3);
        r[0] = a;
        r[1] = b;
        r[2] = c;
    }

    function pks(uint256 a, uint256 b) internal pure returns (uint256[] memory r) {
        r = new uint256[](2);
        r[0] = a;
        r[1] = b;
    }

    function pks(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory r) {
        r = new uint256[](3);
        r[0] = a;
        r[1] = b;
        r[2] = c;
    }

    // ------------------------------------------------------------ states

    /// A one-asset ledger state where each side deposited what it holds (no withdrawals).
    function ledgerState(bytes32 cid, uint48 version, address asset, uint256 b0, uint256 b1, bool fin)
        internal
        view
        returns (State memory)
    {
        return ledgerStateFull(cid, version, asset, u2(b0, b1), u2(b0, b1), u2(0, 0), 0, harness.emptyRoot(), fin);
    }

    function ledgerStateFull(
        bytes32 cid,
        uint48 version,
        address asset,
        uint256[] memory balances,
        uint256[] memory deposited,
        uint256[] memory withdrawn,
        uint256 locked,
        bytes32 subRoot,
        bool fin
    ) internal pure returns (State memory s) {
        AssetOutcome[] memory assets = new AssetOutcome[](1);
        assets[0] = AssetOutcome(asset, balances, deposited, withdrawn, locked);
        s = State(cid, version, Outcome(assets, subRoot), "", fin);
    }

    /// A one-asset virtual state where the endpoints hold `a` and `b` and everyone funded their own balance.
    function virtualState(bytes32 cid, uint48 version, uint256 n, uint256 a, uint256 b, bytes memory appData, bool fin)
        internal
        view
        returns (State memory s)
    {
        uint256[] memory bal = new uint256[](n);
        uint256[] memory zero = new uint256[](n);
        bal[0] = a;
        bal[n - 1] = b;
        AssetOutcome[] memory assets = new AssetOutcome[](1);
        assets[0] = AssetOutcome(address(0), bal, bal, zero, 0);
        s = State(cid, version, Outcome(assets, harness.emptyRoot()), appData, fin);
    }

    // ------------------------------------------------------------ signatures

    function signState(State memory s, uint256 pk) internal view returns (Signature memory sig) {
        bytes32 d = harness.stateDigest(s, block.chainid, address(adj));
        (uint8 v, bytes32 r, bytes32 ss) = vm.sign(pk, d);
        sig = Signature(v, r, ss);
    }

    function signAll(State memory s, uint256[] memory keys) internal view returns (Signature[] memory sigs) {
        sigs = new Signature[](keys.length);
        for (uint256 i = 0; i < keys.length; i++) {
            sigs[i] = signState(s, keys[i]);
        }
    }

    function noCert() internal pure returns (Certificate memory c) {
        return c;
    }

    // ------------------------------------------------------------ funding

    function fundEth(bytes32 cid, uint256 a, uint256 b, address pa, address pb) internal {
        vm.prank(pa);
        adj.deposit{value: a}(address(0), cid, 0, 0, a);
        vm.prank(pb);
        adj.deposit{value: b}(address(0), cid, 1, 0, b);
    }

    // ------------------------------------------------------------ sub-channel tree (single leaf at slot 0)

    function leafFor(bytes32 vid, uint256 amount) internal pure returns (SubAlloc memory leaf) {
        AssetAmount[] memory amounts = new AssetAmount[](1);
        amounts[0] = AssetAmount(address(0), amount);
        leaf = SubAlloc(vid, amounts, 0);
    }

    /// A leaf holding `amount` of V plus a routing fee `fee` (ETH).
    function leafWithFee(bytes32 vid, uint256 amount, uint256 fee) internal pure returns (SubAlloc memory leaf) {
        leaf = leafFor(vid, amount + fee);
        leaf.fee = fee;
    }

    /// Root of a tree holding exactly `leaf` at slot 0, with its proof (no siblings needed).
    function singleLeafTree(SubAlloc memory leaf) internal view returns (bytes32 root, LeafProof memory proof) {
        proof = LeafProof(0, new bytes32[](0));
        root = harness.rootFromProof(leaf, proof);
    }

    function node(bytes32 l, bytes32 r) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x01), l, r));
    }
}
