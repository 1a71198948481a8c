"""`openai:<base-url>`: an OpenAI-compatible server (vLLM, llama.cpp, Ollama, transformers serve).

Uses langchain-openai's `ChatOpenAI`. Before the run the server is asked for its models
(`GET <base-url>/models`): no answer is a start-up error, and the model name and (vLLM's
`max_model_len`) context window come from there when config does not give them.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.config import AgentsConfig

PROBE_TIMEOUT_S = 10.0


def _models(base_url: str, api_key: str, field: str) -> list[dict[str, Any]]:
    url = base_url.rstrip("/") + "/models"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310
            body = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        hint = " (does the URL end with /v1?)" if err.code == 404 else ""
        raise LoadError(
            f"{field} = 'openai:{base_url}': GET {url} gave HTTP {err.code}{hint}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise LoadError(
            f"{field} = 'openai:{base_url}': no OpenAI-compatible server answers ({reason}): "
            "start it first (e.g. `vllm serve MODEL --port 8000`) or fix the URL"
        ) from None
    data = body.get("data") if isinstance(body, dict) else None
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []


def load_openai(base_url: str, a: AgentsConfig, field: str) -> ChatBackend:
    """A `ChatOpenAI` for the server at `base_url`, checked to be up."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:
        raise LoadError(
            f"{field} = 'openai:...' needs langchain-openai: pip install langchain-openai"
        ) from None
    api_key = os.environ.get(a.openai_api_key_env, "") or "not-needed"
    listed = _models(base_url, api_key, field)
    ids = [str(m.get("id")) for m in listed]
    name = a.openai_model
    if not name:
        if len(ids) != 1:
            raise LoadError(
                f"{field} = 'openai:{base_url}': set agents.openai_model "
                f"(the server lists {len(ids)} models: {', '.join(ids[:5]) or 'none'})"
            )
        name = ids[0]
    entry = next((m for m in listed if m.get("id") == name), {})
    served_len = entry.get("max_model_len")
    chat = ChatOpenAI(
        model=name,
        base_url=base_url,
        api_key=api_key,
        temperature=a.temperature,
        top_p=a.top_p,
        max_tokens=a.max_new_tokens,
        timeout=a.request_timeout_s,
        max_retries=1,
    )
    return ChatBackend(
        name=f"openai:{base_url}#{name}",
        chat=chat,
        max_new_tokens=a.max_new_tokens,
        context_window=a.context_window or (served_len if isinstance(served_len, int) else None),
        send_seed=True,
    )
