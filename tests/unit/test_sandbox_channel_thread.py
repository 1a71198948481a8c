"""Loading a candidate away from the result channel when the process limit leaves no room
for a thread for a moment: waited out, and otherwise the sandbox's fault, never the
candidate's (another sandbox's burst of processes of the same user once failed every
analysis of a run as the parent's fault)."""

from __future__ import annotations

import threading

import pytest

from nasloop.sandbox import channel
from nasloop.sandbox.classify import classify_exception
from nasloop.sandbox.confine import ConfineError
from nasloop.sandbox.failures import FailureClass


def _refuse_threads(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """threading.Thread.start fails as at the process limit, `times` times."""
    refused: list[int] = []
    real = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if len(refused) < times:
            refused.append(1)
            raise RuntimeError("can't start new thread")
        real(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    monkeypatch.setattr(channel, "START_PAUSES", (0.01, 0.01, 0.01))
    return refused


def test_a_moment_without_room_for_a_thread_is_waited_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    refused = _refuse_threads(monkeypatch, times=2)
    seen: list[str] = []
    thread = channel._started(lambda: seen.append(threading.current_thread().name))
    thread.join()
    assert refused == [1, 1] and seen == ["nasloop-load"]


def test_no_room_at_all_is_the_sandbox_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse_threads(monkeypatch, times=99)
    with pytest.raises(ConfineError, match="can't start new thread") as err:
        channel._started(lambda: None)
    cls, message = classify_exception(err.value, "import")
    assert cls == FailureClass.INFRASTRUCTURE and "\n" not in message


def test_an_analysis_without_a_thread_is_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    from nasloop.agents.mutation import api
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.image_classification.analysis import (
        ANALYSIS_RUNNER,
        MUTATIONS,
        AnalysisRunner,
    )

    def no_thread(*args: object) -> None:
        raise ConfineError("cannot start the thread that loads the candidate: can't start "
                           "new thread")

    monkeypatch.setattr(api, "applicable_mutations", no_thread)
    out = AnalysisRunner().run(EvalJob(candidate_id=1, code="x = 1\n", runner=ANALYSIS_RUNNER,
                                       op=MUTATIONS, params={"in_shape": [1, 1, 8, 8],
                                                             "num_classes": 10}), None)
    assert out["status"] == "failed" and out["failure_class"] == "infrastructure"
