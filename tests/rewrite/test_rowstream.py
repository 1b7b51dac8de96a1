"""Row streaming: dot(X.T, f(dot(X, w), ...)) in one pass, equal to the unfused graph."""
import re

import numba
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import BACKEND as numba_backend
from symgrad.backend.numba import call as numba_call
from symgrad.backend.numba.plan import wide_slot
from symgrad.backend.numpy import BACKEND as numpy_backend
from symgrad.graph import toposort
from symgrad.rewrite import optimize
from symgrad.rewrite.rowstream import RowStream, fuse_row_streams


def _logreg_graph(dtype="float64"):
    x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
    w, b = T.vector("w", dtype=dtype), T.scalar("b", dtype=dtype)
    p = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p) - (1 - y) * T.log(1 - p)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    return [x, y, w, b], [p > 0.5, xent, cost, gw, gb]


def _data(n, feats, dtype, rng):
    return [rng.standard_normal((n, feats)).astype(dtype), (rng.random(n) > 0.5).astype(dtype),
            (rng.standard_normal(feats) * 0.3).astype(dtype), np.asarray(0.2, dtype)]


def test_the_logistic_regression_step_becomes_one_row_stream():
    inputs, outputs = _logreg_graph()
    fused = fuse_row_streams(optimize(outputs))
    streams = [n for n in toposort(fused) if isinstance(n.op, RowStream)]
    assert len(streams) == 1
    op = streams[0].op
    assert len(op.sum_exprs) >= 1  # the bias gradient (and the cost) are summed inside the pass
    assert not any(type(n.op).__name__ == "Dot" for n in toposort(fused))  # both products are in the pass


@pytest.mark.parametrize("backend", [numpy_backend, numba_backend], ids=["numpy", "numba"])
@pytest.mark.parametrize("n", [1, 3, 4, 13, 40])
def test_row_stream_equals_the_unfused_graph(backend, n, rng):
    inputs, outputs = _logreg_graph()
    values = _data(n, 7, "float64", rng)
    expected = numpy_backend.compile(inputs, optimize(outputs)).call(values)
    got = backend.compile(inputs, fuse_row_streams(optimize(outputs))).call(values)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_float32_row_stream_stays_float32(rng):
    inputs, outputs = _logreg_graph("float32")
    values = _data(21, 5, "float32", rng)
    expected = numpy_backend.compile(inputs, optimize(outputs)).call(values)
    kernel = numba_backend.compile(inputs, fuse_row_streams(optimize(outputs)))
    got = kernel.call(values)
    assert "np.float64" not in kernel.source.split("def rowpass0")[1].split("def kernel")[0]
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_mismatched_rows_are_an_error_naming_the_inputs(mode, rng):
    inputs, outputs = _logreg_graph()
    f = sg.function(inputs, outputs, mode=mode)
    x, y, w, b = _data(8, 3, "float64", rng)
    with pytest.raises(ValueError, match="'y'|'x'"):
        f(x, y[:5], w, b)
    with pytest.raises(ValueError, match="'x'.*'w'|'w'|dot"):
        f(x, y, w[:2], b)


def test_a_gradient_that_is_not_row_wise_is_left_alone():
    x, w = T.dmatrix("x"), T.dvector("w")
    z = T.dot(x, w)
    r = z - z.mean()  # needs all rows before any row's value is known
    g = T.dot(x.T, r)
    fused = fuse_row_streams(optimize([g]))
    assert not any(isinstance(n.op, RowStream) for n in toposort(fused))


