"""``phasesim kernel``: bad input is one line with exit code 2, a run writes a readable
'kernel' file with provenance, --jobs gives the same bits, the figures draw."""
import numpy as np
import pytest

import adaptive_kernel


def _one_line_usage_error(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


@pytest.mark.parametrize("args,needle", [
    (["--P", "13,x"], "--P"),
    (["--P", "13,13"], "repeated"),
    (["--P", "1"], "P"),
    (["--train-fraction", "0"], "train_fraction"),
    (["--train-fraction", "0.2:1.3:3"], "train_fraction"),
    (["--train-fraction", "a:b"], "train-fraction"),
    (["--kernel", "rbf"], "--kernel"),
    (["--operation", "pow"], "operation"),
    (["--ridge", "-1"], "ridge"),
    (["--ridge", "nan"], "ridge"),
    (["--width", "0"], "--width"),
    (["--sigma-w2", "2"], "standard"),
    (["--parametrisation", "standard", "--sigma-v2", "-1"], "sigma_v2"),
    (["--seeds", "0"], "--seeds"),
    (["--seed", "-3"], "--seed"),
    (["--jobs", "0"], "--jobs"),
    (["--P", "20011"], "--P 20011"),          # the n_train x n_train kernel would not fit in memory
])
def test_bad_input_is_one_line_exit_2(phasesim, tmp_path, args, needle):
    res = phasesim("kernel", "-q", "-o", tmp_path / "k.h5", *args)
    line = _one_line_usage_error(res)
    assert needle in line
    assert not (tmp_path / "k.h5").exists()


def test_run_writes_a_readable_kernel_file(phasesim, tmp_path):
    out = tmp_path / "k.h5"
    res = phasesim("kernel", "--P", "7,11", "--train-fraction", "0.3:0.9:3", "--seeds", "2", "--kernel", "ntk",
                   "-o", out)
    assert res.exit_code == 0, res.output
    assert "test acc" in res.stdout
    r = adaptive_kernel.load(out)
    assert r.kind == "kernel" and r.params["kernel"] == "ntk"
    assert r.attrs["command"].startswith("phasesim ")
    assert {"package_version", "created", "numpy_version"} <= set(r.attrs)
    np.testing.assert_array_equal(r.P, [7, 11])
    np.testing.assert_allclose(r.train_fraction, [0.3, 0.6, 0.9])
    np.testing.assert_array_equal(r.seeds, [0, 1])
    assert r.data["test_accuracy"].shape == (2, 3, 2)
    assert r.success
    assert np.all(r.data["test_nonadditive"] < 1e-12)
    # an existing file is refused (before computing) without --overwrite
    again = phasesim("kernel", "--P", "7", "--train-fraction", "0.5", "-q", "-o", out)
    assert "exists" in _one_line_usage_error(again)
    # figures
    from adaptive_kernel import plotting_kernel as pk

    assert pk.DEFAULT_FIGURE in pk.FIGURES
    for fn in pk.FIGURES.values():
        fig = fn(r)
        assert fig.axes


def test_jobs_give_the_same_bits(phasesim, tmp_path):
    common = ["kernel", "--P", "7", "--train-fraction", "0.4:0.8:2", "--seeds", "2", "--kernel", "empirical-ntk",
              "-q"]
    assert phasesim(*common, "-o", tmp_path / "a.h5").exit_code == 0
    assert phasesim(*common, "--jobs", "2", "-o", tmp_path / "b.h5").exit_code == 0
    a, b = adaptive_kernel.load(tmp_path / "a.h5"), adaptive_kernel.load(tmp_path / "b.h5")
    for name in ("test_accuracy", "test_loss", "train_loss", "test_nonadditive", "target_eigenvalue"):
        assert a.data[name].tobytes() == b.data[name].tobytes(), name
