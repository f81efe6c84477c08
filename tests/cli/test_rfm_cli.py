"""``phasesim rfm``: a small run writes a file that ``adaptive_kernel.load`` reads; bad input
is one line with exit code 2; ``--jobs 2`` gives the same bits as a serial run."""
import numpy as np
import pytest

from adaptive_kernel import load
from simulations.rfm import RFMResult

SMALL = ["rfm", "--P", "11", "--iterations", "3", "--save-every", "2", "-q"]


def test_small_run_writes_a_readable_file(phasesim, tmp_path):
    out = tmp_path / "r.h5"
    r = phasesim(SMALL, "--train-fraction", "0.4:0.6:2", "--seeds", "2", "--seed", "5", "-o", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stdout
    res = load(out)
    assert isinstance(res, RFMResult)
    assert res.metrics["test_accuracy"].shape == (2, 2, 3)
    assert res.seeds.tolist() == [5, 6] and res.train_fraction.tolist() == [0.4, 0.6]
    assert res.feature_iterations.tolist() == [0, 2, 3]
    assert res.attrs["kind"] == "rfm" and res.attrs["command"].startswith("phasesim")
    assert res.config["centre_gradients"] is True or res.config["centre_gradients"] == 1
    # the same file is refused without --overwrite (exit 2, one line)
    r = phasesim(SMALL, "-o", out)
    assert r.exit_code == 2 and "exists" in r.stderr


def test_progress_goes_to_stderr(phasesim, tmp_path):
    r = phasesim("rfm", "--P", "7", "--iterations", "2", "-o", tmp_path / "p.h5")
    assert r.exit_code == 0, r.output
    assert "fraction 0.5 seed 0" in r.stdout and "rfm quadratic P=7" in r.stderr


@pytest.mark.parametrize("args", [
    ["--train-fraction", "0"], ["--train-fraction", "1"], ["--train-fraction", "a:b:c"],
    ["--iterations", "0"], ["--P", "1"], ["--operation", "pow"], ["--operation", "div", "--P", "12"],
    ["--kernel", "laplace"], ["--seeds", "0"], ["--seed", "-1"], ["--ridge", "-1"], ["--bandwidth", "0"],
    ["--power", "0"], ["--save-at", "9"], ["--save-at", "1,x"], ["--save-every", "-1"],
    ["--jobs", "0"], ["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], ["--P", "40000"],
    ["--task", "nonsense"],
])
def test_bad_input_is_one_line_and_exit_code_2(phasesim, tmp_path, args):
    out = tmp_path / "bad.h5"
    r = phasesim(SMALL, "-o", out, args)
    assert r.exit_code == 2, r.output
    err = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "Traceback" not in r.output
    assert not out.exists()


def test_jobs_give_the_same_bits_as_serial(phasesim, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    args = ["rfm", "--P", "13", "--iterations", "3", "--train-fraction", "0.4:0.6:2", "-q"]
    assert phasesim(args, "-o", a).exit_code == 0
    assert phasesim(args, "--jobs", "2", "-o", b).exit_code == 0
    ra, rb = load(a), load(b)
    for k, v in ra.metrics.items():
        if k != "seconds":
            assert v.tobytes() == rb.metrics[k].tobytes(), k
    assert np.array_equal(ra.features, rb.features)
