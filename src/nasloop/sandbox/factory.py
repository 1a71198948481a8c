"""Build the run's executor from config: the local sandbox pool, or Ray."""

from __future__ import annotations

from typing import Any

from nasloop.config import Config, ConfigError
from nasloop.sandbox import bwrap
from nasloop.sandbox.executor import Executor, LocalExecutor


def check_isolation_policy(config: Config) -> None:
    """LLM-written candidates run only inside bubblewrap unless the user opted in
    (`sandbox.allow_unisolated`); ConfigError before anything starts otherwise. Ray nodes
    decide for themselves (each says which isolation it used)."""
    sb = config.sandbox
    if config.executor.kind != "local" or sb.allow_unisolated:
        return
    if config.agents.model_of("generator") == "heuristic":
        return
    if sb.isolation == "none" or (sb.isolation == "auto" and bwrap.bwrap_path() is None):
        raise ConfigError(
            "sandbox.isolation: LLM-written candidates run only inside bubblewrap, which is "
            f"{'switched off' if sb.isolation == 'none' else 'not usable here'}; install it "
            "(apt-get install -y bubblewrap) or set sandbox.allow_unisolated = true")


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
