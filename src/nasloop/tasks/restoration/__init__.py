"""Image restoration under hardware constraints: a candidate maps a degraded image to a
restored one of the same shape, is checked against an operator allow-list, a parameter cap
and a CPU latency before training, optionally learns from a distilled teacher, and is scored
by validation PSNR (SSIM reported) on the trusted side."""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from nasloop.data.table import DatasetError, DatasetInfo, dataset_info, served
from nasloop.tasks.base import MutationSpace, Objective, Task, TaskBrief
from nasloop.tasks.restoration.runner import RUNNER
from nasloop.tasks.restoration.settings import (
    HardwareLimits,
    RestorationData,
    RestorationParams,
    RestorationSettings,
)

if TYPE_CHECKING:
    from pathlib import Path

    from nasloop.memory.archive import Archive
    from nasloop.sandbox.job import EvalJob

CONTRACT_FIELDS = ("in_shape", "out_shape", "data", "ops", "kernels", "modes", "max_params",
                   "latency_size", "latency_cap", "time_limit_s")
NET = re.compile(r"^class Net\b", re.MULTILINE)


class RestorationTask(Task):
    """Denoising networks scored by validation PSNR under hardware constraints."""

    kind = "restoration"
    params_model = RestorationParams
    runner = RUNNER
    objective = Objective(metric="val_psnr", direction="max", digits=2, bounds=None)

    @property
    def p(self) -> RestorationParams:
        return self.params  # type: ignore[return-value]

    @property
    def dataset(self) -> DatasetInfo:
        from nasloop.config import ConfigError

        d = self.config.data
        try:
            return served(dataset_info(d.dataset), d.channels, d.image_size)
        except DatasetError as err:
            raise ConfigError(f"bad config: field 'data.dataset': {err}") from None

    def degradation(self) -> str:
        blur = f" after a Gaussian blur of sigma {self.p.blur:g}" if self.p.blur else ""
        return f"Gaussian noise sigma {self.p.sigma:g}{blur}"

    def line(self) -> str:
        d, p = self.dataset, self.p
        ops = ", ".join(p.allowed_ops) or "any operator"
        return (f"image restoration (denoising) on {d.name}: images {d.shape} in [0, 1] "
                f"degraded by {self.degradation()}; metric: {self.objective.metric} (dB) after "
                f"{p.epochs} epoch(s); hardware: {ops}, <= {p.max_params} parameters"
                + (", distilled from a teacher" if p.distill else ""))

    def contract(self) -> str:
        from nasloop.agents.llm.prompts import template

        default = (resources.files(__package__) / "contract.txt").read_text(encoding="utf-8")
        tpl = template("contract", default, CONTRACT_FIELDS,
                       self.config.agents.prompts.get("contract"))
        d, p = self.dataset, self.p
        cap = (f" at most {p.max_latency_ms:g} ms" if p.max_latency_ms is not None
               else " is measured and reported")
        return tpl.substitute(
            in_shape=str(d.in_shape(self.config.train.batch_size)), out_shape=str(d.shape),
            data=f"{d.name} degraded by {self.degradation()}",
            ops=", ".join(p.allowed_ops) or "(any)",
            kernels=", ".join(f"{k}x{k}" for k in p.conv_kernels),
            modes=", ".join(p.upsample_modes), max_params=str(p.max_params),
            latency_size=str(p.latency_size), latency_cap=cap,
            time_limit_s=f"{self.config.sandbox.limits.time_s:g}").strip()

    def brief(self) -> TaskBrief:
        space = self.mutation_space()
        return TaskBrief(kind=self.kind, line=self.line(), contract=self.contract(),
                         objective=self.objective,
                         operators=space.operators() if space is not None else {})

    def seeds(self) -> list[tuple[str, str]]:
        from nasloop.tasks.restoration.seeds import list_seeds
        from nasloop.tasks.seedfiles import read_seed_files

        seeds = list(list_seeds().items()) if self.config.seeds.builtin else []
        return seeds + read_seed_files(self.config.seeds.files)

    def check(self, code: str) -> str:
        from nasloop.tasks.restoration.contract import detect_form

        return detect_form(code)

    def extract(self, answer: str, cut_off: bool = False) -> tuple[str | None, str | None]:
        from nasloop.agents.llm.answers import extract_code

        got = extract_code(answer, cut_off, defines=NET, what="class Net")
        return got.code, got.error

    def limits(self) -> HardwareLimits:
        return HardwareLimits.model_validate(
            {k: getattr(self.p, k) for k in HardwareLimits.model_fields})

    def data_spec(self) -> RestorationData:
        from nasloop.tasks.restoration.teacher import teacher_sha

        c, p = self.config, self.p
        return RestorationData(
            dataset=c.data.dataset, data_dir=c.data.data_dir, channels=c.data.channels,
            image_size=c.data.image_size, sigma=p.sigma, blur=p.blur, distill=p.distill,
            alpha=p.alpha, teacher=p.teacher,
            teacher_sha=teacher_sha(p.teacher) if p.distill else None,
            teacher_epochs=p.teacher_epochs, lr=p.lr, batch_size=c.train.batch_size)

    def settings(self) -> RestorationSettings:
        t = self.config.train
        return RestorationSettings(**self.limits().model_dump(), epochs=self.p.epochs,
                                   batch_size=t.batch_size, lr=self.p.lr, prm=dict(t.prm))

    def job(self, candidate_id: int, code: str, *, seed: int | None = None,
            op: str = "evaluate") -> EvalJob:
        from nasloop.sandbox.job import EvalJob

        c = self.config
        lim = c.sandbox.limits
        return EvalJob(
            candidate_id=candidate_id, code=code, runner=self.runner, op=op,
            seed=c.training_seed() if seed is None else seed, data=self.data_spec().model_dump(),
            params=self.settings().model_dump(), time_limit_s=lim.time_s,
            memory_limit_mb=lim.memory_mb, threads=lim.threads, tmp_mb=lim.tmp_mb,
            device=c.train.device)

    def mutation_space(self) -> MutationSpace | None:
        from nasloop.tasks.restoration.space import RestorationSpace

        return RestorationSpace(self.dataset.shape, self.limits(),
                                frozenset(self.config.agents.operators))

    def teacher_figures(self) -> dict | None:
        """The teacher's PSNR, SSIM and parameters (None without distillation); prepares
        the data when it is not cached yet."""
        if not self.p.distill:
            return None
        from nasloop.sandbox.prepared import prepare_job, trusted_dir
        from nasloop.tasks.restoration.data import read_teacher
        from nasloop.tasks.restoration.runner import RestorationRunner

        return read_teacher(trusted_dir(prepare_job(self.job(0, ""), RestorationRunner)))

    def after_run(self, run_dir: Path, archive: Archive) -> None:
        from nasloop.tasks.restoration.report import META, restoration_summary

        archive.set_meta(META, restoration_summary(archive, self.teacher_figures()))

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        import json

        from nasloop.rundir import RunDir
        from nasloop.tasks.restoration.report import section_html

        path = RunDir(run_dir).summary
        summary = json.loads(path.read_text()) if path.exists() else {}
        if not summary.get("restoration"):
            return []
        return [("Restoration", section_html(summary))]
