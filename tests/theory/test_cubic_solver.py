"""Self-consistent solutions of the cubic teacher: equations, paper reproduction, scaling.

The reference values (u_c ~ 30.2, transition near sigma2 ~ 0.18) and their accepted
intervals come from ``data/paper_reference.json`` (the paper's own numbers), never from
this package.
"""
import math

import numpy as np
import pytest
from scipy import integrate, optimize

from adaptive_kernel import get_teacher, scan
from adaptive_kernel.solver import sweep
from adaptive_kernel.teachers.base import CROSSOVER, GFL, GMFL_I

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
def _reference_landscape(b, c, p, sigma2):
    """(Shat, I, u, rho, d) written from THEORY.md (K = 2, alpha = beta = 1)."""
    N, n, d, sw2, sa2 = p["N"], p["n"], p["d"], p["sigma_w2"], p["sigma_a2"]
    u = n ** 2 * sa2 / (sigma2 ** 2 * d * N)
    rho = n * sa2 / sigma2

    def I(q):
        D = 1 + 2 * (sw2 + q * q)
        return np.array([2 / math.sqrt(math.pi) * q / math.sqrt(D),
                         -4 / math.sqrt(6 * math.pi) * q ** 3 / D ** 1.5])

    t = np.array([b, math.sqrt(6) * c])
    S = lambda q: q * q / (2 * sw2) - u / 2 * float(t @ I(q)) ** 2  # noqa: E731
    return S, I, u, rho, d


def ek_map_reference(b, c, p, sigma2):
    """T(b, c) with QUADPACK: Shat, M = <I I^T>, t = (1 + rho M)^{-1} y (K = 2, alpha = beta = 1)."""
    S, I, u, rho, d = _reference_landscape(b, c, p, sigma2)
    qs = np.linspace(0, 4, 801)
    Smin = min(S(q) for q in qs)
    w = lambda q: math.exp(-d * (S(q) - Smin))  # noqa: E731
    opts = dict(epsabs=0, epsrel=1e-13, limit=500, points=list(qs[1::40]))
    Z = integrate.quad(w, 0, 6, **opts)[0]
    M = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            M[i, j] = integrate.quad(lambda q: w(q) * I(q)[i] * I(q)[j], 0, 6, **opts)[0] / Z
    y = np.array([1.0, math.sqrt(6) * p["eps"]])
    tn = np.linalg.solve(np.eye(2) + rho * M, y)
    return np.array([tn[0], tn[1] / math.sqrt(6)])


def droplet_reference(b, c, p, sigma2):
    """P(|q| > q_split) under p(q) ~ exp(-d Shat(q)) with QUADPACK, q_split the half-saturation
    point of the erf feature r(q) = q/sqrt(1 + 2 sigma_w2 + 2 q^2) (r = 1/(2 sqrt 2)), found
    here by root finding rather than from the package's closed form."""
    S, I, u, rho, d = _reference_landscape(b, c, p, sigma2)
    sw2 = p["sigma_w2"]
    split = optimize.brentq(lambda q: q / math.sqrt(1 + 2 * sw2 + 2 * q * q) - 0.5 / math.sqrt(2), 0, 5, xtol=1e-15)
    qs = np.linspace(0, 4, 801)
    Smin = min(S(q) for q in qs)
    w = lambda q: math.exp(-d * (S(q) - Smin))  # noqa: E731
    opts = dict(epsabs=0, epsrel=1e-13, limit=500)
    Z = integrate.quad(w, 0, 6, points=list(qs[1::40]), **opts)[0]
    Zs = integrate.quad(w, split, 6, points=[q for q in qs[1::40] if q > split], **opts)[0]
    return Zs / Z


