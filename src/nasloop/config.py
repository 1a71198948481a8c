"""The one config file (TOML), validated with pydantic; each setting has a default and a doc.

Config is neither state nor resources: it is read once, frozen, saved beside the run
(`config.json`) and handed to the nodes that need it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from nasloop.strategy.schedule import Schedule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


STRATEGIES = ("greedy", "map-elites", "islands", "pareto")
PLUGIN_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")  # "module:Class"


class ConfigError(Exception):
    """A bad config: the message is one line naming the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunConfig(_Section):
    budget: int = Field(
        30, ge=1, le=1_000_000, description="Candidates to generate (seeds, duplicates included)."
    )
    max_wall_s: float = Field(
        0.0, ge=0, le=31_536_000, description="Stop after this many seconds (0: no limit)."
    )
    patience: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Stop after N evaluated candidates without improvement (0: off).",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1,
        description="Seed for the agents, and for training and the data split unless"
        " train.seed is set.",
    )
    batch: int = Field(
        1, ge=1, le=1024, description="Candidates per cycle, generated then evaluated concurrently."
    )


class DataConfig(_Section):
    dataset: str = Field(
        "digits",
        description="A name of the dataset table (digits and its offline variants digits-rgb, "
        "-inverted, -noisy, -16px, -parity; mnist, cifar10, cifar100, svhn, imagenette, "
        "celeba-gender from data_dir) or imagefolder:PATH.",
    )
    data_dir: str = Field("~/.cache/nasloop/data", description="Where datasets live or download.")
    channels: int | None = Field(
        None, description="Serve the images with 1 or 3 channels (default: the dataset's)."
    )
    image_size: int | None = Field(
        None, ge=4, le=1024, description="Serve the images at this side (default: the dataset's)."
    )
    datasets: list[str] = Field(
        default_factory=list,
        description="Score every candidate on each of these datasets (2 or more; the first is "
        "the one the agents' contract shows); empty: only `dataset`.",
    )
    score: str = Field(
        "mean",
        description="With several datasets: the score is 'mean' (of the accuracies), "
        "'normalized' (mean of each accuracy over the best on that dataset so far) or a "
        "dataset's name.",
    )

    @model_validator(mode="after")
    def _datasets(self) -> DataConfig:
        if len(self.datasets) == 1:
            raise ValueError("datasets needs 2 or more names (one dataset: set `dataset`)")
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError("datasets names a dataset twice")
        if self.score not in ("mean", "normalized", *self.datasets):
            raise ValueError(f"score must be mean, normalized or one of datasets, not "
                             f"{self.score!r}")
        if self.datasets and self.datasets[0] != self.dataset:
            return self.model_copy(update={"dataset": self.datasets[0]})
        return self


class TrainConfig(_Section):
    epochs: int = Field(1, ge=1, le=10_000, description="Proxy budget: epochs per candidate.")
    batch_size: int = Field(32, ge=1, le=65_536, description="Training batch size.")
    lr: float = Field(
        0.01, gt=0, le=100, description="Learning rate handed to candidates (prm['lr'])."
    )
    momentum: float = Field(0.9, ge=0, le=1, description="Momentum handed to candidates.")
    optimizer: Literal["sgd", "adam", "adamw"] = Field(
        "sgd", description="Optimizer the trainer supplies for bare-form candidates."
    )
    max_params: int = Field(
        2_000_000, ge=1, le=100_000_000_000, description="Parameter cap; larger nets fail."
    )
    device: str = Field("cpu", description="cpu or cuda[:N].")
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1,
        description="Seed for training and the data split (unset: run.seed). Fix it to vary"
        " the agents' run.seed over the same training conditions.",
    )
    prm: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="Values of LEMUR `prm` keys over the documented defaults "
        "(nasloop.tasks.image_classification.prm), e.g. {norm_eps = 1e-3, patch_size = 0.25}.",
    )


