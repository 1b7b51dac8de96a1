"""Theano's logistic-regression tutorial, unchanged except for the import lines.

Run: python examples/logistic_regression.py
Afterwards the same 10000 steps are replayed in plain numpy (hand-derived gradient) and the
weights are compared.
"""
import time

import numpy
import symgrad as theano
import symgrad.tensor as T

# ---- the tutorial program (Theano's logistic regression example) ----
rng = numpy.random
N, feats = 400, 784
D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))
x = T.matrix('x'); y = T.vector('y')
w = theano.shared(rng.randn(feats), name='w'); b = theano.shared(0., name='b')
w_initial = w.get_value()  # added: kept for the numpy replay below
p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
prediction = p_1 > 0.5
xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
cost = xent.mean() + 0.01 * (w ** 2).sum()
gw, gb = T.grad(cost, [w, b])
train = theano.function(inputs=[x, y], outputs=[prediction, xent],
                        updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
predict = theano.function(inputs=[x], outputs=prediction)
start = time.perf_counter()
for i in range(10000):
    pred, err = train(D[0], D[1])
elapsed = time.perf_counter() - start
print(w.get_value(), b.get_value(), predict(D[0]))
# ---- end of the tutorial program ----

print(f"\n10000 steps in {elapsed:.2f} s (mode={train.mode!r}; the first call compiles the kernel, or "
      "loads it from the kernel cache)")
w.set_value(w_initial); b.set_value(0.)
start = time.perf_counter()
for i in range(1000):  # the per-step cost once the kernel is there
    train(D[0], D[1])
print(f"a step called from Python: {(time.perf_counter() - start) / 1000 * 1e6:.0f} us")
w.set_value(w_initial); b.set_value(0.)
train.loop(1, D[0], D[1])  # compiles (or loads) the loop
w.set_value(w_initial); b.set_value(0.)
start = time.perf_counter()
train.loop(10000, D[0], D[1])  # the same 10000 steps inside one compiled call
elapsed = time.perf_counter() - start
print(f"the same 10000 steps with train.loop: {elapsed:.2f} s ({elapsed / 10000 * 1e6:.0f} us per step)")
print("target values for D:", D[1][:20], "...")
print("prediction on D:    ", predict(D[0])[:20].astype(int), "...")
print("training accuracy:", (predict(D[0]) == D[1]).mean())

# The same math in plain numpy, with the gradient derived by hand: d cost / d z = (p - y) / N.
X, Y = D[0], D[1].astype(float)
w_np, b_np = w_initial.copy(), 0.0
for i in range(10000):
    p = 1 / (1 + numpy.exp(-(X @ w_np + b_np)))
    g = (p - Y) / N
    w_np, b_np = w_np - 0.1 * (X.T @ g + 0.02 * w_np), b_np - 0.1 * g.sum()
diff = max(numpy.abs(w.get_value() - w_np).max(), abs(float(b.get_value()) - b_np))
print(f"max |symgrad - numpy| over the weights: {diff:.2e}")
assert diff < 1e-7, "symgrad and numpy disagree"
assert (predict(D[0]) == D[1]).all(), "predictions differ from the labels"
