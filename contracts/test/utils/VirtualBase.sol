// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./FerryBase.sol";
import {
    ChannelParams,
    State,
    Signature,
    SubAlloc,
    LeafProof,
    Certificate,
    PaymentData
} from "../../src/Types.sol";

/// A virtual channel V = [alice, hub, bob] over L1 = [alice, hub] and L2 = [hub, bob], both funded with 5 + 5 ether,
/// V's leaf (3 ether of A's, 1 of B's) alone in each ledger's table, and the builders the virtual-channel tests share.
abstract contract VirtualBase is FerryBase {
    ChannelParams internal l1; // [alice, hub]
    ChannelParams internal l2; // [hub, bob]
    ChannelParams internal v; // [alice, hub, bob]
    bytes32 internal vid;
    SubAlloc internal leaf;
    LeafProof internal proof;
    bytes32 internal root;

    uint256 internal constant A_FUNDS = 3 ether;
    uint256 internal constant B_FUNDS = 1 ether;
    uint256 internal constant LEAF = A_FUNDS + B_FUNDS;

    function setUp() public virtual override {
        super.setUp();
        l1 = ledgerParams(alice, hub);
        l2 = ledgerParams(hub, bob);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        v = virtualParams(addrs(alice, hub, bob), hops, address(payApp), 10);
        vid = id(v);
        leaf = leafFor(vid, LEAF);
        (root, proof) = singleLeafTree(leaf);
        fundEth(id(l1), 5 ether, 5 ether, alice, hub);
        fundEth(id(l2), 5 ether, 5 ether, hub, bob);
    }

    // ------------------------------------------------------------ builders

    function paymentData(uint256 byFirst, uint256 byLast) internal pure returns (bytes memory) {
        uint256[] memory f = new uint256[](1);
        uint256[] memory l = new uint256[](1);
        f[0] = byFirst;
        l[0] = byLast;
        return abi.encode(PaymentData(f, l, new Signature[](0)));
    }

    /// V's state where A paid `paidA` to B (from the funding A_FUNDS / B_FUNDS).
    function vState(uint48 version, uint256 paidA, bool fin) internal view returns (State memory s) {
        s = virtualState(vid, version, 3, A_FUNDS - paidA, B_FUNDS + paidA, paymentData(paidA, 0), fin);
        s.outcome.assets[0].deposited = u3(A_FUNDS, 0, B_FUNDS);
    }

    function certificate() internal view returns (Certificate memory c) {
        State memory post = vState(1, 0, false);
        c = Certificate(post, signAll(post, pks(ALICE_PK, HUB_PK, BOB_PK)));
    }

    function endpointSigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, BOB_PK));
    }

    /// Finalizes both ledgers with states that hold V's leaf (each side put in the side it stands for).
    function finalizeLedgersWithLeaf() internal returns (State memory s1, State memory s2) {
        // L1: alice funded A's 3, the hub funded B's 1.
        s1 = ledgerStateFull(id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, root, true);
        adj.conclude(l1, s1, signAll(s1, pks(ALICE_PK, HUB_PK)));
        // L2: the hub funded A's 3, bob funded B's 1.
        s2 = ledgerStateFull(id(l2), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, root, true);
        adj.conclude(l2, s2, signAll(s2, pks(HUB_PK, BOB_PK)));
    }

    function concludeV(uint256 paidA) internal returns (State memory fin) {
        fin = vState(7, paidA, true);
        adj.conclude(v, fin, signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK)));
    }
}
