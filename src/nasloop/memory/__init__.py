"""Memory: the triples window, the SQLite archive, novelty."""
