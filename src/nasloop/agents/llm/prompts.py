"""Prompt templates: loaded (built-in or the user's overrides), checked, and rendered.

A template names only the placeholders its role fills; an override that names another one
(a typo, usually) is a config error at start-up, not a KeyError mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from nasloop import prompts as builtin_prompts
from nasloop.config import ConfigError

_GEN = ("task", "contract", "parent_code", "history", "problem", "modification", "expected_effect")
FIELDS: dict[str, tuple[str, ...]] = {
    "system": (),
    "improver": (
        "task",
        "contract",
        "parent_id",
        "parent_result",
        "parent_code",
        "last_result",
        "history",
        "metric",
        "operators",
        "inspirations",
    ),
    "improver_retry": ("error",),
    "generator_full": _GEN,
    "generator_delta": _GEN,
    "generator_retry": ("error", "answer_format"),
}


def identifiers(template: Template) -> set[str]:
    """Placeholder names used by a template (``Template.get_identifiers`` is 3.11+)."""
    found = set()
    for m in template.pattern.finditer(template.template):
        name = m.group("named") or m.group("braced")
        if name is not None:
            found.add(name)
        elif m.group("invalid") is not None:
            raise ValueError(f"a lone '$' at offset {m.start()} (write $$ for a dollar sign)")
    return found


@dataclass(frozen=True)
class Prompts:
    """The templates of one run, by name."""

    templates: dict[str, Template]

    def render(self, name: str, **values: object) -> str:
        """Fill template `name`; every placeholder it uses must be given."""
        return self.templates[name].substitute({k: str(v) for k, v in values.items()})


TASK_TEMPLATES = ("contract",)  # rendered by the task (its own placeholders), see `template`


def template(name: str, default: str, allowed: tuple[str, ...], override: str | None) -> Template:
    """Template `name`: the file `override` when given, else `default`; ConfigError when the
    file is missing or uses a placeholder outside `allowed`."""
    where = f"field 'agents.prompts.{name}'"
    text = default
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigError(f"bad config: {where}: file not found: {path}")
        text = path.read_text(encoding="utf-8")
    tpl = Template(text)
    try:
        used = identifiers(tpl)
    except ValueError as err:
        raise ConfigError(f"bad config: {where}: {err}") from None
    unknown = sorted(used - set(allowed))
    if unknown:
        raise ConfigError(
            f"bad config: {where}: unknown placeholder ${{{unknown[0]}}} "
            f"(this template may use: {', '.join(allowed) or 'none'})"
        )
    return tpl


def load_prompts(overrides: dict[str, str] | None = None) -> Prompts:
    """Built-in templates with the user's overrides (name -> file); ConfigError when bad."""
    overrides = overrides or {}
    for name in overrides:
        if name not in FIELDS and name not in TASK_TEMPLATES:
            raise ConfigError(
                f"bad config: field 'agents.prompts': unknown template {name!r} "
                f"(known: {', '.join((*FIELDS, *TASK_TEMPLATES))})"
            )
    return Prompts({
        name: template(name, builtin_prompts.builtin(name), allowed, overrides.get(name))
        for name, allowed in FIELDS.items()
    })
