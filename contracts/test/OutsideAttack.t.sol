// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {VirtualBase} from "./utils/VirtualBase.sol";
import {IAdjudicator} from "../src/Types.sol";
import {ChannelParams, State, Signature, SubAlloc, LeafProof} from "../src/Types.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";

/// What an outside attacker tried against the adjudicator and found defended, kept as regression tests: each
/// `test_defends_…` plays the attack and asserts the defence.
contract OutsideAttackTest is VirtualBase {
    // ------------------------------------------------------------ settled (concludeAndWithdraw, nothing locked)

    /// The attacker holds an older, registered state of a ledger that locked V's leaf; the honest side closes with a
    /// final with nothing locked (settled: `_registered` keeps the stale hash). The attacker then tries every
    /// entry point that reads the registered state: claim with the stale state, withdraw/withdrawUnlisted with it,
    /// withdrawUnlisted of the listed asset. Nothing pays out twice.
    function test_defends_settledLedgerStaleRegisteredStateIsUseless() public {
        // L1 challenged with a state holding V's leaf (registers its full hash).
        State memory locked =
            ledgerStateFull(id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, root, false);
        adj.challenge(l1, locked, signAll(locked, pks(ALICE_PK, HUB_PK)), noCert());
        // The leaf is removed off-chain and the ledger closed with nothing locked: settled.
        State memory fin =
            ledgerStateFull(id(l1), 5, address(0), u2(3 ether, 7 ether), u2(5 ether, 5 ether), u2(0, 0), 0, harness.emptyRoot(), true);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.concludeAndWithdraw(l1, fin, signAll(fin, pks(ALICE_PK, HUB_PK)));
        assertEq(alice.balance - a0, 3 ether, "alice");
        assertEq(hub.balance - h0, 7 ether, "hub");
        // V finalizes somehow; the attacker (alice) tries to claim the leaf with the stale registered state.
        State memory vfin = concludeV(0);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, locked, leaf, proof, v, vfin);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, fin, leaf, proof, v, vfin);
        // withdraw and withdrawUnlisted (of the listed asset, by the zero view) pay nothing.
        adj.withdraw(l1, locked);
        adj.withdrawUnlisted(l1, locked, address(0));
        adj.withdrawUnlisted(l1, fin, address(0));
        assertEq(alice.balance - a0, 3 ether, "alice paid once");
        assertEq(hub.balance - h0, 7 ether, "hub paid once");
        // L2's 10 ether are untouched.
        assertEq(address(adj).balance, 10 ether, "L2's funds intact");
        // Nothing can be deposited into the settled channel.
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.deposit{value: 1}(address(0), id(l1), 0, 0, 1);
    }

    /// A settled ledger with a top-up in an unlisted token the peer never countersigned: withdrawUnlisted pays each
    /// depositor its own and nothing more, twice called.
    function test_defends_settledLedgerUnlistedTokenPaysOwnDepositsOnce() public {
        TestToken t = new TestToken();
        t.mint(alice, 10 ether);
        vm.prank(alice);
        t.approve(address(adj), type(uint256).max);
        vm.prank(alice);
        adj.deposit(address(t), id(l1), 0, 0, 2 ether);
        State memory fin = ledgerState(id(l1), 5, address(0), 5 ether, 5 ether, true);
        adj.concludeAndWithdraw(l1, fin, signAll(fin, pks(ALICE_PK, HUB_PK)));
        adj.withdrawUnlisted(l1, fin, address(t));
        adj.withdrawUnlisted(l1, fin, address(t));
        assertEq(t.balanceOf(alice), 10 ether, "alice got her token top-up back once");
        assertEq(t.balanceOf(hub), 0, "hub got nothing of it");
        assertEq(t.balanceOf(address(adj)), 0, "none left");
    }

    // ------------------------------------------------------------ S12 withdrawPartial

    /// The attacker (hub) takes its partial withdrawal by an old state, then by a newer one, then lets an even older
    /// state (before any withdrawal) finalize: it is never paid more than the newest state's withdrawn total, and
    /// alice gets her balance.
    function test_defends_partialWithdrawalsAcrossOldStatesPayOnce() public {
        // v3: nothing withdrawn. v4: hub withdrew 1. v5: hub withdrew 3 in all (balances 5 / 2).
        State memory s3 = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        State memory s4 = ledgerStateFull(id(l1), 4, address(0), u2(5 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 1 ether), 0, harness.emptyRoot(), false);
        State memory s5 = ledgerStateFull(id(l1), 5, address(0), u2(5 ether, 2 ether), u2(5 ether, 5 ether), u2(0, 3 ether), 0, harness.emptyRoot(), false);
        uint256 h0 = hub.balance;
        uint256 a0 = alice.balance;
        adj.withdrawPartial(l1, s5, signAll(s5, pks(ALICE_PK, HUB_PK)), 1);
        adj.withdrawPartial(l1, s4, signAll(s4, pks(ALICE_PK, HUB_PK)), 1);
        adj.withdrawPartial(l1, s5, signAll(s5, pks(ALICE_PK, HUB_PK)), 1);
        assertEq(hub.balance - h0, 3 ether, "paid the newest withdrawn total once");
        // The hub registers v3 (before any withdrawal) and alice is offline: it finalizes.
        adj.challenge(l1, s3, signAll(s3, pks(ALICE_PK, HUB_PK)), noCert());
        (, uint48 deadline,,,,) = adj.statusOf(id(l1));
        vm.warp(deadline);
        adj.withdraw(l1, s3);
        assertEq(alice.balance - a0, 5 ether, "alice gets her 5");
        assertEq(hub.balance - h0, 5 ether, "the hub 5 in all, its withdrawal counted");
    }

    // ------------------------------------------------------------ S5 ordering

    /// A stale ledger state cannot be registered after a checkpoint, and a final below the checkpoint cannot
    /// conclude.
    function test_defends_checkpointFencesOlderStatesAndFinals() public {
        State memory s4 = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, false);
        State memory s6 = ledgerState(id(l1), 6, address(0), 6 ether, 4 ether, false);
        State memory f5 = ledgerState(id(l1), 5, address(0), 1 ether, 9 ether, true);
        Signature[] memory sig4 = signAll(s4, pks(ALICE_PK, HUB_PK));
        Signature[] memory sig6 = signAll(s6, pks(ALICE_PK, HUB_PK));
        Signature[] memory sigf5 = signAll(f5, pks(ALICE_PK, HUB_PK));
        adj.challenge(l1, s4, sig4, noCert());
        adj.checkpoint(l1, s6, sig6);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, uint48(4), uint48(6)));
        adj.challenge(l1, s4, sig4, noCert());
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, uint48(5), uint48(6)));
        adj.conclude(l1, f5, sigf5);
    }

    // ------------------------------------------------------------ S9 claims

    /// A leaf cannot be claimed twice, even through a proof with a different sibling set for the same slot, and a
    /// claim can never take more than the ledger locked.
    function test_defends_leafClaimedOnceAndBoundedByLocked() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        adj.claim(l1, s1, leaf, proof, v, fin);
        vm.expectRevert(IAdjudicator.AlreadyClaimed.selector);
        adj.claim(l1, s1, leaf, proof, v, fin);
        LeafProof memory padded = LeafProof(0, new bytes32[](1));
        padded.siblings[0] = bytes32(0);
        vm.expectRevert(IAdjudicator.AlreadyClaimed.selector);
        adj.claim(l1, s1, leaf, padded, v, fin);
    }

    // ------------------------------------------------------------ S16 deposits

    /// A stranger's dust for the hub neither blocks nor shortens alice's deposit, and dust for alice counts as hers.
    function test_defends_strangerDustNeitherBlocksNorShortensADeposit() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        address stranger = address(0x5742);
        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        adj.deposit{value: 1}(address(0), cid, 1, 0, 1);
        vm.prank(stranger);
        adj.deposit{value: 1}(address(0), cid, 0, 0, 1);
        vm.prank(alice);
        adj.deposit{value: 2 ether}(address(0), cid, 0, 0, 2 ether);
        (uint256 d0, uint256 d1,,,) = adj.holdings(cid, address(0));
        assertEq(d0, 2 ether, "alice's own total is what she asked for");
        assertEq(d1, 1, "the hub's dust is the hub's");
    }
}
