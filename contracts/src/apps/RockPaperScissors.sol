// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ChannelParams, State, AssetOutcome, GameData} from "../Types.sol";
import {IApp} from "../Types.sol";

/// Rock-paper-scissors with stakes, commit–reveal (SPEC.md "Apps"). The stake is in the outcome's first asset.
/// When the last endpoint plays, the stake moves to it tentatively, so a first endpoint that never reveals loses.
contract RockPaperScissors is IApp {
    uint8 internal constant READY = 0;
    uint8 internal constant COMMITTED = 1;
    uint8 internal constant PLAYED = 2;

    /// @inheritdoc IApp
    function validTransition(ChannelParams calldata params, State calldata from, State calldata to, uint256 moverIndex)
        external
        pure
        override
        returns (bool)
    {
        uint256 last = params.participants.length - 1;
        GameData memory f = abi.decode(from.appData, (GameData));
        GameData memory t = abi.decode(to.appData, (GameData));
        uint256 m = to.outcome.assets.length;
        if (m == 0 || from.outcome.assets.length != m) return false;
        for (uint256 j = 1; j < m; j++) {
            if (!_sameAsset(from.outcome.assets[j], to.outcome.assets[j])) return false;
        }
        AssetOutcome calldata fa = from.outcome.assets[0];
        AssetOutcome calldata ta = to.outcome.assets[0];
        if (fa.asset != ta.asset || fa.locked != ta.locked) return false;
        for (uint256 p = 1; p < last; p++) {
            if (ta.balances[p] != fa.balances[p]) return false;
        }
        uint256 fFirst = fa.balances[0];
        uint256 fLast = fa.balances[last];
        uint256 tFirst = ta.balances[0];
        uint256 tLast = ta.balances[last];

        if (f.phase == READY) {
            if (moverIndex != 0 || t.phase != COMMITTED) return false;
            if (t.stake == 0 || t.stake > fFirst || t.stake > fLast) return false;
            if (t.commitment == bytes32(0) || t.moveLast != 0 || t.moveFirst != 0 || t.salt != bytes32(0)) {
                return false;
            }
            return tFirst == fFirst && tLast == fLast;
        }
        if (f.phase == COMMITTED) {
            if (moverIndex != last || t.phase != PLAYED) return false;
            if (t.stake != f.stake || t.commitment != f.commitment) return false;
            if (t.moveLast < 1 || t.moveLast > 3 || t.moveFirst != 0 || t.salt != bytes32(0)) return false;
            if (fFirst < f.stake) return false;
            return tFirst == fFirst - f.stake && tLast == fLast + f.stake;
        }
        if (f.phase == PLAYED) {
            if (moverIndex != 0 || t.phase != READY) return false;
            if (t.stake != f.stake || t.commitment != f.commitment || t.moveLast != f.moveLast) return false;
            if (t.moveFirst < 1 || t.moveFirst > 3) return false;
            if (keccak256(abi.encode(t.moveFirst, t.salt)) != f.commitment) return false;
            uint256 back = _firstGetsBack(t.moveFirst, f.moveLast, f.stake);
            if (fLast < back) return false;
            return tFirst == fFirst + back && tLast == fLast - back;
        }
        return false;
    }

    /// From the played balances (stake already moved to last): 2*stake if first won, stake on a draw, else 0.
    function _firstGetsBack(uint8 moveFirst, uint8 moveLast, uint256 stake) internal pure returns (uint256) {
        if (moveFirst == moveLast) return stake;
        bool firstWins = (moveFirst == 1 && moveLast == 3) || (moveFirst == 2 && moveLast == 1)
            || (moveFirst == 3 && moveLast == 2);
        return firstWins ? 2 * stake : 0;
    }

    function _sameAsset(AssetOutcome calldata a, AssetOutcome calldata b) internal pure returns (bool) {
        return keccak256(abi.encode(a)) == keccak256(abi.encode(b));
    }
}
