"""distributed.minimize and train on a LocalCluster of two single-thread worker processes: the
one-process results, blocks that do not line up, NaN, and bad input refused before any work."""
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import symgrad as sg
import symgrad.tensor as T
from symgrad import optimizers
from symgrad.distributed import BlockObjective, minimize, train
from symgrad.scipy import minimize as one_minimize
from symgrad.scipy import value_and_grad_function

N, D = 3000, 6
rng = np.random.default_rng(3)
XV = rng.normal(size=(N, D))
YV = (XV @ rng.normal(size=D) + rng.normal(size=N) > 0).astype(np.float64)
X, y = T.dmatrix("X"), T.dvector("y")


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


def _model(w0=None):
    """The seed's logistic regression (mean cross-entropy + L2), fresh parameters."""
    w = sg.shared(np.zeros(D) if w0 is None else w0.copy(), name="w")
    b = sg.shared(0.0, name="b")
    p = T.nnet.sigmoid(T.dot(X, w) + b)
    cost = (-y * T.log(p) - (1 - y) * T.log(1 - p)).mean() + 0.01 * (w ** 2).sum()
    return cost, w, b


def _data(rows=700, y_rows=700):
    return {X: da.from_array(XV, chunks=(rows, D)), y: da.from_array(YV, chunks=y_rows)}


def test_minimize_equals_one_process(client):
    cost, w, b = _model()
    result = minimize(cost, [w, b], _data(), client=client, options={"gtol": 1e-11, "ftol": 1e-15})
    got = np.append(w.get_value(), b.get_value())
    cost1, w1, b1 = _model()
    want = one_minimize(cost1, [w1, b1], {X: XV, y: YV}, options={"gtol": 1e-11, "ftol": 1e-15})
    assert result.success and result.nit > 3
    solution = np.append(w1.get_value(), b1.get_value())
    assert np.linalg.norm(got - solution) <= 1e-8 * np.linalg.norm(solution)  # (both stop where scipy says)
    assert result.fun == pytest.approx(want.fun, rel=1e-12)
    np.testing.assert_array_equal(got, result.x)  # written back


def test_blocks_that_do_not_line_up_are_rechunked(client):
    cost, w, b = _model()
    aligned = BlockObjective(cost, [w, b], _data(), client)
    skewed = BlockObjective(cost, [w, b], _data(rows=700, y_rows=450), client)
    theta = np.linspace(-0.5, 0.5, D + 1)
    assert skewed.blocks.rows == aligned.blocks.rows == (700, 700, 700, 700, 200)
    v1, g1 = aligned(theta)
    v2, g2 = skewed(theta)
    with pytest.raises(ValueError, match="distinct indices of the 5 row blocks"):
        skewed(theta, [5])
    with pytest.raises(ValueError, match="distinct indices"):
        skewed(theta, [0, 0])
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        skewed(theta[:3])
    assert v1 == v2 and np.array_equal(g1, g2)  # same blocks, same order: the same bits
    one, _ = value_and_grad_function(cost, [w, b], [X, y])
    v, g = one(theta, XV, YV)
    assert v1 == pytest.approx(float(v), rel=1e-13)
    np.testing.assert_allclose(g1, g, rtol=1e-12, atol=1e-15)


def test_blocks_are_spread_over_the_workers(client):
    cost, w, b = _model()
    objective = BlockObjective(cost, [w, b], _data(), client)
    holders = client.who_has(list(objective.blocks.futures))
    per_worker = sorted(sum(1 for f in objective.blocks.futures if address in holders[f.key])
                        for address in client.scheduler_info()["workers"])
    assert per_worker == [2, 3]  # 5 blocks, 2 workers: wherever Dask computed them


def test_nan_in_a_block_propagates_as_in_one_process(client):
    cost, w, b = _model()
    bad = XV.copy()
    bad[1234, 2] = np.nan
    objective = BlockObjective(cost, [w, b], {X: da.from_array(bad, chunks=(700, D)), y: _data()[y]}, client)
    theta = np.full(D + 1, 0.1)
    value, gradient = objective(theta)
    one, _ = value_and_grad_function(cost, [w, b], [X, y])
    v, g = one(theta, bad, YV)
    assert np.isnan(value) and np.isnan(float(v))
    np.testing.assert_array_equal(np.isnan(gradient), np.isnan(g))


@pytest.mark.parametrize("rule, args", [(optimizers.sgd, {"learning_rate": 0.5}),
                                        (optimizers.adam, {"learning_rate": 0.05})])
