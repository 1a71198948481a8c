"""Static form detection: no candidate code is executed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasloop.sandbox.failures import FailureClass
from nasloop.tasks.image_classification.contract import ContractError, detect_form, init_arity

CANDIDATES = Path(__file__).parent.parent / "fixtures" / "candidates"


def test_lemur_fixture_is_lemur() -> None:
    assert detect_form((CANDIDATES / "lemur_cnn.py").read_text()) == "lemur"


@pytest.mark.parametrize("name, arity", [("bare_cnn.py", 2), ("bare_noargs.py", 0)])
def test_bare_fixtures_are_bare(name: str, arity: int) -> None:
    code = (CANDIDATES / name).read_text()
    assert detect_form(code) == "bare"
    assert init_arity(code) == arity


def test_bare_without_init_is_bare() -> None:
    code = (
        "import torch.nn as nn\nclass Net(nn.Module):\n    def forward(self, x):\n"
        "        return x\n"
    )
    assert detect_form(code) == "bare"
    assert init_arity(code) is None


def test_detection_does_not_execute_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')\nclass Net:\n    def forward(self, x): pass\n"
    detect_form(code)
    assert not marker.exists()


@pytest.mark.parametrize(
    "code, cls, words",
    [
        ("def f(:\n  pass\n", FailureClass.SYNTAX, "line 1"),
        ("x = 1\n", FailureClass.CONTRACT, "no module-level class Net"),
        (
            "import torch.nn as nn\nclass Net(nn.Module):\n"
            "    def __init__(self, a, b, c):\n        super().__init__()\n"
            "    def forward(self, x):\n        return x\n",
            FailureClass.CONTRACT,
            "bare Net.__init__",
        ),
        (
            "def supported_hyperparameters():\n    return {'lr'}\n"
            "import torch.nn as nn\nclass Net(nn.Module):\n"
            "    def __init__(self, in_shape, out_shape, prm, device):\n"
            "        super().__init__()\n"
            "    def forward(self, x):\n        return x\n",
            FailureClass.CONTRACT,
            "train_setup, learn",
        ),
        (
            "import torch.nn as nn\nclass Net(nn.Module):\n"
            "    def __init__(self, in_shape, out_shape):\n        super().__init__()\n",
            FailureClass.CONTRACT,
            "no forward",
        ),
    ],
)
def test_broken_contracts_are_classified(code: str, cls: FailureClass, words: str) -> None:
    with pytest.raises(ContractError) as err:
        detect_form(code)
    assert err.value.failure_class == cls
    assert words in err.value.message
