"""The recipe operators on files of other styles: no-ops, injected classes coming and going,
bare-form TRAIN_RECIPE, imports, kept arguments, and one-line errors."""

from __future__ import annotations

import pytest

from nasloop.agents.mutation.spec import Mutation, MutationError
from nasloop.tasks.image_classification.seeds import seed_source
from nasloop.tasks.image_classification.trainer import dry_check
from nasloop.tasks.recipes.ops import apply_recipe, recipe_mutations, recipe_of, with_recipe
from nasloop.tasks.recipes.vocab import Recipe

LENET = seed_source("lenet")

# single criterion, single quotes, `from torch import nn, optim`, a multi-line Adam with
# optimizer-specific betas reading momentum, weight decay, a dropout key
STYLED = """from torch import nn, optim


def supported_hyperparameters():
    return ('lr', 'momentum', 'dropout', 'weight_decay')


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, hp, device):
        super().__init__()
        self.device = device
        self.body = nn.Sequential(nn.Flatten(), nn.Dropout(hp['dropout']),
                                  nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0]))

    def forward(self, x):
        return self.body(x)

    def train_setup(self, hp):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = optim.Adam(
            self.parameters(),
            lr=hp['lr'],
            betas=(hp.get('momentum', 0.9), 0.999),
            weight_decay=hp['weight_decay'],
        )

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criteria(self(inputs), labels).backward()
            self.optimizer.step()
"""

BARE = '''"""A bare-form model: the trainer supplies loss and optimizer."""
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])

    def forward(self, x):
        return self.fc(x.flatten(1))
'''

SHAPE = (2, 1, 8, 8)


def _loss(kind: str) -> Mutation:
    return Mutation(op="loss", args={"kind": kind})


def _opt(kind: str) -> Mutation:
    return Mutation(op="optimizer", args={"kind": kind})


def test_reapplying_the_current_kind_is_a_no_op() -> None:
    assert apply_recipe(LENET, _loss("cross_entropy")) is LENET
    assert apply_recipe(LENET, _opt("sgd")) is LENET
    ngl = apply_recipe(LENET, _loss("ngl"))
    assert apply_recipe(ngl, _loss("ngl")) == ngl
    assert with_recipe(ngl, "ngl", "sgd") == ngl


def test_recipe_mutations_list_every_other_kind_in_a_stable_order() -> None:
    found = [m.describe() for m in recipe_mutations(LENET)]
    assert found == ["loss(kind=nll)", "loss(kind=ngl)", "loss(kind=label_smoothing)",
                     "optimizer(kind=adam)", "optimizer(kind=adamw)", "optimizer(kind=rmsprop)",
                     "optimizer(kind=adagrad)", "optimizer(kind=adadelta)"]
    for mutation in recipe_mutations(LENET):
        assert recipe_of(apply_recipe(LENET, mutation)) != recipe_of(LENET)


def test_switching_away_from_an_injected_loss_leaves_no_orphan_class() -> None:
    ngl = apply_recipe(LENET, _loss("ngl"))
    assert ngl.count("class NGLLoss(torch.nn.Module):") == 1
    nll = apply_recipe(ngl, _loss("nll"))
    assert "NGLLoss" not in nll and nll.count("class LogSoftmaxNLLLoss") == 1
    back = apply_recipe(nll, _loss("cross_entropy"))
    assert "LogSoftmaxNLLLoss" not in back and back == LENET


def test_a_styled_file_keeps_its_style_and_its_other_keys() -> None:
    assert recipe_of(STYLED) == Recipe("cross_entropy", "adam")
    sgd = with_recipe(STYLED, "label_smoothing", "sgd")
    assert "self.criteria = nn.CrossEntropyLoss(label_smoothing=0.1)\n" in sgd  # not a tuple
    assert "optim.SGD(\n            self.parameters(),\n            lr=hp['lr'],\n" in sgd
    assert "weight_decay=hp['weight_decay'],\n            momentum=hp['momentum'],\n" in sgd
    assert "betas" not in sgd
    assert "return ('lr', 'momentum', 'dropout', 'weight_decay')" in sgd
    assert "import torch\n" not in sgd  # nothing needed torch itself
    adagrad = apply_recipe(sgd, _opt("adagrad"))
    assert "momentum" not in adagrad
    assert "return ('lr', 'dropout', 'weight_decay')" in adagrad
    for code in (sgd, adagrad):
        assert dry_check(code, SHAPE, 3, 10**6).form == "lemur"


