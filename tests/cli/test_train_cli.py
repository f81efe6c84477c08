"""``phasesim train``: a small run, its file through adaptive_kernel.load, bad input."""
import numpy as np
import pytest

import adaptive_kernel

SMALL = ["train", "--P", "7", "--width", "8", "--train-fraction", "0.6", "--steps", "20", "--log-every", "5", "-q"]


def test_small_run_writes_a_train_file(phasesim, tmp_path):
    out = tmp_path / "t.h5"
    r = phasesim(SMALL, "--seeds", "2", "--width", "6:8:2", "--train-fraction", "0.5:0.7:2", "-o", out)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    d = adaptive_kernel.load(out)
    assert d.kind == "train" and type(d).__name__ == "TrainingData"
    assert d.attrs["kind"] == "train" and d.attrs["command"].startswith("phasesim ")  # sys.argv under pytest
    assert d.attrs["package_version"] and d.params["P"] == 7
    assert d.config["steps"] == 20 and d.config["optimizer"] == "gd"
    assert len(d.points) == 4 and {p["width"] for p in d.points} == {6, 8}
    p = d.points[0]
    assert p["traces"]["train_loss"].shape == (2, len(d.steps))
    assert list(p["seeds"]) == [0, 1]
    assert p["W1"].shape == (2, p["width"], 14)
    assert set(p["status"]) <= {"grokked", "censored", "diverged"}
    f, w, g = d.grokking_times()
    assert len(g) == 8


def test_refuses_existing_output_and_resume_without_checkpoint(phasesim, tmp_path):
    out = tmp_path / "t.h5"
    assert phasesim(SMALL, "-o", out).exit_code == 0
    r = phasesim(SMALL, "-o", out)
    assert r.exit_code == 2 and "exists" in r.output
    r = phasesim(SMALL, "-o", tmp_path / "u.h5", "--resume")
    assert r.exit_code == 2 and "nothing to resume" in r.output


def test_resume_after_kill_gives_the_same_file(phasesim, tmp_path, monkeypatch):
    import simulations.training as T

    ref = tmp_path / "ref.h5"
    args = SMALL + ["--checkpoint-every", "5", "--optimizer", "adamw"]
    assert phasesim(args, "-o", ref).exit_code == 0
    out = tmp_path / "t.h5"
    real = T.run_training

    def killed(*a, **k):
        return real(*a, stop_after_segments=2, **k)

    monkeypatch.setattr(T, "run_training", killed)
    r = phasesim(args, "-o", out)
    assert r.exit_code == 130 and (tmp_path / "t.h5.ckpt").exists()
    monkeypatch.setattr(T, "run_training", real)
    r = phasesim(args, "-o", out, "--resume")
    assert r.exit_code == 0, r.output
    a, b = adaptive_kernel.load(ref), adaptive_kernel.load(out)
    for p, q in zip(a.points, b.points):
        np.testing.assert_array_equal(p["W1"], q["W1"])
        for k in p["traces"]:
            np.testing.assert_array_equal(p["traces"][k], q["traces"][k])


@pytest.mark.parametrize("args, word", [
    (["--train-fraction", "1.5"], "train-fraction"),
    (["--train-fraction", "a:b"], "train-fraction"),
    (["--width", "0"], "width"),
    (["--width", "2.5"], "width"),
    (["--betas", "0.9"], "betas"),
    (["--betas", "0.9,1.5"], "betas"),
    (["--batch-size", "100000"], "batch-size"),
    (["--seeds", "0"], "seeds"),
    (["--lr", "-1"], "lr"),
    (["--operation", "pow"], "operation"),
    (["--P", "1"], "P"),
    (["--threshold", "0"], "threshold"),
    (["--jobs", "0"], "jobs"),
    (["--steps", "0"], "steps"),
    (["--width", "10000000", "--P", "3000"], "needs about"),
])
def test_bad_input_one_line_exit_2(phasesim, tmp_path, args, word):
    r = phasesim(SMALL, "-o", tmp_path / "t.h5", args)
    assert r.exit_code == 2, r.output
    err = [line for line in r.output.strip().splitlines() if line.startswith("Error")]
    assert len(err) == 1 and word in err[0]
    assert "Traceback" not in r.output
    assert not (tmp_path / "t.h5").exists()


def test_figures_of_a_train_file(phasesim, tmp_path):
    import matplotlib.pyplot as plt

    from adaptive_kernel.plotting_train import DEFAULT_FIGURE, FIGURES

    out = tmp_path / "t.h5"
    assert phasesim(SMALL, "--seeds", "2", "--train-fraction", "0.5:0.7:2", "-o", out).exit_code == 0
    d = adaptive_kernel.load(out)
    assert DEFAULT_FIGURE in FIGURES
    for name, fn in FIGURES.items():
        fig = fn(d)
        assert fig.axes, name
        plt.close(fig)