class MemoryConfig(_Section):
    k: int = Field(5, ge=0, le=1000, description="Diagnostic triples shown to the agents.")
    novelty_threshold: float = Field(
        0.9, gt=0, le=1,
        description="MinHash-Jaccard above which candidates count as similar (fine-tuning"
        " elite diversity); duplicates are copies up to layout, comments and names.",
    )
    num_perm: int = Field(128, ge=16, le=4096, description="MinHash permutations.")


class PromoteConfig(_Section):
    """`[search.promote]`: multi-fidelity re-training of the top candidates inside the run."""

    enabled: bool = Field(
        False, description="Re-train the top candidates at larger budgets (successive halving)"
        " every `every` steps and when the run stops; results are kept beside the proxy score.")
    every: int = Field(10, ge=1, le=100_000, description="Steps between promotion rounds.")
    top: int = Field(4, ge=1, le=1000, description="Candidates (best by the proxy) entering the"
                     " first rung.")
    epochs: list[int] = Field(
        default_factory=lambda: [3, 9], min_length=1, max_length=10,
        description="Training epochs of each rung, increasing (the proxy is train.epochs).")
    eta: int = Field(3, ge=2, le=100, description="Each rung keeps the best 1/eta (at least"
                     " one) for the next.")
    seeds: int = Field(2, ge=1, le=100, description="Training seeds at the top rung (the"
                       " training seed, +1, ...; see train.seed); lower rungs use the first.")

    @field_validator("epochs")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(e < 1 for e in value) or any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("expected increasing epochs, each at least 1")
        return value


class SearchConfig(_Section):
    strategy: str = Field(
        "greedy",
        description="Which parents the improver works from: greedy (the best, sometimes another"
        " of the top 5), map-elites (the best per cell of log2-params x seed family), islands"
        " (one population per island, the steps take turns, ring migration), pareto (the"
        " front of the objective against size), or your own class as an import path"
        ' "module:Class" (docs/plugins.md).',
    )
    sampler: Literal["best", "tournament", "power-law", "uniform"] = Field(
        "power-law",
        description="How a population strategy picks the parent among its members (cell"
        " elites, the island, the front), ranked by the objective: best, tournament, power-law"
        " by rank, uniform.",
    )
    tournament: int = Field(3, ge=2, le=64, description="Entrants of a tournament.")
    power: float = Field(1.0, gt=0, le=10, description="Power-law exponent: P(rank r) ~ r^-power.")
    islands: int = Field(2, ge=2, le=64, description="islands: how many.")
    migrate_every: int = Field(
        10, ge=1, le=100_000,
        description="islands: every M steps each island's best joins the next island (ring).",
    )
    size: Literal["params", "flops"] = Field(
        "params", description="pareto: the size axis the objective is traded against.")
    tie: float = Field(
        0.0, ge=0, le=1e9,
        description="greedy: candidates within this much of the best (in the metric's units)"
        " count as tied with it, and the newest of them is the parent: a child that comes"
        " within the proxy's noise of the best takes over (0: exact ties only).",
    )
    explore_schedule: Schedule = Field(
        "constant",
        description="greedy: how the chance of working from another of the top candidates"
        " (agents.explore at the first mutant) changes over the budget: constant, or to"
        " explore_end at the last step linearly or along a half cosine.",
    )
    explore_end: float = Field(
        0.0, ge=0, le=1, description="greedy: the chance of exploring at the last step"
        " (linear and cosine schedules).")
    operator_credit: Literal["triples", "bandit"] = Field(
        "triples",
        description="How the heuristic improver picks the mutation: triples (a weight per"
        " kind of mutation from what the last memory.k triples say it did, kinds not yet"
        " tried on the parent first) or bandit (Thompson sampling over operators from their"
        " wins, child better than parent, over the whole archive).",
    )

    promote: PromoteConfig = Field(
        PromoteConfig(), description="[search.promote]: multi-fidelity promotion (off).")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value in STRATEGIES or PLUGIN_PATH.fullmatch(value):
            return value
        raise ValueError(f"expected one of {', '.join(STRATEGIES)} or an import path "
                         "module:Class")


ROLE_SETTINGS = (
    "temperature",
    "top_p",
    "max_new_tokens",
    "context_window",
    "quantization",
    "dtype",
    "device_map",
)


