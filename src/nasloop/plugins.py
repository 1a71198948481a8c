"""User code plugged in by config: an import path "module:Class" names a class to build.

A bad path is a one-line ConfigError naming the field (the module is not importable, has
no such attribute, or it is not a class).
"""

from __future__ import annotations

import importlib
from typing import Any

from nasloop.config import PLUGIN_PATH, ConfigError


def is_import_path(value: str) -> bool:
    """True when `value` has the form "module:Class" (a dotted module, a dotted attribute)."""
    return PLUGIN_PATH.fullmatch(value) is not None


def load_class(path: str, field: str) -> type[Any]:
    """The class `path` ("module:Class") names; ConfigError naming `field` when it cannot."""
    if not is_import_path(path):
        raise ConfigError(f"bad config: field '{field}': {path!r} is not an import path "
                          "module:Class")
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:  # an import error, or the module's own
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"bad config: field '{field}': cannot import {module_name!r} "
                          f"({first})") from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(f"bad config: field '{field}': {module_name!r} has no {attr!r}")
    if not isinstance(obj, type):
        raise ConfigError(f"bad config: field '{field}': {path!r} is not a class")
    return obj


def class_path(obj: object) -> str:
    """The import path of `obj`'s class ("module:Class"), what a run records of an agent."""
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"
