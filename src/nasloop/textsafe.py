"""Text that came from a candidate or a model, made safe to print and to put in markup.

A candidate's failure message, log and traceback (and an LLM's answer) may hold rich
markup, terminal control sequences, huge lines or undecodable bytes; every place that
shows them goes through here, so none of it can crash or steer the terminal or a report.
"""

from __future__ import annotations

import re

from rich.markup import escape

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def plain(text: object, limit: int | None = None) -> str:
    """`text` as printable characters only (newline and tab kept), cut to `limit`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    s = _CONTROL.sub("\ufffd", str(text))
    s = s.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 3, 0)] + "..."
    return s


def for_markup(text: object, limit: int | None = None) -> str:
    """`plain(text)` with rich markup escaped, for a rich console line or table cell."""
    return escape(plain(text, limit))