def reference_core_curvature(b, p, sigma2):
    """Shat''(0) = 1/sigma_w2 - u (t.I'(0))^2 = 1/sigma_w2 - u (4/pi) b^2/(1 + 2 sigma_w2)."""
    N, n, d, sw2, sa2 = p["N"], p["n"], p["d"], p["sigma_w2"], p["sigma_a2"]
    u = n ** 2 * sa2 / (sigma2 ** 2 * d * N)
    return 1 / sw2 - u * 4 / math.pi * b * b / (1 + 2 * sw2)


def large_d_u_c(p):
    """d -> inf u_c from an independent leading-order computation: c = eps, Gaussian core of
    variance 1/(d a), a = 1/sigma_w2 - u (4/pi) b^2/D0, b = 1/(1 + (rho/d)(4/pi)/(D0 a)),
    degeneracy min_q Shat = 0."""
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
    return n * n * sa2 / (s2c ** 2 * d * N)


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


def test_paper_reproduction_saddle(saddle_scan, paper_reference):
    REF = paper_reference["cubic_fig2"]
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


def test_large_d_limit_matches_derived_u_c(teacher, paper_reference):
    REF = paper_reference["cubic_fig2"]
    """d -> inf: u_c from the independent leading-order computation (:func:`large_d_u_c`)
    reproduces the paper's u_c ~ 30.2, and the saddle method at beta = 1e6 converges to it."""
    u_c = large_d_u_c(teacher.make_params())
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
    """Table 1 scaling beta = 1 -> 4 (grid in base units, d = 150 -> 300): less cubic
    learning before the transition (by the GFL law 1/d), a rise just below the transition
    closer to the d -> inf (saddle) one, and a boundary closer to the d -> inf one."""
    d1, d4 = quad_scan.scan, quad_scan_beta4.scan
    # GFL: p(q) is a Gaussian core of variance 1/(d Shat''(0)) (u, hence Shat, invariant);
    # H3 is learned through M13 ~ <q^4> ~ d^-2 (M33 ~ d^-3) times rho ~ d, so eps - c ~ 1/d
    # and doubling d halves the cubic component learned (corrections O(1/d), a few per cent
    # at d = 150), far above the boundary (sigma2 ~ 0.19)
    gfl = GRID >= 0.25
    np.testing.assert_allclose(d4["cubic_learned"][gfl] / d1["cubic_learned"][gfl], 0.5, rtol=0.05)

    def slope_below(d):
        """Slope of the cubic component just below the d -> inf transition."""
        slope = -np.gradient(d["cubic_learned"], GRID)
        return slope[(GRID > 0.15) & (GRID < 0.17)].mean()

    s1, s4, s_sad = slope_below(d1), slope_below(d4), slope_below(saddle_scan.scan)
    assert s1 < s4 < s_sad                      # the rise steepens toward the d -> inf one
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
    """Finite d: GMFL-I where the droplet region |q| > q_split holds >= 1/N of the neurons
    and Shat has a side minimum (q_star); the same droplet-region weight without a side
    minimum (a shoulder of p(q)) is the crossover (code 3), e.g. at sigma2 = 0.18, 0.17."""
    d = quad_scan.scan
    assert d["phase"][0] == GFL and d["phase"][-1] == GMFL_I
    mixed = d["phase"] == GMFL_I
    cross = d["phase"] == CROSSOVER
    assert np.all(d["droplet_fraction"][mixed] >= 1 / 700)
    assert np.all(np.isfinite(d["q_star"][mixed]))
    assert np.all(d["droplet_fraction"][cross] >= 1 / 700)
    assert np.all(np.isnan(d["q_star"][cross]))
    assert np.all(d["droplet_fraction"][~(mixed | cross)] < 1 / 700)
    for s in (0.18, 0.17):
        assert d["phase"][int(np.argmin(np.abs(GRID - s)))] == CROSSOVER
    assert np.all(d["q_split"] == pytest.approx(math.sqrt(2 / 6), rel=1e-15))


