"""Inspecting runs: read-only queries over a run directory, text/JSON/HTML rendering,
checkpoint history and forks. Nothing here writes into the run it reads."""
