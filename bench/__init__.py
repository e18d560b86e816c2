"""The benchmark: Wren and the reference servers over the contract's operations."""
