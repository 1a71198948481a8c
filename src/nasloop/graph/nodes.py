"""The loop's nodes. Each is idempotent per step: run again after a crash, it finds its own
earlier writes in the archive and does not redo them (no candidate is trained twice).

A cycle holds one candidate per step (`run.batch` of them at once); the seeds fill the
first cycles, then each step's candidate realises one instruction of the improver.
"""

from __future__ import annotations

from nasloop.agents.base import (
    GenerateRequest,
    ImproveRequest,
    Instruction,
    Prepares,
    ReadsInspirations,
)
from nasloop.agents.delta import make_diff
from nasloop.graph.batch import atomic, generate_all, improve_all
from nasloop.graph.evaluate import evaluate_cycle
from nasloop.graph.promote import due, promote_round
from nasloop.graph.resources import Resources
from nasloop.graph.state import SearchState
from nasloop.memory import attempts, novelty, promotions
from nasloop.memory.archive import Candidate
from nasloop.memory.credit import operator_credit
from nasloop.memory.triples import Triple, describe_outcome
from nasloop.sandbox.failures import ContractError, FailureClass
from nasloop.summary import summarize, write_best, write_summary

TOP_PARENTS = 20  # the improver picks among these (the heuristic one keeps its own top k)


class LoopNodes:
    """plan -> generate -> check -> novelty -> evaluate -> record -> promote -> finetune ->
    improve."""

    def __init__(self, res: Resources) -> None:
        self.res = res

    def cycle_size(self, step: int) -> int:
        """Steps in the cycle starting at `step`: seeds and mutants never share a cycle."""
        n_seeds, cfg = len(self.res.seeds), self.res.config.run
        end = n_seeds if step < n_seeds else cfg.budget
        if self.res.cycles is not None and step >= n_seeds:  # a batch never spans two cycles
            end = min(end, self.res.cycles.boundary_after(step))
        return max(0, min(cfg.batch, end - step, cfg.budget - step))

    def _cycle(self, state: SearchState) -> list[Candidate]:
        return [self.res.archive.get(cid) for cid in state["candidates"]]

    # --- plan ----------------------------------------------------------------
    def plan(self, state: SearchState) -> SearchState:
        """Apply the stop rules; otherwise size the next cycle."""
        cfg = self.res.config.run
        step = state["step"]
        reason = None
        if step >= cfg.budget:
            reason = "budget"
        elif cfg.max_wall_s and self.res.wall_s() >= cfg.max_wall_s:
            reason = "wall-time"
        elif cfg.patience and self._since_improvement() >= cfg.patience:
            reason = "patience"
        return {
            "stop_reason": reason,
            "size": self.cycle_size(step),
            "candidates": [],
            "verdict": "",
        }

    def _since_improvement(self) -> int:
        """Evaluated candidates after the best one (seeds excluded, they set the bar)."""
        best = self.res.archive.best()
        return sum(
            1
            for c in self.res.archive.candidates()
            if c.eval_wall_s is not None
            and (best is None or c.step > best.step)
            and not c.origin.startswith("seed:")
        )

    # --- generate ------------------------------------------------------------
    def generate(self, state: SearchState) -> SearchState:
        """One candidate per step of the cycle: a seed, or the generator's answer.

        Steps an earlier attempt already recorded are skipped; the generator gets the rest
        as one batch (see `graph.batch`).
        """
        step0, archive = state["step"], self.res.archive
        instructions = state.get("instructions") or []
        steps = range(step0, step0 + state["size"])
        todo = [s for s in steps if archive.candidate_at(s) is None]
        for step in todo:
            if step < len(self.res.seeds):
                self._add_seed(step)
        mutants = [s for s in todo if s >= len(self.res.seeds)]
        if mutants:
            self._generate_batch(mutants, [instructions[s - step0] for s in mutants])
        return {"candidates": [archive.candidate_at(s) for s in steps]}

    def _add_seed(self, step: int) -> int:
        name, code = self.res.seeds[step]
        return self.res.archive.add_candidate(
            step,
            parent_id=None,
            origin=f"seed:{name}",
            modification=f"seed:{name}",
            code=code,
            diff=None,
            gen_s=0.0,
        )

    def _generate_batch(self, steps: list[int], raws: list[dict]) -> None:
        """The generator's answers for `steps`, recorded together (all or none)."""
        archive = self.res.archive
        requests = []
        for step, raw in zip(steps, raws, strict=True):
            instruction = Instruction.model_validate(raw)
            archive.forget_agent_calls(step, "generator")
            requests.append(
                GenerateRequest(
                    step=step,
                    seed=self.res.config.run.seed,
                    task=self.res.brief,
                    parent=archive.get(instruction.parent_id),
                    instruction=instruction,
                    triples=self._window(),
                )
            )
        made = generate_all(self.res.generator, requests)
        with atomic(archive):
            for req, (gen, gen_s) in zip(requests, made, strict=True):
                for call in gen.calls:
                    archive.add_agent_call(req.step, **call.model_dump())
                parent, instruction = req.parent, req.instruction
                diff = make_diff(parent.code or "", gen.code) if gen.code is not None else None
                cid = archive.add_candidate(
                    req.step,
                    parent_id=parent.id,
                    origin=self.res.generator.name,
                    modification=instruction.modification,
                    code=gen.code,
                    diff=diff,
                    gen_s=gen_s,
                    instruction=instruction.model_dump_json(),
                )
                if gen.code is None:
                    archive.set_failed(cid, FailureClass.GENERATION.value, gen.error or "no code")

    # --- check ---------------------------------------------------------------
    def check(self, state: SearchState) -> SearchState:
        """The task's static check in the orchestrator (no execution): it parses, it has the
        shape of a candidate."""
        for cand in self._cycle(state):
            if cand.status != "pending":
                continue
            try:
                form = self.res.task.check(cand.code or "")
            except ContractError as err:
                self.res.archive.set_failed(cand.id, err.failure_class.value, err.message)
                continue
            code = cand.code or ""
            mh = novelty.minhash(code, self.res.config.memory.num_perm)
            self.res.archive.set_checked(
                cand.id, form, novelty.structural_hash(code), novelty.to_bytes(mh)
            )
        passed = any(c.status == "checked" for c in self._cycle(state))
        return {"verdict": "checked" if passed else "invalid"}

    # --- novelty -------------------------------------------------------------
    def novelty(self, state: SearchState) -> SearchState:
        """Exact structural duplicate, else the same program up to its own names, else
        novel (see memory/novelty.py: a Jaccard threshold cannot tell a one-layer change of a
        400-line model from a copy).

        Candidates of one cycle are compared with each other too, in step order.
        """
        archive, index = self.res.archive, self.res.novelty
        novel = False
        for cand in self._cycle(state):
            if cand.status != "checked":
                continue
            mh = novelty.from_bytes(archive.signature(cand.id), index.num_perm)  # from check
            if cand.id not in index.sigs:
                same = archive.find_hash(cand.structural_hash or "", exclude=cand.id)
                renamed = None if same is not None else index.same_program(cand.code or "")
                if same is not None:
                    archive.set_duplicate(cand.id, same, f"structurally identical to #{same}")
                    continue
                if renamed is not None:
                    sim = mh.jaccard(index.sigs[renamed])
                    archive.set_duplicate(cand.id, renamed, f"the program of #{renamed} up to"
                                          f" names (MinHash-Jaccard {sim:.3f})")
                    continue
            index.add(cand.id, mh, cand.code or "")
            novel = True
        return {"verdict": "novel" if novel else "duplicate"}

    # --- evaluate ------------------------------------------------------------
    def evaluate(self, state: SearchState) -> SearchState:
        """Train the cycle's novel candidates in the sandbox, recording each as it completes."""
        todo = [c for c in self._cycle(state) if c.status == "checked"]
        likely_parents = todo + self.res.archive.top(TOP_PARENTS)
        work = []
        for agent in (self.res.generator, self.res.improver):
            if isinstance(agent, Prepares):  # optional: work to do while they train
                work += agent.prepare(likely_parents)
        evaluate_cycle(self.res, todo, work)
        return {"verdict": "evaluated"}

    # --- record --------------------------------------------------------------
    def record(self, state: SearchState) -> SearchState:
        """Write each step's triple, best.py and summary.json; report; move to the next cycle."""
        archive, step0 = self.res.archive, state["step"]
        instructions = state.get("instructions") or []
        for i, cand in enumerate(self._cycle(state)):
            archive.add_triple(
                self._triple(cand, instructions[i] if i < len(instructions) else None)
            )
        write_best(self.res.run_dir, archive)
        archive.set_meta("wall_s", self.res.wall_s())
        write_summary(
            self.res.run_dir,
            summarize(archive, status="running", wall_s=self.res.wall_s(), stop_reason=None),
        )
        self.res.task.after_cycle(self.res.run_dir, archive, step0)
        for cand in self._cycle(state):
            self.res.on_candidate(cand, cand.step)
        return {"step": step0 + len(state["candidates"])}

    def _triple(self, cand: Candidate, raw: dict | None) -> Triple:
        parent = self.res.archive.get(cand.parent_id) if cand.parent_id is not None else None
        failure = None if cand.status == "ok" else (cand.failure_class or "unknown")
        outcome, delta = describe_outcome(
            self.res.task.objective,
            cand.score,
            parent.score if parent else None,
            failure,
            self._duplicate_message(cand, parent) if cand.duplicate_of else cand.failure_message,
        )
        if cand.origin.startswith("seed:") or raw is None:
            problem = "seed architecture"
        else:
            problem = Instruction.model_validate(raw).problem
        return Triple(
            step=cand.step,
            candidate_id=cand.id,
            problem=problem,
            modification=cand.modification or "",
            outcome=outcome,
            delta=delta,
            failure_class=failure,
        )

    def _duplicate_message(self, cand: Candidate, parent: Candidate | None) -> str:
        """The duplicate filter's verdict for the memory: which program the change gave, and
        what that program scored (against this parent) when it was trained."""
        message = cand.failure_message or f"duplicate of #{cand.duplicate_of}"
        assert cand.duplicate_of is not None
        same = self.res.archive.get(cand.duplicate_of)
        if same.score is None:
            return f"{message}; #{same.id} {same.status}"
        objective = self.res.task.objective
        vs = ""
        if parent is not None and parent.score is not None:
            gain = objective.gain(same.score, parent.score)
            vs = f" ({gain:+.{objective.digits}f} vs parent)"
        return f"{message}; #{same.id} reached {objective.describe(same.score)}{vs}"

    # --- promote -------------------------------------------------------------
    def promote(self, state: SearchState) -> SearchState:
        """A round of multi-fidelity promotion when one is due (no-op when off)."""
        cfg = self.res.config
        step = state["step"]
        step0 = step - len(state.get("candidates") or [])
        if cfg.search.promote.enabled and due(step0, step, cfg.run.budget,
                                              cfg.search.promote.every):
            promote_round(self.res)
        return {}

    # --- finetune ------------------------------------------------------------
    def finetune(self, state: SearchState) -> SearchState:
        """Close a fine-tuning cycle when its last step is recorded (no-op when off)."""
        if self.res.cycles is not None:
            self.res.cycles.after_record(state["step"])
        return {}

    # --- improve -------------------------------------------------------------
    def improve(self, state: SearchState) -> SearchState:
        """The improver reads the last K triples and writes one instruction per next step.

        The next cycle's steps go to the improver as one batch (see `graph.batch`).
        """
        step, archive = state["step"], self.res.archive
        if step < len(self.res.seeds):
            return {"instructions": []}
        cycle = self._cycle(state)
        last = cycle[-1] if cycle else None
        parents = archive.top(TOP_PARENTS)
        search = self.res.config.search
        trained = archive.candidates("ok") if search.strategy != "greedy" else []
        window = self._window()
        tried = attempts.tried_pairs(archive)
        programs = attempts.program_hashes(archive, self.res.novelty.canonical)
        over_cap = [] if parents else attempts.over_cap(archive, TOP_PARENTS)
        credit = operator_credit(archive.triples()) if search.operator_credit == "bandit" else {}
        promoted = (promotions.means(promotions.read(archive.db)) if search.promote.enabled
                    else {})
        step_parents = [self._strategy_parents(trained, step + i) if trained else parents
                        for i in range(self.cycle_size(step))]
        shown = self._inspirations(step_parents)
        requests = [
            ImproveRequest(
                step=step + i,
                seed=self.res.config.run.seed,
                task=self.res.brief,
                triples=window,
                last=last,
                parents=ps,
                ordered=bool(trained),
                tried=tried,
                programs=programs,
                over_cap=over_cap,
                credit=credit,
                promoted=promoted,
                inspirations=shown[i],
                explore=self._explore(step + i),
            )
            for i, ps in enumerate(step_parents)
        ]
        for req in requests:
            archive.forget_agent_calls(req.step, "improver")
        instructions = []
        for req, result in zip(requests, improve_all(self.res.improver, requests), strict=True):
            for call in result.calls:
                archive.add_agent_call(req.step, **call.model_dump())
            instruction = result.instruction or self._fallback(result.error, parents)
            instructions.append(instruction.model_dump())
        return {"instructions": instructions}

    def _strategy_parents(self, trained: list[Candidate], step: int) -> list[Candidate]:
        """The parents of `step` under a population strategy, the sampled one first."""
        from nasloop.strategy.population import parents

        cfg = self.res.config
        if self.res.strategy is not None:
            from nasloop.strategy.custom import ordered_parents

            return ordered_parents(self.res.strategy, self.res.view, trained,
                                   self.res.task.objective, step, cfg.run.seed)
        return parents(trained, self.res.task.objective, cfg.search, len(self.res.seeds),
                       step, cfg.run.seed)

    def _explore(self, step: int) -> float:
        """The chance of exploring at `step` ([search] explore_schedule over the budget)."""
        from nasloop.strategy.schedule import explore_at

        cfg = self.res.config
        return explore_at(cfg.agents.explore, cfg.search.explore_end,
                          cfg.search.explore_schedule, step, len(self.res.seeds),
                          cfg.run.budget - 1)

    def _inspirations(self, step_parents: list[list[Candidate]]) -> list[list[Candidate]]:
        """Per step, the members of its population to show beside its parent (the first):
        `agents.inspirations` of them, for an improver that reads them."""
        n = self.res.config.agents.inspirations
        if n <= 0 or not isinstance(self.res.improver, ReadsInspirations):
            return [[] for _ in step_parents]
        from nasloop.strategy.inspirations import choose

        by_id = {c.id: c for c in self.res.archive.candidates()}
        return [choose(ps[0], ps[1:], n, by_id, self.res.task.objective) if ps else []
                for ps in step_parents]

    def _fallback(self, error: str | None, parents: list[Candidate]) -> Instruction:
        """An unusable answer was recorded; the loop goes on from the best candidate, else
        (nothing trained) from the newest one whose code is valid, never from one without."""
        base = parents[0] if parents else attempts.newest_valid(self.res.archive)
        if base is None:
            raise RuntimeError("no candidate to improve: no candidate so far has valid code")
        return Instruction(
            parent_id=base.id,
            problem=f"improver failed: {error}",
            modification="change the architecture in any way likely to raise accuracy",
        )

    # --- helpers -------------------------------------------------------------
    def _window(self) -> list[Triple]:
        return self.res.archive.triples(last=self.res.config.memory.k)


def after_plan(state: SearchState) -> str:
    return "end" if state.get("stop_reason") else "generate"


def after_check(state: SearchState) -> str:
    return "novelty" if state.get("verdict") == "checked" else "record"


def after_novelty(state: SearchState) -> str:
    return "evaluate" if state.get("verdict") == "novel" else "record"
