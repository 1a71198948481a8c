"""Wiring of the loop as a LangGraph StateGraph with a SQLite checkpointer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from nasloop.graph.nodes import LoopNodes, after_check, after_novelty, after_plan
from nasloop.graph.resources import Resources
from nasloop.graph.state import SearchState
from nasloop.rundir import RunDir


def build_graph(nodes: LoopNodes | None = None) -> StateGraph:
    """The loop's StateGraph (uncompiled). Without `nodes`, node bodies are placeholders for
    tools that only draw the graph (langgraph.json)."""
    n = nodes
    g = StateGraph(SearchState)
    for name in (
        "plan",
        "generate",
        "check",
        "novelty",
        "evaluate",
        "record",
        "promote",
        "finetune",
        "improve",
    ):
        g.add_node(name, getattr(n, name) if n else _unbound(name))
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", after_plan, {"generate": "generate", "end": END})
    g.add_edge("generate", "check")
    g.add_conditional_edges("check", after_check, {"novelty": "novelty", "record": "record"})
    g.add_conditional_edges("novelty", after_novelty, {"evaluate": "evaluate", "record": "record"})
    g.add_edge("evaluate", "record")
    g.add_edge("record", "promote")
    g.add_edge("promote", "finetune")
    g.add_edge("finetune", "improve")
    g.add_edge("improve", "plan")
    return g


def _unbound(name: str):
    def node(state: SearchState) -> SearchState:
        raise RuntimeError(f"node {name!r} needs a run's resources: use `nasloop run`")

    return node


def open_checkpointer(run_dir: Path) -> SqliteSaver:
    """The run's checkpointer: a SqliteSaver on `checkpoints.sqlite` in the run directory."""
    conn = sqlite3.connect(RunDir(run_dir).checkpoints, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    return SqliteSaver(conn)


def compile_loop(res: Resources, checkpointer: SqliteSaver) -> CompiledStateGraph:
    """The runnable loop for one run, checkpointed every super-step (thread id = run id)."""
    return build_graph(LoopNodes(res)).compile(checkpointer=checkpointer)
