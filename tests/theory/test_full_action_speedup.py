"""The fast path of ``action="full"`` (issue 12) against the straightforward evaluation.

The fast path changes how the equations are solved, never the equations:

1. the zero-pair quadrature sums one quadrant of a symmetric rule; checked against the
   full 24 x 24-panel rule written out here in NumPy;
2. the inner GPR root r*(y) is searched around a warm-start guess
   (:func:`modadd._bracket_around`); checked on analytic functions with known roots, and
   :func:`modadd.residual_at` with guesses (exact, near, far, outside the bracket) against
   the cold Brent search on [0, r_max];
3. ``solve_map`` (warm inner roots within one solve) and ``restart_states`` (the prior
   state as an extra start of Powell's method): solutions and every stored observable at
   P = 23, in GFL and in the mixed phase, against the solver run on the teacher with both
   hidden (the straightforward path: cold inner roots, the solver's homotopies), to 1e-10;
   and the bisection of the GFL -> GMFL-I boundary at the same sigma2.

No timing here: the speed is measured by ``benchmarks/bench_full_action_scan.py``.
"""
import math

import numpy as np
import pytest
from scipy import optimize

from adaptive_kernel import get_teacher
from adaptive_kernel import solver as S
from adaptive_kernel.teachers import _modadd_kernels as K
from adaptive_kernel.teachers import modadd as MA

T = get_teacher("modadd")
#: small modulus with a mixed phase below sigma2 ~ 0.169 (GFL above)
KW = dict(P=23, N=100, sigma_a2=0.01, gamma=1.0)
PARAMS = T.make_params(action="full", **KW)


class Straightforward:
    """The teacher without its solver accelerations (``solve_map``, ``restart_states``):
    every map call solves the inner root cold, and the solver uses its generic cascade."""

    def __init__(self, teacher):
        self._teacher = teacher

    def __getattr__(self, name):
        if name in ("solve_map", "restart_states"):
            raise AttributeError(name)
        return getattr(self._teacher, name)


SLOW = Straightforward(T)


def test_straightforward_proxy_hides_the_accelerations():
    assert getattr(SLOW, "solve_map", None) is None
    assert getattr(SLOW, "restart_states", None) is None
    assert callable(T.solve_map(PARAMS, 0.1)) and len(T.restart_states(PARAMS, 0.1)) == 1
    # the EK action (scalar state) has neither
    assert T.solve_map(T.make_params(P=23), 0.1) is None
    assert T.restart_states(T.make_params(P=23), 0.1) == []


# -- 1. zero pair ----------------------------------------------------------------------
def full_grid_zero_pair(P, gamma, kappa, q4, order=12, npan=24):
    """Moments <s0^2>, <s0^4>, <W0^2>, <W0 V0> by the composite Gauss-Legendre rule on
    the whole square [-L_s, L_s] x [-L_d, L_d] (24 panels per axis, vectorised NumPy)."""
    ls = math.sqrt(80.0 / (0.25 * P + kappa))
    ld = math.sqrt(80.0 / (0.25 * P))
    lg = (80.0 * 192.0 / (P * gamma)) ** (1.0 / 6.0)
    ls, ld = min(ls, lg), min(ld, lg)
    gx, gw = np.polynomial.legendre.leggauss(order)

    def nodes(L):
        e = np.linspace(-L, L, npan + 1)
        a, b = e[:-1, None], e[1:, None]
        return (0.5 * (a + b) + 0.5 * (b - a) * gx).ravel(), (0.5 * (b - a) * gw).ravel()

    s, ws = nodes(ls)
    d, wd = nodes(ld)
    S_, D_ = np.meshgrid(s, d, indexing="ij")
    W0, V0 = 0.5 * (S_ + D_), 0.5 * (S_ - D_)
    act = (0.5 * P * (W0 ** 2 + V0 ** 2) + P * gamma / 6.0 * (W0 ** 6 + V0 ** 6)
           + kappa * S_ ** 2 + q4 * S_ ** 4)
    w = np.outer(ws, wd) * np.exp(-act)
    Z = w.sum()
    return np.array([(w * S_ ** 2).sum(), (w * S_ ** 4).sum(), (w * 0.5 * (W0 ** 2 + V0 ** 2)).sum(),
                     (w * W0 * V0).sum()]) / Z


@pytest.mark.parametrize("P,gamma,kappa,q4", [(23, 1.0, 0.0, 0.0), (23, 1.0, 3.7, 0.2), (401, 1e-4, 12.0, 0.01),
                                              (17, 1.0, 250.0, 5.0)])
def test_zero_pair_quadrant_equals_full_rule(P, gamma, kappa, q4):
    fast = K.zero_pair_moments(float(P), gamma, kappa, q4, MA._ZGL_X, MA._ZGL_W)
    ref = full_grid_zero_pair(P, gamma, kappa, q4)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-15 * abs(ref[0]))


