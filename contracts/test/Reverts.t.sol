// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {VirtualBase} from "./utils/VirtualBase.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";
import {
    IAdjudicator,
    ChannelParams,
    State,
    Signature,
    Certificate,
    PaymentData,
    Voucher
} from "../src/Types.sol";

/// Every entry point's remaining reverts, the events (with the full challenged state) and the views.
contract RevertsTest is VirtualBase {
    function l1Sigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, HUB_PK));
    }

    // ------------------------------------------------------------ wrong kind, wrong channel, wrong participant

    function test_ledgerOnlyEntryPointsRejectVirtualChannels() public {
        State memory fin = vState(7, 1 ether, true);
        Signature[] memory sigs = signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.concludeAndWithdraw(v, fin, sigs);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.withdraw(v, fin);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.withdrawPartial(v, fin, sigs, 0);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.withdrawUnlisted(v, fin, address(token));
    }

    function test_statesOfAnotherChannelAreRejected() public {
        State memory s = ledgerState(id(l2), 3, address(0), 5 ether, 5 ether, false);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectRevert(IAdjudicator.WrongChannel.selector);
        adj.challenge(l1, s, sigs, noCert());
        vm.expectRevert(IAdjudicator.WrongChannel.selector);
        adj.checkpoint(l1, s, sigs);
        vm.expectRevert(IAdjudicator.WrongChannel.selector);
        adj.withdrawPartial(l1, s, sigs, 0);
        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, signAll(s5, pks(ALICE_PK, BOB_PK)), certificate());
        State memory other = vState(6, 1 ether, false);
        other.channelId = id(l1);
        Signature memory sig = signState(other, BOB_PK);
        vm.expectRevert(IAdjudicator.WrongChannel.selector);
        adj.progress(v, s5, other, 2, sig);
    }

    function test_withdrawPartialRejectsParticipantOutOfRange() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectRevert(IAdjudicator.InvalidParticipant.selector);
        adj.withdrawPartial(l1, s, sigs, 2);
    }

    // ------------------------------------------------------------ deposits

    function test_deposit_totalAbove128BitsReverts() public {
        TestToken t = new TestToken();
        bytes32 cid = id(ledgerParams(alice, hub));
        uint256 big = uint256(type(uint128).max);
        t.mint(alice, big + 1);
        vm.startPrank(alice);
        t.approve(address(adj), type(uint256).max);
        adj.deposit(address(t), cid, 0, 0, big);
        vm.expectRevert(IAdjudicator.AmountOverflow.selector);
        adj.deposit(address(t), cid, 0, big, 1);
        vm.stopPrank();
    }

    function test_deposit_tokenWithoutAllowanceReverts() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        token.mint(alice, 10);
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.TokenTransferFailed.selector);
        adj.deposit(address(token), cid, 0, 0, 10);
    }

    function test_deposit_nothingMissingTakesNothingFromTokens() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        token.mint(alice, 10);
        vm.startPrank(alice);
        token.approve(address(adj), 10);
        adj.deposit(address(token), cid, 0, 0, 10);
        adj.deposit(address(token), cid, 0, 0, 10); // the same deposit again: already there
        vm.stopPrank();
        assertEq(token.balanceOf(alice), 0, "pulled once");
        assertEq(token.balanceOf(address(adj)), 10, "held once");
    }

    function test_deposit_emitsDeposited() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.Deposited(cid, address(0), 1, 2 ether, 2 ether);
        vm.prank(hub);
        adj.deposit{value: 2 ether}(address(0), cid, 1, 0, 2 ether);
        // The last field is the participant's own total (S16): alice's first deposit.
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.Deposited(cid, address(0), 0, 1 ether, 1 ether);
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), cid, 0, 0, 1 ether);
        // Half overlapping: takes 1 of the 2, refunds 1.
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.Deposited(cid, address(0), 0, 1 ether, 2 ether);
        vm.prank(alice);
        adj.deposit{value: 2 ether}(address(0), cid, 0, 0, 2 ether);
    }

    // ------------------------------------------------------------ certificates

    function test_certificateMustBeVsNonFinalVersionOne() public {
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory sigs = signAll(s5, pks(ALICE_PK, BOB_PK));
        Certificate memory c = certificate();
        c.state.channelId = id(l1);
        c.sigs = signAll(c.state, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.InvalidCertificate.selector);
        adj.challenge(v, s5, sigs, c);
        Certificate memory fin = certificate();
        fin.state.isFinal = true;
        fin.sigs = signAll(fin.state, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.InvalidCertificate.selector);
        adj.challenge(v, s5, sigs, fin);
        Certificate memory two = certificate();
        two.state.version = 2;
        two.sigs = signAll(two.state, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.InvalidCertificate.selector);
        adj.challenge(v, s5, sigs, two);
    }

    // ------------------------------------------------------------ conclude / challenge ordering

    function test_conclude_rejectsFinalOlderThanRegistered() public {
        State memory s9 = ledgerState(id(l1), 9, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s9, l1Sigs(s9), noCert());
        State memory fin = ledgerState(id(l1), 8, address(0), 5 ether, 5 ether, true);
        Signature[] memory sigs = l1Sigs(fin);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 8, 9));
        adj.conclude(l1, fin, sigs);
        // The same version as the registered one concludes.
        State memory fin9 = ledgerState(id(l1), 9, address(0), 5 ether, 5 ether, true);
        adj.conclude(l1, fin9, l1Sigs(fin9));
    }

    // ------------------------------------------------------------ events

    function test_challenge_emitsTheFullState() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectEmit(true, false, false, true, address(adj));
        emit IAdjudicator.ChallengeRegistered(id(l1), uint48(block.timestamp) + DURATION, s, sigs);
        adj.challenge(l1, s, sigs, noCert());
    }

    function test_checkpointConcludeProgressEmit() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        vm.expectEmit(true, false, false, true, address(adj));
        emit IAdjudicator.Checkpointed(id(l1), 3, s, l1Sigs(s));
        adj.checkpoint(l1, s, l1Sigs(s));
        State memory fin = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, true);
        vm.expectEmit(true, false, false, true, address(adj));
        emit IAdjudicator.Concluded(id(l1), 4);
        adj.conclude(l1, fin, l1Sigs(fin));

        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, signAll(s5, pks(ALICE_PK, BOB_PK)), certificate());
        State memory s6 = vState(6, 1 ether, false);
        s6.appData = paymentData(1 ether, 0); // unchanged payments: any endpoint may move
        Signature memory sig = signState(s6, ALICE_PK);
        (, uint48 deadline,,,,) = adj.statusOf(vid);
        vm.expectEmit(true, false, false, true, address(adj));
        emit IAdjudicator.Progressed(vid, deadline, 0, s6, sig);
        adj.progress(v, s5, s6, 0, sig);
    }

    function test_payoutsEmitWithdrawnAndClaimed() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        vm.expectEmit(true, true, true, true, address(adj));
        emit IAdjudicator.Claimed(id(l1), vid, address(0), 2 ether, 2 ether);
        vm.expectEmit(true, true, true, true, address(adj));
        emit IAdjudicator.Withdrawn(id(l1), address(0), alice, 2 ether);
        vm.expectEmit(true, true, true, true, address(adj));
        emit IAdjudicator.Withdrawn(id(l1), address(0), hub, 2 ether);
        adj.claim(l1, s1, leaf, proof, v, fin);
        vm.expectEmit(true, true, true, true, address(adj));
        emit IAdjudicator.Withdrawn(id(l1), address(0), alice, 2 ether);
        adj.withdraw(l1, s1);
    }

    // ------------------------------------------------------------ views

    function test_views() public {
        assertEq(adj.domainSeparator(), harness.domainSeparator(block.chainid, address(adj)), "domain separator");
        assertEq(adj.APP_GAS(), 1_000_000, "app gas");
        assertEq(adj.ETH_STIPEND(), 2_300, "stipend");
        assertEq(adj.TOKEN_GAS(), 100_000, "token gas");
        (uint256 d0, uint256 d1, uint256 w0, uint256 w1, uint256 c) = adj.holdings(id(l1), address(0));
        assertEq(d0, 5 ether, "dep0");
        assertEq(d1, 5 ether, "dep1");
        assertEq(w0 + w1 + c, 0, "nothing out");
        State memory s = vState(5, 1 ether, false);
        adj.challenge(v, s, signAll(s, pks(ALICE_PK, BOB_PK)), certificate());
        (uint48 version, uint48 finalizesAt, uint8 movesFirst, uint8 movesLast, bool certified, bytes32 fp) = adj.statusOf(vid);
        assertEq(version, 5, "version");
        assertEq(finalizesAt, block.timestamp + DURATION, "deadline");
        assertEq(uint256(movesFirst) + movesLast, 0, "moves");
        assertTrue(certified, "certified");
        assertEq(fp, harness.stateHash(s), "fingerprint = hashStruct, all 256 bits (S15)");
        assertTrue(!adj.isClaimed(id(l1), 0), "nothing claimed");
        // The domain separator follows the chain id (a fork).
        vm.chainId(block.chainid + 7);
        assertEq(adj.domainSeparator(), harness.domainSeparator(block.chainid, address(adj)), "after a fork");
    }

    function test_holdingsAfterPartialWithdrawalAndClose() public {
        State memory s = ledgerStateFull(
            id(l1), 3, address(0), u2(4 ether, 5 ether), u2(5 ether, 5 ether), u2(1 ether, 0), 0, harness.emptyRoot(), false
        );
        adj.withdrawPartial(l1, s, l1Sigs(s), 0);
        (, , uint256 w0, uint256 w1,) = adj.holdings(id(l1), address(0));
        assertEq(w0, 1 ether, "wd0 counted");
        assertEq(w1, 0, "wd1");
        State memory fin = ledgerStateFull(
            id(l1), 4, address(0), u2(4 ether, 5 ether), u2(5 ether, 5 ether), u2(1 ether, 0), 0, harness.emptyRoot(), true
        );
        adj.concludeAndWithdraw(l1, fin, l1Sigs(fin));
        (uint256 d0, uint256 d1, uint256 x0, uint256 x1, uint256 c) = adj.holdings(id(l1), address(0));
        assertEq(d0 + d1 + x0 + x1 + c, 0, "a full payout clears the totals");
    }
}
