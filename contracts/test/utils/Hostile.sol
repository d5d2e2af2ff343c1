// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ChannelParams, State, IApp, IAdjudicator} from "../../src/Types.sol";
import {TestToken} from "../../src/tokens/TestTokens.sol";

/// An app whose `validTransition` always reverts.
contract RevertingApp is IApp {
    function validTransition(ChannelParams calldata, State calldata, State calldata, uint256)
        external
        pure
        returns (bool)
    {
        revert("no");
    }
}

/// An app that burns all the gas it is given.
contract GasGuzzlerApp is IApp {
    function validTransition(ChannelParams calldata, State calldata, State calldata, uint256)
        external
        pure
        returns (bool)
    {
        uint256 x;
        while (true) {
            x++;
        }
        return true;
    }
}

/// An app that answers with something other than an ABI `true`.
contract GarbageApp {
    /// 0: returns 2 (not a bool); 1: returns nothing; 2: returns one byte.
    uint256 public mode;

    function setMode(uint256 m) external {
        mode = m;
    }

    fallback() external {
        uint256 m = mode;
        assembly {
            switch m
            case 0 {
                mstore(0, 2)
                return(0, 32)
            }
            case 1 { return(0, 0) }
            default {
                mstore(0, 0x0100000000000000000000000000000000000000000000000000000000000000)
                return(0, 1)
            }
        }
    }
}

/// An app that accepts every move: isolates the adjudicator's own checks (S3, S7) from the app's.
contract AnyMoveApp is IApp {
    function validTransition(ChannelParams calldata, State calldata, State calldata, uint256)
        external
        pure
        returns (bool)
    {
        return true;
    }
}

/// A token whose `transferFrom` re-enters the adjudicator (a second deposit into the same channel) and records
/// how that attempt ended.
contract ReentrantToken is TestToken {
    IAdjudicator internal adj;
    bytes32 internal channel;
    /// The revert data of the re-entry attempt.
    bytes public reentryError;
    /// Whether the re-entry attempt succeeded.
    bool public reentered;

    function arm(IAdjudicator a, bytes32 c) external {
        adj = a;
        channel = c;
    }

    function transferFrom(address from, address to, uint256 amount) external override returns (bool) {
        if (address(adj) != address(0)) {
            IAdjudicator a = adj;
            adj = IAdjudicator(address(0));
            try a.deposit(address(this), channel, 1, 0, amount) {
                reentered = true;
            } catch (bytes memory reason) {
                reentryError = reason;
            }
        }
        _move(from, to, amount);
        return true;
    }
}

/// A token whose `transfer` returns false instead of reverting.
contract FalseReturningToken is TestToken {
    function transfer(address, uint256) external pure override returns (bool) {
        return false;
    }
}

/// A depositor that overpays with ETH and refuses the refund.
contract RefundRefuser {
    function depositAll(IAdjudicator adj, bytes32 channelId, uint256 expectedHeld, uint256 amount) external payable {
        adj.deposit{value: msg.value}(address(0), channelId, 0, expectedHeld, amount);
    }

    receive() external payable {
        revert("no refunds");
    }
}

/// A token whose `transfer` legitimately needs about 80,000 gas (within the adjudicator's 100,000 cap).
contract HeavyToken is TestToken {
    function transfer(address to, uint256 amount) external override returns (bool) {
        uint256 left = gasleft();
        uint256 until = left > 75_000 ? left - 75_000 : 0;
        while (gasleft() > until) {} // runs out of gas when given less than it needs
        _move(msg.sender, to, amount);
        return true;
    }
}
