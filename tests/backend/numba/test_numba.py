"""The numba backend's own behaviour: one generated kernel, the disk cache, loop, parts."""
import json
import re
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import cache as kernel_cache
from symgrad.backend.numba import codegen
from symgrad.backend.numba.plan import PLAN_VERSION
from symgrad.backend.numba.plan import _digest as _plan_digest


def _seed_function(mode, rng):
    X = rng.standard_normal((30, 8))
    Y = (rng.random(30) > 0.5).astype(float)
    x, y = T.matrix("x"), T.vector("y")
    w = sg.shared(rng.standard_normal(8) * 0.1, name="w")
    b = sg.shared(0.0, name="b")
    p = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p) - (1 - y) * T.log(1 - p)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    f = sg.function([x, y], [p > 0.5, cost], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode)
    return f, (X, Y), w, b


def test_the_whole_graph_is_one_kernel():
    x = T.dvector("x")
    f = sg.function([x], [T.exp(x).sum(), T.dot(x, x)], mode="numba")
    assert len(re.findall(r"^def kernel\(", f.source, flags=re.MULTILINE)) == 1
    assert "blas_dot(" in f.source
    np.testing.assert_allclose(f(np.array([0.0, 1.0]))[0], 1 + np.e)


def test_a_constant_shape_entry_is_one_read():
    """``x.shape[0]`` (Shape_i after the rewrites) prints as one length read, not a shape vector
    indexed with a bounds check."""
    x = T.dmatrix("x")
    f = sg.function([x], x.sum() / x.shape[0], mode="numba")
    assert "new_vector" not in f.source and "index_error_if" not in f.source
    assert re.search(r"^    v\d+ = a0\.shape\[0\]$", f.source, flags=re.MULTILINE)
    assert f(np.ones((4, 3))) == 3.0


def test_numpy_mode_has_no_source():
    x = T.dvector("x")
    assert sg.function([x], x + 1, mode="numpy").source is None


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_loop_equals_repeated_calls(mode, rng):
    f, args, w, b = _seed_function(mode, rng)
    w0, b0 = w.get_value(), b.get_value()
    for _ in range(7):
        expected = f(*args)
    w_calls, b_calls = w.get_value(), b.get_value()
    w.set_value(w0)
    b.set_value(b0)
    got = f.loop(7, *args)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-13)
    np.testing.assert_allclose(w.get_value(), w_calls, rtol=1e-13)
    np.testing.assert_allclose(b.get_value(), b_calls, rtol=1e-13)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_loop_rejects_bad_step_counts(mode):
    c = sg.shared(0.0, name="c")
    f = sg.function([], c, updates=[(c, c + 1)], mode=mode)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_steps"):
            f.loop(bad)
    assert float(c.get_value()) == 0.0


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_failed_loop_changes_no_shared_variable(mode):
    x = T.dmatrix("x")
    w = sg.shared(np.ones(3), name="w")
    f = sg.function([x], T.dot(x, w).sum(), updates=[(w, w * 2)], mode=mode)
    with pytest.raises(ValueError, match="'x'|dot"):
        f.loop(5, np.ones((2, 4)))  # inner dimensions disagree
    np.testing.assert_array_equal(w.get_value(), np.ones(3))


def test_kernel_errors_name_the_variables():
    x, y = T.dvector("x"), T.dvector("y")
    f = sg.function([x, y], x + y, mode="numba")
    with pytest.raises(ValueError, match="'x'.*size 3.*'y'.*size 4|'y'.*'x'"):
        f(np.ones(3), np.ones(4))


def test_index_out_of_bounds_raises_instead_of_reading_memory():
    x, i = T.dvector("x"), T.lscalar("i")
    f = sg.function([x, i], x[i], mode="numba")
    assert float(f(np.arange(3.0), -1)) == 2.0
    for bad in (3, -4, 10 ** 9):
        with pytest.raises(IndexError, match="out of bounds"):
            f(np.arange(3.0), bad)
    idx = T.lvector("idx")
    g = sg.function([x, idx], x[idx], mode="numba")
    with pytest.raises(IndexError, match="out of bounds"):
        g(np.arange(3.0), np.array([0, 3]))


