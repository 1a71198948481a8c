"""Reading language-model answers: the improver's JSON, the generator's code.

LangChain's JSON parsers only look inside a markdown fence or at the whole string; small
local models wrap their JSON in prose ("Sure! Here is ... {...} Hope this helps"), write
several code blocks, or are cut off mid-file, so the extraction here is our own.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from pydantic import AliasChoices, BaseModel, Field, ValidationError

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+-]*)[^\n]*$", re.MULTILINE)
_PY_INFO = {"", "python", "py", "python3", "pytorch"}
TRUNCATED = "the answer was cut off inside its code (raise agents.max_new_tokens)"
_CODE_START = re.compile(r"^(import |from \S+ import |class |def |@|#|\"{3}|'{3})")


class ImproverAnswer(BaseModel):
    """The improver's structured answer."""

    problem: str = Field(min_length=3, description="What limits the model now.")
    suggestion: str = Field(
        min_length=3,
        validation_alias=AliasChoices("suggestion", "modification", "change"),
        description="The one concrete change to make.",
    )
    expected_effect: str = Field(
        "", validation_alias=AliasChoices("expected_effect", "expected effect", "effect")
    )


def _json_objects(text: str) -> list[object]:
    """Every JSON value that starts at a '{' in `text`, in order (nested ones skipped)."""
    decoder, found, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) != -1:
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        found.append(value)
        i = end
    return found


def parse_improver(text: str) -> ImproverAnswer:
    """The first JSON object in `text` that validates; ValueError saying what was wrong."""
    objects = [o for o in _json_objects(text) if isinstance(o, dict)]
    if not objects:
        raise ValueError("no JSON object in the answer")
    first_error = ""
    for obj in objects:
        try:
            return ImproverAnswer.model_validate(obj)
        except ValidationError as err:
            if not first_error:
                e = err.errors()[0]
                loc = ".".join(str(p) for p in e["loc"]) or "object"
                first_error = f"JSON object invalid: '{loc}': {e['msg']}"
    raise ValueError(first_error)


@dataclass(frozen=True)
class Block:
    info: str  # the fence's language tag, lowercased ("" when none)
    body: str
    closed: bool


def fenced_blocks(text: str) -> list[Block]:
    """Fenced code blocks in order; the last one may be unclosed (a cut-off answer)."""
    blocks: list[Block] = []
    pos = 0
    while (m := _FENCE.search(text, pos)) is not None:
        fence, info = m.group(1), m.group(2).lower()
        start = m.end() + 1
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        c = close.search(text, start)
        if c is None:
            blocks.append(Block(info, text[start:], closed=False))
            break
        blocks.append(Block(info, text[start : c.start()], closed=True))
        pos = c.end()
    return blocks


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _unfenced(text: str, defines: re.Pattern[str]) -> str | None:
    """Code written without a fence: from the first code-looking line, trimmed to parse."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return None
    body = lines[start:]
    while body:  # drop trailing prose until what is left parses
        code = "\n".join(body).rstrip() + "\n"
        if _parses(code):
            return code if defines.search(code) else None
        body.pop()
    return None


@dataclass(frozen=True)
class CodeAnswer:
    code: str | None
    error: str | None = None


def extract_code(text: str, cut_off: bool = False, *, defines: re.Pattern[str],
                 what: str) -> CodeAnswer:
    """The candidate file in an answer: the last Python block that `defines` (the task's
    pattern, e.g. `^class Net`; `what` names it in messages).

    Falls back to a block without it only if it is the sole Python block, and to
    unfenced code. An answer cut off inside its code (an unclosed fence whose code does
    not parse or lacks the definition, or any unclosed or unfenced code when `cut_off` says
    the model hit its token limit) is reported as truncated rather than handed on
    half-written.
    """
    blocks = [b for b in fenced_blocks(text) if b.info in _PY_INFO and b.body.strip()]
    if blocks:
        with_def = [b for b in blocks if defines.search(b.body)]
        pick = with_def[-1] if with_def else (blocks[0] if len(blocks) == 1 else None)
        if pick is None:
            return CodeAnswer(None, f"{len(blocks)} code blocks, none defines {what}")
        code = pick.body.rstrip() + "\n"
        if not pick.closed and (cut_off or not _parses(code) or not defines.search(code)):
            return CodeAnswer(None, TRUNCATED)
        return CodeAnswer(code)
    code = _unfenced(text, defines)
    if code is not None and cut_off:
        return CodeAnswer(None, TRUNCATED)
    if code is None:
        return CodeAnswer(None, f"no Python code defining {what} in the answer")
    return CodeAnswer(code)
