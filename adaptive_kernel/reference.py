r"""Slow, straightforward reference implementation of the modular-addition equations.

This module exists for **verification and benchmarking only**. It evaluates the same
equations as :mod:`adaptive_kernel.teachers.modadd` and its numba kernels
(:mod:`adaptive_kernel.teachers._modadd_kernels`), but is written independently of them,
in plain NumPy/SciPy, favouring obviousness over speed:

* the pair weight exp(-A(X, Y)) of one complex Fourier pair (k, P-k),

  .. math:: A(X, Y) = P\,[X + Y - 2 v XY + (\gamma/3)(X^3 + Y^3)],\qquad v = u r^2,

  is integrated over the quarter plane X, Y >= 0 (uniform measure dX dY) by *nested*
  adaptive :func:`scipy.integrate.quad` (QUADPACK QAGP), one nested integral per moment,
  with break points at the basins (the origin scale 1/P, the droplet minimum X_+ and
  its width, the barrier, the droplet-basin boundary) and in log-shifted form
  exp(-(A - A_min)) so that nothing overflows;
* the P -> inf (saddle point) method is an explicit two-basin Laplace approximation
  with the Hessian of A written out by hand;
* the self-consistency r = sigma2 / (Lambda(r) + sigma2) is solved by
  :func:`scipy.optimize.brentq` on the whole bracket [0, 1], with no continuation;
* the phase of a point uses the same documented thresholds as the package (droplet
  share of <XY> >= 1/2 for GMFL-I, origin-basin weight < 1/P for GMFL-II).

Nothing here is imported by the package's solver; the tests compare the package against
it (``tests/theory/test_modadd_quadrature.py``, ``tests/theory/test_modadd_solver.py``) and
``benchmarks/bench_modadd_scan.py`` times it against the numba implementation.
One call of :func:`pair_moments` at P = 401 takes of the order of a second.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, optimize

#: Relative tolerance requested from each (inner and outer) QUADPACK call.
EPSREL = 1e-12
#: The integration box is cut where A - A_min exceeds this (weight exp(-MARGIN) ~ 1e-35).
MARGIN = 80.0
#: Subinterval limit of each QUADPACK call.
LIMIT = 400

MOMENTS = ("logZ", "XY", "X", "X2", "droplet_fraction", "XY_droplet")


# ---------------------------------------------------------------------------------------
# the action and its landmarks
# ---------------------------------------------------------------------------------------
def pair_action(X, Y, P, v, gamma):
    """A(X, Y) = P [X + Y - 2 v X Y + (gamma/3)(X^3 + Y^3)] (minus log weight of one pair)."""
    return P * (X + Y - 2.0 * v * X * Y + gamma / 3.0 * (X ** 3 + Y ** 3))


def diagonal_stationary_points(v, gamma):
    """Non-zero stationary points of the diagonal action s(Phi) = Phi - v Phi^2 + (gamma/3) Phi^3.

    s'(Phi) = 1 - 2 v Phi + gamma Phi^2 = 0. Returns ``(minimum, barrier)`` or
    ``(nan, nan)`` when there are no real positive roots (v^2 <= gamma).
    """
    roots = np.roots([gamma, -2.0 * v, 1.0])
    roots = np.sort(roots[np.isreal(roots)].real)
    roots = roots[roots > 0]
    if len(roots) < 2 or roots[0] == roots[1]:
        return math.nan, math.nan
    # polish the small root (np.roots loses relative accuracy when v^2 >> gamma)
    small = optimize.brentq(lambda x: 1.0 - 2.0 * v * x + gamma * x * x, 0.0, 0.5 * (roots[0] + roots[1]),
                            xtol=1e-300, rtol=1e-15)
    big = optimize.brentq(lambda x: 1.0 - 2.0 * v * x + gamma * x * x, 0.5 * (roots[0] + roots[1]),
                          2.0 * roots[1] + 1.0, xtol=1e-300, rtol=1e-15)
    return big, small


def action_minimum(P, v, gamma):
    """Global minimum of A over the quarter plane: 0 (origin) or A(X_+, X_+) if lower.

    The stationary points of A are on the diagonal ((X - Y)(2v + gamma(X + Y)) = 0).
    """
    xp, _ = diagonal_stationary_points(v, gamma)
    if math.isnan(xp):
        return 0.0
    return min(0.0, pair_action(xp, xp, P, v, gamma))


def _upper_limit(P, v, gamma, amin):
    """L such that A(X, Y) - A_min > MARGIN whenever X > L (or Y > L).

    Uses 2XY <= X^2 + Y^2, so A >= P [f(X) + f(Y)] with f(t) = t - v t^2 + (gamma/3) t^3.
    """
    f = lambda t: t - v * t * t + gamma / 3.0 * t ** 3  # noqa: E731
    fp = lambda t: 1.0 - 2.0 * v * t + gamma * t * t  # noqa: E731
    xp, _ = diagonal_stationary_points(v, gamma)
    fmin = min(0.0, f(xp)) if not math.isnan(xp) else 0.0
    L = max(4.0 / P, 2.0 * xp if not math.isnan(xp) else 0.0, 2.0 * abs(v) / gamma)
    while not (P * (f(L) + fmin) - amin > MARGIN and fp(L) > 0 and L > (xp if not math.isnan(xp) else 0)):
        L *= 1.5
    return L


def _points(P, v, gamma, L, extra=()):
    """Break points on [0, L] resolving the origin basin and the droplet basin."""
    pts = [c / P for c in (0.5, 2.0, 5.0, 12.0, 25.0, 45.0, 70.0)]
    xp, xm = diagonal_stationary_points(v, gamma)
    if not math.isnan(xp):
        det = gamma * gamma * xp * xp - v * v
        width = math.sqrt(gamma * xp / (2.0 * P * det))  # marginal std of X in the droplet basin
        pts += [xp + k * width for k in np.linspace(-12, 12, 25)]
        pts += [xm, 2.0 * xm]
    if v > 0:
        pts.append(v / gamma)
    pts += list(extra)
    pts = sorted({p for p in pts if 0.0 < p < L})
    return pts


# ---------------------------------------------------------------------------------------
# exact (finite-P) moments by nested adaptive quadrature
# ---------------------------------------------------------------------------------------
def _quad(fun, a, b, points):
    """QUADPACK with a relative tolerance only; returns (value, error estimate).

    Round-off warnings are silenced: they come from inner integrals whose value is
    negligible (1e-27 and less of the largest); the outer integral's own error estimate is
    checked in :func:`_nested`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return integrate.quad(fun, a, b, points=points if points else None, epsabs=0.0,
                              epsrel=EPSREL, limit=LIMIT)


