"""Cross-dataset suitability as a search (`kind = "suitability"`): image classification scored
on every `[data] datasets` entry, whose archive grows the suitability item pool as it searches.

Candidates are searched, trained and scored exactly as in a multi-dataset image-classification
run (`nasloop.tasks.image_classification.multidata`). After each cycle the task rebuilds the
pool from its own archive (`nasloop.suitability.items`: one item per trained network and
dataset pair, in each configured prompt variant), writes it to the run's `ITEMS_FILE` (the
same format `nasloop suitability build` writes, so `suitability eval|train` read it as it
is), and records the pool's figures and the two baselines on the held-out networks in the
run summary (`suitability`), cycle by cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from nasloop.tasks.image_classification import ImageClassificationParams, ImageClassificationTask

if TYPE_CHECKING:
    from pathlib import Path

    from nasloop.config import Config
    from nasloop.memory.archive import Archive

ITEMS_FILE = "suitability_items.jsonl"  # this task's own file in the run directory
META = "task_summary"  # archive meta key merged into summary.json


class SuitabilityParams(ImageClassificationParams):
    """`[task]` keys of the suitability task (over image classification's)."""

    variants: list[str] = Field(
        default_factory=lambda: ["normalized", "metadata", "code"],
        description="Prompt variants the item pool is built in: normalized | metadata | code.")

    @field_validator("variants")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from nasloop.suitability.items import VARIANTS

        bad = [x for x in v if x not in VARIANTS]
        if bad or not v:
            raise ValueError(f"variants must be some of {', '.join(VARIANTS)}, not {bad or v}")
        return list(dict.fromkeys(v))


class SuitabilityTask(ImageClassificationTask):
    """Multi-dataset image classification that grows the suitability item pool."""

    kind = "suitability"
    params_model = SuitabilityParams

    def __init__(self, config: Config, params: BaseModel | None = None) -> None:
        from nasloop.config import ConfigError

        if len(config.data.datasets) < 2:
            raise ConfigError("bad config: field 'data.datasets': the suitability task needs "
                              "2 or more datasets")
        super().__init__(config, params)

    def variants(self) -> list[str]:
        params = self.params
        assert isinstance(params, SuitabilityParams)
        return params.variants

    def pool(self, archive: Archive, run_dir: Path) -> dict[str, Any]:
        """The item pool of the archive now: written to ITEMS_FILE; its figures."""
        from nasloop.suitability.items import build_items, networks_from_candidates, write_items
        from nasloop.suitability.pool import pool_figures

        nets = list(networks_from_candidates(archive.candidates("ok"), str(run_dir)).values())
        items = [it for v in self.variants() for it in build_items(nets, v)]
        write_items(items, run_dir / ITEMS_FILE)
        return pool_figures(nets, items)

    def after_cycle(self, run_dir: Path, archive: Archive, step: int) -> None:
        figures = self.pool(archive, run_dir)
        before = (archive.get_meta(META) or {}).get("suitability", {})
        growth = [g for g in before.get("growth", []) if g["step"] < step]
        growth.append({"step": step, "networks": figures["networks"],
                       "items": figures["items"]})
        archive.set_meta(META, {"suitability": {**figures, "items_file": ITEMS_FILE,
                                                "growth": growth}})

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        import json

        from nasloop.rundir import RunDir
        from nasloop.tasks.suitability.report import section_html

        path = RunDir(run_dir).summary
        summary = json.loads(path.read_text()) if path.exists() else {}
        if not summary.get("suitability"):
            return []
        return [("Suitability item pool", section_html(summary["suitability"]))]
