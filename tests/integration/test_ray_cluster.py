"""RayExecutor on a real two-node Ray cluster bound to 127.0.0.1.

The head is `ray start --head --block`. The second node cannot be a `ray start --address`:
with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (what keeps Ray on 127.0.0.1 here) that command
refuses to join, and with =1 it rewrites 127.0.0.1 to the host's routable address and binds
every interface. (Re-checked with Ray 2.60: other spellings of the loopback that escape the
rewrite, `--address=[::ffff:127.0.0.1]:PORT` with `--node-ip-address=127.0.0.2` or
`::ffff:127.0.0.1`, do join, but the raylet and agent then listen on `*`: Ray binds the
loopback only for a node IP of exactly 127.0.0.1.)
So it is started the way Ray's own `ray.cluster_utils.Cluster.add_node` does
(a `ray._private.node.Node(head=False)`), in a process of its own that can be killed whole.
Every process started is killed by pid (its tree, then anything left under the cluster's
private temp dir) and checked gone afterwards; `ray stop --force` is not used because it
would stop every Ray on a shared machine.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from nasloop.sandbox import procs
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.job import EvalJob
from nasloop.sandbox.ray_executor import RayExecutor
from nasloop.tasks.image_classification.jobs import eval_job
from nasloop.tasks.image_classification.seeds import list_seeds

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install 'nasloop[ray]')", allow_module_level=True)

pytestmark = pytest.mark.slow

RAY_BIN = str(Path(sys.executable).with_name("ray"))
OBJECT_STORE = str(100 * 2**20)
NODE = """
import sys, time
from ray._private.node import Node
from ray._private.parameter import RayParams
gcs, store, temp = sys.argv[1:4]
params = RayParams(gcs_address=gcs, node_ip_address="127.0.0.1", num_cpus=1, num_gpus=0,
                   object_store_memory=int(store), temp_dir=temp, include_log_monitor=False,
                   node_manager_port=0, min_worker_port=0, max_worker_port=0)
params.dashboard_agent_listen_port = None
Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
while True:
    time.sleep(3600)
