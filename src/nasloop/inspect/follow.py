"""`nasloop trace --follow`: the timeline of a running search, step by step as it lands."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nasloop.inspect.queries import timeline
from nasloop.inspect.rundir import RunView

DONE = ("finished", "interrupted", "forked")


def follow(run_dir: Path, interval: float = 1.0) -> Iterator[dict[str, Any]]:
    """Every step of the run, oldest first, waiting for new ones until the run has stopped
    (summary.json says finished or interrupted) and all its steps were given."""
    last = -1
    while True:
        try:
            with RunView(run_dir) as view:  # reopened each poll: a read sees no later writes
                done = view.summary().get("status") in DONE
                rows = timeline(view, after_step=last)
        except sqlite3.DatabaseError:  # the writer opened the file mid-read: read again
            done, rows = False, []
        for row in rows:
            last = row["step"]
            yield row
        if done and not rows:
            return
        if not rows:
            time.sleep(interval)
