"""Real short searches driven by a tiny Qwen2-style model built locally (no download).

The model has random weights, so its answers are nonsense: the loop must record every call
and every failed generation, and finish. The same model drives a run in-process (`hf:`)
and through `transformers serve` on 127.0.0.1 (`openai:`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from nasloop.agents.factory import build_agents
from nasloop.config import build_config
from nasloop.memory.archive import Archive
from nasloop.rundir import RunDir
from nasloop.runner import drive, new_run
from nasloop.tasks.image_classification.seeds import seed_source
from nasloop.tasks.registry import build_task

ARCHIVE = RunDir.ARCHIVE
pytestmark = pytest.mark.slow


def _config(tmp_path: Path, model: str, run: dict[str, Any] | None = None, **agents: Any) -> Any:
    seed = tmp_path / "lenet.py"
    seed.write_text(seed_source("lenet"))
    settings = {
        "generator": model,
        "improver": model,
        "max_new_tokens": 48,
        "retries": 0,
        "temperature": 0.0,
        "mode": "auto",
        **agents,
    }
    return build_config(
        {"agents": settings, "seeds": {"builtin": False, "files": [str(seed)]}},
        {"run.budget": 3, **(run or {})},
    )


def _calls(out: Path) -> list[dict[str, Any]]:
    archive = Archive(out / ARCHIVE)
    try:
        rows = archive.db.execute("SELECT * FROM agent_calls ORDER BY id").fetchall()
        return [dict(r) for r in rows]
    finally:
        archive.close()


def _check_run(out: Path, summary: dict[str, Any], model_name: str) -> list[dict[str, Any]]:
    assert summary["status"] == "finished" and summary["stop_reason"] == "budget"
    assert summary["candidates_generated"] == 3
    archive = Archive(out / ARCHIVE)
    try:
        cands = archive.candidates()
        triples = archive.triples(last=10)
    finally:
        archive.close()
    llm = [c for c in cands if not c.origin.startswith("seed:")]
    assert len(llm) == 2 and all(c.origin == model_name for c in llm)
    for c in llm:  # nonsense answers: recorded as failed generations, not crashes
        if c.code is None:
            assert c.status == "failed" and c.failure_class and c.failure_message
    assert len(triples) == 3
    calls = _calls(out)
    roles = {r["role"] for r in calls}
    assert roles == {"improver", "generator"}
    for r in calls:
        assert r["model"] == model_name
        assert "class Net" in r["prompt"]
        assert r["latency_s"] > 0
        assert r["tokens_in"] and r["tokens_in"] > 100
        assert r["tokens_out"] is not None and r["tokens_out"] <= 48
    # auto mode: one diff request, then a full-file request, for each generated candidate
    gen = [r for r in calls if r["role"] == "generator"]
    assert len(gen) == 4 and sum("as a unified diff against" in r["prompt"] for r in gen) == 2
    return calls


def test_hf_model_drives_a_run(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _config(tmp_path, f"hf:{tiny_model}")
    new_run(cfg, out)
    summary = drive(cfg, out)
    _check_run(out, summary, f"hf:{tiny_model}")


def test_both_roles_share_one_loaded_model(tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    import transformers

    loads: list[str] = []
    real = transformers.AutoModelForCausalLM.from_pretrained.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(str(args[0]))
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", classmethod(counting))
    improver, generator = build_agents(build_task(_config(tmp_path, f"hf:{tiny_model}")))
    assert loads == [str(tiny_model)]
    assert improver.backend is generator.backend  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tiny_model: Path, tmp_path: Path):
    """`transformers serve` on 127.0.0.1 with the tiny model; stopped (whole group) after."""
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent))
    if cli is None or importlib.util.find_spec("fastapi") is None:
        pytest.skip("`transformers serve` needs transformers[serving] (fastapi, uvicorn)")
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    cmd = ["timeout", "600", cli, "serve", str(tiny_model), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--device", "cpu", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as resp:
                    if json.loads(resp.read()).get("data"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (tmp_path / "serve.log").read_text()[-800:]
                pytest.fail(f"transformers serve did not come up: {tail}")
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_served_model_drives_a_run_through_openai(served: str, tiny_model: Path, tmp_path: Path):
    out = tmp_path / "run"
    cfg = _config(tmp_path, f"openai:{served}", context_window=8192)
    new_run(cfg, out)
    summary = drive(cfg, out)
    _check_run(out, summary, f"openai:{served}#{tiny_model}")


def test_prompt_that_cannot_fit_fails_at_start(tiny_model: Path, tmp_path: Path) -> None:
    from nasloop.config import ConfigError

    cfg = _config(tmp_path, f"hf:{tiny_model}", context_window=1200, max_new_tokens=400)
    with pytest.raises(ConfigError) as err:
        build_agents(build_task(cfg))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("cannot start: agents.improver")
    assert "context window 1200" in msg and "over by " in msg and "~" not in msg  # exact
    assert "largest part is the parent code (seed lenet)" in msg


# --- several answers per generate call (run.batch) ---------------------------------------


@pytest.fixture
def generate_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(prompts in the batch, sequences per prompt) of every `generate` call made."""
    from transformers.generation.utils import GenerationMixin

    seen: list[tuple[int, int]] = []
    real = GenerationMixin.generate

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)
        config = kwargs.get("generation_config")
        n = kwargs.get("num_return_sequences") or getattr(config, "num_return_sequences", 1)
        seen.append((int(ids.shape[0]), int(n or 1)))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", counting)
    return seen


