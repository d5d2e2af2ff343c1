// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {FerryBase} from "./utils/FerryBase.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {IAdjudicator} from "../src/Types.sol";
import {InvalidParams, InvalidSignature, WrongSigner, InvalidOutcome} from "../src/Types.sol";
import {FeeOnTransferToken} from "../src/tokens/TestTokens.sol";
import {ChannelParams, State, Signature, Certificate} from "../src/Types.sol";

/// Ledger channels: deposits, conclude, challenge, checkpoint, withdrawals (S1, S4, S5, S11, S12).
contract LedgerTest is FerryBase {
    // ------------------------------------------------------------ deposits

    function test_deposit_ethFirstAndSecondCountPerParticipant() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 3 ether, 5 ether, alice, hub);
        (uint256 d0, uint256 d1, uint256 w0, uint256 w1, uint256 c) = adj.holdings(cid, address(0));
        assertEq(d0, 3 ether, "dep0");
        assertEq(d1, 5 ether, "dep1");
        assertEq(w0 + w1 + c, 0, "nothing out");
        assertEq(address(adj).balance, 8 ether, "held");
    }

    function test_deposit_expectedHeldTakesOnlyWhatIsMissing() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), cid, 0, 0, 1 ether);
        uint256 before = alice.balance;
        // A duplicate of the same deposit (same expectedHeld) takes nothing and refunds all.
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), cid, 0, 0, 1 ether);
        assertEq(alice.balance, before, "refunded");
        // A deposit that half overlaps takes only the missing half.
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), cid, 0, 0.5 ether, 1 ether);
        (uint256 d0,,,,) = adj.holdings(cid, address(0));
        assertEq(d0, 1.5 ether, "took the missing half");
        assertEq(address(adj).balance, 1.5 ether, "adjudicator holds 1.5");
    }

    function test_deposit_revertsBelowExpectedHeld() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(hub);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.HeldBelowExpected.selector, 0, 1 ether));
        adj.deposit{value: 1 ether}(address(0), cid, 1, 1 ether, 1 ether);
    }

    function test_deposit_rejectsWrongValueAndParticipant() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.deposit{value: 1}(address(0), cid, 0, 0, 2);
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.InvalidParticipant.selector);
        adj.deposit{value: 1}(address(0), cid, 2, 0, 1);
    }

    function test_s11_tokenDepositWithEthReverts() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        token.mint(alice, 10);
        vm.prank(alice);
        token.approve(address(adj), 10);
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.deposit{value: 1}(address(token), cid, 0, 0, 10);
    }

    function test_s11_feeOnTransferTokenCreditedByAmountReceived() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        bytes32 cid = id(ledgerParams(alice, hub));
        fot.mint(alice, 1000);
        vm.prank(alice);
        fot.approve(address(adj), 1000);
        vm.prank(alice);
        adj.deposit(address(fot), cid, 0, 0, 1000);
        (uint256 d0,,,,) = adj.holdings(cid, address(fot));
        assertEq(d0, 990, "credited what arrived");
        assertEq(fot.balanceOf(address(adj)), 990, "held");
    }

    function test_s11_depositOfTokenWithoutCodeReverts() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.TokenTransferFailed.selector);
        adj.deposit(address(0xdead), cid, 0, 0, 1);
    }

    function test_s1_depositToFinalizedChannelReverts() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 1 ether, 1 ether, alice, hub);
        State memory s = ledgerState(cid, 5, address(0), 1 ether, 1 ether, true);
        adj.concludeAndWithdraw(p, s, signAll(s, pks(ALICE_PK, HUB_PK)));
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.deposit{value: 1}(address(0), cid, 0, 0, 1);
    }

    // ------------------------------------------------------------ happy close

    function test_concludeAndWithdraw_paysBothInOneTransaction() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 3 ether, 5 ether, alice, hub);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        State memory s = ledgerState(cid, 9, address(0), 3 ether, 5 ether, true);
        s.outcome.assets[0].balances = u2(1 ether, 7 ether);
        adj.concludeAndWithdraw(p, s, signAll(s, pks(ALICE_PK, HUB_PK)));
        assertEq(alice.balance - a0, 1 ether, "alice paid");
        assertEq(hub.balance - h0, 7 ether, "hub paid");
        assertEq(address(adj).balance, 0, "nothing left");
        (, uint48 finalizesAt,,,,) = adj.statusOf(cid);
        assertEq(finalizesAt, block.timestamp, "finalized now");
        // S12: running withdraw again pays nothing.
        adj.withdraw(p, s);
        assertEq(alice.balance - a0, 1 ether, "not paid twice");
    }

    function test_s4_concludeRejectsMissingWrongOrderAndForeignSignatures() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s = ledgerState(cid, 1, address(0), 0, 0, true);
        Signature[] memory one = new Signature[](1);
        one[0] = signState(s, ALICE_PK);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.conclude(p, s, one);
        Signature[] memory swapped = signAll(s, pks(HUB_PK, ALICE_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 0));
        adj.conclude(p, s, swapped);
        Signature[] memory foreign = signAll(s, pks(ALICE_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.conclude(p, s, foreign);
    }

    function test_conclude_rejectsNonFinalAndForeignChannel() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.FinalityMismatch.selector);
        adj.conclude(p, s, sigs);
        State memory other = ledgerState(keccak256("other"), 1, address(0), 0, 0, true);
        Signature[] memory otherSigs = signAll(other, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.WrongChannel.selector);
        adj.conclude(p, other, otherSigs);
    }

    function test_outcome_rejectsBrokenInvariantAndAssetOrder() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        State memory s = ledgerState(id(p), 1, address(0), 1, 1, true);
        s.outcome.assets[0].balances = u2(2, 1); // 3 != 2 deposited
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidOutcome.selector, 3));
        adj.conclude(p, s, sigs);
        s.outcome.assets[0].balances = u3(1, 1, 0);
        sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidOutcome.selector, 2));
        adj.conclude(p, s, sigs);
    }

    // ------------------------------------------------------------ S1 identity

    function test_s1_rejectsWrongChainId() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.chainId = block.chainid + 1;
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.WrongChain.selector);
        adj.conclude(p, s, sigs);
    }

    function test_s1_rejectsWrongAdjudicator() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.adjudicator = address(0xbeef);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.WrongAdjudicator.selector);
        adj.conclude(p, s, sigs);
    }

    function test_s1_rejectsRepeatedZeroOrMissingParticipants() public {
        ChannelParams memory p = ledgerParams(alice, alice);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, ALICE_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 4));
        adj.conclude(p, s, sigs);
        p = ledgerParams(address(0), alice);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 3));
        adj.conclude(p, s, sigs);
        p = ledgerParams(alice, hub);
        p.participants = addrs(alice, hub, bob);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 2));
        adj.conclude(p, s, sigs);
    }

    function test_s1_finalizedChannelIsNeverReopened() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory fin = ledgerState(cid, 3, address(0), 0, 0, true);
        adj.conclude(p, fin, signAll(fin, pks(ALICE_PK, HUB_PK)));
        State memory later = ledgerState(cid, 10, address(0), 0, 0, false);
        Signature[] memory sigs = signAll(later, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.challenge(p, later, sigs, noCert());
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.checkpoint(p, later, sigs);
        State memory fin2 = ledgerState(cid, 11, address(0), 0, 0, true);
        Signature[] memory sigs2 = signAll(fin2, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.conclude(p, fin2, sigs2);
    }

    function test_s1_rejectsHighSAndMalformedSignatures() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        Signature[] memory high = signAll(s, pks(ALICE_PK, HUB_PK));
        // (r, n - s, v ^ 1) is the same signature in its high-s form: ecrecover accepts it, Ferry must not.
        high[0].s = bytes32(n - uint256(high[0].s));
        high[0].v = high[0].v == 27 ? 28 : 27;
        vm.expectRevert(InvalidSignature.selector);
        adj.conclude(p, s, high);
        Signature[] memory badV = signAll(s, pks(ALICE_PK, HUB_PK));
        badV[1].v = 29;
        vm.expectRevert(InvalidSignature.selector);
        adj.conclude(p, s, badV);
        Signature[] memory zeroR = signAll(s, pks(ALICE_PK, HUB_PK));
        zeroR[0].r = bytes32(0);
        vm.expectRevert(InvalidSignature.selector);
        adj.conclude(p, s, zeroR);
        adj.conclude(p, s, sigs);
    }

    // ------------------------------------------------------------ S5 challenges

    function test_s5_challengeThenWithdrawAfterTimeout() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 2 ether, 2 ether, alice, hub);
        State memory s = ledgerState(cid, 4, address(0), 2 ether, 2 ether, false);
        s.outcome.assets[0].balances = u2(3 ether, 1 ether);
        adj.challenge(p, s, signAll(s, pks(ALICE_PK, HUB_PK)), noCert());
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.withdraw(p, s);
        vm.warp(block.timestamp + DURATION);
        uint256 a0 = alice.balance;
        adj.withdraw(p, s);
        assertEq(alice.balance - a0, 3 ether, "alice gets her latest balance");
        assertEq(address(adj).balance, 0, "all paid");
    }

    function test_s5_newerStateDoesNotMoveDeadline() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s4 = ledgerState(cid, 4, address(0), 0, 0, false);
        adj.challenge(p, s4, signAll(s4, pks(ALICE_PK, HUB_PK)), noCert());
        (, uint48 deadline,,,,) = adj.statusOf(cid);
        vm.warp(block.timestamp + DURATION / 2);
        State memory s7 = ledgerState(cid, 7, address(0), 0, 0, false);
        adj.challenge(p, s7, signAll(s7, pks(ALICE_PK, HUB_PK)), noCert());
        (uint48 version, uint48 deadline2,,,,) = adj.statusOf(cid);
        assertEq(version, 7, "replaced");
        assertEq(deadline2, deadline, "deadline kept");
    }

    function test_s5_staleChallengeRejected() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s7 = ledgerState(cid, 7, address(0), 0, 0, false);
        adj.challenge(p, s7, signAll(s7, pks(ALICE_PK, HUB_PK)), noCert());
        State memory s5 = ledgerState(cid, 5, address(0), 0, 0, false);
        Signature[] memory sigs = signAll(s5, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 5, 7));
        adj.challenge(p, s5, sigs, noCert());
        Signature[] memory same = signAll(s7, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 7, 7));
        adj.challenge(p, s7, same, noCert());
    }

    function test_s5_checkpointClearsChallengeAndChannelGoesOn() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s3 = ledgerState(cid, 3, address(0), 0, 0, false);
        adj.challenge(p, s3, signAll(s3, pks(ALICE_PK, HUB_PK)), noCert());
        State memory s8 = ledgerState(cid, 8, address(0), 0, 0, false);
        adj.checkpoint(p, s8, signAll(s8, pks(ALICE_PK, HUB_PK)));
        (uint48 version, uint48 finalizesAt,,,,) = adj.statusOf(cid);
        assertEq(version, 8, "version recorded");
        assertEq(finalizesAt, 0, "challenge cleared");
        // The stale state can no longer be used to challenge.
        Signature[] memory sigs = signAll(s3, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 3, 8));
        adj.challenge(p, s3, sigs, noCert());
    }

    function test_s5_checkpointRejectsStaleAndFinalStates() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s3 = ledgerState(cid, 3, address(0), 0, 0, false);
        adj.challenge(p, s3, signAll(s3, pks(ALICE_PK, HUB_PK)), noCert());
        Signature[] memory sigs = signAll(s3, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 3, 3));
        adj.checkpoint(p, s3, sigs);
        State memory fin = ledgerState(cid, 9, address(0), 0, 0, true);
        Signature[] memory finSigs = signAll(fin, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.FinalityMismatch.selector);
        adj.checkpoint(p, fin, finSigs);
    }

    function test_s5_finalConcludesEvenWhileChallengePending() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s3 = ledgerState(cid, 3, address(0), 0, 0, false);
        adj.challenge(p, s3, signAll(s3, pks(ALICE_PK, HUB_PK)), noCert());
        State memory fin = ledgerState(cid, 4, address(0), 0, 0, true);
        adj.conclude(p, fin, signAll(fin, pks(ALICE_PK, HUB_PK)));
        (uint48 version, uint48 finalizesAt,,,,) = adj.statusOf(cid);
        assertEq(version, 4, "final registered");
        assertEq(finalizesAt, block.timestamp, "finalized at once");
    }

    function test_s5_challengeRejectsFinalState() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        State memory fin = ledgerState(id(p), 4, address(0), 0, 0, true);
        Signature[] memory sigs = signAll(fin, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.FinalityMismatch.selector);
        adj.challenge(p, fin, sigs, noCert());
    }

    // ------------------------------------------------------------ S12 cumulative totals

    function test_s12_topUpThePeerNeverCountersignedIsReturned() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 1 ether, 1 ether, alice, hub);
        State memory s = ledgerState(cid, 2, address(0), 1 ether, 1 ether, false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        // Alice tops up 5 ether; the hub never signs a state that counts it.
        vm.prank(alice);
        adj.deposit{value: 5 ether}(address(0), cid, 0, 1 ether, 5 ether);
        adj.challenge(p, s, sigs, noCert());
        vm.warp(block.timestamp + DURATION);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.withdraw(p, s);
        assertEq(alice.balance - a0, 6 ether, "alice gets her balance plus the top-up");
        assertEq(hub.balance - h0, 1 ether, "hub gets its balance only");
    }

    function test_s12_partialWithdrawalIsNeverPaidTwice() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 4 ether, 4 ether, alice, hub);
        State memory old = ledgerState(cid, 2, address(0), 4 ether, 4 ether, false);
        Signature[] memory oldSigs = signAll(old, pks(ALICE_PK, HUB_PK));
        // v3: alice withdraws 3 ether of her 4.
        State memory s = ledgerStateFull(
            cid, 3, address(0), u2(1 ether, 4 ether), u2(4 ether, 4 ether), u2(3 ether, 0), 0, harness.emptyRoot(), false
        );
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        uint256 a0 = alice.balance;
        adj.withdrawPartial(p, s, sigs, 0);
        adj.withdrawPartial(p, s, sigs, 0);
        assertEq(alice.balance - a0, 3 ether, "paid once");
        // The hub challenges with the older state that still gives alice 4 ether.
        adj.challenge(p, old, oldSigs, noCert());
        vm.warp(block.timestamp + DURATION);
        uint256 h0 = hub.balance;
        adj.withdraw(p, old);
        assertEq(alice.balance - a0, 4 ether, "alice: 3 + (4 - 3), never 3 + 4");
        assertEq(hub.balance - h0, 4 ether, "hub whole");
        assertEq(address(adj).balance, 0, "conserved");
    }

    function test_s12_withdrawPartialRejectsFinalizedAndUnsigned() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s = ledgerState(cid, 2, address(0), 0, 0, false);
        Signature[] memory bad = signAll(s, pks(ALICE_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.withdrawPartial(p, s, bad, 0);
        State memory fin = ledgerState(cid, 3, address(0), 0, 0, true);
        adj.conclude(p, fin, signAll(fin, pks(ALICE_PK, HUB_PK)));
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.withdrawPartial(p, s, sigs, 0);
    }

    function test_withdraw_rejectsStateThatIsNotRegistered() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, 1 ether, 1 ether, alice, hub);
        State memory s = ledgerState(cid, 2, address(0), 1 ether, 1 ether, false);
        adj.challenge(p, s, signAll(s, pks(ALICE_PK, HUB_PK)), noCert());
        vm.warp(block.timestamp + DURATION);
        State memory forged = ledgerState(cid, 2, address(0), 1 ether, 1 ether, false);
        forged.outcome.assets[0].balances = u2(2 ether, 0);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.withdraw(p, forged);
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_deposit_expectedHeldNeverOvercharges(uint64 first, uint64 expected, uint64 amount) public {
        // The hub's first deposit, then a second one expecting `expected` of its own (S16: alice's deposits,
        // made in between, do not count).
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(hub);
        adj.deposit{value: first}(address(0), cid, 1, 0, first);
        vm.prank(alice);
        adj.deposit{value: 3 ether}(address(0), cid, 0, 0, 3 ether);
        if (expected > first) {
            vm.prank(hub);
            vm.expectRevert(abi.encodeWithSelector(IAdjudicator.HeldBelowExpected.selector, first, expected));
            adj.deposit{value: amount}(address(0), cid, 1, expected, amount);
            return;
        }
        uint256 h0 = hub.balance;
        vm.prank(hub);
        adj.deposit{value: amount}(address(0), cid, 1, expected, amount);
        uint256 target = uint256(expected) + amount;
        uint256 taken = target > first ? target - first : 0;
        assertEq(h0 - hub.balance, taken, "took exactly what was missing");
        assertEq(address(adj).balance, uint256(first) + taken + 3 ether, "held");
        (, uint256 d1,,,) = adj.holdings(cid, address(0));
        assertEq(d1, target > first ? target : first, "the hub's own total");
    }

    function testFuzz_s12_payoutsNeverExceedHoldings(uint64 d0, uint64 d1, uint64 topUp, uint64 b0) public {
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        fundEth(cid, d0, d1, alice, hub);
        uint256 total = uint256(d0) + d1;
        uint256 bal0 = bound(b0, 0, total);
        State memory s = ledgerStateFull(
            cid, 2, address(0), u2(bal0, total - bal0), u2(d0, d1), u2(0, 0), 0, harness.emptyRoot(), false
        );
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        if (topUp > 0) {
            vm.prank(hub);
            adj.deposit{value: topUp}(address(0), cid, 1, d1, topUp);
        }
        adj.challenge(p, s, sigs, noCert());
        vm.warp(block.timestamp + DURATION);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.withdraw(p, s);
        assertEq(alice.balance - a0, bal0, "alice");
        assertEq(hub.balance - h0, total - bal0 + topUp, "hub + its own top-up");
        assertEq(address(adj).balance, 0, "nothing left, nothing extra");
    }
}
