"""Suitability items from run archives: one item per trained network and dataset pair.

A network is one candidate's code (by its SHA-256); its accuracy on each dataset comes from
the per-dataset metrics (`nasloop.tasks.image_classification.multidata.metric_key`). The
normalised accuracy of a network on a dataset is its accuracy divided by the best accuracy
any network in the pool (every run given) reached on that dataset. An item's label is the
dataset of the higher normalised accuracy; a tie (equal to 1e-9) makes no item. Which of the
pair is shown first is fixed by a hash of the network and the pair, so the first-listed
dataset is the answer about half the time. The held-out split is by network, never by item
(`heldout_networks`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from nasloop.tasks.image_classification.multidata import per_dataset

if TYPE_CHECKING:
    from nasloop.memory.archive import Candidate

VARIANTS = ("normalized", "metadata", "code")
TIE = 1e-9
HELD_OUT = 5  # one network in HELD_OUT (by hash) is held out


class ItemError(Exception):
    """Items cannot be built or read; one line."""


@dataclass(frozen=True)
class Network:
    """One trained network and its accuracy per dataset."""

    network: str  # sha256 of the code, first 16 hex digits
    source: str  # run dir and candidate id
    code: str
    accuracy: dict[str, float]


@dataclass(frozen=True)
class Item:
    id: str
    network: str
    source: str
    variant: str
    dataset_a: str
    dataset_b: str
    label: str
    accuracy_a: float
    accuracy_b: float
    norm_a: float
    norm_b: float
    split: str  # train | heldout
    prompt: str


def network_id(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def split_of(network: str) -> str:
    """train | heldout, by the network alone (every item of a network lands together)."""
    return "heldout" if int(network, 16) % HELD_OUT == 0 else "train"


def heldout_networks(networks: list[Network]) -> set[str]:
    """The held-out networks: those `split_of` holds out, so a network keeps its split as the
    pool grows; a pool of 2+ networks where that gives none (or all) holds out its network
    of the smallest id alone, so that both splits exist."""
    ids = sorted(n.network for n in networks)
    held = {n for n in ids if split_of(n) == "heldout"}
    if len(ids) >= 2 and (not held or len(held) == len(ids)):
        held = {ids[0]}
    return held


def networks_from_candidates(cands: list[Candidate], source: str,
                             seen: dict[str, Network] | None = None) -> dict[str, Network]:
    """Every trained candidate of `cands` scored on 2+ datasets, one per distinct code (first
    seen), added to `seen`."""
    seen = {} if seen is None else seen
    for c in cands:
        acc = per_dataset(c.metrics)
        if c.status != "ok" or len(acc) < 2 or not c.code:
            continue
        nid = network_id(c.code)
        seen.setdefault(nid, Network(nid, f"{source}#{c.id}", c.code, acc))
    return seen


def networks_from_runs(run_dirs: list[Path]) -> list[Network]:
    """The networks of every run given (`networks_from_candidates`), read-only."""
    from nasloop.inspect.rundir import InspectError, RunView

    seen: dict[str, Network] = {}
    for run in run_dirs:
        try:
            view = RunView(Path(run))
        except InspectError as err:
            raise ItemError(str(err)) from None
        with view:
            networks_from_candidates(view.candidates(), str(run), seen)
    return list(seen.values())


def best_per_dataset(networks: list[Network]) -> dict[str, float]:
    best: dict[str, float] = {}
    for n in networks:
        for d, a in n.accuracy.items():
            best[d] = max(best.get(d, 0.0), a)
    return best


def template(variant: str) -> Template:
    if variant not in VARIANTS:
        raise ItemError(f"unknown prompt variant {variant!r}; choose {', '.join(VARIANTS)}")
    text = (resources.files(__package__) / "prompts" / f"{variant}.txt").read_text("utf-8")
    return Template(text)


def metadata(name: str) -> str:
    """A dataset's properties from the one dataset table."""
    from nasloop.data.table import DatasetError, dataset_info

    try:
        d = dataset_info(name)
    except DatasetError:
        return "(no metadata)"
    train = f"{d.train_size} training images, " if d.train_size else ""
    return (f"{train}{d.size}x{d.size} pixels, {d.channels} channel(s), {d.classes} classes; "
            f"{d.description}")


def _ordered(net: str, a: str, b: str) -> tuple[str, str]:
    flip = hashlib.sha256(f"{net}:{a}:{b}".encode()).digest()[0] & 1
    return (b, a) if flip else (a, b)


def build_items(networks: list[Network], variant: str) -> list[Item]:
    """The items of `networks` in one prompt variant (ties skipped)."""
    tpl = template(variant)
    best = best_per_dataset(networks)
    held = heldout_networks(networks)
    items = []
    for n in networks:
        norm = {d: (a / best[d] if best[d] > 0 else 0.0) for d, a in n.accuracy.items()}
        for a, b in itertools.combinations(sorted(n.accuracy), 2):
            if abs(norm[a] - norm[b]) <= TIE:
                continue
            a, b = _ordered(n.network, a, b)
            prompt = tpl.substitute(dataset_a=a, dataset_b=b, norm_a=f"{norm[a]:.4f}",
                                    norm_b=f"{norm[b]:.4f}", meta_a=metadata(a),
                                    meta_b=metadata(b), code=n.code.strip()).strip()
            items.append(Item(
                id=f"{n.network}:{a}:{b}:{variant}", network=n.network, source=n.source,
                variant=variant, dataset_a=a, dataset_b=b,
                label=a if norm[a] > norm[b] else b, accuracy_a=n.accuracy[a],
                accuracy_b=n.accuracy[b], norm_a=norm[a], norm_b=norm[b],
                split="heldout" if n.network in held else "train", prompt=prompt))
    return items


def write_items(items: list[Item], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(asdict(it)) + "\n")


def read_items(path: Path) -> list[Item]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [Item(**json.loads(s)) for s in lines if s.strip()]
    except (OSError, ValueError, TypeError) as err:
        raise ItemError(f"cannot read items from {path}: {type(err).__name__}") from None
