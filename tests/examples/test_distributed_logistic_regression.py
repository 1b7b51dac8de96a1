"""examples/distributed_logistic_regression.py, small: the three fits run and learn the labels."""
from tests.examples._load import load_example


def test_example_fits_on_a_local_cluster(capsys):
    example = load_example("distributed_logistic_regression")
    out = example.main(["--rows", "12000", "--features", "20", "--block", "3000", "--subsample", "3000",
                        "--iterations", "20", "--epochs", "3"])
    printed = capsys.readouterr().out
    assert "L-BFGS, cluster, 12000 rows" in printed and "one process, 3000 rows" in printed
    lbfgs, sgd, one = out["lbfgs"], out["sgd"], out["one_process"]
    assert lbfgs["iterations"] >= 3 and sgd["steps"] == 3 * 4  # 4 blocks, one a step
    # labels are a noisy linear rule: every fit finds it, the cluster's L-BFGS with all rows at least as well
    assert min(lbfgs["accuracy"], sgd["accuracy"], one["accuracy"]) > 0.8
    assert lbfgs["accuracy"] >= one["accuracy"] - 0.01
