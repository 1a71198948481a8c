"""Build the run's executor from config: the local sandbox pool, or Ray."""

from __future__ import annotations

import os
import sys
from typing import Any

from nasloop.config import Config, ConfigError
from nasloop.sandbox import bwrap
from nasloop.sandbox.executor import Executor, LocalExecutor
from nasloop.sandbox.workerproc import package_root


def hidden_by_private_tmp() -> list[str]:
    """The interpreter's and nasloop's own directories that lie under /tmp (a virtual
    environment or a checkout there): each candidate's fresh private /tmp hides them."""
    found = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, package_root())}
    return sorted(p for p in found if p == "/tmp" or p.startswith("/tmp/"))


def check_isolation_policy(config: Config) -> None:
    """Local candidates need nasloop installed outside /tmp; LLM-written candidates run only
    inside bubblewrap unless the user opted in (`sandbox.allow_unisolated`); ConfigError
    before anything starts otherwise. Ray nodes decide for themselves (each says which
    isolation it used)."""
    sb = config.sandbox
    if config.executor.kind != "local":
        return
    hidden = hidden_by_private_tmp()
    if hidden:
        raise ConfigError(
            f"nasloop runs from {hidden[0]}, under /tmp: every candidate gets a fresh private "
            "/tmp, which hides it; install nasloop and its virtual environment elsewhere")
    if sb.allow_unisolated:
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
