"""Exceptions, signals and exit codes map to the failure taxonomy."""

from __future__ import annotations

import signal

import pytest

from nasloop.sandbox.classify import (
    CandidateFailure,
    ForbiddenOperation,
    classify_exception,
    classify_exit,
)
from nasloop.sandbox.confine import ConfineError
from nasloop.sandbox.failures import FailureClass


@pytest.mark.parametrize(
    "exc, cls",
    [
        (ModuleNotFoundError("No module named 'foo'"), FailureClass.IMPORT),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x10 and 20x5)"),
         FailureClass.SHAPE),
        (RuntimeError("Given groups=1, weight of size [8, 3, 3, 3], expected input[2, 1, 32, 32]"
                      " to have 3 channels, but got 1 channels instead"), FailureClass.SHAPE),
        (RuntimeError("expected scalar type Float but found Double"), FailureClass.DTYPE),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB"),
         FailureClass.MEMORY),
        (MemoryError(), FailureClass.MEMORY),
        (SystemExit(3), FailureClass.FORBIDDEN),
        (ForbiddenOperation("forbidden operation: os.fork"), FailureClass.FORBIDDEN),
        (CandidateFailure(FailureClass.NAN_LOSS, "loss became nan"), FailureClass.NAN_LOSS),
        (RecursionError("maximum recursion depth exceeded"), FailureClass.RUNTIME),
        (KeyError("lr"), FailureClass.RUNTIME),
        (ConfineError("cannot start the thread that loads the candidate: can't start new "
                      "thread"), FailureClass.INFRASTRUCTURE),
    ],
)
def test_exceptions(exc: BaseException, cls: FailureClass) -> None:
    got, message = classify_exception(exc, "training")
    assert got == cls
    assert message


@pytest.mark.parametrize(
    "code, timed_out, cls",
    [
        (-int(signal.SIGKILL), True, FailureClass.TIMEOUT),
        (-int(signal.SIGXCPU), False, FailureClass.TIMEOUT),
        (-int(signal.SIGXFSZ), False, FailureClass.OUTPUT_TOO_LARGE),
        (-int(signal.SIGSEGV), False, FailureClass.CRASH),
        (3, False, FailureClass.CRASH),
    ],
)
def test_exits(code: int, timed_out: bool, cls: FailureClass) -> None:
    assert classify_exit(code, timed_out)[0] == cls