class RoleConfig(_Section):
    """`[agents.generator]` / `[agents.improver]`: one role's model and its own settings;
    a setting left out is the flat `[agents]` one."""

    model: str = Field(
        "heuristic",
        description="The model: heuristic | hf:<hub-id-or-dir> | openai:<base-url> "
        "| langchain:<provider>/<model>.",
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling top-p.")
    max_new_tokens: int | None = Field(None, ge=16, description="Generation budget per call.")
    context_window: int | None = Field(None, ge=0, description="Context window (0: ask).")
    quantization: Literal["none", "4bit", "8bit"] | None = Field(
        None, description="hf: bitsandbytes quantization."
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] | None = Field(
        None, description="hf: weight dtype."
    )
    device_map: str | None = Field(None, description="hf: accelerate device map.")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"model": value} if isinstance(value, str) else value


class AgentsConfig(_Section):
    generator: RoleConfig = Field(
        RoleConfig(),
        description="Code Generator: a model string (heuristic | hf:<hub-id-or-dir> | "
        "openai:<base-url> | langchain:<provider>/<model>) or a table [agents.generator] with "
        "`model` and that role's own sampling and loading settings.",
    )
    improver: RoleConfig = Field(
        RoleConfig(),
        description="Prompt Improver (same forms as agents.generator).",
    )
    explore: float = Field(
        0.2, ge=0, le=1, description="Chance the improver mutates a top-k parent, not the best."
    )
    operators: list[str] = Field(
        default_factory=list,
        description='Mutation operators the heuristic improver may ask for, e.g. ["widen", '
        '"narrow"] to search channel widths only (empty: all of them).',
    )
    mode: Literal["full", "delta", "auto"] = Field(
        "auto",
        description="LLM generator answers: whole file (full), a unified diff (delta), "
        "or delta falling back to full when the diff cannot be applied (auto).",
    )
    quantization: Literal["none", "4bit", "8bit"] = Field(
        "none", description="hf: models: bitsandbytes 4-bit NF4 (double quant), 8-bit, or none."
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="hf: models: weight dtype (auto: as stored)."
    )
    device_map: str = Field(
        "auto", description="hf: models: accelerate device map (auto, cpu, cuda:0, ...)."
    )
    temperature: float = Field(
        0.2, ge=0, le=2, description="Sampling temperature of LLM calls (0: greedy)."
    )
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling top-p of LLM calls.")
    max_new_tokens: int = Field(
        1536, ge=16, le=1_000_000, description="Generation budget per LLM call, in tokens."
    )
    context_window: int = Field(
        0,
        ge=0,
        le=100_000_000,
        description="Model context window in tokens (0: read it from the model).",
    )
    retries: int = Field(
        2, ge=0, le=10, description="Extra LLM attempts after an unusable answer, per step."
    )
    inspirations: int = Field(
        2, ge=0, le=8,
        description="LLM improver: other candidates of the population shown beside the "
        "parent, each as a diff against it (the best of other seed families first; 0: none).",
    )
    history_chars: int = Field(
        400,
        ge=40,
        le=100_000,
        description="Longest text of one triple shown in a prompt (cut beyond).",
    )
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Prompt template overrides: template name (system, contract, improver, "
        "improver_retry, generator_full, generator_delta) -> path of a .txt file.",
    )
    openai_model: str = Field(
        "",
        description="openai: servers: model name to request (empty: the server's only model).",
    )
    openai_api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="openai: servers: environment variable holding the API key (unset: none).",
    )
    request_timeout_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="openai:/langchain: models: seconds to wait for one answer.",
    )
    adapter: str = Field(
        "",
        description="hf: generator: a LoRA adapter folder (peft) loaded on the frozen base, "
        "e.g. a fine-tuning cycle's runs/X/adapters/cycle-3 (empty: none).",
    )

    def model_of(self, role: str) -> str:
        """The model string of `role` (improver or generator)."""
        return getattr(self, role).model

    def for_role(self, role: str) -> AgentsConfig:
        """These settings as `role` uses them: its own table's values over the flat ones."""
        own = getattr(self, role)
        update = {k: getattr(own, k) for k in ROLE_SETTINGS if getattr(own, k) is not None}
        return self.model_copy(update=update)


