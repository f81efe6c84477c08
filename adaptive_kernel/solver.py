"""The solver core shared by every teacher.

* :func:`solve` finds the self-consistent order parameters x = T(x) at one noise sigma2
  and returns a :class:`SelfConsistentSolution` (scipy.optimize style: ``success``,
  ``status``, ``message``, ``nit``, ``nfev``, ``residual``); non-convergence sets a status,
  it never raises.
* :func:`sweep` walks a sigma2 grid with continuation (each point starts from its
  neighbour's solution); :func:`scan` runs it downward and upward, classifies the phase
  of every point, locates the phase boundaries by bisection and tabulates the action
  landscape, and (:mod:`adaptive_kernel.thermodynamics`) follows the restricted-basin
  (metastable) branches to their spinodals and computes susceptibilities and latent heat.
  The result is a :class:`~adaptive_kernel.results.ScanResult`.

Convergence
-----------
A point converges when max |x - T(x)| <= tol (default :data:`RESIDUAL_TOL`), or when its
residual is at most :data:`CONDITIONED_RESIDUAL_FACTOR` x tol and the root is located to
double precision at x (:func:`_located_to_rounding`): where T is steep (|1 - T'| ~ 1e6 and
more in the mixed phase of modular addition at large P) no double meets a fixed tolerance.

Root finding
------------
One-component states (modular addition: the residual r) use a bracketing method (Brent)
on F(x) = x - T(x): F changes sign on the teacher's bracket, so the root is found even in
the mixed phase, where T is so steep that damped fixed-point iteration oscillates. The
bracket is first narrowed around the continuation guess. Multi-component states (cubic:
the Hermite components of the discrepancy, plus the pinned droplet weight for the saddle
method) use Powell's hybrid method from the guess and from T(guess), then convex and
Newton homotopies from the guess (which follow the root gradually where T is steep), then
Levenberg-Marquardt and Anderson-accelerated iteration; see :func:`_solve_vector`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .codes import STATUS_MESSAGES  # status codes of SelfConsistentSolution (text in the files)
from .teachers.base import Teacher

#: Default tolerance on max |x - T(x)| for a point to count as converged.
RESIDUAL_TOL = 1e-10
#: Default width of the sigma2 interval that brackets a located phase boundary.
BOUNDARY_TOL = 1e-6
#: Scalar roots below this are refined to relative precision after Brent's method with its
#: absolute tolerance (:func:`refine_small_root`); larger roots are left bit for bit as found.
SMALL_ROOT = 1e-3


def refine_small_root(f, x, a, b, xtol):
    """Refine a root x of f found by Brent's method with absolute tolerance ``xtol`` to
    relative precision when 0 < |x| < :data:`SMALL_ROOT`.

    With an absolute tolerance, a root r ~ 1e-12 (modular addition at sigma2 ~ 1e-12,
    where r ~ sigma2) would keep only ~4 digits. Brent's answer lies within
    2 (xtol + 4 eps |x|) of the root; that interval is searched again with a relative
    tolerance. Returns x unchanged if there is nothing to refine or no sign change.
    """
    if not 0.0 < abs(x) < SMALL_ROOT:
        return x
    eps = np.finfo(float).eps
    d = 2.0 * (xtol + 4.0 * eps * abs(x))
    lo, hi = max(a, x - d), min(b, x + d)
    flo, fhi = f(lo), f(hi)
    if not (math.isfinite(flo) and math.isfinite(fhi)) or flo * fhi > 0:
        return x
    if flo == 0.0:
        return lo
    if fhi == 0.0:
        return hi
    return optimize.brentq(f, lo, hi, xtol=max(1e-15 * abs(x), 1e-300), rtol=4 * eps, maxiter=200)


@dataclass
class SelfConsistentSolution:
    """Result of :func:`solve` (compare :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    x : ndarray
        Self-consistent order parameters (the teacher's ``state_labels(params)``).
    success : bool
        Whether ``residual <= tol``.
    status : int
        0 converged, 1 iteration limit, 2 no bracket, 3 residual too large, 4 non-finite.
    message : str
        Human-readable status.
    nit : int
        Iterations of the root finder.
    nfev : int
        Evaluations of the fixed-point map T.
    residual : float
        max |x - T(x)| at the returned x (the equation's own residual).
    tol : float
        Tolerance the residual was checked against.
    sigma2 : float
        Noise at which the point was solved.
    """

    x: np.ndarray
    success: bool
    status: int
    message: str
    nit: int
    nfev: int
    residual: float
    tol: float
    sigma2: float

    def __repr__(self):
        return (f"SelfConsistentSolution(x={self.x}, success={self.success}, status={self.status}, "
                f"nit={self.nit}, nfev={self.nfev}, residual={self.residual:.3g})")


class _Counter:
    def __init__(self, fn):
        self.fn = fn
        self.n = 0

    def __call__(self, x):
        self.n += 1
        return self.fn(x)


#: Conditioning criterion: a point whose residual exceeds the tolerance still converges
#: when its root is located to this many units of double-precision rounding of x
#: (:func:`_located_to_rounding`), at most :data:`CONDITIONED_RESIDUAL_FACTOR` x tol.
ROUNDING_ULPS = 4.0
CONDITIONED_RESIDUAL_FACTOR = 1e3


def _located_to_rounding(x, F, res):
    """Whether the root of F(x) = x - T(x) is located to double precision at x although
    |F(x)| exceeds the tolerance (a steep, ill-conditioned T: |F| at the nearest floats is
    |1 - T'| x ulp, which can exceed any fixed tolerance).

    Scalar: F changes sign within d = 2 (1e-16 + ROUNDING_ULPS eps |x|) of x: Brent's
    guarantee for the root finder's tolerances (absolute 1e-16, relative 4 eps), i.e. the
    root is as close to x as the bracketing method resolves it. Vector: the Newton step
    (1 - J)^{-1} F(x), J = dT/dx by central differences, is within ROUNDING_ULPS eps |x_i|
    (+ 1e-300) in every component.
    """
    x = np.asarray(x, float)
    eps = np.finfo(float).eps
    try:
        if x.size == 1:
            d = 2.0 * (1e-16 + ROUNDING_ULPS * eps * abs(float(x[0])))
            lo = float(np.asarray(F(x - d), float)[0])
            hi = float(np.asarray(F(x + d), float)[0])
            return math.isfinite(lo) and math.isfinite(hi) and lo * hi <= 0.0
        n = x.size
        jac = np.empty((n, n))
        for i in range(n):
            h = 1e-7 * max(abs(x[i]), 1e-3)
            e = np.zeros(n)
            e[i] = h
            jac[:, i] = (np.asarray(F(x + e), float) - np.asarray(F(x - e), float)) / (2.0 * h)
        step = np.linalg.solve(jac, np.asarray(res, float))
        return bool(np.all(np.abs(step) <= ROUNDING_ULPS * eps * np.maximum(np.abs(x), 1e-300) + 1e-300))
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return False


def _finish(x, F, nit, nfev, tol, sigma2, status_if_bad=3):
    """The solution object at x; converged if max |F(x)| <= tol, or if the root is located
    to double precision at x (:func:`_located_to_rounding`) with a residual at most
    :data:`CONDITIONED_RESIDUAL_FACTOR` x tol."""
    res = np.asarray(F(x), float)
    resid = float(np.max(np.abs(res))) if np.all(np.isfinite(res)) else math.inf
    if not math.isfinite(resid):
        status = 4
    elif resid <= tol:
        status = 0
    elif resid <= CONDITIONED_RESIDUAL_FACTOR * tol and _located_to_rounding(x, F, res):
        status = 0
    else:
        status = status_if_bad
    return SelfConsistentSolution(np.asarray(x, float), status == 0, status, STATUS_MESSAGES[status],
                                  int(nit), int(nfev), resid, tol, float(sigma2))


def solve(teacher: Teacher, params: dict, sigma2: float, x0=None, tol: float = RESIDUAL_TOL,
          maxiter: int = 200, quick: bool = False, extra_starts=None) -> SelfConsistentSolution:
    """Solve x = T(x) for the teacher at noise sigma2.

    Parameters
    ----------
    teacher : Teacher
    params : dict
        Validated parameters (``teacher.make_params``).
    sigma2 : float
        GPR noise (the control parameter).
    x0 : array_like, optional
        Continuation guess; default the Gaussian-process state.
    tol : float
        Convergence criterion on max |x - T(x)|.
    maxiter : int
        Iteration limit of the root finder.
    quick : bool
        Multi-component states: stop after Powell's method from the guess and from its image
        (step 1 of :func:`_solve_vector`), for continuation along a branch where a failure
        means the branch has ended (:mod:`adaptive_kernel.thermodynamics`).
    extra_starts : list of array_like, optional
        Multi-component states: further starting points for Powell's method, tried after
        Powell's method from ``x0`` fails (before T(x0) and the teacher's
        ``restart_states(params, sigma2)``, where it defines them; all before the
        homotopies of :func:`_solve_vector`).

    Teachers may define ``solve_map(params, sigma2)`` returning the fixed-point map to use
    for this one solve (e.g. one that warm-starts an inner root search from its previous
    call), or None for :meth:`fixed_point_map`.
    """
    sigma2 = float(sigma2)
    if x0 is None:
        x0 = teacher.initial_state(params, sigma2)
    x0 = np.atleast_1d(np.asarray(x0, float))
    make_map = getattr(teacher, "solve_map", None)
    tmap = make_map(params, sigma2) if make_map is not None else None
    if tmap is None:
        def Fvec(x):
            return np.atleast_1d(x) - teacher.fixed_point_map(np.atleast_1d(x), params, sigma2)
    else:
        def Fvec(x):
            return np.atleast_1d(x) - tmap(np.atleast_1d(x))

    F = _Counter(Fvec)
    if x0.size == 1:
        return _solve_scalar(teacher, params, sigma2, x0, F, tol, maxiter)
    starts = [np.atleast_1d(np.asarray(z, float)) for z in (extra_starts or [])]
    teacher_starts = getattr(teacher, "restart_states", None)
    restarts = []
    if teacher_starts is not None:
        restarts = [np.atleast_1d(np.asarray(z, float)) for z in teacher_starts(params, sigma2)]
    return _solve_vector(sigma2, x0, F, tol, maxiter, quick, restarts, starts)


def _solve_scalar(teacher, params, sigma2, x0, F, tol, maxiter):
    lo, hi = teacher.bracket(params, sigma2)
    f = lambda s: float(F(np.array([s]))[0])  # noqa: E731
    g = float(np.clip(x0[0], lo, hi))
    # narrow the bracket around the continuation guess, widening geometrically
    a, b = lo, hi
    fa = fb = None
    step = 1e-3 * max(abs(g), 1e-3)
    fg = f(g)
    if not math.isfinite(fg):
        return _finish(np.array([g]), F, 0, F.n, tol, sigma2, 4)
    if fg == 0.0:
        return _finish(np.array([g]), F, 0, F.n, tol, sigma2)
    while True:
        if fg < 0:
            c = min(g + step, hi)
            fc = f(c)
            if fc >= 0 or c >= hi:
                a, fa, b, fb = g, fg, c, fc
                break
            g, fg = c, fc
        else:
            c = max(g - step, lo)
            fc = f(c)
            if fc <= 0 or c <= lo:
                a, fa, b, fb = c, fc, g, fg
                break
            g, fg = c, fc
        step *= 8.0
    if not (math.isfinite(fa) and math.isfinite(fb)):
        return _finish(np.array([g]), F, 0, F.n, tol, sigma2, 4)
    if fa * fb > 0:
        x = a if abs(fa) < abs(fb) else b
        return _finish(np.array([x]), F, 0, F.n, tol, sigma2, 2)
    if fa == 0:
        return _finish(np.array([a]), F, 0, F.n, tol, sigma2)
    if fb == 0:
        return _finish(np.array([b]), F, 0, F.n, tol, sigma2)
    try:
        x, info = optimize.brentq(f, a, b, xtol=1e-16, rtol=4 * np.finfo(float).eps,
                                  maxiter=maxiter, full_output=True, disp=False)
        x = refine_small_root(f, x, a, b, 1e-16)
    except (ValueError, RuntimeError):
        return _finish(np.array([g]), F, maxiter, F.n, tol, sigma2, 4)
    status_if_bad = 3 if info.converged else 1
    return _finish(np.array([x]), F, info.iterations, F.n, tol, sigma2, status_if_bad)


def _solve_vector(sigma2, x0, F, tol, maxiter, quick=False, restarts=(), starts=()):
    """Root of F(x) = x - T(x) for a multi-component state.

    1. Powell's hybrid method (MINPACK ``hybr``) from the continuation guess ``x0``, then
       from each of the caller's ``starts``, then from T(x0), then from each of the
       teacher's ``restarts`` (no ``starts`` or ``restarts`` unless supplied).
    2. If that misses ``tol``: a convex homotopy from the guess,
       G_s(x) = (1 - s)(x - x0) + s F(x), s from 0 to 1, each step solved by ``hybr``
       from the previous one (step doubled on success, halved on failure); if that path
       fails too, the Newton homotopy G_s(x) = F(x) - (1 - s) F(x0). Where T is
       steep (the mixed phase: the side-basin weight depends exponentially on the state),
       Newton steps from a distant guess land where T saturates and stall; the homotopy
       path approaches the root gradually.
    3. Levenberg-Marquardt from the best point found, then Anderson-accelerated damped
       iteration as the last resort.

    Exceptions raised while evaluating F (overflow, singular matrices) count as failed
    attempts, never escape. The returned point is the best one found (smallest
    max |F|); ``success`` only if that is <= ``tol``.
    """
    _ROOT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)
    n = x0.size
    state = {"best": None, "r": math.inf, "nit": 0}

    def consider(x):
        x = np.asarray(x, float)
        if not np.all(np.isfinite(x)):
            return math.inf
        try:
            r = float(np.max(np.abs(F(x))))
        except _ROOT_ERRORS:
            return math.inf
        if not math.isfinite(r):
            return math.inf
        if r < state["r"]:
            state["best"], state["r"] = x.copy(), r
        return r

    def hybr(fun, x, xtol=1e-14, maxfev=None):
        try:
            with np.errstate(all="ignore"):
                sol = optimize.root(fun, x, method="hybr",
                                    options={"xtol": xtol, "maxfev": maxfev or 50 * maxiter})
        except _ROOT_ERRORS:
            return None
        state["nit"] += int(getattr(sol, "nfev", 0) or 0)
        return sol.x if np.all(np.isfinite(sol.x)) else None

    def done():
        return _finish(state["best"], F, state["nit"], F.n, tol, sigma2)

    # 1. plain hybr from the continuation guess, then from its image T(x0) = x0 - F(x0)
    #    (one plain iteration: it moves a guess from the wrong side of a kink of T, e.g. a
    #    droplet weight that should vanish, onto the branch of the root)
    consider(x0)
    x = hybr(F, x0)
    if x is not None and consider(x) <= tol:
        return done()
    for z0 in starts:
        if z0.shape == x0.shape and np.all(np.isfinite(z0)):
            x = hybr(F, z0)
            if x is not None and consider(x) <= tol:
                return done()
    try:
        x1 = x0 - np.asarray(F(x0), float)
    except _ROOT_ERRORS:
        x1 = None
    if x1 is not None and np.all(np.isfinite(x1)):
        x = hybr(F, x1)
        if x is not None and consider(x) <= tol:
            return done()
    for z0 in restarts:
        if z0.shape == x0.shape and np.all(np.isfinite(z0)):
            x = hybr(F, z0)
            if x is not None and consider(x) <= tol:
                return done()
    if quick:
        return _finish(state["best"] if state["best"] is not None else x0, F, state["nit"], F.n, tol, sigma2, 3)
    # 2. homotopies from the guess: convex, then Newton (global Newton flow)
    try:
        F0 = np.asarray(F(x0), float)
    except _ROOT_ERRORS:
        F0 = None
    kinds = ["convex"] + (["newton"] if F0 is not None and np.all(np.isfinite(F0)) else [])
    for kind in kinds:
        s, ds, x = 0.0, 0.125, x0.copy()
        budget = 20 * maxiter
        start = F.n
        while s < 1.0 and ds >= 1.0 / 4096 and F.n - start < budget:
            st = min(1.0, s + ds)
            if kind == "convex":
                def G(z, st=st):
                    return (1.0 - st) * (z - x0) + st * np.asarray(F(z), float)
            else:
                def G(z, st=st):
                    return np.asarray(F(z), float) - (1.0 - st) * F0
            z = hybr(G, x, xtol=1e-13, maxfev=40 * (n + 1))
            ok = False
            if z is not None:
                try:
                    g = float(np.max(np.abs(G(z))))
                except _ROOT_ERRORS:
                    g = math.inf
                ok = g <= max(tol, 1e-12) or (st < 1.0 and g <= 1e-9)
            if ok:
                s, x = st, z
                ds = min(2.0 * ds, 0.5)
            else:
                ds *= 0.5
        if s > 0.0:
            consider(x)
            z = hybr(F, x)
            if z is not None and consider(z) <= tol:
                return done()
    # 3. Levenberg-Marquardt from the best point, then Anderson
    if state["best"] is not None:
        try:
            with np.errstate(all="ignore"):
                sol = optimize.root(F, state["best"], method="lm",
                                    options={"xtol": 1e-15, "ftol": 1e-15, "maxiter": 50 * maxiter})
            state["nit"] += int(getattr(sol, "nfev", 0) or 0)
            if consider(sol.x) <= tol:
                return done()
        except _ROOT_ERRORS:
            pass
    import warnings

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xa = optimize.anderson(F, state["best"] if state["best"] is not None else x0,
                                   f_tol=tol, maxiter=maxiter)
        consider(xa)
    except (optimize.NoConvergence,) + _ROOT_ERRORS as exc:
        if exc.args and isinstance(exc.args[0], np.ndarray):
            consider(exc.args[0])
    state["nit"] += maxiter
    if state["best"] is None:
        return _finish(x0, F, state["nit"], F.n, tol, sigma2, 4)
    return _finish(state["best"], F, state["nit"], F.n, tol, sigma2, 3)


def sweep(teacher: Teacher, params: dict, sigma2_values, x_start=None, tol: float = RESIDUAL_TOL,
          progress=None):
    """Solve along ``sigma2_values`` in the given order with continuation.

    A point that fails does not poison the continuation: the next point starts from the
    last converged solution.

    Returns
    -------
    list of SelfConsistentSolution
    """
    out = []
    x = x_start
    for s2 in sigma2_values:
        sol = solve(teacher, params, s2, x0=x, tol=tol)
        out.append(sol)
        if sol.success:
            x = sol.x
        if progress is not None:
            progress(1)
    return out


def _collect(teacher, params, sols):
    rows = [teacher.observables(s.x, params, s.sigma2) for s in sols]
    keys = list(rows[0].keys())
    data = {k: np.array([r[k] for r in rows], dtype=float) for k in keys}
    data["phase"] = np.array([r["phase"] if s.success else -1 for r, s in zip(rows, sols)], dtype=np.int8)
    data["converged"] = np.array([s.success for s in sols], dtype=bool)
    data["iterations"] = np.array([s.nit for s in sols], dtype=np.int32)
    data["evaluations"] = np.array([s.nfev for s in sols], dtype=np.int32)
    data["equation_residual"] = np.array([s.residual for s in sols], dtype=float)
    data["status"] = np.array([s.status for s in sols], dtype=np.int8)
    for i, name in enumerate(teacher.state_labels(params)):
        if name not in data:
            data[name] = np.array([s.x[i] for s in sols])
    for k in list(data):
        if data[k].dtype.kind == "f":
            # a point that did not converge is marked, never stored as a result
            if k not in ("equation_residual", "u"):
                data[k] = np.where(data["converged"], data[k], np.nan)
    return data


def locate_boundary(teacher: Teacher, params: dict, predicate, s_out: float, x_out, s_in: float, x_in,
                    tol: float = BOUNDARY_TOL, residual_tol: float = RESIDUAL_TOL):
    """Bisect in sigma2 between ``s_out`` (predicate false) and ``s_in`` (predicate true).

    ``predicate(observables) -> bool``; each midpoint is solved with continuation from the
    nearer converged end. Returns ``(sigma2_boundary, half_width, converged)``.
    """
    ok = True
    # teachers with restart states (several self-consistent branches) also try the inner
    # end's solution as a start when Powell's method from the outer one fails, before the
    # image T(x_out) and the homotopies from x_out
    starts = (lambda: [x_in]) if getattr(teacher, "restart_states", None) is not None else (lambda: None)
    while abs(s_in - s_out) > tol:
        mid = 0.5 * (s_in + s_out)
        sol = solve(teacher, params, mid, x0=x_out, tol=residual_tol, extra_starts=starts())
        if not sol.success:
            sol = solve(teacher, params, mid, x0=x_in, tol=residual_tol)
        if not sol.success:
            ok = False
            break
        if predicate(teacher.observables(sol.x, params, mid)):
            s_in, x_in = mid, sol.x
        else:
            s_out, x_out = mid, sol.x
    return 0.5 * (s_in + s_out), 0.5 * abs(s_in - s_out), ok


def _boundaries(teacher, params, sigma2, sols, data, tol):
    """First GFL -> GMFL-I and GMFL-I -> GMFL-II crossings going down in sigma2."""
    order = np.argsort(-sigma2)
    phase = data["phase"][order]
    conv = data["converged"][order]
    found = {}
    # the droplet phases (GMFL-I, GMFL-II); a crossover point (code 3) counts as none
    specs = (("sigma2_gmfl1", lambda ph: ph in (1, 2)), ("sigma2_gmfl2", lambda ph: ph == 2))
    for name, test in specs:
        found[name] = (math.nan, math.nan, False, "not reached on the grid")
        idx = [i for i in range(len(order)) if conv[i]]
        if idx and test(phase[idx[0]]):
            found[name] = (math.nan, math.nan, False, "already reached at the largest sigma2 of the grid")
            continue
        for a, b in zip(idx[:-1], idx[1:]):
            if not test(phase[a]) and test(phase[b]):
                ia, ib = order[a], order[b]
                s, hw, ok = locate_boundary(
                    teacher, params, lambda obs, t=test: t(obs["phase"]),
                    sigma2[ia], sols[ia].x, sigma2[ib], sols[ib].x, tol=tol)
                found[name] = (s, hw, ok, "located by bisection" if ok else "bisection hit a non-converged point")
                break
    return found


def scan(teacher: Teacher, params: dict, sigma2_values, tol: float = RESIDUAL_TOL,
         boundary_tol: float = BOUNDARY_TOL, progress=None, thermodynamics: bool = True):
    """Full phase scan: downward and upward continuation sweeps, phases, boundaries, landscape.

    Parameters
    ----------
    teacher, params : Teacher, dict
    sigma2_values : array_like
        Noise grid (any order; results are stored in this order). Refused
        (:class:`~adaptive_kernel.errors.ParameterError`) below the teacher's
        ``sigma2_limit`` or above :data:`adaptive_kernel.limits.MAX_SCAN_POINTS` points.
    tol : float
        Residual tolerance of every point.
    boundary_tol : float
        Width of the final bisection interval of each phase boundary.
    progress : callable, optional
        Called with the number of points completed (for progress bars).
    thermodynamics : bool
        Where the theory supplies them (``teacher.supports_basins(params)``): the
        restricted-basin branches with their spinodals, the free-energy crossing, the
        susceptibilities dx/dsigma2 and the latent heat at the boundaries
        (:func:`adaptive_kernel.thermodynamics.analyse`).

    Returns
    -------
    ScanResult
    """
    from .limits import check_scan_size
    from .results import ScanResult

    t0 = time.perf_counter()
    sigma2 = np.asarray(sigma2_values, float)
    # refused before anything is solved: a grid below the noise the numerics resolve, or
    # one too large (point cap, memory of the landscape)
    teacher.check_sigma2(params, sigma2)
    check_scan_size(teacher, params, len(sigma2))
    down = np.argsort(-sigma2, kind="stable")
    up = down[::-1]
    sols_down = sweep(teacher, params, sigma2[down], tol=tol, progress=progress)
    sols_up = sweep(teacher, params, sigma2[up], tol=tol, progress=progress)
    # back to grid order
    sd = [None] * len(sigma2)
    su = [None] * len(sigma2)
    for k, i in enumerate(down):
        sd[i] = sols_down[k]
    for k, i in enumerate(up):
        su[i] = sols_up[k]
    data_down = _collect(teacher, params, sd)
    data_up = _collect(teacher, params, su)
    names = list(teacher.state_labels(params))
    both = data_down["converged"] & data_up["converged"]
    diff = 0.0
    if np.any(both):
        diff = float(max(np.max(np.abs(data_down[n][both] - data_up[n][both])) for n in names))
    trans = _boundaries(teacher, params, sigma2, sd, data_down, boundary_tol)
    branches = {"down": data_down, "up": data_up}
    scalars = {}
    if thermodynamics and teacher.supports_basins(params):
        extra_branches, extra_trans, scalars = _thermo.analyse(teacher, params, sigma2, sd, data_down, trans, tol,
                                                       boundary_tol)
        branches.update(extra_branches)
        trans.update(extra_trans)
    grid = teacher.landscape_grid(params)
    action = np.full((len(sigma2), len(grid)), np.nan)
    for i, s in enumerate(sd):
        if s.success:
            action[i] = teacher.landscape(s.x, params, s.sigma2, grid)
    # u at the GFL -> GMFL-I boundary, computed here where the teacher is at hand (the result
    # classes do not import the teacher registry)
    s_c = trans["sigma2_gmfl1"][0]
    u_c = float(teacher.effective_interaction(params, s_c)) if math.isfinite(s_c) else math.nan
    return ScanResult(
        teacher=teacher.name,
        params=dict(params),
        sigma2=sigma2,
        branches=branches,
        branch_difference=diff,
        transitions=trans,
        landscape_grid=grid,
        landscape_action=action,
        settings={"residual_tol": tol, "boundary_tol": boundary_tol,
                  "wall_time_s": time.perf_counter() - t0},
        critical_u=u_c,
        landscape_name=teacher.landscape_parameter,
        table_columns=tuple(teacher.scan_table_columns),
        descriptions=teacher.all_observable_descriptions(),
        transition_scalars=scalars,
    )


# the restricted branches, spinodals and susceptibilities (adaptive_kernel.thermodynamics)
# use this module's root finder; registered here so that module does not import this one
from . import thermodynamics as _thermo  # noqa: E402

_thermo.ROOT_FINDER.update(solve=solve, tol=RESIDUAL_TOL)
