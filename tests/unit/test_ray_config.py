"""The [executor] section and the executor factory (no Ray cluster needed)."""

from __future__ import annotations

import pytest

from nasloop.config import ConfigError, ExecutorConfig, build_config
from nasloop.sandbox.executor import LocalExecutor
from nasloop.sandbox.factory import build_executor
from nasloop.sandbox.ray_executor import RayExecutor
from nasloop.tasks.registry import build_task


def test_executor_defaults_run_locally():
    cfg = build_config({})
    assert cfg.executor == ExecutorConfig()
    assert (cfg.executor.kind, cfg.executor.address, cfg.executor.in_flight) == ("local", "auto", 0)


def test_executor_keys_parse():
    cfg = build_config({"executor": {"kind": "ray", "address": "ray://10.0.0.5:10001",
                                     "cpus_per_candidate": 2, "gpus_per_candidate": 0.25,
                                     "in_flight": 8}})
    ex = cfg.executor
    assert (ex.kind, ex.address, ex.cpus_per_candidate, ex.gpus_per_candidate, ex.in_flight) == (
        "ray", "ray://10.0.0.5:10001", 2.0, 0.25, 8)


@pytest.mark.parametrize(
    "section, needle",
    [
        ({"kind": "slurm"}, "field 'executor.kind'"),
        ({"cpus_per_candidate": 0}, "field 'executor.cpus_per_candidate'"),
        ({"gpus_per_candidate": -0.5}, "field 'executor.gpus_per_candidate'"),
        ({"in_flight": -1}, "field 'executor.in_flight'"),
        ({"workers": 3}, "unknown key 'executor.workers'"),
    ],
)
def test_bad_executor_config_is_one_line(section, needle):
    with pytest.raises(ConfigError) as err:
        build_config({"executor": section})
    assert needle in str(err.value)


def test_factory_local_uses_the_sandbox_section():
    cfg = build_config({"sandbox": {"max_in_flight": 3, "mode": "cold", "isolation": "none"}})
    ex = build_executor(cfg, build_task(cfg).runner)
    try:
        assert isinstance(ex, LocalExecutor)
        assert (len(ex.slots), ex.mode, ex.isolation) == (3, "cold", "none")
    finally:
        ex.close()


def test_ray_executor_rejects_a_negative_cap_before_touching_ray():
    with pytest.raises(ValueError, match="in_flight"):
        RayExecutor(in_flight=-1)
