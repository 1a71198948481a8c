"""Static checks of a model file: parse it and tell which form of the contract it uses.

Nothing here executes candidate code; the task's `check` (the orchestrator's check node)
calls it before a candidate is sent to the sandbox.
"""

from __future__ import annotations

import ast
from typing import Literal

from nasloop.sandbox.failures import ContractError, FailureClass

Form = Literal["lemur", "bare"]

LEMUR_INIT_ARGS = ("in_shape", "out_shape", "prm", "device")
LEMUR_METHODS = ("train_setup", "learn", "forward")


def parse(code: str) -> ast.Module:
    """Parse candidate source, raising ContractError(SYNTAX) with the line of the error."""
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        raise ContractError(FailureClass.SYNTAX, f"{exc.msg} ({where})") from None
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, absurd nesting
        raise ContractError(FailureClass.SYNTAX, f"cannot parse: {exc}") from None


def _find_net(tree: ast.Module) -> ast.ClassDef:
    nets = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Net"]
    if not nets:
        raise ContractError(FailureClass.CONTRACT, "no module-level class Net")
    return nets[-1]


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return names[1:]  # drop self


def init_arity(code: str) -> int | None:
    """Number of required positional constructor arguments of a bare-form Net (None: no
    __init__ of its own). Assumes `detect_form(code) == "bare"`."""
    init = _methods(_find_net(parse(code))).get("__init__")
    if init is None:
        return None
    required = len(_positional(init)) - len(init.args.defaults)
    return max(required, 0)


def detect_form(code: str) -> Form:
    """Return the contract form of `code` ("lemur" or "bare"), statically (AST only).

    Raises ContractError(SYNTAX) when the file does not parse and ContractError(CONTRACT)
    when there is no usable `Net` (no class, LEMUR form half-implemented, or a bare
    constructor that takes something other than `(in_shape, out_shape)` or nothing).
    """
    tree = parse(code)
    net = _find_net(tree)
    methods = _methods(net)
    has_hp = any(
        isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.name == "supported_hyperparameters"
        for n in tree.body
    )
    init = methods.get("__init__")
    args = _positional(init) if init is not None else []
    looks_lemur = has_hp or "train_setup" in methods or "learn" in methods or len(args) == 4
    if "forward" not in methods and not _has_bases(net):
        raise ContractError(FailureClass.CONTRACT, "class Net defines no forward()")
    if looks_lemur:
        missing = [m for m in LEMUR_METHODS if m not in methods]
        if not has_hp:
            missing.insert(0, "supported_hyperparameters()")
        if missing:
            raise ContractError(
                FailureClass.CONTRACT, f"LEMUR form is missing: {', '.join(missing)}"
            )
        if init is None or len(args) < 4 and not init.args.vararg:
            raise ContractError(
                FailureClass.CONTRACT,
                "LEMUR Net.__init__ must take (in_shape, out_shape, prm, device)",
            )
        return "lemur"
    if init is None:
        return "bare"
    required = len(args) - len(init.args.defaults)
    if required in (0, 2) or (init.args.vararg and required <= 2):
        return "bare"
    raise ContractError(
        FailureClass.CONTRACT,
        f"bare Net.__init__ must take (in_shape, out_shape) or nothing, not {args}",
    )


def _has_bases(cls: ast.ClassDef) -> bool:
    """True when Net inherits from something other than nn.Module (forward may be inherited)."""
    for base in cls.bases:
        name = ast.unparse(base)
        if name not in ("nn.Module", "torch.nn.Module", "Module"):
            return True
    return False
