"""LoRA training pairs: what the loss is taken on, and how an answer ends."""

from __future__ import annotations

import pytest

from nasloop.finetune.lora import IGNORE, TrainReport, answer_end, encode_pair
from nasloop.finetune.pair import Pair

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Mistral-like: the answer is followed by the eos token and nothing else.
INST = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)


def _tokenizer(template: str, eos: str):  # noqa: ANN202
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>"]
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(["class Net(nn.Module):\n    def forward(self, x):\n"] * 3, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=eos, pad_token="<|endoftext|>", bos_token="<s>"
    )
    tok.chat_template = template
    return tok


PAIR = Pair(
    messages=(
        {"role": "system", "content": "You write PyTorch."},
        {"role": "user", "content": "Widen conv1."},
    ),
    answer="```python\nclass Net(nn.Module):\n    pass\n```",
    source="corpus:x",
)


def test_prompt_tokens_are_masked_and_answer_tokens_are_labels() -> None:
    tok = _tokenizer(CHATML, "<|im_end|>")
    ids, labels = encode_pair(tok, PAIR)
    msgs = list(PAIR.messages)
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert len(ids) == len(labels)
    assert labels[:n_prompt] == [IGNORE] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert all(v != IGNORE for v in labels[n_prompt:])
    assert tok.decode(ids[:n_prompt]) == prompt
    assert tok.decode(ids[n_prompt:]) == PAIR.answer + "<|im_end|>"
    assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")  # the model learns to stop


def test_answer_end_is_read_from_the_template() -> None:
    assert answer_end(_tokenizer(CHATML, "<|im_end|>")) == "<|im_end|>"
    assert answer_end(_tokenizer(INST, "</s>")) == "</s>"
    # A template that writes nothing after the answer: the eos token ends it.
    bare = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert answer_end(_tokenizer(bare, "</s>")) == "</s>"


def test_report_round_trips_as_json() -> None:
    report = TrainReport(
        pairs=2,
        skipped=1,
        tokens=100,
        answer_tokens=40,
        epochs=1,
        steps=1,
        losses=[3.0],
        first_loss=3.0,
        last_loss=3.0,
        wall_s=0.5,
        seed=0,
        r=4,
        alpha=8,
        target_modules=["all-linear"],
        learning_rate=1e-3,
    )
    assert TrainReport.model_validate_json(report.model_dump_json()) == report


def test_learning_rate_warms_up_then_decays():
    from nasloop.finetune.lora import _lr_factor

    plain = [_lr_factor(9, 0.0, s) for s in range(9)]
    assert plain[0] == 1.0 and plain[-1] == pytest.approx(2 / 10)
    warm = [_lr_factor(9, 0.3, s) for s in range(9)]
    assert warm[:3] == pytest.approx([1 / 4, 2 / 4, 3 / 4])  # 3 of 9 steps rising
    assert warm[3:] == plain[3:]
