"""Several datasets per candidate (`[data] datasets = [...]`): one sandbox job carries every
dataset, the candidate's process trains it on each in turn (each with its own split and
input shape) and returns each trained model as a graph; the auditor predicts with each on its
own dataset, and the trusted side scores each dataset's predictions and combines them.

Why one job and not one per dataset: the task seam stays one job -> one result, so the loop,
the executors (local, Ray), `eval`, re-evaluations and the archive need no change; the
worker holds every dataset's candidate data once. The cost: a candidate's datasets train one
after the other (candidates still run in parallel), and the time limit is per dataset times
their number.

Metric keys: `metric_key("val_accuracy", "digits-inverted")` -> `val_accuracy@digits-inverted`
is the one owner of the format (`split_key` reads it back).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nasloop.sandbox.audit import FROM_AUDIT, GRAPH_FIELD, merge, take_graph
from nasloop.tasks.base import Objective
from nasloop.tasks.image_classification.settings import DataSpec

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from nasloop.config import Config, DataConfig
    from nasloop.memory.archive import Archive
    from nasloop.sandbox.job import EvalJob

RUNNER = "nasloop.tasks.image_classification.multidata:MultiDatasetRunner"
SEP = "@"
ACCURACY = "val_accuracy"
MEAN, NORMALIZED = "val_accuracy_mean", "val_accuracy_normalized"
PER_DATASET = ("val_accuracy", "test_accuracy", "params", "flops", "train_s")
SUMMED = ("train_s", "check_s", "epochs")  # the others: the largest over the datasets


def metric_key(metric: str, dataset: str) -> str:
    """The metrics key of `metric` on `dataset`: `val_accuracy@digits-inverted`."""
    return f"{metric}{SEP}{dataset}"


def split_key(key: str) -> tuple[str, str | None]:
    """(metric, dataset) of a metrics key; dataset None for a key of no one dataset."""
    metric, sep, dataset = key.partition(SEP)
    return (metric, dataset) if sep else (key, None)


def per_dataset(metrics: dict[str, float] | None, metric: str = ACCURACY) -> dict[str, float]:
    """{dataset: value} of `metric` in a candidate's metrics."""
    out = {}
    for key, value in (metrics or {}).items():
        m, d = split_key(key)
        if m == metric and d is not None:
            out[d] = value
    return out


def is_multi(data: DataConfig) -> bool:
    return len(data.datasets) > 1


def objective(data: DataConfig) -> Objective:
    """The objective of a multi-dataset run: `[data] score`."""
    if data.score == "mean":
        return Objective(metric=MEAN)
    if data.score == "normalized":
        return Objective(metric=NORMALIZED)
    return Objective(metric=metric_key(ACCURACY, data.score))


def specs(config: Config) -> list[dict[str, Any]]:
    """The DataSpec of each configured dataset (each served as the table gives it)."""
    d = config.data
    return [DataSpec(dataset=name, data_dir=d.data_dir).model_dump() for name in d.datasets]


def multi_job(config: Config, candidate_id: int, code: str, params: dict[str, Any], *,
              seed: int | None, op: str) -> EvalJob:
    """The one sandbox job that evaluates `code` on every configured dataset."""
    from nasloop.sandbox.job import EvalJob

    lim = config.sandbox.limits
    n = len(config.data.datasets)
    return EvalJob(candidate_id=candidate_id, code=code, runner=RUNNER, op=op,
                   seed=config.training_seed() if seed is None else seed,
                   data={"datasets": specs(config)}, params=params,
                   time_limit_s=lim.time_s * n, memory_limit_mb=lim.memory_mb,
                   threads=lim.threads, tmp_mb=lim.tmp_mb, device=config.train.device)


def _sub_job(job: EvalJob, i: int) -> EvalJob:
    """The single-dataset job of the i-th dataset (its prepared half when prepared)."""
    from nasloop.tasks.image_classification.jobs import RUNNER as SINGLE

    data = dict(job.data["datasets"][i])
    if "prepared" in job.data:
        data["prepared"] = f"{job.data['prepared']}/{i}"
    return job.model_copy(update={"data": data, "runner": SINGLE})


def _names(job: EvalJob) -> list[str]:
    return [spec["dataset"] for spec in job.data["datasets"]]


