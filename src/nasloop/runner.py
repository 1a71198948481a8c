"""Starting and resuming a search: the run directory, its resources, and driving the graph."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasloop.agents.base import CodeGenerator, PromptImprover, SeesArchive
from nasloop.agents.factory import build_agents
from nasloop.config import Config, ConfigError, build_config
from nasloop.graph.build import compile_loop, open_checkpointer
from nasloop.graph.resources import Resources
from nasloop.graph.state import initial_state
from nasloop.inspect.rundir import InspectError, RunView
from nasloop.inspect.tracing import env_callbacks
from nasloop.memory.archive import Archive, Candidate
from nasloop.memory.novelty import NoveltyIndex, from_bytes
from nasloop.plugins import class_path
from nasloop.rundir import RunDir, RunLocked
from nasloop.sandbox.factory import build_executor, check_isolation_policy
from nasloop.strategy.custom import build_strategy
from nasloop.summary import summarize, write_summary
from nasloop.tasks.base import Task
from nasloop.tasks.registry import build_task

# What may change when a run is resumed: its stop rules. Anything else would mix two searches.
RESUMABLE_KEYS = ("run.budget", "run.max_wall_s", "run.patience")


class RunError(Exception):
    """A run that cannot start or resume: one line, exit code 2."""


def load_seeds(task: Task) -> list[tuple[str, str]]:
    """The task's seeds, in a fixed order; ConfigError when there is none."""
    seeds = task.seeds()
    if not seeds:
        raise ConfigError("bad config: field 'seeds': no seed (builtin off, no files)")
    return seeds


def refuse_existing(out: Path) -> None:
    """RunError when `out` already holds a run."""
    if RunDir(out).holds_run():
        raise RunError(
            f"{out} already holds a run: continue it with `nasloop resume {out}` "
            "(or `nasloop run --resume`), or pick a new --out"
        )


def new_run(config: Config, out: Path) -> str:
    """Create the run directory for a new search; refuse one that already holds a run."""
    refuse_existing(out)
    check_isolation_policy(config)
    rd = RunDir(out)
    out.mkdir(parents=True, exist_ok=True)
    run_id = f"{out.resolve().name}-{uuid.uuid4().hex[:8]}"
    rd.config.write_text(json.dumps(config.model_dump(), indent=2) + "\n")
    task = build_task(config)
    archive = Archive(rd.archive, task.objective.direction)
    archive.set_meta("run_id", run_id)
    archive.set_meta("config", config.model_dump())
    archive.set_meta("objective", task.objective.model_dump())
    archive.close()
    return run_id