@pytest.mark.parametrize("sigma2", [0.25, 0.19, 0.155, 0.1525, 0.145, 0.1425, 0.14, 0.1375, 0.1])
def test_quadrature_droplet_fraction_against_quadpack(teacher, quad_scan, sigma2):
    """The stored droplet fraction is P(|q| > q_split) at the stored state, evaluated
    independently with QUADPACK (the points include the old spinodal jump at 0.1525 and the
    old kink between 0.1425 and 0.14, where the sum over trapezoid nodes beyond the barrier
    was off by up to 4%)."""
    i = int(np.argmin(np.abs(GRID - sigma2)))
    d = quad_scan.scan
    ref = droplet_reference(d["b"][i], d["c"][i], teacher.make_params(), GRID[i])
    assert d["droplet_fraction"][i] == pytest.approx(ref, rel=1e-9)


def test_quadrature_droplet_fraction_is_smooth(teacher, quad_scan):
    """No jump where the side minimum of Shat is born: on the 81-point grid (sigma2 <= 0.17)
    f grows monotonically and equals, at every point, P(|q| > q_split) integrated
    independently with QUADPACK (the old barrier-based definition jumped from 0 to 0.0106
    at the spinodal, ~30 times its median increment)."""
    d = quad_scan.scan
    f = d["droplet_fraction"]
    # the side minimum is born inside the grid (brute force on the reference landscape)
    born = []
    for i in range(0, len(GRID), 4):
        S, _, _, _, _ = _reference_landscape(d["b"][i], d["c"][i], teacher.make_params(), GRID[i])
        q = np.linspace(0.3, 2.0, 1701)
        v = np.array([S(x) for x in q])
        born.append(bool(np.any((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:]))))
    assert not born[0] and born[-1]
    sel = GRID <= 0.17
    df = np.diff(f)[sel[:-1]]                      # the grid runs down in sigma2
    assert np.all(df > 0)                          # f grows as sigma2 decreases
    p = teacher.make_params()
    for i in np.flatnonzero(sel):                  # no jump: every point is the smooth integral
        assert f[i] == pytest.approx(droplet_reference(d["b"][i], d["c"][i], p, GRID[i]), rel=1e-9), GRID[i]


def _has_side_minimum(b, c, params, sigma2):
    """Brute force on the reference landscape: a local minimum of Shat at 0.3 < q < 2."""
    S = _reference_landscape(b, c, params, sigma2)[0]
    q = np.linspace(0.3, 2.0, 3401)
    v = np.array([S(x) for x in q])
    return bool(np.any((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])))


def test_quadrature_boundary_is_where_droplets_hold_one_neuron(teacher, quad_scan):
    """sigma2_gmfl1 brackets the point where the droplet phase begins: below it the
    independently integrated P(|q| > q_split) is >= 1/N *and* the reference landscape has a
    side minimum; above it one of the two fails (at d = 150 the side minimum is born last:
    above the boundary p(q) has only a shoulder, the crossover), at states that satisfy the
    independently evaluated equations."""
    p = teacher.make_params()
    s_b = quad_scan.sigma2_gmfl1
    assert quad_scan.transitions["sigma2_gmfl1"][2]       # located by a converged bisection
    sols = sweep(teacher, p, [s_b + 2e-4, s_b - 2e-4])
    f, side = [], []
    for sol in sols:
        assert sol.success
        assert np.max(np.abs(ek_map_reference(sol.x[0], sol.x[1], p, sol.sigma2) - sol.x)) < 1e-10
        f.append(droplet_reference(sol.x[0], sol.x[1], p, sol.sigma2))
        side.append(_has_side_minimum(sol.x[0], sol.x[1], p, sol.sigma2))
    assert f[1] >= 1 / 700 and side[1]
    assert f[0] < 1 / 700 or not side[0]
    assert f[0] >= 1 / 700 and not side[0]          # the crossover side at d = 150