def combine(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Scored single-dataset results -> one result: per-dataset metrics under `metric_key`,
    the mean accuracy, counts and timings combined; failed when any dataset failed."""
    metrics: dict[str, float] = {}
    for name, r in results.items():
        for key, value in (r.get("metrics") or {}).items():
            if key in PER_DATASET:
                metrics[metric_key(key, name)] = value
            if key in SUMMED:
                metrics[key] = metrics.get(key, 0.0) + value
            elif key not in ("val_accuracy", "test_accuracy"):
                metrics[key] = max(metrics.get(key, value), value)
    first = next(iter(results.values()))
    out = {"candidate_id": first.get("candidate_id"), "status": "ok", "form": first.get("form"),
           "wall_s": sum(float(r.get("wall_s") or 0.0) for r in results.values())}
    for name, r in results.items():
        if r.get("status") != "ok":
            msg = f"on {name}: {r.get('message') or 'failed'}"
            out.update(status="failed", failure_class=r.get("failure_class"), message=msg,
                       traceback_tail=r.get("traceback_tail"))
            break
    accs = [metrics.get(metric_key(ACCURACY, n)) for n in results]
    if out["status"] == "ok" and all(a is not None for a in accs):
        metrics[MEAN] = sum(accs) / len(accs)  # type: ignore[arg-type]
        metrics[NORMALIZED] = metrics[MEAN]  # over the best possible (1.0); see rescore
    out["metrics"] = metrics
    return out


class MultiDatasetRunner:
    """A `TaskRunner` over several datasets, delegating each to the image-classification
    runner: prepared, held, trained and scored per dataset, combined on the trusted side."""

    @staticmethod
    def _single() -> Any:
        from nasloop.tasks.image_classification.runner import ImageClassificationRunner

        return ImageClassificationRunner

    # --- trusted side -----------------------------------------------------------------------
    @staticmethod
    def prepare(job: EvalJob, sandbox_dir: Path, trusted_dir: Path) -> None:
        """Each dataset prepared into its own numbered halves."""
        for i in range(len(job.data["datasets"])):
            (sandbox_dir / str(i)).mkdir()
            (trusted_dir / str(i)).mkdir()
            MultiDatasetRunner._single().prepare(_sub_job(job, i), sandbox_dir / str(i),
                                                 trusted_dir / str(i))

    @staticmethod
    def read_paths(job: EvalJob) -> list[str]:
        return MultiDatasetRunner._single().read_paths(job)  # the one prepared folder

    @staticmethod
    def hidden_paths(job: EvalJob) -> list[str]:
        single = MultiDatasetRunner._single()
        return sorted({p for i in range(len(job.data["datasets"]))
                       for p in single.hidden_paths(_sub_job(job, i))})

    @staticmethod
    def score(job: EvalJob, raw: dict[str, Any]) -> dict[str, Any]:
        """Each dataset's predictions scored against its hidden labels, then combined."""
        per = raw.get("datasets")
        if raw.get("status") != "ok" and not isinstance(per, dict):
            return raw  # failed before any dataset ran (timeout, crash): as it came
        if not isinstance(per, dict):
            return {**{k: v for k, v in raw.items() if k != "datasets"}, "status": "failed",
                    "failure_class": "bad-result", "message": "no per-dataset results"}
        from nasloop.data.split_files import read_labels
        from nasloop.sandbox.prepared import trusted_dir
        from nasloop.tasks.image_classification.scoring import score
        from nasloop.tasks.image_classification.settings import TrainSettings
        from nasloop.tasks.image_classification.trainer import CHECK_ONLY

        s = TrainSettings.model_validate(job.params)
        scored = {}
        for i, name in enumerate(_names(job)):
            r = per.get(name)
            if not isinstance(r, dict):
                r = {"candidate_id": job.candidate_id, "status": "failed",
                     "failure_class": "bad-result", "message": "no result"}
            labels = read_labels(trusted_dir(job) / str(i))
            scored[name] = score(r, labels, s.max_params, test=s.predict_test,
                                 check_only=job.op == CHECK_ONLY,
                                 audited=MultiDatasetRunner.audits(job))
            if scored[name].get("status") != "ok":
                break  # the datasets after a failed one never ran
        return combine(scored)

    # --- sandbox side -----------------------------------------------------------------------
    def preload(self) -> None:
        self._single()().preload()

    def warm_audit(self, data: Any, waiting: Callable[[], bool]) -> None:
        """Warm a waiting auditor's process on the first dataset (warm.warm_auditor)."""
        self._single()().warm_audit(data[0], waiting)

    def data_key(self, job: EvalJob) -> tuple[Any, ...]:
        return (job.data.get("prepared"),)

    def load(self, job: EvalJob) -> Any:
        single = self._single()()
        return [single.load(_sub_job(job, i)) for i in range(len(job.data["datasets"]))]

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        """Train on each dataset in turn, in this (the candidate's) process; stops at the
        first dataset that fails. The trainer's own functions are put back before each
        dataset, so code run on one dataset cannot rebind what reports on the next."""
        from nasloop.tasks.image_classification import trainer

        kept = {n: getattr(trainer, n) for n in ("dry_forward", "predict", "weight_shapes",
                                                 "run_job")}
        graph = self.audits(job)
        out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "ok", "datasets": {}}
        graphs = {}
        for i, name in enumerate(_names(job)):
            for n, fn in kept.items():
                setattr(trainer, n, fn)
            r = kept["run_job"](_sub_job(job, i), data[i], graph=graph)
            if GRAPH_FIELD in r:
                graphs[name] = r.pop(GRAPH_FIELD)
            out["datasets"][name] = r
            if r.get("status") != "ok":
                out["status"] = "failed"
                break
        if graphs:
            out[GRAPH_FIELD] = graphs
        return out

    @staticmethod
    def audits(job: EvalJob) -> bool:
        """Each dataset's trained model comes back as a graph, for the same jobs as with one
        dataset."""
        return MultiDatasetRunner._single().audits(job)

    @staticmethod
    def take_graph(result: dict[str, Any]) -> object:
        """{dataset: graph} sent by the candidate's process; what it put in the fields only
        the audit fills, at the top or per dataset, is dropped."""
        per = result.get("datasets")
        for r in per.values() if isinstance(per, dict) else []:
            if isinstance(r, dict):
                for field in FROM_AUDIT:
                    r.pop(field, None)
        return take_graph(result)

    @staticmethod
    def merge(candidate: dict[str, Any], audited: dict[str, Any]) -> dict[str, Any]:
        """Each dataset's result with its audit's outputs and counts."""
        if audited.get("status") != "ok":
            return merge(candidate, audited)
        out = dict(candidate)
        per = dict(out.get("datasets") or {})
        for name, fields in (audited.get("datasets") or {}).items():
            if isinstance(per.get(name), dict):
                per[name] = {**per[name], **{f: fields[f] for f in FROM_AUDIT if f in fields}}
        out["datasets"] = per
        return out

    def audit(self, job: EvalJob, data: Any) -> dict[str, Any]:
        """The auditor's side: each dataset's graph run on that dataset's inputs."""
        import json

        from nasloop.sandbox.audit import audit_failure
        from nasloop.sandbox.modelgraph import BadGraph
        from nasloop.tasks.image_classification.graph_audit import audit_graph
        from nasloop.tasks.image_classification.settings import TrainSettings

        try:
            graphs = json.loads(job.code)
        except ValueError:
            graphs = None
        if not isinstance(graphs, dict):
            return audit_failure({"candidate_id": job.candidate_id, "status": "failed"},
                                 BadGraph("the model graphs are not one per dataset"))
        predict_test = TrainSettings.model_validate(job.params).predict_test
        per = {}
        for i, name in enumerate(_names(job)):
            if name in graphs:
                r = audit_graph(_sub_job(job, i), data[i], predict_test, graphs[name])
                if r.get("status") != "ok":
                    return {**r, "message": f"on {name}: {r.get('message')}"}
                per[name] = {f: r[f] for f in FROM_AUDIT}
        return {"candidate_id": job.candidate_id, "status": "ok", "datasets": per}


def rescore(archive: Archive) -> None:
    """Normalised scores against the archive: each trained candidate's score becomes the
    mean over datasets of its accuracy divided by the best accuracy any candidate of the run
    reached on that dataset so far. Run after each evaluated batch (before the triples), it
    rewrites every stored score, so when a dataset's best improves the earlier candidates'
    scores drop with it and the ranking is always against the current bests."""
    cands = archive.candidates("ok")
    best: dict[str, float] = {}
    for c in cands:
        for d, acc in per_dataset(c.metrics).items():
            best[d] = max(best.get(d, 0.0), acc)
    for c in cands:
        accs = per_dataset(c.metrics)
        if not accs:
            continue
        value = sum(a / best[d] if best[d] > 0 else 0.0 for d, a in accs.items()) / len(accs)
        if c.score is None or not math.isclose(value, c.score, abs_tol=1e-12):
            archive.set_score(c.id, value, {**(c.metrics or {}), NORMALIZED: value})
