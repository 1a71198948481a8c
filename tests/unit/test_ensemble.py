"""The ensemble task: samplers' coverage, LibCST assembly, the gate and its recipe."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from nasloop.agents.mutation.spec import MutationError
from nasloop.tasks.ensemble.assemble import assemble, families_of, moe_of
from nasloop.tasks.ensemble.coverage import coverage, coverage_html, coverage_text
from nasloop.tasks.ensemble.samplers import sample
from nasloop.tasks.ensemble.settings import MoeSettings
from nasloop.tasks.ensemble.space import EnsembleSpace
from nasloop.tasks.image_classification.checks import load_module
from nasloop.tasks.image_classification.contract import detect_form

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "moe_families.py"
_spec = importlib.util.spec_from_file_location("moe_families", FIXTURE)
assert _spec is not None and _spec.loader is not None
moe_families = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(moe_families)
FAMILIES: dict[str, str] = moe_families.FAMILIES
NAMES = sorted(FAMILIES)
SHAPE = (8, 1, 32, 32)


def _build(names: list[str], moe: MoeSettings | None = None):
    code = assemble([(n, FAMILIES[n]) for n in names], moe)
    module = load_module(code)
    net = module.Net(SHAPE, (10,), {"lr": 0.01, "momentum": 0.9, "dropout": 0.1, "epoch": 1},
                     "cpu")
    return code, net


def test_lexicographic_puts_the_first_family_in_every_quartet() -> None:
    quartets = sample(NAMES, 4, "lexicographic", 5)
    assert len(quartets) == 5 == len(set(quartets))
    assert all(NAMES[0] in q for q in quartets)
    assert math.comb(6, 4) == len(sample(NAMES, 4, "lexicographic", 100))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 9, 12, 15])
def test_stratified_keeps_each_family_within_one_of_the_mean(n: int) -> None:
    quartets = sample(NAMES, 4, "stratified", n, seed=3)
    assert len(set(quartets)) == n
    counts = Counter(f for q in quartets for f in q)
    for name in NAMES:
        assert abs(counts[name] - n * 4 / 6) <= 1, (name, counts)


def test_stratified_balances_pairs_where_lexicographic_does_not() -> None:
    strat = coverage([(q, None) for q in sample(NAMES, 4, "stratified", 5)], NAMES)
    lex = coverage([(q, None) for q in sample(NAMES, 4, "lexicographic", 5)], NAMES)
    assert lex["most_frequent_share"] == 1.0 > strat["most_frequent_share"]
    assert strat["pairs_covered"] >= lex["pairs_covered"]
    spread = max(strat["pairs"].values()) - min(strat["pairs"].values())
    assert spread < max(lex["pairs"].values()) - min(lex["pairs"].values())


def test_random_sampler_is_distinct_and_seeded() -> None:
    a = sample(NAMES, 4, "random", 8, seed=1)
    assert a == sample(NAMES, 4, "random", 8, seed=1) and len(set(a)) == 8


def test_two_families_with_a_block_helper_assemble() -> None:
    code, net = _build(["block_a", "block_b", "mlp_small", "conv_lemur"])
    assert detect_form(code) == "lemur"
    assert "class Block_block_a(nn.Module):" in code and "class Block_block_b(" in code
    assert "def pool_block_a(x):" in code and "pool_block_b(self.block" in code
    assert "block_b's own block." in code  # docstrings and comments survive
    assert "# the family's Block, not the other one" in code
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert imports == sorted(set(imports), key=imports.index)  # merged: each import once
    assert "from torch import nn" in imports and "import torch" in imports
    a, b = net.experts[0], net.experts[1]
    assert type(a.block).__name__ == "Block_block_a" and type(b.block).__name__ == "Block_block_b"
    assert a.block.conv.in_channels == 8 and b.block.conv.in_channels == 6
    assert families_of(code) == ("block_a", "block_b", "mlp_small", "conv_lemur")
    assert net(torch.randn(*SHAPE)).shape == (8, 10)
    params = sum(p.numel() for p in net.parameters())
    assert params > sum(p.numel() for p in net.gate.parameters())  # experts count too
    assert "'dropout': 0.2" in code  # the union of the hyperparameters, with defaults
    assert {"lr", "momentum", "dropout"} <= load_module(code).supported_hyperparameters()


def test_load_balancing_term_has_a_gradient() -> None:
    _, net = _build(NAMES[:4])
    net.train()
    net(torch.randn(*SHAPE))
    loss = net.balance_loss()
    loss.backward()
    grads = [p.grad for p in net.gate.mlp.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def _train(net, batches: int) -> None:
    net.train_setup({"lr": 0.01, "epoch": 1})
    data = [(torch.randn(*SHAPE), torch.randint(0, 10, (SHAPE[0],))) for _ in range(batches)]
    net.learn(data)


def test_temperature_stays_within_bounds() -> None:
    moe = MoeSettings(lr=0.5, gate_lr_mult=50.0, temperature=2.0)
    _, net = _build(NAMES[2:], moe)
    assert float(net.gate.temperature.detach()) == 2.0
    seen = []
    for _ in range(3):
        _train(net, 4)
        seen.append(float(net.gate.temperature.detach()))
    assert all(0.5 <= t <= 5.0 for t in seen)
    assert any(t != 2.0 for t in seen)  # it does learn
    for outside, bound in ((50.0, 5.0), (0.01, 0.5)):
        with torch.no_grad():
            net.gate.temperature.fill_(outside)
        _train(net, 1)
        assert float(net.gate.temperature.detach()) == bound


def test_schedule_steps_per_batch() -> None:
    _, net = _build(NAMES[2:], MoeSettings(warmup_frac=0.25))
    _train(net, 8)
    assert net.scheduler.last_epoch == 8
    groups = net.optimizer.param_groups
    assert groups[1]["initial_lr"] == pytest.approx(2 * groups[0]["initial_lr"])
    assert isinstance(net.optimizer, torch.optim.AdamW)
    assert net.criteria[0].label_smoothing == pytest.approx(0.1)  # the recipe's defaults
    # after 8 of 8 steps, the cosine decay has reached the end: far below the start
    assert groups[0]["lr"] < 0.1 * groups[0]["initial_lr"]


def test_space_swaps_by_marginals_and_changes_the_gate() -> None:
    code = assemble([(n, FAMILIES[n]) for n in NAMES[:4]])
    space = EnsembleSpace(FAMILIES, {"block_a": -0.2, "block_b": 0.1, "conv_lemur": 0.0,
                                     "conv_wide": 0.3, "mlp_small": 0.2, "mlp_wide": -0.1})
    swaps = [m for m in space.propose(code) if m.op == "swap_expert"]
    assert {m.args["out"] for m in swaps} == {"block_a", "conv_lemur"}
    assert {m.args["in"] for m in swaps} == {"mlp_small"}
    new = space.apply(code, swaps[0])
    assert set(families_of(new)) == set(NAMES[:4]) - {swaps[0].args["out"]} | {"mlp_small"}
    gate = next(m for m in space.propose(code) if m.op == "gate" and m.args["key"] == "gate_noise")
    changed = space.apply(code, gate)
    assert moe_of(changed).gate_noise == gate.args["value"]
    assert changed.replace("MOE = ", "") != code.replace("MOE = ", "")
    with pytest.raises(MutationError):
        space.apply(code, gate.model_copy(update={"args": {"key": "temperature", "value": 9.0}}))


def test_task_seeds_check_and_brief(tmp_path: Path) -> None:
    from nasloop.config import ConfigError, build_config
    from nasloop.sandbox.failures import ContractError
    from nasloop.tasks.registry import build_task

    folder = moe_families.write_families(tmp_path / "fams")
    task = build_task(build_config({"task": {"kind": "ensemble", "families": [str(folder)],
                                             "initial": 3, "sampler": "lexicographic"}}))
    seeds = task.seeds()
    assert [name for name, _ in seeds] == ["+".join(q) for q in sample(NAMES, 4,
                                                                       "lexicographic", 3)]
    assert all(task.check(code) == "lemur" for _, code in seeds)
    with pytest.raises(ContractError):
        task.check(FAMILIES["conv_lemur"])  # a model file, not an assembled mixture
    brief = task.brief()
    assert {"swap_expert", "gate"} <= set(brief.operators) and "4 of 6 families" in brief.line
    few = build_task(build_config({"task": {"kind": "ensemble", "families": ["lenet", "seeds"]}}))
    with pytest.raises(ConfigError, match="task.k"):
        few.seeds()
    bad = build_task(build_config({"task": {"kind": "ensemble", "families": ["nowhere"]}}))
    with pytest.raises(ConfigError, match="task.families"):
        bad.seeds()


def test_the_experts_parameters_count_toward_the_cap(tmp_path: Path) -> None:
    from nasloop.config import build_config
    from nasloop.data.split_files import CandidateData
    from nasloop.tasks.image_classification.trainer import CHECK_ONLY, run_job
    from nasloop.tasks.registry import build_task

    code, net = _build(NAMES[:4])
    total = sum(p.numel() for p in net.parameters())
    largest = max(sum(p.numel() for p in e.parameters()) for e in net.experts)
    x = torch.randn(16, 1, 32, 32)
    data = CandidateData("synthetic", x, torch.randint(0, 10, (16,)), x, x, (16, 1, 32, 32), 10)
    folder = moe_families.write_families(tmp_path / "fams")
    for cap, ok in ((total, True), ((largest + total) // 2, False)):
        task = build_task(build_config({"task": {"kind": "ensemble", "families": [str(folder)]},
                                        "train": {"batch_size": 8, "max_params": cap}}))
        out = run_job(task.job(1, code, op=CHECK_ONLY), data)
        if ok:
            assert out["status"] == "ok" and out["metrics"]["params"] == total, out
        else:  # every expert alone is under the cap; the mixture is not
            assert out["status"] == "failed" and out["failure_class"] == "params", out


def test_gate_noise_only_in_training() -> None:
    _, net = _build(NAMES[2:])
    x = torch.randn(*SHAPE)
    net.train()
    assert not torch.equal(net.gate(x), net.gate(x))  # Gaussian noise on the logits
    net.eval()
    assert torch.equal(net.gate(x), net.gate(x))
    _, quiet = _build(NAMES[2:], MoeSettings(gate_noise=0.0))
    quiet.train()
    assert torch.equal(quiet.gate(x), quiet.gate(x))
    weights = net.gate(x)
    assert weights.shape == (SHAPE[0], 4) and torch.allclose(weights.sum(1), torch.ones(8))


def test_coverage_figures_and_marginals() -> None:
    rows = [(("a", "b", "c"), 0.9), (("a", "b", "d"), 0.7), (("b", "c", "d"), 0.5),
            (("a", "c", "d"), None)]
    cov = coverage(rows, ["a", "b", "c", "d", "e"])
    assert cov["appearances"] == {"a": 3, "b": 3, "c": 3, "d": 3, "e": 0}
    assert cov["never_drawn"] == ["e"] and cov["scored"] == 3 and cov["ensembles"] == 4
    assert cov["pairs"]["a+b"] == 2 and cov["pairs"]["a+e"] == 0
    assert cov["family_mean_accuracy"]["a"] == pytest.approx(0.8)
    assert cov["pair_mean_accuracy"]["c+d"] == pytest.approx(0.5)
    assert cov["marginal"]["a"] == pytest.approx(0.8 - 0.5)  # with a vs without a
    assert cov["marginal"]["d"] == pytest.approx(0.6 - 0.9)
    assert cov["marginal"]["b"] is None and cov["marginal"]["e"] is None  # no side to compare
    assert cov["best"] == ["a", "b", "c"] and cov["best_accuracy"] == 0.9
    assert cov["pairs_covered"] == pytest.approx(6 / 10)
    assert cov["low_yield"] == ["d"]  # the only negative marginal
    assert cov["top_pairs"][:2] == ["a+c", "a+b"] and len(cov["top_pairs"]) == 5  # 0.9, 0.8
    text = coverage_text(cov)
    assert "low-yield families (negative marginal, could be excluded): d (-0.3000)" in text
    assert "low-yield" in coverage_html(cov)


def test_an_llm_improver_can_ask_for_a_swap_or_a_gate_change(tmp_path: Path) -> None:
    from nasloop.agents.base import GenerateRequest, Instruction
    from nasloop.agents.heuristic import HeuristicGenerator
    from nasloop.config import build_config
    from nasloop.memory.archive import Candidate
    from nasloop.tasks.registry import build_task

    folder = moe_families.write_families(tmp_path / "fams")
    task = build_task(build_config({"task": {"kind": "ensemble", "families": [str(folder)]}}))
    contract = task.brief().contract  # what the LLM agents are shown
    assert "swap_expert" in contract and "gate" in contract
    assert "Families: " + ", ".join(NAMES) in contract
    space = task.mutation_space()
    assert space is not None
    code = assemble([(n, FAMILIES[n]) for n in NAMES[:4]])
    generator = HeuristicGenerator(space)
    parent = Candidate.model_construct(id=1, code=code)

    def ask(text: str) -> str | None:
        ins = Instruction(parent_id=1, problem="p", modification=text, expected_effect="e")
        req = GenerateRequest.model_construct(parent=parent, instruction=ins, seed=0, step=5,
                                              task=task.brief(), triples=[])
        return generator.generate(req).code

    # the swap the LLM names, even one the marginals would not propose
    swapped = ask("The gate collapses; try swap_expert(out=block_a, in=mlp_wide) instead.")
    assert swapped is not None and families_of(swapped) == (
        "mlp_wide", "block_b", "conv_lemur", "conv_wide")
    gated = ask("Lower the noise: gate(key=gate_noise, value=0.5)")
    assert gated is not None and moe_of(gated).gate_noise == 0.5
    assert families_of(gated) == families_of(code)
    # a call that cannot apply falls back to a proposal of the operator it names
    fallback = ask("swap_expert(out=nobody, in=mlp_wide)")
    assert fallback is not None and families_of(fallback) != families_of(code)


@pytest.mark.parametrize("direction, best", [("max", [2, 0]), ("min", [1, 0])])
def test_run_elites_follow_the_runs_objective_and_leave_it_unchanged(
        tmp_path: Path, direction: str, best: list[int]) -> None:
    import hashlib

    from nasloop.memory.archive import Archive
    from nasloop.rundir import RunDir
    from nasloop.tasks.ensemble.families import FamilyError, load_families

    run = tmp_path / "run"
    run.mkdir()
    archive = Archive(RunDir(run).archive, direction)
    archive.set_meta("objective", {"metric": "m", "direction": direction, "bounds": None})
    for step, score in enumerate([0.5, 0.2, 0.9, None]):
        cid = archive.add_candidate(step, parent_id=None, origin="seed:x", modification=None,
                                    code=f"# model {step}\n", diff=None, gen_s=0.0)
        if score is not None:
            archive.set_ok(cid, form="bare", score=score, metrics={"m": score}, eval_wall_s=1.0)
    archive.close()
    before = hashlib.sha256(RunDir(run).archive.read_bytes()).hexdigest()
    found = load_families([f"run:{run}"], elites=2)
    assert sorted(found.values()) == sorted(f"# model {i}\n" for i in best)
    assert hashlib.sha256(RunDir(run).archive.read_bytes()).hexdigest() == before
    with pytest.raises(FamilyError, match="no archive.sqlite|holds no run"):
        load_families([f"run:{tmp_path / 'nothing'}"])
