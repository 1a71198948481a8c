"""Unified diffs for delta mode: make (difflib), extract from LLM answers, apply tolerantly."""

from nasloop.agents.delta.apply import apply_diff
from nasloop.agents.delta.extract import extract_diff
from nasloop.agents.delta.make import make_diff
from nasloop.agents.delta.models import ApplyResult, HunkReport

__all__ = ["ApplyResult", "HunkReport", "apply_diff", "extract_diff", "make_diff"]
