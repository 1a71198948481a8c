"""`openai:<base-url>`: an OpenAI-compatible server (vLLM, llama.cpp, Ollama, transformers serve).

Uses langchain-openai's `ChatOpenAI`. Before the run the server is asked for its models
(`GET <base-url>/models`): no answer is a start-up error, and the model name and (vLLM's
`max_model_len`) context window come from there when config does not give them.

Several answers to one prompt come from one request with `n` (`OpenAIMany`); a server that
rejects `n` (HTTP 400/422) or ignores it (fewer choices back, e.g. `transformers serve`)
gets the missing answers asked one by one. Different prompts go as concurrent requests,
which vLLM batches on its side: the chat API has no call for several prompts.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.agents.llm.many import Sample
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


def load_openai(base_url: str, a: AgentsConfig, field: str,
                weights: dict[Any, Any] | None = None) -> ChatBackend:
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
        many=OpenAIMany(name, a),
    )


@dataclass
class OpenAIMany:
    """`Many` for an OpenAI-compatible server: `n` samples per request, concurrent requests."""

    model: str
    agents: AgentsConfig
    concurrent: bool = True  # the client is thread-safe; the server batches what overlaps

    def samples(
        self, backend: ChatBackend, messages: Sequence[BaseMessage], n: int, seed: int
    ) -> list[Sample]:
        import openai
        from langchain_core.messages import convert_to_openai_messages

        a = self.agents
        client = backend.chat.root_client  # type: ignore[attr-defined]
        try:
            resp = client.chat.completions.create(
                model=self.model,
                messages=convert_to_openai_messages(list(messages)),
                n=n,
                seed=seed,
                temperature=a.temperature,
                top_p=a.top_p,
                max_tokens=a.max_new_tokens,
                timeout=a.request_timeout_s,
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError):
            return []  # the server takes no `n`: the answers are asked one by one
        usage = resp.usage
        choices = sorted(resp.choices or [], key=lambda c: c.index)
        return [
            Sample(
                text=c.message.content or "",
                tokens_in=usage.prompt_tokens if usage else None,
                # the server counts the output of all choices together
                tokens_out=usage.completion_tokens if usage and len(choices) == 1 else None,
                finish=c.finish_reason,
            )
            for c in choices
        ]

    def batch(
        self, backend: ChatBackend, prompts: Sequence[Sequence[BaseMessage]], seed: int
    ) -> list[Sample] | None:
        return None  # no multi-prompt chat call: concurrent requests instead
