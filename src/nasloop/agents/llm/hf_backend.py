"""`hf:<hub-id-or-dir>`: a transformers causal LM in this process, behind LangChain.

Uses langchain-huggingface's `ChatHuggingFace` over a `HuggingFacePipeline`, which applies
the tokenizer's chat template. The model is frozen (eval mode, no gradients), optionally
quantized with bitsandbytes (4-bit NF4 with double quantization, or 8-bit; CUDA only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasloop.agents.llm.backend import ChatBackend, LoadError
from nasloop.agents.llm.hf_many import PipelineMany
from nasloop.config import AgentsConfig


def _quantization(a: AgentsConfig, field: str) -> dict[str, Any]:
    if a.quantization == "none":
        return {}
    import torch

    if not torch.cuda.is_available():
        raise LoadError(
            f"agents.quantization = '{a.quantization}' needs a CUDA GPU and none is visible: "
            f"set agents.quantization = 'none' (or run on a GPU machine) for {field}"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise LoadError(
            f"agents.quantization = '{a.quantization}' needs bitsandbytes: pip install bitsandbytes"
        ) from None
    from transformers import BitsAndBytesConfig

    if a.quantization == "8bit":
        return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True)}
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
    }


def _looks_local(target: str) -> bool:
    return target.startswith(("/", ".", "~")) or Path(target).expanduser().exists()


def _context_window(model: Any, tokenizer: Any) -> int | None:
    n = getattr(model.config, "max_position_embeddings", None)
    if isinstance(n, int) and n > 0:
        return n
    m = getattr(tokenizer, "model_max_length", None)
    return m if isinstance(m, int) and 0 < m < 10**7 else None


def load_hf(target: str, a: AgentsConfig, field: str,
            weights: dict[Any, Any] | None = None) -> ChatBackend:
    """Load `target` (a hub id in the local cache, or a folder) as a frozen chat model.

    `weights` caches loaded (tokenizer, model) pairs by what loading depends on, so two
    roles that name one model with different sampling share its weights."""
    if _looks_local(target) and not Path(target).expanduser().is_dir():
        raise LoadError(f"{field} = 'hf:{target}': no such model folder")
    quant = _quantization(a, field)
    try:
        from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
        from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline, set_seed
    except ImportError as err:
        raise LoadError(
            f"{field} = 'hf:...' needs transformers and langchain-huggingface "
            f"({err.name} is missing): pip install transformers accelerate langchain-huggingface"
        ) from None
    path = str(Path(target).expanduser()) if _looks_local(target) else target
    adapter = a.adapter if field == "agents.generator" else ""
    key = (path, a.quantization, a.dtype, a.device_map, adapter)
    weights = {} if weights is None else weights
    try:
        if key not in weights:
            tok = AutoTokenizer.from_pretrained(path)
            weights[key] = tok, AutoModelForCausalLM.from_pretrained(
                path,
                dtype=a.dtype if a.dtype == "auto" else _torch_dtype(a.dtype),
                device_map=a.device_map or None,
                **quant,
            )
        tokenizer, model = weights[key]
    except OSError as err:  # missing files, no network for a hub id
        raise LoadError(
            f"cannot load {field} = 'hf:{target}': {_first(err)} - download it first "
            f"(`hf download {target}`) or point to a local folder"
        ) from None
    except (ValueError, ImportError, RuntimeError) as err:
        raise LoadError(f"cannot load {field} = 'hf:{target}': {_first(err)}") from None
    model.eval()
    model.requires_grad_(False)
    if not getattr(tokenizer, "chat_template", None):
        raise LoadError(
            f"{field} = 'hf:{target}': the tokenizer has no chat template; use an instruct model"
        )
    sample = a.temperature > 0
    gen: dict[str, Any] = {"max_new_tokens": a.max_new_tokens, "do_sample": sample}
    if sample:
        gen.update(temperature=a.temperature, top_p=a.top_p)
    pipe = pipeline(
        "text-generation", model=model, tokenizer=tokenizer, return_full_text=False, **gen
    )
    llm = HuggingFacePipeline(pipeline=pipe, model_id=target)
    chat = ChatHuggingFace(llm=llm, tokenizer=tokenizer, model_id=target)
    backend = ChatBackend(
        name=f"hf:{target}",
        chat=chat,
        max_new_tokens=a.max_new_tokens,
        context_window=a.context_window or _context_window(model, tokenizer),
        tokenizer=tokenizer,
        reseed=set_seed,
        model=model,
        many=PipelineMany(sampling=sample),  # several answers per generate call
    )
    if a.adapter and field == "agents.generator":
        from nasloop.finetune.lora import use_adapter  # needs peft: only with an adapter

        adapter = Path(a.adapter).expanduser()
        use_adapter(backend, adapter, field="agents.adapter")
        backend.name = f"hf:{target}+{adapter.name}"  # calls and candidates name the adapter
    return backend


def _first(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)
