"""Build the run's executor from config: the local sandbox pool, or Ray."""

from __future__ import annotations

from typing import Any

from nasloop.config import Config
from nasloop.sandbox.executor import Executor, LocalExecutor


def build_executor(config: Config, runner: str, **ray_init: Any) -> Executor:
    """`executor.kind` decides: "local" runs `sandbox.max_in_flight` candidates on this machine,
    "ray" fans them out on the cluster at `executor.address` (`ray_init` goes to `ray.init`).
    Both run every candidate in the sandbox configured by `[sandbox]`, with the task runner
    `runner` ("module:Class") preloaded in its workers."""
    sb, ex = config.sandbox, config.executor
    if ex.kind == "local":
        return LocalExecutor(max_in_flight=sb.max_in_flight, mode=sb.mode, isolation=sb.isolation,
                             runner=runner)
    from nasloop.sandbox.ray_executor import RayExecutor

    return RayExecutor(address=ex.address, cpus=ex.cpus_per_candidate,
                       gpus=ex.gpus_per_candidate, in_flight=ex.in_flight, mode=sb.mode,
                       isolation=sb.isolation, init_kwargs=ray_init or None)
