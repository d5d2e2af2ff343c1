// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {BondBase} from "./utils/BondBase.sol";
import {IAdjudicator, ChannelParams, State, Signature, Certificate, InvalidParams} from "../src/Types.sol";

/// Outside review 11: S17 griefing bonds, revised (BOND_GRACE = 66, intermediary exception, finals refund).
/// `test_defends_*` pass when the defence holds (A1 was an attack that worked, fixed since); `test_rule_*` pin the
/// contract's rule that A2 met: a state both endpoints signed 66 versions above a registration takes its bond, which
/// is why the nodes sign no move that far above V's registration (`outside_attack_11.rs`).
contract OutsideAttack11 is BondBase {
    function setUp() public override {
        super.setUp();
        bondedV();
    }

    // ================================================================== A1: griefing through an intermediary's account (fixed)

    /// The intermediary exception is keyed on WHO POSTED the bond, not on WHAT was posted. `challenge` accepts an
    /// endpoint-signed state (version >= 2) from any sender, so an intermediary can itself post one. A hub
    /// colluding with alice (or alice running her own hub on the path, a common set-up) registers a state 98
    /// versions stale in which alice has not paid bob; bob answers with the newest co-signed state (v100) and
    /// does NOT get the bond: it goes back to the hub, because "an intermediary never signs endpoint states".
    /// The griefer registered a >= 66-versions-stale state and lost nothing; bob paid ~130k gas plus a bond of his
    /// own for the answer (returned only later by a reclaim: another transaction).
    function test_defends_intermediaryPostingAStaleEndpointStateLosesTheBond() public {
        Certificate memory c = certificate();
        State memory stale = vState(2, 0, false); // alice has paid nothing yet
        Signature[] memory es = endpointSigs(stale); // handed over by alice
        uint256 hub0 = hub.balance;
        vm.prank(hub);
        adj.challenge{value: BOND}(v, stale, es, c);
        assertEq(hub.balance, hub0 - BOND, "hub posted the bond");

        State memory newest = vState(100, 2 ether, false); // 98 versions newer
        Signature[] memory en = endpointSigs(newest);
        uint256 bob0 = bob.balance;
        vm.prank(bob);
        adj.challenge{value: BOND}(v, newest, en, noCert());
        assertEq(hub.balance, hub0 - BOND, "the griefing hub lost its bond: the state it posted is not its own");
        assertEq(bob.balance, bob0, "bob took the hub's bond (and posted his own)");
    }

    /// Contrast for A1: the same registration posted by the endpoint itself loses the bond to bob.
    function test_defends_sameStaleStateFromTheEndpointLosesTheBond() public {
        Certificate memory c = certificate();
        State memory stale = vState(2, 0, false);
        Signature[] memory es = endpointSigs(stale);
        vm.prank(alice);
        adj.challenge{value: BOND}(v, stale, es, c);
        State memory newest = vState(100, 2 ether, false);
        Signature[] memory en = endpointSigs(newest);
        uint256 bob0 = bob.balance;
        vm.prank(bob);
        adj.challenge{value: BOND}(v, newest, en, noCert());
        assertEq(bob.balance, bob0, "bob took alice's bond (paid his own)");
    }

    // ================================================================== A2: honest endpoint loses its bond in V

    /// The V node keeps playing the game off-chain while V is registered (`make_move` / `on_move` do not refuse
    /// while `registered` is set; `current()` only picks the registered state when it is newer). Its
    /// re-registration (`answer_registration_with_newer_state`) fires once per REGISTERED version, i.e. once per
    /// confirmed transaction. So an honest endpoint that registered its newest co-signed state (v3) keeps
    /// countersigning moves; once the co-signed play is 66 moves past the registered version before the chain
    /// catches up (a fast game or bot vs. 12 s blocks and a congested mempool; the other endpoint can simply make
    /// its moves fast and hold back its own re-registration), the other endpoint registers the newest co-signed
    /// state over it and takes the honest endpoint's bond. Nothing stale was ever registered by alice.
    function test_rule_aCoSignedState66AboveARegistrationTakesItsBond() public {
        Certificate memory c = certificate();
        State memory s3 = vState(3, 1 ether, false); // alice's newest co-signed state when she challenges
        Signature[] memory e3 = endpointSigs(s3);
        uint256 alice0 = alice.balance;
        vm.prank(alice);
        adj.challenge{value: BOND}(v, s3, e3, c);
        // ... both nodes go on co-signing moves v4..v69 off-chain (honest behaviour of the node) ...
        State memory s69 = vState(69, 1 ether, false);
        Signature[] memory e69 = endpointSigs(s69);
        uint256 bob0 = bob.balance;
        vm.prank(bob);
        adj.challenge{value: BOND}(v, s69, e69, noCert());
        assertEq(bob.balance, bob0, "bob's bond paid for by alice's");
        (address poster, uint256 amt) = adj.bondOf(vid);
        assertEq(poster, bob, "bob holds the bond");
        assertEq(amt, BOND, "one bond");
        vm.warp(block.timestamp + DURATION + 1);
        adj.reclaimBond(vid);
        assertEq(bob.balance, bob0 + BOND, "bob ends up +1 bond");
        assertEq(alice.balance, alice0 - BOND, "the registration's bond went to the newer state");
    }

    /// Same race with two honest nodes, no attacker: V registered at v (bob's bond), both nodes answer the
    /// registration with their newest co-signed state once it is newer; if play ran 66 moves ahead of the chain,
    /// whichever answer lands first takes the other's bond, and the second answer reverts (gas for nothing).
    function test_rule_twoAnswersOfOneRegistrationRaceAndTheSecondReverts() public {
        Certificate memory c = certificate();
        State memory s2 = vState(2, 1 ether, false);
        Signature[] memory e2 = endpointSigs(s2);
        vm.prank(bob);
        adj.challenge{value: BOND}(v, s2, e2, c);
        uint256 bob0 = bob.balance;
        State memory s70 = vState(70, 1 ether, false);
        Signature[] memory e70 = endpointSigs(s70);
        vm.prank(alice);
        adj.challenge{value: BOND}(v, s70, e70, noCert());
        vm.prank(bob); // bob's own answer of the same registration
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, uint48(70), uint48(70)));
        adj.challenge{value: BOND}(v, s70, e70, noCert());
        assertEq(bob.balance, bob0, "bob's bond went to alice (bob's reverted tx also cost gas)");
    }

    // ================================================================== defences that held

    /// An endpoint cannot also be listed as an intermediary (duplicate participants are refused), so an endpoint
    /// cannot make its own bond look like an intermediary's.
    function test_defends_endpointCannotAlsoBeAnIntermediary() public {
        ChannelParams memory p = v;
        p.participants[1] = alice;
        State memory s = vState(2, 0, false);
        s.channelId = keccak256("x");
        Signature[] memory es = endpointSigs(s);
        Certificate memory c = certificate();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(InvalidParams.selector, uint8(4)));
        adj.challenge{value: BOND}(p, s, es, c);
    }

    /// Ledger: the same poster replacing its own stale state gets its bond back (the paid-to is msg.sender, itself)
    /// — no third party loses anything; the victim's answer can then revert (accepted limit, OA10).
    function test_defends_ledgerGriefer66StaleLosesBondToCheckpoint() public {
        State memory stale = bondedState(1, 0, false);
        Signature[] memory s1 = signAll(stale, pks(ALICE_PK, HUB_PK));
        vm.prank(alice);
        adj.challenge{value: BOND}(lb, stale, s1, noCert());
        State memory n = bondedState(67, 1 ether, false);
        Signature[] memory sn = signAll(n, pks(ALICE_PK, HUB_PK));
        uint256 hub0 = hub.balance;
        vm.prank(hub);
        adj.checkpoint(lb, n, sn);
        assertEq(hub.balance, hub0 + BOND, "checkpoint 66 above takes the stale bond");
    }

    /// Version arithmetic near 2^48: `_bondTo` adds in uint256, no wrap; a bond at the top version is only
    /// reclaimable after finalization.
    function test_defends_versionNearTopDoesNotWrap() public {
        State memory top = bondedState(type(uint48).max - 10, 0, false);
        Signature[] memory st = signAll(top, pks(ALICE_PK, HUB_PK));
        vm.prank(alice);
        adj.challenge{value: BOND}(lb, top, st, noCert());
        State memory n = bondedState(type(uint48).max, 1 ether, false);
        Signature[] memory sn = signAll(n, pks(ALICE_PK, HUB_PK));
        uint256 alice0 = alice.balance;
        vm.prank(hub);
        adj.challenge{value: BOND}(lb, n, sn, noCert());
        assertEq(alice.balance, alice0 + BOND, "within the grace: back to alice, no wrap-around");
    }
}
