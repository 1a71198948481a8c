"""LoRA adapters on the generator's frozen base model: train one, save it, generate with it.

`train_adapter` teaches the hf: generator a cycle's prompt -> answer pairs: the loss is
taken on the answer tokens only (the prompt is the tokenizer's chat template with the
generation prompt, exactly what the backend sends; the answer ends with the template's
end-of-turn), with AdamW, deterministic for a seed. On CUDA with a 4-bit base it is QLoRA
(peft's `prepare_model_for_kbit_training`). The adapter is written atomically: a temp
folder renamed into place, whose `train.json` (the `TrainReport`) is written last.

The base model stays frozen and shared: an adapter is injected into it in place (the
LangChain pipeline holds the same model object, so it generates with whatever adapter is
on), and swapping adapters unloads the old one first.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.config import ConfigError, FinetuneConfig
from nasloop.finetune.pair import Pair

IGNORE = -100  # label of a token that is not trained on (prompt, padding)
REPORT = "train.json"


class FinetuneError(Exception):
    """A fine-tuning step that cannot run as asked (one-line reason)."""


class TrainReport(BaseModel):
    """What one adapter training did (saved as the adapter folder's `train.json`)."""

    pairs: int  # pairs trained on
    skipped: int  # pairs longer than finetune.max_length, left out
    tokens: int  # tokens per epoch, prompts included
    answer_tokens: int  # of which trained on (loss tokens)
    epochs: int
    steps: int  # optimizer steps
    losses: list[float]  # mean answer-token loss of each epoch
    first_loss: float  # loss of the first step (before any update)
    last_loss: float  # loss of the last step
    wall_s: float
    seed: int
    init: str | None = None  # adapter it continued from (None: a fresh one)
    r: int
    alpha: int
    target_modules: list[str]
    learning_rate: float
    warmup: float = 0.0  # share of the steps the rate rose over
    last_lr: float | None = None  # the learning rate of the last step (decayed linearly)
    quantized: bool = False  # QLoRA on a 4-bit (or 8-bit) base
    device: str = "cpu"
    trainable_params: int = 0


# --- encoding ---------------------------------------------------------------------------


def answer_end(tokenizer: Any) -> str:
    """What the chat template writes after an assistant answer, e.g. ``<|im_end|>``.

    Read off the template itself (an answer rendered as the last turn); falls back to the
    tokenizer's eos token when the template writes nothing after it.
    """
    probe = [{"role": "user", "content": "hi"}]
    marker = "ANSWER_END_PROBE"
    try:
        head = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
        whole = tokenizer.apply_chat_template(
            [*probe, {"role": "assistant", "content": marker}], tokenize=False
        )
    except Exception:  # noqa: BLE001 - a template that cannot render an answer: use eos
        whole = head = ""
    end = ""
    if whole.startswith(head) and marker in whole[len(head) :]:
        end = whole[len(head) :].split(marker, 1)[1].rstrip()
    eos = tokenizer.eos_token or ""
    if not end:
        return eos
    if eos and eos not in end and not _has_special(tokenizer, end):
        end += eos
    return end


def _has_special(tokenizer: Any, text: str) -> bool:
    return any(t in text for t in getattr(tokenizer, "all_special_tokens", []) if t)


def encode_pair(tokenizer: Any, pair: Pair, end: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer + end, and labels: IGNORE on the prompt, the ids after."""
    prompt = tokenizer.apply_chat_template(
        [dict(m) for m in pair.messages], tokenize=False, add_generation_prompt=True
    )
    end = answer_end(tokenizer) if end is None else end
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    a = tokenizer(pair.answer + end, add_special_tokens=False)["input_ids"]
    return p + a, [IGNORE] * len(p) + a


# --- the model behind a backend -------------------------------------------------------


def _require_hf(backend: ChatBackend) -> None:
    if backend.model is None or backend.tokenizer is None:
        raise ConfigError(
            f"fine-tuning needs agents.generator = 'hf:...' (a model in this process); "
            f"{backend.name} is not one"
        )


def _peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ConfigError("fine-tuning needs peft: pip install 'nasloop[finetune]'") from None
    return peft


def _bare(backend: ChatBackend) -> Any:
    """The base model with no adapter on (an adapter in use is unloaded, not merged)."""
    peft = _peft()
    model = backend.model
    if isinstance(model, peft.PeftModel):
        model = model.unload()
        backend.model, backend.adapter = model, None
    return model


def _freeze(backend: ChatBackend, model: Any, adapter: str | None) -> None:
    model.eval()
    model.requires_grad_(False)
    backend.model, backend.adapter = model, adapter
    pipe = getattr(getattr(backend.chat, "llm", None), "pipeline", None)
    if pipe is not None:  # the pipeline must generate with the same (injected) base
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        if pipe.model is not base:
            pipe.model = base


def _load(peft: Any, base: Any, path: Path, trainable: bool, field: str) -> Any:
    """`base` with the adapter at `path` injected; LoadError (base restored) if it does not fit."""
    if not (path / "adapter_config.json").is_file():
        what = "no such folder" if not path.is_dir() else "no adapter_config.json"
        raise LoadError(f"{field} = '{path}': not a peft LoRA adapter folder ({what})")
    model = None
    try:
        config = peft.PeftConfig.from_pretrained(str(path))
        config.inference_mode = not trainable
        kind = peft.PeftModelForCausalLM if config.task_type == "CAUSAL_LM" else peft.PeftModel
        with _quiet():
            model = kind(base, config)
        result = model.load_adapter(str(path), adapter_name="default", is_trainable=trainable)
        missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
        if missing:
            raise ValueError(f"the adapter lacks weights the base needs, e.g. {missing[0]}")
    except (ValueError, RuntimeError, KeyError, TypeError, OSError) as err:
        if model is not None:
            model.unload()
        raise LoadError(
            f"{field} = '{path}': the adapter does not fit the base model: {_first(err)}"
        ) from None
    return model


@contextmanager
def _quiet() -> Iterator[None]:
    """peft warns about an lm_head LoRA on tied embeddings: here that is intended."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ensure_weight_tying.*")
        yield


def _first(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def use_adapter(backend: ChatBackend, path: Path, *, field: str = "adapter") -> None:
    """Make an hf: backend generate with the LoRA adapter saved at `path` (frozen)."""
    _require_hf(backend)
    peft = _peft()
    path = Path(path)
    previous = backend.adapter
    base = _bare(backend)
    try:
        model = _load(peft, base, path, trainable=False, field=field)
    except LoadError:
        if previous:  # put back what was generating before
            _freeze(backend, _load(peft, base, Path(previous), False, field), previous)
        raise
    _freeze(backend, model, str(path))


def _quantized(model: Any) -> bool:
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
    )


_LINEAR = ("Linear", "Linear4bit", "Linear8bitLt", "Conv1D")


def _targets(cfg: FinetuneConfig, model: Any) -> str | list[str]:
    """peft's target_modules. "all-linear" beside other names (e.g. "lm_head", which a base
    with random or tied embeddings needs) means every linear layer but the output one, plus
    those names."""
    t = list(dict.fromkeys(cfg.target_modules))
    if "all-linear" not in t:
        return t
    if t == ["all-linear"]:
        return "all-linear"
    out = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, m in model.named_modules()
        if type(m).__name__ in _LINEAR and m is not out
    }
    return sorted(names | (set(t) - {"all-linear"}))


