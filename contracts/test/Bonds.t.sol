// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {BondBase} from "./utils/BondBase.sol";
import {RefundRefuser} from "./utils/Hostile.sol";
import {IAdjudicator, ChannelParams, State, Signature, Certificate} from "../src/Types.sol";

/// S17, griefing bonds: `challenge` takes `params.challengeBond` in ETH with every registration; the bond goes to
/// whoever registers a state at least `BOND_GRACE` versions newer over it (a replacing challenge, a checkpoint),
/// back to the challenger if a newer state within that reach, or a final, replaces it, or once its state (or the
/// moves made from it) finalized (`reclaimBond`).
contract BondsTest is BondBase {
    function challengeAs(address who, State memory s) internal {
        Signature[] memory ss = bondedSigs(s);
        vm.prank(who);
        adj.challenge{value: BOND}(lb, s, ss, noCert());
    }

    function bond(bytes32 cid) internal view returns (address poster, uint256 amount) {
        return adj.bondOf(cid);
    }

    // ------------------------------------------------------------ taking the bond

    function test_s17_challengeTakesExactlyTheBond() public {
        State memory s = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s);
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.challenge{value: BOND - 1}(lb, s, ss, noCert());
        vm.prank(alice);
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.challenge(lb, s, ss, noCert());
        uint256 before = address(adj).balance;
        challengeAs(alice, s);
        assertEq(address(adj).balance, before + BOND, "the bond is held");
        (address poster, uint256 amount) = bond(lbid);
        assertEq(poster, alice, "the challenger posted it");
        assertEq(amount, BOND, "the whole bond");
    }

    function test_s17_channelWithoutBondRefusesValue() public {
        bytes32 cid = id(l1);
        State memory s = ledgerState(cid, 3, address(0), 5 ether, 5 ether, false);
        Signature[] memory ss = signAll(s, pks(ALICE_PK, HUB_PK));
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.challenge{value: 1}(l1, s, ss, noCert());
        adj.challenge(l1, s, ss, noCert());
        (address poster, uint256 amount) = bond(cid);
        assertEq(poster, address(0), "no bond held");
        assertEq(amount, 0, "nothing");
    }

    function test_s17_bondIsPartOfTheChannelsIdentity() public view {
        ChannelParams memory p = lb;
        p.challengeBond = BOND + 1;
        assertTrue(id(p) != lbid, "another bond is another channel");
    }

    // ------------------------------------------------------------ the challenger's state finalizes

    function test_s17_bondReturnsToTheChallengerWhenItsStateFinalizes() public {
        challengeAs(alice, bondedState(3, 1 ether, false));
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.reclaimBond(lbid);
        vm.warp(block.timestamp + DURATION);
        uint256 before = alice.balance;
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.BondPaid(lbid, alice, BOND);
        vm.prank(bob); // anyone may send it; the challenger is paid
        adj.reclaimBond(lbid);
        assertEq(alice.balance, before + BOND, "the challenger got its bond back");
        vm.expectRevert(IAdjudicator.NoBond.selector);
        adj.reclaimBond(lbid);
        // The channel's own funds are untouched by the bond.
        adj.withdraw(lb, bondedState(3, 1 ether, false));
        assertEq(address(adj).balance, 10 ether + 10 ether, "only L1 and L2 remain");
    }

    function test_s17_noBondNoReclaim() public {
        bytes32 cid = id(l1);
        State memory s = ledgerState(cid, 3, address(0), 5 ether, 5 ether, false);
        adj.challenge(l1, s, signAll(s, pks(ALICE_PK, HUB_PK)), noCert());
        vm.warp(block.timestamp + DURATION);
        vm.expectRevert(IAdjudicator.NoBond.selector);
        adj.reclaimBond(cid);
    }

    // ------------------------------------------------------------ a newer state replaces it

    function test_s17_newerChallengeTakesTheStaleChallengersBond() public {
        uint48 newer = uint48(3 + adj.BOND_GRACE());
        challengeAs(alice, bondedState(3, 1 ether, false)); // stale: the hub holds a state BOND_GRACE versions newer
        uint256 hubBefore = hub.balance;
        challengeAs(hub, bondedState(newer, 2 ether, false));
        assertEq(hub.balance, hubBefore - BOND + BOND, "the hub posted its bond and took alice's");
        (address poster,) = bond(lbid);
        assertEq(poster, hub, "the hub's bond now stands");
        vm.warp(block.timestamp + DURATION);
        adj.reclaimBond(lbid);
        assertEq(hub.balance, hubBefore + BOND, "the hub ends one bond richer");
    }

    function test_s17_newerStateWithinTheGraceReturnsTheBondToItsPoster() public {
        // Alice may have signed up to BOND_GRACE - 1 newer states she never got back (her proposals in flight).
        uint48 within = uint48(3 + adj.BOND_GRACE() - 1);
        challengeAs(alice, bondedState(3, 1 ether, false));
        uint256 aliceBefore = alice.balance;
        uint256 hubBefore = hub.balance;
        challengeAs(hub, bondedState(within, 2 ether, false));
        assertEq(alice.balance, aliceBefore + BOND, "alice's bond came back");
        assertEq(hub.balance, hubBefore - BOND, "the hub posted its own and took nothing");
        State memory s = bondedState(within + 1, 2 ether, false);
        Signature[] memory ss = bondedSigs(s);
        hubBefore = hub.balance;
        vm.prank(alice);
        adj.checkpoint(lb, s, ss);
        assertEq(hub.balance, hubBefore + BOND, "a checkpoint one version newer returns the hub's bond to it");
    }

    function test_s17_checkpointTakesTheBond() public {
        challengeAs(alice, bondedState(3, 1 ether, false));
        State memory s4 = bondedState(uint48(3 + adj.BOND_GRACE()), 2 ether, false);
        Signature[] memory ss = bondedSigs(s4);
        uint256 hubBefore = hub.balance;
        vm.expectEmit(true, true, false, true, address(adj));
        emit IAdjudicator.BondPaid(lbid, hub, BOND);
        vm.prank(hub);
        adj.checkpoint(lb, s4, ss);
        assertEq(hub.balance, hubBefore + BOND, "the answering hub took the bond");
        (address poster,) = bond(lbid);
        assertEq(poster, address(0), "nothing held");
    }

    function test_s17_aFinalReturnsTheBondToItsPoster() public {
        // A final is the agreed end: the challenger may have signed it while its last signature was withheld.
        challengeAs(alice, bondedState(3, 1 ether, false));
        State memory fin = bondedState(200, 2 ether, true);
        Signature[] memory ss = bondedSigs(fin);
        uint256 aliceBefore = alice.balance;
        uint256 hubBefore = hub.balance;
        vm.prank(hub);
        adj.concludeAndWithdraw(lb, fin, ss);
        assertEq(alice.balance, aliceBefore + BOND + 3 ether, "alice got her bond back and her balance");
        assertEq(hub.balance, hubBefore + 7 ether, "the hub its balance");
        vm.expectRevert(IAdjudicator.NoBond.selector);
        adj.reclaimBond(lbid);
    }

    function test_s17_checkpointWithoutAChallengeLeavesNothingToTake() public {
        State memory s4 = bondedState(4, 2 ether, false);
        uint256 before = address(adj).balance;
        adj.checkpoint(lb, s4, bondedSigs(s4));
        assertEq(address(adj).balance, before, "no bond moved");
    }

    function test_s17_bondToARecipientThatRefusesEthIsCredited() public {
        RefundRefuser refuser = new RefundRefuser();
        vm.deal(address(refuser), 1 ether);
        State memory s3 = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s3);
        vm.prank(address(refuser));
        adj.challenge{value: BOND}(lb, s3, ss, noCert());
        vm.warp(block.timestamp + DURATION);
        adj.reclaimBond(lbid);
        assertEq(adj.credit(address(0), address(refuser)), BOND, "credited, not lost");
    }

    // ------------------------------------------------------------ virtual channels

    /// A's own payment move on top of `from` (a mover may always pay the other on its own signature).
    function payMove(State memory from, uint256 paidA) internal view returns (State memory to) {
        to = vState(from.version + 1, paidA, false);
    }

    function test_s17_movesFromTheBondedStateKeepTheBond() public {
        bondedV();
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory es = endpointSigs(s5);
        Certificate memory c = certificate();
        vm.prank(bob);
        adj.challenge{value: BOND}(v, s5, es, c);
        State memory s6 = payMove(s5, 1.5 ether);
        adj.progress(v, s5, s6, 0, signState(s6, ALICE_PK));
        (address poster,) = bond(vid);
        assertEq(poster, bob, "a move is not a newer signed state: the bond stays");
        vm.warp(block.timestamp + 2 * DURATION);
        uint256 before = bob.balance;
        adj.reclaimBond(vid);
        assertEq(bob.balance, before + BOND, "the challenger's line finalized");
    }

    function test_s17_finalOfVOverAnEndpointRegisteredStateReturnsTheBond() public {
        bondedV();
        State memory s9 = vState(9, 0, false); // the endpoints collude: A "never paid"
        Signature[] memory es = endpointSigs(s9);
        Certificate memory c = certificate();
        vm.prank(alice);
        adj.challenge{value: BOND}(v, s9, es, c);
        State memory fin = vState(7, 2 ether, true);
        Signature[] memory all = signAll(fin, pks(ALICE_PK, HUB_PK, BOB_PK));
        uint256 before = alice.balance;
        vm.prank(hub);
        adj.conclude(v, fin, all);
        assertEq(alice.balance, before + BOND, "a final returns the bond to its poster");
    }

    function test_s17_bondedChallengeOfVNeedsTheBondToo() public {
        bondedV();
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory es = endpointSigs(s5);
        Certificate memory c = certificate();
        vm.expectRevert(IAdjudicator.WrongValue.selector);
        adj.challenge(v, s5, es, c);
    }
}