class LimitsConfig(_Section):
    time_s: float = Field(
        120.0, gt=0, le=604_800, description="Wall-clock limit per candidate (seconds)."
    )
    memory_mb: int = Field(
        6144, ge=256, le=4_194_304, description="Address-space limit per candidate (MiB)."
    )
    threads: int = Field(
        1, ge=1, le=256, description="CPU threads each candidate may use (enforced: it is "
        "pinned to that many CPUs)."
    )
    tmp_mb: int = Field(
        256, ge=16, le=65_536, description="Its private /tmp in RAM (MiB); /dev/shm gets a "
        "quarter of it."
    )


class SandboxConfig(_Section):
    limits: LimitsConfig = Field(
        LimitsConfig(), description="[sandbox.limits]: what one candidate may use."
    )
    mode: Literal["warm", "cold"] = Field("warm", description="Warm forking worker or cold start.")
    isolation: Literal["auto", "bwrap", "none"] = Field(
        "auto", description="bubblewrap when installed (auto), required (bwrap), or off (none)."
    )
    max_in_flight: int = Field(1, ge=1, le=1024, description="Candidates evaluated at once.")
    allow_unisolated: bool = Field(
        False,
        description="Run LLM-written candidates even where bubblewrap is not usable (they can "
        "then read the host's files and signal your processes; see README, The sandbox).",
    )


class ExecutorConfig(_Section):
    kind: Literal["local", "ray"] = Field(
        "local",
        description="Where candidates are evaluated: local (sandbox workers on this machine, "
        "sandbox.max_in_flight at once) or ray (a Ray cluster; each candidate still runs in the "
        "sandbox, on the Ray worker that receives it).",
    )
    address: str = Field(
        "auto",
        description="ray: auto (the cluster started with `ray start` on this machine, or "
        'RAY_ADDRESS), host:port of a cluster\'s GCS, ray://host:port (Ray Client), or "" to '
        "start a local head for this run.",
    )
    cpus_per_candidate: float = Field(
        1.0, gt=0, description="ray: CPUs Ray reserves for each candidate (may be fractional)."
    )
    gpus_per_candidate: float = Field(
        0.0, ge=0, description="ray: GPUs Ray reserves for each candidate (0.25: four share one)."
    )
    in_flight: int = Field(
        0,
        ge=0,
        description="ray: most candidates submitted to the cluster at once (0: as many as are "
        "submitted; the cluster's resources decide how many run). kind=local uses "
        "sandbox.max_in_flight instead.",
    )


class FinetuneConfig(_Section):
    enabled: bool = Field(
        False, description="Fine-tuning cycles: every `every` candidates, LoRA-train the generator."
    )
    every: int = Field(
        20, ge=1, le=1_000_000, description="C: candidates generated per cycle (after the seeds)."
    )
    elite_fraction: float = Field(
        0.2, gt=0, le=1, description="rho: share of a cycle's candidates kept as elites (top)."
    )
    min_elites: int = Field(
        2,
        ge=0,
        le=100_000,
        description="Fewer novel elites than this: fill up with the archive's best.",
    )
    threshold: float = Field(
        0.5, description="Per-cycle report: share of candidates with a metric above this."
    )
    corpus: str = Field(
        "", description="A `nasloop corpus` JSONL file trained on with the elites (empty: none)."
    )
    corpus_pairs: int = Field(
        0, ge=0, le=10_000_000, description="Corpus pairs drawn per cycle (0: all of them)."
    )
    elite_repeat: int = Field(
        1,
        ge=1,
        le=1000,
        description="Times each elite's pair is trained on per epoch (its weight).",
    )
    r: int = Field(16, ge=1, le=4096, description="LoRA rank.")
    alpha: int = Field(32, ge=1, le=65_536, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["all-linear"],
        description='Modules given LoRA adapters: ["all-linear"] or names like "q_proj".',
    )
    learning_rate: float = Field(2e-4, gt=0, description="AdamW learning rate of the adapter.")
    warmup: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Share of a cycle's steps over which the learning rate rises from zero "
        "(each cycle starts a new optimizer on the adapter it continues).",
    )
    epochs: int = Field(2, ge=1, le=10_000, description="Passes over the cycle's pairs.")
    batch_size: int = Field(4, ge=1, le=65_536, description="Pairs per optimizer step.")
    max_length: int = Field(
        4096, ge=64, description="Longest pair in tokens (prompt + answer); longer ones skipped."
    )
    reliability_candidates: int = Field(
        3,
        ge=0,
        le=1000,
        description="Proxy reliability: candidates re-evaluated per cycle (0: off).",
    )
    reliability_seeds: int = Field(
        1,
        ge=1,
        le=100,
        description="Proxy reliability: extra training seeds per re-evaluated candidate.",
    )