def test_the_seed_function_uses_the_row_stream_on_numba(rng):
    inputs, outputs = _logreg_graph()
    f = sg.function(inputs, outputs, mode="numba")
    assert "def rowpass0_rows(" in f.source
    values = _data(17, 6, "float64", rng)
    g = sg.function(inputs, outputs, mode="numpy")
    for a, b in zip(f(*values), g(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def _par_kernel(inputs, outputs, chunks, monkeypatch, parallel=True):
    from symgrad.backend.numba import rowpass

    monkeypatch.setattr(rowpass, "ROW_THREADS", chunks)
    monkeypatch.setattr(sg.config, "parallel", parallel)
    return numba_backend.compile(inputs, fuse_row_streams(optimize(outputs)))


def test_a_large_row_pass_runs_in_chunks_on_threads_and_equals_the_unfused_graph(monkeypatch, rng):
    inputs, outputs = _logreg_graph()
    values = _data(333, 320, "float64", rng)  # 106 560 elements: above the parallel threshold
    kernel = _par_kernel(inputs, outputs, 3, monkeypatch)
    assert "run_chunks(" in kernel.source and re.search(r"row_chunks\(\w+, \w+, 3\)", kernel.source)
    expected = numpy_backend.compile(inputs, optimize(outputs)).call(values)
    got = kernel.call(values)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    again = kernel.call(values)  # fixed chunks, summed in chunk order: the same bits every call
    for a, b in zip(got, again):
        assert np.array_equal(a, b)
    numba.set_num_threads(1)  # the same chunks on one thread: the same bits
    try:
        for a, b in zip(got, kernel.call(values)):
            assert np.array_equal(a, b)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_config_parallel_false_generates_a_serial_row_pass(monkeypatch, rng):
    inputs, outputs = _logreg_graph()
    values = _data(333, 320, "float64", rng)
    kernel = _par_kernel(inputs, outputs, 3, monkeypatch, parallel=False)
    assert "run_chunks" not in kernel.source
    expected = numpy_backend.compile(inputs, optimize(outputs)).call(values)
    for a, b in zip(kernel.call(values), expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def _dispatchers(source):
    """The jitted functions of the kernel module holding ``source``."""
    import sys

    for m in list(sys.modules.values()):
        path = getattr(m, "__file__", None) or ""
        if "symgrad_kernel_" not in path or not hasattr(m, "kernel"):
            continue
        try:
            with open(path) as f:
                text = f.read()
        except OSError:  # loaded from a cache folder another test has since purged
            continue
        if source in text:
            return m
    raise AssertionError("kernel module not found")


def _wide_block(monkeypatch):
    """A wide copy exists only where its block differs from the narrow one (emit.host_row_block:
    not on x86 without AVX-512): force one, so the tests below run on every CPU."""
    from symgrad.backend.numba import plan

    monkeypatch.setattr(plan, "ROW_BLOCK_WIDE", 16)


def test_the_row_block_follows_the_vector_registers(monkeypatch):
    from symgrad.backend.numba import plan
    from symgrad.backend.numba.emit import ROW_BLOCK, host_row_block

    assert host_row_block("x86_64", "+avx2,+fma,+avx512f") == 8  # 32 vector registers
    assert host_row_block("x86_64", "+avx2,+fma,-avx512f") == 4  # 16
    assert host_row_block("x86_64", "") == 4 and host_row_block("aarch64", "") == 8
    from symgrad.backend.numba import emit

    def unknown():
        raise RuntimeError("no features")

    monkeypatch.setattr(emit.numba.config, "CPU_FEATURES", None)
    monkeypatch.setattr(emit.numba.config, "CPU_NAME", None)
    monkeypatch.setattr(emit.binding, "get_host_cpu_features", unknown)
    assert host_row_block("x86_64") == 4  # LLVM cannot tell: the smaller register file
    monkeypatch.setattr(emit.numba.config, "CPU_FEATURES", "+avx2,+avx512f")
    assert host_row_block("x86_64") == 8  # numba's target features, when set, decide
    monkeypatch.undo()
    inputs, outputs = _logreg_graph()
    kernel = _par_kernel(inputs, outputs, 1, monkeypatch)
    assert f"range(lo, nb, {ROW_BLOCK})" in kernel.source
    inputs, outputs = _logreg_graph("float32")
    fused = fuse_row_streams(optimize(outputs))
    monkeypatch.setattr(plan, "ROW_BLOCK_WIDE", ROW_BLOCK)  # no wider block: no wide copy
    assert wide_slot(inputs, fused) is None
    monkeypatch.setattr(plan, "ROW_BLOCK_WIDE", 2 * ROW_BLOCK)
    assert wide_slot(inputs, fused) == 0


@pytest.mark.parametrize("chunks", [1, 3])
def test_large_float32_inputs_run_a_wide_copy_of_the_kernel(chunks, monkeypatch, rng):
    _wide_block(monkeypatch)
    inputs, outputs = _logreg_graph("float32")
    kernel = _par_kernel(inputs, outputs, chunks, monkeypatch)
    assert kernel.info.row_slots == (0,) and kernel.info.wide_slot == 0
    assert "def rowpass0_rows_W(" in kernel.source
    assert "range(lo, nb, 16)" in kernel.source.split("def rowpass0_rows_W(")[1].split("\ndef ")[0]
    module = _dispatchers(kernel.source)
    values = _data(333, 320, "float32", rng)  # 333 rows: blocks of 16 and rows left over per chunk
    expected = numpy_backend.compile(inputs, optimize(outputs)).call(values)
    narrow = kernel.call(values)
    assert module.kernel_W.signatures == []  # small data: the wide copy is not even compiled
    monkeypatch.setattr(numba_call, "WIDE_MIN_BYTES", values[0].nbytes)
    wide = kernel.call(values)
    assert len(module.kernel_W.signatures) == 1
    for a, b, c in zip(wide, expected, narrow):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)
        np.testing.assert_allclose(a, c, rtol=2e-5, atol=1e-5)


def test_only_a_float32_row_pass_reading_an_input_gets_a_wide_copy(monkeypatch):
    _wide_block(monkeypatch)
    inputs, outputs = _logreg_graph("float64")
    assert wide_slot(inputs, fuse_row_streams(optimize(outputs))) is None
    x, y, w = T.matrix("x", dtype="float32"), T.vector("y", dtype="float32"), T.vector("w", dtype="float32")
    z = T.dot(x * 2, w)  # the pass reads a computed matrix: its size is known only inside the kernel
    g = T.grad(((T.nnet.sigmoid(z) - y) ** 2).sum(), w)
    fused = fuse_row_streams(optimize([g]))
    assert any(isinstance(n.op, RowStream) for n in toposort(fused))
    assert wide_slot([x, y, w], fused) is None
    inputs, outputs = _logreg_graph("float32")
    assert wide_slot(inputs, fuse_row_streams(optimize(outputs))) == 0
