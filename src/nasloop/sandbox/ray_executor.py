"""`RayExecutor`: EvalJobs fanned out on a Ray cluster, each run in the sandbox where it lands.

Every job is one Ray task. Ray places it (resources per candidate, SPREAD over the nodes)
and retries it once when the worker or node running it dies (`max_retries=1`); the task runs
the candidate in a warm `LocalExecutor` kept in that Ray worker process, so the sandbox
(bubblewrap, limits, die-with-parent) is the same as on one machine. Only results travel
back: workers never see the run directory or its SQLite archive.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from nasloop.sandbox.executor import Isolation, LocalExecutor, Mode, failed
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.job import EvalJob, EvalResult
from nasloop.sandbox.pending import Pending, PendingJobs

log = logging.getLogger("nasloop.sandbox")

RETRIES = 1  # extra attempts of a candidate whose worker, node or sandbox was lost
POLL_S = 0.2  # how often the watcher thread wakes to release queued jobs


class SandboxUnavailable(RuntimeError):
    """The sandbox could not run on this Ray worker (Ray retries the task elsewhere)."""


# --- worker side (runs inside a Ray worker process) ----------------------------------------

_LOCAL: dict[tuple[str, str, str], LocalExecutor] = {}


def _local_executor(mode: Mode, isolation: Isolation) -> LocalExecutor:
    """This Ray worker's warm sandbox; a new one when Ray hands it other GPUs."""
    key = (mode, isolation, os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    if key not in _LOCAL:
        for old in list(_LOCAL.values()):
            old.close()
        _LOCAL.clear()
        # Ray workers on one machine each have their own executor: spread their CPUs
        _LOCAL[key] = LocalExecutor(max_in_flight=1, mode=mode, isolation=isolation,
                                    first_slot=os.getpid())
    return _LOCAL[key]


def evaluate_on_worker(job: dict[str, Any], mode: Mode,
                       isolation: Isolation) -> tuple[dict[str, Any], str, str]:
    """Run one job in this node's sandbox; return (EvalResult fields, node id, isolation)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    try:
        local = _local_executor(mode, isolation)
    except RuntimeError as exc:  # e.g. isolation="bwrap" on a node without bubblewrap
        raise SandboxUnavailable(f"node {node[:12]}: {exc}") from exc
    result = local.result(local.submit(EvalJob.model_validate(job)))
    if result.failure_class == FailureClass.INFRASTRUCTURE.value:
        raise SandboxUnavailable(f"node {node[:12]}: {result.message}")
    return result.model_dump(), node, local.isolation


# --- orchestrator side ---------------------------------------------------------------------


@dataclass
class _Pending(Pending):
    ref: Any = None  # the task's ObjectRef once released to Ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("executor.kind='ray' needs Ray: pip install 'nasloop[ray]'") from exc
    return ray


def collect(ray: Any, ref: Any, job: EvalJob) -> tuple[EvalResult, str | None, str | None]:
    """(result, node id, isolation) of a finished task; a lost worker or sandbox, or anything
    else that is not the candidate's doing, becomes an `infrastructure` result."""
    from ray import exceptions as rx

    try:
        raw, node, isolation = ray.get(ref)
        return EvalResult.model_validate(raw), node, isolation
    except rx.TaskCancelledError:
        return failed(job, FailureClass.INFRASTRUCTURE, "cancelled by the orchestrator"), None, None
    except rx.RayTaskError as exc:  # our task code raised, after its retry
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        return failed(job, FailureClass.INFRASTRUCTURE,
                      f"sandbox unavailable after {RETRIES + 1} attempts: {cause}"), None, None
    except rx.RayError as exc:  # worker/node died (after the retry), object lost, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return failed(job, FailureClass.INFRASTRUCTURE,
                      f"Ray worker lost {RETRIES + 1} times: {type(exc).__name__}: "
                      f"{first}"), None, None
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed result; never the candidate's
        return failed(job, FailureClass.INFRASTRUCTURE,
                      f"Ray result unusable: {type(exc).__name__}: {exc}"), None, None


