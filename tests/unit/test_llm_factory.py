"""Model strings, start-up failures (one line, saying what to do) and prompt overrides."""

from __future__ import annotations

import socket

import pytest

from nasloop.agents.factory import build_agents
from nasloop.agents.heuristic import HeuristicGenerator, HeuristicImprover
from nasloop.agents.llm.models import parse_model
from nasloop.agents.llm.prompts import load_prompts
from nasloop.config import ConfigError, build_config
from nasloop.tasks.registry import build_task


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_error(agents: dict) -> str:
    with pytest.raises(ConfigError) as err:
        build_agents(build_task(build_config({"agents": agents})))
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "value, kind, target",
    [
        ("heuristic", "heuristic", ""),
        ("hf:Qwen/Qwen2.5-Coder-7B-Instruct", "hf", "Qwen/Qwen2.5-Coder-7B-Instruct"),
        ("hf:/models/deepseek", "hf", "/models/deepseek"),
        ("openai:http://127.0.0.1:8000/v1", "openai", "http://127.0.0.1:8000/v1"),
        ("langchain:ollama/qwen2.5-coder:7b", "langchain", "ollama/qwen2.5-coder:7b"),
    ],
)
def test_model_strings(value, kind, target):
    assert parse_model(value, "agents.generator") == (kind, target)


@pytest.mark.parametrize(
    "value, needle",
    [
        ("gpt4", "unknown model 'gpt4'"),
        ("hf:", "unknown model"),
        ("openai:localhost:8000", "needs a URL"),
    ],
)
def test_bad_model_strings(value, needle):
    assert needle in start_error({"generator": value})
    assert "agents.generator" in start_error({"generator": value})


def test_default_is_heuristic():
    improver, generator = build_agents(build_task(build_config({})))
    assert isinstance(improver, HeuristicImprover) and isinstance(generator, HeuristicGenerator)


def test_no_server_listening():
    msg = start_error({"improver": f"openai:http://127.0.0.1:{free_port()}/v1"})
    assert "agents.improver" in msg and "no OpenAI-compatible server answers" in msg
    assert "start it first" in msg


def test_missing_model_folder(tmp_path):
    msg = start_error({"generator": f"hf:{tmp_path / 'nope'}"})
    assert msg.startswith("cannot start:") and "no such model folder" in msg


@pytest.mark.slow  # imports transformers (~10 s on a busy 2-core machine)
def test_hub_id_not_available_offline(monkeypatch, tmp_path):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    msg = start_error({"generator": "hf:nasloop-test/no-such-model"})
    assert "download it first" in msg and "hf download nasloop-test/no-such-model" in msg


def test_quantization_needs_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the 4-bit path is tested in test_llm_quantized")
    tmp_path.joinpath("m").mkdir()
    msg = start_error({"generator": f"hf:{tmp_path / 'm'}", "quantization": "4bit"})
    assert "needs a CUDA GPU" in msg and "quantization = 'none'" in msg


def test_unknown_langchain_provider():
    msg = start_error({"improver": "langchain:nosuchprovider/model-x"})
    assert "agents.improver" in msg and "nosuchprovider" in msg


def test_prompt_override_is_used(tmp_path):
    p = tmp_path / "improver.txt"
    p.write_text("Improve ${parent_code} for ${metric}; $$5 says it works.")
    prompts = load_prompts({"improver": str(p)})
    out = prompts.render(
        "improver",
        **dict.fromkeys(
            [
                "task",
                "contract",
                "parent_id",
                "parent_result",
                "parent_code",
                "last_result",
                "history",
                "metric",
            ],
            "X",
        ),
    )
    assert out == "Improve X for X; $5 says it works."


@pytest.mark.parametrize(
    "name, text, needle",
    [
        ("improver", "fix ${parent_cod}", "unknown placeholder ${parent_cod}"),
        ("generator_full", "cost: $5", "lone '$'"),
        ("nonsense", "x", "unknown template 'nonsense'"),
    ],
)
def test_bad_prompt_overrides(tmp_path, name, text, needle):
    p = tmp_path / "t.txt"
    p.write_text(text)
    with pytest.raises(ConfigError, match="agents.prompts") as err:
        load_prompts({name: str(p)})
    assert needle in str(err.value)


def test_missing_prompt_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_prompts({"system": str(tmp_path / "none.txt")})


def test_heuristic_operators_are_checked_and_passed_on():
    config = build_config({"agents": {"operators": ["widen", "narrow"]}})
    improver, _ = build_agents(build_task(config))
    assert improver.operators == {"widen", "narrow"}
    msg = start_error({"operators": ["widen", "wden"]})
    assert "agents.operators" in msg and "'wden'" in msg and "narrow" in msg
