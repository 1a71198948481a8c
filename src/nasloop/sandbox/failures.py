"""The one taxonomy of candidate failures; the class is what a triple's outcome records."""

from __future__ import annotations

from enum import Enum


class FailureClass(str, Enum):
    """Why a candidate did not produce a metric."""

    SYNTAX = "syntax"  # the file does not parse
    IMPORT = "import"  # an import failed (missing module, forbidden module)
    CONTRACT = "contract"  # no usable Net / wrong constructor / missing LEMUR methods
    SHAPE = "shape"  # tensor shape mismatch, or wrong output shape
    DTYPE = "dtype"  # dtype or device mismatch
    PARAMS = "params"  # parameter count over the configured cap
    TIMEOUT = "timeout"  # wall-clock or CPU-time budget exceeded, killed
    MEMORY = "memory"  # out of memory (address-space limit or CUDA OOM)
    NAN_LOSS = "nan-loss"  # loss became NaN or inf during training
    CRASH = "crash"  # died by a signal or exited without a result
    RUNTIME = "runtime"  # any other Python exception raised by the candidate
    FORBIDDEN = "forbidden-operation"  # tried something the sandbox forbids
    OUTPUT_TOO_LARGE = "output-too-large"  # flooded stdout/stderr or files
    BAD_RESULT = "bad-result"  # what came back is not a believable result (range, NaN, missing)
    DUPLICATE = "duplicate"  # not a failure of the code: novelty filter skipped it
    GENERATION = "generation"  # the generator could not produce code at all
    INFRASTRUCTURE = "infrastructure"  # the sandbox itself failed; never the candidate's fault

    def __str__(self) -> str:
        return self.value


class ContractError(Exception):
    """A candidate broke its task's contract; `failure_class` says how."""

    def __init__(self, failure_class: FailureClass, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.message = message