def _device(model: Any) -> Any:
    return model.get_input_embeddings().weight.device


# --- training ---------------------------------------------------------------------------


def _prepare(peft: Any, base: Any, quantized: bool, cuda: bool) -> None:
    if quantized:
        if not getattr(base, "_nasloop_kbit_ready", False):
            peft.prepare_model_for_kbit_training(
                base,
                use_gradient_checkpointing=True,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
            base._nasloop_kbit_ready = True
        else:
            base.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
    elif cuda and getattr(base, "supports_gradient_checkpointing", False):
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _step_loss(model: Any, ids: list[int], labels: list[int], scale: float) -> float:
    """Backward one sequence's summed answer-token loss times `scale`; return the sum."""
    import torch
    import torch.nn.functional as F

    first = next(i for i, v in enumerate(labels) if v != IGNORE)
    keep = len(ids) - first + 1  # logits from the position before the first answer token
    device = _device(model)
    x = torch.tensor([ids], device=device)
    y = torch.tensor(labels[first:], device=device)
    try:  # logits of the answer positions only: the prompt's would be a vocab-wide waste
        logits = model(input_ids=x, logits_to_keep=keep, use_cache=False).logits
    except TypeError:  # a model class without logits_to_keep
        logits = model(input_ids=x, use_cache=False).logits[:, -keep:]
    logits = logits[0, :-1]
    loss = F.cross_entropy(logits.float(), y, ignore_index=IGNORE, reduction="sum")
    (loss * scale).backward()
    return float(loss.detach())


def train_adapter(
    backend: ChatBackend,
    pairs: list[Pair],
    out: Path,
    cfg: FinetuneConfig,
    *,
    seed: int,
    init: Path | None = None,
) -> TrainReport:
    """Train a LoRA adapter on `pairs`, save it to `out`, and generate with it from now on."""
    _require_hf(backend)
    peft = _peft()
    import torch

    t0 = time.perf_counter()
    tok = backend.tokenizer
    end = answer_end(tok)
    encoded, skipped = [], 0
    for pair in pairs:
        ids, labels = encode_pair(tok, pair, end)
        if len(ids) > cfg.max_length:
            skipped += 1
        else:
            encoded.append((ids, labels))
    if not encoded:
        raise FinetuneError(
            f"no pair to train on: {skipped} of {len(pairs)} longer than "
            f"finetune.max_length = {cfg.max_length}"
        )

    previous = backend.adapter
    base = _bare(backend)
    quantized = _quantized(base)
    cuda = _device(base).type == "cuda"
    model = None
    try:
        _prepare(peft, base, quantized, cuda)
        torch.manual_seed(seed)
        model = _adapter(peft, base, cfg, init)
        params = [p for p in model.parameters() if p.requires_grad]
        fit = _fit(model, params, encoded, cfg, seed)
    except BaseException:
        if model is not None:  # drop the half-trained adapter: generate as before
            model.unload()
        _freeze(backend, base, None)
        if previous:
            use_adapter(backend, Path(previous))
        raise
    finally:
        if cuda and getattr(base, "supports_gradient_checkpointing", False):
            base.gradient_checkpointing_disable()
    report = TrainReport(
        pairs=len(encoded),
        skipped=skipped,
        tokens=sum(len(ids) for ids, _ in encoded),
        answer_tokens=sum(sum(1 for v in lab if v != IGNORE) for _, lab in encoded),
        epochs=cfg.epochs,
        **fit,
        wall_s=0.0,
        seed=seed,
        init=str(init) if init is not None else None,
        r=cfg.r,
        alpha=cfg.alpha,
        target_modules=list(cfg.target_modules),
        learning_rate=cfg.learning_rate,
        warmup=cfg.warmup,
        quantized=quantized,
        device=str(_device(base)),
        trainable_params=sum(p.numel() for p in params),
    )
    _freeze(backend, model, None)
    report.wall_s = round(time.perf_counter() - t0, 3)
    _save(model, Path(out), report)
    backend.adapter = str(out)
    return report


def _adapter(peft: Any, base: Any, cfg: FinetuneConfig, init: Path | None) -> Any:
    """A trainable adapter on `base`: the one saved at `init`, or a fresh one."""
    if init is not None:
        return _load(peft, base, Path(init), trainable=True, field="finetune init adapter")
    config = peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=_targets(cfg, base),
        bias="none",
        task_type="CAUSAL_LM",
    )
    with _quiet():
        return peft.get_peft_model(base, config)


