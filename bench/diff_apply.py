"""Benchmark: applying damaged unified diffs — nasloop's applier vs GNU patch vs git apply.

Run from the repository root::

    .venv/bin/python bench/diff_apply.py            # 1,000 diffs, 4 damages each
    .venv/bin/python bench/diff_apply.py --n 200    # quicker

Diffs come from real mutations: every built-in seed (the image-classification seeds)
gets each mutation ``applicable_mutations`` offers, realised by ``apply_mutation``;
some of those variants get further mutations, up to chains of three. Each variant is
paired with each of its ancestors, so the diffs (``make_diff(parent, child)``) span 1-3
mutations. Building them dominates the run time, so the pairs are cached under
``~/.cache/nasloop`` keyed by the seeds' and the mutation package's sources
(``--no-cache`` rebuilds). Every diff is applied undamaged (``clean``) and with
``--damages-per-diff`` kinds drawn at random among those that apply to it:

- ``wrong_line_numbers``: every ``@@`` start moved 3-40 lines (or all set to 1);
- ``bad_counts``: ``@@`` lengths off by -2..+3 (models miscount);
- ``bare_hunk_headers``: ``@@`` lines without numbers (``@@``, ``@@ ... @@``);
- ``no_file_headers``: the ``---``/``+++`` lines left out;
- ``garbled_file_headers``: ``--- model.py`` without ``a/`` and ``b/``, with dates or
  ``(original)`` / ``(modified)`` after the name, or a ``diff --git`` / ``index`` preamble;
- ``wrong_file_name``: the headers name another file (``net.py``, ``models/cnn.py``);
- ``dropped_context``: 1-3 context lines cut from the start and/or end of each hunk
  (at least one context line stays), header left stale;
- ``skipped_context_line``: one context line between two other context lines left out
  (the file has a line the diff does not show), header left stale. (A line skipped right
  next to an insertion makes the insertion point ambiguous; the unit tests check that
  nasloop refuses those, so they are not counted here);
- ``extra_context``: 1-3 more real lines of context at each end, header left stale;
- ``hallucinated_context``: a context line that is not in the file
  (``# ... existing code ...`` or a blank line) inside each hunk;
- ``indent_drift``: every line of each hunk re-indented by -4, +2 or +4 spaces;
- ``context_prefix_dropped``: context lines written without their leading space;
- ``trailing_whitespace``: spaces or a tab after about half the lines;
- ``no_final_newline``: the answer ends without a newline;
- ``crlf``: CRLF line endings in the diff;
- ``hunks_reordered``: hunks in reverse order (diffs with 2+ hunks);
- ``extra_file``: a section for another file (``README.md``, ``train.py``) before or
  after the model's;
- ``prose_fenced``: prose before and after a fenced diff block;
- ``prose_unfenced``: prose before and after the bare diff;
- ``two_blocks``: the hunks split over two fenced blocks with prose between (2+ hunks);
- ``combined``: 2-3 of the structural kinds above at once.

All three tools get the same damaged text (the model's whole answer). nasloop runs
``extract_diff`` then ``apply_diff(parent, diff, "model.py")``. GNU patch runs in a
temporary directory holding ``model.py`` as
``patch -p1 --fuzz=3 --ignore-whitespace --forward --batch --no-backup-if-mismatch
--reject-file=- -i answer.diff``; git apply, outside any repository, as
``git apply --recount --ignore-whitespace -C1 answer.diff``. These are the most
forgiving flags each offers that still apply a diff as a diff (full fuzz / one line of
context, whitespace ignored, header counts ignored by git); both read the file name
from the diff's headers, as a user would run them, so header-less diffs fail there.

A case succeeds when the tool says it succeeded (``ok`` / exit status 0) and the file
equals the intended child code after normalising only line endings, trailing
whitespace on each line and trailing blank lines at the end of the file. "Silent
wrong": the tool said it succeeded but the result is not the child. "Right file, any
status": the file is right whatever the exit status (patch exits 1 when a second file
in the diff is missing, even if it patched model.py right).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from nasloop.agents.delta import apply_diff, extract_diff, make_diff

PATH = "model.py"
TOOLS = ("nasloop", "patch", "git apply")
PATCH_CMD = [
    "patch",
    "-p1",
    "--fuzz=3",
    "--ignore-whitespace",
    "--forward",
    "--batch",
    "--no-backup-if-mismatch",
    "--reject-file=-",
    "-i",
    "answer.diff",
]
GIT_CMD = ["git", "apply", "--recount", "--ignore-whitespace", "-C1", "answer.diff"]


# ---------------------------------------------------------------- pairs from mutations


def _applicable(code: str) -> list:
    from nasloop.agents.mutation import applicable_mutations

    return applicable_mutations(code)


def _children(task: tuple[str, list]) -> list[str | None]:
    """Apply each mutation to ``code`` (analysed once); ``None`` where one does not apply."""
    from nasloop.agents.mutation import MutationError, apply_mutation
    from nasloop.agents.mutation.context import analyse

    code, mutations = task
    try:
        ctx = analyse(code, None, 10)
    except MutationError:
        return [None] * len(mutations)
    out: list[str | None] = []
    for m in mutations:
        try:
            out.append(apply_mutation(code, m, context=ctx))
        except MutationError:
            out.append(None)
    return out


Pair = tuple[str, str, str, int]  # seed name, parent code, child code, mutations between


def mutation_pairs(n: int, rng: random.Random, jobs: int) -> list[Pair]:
    """At least ``n`` distinct (seed, parent, child, k) pairs, k = 1-3 mutations apart.

    Every seed gets each of its applicable mutations; some children get two more
    mutations each, and some grandchildren two more (drawn from the seed's applicable
    list; ``apply_mutation`` checks each one builds and runs). Each variant pairs with
    each of its ancestors, so a chain gives diffs of 1, 2 and 3 mutations.
    """
    from nasloop.tasks.image_classification.seeds import list_seeds

    seeds = list_seeds()
    pairs: dict[tuple[str, str], tuple[str, int]] = {}
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
        props = dict(zip(seeds, pool.map(_applicable, seeds.values()), strict=True))
        jobs_: list[tuple[str, str, tuple[str, ...], list]] = [
            (nm, src, (), props[nm][i : i + 8])
            for nm, src in seeds.items()
            for i in range(0, len(props[nm]), 8)
        ]
        for depth in range(3):
            done = pool.map(_children, [(src, ms) for _, src, _, ms in jobs_])
            frontier = []
            for (nm, src, anc, _), kids in zip(jobs_, done, strict=True):
                lineage = (*anc, src)
                for child in kids:
                    if child is None or child in lineage:
                        continue
                    for k, parent in enumerate(lineage):
                        pairs.setdefault((parent, child), (nm, len(lineage) - k))
                    frontier.append((nm, child, lineage))
            share = 0.45 if depth == 0 else 1.0
            need = max(0, int((n - len(pairs)) * share / (depth + 2) / 0.6 / 2) + 1)
            picks = rng.sample(frontier, min(need, len(frontier)))
            jobs_ = [(nm, src, anc, rng.sample(props[nm], 2)) for nm, src, anc in picks]
    return [(nm, p, c, k) for (p, c), (nm, k) in pairs.items()]


def cached_pairs(n: int, seed: int, jobs: int, use_cache: bool) -> list[Pair]:
    """:func:`mutation_pairs`, cached under ~/.cache/nasloop keyed by the seeds and operators."""
    import nasloop.agents.mutation as mutation_pkg
    from nasloop.tasks.image_classification.seeds import list_seeds

    h = hashlib.sha256(f"{n}/{seed}".encode())
    for src in list_seeds().values():
        h.update(src.encode())
    pkg = pathlib.Path(mutation_pkg.__file__).parent
    for f in sorted(pkg.glob("*.py")):
        h.update(f.read_bytes())
    cache_dir = pathlib.Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    path = cache_dir / "nasloop" / "diff_apply_pairs.json"  # one entry, replaced on change
    if use_cache and path.exists():
        cached = json.loads(path.read_text())
        if cached.get("key") == h.hexdigest():
            return [tuple(p) for p in cached["pairs"]]
    pairs = mutation_pairs(n, random.Random(seed), jobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": h.hexdigest(), "pairs": pairs}))
    return pairs


# ---------------------------------------------------------------- diff structure


@dataclass
class Hunk:
    header: str
    body: list[str]
    old_start: int  # 1-based, from the clean header
    old_len: int


@dataclass
class Answer:
    """A diff under construction, rendered by :func:`render`."""

    file_headers: list[str]
    hunks: list[Hunk]
    before: list[str] = field(default_factory=list)  # extra file sections
    after: list[str] = field(default_factory=list)
    prose: tuple[str, str] | None = None
    fenced: bool = False
    split: bool = False
    crlf: bool = False
    chomp: bool = False  # no newline after the last line


_HDR = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_clean(diff: str) -> Answer:
    lines = diff.splitlines()
    hunks: list[Hunk] = []
    for line in lines[2:]:
        m = _HDR.match(line)
        if m:
            hunks.append(Hunk(line, [], int(m.group(1)), int(m.group(2) or 1)))
        else:
            hunks[-1].body.append(line)
    return Answer(lines[:2], hunks)


def render(a: Answer) -> str:
    def diff(hunks: list[Hunk]) -> list[str]:
        out = list(a.file_headers)
        for h in hunks:
            out += [h.header, *h.body]
        return out

    if a.split:
        k = len(a.hunks) // 2
        first, second = diff(a.hunks[:k]), diff(a.hunks[k:])
        lines = [
            "First, the constructor:",
            "",
            "```diff",
            *a.before,
            *first,
            "```",
            "",
            "Then the rest:",
            "",
            "```diff",
            *second,
            *a.after,
            "```",
        ]
    else:
        lines = a.before + diff(a.hunks) + a.after
        if a.fenced:
            lines = ["```diff", *lines, "```"]
    if a.prose:
        lines = [a.prose[0], "", *lines, "", a.prose[1]]
    text = "\n".join(lines) + ("" if a.chomp else "\n")
    return text.replace("\n", "\r\n") if a.crlf else text


# ---------------------------------------------------------------- damage kinds


Damage = Callable[[Answer, list[str], random.Random], bool]  # False: does not apply
DAMAGES: dict[str, Damage] = {}


def damage(fn: Damage) -> Damage:
    """Register a damage kind under its function name (the table lists them in order)."""
    DAMAGES[fn.__name__] = fn  # type: ignore[attr-defined]
    return fn


def _ctx(body: list[str]) -> list[int]:
    return [i for i, ln in enumerate(body) if ln.startswith(" ")]


@damage
def wrong_line_numbers(a: Answer, parent: list[str], rng: random.Random) -> bool:
    all_one = rng.random() < 0.25
    for h in a.hunks:
        m = _HDR.match(h.header)
        assert m
        shift = rng.choice([-1, 1]) * rng.randint(3, 40)
        start = 1 if all_one else max(1, h.old_start + shift)
        h.header = f"@@ -{start},{m.group(2) or 1} +{start},{m.group(4) or 1} @@"
    return True


@damage
def bad_counts(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        m = _HDR.match(h.header)
        assert m
        old = max(0, int(m.group(2) or 1) + rng.randint(-2, 3))
        new = max(0, int(m.group(4) or 1) + rng.randint(-2, 3))
        h.header = f"@@ -{m.group(1)},{old} +{m.group(3)},{new} @@"
    return True


@damage
def bare_hunk_headers(a: Answer, parent: list[str], rng: random.Random) -> bool:
    style = rng.choice(["@@", "@@ ... @@", "@@ -?,? +?,? @@"])
    for h in a.hunks:
        h.header = style
    return True


@damage
def no_file_headers(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.file_headers = []
    return True


@damage
def garbled_file_headers(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.file_headers = rng.choice(
        [
            [f"--- {PATH}", f"+++ {PATH}"],
            [f"--- {PATH}\t2024-05-01 10:00:00", f"+++ {PATH}\t2024-05-01 10:05:00"],
            [f"--- a/{PATH} (original)", f"+++ b/{PATH} (modified)"],
            [f"diff --git a/{PATH} b/{PATH}", "index 83db48f..bf269f4 100644", *a.file_headers],
        ]
    )
    return True


@damage
def wrong_file_name(a: Answer, parent: list[str], rng: random.Random) -> bool:
    name = rng.choice(["net.py", "models/cnn.py", "model_v2.py"])
    a.file_headers = [f"--- a/{name}", f"+++ b/{name}"]
    return True


@damage
def dropped_context(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        lead = 0
        while lead < len(h.body) and h.body[lead].startswith(" "):
            lead += 1
        trail = 0
        while trail < len(h.body) and h.body[-1 - trail].startswith(" "):
            trail += 1
        cut_lead = rng.randint(0, min(3, lead))
        cut_trail = rng.randint(0 if cut_lead else 1, min(3, trail)) if trail else 0
        if cut_lead + cut_trail >= len(_ctx(h.body)):  # keep at least one context line
            cut_lead, cut_trail = max(0, cut_lead - 1), cut_trail - (cut_lead == 0)
        h.body = h.body[cut_lead : len(h.body) - cut_trail]
    return True


@damage
def skipped_context_line(a: Answer, parent: list[str], rng: random.Random) -> bool:
    done = False
    for h in a.hunks:
        inner = [
            i
            for i in _ctx(h.body)
            if 0 < i < len(h.body) - 1 and h.body[i - 1][:1] == h.body[i + 1][:1] == " "
        ]
        if inner:
            del h.body[rng.choice(inner)]
            done = True
    return done


@damage
def extra_context(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        start = h.old_start - 1
        end = start + h.old_len
        k1, k2 = rng.randint(1, 3), rng.randint(1, 3)
        head = parent[max(0, start - k1) : start]
        tail = parent[end : end + k2]
        h.body = [" " + s for s in head] + h.body + [" " + s for s in tail]
    return True


@damage
def hallucinated_context(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        ctx = _ctx(h.body) or [0]
        i = rng.choice(ctx)
        ind = re.match(r" *", h.body[i][1:] if h.body else "")
        bogus = rng.choice([" " + (ind.group(0) if ind else "") + "# ... existing code ...", " "])
        h.body.insert(i, bogus)
    return True


@damage
def indent_drift(a: Answer, parent: list[str], rng: random.Random) -> bool:
    delta = rng.choice([-4, 2, 4])
    for h in a.hunks:
        new = []
        for ln in h.body:
            tag, text = ln[:1], ln[1:]
            if text.strip() and delta > 0:
                text = " " * delta + text
            elif text.startswith(" " * -delta):
                text = text[-delta:]
            new.append(tag + text)
        h.body = new
    return True


@damage
def context_prefix_dropped(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        h.body = [ln[1:] if ln.startswith(" ") else ln for ln in h.body]
    return True


@damage
def trailing_whitespace(a: Answer, parent: list[str], rng: random.Random) -> bool:
    for h in a.hunks:
        h.body = [ln + rng.choice([" ", "  ", "\t"]) if rng.random() < 0.5 else ln for ln in h.body]
    return True


@damage
def no_final_newline(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.chomp = True
    return True


@damage
def crlf(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.crlf = True
    return True


@damage
def hunks_reordered(a: Answer, parent: list[str], rng: random.Random) -> bool:
    if len(a.hunks) < 2:
        return False
    a.hunks.reverse()
    return True


_OTHER_FILES = [
    "--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,4 @@\n # Model\n+\n+Widened the first block."
    "\n \n Trained with nasloop.",
    "--- a/train.py\n+++ b/train.py\n@@ -10,4 +10,4 @@\n def main():\n-    epochs = 1"
    "\n+    epochs = 2\n     run(epochs)\n ",
]


@damage
def extra_file(a: Answer, parent: list[str], rng: random.Random) -> bool:
    other = rng.choice(_OTHER_FILES).split("\n")
    if rng.random() < 0.5:
        a.before = other
    else:
        a.after = other
    return True


@damage
def prose_fenced(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.fenced = True
    a.prose = ("Here is the change as a unified diff:", "This should improve the accuracy.")
    return True


@damage
def prose_unfenced(a: Answer, parent: list[str], rng: random.Random) -> bool:
    a.prose = ("I will modify the network as follows.", "The rest of the file is unchanged.")
    return True


@damage
def two_blocks(a: Answer, parent: list[str], rng: random.Random) -> bool:
    if len(a.hunks) < 2:
        return False
    a.split = True
    a.prose = ("I made two edits.", "That is all.")
    return True


# combined: body edits first (they rely on clean bodies), then headers and wrapping
_COMBINABLE = [
    ["dropped_context", "extra_context", "hallucinated_context", "skipped_context_line"],
    ["indent_drift", "context_prefix_dropped", "trailing_whitespace"],
    ["wrong_line_numbers", "bad_counts", "bare_hunk_headers"],
    ["no_file_headers", "garbled_file_headers", "wrong_file_name", "extra_file"],
    ["hunks_reordered", "crlf", "no_final_newline", "prose_fenced", "prose_unfenced"],
]


def combined(a: Answer, parent: list[str], rng: random.Random) -> bool:
    groups = rng.sample(_COMBINABLE, rng.randint(2, 3))
    order = sorted(groups, key=_COMBINABLE.index)
    return any([DAMAGES[rng.choice(g)](a, parent, rng) for g in order])


def damaged(diff: str, parent: str, kind: str, rng: random.Random) -> str | None:
    a = parse_clean(diff)
    if kind == "clean":
        return render(a)
    fn = combined if kind == "combined" else DAMAGES[kind]
    return render(a) if fn(a, parent.splitlines(), rng) else None


# ---------------------------------------------------------------- tools


def normalise(code: str) -> str:
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(ln.rstrip() for ln in lines).rstrip("\n")


def run_nasloop(parent: str, text: str, statuses: Counter[str]) -> tuple[bool, str]:
    r = apply_diff(parent, extract_diff(text) or text, PATH)
    statuses.update(h.status for h in r.hunks)
    return r.ok, r.code or parent


def run_tool(cmd: list[str], parent: str, text: str) -> tuple[bool, str]:
    d = tempfile.mkdtemp(prefix="diffbench-")
    try:
        with open(os.path.join(d, PATH), "w", newline="") as f:
            f.write(parent)
        with open(os.path.join(d, "answer.diff"), "w", newline="") as f:
            f.write(text)
        try:
            proc = subprocess.run(
                cmd, cwd=d, capture_output=True, timeout=10, stdin=subprocess.DEVNULL
            )
            said_ok = proc.returncode == 0
        except subprocess.TimeoutExpired:
            said_ok = False
        with open(os.path.join(d, PATH), newline="") as f:
            return said_ok, f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class Case:
    kind: str
    parent: str
    child: str
    text: str


def build_cases(pairs: list[Pair], per: int, rng: random.Random) -> list[Case]:
    kinds = [*DAMAGES, "combined"]
    cases = []
    for _, parent, child, _ in pairs:
        diff = make_diff(parent, child, PATH)
        chosen = ["clean"] + rng.sample(kinds, len(kinds))
        made = 0
        for kind in chosen:
            if made > per:
                break
            text = damaged(diff, parent, kind, rng)
            if text is not None:
                cases.append(Case(kind, parent, child, text))
                made += 1
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="diffs built from mutations")
    ap.add_argument("--damages-per-diff", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="parallel patch/git processes")
    ap.add_argument("--no-cache", action="store_true", help="rebuild the mutation pairs")
    args = ap.parse_args()
    for exe in ("patch", "git"):
        if not shutil.which(exe):
            sys.exit(f"{exe} not found on PATH")
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    pairs = cached_pairs(args.n, args.seed, args.jobs, not args.no_cache)
    t1 = time.perf_counter()
    cases = build_cases(pairs, args.damages_per_diff, rng)
    hunks = Counter(len(parse_clean(make_diff(p, c, PATH)).hunks) for _, p, c, _ in pairs)
    chains = Counter(k for *_, k in pairs)
    seeds = Counter(name for name, *_ in pairs)
    results: dict[str, list[tuple[bool, str]]] = {}
    t2 = time.perf_counter()
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    results["nasloop"] = [run_nasloop(c.parent, c.text, statuses[c.kind]) for c in cases]
    t3 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results["patch"] = list(pool.map(lambda c: run_tool(PATCH_CMD, c.parent, c.text), cases))
        results["git apply"] = list(pool.map(lambda c: run_tool(GIT_CMD, c.parent, c.text), cases))
    t4 = time.perf_counter()
    report(cases, results)
    report_hunks(statuses)
    print(
        f"\n{len(pairs)} diffs ({_dist(seeds)}; {_dist(chains)} mutations apart; "
        f"{_dist(hunks)} hunks), {len(cases)} cases. Time: pairs {t1 - t0:.1f}s, "
        f"nasloop {t3 - t2:.1f}s, patch + git apply {t4 - t3:.1f}s, total {t4 - t0:.1f}s"
    )


def _dist(counts: Counter) -> str:
    return ", ".join(f"{v}x {k}" for k, v in sorted(counts.items()))


def report(cases: list[Case], results: dict[str, list[tuple[bool, str]]]) -> None:
    ok: dict[str, Counter[str]] = defaultdict(Counter)
    wrong: dict[str, Counter[str]] = defaultdict(Counter)
    right_any: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for i, c in enumerate(cases):
        want = normalise(c.child)
        for kind in (c.kind, "all"):
            total[kind] += 1
            for tool in TOOLS:
                said, code = results[tool][i]
                right = normalise(code) == want
                ok[tool][kind] += said and right
                wrong[tool][kind] += said and not right
                right_any[tool][kind] += right
    kinds = ["all", "clean", *DAMAGES, "combined"]
    names = " | ".join(TOOLS)
    others = ", ".join(TOOLS[1:])
    print(
        f"| damage | cases | {names} | silent wrong ({', '.join(TOOLS)}) "
        f"| right file, any status ({others}) |"
    )
    print("|---|---:|" + "---:|" * len(TOOLS) + "---|---|")
    for kind in kinds:
        if not total[kind]:
            continue
        rates = " | ".join(f"{100 * ok[t][kind] / total[kind]:.1f} %" for t in TOOLS)
        silent = ", ".join(str(wrong[t][kind]) for t in TOOLS)
        anyst = ", ".join(f"{100 * right_any[t][kind] / total[kind]:.1f} %" for t in TOOLS[1:])
        name = f"**{kind}**" if kind == "all" else kind
        print(f"| {name} | {total[kind]} | {rates} | {silent} | {anyst} |")


def report_hunks(statuses: dict[str, Counter[str]]) -> None:
    """What nasloop's applier reported per hunk, by damage kind."""
    kinds = ("exact", "offset", "fuzzy", "failed")
    print("\n| damage | " + " | ".join(kinds) + " |  (nasloop hunk reports)")
    print("|---|" + "---:|" * len(kinds))
    for kind in ["clean", *DAMAGES, "combined"]:
        if statuses.get(kind):
            print(f"| {kind} | " + " | ".join(str(statuses[kind][k]) for k in kinds) + " |")


if __name__ == "__main__":
    main()
