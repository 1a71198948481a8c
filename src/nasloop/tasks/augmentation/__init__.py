"""Data-augmentation search: a candidate is a transform file applied to the training
batches of a fixed reference network under a fixed recipe, scored by validation accuracy.

The data, the network's training and the trusted-side scoring are image classification's
(`tasks/image_classification`); this task adds the transform (`augment.py`, applied in the
candidate's process to training batches only), its catalogue of ops (`catalogue.py`), the
LibCST operators over a composition (`space.py`), corpora (`corpus.py`, `importer.py`) and
better-than pairs for fine-tuning (`pairs.py`).
"""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nasloop.tasks.base import MutationSpace, TaskBrief
from nasloop.tasks.image_classification import ImageClassificationTask

if TYPE_CHECKING:
    from nasloop.agents.base import PromptImprover
    from nasloop.finetune.pair import Pair
    from nasloop.finetune.pairs import PairMaker
    from nasloop.memory.archive import Archive
    from nasloop.sandbox.job import EvalJob

RUNNER = "nasloop.tasks.augmentation.runner:AugmentationRunner"
TRANSFORM = re.compile(r"^def transform\b", re.MULTILINE)
CONTRACT_FIELDS = ("image_shape", "network", "epochs", "time_limit_s", "ops")
SEED_STEPS: dict[str, list[tuple[str, dict]]] = {  # built-in seeds, written for the data
    "identity": [],
    "crop": [("crop", {"padding": 2, "padding_mode": "constant"})],
    "rotation": [("rotation", {"degrees": 10})],
}


