"""LangSmith and Langfuse tracing, switched on by the user's environment only.

LangSmith needs no code: langchain-core attaches its tracer to every graph and chat-model
run when LANGSMITH_TRACING=true (or LANGCHAIN_TRACING_V2=true) and a key are set.
Langfuse's LangChain handler must be passed as a callback: `env_callbacks()` builds it
when LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set. With none of these variables
set nothing is attached and nothing is sent.
"""

from __future__ import annotations

import os
from typing import Any

from nasloop.inspect.rundir import InspectError

_ON = ("1", "true", "yes")


def langsmith_enabled() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in _ON
        for k in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")
    )


def langfuse_enabled() -> bool:
    return bool(os.environ.get("LANGFUSE_PUBLIC_KEY") and os.environ.get("LANGFUSE_SECRET_KEY"))


def tracing_status() -> dict[str, bool]:
    """Which tracers the environment turns on."""
    return {"langsmith": langsmith_enabled(), "langfuse": langfuse_enabled()}


def env_callbacks() -> list[Any]:
    """Callback handlers to pass in the graph's config: Langfuse's when its keys are set,
    else none (LangSmith attaches itself from its own variables)."""
    if not langfuse_enabled():
        return []
    try:
        from langfuse.langchain import CallbackHandler
    except ImportError:
        raise InspectError(
            "LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY are set but the langfuse package is "
            "missing: pip install langfuse (or unset them)"
        ) from None
    return [CallbackHandler()]
