"""``python -m symgrad.bench``: the quick default set, ``--full``, explicit options, and tiny runs
(hand-written numpy only: nothing to compile, no timing assertions)."""
from symgrad import bench


def test_quick_default():
    opts = bench.options([])
    assert opts["workloads"] == ["logreg-f64", "logreg-f32", "mlp"]  # the seed in both dtypes, the MLP
    assert set(opts["workloads"]) < set(bench.FULL_WORKLOADS)
    assert opts["steps"] is None and opts["seconds"] > 0  # calibrated
    assert opts["repeats"] >= 2 and opts["compile_times"] and opts["variants"] == bench.VARIANTS


def test_full():
    opts = bench.options(["--full"])
    assert opts["workloads"] == bench.FULL_WORKLOADS
    assert opts["steps"] == bench.FULL_STEPS and opts["repeats"] == bench.REPEATS and opts["compile_times"]


def test_explicit_overrides():
    opts = bench.options(["--full", "--steps", "50", "--repeats", "1", "--workloads", "mlp",
                          "--variants", "numpy", "--no-compile", "--json"])
    assert (opts["steps"], opts["repeats"], opts["workloads"], opts["variants"]) == (50, 1, ["mlp"], ["numpy"])
    assert not opts["compile_times"] and opts["json"]
    assert bench.options(["--steps", "50"])["steps"] == 50
    assert bench.options(["--full", "--seconds", "0.5"])["steps"] is None  # calibrated on request
    assert bench.options(["--seconds", "0.5"])["seconds"] == 0.5


def test_calibrated_steps():
    fast, slow = bench.calibrated_steps(30e-6, 0.3), bench.calibrated_steps(1e-3, 0.3)
    assert fast > slow
    assert abs(slow * 1e-3 - 0.3) < 0.03
    assert bench.calibrated_steps(10.0, 0.3) == 10  # at least 10


def test_run_fixed_steps():
    rows = bench.run(steps=20, repeats=2, workloads=["logreg-f64"], variants=["numpy"], compile_times=False,
                     quiet=True)
    (row,) = rows
    assert row["steps"] == 20 and row["repeats"] == 2
    assert row["max_weight_diff_vs_numpy"] == 0 and row["speedup_vs_numpy"] == 1
    assert "steps per repetition: logreg-f64 20" in bench.format_table(rows)


def test_run_calibrated_shows_progress(capsys):
    rows = bench.run(repeats=1, workloads=["logreg-f32"], variants=["numpy"], compile_times=False, seconds=0.02)
    assert rows[0]["steps"] >= 10
    err = capsys.readouterr().err
    for stage in ("preparing logreg-f32: hand-written numpy", "calibrated logreg-f32",
                  "running logreg-f32, repetition 1 of 1: hand-written numpy"):
        assert stage in err


def test_run_raises_steps_after_a_slow_probe(monkeypatch):
    monkeypatch.setattr(bench._Timed, "probe", lambda self: 1.0)  # as if the machine were busy while probing
    rows = bench.run(repeats=2, workloads=["logreg-f64"], variants=["numpy"], compile_times=False, quiet=True,
                     seconds=0.05)
    assert rows[0]["steps"] > bench.calibrated_steps(1.0, 0.05)
