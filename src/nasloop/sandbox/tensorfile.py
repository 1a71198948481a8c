"""The stored tensors of a returned model graph, carried in a sealed memory file beside the
result line instead of inside it.

The worker makes one file per audited job (`create`): a memfd of a quarter of the job's
memory limit (`size_for`; sparse: only what is written takes memory) and sealed, so it can
never grow or shrink. It hands the same file to the candidate's process with the job and
then to the auditor's process with the audit job; each puts it at `FD` and `attach`es it.
In the candidate's process `store` writes a tensor's bytes into it (past the 32 MiB that
RLIMIT_FSIZE lets a candidate write, through windows of a shared mapping) and gives the
graph a reference, `{"at": offset, "dtype": name, "shape": [...]}`; equal tensors are
stored once, so two recordings of one model refer to the same bytes. In the auditor `load`
reads a reference back, checking its bounds, dtype and size. The worker never reads the
file; what the candidate writes there is its own model's weights, run and counted by the
auditor like any tensor of the graph.

Why not the result line: a model's weights as base64 `.npy` text inside JSON were copied
five times on the way (encoded, read, parsed, re-encoded for the auditor, parsed again), and
capped the model at 48 MiB per tensor and ~190 MB in all. Outside a sandbox process (runs in
this process, the worker's own warm-up recordings) no file is attached and tensors stay
inline (`outputs.encode`).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import resource
from dataclasses import dataclass, field

import numpy as np

from nasloop.sandbox import channel
from nasloop.sandbox.outputs import BadOutputs, decode, encode

FD = channel.RESULT_FD + 1  # where a candidate or auditor process keeps the file
WINDOW = 16 * 2**20  # bytes mapped at a time while writing (the address space is capped)
ALIGN = 64
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
# The file is memory the candidate's RLIMIT_AS does not count, so it is kept to a share of
# the job's limit: training holds weights, gradients and optimizer state in the address
# space, so no model that trains within the limit has more weights than a quarter of it.
SHARE = 4


def size_for(memory_limit_mb: int) -> int:
    """The size in bytes of the file for a job with this memory limit."""
    return memory_limit_mb * 2**20 // SHARE


def create(size: int) -> int:
    """A new memory file of `size` bytes that can never be resized (the worker's)."""
    fd = os.memfd_create("nasloop-tensors", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass
class _Attached:
    fd: int
    size: int
    end: int = 0  # where the next stored tensor goes
    stored: dict[bytes, dict[str, object]] = field(default_factory=dict)  # digest -> reference


_file: _Attached | None = None


def attach(fd: int) -> None:
    """Use the file at `fd` from now on: `store` writes to it, `load` reads from it."""
    global _file
    _file = _Attached(fd, os.fstat(fd).st_size)


def store(array: np.ndarray) -> object:
    """What a graph keeps for `array`: a reference into the attached file, or (with none
    attached) the array inline as base64 `.npy` text."""
    if _file is None:
        return encode(array)
    array = np.asarray(array, order="C")  # (np.ascontiguousarray makes a 0-d array 1-d)
    data = memoryview(array).cast("B") if array.nbytes else memoryview(b"")
    key = hashlib.sha256(data).digest() + repr((array.dtype.str, array.shape)).encode()
    found = _file.stored.get(key)
    if found is not None:
        return found
    at = -(-_file.end // ALIGN) * ALIGN
    if at + array.nbytes > _file.size:
        raise MemoryError(f"the model's stored tensors exceed {_file.size // 2**20} MiB "
                          f"(1/{SHARE} of the job's memory limit)")
    _write(_file.fd, at, data)
    _file.end = at + array.nbytes
    ref: dict[str, object] = {"at": at, "dtype": array.dtype.name, "shape": list(array.shape)}
    _file.stored[key] = ref
    return ref


def _write(fd: int, at: int, data: memoryview) -> None:
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    done = 0
    if limit == resource.RLIM_INFINITY or at + len(data) <= limit:
        while done < len(data):  # a plain write where the limit allows it: cheaper
            done += os.pwrite(fd, data[done:], at + done)
        return
    while done < len(data):
        pos = at + done
        base = pos - pos % mmap.ALLOCATIONGRANULARITY
        length = min(WINDOW, pos - base + len(data) - done)
        with mmap.mmap(fd, length, offset=base) as window:
            n = length - (pos - base)
            window[pos - base:length] = data[done:done + n]
        done += n


def load(entry: object) -> np.ndarray:
    """The array a graph keeps as `entry` (a reference into the attached file, or inline
    text); BadOutputs, one line, for anything else."""
    if not isinstance(entry, dict):
        return decode(entry)
    if _file is None:
        raise BadOutputs("a tensor refers to a file of tensors that did not come with it")
    at, dtype, shape = entry.get("at"), entry.get("dtype"), entry.get("shape")
    if set(entry) != {"at", "dtype", "shape"} or type(at) is not int or \
            not isinstance(dtype, str) or not isinstance(shape, list) or \
            not all(type(s) is int and 0 <= s < 2**40 for s in shape):
        raise BadOutputs("a tensor reference is not {at, dtype, shape}")
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise BadOutputs(f"a stored tensor's dtype {dtype[:40]!r} is unknown") from None
    if kind.kind not in "biuf" or kind.name != dtype:
        raise BadOutputs(f"a stored tensor's dtype {dtype[:40]!r} is not the name of a "
                         "numeric dtype")
    nbytes = math.prod(shape) * kind.itemsize
    if at < 0 or at + nbytes > _file.size:
        raise BadOutputs(f"a stored tensor lies outside the file of tensors ({at}+{nbytes} "
                         f"bytes of {_file.size})")
    buf = bytearray(nbytes)
    view = memoryview(buf)
    done = 0
    while done < nbytes:
        n = os.preadv(_file.fd, [view[done:]], at + done)
        if n <= 0:
            raise BadOutputs("the file of tensors ended early")
        done += n
    return np.frombuffer(buf, dtype=kind).reshape(shape)
