"""Datasets: one table of what each dataset is (`table`, no torch) and the loaders that
turn one into in-memory tensors with a fixed-seed split (`loaders`, torch)."""
