"""The numba quadrature of the pair weight against the independent SciPy reference.

``exact_moments`` (composite Gauss-Legendre panels, numba) is compared with
:mod:`adaptive_kernel.reference` (nested adaptive QUADPACK with its own break points,
log-shifted) over all regimes of the pair action A = P[X + Y - 2vXY + (gamma/3)(X^3 + Y^3)]:
small and large P, no droplet minimum, just below/above the spinodal v^2 = gamma, below/at/
above the degeneracy v* = 2 sqrt(gamma/3), the point where both basins carry half the
weight, deep in the droplet phase, and large gamma. Measured agreement (this machine):
<XY>, <X>, <X^2> and log Z within 2.4e-11 relative in every case, below 1e-13 wherever one
basin dominates. The worst cases are the half-weight points at P = 401 and 1009; there the
relative condition number of the droplet weight with respect to v is 2 P v X_+^2 ~ 3e5, so
double precision cannot define the moments better than ~1e-11 (raising the Gauss-Legendre
order of the kernel does not move the difference). The asserted tolerance is 1e-10.

Also: the saddle-point (P -> inf) moments converge to the exact ones like 1/P, and the
degenerate point of the landscape is Phi* = sqrt(3/gamma), v* = 2 sqrt(gamma/3).
"""
import math

import numpy as np
import pytest
from scipy import optimize

from adaptive_kernel import reference as R
from adaptive_kernel.teachers import _modadd_kernels as K
from adaptive_kernel.teachers.modadd import ModularAddition, pair_moments

G4 = 1e-4  # the paper's gamma
VSTAR4 = 2 * math.sqrt(G4 / 3)  # degenerate coupling at gamma = 1e-4
RTOL = 1e-10


def _v_half(P, gamma, fraction=0.5):
    """Coupling at which the exact droplet fraction is ``fraction`` (1/2: both basins equally
    weighted), found on the log-odds."""
    logit = lambda f: math.log(max(f, 1e-300) / max(1 - f, 1e-300))  # noqa: E731
    return optimize.brentq(lambda v: logit(pair_moments(P, v, gamma)["droplet_fraction"]) - logit(fraction),
                           math.sqrt(gamma) * (1 + 1e-9), 2 * 2 * math.sqrt(gamma / 3), xtol=1e-15)


# (P, v, gamma, label); v = None: the half-weight coupling of that (P, gamma)
CASES = [
    (401, 0.0, G4, "free prior"),
    (401, 0.005, G4, "GFL, no droplet minimum"),
    (5, 0.1, 1.0, "small P, no minimum"),
    (401, 0.00999, G4, "just below the spinodal v^2 = gamma"),
    (401, 0.010001, G4, "just above the spinodal"),
    (31, math.sqrt(0.02) * 1.0001, 0.02, "just above the spinodal, P = 31"),
    (401, 0.0114, G4, "droplet minimum, below the degeneracy"),
    (401, None, G4, "half weight in each basin"),
    (401, VSTAR4, G4, "at the degeneracy v* = 2 sqrt(gamma/3)"),
    (401, 0.0118, G4, "above the degeneracy"),
    (401, 0.02, G4, "deep droplet phase"),
    (11, 0.0115, G4, "small P, mixed"),
    (11, None, G4, "small P, half weight"),
    (31, None, 0.02, "P = 31, half weight"),
    (31, 0.3, 0.02, "P = 31, droplet phase"),
    (1009, None, G4, "large P, half weight"),
    (2003, 0.0116, G4, "large P, droplet phase"),
    (5, 0.5, 1.0, "large gamma, small P"),
    (5, None, 1.0, "large gamma, small P, half weight"),
    (11, 2.0, 3.0, "large gamma, droplet phase"),
    (101, 1.2, 1.0, "large gamma, P = 101"),
]


@pytest.mark.parametrize("P,v,gamma,label", CASES, ids=[c[3] for c in CASES])
def test_exact_moments_match_reference(P, v, gamma, label):
    if v is None:
        v = _v_half(P, gamma)
    ker = pair_moments(P, v, gamma, "exact")
    ref = R.pair_moments(P, v, gamma, which=("XY", "X", "X2"))
    for key in ("XY", "X", "X2"):
        assert ker[key] == pytest.approx(ref[key], rel=RTOL), key
    assert ker["logZ"] == pytest.approx(ref["logZ"], rel=RTOL, abs=RTOL)


# droplet fraction: the droplet basin is the quadrant X, Y > X_- beyond the barrier; X_- is a
# panel edge of the kernel's grid, so the fraction is as accurate as the moments, also for
# the broad, overlapping basins at P = 5.
# (P, f, gamma, tol): at the coupling where the exact droplet fraction is f (None: 1/2)
DROPLET_CASES = [
    (401, None, G4, 1e-8),
    (401, 1e-6, G4, 1e-8),
    (401, 1 - 1e-6, G4, 1e-8),
    (1009, None, G4, 1e-8),
    (11, None, G4, 1e-8),
    (31, None, 0.02, 1e-8),
    (5, None, 1.0, 1e-8),
]


@pytest.mark.parametrize("P,f,gamma,tol", DROPLET_CASES)
def test_droplet_fraction_matches_reference(P, f, gamma, tol):
    v = _v_half(P, gamma, 0.5 if f is None else f)
    ker = pair_moments(P, v, gamma, "exact")
    ref = R.pair_moments(P, v, gamma, which=("droplet_fraction", "XY_droplet"))
    assert ker["droplet_fraction"] == pytest.approx(ref["droplet_fraction"], rel=tol)
    # and the origin-basin weight 1 - f (what the GMFL-II threshold looks at)
    assert 1 - ker["droplet_fraction"] == pytest.approx(1 - ref["droplet_fraction"], rel=10 * tol)
    assert ker["XY_droplet"] == pytest.approx(ref["XY_droplet"], rel=tol)


