"""A tiny coder model built on this machine: random weights, a tokenizer trained locally.

The fine-tuning bench needs a generator that starts knowing nothing (no downloaded
weights) and can only get better by the loop's own fine-tuning cycles. This builds a small
Llama-architecture causal LM with random weights and a byte-level BPE tokenizer trained with
`tokenizers` on Python code found here: the standard library's modules, plus nasloop's seed
architectures and prompt templates (repeated, so that their frequent pieces become single
tokens). The tokenizer has a ChatML chat template, so transformers, LangChain and peft
treat the result like any instruct model on the hub.

    python -m nasloop.finetune.tinymodel DIR [--hidden 128 --layers 4 --vocab 8192 --seed 0]

Defaults are what the fine-tuning bench settled on: weights drawn with std 0.1 (at 0.02
attention is near-uniform and a LoRA learns far slower); tokens that may span a line
(`--split lines`: the LeNet seed's 2135 characters are 139 tokens; a trial measured a
generator prompt at ~600 tokens split into lines, ~1350 split into words as GPT-2 does);
and number literals split off, every integer below 1025 a token of its own, so that a
width is one token wherever it is written (with merges that glue a number to its
neighbours, `, 16` and `16 *` are different tokens and the model has to learn that they
mean the same width). Same machine (same Python standard
library), same arguments, same seed: the same model, byte for byte.
"""

from __future__ import annotations

import argparse
import sysconfig
from collections.abc import Iterator
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
STDLIB_BYTES = 4_000_000  # how much of the standard library the tokenizer reads
OWN_REPEAT = 200  # nasloop's seeds and prompts count this many times over
# Widths are numbers below 1024 (MAX_WIDTH); each such number is one token when it is
# seen this often: a width is then one token to copy, never "4" "2" here and "42" there.
NUMBERS = 1025
NUMBER_REPEAT = 200


def _focus_texts() -> list[str]:
    """nasloop's seed architectures and prompt templates, in a fixed order."""
    from nasloop.tasks.image_classification.seeds import list_seeds

    root = Path(__file__).resolve().parents[1] / "prompts"
    prompts = [p.read_text(encoding="utf-8") for p in sorted(root.glob("*.txt"))]
    return list(list_seeds().values()) + prompts


def _stdlib_texts(limit: int) -> Iterator[str]:
    """Top-level standard-library modules and packages, sorted by path, up to `limit` bytes."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "site-packages", "ensurepip"}
    total = 0
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).parts
        if rel[0] in skip or any(part.startswith(("test", "_test")) for part in rel):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        total += len(text)
        if total > limit:
            return
        yield text


def _numbers() -> str:
    """Every integer below NUMBERS once, so that BPE makes each of them a single token."""
    return " ".join(str(i) for i in range(NUMBERS)) + "\n"


def corpus(stdlib_bytes: int = STDLIB_BYTES) -> Iterator[str]:
    """The tokenizer's training texts, in a fixed order."""
    yield from _stdlib_texts(stdlib_bytes)
    for _ in range(OWN_REPEAT):
        yield from _focus_texts()
    numbers = _numbers()
    for _ in range(NUMBER_REPEAT):
        yield numbers


def train_tokenizer(  # noqa: ANN201
    vocab: int, context: int, stdlib_bytes: int = STDLIB_BYTES, split: str = "lines"
):
    """A byte-level BPE `PreTrainedTokenizerFast` with the ChatML template.

    `split="words"` pre-splits text like GPT-2 (a token never spans two words);
    `split="lines"` lets a token span up to a whole line (at most 48 characters), so that
    lines frequent in the training text (the seeds' own) become a few tokens each, except
    that numbers are split off: `16` is one token in `Conv2d(6, 16` and in `Linear(16 * 6`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    if split == "lines":
        bpe.pre_tokenizer = pre_tokenizers.Sequence(
            [
                # a number literal (not the digit of a name like conv1) stands apart, so
                # it is the same token wherever it is written: a width that two layers
                # share is then one token to copy
                pre_tokenizers.Split(Regex(r"(?<![A-Za-z_0-9])[0-9]+"), behavior="isolated"),
                pre_tokenizers.Split(Regex(r"[^\n]*\n|[^\n]+"), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    elif split == "words":
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        raise ValueError(f"split must be 'words' or 'lines', not {split!r}")
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        max_token_length=48 if split == "lines" else None,
    )
    bpe.train_from_iterator(corpus(stdlib_bytes), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=context,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build(
    dest: Path,
    *,
    hidden: int = 128,
    layers: int = 4,
    heads: int = 4,
    vocab: int = 8192,
    context: int = 4096,
    seed: int = 0,
    init_std: float = 0.1,
    split: str = "lines",
    stdlib_bytes: int = STDLIB_BYTES,
) -> Path:
    """Write a random-weight LlamaForCausalLM and its locally trained tokenizer to `dest`.

    Llama, not Qwen2: transformers 5 loads any qwen2 checkpoint's tokenizer as
    `Qwen2Tokenizer`, which replaces the trained pre-tokenizer with Qwen's own.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    dest.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(vocab, context, stdlib_bytes, split)
    tok.save_pretrained(dest)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    pad = tok.convert_tokens_to_ids("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=3 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=context,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(dest)
    return dest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m nasloop.finetune.tinymodel", description=__doc__)
    p.add_argument("dest", type=Path, help="folder to write the model into")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-std", type=float, default=0.1, help="std of the random weights")
    p.add_argument("--split", choices=["words", "lines"], default="lines")
    a = p.parse_args(argv)
    out = build(
        a.dest,
        hidden=a.hidden,
        layers=a.layers,
        heads=a.heads,
        vocab=a.vocab,
        context=a.context,
        seed=a.seed,
        init_std=a.init_std,
        split=a.split,
    )
    print(out)


if __name__ == "__main__":  # pragma: no cover
    main()