def _lr_factor(planned: int, warmup: float, step: int) -> float:
    """The learning rate's multiplier at optimizer step `step` of `planned`: a linear rise
    over the first `warmup` share of the steps, then a linear decay towards zero."""
    rise = math.ceil(warmup * planned)
    if step < rise:
        return (step + 1) / (rise + 1)
    return 1.0 - step / (planned + 1)


def _fit(
    model: Any,
    params: list[Any],
    encoded: list[tuple[list[int], list[int]]],
    cfg: FinetuneConfig,
    seed: int,
) -> dict[str, Any]:
    """AdamW over `encoded` for cfg.epochs: shuffled per epoch (seeded), batch_size
    sequences per optimizer step (accumulated one at a time, loss averaged over the step's
    answer tokens), gradients clipped to norm 1, the learning rate decayed linearly from
    cfg.learning_rate towards zero over the cycle's steps (as transformers' Trainer does),
    after rising from zero over the first cfg.warmup share of them."""
    import torch

    optim = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    planned = cfg.epochs * math.ceil(len(encoded) / cfg.batch_size)
    decay = torch.optim.lr_scheduler.LambdaLR(optim, partial(_lr_factor, planned, cfg.warmup))
    rng = random.Random(seed)
    losses: list[float] = []
    first_loss = last_loss = last_lr = math.nan
    steps = 0
    model.train()
    for _epoch in range(cfg.epochs):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        total, count = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            batch = [encoded[i] for i in order[start : start + cfg.batch_size]]
            n = sum(sum(1 for v in lab if v != IGNORE) for _, lab in batch)
            optim.zero_grad(set_to_none=True)
            step_sum = 0.0
            for ids, labels in batch:  # one sequence at a time: no padding, bounded memory
                step_sum += _step_loss(model, ids, labels, 1.0 / n)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            last_lr = optim.param_groups[0]["lr"]
            optim.step()
            decay.step()
            steps += 1
            last_loss = step_sum / n
            if steps == 1:
                first_loss = last_loss
            total, count = total + step_sum, count + n
        losses.append(total / count)
    optim.zero_grad(set_to_none=True)
    return {
        "steps": steps,
        "losses": losses,
        "first_loss": first_loss,
        "last_loss": last_loss,
        "last_lr": last_lr,
    }


def _save(model: Any, out: Path, report: TrainReport) -> None:
    """Write the adapter to a temp folder, `train.json` last, then rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    for stale in (tmp, old):
        shutil.rmtree(stale, ignore_errors=True)
    # The base's embeddings are never trained (an lm_head target gets a LoRA of its own).
    model.save_pretrained(str(tmp), save_embedding_layers=False)
    (tmp / REPORT).write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def read_report(path: Path) -> TrainReport | None:
    """The report of a complete adapter folder (None: absent or unfinished)."""
    f = Path(path) / REPORT
    if not f.is_file():
        return None
    try:
        return TrainReport.model_validate(json.loads(f.read_text(encoding="utf-8")))
    except ValueError:
        return None
