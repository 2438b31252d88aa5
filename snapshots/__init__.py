"""Turn registry records into snapshots, store every version, and diff them."""
