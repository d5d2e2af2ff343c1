// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {VirtualBase} from "./VirtualBase.sol";
import {ChannelParams, State, Signature} from "../../src/Types.sol";

/// S17's tests: besides VirtualBase's channels, a ledger `lb` = [alice, hub] whose params name a 0.01 ETH challenge
/// bond, funded 5 + 5 ether, and the builders of its states.
abstract contract BondBase is VirtualBase {
    uint96 internal constant BOND = 0.01 ether;
    ChannelParams internal lb;
    bytes32 internal lbid;

    function setUp() public virtual override {
        super.setUp();
        lb = ledgerParams(alice, hub);
        lb.challengeBond = BOND;
        lbid = id(lb);
        fundEth(lbid, 5 ether, 5 ether, alice, hub);
    }

    /// `lb`'s state `version` in which alice paid the hub `toHub`.
    function bondedState(uint48 version, uint256 toHub, bool fin) internal view returns (State memory) {
        return ledgerStateFull(
            lbid,
            version,
            address(0),
            u2(5 ether - toHub, 5 ether + toHub),
            u2(5 ether, 5 ether),
            u2(0, 0),
            0,
            harness.emptyRoot(),
            fin
        );
    }

    /// Both participants' signatures on a state of `lb`.
    function bondedSigs(State memory s) internal view returns (Signature[] memory) {
        return signAll(s, pks(ALICE_PK, HUB_PK));
    }

    /// VirtualBase's V, with the bond in its params (a new id; its leaf in the ledgers names the old one, which these
    /// tests do not claim).
    function bondedV() internal {
        v.challengeBond = BOND;
        vid = id(v);
    }
}
