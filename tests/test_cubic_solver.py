"""Self-consistent solutions of the cubic teacher: equations, paper reproduction, scaling.

The reference values (u_c ~ 30.2, transition near sigma2 ~ 0.18) and their accepted
intervals come from ``data/paper_reference.json`` (the paper's own numbers), never from
this package.
"""
import json
import math
import os

import numpy as np
import pytest
from scipy import integrate, optimize

from adaptive_kernel import get_teacher, scan
from adaptive_kernel.solver import sweep
from adaptive_kernel.teachers.base import GFL, GMFL_I

HERE = os.path.dirname(__file__)
REF = json.load(open(os.path.join(HERE, "..", "data", "paper_reference.json")))["cubic_fig2"]
GRID = np.linspace(0.3, 0.1, 81)


@pytest.fixture(scope="module")
def teacher():
    return get_teacher("cubic")


@pytest.fixture(scope="module")
def saddle_scan(teacher):
    return scan(teacher, teacher.make_params(method="saddle"), GRID)


@pytest.fixture(scope="module")
def quad_scan(teacher):
    return scan(teacher, teacher.make_params(), GRID)


@pytest.fixture(scope="module")
def quad_scan_beta4(teacher):
    return scan(teacher, teacher.make_params(beta=4), GRID)


# --------------------------------------------------------------------------------------
# independent evaluation of the equations (plain SciPy, written from THEORY.md)
# --------------------------------------------------------------------------------------
def ek_map_reference(b, c, p, sigma2):
    """T(b, c) with QUADPACK: Shat, M = <I I^T>, t = (1 + rho M)^{-1} y (K = 2, alpha = beta = 1)."""
    N, n, d, sw2, sa2, eps = p["N"], p["n"], p["d"], p["sigma_w2"], p["sigma_a2"], p["eps"]
    u = n ** 2 * sa2 / (sigma2 ** 2 * d * N)
    rho = n * sa2 / sigma2

    def I(q):
        D = 1 + 2 * (sw2 + q * q)
        return np.array([2 / math.sqrt(math.pi) * q / math.sqrt(D),
                         -4 / math.sqrt(6 * math.pi) * q ** 3 / D ** 1.5])

    t = np.array([b, math.sqrt(6) * c])
    S = lambda q: q * q / (2 * sw2) - u / 2 * float(t @ I(q)) ** 2  # noqa: E731
    qs = np.linspace(0, 4, 801)
    Smin = min(S(q) for q in qs)
    w = lambda q: math.exp(-d * (S(q) - Smin))  # noqa: E731
    opts = dict(epsabs=0, epsrel=1e-13, limit=500, points=list(qs[1::40]))
    Z = integrate.quad(w, 0, 6, **opts)[0]
    M = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            M[i, j] = integrate.quad(lambda q: w(q) * I(q)[i] * I(q)[j], 0, 6, **opts)[0] / Z
    y = np.array([1.0, math.sqrt(6) * eps])
    tn = np.linalg.solve(np.eye(2) + rho * M, y)
    return np.array([tn[0], tn[1] / math.sqrt(6)])


def test_every_stored_point_satisfies_its_equation(teacher, quad_scan, saddle_scan):
    for res, method in ((quad_scan, "quadrature"), (saddle_scan, "saddle")):
        p = teacher.make_params(method=method)
        for branch in ("down", "up"):
            d = res.branches[branch]
            assert d["converged"].all(), (method, branch)
            assert np.max(d["equation_residual"]) <= 1e-10
        # recompute |x - T(x)| from the stored state on a few points
        d = res.scan
        for i in range(0, len(GRID), 10):
            x = np.array([d["b"][i], d["c"][i]] + ([d["droplet_fraction"][i]] if method == "saddle" else []))
            r = np.max(np.abs(x - teacher.fixed_point_map(x, p, GRID[i])))
            assert r <= 1e-10


