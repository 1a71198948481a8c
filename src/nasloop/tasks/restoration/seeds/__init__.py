"""Built-in restoration seeds (only allow-listed operators), shipped as package data."""

from __future__ import annotations

from importlib import resources


def list_seeds() -> dict[str, str]:
    """Return every built-in seed as ``{name: source}``, sorted by name."""
    root = resources.files(__package__)
    found = {
        entry.name[: -len(".py")]: entry.read_text(encoding="utf-8")
        for entry in root.iterdir()
        if entry.name.endswith(".py") and not entry.name.startswith("_")
    }
    return dict(sorted(found.items()))


def seed_source(name: str) -> str:
    """Return the source of one seed; raises KeyError naming the known seeds."""
    seeds = list_seeds()
    if name not in seeds:
        raise KeyError(f"unknown seed {name!r}; known: {', '.join(seeds)}")
    return seeds[name]
