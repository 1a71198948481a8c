"""Agents: prompt improvers and code generators (heuristic and LLM), mutation operators, diffs."""
