"""The training side: embedding sets (shards), training RationaleMLP and EmbedDiff, assembling a checkpoint."""