#: The outer integral's error estimate must be below this (relative), else a warning.
CHECK_RTOL = 1e-9


def _inner_points(X, P, v, gamma, L, split):
    """Break points of the Y integral at fixed X: origin scale, conditional minimum, split."""
    pts = [c / P for c in (0.5, 2.0, 5.0, 12.0, 25.0, 45.0, 70.0)]
    c = 2.0 * v * X - 1.0  # conditional action P[(1 - 2vX) Y + gamma Y^3/3]: minimum at sqrt(c/gamma)
    if c > 0:
        ystar = math.sqrt(c / gamma)
        w = 1.0 / math.sqrt(2.0 * P * gamma * ystar)
        pts += [ystar + k * w for k in np.linspace(-12, 12, 25)]
    if math.isfinite(split) and 0.0 < split:
        pts.append(split)
    return sorted({p for p in pts if 0.0 < p < L})


def _nested(weight, P, v, gamma, amin, L, split=math.inf, droplet_only=False):
    """int_0^L int_0^L weight(X, Y) exp(-(A(X, Y) - A_min)) dY dX by nested QUADPACK.

    ``droplet_only`` restricts to the droplet basin X > split and Y > split.
    """
    def inner(X):
        lo = 0.0
        if droplet_only:
            if X <= split:
                return 0.0
            lo = split
            if lo >= L:
                return 0.0
        pts = [p for p in _inner_points(X, P, v, gamma, L, split) if p > lo]
        g = lambda Y: weight(X, Y) * math.exp(-(pair_action(X, Y, P, v, gamma) - amin))  # noqa: E731
        return _quad(g, lo, L, pts)[0]

    val, err = _quad(inner, 0.0, L, _points(P, v, gamma, L, extra=(split,) if math.isfinite(split) else ()))
    if err > CHECK_RTOL * abs(val):
        warnings.warn(f"reference quadrature: error estimate {err:.1e} of {val:.6e} exceeds "
                      f"{CHECK_RTOL:g} relative (P={P}, v={v}, gamma={gamma})", RuntimeWarning, stacklevel=3)
    return val


