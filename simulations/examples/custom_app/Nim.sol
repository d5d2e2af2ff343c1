// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

// An app builder's own app for Ferry's virtual channels: the contract half of the `custom_app` example (its Rust
// half, the same rules, is nim.rs). Ferry's types come from its Types.sol, imported as "ferry/Types.sol".
import {ChannelParams, State, AssetOutcome, IApp} from "ferry/Types.sol";

/// Nim. The app data is `abi.encode(uint256 pile, uint256 stake)`; the endpoints take 1 to 3 from the pile in
/// turn, the first endpoint moving to even versions (its first move is version 2, on top of the post-fund) and the
/// last to odd ones. Each move hands the mover the lead: `stake` of the first asset moves to it from the other
/// endpoint (twice the stake once someone led before), so an endpoint that stops answering loses by timeout;
/// whoever takes the last token keeps the lead for good, since an empty pile allows no move.
contract Nim is IApp {
    /// @inheritdoc IApp
    function validTransition(ChannelParams calldata params, State calldata from, State calldata to, uint256 moverIndex)
        external
        pure
        override
        returns (bool)
    {
        uint256 last = params.participants.length - 1;
        if (from.version == 0) return false;
        if (moverIndex != (to.version % 2 == 0 ? 0 : last)) return false;
        (uint256 fromPile, uint256 stake) = abi.decode(from.appData, (uint256, uint256));
        (uint256 toPile, uint256 toStake) = abi.decode(to.appData, (uint256, uint256));
        if (fromPile == 0 || toStake != stake || toPile >= fromPile || fromPile - toPile > 3) return false;
        uint256 m = from.outcome.assets.length;
        if (m == 0 || to.outcome.assets.length != m) return false;
        for (uint256 j = 1; j < m; j++) {
            if (keccak256(abi.encode(from.outcome.assets[j])) != keccak256(abi.encode(to.outcome.assets[j]))) {
                return false;
            }
        }
        uint256 other = moverIndex == 0 ? last : 0;
        uint256 swing = from.version == 1 ? stake : 2 * stake;
        AssetOutcome memory lead = from.outcome.assets[0];
        if (lead.balances[other] < swing) return false;
        lead.balances[other] -= swing;
        lead.balances[moverIndex] += swing;
        return keccak256(abi.encode(lead)) == keccak256(abi.encode(to.outcome.assets[0]));
    }
}
