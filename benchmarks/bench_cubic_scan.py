"""Benchmark: the default cubic-teacher scan against a straightforward NumPy/SciPy version.

Run from the repository root::

    python benchmarks/bench_cubic_scan.py [--repeat 3] [--subset 9]

1. Warms the numba cache (a tiny scan), then times the default 81-point scan of
   ``phasesim scan --teacher cubic`` (N=700, n=3000, d=150, sigma_w2=0.5, sigma_a2=8/N,
   eps=-0.3, --method quadrature, sigma2 0.3 -> 0.1): downward and upward continuation
   sweeps, boundary bisection and landscape, exactly what the command line runs
   (best of ``--repeat``; target < 3 s).
2. Solves the same equations with a straightforward reference written here in plain
   NumPy/SciPy: Shat(q) and I(q) as Python functions, Z and the three entries of
   M = <I I^T> by adaptive ``scipy.integrate.quad`` (relative tolerance 1e-12, break points
   at the minima of Shat found on a grid), t = (1 + rho M)^{-1} y with ``numpy.linalg.solve``
   and the self-consistency by ``scipy.optimize.root`` (hybr) with continuation. The full
   81 x 2 scan would take minutes, so both implementations are timed on the same
   ``--subset`` points of the grid (one downward sweep with continuation), and the
   per-point ratio is reported (best of repeats for both, since the machine may be shared),
   with the reference's full-scan time extrapolated from it.
3. Checks that both give the same (b, c) on the subset.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import integrate, optimize

from adaptive_kernel import get_teacher, scan
from adaptive_kernel.solver import sweep

GRID = np.linspace(0.3, 0.1, 81)


# --------------------------------------------------------------------------------------
# straightforward reference (K = 2, alpha = beta = 1)
# --------------------------------------------------------------------------------------
class Reference:
    def __init__(self, p):
        self.p = p

    def I(self, q):
        D = 1.0 + 2.0 * (self.p["sigma_w2"] + q * q)
        return (2.0 / math.sqrt(math.pi) * q / math.sqrt(D),
                -4.0 / math.sqrt(6.0 * math.pi) * q ** 3 / D ** 1.5)

    def shat(self, q, t, u):
        i1, i3 = self.I(q)
        g = t[0] * i1 + t[1] * i3
        return q * q / (2.0 * self.p["sigma_w2"]) - 0.5 * u * g * g

    def T(self, x, sigma2):
        p = self.p
        u = p["n"] ** 2 * p["sigma_a2"] / (sigma2 ** 2 * p["d"] * p["N"])
        rho = p["n"] * p["sigma_a2"] / sigma2
        t = (x[0], math.sqrt(6.0) * x[1])
        qs = np.linspace(0.0, 4.0, 401)
        S = np.array([self.shat(q, t, u) for q in qs])
        smin = S.min()
        minima = [qs[i] for i in range(1, len(qs) - 1) if S[i] < S[i - 1] and S[i] <= S[i + 1]]
        w = lambda q: math.exp(-p["d"] * (self.shat(q, t, u) - smin))  # noqa: E731
        opts = dict(epsabs=0.0, epsrel=1e-12, limit=200, points=minima or None)
        Z = integrate.quad(w, 0.0, 4.0, **opts)[0]
        m11 = integrate.quad(lambda q: w(q) * self.I(q)[0] ** 2, 0.0, 4.0, **opts)[0] / Z
        m13 = integrate.quad(lambda q: w(q) * self.I(q)[0] * self.I(q)[1], 0.0, 4.0, **opts)[0] / Z
        m33 = integrate.quad(lambda q: w(q) * self.I(q)[1] ** 2, 0.0, 4.0, **opts)[0] / Z
        M = np.array([[m11, m13], [m13, m33]])
        y = np.array([1.0, math.sqrt(6.0) * p["eps"]])
        tn = np.linalg.solve(np.eye(2) + rho * M, y)
        return np.array([tn[0], tn[1] / math.sqrt(6.0)])

    def sweep(self, grid, x0):
        out, x = [], np.asarray(x0, float)
        for s2 in grid:
            sol = optimize.root(lambda z: z - self.T(z, s2), x, method="hybr", options={"xtol": 1e-13})
            x = sol.x
            out.append(x.copy())
        return np.array(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timings of the full scan (best is reported)")
    ap.add_argument("--subset", type=int, default=9, help="grid points timed for both implementations")
    args = ap.parse_args()

    t = get_teacher("cubic")
    p = t.make_params()
    scan(t, p, GRID[::20])  # warm the numba cache / JIT
    walls = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = scan(t, p, GRID)
        walls.append(time.perf_counter() - t0)
    full = min(walls)
    n_conv = int(res.scan["converged"].sum() + res.branches["up"]["converged"].sum())

    sub = GRID[np.linspace(0, len(GRID) - 1, args.subset).round().astype(int)]
    x0 = t.initial_state(p, sub[0])
    pkg_times, ref_times = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        sols = sweep(t, p, sub, x_start=x0)
        pkg_times.append((time.perf_counter() - t0) / len(sub))
    ref = Reference(p)
    for _ in range(min(2, args.repeat)):
        t0 = time.perf_counter()
        xr = ref.sweep(sub, x0)
        ref_times.append((time.perf_counter() - t0) / len(sub))
    pkg, refpp = min(pkg_times), min(ref_times)
    xp = np.array([s.x for s in sols])
    diff = float(np.max(np.abs(xp - xr)))

    print(f"default cubic scan (81 points x 2 sweeps + bisection + landscape), warm numba: "
          f"{full:.3f} s wall (best of {args.repeat}; {n_conv}/162 converged; target < 3 s)")
    print(f"  sigma2_gmfl1 = {res.sigma2_gmfl1:.6f}, u_c = {res.u_c:.4f}")
    print(f"same {len(sub)} grid points, one downward sweep with continuation (best of repeats):")
    print(f"  package   : {1e3 * pkg:9.2f} ms per point")
    print(f"  reference : {1e3 * refpp:9.2f} ms per point (scipy.integrate.quad + scipy.optimize.root)")
    print(f"  ratio     : {refpp / pkg:9.1f} x per point (target >= 20 x)")
    print(f"  reference full scan extrapolated: {refpp * 2 * len(GRID):.1f} s for the 162 sweep points "
          f"alone (package full scan {full:.3f} s: {refpp * 2 * len(GRID) / full:.0f} x)")
    print(f"  max |(b, c)_package - (b, c)_reference| = {diff:.1e}")


if __name__ == "__main__":
    main()
