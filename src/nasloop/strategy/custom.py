"""A search strategy of the user's own: `[search] strategy = "module:Class"`.

The class is built with no arguments and answers `parents(archive, step, seed)`: the ids of
the candidates to work from at `step`, the one to mutate first. `archive` is the run's
read-only view (`nasloop.inspect.rundir.RunView`: candidates, scores, triples, meta). Ids
that are not trained candidates are skipped; every other trained candidate follows, ranked,
so the improver always has a fallback. Randomness should come from (seed, step), so a
resumed run makes the choices an uninterrupted one would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from nasloop.config import STRATEGIES, Config, ConfigError
from nasloop.plugins import load_class
from nasloop.strategy.population import rank

if TYPE_CHECKING:
    from nasloop.inspect.rundir import RunView
    from nasloop.memory.archive import Candidate
    from nasloop.tasks.base import Objective


@runtime_checkable
class Strategy(Protocol):
    def parents(self, archive: RunView, step: int, seed: int) -> list[int]: ...


def build_strategy(config: Config) -> Strategy | None:
    """The configured strategy of the user's own (None for a built-in one); a one-line
    ConfigError when its import path does not name a usable class."""
    path = config.search.strategy
    if path in STRATEGIES:
        return None
    cls = load_class(path, "search.strategy")
    try:
        strategy = cls()
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"bad config: field 'search.strategy': {path} could not be built "
                          f"({type(err).__name__}: {first})") from None
    if not isinstance(strategy, Strategy):
        raise ConfigError(f"bad config: field 'search.strategy': {path} has no parents() "
                          "method")
    return strategy


def ordered_parents(strategy: Strategy, archive: RunView, trained: list[Candidate],
                    objective: Objective, step: int, seed: int) -> list[Candidate]:
    """The strategy's parents for `step` (trained ones, in its order, once each), then every
    other trained candidate, ranked."""
    by_id = {c.id: c for c in trained}
    chosen = [by_id[i] for i in dict.fromkeys(strategy.parents(archive, step, seed))
              if i in by_id]
    inside = {c.id for c in chosen}
    return chosen + [c for c in rank(trained, objective) if c.id not in inside]
