"""Several answers per model call (`run.batch`): one call for the batch's first attempts,
each answer recorded as its own call, unusable ones re-asked alone. The OpenAI path talks
to a real HTTP server on 127.0.0.1 that counts the requests it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from test_llm_agents import (  # same folder: pytest puts it on sys.path
    CHILD,
    GOOD_JSON,
    IC,
    PARENT,
    TASK,
    ScriptedChat,
    builder,
    cand,
    improve_request,
    triples,
)

from nasloop.agents.base import GenerateRequest, ImproveRequest, ImprovesMany, Instruction
from nasloop.agents.heuristic import HeuristicImprover
from nasloop.agents.llm.backend import ChatBackend
from nasloop.agents.llm.generator import LLMGenerator
from nasloop.agents.llm.improver import LLMImprover, call_seed
from nasloop.agents.llm.many import Sample, ask_many
from nasloop.config import AgentsConfig
from nasloop.graph.batch import atomic, improve_all
from nasloop.memory.archive import Archive

FULL_CHILD = f"```python\n{CHILD}\n```"


@dataclass
class FakeMany:
    """A `Many` handing out scripted samples; keeps what each call asked."""

    answers: list[Any]
    concurrent: bool = False
    can_batch: bool = True
    calls: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, n, seed)

    def _take(self, n: int) -> list[Sample]:
        got = [self.answers.pop(0) for _ in range(min(n, len(self.answers)))]
        if got and isinstance(got[0], Exception):
            raise got[0]
        return [Sample(text) for text in got]

    def samples(self, backend: Any, messages: Any, n: int, seed: int) -> list[Sample]:
        self.calls.append(("samples", n, seed))
        return self._take(n)

    def batch(self, backend: Any, prompts: Any, seed: int) -> list[Sample] | None:
        if not self.can_batch:
            return None
        self.calls.append(("batch", len(prompts), seed))
        return self._take(len(prompts))


def backend(many: FakeMany | None, answers: list[Any] | None = None) -> ChatBackend:
    return ChatBackend(
        name="scripted:test",
        chat=ScriptedChat(answers=answers or [], seen=[]),
        max_new_tokens=200,
        context_window=None,
        many=many,
    )


def requests(n: int, step: int = 5) -> list[ImproveRequest]:
    return [improve_request(step=step + i) for i in range(n)]


def gen_requests(mods: list[str]) -> list[GenerateRequest]:
    return [
        GenerateRequest(
            step=6 + i,
            seed=0,
            task=TASK,
            parent=cand(1),
            instruction=Instruction(parent_id=1, problem="narrow", modification=mod),
            triples=triples(2),
        )
        for i, mod in enumerate(mods)
    ]


# --- improver ------------------------------------------------------------------------


def test_improver_batch_is_one_call_with_n_samples_recorded_per_step():
    many = FakeMany([GOOD_JSON, GOOD_JSON.replace("32", "64"), GOOD_JSON])
    b = backend(many)
    results = LLMImprover(b, builder(), retries=2).improve_many(requests(3))
    assert many.calls == [("samples", 3, call_seed(0, 5, "improver", 0))]
    assert b.chat.seen == []  # no separate call
    assert [r.instruction.modification for r in results] == [  # type: ignore[union-attr]
        "widen conv2 to 32",
        "widen conv2 to 64",
        "widen conv2 to 32",
    ]
    for r in results:
        [call] = r.calls
        assert call.ok and call.role == "improver" and "class Net" in call.prompt
        assert call.latency_s >= 0


def test_improver_unusable_sample_is_retried_alone():
    many = FakeMany([GOOD_JSON, "I suggest dropout.", GOOD_JSON])
    b = backend(many, answers=[GOOD_JSON])
    results = LLMImprover(b, builder(), retries=2).improve_many(requests(3))
    assert len(many.calls) == 1
    assert [len(r.calls) for r in results] == [1, 2, 1]
    assert [c.ok for c in results[1].calls] == [False, True]
    [retry] = b.chat.seen  # only the unusable one was asked again
    assert retry[-2].content == "I suggest dropout." and "no JSON object" in retry[-1].content
    assert all(r.instruction is not None for r in results)


def test_improver_without_many_asks_each_step_with_its_own_seed():
    seeds: list[int] = []

    b = backend(None, answers=[GOOD_JSON] * 3)
    b.reseed = seeds.append
    results = LLMImprover(b, builder(), retries=0).improve_many(requests(3))
    assert [len(r.calls) for r in results] == [1, 1, 1]
    assert seeds == [call_seed(0, s, "improver", 0) for s in (5, 6, 7)]  # as one by one


def test_fewer_samples_than_asked_are_completed_one_by_one():
    many = FakeMany([GOOD_JSON])  # a server that ignores n gives one choice
    seeds: list[int] = []
    b = backend(many, answers=[GOOD_JSON, GOOD_JSON])
    b.reseed = seeds.append
    results = LLMImprover(b, builder(), retries=0).improve_many(requests(3))
    assert all(r.instruction is not None and len(r.calls) == 1 for r in results)
    assert seeds == [call_seed(0, s, "improver", 0) for s in (6, 7)]


def test_a_failing_shared_call_fails_every_step_once():
    b = backend(FakeMany([RuntimeError("CUDA out of memory\nmore")]))
    results = LLMImprover(b, builder(), retries=2).improve_many(requests(2))
    for r in results:
        [call] = r.calls
        assert not call.ok and r.instruction is None
        assert (
            call.error
            == "model call failed (one call for 2 answers): RuntimeError: CUDA out of memory"
        )


def test_heuristic_improver_is_asked_step_by_step():
    reqs = requests(2)
    heuristic = HeuristicImprover(IC.mutation_space())
    assert not isinstance(heuristic, ImprovesMany)
    results = improve_all(heuristic, reqs)
    assert len(results) == 2 and all(r.instruction is not None for r in results)


# --- generator -----------------------------------------------------------------------


def test_generator_batches_first_attempts_and_retries_alone():
    many = FakeMany([FULL_CHILD, "no code here", FULL_CHILD.replace("32", "24")])
    b = backend(many, answers=[FULL_CHILD])
    gens = LLMGenerator(b, builder(), mode="full", retries=1, extract=IC.extract).generate_many(
        gen_requests(["widen conv2 to 32", "widen conv1", "widen conv2 to 24"])
    )
    assert many.calls == [("batch", 3, call_seed(0, 6, "generator", 0))]
    assert all(g.code is not None for g in gens)
    assert [len(g.calls) for g in gens] == [1, 2, 1]
    [retry] = b.chat.seen
    assert retry[-2].content == "no code here"
    assert "widen conv1" in retry[0].content + retry[1].content  # its own instruction


def test_generator_without_batch_call_asks_separately():
    many = FakeMany([], can_batch=False)
    b = backend(many, answers=[FULL_CHILD, FULL_CHILD.replace("32", "24")])
    gens = LLMGenerator(b, builder(), mode="full", retries=0, extract=IC.extract).generate_many(
        gen_requests(["widen conv2 to 32", "widen conv2 to 24"])
    )
    assert many.calls == [] and len(b.chat.seen) == 2
    assert all(g.code is not None for g in gens)


def test_single_prompt_goes_through_ask():
    many = FakeMany([GOOD_JSON])
    b = backend(many, answers=[GOOD_JSON])
    [reply] = ask_many(b, "improver", [[]], [1])  # type: ignore[list-item]
    assert many.calls == [] and reply.call.ok


# --- graph ---------------------------------------------------------------------------


def test_atomic_batch_writes_all_or_nothing(tmp_path: Path):
    archive = Archive(tmp_path / "a.sqlite")
    kw: dict[str, Any] = dict(parent_id=None, origin="x", modification=None, diff=None, gen_s=0)
    try:
        with pytest.raises(RuntimeError), atomic(archive):
            archive.add_candidate(0, code=PARENT, **kw)
            raise RuntimeError("crash mid-batch")
        assert archive.candidate_at(0) is None
        with atomic(archive):
            archive.add_candidate(0, code=PARENT, **kw)
            archive.add_candidate(1, code=CHILD, **kw)
        assert archive.candidate_at(0) is not None and archive.candidate_at(1) is not None
    finally:
        archive.close()


# --- OpenAI-compatible server on 127.0.0.1 ---------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(body)
        n = int(body.get("n") or 1)
        if n > 1 and self.server.n_mode == "reject":
            self._send(400, {"error": {"message": "n > 1 is not supported", "type": "bad"}})
            return
        if self.server.n_mode == "ignore":
            n = 1
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": GOOD_JSON},
                "finish_reason": "stop",
            }
            for i in range(n)
        ]
        usage = {"prompt_tokens": 300, "completion_tokens": 20 * n, "total_tokens": 300 + 20 * n}
        self._send(
            200,
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "tiny",
                "choices": choices,
                "usage": usage,
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, n_mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.n_mode = n_mode
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@pytest.fixture(params=["n", "ignore", "reject"])
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    srv = _Server(request.param)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def _openai(srv: _Server) -> ChatBackend:
    from nasloop.agents.llm.openai_backend import load_openai

    port = srv.server_address[1]
    a = AgentsConfig(temperature=0.7, max_new_tokens=64)
    return load_openai(f"http://127.0.0.1:{port}/v1", a, "agents.improver")


def test_openai_improver_batch_is_one_request_with_n(server: _Server):
    pytest.importorskip("langchain_openai")
    b = _openai(server)
    results = LLMImprover(b, builder(), retries=0).improve_many(requests(3))
    assert all(r.instruction is not None and len(r.calls) == 1 for r in results)
    posts = server.requests
    first = call_seed(0, 5, "improver", 0)
    if server.n_mode == "n":
        assert [(p["n"], p["seed"]) for p in posts] == [(3, first)]
        calls = [r.calls[0] for r in results]
        assert all(c.tokens_in == 300 and c.tokens_out is None for c in calls)  # total only
    else:  # ignored or rejected: the missing answers are asked one by one, own seeds
        rest = [call_seed(0, s, "improver", 0) for s in (6, 7)]
        assert (posts[0]["n"], posts[0]["seed"]) == (3, first)
        again = [first] if server.n_mode == "reject" else []  # a rejected n: step 5 too
        assert sorted(p["seed"] for p in posts[1:]) == sorted(again + rest)  # concurrent
        assert all("n" not in p for p in posts[1:])


def test_openai_generator_batch_is_concurrent_requests(server: _Server):
    pytest.importorskip("langchain_openai")
    b = _openai(server)
    prompts: list[list[BaseMessage]] = [
        builder().generator("generator_full", TASK, PARENT, r.instruction)([])
        for r in gen_requests(["widen conv2", "deepen"])
    ]
    seeds = [11, 12]
    replies = ask_many(b, "generator", prompts, seeds)
    assert len(replies) == 2 and all(r.call.ok for r in replies)
    assert sorted(p["seed"] for p in server.requests) == seeds
    assert all("n" not in p for p in server.requests)
