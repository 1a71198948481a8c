"""The report's view of a population strategy: the MAP-Elites grid, the islands, the
Pareto front, as `[search] strategy` built them at the end of the run."""

from __future__ import annotations

from html import escape
from typing import Any

from nasloop.config import SearchConfig
from nasloop.memory.archive import Candidate
from nasloop.strategy.population import elites, front, islands
from nasloop.tasks.base import Objective


def _who(c: Candidate, objective: Objective) -> str:
    return f"#{c.id} {objective.format(c.score)}"


def population_section(config: dict[str, Any], cands: list[Candidate],
                       objective: Objective) -> tuple[str, str] | None:
    """(title, HTML) of the run's population, or None for greedy (or an unreadable config)."""
    try:
        cfg = SearchConfig.model_validate(config.get("search") or {})
    except ValueError:
        return None
    trained = [c for c in cands if c.status == "ok" and c.score is not None]
    if cfg.strategy == "greedy" or not trained:
        return None
    by_id = {c.id: c for c in trained}
    if cfg.strategy == "map-elites":
        grid = elites(trained, objective, by_id)
        sizes = sorted({k[0] for k in grid})
        families = sorted({k[1] for k in grid})
        head = "".join(f"<th>seed #{f}</th>" for f in families)
        rows = "".join(
            f'<tr class="cell-row"><td>2^{s}..2^{s + 1}</td>'
            + "".join(f"<td>{escape(_who(grid[(s, f)], objective)) if (s, f) in grid else ''}"
                      "</td>" for f in families) + "</tr>" for s in sizes)
        return (f"MAP-Elites grid ({len(grid)} cells)",
                f'<table id="grid"><tr><th>params</th>{head}</tr>{rows}</table>')
    if cfg.strategy == "pareto":
        members = front(trained, objective, cfg.size)
        rows = "".join(f'<tr class="front"><td>#{c.id}</td><td>{objective.format(c.score)}</td>'
                       f"<td>{c.params if cfg.size == 'params' else c.flops}</td></tr>"
                       for c in members)
        return (f"Pareto front ({objective.metric} against {cfg.size})",
                f'<table id="front"><tr><th>id</th><th>{escape(objective.metric)}</th>'
                f"<th>{cfg.size}</th></tr>{rows}</table>")
    n_seeds = sum(c.origin.startswith("seed:") for c in cands)
    pops = islands(trained, objective, n_seeds, cfg.islands, cfg.migrate_every)
    rows = "".join(f'<tr class="island"><td>{i}</td><td>{len(m)}</td>'
                   f"<td>{escape(_who(m[0], objective)) if m else ''}</td></tr>"
                   for i, m in enumerate(pops))
    return (f"Islands ({cfg.islands}, migration every {cfg.migrate_every} steps)",
            f'<table id="islands"><tr><th>island</th><th>members</th><th>best</th></tr>'
            f"{rows}</table>")
