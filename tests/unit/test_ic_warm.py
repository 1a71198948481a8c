"""The trusted warm-up of a waiting candidate process: both networks train on any image
shape, and a candidate trains exactly as it would without the warm-up. The auditor's
warm-up audits a graph the worker recorded once, and a graph audits the same after it."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from nasloop.data.loaders import load_dataset
from nasloop.data.split_files import CandidateData, candidate_view
from nasloop.sandbox.audit import audit_job, take_graph
from nasloop.sandbox.outputs import decode
from nasloop.tasks.image_classification import warm
from nasloop.tasks.image_classification.graph_audit import audit_graph
from nasloop.tasks.image_classification.jobs import eval_job
from nasloop.tasks.image_classification.seeds import seed_source
from nasloop.tasks.image_classification.trainer import run_job
from nasloop.tasks.image_classification.warm import BARE_NET, LEMUR_NET, warm_auditor, warm_process


def _random_data(channels: int, side: int) -> CandidateData:
    g = torch.Generator().manual_seed(0)
    n = 80
    return CandidateData("random", torch.randn(n, channels, side, side, generator=g),
                         torch.randint(0, 3, (n,), generator=g),
                         torch.randn(20, channels, side, side, generator=g),
                         torch.randn(0, channels, side, side), (n, channels, side, side), 3)


@pytest.mark.parametrize("channels, side", [(1, 8), (3, 32), (1, 2)])
@pytest.mark.parametrize("code", [LEMUR_NET, BARE_NET], ids=["lemur", "bare"])
def test_the_warm_up_networks_train_on_any_image_shape(code: str, channels: int,
                                                       side: int) -> None:
    out = run_job(eval_job(code, epochs=1), _random_data(channels, side))
    assert out["status"] == "ok", out


def test_warming_keeps_the_rng_and_leaves_no_module() -> None:
    data = _random_data(1, 8)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    warm_process(data)
    assert torch.equal(torch.get_rng_state(), before)
    assert "nasloop_candidate" not in sys.modules


def test_a_candidate_trains_the_same_after_the_warm_up() -> None:
    data = candidate_view(load_dataset("digits", None, 0))
    job = eval_job(seed_source("lenet"), epochs=1)
    cold = run_job(job, data)
    warm_process(data)
    warmed = run_job(job, data)
    assert cold["status"] == warmed["status"] == "ok"
    assert np.array_equal(decode(cold["outputs"]["val"]), decode(warmed["outputs"]["val"]))


def test_warming_stops_between_networks_once_a_job_waits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nasloop.tasks.image_classification import trainer

    ran: list[str] = []

    def run_job(job, data):  # type: ignore[no-untyped-def]
        ran.append(job.code)
        return {"status": "ok"}

    monkeypatch.setattr(trainer, "run_job", run_job)
    before = warm.trained
    warm_process(_random_data(1, 8), waiting=lambda: bool(ran))
    assert ran == [LEMUR_NET] and warm.trained == before + 1


def test_the_auditor_warm_up_audits_a_graph_recorded_once() -> None:
    torch.manual_seed(7)
    rng = torch.get_rng_state()
    warm.prepare_audit_warm_up()
    assert torch.equal(torch.get_rng_state(), rng)
    assert "nasloop_candidate" not in sys.modules
    before = warm.audited
    warm_auditor()
    warm_auditor()
    assert warm.audited == before + 2
    assert torch.equal(torch.get_rng_state(), rng)
    assert "nasloop_candidate" not in sys.modules


def test_the_worker_records_the_auditor_warm_up_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "_audit_warm_up", None)
    before = warm.audited
    warm_auditor()  # nothing recorded: nothing to audit
    assert warm.audited == before
    warm.preload()
    warm_auditor()
    assert warm.audited == before + 1


def test_the_auditor_warm_up_is_skipped_once_a_job_waits() -> None:
    warm.prepare_audit_warm_up()
    before = warm.audited
    warm_auditor(waiting=lambda: True)
    assert warm.audited == before


def test_a_graph_audits_the_same_after_the_auditor_warm_up() -> None:
    data = candidate_view(load_dataset("digits", None, 0))
    job = eval_job(seed_source("lenet"), epochs=1)
    trained = run_job(job, data, graph=True)
    ajob = audit_job(job, take_graph(trained))
    cold = audit_graph(ajob, data, predict_test=False)
    warm.prepare_audit_warm_up()
    warm_auditor()
    warmed = audit_graph(ajob, data, predict_test=False)
    assert cold["status"] == warmed["status"] == "ok"
    assert cold["reported"] == warmed["reported"]
    assert np.array_equal(decode(cold["outputs"]["val"]), decode(warmed["outputs"]["val"]))
