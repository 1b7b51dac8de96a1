"""The contract between a backend and its callers (``Function``, and later scan's inner graphs).

A backend provides (:class:`Backend`):

- ``pipeline``: the rewrites that run, in order, before it lowers a graph;
- ``compile(inputs, outputs, updated) -> Kernel`` for a graph already through that pipeline;
- optionally ``lookup_plan``/``store_plan``: a kernel for an *unoptimized* graph from what an
  earlier process stored for it, so a warm start skips the rewrites as well as the compile. The
  base class stores nothing.

A :class:`Kernel` is data: ``call(values) -> list`` (one array per input in, one per output out),
``loop`` (n steps inside compiled code, or None), ``source`` (generated text a user may read, or
None) and :class:`KernelInfo`, what callers need to know about it. Nothing about a kernel is
learnt by reading its source. A compiled backend may add :class:`DirectCall`: its entry with the
argument and result handling as printable lines, which a caller that prints its own call path
(``compile/fastcall.py``) inlines; ``call`` is built from the same lines. ``plan`` is what the
backend itself needs to rebuild the kernel in another process (opaque to everyone else).

>>> k = Kernel(call=lambda values: [values[0] + 1])
>>> k.call([1]), k.loop, k.info.inplace_slots
([2], None, ())
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ..graph import Variable


@dataclass(frozen=True)
class KernelInfo:
    """What a caller may rely on about a kernel, found when it was generated (and stored with it).

    - ``may_alias``: per result (outputs, then updates), whether it may share memory with an
      argument or an earlier result (the caller then copies it; see ``rewrite/alias.py``);
    - ``inplace_slots``: input slots whose buffer the kernel overwrites with their update;
    - ``row_slots``: input slots a row pass reads whole, as its matrix, in graph order;
    - ``wide_slot``: the input whose size picks the wide copy of a float32 row pass, or None;
    - ``threaded``: whether some part of the kernel runs on several threads;
    - ``loops``: whether it runs a loop of steps (a scan), whose small matrix products run best on one
      BLAS thread (``backend/numba/blas.py``).
    - ``arena``: whether it takes, last, a byte buffer its caller keeps between calls, from which it
      carves the arrays no caller sees (``backend/numba/arena.py``).
    - ``one_blas_thread``: whether it runs convolutions on threads; the call path then keeps
      its BLAS on one thread while it runs (``backend/numba/blas.py``).

    >>> KernelInfo(may_alias=(False,), row_slots=(0,)).threaded
    False
    """

    may_alias: tuple[bool, ...] = ()
    inplace_slots: tuple[int, ...] = ()
    row_slots: tuple[int, ...] = ()
    wide_slot: int | None = None
    threaded: bool = False
    loops: bool = False
    arena: bool = False
    one_blas_thread: bool = False


@dataclass(frozen=True)
class DirectCall:
    """A compiled kernel's entry with its argument and result handling as code to print.

    With ``values`` the expressions of the arguments (one per input slot, already of the inputs'
    types) and ``ENTRY``/``EXPLAIN`` names the caller binds to ``entry``/``explain``, a printed
    call of the kernel is::

        <the lines of prepare(values)[0], at one indentation>
        try:
            r = ENTRY(<prepare(values)[1], the entry's arguments>)
        except <errors> as e:
            EXPLAIN([<values>], e)     # raises the error again with a precise message
        ... result(k, "r") ...          # the expression of result k

    The lines assign only names ``k<digits>`` and read the globals in ``namespace`` (all named
    ``K_...``).

    >>> d = DirectCall(entry=abs, explain=None, prepare=lambda vs: ([], list(vs)),
    ...                result=lambda k, r: f"{r}[{k}]", errors=(ValueError,), namespace={})
    >>> d.prepare(["a0"]), d.result(0, "r")
    (([], ['a0']), 'r[0]')
    """

    entry: Callable
    explain: Callable[[list, Exception], None]
    prepare: Callable[[Sequence[str]], tuple[list[str], list[str]]]
    result: Callable[[int, str], str]
    errors: tuple[type, ...]
    namespace: Mapping[str, object]


@dataclass(frozen=True)
class Kernel:
    """A compiled graph: ``call(values) -> list of arrays``; see the module docstring."""

    call: Callable[[Sequence], list]
    loop: Callable[[int, Sequence], list] | None = None
    source: str | None = None
    info: KernelInfo = field(default_factory=KernelInfo)
    direct: DirectCall | None = None
    plan: object = None  # what the backend's store_plan keeps to rebuild it (opaque to callers)


class Backend:
    """A backend (see the module docstring). Subclasses set ``name`` and ``pipeline`` and define
    ``compile``; one that keeps plans across processes overrides the two plan methods."""

    name: str = ""
    pipeline: Callable[[list[Variable]], list[Variable]]

    def compile(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                updated: Mapping[int, int] | None = None) -> Kernel:
        """A kernel computing ``outputs`` (already through ``pipeline``) from values of ``inputs``.
        ``updated``: input slot -> index of the output that replaces it between steps of ``loop``."""
        raise NotImplementedError

    def lookup_plan(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                    updated: Mapping[int, int]) -> Kernel | None:
        """The kernel stored for this unoptimized graph by :meth:`store_plan`, or None."""
        return None

    def store_plan(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                   updated: Mapping[int, int], kernel: Kernel) -> None:
        """Remember ``kernel`` for this unoptimized graph (a later process may load it)."""

    def __repr__(self) -> str:
        return f"<symgrad backend {self.name!r}>"
