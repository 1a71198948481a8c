"""The bench's tiny coder model: built locally, deterministic, loadable as an hf: generator."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

SMALL = {"hidden": 32, "layers": 1, "heads": 2, "vocab": 2500, "stdlib_bytes": 200_000}


def test_same_seed_same_model_and_a_tokenizer_that_keeps_its_split(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from nasloop.finetune.tinymodel import build
    from nasloop.tasks.image_classification.seeds import seed_source

    a = build(tmp_path / "a", seed=3, **SMALL)
    b = build(tmp_path / "b", seed=3, **SMALL)
    c = build(tmp_path / "c", seed=4, **SMALL)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()

    tok = AutoTokenizer.from_pretrained(a)
    line = "        super().__init__()\n"  # a seed's line: a token or two, not a dozen
    assert line in seed_source("lenet")
    assert len(tok(line, add_special_tokens=False)["input_ids"]) <= 2
    # a width is the same single token wherever it is written
    for width in (16, 42, 360, 1024):
        ids = tok(str(width), add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, width
        for text in (f"nn.Conv2d(6, {width}, kernel_size=5)", f"nn.Linear({width} * 5 * 5, 10)"):
            assert ids[0] in tok(text, add_special_tokens=False)["input_ids"], text
    code = seed_source("lenet")
    assert tok.decode(tok(code, add_special_tokens=False)["input_ids"]) == code
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    model = AutoModelForCausalLM.from_pretrained(a)
    assert model.config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