def test_hf_batch_is_one_generate_call_and_retries_go_alone(
    tiny_model: Path, tmp_path: Path, generate_calls: list[tuple[int, int]]
) -> None:
    from nasloop.agents.base import GenerateRequest, ImproveRequest, Instruction
    from nasloop.memory.archive import Candidate

    cfg = _config(tmp_path, f"hf:{tiny_model}", temperature=0.7, retries=1)
    improver, generator = build_agents(build_task(cfg))
    task = build_task(cfg).brief()
    data: dict[str, Any] = dict.fromkeys(Candidate.model_fields)
    data.update(id=1, step=0, origin="seed:lenet", status="ok", code=seed_source("lenet"))
    data.update(score=0.5, eval_attempts=1)
    parent = Candidate.model_validate(data)
    reqs = [
        ImproveRequest(step=s, seed=0, task=task, triples=[], last=parent, parents=[parent])
        for s in (1, 2, 3)
    ]
    results = improver.improve_many(reqs)  # type: ignore[attr-defined]
    # one call, three samples; the nonsense answers are then re-asked one by one
    assert generate_calls == [(1, 3), (1, 1), (1, 1), (1, 1)]
    for r in results:
        assert [c.ok for c in r.calls] == [False, False]
        first = r.calls[0]
        assert first.tokens_in and first.tokens_in > 100 and first.tokens_out is not None
    generate_calls.clear()
    instr = [Instruction(parent_id=1, problem="p", modification=m) for m in ("widen", "deepen")]
    gens = generator.generate_many(  # type: ignore[attr-defined]
        [
            GenerateRequest(step=4 + i, seed=0, task=task, parent=parent, instruction=x, triples=[])
            for i, x in enumerate(instr)
        ]
    )
    # auto mode: both diff requests in one padded batch, then a full file for each alone
    assert generate_calls[0] == (2, 1) and generate_calls[1:] == [(1, 1)] * 4
    assert all(g.code is None and len(g.calls) == 3 for g in gens)
    assert "widen" in gens[0].calls[0].prompt and "deepen" in gens[1].calls[0].prompt


def test_hf_model_drives_a_batched_run(
    tiny_model: Path, tmp_path: Path, generate_calls: list[tuple[int, int]]
) -> None:
    out = tmp_path / "run"
    run = {"run.budget": 5, "run.batch": 2}
    cfg = _config(tmp_path, f"hf:{tiny_model}", run=run, temperature=0.7)
    new_run(cfg, out)
    summary = drive(cfg, out)
    assert summary["status"] == "finished" and summary["candidates_generated"] == 5
    # per cycle of two steps: the improver once (two samples); the generator's two diff
    # requests in one call (the improver's nonsense gives both steps the same fallback
    # instruction, so one prompt: two samples), then a full file for each alone: 4, not 6
    assert generate_calls == [(1, 2), (1, 2), (1, 1), (1, 1)] * 2
    calls = _calls(out)
    for step in (1, 2, 3, 4):
        mine = [r for r in calls if r["step"] == step]
        assert [r["role"] for r in mine].count("improver") == 1
        assert [r["role"] for r in mine].count("generator") == 2
        assert all(r["tokens_in"] and r["latency_s"] > 0 for r in mine)
    improver = [r for r in calls if r["role"] == "improver"]
    assert improver[0]["prompt"] == improver[1]["prompt"]  # one prompt, two samples
