"""Tracing is switched on by the environment only."""

from __future__ import annotations

import sys

import pytest

from nasloop.inspect.rundir import InspectError
from nasloop.inspect.tracing import env_callbacks, tracing_status

VARS = ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING",
        "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_nothing_attached_without_variables(clean_env: pytest.MonkeyPatch) -> None:
    assert tracing_status() == {"langsmith": False, "langfuse": False}
    assert env_callbacks() == []


def test_variables_turn_tracers_on(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANGCHAIN_TRACING_V2", "true")
    clean_env.setenv("LANGFUSE_PUBLIC_KEY", "pk")
    assert tracing_status() == {"langsmith": True, "langfuse": False}  # no secret key yet
    clean_env.setenv("LANGFUSE_SECRET_KEY", "sk")
    assert tracing_status()["langfuse"] is True


def test_langfuse_keys_without_the_package_is_one_clear_error(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("LANGFUSE_PUBLIC_KEY", "pk")
    clean_env.setenv("LANGFUSE_SECRET_KEY", "sk")
    clean_env.setitem(sys.modules, "langfuse", None)  # an import of it fails here
    with pytest.raises(InspectError, match="pip install langfuse"):
        env_callbacks()