class SeedsConfig(_Section):
    files: list[str] = Field(
        default_factory=list, description="Extra seed architecture files (built-ins always used)."
    )
    builtin: bool = Field(True, description="Start from the built-in seed architectures.")


class TaskConfig(BaseModel):
    """`[task]`: the kind of search and its own params (validated by the task's model)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(
        "image-classification",
        description="What is searched: image-classification (model files scored by "
        "validation accuracy) or another registered task kind; the task's own keys follow.",
    )

    def params(self) -> dict[str, Any]:
        """The keys of `[task]` other than `kind`: the task's params."""
        return dict(self.model_extra or {})


class Config(_Section):
    """The whole search configuration."""

    task: TaskConfig = Field(TaskConfig(), description="[task]: what is searched.")
    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    memory: MemoryConfig = MemoryConfig()
    search: SearchConfig = SearchConfig()
    agents: AgentsConfig = AgentsConfig()
    sandbox: SandboxConfig = SandboxConfig()
    executor: ExecutorConfig = ExecutorConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    seeds: SeedsConfig = SeedsConfig()

    def training_seed(self) -> int:
        """The seed candidates train with and the data is split by: train.seed, else
        run.seed."""
        return self.run.seed if self.train.seed is None else self.train.seed


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{where}'"
    got = first.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {got!r})"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"field '{where}': {first['msg']}{got_s}{more}"


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


# keys that moved, old dotted name -> new one (configs and saved runs of earlier versions)
MOVED = {
    "train.time_limit_s": "sandbox.limits.time_s",
    "train.memory_limit_mb": "sandbox.limits.memory_mb",
    "train.threads": "sandbox.limits.threads",
}


def _migrate(tree: dict[str, Any]) -> None:
    for old, new in MOVED.items():
        section, key = old.split(".")
        node = tree.get(section)
        if isinstance(node, dict) and key in node:
            _set_dotted(tree, new, node.pop(key))


def build_config(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
    """Validate a config tree; `overrides` maps dotted keys (``run.budget``) to values."""
    from nasloop.tasks.registry import validate_params

    tree = json.loads(json.dumps(data))  # deep copy, plain types
    _migrate(tree)
    for key, value in (overrides or {}).items():
        if value is not None:
            key = MOVED.get(key, key)
            if key in ("agents.generator", "agents.improver") and isinstance(
                tree.get("agents", {}).get(key.split(".")[1]), dict
            ):
                key += ".model"  # a model string replaces the role's model, not its table
            _set_dotted(tree, key, value)
    try:
        config = Config.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(f"bad config: {_one_line(err)}") from None
    try:
        params = validate_params(config.task.kind, config.task.params())
    except ValueError as err:
        raise ConfigError(f"bad config: {err}") from None
    task = TaskConfig.model_validate({"kind": config.task.kind, **params})
    return config.model_copy(update={"task": task})


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a TOML file (or defaults when `path` is None) and apply CLI overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"bad config: file not found: {p}")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a BOM is fine
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"bad config: {p} is not valid TOML: {err}") from None
    return build_config(data, overrides)
