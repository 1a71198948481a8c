"""The restoration task's parts: PSNR/SSIM, the hardware check, the degradation, the
distillation targets, the trusted-side scoring and the restricted mutation space."""

from __future__ import annotations

import numpy as np
import pytest

from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.outputs import encode
from nasloop.tasks.restoration.degrade import degrade, distill_targets
from nasloop.tasks.restoration.metrics import K1, K2, psnr, ssim
from nasloop.tasks.restoration.settings import HardwareLimits, RestorationSettings

torch = pytest.importorskip("torch")
nn = torch.nn


# --- metrics ---------------------------------------------------------------------------
def test_psnr_against_hand_computed_values() -> None:
    clean = np.zeros((2, 1, 4, 4), np.float32)
    restored = np.full_like(clean, 0.1)  # MSE 0.01 -> 20 dB
    restored[1] = 0.01  # MSE 1e-4 -> 40 dB
    assert psnr(restored[:1], clean[:1]) == pytest.approx(20.0)
    assert psnr(restored, clean) == pytest.approx(30.0)  # the mean of 20 and 40 dB
    assert psnr(clean, clean) == 100.0  # a perfect restoration is capped, not inf


def test_ssim_against_hand_computed_values() -> None:
    x = np.random.default_rng(0).random((1, 1, 7, 7)).astype(np.float32)
    assert ssim(x, x) == pytest.approx(1.0)
    a, b = np.full((1, 1, 7, 7), 0.2), np.full((1, 1, 7, 7), 0.6)  # constant images
    c1 = K1**2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    # one 7x7 window: the formula with sample statistics, written out
    y = np.random.default_rng(1).random((1, 1, 7, 7))
    u, v = x.astype(np.float64).ravel(), y.ravel()
    mu, mv = u.mean(), v.mean()
    su, sv = u.var(ddof=1), v.var(ddof=1)
    suv = ((u - mu) * (v - mv)).sum() / (len(u) - 1)
    c2 = K2**2
    want = ((2 * mu * mv + c1) * (2 * suv + c2)) / ((mu**2 + mv**2 + c1) * (su + sv + c2))
    assert ssim(x, y) == pytest.approx(want)


# --- degradation and distillation --------------------------------------------------------
def test_degradation_is_deterministic_and_leaves_the_clean_images() -> None:
    clean = np.random.default_rng(2).random((5, 1, 8, 8)).astype(np.float32)
    before = clean.copy()
    a = degrade(clean, 0.2, 1.0, seed=3, split="train")
    b = degrade(clean, 0.2, 1.0, seed=3, split="train")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clean, before)
    assert not np.array_equal(a, degrade(clean, 0.2, 1.0, seed=4, split="train"))
    assert not np.array_equal(a, degrade(clean, 0.2, 1.0, seed=3, split="val"))
    noise = degrade(clean, 0.2, 0.0, seed=3, split="train") - clean
    assert noise.std() == pytest.approx(0.2, rel=0.1)
    np.testing.assert_allclose(degrade(clean, 0.0, 0.0, 3, "train"), clean)


def test_distillation_targets_mix_as_configured() -> None:
    teacher = np.full((2, 1, 4, 4), 1.0, np.float32)
    clean = np.zeros_like(teacher)
    np.testing.assert_allclose(distill_targets(teacher, clean, 0.9), 0.9)
    np.testing.assert_allclose(distill_targets(teacher, clean, 0.25), 0.25)
    np.testing.assert_allclose(distill_targets(teacher, clean, 0.0), clean)


def test_prepared_files_keep_clean_targets_apart(tmp_path) -> None:
    from nasloop.tasks.restoration.data import INPUTS, TARGETS, clean_splits, write_files
    from nasloop.tasks.restoration.settings import RestorationData

    spec = RestorationData(image_size=8, distill=True, alpha=0.7, teacher_epochs=1)
    sandbox, trusted = tmp_path / "sandbox", tmp_path / "trusted"
    sandbox.mkdir()
    trusted.mkdir()
    write_files(spec, 0, sandbox, trusted)
    d = clean_splits(spec, 0)
    with np.load(sandbox / INPUTS) as f:
        assert set(f.files) == {"train_x", "train_y", "val_x", "in_shape"}
        np.testing.assert_array_equal(f["val_x"], d.val_x)  # degraded, as prepared again
        assert not np.allclose(f["val_x"], d.val)
        train_y = f["train_y"]
    with np.load(trusted / "teacher_outputs.npz") as t:
        np.testing.assert_allclose(train_y, 0.7 * t["train"] + 0.3 * d.train, atol=1e-6)
    with np.load(trusted / TARGETS) as f:
        np.testing.assert_array_equal(f["val"], d.val)


