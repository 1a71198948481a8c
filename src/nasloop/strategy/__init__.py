"""Search strategies: which candidates of the archive the improver works from."""
