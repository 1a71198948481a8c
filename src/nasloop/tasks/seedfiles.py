"""Reading the user's seed files (`[seeds] files`): each checked before the run starts."""

from __future__ import annotations

import ast
from pathlib import Path

MAX_SEED_BYTES = 2 * 2**20


def read_seed_file(path: str | Path, field: str = "seeds.files") -> tuple[str, str]:
    """(name, source) of one seed file; ConfigError naming the file when it is missing, a
    directory, not UTF-8 text, empty, huge, or not Python. A UTF-8 byte-order mark is fine."""
    from nasloop.config import ConfigError

    p = Path(path).expanduser()

    def bad(why: str) -> ConfigError:
        return ConfigError(f"bad config: field '{field}': {p} {why}")

    if p.is_dir():
        raise bad("is a directory, not a Python file")
    if not p.is_file():
        raise bad("not found")
    data = p.read_bytes()
    if len(data) > MAX_SEED_BYTES:
        raise bad(f"is larger than {MAX_SEED_BYTES // 2**20} MiB")
    if b"\0" in data:
        raise bad("is binary, not Python source")
    try:
        code = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad("is not UTF-8 text") from None
    if not code.strip():
        raise bad("is empty")
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise bad(f"does not parse: {exc.msg} (line {exc.lineno})") from None
    return p.stem, code


def read_seed_files(paths: list[str]) -> list[tuple[str, str]]:
    """Every configured seed file, in order."""
    return [read_seed_file(p) for p in paths]
