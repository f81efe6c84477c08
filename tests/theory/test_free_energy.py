"""The mean-field free energy (docs/theory.md section 10) of both theories.

* its gradient with respect to the order parameters vanishes at the stored solutions
  (central finite differences of the functional, away from the solution);
* it matches an independent evaluation written here (modular addition: the pair partition
  function by SciPy's dblquad; cubic: Shat from the closed-form erf projections of
  THEORY.md section 2, integrated by QUADPACK);
* its stored sigma2 derivative (envelope theorem, computed from the solution alone)
  matches finite differences of the free energy along the solutions (thermodynamic
  integration).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from adaptive_kernel import get_teacher
from adaptive_kernel.solver import scan, solve
from adaptive_kernel.teachers import modadd as MA

# a small modular-addition setting whose mixed phase lies inside 0.3 ... 0.15 (paper
# normalisation: sigma2_I ~ 0.253, sigma2_II ~ 0.195)
SMALL = dict(P=23, N=29, sigma_a2=2e-4, gamma=0.01)


@pytest.fixture(scope="module")
def modadd():
    return get_teacher("modadd")


@pytest.fixture(scope="module")
def cubic():
    return get_teacher("cubic")


def _modadd_F(r, p, s, basin="all"):
    return MA.free_energy(r, p, s, basin)["free_energy"]


@pytest.mark.parametrize("normalization", ["paper", "derived"])
@pytest.mark.parametrize("sigma2", [0.28, 0.23, 0.2, 0.17])
def test_modadd_gradient_vanishes_at_solutions(modadd, normalization, sigma2):
    """dF/dr = 0 at the self-consistent r, in GFL, the mixed phase and GMFL-II; the scale
    is c_y/sigma2, the size of each of the two terms of dF/dr."""
    p = modadd.make_params(normalization=normalization, **SMALL)
    sol = solve(modadd, p, sigma2)
    assert sol.success
    r = float(sol.x[0])
    h = 1e-7 * r
    grad = (_modadd_F(r + h, p, sigma2) - _modadd_F(r - h, p, sigma2)) / (2 * h)
    scale = MA.target_norm_per_neuron(p["P"], p["N"], p["sigma_a2"], normalization) / sigma2
    assert abs(grad) < 1e-6 * scale
    # and it does not vanish away from the solution (the test can fail)
    r2 = 0.9 * r
    grad2 = (_modadd_F(r2 + h, p, sigma2) - _modadd_F(r2 - h, p, sigma2)) / (2 * h)
    assert abs(grad2) > 1e-3 * scale


def _pair_logZ_dblquad(P, v, gamma, region="all", x_minus=None):
    """log of int exp(-A(X, Y)) over a region, A = P [X + Y - 2 v X Y + (gamma/3)(X^3 + Y^3)],
    with QUADPACK (shifted by the basin's own minimum of A)."""
    def A(x, y):
        return P * (x + y - 2 * v * x * y + gamma / 3 * (x ** 3 + y ** 3))

    xp = (v + math.sqrt(v * v - gamma)) / gamma if v * v > gamma else None
    big = 6.0 * (xp if xp else 1.0) + 60.0 / P + 5 * gamma ** (-1 / 3)
    if region == "droplet":
        shift = -A(xp, xp)
        val, _ = integrate.dblquad(lambda y, x: math.exp(-A(x, y) - shift), x_minus, big,
                                   x_minus, big, epsabs=0, epsrel=1e-12)
        return math.log(val) + shift
    shift = 0.0 if region == "origin" else max(0.0, -A(xp, xp)) if xp else 0.0

    def f(y, x):
        if region == "origin" and x_minus is not None and x > x_minus and y > x_minus:
            return 0.0
        return math.exp(-A(x, y) - shift)

    pts = [x_minus] if x_minus else None
    tot = 0.0
    edges = [0.0] + ([x_minus] if pts else []) + [big]
    for a, b in zip(edges[:-1], edges[1:]):
        for c, d in zip(edges[:-1], edges[1:]):
            val, _ = integrate.dblquad(f, a, b, c, d, epsabs=0, epsrel=1e-12)
            tot += val
    return math.log(tot) + shift


@pytest.mark.parametrize("v", [0.0, 0.08, 0.12, 0.2])
def test_modadd_basin_partition_functions_against_dblquad(v):
    """log Z of the pair over the quarter plane and over each basin (origin: outside the
    droplet quadrant X, Y > X_minus; droplet: inside it) against SciPy's dblquad at P = 7."""
    P, gamma = 7.0, 0.01
    xm = 1.0 / (v + math.sqrt(v * v - gamma)) if v * v > gamma else None
    for basin in ("all", "origin", "droplet"):
        got = MA.basin_pair_moments(P, v, gamma, "exact", basin)["logZ"]
        if basin == "droplet" and xm is None:
            assert math.isnan(got)
            continue
        ref = _pair_logZ_dblquad(P, v, gamma, basin, xm)
        assert got == pytest.approx(ref, rel=1e-9, abs=1e-9), basin


def test_modadd_free_energy_against_independent_formula(modadd):
    """F/N = c_y (r - r^2/2)/sigma2 - M [log Z(u r^2) - log Z(0)] written out here with
    dblquad's log Z, c_y = P (P - 1)/N (derived) and 4 P^3 (P - 1)/N (paper), at P = 7 and
    the stored solution."""
    for norm, cy in (("derived", 7 * 6 / 50), ("paper", 4 * 7 ** 3 * 6 / 50)):
        p = modadd.make_params(P=7, N=50, sigma_a2=2e-3, gamma=0.05, normalization=norm)
        s = 0.05
        r = float(solve(modadd, p, s).x[0])
        u = 2 * p["sigma_a2"] * 49 / (p["N"] * s * s)
        ref = (cy * (r - r * r / 2) / s
               - 3 * (_pair_logZ_dblquad(7.0, u * r * r, 0.05) - _pair_logZ_dblquad(7.0, 0.0, 0.05)))
        assert _modadd_F(r, p, s) == pytest.approx(ref, rel=1e-9)


def test_modadd_thermodynamic_integration(modadd):
    """F(sigma2_a) - F(sigma2_b) along the equilibrium solutions equals the integral of the
    stored dF/dsigma2 = -c_y r^2/(2 sigma2^2) (computed from r alone), across GFL, the mixed
    phase and GMFL-II (trapezoid rule with a Richardson step)."""
    p = modadd.make_params(normalization="paper", **SMALL)
    g = np.linspace(0.30, 0.15, 41)
    res = scan(modadd, p, g, thermodynamics=False)
    d = res.scan
    assert d["converged"].all()
    F, dF = d["free_energy"], d["free_energy_dsigma2"]
    coarse = integrate.trapezoid(dF[::2], g[::2])
    fine = integrate.trapezoid(dF, g)
    integral = fine + (fine - coarse) / 3.0
    # (the second derivative jumps at the two boundaries: the rule's error there ~ 3e-5)
    assert F[-1] - F[0] == pytest.approx(integral, rel=1e-4)
    # locally: central differences of F along solutions, one point in each phase
    for i in (3, 20, 36):
        assert d["phase"][i] == {3: 0, 20: 1, 36: 2}[i]
        h = 1e-6
        a = solve(modadd, p, g[i] + h, x0=[d["residual"][i]])
        b = solve(modadd, p, g[i] - h, x0=[d["residual"][i]])
        fd = (_modadd_F(a.x[0], p, g[i] + h) - _modadd_F(b.x[0], p, g[i] - h)) / (2 * h)
        assert dF[i] == pytest.approx(fd, rel=1e-7)


@pytest.fixture(scope="module")
def cubic_scan(cubic):
    p = cubic.make_params(**cubic.example)
    g = np.linspace(0.3, 0.08, 23)
    return p, g, scan(cubic, p, g, thermodynamics=False)


def test_cubic_gradient_vanishes_at_solutions(cubic, cubic_scan):
    """grad_(b, c) F = 0 at every stored solution (quadrature), relative to u d/rho, the
    scale of each term; away from the solution it does not."""
    p, g, res = cubic_scan
    d = res.scan
    assert d["converged"].all()
    for i in range(0, len(g), 4):
        x = np.array([d["b"][i], d["c"][i]])
        y, sqf, c, u, rho, dd = cubic._setup(p, g[i])
        scale = u * dd / rho
        for x0, small in ((x, True), (x + [0.05, 0.02], False)):
            grad = []
            for k in range(2):
                e = np.zeros(2)
                e[k] = 1e-6
                grad.append((cubic.free_energy(x0 + e, p, g[i])["free_energy"]
                             - cubic.free_energy(x0 - e, p, g[i])["free_energy"]) / 2e-6)
            if small:
                assert np.max(np.abs(grad)) < 1e-6 * scale, (g[i], grad)
            else:
                assert np.max(np.abs(grad)) > 1e-3 * scale


def _cubic_F_reference(b, c, params, sigma2):
    """F/N written out: Shat from I1 = (2/sqrt(pi)) q/sqrt(D), I3 = -(4/sqrt(6 pi)) q^3/D^1.5,
    D = 1 + 2 (sigma_w2 + q^2), integrated by QUADPACK."""
    N, n, d, sw2, sa2, eps = (params[k] for k in ("N", "n", "d", "sigma_w2", "sigma_a2", "eps"))
    u = n * n * sa2 / (sigma2 ** 2 * d * N)
    rho = n * sa2 / sigma2
    t = np.array([b, math.sqrt(6) * c])
    y = np.array([1.0, math.sqrt(6) * eps])

    def shat(q):
        D = 1 + 2 * (sw2 + q * q)
        I1 = 2 / math.sqrt(math.pi) * q / math.sqrt(D)
        I3 = -4 / math.sqrt(6 * math.pi) * q ** 3 / D ** 1.5
        return q * q / (2 * sw2) - u / 2 * (t[0] * I1 + t[1] * I3) ** 2

    Z, _ = integrate.quad(lambda q: math.exp(-d * shat(q)), 0, 5, epsabs=0, epsrel=1e-13, limit=400)
    Z0 = 0.5 * math.sqrt(2 * math.pi * sw2 / d)
    return u * d / rho * (t @ y - t @ t / 2) - math.log(Z / Z0)


def test_cubic_free_energy_against_quadpack(cubic, cubic_scan):
    p, g, res = cubic_scan
    d = res.scan
    for i in (0, 11, 22):
        ref = _cubic_F_reference(d["b"][i], d["c"][i], p, g[i])
        assert d["free_energy"][i] == pytest.approx(ref, rel=1e-10, abs=1e-10)


def test_cubic_sigma2_derivative_is_the_envelope(cubic, cubic_scan):
    """The stored dF/dsigma2 = -(n/(2 N sigma2^2)) |t|^2 matches the central difference of F
    along solutions at sigma2 -+ h."""
    p, g, res = cubic_scan
    d = res.scan
    for i in (3, 15):
        h = 1e-5
        x = np.array([d["b"][i], d["c"][i]])
        a = solve(cubic, p, g[i] + h, x0=x)
        b = solve(cubic, p, g[i] - h, x0=x)
        fd = (cubic.free_energy(a.x, p, g[i] + h)["free_energy"]
              - cubic.free_energy(b.x, p, g[i] - h)["free_energy"]) / (2 * h)
        assert d["free_energy_dsigma2"][i] == pytest.approx(fd, rel=1e-6)


def test_cubic_saddle_gradient_is_small_at_its_order(cubic):
    """--method saddle: its Gauss-Hermite map and the Laplace free energy agree at leading
    order; the gradient at the saddle solutions is O(1/d) of the scale u d/rho (measured
    here: 0.02-0.035 = 3-5/d at d = 150; bound 8/d), not zero: the saddle map's Gauss-Hermite
    core moments differ from the derivative of the Laplace log-determinant at O(1/d)."""
    p = cubic.make_params(method="saddle")
    for s in (0.25, 0.15):
        sol = solve(cubic, p, s)
        assert sol.success
        y, sqf, c, u, rho, dd = cubic._setup(p, s)
        grad = []
        for k in range(2):
            e = np.zeros(3)
            e[k] = 1e-6
            grad.append((cubic.free_energy(sol.x + e, p, s)["free_energy"]
                         - cubic.free_energy(sol.x - e, p, s)["free_energy"]) / 2e-6)
        assert np.max(np.abs(grad)) < 8.0 / dd * (u * dd / rho)
