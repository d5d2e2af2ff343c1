// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ChannelParams, State} from "./Types.sol";

/// The rules of an app run in a channel. The adjudicator calls it by `staticcall` with a gas cap during `progress`
/// (S7); a revert or any answer but `true` means the move is invalid. The adjudicator has already checked the
/// version step, the mover's signature, the outcome rules and conservation (S3) before it asks the app.
interface IApp {
    /// Whether `to` is a valid move from `from` by the participant at `moverIndex` (an endpoint).
    function validTransition(ChannelParams calldata params, State calldata from, State calldata to, uint256 moverIndex)
        external
        view
        returns (bool);
}
