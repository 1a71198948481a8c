"""Fine-tuning cycles inside the search: a cross-entropy method over programs.

After the seeds, every `finetune.every` steps make one cycle, generated with one adapter.
When a cycle's last candidate is recorded, `close` re-trains a few of its candidates with
other seeds (proxy reliability), computes its figures, keeps its novel elites, and -- when
the budget goes on -- trains the next adapter on every elite kept so far plus the corpus,
so the next cycle generates with it. Each piece finds its own earlier result after a
crash: re-evaluations by (candidate, seed), the adapter by the `train.json` its folder
gets last, the cycle row by its `finished_at`.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from nasloop.config import Config, ConfigError
from nasloop.corpus.records import read_records
from nasloop.finetune.elites import select_elites
from nasloop.finetune.pairs import PairMaker, draw, prompt_key, trained_keys
from nasloop.finetune.stats import cycle_stats, reliability
from nasloop.finetune.store import CycleStore
from nasloop.graph.evaluate import objective_score
from nasloop.graph.resources import Resources
from nasloop.memory import novelty
from nasloop.memory.archive import Candidate
from nasloop.rundir import RunDir

ADAPTERS = RunDir.ADAPTERS


def adapter_name(cycle: int) -> str:
    """The adapter that generates `cycle` (trained after cycle - 1), relative to the run
    directory, so that a run directory can be moved or forked."""
    return f"{ADAPTERS}/cycle-{cycle}"


def check_finetune(config: Config, agents: tuple[object, object]) -> None:
    """ConfigError unless fine-tuning is off or the generator is a local model to train."""
    if not config.finetune.enabled:
        return
    improver, generator = agents
    backend = getattr(generator, "backend", None)
    if backend is None or getattr(backend, "model", None) is None:
        raise ConfigError(
            "bad config: field 'finetune.enabled': fine-tuning trains the generator's own "
            "weights: set agents.generator = 'hf:<hub-id-or-dir>' (a local model)"
        )
    other = getattr(improver, "backend", None)
    if other is backend or getattr(other, "model", None) is backend.model:
        raise ConfigError(
            "bad config: field 'agents.improver' names the generator's model, which "
            "fine-tuning changes: give the improver another model (or heuristic)"
        )
    try:
        import peft  # noqa: F401
    except ImportError:
        raise ConfigError(
            "bad config: field 'finetune.enabled' needs peft: pip install 'nasloop[finetune]'"
        ) from None
    corpus = config.finetune.corpus
    if corpus and not Path(corpus).expanduser().is_file():
        raise ConfigError(f"bad config: field 'finetune.corpus': file not found: {corpus}")


class FinetuneCycles:
    """The cycles of one run (a resource: it holds the generator's live model)."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.cfg = res.config.finetune
        self.store = CycleStore(res.archive)
        self.first = len(res.seeds)
        gen: Any = res.generator
        self.generator = gen
        self.base_name = gen.backend.name
        self.backend = gen.backend
        self.pairs = PairMaker(gen.builder, res.brief, gen.mode, gen.backend, res.config.memory.k)
        self._corpus = None

    # --- where cycles lie ------------------------------------------------------
    def bounds(self, cycle: int) -> tuple[int, int]:
        start = self.first + cycle * self.cfg.every
        return start, min(start + self.cfg.every, self.res.config.run.budget)

    def cycle_of(self, step: int) -> int:
        return max(0, (step - self.first) // self.cfg.every)

    def boundary_after(self, step: int) -> int:
        """First step of the cycle after the one holding `step` (batches stop there)."""
        return self.bounds(self.cycle_of(step))[1] if step >= self.first else self.first

    def base_adapter(self) -> str:
        return self.res.config.agents.adapter

    def adapter_for(self, cycle: int) -> str:
        """The adapter that generates `cycle` ('' for the base model)."""
        if cycle == 0:
            return self.base_adapter()
        return adapter_name(cycle)

    def path(self, adapter: str) -> Path:
        """Where an adapter of a cycle row lies (the run's own are relative to the run)."""
        if adapter.startswith(ADAPTERS + "/"):
            return self.res.run_dir / adapter
        return Path(adapter).expanduser()

    # --- start / resume -----------------------------------------------------------
    def restore(self) -> None:
        """On (re)start: generate with the newest finished adapter of this run."""
        done = [c for c in self.store.cycles() if c["next_adapter"]]
        if done:
            self._use(done[-1]["next_adapter"])

    def _use(self, adapter: str) -> None:
        """Generate with `adapter`; candidates and calls then name it."""
        from nasloop.finetune.lora import use_adapter

        use_adapter(self.backend, self.path(adapter))
        self._name(adapter)

    def _name(self, path: str) -> None:
        self.backend.name = f"{self.base_name}+{Path(path).name}"
        self.generator.name = self.backend.name

    # --- the node's work ----------------------------------------------------------
    def after_record(self, next_step: int) -> None:
        """Close every cycle whose last step is recorded; open the one now generating."""
        budget = self.res.config.run.budget
        cycle = 0
        while True:
            start, end = self.bounds(cycle)
            if start >= budget or end > next_step:
                break
            row = self.store.get(cycle)
            if row is None or row["finished_at"] is None:
                self.store.start(cycle, start, end, self.adapter_for(cycle))
                self.close(cycle)
            cycle += 1
        start, end = self.bounds(cycle)
        if next_step >= self.first and start < budget:
            self.store.start(cycle, start, end, self.adapter_for(cycle))

    def close(self, cycle: int) -> None:
        """Figures, elites and the next adapter of a finished cycle."""
        archive = self.res.archive
        start, end = self.bounds(cycle)
        everyone = {c.id: c for c in archive.candidates()}
        generated = [c for c in everyone.values() if start <= c.step < end]
        prev = self.store.get(cycle - 1) if cycle > 0 else None
        kept_before = [i for c in self.store.cycles() if c["cycle"] < cycle for i in _ids(c)]
        choice = select_elites(
            generated,
            self._fallback_pool(),
            rho=self.cfg.elite_fraction,
            min_elites=self.cfg.min_elites,
            threshold=self.res.config.memory.novelty_threshold,
            signature=self._signature,
            kept_before=[s for s in map(self._signature, kept_before) if s is not None],
            rank=self.res.task.objective.sort_key,
        )
        bar = (prev["elites"] or {}).get("bar") if prev else None
        stats = cycle_stats(
            generated,
            everyone,
            threshold=self.cfg.threshold,
            elite_bar=bar if bar is not None else choice.bar,
        )
        stats.novel_elites = len(choice.elites) - choice.fallback
        stats.fallback_elites = choice.fallback
        stats.seen_in_training = self._seen(generated, cycle)
        stats.reliability = self._reliability(cycle, generated)
        elites = {
            "ids": [c.id for c in choice.elites],
            "bar": choice.bar if choice.bar is not None else bar,
            "fallback": choice.fallback,
        }
        self.store.set(cycle, stats=stats.model_dump(), elites=elites)
        if end < self.res.config.run.budget:
            self._train_next(cycle, kept_before + elites["ids"])
        self.store.set(cycle, finished_at=time.time())

    # --- pieces -------------------------------------------------------------------
    def _signature(self, cid: int):  # noqa: ANN202 - datasketch MinHash or None
        try:
            blob = self.res.archive.signature(cid)
        except KeyError:
            return None
        return novelty.from_bytes(blob, self.res.config.memory.num_perm)

    def _fallback_pool(self) -> list[Candidate]:
        """The archive's best that can be turned into pairs (a parent and an instruction)."""
        archive = self.res.archive
        return [
            c
            for c in archive.top(50)
            if c.parent_id is not None and archive.instruction(c.id) is not None
        ]

    def _seen(self, generated: list[Candidate], cycle: int) -> int:
        """How many of the cycle's prompts asked for a (parent, change) trained on before."""
        keys = trained_keys(self.store.cycles(), cycle)
        if not keys:
            return 0
        return sum(self._prompt_key(cand) in keys for cand in generated)

    def _prompt_key(self, cand: Candidate) -> str | None:
        """Hash of the (parent, change) a candidate was asked for (None for a seed)."""
        raw = self.res.archive.instruction(cand.id)
        if raw is None or cand.parent_id is None:
            return None
        parent = self.res.archive.get(cand.parent_id).code or ""
        return prompt_key(parent, raw.get("modification", ""))

    def _corpus_records(self) -> list:
        if self._corpus is None:
            path = self.cfg.corpus
            self._corpus = read_records(Path(path).expanduser()) if path else []
        return self._corpus

    def _train_next(self, cycle: int, elite_ids: list[int]) -> None:
        from nasloop.finetune.lora import TrainReport, train_adapter

        name = adapter_name(cycle + 1)
        out = self.path(name)
        report_file = out / "train.json"
        keys_file = out.with_name(out.name + ".keys.json")  # beside: `out` appears whole
        if report_file.exists() and keys_file.exists():  # trained before a crash: reuse it
            report = TrainReport.model_validate_json(report_file.read_text())
            self._use(name)
        else:
            pairs, keys = self._pairs(cycle, elite_ids)
            keys_file.parent.mkdir(parents=True, exist_ok=True)
            keys_file.write_text(json.dumps(keys))
            init = self.adapter_for(cycle)
            report = train_adapter(
                self.backend,
                pairs,
                out,
                self.cfg,
                seed=self.res.config.run.seed + cycle,
                init=self.path(init) if init else None,
            )
            self._name(name)
        train = {**report.model_dump(), "keys": json.loads(keys_file.read_text())}
        self.store.set(cycle, train=train, next_adapter=name)

    def _pairs(self, cycle: int, elite_ids: list[int]) -> tuple[list, list[str]]:
        archive = self.res.archive
        pairs, keys = [], []
        for cid in elite_ids:
            elite = archive.get(cid)
            pair = self.pairs.from_elite(archive, elite)
            if pair is None:
                continue
            pairs += [pair] * self.cfg.elite_repeat
            keys.append(self._prompt_key(elite) or "")  # from_elite made a pair: it has one
        seed = self.res.config.run.seed + cycle
        corpus = Path(self.cfg.corpus).expanduser() if self.cfg.corpus else None
        task_pairs = self.res.task.finetune_pairs(self.pairs, archive, corpus,
                                                  self.cfg.corpus_pairs, seed)
        if task_pairs is not None:  # a task with its own corpus pairs (augmentation)
            for pair, key in task_pairs:
                pairs.append(pair)
                keys.append(key)
            return pairs, keys
        drawn = draw(self._corpus_records(), self.cfg.corpus_pairs, seed)
        contexts = self.pairs.contexts(archive) if drawn else []
        rng = random.Random(seed)
        for record in drawn:
            pair = self.pairs.from_record(record, rng.choice(contexts) if contexts else None)
            if pair is not None:
                pairs.append(pair)
                keys.append(prompt_key(record.parent_code, record.description))
        return pairs, keys

    def _reliability(self, cycle: int, generated: list[Candidate]):  # noqa: ANN202
        """Re-train a spread of candidates with other seeds; the diagnostic over them."""
        n, extra = self.cfg.reliability_candidates, self.cfg.reliability_seeds
        if n < 2:
            return None
        rank = self.res.task.objective.sort_key
        trained = sorted((c for c in generated if c.status == "ok"), key=lambda c: rank(c.score))
        if len(trained) < 2:  # too few this cycle: the archive's trained architectures
            trained = sorted(self.res.archive.candidates("ok"), key=lambda c: rank(c.score))
        picks = _spread(trained, n)
        seeds = [self.res.config.training_seed() + 1 + j for j in range(extra)]
        done = {(r["candidate_id"], r["seed"]) for r in self.store.reevals()}
        todo = [(c, s) for c in picks for s in seeds if (c.id, s) not in done]
        self._reevaluate(cycle, todo)
        scores: dict[int, list[float]] = {c.id: [c.score or 0.0] for c in picks}
        for r in self.store.reevals():
            if r["candidate_id"] in scores and r["status"] == "ok" and r["seed"] in seeds:
                scores[r["candidate_id"]].append(r["score"])
        return reliability(scores)

    def _reevaluate(self, cycle: int, todo: list[tuple[Candidate, int]]) -> None:
        executor, task = self.res.executor, self.res.task
        pending = {}
        for cand, seed in todo:
            job = task.job(cand.id, cand.code or "", seed=seed)
            pending[executor.submit(job)] = (cand, seed)
        for handle, (cand, seed) in pending.items():
            result = executor.result(handle, timeout=None)
            acc = objective_score(task.objective, result)[0] if result.status == "ok" else None
            self.store.add_reeval(cand.id, seed, cycle, result.status, acc, result.message)


def _ids(row: dict) -> list[int]:
    return list((row.get("elites") or {}).get("ids", []))


def _spread(ranked: list[Candidate], n: int) -> list[Candidate]:
    """`n` candidates evenly spaced over a ranking (best and worst included)."""
    if len(ranked) <= n:
        return list(ranked)
    idx = sorted({round(i * (len(ranked) - 1) / (n - 1)) for i in range(n)})
    return [ranked[i] for i in idx]
