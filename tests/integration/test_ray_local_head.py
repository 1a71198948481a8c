"""executor.address = "": nasloop starts a Ray head for the run and stops it on close."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid

import pytest

from nasloop.config import build_config
from nasloop.sandbox import procs
from nasloop.sandbox.factory import build_executor
from nasloop.sandbox.ray_executor import RayExecutor
from nasloop.tasks.image_classification.jobs import RUNNER, eval_job
from nasloop.tasks.image_classification.seeds import list_seeds

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (pip install 'nasloop[ray]')", allow_module_level=True)

pytestmark = pytest.mark.slow

RAY_SERVERS = {"gcs_server", "raylet", "plasma_store"}


@pytest.fixture
def ray_env(monkeypatch):
    """Token auth with a throwaway token (nothing written to ~/.ray), on 127.0.0.1."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", uuid.uuid4().hex)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    if "ray" in sys.modules:  # Ray reads the auth env once; refresh it
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()


def ray_servers_below_us() -> list[int]:
    return [p for p in procs.descendants(os.getpid()) if procs.comm(p) in RAY_SERVERS]


def test_local_head_runs_seeds_and_stops(ray_env):
    import ray

    assert not ray.is_initialized()
    cfg = build_config({"executor": {"kind": "ray", "address": "", "in_flight": 2}})
    ex = build_executor(cfg, RUNNER, num_cpus=2, object_store_memory=100 * 2**20)
    try:
        assert isinstance(ex, RayExecutor) and ex.owns_ray
        assert ray_servers_below_us(), "no Ray head was started"
        jobs = [eval_job(c, i) for i, c in enumerate(list_seeds().values())]
        results = [ex.result(h, timeout=600) for h in [ex.submit(j) for j in jobs]]
    finally:
        ex.close()
    assert [r.status for r in results] == ["ok"] * len(jobs), [r.message for r in results]
    assert not ray.is_initialized()
    assert not ray_servers_below_us()