class AugmentationParams(BaseModel):
    """`[task]` keys of the augmentation task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str = Field("lenet", description="The fixed reference network: a built-in seed "
                         "architecture's name (lenet, resnet_small, vgg_small) or a model file.")
    max_ops: int = Field(4, ge=1, le=12, description="The add operator stops at this many ops "
                         "in a composition.")
    pair_margin: float = Field(0.0, ge=0.0, description="Better-than pairs for fine-tuning: "
                               "the answer's accuracy exceeds the prompt's by more than this.")
    ask: Literal["typed", "better-than"] = Field(
        "typed", description="What the heuristic improver asks a language-model generator: "
        "a typed mutation of the parent, or (better-than) a different transform that beats "
        "the parent's accuracy, as the better-than fine-tuning pairs ask.")


def network_source(network: str) -> tuple[str, str]:
    """(source, file name) of a reference network: a model file or a built-in seed's name;
    ValueError naming the seeds when it is neither."""
    from nasloop.tasks.image_classification.seeds import list_seeds
    from nasloop.tasks.seedfiles import read_seed_file

    path = Path(network).expanduser()
    if path.suffix == ".py" or path.exists():
        name, code = read_seed_file(path, field="task.network")
        return code, f"{name}.py"
    seeds = list_seeds()
    if network in seeds:
        return seeds[network], f"{network}.py"
    raise ValueError(f"network {network!r}: no such file, nor a built-in seed "
                     f"({', '.join(seeds)})")


def seed_transforms(side: int) -> list[tuple[str, str]]:
    """The built-in seed transforms for images of side `side`, (name, source)."""
    from nasloop.tasks.augmentation.compose import Step, render

    return [(name, render([Step(op, args) for op, args in steps], side))
            for name, steps in SEED_STEPS.items()]


def check_transform(code: str) -> str:
    """Static check of a transform file: it parses and defines `transform` at module level
    (ContractError otherwise); returns the form name "transform"."""
    from nasloop.sandbox.failures import ContractError, FailureClass

    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise ContractError(FailureClass.SYNTAX, f"{err.msg} (line {err.lineno})") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == "transform" for n in tree.body):
        raise ContractError(FailureClass.CONTRACT, "the file defines no function transform()")
    return "transform"


class AugmentationTask(ImageClassificationTask):
    """Transform files scored by the validation accuracy of a fixed network trained with
    them on the configured dataset."""

    kind = "augmentation"
    params_model = AugmentationParams  # type: ignore[assignment]
    runner = RUNNER
    defines, defines_what = TRANSFORM, "def transform"

    def network(self) -> tuple[str, str]:
        from nasloop.config import ConfigError

        try:
            return network_source(getattr(self.params, "network", "lenet"))
        except ValueError as err:  # a file's own problems are ConfigErrors already
            raise ConfigError(f"bad config: field 'task.network': {err}") from None

    def line(self) -> str:
        d, t = self.dataset, self.config.train
        return (f"data-augmentation search on {d.name} (inputs {d.shape}, {d.classes} classes) "
                f"for the fixed network {self.network()[1]}; metric: "
                f"{self.objective.metric} after {t.epochs} epoch(s)")

    def contract(self) -> str:
        from nasloop.agents.llm.prompts import template
        from nasloop.tasks.augmentation.catalogue import BY_NAME

        default = (resources.files(__package__) / "contract.txt").read_text(encoding="utf-8")
        tpl = template("contract", default, CONTRACT_FIELDS,
                       self.config.agents.prompts.get("contract"))
        return tpl.substitute(
            image_shape=str(self.dataset.shape), network=self.network()[1],
            epochs=str(self.config.train.epochs),
            time_limit_s=f"{self.config.sandbox.limits.time_s:g}",
            ops=", ".join(BY_NAME)).strip()

    def brief(self) -> TaskBrief:
        space = self.mutation_space()
        return TaskBrief(kind=self.kind, line=self.line(), contract=self.contract(),
                         objective=self.objective,
                         operators=space.operators() if space is not None else {})

    def builtin_seeds(self) -> list[tuple[str, str]]:
        return seed_transforms(self.dataset.shape[1])

    def check(self, code: str) -> str:
        return check_transform(code)

    def job(self, candidate_id: int, code: str, *, seed: int | None = None,
            op: str = "evaluate") -> EvalJob:
        from nasloop.tasks.augmentation.settings import AugmentSettings

        base = super().job(candidate_id, code, seed=seed, op=op)
        source, name = self.network()
        params = AugmentSettings(network=source, network_name=name, train=self.settings())
        return base.model_copy(update={"runner": self.runner, "params": params.model_dump()})

    def finetune_pairs(self, maker: PairMaker, archive: Archive, corpus: Path | None,
                       limit: int, seed: int) -> list[tuple[Pair, str]]:
        """The LoRA cycle's corpus pairs: better-than pairs over the corpus file's
        transforms and the run's own trained ones, asked with the histories of recent
        attempts the run's generator was shown."""
        from nasloop.tasks.augmentation.pairs import archive_records, chat_pairs
        from nasloop.tasks.augmentation.records import read_transforms

        records = (read_transforms(corpus) if corpus else []) + archive_records(archive)
        histories = [c.history for c in maker.contexts(archive)]
        return chat_pairs(maker, records, getattr(self.params, "pair_margin", 0.0), limit, seed,
                          histories)

    def heuristic_improver(self, space: MutationSpace, **options: Any) -> PromptImprover:
        """With `ask = "better-than"`: the heuristic improver's parent choice, asked as the
        better-than pairs ask (needs a language-model generator)."""
        if self.params.ask == "typed":
            return super().heuristic_improver(space, **options)
        from nasloop.config import ConfigError
        from nasloop.tasks.augmentation.ask import BetterThanImprover

        if self.config.agents.model_of("generator") == "heuristic":
            raise ConfigError("bad config: field 'task.ask': 'better-than' needs a language-"
                              "model generator (agents.generator = hf:, openai:, ...); the "
                              "heuristic generator applies typed mutations only")
        return BetterThanImprover(space, **options)

    def mutation_space(self) -> MutationSpace | None:
        from nasloop.tasks.augmentation.space import AugmentSpace

        return AugmentSpace(self.dataset.shape[1], getattr(self.params, "max_ops", 4),
                            allowed=frozenset(self.config.agents.operators))