def test_an_injected_loss_brings_import_torch_into_a_file_without_it() -> None:
    ngl = apply_recipe(STYLED, _loss("ngl"))
    assert ngl.startswith("from torch import nn, optim\nimport torch\n")
    assert "self.criteria = NGLLoss()\n" in ngl
    assert recipe_of(ngl) == Recipe("ngl", "adam")
    assert dry_check(ngl, SHAPE, 3, 10**6).form == "lemur"


def test_a_literal_learning_rate_becomes_the_prm_key() -> None:
    code = LENET.replace('lr=prm["lr"]', "lr=0.1").replace('{"lr", "momentum"}', '{"momentum"}')
    adam = apply_recipe(code, _opt("adam"))
    assert 'torch.optim.Adam(self.parameters(), lr=prm["lr"])' in adam
    assert 'return {"lr"}' in adam


def test_a_bare_file_carries_its_recipe_as_train_recipe() -> None:
    assert recipe_of(BARE) == Recipe("cross_entropy", "sgd")
    assert apply_recipe(BARE, _opt("sgd")) is BARE
    adam = apply_recipe(BARE, _opt("adam"))
    line = 'TRAIN_RECIPE = {"loss": "cross_entropy", "optimizer": "adam"}'
    assert f"import torch.nn as nn\n\n{line}\n\n\nclass Net" in adam
    ngl = apply_recipe(adam, _loss("ngl"))
    assert ngl.count("TRAIN_RECIPE") == 1 and "class NGLLoss" not in ngl
    assert recipe_of(ngl) == Recipe("ngl", "adam")
    assert dry_check(ngl, SHAPE, 3, 10**6).form == "bare"
    partial = BARE.replace("class Net", "TRAIN_RECIPE = {'optimizer': 'rmsprop'}\n\n\nclass Net")
    assert recipe_of(partial) == Recipe("cross_entropy", "rmsprop")


@pytest.mark.parametrize(
    ("recipe", "reason"),
    [
        ('TRAIN_RECIPE = {"loss": "mse"}', "unknown loss kind 'mse'"),
        ('TRAIN_RECIPE = {"lr": "0.1"}', "must be a literal"),
        ("TRAIN_RECIPE = dict(loss='ngl')", "must be a literal"),
        ('TRAIN_RECIPE = {}\nTRAIN_RECIPE = {"loss": "ngl"}', "assigned once"),
    ],
)
def test_a_bad_train_recipe_is_a_one_line_error(recipe: str, reason: str) -> None:
    code = BARE.replace("class Net", f"{recipe}\n\n\nclass Net")
    with pytest.raises(MutationError, match=reason) as err:
        recipe_of(code)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("(nn.CrossEntropyLoss().to(self.device),)", "(self.make_loss(),)",
         "unknown loss construction in train_setup: self.make_loss()"),
        ("(nn.CrossEntropyLoss().to(self.device),)", "(nn.NLLLoss(),)",
         "unknown loss construction in train_setup: nn.NLLLoss()"),
        ("nn.CrossEntropyLoss()", "nn.CrossEntropyLoss(label_smoothing=0.3)",
         "unknown loss construction"),
        ("torch.optim.SGD(self.parameters()", "make_optimizer(self.parameters()",
         "unknown optimizer construction in train_setup: make_optimizer("),
        ("torch.optim.SGD(self.parameters(), lr=", "torch.optim.SGD(*self.groups(), lr=",
         "unknown optimizer construction"),
        ("self.optimizer = ", "self.optimizer = self.opt = ", None),
        ("        self.to(self.device)\n", "        self.optimizer = None\n",
         "train_setup sets self.optimizer 2 times"),
        ("self.criteria = ", "criteria = ", "train_setup never sets self.criteria"),
        ("def train_setup(self, prm):", "def train_setup(self):", "takes no prm"),
        ("class Net(nn.Module):", "class Net(nn.Module:", "does not parse"),
        ("    def learn(self, train_data):", "    def teach(self, train_data):",
         "LEMUR form is missing: learn"),
    ],
)
def test_a_train_setup_it_cannot_understand_is_a_one_line_error(
    old: str, new: str, reason: str | None
) -> None:
    assert old in LENET
    code = LENET.replace(old, new)
    if reason is None:  # a chained assignment still names one optimizer
        assert recipe_of(code) == Recipe("cross_entropy", "sgd")
        return
    for call in (lambda: recipe_of(code), lambda: apply_recipe(code, _opt("adam"))):
        with pytest.raises(MutationError, match=reason.replace("(", r"\(").replace(")", r"\)")
                           ) as err:
            call()
        assert "\n" not in err.value.reason


