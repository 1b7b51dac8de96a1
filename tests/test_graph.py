"""The graph IR: interned types, variables, deterministic iterative toposort, clone_replace."""
import pickle
import sys

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.graph import Apply, Constant, TensorType, Variable, clients, clone_replace, graph_inputs, toposort


# --- TensorType ------------------------------------------------------------------------------
def test_type_interning():
    x = T.dscalar("x")
    assert x.type is T.dscalar
    assert TensorType("float64", ()) is T.dscalar
    assert TensorType(np.float64, []) is T.dscalar
    assert TensorType("float64", (False,)) is T.dvector
    assert TensorType("float64", [0, 0]) is T.dmatrix
    assert TensorType("float32", (True, False)) is T.frow
    assert T.dvector("a").type is T.dvector("b").type
    assert T.dvector is not T.fvector


def test_type_constructors_follow_config_floatx():
    assert T.vector("v").type is TensorType(sg.config.floatX, (False,))
    assert T.matrix("m", dtype="int32").type is T.imatrix
    assert T.tensor("float64", (False, True), name="t").type is T.dcol


def test_type_properties():
    assert T.dmatrix.ndim == 2
    assert T.dmatrix.dtype == "float64"
    assert T.dcol.broadcastable == (False, True)
    assert T.fvector.describe() == "float32 vector"
    assert T.drow.kind_name() == "row"
    assert repr(T.lscalar) == "TensorType(int64, scalar)"


def test_type_is_immutable():
    with pytest.raises(AttributeError):
        T.dvector.dtype = "float32"


def test_type_pickles_to_interned_instance():
    assert pickle.loads(pickle.dumps(T.dmatrix)) is T.dmatrix


@pytest.mark.parametrize("dtype", ["complex128", "str", "object", "U3"])
def test_type_rejects_non_numeric_dtype(dtype):
    with pytest.raises(TypeError, match="dtype"):
        TensorType(dtype, ())


def test_type_call_makes_variable():
    v = T.dvector("v")
    assert isinstance(v, Variable)
    assert v.name == "v" and v.owner is None
    plural = T.dscalars("a", "b", "c")
    assert [p.name for p in plural] == ["a", "b", "c"]
    assert all(p.type is T.dscalar for p in plural)


# --- variables and nodes --------------------------------------------------------------------
def test_variables_compare_by_identity():
    a, b = T.dscalar("x"), T.dscalar("x")
    assert a is not b
    assert (a == b) is False
    assert a == a


def test_apply_structure():
    x, y = T.dvectors("x", "y")
    z = x + y
    node = z.owner
    assert isinstance(node, Apply)
    assert node.inputs == (x, y)
    assert node.outputs == (z,)
    assert z.index == 0


def test_constants():
    c = T.constant([1.0, 2.0])
    assert isinstance(c, Constant)
    assert c.type is T.dvector
    assert not c.data.flags.writeable
    assert T.constant(3).type is T.lscalar


def test_variable_label_for_messages():
    assert T.dscalar("x").label() == "'x'"
    assert "float64 vector" in T.dvector().label()


# --- toposort --------------------------------------------------------------------------------
def _diamond():
    x = T.dvector("x")
    a = T.exp(x)
    b = T.sin(x)
    c = a * b
    d = c + a
    return x, a, b, c, d


def test_toposort_orders_dependencies_first():
    x, a, b, c, d = _diamond()
    order = toposort([d])
    assert len(order) == 4
    pos = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if inp.owner is not None:
                assert pos[id(inp.owner)] < pos[id(node)]
    assert order[-1] is d.owner


def test_toposort_is_deterministic():
    x, a, b, c, d = _diamond()
    first = toposort([d])
    for _ in range(5):
        assert toposort([d]) == first
    # it follows input order: a (first input of c) before b
    assert first == [a.owner, b.owner, c.owner, d.owner]


def test_toposort_same_structure_same_order():
    names = []
    for _ in range(2):
        x, a, b, c, d = _diamond()
        names.append([str(n.op) for n in toposort([d, b])])
    assert names[0] == names[1]


def test_toposort_multiple_outputs_no_duplicates():
    x, a, b, c, d = _diamond()
    order = toposort([b, d, a, c])
    assert len(order) == len(set(map(id, order))) == 4
    assert toposort([x]) == []


def test_graph_inputs_in_first_seen_order():
    x, y = T.dscalars("x", "y")
    w = sg.shared(1.0, name="w")
    out = (y * w + x) * T.constant(2.0)
    roots = graph_inputs([out])
    assert roots[:3] == [y, w, x]
    assert isinstance(roots[3], Constant)
    assert graph_inputs([x]) == [x]


