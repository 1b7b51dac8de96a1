"""The rewrite pipeline as data: named passes run in order, so the order is stated in one place and
a backend extends it by naming its own passes instead of being probed for hooks.

>>> import symgrad.tensor as T
>>> p = Pipeline((Pass("double", lambda outs: [o * 2 for o in outs]),))
>>> p.then(Pass("negate", lambda outs: [-o for o in outs])).names
('double', 'negate')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..graph import Variable


@dataclass(frozen=True)
class Pass:
    """One rewrite: ``run(outputs) -> new outputs`` (graphs are never edited in place)."""

    name: str
    run: Callable[[list[Variable]], list[Variable]]


@dataclass(frozen=True)
class Pipeline:
    """Passes applied in order; calling it runs them all."""

    passes: tuple[Pass, ...]

    def __call__(self, outputs: list[Variable]) -> list[Variable]:
        outputs = list(outputs)
        for p in self.passes:
            outputs = p.run(outputs)
        return outputs

    def then(self, *passes: Pass) -> "Pipeline":
        """This pipeline followed by ``passes``."""
        return Pipeline(self.passes + tuple(passes))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.passes)
