"""bitsandbytes 4-bit (NF4, double quantization) and 8-bit loading of the tiny model.

Runs only where CUDA and bitsandbytes are present (bitsandbytes quantizes on the GPU);
elsewhere it is skipped, saying why. Imports only the hf backend's own modules, so it runs
on a GPU machine that has transformers but not the whole loop's dependencies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")

if not torch.cuda.is_available():
    pytest.skip(
        "bitsandbytes 4-bit/8-bit loading needs a CUDA GPU and none is visible here",
        allow_module_level=True,
    )
pytest.importorskip(
    "bitsandbytes", reason="bitsandbytes is not installed (pip install bitsandbytes)"
)


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_quantized_model_loads_and_generates(tiny_model: Path, quantization: str) -> None:
    import bitsandbytes as bnb
    from langchain_core.messages import HumanMessage, SystemMessage

    from nasloop.agents.llm.backend import ask
    from nasloop.agents.llm.models import ModelPool
    from nasloop.config import AgentsConfig

    agents = AgentsConfig(
        generator=f"hf:{tiny_model}",
        quantization=quantization,
        max_new_tokens=16,
        temperature=0.0,
        device_map="cuda:0",
    )
    backend = ModelPool(agents).get("hf", str(tiny_model), "agents.generator")
    model = backend.chat.llm.pipeline.model
    kind = bnb.nn.Linear4bit if quantization == "4bit" else bnb.nn.Linear8bitLt
    quantized = [m for m in model.modules() if isinstance(m, kind)]
    assert quantized, f"no {kind.__name__} layer in the loaded model"
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert not any(p.requires_grad for p in model.parameters())  # frozen
    if quantization == "4bit":
        q = model.config.quantization_config
        assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    messages = [SystemMessage("You write PyTorch."), HumanMessage("Write class Net.")]
    reply = ask(backend, "generator", messages, seed=0)
    assert reply.call.ok, reply.call.error
    assert reply.call.tokens_in and reply.call.tokens_in > 5
    assert reply.call.tokens_out is not None and reply.call.tokens_out <= 16
    print(
        f"{quantization}: {len(quantized)} {kind.__name__} layers on "
        f"{torch.cuda.get_device_name(0)}, generated {reply.call.tokens_out} tokens "
        f"in {reply.call.latency_s:.2f} s"
    )
