"""Mutation analysis of a model file, run in the sandbox like any candidate.

The mutation engine imports, builds and fx-traces the parent to work out its shapes, so a
parent's module-level code runs during analysis: it must never run in the orchestrator.
`AnalysisRunner` is the sandbox side (ops "mutations" and "apply" in the candidate's own
forked process); `AnalysisSandbox` is the orchestrator side: one warm worker, created on
first use, results cached by code hash.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from nasloop.agents.mutation.spec import Mutation
    from nasloop.sandbox.executor import Isolation, LocalExecutor
    from nasloop.sandbox.job import EvalJob

ANALYSIS_RUNNER = "nasloop.tasks.image_classification.analysis:AnalysisRunner"
MUTATIONS, APPLY, CORPUS = "mutations", "apply", "corpus"  # EvalJob.op of an analysis job
TIME_LIMIT_S = 120.0  # one analysis (build, trace, confirm a child) on a busy machine
WARM_SHAPE = (1, 1, 32, 32)  # the input the warm-up analyses the lenet seed for


class AnalysisRunner:
    """A `TaskRunner` for the mutation engine: `op` "mutations" returns the applicable
    mutations (serialised specs, in the engine's order) as `reported["mutations"]`; `op`
    "apply" returns the child's code as `reported["code"]`, or fails with the one-line
    reason; `op` "corpus" realises a batch of channel variants (`corpus.build`).
    Nothing here is believed beyond that: a child is a candidate like any other."""

    @staticmethod
    def hidden_paths(job: EvalJob) -> list[str]:
        """The same label copies a training job hides (the analysis sees no data at all)."""
        from nasloop.sandbox.prepared import cache_root
        from nasloop.tasks.image_classification.runner import sklearn_data

        return [str(cache_root()), *sklearn_data()]

    def preload(self) -> None:
        from nasloop.agents.mutation import api
        from nasloop.tasks.image_classification import trainer

        trainer.preload()
        api.operator_summaries()  # imports libcst, fx and every operator before forking

    def warm(self, data: Any, waiting: Callable[[], bool]) -> None:
        """Trusted warm-up of a waiting analysis process: the built-in lenet seed analysed
        and one mutation of it applied (nasloop's own file, never a parent), so that a
        parent's analysis there does not pay a fresh process's first use of libcst, fx
        tracing and the operators. Keeps the RNG state; leaves no cached analysis."""
        import torch

        from nasloop.agents.mutation import api
        from nasloop.tasks.image_classification.seeds import seed_source

        code = seed_source("lenet")
        try:
            with torch.random.fork_rng(devices=[]):
                found = api.applicable_mutations(code, WARM_SHAPE, 10)
                norm = next((m for m in found if m.op == "norm"), None)
                if norm is not None and not waiting():
                    api.apply_mutation(code, norm, WARM_SHAPE, 10)
        finally:
            api.forget_analyses()

    def data_key(self, job: EvalJob) -> tuple[Any, ...]:
        return ()

    def load(self, job: EvalJob) -> Any:
        return None

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.agents.mutation import Mutation, MutationError, api
        from nasloop.sandbox.confine import ConfineError

        out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
        try:
            in_shape = tuple(job.params.get("in_shape", ()))
            classes = int(job.params.get("num_classes", 0))
            if job.op == MUTATIONS:
                found = api.applicable_mutations(job.code, in_shape, classes)
                reported: dict[str, Any] = {"mutations": [m.model_dump() for m in found]}
            elif job.op == CORPUS:
                reported = _corpus_batch(job)
            elif job.op == APPLY:
                mutation = Mutation.model_validate(job.params["mutation"])
                reported = {"code": api.apply_mutation(job.code, mutation, in_shape, classes)}
            else:
                out.update(failure_class="infrastructure", message=f"unknown op {job.op!r}")
                return out
        except MutationError as err:
            out.update(failure_class="mutation", message=err.reason)
            return out
        except ConfineError as err:  # the sandbox's fault: not cached, not the parent's
            out.update(failure_class="infrastructure", message=f"sandbox: {err}")
            return out
        except BaseException as exc:  # noqa: BLE001 - the parent's code may raise anything
            out.update(failure_class="mutation", message=f"{type(exc).__name__}: {exc}"[:300])
            return out
        out.update(status="ok", reported=reported)
        return out


def _corpus_batch(job: EvalJob) -> dict[str, Any]:
    from nasloop.corpus.build import CorpusOptions, variants_batch

    p = job.params
    opts = CorpusOptions(**{**p["options"], "in_shape": tuple(p["options"]["in_shape"])})
    return variants_batch(job.code, p["parent_name"], opts, p["existing"], p["skip"], p["take"])


def _key(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class AnalysisSandbox:
    """The orchestrator's handle on the analysis worker: started on first use (warm mode,
    the run's isolation), answers cached by (code hash, shapes[, mutation])."""

    CACHE = 256

    def __init__(self, isolation: Isolation = "auto", memory_mb: int = 6144,
                 slots: int = 1) -> None:
        self.isolation = isolation
        self.slots = slots
        self.memory_mb = memory_mb
        self.executor: LocalExecutor | None = None
        self.lock = threading.Lock()
        self.cache: OrderedDict[str, tuple[Any, str | None]] = OrderedDict()

    def _executor(self) -> LocalExecutor:
        with self.lock:
            if self.executor is None:
                from nasloop.sandbox.executor import LocalExecutor

                self.executor = LocalExecutor(self.slots, "warm", self.isolation, ANALYSIS_RUNNER)
            return self.executor

    def run_many(self, asks: list[tuple[str, str, dict[str, Any]]]
                 ) -> list[tuple[Any, str | None]]:
        """Run (op, code, params) jobs side by side; for each, (what the worker reported,
        None) or (None, the one-line reason). Never cached."""
        from nasloop.sandbox.job import EvalJob

        ex = self._executor()
        handles = [ex.submit(EvalJob(candidate_id=i, code=code, runner=ANALYSIS_RUNNER, op=op,
                                     params=params, time_limit_s=TIME_LIMIT_S,
                                     memory_limit_mb=self.memory_mb))
                   for i, (op, code, params) in enumerate(asks)]
        found: list[tuple[Any, str | None]] = []
        for handle in handles:
            res = ex.result(handle)
            if res.status == "ok":
                found.append((res.reported or {}, None))
            elif res.failure_class == "mutation":
                found.append((None, res.message or "mutation analysis failed"))
            else:
                found.append((None, f"{res.failure_class}: {res.message}"))
        return found

    def _ask(self, key: str, op: str, code: str, params: dict[str, Any]) -> tuple[Any, str | None]:
        """`run_many` of one job, cached by `key` (infrastructure failures are not)."""
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        got = self.run_many([(op, code, params)])[0]
        if got[1] is None or not got[1].startswith(("infrastructure:", "timeout:")):
            with self.lock:
                self.cache[key] = got
                while len(self.cache) > self.CACHE:
                    self.cache.popitem(last=False)
        return got

    def mutations(self, code: str, in_shape: tuple[int, ...], num_classes: int
                  ) -> tuple[Mutation, ...]:
        """The applicable mutations of `code`, in the engine's order (MutationError)."""
        from nasloop.agents.mutation.spec import Mutation, MutationError

        params = {"in_shape": list(in_shape), "num_classes": num_classes}
        got, why = self._ask(_key(MUTATIONS, code, in_shape, num_classes), MUTATIONS, code,
                             params)
        if why is not None:
            raise MutationError(why)
        try:
            return tuple(Mutation.model_validate(m) for m in got.get("mutations", []))
        except (ValueError, TypeError, AttributeError):
            raise MutationError("the analysis returned malformed mutations") from None

    def apply(self, code: str, mutation: Mutation, in_shape: tuple[int, ...],
              num_classes: int) -> str:
        """The child's code (MutationError with the one-line reason)."""
        from nasloop.agents.mutation.spec import MutationError

        spec = mutation.model_dump()
        params = {"in_shape": list(in_shape), "num_classes": num_classes, "mutation": spec}
        got, why = self._ask(_key(APPLY, code, in_shape, num_classes, sorted(spec.items())),
                             APPLY, code, params)
        if why is not None:
            raise MutationError(why)
        child = got.get("code")
        if not isinstance(child, str):
            raise MutationError("the analysis returned no code")
        return child

    def close(self) -> None:
        """Stop the worker (a later use starts a fresh one)."""
        with self.lock:
            ex, self.executor = self.executor, None
        if ex is not None:
            ex.close()


_SHARED: dict[tuple[str, int], AnalysisSandbox] = {}


def shared_sandbox(isolation: Isolation = "auto", memory_mb: int = 6144) -> AnalysisSandbox:
    """The process's analysis sandbox for these settings (one warm worker each)."""
    key = (isolation, memory_mb)
    if key not in _SHARED:
        _SHARED[key] = AnalysisSandbox(isolation, memory_mb)
    return _SHARED[key]


def close_all() -> None:
    """Stop every analysis worker (a task's close(); also at interpreter exit)."""
    for sandbox in list(_SHARED.values()):
        sandbox.close()


atexit.register(close_all)