# --- the hardware check ------------------------------------------------------------------
class Plain(nn.Module):
    def __init__(self, conv: nn.Module, up: nn.Module | None = None) -> None:
        super().__init__()
        self.conv, self.up = conv, up

    def forward(self, x):
        y = self.conv(x)
        if self.up is not None:
            y = self.up(y)
        return x + torch.relu(y)


def test_allowed_operators_pass() -> None:
    from nasloop.tasks.restoration.hardware import check_allowed

    model = Plain(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=1, mode="nearest"))
    names = {op.name for op in check_allowed(model, HardwareLimits())}
    assert {"Conv2d", "Upsample", "add", "ReLU"} <= names


@pytest.mark.parametrize(("model", "named"), [
    (Plain(nn.Conv2d(1, 1, 5, padding=2)), "Conv2d kernel 5x5"),
    (Plain(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=1, mode="bilinear")),
     "Upsample mode 'bilinear'"),
    (Plain(nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())), "Sigmoid"),
])
def test_forbidden_operators_are_named(model, named) -> None:
    from nasloop.tasks.restoration.hardware import check_allowed

    with pytest.raises(CandidateFailure) as err:
        check_allowed(model, HardwareLimits())
    assert err.value.failure_class is FailureClass.FORBIDDEN
    assert named in err.value.message


SEED_LIKE = '''
import torch
from torch import nn

def supported_hyperparameters():
    return {"lr"}

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.conv = nn.Conv2d(in_shape[1], in_shape[1], KERNEL, padding=PAD)
        self.up = nn.Upsample(scale_factor=1, mode=MODE)

    def forward(self, x):
        return x + self.up(self.conv(x))
'''


