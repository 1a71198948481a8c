"""The loop's graph for LangGraph's own tooling (langgraph.json, Studio, drawing).

`make_graph()` compiles the real wiring (nodes, edges, routers) without a run: a graph
that can be drawn and inspected, not executed. Each node says so when invoked, because a
node needs a run's resources (archive, sandbox, agents); searches run with `nasloop run`.
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from nasloop.graph.build import build_graph

NAME = "nasloop-loop"


def make_graph() -> CompiledStateGraph:
    """The compiled loop with placeholder nodes that raise "needs a run's resources"."""
    return build_graph().compile(name=NAME)


def mermaid() -> str:
    """The loop as a Mermaid flowchart (for docs and `draw`-style tooling)."""
    return make_graph().get_graph().draw_mermaid()