@pytest.mark.parametrize("sigma2", [0.25, 0.16, 0.12])
def test_quadrature_solution_satisfies_independent_equations(teacher, quad_scan, sigma2):
    """The stored (b, c) is a fixed point of the EK map evaluated independently with QUADPACK."""
    i = int(np.argmin(np.abs(GRID - sigma2)))
    b, c = quad_scan.scan["b"][i], quad_scan.scan["c"][i]
    new = ek_map_reference(b, c, teacher.make_params(), GRID[i])
    assert np.max(np.abs(new - [b, c])) < 1e-10


def test_higher_modes_solution_satisfies_equations(teacher):
    p = teacher.make_params(modes=3)
    sols = sweep(teacher, p, np.linspace(0.3, 0.1, 9))
    assert all(s.success and s.residual <= 1e-10 for s in sols)
    assert all(s.x.size == 3 for s in sols)


def test_paper_reproduction_saddle(saddle_scan):
    """Default (Fig. 2) setting, --method saddle: u_c and the GFL -> GMFL-I boundary."""
    lo, hi = REF["u_c"]["accept"]
    assert lo <= saddle_scan.u_c <= hi
    lo, hi = REF["sigma2_gmfl1"]["accept"]
    assert lo <= saddle_scan.sigma2_gmfl1 <= hi
    # first order: in the saddle mixture the side basins carry zero weight before the
    # boundary and a finite one after it, pinned at exact degeneracy
    d = saddle_scan.scan
    before = GRID > saddle_scan.sigma2_gmfl1
    assert np.all(d["droplet_fraction"][before] < 1e-9)
    assert np.all(d["phase"][before] == GFL)
    after = GRID < saddle_scan.sigma2_gmfl1 - 0.002
    assert np.all(d["phase"][after] == GMFL_I)
    assert np.all(np.abs(d["action_gap"][after]) < 1e-9)
    assert np.all((d["q_star"][after] > 0.5) & (d["q_star"][after] < 1.5))  # |q*| of order 1


def test_large_d_limit_matches_derived_u_c(teacher):
    """d -> inf: u_c from an independent leading-order computation (c = eps, Gaussian core of
    variance 1/(d a), a = 1/sigma_w2 - u (4/pi) b^2/D0, b = 1/(1 + (rho/d)(4/pi)/(D0 a)),
    degeneracy min_q Shat = 0) reproduces the paper's u_c ~ 30.2, and the saddle method at
    beta = 1e6 converges to it."""
    p = teacher.make_params()
    N, n, d, sw2, sa2, eps = p["N"], p["n"], p["d"], p["sigma_w2"], p["sigma_a2"], p["eps"]
    D0 = 1 + 2 * sw2

    def gap(s2):
        u = n * n * sa2 / (s2 * s2 * d * N)
        rd = n * sa2 / s2 / d
        bmax = math.sqrt(D0 / (sw2 * u * 4 / math.pi))
        b = optimize.brentq(lambda b: b - 1 / (1 + rd * (4 / math.pi) / (D0 * (1 / sw2 - u * 4 / math.pi * b * b / D0))),
                            1e-12, bmax * (1 - 1e-12))
        q = np.linspace(0.05, 3, 6000)
        Dq = 1 + 2 * (sw2 + q * q)
        S = q * q / (2 * sw2) - u / 2 * (4 / math.pi) * q * q / Dq * (b - 2 * eps * q * q / Dq) ** 2
        return S.min()

    s2c = optimize.brentq(gap, 0.12, 0.25, xtol=1e-10)
    u_c = n * n * sa2 / (s2c ** 2 * d * N)
    assert u_c == pytest.approx(REF["u_c"]["value"], rel=0.03)
    res = scan(teacher, teacher.make_params(method="saddle", beta=1e6), np.linspace(0.19, 0.17, 11))
    assert res.u_c == pytest.approx(u_c, rel=2e-3)


