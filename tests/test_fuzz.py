"""Differential fuzzer: random expression graphs on both backends against numpy (issue 5).

Each hypothesis example is a random :class:`tests.fuzz_graphs.Plan` (elementwise ops with
declared broadcasting, reductions, dot, indexing and inc/set_subtensor, reshape, softmax,
join/stack; float64, float32, some int and bool inputs; shapes 0..4 per dimension). On each backend
ONE function is compiled holding every output and the gradient of ``sum_k sum(out_k * w_k)``
with respect to every float input; it must agree with a direct numpy evaluation of the same
expression (dtype, shape, NaN positions, rtol 1e-10 for float64 / 1e-4 where a float32
computation feeds the value, the same exception type where numpy raises) and with central finite
differences of that evaluation (in float64). Gradients are checked on "tame" plans, which the
generator keeps away from kinks and domain edges; "wild" plans compare NaN/inf values only.

The normal suite runs 15 derandomized examples per backend (deterministic in CI, about 10 s).
Longer runs (``-n 0``: one process, no xdist workers)::

    SYMGRAD_FUZZ_EXAMPLES=500 SYMGRAD_CACHE_DIR=/tmp/sgc_fuzz python -m pytest -q -n 0 tests/test_fuzz.py
    SYMGRAD_FUZZ_SEED=7 SYMGRAD_FUZZ_EXAMPLES=500 ...   # a different random stream
    SYMGRAD_FUZZ_NODES=12 ...                           # bigger graphs (default: up to 8 nodes)

A failing example prints its plan (``Plan(...)``, pasteable into ``@example(plan=...)`` or into
``tests.fuzz_graphs.check_plan(plan, mode)``) and a readable listing of its nodes. Failures
found this way are kept as plain tests in ``tests/test_fuzz_regressions.py``.
The hypothesis database is off (``database=None``), so nothing is written into the repository.
"""
import os

import pytest

pytest.importorskip("hypothesis")  # the "test" extra
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.conftest import BACKENDS  # noqa: E402
from tests.fuzz_graphs import check_plan, plans  # noqa: E402

EXAMPLES = int(os.environ.get("SYMGRAD_FUZZ_EXAMPLES", "15"))
NODES = int(os.environ.get("SYMGRAD_FUZZ_NODES", "8"))
SEED = os.environ.get("SYMGRAD_FUZZ_SEED")


def _fuzz_settings(test):
    test = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=SEED is None,
                    print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])(test)
    return seed(int(SEED))(test) if SEED is not None else test


@pytest.mark.parametrize("mode", BACKENDS)
@_fuzz_settings
@given(plan=plans(max_nodes=NODES))
def test_random_graphs_match_numpy(mode, plan):
    check_plan(plan, mode)