def pair_moments(P, v, gamma, which=MOMENTS):
    """Moments of one complex Fourier pair under exp(-A(X, Y)) dX dY, X, Y >= 0.

    Parameters
    ----------
    P : float
        Modulus.
    v : float
        Coupling u r^2.
    gamma : float
        Sextic weight decay.
    which : iterable of str
        Subset of ``logZ`` (log of the partition function Z), ``XY`` (<XY>), ``X`` (<X>),
        ``X2`` (<X^2>), ``droplet_fraction`` (probability of X > X_- and Y > X_-, the basin
        beyond the barrier X_- of the diagonal action; 0 without a droplet minimum) and
        ``XY_droplet`` (<XY | droplet basin>). Each needs its own nested integral.

    Returns
    -------
    dict
    """
    which = tuple(which)
    amin = action_minimum(P, v, gamma)
    L = _upper_limit(P, v, gamma, amin)
    xp, xm = diagonal_stationary_points(v, gamma)
    split = xm if not math.isnan(xm) else math.inf
    Z = _nested(lambda X, Y: 1.0, P, v, gamma, amin, L, split)
    out = {"logZ": -amin + math.log(Z)}
    if "XY" in which:
        out["XY"] = _nested(lambda X, Y: X * Y, P, v, gamma, amin, L, split) / Z
    if "X" in which:
        out["X"] = _nested(lambda X, Y: X, P, v, gamma, amin, L, split) / Z
    if "X2" in which:
        out["X2"] = _nested(lambda X, Y: X * X, P, v, gamma, amin, L, split) / Z
    if "droplet_fraction" in which or "XY_droplet" in which:
        if math.isfinite(split):
            Zd = _nested(lambda X, Y: 1.0, P, v, gamma, amin, L, split, droplet_only=True)
            out["droplet_fraction"] = Zd / Z
            if "XY_droplet" in which:
                out["XY_droplet"] = (_nested(lambda X, Y: X * Y, P, v, gamma, amin, L, split, droplet_only=True)
                                     / Zd if Zd > 0 else math.nan)
        else:
            out["droplet_fraction"] = 0.0
            out["XY_droplet"] = math.nan
    return {k: out[k] for k in ("logZ",) + which if k in out}


# ---------------------------------------------------------------------------------------
# P -> inf: two-basin Laplace approximation
# ---------------------------------------------------------------------------------------
def saddle_pair_moments(P, v, gamma):
    """Laplace (saddle-point) approximation of :func:`pair_moments`.

    Origin basin: leading order at the corner, int exp(-P(X + Y)) = 1/P^2, <XY> = 1/P^2.
    Droplet basin: Gaussian around (X_+, X_+) with the Hessian of A,
    H = P [[2 gamma X_+, -2v], [-2v, 2 gamma X_+]], so
    Z_d = exp(-A(X_+, X_+)) 2 pi / sqrt(det H), <XY>_d = X_+^2 + (H^{-1})_{XY}.
    """
    Zo_log = -2.0 * math.log(P)
    xy_o = 1.0 / P ** 2
    xp, _ = diagonal_stationary_points(v, gamma)
    if math.isnan(xp):
        return {"logZ": Zo_log, "XY": xy_o, "droplet_fraction": 0.0}
    H = P * np.array([[2.0 * gamma * xp, -2.0 * v], [-2.0 * v, 2.0 * gamma * xp]])
    Hinv = np.linalg.inv(H)
    Zd_log = -pair_action(xp, xp, P, v, gamma) + math.log(2.0 * math.pi) - 0.5 * math.log(np.linalg.det(H))
    xy_d = xp * xp + Hinv[0, 1]
    m = max(Zo_log, Zd_log)
    wo, wd = math.exp(Zo_log - m), math.exp(Zd_log - m)
    f = wd / (wo + wd)
    return {"logZ": m + math.log(wo + wd), "XY": (1 - f) * xy_o + f * xy_d, "droplet_fraction": f,
            "XY_droplet": xy_d}


