"""Elite selection, cycle figures and the proxy-reliability diagnostic on a constructed archive."""

from __future__ import annotations

import math

import pytest

from nasloop.finetune.elites import select_elites
from nasloop.finetune.stats import cycle_stats, rank_reliability, reliability
from nasloop.memory import novelty
from nasloop.memory.archive import Archive
from nasloop.tasks.image_classification.seeds import list_seeds

LENET = list_seeds()["lenet"]


def variant(fc2: int) -> str:
    """LeNet with another fc2 width: one changed statement pair, a novel architecture."""
    return LENET.replace("nn.Linear(120, 84)", f"nn.Linear(120, {fc2})").replace(
        "nn.Linear(84, out_shape[0])", f"nn.Linear({fc2}, out_shape[0])"
    )


def width_variant(conv1: int) -> str:
    """LeNet with another conv1 width (three statements change)."""
    return LENET.replace("nn.Conv2d(channels, 6,", f"nn.Conv2d(channels, {conv1},").replace(
        "nn.Conv2d(6, 16,", f"nn.Conv2d({conv1}, 16,"
    )


class Built:
    def __init__(self, path):
        self.archive = Archive(path)
        self.step = 0

    def add(self, code: str | None, acc: float | None = None, status: str = "ok") -> int:
        a = self.archive
        cid = a.add_candidate(
            self.step,
            parent_id=None if self.step == 0 else 1,
            origin="hf:tiny",
            modification="change",
            code=code,
            diff=None,
            gen_s=0.0,
            instruction='{"parent_id": 1, "problem": "p", "modification": "m"}',
        )
        self.step += 1
        if status != "failed":
            a.set_checked(
                cid, "lemur", novelty.structural_hash(code), novelty.to_bytes(novelty.minhash(code))
            )
        if status == "ok":
            a.set_ok(cid, form="lemur", score=acc, metrics={"val_accuracy": acc}, eval_wall_s=1.0)
        elif status == "failed":
            a.set_failed(cid, "runtime", "boom")
        return cid

    def signature(self, cid: int):
        try:
            return novelty.from_bytes(self.archive.signature(cid), 128)
        except KeyError:
            return None


@pytest.fixture
def built(tmp_path):
    b = Built(tmp_path / "a.sqlite")
    yield b
    b.archive.close()


def test_elites_are_the_novel_top_share_of_the_cycle(built):
    seed = built.add(LENET, 0.5)
    a = built.add(variant(40), 0.9)
    copy = built.add(variant(40) + "\n# same net, new comment\n", 0.85)  # Jaccard 1.0 with a
    assert copy not in (a, seed)
    b = built.add(width_variant(12), 0.8)
    built.add(variant(60), 0.3)
    built.add("def broken(:\n", None, status="failed")
    cycle = [built.archive.get(i) for i in range(a, a + 5)]
    choice = select_elites(
        cycle,
        [],
        rho=0.6,  # ceil(0.6 * 5) = 3: a, copy, b
        min_elites=0,
        threshold=0.9,
        signature=built.signature,
    )
    assert [c.id for c in choice.elites] == [a, b]  # the copy is not novel
    assert choice.bar == pytest.approx(0.8) and choice.fallback == 0
    assert seed not in [c.id for c in choice.elites]


def test_earlier_elites_count_against_novelty_and_fallback_fills_up(built):
    old = built.add(variant(40), 0.9)
    again = built.add(variant(40) + "\n# again\n", 0.95)
    other = built.add(width_variant(10), 0.7)
    failed = built.add("x = (\n", None, status="failed")
    choice = select_elites(
        [built.archive.get(again), built.archive.get(failed)],
        [built.archive.get(i) for i in (again, old, other)],  # the archive's best
        rho=0.5,
        min_elites=2,
        threshold=0.9,
        signature=built.signature,
        kept_before=[built.signature(old)],
    )
    # `again` is the cycle's top but repeats an earlier elite; `other` fills up
    assert [c.id for c in choice.elites] == [other]
    assert choice.fallback == 1


def test_cycle_stats_count_valid_duplicates_and_the_elite_bar(built):
    first = built.add(variant(40), 0.6)
    dup = built.add(variant(40), None, status="checked")
    built.archive.set_duplicate(dup, first, "same")
    built.add(width_variant(10), 0.9)
    built.add("x = (\n", None, status="failed")
    everyone = {c.id: c for c in built.archive.candidates()}
    gen = list(everyone.values())
    stats = cycle_stats(gen, everyone, threshold=0.7, elite_bar=0.6)
    assert (stats.generated, stats.valid, stats.trained) == (4, 3, 2)
    assert stats.valid_rate == pytest.approx(0.75)
    assert stats.mean_metric == pytest.approx(0.75) and stats.best_metric == pytest.approx(0.9)
    assert stats.share_above == pytest.approx(0.5)
    # at or above the bar: the first, its duplicate, and the 0.9 one
    assert stats.elite_probability == pytest.approx(0.75)


def test_reliability_matches_the_formulas_by_hand():
    r = reliability({1: [0.5, 0.7], 2: [0.8, 0.8], 3: [0.2, 0.4]})
    assert r is not None
    noise = (0.02 + 0.0 + 0.02) / 3
    means = [0.6, 0.8, 0.3]
    m = sum(means) / 3
    arch = sum((x - m) ** 2 for x in means) / 2 - noise / 2
    assert r.sigma2_noise == pytest.approx(noise)
    assert r.sigma2_arch == pytest.approx(arch)
    assert r.rho_p == pytest.approx(arch / (arch + noise))
    assert r.rho_s == pytest.approx(6 / math.pi * math.asin(r.rho_p / 2))
    assert (r.architectures, r.evaluations) == (3, 6)


def test_reliability_edges():
    assert reliability({1: [0.5, 0.6]}) is None  # one architecture says nothing
    assert reliability({1: [0.5], 2: [0.7]}) is None  # no repeat: no noise estimate
    pure_noise = reliability({1: [0.1, 0.9], 2: [0.9, 0.1]})
    assert pure_noise is not None and pure_noise.sigma2_arch == 0 and pure_noise.rho_s == 0
    assert rank_reliability(1.0) == pytest.approx(1.0)
    assert rank_reliability(0.5) == pytest.approx(6 / math.pi * math.asin(0.25))
