"""Model strings (`heuristic`, `hf:...`, `openai:...`, `langchain:...`) and loading each once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.config import ROLE_SETTINGS, AgentsConfig, ConfigError

FORMS = "heuristic, hf:<hub-id-or-dir>, openai:<base-url>, or langchain:<provider>/<model>"
Loader = Callable[[str, AgentsConfig, str, dict[Any, Any]], ChatBackend]


def parse_model(value: str, field: str, plugins: bool = False) -> tuple[str, str]:
    """(kind, target) of a model string; ConfigError naming the field when malformed.
    With `plugins`, `python:module:Class` (an agent class of the user's own) is one too."""
    value = value.strip()
    if value == "heuristic":
        return "heuristic", ""
    kind, sep, target = value.partition(":")
    kinds = ("hf", "openai", "langchain", "python") if plugins else ("hf", "openai", "langchain")
    if not sep or kind not in kinds or not target.strip():
        forms = FORMS.replace(", or", ", python:<module>:<Class>, or") if plugins else FORMS
        raise ConfigError(f"bad config: field '{field}': unknown model {value!r} (use {forms})")
    if kind == "openai" and not target.startswith(("http://", "https://")):
        raise ConfigError(
            f"bad config: field '{field}': {value!r} needs a URL, e.g. openai:http://127.0.0.1:8000/v1"
        )
    return kind, target.strip()


def _loader(kind: str) -> Loader:
    # Imported on demand: each backend pulls in its own heavy libraries.
    if kind == "hf":
        from nasloop.agents.llm.hf_backend import load_hf

        return load_hf
    if kind == "openai":
        from nasloop.agents.llm.openai_backend import load_openai

        return load_openai
    from nasloop.agents.llm.langchain_backend import load_langchain

    return load_langchain


class ModelPool:
    """Loads each distinct model once, so two roles naming one model share it: the same
    backend when their settings agree, the same weights (hf:) when only sampling differs.

    Not when `agents.adapter` is set: the adapter is the generator's alone, so the generator
    gets a load of its own (the base in memory twice) and the improver the plain model."""

    def __init__(self, agents: AgentsConfig) -> None:
        self.agents = agents
        self.loaded: dict[tuple[str, str, str, str], ChatBackend] = {}
        self.weights: dict[Any, Any] = {}  # hf: (tokenizer, model) by what loading depends on
        self.loads = 0

    def get(self, kind: str, target: str, field: str) -> ChatBackend:
        """The backend for a model string; a model that cannot load is a one-line ConfigError.

        `field` (agents.improver / agents.generator) names the role whose settings apply."""
        settings = self.agents.for_role(field.rsplit(".", 1)[-1])
        adapter = settings.adapter if kind == "hf" and field == "agents.generator" else ""
        own = settings.model_dump_json(include=set(ROLE_SETTINGS))
        key = (kind, target, adapter, own)
        if key not in self.loaded:
            before = len(self.weights)
            try:
                self.loaded[key] = _loader(kind)(target, settings, field, self.weights)
            except LoadError as err:
                raise ConfigError(f"cannot start: {err}") from None
            self.loads += 1 if kind != "hf" or len(self.weights) > before else 0
        return self.loaded[key]
