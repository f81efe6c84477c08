"""Scan files with the thermodynamics (restricted branches, spinodals, free energy):
round trip, files written before them stay readable, the free-energy and order figures,
and the conditioning-aware convergence criterion of the solver."""
from __future__ import annotations

import math

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from adaptive_kernel import get_teacher, load, plotting  # noqa: E402
from adaptive_kernel.errors import FileFormatError  # noqa: E402
from adaptive_kernel.solver import RESIDUAL_TOL, scan, solve  # noqa: E402

#: P = 401 with the paper's eigenvalue on a coarse grid: every phase, both branches.
GRID = np.linspace(0.26, 0.15, 12)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    t = get_teacher("modadd")
    res = scan(t, t.make_params(normalization="paper"), GRID)
    path = tmp_path_factory.mktemp("thermo") / "scan.h5"
    res.to_hdf5(path)
    return res, path


def test_round_trip(written):
    res, path = written
    back = load(path)
    for b in ("origin", "droplet"):
        assert set(back.branches[b]) == set(res.branches[b])
        for k, v in res.branches[b].items():
            np.testing.assert_array_equal(back.branches[b][k], v)
    for name in ("sigma2_spinodal_droplet", "sigma2_crossing", "sigma2_spinodal_origin"):
        a, b = res.transitions[name], back.transitions[name]
        assert (a[0] == b[0] or (math.isnan(a[0]) and math.isnan(b[0]))) and a[2:] == b[2:]
    assert back.transition_scalars == pytest.approx(res.transition_scalars)
    with h5py.File(path, "r") as f:
        for g in ("scan_origin", "scan_droplet"):
            assert "free_energy" in f[g] and f[g].attrs["sweep"].startswith("restricted branch")
            assert f[g]["free_energy"].attrs["description"]
        assert f["scan/dresidual_dsigma2"].attrs["description"].startswith("susceptibility")
    assert any("sigma2_crossing" in line for line in back.thermodynamics_lines())


def test_file_without_thermodynamics_is_read_and_drawn(written, tmp_path):
    """A file of the earlier layout (no scan_origin/scan_droplet, no extra transition
    attributes, no free_energy) loads, draws its order figure, and the free-energy figure
    is refused with a one-line FileFormatError."""
    res, path = written
    old = tmp_path / "old.h5"
    old.write_bytes(path.read_bytes())
    with h5py.File(old, "r+") as f:
        del f["scan_origin"], f["scan_droplet"]
        for g in ("scan", "scan_up"):
            for k in ("free_energy", "free_energy_dsigma2", "barrier", "barrier_droplet", "droplet_neurons",
                      "dresidual_dsigma2"):
                if k in f[g]:
                    del f[g][k]
        for k in list(f["transitions"].attrs):
            if not k.startswith(("sigma2_gmfl", "u_c")) or "_latent" in k or "_barrier" in k \
                    or "_jump" in k or "_free_energy" in k or "_dresidual" in k or "_eigenvalue" in k:
                del f["transitions"].attrs[k]
    back = load(old)
    assert set(back.branches) == {"down", "up"}
    assert set(back.transitions) == {"sigma2_gmfl1", "sigma2_gmfl2"}
    assert back.thermodynamics_lines() == []
    ax = plotting.plot_order(back)
    assert ax.figure is not None
    with pytest.raises(FileFormatError):
        plotting.plot_free_energy(back)


def test_figures(written):
    res, _ = written
    assert "free-energy" in plotting.KINDS
    ax = plotting.plot(res, "free-energy")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("F_{\\rm origin}" in t for t in labels)
    assert any("droplet spinodal" in t for t in labels)
    # the equilibrium curve lies below both branches
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    eq = lines["equilibrium"].get_ydata()
    for key in ("origin-basin", "droplet-basin"):
        y = next(ln for lab, ln in lines.items() if lab.startswith(key)).get_ydata()
        ok = np.isfinite(y) & np.isfinite(eq)
        assert np.all(eq[ok] <= y[ok] + 1e-6 * np.max(np.abs(eq[ok])))
    ax2 = plotting.plot_order(res)
    labels2 = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert any("origin-basin branch" in t for t in labels2)
    assert any("spinodal of the droplet branch" in t for t in labels2)


class _Steep:
    """x - T(x) = K ((x - a) - b), a = 1/3 (a double), b = 1e-17 (a fifth of its ulp): the
    root a + b is not a double, and |F| at the two nearest doubles is K b = 1e-8 and
    K (ulp - b) = 4.5e-8 for K = 1e9, above the 1e-10 tolerance."""
    name = "steep"

    def __init__(self, K):
        self.K = K

    def initial_state(self, params, sigma2):
        return np.array([0.5])

    def fixed_point_map(self, x, params, sigma2):
        return np.array([x[0] - self.K * ((x[0] - 1.0 / 3.0) - 1e-17)])

    def bracket(self, params, sigma2):
        return 0.0, 1.0


def test_convergence_criterion_reflects_conditioning():
    sol = solve(_Steep(1e9), {}, 0.1)
    assert sol.residual > RESIDUAL_TOL          # no double meets the fixed tolerance ...
    assert sol.success and sol.status == 0      # ... the root is located to rounding
    assert abs(sol.x[0] - 1.0 / 3.0) < 1e-15
    # beyond 1e3 x tol the point is refused whatever the rounding
    far = solve(_Steep(1e14), {}, 0.1)
    assert far.residual > 1e3 * RESIDUAL_TOL and not far.success