"""


SLOW = """import time
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        time.sleep(300)

    def forward(self, x):
        return x
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A Ray head plus worker nodes on 127.0.0.1, each a `ray start --block` we own."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nlray-", dir="/tmp"))  # short: socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                    "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
                    "RAY_USAGE_STATS_ENABLED": "0"}
        self.nodes: list[subprocess.Popen[bytes]] = []

    def _start(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        with open(self.root / f"node-{len(self.nodes)}.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.nodes.append(proc)
        return proc

    def start_head(self) -> None:
        self._start([RAY_BIN, "start", "--head", f"--port={self.port}",
                     "--node-ip-address=127.0.0.1", "--num-cpus=1",
                     f"--object-store-memory={OBJECT_STORE}", f"--temp-dir={self.root / 'n0'}",
                     "--include-dashboard=false", "--disable-usage-stats", "--block"])
        deadline = time.monotonic() + 120
        while True:  # the head's GCS answers on its port
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline or self.nodes[0].poll() is not None:
                raise RuntimeError(f"Ray head did not start: see {self.root}/node-0.log")
            time.sleep(0.5)

    def add_node(self) -> subprocess.Popen[bytes]:
        """A second node joining the head, as a process of its own."""
        temp = self.root / f"n{len(self.nodes)}"
        return self._start([sys.executable, "-c", NODE, self.address, OBJECT_STORE, str(temp)])

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL one node: its `ray start`, raylet, Ray workers and their sandboxes."""
        procs.kill_tree(proc.pid, include_root=True, reap=False)
        proc.wait(timeout=30)

    def leftovers(self) -> list[int]:
        """Live processes started for this cluster (their command line names our temp dir)."""
        mine = str(self.root)
        found = []
        for pid in procs.namespace_pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if mine in cmd and procs.alive(pid):
                found.append(pid)
        return found

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            if proc.poll() is None:
                procs.kill_tree(proc.pid, include_root=True)
        for proc in self.nodes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid in self.leftovers():  # reparented away from our tree
            procs.kill_tree(pid, include_root=True, reap=False)
        deadline = time.monotonic() + 20
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.5)

    def worker_pids(self, proc: subprocess.Popen[bytes], task: str) -> list[int]:
        """Ray workers below node `proc` that are running `task` (their title says so)."""
        out = []
        for pid in procs.descendants(proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") and task in cmd:
                out.append(pid)
        return out


def import_ray_with_env() -> Any:
    """Import Ray after the auth env is set (Ray reads it once; refresh if already imported)."""
    already = "ray" in sys.modules
    import ray

    if already:
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    return ray


def alive_nodes() -> int:
    import ray


    return sum(1 for n in ray.nodes() if n["Alive"])


def wait_nodes(count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while alive_nodes() != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{alive_nodes()} Ray nodes alive, wanted {count}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster()
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN",
                                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    os.environ.update({k: c.env[k] for k in saved})
    ray = import_ray_with_env()
    try:
        c.start_head()
        c.add_node()
        ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
        wait_nodes(2)
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        left = c.leftovers()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(c.root, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"


def worker_node(c: LocalCluster) -> subprocess.Popen[bytes]:
    """The live non-head node, started again if an earlier test killed it."""
    live = [p for p in c.nodes[1:] if p.poll() is None]
    if live:
        return live[0]
    node = c.add_node()
    wait_nodes(2)
    return node


def seed_jobs(first_id: int = 1) -> list[EvalJob]:
    return [eval_job(code, first_id + i, time_limit_s=120)
            for i, code in enumerate(list_seeds().values())]


def test_seeds_run_in_the_sandbox_on_both_nodes(cluster):
    worker_node(cluster)
    jobs = seed_jobs() + seed_jobs(first_id=10)
    with RayExecutor(in_flight=2) as ex:
        handles = [ex.submit(j) for j in jobs]
        results = [ex.result(h, timeout=600) for h in handles]
        nodes = set(ex.nodes.values())
    assert [r.candidate_id for r in results] == [j.candidate_id for j in jobs]
    assert all(r.status == "ok" for r in results), [r.message for r in results]
    assert all(0.0 <= r.metrics["val_accuracy"] <= 1.0 for r in results)
    assert len(nodes) == 2, nodes


def test_broken_candidate_is_the_candidates_fault(cluster):
    job = eval_job("import torch\nclass Net(torch.nn.Module):\n  def (", 1)
    with RayExecutor() as ex:
        result = ex.result(ex.submit(job), timeout=300)
    assert result.status == "failed"
    assert result.failure_class == FailureClass.SYNTAX.value


def running_task(cluster: LocalCluster, skip: Iterable[int] = (),
                 timeout: float = 240) -> int:
    """Pid of a Ray worker running a candidate (with its sandbox below it), on any node."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in cluster.nodes:
            if node.poll() is None:
                for pid in cluster.worker_pids(node, "evaluate_on_worker"):
                    if pid not in skip and procs.descendants(pid):
                        return pid
        time.sleep(0.2)
    raise TimeoutError("no Ray worker is running a candidate")


def test_result_timeout_and_cancel_kill_the_candidate(cluster):
    with RayExecutor() as ex:
        handle = ex.submit(eval_job(SLOW, 1, time_limit_s=400))
        below = procs.descendants(running_task(cluster))  # sandbox worker, candidate
        with pytest.raises(TimeoutError):
            ex.result(handle, timeout=1.0)
        ex.cancel(handle)
        result = ex.result(handle, timeout=60)
        deadline = time.monotonic() + 60
        while any(procs.alive(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert result.failure_class == FailureClass.INFRASTRUCTURE.value
    assert "cancelled" in (result.message or "")
    assert below and not [p for p in below if procs.alive(p)]


def test_worker_lost_twice_is_infrastructure(cluster):
    """Kill the Ray worker running a candidate, then its retry: the result blames nobody."""
    with RayExecutor() as ex:
        handle = ex.submit(eval_job(SLOW, 7, time_limit_s=400))
        killed: list[int] = []
        for _ in range(2):  # the first run, then Ray's retry
            pid = running_task(cluster, skip=killed)
            procs.kill_tree(pid, include_root=True, reap=False)
            killed.append(pid)
        result = ex.result(handle, timeout=120)
    assert len(killed) == 2
    assert result.status == "failed"
    assert result.failure_class == FailureClass.INFRASTRUCTURE.value
    assert "Ray worker lost 2 times" in (result.message or "")


TERMINAL = {"ok", "failed", "duplicate"}


def run_search(cluster: LocalCluster, out: Path, during=None) -> tuple[dict, list]:
    """A budget-8, batch-4 search through the runner with executor.kind = "ray"."""
    from nasloop.config import build_config
    from nasloop.memory.archive import Archive
    from nasloop.rundir import RunDir
    from nasloop.runner import drive, new_run

    cfg = build_config({"executor": {"kind": "ray", "address": cluster.address}},
                       {"run.budget": 8, "run.batch": 4})
    new_run(cfg, out)
    helper = threading.Thread(target=during, daemon=True) if during else None
    if helper:
        helper.start()
    summary = drive(cfg, out)
    if helper:
        helper.join(timeout=120)
    archive = Archive(RunDir(out).archive)
    try:
        return summary, archive.candidates()
    finally:
        archive.close()


def ray_nodes_used(caplog) -> set[str]:
    """Ray node ids named by the executor's per-candidate log lines."""
    return {r.getMessage().rsplit(" ", 1)[-1] for r in caplog.records
            if "on Ray node" in r.getMessage()}


def test_search_budget8_batch4_across_two_nodes(cluster, tmp_path, caplog):
    worker_node(cluster)
    caplog.set_level("INFO", logger="nasloop.sandbox")
    summary, cands = run_search(cluster, tmp_path / "run")
    assert summary["status"] == "finished"
    assert len(cands) == 8
    assert {c.status for c in cands} <= TERMINAL, [(c.id, c.status) for c in cands]
    assert summary["valid"] >= 3  # the seeds at least
    assert not any(c.failure_class == "infrastructure" for c in cands)
    assert len(ray_nodes_used(caplog)) == 2


def test_search_survives_a_node_killed_mid_run(cluster, tmp_path, caplog):
    node = worker_node(cluster)
    caplog.set_level("INFO", logger="nasloop.sandbox")
    killed = threading.Event()

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if cluster.worker_pids(node, "evaluate_on_worker"):
                cluster.kill(node)
                killed.set()
                return
            time.sleep(0.2)

    summary, cands = run_search(cluster, tmp_path / "run", during=kill_when_busy)
    assert killed.is_set(), "no candidate ever ran on the second node"
    assert node.poll() is not None
    assert summary["status"] == "finished"
    assert len(cands) == 8
    assert {c.status for c in cands} <= TERMINAL, [(c.id, c.status) for c in cands]
    for c in cands:  # a lost worker is never the candidate's fault
        if c.failure_class == "infrastructure":
            assert "Ray" in (c.failure_message or "") or "sandbox" in (c.failure_message or "")
    assert summary["valid"] >= 3
