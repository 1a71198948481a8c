"""One fine-tuning example: the generator's chat prompt and the answer it should give."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """`messages` are chat dicts (role, content) exactly as the generator is prompted;
    `answer` is the assistant's reply (a ```python or ```diff block); `source` says where
    the pair came from (``elite:#12``, ``corpus:<id>``), for the cycle's record."""

    messages: tuple[dict[str, str], ...]
    answer: str
    source: str
