"""Testing helpers shipped with the library: ``verify_grad``, the check of a symbolic gradient
against central finite differences (PyTensor ships the same).

It compiles functions, so it sits above the compile layer; ``symgrad.gradient.verify_grad`` (as
Theano code spells it) reaches it through a lazy attribute of the gradient package.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .compile.function import function
from .gradient import grad
from .tensor.variable import as_tensor_variable, constant


class GradientError(AssertionError):
    """``verify_grad`` found a symbolic gradient that disagrees with finite differences."""


def verify_grad(fn: Callable, points: Sequence, n_tests: int = 1, rng=None, eps: float | None = None,
                abs_tol: float | None = None, rel_tol: float | None = None, mode: str | None = None) -> None:
    """Check ``grad`` of ``fn`` against central finite differences at ``points``.

    ``fn`` maps symbolic inputs (one per point, of the point's dtype and rank) to a symbolic output.
    The output is projected on a random tensor so every output element is checked. Raises
    :class:`GradientError` on disagreement.

    >>> import numpy as np, symgrad.tensor as T
    >>> verify_grad(lambda x: T.tanh(x) * x, [np.array([0.1, -0.7])])
    """
    rng = np.random.default_rng(42) if rng is None else rng
    points = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else "float64") for p in points]
    inputs = [as_tensor_variable(p).type(f"input_{i}") for i, p in enumerate(points)]
    out = as_tensor_variable(fn(*inputs))
    float32 = any(p.dtype == np.float32 for p in points) or out.dtype == "float32"
    eps = eps or (1e-3 if float32 else 1e-6)
    abs_tol = abs_tol or (1e-2 if float32 else 1e-5)
    rel_tol = rel_tol or (1e-2 if float32 else 1e-5)
    for _ in range(n_tests):
        probe_value = rng.uniform(0.5, 1.5, size=None) if out.ndim == 0 else None
        projection = constant(rng.uniform(0.5, 1.5, size=_shape_of(fn, inputs, out, points, mode)).astype(out.dtype)) \
            if probe_value is None else constant(np.asarray(probe_value, out.dtype))
        cost = (out * projection).sum()
        f_cost = function(inputs, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(inputs, grad(cost, inputs, disconnected_inputs="ignore"), mode=mode,
                          on_unused_input="ignore")
        analytic = f_grad(*points)
        for i, p in enumerate(points):
            if p.dtype.kind != "f":
                continue
            numeric = np.zeros(p.shape)
            flat = numeric.reshape(-1)
            for j in range(p.size):
                plus, minus = [q.copy() for q in points], [q.copy() for q in points]
                plus[i].reshape(-1)[j] += eps
                minus[i].reshape(-1)[j] -= eps
                flat[j] = (float(f_cost(*plus)) - float(f_cost(*minus))) / (2 * eps)
            err = np.abs(analytic[i] - numeric)
            if not np.all(err <= abs_tol + rel_tol * np.abs(numeric)):
                raise GradientError(
                    f"verify_grad: gradient of input {i} disagrees with finite differences\n"
                    f"analytic:\n{analytic[i]}\nnumeric:\n{numeric}\nmax abs error {err.max():.3g}")


def _shape_of(fn, inputs, out, points, mode):
    return np.shape(function(inputs, out, mode=mode, on_unused_input="ignore")(*points))
