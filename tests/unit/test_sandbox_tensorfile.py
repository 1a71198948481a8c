"""The file of tensors beside a result (nasloop.sandbox.tensorfile): stored and read back
exactly, equal tensors once, written past RLIMIT_FSIZE's 32 MiB, sealed against resizing,
and every malformed reference refused in one line."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import numpy as np
import pytest

from nasloop.sandbox import tensorfile
from nasloop.sandbox.outputs import BadOutputs, encode


@pytest.fixture
def attached(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    fd = tensorfile.create(64 * 2**20)
    monkeypatch.setattr(tensorfile, "_file", None)
    tensorfile.attach(fd)
    yield fd
    tensorfile._file = None
    os.close(fd)


def test_the_file_is_a_quarter_of_the_memory_limit() -> None:
    assert tensorfile.size_for(6144) == 1536 * 2**20


def test_without_a_file_tensors_stay_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorfile, "_file", None)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    kept = tensorfile.store(a)
    assert kept == encode(a)
    np.testing.assert_array_equal(tensorfile.load(kept), a)
    with pytest.raises(BadOutputs, match="did not come with it"):
        tensorfile.load({"at": 0, "dtype": "float32", "shape": [1]})


def test_tensors_come_back_exactly_and_equal_ones_are_stored_once(attached: int) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), np.arange(5, dtype=np.int64),
              np.array(True), np.zeros((0, 7), np.float16), rng.integers(0, 255, 17, np.uint8)]
    refs = [tensorfile.store(a) for a in arrays]
    for ref, a in zip(refs, arrays, strict=True):
        assert set(ref) == {"at", "dtype", "shape"} and ref["at"] % tensorfile.ALIGN == 0
        back = tensorfile.load(ref)
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    again = tensorfile.store(arrays[0].copy())  # same bytes, another array: one copy
    assert again == refs[0]
    same_bytes = tensorfile.store(arrays[0].reshape(4, 3))  # same bytes, another shape
    assert same_bytes["shape"] == [4, 3]
    non_contiguous = rng.standard_normal((6, 6)).astype(np.float32)[:, ::2]
    np.testing.assert_array_equal(tensorfile.load(tensorfile.store(non_contiguous)),
                                  non_contiguous)


def test_a_tensor_larger_than_fsize_and_the_write_window_is_written() -> None:
    """Candidates run with RLIMIT_FSIZE = 32 MiB: a plain write past it is refused, the
    mapped windows are not. Done in a fork so the limit stays there."""
    fd = tensorfile.create(128 * 2**20)
    big = np.arange(40 * 2**20 // 4, dtype=np.float32)  # 40 MiB: over 32, over two windows
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (32 * 2**20, 32 * 2**20))
            tensorfile._file = None
            tensorfile.attach(fd)
            tensorfile.store(np.zeros(3, np.float32))  # so the big one starts off a page
            ref = tensorfile.store(big)
            status = 0 if ref == {"at": 64, "dtype": "float32", "shape": [len(big)]} else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tensorfile._file = None
    try:
        tensorfile.attach(fd)
        back = tensorfile.load({"at": 64, "dtype": "float32", "shape": [len(big)]})
        np.testing.assert_array_equal(back, big)
    finally:
        tensorfile._file = None
        os.close(fd)


def test_the_file_cannot_be_resized_and_a_full_one_says_so(attached: int) -> None:
    with pytest.raises(PermissionError):
        os.ftruncate(attached, 2**34)
    with pytest.raises(PermissionError):
        os.ftruncate(attached, 0)
    with pytest.raises(PermissionError):  # a write past the end would grow it
        os.pwrite(attached, b"x", 64 * 2**20)
    assert os.fstat(attached).st_size == 64 * 2**20
    with pytest.raises(MemoryError, match="exceed 64 MiB"):
        tensorfile.store(np.ones(65 * 2**20, np.uint8))


@pytest.mark.parametrize(("ref", "why"), [
    ({"at": 0, "dtype": "float32"}, "not {at, dtype, shape}"),
    ({"at": 0, "dtype": "float32", "shape": [1], "x": 1}, "not {at, dtype, shape}"),
    ({"at": "0", "dtype": "float32", "shape": [1]}, "not {at, dtype, shape}"),
    ({"at": 0, "dtype": "float32", "shape": [-1]}, "not {at, dtype, shape}"),
    ({"at": 0, "dtype": "float32", "shape": [True]}, "not {at, dtype, shape}"),
    ({"at": 0, "dtype": "object", "shape": [1]}, "numeric dtype"),
    ({"at": 0, "dtype": "V8", "shape": [1]}, "numeric dtype"),
    ({"at": 0, "dtype": "<f4", "shape": [1]}, "numeric dtype"),
    ({"at": 0, "dtype": "nonsense", "shape": [1]}, "unknown"),
    ({"at": -8, "dtype": "float32", "shape": [1]}, "outside the file"),
    ({"at": 64 * 2**20 - 4, "dtype": "float32", "shape": [2]}, "outside the file"),
    ({"at": 0, "dtype": "float64", "shape": [2**30, 2**30]}, "outside the file"),
])
def test_a_malformed_reference_is_refused_in_one_line(attached: int, ref: dict,
                                                       why: str) -> None:
    with pytest.raises(BadOutputs, match=why) as info:
        tensorfile.load(ref)
    assert "\n" not in str(info.value)