def test_clients():
    x, a, b, c, d = _diamond()
    users = clients([d])
    assert sorted(n is c.owner or n is d.owner for n, _ in users[id(a)]) == [True, True]
    assert len(users[id(x)]) == 2
    assert users[id(b)] == [(c.owner, 1)]


def _chain(n):
    x = T.dscalar("x")
    y = x
    for i in range(n):
        y = T.sin(y) if i % 2 else y * 1.001
    return x, y


def test_toposort_is_iterative_on_5000_node_chain():
    x, y = _chain(5000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion proportional to depth would fail now
    try:
        order = toposort([y])
        roots = graph_inputs([y])
    finally:
        sys.setrecursionlimit(limit)
    assert len(order) == 5000
    assert roots == [x]


def test_deep_chain_builds_differentiates_and_compiles(mode):
    # Graph walks are tested at full depth on every backend's input; numba's compile time is about
    # linear in the kernel's length (several ms per line), so its kernel here is shorter.
    depth = 5000 if mode == "numpy" else 600
    x, y = _chain(depth)
    g = sg.grad(y, x)
    f = sg.function([x], [y, g], mode=mode)
    v, d = 0.5, 1.0
    for i in range(depth):
        if i % 2:
            d *= np.cos(v)
            v = np.sin(v)
        else:
            d *= 1.001
            v *= 1.001
    out, grad = f(0.5)
    assert out == pytest.approx(v, rel=1e-12)
    assert grad == pytest.approx(d, rel=1e-9)


# --- clone_replace ---------------------------------------------------------------------------
def test_clone_replace_substitutes(mode):
    x, y = T.dscalars("x", "y")
    z = T.dscalar("z")
    out = x * 2 + y
    (new,) = clone_replace([out], {x: z})
    assert new is not out
    assert z in graph_inputs([new]) and x not in graph_inputs([new])
    assert x in graph_inputs([out])  # the original graph is unchanged
    assert sg.function([z, y], new, mode=mode)(1.0, 10.0) == 12.0
    assert sg.function([x, y], out, mode=mode)(3.0, 10.0) == 16.0


def test_clone_replace_shares_untouched_subgraphs():
    x, y = T.dvectors("x", "y")
    a = T.exp(y)
    out = a + x
    (new,) = clone_replace([out], {x: T.dvector("z")})
    assert new.owner.inputs[0] is a


def test_clone_replace_nothing_to_replace_returns_same():
    x = T.dvector("x")
    out = T.exp(x) * 2
    assert clone_replace([out], {}) == [out]
    assert clone_replace([out], {T.dvector("unrelated"): x})[0] is out


def test_clone_replace_intermediate_and_keeps_names():
    x = T.dscalar("x")
    h = T.exp(x)
    out = h + 1
    out.name = "out"
    c = T.dscalar("c")
    (new,) = clone_replace([out], {h: c})
    assert new.name == "out"
    assert graph_inputs([new])[0] is c
    assert float(new.eval({c: 2.0})) == 3.0


def test_clone_replace_multiple_outputs_consistent():
    x = T.dscalar("x")
    a = x * 2
    b = a + 1
    y = T.dscalar("y")
    new_a, new_b = clone_replace([a, b], {x: y})
    assert new_b.owner.inputs[0] is new_a


def test_clone_replace_deep_chain():
    x, y = _chain(3000)
    z = T.dscalar("z")
    (new,) = clone_replace([y], {x: z})
    assert graph_inputs([new]) == [z]
    assert len(toposort([new])) == 3000


def test_a_graph_with_hundreds_of_inputs_compiles(mode):
    # numba's compile time grows with the number of array arguments (~7 s for 300 arrays); scalar
    # inputs arrive as numbers, so the numba case uses 250 scalars and the numpy case 300 vectors.
    n, vector = (300, True) if mode == "numpy" else (250, False)
    xs = [T.dvector(f"x{i}") if vector else T.dscalar(f"x{i}") for i in range(n)]
    total = xs[0]
    for i, x in enumerate(xs[1:], 1):
        total = total + x * float(i)
    cost = T.tanh(total).sum()
    f = sg.function(xs, [cost] + sg.grad(cost, xs[:3]), mode=mode)
    values = [np.full(2, 1e-5 * i) if vector else 1e-5 * i for i in range(n)]
    s = sum(1e-5 * i * max(i, 1) for i in range(n))
    cost_value, *grads = f(*values)
    width = 2 if vector else 1
    assert cost_value == pytest.approx(width * np.tanh(s), rel=1e-12)
    for k, g in enumerate(grads):
        np.testing.assert_allclose(g, np.full_like(np.asarray(g), (1 - np.tanh(s) ** 2) * max(k, 1)), rtol=1e-12)