class Data:
    """Candidate inputs of 8x8 images (what `read_inputs` gives the sandbox)."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.train_x = torch.rand(16, 1, 8, 8, generator=g)
        self.train_y = torch.rand(16, 1, 8, 8, generator=g)
        self.val_x = torch.rand(6, 1, 8, 8, generator=g)
        self.in_shape = (1, 1, 8, 8)


def _job(code: str, **settings):
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.restoration.runner import RUNNER

    params = RestorationSettings(epochs=1, batch_size=8, latency_size=8, **settings)
    return EvalJob(candidate_id=1, code=code, runner=RUNNER, params=params.model_dump())


@pytest.mark.parametrize(("kernel", "mode", "named"), [
    ("5", "'nearest'", "Conv2d kernel 5x5"), ("3", "'bilinear'", "mode 'bilinear'")])
def test_a_candidate_outside_the_allow_list_fails_before_training(kernel, mode, named) -> None:
    from nasloop.tasks.restoration.trainer import run_job

    pad = str(int(kernel) // 2)
    code = SEED_LIKE.replace("KERNEL", kernel).replace("PAD", pad).replace("MODE", mode)
    raw = run_job(_job(code), Data())  # type: ignore[arg-type]
    assert raw["status"] == "failed" and raw["failure_class"] == "forbidden-operation"
    assert named in raw["message"] and "train_s" not in raw.get("metrics", {})


@pytest.mark.parametrize(("settings", "klass", "says"), [
    ({"max_params": 5}, "params", "10 parameters > cap 5"),
    ({"max_latency_ms": 1e-6}, "timeout", "CPU latency"),
])
def test_the_parameter_and_latency_caps_refuse_before_training(settings, klass, says) -> None:
    from nasloop.tasks.restoration.trainer import run_job

    code = SEED_LIKE.replace("KERNEL", "3").replace("PAD", "1").replace("MODE", "'nearest'")
    raw = run_job(_job(code, **settings), Data())  # type: ignore[arg-type]
    assert raw["status"] == "failed" and raw["failure_class"] == klass
    assert says in raw["message"] and "outputs" not in raw


def test_the_latency_is_reported_as_a_second_figure() -> None:
    from nasloop.tasks.restoration.trainer import run_job

    code = SEED_LIKE.replace("KERNEL", "3").replace("PAD", "1").replace("MODE", "'nearest'")
    raw = run_job(_job(code, max_latency_ms=10_000.0), Data())  # type: ignore[arg-type]
    assert raw["status"] == "ok" and 0 < raw["metrics"]["latency_ms"] < 10_000


@pytest.mark.parametrize("name", ["residual_denoiser", "unet_small"])
def test_the_seeds_use_only_allowed_operators(name: str) -> None:
    from nasloop.tasks.image_classification.checks import load_module
    from nasloop.tasks.restoration.hardware import check_allowed, latency_ms
    from nasloop.tasks.restoration.seeds import seed_source

    module = load_module(seed_source(name))
    model = module.Net((2, 1, 8, 8), (1, 8, 8), {"lr": 0.01}, "cpu")
    limits = HardwareLimits()
    names = {op.name for op in check_allowed(model, limits)}
    assert names <= set(limits.allowed_ops) | {"getitem"} and "Conv2d" in names
    assert sum(p.numel() for p in model.parameters()) <= limits.max_params
    assert latency_ms(model, 1, 16, repeats=1) > 0  # same shape out at another size


# --- the trusted side ----------------------------------------------------------------------
def test_scoring_against_clean_targets_and_bad_outputs() -> None:
    from nasloop.tasks.restoration.scoring import score
    from nasloop.tasks.restoration.trainer import run_job

    code = SEED_LIKE.replace("KERNEL", "3").replace("PAD", "1").replace("MODE", "'nearest'")
    raw = run_job(_job(code), Data())  # type: ignore[arg-type]
    assert raw["status"] == "ok", raw
    clean = np.zeros((6, 1, 8, 8), np.float32)
    s = RestorationSettings()
    got = score(raw, clean, s, teacher={"val_psnr": 20.0})
    m = got["metrics"]
    assert m["params"] == 10 and m["latency_ms"] > 0 and 0 < m["val_ssim"] <= 1
    assert m["psnr_retained"] == pytest.approx(m["val_psnr"] / 20.0)
    for bad, why in [(np.zeros((6, 1, 8, 7), np.float32), "shape"),
                     (np.full((6, 1, 8, 8), np.nan, np.float32), "NaN"),
                     (np.zeros((6, 1, 8, 8), np.int64), "floating")]:
        forged = {**raw, "outputs": {"val": encode(bad)}}
        res = score(forged, clean, s)
        assert res["status"] == "failed" and res["failure_class"] == "bad-result"
        assert why in res["message"]
    capped = score(raw, clean, RestorationSettings(max_params=5))
    assert capped["failure_class"] == "params"


def test_restored_images_are_capped_by_the_clean_images_size() -> None:
    """A real validation split can be larger than what an array of unknown size may take
    (CIFAR-10's 5000 images at 32x32: 61 MB, over 48 MiB); the cap is the clean images'."""
    from nasloop.sandbox.outputs import MAX_BYTES
    from nasloop.tasks.restoration.scoring import BadResult, restored_images

    shape = (5000, 3, 32, 32)
    images = np.full(shape, 0.5, np.float32)
    assert images.nbytes > MAX_BYTES
    got = restored_images({"outputs": {"val": encode(images)}}, shape)
    assert got.shape == shape and float(got[-1, -1, -1, -1]) == 0.5
    small = (6, 1, 8, 8)  # anything far larger than the clean images is refused undecoded
    with pytest.raises(BadResult, match="larger than"):
        restored_images({"outputs": {"val": encode(np.zeros((6, 1, 64, 64)))}}, small)
    doubled = restored_images({"outputs": {"val": encode(np.zeros(small, np.float64))}}, small)
    assert doubled.dtype == np.float32


# --- the mutation space ---------------------------------------------------------------------
def test_mutations_stay_inside_the_hardware_limits() -> None:
    from nasloop.tasks.restoration.seeds import list_seeds
    from nasloop.tasks.restoration.space import RestorationSpace

    space = RestorationSpace((1, 8, 8), HardwareLimits(conv_kernels=[1, 3]))
    for code in list_seeds().values():
        found = space.propose(code)
        ops = {m.op for m in found}
        assert ops and ops <= {"widen", "narrow", "kernel", "add_block", "drop_block"}
        assert all(m.args.get("size") in (1, 3) for m in found if m.op == "kernel")
        widen = next(m for m in found if m.op == "widen")
        assert space.apply(code, widen) != code
    tight = RestorationSpace((1, 8, 8), HardwareLimits(max_params=3000))
    code = list_seeds()["residual_denoiser"]
    from nasloop.agents.mutation.spec import Mutation, MutationError

    with pytest.raises(MutationError, match="parameters > cap"):
        tight.apply(code, Mutation(op="widen", layer="body", args={"channels": 64}))
