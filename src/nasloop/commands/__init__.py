"""Typer command functions registered by nasloop.cli."""
