from nasloop.memory import novelty
from nasloop.tasks.image_classification.seeds import list_seeds


def test_layout_and_comments_do_not_count():
    code = list_seeds()["lenet"]
    noisy = "# a comment\n" + code.replace("\n\n", "\n\n\n") + "\n# trailing\n"
    assert novelty.structural_hash(code) == novelty.structural_hash(noisy)
    assert novelty.minhash(code).jaccard(novelty.minhash(noisy)) == 1.0


def test_docstrings_do_not_count():
    a = 'def f():\n    """doc"""\n    return 1\n'
    b = "def f():\n    return 1\n"
    assert novelty.structural_hash(a) == novelty.structural_hash(b)


def test_one_changed_statement_stays_novel_at_default_threshold():
    for code in list_seeds().values():
        changed = code.replace(
            "super().__init__()\n", "super().__init__()\n        self.extra = 1\n", 1
        )
        sim = novelty.minhash(code).jaccard(novelty.minhash(changed))
        assert sim < 0.9
        assert novelty.structural_hash(code) != novelty.structural_hash(changed)


def test_index_finds_near_duplicates_only_above_threshold():
    seeds = list(list_seeds().values())
    index = novelty.NoveltyIndex(threshold=0.9)
    for i, code in enumerate(seeds):
        index.add(i, novelty.minhash(code))
    hit = index.nearest_duplicate(novelty.minhash("# copy\n" + seeds[1]))
    assert hit is not None and hit[0] == 1 and hit[1] == 1.0
    assert index.nearest_duplicate(novelty.minhash("def g():\n    return 2\n")) is None


def test_signature_round_trip():
    m = novelty.minhash(list_seeds()["lenet"], 64)
    back = novelty.from_bytes(novelty.to_bytes(m), 64)
    assert back.jaccard(m) == 1.0
