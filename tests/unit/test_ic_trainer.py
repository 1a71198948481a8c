"""The trainer, in-process, on our own (trusted) fixture candidates and the digits data."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasloop.data.loaders import DatasetSplits, load_dataset
from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.failures import FailureClass
from nasloop.tasks.image_classification.jobs import eval_job
from nasloop.tasks.image_classification.scoring import run_in_process as run_job
from nasloop.tasks.image_classification.trainer import dry_check

CANDIDATES = Path(__file__).parent.parent / "fixtures" / "candidates"


@pytest.fixture(scope="module")
def digits() -> DatasetSplits:
    import torch

    torch.set_num_threads(1)  # the sandbox child runs with job.threads == 1 too
    return load_dataset("digits", None, seed=0)


def test_digits_split(digits: DatasetSplits) -> None:
    assert digits.in_shape == (1, 1, 32, 32)
    assert digits.num_classes == 10
    sizes = (len(digits.train_y), len(digits.val_y), len(digits.test_y))
    assert sum(sizes) == 1797
    assert sizes[0] > sizes[1] > 0 and sizes[2] > 0
    assert abs(float(digits.train_x.mean())) < 1e-3  # standardised on the training split
    again = load_dataset("digits", None, seed=0)
    assert bool((again.val_y == digits.val_y).all())
    other = load_dataset("digits", None, seed=1)
    assert not bool((other.val_y == digits.val_y).all())


def test_unknown_dataset_says_what_exists() -> None:
    with pytest.raises(Exception, match="unknown dataset 'nope'.*digits"):
        load_dataset("nope")


def test_dry_check_reports_form_params_flops() -> None:
    info = dry_check((CANDIDATES / "lemur_cnn.py").read_text(), (32, 1, 32, 32), 10, 10**6)
    assert info.form == "lemur"
    assert info.params == 3818
    assert info.flops > 0


def test_dry_check_param_cap_and_shape() -> None:
    code = (CANDIDATES / "bare_cnn.py").read_text()
    with pytest.raises(CandidateFailure) as err:
        dry_check(code, (32, 1, 32, 32), 10, max_params=100)
    assert err.value.failure_class == FailureClass.PARAMS
    with pytest.raises(CandidateFailure) as err:
        dry_check(code.replace("out_shape[0]", "7"), (32, 1, 32, 32), 10, 10**6)
    assert err.value.failure_class == FailureClass.SHAPE


@pytest.mark.parametrize(
    "name, form, epochs", [("lemur_cnn.py", "lemur", 1), ("bare_noargs.py", "bare", 2)])
def test_run_job_trains_and_validates(digits: DatasetSplits, name: str, form: str,
                                      epochs: int) -> None:
    job = eval_job((CANDIDATES / name).read_text(), 1, epochs=epochs)
    result = run_job(job, digits)
    assert result["status"] == "ok", result
    assert result["form"] == form
    metrics = result["metrics"]
    assert metrics["val_accuracy"] > 0.15  # above chance (0.1)
    assert metrics["epochs"] == epochs
    for key in ("params", "flops", "train_s", "check_s", "peak_mem_mb"):
        assert metrics[key] > 0


NAN_LEMUR = (CANDIDATES / "lemur_cnn.py").read_text().replace(
    "return self.fc(", "return float('nan') * self.fc(")


@pytest.mark.parametrize(
    "code, cls",
    [
        (NAN_LEMUR, FailureClass.NAN_LOSS),
        ((CANDIDATES / "bare_noargs.py").read_text().replace("return self.body(x)",
                                                              "return self.body(x) * float('inf')"),
         FailureClass.NAN_LOSS),
        ((CANDIDATES / "bare_noargs.py").read_text().replace("32 * 32", "32 * 31"),
         FailureClass.SHAPE),
        ("import torch_does_not_exist\n" + (CANDIDATES / "bare_noargs.py").read_text(),
         FailureClass.IMPORT),
        ("class Net(:\n", FailureClass.SYNTAX),
    ],
)
def test_run_job_classifies(digits: DatasetSplits, code: str, cls: FailureClass) -> None:
    result = run_job(eval_job(code, 2), digits)
    assert result["status"] == "failed"
    assert result["failure_class"] == cls.value, result
    assert result["message"]


# --- real-world LEMUR patterns (issue: real inputs) -----------------------------------------


@pytest.mark.parametrize("name", ["lemur_single_criterion.py", "lemur_extra_prm.py",
                                  "bare_aux_outputs.py"])
def test_real_world_patterns_train(digits: DatasetSplits, name: str) -> None:
    result = run_job(eval_job((CANDIDATES / name).read_text(), 1), digits)
    assert result["status"] == "ok", result
    assert result["metrics"]["val_accuracy"] > 0.1


def test_single_module_criteria_no_longer_fail_as_runtime(digits: DatasetSplits) -> None:
    """Regression: the trainer wrapped a single loss module in a non-Module object, which
    nn.Module.__setattr__ refused, so fine files failed with `runtime`."""
    code = (CANDIDATES / "lemur_single_criterion.py").read_text()
    nan = code.replace("return self.fc(", "return float('nan') * self.fc(")
    result = run_job(eval_job(nan, 1), digits)
    assert result["failure_class"] == FailureClass.NAN_LOSS.value, result  # still watched


def test_a_declared_prm_key_without_a_value_is_named(digits: DatasetSplits) -> None:
    code = (CANDIDATES / "lemur_cnn.py").read_text().replace(
        '{"lr", "momentum", "dropout"}', '{"lr", "momentum", "dropout", "warp_factor"}')
    result = run_job(eval_job(code, 1), digits)
    assert result["failure_class"] == "contract" and "'warp_factor'" in result["message"]
    assert "[train.prm]" in result["message"]
    ok = run_job(eval_job(code, 1, prm={"warp_factor": 0.5}), digits)
    assert ok["status"] == "ok", ok


def test_a_three_channel_model_on_one_channel_data_gets_a_reason(digits: DatasetSplits) -> None:
    code = (CANDIDATES / "lemur_rgb_only.py").read_text()
    result = run_job(eval_job(code, 1), digits)
    assert result["failure_class"] == "shape"
    assert result["message"].startswith("the model expects 3 input channels, the data has 1")
    assert "digits-rgb" in result["message"]
    rgb = run_job(eval_job(code, 1), load_dataset("digits-rgb", None, seed=0))
    assert rgb["status"] == "ok", rgb


def test_over_the_cap_and_broken_reports_the_fault_not_the_cap(digits: DatasetSplits) -> None:
    broken = (CANDIDATES / "bare_noargs.py").read_text().replace("32 * 32", "32 * 31")
    result = run_job(eval_job(broken, 1, max_params=10), digits)
    assert result["failure_class"] == FailureClass.SHAPE.value, result
    fine = run_job(eval_job((CANDIDATES / "bare_noargs.py").read_text(), 1, max_params=10),
                   digits)
    assert fine["failure_class"] == FailureClass.PARAMS.value


def test_check_only_stops_before_training(digits: DatasetSplits) -> None:
    result = run_job(eval_job((CANDIDATES / "lemur_cnn.py").read_text(), 1).model_copy(
        update={"op": "check"}), digits)
    assert result["status"] == "ok" and "val_accuracy" not in result["metrics"]
    assert result["metrics"]["params"] > 0 and "train_s" not in result["metrics"]


def test_disguised_parameters_are_counted_as_they_are(digits: DatasetSplits) -> None:
    """A Parameter subclass claiming one element and a Net hiding a submodule from
    named_modules/named_parameters are still counted from the real weights (issue 16)."""
    import torch

    from nasloop.tasks.image_classification.checks import build_model, load_module
    from nasloop.tasks.image_classification.trainer import weight_shapes

    code = (CANDIDATES.parent / "integrity" / "disguised_parameters.py").read_text()
    model = build_model(load_module(code), "bare", code, (2, 1, 32, 32), 10, {}, "cpu")
    assert sum(p.numel() for p in model.parameters()) < 100  # what the candidate claims
    assert sorted(weight_shapes(model)) == [[10], [10, 1], [1_000_000], [2_280_000]]
    lazy = torch.nn.LazyLinear(3)
    assert weight_shapes(lazy) == [[0], [0]]  # uninitialised: no data yet
    res = run_job(eval_job(code, epochs=1), digits)
    assert (res["status"], res["failure_class"]) == ("failed", "params")
    assert res["message"].startswith("3280020 parameters > cap")
