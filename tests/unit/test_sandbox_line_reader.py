"""The line reader the orchestrator reads its workers with, and a worker its jobs."""

from __future__ import annotations

import os
import threading

from nasloop.sandbox.worker import LineReader


def _pipe_with(parts: list[bytes]) -> int:
    """The read end of a pipe that a thread fills with `parts`, one write each, then closes."""
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as fh:
            for part in parts:
                fh.write(part)

    threading.Thread(target=write, daemon=True).start()
    return r


def test_lines_split_across_reads_and_several_in_one_read() -> None:
    r = _pipe_with([b'{"a"', b': 1}\n{"b": 2}\n{"c"', b": 3}\n", b"partial"])
    reader = LineReader(r)
    got = [reader.readline() for _ in range(4)]
    os.close(r)
    assert got == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}', None]  # a line cut off by EOF: none
    assert reader.eof


def test_a_line_of_tens_of_megabytes_comes_back_whole() -> None:
    """Result lines carry restored images or model graphs: 94 MB took about a minute while
    the buffer was copied and searched again for every 64 KiB read."""
    big = bytes(b for b in range(256) if b != 10) * (40 * 2**20 // 255)
    r = _pipe_with([big[i:i + 3_000_000] for i in range(0, len(big), 3_000_000)]
                   + [b"\nnext\n"])
    reader = LineReader(r)
    line = reader.readline()
    assert line == big
    assert reader.readline() == b"next"
    os.close(r)