class RayExecutor(PendingJobs):
    """Evaluate jobs on a Ray cluster; same contract as `LocalExecutor`.

    `address`: "auto", "host:port", "ray://host:port", or "" to start a local head (stopped
    by `close`). Ray is connected here unless the caller already did. Each candidate reserves
    `cpus`/`gpus`; at most `in_flight` are on the cluster at once (0: no cap). `mode` and
    `isolation` are the sandbox's, applied on every worker (isolation="bwrap" fails a
    candidate as `infrastructure` on a node without bubblewrap rather than run it bare).
    """

    def __init__(self, address: str = "auto", cpus: float = 1.0, gpus: float = 0.0,
                 in_flight: int = 0, mode: Mode = "warm", isolation: Isolation = "auto",
                 init_kwargs: dict[str, Any] | None = None) -> None:
        if in_flight < 0:
            raise ValueError("in_flight must be >= 0")
        self.ray = ray = _import_ray()
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
            if address == "":
                kwargs.update(include_dashboard=False, configure_logging=False)
            ray.init(address=address or "local", **kwargs, **(init_kwargs or {}))
        self.mode, self.isolation, self.in_flight = mode, isolation, in_flight
        self._task = ray.remote(evaluate_on_worker).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES,
            retry_exceptions=[SandboxUnavailable], scheduling_strategy="SPREAD")
        PendingJobs.__init__(self)
        self.queue: deque[str] = deque()
        self.running: dict[Any, str] = {}  # ObjectRef -> handle
        self.nodes: dict[int, str] = {}  # candidate id -> Ray node id that ran it
        self.unisolated: set[str] = set()  # nodes that ran candidates without bubblewrap
        self.closed = False
        self._wake = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="nasloop-ray", daemon=True)
        self._watcher.start()

    def submit(self, job: EvalJob) -> str:
        """Hand `job` to Ray (or queue it while `in_flight` are out); returns a handle."""
        if self.closed:
            raise RuntimeError("executor is closed")
        handle = uuid.uuid4().hex
        with self.lock:
            self.pending[handle] = _Pending(job)
            self.queue.append(handle)
            self._release()
        self._wake.set()
        return handle

    def _release(self) -> None:
        """Send queued jobs to Ray while under the cap (lock held)."""
        while self.queue and (self.in_flight == 0 or len(self.running) < self.in_flight):
            handle = self.queue.popleft()
            pending = self.pending[handle]
            pending.ref = self._task.remote(pending.job.model_dump(), self.mode, self.isolation)
            self.running[pending.ref] = handle

    def _watch(self) -> None:
        while not self.closed:
            with self.lock:
                refs = list(self.running)
            if not refs:
                self._wake.wait(POLL_S)
                self._wake.clear()
                continue
            try:
                done, _ = self.ray.wait(refs, num_returns=1, timeout=POLL_S)
                for ref in done:
                    self._collect(ref)
                with self.lock:
                    self._release()
            except Exception as exc:  # noqa: BLE001 - the cluster is gone: fail what is out
                log.error("lost the Ray cluster: %s: %s", type(exc).__name__, exc)
                with self.lock:
                    lost = list(self.running.values()) + list(self.queue)
                    self.running.clear()
                    self.queue.clear()
                for handle in lost:
                    self.finish(handle, failed(self.pending[handle].job,
                                                FailureClass.INFRASTRUCTURE,
                                                f"lost the Ray cluster: {exc}"))

    def _collect(self, ref: Any) -> None:
        with self.lock:
            handle = self.running.pop(ref, None)
        if handle is None:
            return
        job = self.pending[handle].job
        result, node, isolation = collect(self.ray, ref, job)
        if node is not None:
            self.nodes[job.candidate_id] = node
            log.info("candidate %d: %s on Ray node %s", job.candidate_id, result.status,
                     node[:12])
            if isolation == "none" and node not in self.unisolated:
                self.unisolated.add(node)
                log.warning("Ray node %s runs candidates WITHOUT bubblewrap (install it there, "
                            "or set sandbox.isolation = 'bwrap' to refuse)", node[:12])
        self.finish(handle, result)

    def cancel(self, handle: str) -> None:
        """Drop a queued job or stop the running one; its result says it was cancelled."""
        with self.lock:
            pending = self.pending.get(handle)
            if pending is None or pending.done.is_set():
                return
            if handle in self.queue:
                self.queue.remove(handle)
            ref = pending.ref
        if ref is not None:  # kill the Ray worker: its sandbox and candidate die with it
            self.ray.cancel(ref, force=True)
        self.finish(handle, failed(pending.job, FailureClass.INFRASTRUCTURE,
                                    "cancelled by the orchestrator"))

    def close(self) -> None:
        """Cancel unfinished jobs, stop the watcher, and disconnect (or stop our local head)."""
        if self.closed:
            return
        with self.lock:
            unfinished = [h for h, p in self.pending.items() if not p.done.is_set()]
        for handle in unfinished:
            self.cancel(handle)
        self.closed = True
        self._wake.set()
        self._watcher.join(timeout=10)
        if self.owns_ray:
            self.ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
