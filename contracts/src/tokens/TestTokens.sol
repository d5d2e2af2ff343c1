// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

/// A plain ERC-20 with a public mint, for tests, simulations and the gas report.
contract TestToken {
    /// Token name.
    string public name = "Ferry Test Token";
    /// Token symbol.
    string public symbol = "FTT";
    /// Decimals.
    uint8 public constant decimals = 18;
    /// Total supply.
    uint256 public totalSupply;
    /// Balances.
    mapping(address => uint256) public balanceOf;
    /// Allowances.
    mapping(address => mapping(address => uint256)) public allowance;

    /// ERC-20 Transfer.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// ERC-20 Approval.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// Mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// ERC-20 approve.
    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// ERC-20 transfer.
    function transfer(address to, uint256 amount) external virtual returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// ERC-20 transferFrom.
    function transferFrom(address from, address to, uint256 amount) external virtual returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "allowance");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal virtual {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// Burns 1% of every transfer: the adjudicator must credit what it actually received (S11).
contract FeeOnTransferToken is TestToken {
    function _move(address from, address to, uint256 amount) internal override {
        require(balanceOf[from] >= amount, "balance");
        uint256 fee = amount / 100;
        balanceOf[from] -= amount;
        balanceOf[to] += amount - fee;
        totalSupply -= fee;
        emit Transfer(from, to, amount - fee);
    }
}

/// Reverts every transfer to a blocked recipient: payouts must not let one recipient block others (S11).
contract RevertingToken is TestToken {
    /// Recipients whose transfers revert.
    mapping(address => bool) public blocked;

    /// Blocks or unblocks a recipient.
    function setBlocked(address who, bool isBlocked) external {
        blocked[who] = isBlocked;
    }

    function _move(address from, address to, uint256 amount) internal override {
        require(!blocked[to], "blocked");
        super._move(from, to, amount);
    }
}

/// Burns all the gas it is given on `transfer` (not on `transferFrom`), to a blocked recipient (S11).
contract GasBurningToken is TestToken {
    /// Recipients whose transfers burn all gas.
    mapping(address => bool) public blocked;

    /// Blocks or unblocks a recipient.
    function setBlocked(address who, bool isBlocked) external {
        blocked[who] = isBlocked;
    }

    /// ERC-20 transfer that spins until out of gas for blocked recipients.
    function transfer(address to, uint256 amount) external override returns (bool) {
        if (blocked[to]) {
            uint256 x;
            while (true) {
                x++;
            }
        }
        _move(msg.sender, to, amount);
        return true;
    }
}
