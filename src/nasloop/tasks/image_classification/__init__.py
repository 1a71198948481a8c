"""Image classification: a candidate is a model file (LEMUR or bare form) trained briefly on
an image dataset and scored by validation accuracy. The default task of nasloop."""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from nasloop.data.table import DatasetError, DatasetInfo, dataset_info, served
from nasloop.tasks.base import MutationSpace, Objective, Task, TaskBrief
from nasloop.tasks.image_classification import multidata
from nasloop.tasks.image_classification.jobs import RUNNER
from nasloop.tasks.image_classification.settings import DataSpec, TrainSettings

if TYPE_CHECKING:
    from nasloop.config import Config
    from nasloop.memory.archive import Archive
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.image_classification.analysis import AnalysisSandbox

CONTRACT_FIELDS = ("in_shape", "num_classes", "max_params", "epochs", "time_limit_s")
NET = re.compile(r"^class Net\b", re.MULTILINE)


def builtin_seeds() -> list[tuple[str, str]]:
    """The built-in seed architectures, (name, source) sorted by name."""
    from nasloop.tasks.image_classification.seeds import list_seeds

    return list(list_seeds().items())


class ImageClassificationParams(BaseModel):
    """`[task]` keys of image classification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipe_operators: bool = Field(
        False, description="Let the heuristic agents also change the loss and optimizer "
        "(loss(kind=...), optimizer(kind=...)) next to the architecture.")


class ImageClassificationTask(Task):
    """Model files scored by validation accuracy after a short proxy training."""

    kind = "image-classification"
    params_model = ImageClassificationParams
    runner = RUNNER
    objective = Objective(metric="val_accuracy", direction="max")
    defines, defines_what = NET, "class Net"  # what a candidate in an LLM answer defines

    def __init__(self, config: Config, params: BaseModel | None = None) -> None:
        super().__init__(config, params)
        if multidata.is_multi(config.data):  # [data] datasets: see multidata
            self.objective = multidata.objective(config.data)

    @property
    def dataset(self) -> DatasetInfo:
        """The configured dataset's table entry (ConfigError when unknown)."""
        from nasloop.config import ConfigError

        d = self.config.data
        try:
            return served(dataset_info(d.dataset), d.channels, d.image_size)
        except DatasetError as err:
            raise ConfigError(f"bad config: field 'data.dataset': {err}") from None

    def in_shape(self) -> tuple[int, int, int, int]:
        """(batch, C, H, W) handed to a candidate's constructor."""
        return self.dataset.in_shape(self.config.train.batch_size)

    def line(self) -> str:
        d, t = self.dataset, self.config.train
        if multidata.is_multi(self.config.data):
            names = ", ".join(self.config.data.datasets)
            return (f"image classification scored on each of {names} (inputs of each one's "
                    f"shape; first: {d.shape}, {d.classes} classes); metric: "
                    f"{self.objective.metric} after {t.epochs} epoch(s)")
        return (f"image classification on {d.name}: inputs {d.shape}, {d.classes} classes; "
                f"metric: {self.objective.metric} after {t.epochs} epoch(s)")

    def contract(self) -> str:
        from nasloop.agents.llm.prompts import template

        default = (resources.files(__package__) / "contract.txt").read_text(encoding="utf-8")
        tpl = template("contract", default, CONTRACT_FIELDS,
                       self.config.agents.prompts.get("contract"))
        t = self.config.train
        return tpl.substitute(
            in_shape=str(self.in_shape()), num_classes=str(self.dataset.classes),
            max_params=str(t.max_params), epochs=str(t.epochs),
            time_limit_s=f"{self.config.sandbox.limits.time_s:g}").strip()

    def brief(self) -> TaskBrief:
        space = self.mutation_space()
        return TaskBrief(kind=self.kind, line=self.line(), contract=self.contract(),
                         objective=self.objective,
                         operators=space.operators() if space is not None else {})

    def seeds(self) -> list[tuple[str, str]]:
        from nasloop.tasks.seedfiles import read_seed_files

        seeds = self.builtin_seeds() if self.config.seeds.builtin else []
        return seeds + read_seed_files(self.config.seeds.files)

    def builtin_seeds(self) -> list[tuple[str, str]]:
        """The task's own seeds, (name, code), evaluated before the user's seed files."""
        return builtin_seeds()

    def check(self, code: str) -> str:
        from nasloop.tasks.image_classification.contract import detect_form

        return detect_form(code)

    def extract(self, answer: str, cut_off: bool = False) -> tuple[str | None, str | None]:
        from nasloop.agents.llm.answers import extract_code

        got = extract_code(answer, cut_off, defines=self.defines, what=self.defines_what)
        return got.code, got.error

    def settings(self) -> TrainSettings:
        t = self.config.train
        return TrainSettings(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
                             momentum=t.momentum, optimizer=t.optimizer,
                             max_params=t.max_params, prm=dict(t.prm))

    def job(self, candidate_id: int, code: str, *, seed: int | None = None,
            op: str = "evaluate") -> EvalJob:
        from nasloop.sandbox.job import EvalJob

        c = self.config
        if multidata.is_multi(c.data):
            return multidata.multi_job(c, candidate_id, code, self.settings().model_dump(),
                                       seed=seed, op=op)
        lim = c.sandbox.limits
        return EvalJob(
            candidate_id=candidate_id, code=code, runner=self.runner, op=op,
            seed=c.training_seed() if seed is None else seed,
            data=DataSpec(dataset=c.data.dataset, data_dir=c.data.data_dir,
                          channels=c.data.channels, image_size=c.data.image_size).model_dump(),
            params=self.settings().model_dump(),
            time_limit_s=lim.time_s, memory_limit_mb=lim.memory_mb, threads=lim.threads,
            tmp_mb=lim.tmp_mb, device=c.train.device)

    final_objective = Objective(metric="test_accuracy", direction="max")

    def final_job(self, candidate_id: int, code: str, *, epochs: int, seed: int
                  ) -> EvalJob | None:
        """`job` trained for `epochs` with training seed `seed`, the data split by the run's
        seed as in the search (so the test split is one it never saw), the test split's
        predictions returned too (scored outside, like the validation ones). None for
        several datasets at once and for tasks with a runner of their own."""
        if multidata.is_multi(self.config.data) or self.runner != RUNNER:
            return None
        job = self.job(candidate_id, code, seed=seed)
        params = {**job.params, "epochs": epochs, "predict_test": True}
        data = {**job.data, "split_seed": self.config.training_seed()}
        longer = max(1.0, epochs / max(1, self.config.train.epochs))
        return job.model_copy(update={"params": params, "data": data,
                                      "time_limit_s": job.time_limit_s * longer})

    def promote_job(self, candidate_id: int, code: str, *, epochs: int, seed: int
                    ) -> EvalJob | None:
        """`job` trained for `epochs` with training seed `seed` on the run seed's data
        split, validation predictions scored outside as in the search (no test split)."""
        if multidata.is_multi(self.config.data) or self.runner != RUNNER:
            return None
        job = self.job(candidate_id, code, seed=seed)
        data = {**job.data, "split_seed": self.config.training_seed()}
        longer = max(1.0, epochs / max(1, self.config.train.epochs))
        return job.model_copy(update={"params": {**job.params, "epochs": epochs},
                                      "data": data, "time_limit_s": job.time_limit_s * longer})

    def analysis(self) -> AnalysisSandbox:
        """The sandbox the architecture mutations are worked out in (the run's isolation)."""
        from nasloop.tasks.image_classification.analysis import shared_sandbox

        s = self.config.sandbox
        return shared_sandbox(s.isolation, s.limits.memory_mb)

    def close(self) -> None:
        from nasloop.tasks.image_classification.analysis import close_all

        close_all()

    def after_results(self, archive: Archive) -> None:
        if multidata.is_multi(self.config.data) and self.config.data.score == "normalized":
            multidata.rescore(archive)

    def mutation_space(self) -> MutationSpace | None:
        from nasloop.tasks.image_classification.space import ArchitectureSpace

        d = self.dataset
        allowed = frozenset(self.config.agents.operators)
        arch = ArchitectureSpace((1, *d.shape), d.classes, allowed, self.analysis())
        if not getattr(self.params, "recipe_operators", False):
            return arch
        from nasloop.tasks.recipes.space import CombinedSpace, RecipeSpace

        return CombinedSpace(arch, RecipeSpace(allowed))
