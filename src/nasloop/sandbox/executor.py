"""Executors: where EvalJobs run. `LocalExecutor` runs them in sandbox workers on this host."""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from dataclasses import dataclass
from queue import Queue
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from nasloop.sandbox import bwrap, procs
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.forkserver import TEMPLATE_NAME
from nasloop.sandbox.job import EvalJob, EvalResult
from nasloop.sandbox.pending import Pending, PendingJobs
from nasloop.sandbox.prepared import PrepareError, prepare_job
from nasloop.sandbox.workerproc import WorkerDied, WorkerProcess, WorkerStartError
from nasloop.sandbox.zygote import IDLE_NAME

log = logging.getLogger("nasloop.sandbox")

Mode = Literal["warm", "cold"]
Isolation = Literal["auto", "bwrap", "none"]


class Executor(Protocol):
    """Runs EvalJobs somewhere; candidate misbehaviour never raises, it is a result."""

    def submit(self, job: EvalJob) -> str: ...

    def result(self, handle: str, timeout: float | None = None) -> EvalResult: ...

    def cancel(self, handle: str) -> None: ...

    def close(self) -> None: ...


def failed(job: EvalJob, cls: FailureClass, message: str) -> EvalResult:
    """A failed EvalResult for `job`."""
    return EvalResult(candidate_id=job.candidate_id, status="failed",
                      failure_class=cls.value, message=message[:500])


def resolve_isolation(isolation: Isolation) -> bool:
    """True to use bubblewrap. 'auto' falls back (loudly) when bwrap is missing."""
    if isolation == "none":
        bwrap.warn_missing()
        return False
    if bwrap.bwrap_path() is not None:
        return True
    if isolation == "bwrap":
        raise RuntimeError("isolation='bwrap' but bubblewrap is not usable; "
                           "install it with `apt-get install -y bubblewrap`")
    bwrap.warn_missing()
    return False


def runner_class(path: str) -> Any:
    """The task runner class named by "module:Class" (imported, not instantiated)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def score_result(job: EvalJob, raw: dict[str, Any]) -> dict[str, Any]:
    """The worker's raw result scored on this (trusted) side by the job's runner: the
    candidate's outputs become metrics here, never in its own process. A runner without
    `score` reports its metrics itself."""
    score = getattr(runner_class(job.runner), "score", None)
    if score is None or not isinstance(raw, dict):
        return raw
    try:
        return score(job, raw)
    except Exception as exc:  # noqa: BLE001 - a scorer that breaks is ours, not the candidate's
        return {"candidate_id": job.candidate_id, "status": "failed",
                "failure_class": FailureClass.INFRASTRUCTURE.value,
                "message": f"scoring failed: {type(exc).__name__}: {exc}"[:300]}


def job_paths(job: EvalJob) -> tuple[list[str], list[str]]:
    """Host paths the sandbox must see for a job, and those it must not (labels, datasets):
    its runner's `read_paths` and `hidden_paths`, when it has them."""
    cls = runner_class(job.runner)
    read_paths = getattr(cls, "read_paths", None)
    hidden_paths = getattr(cls, "hidden_paths", None)
    return (list(read_paths(job)) if read_paths is not None else [],
            list(hidden_paths(job)) if hidden_paths is not None else [])


@dataclass
class _Pending(Pending):
    slot: _Slot | None = None
    cancelled: bool = False


class _Slot(threading.Thread):
    """One concurrent evaluation: a thread that owns (and spawned) one worker process."""

    def __init__(self, owner: LocalExecutor, index: int) -> None:
        super().__init__(name=f"nasloop-sandbox-{index}", daemon=True)
        self.owner = owner
        self.index = index
        self.worker: WorkerProcess | None = None
        self.worker_paths: list[str] = []
        self.worker_hidden: list[str] = []
        self.runner = owner.runner  # the task runner the worker is started with
        self.lock = threading.Lock()
        self.clean = threading.Event()  # set while no candidate process is left
        self.clean.set()

    def run(self) -> None:
        if self.owner.mode == "warm" and self.runner:
            self._ensure_worker([], [], self.runner)  # start warm now; a failure is retried
        while True:
            item = self.owner.queue.get()
            if item is None:
                break
            handle, pending = item
            with self.owner.lock:
                if pending.cancelled:
                    continue
                pending.slot = self
                self.clean.clear()
            result, worker = self._evaluate(pending.job, handle)
            self.owner.finish(handle, result)  # the caller goes on while the worker cleans
            self._await_clean(worker)
        self._stop_worker()

    def _ensure_worker(self, paths: list[str], hidden: list[str], runner: str) -> str | None:
        """Start (or restart) the worker when needed; return an error message on failure."""
        with self.lock:
            w = self.worker
            if (w is not None and w.alive() and w.covers(paths, hidden)
                    and self.runner == runner):
                return None
        self._stop_worker()
        keep = sorted(set(paths) | set(self.worker_paths))
        hide = sorted(set(hidden) | set(self.worker_hidden))
        try:
            worker = WorkerProcess(self.owner.use_bwrap, runner, keep, hide,
                                   self.owner.first_slot + self.index)
        except (WorkerStartError, TimeoutError, OSError, ValueError) as exc:
            return str(exc)
        with self.lock:
            self.worker, self.worker_paths, self.runner = worker, keep, runner
            self.worker_hidden = hide
        return None

    def _stop_worker(self) -> None:
        with self.lock:
            worker, self.worker = self.worker, None
        if worker is not None:
            worker.close()

    def _evaluate(self, job: EvalJob, handle: str
                  ) -> tuple[EvalResult, WorkerProcess | None]:
        """Run `job`; returns its result and the worker still cleaning up after it."""
        try:
            job = prepare_job(job, runner_class(job.runner))
            paths, hidden = job_paths(job)
        except (ImportError, AttributeError, ValueError, PrepareError) as exc:
            why = f"task runner {job.runner!r}: {exc}"
            return failed(job, FailureClass.INFRASTRUCTURE, why), None
        error = self._ensure_worker(paths, hidden, job.runner)
        if error is not None:
            error = self._ensure_worker(paths, hidden, job.runner)  # one retry
        worker = self.worker
        if error is not None or worker is None:
            return failed(job, FailureClass.INFRASTRUCTURE, f"sandbox worker: {error}"), None
        try:
            raw = worker.run(job, handle)
        except WorkerDied as exc:
            self._stop_worker()
            return failed(job, FailureClass.CRASH, "the sandbox worker died while running "
                          f"this candidate (restarted). {exc}".strip()), None
        except TimeoutError:
            self._stop_worker()
            return failed(job, FailureClass.TIMEOUT, "the sandbox worker stopped answering; "
                          "killed with its candidate"), None
        try:
            return EvalResult.model_validate(score_result(job, raw)), worker
        except ValidationError as exc:
            return failed(job, FailureClass.INFRASTRUCTURE, f"malformed result: {exc}"), worker

    def _await_clean(self, worker: WorkerProcess | None) -> None:
        """Wait until the worker killed and reaped the last candidate's processes."""
        try:
            if worker is not None:
                worker.wait_clean()
        except (WorkerDied, TimeoutError):
            self._stop_worker()
        finally:
            if self.owner.mode == "cold":
                self._stop_worker()
            self.clean.set()

    def cancel(self, handle: str) -> None:
        with self.lock:
            worker = self.worker
        if worker is not None:
            worker.cancel(handle)


