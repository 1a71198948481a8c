"""The loss classes nasloop injects into candidate files: their one source text (torch-free).

The operators paste these classes into a LEMUR file so that it stays self-contained (it
needs only ``import torch``); ``runtime`` executes the same text to build the losses for
bare-form files, so each formula is written exactly once, here.
"""

from __future__ import annotations

import ast
from functools import cache

NGL_SOURCE = '''class NGLLoss(torch.nn.Module):
    """NGL: mean of exp(2.4092 - p - p*y) - cos(cos(sin(p))), p = softmax, y = one-hot."""

    def forward(self, logits, target):
        p = torch.softmax(logits, dim=1)
        y = torch.nn.functional.one_hot(target, p.shape[1]).to(p.dtype)
        return (torch.exp(2.4092 - p - p * y) - torch.cos(torch.cos(torch.sin(p)))).mean()
'''

NLL_SOURCE = '''class LogSoftmaxNLLLoss(torch.nn.Module):
    """Negative log-likelihood of the log-softmax of the logits."""

    def forward(self, logits, target):
        return torch.nn.functional.nll_loss(torch.nn.functional.log_softmax(logits, 1), target)
'''

INJECTED: dict[str, str] = {"NGLLoss": NGL_SOURCE, "LogSoftmaxNLLLoss": NLL_SOURCE}


@cache
def _canonical_dump(name: str) -> str:
    return ast.dump(ast.parse(INJECTED[name]).body[0])


def is_canonical(name: str, class_source: str) -> bool:
    """True when ``class_source`` (one class definition) is nasloop's injected ``name``,
    up to comments and layout."""
    try:
        body = ast.parse(class_source).body
    except SyntaxError:
        return False
    return len(body) == 1 and ast.dump(body[0]) == _canonical_dump(name)
