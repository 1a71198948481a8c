"""The augmentation task: a transform sees training batches only, its failures are
classified, results are deterministic per seed, and the composition operators rewrite it."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nasloop.agents.mutation.spec import Mutation, MutationError
from nasloop.config import build_config
from nasloop.data.split_files import CandidateData
from nasloop.sandbox.audit import GRAPH_FIELD
from nasloop.sandbox.failures import ContractError
from nasloop.tasks.augmentation import check_transform, seed_transforms
from nasloop.tasks.augmentation.augment import AugmentGuard
from nasloop.tasks.augmentation.compose import Step, describe, read, render
from nasloop.tasks.augmentation.runner import run_augmented
from nasloop.tasks.augmentation.space import AugmentSpace
from nasloop.tasks.registry import build_task

SENTINEL = 7.25  # every validation and test pixel: no training image holds it


def _data(n: int = 48) -> CandidateData:
    gen = torch.Generator().manual_seed(0)
    train_x = torch.randn(n, 1, 32, 32, generator=gen)
    val_x = torch.full((16, 1, 32, 32), SENTINEL)
    return CandidateData("synthetic", train_x, torch.randint(0, 10, (n,), generator=gen),
                         val_x, val_x.clone(), (16, 1, 32, 32), 10)


def _job(code: str, **limits: Any) -> Any:
    task = build_task(build_config({"task": {"kind": "augmentation"},
                                    "train": {"batch_size": 16}}))
    return task.job(1, code).model_copy(update=limits)


CROP = render([Step("crop", {"padding": 3, "padding_mode": "edge"}),
               Step("rotation", {"degrees": 20})], 32)


def test_the_transform_only_ever_sees_training_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor] = []
    real = AugmentGuard.__call__

    def recording(self: AugmentGuard, xb: torch.Tensor) -> torch.Tensor:
        seen.append(xb.clone())
        return real(self, xb)

    monkeypatch.setattr(AugmentGuard, "__call__", recording)
    data = _data()
    out = run_augmented(_job(CROP), data)
    assert out["status"] == "ok", out
    assert GRAPH_FIELD in out  # the trained network came back, for the auditor to predict
    assert len(seen) == 1 + 3  # the transform saw the dry-run batch and 3 train batches only
    train_rows = {tuple(r.flatten().tolist()[:8]) for r in data.train_x}
    for xb in seen:
        assert not bool((xb == SENTINEL).any())
        assert all(tuple(r.flatten().tolist()[:8]) in train_rows for r in xb)


def test_the_guard_refuses_other_tensors_and_calls_after_training() -> None:
    data = _data()
    guard = AugmentGuard(lambda batch: batch, data.train_x)
    assert guard(data.train_x[:4]).shape == (4, 1, 32, 32)
    with pytest.raises(Exception, match="not from the training split"):
        guard(data.val_x[:4])
    guard.close()
    with pytest.raises(Exception, match="outside training"):
        guard(data.train_x[:4])


def _transform(body: str) -> str:
    return f"import time\nimport torch\n\n\ndef transform():\n{body}"


@pytest.mark.parametrize(("body", "failure"), [
    ("    def f(batch):\n        return batch[:, :, :16]\n    return f\n", "shape"),
    ("    def f(batch):\n        return batch.long()\n    return f\n", "dtype"),
    ("    def f(batch):\n        return batch.float() * float('nan')\n    return f\n", "dtype"),
    ("    def f(batch):\n        raise KeyError('boom')\n    return f\n", "runtime"),
    ("    return 3\n", "contract"),
    ("    def f(batch):\n        time.sleep(0.2)\n        return batch\n    return f\n", "timeout"),
    ("    return torch.nn.Identity(\n", "syntax"),
])
def test_a_broken_transform_gets_a_failure_class(body: str, failure: str) -> None:
    out = run_augmented(_job(_transform(body), time_limit_s=1.0), _data())
    assert out["status"] == "failed" and out["failure_class"] == failure, out


def test_a_batch_function_and_a_classic_pil_pipeline_both_train() -> None:
    batch = _transform("    def f(batch):\n        return torch.flip(batch, dims=[3])\n"
                       "    return f\n")
    classic = ("import torchvision.transforms as T\n\n\ndef transform(norm):\n"
               "    return T.Compose([T.RandomRotation(5), T.Resize((32, 32)), T.ToTensor(),"
               " T.Normalize(*norm)])\n")
    for code, form in ((batch, "batch-function"), (classic, "transform")):
        out = run_augmented(_job(code), _data())
        assert out["status"] == "ok" and out["form"] == form, out


def test_same_seed_same_network() -> None:
    a = run_augmented(_job(CROP), _data())
    b = run_augmented(_job(CROP), _data())
    c = run_augmented(_job(CROP, seed=5), _data())
    assert a[GRAPH_FIELD] == b[GRAPH_FIELD]  # the same trained network
    assert a[GRAPH_FIELD] != c[GRAPH_FIELD]


def test_static_check_and_seeds() -> None:
    for _, code in seed_transforms(32):
        assert check_transform(code) == "transform"
    with pytest.raises(ContractError) as err:
        check_transform("def other():\n    pass\n")
    assert err.value.failure_class.value == "contract"
    with pytest.raises(ContractError):
        check_transform("def transform(:\n")


def test_operators_add_remove_replace_and_reparam() -> None:
    space = AugmentSpace(32, max_ops=3)
    steps = read(CROP).steps
    assert describe([s for s in steps if s]) == "crop(padding=3, padding_mode=edge); " \
                                                 "rotation(degrees=20)"
    options = space.propose(CROP)
    assert {m.op for m in options} == {"add", "remove", "replace", "reparam"}
    assert options == space.propose(CROP)  # deterministic
    for m in options:
        new = space.apply(CROP, m)
        assert new != CROP and check_transform(new)
        n = len(read(new).elements)
        assert n == {"add": 3, "remove": 1, "replace": 2, "reparam": 2}[m.op]
    tuned = space.apply(CROP, Mutation(op="reparam", args={"at": 1, "param": "degrees",
                                                            "value": 33}))
    assert "RandomRotation(degrees=33)" in tuned
    empty = space.apply(space.apply(CROP, Mutation(op="remove", args={"at": 0})),
                        Mutation(op="remove", args={"at": 0}))
    assert "v2.Identity()" in empty and read(empty).elements == ()
    for bad in (Mutation(op="reparam", args={"at": 1, "param": "degrees", "value": 400}),
                Mutation(op="add", args={"at": 9, "kind": "hflip", "p": 0.5}),
                Mutation(op="add", args={"at": 0, "kind": "warp"}),
                Mutation(op="replace", args={"at": 0, "kind": "hflip", "q": 1})):
        with pytest.raises(MutationError):
            space.apply(CROP, bad)
    three = space.apply(CROP, options[0])
    assert not [m for m in space.propose(three) if m.op == "add"]  # max_ops reached


def test_the_reference_network_is_a_seed_or_a_users_file(tmp_path: Any) -> None:
    from nasloop.config import ConfigError
    from nasloop.tasks.augmentation.settings import AugmentSettings

    model = tmp_path / "tiny_net.py"
    model.write_text("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                     "    def __init__(self, in_shape, out_shape):\n        super().__init__()\n"
                     "        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], "
                     "out_shape[0])\n\n    def forward(self, x):\n"
                     "        return self.fc(x.flatten(1))\n")
    task = build_task(build_config({"task": {"kind": "augmentation", "network": str(model)},
                                    "train": {"batch_size": 16}}))
    job = task.job(1, CROP)
    params = AugmentSettings.model_validate(job.params)
    assert params.network == model.read_text() and params.network_name == "tiny_net.py"
    assert "tiny_net.py" in task.brief().line
    out = run_augmented(job, _data())
    assert out["status"] == "ok" and out["form"] == "transform", out
    lenet = build_task(build_config({"task": {"kind": "augmentation"}})).job(1, CROP)
    assert AugmentSettings.model_validate(lenet.params).network_name == "lenet.py"
    bad = build_task(build_config({"task": {"kind": "augmentation", "network": "nonet"}}))
    with pytest.raises(ConfigError, match="task.network"):
        bad.job(1, CROP)


def test_the_better_than_ask_picks_a_parent_and_asks_as_the_pairs_do() -> None:
    from nasloop.agents.base import ImproveRequest
    from nasloop.agents.factory import build_agents
    from nasloop.config import ConfigError
    from nasloop.memory.archive import Candidate
    from nasloop.tasks.augmentation.ask import BetterThanImprover
    from nasloop.tasks.augmentation.pairs import MODIFICATION, better_than_ask

    with pytest.raises(ConfigError, match="task.ask"):  # the heuristic generator cannot
        build_agents(build_task(build_config({"task": {"kind": "augmentation",
                                                       "ask": "better-than"}})))
    task = build_task(build_config({"task": {"kind": "augmentation", "ask": "better-than"},
                                    "agents": {"generator": "hf:some-model"}}))
    improver = task.heuristic_improver(task.mutation_space())
    assert isinstance(improver, BetterThanImprover)
    code = dict(seed_transforms(32))["rotation"]
    parent = Candidate(id=3, step=3, parent_id=None, origin="seed:rotation", modification=None,
                       code=code, diff=None, status="ok", form="transform",
                       structural_hash=None, duplicate_of=None, score=0.2674, params=None,
                       flops=None, metrics=None, failure_class=None, failure_message=None,
                       traceback_tail=None, gen_s=0.0, eval_wall_s=1.0, train_s=1.0,
                       eval_attempts=1)
    got = improver.improve(ImproveRequest(step=4, seed=0, task=task.brief(), triples=[],
                                          last=None, parents=[parent])).instruction
    assert got is not None and got.modification == MODIFICATION and got.mutation is None
    assert got == better_than_ask(0.2674, "val_accuracy", parent_id=3)
