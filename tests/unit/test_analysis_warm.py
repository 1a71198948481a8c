"""The analysis runner's trusted warm-up: it analyses and mutates nasloop's own lenet seed,
keeps the RNG state and leaves no cached analysis behind."""

from __future__ import annotations

import pytest
import torch

from nasloop.agents.mutation import api
from nasloop.tasks.image_classification.analysis import AnalysisRunner


def test_the_warm_up_applies_a_mutation_and_leaves_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[str] = []
    real = api.apply_mutation

    def spy(code, mutation, *args):  # type: ignore[no-untyped-def]
        applied.append(mutation.describe())
        return real(code, mutation, *args)

    monkeypatch.setattr(api, "apply_mutation", spy)
    torch.manual_seed(5)
    before = torch.get_rng_state()
    AnalysisRunner().warm(None, waiting=lambda: False)
    assert applied == ["norm(layer=conv1, kind=batch)"]
    assert torch.equal(torch.get_rng_state(), before)
    assert not api._CACHE


def test_the_warm_up_stops_once_a_job_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[object] = []
    monkeypatch.setattr(api, "apply_mutation", lambda *a: applied.append(a))
    AnalysisRunner().warm(None, waiting=lambda: True)
    assert applied == [] and not api._CACHE
