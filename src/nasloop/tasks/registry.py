"""The registered task kinds: the one list of them, and how a config's task is built."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from nasloop.config import Config
    from nasloop.tasks.base import Task

# kind -> "module:Class" of its Task; a new task is a folder and a line here
KINDS: dict[str, str] = {
    "image-classification": "nasloop.tasks.image_classification:ImageClassificationTask",
    "recipes": "nasloop.tasks.recipes:RecipesTask",
    "ensemble": "nasloop.tasks.ensemble:EnsembleTask",
    "augmentation": "nasloop.tasks.augmentation:AugmentationTask",
    "restoration": "nasloop.tasks.restoration:RestorationTask",
    "suitability": "nasloop.tasks.suitability:SuitabilityTask",
}
DEFAULT_KIND = "image-classification"


def import_path(path: str) -> object:
    """The object named by "package.module:Name"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def task_class(kind: str) -> type[Task]:
    """The Task class of `kind`; ValueError naming the known kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown task kind {kind!r} (known: {', '.join(KINDS)})")
    return import_path(KINDS[kind])  # type: ignore[return-value]


def validate_params(kind: str, params: dict[str, object]) -> dict[str, object]:
    """The task's params validated by its own model, as plain data; ValueError naming the
    first bad key as `task.<key>`."""
    cls = task_class(kind)
    try:
        return cls.params_model.model_validate(params).model_dump()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(["task", *(str(p) for p in first["loc"])])
        if first["type"] == "extra_forbidden":
            raise ValueError(f"unknown key '{where}'") from None
        raise ValueError(f"field '{where}': {first['msg']}") from None


def build_task(config: Config) -> Task:
    """The task of a config, with its validated params."""
    cls = task_class(config.task.kind)
    return cls(config, cls.params_model.model_validate(config.task.params()))
