"""The training-recipe search task: loss x optimizer for fixed architectures.

A candidate is a model file whose `train_setup` (LEMUR form) or `TRAIN_RECIPE` literal (bare
form) carries a loss and an optimizer; the heuristic agents rewrite them with the recipe
operators and the sandbox trains the file exactly as image classification does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from nasloop.tasks.base import MutationSpace
from nasloop.tasks.image_classification import ImageClassificationTask

RECIPE_CONTRACT = (
    "\nThis search changes only the training recipe: the loss (self.criteria) and the "
    "optimizer (self.optimizer) set in train_setup, or, for a bare-form file, its module-level "
    'TRAIN_RECIPE = {"loss": ..., "optimizer": ...}. Losses: ${losses}. Optimizers: '
    "${optimizers}. Keep the architecture as it is."
)


class RecipesParams(BaseModel):
    """`[task]` keys of the recipes task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture_operators: bool = Field(
        False, description="Let the heuristic agents also change the architecture (the "
        "image-classification operators) next to the recipe.")


class RecipesTask(ImageClassificationTask):
    """Loss x optimizer search for fixed architectures, scored by validation accuracy."""

    kind = "recipes"
    params_model = RecipesParams  # type: ignore[assignment]

    def line(self) -> str:
        d, t = self.dataset, self.config.train
        return (f"training-recipe search (loss x optimizer) for fixed architectures on "
                f"{d.name}: inputs {d.shape}, {d.classes} classes; metric: "
                f"{self.objective.metric} after {t.epochs} epoch(s)")

    def contract(self) -> str:
        from string import Template

        from nasloop.tasks.recipes.vocab import LOSSES, OPTIMIZERS

        extra = Template(RECIPE_CONTRACT).substitute(
            losses=", ".join(LOSSES), optimizers=", ".join(OPTIMIZERS))
        return super().contract() + extra

    def check(self, code: str) -> str:
        from nasloop.agents.mutation.spec import MutationError
        from nasloop.sandbox.failures import ContractError, FailureClass
        from nasloop.tasks.recipes.ops import recipe_of

        form = super().check(code)
        try:
            recipe_of(code)
        except MutationError as err:
            raise ContractError(FailureClass.CONTRACT,
                                f"the recipe cannot be read: {err.reason}") from None
        return form

    def mutation_space(self) -> MutationSpace | None:
        from nasloop.tasks.recipes.space import CombinedSpace, RecipeSpace

        recipes = RecipeSpace(frozenset(self.config.agents.operators))
        if not getattr(self.params, "architecture_operators", False):
            return recipes
        from nasloop.tasks.image_classification.space import ArchitectureSpace

        d = self.dataset
        arch = ArchitectureSpace((1, *d.shape), d.classes, frozenset(self.config.agents.operators),
                                 self.analysis())
        return CombinedSpace(recipes, arch)