# ---------------------------------------------------------------------------------------
# self-consistency
# ---------------------------------------------------------------------------------------
def coupling(P, N, sigma_a2, sigma2):
    """u = 2 sigma_a2 P^2 / (N sigma2^2) (the data term of the action is -P u r^2 sum_k X_k Y_k)."""
    return 2.0 * sigma_a2 * P * P / (N * sigma2 * sigma2)


def eigenvalue(XY, P, sigma_a2, normalization):
    """Kernel eigenvalue of the target: 4 P^2 sigma_a2 <XY> (derived) or sigma_a2 <XY> (paper)."""
    if normalization == "derived":
        return 4.0 * P * P * sigma_a2 * XY
    if normalization == "paper":
        return sigma_a2 * XY
    raise ValueError(normalization)


def fixed_point_map(r, sigma2, P, N, sigma_a2, gamma, normalization="derived", method="exact"):
    """T(r) = sigma2 / (Lambda(r) + sigma2)."""
    v = coupling(P, N, sigma_a2, sigma2) * r * r
    if method == "exact":
        XY = pair_moments(P, v, gamma, which=("XY",))["XY"]
    elif method == "saddle":
        XY = saddle_pair_moments(P, v, gamma)["XY"]
    else:
        raise ValueError(method)
    return sigma2 / (eigenvalue(XY, P, sigma_a2, normalization) + sigma2)


def solve_residual(sigma2, P, N, sigma_a2, gamma, normalization="derived", method="exact", xtol=1e-13):
    """Root of r - T(r) on [0, 1] by Brent's method (no continuation).

    Returns ``(r, number_of_T_evaluations)``.
    """
    count = [0]

    def F(r):
        count[0] += 1
        return r - fixed_point_map(r, sigma2, P, N, sigma_a2, gamma, normalization, method)

    r = optimize.brentq(F, 0.0, 1.0, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
    return r, count[0]


def phase(r, sigma2, P, N, sigma_a2, gamma, method="exact"):
    """0 GFL, 1 GMFL-I, 2 GMFL-II with the package's documented thresholds."""
    v = coupling(P, N, sigma_a2, sigma2) * r * r
    if method == "exact":
        m = pair_moments(P, v, gamma, which=("XY", "droplet_fraction", "XY_droplet"))
    else:
        m = saddle_pair_moments(P, v, gamma)
    f = m["droplet_fraction"]
    share = f * m["XY_droplet"] / m["XY"] if f > 0 else 0.0
    if share < 0.5:
        return 0
    return 1 if 1.0 - f >= 1.0 / P else 2


def scan(sigma2_values, P, N, sigma_a2, gamma, normalization="derived", method="exact"):
    """Solve every point of a sigma2 grid independently. Returns ``(r, phases, T-evaluations)``."""
    rs, ph, nev = [], [], 0
    for s in sigma2_values:
        r, n = solve_residual(s, P, N, sigma_a2, gamma, normalization, method)
        rs.append(r)
        ph.append(phase(r, s, P, N, sigma_a2, gamma, method))
        nev += n
    return np.array(rs), np.array(ph), nev
