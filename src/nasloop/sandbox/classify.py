"""Map what went wrong (an exception, a signal, an exit code) to a FailureClass."""

from __future__ import annotations

import errno
import re
import signal
import traceback

from nasloop.sandbox.confine import ConfineError
from nasloop.sandbox.failures import ContractError, FailureClass


class CandidateFailure(Exception):
    """Raised by the trainer for a failure it detected itself (shape, params, nan-loss...)."""

    def __init__(self, failure_class: FailureClass, message: str) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.message = message


class ForbiddenOperation(RuntimeError):
    """Raised by the sandbox's audit hook when the candidate tries a forbidden operation."""


_SHAPE = re.compile(
    r"shapes? cannot be multiplied|size mismatch|must match the size|shape '\[.*\]' is invalid"
    r"|Expected input batch_size|Given groups=|Calculated (padded )?input size"
    r"|Kernel size can't be greater|to have \d+ channels|output size is too small"
    r"|Expected \d+D|expected \d+D|input size|Sizes of tensors must match|dimension out of range"
    r"|non-empty [0-9]D|not enough values to unpack|Expected .*size|is not valid for input"
    r"|mismatch in shape|Target .* is out of bounds",
)
_DTYPE = re.compile(
    r"expected scalar type|same device|Input type .* and weight type|dtype|Expected .* Float"
    r"|found .* Double|should be the same|device-side|not implemented for '(Long|Int|Half|Byte)",
)
_MEMORY = re.compile(r"out of memory|can't allocate memory|not enough memory|CUDA error: out")


def _first_line(text: str, limit: int = 300) -> str:
    line = next((s for s in text.strip().splitlines() if s.strip()), "")
    return line[:limit]


def classify_exception(exc: BaseException, phase: str) -> tuple[FailureClass, str]:
    """Return the class and a one-line message for an exception raised in `phase`."""
    text = _first_line(str(exc))
    if isinstance(exc, ConfineError):  # the sandbox's own step failed, not the candidate
        return FailureClass.INFRASTRUCTURE, f"sandbox: {text}"
    if isinstance(exc, ContractError):
        return exc.failure_class, exc.message
    if isinstance(exc, CandidateFailure):
        return exc.failure_class, exc.message
    if isinstance(exc, ForbiddenOperation):
        return FailureClass.FORBIDDEN, text
    if isinstance(exc, SystemExit):
        return FailureClass.FORBIDDEN, f"called sys.exit({exc.code!r}) in {phase}"
    if isinstance(exc, SyntaxError):
        return FailureClass.SYNTAX, f"{exc.msg} (line {exc.lineno})"
    if isinstance(exc, ImportError):
        return FailureClass.IMPORT, text or type(exc).__name__
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return FailureClass.OUTPUT_TOO_LARGE, f"wrote more than the file-size limit in {phase}"
    if isinstance(exc, MemoryError) or _MEMORY.search(text):
        return FailureClass.MEMORY, f"out of memory in {phase}: {text}".rstrip(": ")
    name = type(exc).__name__
    if isinstance(exc, RecursionError):
        return FailureClass.RUNTIME, f"RecursionError in {phase}: {text}"
    if isinstance(exc, (RuntimeError, ValueError, IndexError, TypeError)):
        if _DTYPE.search(text) and not _SHAPE.search(text):
            return FailureClass.DTYPE, f"{name} in {phase}: {text}"
        if _SHAPE.search(text):
            return FailureClass.SHAPE, f"{name} in {phase}: {text}"
    return FailureClass.RUNTIME, f"{name} in {phase}: {text}"


def traceback_tail(exc: BaseException, lines: int = 12, code_name: str = "<candidate>") -> str:
    """The last `lines` lines of the traceback, keeping only the candidate's frames when any."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename == code_name]
    picked = own or frames[-3:]
    body = traceback.format_list(picked)
    body += traceback.format_exception_only(type(exc), exc)
    return "\n".join("".join(body).strip().splitlines()[-lines:])


def classify_exit(returncode: int, timed_out: bool, cpu_limited: bool = False
                  ) -> tuple[FailureClass, str]:
    """Class for a candidate process that ended without writing a result."""
    if timed_out:
        return FailureClass.TIMEOUT, "wall-clock time limit exceeded; killed"
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_limited):
            return FailureClass.TIMEOUT, "CPU time limit exceeded; killed"
        if sig == signal.SIGXFSZ:
            return FailureClass.OUTPUT_TOO_LARGE, "wrote more than the file-size limit; killed"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        return FailureClass.CRASH, f"killed by signal {name}"
    return FailureClass.CRASH, f"exited with code {returncode} without a result"
