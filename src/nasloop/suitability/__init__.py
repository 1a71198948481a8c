"""Cross-dataset suitability: from a network and two dataset names, predict on which one it
reaches the higher normalised accuracy (items built from multi-dataset runs' archives)."""