def resume_config(out: Path, overrides: dict[str, Any]) -> Config:
    """The saved config of a run, with only its stop rules overridable."""
    rd = RunDir(out)
    if not rd.holds_run() or not rd.config.exists():
        raise RunError(f"{out} holds no run to resume (no {rd.ARCHIVE} / {rd.CONFIG})")
    bad = [k for k, v in overrides.items() if v is not None and k not in RESUMABLE_KEYS]
    if bad:
        raise RunError(f"cannot change {bad[0]} when resuming (only {', '.join(RESUMABLE_KEYS)})")
    check_archive(rd)
    try:
        saved = json.loads(rd.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunError(f"{rd.config} is damaged ({err}); the run was left as it is") from None
    return build_config(saved, overrides)


def check_archive(rd: RunDir) -> None:
    """RunError (and nothing touched) unless the run's archive is a readable nasloop archive:
    a zero-byte or damaged file must never be taken as a new, empty run."""
    import sqlite3

    try:
        db = sqlite3.connect(f"{rd.archive.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()
            db.execute("SELECT COUNT(*) FROM candidates").fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        raise RunError(f"{rd.archive} is not a readable nasloop archive ({err}); the run was "
                       "left as it is") from None
    if row is None:
        raise RunError(f"{rd.archive} holds no run id (damaged); the run was left as it is")


def check_promotion(config: Config, task: Task) -> None:
    """ConfigError when [search.promote] is on but the task offers no promotion."""
    if config.search.promote.enabled and task.promote_job(0, "", epochs=1, seed=0) is None:
        raise ConfigError(f"bad config: field 'search.promote.enabled': the {task.kind} task "
                          "as configured offers no promotion (several datasets, or a runner of"
                          " its own)")


def check_agents(archive: Archive, improver: PromptImprover, generator: CodeGenerator) -> None:
    """Record which agent classes the run uses; RunError (one line, naming it) when a resumed
    run would continue with another than it was made with, which would mix two searches."""
    used = {"improver": class_path(improver), "generator": class_path(generator)}
    saved = archive.get_meta("agents")
    if saved is None:
        archive.set_meta("agents", used)
        return
    for role in ("improver", "generator"):
        if saved.get(role) != used[role]:
            raise RunError(
                f"this run's {role} was {saved.get(role)}, not {used[role]}: resume it with "
                f"the same {role} (name your own in the config: agents.{role} = "
                f'"python:module:Class")')


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def drive(
    config: Config,
    out: Path,
    *,
    on_candidate: Callable[[Candidate, int], None] = lambda c, s: None,
    on_node: Callable[[str], None] = lambda name: None,
    agents: tuple[PromptImprover, CodeGenerator] | None = None,
) -> dict[str, Any]:
    """Run (or continue) the search in `out` until a stop rule fires; return the summary.

    The run's write lock is held throughout (a second writer is a RunError naming this
    one's pid). A KeyboardInterrupt (Ctrl-C, SIGTERM) leaves status `interrupted` and
    propagates. `agents` are the already built (improver, generator); built when None.
    """
    try:
        with RunDir(out).hold():
            return _drive(config, out, on_candidate, on_node, agents)
    except RunLocked as err:
        raise RunError(str(err)) from None


def _drive(
    config: Config,
    out: Path,
    on_candidate: Callable[[Candidate, int], None],
    on_node: Callable[[str], None],
    agents: tuple[PromptImprover, CodeGenerator] | None,
) -> dict[str, Any]:
    try:
        callbacks = env_callbacks()  # Langfuse when its keys are set; else none
        check_isolation_policy(config)
    except (InspectError, ConfigError) as err:
        raise RunError(str(err)) from None
    task = build_task(config)
    rd = RunDir(out)
    archive = Archive(rd.archive, task.objective.direction)
    run_id = archive.get_meta("run_id")
    seeds = load_seeds(task)
    try:
        improver, generator = agents or build_agents(task)
        strategy = build_strategy(config)
        check_promotion(config, task)
        check_agents(archive, improver, generator)
    except (ConfigError, RunError) as err:
        archive.close()
        raise RunError(str(err)) from None
    view = RunView(out)
    for user in (improver, generator, strategy):
        if isinstance(user, SeesArchive):
            user.see(view)
    index = NoveltyIndex(config.memory.novelty_threshold, config.memory.num_perm)
    for cid, blob in archive.signatures():
        index.add(cid, from_bytes(blob, config.memory.num_perm), archive.get(cid).code)
    checkpointer = open_checkpointer(out)
    # before our SIGTERM handler: ray.init sets its own
    executor = build_executor(config, task.runner)
    res = Resources(
        config=config,
        run_dir=out,
        archive=archive,
        executor=executor,
        improver=improver,
        generator=generator,
        novelty=index,
        seeds=seeds,
        task=task,
        brief=task.brief(),
        on_candidate=on_candidate,
        strategy=strategy,
        view=view,
        wall_before_s=float(archive.get_meta("wall_s", 0.0)),
    )
    status, stop_reason = "interrupted", None
    try:
        if config.finetune.enabled:
            from nasloop.finetune.cycle import FinetuneCycles, check_finetune

            check_finetune(config, (improver, generator))
            res.cycles = FinetuneCycles(res)
            res.cycles.restore()
        with _sigterm_as_interrupt():
            graph = compile_loop(res, checkpointer)
            cfg = {
                "configurable": {"thread_id": run_id},
                "recursion_limit": 12 * config.run.budget + 100,
                "callbacks": callbacks,
            }
            snap = graph.get_state(cfg)
            if not snap.values:
                inp: Any = initial_state(run_id)
            elif snap.next:
                inp = None
            else:  # it had stopped; a larger budget or later stop rules let it go on
                graph.update_state(cfg, {"stop_reason": None}, as_node="record")
                inp = None
            write_summary(
                out, summarize(archive, status="running", wall_s=res.wall_s(), stop_reason=None)
            )
            for update in graph.stream(inp, cfg, stream_mode="updates"):
                for name in update:
                    on_node(name)
            stop_reason = graph.get_state(cfg).values.get("stop_reason")
            status = "finished"
            task.after_run(out, archive)
    finally:
        archive.set_meta("wall_s", res.wall_s())
        summary = summarize(archive, status=status, wall_s=res.wall_s(), stop_reason=stop_reason)
        write_summary(out, summary)
        executor.close()
        task.close()
        checkpointer.conn.close()
        view.close()
        archive.close()
    return summary