def test_quadrature_boundary_tends_to_large_d_limit(teacher):
    """Table 1 scaling beta = 1, 4, 16: the finite-d boundary u_c approaches the
    independently computed d -> inf value (30.67). GMFL-I needs a populated side minimum:
    at beta = 1 and 4 the side minimum is born after the droplet region holds 1/N of the
    neurons, so its birth (u_c = 42.1, 33.3) sets the boundary; at beta = 16 the side basin
    is populated when it appears (u_c = 29.6)."""
    u_inf = large_d_u_c(teacher.make_params())
    g = np.linspace(0.20, 0.12, 33)
    u = [scan(teacher, teacher.make_params(beta=beta), g, thermodynamics=False).u_c for beta in (1, 4, 16)]
    assert np.all(np.isfinite(u))
    dist = [abs(u_inf - x) for x in u]
    assert dist[0] > dist[1] > dist[2], (u, u_inf)
    assert u[0] > u[1] > u_inf > u[2], (u, u_inf)


def test_eps_positive_core_instability_is_not_a_droplet_phase(teacher):
    """eps = +0.3, d = 150: the self-consistent core loses stability (Shat''(0) < 0 below
    sigma2 ~ 0.195; the positive quartic term of Shat keeps p(q) narrow) and p(q) peaks at
    small |q|, far inside q_split. This is not a droplet phase: the mass beyond q_split stays
    below 1/N, as in the d -> inf (saddle) method. The old rule set the barrier at q = 0 there
    and reported f = 0.95 (GMFL-I at sigma2 = 0.196). The instability is a finite-d effect:
    at beta = 64 the core stays stable on the whole grid."""
    g = np.linspace(0.3, 0.1, 41)
    p = teacher.make_params(eps=0.3)
    rq = scan(teacher, p, g)
    rs = scan(teacher, teacher.make_params(eps=0.3, method="saddle"), g)
    d = rq.scan
    assert d["converged"].all() and rs.scan["converged"].all()
    a0 = np.array([reference_core_curvature(b, p, s) for b, s in zip(d["b"], g)])
    assert a0[0] > 0 and a0[-1] < 0                       # the origin becomes a maximum
    assert np.all(d["phase"] == GFL) and np.all(rs.scan["phase"] == GFL)
    assert math.isnan(rq.sigma2_gmfl1) and math.isnan(rs.sigma2_gmfl1)
    for i in (20, 40):                                     # sigma2 = 0.2 and 0.1
        assert np.max(np.abs(ek_map_reference(d["b"][i], d["c"][i], p, g[i]) - [d["b"][i], d["c"][i]])) < 1e-10
        ref = droplet_reference(d["b"][i], d["c"][i], p, g[i])
        assert d["droplet_fraction"][i] == pytest.approx(ref, rel=1e-9, abs=1e-300)
        assert ref < 1 / 700
    S, _, _, _, _ = _reference_landscape(d["b"][-1], d["c"][-1], p, g[-1])
    q = np.linspace(0, 2, 4001)
    qmax = q[np.argmin([S(x) for x in q])]                 # the maximum of p(q)
    assert 0 < qmax < d["q_split"][-1]                     # off the origin, inside q_split
    # saddle: the Gaussian core's variance 1/(d a0) feeds back and keeps a0 > 0 (a0 from the
    # stored b with the independent formula; the stored core curvature is that value)
    a0s = np.array([reference_core_curvature(b, p, s) for b, s in zip(rs.scan["b"], g)])
    assert np.all(a0s > 0)
    np.testing.assert_allclose(rs.scan["core_curvature"], a0s, rtol=1e-12)
    # finite-d effect: gone at beta = 64 (independent a0 from the stored b)
    p64 = teacher.make_params(eps=0.3, beta=64)
    r64 = scan(teacher, p64, g)
    assert r64.scan["converged"].all()
    # (u is invariant under the scaling, so the base parameters give Shat''(0))
    assert np.all([reference_core_curvature(b, p, s) > 0 for b, s in zip(r64.scan["b"], g)])


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