def test_an_edited_or_foreign_loss_class_is_refused() -> None:
    ngl = apply_recipe(LENET, _loss("ngl"))
    with pytest.raises(MutationError, match="class NGLLoss in the file is not nasloop's ngl"):
        recipe_of(ngl.replace("2.4092", "2.5"))
    foreign = LENET.replace("class Net(", "class NGLLoss(nn.Module):\n    pass\n\n\nclass Net(")
    with pytest.raises(MutationError, match="defines its own class NGLLoss"):
        apply_recipe(foreign, _loss("ngl"))
    assert "class NGLLoss(nn.Module)" in apply_recipe(foreign, _opt("adam"))  # left alone


def test_a_computed_supported_hyperparameters_blocks_only_the_optimizer_rewrite() -> None:
    code = LENET.replace('return {"lr", "momentum"}', 'return set(KEYS)')
    assert recipe_of(apply_recipe(code, _loss("nll"))).loss == "nll"
    with pytest.raises(MutationError, match="does not return one literal set"):
        apply_recipe(code, _opt("adam"))


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (Mutation(op="loss", args={"kind": "mse"}), "unknown loss kind 'mse'"),
        (Mutation(op="schedule", args={"kind": "cosine"}), "unknown recipe operator"),
        (Mutation(op="loss", layer="fc1", args={"kind": "ngl"}), "takes only kind"),
        (Mutation(op="optimizer", args={"kind": "adam", "lr": 0.1}), "takes only kind"),
        (Mutation(op="optimizer"), "takes only kind"),
    ],
)
def test_a_malformed_mutation_is_a_one_line_error(mutation: Mutation, reason: str) -> None:
    with pytest.raises(MutationError, match=reason):
        apply_recipe(LENET, mutation)


def test_reading_never_executes_the_file() -> None:
    hostile = LENET.replace("import torch\n", "import torch\nraise SystemExit('ran')\n", 1)
    assert recipe_of(hostile) == Recipe("cross_entropy", "sgd")
    assert recipe_of(apply_recipe(hostile, _loss("ngl"))).loss == "ngl"


def test_names_imported_bare_are_resolved_and_new_ones_spelled_through_torch() -> None:
    code = (LENET.replace("import torch\n", "from torch.optim import SGD\n", 1)
            .replace("torch.flatten(x, 1)", "x.flatten(1)")
            .replace("from torch import nn\n",
                     "from torch import nn\nfrom torch.nn import CrossEntropyLoss\n")
            .replace("nn.CrossEntropyLoss()", "CrossEntropyLoss()")
            .replace("torch.optim.SGD(", "SGD("))
    assert "\nimport torch\n" not in code and recipe_of(code) == Recipe("cross_entropy", "sgd")
    adam = with_recipe(code, "nll", "adam")
    assert "\nimport torch\n" in adam and "torch.optim.Adam(self.parameters()" in adam
    assert with_recipe(adam, "cross_entropy", "adam").count("nn.CrossEntropyLoss()") == 1
    assert dry_check(adam, (2, 1, 32, 32), 10, 10**7).form == "lemur"