def test_quadrature_cubic_component_learned_after_transition(quad_scan):
    d = quad_scan.scan
    i01, i025 = int(np.argmin(np.abs(GRID - 0.1))), int(np.argmin(np.abs(GRID - 0.25)))
    assert d["cubic_learned"][i025] > 0
    assert d["cubic_learned"][i01] > 3 * d["cubic_learned"][i025]
    # the linear component is learned throughout (b decreases monotonically with sigma2)
    assert np.all(np.diff(d["b"]) < 0)


def test_transition_sharpens_with_beta(quad_scan, quad_scan_beta4, saddle_scan):
    """Table 1 scaling beta = 1 -> 4 (grid in base units): less cubic learning before the
    transition, a steeper rise, and a boundary closer to the d -> inf (saddle) one."""
    d1, d4 = quad_scan.scan, quad_scan_beta4.scan
    i025 = int(np.argmin(np.abs(GRID - 0.25)))
    assert d4["cubic_learned"][i025] < 0.7 * d1["cubic_learned"][i025]

    def kink(d):
        """Slope of the cubic component just below the d -> inf transition over the slope above it."""
        slope = -np.gradient(d["cubic_learned"], GRID)
        below, above = (GRID > 0.15) & (GRID < 0.17), (GRID > 0.19) & (GRID < 0.21)
        return slope[below].mean() / slope[above].mean()

    assert kink(d4) > 2 * kink(d1) > 4
    s_inf = saddle_scan.sigma2_gmfl1
    assert abs(quad_scan_beta4.sigma2_gmfl1 - s_inf) < abs(quad_scan.sigma2_gmfl1 - s_inf)
    # u is invariant under the scaling; the physical noise is (alpha/beta) sigma2
    assert np.allclose(d1["u"], d4["u"], rtol=1e-13)
    assert np.allclose(d4["sigma2_scaled"], GRID / 4, rtol=1e-14)
    assert np.allclose(d4["d_scaled"], 300.0)


def test_up_and_down_sweeps_agree(quad_scan, saddle_scan):
    assert quad_scan.branch_difference < 1e-9
    assert saddle_scan.branch_difference < 1e-9


def test_quadrature_phases(quad_scan):
    """Finite d: GMFL-I where p(q) has a side basin holding >= 1/N of the neurons."""
    d = quad_scan.scan
    assert d["phase"][0] == GFL and d["phase"][-1] == GMFL_I
    mixed = d["phase"] == GMFL_I
    assert np.all(d["droplet_fraction"][mixed] >= 1 / 700)
    assert np.all(np.isfinite(d["q_star"][mixed]))
    assert 0.14 < quad_scan.sigma2_gmfl1 < 0.17


def test_two_vs_three_modes_close(teacher):
    """The two-mode closure: adding H5 changes b, c by < 1e-2 and the boundary by < 2e-3."""
    g = np.linspace(0.2, 0.1, 21)
    r2 = scan(teacher, teacher.make_params(method="saddle"), g)
    r3 = scan(teacher, teacher.make_params(method="saddle", modes=3), g)
    assert np.max(np.abs(r2.scan["b"] - r3.scan["b"])) < 1e-2
    assert np.max(np.abs(r2.scan["c"] - r3.scan["c"])) < 1e-2
    assert abs(r2.sigma2_gmfl1 - r3.sigma2_gmfl1) < 2e-3
    assert np.all(np.isfinite(r3.scan["c5"]))


def test_eps_zero_and_single_mode(teacher):
    g = np.linspace(0.3, 0.1, 5)
    r = scan(teacher, teacher.make_params(eps=0.0), g)
    assert r.scan["converged"].all()
    assert np.all(np.isnan(r.scan["cubic_learned"]))
    r1 = scan(teacher, teacher.make_params(modes=1), g)
    assert r1.scan["converged"].all()
    assert np.allclose(r1.scan["c"], -0.3)


def test_sigma_a2_follows_width(teacher):
    assert teacher.make_params(N=1400)["sigma_a2"] == pytest.approx(8 / 1400)
    assert teacher.make_params(N=1400, sigma_a2=0.01)["sigma_a2"] == 0.01
