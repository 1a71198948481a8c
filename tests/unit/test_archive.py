from nasloop.memory.archive import Archive
from nasloop.memory.triples import Triple, describe_outcome, window
from nasloop.tasks.base import Objective


def _archive(tmp_path):
    return Archive(tmp_path / "archive.sqlite")


def test_candidate_insert_is_idempotent_per_step(tmp_path):
    a = _archive(tmp_path)
    first = a.add_candidate(
        0,
        parent_id=None,
        origin="seed:x",
        modification="seed:x",
        code="x = 1\n",
        diff=None,
        gen_s=0.1,
    )
    again = a.add_candidate(
        0,
        parent_id=None,
        origin="seed:x",
        modification="seed:x",
        code="x = 2\n",
        diff=None,
        gen_s=0.1,
    )
    assert first == again
    assert a.get(first).code == "x = 1\n"
    assert a.count_steps() == 1


def test_results_best_and_top(tmp_path):
    a = _archive(tmp_path)
    ids = [
        a.add_candidate(
            i,
            parent_id=None,
            origin="seed:s",
            modification=None,
            code=f"x={i}",
            diff=None,
            gen_s=0.0,
        )
        for i in range(3)
    ]
    a.set_ok(
        ids[0],
        form="lemur",
        score=0.5,
        metrics={"val_accuracy": 0.5, "params": 10, "train_s": 1.0},
        eval_wall_s=1.2,
    )
    a.set_ok(
        ids[1],
        form="bare",
        score=0.7,
        metrics={"val_accuracy": 0.7, "params": 20, "train_s": 1.0},
        eval_wall_s=1.1,
    )
    a.set_failed(
        ids[2], "shape", "mat1 and mat2 shapes cannot be multiplied", "tb", eval_wall_s=0.2
    )
    assert a.best().id == ids[1]
    assert [c.id for c in a.top(5)] == [ids[1], ids[0]]
    failed = a.get(ids[2])
    assert (failed.status, failed.failure_class) == ("failed", "shape")
    assert a.get(ids[0]).metrics["params"] == 10


def test_persists_across_connections(tmp_path):
    a = _archive(tmp_path)
    a.set_meta("run_id", "r1")
    a.add_triple(Triple(step=0, candidate_id=1, problem="p", modification="m", outcome="o"))
    a.add_triple(Triple(step=0, candidate_id=1, problem="p2", modification="m2", outcome="o2"))
    a.add_agent_call(1, "improver", "heuristic", "prompt", "answer", 0.01)
    a.close()
    b = _archive(tmp_path)
    assert b.get_meta("run_id") == "r1"
    assert [t.problem for t in b.triples()] == ["p"]
    assert b.agent_calls(1)[0]["response"] == "answer"
    b.forget_agent_calls(1, "improver")
    assert b.agent_calls(1) == []


def test_window_and_outcomes():
    ts = [
        Triple(step=i, candidate_id=i, problem="p", modification="m", outcome="o") for i in range(8)
    ]
    assert [t.step for t in window(ts, 5)] == [3, 4, 5, 6, 7]
    assert window(ts, 0) == []
    acc = Objective()
    text, delta = describe_outcome(acc, 0.8, 0.75, None, None)
    assert abs(delta - 0.05) < 1e-9 and text == "val_accuracy 0.8000 (+0.0500 vs parent)"
    text, delta = describe_outcome(acc, None, 0.75, "shape", "bad shape\nmore")
    assert text == "failed: shape (bad shape)" and delta is None
    latency = Objective(metric="latency_ms", direction="min", digits=2)
    text, delta = describe_outcome(latency, 3.0, 4.0, None, None)
    assert delta == 1.0 and text == "latency_ms 3.00 (+1.00 vs parent)"  # a gain: lower is better
