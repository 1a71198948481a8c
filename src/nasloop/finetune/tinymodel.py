"""A tiny coder model built on this machine: random weights, a tokenizer trained locally.

The fine-tuning bench needs a generator that starts knowing nothing (no downloaded
weights) and can only get better by the loop's own fine-tuning cycles. This builds a small
Llama-architecture causal LM with random weights and a byte-level BPE tokenizer trained with
`tokenizers` on Python code found here: the standard library's modules, nasloop's own
sources, its seed architectures and prompt templates (these last repeated, so that their
words become single tokens). The tokenizer has a ChatML chat template, so transformers,
LangChain and peft treat the result like any instruct model on the hub.

    python -m nasloop.finetune.tinymodel DIR [--hidden 128 --layers 4 --vocab 4096 --seed 0]

Same machine, same arguments, same seed: the same model, byte for byte.
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
OWN_REPEAT = 20  # nasloop's seeds and prompts count this many times over


def _own_texts() -> list[str]:
    """nasloop's seeds, prompt templates and sources (sorted, so deterministic)."""
    import nasloop

    root = Path(nasloop.__file__).parent
    files = sorted(root.rglob("*.py")) + sorted(root.rglob("*.txt"))
    return [p.read_text(encoding="utf-8") for p in files]


def _focus_texts() -> list[str]:
    from nasloop.seeds import list_seeds

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


def corpus(stdlib_bytes: int = STDLIB_BYTES) -> Iterator[str]:
    """The tokenizer's training texts, in a fixed order."""
    yield from _stdlib_texts(stdlib_bytes)
    yield from _own_texts()
    for _ in range(OWN_REPEAT):
        yield from _focus_texts()


def train_tokenizer(  # noqa: ANN201
    vocab: int, context: int, stdlib_bytes: int = STDLIB_BYTES, split: str = "words"
):
    """A byte-level BPE `PreTrainedTokenizerFast` with the ChatML template.

    `split="words"` pre-splits text like GPT-2 (a token never spans two words);
    `split="lines"` lets a token span up to a whole line (at most 48 characters), so that
    lines frequent in the training text (the seeds' own) become a few tokens each.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    if split == "lines":
        bpe.pre_tokenizer = pre_tokenizers.Sequence(
            [
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
    vocab: int = 4096,
    context: int = 4096,
    seed: int = 0,
    init_std: float = 0.02,
    split: str = "words",
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
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-std", type=float, default=0.02, help="std of the random weights")
    p.add_argument("--split", choices=["words", "lines"], default="words")
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
