"""Static form check of a restoration candidate (AST only, nothing executed).

The LEMUR-like form here is `supported_hyperparameters()` plus `Net(in_shape, out_shape, prm,
device)` with a `forward`: no `train_setup`/`learn` (the trainer owns loss and optimizer).
The bare form is image classification's: `Net(in_shape, out_shape)` or `Net()`.
"""

from __future__ import annotations

import ast

from nasloop.sandbox.failures import ContractError, FailureClass
from nasloop.tasks.image_classification import contract as ic


def detect_form(code: str) -> ic.Form:
    """"lemur" or "bare"; ContractError (syntax or contract) when `code` cannot be one."""
    tree = ic.parse(code)
    net = ic._find_net(tree)
    methods = ic._methods(net)
    init = methods.get("__init__")
    args = ic._positional(init) if init is not None else []
    has_hp = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name == "supported_hyperparameters" for n in tree.body)
    if not has_hp and len(args) != 4:
        return ic.detect_form(code)  # bare form, checked as image classification does
    if "forward" not in methods and not ic._has_bases(net):
        raise ContractError(FailureClass.CONTRACT, "class Net defines no forward()")
    if not has_hp:
        raise ContractError(FailureClass.CONTRACT, "the form with Net(in_shape, out_shape, "
                            "prm, device) needs a module-level supported_hyperparameters()")
    if init is None or (len(args) < 4 and not init.args.vararg):
        raise ContractError(FailureClass.CONTRACT,
                            "Net.__init__ must take (in_shape, out_shape, prm, device)")
    return "lemur"
