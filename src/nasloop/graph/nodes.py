"""The loop's nodes. Each is idempotent per step: run again after a crash, it finds its own
earlier writes in the archive and does not redo them (no candidate is trained twice).
"""

from __future__ import annotations

import time

from nasloop.agents.base import GenerateRequest, ImproveRequest, Instruction
from nasloop.agents.delta import make_diff
from nasloop.graph.resources import Resources
from nasloop.graph.state import SearchState
from nasloop.memory import novelty
from nasloop.memory.triples import Triple, describe_outcome
from nasloop.sandbox.contract import ContractError, detect_form
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.job import EvalJob
from nasloop.summary import summarize, write_best, write_summary

TOP_PARENTS = 20  # the improver picks among these (the heuristic one keeps its own top k)


class LoopNodes:
    """plan -> generate -> check -> novelty -> evaluate -> record -> improve -> plan."""

    def __init__(self, res: Resources) -> None:
        self.res = res

    # --- plan ----------------------------------------------------------------
    def plan(self, state: SearchState) -> SearchState:
        """Apply the stop rules; otherwise clear the per-step fields for a new candidate."""
        cfg = self.res.config.run
        step = state["step"]
        reason = None
        if step >= cfg.budget:
            reason = "budget"
        elif cfg.max_wall_s and self.res.wall_s() >= cfg.max_wall_s:
            reason = "wall-time"
        elif cfg.patience and self._since_improvement() >= cfg.patience:
            reason = "patience"
        return {"stop_reason": reason, "candidate_id": None, "verdict": ""}

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
        step, archive = state["step"], self.res.archive
        existing = archive.db.execute(
            "SELECT id FROM candidates WHERE step = ?", (step,)
        ).fetchone()
        if existing:  # an earlier attempt at this step got this far
            return {"candidate_id": int(existing["id"])}
        t0 = time.perf_counter()
        if step < len(self.res.seeds):
            name, code = self.res.seeds[step]
            cid = archive.add_candidate(
                step,
                parent_id=None,
                origin=f"seed:{name}",
                modification=f"seed:{name}",
                code=code,
                diff=None,
                gen_s=time.perf_counter() - t0,
            )
            return {"candidate_id": cid}
        instruction = Instruction.model_validate(state["instruction"])
        parent = archive.get(instruction.parent_id)
        archive.forget_agent_calls(step, "generator")
        gen = self.res.generator.generate(
            GenerateRequest(
                step=step,
                seed=self.res.config.run.seed,
                task=self.res.task,
                parent=parent,
                instruction=instruction,
                triples=self._window(),
            )
        )
        for call in gen.calls:
            archive.add_agent_call(step, **call.model_dump())
        diff = make_diff(parent.code or "", gen.code) if gen.code is not None else None
        cid = archive.add_candidate(
            step,
            parent_id=parent.id,
            origin=self.res.generator.name,
            modification=instruction.modification,
            code=gen.code,
            diff=diff,
            gen_s=time.perf_counter() - t0,
        )
        if gen.code is None:
            archive.set_failed(cid, FailureClass.GENERATION.value, gen.error or "no code")
        return {"candidate_id": cid}

    # --- check ---------------------------------------------------------------
    def check(self, state: SearchState) -> SearchState:
        """Static checks in the orchestrator: it parses, and it has a usable Net (no execution)."""
        cand = self.res.archive.get(state["candidate_id"])
        if cand.status != "pending":
            return {"verdict": "checked" if cand.status == "checked" else "invalid"}
        try:
            form = detect_form(cand.code or "")
        except ContractError as err:
            self.res.archive.set_failed(cand.id, err.failure_class.value, err.message)
            return {"verdict": "invalid"}
        code = cand.code or ""
        mh = novelty.minhash(code, self.res.config.memory.num_perm)
        self.res.archive.set_checked(
            cand.id, form, novelty.structural_hash(code), novelty.to_bytes(mh)
        )
        return {"verdict": "checked"}

    # --- novelty -------------------------------------------------------------
    def novelty(self, state: SearchState) -> SearchState:
        """Exact structural duplicate, else MinHash-Jaccard near duplicate, else novel."""
        archive, index = self.res.archive, self.res.novelty
        cand = archive.get(state["candidate_id"])
        if cand.status == "duplicate":
            return {"verdict": "duplicate"}
        mh = novelty.minhash(cand.code or "", index.num_perm)
        if cand.status == "checked" and cand.id not in index.sigs:
            same = archive.find_hash(cand.structural_hash or "", exclude=cand.id)
            near = None if same is not None else index.nearest_duplicate(mh)
            if same is not None:
                archive.set_duplicate(cand.id, same, f"structurally identical to #{same}")
                return {"verdict": "duplicate"}
            if near is not None:
                archive.set_duplicate(
                    cand.id, near[0], f"MinHash-Jaccard {near[1]:.3f} with #{near[0]}"
                )
                return {"verdict": "duplicate"}
        index.add(cand.id, mh)
        return {"verdict": "novel"}

    # --- evaluate ------------------------------------------------------------
    def evaluate(self, state: SearchState) -> SearchState:
        """Train the candidate in the sandbox (skipped when a result is already recorded)."""
        archive = self.res.archive
        cand = archive.get(state["candidate_id"])
        if cand.status in ("ok", "failed"):
            return {"verdict": "evaluated"}
        t = self.res.config.train
        job = EvalJob(
            candidate_id=cand.id,
            code=cand.code or "",
            dataset=self.res.config.data.dataset,
            data_dir=self.res.config.data.data_dir,
            epochs=t.epochs,
            batch_size=t.batch_size,
            lr=t.lr,
            momentum=t.momentum,
            optimizer=t.optimizer,
            seed=self.res.config.run.seed,
            max_params=t.max_params,
            time_limit_s=t.time_limit_s,
            memory_limit_mb=t.memory_limit_mb,
            threads=t.threads,
            device=t.device,
        )
        archive.start_eval(cand.id)
        t0 = time.perf_counter()
        result = self.res.executor.result(self.res.executor.submit(job))
        wall = time.perf_counter() - t0  # as the orchestrator waited for it, sandbox included
        if result.status == "ok":
            archive.set_ok(
                cand.id,
                form=result.form,
                metrics=result.metrics,
                eval_wall_s=wall,
                log_tail=result.log_tail,
            )
        else:
            archive.set_failed(
                cand.id,
                result.failure_class or FailureClass.CRASH.value,
                result.message or "failed",
                result.traceback_tail,
                form=result.form,
                metrics=result.metrics,
                eval_wall_s=wall,
                log_tail=result.log_tail,
            )
        return {"verdict": "evaluated"}

    # --- record --------------------------------------------------------------
    def record(self, state: SearchState) -> SearchState:
        """Write the step's triple, best.py and summary.json; report the candidate; next step."""
        archive, step = self.res.archive, state["step"]
        cand = archive.get(state["candidate_id"])
        parent = archive.get(cand.parent_id) if cand.parent_id is not None else None
        outcome, delta = describe_outcome(
            cand.val_accuracy,
            parent.val_accuracy if parent else None,
            None if cand.status == "ok" else (cand.failure_class or "unknown"),
            cand.failure_message,
        )
        if cand.origin.startswith("seed:"):
            problem = "seed architecture"
        else:
            problem = Instruction.model_validate(state["instruction"]).problem
        archive.add_triple(
            Triple(
                step=step,
                candidate_id=cand.id,
                problem=problem,
                modification=cand.modification or "",
                outcome=outcome,
                delta=delta,
                failure_class=None if cand.status == "ok" else cand.failure_class,
            )
        )
        write_best(self.res.run_dir, archive)
        archive.set_meta("wall_s", self.res.wall_s())
        write_summary(
            self.res.run_dir,
            summarize(archive, status="running", wall_s=self.res.wall_s(), stop_reason=None),
        )
        self.res.on_candidate(archive.get(cand.id), step)
        return {"step": step + 1}

    # --- improve -------------------------------------------------------------
    def improve(self, state: SearchState) -> SearchState:
        """The improver reads the last K triples and writes the instruction for the next step."""
        step, archive = state["step"], self.res.archive
        if step < len(self.res.seeds) or step >= self.res.config.run.budget:
            return {"instruction": None}
        parents = archive.top(TOP_PARENTS)
        last = archive.get(state["candidate_id"]) if state.get("candidate_id") else None
        archive.forget_agent_calls(step, "improver")
        result = self.res.improver.improve(
            ImproveRequest(
                step=step,
                seed=self.res.config.run.seed,
                task=self.res.task,
                triples=self._window(),
                last=last,
                parents=parents,
            )
        )
        for call in result.calls:
            archive.add_agent_call(step, **call.model_dump())
        instruction = result.instruction
        if instruction is None:
            # An unusable answer is recorded (above) and the loop goes on from the best.
            fallback = parents[0] if parents else last
            if fallback is None:
                raise RuntimeError("no candidate to improve: every seed failed to generate")
            instruction = Instruction(
                parent_id=fallback.id,
                problem=f"improver failed: {result.error}",
                modification="change the architecture in any way likely to raise accuracy",
            )
        return {"instruction": instruction.model_dump()}

    # --- helpers -------------------------------------------------------------
    def _window(self) -> list[Triple]:
        return self.res.archive.triples(last=self.res.config.memory.k)


def after_plan(state: SearchState) -> str:
    return "end" if state.get("stop_reason") else "generate"


def after_check(state: SearchState) -> str:
    return "novelty" if state.get("verdict") == "checked" else "record"


def after_novelty(state: SearchState) -> str:
    return "evaluate" if state.get("verdict") == "novel" else "record"
