"""`phasesim analytic`: a run writes a readable file of kind "analytic" with provenance,
identical bits with --jobs, and bad input is a one-line error with exit code 2."""
import h5py
import numpy as np
import pytest

from adaptive_kernel import load
from adaptive_kernel.tasks import TASKS
from simulations.analytic import accuracy_vs_width

TASK = next(iter(TASKS))
BASE = ["analytic", "--P", "11", "--width", "4:24:3", "--seeds", "2", "--seed", "3", "-q"]


def test_run_writes_a_loadable_file(phasesim, tmp_path):
    out = tmp_path / "a.h5"
    r = phasesim(BASE, "-o", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    res = load(out)
    assert res.kind == "analytic" and list(res.widths) == [4, 14, 24]
    ref = accuracy_vs_width(TASK, {"P": 11, "operation": "add"}, "gromov", [4, 14, 24], seeds=2, seed=3)
    assert np.array_equal(res.accuracy, ref.accuracy) and np.array_equal(res.loss, ref.loss)
    with h5py.File(out) as f:
        assert f.attrs["construction"] == "gromov" and f.attrs["seeds"] == 2 and f.attrs["seed"] == 3
        # the command as typed comes from sys.argv (pytest's own under CliRunner)
        assert f.attrs["command"].startswith("phasesim") and f.attrs["P"] == 11
    # exists: refused without --overwrite (exit 2, one line), accepted with it
    r = phasesim(BASE, "-o", out)
    assert r.exit_code == 2 and "exists" in r.output
    assert phasesim(BASE, "-o", out, "--overwrite").exit_code == 0


def test_jobs_give_identical_bits(phasesim, tmp_path):
    a, b = tmp_path / "s.h5", tmp_path / "p.h5"
    assert phasesim(BASE, "-o", a).exit_code == 0
    r = phasesim(BASE, "-o", b, "--jobs", "2")
    assert r.exit_code == 0, r.output
    ra, rb = load(a), load(b)
    for name in ("accuracy", "loss", "output_scale", "ipr_mean", "phase_alignment"):
        assert np.array_equal(getattr(ra, name), getattr(rb, name)), name


def test_mohamadi_subtraction_is_exact(phasesim, tmp_path):
    out = tmp_path / "m.h5"
    r = phasesim("analytic", "--P", "8", "--operation", "sub", "--construction", "mohamadi",
                 "--width", "40", "--seeds", "3", "-o", out)
    assert r.exit_code == 0, r.output
    assert "deterministic" in r.stderr
    res = load(out)
    assert res.exact.all() and res.accuracy[0, 0] == 1.0 and res.loss[0, 0] < 1e-20


@pytest.mark.parametrize("args, words", [
    (["--P", "11", "--operation", "mul"], "operation must be add, sub or pow"),
    (["--P", "1"], "P"),
    (["--P", "11", "--width", "5.5"], "--width must be integers >= 1"),
    (["--P", "11", "--width", "0:10:3"], "--width must be integers >= 1"),
    (["--P", "11", "--width", "abc"], "width grid must be START:STOP:NUM"),
    (["--P", "11", "--seeds", "0"], "seeds must be an integer in"),
    (["--P", "11", "--seed", "-1"], "seed must be an integer in"),
    (["--P", "11", "--jobs", "0"], "--jobs must be >= 1"),
    (["--P", "11", "--construction", "nope"], "nope"),
    (["--P", "997", "--width", "10000:100000:10"], "multiply-adds"),
])
def test_bad_input_is_one_line_exit_2(phasesim, tmp_path, args, words):
    out = tmp_path / "bad.h5"
    r = phasesim("analytic", *args, "-o", out)
    assert r.exit_code == 2, r.output
    assert words in r.output
    assert "Traceback" not in r.output
    err = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1
    assert not out.exists()
