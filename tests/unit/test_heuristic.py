from nasloop.agents.heuristic import TRIED_HERE, kind_weights
from nasloop.memory.credit import kind_of, op_of
from nasloop.memory.triples import Triple


def _t(mod, delta=None, failure=None):
    return Triple(
        step=0,
        candidate_id=0,
        problem="p",
        modification=mod,
        outcome="o",
        delta=delta,
        failure_class=failure,
    )


def test_op_of():
    assert op_of("widen(layer=conv2, factor=2)") == "widen"
    assert op_of("seed:lenet") == "seed:lenet"


def test_kind_of_leaves_out_where_and_how_wide():
    assert kind_of("norm(layer=block2.0, kind=batch)") == "norm(kind=batch)"
    assert kind_of("widen(layer=fc1, channels=240)") == "widen()"
    assert kind_of("kernel(layer=conv1, size=3)") == "kernel(size=3)"
    assert kind_of("dropout(p=0.25)") == "dropout(p=0.25)"
    assert kind_of("seed:lenet") == "seed:lenet"
    assert kind_of("make it deeper") == "make it deeper"


def test_weights_follow_outcomes():
    w = kind_weights(
        ["widen()", "activation()", "kernel()"],
        [
            _t("widen(layer=a)", delta=0.05),
            _t("activation(layer=b)", failure="shape"),
            _t("kernel(layer=c)", delta=-0.02),
        ],
    )
    assert w["widen()"] > 1.0 > w["kernel()"] > w["activation()"] > 0


def test_a_gain_lifts_its_kind_at_every_place_but_not_its_siblings():
    w = kind_weights(["norm(kind=batch)", "norm(kind=group)"],
                     [_t("norm(layer=conv1, kind=batch)", delta=0.3)])
    assert w == {"norm(kind=batch)": 4.0, "norm(kind=group)": 1.0}


def test_what_was_tried_on_this_parent_waits_behind_the_untried():
    w = kind_weights(["widen()", "narrow()"], [], tried_here=frozenset({"widen()", "pool()"}))
    assert w == {"widen()": TRIED_HERE, "narrow()": 1.0}


def test_unknown_ops_in_history_are_ignored():
    assert kind_weights(["widen()"], [_t("seed:lenet")]) == {"widen()": 1.0}


def _cand(cid, origin, acc=0.5, code="x = 1\n"):
    from nasloop.memory.archive import Candidate

    return Candidate(
        id=cid,
        step=cid,
        parent_id=None,
        origin=origin,
        modification=None,
        code=code,
        diff=None,
        status="ok",
        form="lemur",
        structural_hash=None,
        duplicate_of=None,
        score=acc,
        params=1,
        flops=1.0,
        metrics=None,
        failure_class=None,
        failure_message=None,
        traceback_tail=None,
        gen_s=0.0,
        eval_wall_s=1.0,
        train_s=1.0,
        eval_attempts=1,
    )


def _task():
    from nasloop.config import build_config
    from nasloop.tasks.registry import build_task

    return build_task(build_config({})).brief()


def _space(operators=frozenset()):
    from nasloop.tasks.image_classification.space import ArchitectureSpace

    return ArchitectureSpace((1, 1, 32, 32), 10, frozenset(operators))


def test_improver_is_deterministic_per_step_and_mutates_the_best():
    from nasloop.agents.base import ImproveRequest
    from nasloop.agents.heuristic import HeuristicImprover
    from nasloop.tasks.image_classification.seeds import list_seeds

    code = list_seeds()["lenet"]
    req = ImproveRequest(
        step=5,
        seed=0,
        task=_task(),
        triples=[],
        last=None,
        parents=[_cand(1, "seed:lenet", 0.6, code)],
    )
    a = HeuristicImprover(_space()).improve(req)
    b = HeuristicImprover(_space()).improve(req)
    assert a.instruction == b.instruction and a.instruction.parent_id == 1
    assert a.instruction.mutation and a.instruction.modification.startswith(
        a.instruction.mutation["op"]
    )
    assert a.calls[0].role == "improver" and a.calls[0].model == "heuristic"


def test_a_hostile_parent_is_analysed_in_the_sandbox_not_here(tmp_path):
    from nasloop.agents.base import GenerateRequest, ImproveRequest, Instruction
    from nasloop.agents.heuristic import HeuristicGenerator, HeuristicImprover

    marker = tmp_path / "ran-here"
    bomb = f"import os\nopen({str(marker)!r}, 'w').close()\nos._exit(3)\n"
    req = ImproveRequest(
        step=5,
        seed=0,
        task=_task(),
        triples=[],
        last=None,
        parents=[_cand(1, "hf:some-model", 0.9, bomb)],
    )
    res = HeuristicImprover(_space()).improve(req)  # any lineage is mutated now
    assert res.instruction is None and res.error.startswith("parent #1: ")
    gen = HeuristicGenerator(_space()).generate(
        GenerateRequest(
            step=5,
            seed=0,
            task=_task(),
            parent=_cand(1, "hf:some-model", 0.9, bomb),
            instruction=Instruction(parent_id=1, problem="p", modification="widen anything"),
            triples=[],
        )
    )
    assert gen.code is None and gen.error.startswith("mutation could not be applied")
    assert not marker.exists()


def test_prepare_warms_the_options_of_every_candidate_in_the_sandbox_cache():
    from nasloop.agents.heuristic import HeuristicImprover
    from nasloop.tasks.image_classification.seeds import list_seeds

    code = list_seeds()["vgg_small"]
    space = _space()
    work = HeuristicImprover(space).prepare(
        [_cand(1, "seed:vgg_small", 0.5, code), _cand(2, "openai:http://x", 0.9, "import os")],
    )
    assert len(work) == 2
    space.analysis.cache.clear()
    first = work[0]()
    cached = len(space.analysis.cache)
    assert cached == 1 and first
    submitted = space.analysis.executor.submit
    space.analysis.executor.submit = None  # a cache hit must not reach the sandbox
    try:
        assert _space().propose(code) == first
    finally:
        space.analysis.executor.submit = submitted


def test_width_changes_are_proposed_as_absolute_channels():
    from nasloop.tasks.image_classification.seeds import list_seeds

    options = _space().propose(list_seeds()["lenet"])
    widths = [m for m in options if m.op in {"widen", "narrow"}]
    assert widths and all(set(m.args) == {"channels"} for m in widths)
    described = {m.describe() for m in widths}
    # LeNet's conv2 has 16 channels: doubled and halved
    assert {"widen(layer=conv2, channels=32)", "narrow(layer=conv2, channels=8)"} <= described


def test_improver_asks_only_for_the_allowed_operators():
    from nasloop.agents.base import ImproveRequest
    from nasloop.agents.heuristic import HeuristicImprover
    from nasloop.tasks.image_classification.seeds import list_seeds

    code = list_seeds()["lenet"]
    ops = set()
    for step in range(12):
        req = ImproveRequest(
            step=step,
            seed=0,
            task=_task(),
            triples=[],
            last=None,
            parents=[_cand(1, "seed:lenet", 0.6, code)],
        )
        res = HeuristicImprover(_space({"narrow"}), operators=frozenset({"narrow"})).improve(req)
        ops.add(res.instruction.mutation["op"])
    assert ops == {"narrow"}
    none = HeuristicImprover(_space({"norm_swap"}), operators=frozenset({"norm_swap"})).improve(req)
    assert none.instruction is None and "no mutation of norm_swap applies" in none.error
