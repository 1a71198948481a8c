"""LoRA fine-tuning of an hf: generator on the tiny local model: train, save, generate, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from nasloop.agents.llm.backend import ChatBackend, LoadError, ask
from nasloop.config import AgentsConfig, ConfigError, FinetuneConfig
from nasloop.finetune.pair import Pair

pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("langchain_huggingface")

PROMPT = [SystemMessage("You write PyTorch models."), HumanMessage("Widen conv1 of the model.")]
ANSWER = "```python\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n```"


def _load(model: Path, adapter: str = "") -> ChatBackend:
    from nasloop.agents.llm.hf_backend import load_hf

    a = AgentsConfig(temperature=0, max_new_tokens=24, device_map="cpu", adapter=adapter)
    return load_hf(str(model), a, "agents.generator")


def _pairs() -> list[Pair]:
    msgs = tuple({"role": m.type.replace("human", "user"), "content": m.content} for m in PROMPT)
    asks = ["Widen conv1.", "Narrow fc1.", "Add dropout.", "Swap ReLU for GELU."]
    return [
        Pair(({**msgs[0]}, {"role": "user", "content": f"{q} of the model."}), ANSWER, f"t:{i}")
        for i, q in enumerate(asks)
    ]


CFG = FinetuneConfig(r=8, alpha=16, dropout=0.0, learning_rate=1e-2, epochs=4, batch_size=2)


def _reply(backend: ChatBackend) -> str:
    return ask(backend, "generator", PROMPT, seed=0).text


def test_a_cycle_trains_saves_and_generates_with_the_adapter(tiny_model: Path, tmp_path: Path):
    from nasloop.finetune.lora import read_report, train_adapter, use_adapter

    backend = _load(tiny_model)
    before = _reply(backend)
    out = tmp_path / "adapters" / "cycle-1"
    report = train_adapter(backend, _pairs(), out, CFG, seed=0)

    assert report.pairs == 4 and report.skipped == 0 and report.steps == 8
    assert len(report.losses) == 4
    assert report.losses[-1] < report.losses[0] and report.last_loss < report.first_loss
    # the rate decays linearly over all epochs' steps: the last of 8 steps ran at 2/9 of it
    assert report.last_lr == pytest.approx(CFG.learning_rate * 2 / 9)
    assert 0 < report.answer_tokens < report.tokens
    assert (out / "adapter_config.json").is_file() and (out / "train.json").is_file()
    assert read_report(out) == report
    assert not list(out.parent.glob(".cycle-1*"))  # the temp folder was renamed into place
    assert backend.adapter == str(out)
    assert not any(p.requires_grad for p in backend.model.parameters())  # frozen again

    after = _reply(backend)  # the LangChain pipeline generates with the adapter
    assert after != before
    assert ask(backend, "generator", PROMPT, seed=0).text == after  # greedy: repeatable

    # agents.adapter: a fresh load of the base generates exactly as the trained backend does.
    fresh = _load(tiny_model, adapter=str(out))
    assert fresh.adapter == str(out)
    assert _reply(fresh) == after

    # The next cycle continues from this adapter; the swap leaves one adapter on the base.
    out2 = tmp_path / "adapters" / "cycle-2"
    report2 = train_adapter(backend, _pairs(), out2, CFG, seed=1, init=out)
    assert report2.init == str(out)
    assert report2.first_loss < report.first_loss  # it starts from what cycle 1 learned
    assert backend.adapter == str(out2)
    use_adapter(backend, out)  # back to cycle 1 (as on resume)
    assert _reply(backend) == after


def test_training_is_deterministic_for_a_seed(tiny_model: Path, tmp_path: Path) -> None:
    from nasloop.finetune.lora import train_adapter

    backend = _load(tiny_model)
    cfg = CFG.model_copy(update={"epochs": 2, "dropout": 0.1})
    a = train_adapter(backend, _pairs(), tmp_path / "a", cfg, seed=7)
    b = train_adapter(backend, _pairs(), tmp_path / "b", cfg, seed=7)  # from a fresh adapter
    assert a.losses == b.losses
    # Long pairs are skipped and counted; none left is a clear error.
    from nasloop.finetune.lora import encode_pair

    longest = max(len(encode_pair(backend.tokenizer, p)[0]) for p in _pairs())
    short = cfg.model_copy(update={"max_length": max(longest, 64)})
    long_pair = Pair(_pairs()[0].messages, ANSWER * 20, "t:long")
    c = train_adapter(backend, [*_pairs(), long_pair], tmp_path / "c", short, seed=7)
    assert c.skipped == 1 and c.pairs == 4
    from nasloop.finetune.lora import FinetuneError

    with pytest.raises(FinetuneError, match="max_length"):
        train_adapter(backend, [long_pair], tmp_path / "d", short, seed=7)


def test_bad_adapters_give_a_one_line_error(tiny_model: Path, tmp_path: Path) -> None:
    from nasloop.finetune.lora import train_adapter, use_adapter

    with pytest.raises(LoadError, match="not a peft LoRA adapter folder") as err:
        _load(tiny_model, adapter=str(tmp_path / "missing"))
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="no adapter_config.json"):
        _load(tiny_model, adapter=str(tmp_path / "empty"))

    # An adapter for another base (modules this one lacks) does not fit.
    backend = _load(tiny_model)
    good = tmp_path / "good"
    train_adapter(backend, _pairs()[:2], good, CFG.model_copy(update={"epochs": 1}), seed=0)
    working = _reply(backend)
    bad = tmp_path / "other-base"
    bad.mkdir()
    for f in good.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    config = json.loads((bad / "adapter_config.json").read_text())
    config["target_modules"] = ["c_attn"]  # a GPT-2 module name
    (bad / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(LoadError, match="does not fit the base model") as err:
        use_adapter(backend, bad)
    assert "\n" not in str(err.value)
    assert backend.adapter == str(good) and _reply(backend) == working  # left as it was
    with pytest.raises(LoadError, match="does not fit the base model"):  # nor as a cycle's init
        train_adapter(backend, _pairs(), tmp_path / "next", CFG, seed=0, init=bad)
    assert backend.adapter == str(good) and _reply(backend) == working
    assert not (tmp_path / "next").exists()


def test_a_model_behind_a_server_cannot_be_fine_tuned(tmp_path: Path) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from nasloop.finetune.lora import train_adapter

    backend = ChatBackend(
        name="openai:http://127.0.0.1:8000/v1",
        chat=FakeListChatModel(responses=["x"]),
        max_new_tokens=16,
        context_window=None,
    )
    with pytest.raises(ConfigError, match="fine-tuning needs agents.generator = 'hf:"):
        train_adapter(backend, _pairs(), tmp_path / "a", CFG, seed=0)
