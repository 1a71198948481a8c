from nasloop.agents.heuristic import op_of, operator_weights
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


def test_weights_follow_outcomes():
    w = operator_weights(
        ["widen", "activation", "kernel"],
        [
            _t("widen(layer=a)", delta=0.05),
            _t("activation(layer=b)", failure="shape"),
            _t("kernel(layer=c)", delta=-0.02),
        ],
    )
    assert w["widen"] > 1.0 > w["kernel"] > w["activation"] > 0


def test_unknown_ops_in_history_are_ignored():
    assert operator_weights(["widen"], [_t("seed:lenet")]) == {"widen": 1.0}
