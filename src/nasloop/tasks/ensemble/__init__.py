"""Mixture-of-experts ensembles of existing model families (`kind = "ensemble"`).

A candidate is one assembled file (`assemble.py`): k families' own code as expert classes,
a convolutional gate and the training recipe, in the LEMUR form, so the image-classification
runner trains and scores it unchanged (the experts' parameters count toward the cap). The
first ensembles come from a sampler (`samplers.py`); the heuristic agents then swap experts
or change the gate (`space.py`); coverage and yield are reported after each cycle.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from nasloop.tasks.base import MutationSpace
from nasloop.tasks.ensemble.settings import EnsembleParams
from nasloop.tasks.image_classification import ImageClassificationTask

if TYPE_CHECKING:
    from pathlib import Path

    from nasloop.memory.archive import Archive

COVERAGE_FILE = "ensemble_coverage.json"  # written after each cycle (this task's own file)
ENSEMBLE_CONTRACT = (
    "\nThis search assembles mixtures of experts: the file's module-level FAMILIES and MOE "
    "literals name the expert families and the gate/recipe settings; each expert class is a "
    "family's own Net, and the gate's weights sum the experts' logits. Keep FAMILIES, MOE, "
    "EXPERTS and Net's gate as they are unless the change asks for them; every expert's "
    "parameters count toward the cap."
)


def rows_of(archive: Archive) -> list[tuple[tuple[str, ...], float | None]]:
    """(families, score or None) of every assembled candidate in a run's archive."""
    from nasloop.tasks.ensemble.assemble import AssembleError, families_of

    rows = []
    for c in archive.candidates():
        if not c.code or c.status not in ("ok", "failed"):
            continue
        try:
            rows.append((families_of(c.code), c.score if c.status == "ok" else None))
        except AssembleError:
            continue
    return rows


class EnsembleTask(ImageClassificationTask):
    """Ensembles of k families, scored by validation accuracy after a short training."""

    kind = "ensemble"
    params_model = EnsembleParams  # type: ignore[assignment]

    @property
    def ensemble(self) -> EnsembleParams:
        assert isinstance(self.params, EnsembleParams)
        return self.params

    @cached_property
    def sources(self) -> dict[str, str]:
        """{family: source} of `[task] families` (ConfigError naming the field)."""
        from nasloop.config import ConfigError
        from nasloop.tasks.ensemble.families import FamilyError, load_families

        try:
            found = load_families(self.ensemble.families, self.ensemble.elites)
        except (FamilyError, OSError) as err:
            raise ConfigError(f"bad config: field 'task.families': {err}") from None
        if len(found) < self.ensemble.k:
            raise ConfigError(f"bad config: field 'task.k': {len(found)} families "
                              f"({', '.join(found)}) cannot make ensembles of {self.ensemble.k}")
        return found

    @cached_property
    def marginals(self) -> dict[str, float | None]:
        """Each family's marginal effect so far (refreshed after each cycle)."""
        return {}

    def line(self) -> str:
        d, t = self.dataset, self.config.train
        return (f"mixture-of-experts search: ensembles of {self.ensemble.k} of "
                f"{len(self.sources)} families on {d.name}: inputs {d.shape}, {d.classes} "
                f"classes; metric: {self.objective.metric} after {t.epochs} epoch(s)")

    def contract(self) -> str:
        """Image classification's contract, the mixture's rules, the families and the typed
        changes an improver may ask for by name (a heuristic generator applies them)."""
        from nasloop.tasks.ensemble.space import SUMMARIES

        space = self.mutation_space()
        ops = space.operators() if space is not None else SUMMARIES
        typed = "".join(f"\n- {name}: {text}" for name, text in ops.items())
        return (super().contract() + ENSEMBLE_CONTRACT
                + f"\nFamilies: {', '.join(self.sources)}.\nTyped changes (ask for one as "
                  f"op(key=value, ...), e.g. swap_expert(out=A, in=B)):{typed}")

    def seeds(self) -> list[tuple[str, str]]:
        """The first `initial` ensembles of the sampler, assembled."""
        from nasloop.tasks.ensemble.assemble import assemble
        from nasloop.tasks.ensemble.samplers import sample

        p = self.ensemble
        combos = sample(list(self.sources), p.k, p.sampler, p.initial, self.config.run.seed)
        return [("+".join(c), assemble([(f, self.sources[f]) for f in c], p.moe()))
                for c in combos]

    def check(self, code: str) -> str:
        from nasloop.sandbox.failures import ContractError, FailureClass
        from nasloop.tasks.ensemble.assemble import AssembleError, families_of, moe_of

        form = super().check(code)
        try:
            families_of(code)
            moe_of(code)
        except AssembleError as err:
            raise ContractError(FailureClass.CONTRACT, str(err)) from None
        return form

    def mutation_space(self) -> MutationSpace | None:
        from nasloop.tasks.ensemble.space import EnsembleSpace

        return EnsembleSpace(self.sources, self.marginals, frozenset(self.config.agents.operators))

    def coverage(self, archive: Archive) -> dict[str, Any]:
        from nasloop.tasks.ensemble.coverage import coverage

        return coverage(rows_of(archive), self.sources)

    def after_cycle(self, run_dir: Path, archive: Archive, step: int) -> None:
        cov = self.coverage(archive)
        self.marginals.clear()
        self.marginals.update(cov["marginal"])
        (run_dir / COVERAGE_FILE).write_text(json.dumps(cov, indent=1) + "\n", encoding="utf-8")

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        from nasloop.memory.archive import Archive
        from nasloop.rundir import RunDir
        from nasloop.tasks.ensemble.coverage import coverage_html

        archive = Archive(RunDir(run_dir).archive)
        try:
            cov = self.coverage(archive)
        finally:
            archive.close()
        return [("Ensemble coverage and yield", coverage_html(cov))]
