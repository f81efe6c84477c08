"""`phasesim scan --teacher cubic`: bad input handling and the HDF5 file."""
import math

import numpy as np
import pytest

from adaptive_kernel import load
from adaptive_kernel.registry import get_teacher


@pytest.mark.parametrize("args, words", [
    (["--d", "0"], ["d", "> 0", "0"]),
    (["--n", "-3"], ["n", "> 0", "-3"]),
    (["--N", "0"], ["N", "> 0"]),
    (["--sigma-w2", "0"], ["sigma_w2", "> 0"]),
    (["--sigma-a2", "-1e-3"], ["sigma_a2", "> 0"]),
    (["--sigma2", "0.3:-0.1:5"], ["sigma2", "> 0"]),
    (["--sigma2", "0.3:0.1"], ["sigma2", "START:STOP:NUM"]),
    (["--method", "exact"], ["method", "quadrature", "saddle"]),
    (["--modes", "0"], ["modes", "[1, 8]"]),
    (["--beta", "0"], ["beta", "> 0"]),
    (["--alpha", "-2"], ["alpha", "> 0"]),
    (["--eps", "nan"], ["eps", "nan"]),
    (["--P", "7"], ["--p", "do not apply", "cubic"]),
])
def test_bad_input_exit_code_2(tmp_path, phasesim, args, words):
    out = str(tmp_path / "x.h5")
    r = phasesim(["scan", "--teacher", "cubic", "-q", "-o", out] + args)
    assert r.exit_code == 2, r.output
    err = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1  # one clear line, no traceback
    assert "Traceback" not in r.output
    for w in words:
        assert w.lower() in err[0].lower(), (w, err[0])


def test_eps_zero_is_allowed(tmp_path, phasesim):
    out = str(tmp_path / "e0.h5")
    r = phasesim(["scan", "--teacher", "cubic", "-q", "--eps", "0", "--sigma2", "0.3:0.1:3", "-o", out])
    assert r.exit_code == 0, r.output
    res = load(out)
    assert np.all(np.isnan(res.scan["cubic_learned"]))


@pytest.mark.parametrize("method", ["quadrature", "saddle"])
def test_hdf5_round_trip(tmp_path, phasesim, method):
    out = str(tmp_path / f"cubic_{method}.h5")
    r = phasesim(["scan", "--teacher", "cubic", "-q", "--method", method,
                  "--sigma2", "0.2:0.1:11", "--beta", "2", "-o", out])
    assert r.exit_code == 0, r.output
    assert "sigma2_gmfl1" in r.output and "u_c" in r.output
    res = load(out)
    assert res.teacher == "cubic"
    assert res.params["method"] == method and res.params["beta"] == 2.0
    assert res.params["sigma_a2"] == pytest.approx(8 / 700)
    np.testing.assert_allclose(res.sigma2, np.linspace(0.2, 0.1, 11))
    for name in ("u", "b", "c", "linear_learned", "cubic_learned", "droplet_fraction", "q_star",
                 "phase", "converged", "iterations", "sigma2_scaled"):
        assert name in res.scan, name
        assert res.scan[name].shape == (11,)
    assert res.scan["converged"].all()
    np.testing.assert_allclose(res.scan["linear_learned"], 1 - res.scan["b"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.scan["cubic_learned"], (-0.3 - res.scan["c"]) / -0.3, rtol=1e-14)
    np.testing.assert_allclose(res.scan["sigma2_scaled"], res.sigma2 / 2, rtol=1e-14)
    assert res.landscape_grid.ndim == 1 and res.landscape_action.shape == (11, res.landscape_grid.size)
    # the stored landscape is Shat(q) of the stored state: Shat(0) = 0, prior term at large q
    i0 = int(np.argmin(np.abs(res.landscape_grid)))
    assert np.allclose(res.landscape_action[:, i0], 0.0)
    assert np.all(np.isfinite(res.landscape_action))
    # transitions: u_c is the effective interaction at sigma2_gmfl1
    s = res.sigma2_gmfl1
    assert math.isfinite(s) and 0.1 < s < 0.2
    t = get_teacher("cubic")
    assert res.u_c == pytest.approx(t.effective_interaction(res.params, s), rel=1e-14)
    # the file reproduces a fresh in-memory computation
    x = np.array([res.scan["b"][3], res.scan["c"][3]] + ([res.scan["droplet_fraction"][3]] if method == "saddle" else []))
    p = t.make_params(**res.params)
    assert np.max(np.abs(x - t.fixed_point_map(x, p, res.sigma2[3]))) <= 1e-10


def test_default_output_refuses_overwrite(tmp_path, phasesim):
    out = tmp_path / "o.h5"
    out.write_bytes(b"")
    r = phasesim(["scan", "--teacher", "cubic", "-q", "--sigma2", "0.2", "-o", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
