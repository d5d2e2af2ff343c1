// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {VirtualBase} from "./utils/VirtualBase.sol";
import {Adjudicator} from "../src/Adjudicator.sol";
import {IAdjudicator} from "../src/Types.sol";
import {InvalidParams, WrongSigner} from "../src/Types.sol";
import {
    ChannelParams,
    State,
    Outcome,
    AssetOutcome,
    Signature,
    SubAlloc,
    LeafProof,
    Certificate,
    PaymentData,
    GameData,
    Voucher
} from "../src/Types.sol";

/// Virtual channels A–I–B over two ledger channels: certificates, S3, challenges, progress and claims.
contract VirtualTest is VirtualBase {
    // ------------------------------------------------------------ S9 claims

    function test_s9_claimPaysLeafByVirtualOutcomeAndHubBreaksEven() public {
        (State memory s1, State memory s2) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(2 ether); // A ends with 1, B with 3
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        uint256 b0 = bob.balance;
        adj.claim(l1, s1, leaf, proof, v, fin);
        adj.claim(l2, s2, leaf, proof, v, fin);
        assertEq(alice.balance - a0, 1 ether, "A's final balance from L1");
        assertEq(bob.balance - b0, 3 ether, "B's final balance from L2");
        assertEq(hub.balance - h0, LEAF, "hub gets back exactly what it locked (1 + 3)");
        adj.withdraw(l1, s1);
        adj.withdraw(l2, s2);
        assertEq(address(adj).balance, 0, "every wei paid out exactly once");
    }

    /// L1 holding V's leaf with A's routing fee for the hub in it: alice put in A's 3 + the fee, the hub B's 1.
    function finalizeL1WithFeeLeaf(uint256 fee) internal returns (SubAlloc memory feeLeaf, LeafProof memory feeProof, State memory s1) {
        feeLeaf = leafWithFee(vid, LEAF, fee);
        bytes32 feeRoot;
        (feeRoot, feeProof) = singleLeafTree(feeLeaf);
        s1 = ledgerStateFull(
            id(l1), 3, address(0), u2(2 ether - fee, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF + fee, feeRoot, true
        );
        adj.conclude(l1, s1, signAll(s1, pks(ALICE_PK, HUB_PK)));
    }

    function test_s9_claimPaysTheRoutingFeeInTheLeafToTheHubOnceVGotPastItsPreFund() public {
        (SubAlloc memory feeLeaf, LeafProof memory feeProof, State memory s1) = finalizeL1WithFeeLeaf(0.1 ether);
        State memory fin = concludeV(2 ether); // A ends with 1, B with 3
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.claim(l1, s1, feeLeaf, feeProof, v, fin);
        assertEq(alice.balance - a0, 1 ether, "A's final balance");
        assertEq(hub.balance - h0, 3 ether + 0.1 ether, "B's side of V and the fee");
        adj.withdraw(l1, s1);
        assertEq(address(adj).balance, 5 ether + 5 ether, "only L2's funds are left");
    }

    function test_s9_claimGivesTheRoutingFeeBackWhenVFinalizedByItsPreFund() public {
        // The open never completed: V is final on-chain by its pre-fund, so the hub earned no fee.
        (SubAlloc memory feeLeaf, LeafProof memory feeProof, State memory s1) = finalizeL1WithFeeLeaf(0.1 ether);
        State memory pre = vState(0, 0, false);
        adj.challenge(v, pre, signAll(pre, pks(ALICE_PK, HUB_PK, BOB_PK)), noCert());
        (, uint48 deadline,,,,) = adj.statusOf(vid);
        vm.warp(deadline);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.claim(l1, s1, feeLeaf, feeProof, v, pre);
        assertEq(alice.balance - a0, 3 ether + 0.1 ether, "A's contribution and the fee back");
        assertEq(hub.balance - h0, 1 ether, "the hub's contribution back, no fee");
    }

    function test_s9_claimRejectsAFeeAboveTheLeaf() public {
        SubAlloc memory bad = leafFor(vid, 1 ether);
        bad.fee = 1 ether + 1;
        (bytes32 badRoot, LeafProof memory badProof) = singleLeafTree(bad);
        State memory s1 =
            ledgerStateFull(id(l1), 3, address(0), u2(4 ether, 5 ether), u2(5 ether, 5 ether), u2(0, 0), 1 ether, badRoot, true);
        adj.conclude(l1, s1, signAll(s1, pks(ALICE_PK, HUB_PK)));
        State memory fin = concludeV(0);
        vm.expectRevert(IAdjudicator.LeafMismatch.selector);
        adj.claim(l1, s1, bad, badProof, v, fin);
    }

    function test_s9_claimWorksWithLedgerParticipantsInEitherOrder() public {
        // A path in the other direction over the same ledgers: [bob, hub, alice].
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l2);
        hops[1] = id(l1);
        ChannelParams memory back = virtualParams(addrs(bob, hub, alice), hops, address(payApp), 10);
        SubAlloc memory backLeaf = leafFor(id(back), 2 ether);
        (bytes32 backRoot, LeafProof memory backProof) = singleLeafTree(backLeaf);
        State memory s2 =
            ledgerStateFull(id(l2), 3, address(0), u2(4 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), 2 ether, backRoot, true);
        adj.conclude(l2, s2, signAll(s2, pks(HUB_PK, BOB_PK)));
        State memory fin = virtualState(id(back), 5, 3, 0.5 ether, 1.5 ether, "", true);
        adj.conclude(back, fin, signAll(fin, pks(BOB_PK, HUB_PK, ALICE_PK)));
        uint256 b0 = bob.balance;
        adj.claim(l2, s2, backLeaf, backProof, back, fin);
        assertEq(bob.balance - b0, 0.5 ether, "bob stands for A's side of this V in L2");
    }

    function test_s9_claimRejectsLedgerNotOnPath() public {
        ChannelParams memory other = ledgerParams(alice, hub2);
        fundEth(id(other), 1 ether, 1 ether, alice, hub2);
        State memory so = ledgerStateFull(id(other), 3, address(0), u2(0, 0), u2(1 ether, 1 ether), u2(0, 0), 2 ether, root, true);
        adj.conclude(other, so, signAll(so, pks(ALICE_PK, HUB2_PK)));
        State memory fin = concludeV(0);
        vm.expectRevert(IAdjudicator.LedgerNotOnPath.selector);
        adj.claim(other, so, leaf, proof, v, fin);
    }

    function test_s9_claimRejectsHopWhoseParticipantsAreNotThePathMembers() public {
        // V names a ledger between alice and bob as the hop between alice and the hub.
        ChannelParams memory ab = ledgerParams(alice, bob);
        fundEth(id(ab), 4 ether, 0, alice, bob);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(ab);
        hops[1] = id(l2);
        ChannelParams memory bad = virtualParams(addrs(alice, hub, bob), hops, address(0), 0);
        SubAlloc memory badLeaf = leafFor(id(bad), 4 ether);
        (bytes32 badRoot, LeafProof memory badProof) = singleLeafTree(badLeaf);
        State memory sab =
            ledgerStateFull(id(ab), 3, address(0), u2(0, 0), u2(4 ether, 0), u2(0, 0), 4 ether, badRoot, true);
        adj.conclude(ab, sab, signAll(sab, pks(ALICE_PK, BOB_PK)));
        State memory fin = virtualState(id(bad), 4, 3, 0, 4 ether, "", true);
        adj.conclude(bad, fin, signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK)));
        vm.expectRevert(IAdjudicator.LedgerNotOnPath.selector);
        adj.claim(ab, sab, badLeaf, badProof, bad, fin);
    }

    function test_s9_doubleClaimRejected() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        adj.claim(l1, s1, leaf, proof, v, fin);
        vm.expectRevert(IAdjudicator.AlreadyClaimed.selector);
        adj.claim(l1, s1, leaf, proof, v, fin);
        assertTrue(adj.isClaimed(id(l1), 0), "slot marked");
    }

    function test_s9_claimRejectsBadProofAndForeignLeaf() public {
        (State memory s1,) = finalizeLedgersWithLeaf();
        State memory fin = concludeV(1 ether);
        LeafProof memory wrong = LeafProof(1, new bytes32[](0));
        vm.expectRevert(IAdjudicator.InvalidProof.selector);
        adj.claim(l1, s1, leaf, wrong, v, fin);
        SubAlloc memory inflated = leafFor(vid, LEAF * 2);
        vm.expectRevert(IAdjudicator.InvalidProof.selector);
        adj.claim(l1, s1, inflated, proof, v, fin);
        SubAlloc memory foreign = leafFor(keccak256("other"), LEAF);
        vm.expectRevert(IAdjudicator.LeafMismatch.selector);
        adj.claim(l1, s1, foreign, proof, v, fin);
    }

    function test_s9_claimRequiresBothChannelsFinalized() public {
        State memory s1 =
            ledgerStateFull(id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, root, false);
        adj.challenge(l1, s1, signAll(s1, pks(ALICE_PK, HUB_PK)), noCert());
        State memory fin = vState(7, 1 ether, true);
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.claim(l1, s1, leaf, proof, v, fin);
        vm.warp(block.timestamp + DURATION);
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.claim(l1, s1, leaf, proof, v, fin);
        adj.conclude(v, fin, signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK)));
        adj.claim(l1, s1, leaf, proof, v, fin);
    }

    function test_s9_ledgerFundedWithOneWeiCannotClaimOtherChannelsFunds() public {
        // The attacker controls both ends of a ledger funded with 1 wei and of a V through it; its leaf says
        // 1,000 ether. The adjudicator holds 20 ether of honest channels (setUp) plus 1,000 more.
        uint256 m1 = 0xA77AC;
        uint256 m2 = 0xA77AD;
        uint256 m3 = 0xA77AE;
        address x1 = vm.addr(m1);
        address x2 = vm.addr(m2);
        address x3 = vm.addr(m3);
        vm.deal(x1, 1);
        vm.deal(hub2, 2_000 ether);
        ChannelParams memory victim = ledgerParams(hub2, bob);
        fundEth(id(victim), 1_000 ether, 0, hub2, bob);
        ChannelParams memory lx = ledgerParams(x1, x2);
        vm.prank(x1);
        adj.deposit{value: 1}(address(0), id(lx), 0, 0, 1);
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(lx);
        hops[1] = keccak256("elsewhere");
        ChannelParams memory vx = virtualParams(addrs(x1, x2, x3), hops, address(0), 0);
        SubAlloc memory big = leafFor(id(vx), 1_000 ether);
        (bytes32 bigRoot, LeafProof memory bigProof) = singleLeafTree(big);
        // A state that claims the attacker deposited 1,000 ether (signed by both attacker keys).
        State memory sx =
            ledgerStateFull(id(lx), 2, address(0), u2(0, 0), u2(1_000 ether, 0), u2(0, 0), 1_000 ether, bigRoot, true);
        adj.conclude(lx, sx, signAll(sx, pks(m1, m2)));
        State memory fin = virtualState(id(vx), 3, 3, 1_000 ether, 0, "", true);
        adj.conclude(vx, fin, signAll(fin, pks(m1, m2, m3)));
        uint256 before = address(adj).balance;
        vm.expectRevert(IAdjudicator.ClaimExceedsHeld.selector);
        adj.claim(lx, sx, big, bigProof, vx, fin);
        assertEq(address(adj).balance, before, "no one else's funds moved");
    }

    function test_s9_claimsCannotExceedLocked() public {
        // Two leaves for V's id at two slots (a ledger state the signers should never agree to): the second
        // claim would exceed the ledger's locked amount.
        bytes32 l = keccak256(abi.encodePacked(bytes1(0x00), abi.encode(leaf.channelId, leaf.amounts, leaf.fee)));
        bytes32 twoRoot = node(l, l);
        bytes32 z = 0;
        for (uint256 level = 1; level < 32; level++) {
            z = node(z, z);
            twoRoot = node(twoRoot, z);
        }
        State memory s1 = ledgerStateFull(
            id(l1), 3, address(0), u2(2 ether, 4 ether), u2(5 ether, 5 ether), u2(0, 0), LEAF, twoRoot, true
        );
        adj.conclude(l1, s1, signAll(s1, pks(ALICE_PK, HUB_PK)));
        State memory fin = concludeV(0);
        bytes32[] memory sib = new bytes32[](1);
        sib[0] = l;
        adj.claim(l1, s1, leaf, LeafProof(0, sib), v, fin);
        vm.expectRevert(IAdjudicator.ClaimExceedsLocked.selector);
        adj.claim(l1, s1, leaf, LeafProof(1, sib), v, fin);
    }

    // ------------------------------------------------------------ S2 path

    function test_s2_loopingPathRejected() public {
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = keccak256("back");
        ChannelParams memory loop = virtualParams(addrs(alice, hub, alice), hops, address(0), 0);
        State memory s = virtualState(id(loop), 0, 3, 1, 0, "", false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK, ALICE_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 4));
        adj.challenge(loop, s, sigs, noCert());
    }

    function test_s2_hopsMustMatchPathAndBeDistinct() public {
        bytes32[] memory one = new bytes32[](1);
        one[0] = id(l1);
        ChannelParams memory short = virtualParams(addrs(alice, hub, bob), one, address(0), 0);
        State memory s = virtualState(id(short), 0, 3, 1, 0, "", false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 5));
        adj.challenge(short, s, sigs, noCert());
        bytes32[] memory same = new bytes32[](2);
        same[0] = id(l1);
        same[1] = id(l1);
        ChannelParams memory twice = virtualParams(addrs(alice, hub, bob), same, address(0), 0);
        State memory s2 = virtualState(id(twice), 0, 3, 1, 0, "", false);
        Signature[] memory sigs2 = signAll(s2, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, 6));
        adj.challenge(twice, s2, sigs2, noCert());
    }

    function test_s2_virtualStateMayNotHostSubChannels() public {
        State memory s = vState(1, 0, false);
        s.outcome.subRoot = root;
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(abi.encodeWithSignature("InvalidOutcome(uint256)", 4));
        adj.challenge(v, s, sigs, noCert());
    }

    // ------------------------------------------------------------ S4 who signs

    function test_s4_endpointSignedStateNeedsTheCertificate() public {
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory sigs = endpointSigs(s5);
        vm.expectRevert(IAdjudicator.MissingCertificate.selector);
        adj.challenge(v, s5, sigs, noCert());
        adj.challenge(v, s5, sigs, certificate());
        (uint48 version,,,, bool certified,) = adj.statusOf(vid);
        assertEq(version, 5, "registered");
        assertTrue(certified, "certified");
        // Once certified on-chain, a newer endpoint-signed state needs only the endpoints.
        State memory s6 = vState(6, 2 ether, false);
        adj.challenge(v, s6, endpointSigs(s6), noCert());
    }

    function test_s4_certificateMustBeWholePathPostFund() public {
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory sigs = endpointSigs(s5);
        Certificate memory c = certificate();
        c.sigs[1] = signState(c.state, HUB2_PK);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 1));
        adj.challenge(v, s5, sigs, c);
        State memory pre = vState(0, 0, false);
        Certificate memory preCert = Certificate(pre, signAll(pre, pks(ALICE_PK, HUB_PK, BOB_PK)));
        vm.expectRevert(IAdjudicator.InvalidCertificate.selector);
        adj.challenge(v, s5, sigs, preCert);
    }

    function test_s4_finalOfVirtualNeedsTheWholePath() public {
        State memory fin = vState(7, 1 ether, true);
        Signature[] memory endpoints = endpointSigs(fin);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 2));
        adj.conclude(v, fin, endpoints);
    }

    function test_s4_twoConflictingFinalsCannotBothComplete() public {
        State memory f1 = vState(7, 1 ether, true);
        State memory f2 = vState(7, 2 ether, true);
        adj.conclude(v, f1, signAll(f1, pks(ALICE_PK, HUB_PK, BOB_PK)));
        Signature[] memory sigs2 = signAll(f2, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.conclude(v, f2, sigs2);
    }

    // ------------------------------------------------------------ S3 conservation

    function test_s3_stateBreakingConservationRejected() public {
        State memory more = vState(5, 0, false);
        more.outcome.assets[0].balances = u3(A_FUNDS, 0, B_FUNDS + 1);
        more.outcome.assets[0].deposited = u3(A_FUNDS, 0, B_FUNDS + 1);
        Signature[] memory sigs = endpointSigs(more);
        Certificate memory c = certificate();
        vm.expectRevert(IAdjudicator.ConservationViolated.selector);
        adj.challenge(v, more, sigs, c);
        State memory hubPaid = vState(5, 0, false);
        hubPaid.outcome.assets[0].balances = u3(A_FUNDS - 1, 1, B_FUNDS);
        Signature[] memory sigs2 = endpointSigs(hubPaid);
        vm.expectRevert(IAdjudicator.ConservationViolated.selector);
        adj.challenge(v, hubPaid, sigs2, c);
    }

    // ------------------------------------------------------------ S5 virtual challenges

    function test_s5_endpointsCannotKeepVirtualOpenForever() public {
        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, endpointSigs(s5), certificate());
        (, uint48 deadline,,,,) = adj.statusOf(vid);
        for (uint48 ver = 6; ver < 12; ver++) {
            vm.warp(block.timestamp + DURATION / 10);
            State memory s = vState(ver, 1 ether, false);
            adj.challenge(v, s, endpointSigs(s), noCert());
        }
        (, uint48 after_,,,,) = adj.statusOf(vid);
        assertEq(after_, deadline, "replacements never move the deadline");
        vm.warp(deadline);
        State memory late = vState(20, 1 ether, false);
        Signature[] memory sigs = endpointSigs(late);
        vm.expectRevert(IAdjudicator.ChannelFinalized.selector);
        adj.challenge(v, late, sigs, noCert());
    }

    function test_s5_virtualChannelHasNoCheckpoint() public {
        State memory s = vState(1, 0, false);
        Signature[] memory sigs = signAll(s, pks(ALICE_PK, HUB_PK, BOB_PK));
        vm.expectRevert(IAdjudicator.WrongKind.selector);
        adj.checkpoint(v, s, sigs);
    }

    function test_s5_repeatedStaleChallengesAreRejected() public {
        State memory s6 = vState(6, 2 ether, false);
        adj.challenge(v, s6, endpointSigs(s6), certificate());
        for (uint48 ver = 2; ver <= 6; ver++) {
            State memory stale = vState(ver, 1 ether, false);
            Signature[] memory sigs = endpointSigs(stale);
            vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, ver, 6));
            adj.challenge(v, stale, sigs, noCert());
        }
    }

    // ------------------------------------------------------------ S7 progress (payment app)

    function voucherSig(uint256 payerPk, address payer, uint256 amount) internal view returns (Signature memory) {
        bytes32 d = harness.voucherDigest(Voucher(vid, payer, address(0), amount), block.chainid, address(adj));
        (uint8 vv, bytes32 r, bytes32 s) = vm.sign(payerPk, d);
        return Signature(vv, r, s);
    }

    /// B turns A's voucher for `total` into a move on top of `from`.
    function voucherMove(State memory from, uint256 total) internal view returns (State memory to) {
        to = vState(from.version + 1, total, false);
        uint256[] memory f = new uint256[](1);
        uint256[] memory l = new uint256[](1);
        f[0] = total;
        Signature[] memory vs = new Signature[](1);
        vs[0] = voucherSig(ALICE_PK, alice, total);
        to.appData = abi.encode(PaymentData(f, l, vs));
    }

    function test_s7_payeeRedeemsVoucherThroughProgress() public {
        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, endpointSigs(s5), certificate());
        (, uint48 deadline,,,,) = adj.statusOf(vid);
        vm.warp(block.timestamp + DURATION - 1);
        State memory s6 = voucherMove(s5, 2.5 ether);
        adj.progress(v, s5, s6, 2, signState(s6, BOB_PK));
        (uint48 version, uint48 deadline2, uint8 movesFirst, uint8 movesLast,,) = adj.statusOf(vid);
        assertEq(version, 6, "move registered");
        assertEq(movesFirst, 0, "A made no move");
        assertEq(movesLast, 1, "B's one move");
        assertTrue(deadline2 > deadline, "a move extends the deadline");
        vm.warp(deadline2);
        (State memory s1, State memory s2) = finalizeLedgersWithLeaf();
        uint256 b0 = bob.balance;
        adj.claim(l2, s2, leaf, proof, v, s6);
        assertEq(bob.balance - b0, B_FUNDS + 2.5 ether, "B is paid by the voucher");
        adj.claim(l1, s1, leaf, proof, v, s6);
    }

    function test_s7_progressRejectsVoucherlessTheftWrongMoverAndFinals() public {
        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, endpointSigs(s5), certificate());
        // B moves A's money without a voucher.
        State memory theft = vState(6, 2 ether, false);
        Signature[] memory noVouchers = new Signature[](0);
        uint256[] memory f = new uint256[](1);
        f[0] = 2 ether;
        theft.appData = abi.encode(PaymentData(f, new uint256[](1), noVouchers));
        Signature memory bobSig = signState(theft, BOB_PK);
        vm.expectRevert(IAdjudicator.InvalidTransition.selector);
        adj.progress(v, s5, theft, 2, bobSig);
        // The hub is not an endpoint.
        State memory s6 = voucherMove(s5, 2 ether);
        Signature memory hubSig = signState(s6, HUB_PK);
        vm.expectRevert(IAdjudicator.InvalidParticipant.selector);
        adj.progress(v, s5, s6, 1, hubSig);
        // Signed by someone other than the mover.
        Signature memory aliceSig = signState(s6, ALICE_PK);
        vm.expectRevert(abi.encodeWithSelector(WrongSigner.selector, 2));
        adj.progress(v, s5, s6, 2, aliceSig);
        // A move is never final.
        State memory fin = voucherMove(s5, 2 ether);
        fin.isFinal = true;
        Signature memory finSig = signState(fin, BOB_PK);
        vm.expectRevert(IAdjudicator.FinalityMismatch.selector);
        adj.progress(v, s5, fin, 2, finSig);
        // The version steps by exactly one.
        State memory skip = voucherMove(s5, 2 ether);
        skip.version = 7;
        Signature memory skipSig = signState(skip, BOB_PK);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, 7, 5));
        adj.progress(v, s5, skip, 2, skipSig);
        // From a state that is not the registered one.
        State memory other = vState(5, 0, false);
        Signature memory okSig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.FingerprintMismatch.selector);
        adj.progress(v, other, s6, 2, okSig);
    }

    function test_s7_progressStopsAfterMaxMoves() public {
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        v = virtualParams(addrs(alice, hub, bob), hops, address(payApp), 1);
        vid = id(v);
        State memory s5 = vState(5, 1 ether, false);
        adj.challenge(v, s5, endpointSigs(s5), certificate());
        State memory s6 = voucherMove(s5, 2 ether);
        adj.progress(v, s5, s6, 2, signState(s6, BOB_PK));
        State memory s7 = voucherMove(s6, 2.5 ether);
        Signature memory sig7 = signState(s7, BOB_PK);
        vm.expectRevert(IAdjudicator.TooManyMoves.selector);
        adj.progress(v, s6, s7, 2, sig7);
    }

    function test_s7_progressNeedsPendingChallenge() public {
        State memory s5 = vState(5, 1 ether, false);
        State memory s6 = voucherMove(s5, 2 ether);
        Signature memory sig = signState(s6, BOB_PK);
        vm.expectRevert(IAdjudicator.NoPendingChallenge.selector);
        adj.progress(v, s5, s6, 2, sig);
    }

    // ------------------------------------------------------------ S7 progress (game app)

    function gameState(uint48 version, uint256 a, uint256 b, GameData memory g) internal view returns (State memory s) {
        s = virtualState(vid, version, 3, a, b, abi.encode(g), false);
        s.outcome.assets[0].deposited = u3(A_FUNDS, 0, B_FUNDS);
    }

    function test_s7_rockPaperScissorsRoundOnChain() public {
        bytes32[] memory hops = new bytes32[](2);
        hops[0] = id(l1);
        hops[1] = id(l2);
        v = virtualParams(addrs(alice, hub, bob), hops, address(rps), 10);
        vid = id(v);
        GameData memory ready = GameData(0, 0, 0, 0, 0, 0);
        State memory post = gameState(1, A_FUNDS, B_FUNDS, ready);
        adj.challenge(v, post, signAll(post, pks(ALICE_PK, HUB_PK, BOB_PK)), noCert());
        bytes32 salt = keccak256("salt");
        bytes32 commitment = keccak256(abi.encode(uint8(2), salt)); // paper
        State memory c = gameState(2, A_FUNDS, B_FUNDS, GameData(1, 0.5 ether, commitment, 0, 0, 0));
        adj.progress(v, post, c, 0, signState(c, ALICE_PK));
        State memory played = gameState(3, A_FUNDS - 0.5 ether, B_FUNDS + 0.5 ether, GameData(2, 0.5 ether, commitment, 1, 0, 0));
        adj.progress(v, c, played, 2, signState(played, BOB_PK));
        // A reveals paper against rock: wins the stake.
        State memory bad = gameState(4, A_FUNDS + 0.5 ether, B_FUNDS - 0.5 ether, GameData(0, 0.5 ether, commitment, 1, 3, salt));
        Signature memory badSig = signState(bad, ALICE_PK);
        vm.expectRevert(IAdjudicator.InvalidTransition.selector);
        adj.progress(v, played, bad, 0, badSig);
        State memory revealed = gameState(4, A_FUNDS + 0.5 ether, B_FUNDS - 0.5 ether, GameData(0, 0.5 ether, commitment, 1, 2, salt));
        adj.progress(v, played, revealed, 0, signState(revealed, ALICE_PK));
        (uint48 version,, uint8 movesFirst, uint8 movesLast,,) = adj.statusOf(vid);
        assertEq(version, 4, "three moves");
        assertEq(movesFirst, 2, "A committed and revealed");
        assertEq(movesLast, 1, "B played");
    }
}
