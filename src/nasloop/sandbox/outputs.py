"""Arrays a candidate's process returns (its predictions, restored images ...), carried as
base64 `.npy` text in the result and decoded on the trusted side without pickle."""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np

MAX_BYTES = 48 * 2**20  # what one array may take decoded, where its size is not known
HEADER_BYTES = 4096  # room for an .npy header (numpy writes about 128 bytes for these)


class BadOutputs(ValueError):
    """Outputs that cannot be read as arrays (the candidate's fault: bad-result)."""


def encode(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def bytes_for(count: int, itemsize: int = 8) -> int:
    """The most an honest array of `count` elements, each of at most `itemsize` bytes, takes
    decoded: the cap for outputs whose shape the trusted side knows (restored images)."""
    return count * itemsize + HEADER_BYTES


def decode(text: object, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The array in `text`; BadOutputs for anything else (wrong type, too large, pickles,
    object arrays)."""
    if not isinstance(text, str):
        raise BadOutputs(f"outputs are {type(text).__name__}, not encoded arrays")
    if len(text) > max_bytes * 4 // 3 + 8:
        raise BadOutputs(f"outputs are larger than the {max_bytes:,} bytes they may take")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, binascii.Error, UnicodeEncodeError, OSError) as exc:
        raise BadOutputs(f"outputs do not decode: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise BadOutputs("outputs are not a numeric array")
    return array