# -- 2. warm-started inner root ------------------------------------------------------------
@pytest.mark.parametrize("root", [0.3, 0.999955, 1e-4])
@pytest.mark.parametrize("rel", [0.0, 1e-15, -1e-12, 1e-7, -3e-3, 0.5, -0.9])
def test_bracket_around_contains_the_root(root, rel):
    # a steep, strongly non-linear increasing F with F(0) < 0 < F(1) and a known root
    F = lambda r: math.tanh(200.0 * (r - root)) + 1e-3 * (r - root)  # noqa: E731
    guess = root * (1.0 + rel)
    a, b, n = MA._bracket_around(F, guess, 0.0, 1.0)
    assert 0.0 <= a <= b <= 1.0
    assert n >= 1 if 0.0 < guess < 1.0 else (a, b, n) == (0.0, 1.0, 0)
    assert F(a) <= 0.0 <= F(b)
    r = optimize.brentq(F, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps) if a < b else a
    assert abs(r - root) <= 1e-15 + 8 * np.finfo(float).eps * root
    if rel == 0.0:
        assert n <= 2  # F(guess) and one point at Brent's resolution


def test_bracket_around_outside_or_nonfinite_gives_the_whole_bracket():
    F = lambda r: r - 0.5  # noqa: E731
    assert MA._bracket_around(F, 1.5, 0.0, 1.0) == (0.0, 1.0, 0)
    assert MA._bracket_around(F, 0.0, 0.0, 1.0) == (0.0, 1.0, 0)
    assert MA._bracket_around(lambda r: math.nan, 0.5, 0.0, 1.0) == (0.0, 1.0, 1)


@pytest.mark.parametrize("sigma2", [0.25, 0.15, 0.05])
@pytest.mark.parametrize("rel", [0.0, 1e-12, -1e-6, 0.3, -0.5, 5.0])
def test_warm_residual_equals_cold(sigma2, rel):
    y = MA.inner_prior_state(PARAMS["P"]) * np.array([1.01, 1.2, 1.5, 0.97])
    cold = MA.residual_at(y, PARAMS, sigma2)
    warm = MA.residual_at(y, PARAMS, sigma2, r_guess=cold["r"] * (1.0 + rel))
    assert math.isfinite(cold["r"])
    assert abs(warm["r"] - cold["r"]) <= 4e-15
    np.testing.assert_allclose(warm["T_inner"], cold["T_inner"], rtol=1e-12)
    for k in ("XY", "X", "X2", "droplet_fraction", "s0sq"):
        assert warm["mom"][k] == pytest.approx(cold["mom"][k], rel=1e-12, abs=1e-300)


# -- 3. solver: fast path against the straightforward one ------------------------------------
STATE = MA.INNER_STATE
OBS = ("residual", "lambda", "droplet_fraction", "droplet_share", "mean_X", "mean_X0", "lambda_offtarget",
       "lambda_1", "lambda_00", "coupling", "field", "quartic", "mean_s0sq", "action_gap", "phi_star")


def _close(a, b, tol=1e-10):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(a))


@pytest.fixture(scope="module")
def sweeps():
    grid = [0.2, 0.17, 0.166, 0.12]  # GFL, GFL, mixed, mixed (continuation across the boundary)
    fast = S.sweep(T, PARAMS, grid)
    slow = S.sweep(SLOW, PARAMS, grid)
    return grid, fast, slow


def test_fast_sweep_matches_straightforward(sweeps):
    grid, fast, slow = sweeps
    phases = []
    for s2, a, b in zip(grid, fast, slow):
        assert a.success and b.success, (s2, a, b)
        np.testing.assert_allclose(a.x, b.x, rtol=1e-10, atol=1e-12)
        oa, ob = T.observables(a.x, PARAMS, s2), T.observables(b.x, PARAMS, s2)
        for k in OBS:
            assert _close(oa[k], ob[k]), (s2, k, oa[k], ob[k])
        assert oa["phase"] == ob["phase"]
        phases.append(oa["phase"])
    assert phases[0] == 0 and phases[-1] == 1  # both phases are covered


def test_boundary_bisection_matches_straightforward(sweeps):
    grid, fast, slow = sweeps
    pred = lambda obs: obs["phase"] in (1, 2)  # noqa: E731
    got = S.locate_boundary(T, PARAMS, pred, grid[1], fast[1].x, grid[2], fast[2].x, tol=1e-3)
    ref = S.locate_boundary(SLOW, PARAMS, pred, grid[1], slow[1].x, grid[2], slow[2].x, tol=1e-3)
    assert got[2] and ref[2]
    assert got[0] == ref[0] and got[1] == ref[1]