def test_cache_entry_is_written_and_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
    x = T.dvector("x")
    f = sg.function([x], T.tanh(x) * 3, mode="numba")
    np.testing.assert_allclose(f(np.array([0.5])), np.tanh([0.5]) * 3)
    modules = list(tmp_path.glob("env-*/symgrad_kernel_*.py"))
    assert len(modules) == 1
    assert modules[0].read_text().count("def kernel(") == 1
    g = sg.function([x], T.tanh(x) * 3, mode="numba")  # same graph: same module
    assert list(tmp_path.glob("env-*/symgrad_kernel_*.py")) == modules
    np.testing.assert_allclose(g(np.array([0.5])), np.tanh([0.5]) * 3)


def test_damaged_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
    x = T.dvector("x")
    generated = codegen.generate([x], [T.sin(x) + 41])
    text_ns = kernel_cache.load_module(generated)
    (module,) = tmp_path.glob("env-*/symgrad_kernel_*.py")
    module.write_text(module.read_text()[:40])  # truncated
    import sys
    sys.modules.pop(module.stem, None)
    ns = kernel_cache.load_module(generated)
    assert module.read_text().count("def kernel(") == 1
    np.testing.assert_allclose(ns["kernel"](np.array([0.0]))[0], [41.0])
    assert text_ns is not None


def test_unwritable_cache_dir_compiles_in_memory_with_one_warning(tmp_path, monkeypatch):
    target = tmp_path / "not-a-dir"
    target.write_text("a file where the cache directory should be")
    monkeypatch.setattr(sg.config, "cache_dir", str(target / "sub"))
    monkeypatch.setattr(kernel_cache, "_warned", False)
    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = sg.function([x], x * 7 + 1, mode="numba")
        g = sg.function([x], x * 8 + 1, mode="numba")
    np.testing.assert_allclose(f(np.array([1.0])), [8.0])
    np.testing.assert_allclose(g(np.array([1.0])), [9.0])
    assert sum("compiling in memory" in str(w.message) for w in caught) == 1