def test_no_droplet_without_minimum():
    for P, v, gamma in [(401, 0.00999, G4), (5, 0.1, 1.0)]:
        assert pair_moments(P, v, gamma, "exact")["droplet_fraction"] == 0.0
        assert pair_moments(P, v, gamma, "saddle")["droplet_fraction"] == 0.0


# ------------------------------------------------------------------------------------------
# saddle point vs exact
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("v,gamma", [(0.005, G4), (0.0118, G4), (VSTAR4, G4), (0.02, G4), (0.5, 0.1)])
def test_saddle_converges_to_exact_like_one_over_P(v, gamma):
    Ps = [11, 101, 1009, 10007]
    err_xy, err_logz = [], []
    for P in Ps:
        e = pair_moments(P, v, gamma, "exact")
        s = pair_moments(P, v, gamma, "saddle")
        sr = R.saddle_pair_moments(P, v, gamma)
        assert s["XY"] == pytest.approx(sr["XY"], rel=1e-12)  # the saddle kernel vs its reference
        err_xy.append(abs(s["XY"] / e["XY"] - 1))
        err_logz.append(abs(s["logZ"] - e["logZ"]))
    for errs in (err_xy, err_logz):
        ratios = np.array(errs[:-1]) / np.array(errs[1:])
        assert np.all(ratios > 5) and np.all(ratios < 20), errs  # ~ 10 per decade of P
    if v * v < gamma:
        # no droplet minimum: only the origin basin, where the saddle takes <XY> = 1/P^2 and
        # Z = 1/P^2. With x = PX, y = PY exponential and eps = 2v/P, the exact pair has
        # P^2 <XY> = <xy e^{eps xy}>/<e^{eps xy}> = (1 + 4 eps)/(1 + eps) and
        # log(P^2 Z) = log(1 + eps) to first order in eps (the sextic term is O(gamma/P^2)):
        # the 1/P coefficient itself, not only the rate
        for P, exy, elz in zip(Ps, err_xy, err_logz):
            eps = 2 * v / P
            assert exy == pytest.approx(3 * eps / (1 + 4 * eps), rel=1e-2), P
            assert elz == pytest.approx(math.log1p(eps), rel=1e-2), P


def test_saddle_droplet_weight_converges_at_half_weight_point():
    """Where the exact basins carry equal weight, the saddle's log-odds of the droplet basin
    tends to 0 as P grows (the Gaussian-mixture free energies become exact)."""
    logits = []
    for P in (101, 1009, 10007):
        v = _v_half(P, G4)
        f = pair_moments(P, v, G4, "saddle")["droplet_fraction"]
        logits.append(abs(math.log(f / (1 - f))))
    assert logits[0] > logits[1] > logits[2]
    assert logits[2] < 0.02


# ------------------------------------------------------------------------------------------
# the landscape and its degenerate point
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", [1e-4, 0.02, 1.0])
def test_degenerate_point_from_landscape(gamma):
    """Find numerically the coupling at which the non-trivial minimum of the per-mode action
    s(Phi)/P = Phi - v Phi^2 + (gamma/3) Phi^3 (the kernel's landscape_rows) touches zero."""
    P = 401.0

    def s(phi, v):
        return K.landscape_rows(np.array([phi]), P, np.array([v]), gamma)[0, 0]

    def min_nontrivial(v):
        lo = 1.0 / v  # beyond the barrier (which is below 1/v for v^2 > gamma)
        res = optimize.minimize_scalar(lambda x: s(x, v), bounds=(lo, 10 * math.sqrt(3 / gamma)),
                                       method="bounded", options={"xatol": 1e-10 * math.sqrt(3 / gamma)})
        return res.fun, res.x

    v_deg = optimize.brentq(lambda v: min_nontrivial(v)[0], math.sqrt(gamma) * 1.0001,
                            4 * math.sqrt(gamma), xtol=1e-14, rtol=1e-14)
    phi_deg = min_nontrivial(v_deg)[1]
    assert v_deg == pytest.approx(2 * math.sqrt(gamma / 3), rel=1e-9)
    assert v_deg == pytest.approx(ModularAddition.degenerate_coupling(gamma), rel=1e-9)
    assert phi_deg == pytest.approx(math.sqrt(3 / gamma), rel=1e-5)
    # the stationary point of the pair action at v* is the same Phi*, with zero action
    xp, xm = K.side_minimum(v_deg, gamma)
    assert xp == pytest.approx(math.sqrt(3 / gamma), rel=1e-6)
    assert K.pair_action(xp, xp, P, v_deg, gamma) == pytest.approx(0.0, abs=1e-6 * P * xp)
    # landscape = per-k action / P = pair action on the diagonal / (2P)
    phi = np.linspace(0, 2 * math.sqrt(3 / gamma), 50)
    row = K.landscape_rows(phi, P, np.array([0.9 * v_deg]), gamma)[0]
    np.testing.assert_allclose(row, R.pair_action(phi, phi, P, 0.9 * v_deg, gamma) / (2 * P),
                               rtol=1e-12, atol=1e-12 * math.sqrt(3 / gamma))


def test_side_minimum_matches_reference_roots():
    for v, gamma in [(0.0101, G4), (VSTAR4, G4), (0.02, G4), (1.5, 1.0), (3.0, 0.5)]:
        xp, xm = K.side_minimum(v, gamma)
        rp, rm = R.diagonal_stationary_points(v, gamma)
        assert xp == pytest.approx(rp, rel=1e-12)
        assert xm == pytest.approx(rm, rel=1e-12)
    assert all(math.isnan(x) for x in K.side_minimum(0.0099, G4))
