// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {VirtualBase} from "./utils/VirtualBase.sol";
import {
    RevertingApp,
    GasGuzzlerApp,
    GarbageApp,
    AnyMoveApp,
    ReentrantToken,
    FalseReturningToken,
    RefundRefuser,
    HeavyToken
} from "./utils/Hostile.sol";
import {TestToken} from "../src/tokens/TestTokens.sol";
import {
    IAdjudicator,
    InvalidParams,
    WrongSigner,
    InvalidOutcome,
    ChannelParams,
    State,
    Outcome,
    AssetOutcome,
    Signature,
    SubAlloc,
    AssetAmount,
    LeafProof,
    Certificate
} from "../src/Types.sol";

/// The safety rules S1–S13, S15 and S16 as the adjudicator enforces them, one or more tests per rule and attack
/// (DESIGN.md "Safety rules" and "Testing and measuring"). Ledger-only and virtual-channel basics live in
/// Ledger.t.sol and Virtual.t.sol; this file adds the remaining rules and attacks.
contract RulesTest is VirtualBase {
    // ------------------------------------------------------------ helpers

    function allSigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK));
    }

    function l1Sigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, HUB_PK));
    }

    /// V with another app (and a fresh nonce), over the same ledgers.
    function vWithApp(address app, uint48 maxMoves) internal returns (ChannelParams memory p) {
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        p = virtualParams(addrs(alice, hub, bob), hops, app, maxMoves);
        v = p;
        vid = id(p);
    }

    /// Registers V's state `version` (A paid `paidA`) with the certificate.
    function challengeV(uint48 version, uint256 paidA) internal returns (State memory s) {
        s = vState(version, paidA, false);
        adj.challenge(v, s, endpointSigs(s), certificate());
    }

    function deadlineOf(bytes32 cid) internal view returns (uint48 d) {
        (, d,,,,) = adj.statusOf(cid);
    }

    // ================================================================ S1 identity

    function test_s1_unknownKindRejected() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.kind = 2;
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 1));
        adj.conclude(p, s, sigs);
    }

    function test_s1_stateSignedForAnotherChainOrAdjudicatorIsUnsupported() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        // Signed in the domain of another chain: the signature recovers to someone else here.
        bytes32 foreign = harness.stateDigest(s, block.chainid + 1, address(adj));
        Signature[] memory sigs = new Signature[](2);
        (uint8 v0, bytes32 r0, bytes32 s0) = vm.sign(ALICE_PK, foreign);
        sigs[0] = Signature(v0, r0, s0);
        sigs[1] = signState(s, HUB_PK);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 0));
        adj.conclude(p, s, sigs);
        // Signed for another adjudicator.
        bytes32 otherAdj = harness.stateDigest(s, block.chainid, address(0xAD));
        (uint8 v1, bytes32 r1, bytes32 s1) = vm.sign(HUB_PK, otherAdj);
        sigs[0] = signState(s, ALICE_PK);
        sigs[1] = Signature(v1, r1, s1);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.conclude(p, s, sigs);
    }

    function test_s1_reusedChannelIdCannotBeReopened() public {
        // L1 closes; its id can never be funded, challenged or concluded again.
        State memory fin = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, true);
        adj.concludeAndWithdraw(l1, fin, l1Sigs(fin));
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.deposit{value: 1 ether}(address(0), id(l1), 0, 0, 1 ether);
        State memory later = ledgerState(id(l1), 9, address(0), 5 ether, 5 ether, false);
        Signature[] memory sigs = l1Sigs(later);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.challenge(l1, later, sigs, noCert());
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.checkpoint(l1, later, sigs);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.withdrawPartial(l1, later, sigs, 0);
        State memory fin2 = ledgerState(id(l1), 9, address(0), 5 ether, 5 ether, true);
        Signature[] memory sigs2 = l1Sigs(fin2);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.conclude(l1, fin2, sigs2);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.concludeAndWithdraw(l1, fin2, sigs2);
    }

    function test_s1_finalizedMeansDeadlineReachedNoTransactionNeeded() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s, l1Sigs(s), noCert());
        uint48 deadline = deadlineOf(id(l1));
        vm.warp(deadline - 1);
        State memory s4 = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s4, l1Sigs(s4), noCert()); // one second before: still open
        vm.warp(deadline);
        State memory s5 = ledgerState(id(l1), 5, address(0), 5 ether, 5 ether, false);
        Signature[] memory sigs = l1Sigs(s5);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.challenge(l1, s5, sigs, noCert());
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.deposit{value: 1}(address(0), id(l1), 0, 10 ether, 1);
    }

    // ================================================================ S2 path

    function test_s2_ledgerHasExactlyTwoParticipantsAndNoHops() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.hops = new bytes32[](1);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 5));
        adj.conclude(p, s, sigs);
    }

    function test_s2_virtualNeedsAPathOfAtLeastTwo() public {
        address[] memory one = new address[](1);
        one[0] = alice;
        ChannelParams memory p = virtualParams(one, new bytes32[](0), address(0), 0);
        State memory s = virtualState(id(p), 0, 1, 1, 0, "", false);
        s.outcome.assets[0].balances[0] = 1;
        Signature[] memory sigs = new Signature[](1);
        sigs[0] = signState(s, ALICE_PK);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 2));
        adj.challenge(p, s, sigs, noCert());
    }

    function test_s2_virtualStateMayNotLockFunds() public {
        State memory s = vState(1, 0, false);
        s.outcome.assets[0].locked = 1;
        s.outcome.assets[0].deposited[0] += 1;
        Signature[] memory sigs = allSigs(s);
        vm.expectRevert(abi.encodeWithSelector(InvalidOutcome.selector, 4));
        adj.challenge(v, s, sigs, noCert());
    }

    // ================================================================ S3 conservation

    function test_s3_progressBreakingConservationRejected() public {
        vWithApp(address(new AnyMoveApp()), 10);
        State memory s5 = challengeV(5, 1 ether);
        // More money than the certificate.
        State memory more = vState(6, 1 ether, false);
        more.outcome.assets[0].balances[2] += 1;
        more.outcome.assets[0].deposited[2] += 1;
        Signature memory sig = signState(more, BOB_PK);
        vm.expectRevert(IAdjudicator.ConservationViolated.selector);
        adj.progress(v, s5, more, 2, sig);
        // The hub holding a balance.
        State memory hubPaid = vState(6, 1 ether, false);
        hubPaid.outcome.assets[0].balances[0] -= 1;
        hubPaid.outcome.assets[0].balances[1] = 1;
        Signature memory sig2 = signState(hubPaid, BOB_PK);
        vm.expectRevert(IAdjudicator.ConservationViolated.selector);
        adj.progress(v, s5, hubPaid, 2, sig2);
        // A conserving move passes.
        State memory ok = vState(6, 2 ether, false);
        adj.progress(v, s5, ok, 2, signState(ok, BOB_PK));
    }

    function test_s3_assetSetMustMatchTheCertificate() public {
        State memory s = vState(5, 1 ether, false);
        AssetOutcome[] memory two = new AssetOutcome[](2);
        two[0] = s.outcome.assets[0];
        two[1] = AssetOutcome(address(token), u3(0, 0, 0), u3(0, 0, 0), u3(0, 0, 0), 0);
        s.outcome.assets = two;
        Signature[] memory sigs = endpointSigs(s);
        Certificate memory c = certificate();
        vm.expectRevert(IAdjudicator.ConservationViolated.selector);
        adj.challenge(v, s, sigs, c);
    }

    function test_s3_aSecondCertificateWithOtherTotalsIsRejected() public {
        challengeV(5, 1 ether);
        State memory post = vState(1, 0, false);
        post.outcome.assets[0].balances = u3(A_FUNDS + 1, 0, B_FUNDS);
        post.outcome.assets[0].deposited = u3(A_FUNDS + 1, 0, B_FUNDS);
        Certificate memory other = Certificate(post, allSigs(post));
        State memory s6 = vState(6, 1 ether, false);
        Signature[] memory sigs = endpointSigs(s6);
        vm.expectRevert(IAdjudicator.InvalidCertificate.selector);
        adj.challenge(v, s6, sigs, other);
    }

    // ================================================================ S4 who signs

    function test_s4_exactlyOneSignaturePerSigner() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, true);
        Signature[] memory three = signAll(s, pks(ALICE_PK, HUB_PK, HUB_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 3));
        adj.conclude(l1, s, three);
        Signature[] memory twice = signAll(s, pks(ALICE_PK, ALICE_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.conclude(l1, s, twice);
    }

    function test_s4_virtualPreAndPostFundNeedTheWholePath() public {
        State memory post = vState(1, 0, false);
        Signature[] memory endpoints = endpointSigs(post);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 2));
        adj.challenge(v, post, endpoints, noCert());
        State memory pre = vState(0, 0, false);
        Signature[] memory noHub = signAll(pre, pks(ALICE_PK, BOB_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.challenge(v, pre, noHub, noCert());
    }

    function test_s4_endpointStateSignedByAnIntermediaryIsRejected() public {
        State memory s = vState(5, 1 ether, false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK));
        Certificate memory c = certificate();
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 2));
        adj.challenge(v, s, sigs, c);
    }

    function test_s4_finalizationIsTerminalForV() public {
        State memory fin = concludeV(1 ether);
        State memory s = vState(9, 2 ether, false);
        Signature[] memory sigs = endpointSigs(s);
        Certificate memory c = certificate();
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.challenge(v, s, sigs, c);
        Signature memory bobSig = signState(s, BOB_PK);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.progress(v, fin, s, 2, bobSig);
    }

    // ================================================================ S5 challenges

    function test_s5_checkpointThenANewChallengeGetsAFreshDeadline() public {
        State memory s3 = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s3, l1Sigs(s3), noCert());
        uint48 first = deadlineOf(id(l1));
        vm.warp(block.timestamp + 100);
        State memory s4 = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, false);
        adj.checkpoint(l1, s4, l1Sigs(s4));
        vm.warp(block.timestamp + 100);
        State memory s5 = ledgerState(id(l1), 5, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s5, l1Sigs(s5), noCert());
        assertEq(deadlineOf(id(l1)), block.timestamp + DURATION, "a new challenge, a new deadline");
        assertTrue(deadlineOf(id(l1)) > first, "later than the cleared one");
    }

    function test_s5_challengeMayRegisterTheCheckpointedVersionAgain() public {
        // With no challenge pending, a state of the registered version may be challenged (>=), so a party can
        // always dispute with the very state that was checkpointed.
        State memory s4 = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, false);
        adj.checkpoint(l1, s4, l1Sigs(s4));
        adj.challenge(l1, s4, l1Sigs(s4), noCert());
        (uint48 version, uint48 deadline,,,,) = adj.statusOf(id(l1));
        assertEq(version, 4, "registered");
        assertEq(deadline, block.timestamp + DURATION, "pending");
    }

    function test_s5_finalOfVConcludesWhileChallengePending() public {
        challengeV(5, 1 ether);
        State memory fin = vState(6, 2 ether, true);
        adj.conclude(v, fin, allSigs(fin));
        (uint48 version, uint48 finalizesAt,,,,) = adj.statusOf(vid);
        assertEq(version, 6, "final registered");
        assertEq(finalizesAt, block.timestamp, "finalized at once");
    }

    function test_s5_finalOfVConcludesOverANewerStateTheEndpointsRegistered() public {
        // The endpoints alone registered version 8 after the whole path signed V's only final at 7 (by which the
        // ledgers may have paid out already): the final wins.
        challengeV(8, 1 ether);
        State memory fin = vState(7, 2 ether, true);
        adj.conclude(v, fin, allSigs(fin));
        (uint48 version, uint48 finalizesAt,,,,) = adj.statusOf(vid);
        assertEq(version, 7, "V's final");
        assertEq(finalizesAt, block.timestamp, "final at once");
    }

    function test_s5_finalOfALedgerOlderThanTheRegisteredStateIsRejected() public {
        // A ledger's participants both signed the newer state: an older final is stale.
        ChannelParams memory p = ledgerParams(alice, hub);
        bytes32 cid = id(p);
        State memory s8 = ledgerState(cid, 8, address(0), 0, 0, false);
        adj.challenge(p, s8, l1Sigs(s8), noCert());
        State memory fin = ledgerState(cid, 7, address(0), 0, 0, true);
        Signature[] memory sigs = l1Sigs(fin);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 7, 8));
        adj.conclude(p, fin, sigs);
    }

    // ================================================================ S6 durations

    function test_s6_zeroChallengeDurationRejected() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.challengeDuration = 0;
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, false);
        Signature[] memory sigs = l1Sigs(s);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 7));
        adj.challenge(p, s, sigs, noCert());
    }

    function test_s6_challengeDurationAboveAYearRejected() public {
        // A duration with `now + duration` beyond uint48 made every challenge revert (overflow): only a final could
        // have ended the channel. Durations are capped at MAX_CHALLENGE_DURATION = 365 days.
        uint48[2] memory tooLong = [uint48(365 days + 1), type(uint48).max];
        for (uint256 i = 0; i < 2; i++) {
            ChannelParams memory p = ledgerParams(alice, hub);
            p.challengeDuration = tooLong[i];
            State memory s = ledgerState(id(p), 1, address(0), 0, 0, false);
            Signature[] memory sigs = l1Sigs(s);
            vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 11));
            adj.challenge(p, s, sigs, noCert());
            vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 11));
            harness.validateParams(p);
        }
        // A year exactly: the deadline is a year away, and a move at the last second extends it by a year.
        v.challengeDuration = 365 days;
        v.app = address(new AnyMoveApp());
        vid = id(v);
        State memory from = challengeV(5, 1 ether);
        assertEq(deadlineOf(vid), block.timestamp + 365 days, "a year");
        uint256 late = deadlineOf(vid) - 1;
        vm.warp(late);
        State memory to = vState(6, 1 ether, false);
        adj.progress(v, from, to, 2, signState(to, BOB_PK));
        assertEq(deadlineOf(vid), late + 365 days, "a move extends by a year");
    }

    function test_s6_moveFromTheLastVersionRevertsCleanly() public {
        // The endpoints registered the largest version there is: no move can follow it (no overflow panic).
        vWithApp(address(new AnyMoveApp()), 10);
        State memory last = challengeV(type(uint48).max, 1 ether);
        State memory to = vState(0, 1 ether, false);
        Signature memory sig = signState(to, BOB_PK);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 0, type(uint48).max));
        adj.progress(v, last, to, 2, sig);
    }

    function test_s6_lockTimeIsAtMostDurationTimesOnePlusTwiceMaxMoves() public {
        // Each endpoint has maxMoves moves of its own (S7), each as late as possible: the lock stays under
        // challenge_duration * (1 + 2 * maxMoves).
        vWithApp(address(new AnyMoveApp()), 3);
        uint256 start = block.timestamp;
        State memory from = challengeV(5, 1 ether);
        for (uint48 i = 0; i < 6; i++) {
            vm.warp(deadlineOf(vid) - 1);
            State memory to = vState(from.version + 1, 1 ether, false);
            uint256 mover = i % 2 == 0 ? 0 : 2;
            adj.progress(v, from, to, mover, signState(to, mover == 0 ? ALICE_PK : BOB_PK));
            from = to;
        }
        assertLe(deadlineOf(vid), start + uint256(DURATION) * 7, "challenge_duration * (1 + 2 * max_moves)");
        vm.warp(deadlineOf(vid) - 1);
        State memory extra = vState(from.version + 1, 1 ether, false);
        Signature memory sigA = signState(extra, ALICE_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, from, extra, 0, sigA);
        Signature memory sigB = signState(extra, BOB_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, from, extra, 2, sigB);
    }

    // ================================================================ S7 progress

    function test_s7_oneEndpointCannotUseUpTheOthersMoves() public {
        // A plays every move it has, moving nothing; B still has all of its own (a payee's redeeming move).
        vWithApp(address(new AnyMoveApp()), 2);
        State memory from = challengeV(5, 1 ether);
        for (uint48 i = 0; i < 2; i++) {
            State memory to = vState(from.version + 1, 1 ether, false);
            adj.progress(v, from, to, 0, signState(to, ALICE_PK));
            from = to;
        }
        State memory third = vState(from.version + 1, 1 ether, false);
        Signature memory sig = signState(third, ALICE_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, from, third, 0, sig);
        for (uint48 i = 0; i < 2; i++) {
            State memory to = vState(from.version + 1, 2 ether, false);
            adj.progress(v, from, to, 2, signState(to, BOB_PK));
            from = to;
        }
        (,, uint8 movesFirst, uint8 movesLast,,) = adj.statusOf(vid);
        assertEq(movesFirst, 2, "A's moves");
        assertEq(movesLast, 2, "B's moves");
    }

    function test_s7_moveCountsStopAt255() public {
        // maxMoves above 255 still ends: each endpoint's count is a uint8.
        vWithApp(address(new AnyMoveApp()), 1000);
        State memory from = challengeV(5, 1 ether);
        for (uint256 i = 0; i < 255; i++) {
            State memory to = vState(from.version + 1, 1 ether, false);
            adj.progress(v, from, to, 2, signState(to, BOB_PK));
            from = to;
        }
        State memory extra = vState(from.version + 1, 1 ether, false);
        Signature memory sig = signState(extra, BOB_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, from, extra, 2, sig);
    }

    function test_s7_appThatRevertsIsAnInvalidMove() public {
        vWithApp(address(new RevertingApp()), 10);
        State memory s5 = challengeV(5, 1 ether);
        State memory s6 = vState(6, 2 ether, false);
        Signature memory sig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.InvalidTransition.selector);
        adj.progress(v, s5, s6, 2, sig);
    }

    function test_s7_appGasIsCapped() public {
        vWithApp(address(new GasGuzzlerApp()), 10);
        State memory s5 = challengeV(5, 1 ether);
        State memory s6 = vState(6, 2 ether, false);
        Signature memory sig = signState(s6, BOB_PK);
        uint256 before = gasleft();
        vm.expectRevert(IAdjudicator.InvalidTransition.selector);
        adj.progress{gas: 5_000_000}(v, s5, s6, 2, sig);
        assertLe(before - gasleft(), 1_500_000, "the app got at most its 1,000,000 gas cap");
    }

    function test_s7_appAnswerOtherThanTrueIsInvalid() public {
        GarbageApp g = new GarbageApp();
        vWithApp(address(g), 10);
        State memory s5 = challengeV(5, 1 ether);
        State memory s6 = vState(6, 2 ether, false);
        Signature memory sig = signState(s6, BOB_PK);
        for (uint256 mode = 0; mode < 3; mode++) {
            g.setMode(mode);
            vm.expectRevert(IAdjudicator.InvalidTransition.selector);
            adj.progress(v, s5, s6, 2, sig);
        }
    }

    function test_s7_channelWithoutAppCannotMove() public {
        vWithApp(address(0), 10);
        State memory s5 = challengeV(5, 1 ether);
        State memory s6 = vState(6, 2 ether, false);
        Signature memory sig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.InvalidTransition.selector);
        adj.progress(v, s5, s6, 2, sig);
    }

    function test_s7_unfundedVirtualChannelCannotMove() public {
        // V's pre-fund registered: never certified, so no move may shift its (unfunded) balances.
        vWithApp(address(new AnyMoveApp()), 10);
        State memory pre = vState(0, 0, false);
        adj.challenge(v, pre, allSigs(pre), noCert());
        State memory s1 = vState(1, 1 ether, false);
        Signature memory sig = signState(s1, BOB_PK);
        vm.expectRevert(IAdjudicator.MissingCertificate.selector);
        adj.progress(v, pre, s1, 2, sig);
    }

    function test_s7_noMoveAfterTheDeadline() public {
        State memory s5 = challengeV(5, 1 ether);
        vm.warp(deadlineOf(vid));
        State memory s6 = voucherMoveFrom(s5, 2 ether);
        Signature memory sig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.progress(v, s5, s6, 2, sig);
    }

    function test_s7_moveSetsDeadlineToAtLeastNowPlusDuration() public {
        State memory s5 = challengeV(5, 1 ether);
        uint48 deadline = deadlineOf(vid);
        // Early move: the deadline stays (max).
        State memory s6 = voucherMoveFrom(s5, 1.5 ether);
        adj.progress(v, s5, s6, 2, signState(s6, BOB_PK));
        assertEq(deadlineOf(vid), deadline, "max(deadline, now + duration) keeps the later one");
        vm.warp(deadline - 10);
        State memory s7 = voucherMoveFrom(s6, 2 ether);
        adj.progress(v, s6, s7, 2, signState(s7, BOB_PK));
        assertEq(deadlineOf(vid), block.timestamp + DURATION, "late move: now + duration");
        (,, uint8 movesFirst, uint8 movesLast,,) = adj.statusOf(vid);
        assertEq(movesFirst, 0, "A made no move");
        assertEq(movesLast, 2, "B's two moves counted");
    }

    function test_s6_replacementsKeepTheMoveCountSoVCannotBeHeldOpenForever() public {
        // Colluding endpoints alternate app moves (each extends the deadline) with co-signed replacements: the
        // moves still count against maxMoves, so V finalizes by start + duration * (1 + maxMoves).
        vWithApp(address(new AnyMoveApp()), 2);
        uint256 start = block.timestamp;
        State memory from = challengeV(5, 1 ether);
        for (uint256 round = 0; round < 2; round++) {
            vm.warp(deadlineOf(vid) - 1);
            State memory moved = vState(from.version + 1, 1 ether, false);
            adj.progress(v, from, moved, 2, signState(moved, BOB_PK));
            from = vState(moved.version + 5, 2 ether, false);
            adj.challenge(v, from, endpointSigs(from), noCert());
        }
        (,, uint8 movesFirst, uint8 movesLast,,) = adj.statusOf(vid);
        assertEq(movesFirst, 0, "A made no move");
        assertEq(movesLast, 2, "replacements did not reset the count");
        vm.warp(deadlineOf(vid) - 1);
        State memory third = vState(from.version + 1, 2 ether, false);
        Signature memory sig = signState(third, BOB_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, from, third, 2, sig);
        assertLe(deadlineOf(vid), start + uint256(DURATION) * 3, "bounded lock time");
    }

    function voucherMoveFrom(State memory from, uint256 total) internal view returns (State memory to) {
        to = vState(from.version + 1, total, false);
        uint256[] memory f = new uint256[](1);
        f[0] = total;
        Signature[] memory vs = new Signature[](1);
        bytes32 d = harness.voucherDigest(
            Voucher_(vid, alice, address(0), total), block.chainid, address(adj)
        );
        (uint8 vv, bytes32 r, bytes32 s) = vm.sign(ALICE_PK, d);
        vs[0] = Signature(vv, r, s);
        to.appData = abi.encode(PaymentData_(f, new uint256[](1), vs));
    }

    // ================================================================ S8 joining

    function test_s8_refundAfterThePostFundIsRejected() public {
        State memory post = vState(1, 0, false);
        adj.challenge(v, post, allSigs(post), noCert());
        (,,,, bool certified,) = adj.statusOf(vid);
        assertTrue(certified, "the post-fund certifies V");
        // Asking for the refund (the pre-fund outcome) after the post-fund was signed: stale.
        State memory pre = vState(0, 0, false);
        Signature[] memory sigs = allSigs(pre);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 0, 1));
        adj.challenge(v, pre, sigs, noCert());
    }

    function test_s8_registeredRefundIsReplacedByThePostFund() public {
        State memory pre = vState(0, 0, false);
        adj.challenge(v, pre, allSigs(pre), noCert());
        State memory post = vState(1, 0, false);
        adj.challenge(v, post, allSigs(post), noCert());
        (uint48 version,,,, bool certified,) = adj.statusOf(vid);
        assertEq(version, 1, "post-fund registered");
        assertTrue(certified, "certified");
    }

    function test_s8_leafForAVirtualChannelThePathNeverSignedCannotBeClaimed() public {
        // A leaf for a V whose pre-fund the whole path never signed: V can never be registered, so its leaf
        // can never be claimed; the ledger's locked amount stays for a later state to release.
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory pre = vState(0, 0, false);
        Signature[] memory forged = signAll(pre, pks(ALICE_PK, HUB2_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.challenge(v, pre, forged, noCert());
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.claim(l1, s1, leaf, proof, v, pre);
    }

    // ================================================================ S9 claim

    function test_s9_claimRejectsWrongKinds() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.claim(v, fin, leaf, proof, v, fin);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.claim(l1, s1, leaf, proof, l1, s1);
    }

    function test_s9_claimRejectsStatesThatAreNotTheFinalizedOnes() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        State memory forgedV = vState(7, 3 ether, true); // gives B everything
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, s1, leaf, proof, v, forgedV);
        State memory forgedL = s1;
        forgedL.outcome.assets[0].locked = 100 ether;
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, forgedL, leaf, proof, v, fin);
    }

    function test_s9_claimRejectsLeafWhoseAssetsDifferFromV() public {
        SubAlloc memory tokenLeaf = leaf;
        AssetAmount[] memory amounts = new AssetAmount[](1);
        amounts[0] = AssetAmount(address(token), LEAF);
        tokenLeaf.amounts = amounts;
        (bytes32 tokenRoot, LeafProof memory tokenProof) = singleLeafTree(tokenLeaf);
        State memory s1 = ledgerStateFull(
            id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, tokenRoot, true
        );
        adj.conclude(l1, s1, l1Sigs(s1));
        State memory fin = concludeV(1 ether);
        vm.expectRevert(IAdjudicator.LeafMismatch.selector);
        adj.claim(l1, s1, tokenLeaf, tokenProof, v, fin);
        // A leaf with two assets against V's one.
        SubAlloc memory twoLeaf = leaf;
        AssetAmount[] memory two = new AssetAmount[](2);
        two[0] = AssetAmount(address(0), LEAF);
        two[1] = AssetAmount(address(token), 1);
        twoLeaf.amounts = two;
        vm.expectRevert(IAdjudicator.InvalidProof.selector);
        adj.claim(l1, s1, twoLeaf, proof, v, fin);
    }

    function test_s9_proofLongerThanTheTreeIsRejected() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        LeafProof memory tooLong = LeafProof(0, new bytes32[](33));
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 8));
        adj.claim(l1, s1, leaf, tooLong, v, fin);
    }

    function test_s9_whenABalanceCoversTheLeafTheLeftSideTakesAll() public {
        (State memory s1, State memory s2) = finalizeLedgersWithLeaf();
        // V's final: A 4, B 0.
        State memory fin = virtualState(vid, 7, 3, LEAF, 0, paymentData(0, 1 ether), true);
        fin.outcome.assets[0].deposited = u3(A_FUNDS, 0, B_FUNDS);
        adj.conclude(v, fin, allSigs(fin));
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        uint256 b0 = bob.balance;
        adj.claim(l1, s1, leaf, proof, v, fin);
        adj.claim(l2, s2, leaf, proof, v, fin);
        assertEq(alice.balance - a0, LEAF, "A gets the whole leaf in L1");
        assertEq(hub.balance - h0, LEAF, "the hub gets L2's whole leaf: even");
        assertEq(bob.balance, b0, "B gets nothing");
    }

    function test_s9_claimDebitsOnlyItsLedger() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        (uint256 d0, uint256 d1, uint256 w0, uint256 w1, uint256 c2) = adj.holdings(id(l2), address(0));
        adj.claim(l1, s1, leaf, proof, v, fin);
        (,,,, uint256 c1) = adj.holdings(id(l1), address(0));
        assertEq(c1, LEAF, "L1 debited the leaf");
        (uint256 e0, uint256 e1, uint256 x0, uint256 x1, uint256 e2) = adj.holdings(id(l2), address(0));
        assertEq(e0 + e1 + x0 + x1 + e2, d0 + d1 + w0 + w1 + c2, "L2 untouched");
        assertEq(adj.claimedTotal(id(l1), address(0)), LEAF, "claimedTotal");
    }

    function testFuzz_s9_claimsSplitExactlyTheLeafAndTheHubBreaksEven(uint256 paid) public {
        paid = bound(paid, 0, A_FUNDS);
        (State memory s1, State memory s2) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(paid);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        uint256 b0 = bob.balance;
        adj.claim(l1, s1, leaf, proof, v, fin);
        adj.claim(l2, s2, leaf, proof, v, fin);
        assertEq(alice.balance - a0, A_FUNDS - paid, "A");
        assertEq(bob.balance - b0, B_FUNDS + paid, "B");
        assertEq(hub.balance - h0, LEAF, "hub: b from L1 + a from L2 = the leaf it locked in each");
        adj.withdraw(l1, s1);
        adj.withdraw(l2, s2);
        assertEq(address(adj).balance, 0, "every wei out exactly once");
    }

    // ================================================================ S10 removing a leaf

    function test_s10_ledgersSettleFromVsOnChainOutcomeAfterATimeout() public {
        // A challenges V with its latest endpoint state; B never answers; V times out on that state.
        State memory s5 = challengeV(5, 1.5 ether);
        vm.warp(deadlineOf(vid));
        (State memory s1, State memory s2) = finalizeLedgersWithLeaf();
        uint256 h0 = hub.balance;
        uint256 a0 = alice.balance;
        adj.claim(l1, s1, leaf, proof, v, s5);
        adj.claim(l2, s2, leaf, proof, v, s5);
        assertEq(alice.balance - a0, A_FUNDS - 1.5 ether, "A from V's on-chain outcome");
        assertEq(hub.balance - h0, LEAF, "the hub breaks even");
    }

    function test_s10_finalCountersignedAfterARefundCannotConclude() public {
        // The open failed; V finalized with its pre-fund (the refund). A final later signed by the path is moot.
        State memory pre = vState(0, 0, false);
        adj.challenge(v, pre, allSigs(pre), noCert());
        vm.warp(deadlineOf(vid));
        State memory fin = vState(7, 2 ether, true);
        Signature[] memory sigs = allSigs(fin);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.conclude(v, fin, sigs);
        // Ledgers settle the leaf from the refund.
        (State memory s1,) = finalizeLedgersWithLeaf();
        uint256 a0 = alice.balance;
        adj.claim(l1, s1, leaf, proof, v, pre);
        assertEq(alice.balance - a0, A_FUNDS, "A refunded");
    }

    // ================================================================ S11 money movement

    function test_s11_tokenReentryIntoDepositIsRefused() public {
        ReentrantToken t = new ReentrantToken();
        bytes32 cid = id(ledgerParams(alice, hub));
        t.mint(alice, 100);
        vm.prank(alice);
        t.approve(address(adj), 100);
        t.arm(IAdjudicator(address(adj)), cid);
        vm.prank(alice);
        adj.deposit(address(t), cid, 0, 0, 10);
        assertTrue(!t.reentered(), "re-entry refused");
        assertEq(keccak256(t.reentryError()), keccak256(abi.encodeWithSelector(IAdjudicator.Reentrancy.selector)), "Reentrancy()");
        (uint256 d0, uint256 d1,,,) = adj.holdings(cid, address(t));
        assertEq(d0 + d1, 10, "credited once");
        assertEq(t.balanceOf(address(adj)), 10, "held");
    }

    function test_s11_starvedTokenPayoutRevertsInsteadOfCrediting() public {
        HeavyToken t = new HeavyToken();
        ChannelParams memory p = ledgerParams(alice, hub);
        t.mint(alice, 10);
        vm.startPrank(alice);
        t.approve(address(adj), 10);
        adj.deposit(address(t), id(p), 0, 0, 10);
        vm.stopPrank();
        State memory fin = ledgerState(id(p), 2, address(t), 10, 0, true);
        adj.conclude(p, fin, l1Sigs(fin));
        // Whatever gas a caller passes, the payout is either pushed or the whole withdraw reverts: a caller
        // cannot starve the token call (EIP-150) to turn alice's payout into a credit.
        bool paid;
        for (uint256 g = 40_000; g <= 300_000 && !paid; g += 5_000) {
            (bool ok,) = address(adj).call{gas: g}(abi.encodeCall(IAdjudicator.withdraw, (p, fin)));
            assertEq(adj.credit(address(t), alice), 0, "never credited");
            paid = ok;
        }
        assertTrue(paid, "paid once there is enough gas");
        assertEq(t.balanceOf(alice), 10, "pushed");
    }

    function test_s11_tokenReturningFalseIsCredited() public {
        FalseReturningToken t = new FalseReturningToken();
        ChannelParams memory p = ledgerParams(alice, hub);
        t.mint(alice, 10);
        vm.startPrank(alice);
        t.approve(address(adj), 10);
        adj.deposit(address(t), id(p), 0, 0, 10);
        vm.stopPrank();
        State memory fin = ledgerState(id(p), 2, address(t), 10, 0, true);
        adj.concludeAndWithdraw(p, fin, l1Sigs(fin));
        assertEq(adj.credit(address(t), alice), 10, "false = failed = credited");
    }

    function test_s11_refundThatCannotBePushedIsCredited() public {
        RefundRefuser r = new RefundRefuser();
        vm.deal(address(r), 10 ether);
        bytes32 cid = id(ledgerParams(alice, hub));
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), cid, 0, 0, 1 ether);
        // r sends 1 ether for a deposit that is already there: all of it is refunded, and r refuses it.
        r.depositAll{value: 1 ether}(IAdjudicator(address(adj)), cid, 0, 1 ether);
        assertEq(adj.credit(address(0), address(r)), 1 ether, "refund credited");
        (uint256 d0,,,,) = adj.holdings(cid, address(0));
        assertEq(d0, 1 ether, "nothing taken");
    }

    // ================================================================ S12 cumulative totals

    function test_s12_topUpInAnAssetTheStateNeverListedIsReturned() public {
        TestToken t = new TestToken();
        t.mint(alice, 50);
        vm.startPrank(alice);
        t.approve(address(adj), 50);
        adj.deposit(address(t), id(l1), 0, 0, 50);
        vm.stopPrank();
        // The hub closes with a state that lists only ETH.
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s, l1Sigs(s), noCert());
        vm.warp(deadlineOf(id(l1)));
        adj.withdraw(l1, s);
        vm.expectRevert(IAdjudicator.AssetListed.selector);
        adj.withdrawUnlisted(l1, s, address(0));
        adj.withdrawUnlisted(l1, s, address(t));
        assertEq(t.balanceOf(alice), 50, "alice's top-up returned");
        adj.withdrawUnlisted(l1, s, address(t));
        assertEq(t.balanceOf(address(adj)), 0, "paid once");
    }

    function test_s12_withdrawUnlistedNeedsTheFinalizedState() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s, l1Sigs(s), noCert());
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.withdrawUnlisted(l1, s, address(token));
        vm.warp(deadlineOf(id(l1)));
        State memory other = ledgerState(id(l1), 3, address(0), 4 ether, 6 ether, false);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.withdrawUnlisted(l1, other, address(token));
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.withdrawUnlisted(v, s, address(token));
    }

    function test_s12_withdrawUnlistedCapsAtWhatTheChannelHolds() public {
        // Alice paid the hub in tokens in a later state; the hub withdrew them partially; alice then topped up.
        // The registered (older) state does not list the token: alice gets back only what is still there.
        TestToken t = new TestToken();
        t.mint(alice, 15);
        vm.startPrank(alice);
        t.approve(address(adj), 15);
        adj.deposit(address(t), id(l1), 0, 0, 10);
        vm.stopPrank();
        AssetOutcome[] memory assets = new AssetOutcome[](2);
        assets[0] = AssetOutcome(address(0), u2(5 ether, 5 ether), u2(5 ether, 5 ether), u2(0, 0), 0);
        assets[1] = AssetOutcome(address(t), u2(0, 0), u2(10, 0), u2(0, 10), 0);
        State memory paidOut = State(id(l1), 5, Outcome(assets, harness.emptyRoot()), "", false);
        adj.withdrawPartial(l1, paidOut, l1Sigs(paidOut), 1);
        assertEq(t.balanceOf(hub), 10, "hub withdrew");
        vm.prank(alice);
        adj.deposit(address(t), id(l1), 0, 10, 5);
        State memory old = ledgerState(id(l1), 2, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, old, l1Sigs(old), noCert());
        vm.warp(deadlineOf(id(l1)));
        adj.withdrawUnlisted(l1, old, address(t));
        assertEq(t.balanceOf(alice), 5, "only what the channel still holds");
        assertEq(t.balanceOf(address(adj)), 0, "no other channel's tokens touched");
    }

    function test_s12_partialWithdrawalNeverTouchesLockedFunds() public {
        // L1 locks 8 of its 10 ether in V's leaf; a state granting alice a 4 ether withdrawal pays only the 2
        // that are not locked.
        State memory s = ledgerStateFull(
            id(l1), 4, address(0), u2(0, 0), u2(5 ether, 5 ether), u2(2 ether, 0), 8 ether, root, false
        );
        uint256 a0 = alice.balance;
        adj.withdrawPartial(l1, s, l1Sigs(s), 0);
        assertEq(alice.balance - a0, 2 ether, "capped at deposits - withdrawals - locked");
        adj.withdrawPartial(l1, s, l1Sigs(s), 0);
        assertEq(alice.balance - a0, 2 ether, "nothing more");
    }

    /// `withdrawPartial` pays what any fully signed state agreed, older ones included: the contract cannot tell an
    /// abandoned proposal from the latest state. So a party must never sign a state whose `withdrawn` is below that
    /// of a state it signed before. Here the hub (leader) proposed the peer's withdrawal of 5 (v6); the peer
    /// rejected it, and a re-proposal from the last supported state (v5) that drops the withdrawal lets the peer
    /// complete v6 later, withdraw its 5, and still spend the same 5 in v7: the hub gets 5 of the 10 v7 gives it.
    /// Carrying the withdrawal forward into v7 leaves nothing to spend twice.
    function test_s12_aWithdrawalInAnAbandonedProposalMustBeCarriedForward() public {
        for (uint256 carried = 0; carried < 2; carried++) {
            ChannelParams memory p = ledgerParams(hub, alice); // the hub leads; alice is the peer
            bytes32 cid = id(p);
            fundEth(cid, 5 ether, 5 ether, hub, alice);
            uint256[] memory dep = u2(5 ether, 5 ether);
            bytes32 empty = harness.emptyRoot();
            // v6, signed by the hub only: alice withdraws her 5.
            State memory v6 = ledgerStateFull(cid, 6, address(0), u2(5 ether, 0), dep, u2(0, 5 ether), 0, empty, false);
            // v7, both sign: dropping the withdrawal alice pays the hub her 5; carrying it, nothing more moves.
            State memory v7 = carried == 0
                ? ledgerStateFull(cid, 7, address(0), u2(10 ether, 0), dep, u2(0, 0), 0, empty, true)
                : ledgerStateFull(cid, 7, address(0), u2(5 ether, 0), dep, u2(0, 5 ether), 0, empty, true);
            uint256 a0 = alice.balance;
            adj.withdrawPartial(p, v6, signAll(v6, pks(HUB_PK, ALICE_PK)), 1); // alice completes v6
            uint256 h0 = hub.balance;
            adj.concludeAndWithdraw(p, v7, signAll(v7, pks(HUB_PK, ALICE_PK)));
            assertEq(alice.balance - a0, 5 ether, "alice took her 5 out once");
            assertEq(hub.balance - h0, 5 ether, "the hub gets 5 either way");
            if (carried == 0) assertTrue(hub.balance - h0 < v7.outcome.assets[0].balances[0], "short of v7's 10");
            else assertEq(hub.balance - h0, v7.outcome.assets[0].balances[0], "v7's balance in full");
        }
    }

    function test_s12_underfundedStateCannotReachOtherChannelsFunds() public {
        // Alice and a colluding peer sign a state claiming 100 ether deposited; only 1 was.
        ChannelParams memory p = ledgerParams(alice, hub2);
        vm.prank(alice);
        adj.deposit{value: 1 ether}(address(0), id(p), 0, 0, 1 ether);
        State memory s = ledgerState(id(p), 2, address(0), 100 ether, 0, true);
        uint256 before = address(adj).balance;
        uint256 a0 = alice.balance;
        adj.concludeAndWithdraw(p, s, signAll(s, pks(ALICE_PK, HUB2_PK)));
        assertEq(alice.balance - a0, 1 ether, "only the channel's own 1 ether");
        assertEq(address(adj).balance, before - 1 ether, "L1 and L2 untouched");
    }

    function test_s12_doubleWithdrawAndDoubleConcludePayOnce() public {
        State memory fin = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, true);
        uint256 before = address(adj).balance;
        adj.concludeAndWithdraw(l1, fin, l1Sigs(fin));
        adj.withdraw(l1, fin);
        adj.withdraw(l1, fin);
        assertEq(before - address(adj).balance, 10 ether, "paid exactly once");
    }

    // ================================================================ S13 ledger channels have no app

    /// The attack S13 closes: the hub opens a ledger with alice naming an app that accepts every move and one move
    /// each, registers the latest state both signed (alice 3, the hub 3, 4 locked in V's leaf), then, in the same
    /// block, plays a "move" signed only by itself that gives it every balance, unlocks the leaf and empties the
    /// table, and withdraws everything once the deadline passes; alice holds no newer state to answer with. On the
    /// old code every step succeeded (the hub took all 10 ether). Now such params are invalid: the attack stops at
    /// its first step that shows the params, the registration.
    function test_s13_ledgerNamingAnAppCannotBeRobbedByAOneSidedMove() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.app = address(new AnyMoveApp());
        p.maxMoves = 1;
        bytes32 cid = id(p);
        fundEth(cid, 5 ether, 5 ether, alice, hub); // deposits name only the id: they cannot see the params
        State memory latest = ledgerStateFull(
            cid, 4, address(0), u2(3 ether, 3 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, root, false
        );
        Signature[] memory both = l1Sigs(latest);
        vm.prank(hub);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 9));
        adj.challenge(p, latest, both, noCert());
        // Nor can the move itself be played, whatever is registered: `progress` is for virtual channels only.
        State memory theft = ledgerStateFull(
            cid, 5, address(0), u2(0, 10 ether), u2(5 ether, 5 ether), u2(0, 0), 0, harness.emptyRoot(), false
        );
        Signature memory hubSig = signState(theft, HUB_PK);
        vm.prank(hub);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.progress(p, latest, theft, 1, hubSig);
        (, uint48 finalizesAt,,,,) = adj.statusOf(cid);
        assertEq(finalizesAt, 0, "nothing registered");
    }

    function test_s13_ledgerParamsWithAnAppOrMovesAreInvalid() public {
        ChannelParams memory p = ledgerParams(alice, hub);
        p.app = address(payApp);
        State memory fin = ledgerState(id(p), 1, address(0), 0, 0, true);
        Signature[] memory sigs = l1Sigs(fin);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 9));
        adj.conclude(p, fin, sigs);
        p.app = address(0);
        p.maxMoves = 1;
        fin = ledgerState(id(p), 1, address(0), 0, 0, true);
        sigs = l1Sigs(fin);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 10));
        adj.conclude(p, fin, sigs);
        State memory s = ledgerState(id(p), 1, address(0), 0, 0, false);
        sigs = l1Sigs(s);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 10));
        adj.checkpoint(p, s, sigs);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 10));
        adj.withdrawPartial(p, s, sigs, 0);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 10));
        harness.validateParams(p);
    }

    function test_s13_progressIsForVirtualChannelsOnly() public {
        // A valid ledger (no app) under challenge: progress refuses it as the wrong kind before anything else.
        State memory s3 = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s3, l1Sigs(s3), noCert());
        State memory s4 = ledgerState(id(l1), 4, address(0), 0, 10 ether, false);
        Signature memory sig = signState(s4, HUB_PK);
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.progress(l1, s3, s4, 1, sig);
    }

    // ================================================================ S15 registered states are bound in full

    /// The storage slot of `_registered[cid]` (the Adjudicator's second state variable).
    function registeredSlot(bytes32 cid) internal pure returns (bytes32) {
        return keccak256(abi.encode(cid, uint256(1)));
    }

    /// Stands in for a ground collision: replaces the registered hash of `cid` (checked to be `registered`'s) by
    /// one equal to `forged`'s struct hash in its low 136 bits (the old fingerprint) and different above them.
    function plantLow136Collision(bytes32 cid, State memory registered, State memory forged) internal {
        bytes32 slot = registeredSlot(cid);
        assertEq(vm.load(address(adj), slot), harness.stateHash(registered), "the slot holds the registered hash");
        bytes32 h = harness.stateHash(forged);
        bytes32 planted = h ^ bytes32(uint256(1) << 255);
        assertEq(uint256(uint136(uint256(planted))), uint256(uint136(uint256(h))), "same low 136 bits");
        vm.store(address(adj), slot, planted);
        (,,,,, bytes32 fp) = adj.statusOf(cid);
        assertEq(fp, planted, "statusOf shows the planted hash");
    }

    function test_s15_withdrawRefusesAStateMatchingOnlyTheLow136Bits() public {
        State memory s = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s, l1Sigs(s), noCert());
        vm.warp(deadlineOf(id(l1)));
        // The forged state gives alice everything and lists no ETH-free asset.
        State memory forged = ledgerState(id(l1), 3, address(0), 10 ether, 0, false);
        plantLow136Collision(id(l1), s, forged);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.withdraw(l1, forged);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.withdrawUnlisted(l1, forged, address(token));
    }

    function test_s15_claimRefusesStatesMatchingOnlyTheLow136Bits() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        // A ledger state locking far more than the leaf, and a final of V giving B everything.
        State memory forgedL = ledgerStateFull(
            id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), 100 ether, root, true
        );
        State memory forgedV = vState(7, 3 ether, true);
        plantLow136Collision(id(l1), s1, forgedL);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, forgedL, leaf, proof, v, fin);
        vm.store(address(adj), registeredSlot(id(l1)), harness.stateHash(s1));
        plantLow136Collision(vid, fin, forgedV);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.claim(l1, s1, leaf, proof, v, forgedV);
    }

    function test_s15_progressRefusesAFromMatchingOnlyTheLow136Bits() public {
        vWithApp(address(new AnyMoveApp()), 10);
        State memory s5 = challengeV(5, 1 ether);
        // Another version-5 state paying B more, which the app would accept a move from.
        State memory forged = vState(5, 3 ether, false);
        plantLow136Collision(vid, s5, forged);
        State memory s6 = vState(6, 3 ether, false);
        Signature memory sig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.progress(v, forged, s6, 2, sig);
    }

    function test_s15_statusOfShowsTheFullHashWhileAStateIsRegistered() public {
        State memory s3 = ledgerState(id(l1), 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s3, l1Sigs(s3), noCert());
        (,,,,, bytes32 fp) = adj.statusOf(id(l1));
        assertEq(fp, harness.stateHash(s3), "the full struct hash");
        // A checkpoint clears the challenge: nothing is registered for payouts or moves.
        State memory s4 = ledgerState(id(l1), 4, address(0), 5 ether, 5 ether, false);
        adj.checkpoint(l1, s4, l1Sigs(s4));
        (,,,,, fp) = adj.statusOf(id(l1));
        assertEq(fp, bytes32(0), "zero after a checkpoint");
        State memory fin = ledgerState(id(l1), 5, address(0), 5 ether, 5 ether, true);
        adj.conclude(l1, fin, l1Sigs(fin));
        (,,,,, fp) = adj.statusOf(id(l1));
        assertEq(fp, harness.stateHash(fin), "the concluded state's");
    }

    function test_s15_aLedgerSettledInFullByConcludeAndWithdrawKeepsNoStateAndPaysTheRestByTheZeroView() public {
        // Alice also topped up a token the final never lists.
        TestToken t = new TestToken();
        t.mint(alice, 50);
        vm.startPrank(alice);
        t.approve(address(adj), 50);
        adj.deposit(address(t), id(l1), 0, 0, 50);
        vm.stopPrank();
        uint256 before = alice.balance;
        State memory fin = ledgerState(id(l1), 5, address(0), 5 ether, 5 ether, true);
        adj.concludeAndWithdraw(l1, fin, l1Sigs(fin));
        assertEq(alice.balance, before + 5 ether, "paid by the final");
        // Nothing locked: no state stays registered (the cooperative close pays no second slot) ...
        (,,,,, bytes32 fp) = adj.statusOf(id(l1));
        assertEq(fp, bytes32(0), "nothing registered");
        assertEq(vm.load(address(adj), registeredSlot(id(l1))), bytes32(0), "no second slot written");
        // ... a later withdraw pays nothing, whatever state it names; the unlisted token is paid by the zero view;
        // and no claim can name a state.
        State memory greedy = ledgerState(id(l1), 5, address(0), 10 ether, 0, true);
        adj.withdraw(l1, greedy);
        assertEq(alice.balance, before + 5 ether, "nothing more");
        adj.withdrawUnlisted(l1, greedy, address(0));
        assertEq(alice.balance, before + 5 ether, "ETH was cleared");
        adj.withdrawUnlisted(l1, greedy, address(t));
        assertEq(t.balanceOf(alice), 50, "the unlisted top-up returned");
        adj.withdrawUnlisted(l1, greedy, address(t));
        assertEq(t.balanceOf(address(adj)), 0, "paid once");
    }

    function test_s15_concludeAndWithdrawWithALockedLeafKeepsTheFullHashForClaims() public {
        State memory fin = ledgerStateFull(
            id(l1), 3, address(0), u2(4 ether, 5 ether), u2(5 ether, 5 ether), u2(0, 0), 1 ether, root, true
        );
        adj.concludeAndWithdraw(l1, fin, l1Sigs(fin));
        (,,,,, bytes32 fp) = adj.statusOf(id(l1));
        assertEq(fp, harness.stateHash(fin), "registered in full: claims need it");
    }

    // ================================================================ S16 nobody else's deposit shortens yours

    function depositedOf(bytes32 cid, uint256 who) internal view returns (uint256) {
        (uint256 d0, uint256 d1,,,) = adj.holdings(cid, address(0));
        return who == 0 ? d0 : d1;
    }

    function test_s16_strangersDustForThePeerDoesNotShortenMyDeposit() public {
        // Alice funds a fresh ledger first (expecting her own deposits to be 0); a stranger front-runs her with
        // 1 wei for the hub. The old check compared expectedHeld with both deposits together and took 1 wei less.
        bytes32 cid = id(ledgerParams(alice, hub));
        address stranger = address(0x57A);
        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        adj.deposit{value: 1}(address(0), cid, 1, 0, 1);
        uint256 a0 = alice.balance;
        vm.prank(alice);
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.Deposited(cid, address(0), 0, 5 ether, 5 ether);
        adj.deposit{value: 5 ether}(address(0), cid, 0, 0, 5 ether);
        assertEq(a0 - alice.balance, 5 ether, "alice paid all she meant to");
        assertEq(depositedOf(cid, 0), 5 ether, "alice's deposit is whole");
        assertEq(depositedOf(cid, 1), 1, "the dust counts for the hub");
        // The hub's own deposit, expecting its own total (the dust) is still whole too.
        vm.prank(hub);
        adj.deposit{value: 5 ether}(address(0), cid, 1, 1, 5 ether);
        assertEq(depositedOf(cid, 1), 5 ether + 1, "the hub's");
    }

    function test_s16_strangersDustForMeMeansIPayLessAndGetExactlyMyTotal() public {
        bytes32 cid = id(ledgerParams(alice, hub));
        address stranger = address(0x57A);
        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        adj.deposit{value: 7}(address(0), cid, 0, 0, 7);
        uint256 a0 = alice.balance;
        vm.prank(alice);
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.Deposited(cid, address(0), 0, 5 ether - 7, 5 ether);
        adj.deposit{value: 5 ether}(address(0), cid, 0, 0, 5 ether);
        assertEq(a0 - alice.balance, 5 ether - 7, "alice paid only what was missing (the rest refunded)");
        assertEq(depositedOf(cid, 0), 5 ether, "exactly the total alice wanted");
        // Expecting more than one's own deposits reverts with one's own total, whatever the peer holds.
        vm.prank(hub);
        adj.deposit{value: 9 ether}(address(0), cid, 1, 0, 9 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.HeldBelowExpected.selector, 5 ether, 6 ether));
        adj.deposit{value: 1 ether}(address(0), cid, 0, 6 ether, 1 ether);
    }

    function testFuzz_s16_aDepositIsNeverBlockedOrShortenedByOthers(
        uint64 mineBefore,
        uint64 peerBefore,
        uint64 amount,
        uint64 forMe,
        uint64 forPeer
    ) public {
        // Whatever others deposit between reading one's total and one's transaction lands, the deposit succeeds
        // and leaves one's total at exactly max(read + amount, what others brought it to).
        bytes32 cid = id(ledgerParams(alice, hub));
        address stranger = address(0x57A);
        vm.deal(stranger, 100 ether);
        if (mineBefore > 0) {
            vm.prank(alice);
            adj.deposit{value: mineBefore}(address(0), cid, 0, 0, mineBefore);
        }
        if (peerBefore > 0) {
            vm.prank(hub);
            adj.deposit{value: peerBefore}(address(0), cid, 1, 0, peerBefore);
        }
        uint256 expected = depositedOf(cid, 0); // what alice reads
        (uint256 d0, uint256 d1,,,) = adj.holdings(cid, address(0));
        vm.startPrank(stranger);
        adj.deposit{value: forMe}(address(0), cid, 0, d0, forMe);
        adj.deposit{value: forPeer}(address(0), cid, 1, d1, forPeer);
        vm.stopPrank();
        uint256 a0 = alice.balance;
        vm.prank(alice);
        adj.deposit{value: amount}(address(0), cid, 0, expected, amount);
        uint256 want = expected + amount;
        uint256 others = expected + forMe;
        uint256 total = want > others ? want : others;
        assertEq(depositedOf(cid, 0), total, "alice's total");
        assertEq(a0 - alice.balance, total - others, "alice paid only what was missing");
        assertEq(depositedOf(cid, 1), uint256(peerBefore) + forPeer, "the hub's total untouched");
    }
}

import {Voucher as Voucher_, PaymentData as PaymentData_} from "../src/Types.sol";