def test_large_graphs_are_split_into_parts(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_PART_LINES", 12)
    x = T.dvector("x")
    y = x
    outs = []
    for k in range(6):
        y = T.sin(y) * (k + 1) + T.cos(y).sum()
        outs.append(y)
    f = sg.function([x], outs, mode="numba")
    assert "def kernel_part1(" in f.source
    ref = sg.function([x], outs, mode="numpy")
    v = np.array([0.1, -0.4, 2.0])
    for a, b in zip(f(v), ref(v)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_parts_end_where_few_values_cross(monkeypatch):
    # each step's product and its tanh are both read at the end: a part that passes on more than
    # one value runs on towards four times MAX_PART_LINES instead of ending at MAX_PART_LINES
    monkeypatch.setattr(codegen, "MAX_PART_LINES", 8)
    limit = 1
    monkeypatch.setattr(codegen, "MAX_PART_CROSSING", limit)
    x = T.dvector("x")
    ys = [y for k in range(12) for y in (x * (k + 1), T.tanh(x * (k + 1)))]
    out = T.stack(ys).sum(axis=0)
    module = codegen.generate([x], [out])
    (seq,) = module.parts
    sources = {f.name: f.source for f in module.functions}
    sizes = [sources[call.name].count("\n") - 1 for call in seq.calls]  # (without the def and return lines)
    for call, lines in zip(seq.calls[:-1], sizes):
        assert len(call.returns) <= limit or lines > 2 * codegen.MAX_PART_LINES, (call.name, call.returns)
    assert max(sizes) > 2 * codegen.MAX_PART_LINES and max(sizes) <= 4 * codegen.MAX_PART_LINES
    f = sg.function([x], out, mode="numba")
    v = np.array([0.1, -0.4, 2.0])
    np.testing.assert_allclose(f(v), sum(v * (k + 1) + np.tanh(v * (k + 1)) for k in range(12)), rtol=1e-14)


def test_a_cut_counts_only_what_its_part_passes_on(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_PART_LINES", 2)
    monkeypatch.setattr(codegen, "MAX_PART_CROSSING", 2)
    line = ["x"]
    chunks = [(line * 3, set(), {"a", "b"}), (line, set(), {"c"}), (line, set(), {"d"}), (line, {"d"}, {"e"}),
              (line, {"a", "b", "c", "e"}, {"f"})]
    # the first part passes a and b on; the second, cut before e, passes c and d (a and b are not
    # its own); counting everything defined before that cut (4 values) would have kept going
    assert [len(p) for p in codegen._split(chunks)] == [1, 2, 2]
    monkeypatch.setattr(codegen, "MAX_PART_CROSSING", 1)
    assert [len(p) for p in codegen._split(chunks)] == [5]  # (no cut passes one value: 7 lines <= 4 * 2)


def test_float32_kernel_has_no_float64_literals():
    x = T.fvector("x")
    f = sg.function([x], T.nnet.sigmoid(x * 0.5 + 1) / 3, mode="numba")
    body = f.source.split("def kernel(")[1]
    assert "np.float32(0.5)" in body and "sigmoid32" in body
    out = f(np.array([0.25, -3.0], dtype="float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(np.array([0.25, -3.0]) * 0.5 + 1))) / 3, rtol=1e-6)


def test_a_known_graph_skips_the_rewrites_and_stays_inspectable(tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))

    def build():
        x = T.dvector("x")
        w = sg.shared(np.arange(3.0), name="w")
        cost = (T.nnet.sigmoid(x * w) ** 2).sum()
        return x, sg.function([x], cost, updates=[(w, w - 0.1 * sg.grad(cost, w))], mode="numba")

    x1, f1 = build()
    assert len(list(tmp_path.glob("env-*/symgrad_plan_*.json"))) == 1
    x2, f2 = build()
    assert f2._optimized is None  # the stored plan was used: no rewrites ran
    v = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(f2(v), f1(v), rtol=1e-15)
    assert "Elemwise" in sg.debugprint(f2, file="str")  # the optimized graph is rebuilt on demand
    assert f2._optimized is not None
    assert f2._kernel.info == f1._kernel.info and f2._kernel.info.inplace_slots == (1,)  # stored as data
    assert f2.source == f1.source


def test_a_damaged_plan_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
    x = T.dvector("x")
    sg.function([x], T.exp(x) + 5, mode="numba")
    (plan,) = tmp_path.glob("env-*/symgrad_plan_*.json")
    plan.write_text("{not json")
    f = sg.function([x], T.exp(x) + 5, mode="numba")
    assert f._optimized is not None  # rebuilt from the graph
    np.testing.assert_allclose(f(np.zeros(2)), [6.0, 6.0])
    assert json.loads(plan.read_text())["version"] == PLAN_VERSION


@pytest.mark.parametrize("damage", ["cut source", "other metadata", "old layout", "bad options"])
def test_a_plan_with_damaged_content_is_rebuilt(damage, tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
    x = T.dvector("x")
    sg.function([x], T.exp(x) + 6, mode="numba")
    (plan,) = tmp_path.glob("env-*/symgrad_plan_*.json")
    data = json.loads(plan.read_text())
    if damage == "cut source":  # still JSON, text cut
        data["functions"][-1][2] = data["functions"][-1][2][:-9]
    elif damage == "other metadata":
        data["info"]["threaded"] = True
    elif damage == "old layout":  # what symgrad wrote before plans had a version
        data = {"source": data["functions"][-1][2], "digest": "", "may_alias": [False]}
    else:  # options are printed into the module: only known names are accepted, digest or not
        data["functions"][-1][1] = "dict(parallel=True)"
        data["digest"] = _plan_digest({k: v for k, v in data.items() if k != "digest"})
    plan.write_text(json.dumps(data))
    f = sg.function([x], T.exp(x) + 6, mode="numba")
    assert f._optimized is not None  # rebuilt from the graph
    np.testing.assert_allclose(f(np.zeros(2)), [7.0, 7.0])
    assert "dict(parallel" not in plan.read_text()  # and stored again


def test_names_are_part_of_the_plan_key(tmp_path, monkeypatch):
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
    a, b = T.dvector("a"), T.dvector("b")
    sg.function([a], a.sum(), mode="numba")
    sg.function([b], b.sum(), mode="numba")
    assert len(list(tmp_path.glob("env-*/symgrad_plan_*.json"))) == 2


def _off_line(rows, feats, rng):
    """A float64 matrix whose data start 16 bytes past a cache line (as numpy often leaves them)."""
    from symgrad.backend.numba.aligned import ALIGNMENT

    buf = np.empty(rows * feats + 2 * ALIGNMENT // 8)
    start = (-buf.ctypes.data % ALIGNMENT + 16) // 8
    X = buf[start:start + rows * feats].reshape(rows, feats)
    X[...] = rng.standard_normal((rows, feats))
    return X


@pytest.mark.parametrize("writeable", [True, False])
def test_a_loop_copies_a_large_misaligned_input_onto_a_cache_line(writeable, monkeypatch, rng):
    from symgrad.backend.numba import call as backend
    from symgrad.backend.numba.aligned import is_aligned

    f, (X, Y), w, b = _seed_function("numba", rng)
    assert f._kernel.info.row_slots == (0,)
    X = _off_line(600, X.shape[1], rng)  # 38 KB: above ALIGN_MIN_BYTES
    X.flags.writeable = writeable
    rows = X.shape[0]
    Y = (rng.random(rows) > 0.5).astype(float)
    assert not is_aligned(X)
    X_before = X.copy()
    copied = []
    real = backend.aligned_copy
    monkeypatch.setattr(backend, "aligned_copy", lambda a: copied.append(a) or real(a))
    w0, b0 = w.get_value(), b.get_value()
    steps = backend.ALIGN_MIN_STEPS
    for _ in range(steps):
        expected = f(X, Y)
    w_calls = w.get_value()
    assert copied == []  # calls never copy
    w.set_value(w0)
    b.set_value(b0)
    got = f.loop(steps, X, Y)
    assert len(copied) == 1 and copied[0] is X
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(w.get_value(), w_calls)  # alignment changes no bits
    np.testing.assert_array_equal(X, X_before)
    assert X.flags.writeable == writeable
    f.loop(steps - 1, X, Y)  # a shorter loop does not copy
    assert len(copied) == 1


def test_a_loop_does_not_copy_a_dataset_it_only_slices_and_returns_no_view_of_a_copy(monkeypatch, rng):
    from symgrad.backend.numba import call as backend

    copied = []
    real = backend.aligned_copy
    monkeypatch.setattr(backend, "aligned_copy", lambda a: copied.append(a) or real(a))
    # minibatches of a shared dataset: each step reads 20 of its rows, copying it all would not pay
    data = sg.shared(_off_line(600, 8, rng), name="data", borrow=True)
    i = sg.shared(np.int64(0), name="i")
    w = sg.shared(np.zeros(8), name="w")
    batch = data[i * 20:(i + 1) * 20]
    cost = T.nnet.sigmoid(T.dot(batch, w)).sum()
    f = sg.function([], cost, updates=[(w, w - 0.1 * T.grad(cost, w)), (i, (i + 1) % 30)], mode="numba")
    f.loop(backend.ALIGN_MIN_STEPS)
    assert copied == []
    # a result that is a view of the loop's aligned copy is returned as a copy of its own
    x, y = T.dmatrix("x"), T.dvector("y")
    v = sg.shared(np.zeros(8), name="v")
    loss = T.nnet.binary_crossentropy(T.nnet.sigmoid(T.dot(x, v)), y).mean()
    g = sg.function([x, y], [loss, x[0]], updates=[(v, v - 0.1 * T.grad(loss, v))], mode="numba")
    assert g._kernel.info.row_slots == (0,)
    X, Y = _off_line(600, 8, rng), (rng.random(600) > 0.5).astype(float)
    row = g.loop(backend.ALIGN_MIN_STEPS, X, Y)[1]
    assert len(copied) == 1 and row.base is None
    np.testing.assert_array_equal(row, X[0])
