"""`langchain:<provider>/<model>`: any LangChain chat model, through `init_chat_model`.

The provider's integration package (langchain-anthropic, langchain-ollama, ...) and its
credentials are the user's; a missing package or key is a start-up error saying so.
"""

from __future__ import annotations

from typing import Any

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.config import AgentsConfig


def _profile_window(chat: Any) -> int | None:
    profile = getattr(chat, "profile", None)
    n = profile.get("max_input_tokens") if isinstance(profile, dict) else None
    return n if isinstance(n, int) and n > 0 else None


def load_langchain(target: str, a: AgentsConfig, field: str,
                   weights: dict[Any, Any] | None = None) -> ChatBackend:
    """`init_chat_model(model, model_provider=provider)` with the configured sampling."""
    provider, _, model = target.partition("/")
    if not provider or not model:
        raise LoadError(f"{field} = 'langchain:{target}': write langchain:<provider>/<model>")
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise LoadError(
            f"{field} = 'langchain:...' needs langchain: pip install langchain"
        ) from None
    try:
        chat = init_chat_model(
            model,
            model_provider=provider,
            temperature=a.temperature,
            max_tokens=a.max_new_tokens,
            timeout=a.request_timeout_s,
        )
    except ImportError as err:
        pkg = f"langchain-{provider.replace('_', '-')}"
        raise LoadError(
            f"{field} = 'langchain:{target}': {pkg} is not installed "
            f"({err.name or err}): pip install {pkg}"
        ) from None
    except Exception as err:  # noqa: BLE001 - unknown provider, missing API key, ...
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise LoadError(f"cannot load {field} = 'langchain:{target}': {first}") from None
    return ChatBackend(
        name=f"langchain:{target}",
        chat=chat,
        max_new_tokens=a.max_new_tokens,
        context_window=a.context_window or _profile_window(chat),
    )
