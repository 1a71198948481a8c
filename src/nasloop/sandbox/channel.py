"""The result channel of a candidate process, and loading candidate code where that code
cannot write to it.

A candidate process reports on one descriptor, `RESULT_FD` (a socket). The candidate's
module is executed (imported) on a separate thread under a seccomp filter that refuses that
thread, and every thread or process it starts, any write to the channel or any other
descriptor for it (nasloop.sandbox.confine.guard_channel). So code that runs while the file
is loaded cannot write the first message, nor leave a thread behind that writes it later.
What the file arranges to run later on the trainer's own thread (its forward(), or a
function it patched) runs like any of its code there: it can write, and what it writes is
validated and scored on the trusted side like every result (the labels never enter the
process). Outside a candidate process (in-process runs, the trusted side) nothing is guarded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

RESULT_FD = 3  # where isolation.confine_job puts the channel in every candidate process
T = TypeVar("T")

_guarded: list[int] = []  # the channel's descriptor once this is a candidate process


def mark_candidate_process(fd: int = RESULT_FD) -> None:
    """From now on, load candidate code away from `fd` (called by isolation.confine_job)."""
    _guarded[:] = [fd]


def without_channel(load: Callable[[], T]) -> T:
    """Run `load` (the execution of a candidate's module) on a thread that cannot write to
    the result channel; its return value or exception (SystemExit included) comes back
    here. Directly when this is not a candidate process."""
    if not _guarded:
        return load()
    from nasloop.sandbox import confine

    fd = _guarded[0]
    box: dict[str, object] = {}

    def body() -> None:
        try:
            confine.guard_channel(fd)
            box["value"] = load()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
            box["error"] = exc

    thread = _started(body)
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


START_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)  # about 3 s in all


def _started(body: Callable[[], None]) -> threading.Thread:
    """A started daemon thread running `body`. The process limit counts every process of the
    sandbox's user on the host, so another sandbox's burst can briefly leave no room for a
    thread: that is waited out, then reported as the sandbox's fault (ConfineError, class
    `infrastructure`), never as the candidate's."""
    from nasloop.sandbox.confine import ConfineError

    for pause in (*START_PAUSES, None):
        thread = threading.Thread(target=body, name="nasloop-load", daemon=True)
        try:
            thread.start()
            return thread
        except RuntimeError as exc:
            if pause is None:
                raise ConfineError(f"cannot start the thread that loads the candidate: {exc}"
                                   ) from None
            time.sleep(pause)
    raise AssertionError("unreachable")
