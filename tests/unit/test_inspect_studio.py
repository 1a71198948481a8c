"""langgraph.json and the graph it names: loadable without a run, drawable, and honest."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from langgraph.graph.state import CompiledStateGraph

from nasloop.graph.studio import make_graph, mermaid

ROOT = Path(__file__).resolve().parents[2]
NODES = {"plan", "generate", "check", "novelty", "evaluate", "record", "promote", "finetune",
         "improve"}


def load_from_langgraph_json() -> CompiledStateGraph:
    """Load the graph the way LangGraph's tooling does: file path and attribute."""
    spec = json.loads((ROOT / "langgraph.json").read_text())
    assert spec["dependencies"] == ["."]
    path, _, attr = spec["graphs"]["nasloop"].partition(":")
    mod_spec = importlib.util.spec_from_file_location("nasloop_studio_probe", ROOT / path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    graph = getattr(module, attr)
    return graph() if callable(graph) and not isinstance(graph, CompiledStateGraph) else graph


def test_langgraph_json_names_the_loop() -> None:
    graph = load_from_langgraph_json()
    assert isinstance(graph, CompiledStateGraph)
    drawn = graph.get_graph()
    assert NODES <= set(drawn.nodes)
    edges = {(e.source, e.target) for e in drawn.edges}
    assert {("__start__", "plan"), ("record", "promote"), ("promote", "finetune"),
            ("finetune", "improve"),
            ("improve", "plan"), ("novelty", "evaluate"), ("check", "record"),
            ("plan", "__end__")} <= edges


def test_nodes_explain_they_need_a_run() -> None:
    with pytest.raises(RuntimeError, match="needs a run's resources: use `nasloop run`"):
        make_graph().invoke({"run_id": "x", "step": 0})


def test_mermaid_draws_every_node() -> None:
    text = mermaid()
    assert all(f"{n}({n})" in text for n in NODES)
    assert "record --> promote" in text and "promote --> finetune" in text
    assert "finetune --> improve" in text