class LocalExecutor(PendingJobs):
    """Evaluate jobs in sandbox workers on this machine.

    `mode="warm"`: each slot keeps a worker that imported torch and the task `runner` once
    and forks a child per candidate (milliseconds of overhead). `mode="cold"`: a fresh
    worker process per candidate (seconds). `isolation`: "bwrap" (required), "none", or
    "auto" (bwrap when usable, else a loud warning). `max_in_flight` candidates run at once,
    each pinned to its own `threads` CPUs while there are enough (`first_slot` offsets the
    choice, for several executors on one machine).
    """

    def __init__(self, max_in_flight: int = 1, mode: Mode = "warm",
                 isolation: Isolation = "auto", runner: str = "", first_slot: int = 0) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.mode = mode
        self.first_slot = first_slot  # slot i's candidates are pinned to CPUs picked by i
        self.runner = runner  # preloaded by warm workers from the start ("": the first job's)
        self.use_bwrap = resolve_isolation(isolation)
        self.isolation = "bwrap" if self.use_bwrap else "none"
        PendingJobs.__init__(self)
        self.queue: Queue[tuple[str, _Pending] | None] = Queue()
        self.closed = False
        self.slots = [_Slot(self, i) for i in range(max_in_flight)]
        for slot in self.slots:
            slot.start()

    def submit(self, job: EvalJob) -> str:
        """Queue `job`; returns a handle at once."""
        if self.closed:
            raise RuntimeError("executor is closed")
        handle = uuid.uuid4().hex
        with self.lock:
            self.pending[handle] = _Pending(job)
        self.queue.put((handle, self.pending[handle]))
        return handle

    def cancel(self, handle: str) -> None:
        """Drop a queued job, or kill the running one (its result says it was cancelled)."""
        with self.lock:
            pending = self.pending.get(handle)
            if pending is None or pending.done.is_set():
                return
            pending.cancelled = True
            slot = pending.slot
        if slot is None:
            self.finish(handle, failed(pending.job, FailureClass.INFRASTRUCTURE,
                                       "cancelled by the orchestrator"))
        else:
            slot.cancel(handle)

    def close(self) -> None:
        """Stop every worker and its candidates; unfinished jobs fail as cancelled."""
        if self.closed:
            return
        self.closed = True
        with self.lock:
            unfinished = [(h, p) for h, p in self.pending.items() if not p.done.is_set()]
        for handle, _ in unfinished:
            self.cancel(handle)
        for _ in self.slots:
            self.queue.put(None)
        for slot in self.slots:
            slot.join(timeout=60)
            slot._stop_worker()

    def candidate_pids(self) -> list[int]:
        """Live processes started by candidates (below the workers), once the workers have
        cleaned up after the jobs that finished; empty between jobs.

        `result()` returns as soon as the result is known, while the worker kills and reaps
        the candidate's processes (the next job on that worker waits for it). An idle
        pre-forked process that has not been given a job yet is not counted."""
        found: list[int] = []
        for slot in self.slots:
            slot.clean.wait(timeout=60)
            with slot.lock:
                worker = slot.worker
            if worker is not None and worker.alive():
                top = procs.below_bwrap(worker.proc.pid)
                found += [p for p in procs.descendants(top) if procs.alive(p)
                          and procs.comm(p) not in (IDLE_NAME.decode(), TEMPLATE_NAME.decode())]
        return found

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
