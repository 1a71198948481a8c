"""Fixtures shared by the integration tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _tiny_model_module() -> Any:
    spec = importlib.util.spec_from_file_location("tiny_model", FIXTURES / "tiny_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2-style chat model with random weights, built locally once per session."""
    pytest.importorskip("transformers")
    return _tiny_model_module().build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))
