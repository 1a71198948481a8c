import re

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


def _big_model(layers: int = 120) -> str:
    """A ~400-line model written out layer by layer (as long LEMUR files are)."""
    init = "\n".join(f"        self.conv{i} = nn.Conv2d(8, 8, 3, padding=1)\n"
                     f"        self.bn{i} = nn.BatchNorm2d(8)" for i in range(layers))
    fwd = "\n".join(f"        x = torch.relu(self.bn{i}(self.conv{i}(x)))" for i in range(layers))
    return ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n"
            f"        self.stem = nn.Conv2d(1, 8, 3, padding=1)\n{init}\n"
            "        self.fc = nn.Linear(8, 10)\n\n    def forward(self, x):\n"
            f"        x = self.stem(x)\n{fwd}\n        return self.fc(x.mean((2, 3)))\n")


def _is_duplicate(index: novelty.NoveltyIndex, code: str) -> bool:
    return index.same_program(code) is not None


def test_copies_are_rejected_and_real_small_changes_accepted():
    big = _big_model()
    assert len(big.splitlines()) > 350
    seeds = list_seeds()
    index = novelty.NoveltyIndex(threshold=0.9)
    for i, code in enumerate([big, *seeds.values()]):
        index.add(i, novelty.minhash(code), code)
    # re-formatted, re-commented, renamed and re-worded copies: duplicates
    for code in [big, *seeds.values()]:
        noisy = "# a copy\n" + code.replace("\n\n", "\n\n\n").replace("(x)", "( x )")
        renamed = re.sub(r"\bx\b", "h", code).replace("self.fc", "self.head")
        for copy in (noisy, renamed):
            assert _is_duplicate(index, copy)
    # a real one-layer change of the 400-line model: MinHash alone calls it a copy
    changed = big.replace("self.conv60 = nn.Conv2d(8, 8, 3, padding=1)",
                          "self.conv60 = nn.Conv2d(8, 8, 5, padding=2)")
    assert novelty.minhash(big).jaccard(novelty.minhash(changed)) >= 0.9
    assert not _is_duplicate(index, changed)
    # real one-line changes of the small seeds: stride 2 -> 1, kernel 3 -> 1
    stride = seeds["resnet_small"].replace("stride=2", "stride=1", 1)
    kernel = seeds["vgg_small"].replace("kernel_size=3", "kernel_size=1", 1)
    for code, original in ((stride, seeds["resnet_small"]), (kernel, seeds["vgg_small"])):
        assert code != original
        assert not _is_duplicate(index, code)


def test_a_changed_string_builtin_or_imported_name_is_a_real_change():
    """What a string, a builtin or an imported name says changes behaviour: such copies are
    novel (a bare file's recipe lives in strings); aliases and own names still do not count."""
    base = ("import torch.nn.functional as F\nfrom torch.nn.functional import gelu, relu\n\n\n"
            "def f(x, prm):\n    y = F.interpolate(x, scale_factor=2, mode='nearest')\n"
            "    return relu(max(y.sum(), prm['dropout']))\n")
    real = [base.replace("nearest", "bilinear"), base.replace("'dropout'", "'lr'"),
            base.replace("max(", "min("), base.replace("return relu(", "return gelu(")]
    for code in real:
        assert novelty.canonical_hash(code) != novelty.canonical_hash(base), code
    copies = [base.replace(" as F", " as G").replace("F.interp", "G.interp"),
              base.replace("y", "z").replace("prm", "p"),
              "from torch.nn.functional import gelu, relu\nimport torch.nn.functional as F\n"
              + base.split("\n", 2)[2]]
    for code in copies:
        assert novelty.canonical_hash(code) == novelty.canonical_hash(base), code
    from nasloop.tasks.recipes.ops import with_recipe

    bare = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self, in_shape, out_shape):\n        super().__init__()\n"
            "        self.fc = nn.Linear(in_shape[1], out_shape[0])\n\n"
            "    def forward(self, x):\n        return self.fc(x.flatten(1))\n")
    a, b = with_recipe(bare, "cross_entropy", "adam"), with_recipe(bare, "ngl", "sgd")
    assert novelty.canonical_hash(a) != novelty.canonical_hash(b)