def test_train_full_batch_steps_equal_one_process_steps(client, rule, args):
    cost, w, b = _model()
    costs = train(cost, [w, b], _data(), rule, epochs=4, client=client, **args)
    cost1, w1, b1 = _model()
    step = sg.function([], cost1, updates=rule(cost1, [w1, b1], **args), givens={X: XV, y: YV})
    want = [float(step()) for _ in range(4)]
    np.testing.assert_allclose(costs, want, rtol=1e-12)
    np.testing.assert_allclose(w.get_value(), w1.get_value(), rtol=1e-11, atol=1e-14)
    assert b.get_value() == pytest.approx(float(b1.get_value()), rel=1e-11)


def test_train_minibatches_of_blocks(client):
    cost, w, b = _model()
    seen = []
    costs = train(cost, [w, b], _data(), optimizers.sgd, epochs=2, blocks_per_step=2, seed=5, client=client,
                  callback=lambda i, c: seen.append(i), learning_rate=0.5)
    assert len(costs) == 6 and seen == list(range(6))  # 5 blocks, 2 a step: 3 steps an epoch
    # the first step is the one-process step on the rows of the first two blocks drawn
    first = np.random.default_rng(5).permutation(5)[:2]
    rows = np.concatenate([np.arange(700 * i, min(700 * (i + 1), N)) for i in first])
    cost1, w1, b1 = _model()
    step = sg.function([], cost1, updates=optimizers.sgd(cost1, [w1, b1], learning_rate=0.5),
                       givens={X: XV[rows], y: YV[rows]})
    assert costs[0] == pytest.approx(float(step()), rel=1e-12)


def test_bad_input_is_refused_before_any_work(client):
    cost, w, b = _model()
    before = w.get_value()
    short = {X: da.from_array(XV, chunks=(700, D)), y: da.from_array(YV[:-1], chunks=700)}
    with pytest.raises(ValueError, match="same number of rows.*'X' has 3000, 'y' has 2999"):
        minimize(cost, [w, b], short, client=client)
    with pytest.raises(ValueError, match="not a sum over the rows"):
        minimize(T.max(T.dot(X, w)) + b, [w, b], {X: _data()[X]}, client=client)
    with pytest.raises(TypeError, match="'X'.*2-d dask array, got 1-d"):
        minimize(cost, [w, b], {X: da.from_array(YV, chunks=700), y: _data()[y]}, client=client)
    with pytest.raises(TypeError, match="'y' must be float64.*complex128"):
        minimize(cost, [w, b], {X: _data()[X], y: _data()[y].astype(complex)}, client=client)
    with pytest.raises(TypeError, match="fun= is built by symgrad"):
        minimize(cost, [w, b], _data(), client=client, fun=None)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train(cost, [w, b], _data(), client=client, epochs=0, learning_rate=0.1)
    with pytest.raises(ValueError, match="blocks_per_step must be a positive integer"):
        train(cost, [w, b], _data(), client=client, blocks_per_step=0, learning_rate=0.1)
    with pytest.raises(TypeError, match="learning_rate"):  # the update rule's own error, before any work
        train(cost, [w, b], _data(), client=client)
    with pytest.raises(ValueError, match="x0 must be a flat vector"):
        minimize(cost, [w, b], _data(), client=client, x0=np.zeros(3))
    with pytest.raises(ValueError, match="'z', which the cost does not read"):
        minimize(cost, [w, b], {**_data(), T.dvector("z"): da.zeros(N, chunks=700)}, client=client)
    from symgrad.tensor.shared_randomstreams import RandomStreams

    rng_stream = RandomStreams(1)
    with pytest.raises(ValueError, match="draws random numbers"):
        minimize(cost + rng_stream.uniform(()) * 0, [w, b], _data(), client=client)
    with pytest.raises(ValueError, match="no value in data is a dask array"):
        minimize(cost, [w, b], {X: XV, y: YV}, client=client)
    np.testing.assert_array_equal(w.get_value(), before)  # nothing changed


def test_bench_command_reports_each_cluster(capsys):
    from symgrad.distributed import bench

    rows = bench.main(["--rows", "4000", "--cols", "5", "--block", "1000", "--workers", "1", "2", "--calls", "2"])
    assert [r["workers"] for r in rows] == [1, 2]
    assert all(r["call"] > 0 and r["sent"] > 0 and r["received"] > 0 for r in rows)
    # the parameters go once to each worker holding blocks (Dask may place small data on one)
    assert rows[0]["tasks"] == 1 and 1 <= rows[1]["tasks"] <= 2
    assert rows[1]["sent"] == rows[1]["tasks"] * rows[0]["sent"]
    assert "s/call" in capsys.readouterr().out
