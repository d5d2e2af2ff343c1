// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {BondBase} from "./utils/BondBase.sol";
import {
    IAdjudicator, ChannelParams, State, Signature, Certificate, PaymentData, Voucher
} from "../src/Types.sol";

/// Outside review 10: S17 griefing bonds. `test_defends_*` pass when the defence holds (the first one was an attack
/// that worked, fixed since); `test_limit_*` pin down what S17 accepts, recorded in SECURITY.md: the griefer still
/// pays a transaction for each of its steps, more than its victim.
contract OutsideAttack10 is BondBase {
    function setUp() public override {
        super.setUp();
        bondedV();
    }

    // ======================================================================= the attack that worked, fixed

    /// An honest intermediary has only V's certificate (version 1): it never sees the endpoints' states. When its
    /// ledger goes on-chain with V's leaf its node challenges V with the certificate, posting the bond
    /// (`challenge_when_ledger_onchain`). An endpoint answering with its latest endpoint-signed state took the
    /// hub's bond, though the hub signed nothing newer. Now an intermediary's bond replaced by the endpoints' state
    /// goes back to it.
    function test_defends_honestHubGetsItsBondBackWhenTheEndpointsRegisterTheirState() public {
        Certificate memory c = certificate();
        uint256 hub0 = hub.balance;
        uint256 bob0 = bob.balance;
        // the hub registers the newest state it holds: V's post-fund
        vm.prank(hub);
        adj.challenge{value: BOND}(v, c.state, c.sigs, noCert());
        // bob registers the endpoints' latest state (no hub signature on it)
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory es = endpointSigs(s5);
        vm.prank(bob);
        adj.challenge{value: BOND}(v, s5, es, c);
        assertEq(hub.balance, hub0, "the hub's bond came back to it");
        vm.warp(block.timestamp + DURATION + 1);
        adj.reclaimBond(vid);
        assertEq(bob.balance, bob0, "bob's own bond came back, nothing of the hub's");
    }

    // ======================================================================= accepted limits

    /// A stale challenger loses nothing if it answers itself first: alice registers a stale state (v1), then, seeing
    /// the hub's answer coming, replaces it with the latest state (v3) herself. Her stale bond comes back to her,
    /// the hub's answer reverts (it paid gas for nothing), her v3 bond finalizes and she reclaims it.
    function test_limit_staleChallengerRecoversBondBySelfAnswering() public {
        uint256 alice0 = alice.balance;
        State memory stale = bondedState(1, 0, false);
        State memory latest = bondedState(3, 1 ether, false);
        Signature[] memory s1 = bondedSigs(stale);
        Signature[] memory s3 = bondedSigs(latest);
        vm.prank(alice);
        adj.challenge{value: BOND}(lb, stale, s1, noCert());
        vm.prank(alice); // front-runs the hub's answer
        adj.challenge{value: BOND}(lb, latest, s3, noCert());
        vm.prank(hub); // the hub's answer: reverts, gas wasted
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, uint48(3), uint48(3)));
        adj.challenge{value: BOND}(lb, latest, s3, noCert());
        vm.warp(block.timestamp + DURATION + 1);
        adj.reclaimBond(lbid);
        assertEq(alice.balance, alice0, "griefer paid no bond for its stale challenge");
    }

    /// The same in V without any front-running: alice registers a stale state (v3, paid 1 ether), then makes
    /// her own progress moves (each paying bob 1 wei, no voucher needed) until the registered version passes bob's
    /// latest (v5, paid 2 ether). Bob's challenge with v5 now reverts; he can only redeem by a progress move (the
    /// voucher), which keeps alice's bond. V finalizes and alice reclaims the bond of her stale challenge.
    function test_limit_staleChallengerInVKeepsBondByLeapfroggingMoves() public {
        uint256 alice0 = alice.balance;
        Certificate memory c = certificate();
        State memory s3 = vState(3, 1 ether, false);
        Signature[] memory e3 = endpointSigs(s3);
        vm.prank(alice);
        adj.challenge{value: BOND}(v, s3, e3, c);
        State memory from = s3;
        for (uint48 ver = 4; ver <= 5; ver++) {
            State memory to = vState(ver, 1 ether + (ver - 3), false);
            vm.prank(alice);
            adj.progress(v, from, to, 0, signState(to, ALICE_PK));
            from = to;
        }
        // bob's latest state v5 (2 ether paid) is no longer registrable
        State memory b5 = vState(5, 2 ether, false);
        Signature[] memory e5 = endpointSigs(b5);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAdjudicator.StaleVersion.selector, uint48(5), uint48(5)));
        adj.challenge{value: BOND}(v, b5, e5, noCert());
        // bob redeems alice's 2 ether voucher with a move: bond stays with alice
        State memory r = vState(6, 2 ether, false);
        uint256[] memory f = new uint256[](1);
        uint256[] memory l = new uint256[](1);
        f[0] = 2 ether;
        Signature[] memory vs = new Signature[](1);
        bytes32 d = harness.voucherDigest(Voucher(vid, alice, address(0), 2 ether), block.chainid, address(adj));
        (uint8 vv, bytes32 rr, bytes32 ss) = vm.sign(ALICE_PK, d);
        vs[0] = Signature(vv, rr, ss);
        r.appData = abi.encode(PaymentData(f, l, vs));
        vm.prank(bob);
        adj.progress(v, from, r, 2, signState(r, BOB_PK));
        (address poster,) = adj.bondOf(vid);
        assertEq(poster, alice, "the stale challenger still holds the bond");
        vm.warp(block.timestamp + 10 * DURATION);
        adj.reclaimBond(vid);
        assertEq(alice.balance, alice0, "stale challenger got its whole bond back");
    }

    /// Anyone may call `reclaimBond`; a stranger front-running the node's own reclaim (sent after `bondOf` named the
    /// node) makes the node's transaction revert: gas spent for nothing (the bond still reaches the node).
    function test_limit_strangerFrontRunsOwnReclaimSoNodeTxReverts() public {
        State memory s = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s);
        vm.prank(hub);
        adj.challenge{value: BOND}(lb, s, ss, noCert());
        vm.warp(block.timestamp + DURATION + 1);
        (address poster,) = adj.bondOf(lbid); // the node's check passes
        assertEq(poster, hub, "eq");
        vm.prank(address(0xBAD));
        adj.reclaimBond(lbid);
        vm.prank(hub);
        vm.expectRevert(IAdjudicator.NoBond.selector);
        adj.reclaimBond(lbid);
    }

    // ======================================================================= defences that held

    function test_defends_channelIdMatchesAbiEncodeWithBond(uint96 bond, uint256 nonce, uint48 dur, uint48 mm)
        public
        view
    {
        ChannelParams memory p = v;
        p.challengeBond = bond;
        p.nonce = nonce;
        p.challengeDuration = dur;
        p.maxMoves = mm;
        assertEq(harness.channelId(p), keccak256(abi.encode(p)), "eq");
        ChannelParams memory q = lb;
        q.challengeBond = bond;
        q.nonce = nonce;
        assertEq(harness.channelId(q), keccak256(abi.encode(q)), "eq");
    }

    /// A dirty high word in the uint96 bond is refused by the ABI decoder rather than aliasing another id.
    function test_defends_dirtyBondWordReverts() public {
        State memory s = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s);
        bytes memory data = abi.encodeCall(adj.challenge, (lb, s, ss, noCert()));
        // params head: selector(4) + 4 offsets(128) -> tuple at 4 + 0x80; challengeBond is word 8 of the tuple
        uint256 pos = 4 + uint256(_paramsOffset(data)) + 8 * 32;
        uint256 w;
        assembly {
            w := mload(add(add(data, 0x20), pos))
        }
        assertEq(w, BOND, "located the bond word");
        data[pos] = 0x01; // set a bit above 96 bits
        vm.prank(alice);
        (bool ok,) = address(adj).call{value: BOND}(data);
        assertTrue(!ok, "dirty bond word refused");
    }

    function _paramsOffset(bytes memory data) internal pure returns (uint256 o) {
        assembly {
            o := mload(add(data, 0x24))
        }
    }

    /// S12: a bond never leaves as channel funds, nor channel funds as a bond; the adjudicator's ETH is exactly
    /// channel holdings + the bond at every step.
    function test_defends_bondAndChannelFundsStaySeparate() public {
        uint256 start = address(adj).balance;
        State memory s = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s);
        vm.prank(alice);
        adj.challenge{value: BOND}(lb, s, ss, noCert());
        vm.prank(alice); // same poster replaces with the same state? stale -> reverts
        vm.expectRevert();
        adj.challenge{value: BOND}(lb, s, ss, noCert());
        assertEq(address(adj).balance, start + BOND, "one bond held");
        vm.warp(block.timestamp + DURATION + 1);
        uint256 a0 = alice.balance;
        uint256 h0 = hub.balance;
        adj.withdraw(lb, s);
        assertEq(alice.balance - a0, 4 ether, "alice paid her balance only");
        assertEq(hub.balance - h0, 6 ether, "hub paid its balance only");
        adj.withdraw(lb, s); // again: nothing
        assertEq(address(adj).balance, start + BOND - 10 ether, "the bond still held after payout");
        adj.reclaimBond(lbid);
        assertEq(address(adj).balance, start - 10 ether, "bond gone, nothing more");
        vm.expectRevert(IAdjudicator.NoBond.selector);
        adj.reclaimBond(lbid);
    }

    /// Replacement by the same poster: the first bond comes back to it, one bond is held.
    function test_defends_samePosterReplacementHoldsOneBond() public {
        uint256 a0 = alice.balance;
        uint256 start = address(adj).balance;
        State memory s1 = bondedState(1, 0, false);
        State memory s3 = bondedState(3, 1 ether, false);
        Signature[] memory g1 = bondedSigs(s1);
        Signature[] memory g3 = bondedSigs(s3);
        vm.startPrank(alice);
        adj.challenge{value: BOND}(lb, s1, g1, noCert());
        adj.challenge{value: BOND}(lb, s3, g3, noCert());
        vm.stopPrank();
        assertEq(address(adj).balance, start + BOND, "eq");
        assertEq(alice.balance, a0 - BOND, "eq");
    }

    function test_defends_noReclaimBeforeFinalization() public {
        State memory s = bondedState(3, 1 ether, false);
        Signature[] memory ss = bondedSigs(s);
        vm.prank(alice);
        adj.challenge{value: BOND}(lb, s, ss, noCert());
        vm.expectRevert(IAdjudicator.NotFinalized.selector);
        adj.reclaimBond(lbid);
    }

    /// A stranger cannot take a bond: conclude/checkpoint need all signatures, a replacing challenge a newer signed
    /// state; a progress move (V) keeps it with the poster.
    function test_defends_progressDoesNotMoveBondToMover() public {
        Certificate memory c = certificate();
        State memory s5 = vState(5, 1 ether, false);
        Signature[] memory es = endpointSigs(s5);
        vm.prank(bob);
        adj.challenge{value: BOND}(v, s5, es, c);
        State memory s6 = vState(6, 1.5 ether, false);
        vm.prank(alice);
        adj.progress(v, s5, s6, 0, signState(s6, ALICE_PK));
        (address poster, uint256 amount) = adj.bondOf(vid);
        assertEq(poster, bob, "eq");
        assertEq(amount, BOND, "eq");
    }

    /// Reentrancy: a bond recipient gets only the 2,300 stipend; a refusing recipient is credited (S11).
    function test_defends_bondPaidWithStipendOnly() public {
        Reenter r = new Reenter(adj, lbid);
        State memory s1 = bondedState(1, 0, false);
        // At least BOND_GRACE versions newer, so the hub's bond goes to the replacing caller.
        State memory s3 = bondedState(uint48(1 + adj.BOND_GRACE()), 1 ether, false);
        Signature[] memory g1 = bondedSigs(s1);
        Signature[] memory g3 = bondedSigs(s3);
        vm.deal(address(r), 1 ether);
        vm.prank(hub);
        adj.challenge{value: BOND}(lb, s1, g1, noCert());
        vm.prank(address(r)); // r replaces: the hub's bond is paid to r, whose receive tries to re-enter
        adj.challenge{value: BOND}(lb, s3, g3, noCert());
        (address poster,) = adj.bondOf(lbid);
        assertEq(poster, address(r), "eq");
        assertEq(adj.credit(address(0), address(r)), BOND, "re-entry failed within the stipend: credited instead");
    }
}

contract Reenter {
    IAdjudicator internal a;
    bytes32 internal cid;

    constructor(IAdjudicator a_, bytes32 c) {
        a = a_;
        cid = c;
    }

    receive() external payable {
        a.reclaimBond(cid);
    }
}
