r"""Thermodynamics of the first-order transition: restricted-basin (metastable) branches,
their spinodals, the free-energy crossing, susceptibilities and latent heat.

The mean-field free energy of the posterior (derived in ``docs/theory.md``, section 10;
each theory's ``free_energy``) is a functional F(t) of the discrepancy t whose stationary
points are the self-consistency equations. Confining every neuron to one basin of the
per-neuron action (the origin basin: no droplets; the droplet basin: every neuron a
droplet) gives a restricted functional F_b(t) with its own stationary point, the
*restricted branch* b. Where the basin is not the equilibrium one the branch is
metastable; it ends at a *spinodal*, where its basin (or its self-consistent solution)
ceases to exist. The equilibrium free energy is the lower envelope of the branches plus,
in the mixed phase, the common tangent of the two (Maxwell construction; the tests check
it).

This module is theory-agnostic: it talks to the teacher through
:meth:`~adaptive_kernel.teachers.base.Teacher.basin_fixed_point_map`,
``basin_bracket``, ``basin_valid``, ``basin_observables`` and ``latent_heat``, and to the
root finder through :func:`adaptive_kernel.solver.solve` (registered by the solver in
:data:`ROOT_FINDER`).
"""
from __future__ import annotations

import math

import numpy as np

#: Relative step of the sigma2 finite differences of the susceptibilities.
SUSCEPTIBILITY_STEP = 1e-5

#: The root finder, :func:`adaptive_kernel.solver.solve`, and its default tolerance
#: ``RESIDUAL_TOL``, registered by :mod:`adaptive_kernel.solver` when it is imported (the
#: solver's ``scan`` calls :func:`analyse`; this module does not import the solver, so the
#: two form no import cycle). Importing the package imports the solver.
ROOT_FINDER = {}


def _root():
    if not ROOT_FINDER:  # pragma: no cover - the package imports the solver first
        import importlib

        importlib.import_module(__package__ + ".solver")
    return ROOT_FINDER["solve"], ROOT_FINDER["tol"]


class BasinProblem:
    """The self-consistency problem with the neurons confined to one basin, in the shape
    :func:`adaptive_kernel.solver.solve` expects of a teacher (``initial_state``,
    ``fixed_point_map``, ``bracket``)."""

    def __init__(self, teacher, basin: str):
        self.teacher = teacher
        self.basin = basin
        self.name = f"{teacher.name}[{basin}]"

    def initial_state(self, params, sigma2):
        return self.teacher.initial_state(params, sigma2)

    def fixed_point_map(self, x, params, sigma2):
        return self.teacher.basin_fixed_point_map(x, params, sigma2, self.basin)

    def bracket(self, params, sigma2):
        return self.teacher.basin_bracket(params, sigma2, self.basin)


def solve_basin(teacher, params, sigma2, basin, x0=None, tol=None):
    """Solve the restricted problem of ``basin`` at sigma2 (continuation guess x0).

    Multi-component states use the quick path of the solver (Powell's method from the
    guess and its image): along a branch the guess is a neighbour's solution, and a failure
    there means the branch has ended. Returns a
    :class:`~adaptive_kernel.solver.SelfConsistentSolution`; a solution whose
    basin does not exist at the root (``basin_valid`` false) is returned with
    ``success=False`` (status 3): the branch is absent there.
    """
    solve, default_tol = _root()
    sol = solve(BasinProblem(teacher, basin), params, sigma2, x0=x0,
                tol=default_tol if tol is None else tol, quick=True)
    if sol.success:
        try:
            ok = bool(teacher.basin_valid(sol.x, params, sigma2, basin))
        except (ValueError, ArithmeticError):
            ok = False
        if not ok:
            sol.success = False
            sol.status = 3
            sol.message = f"the {basin} basin does not exist at the root"
    return sol


def locate_spinodal(teacher, params, basin, s_ok, x_ok, s_bad, tol, residual_tol=None):
    """Bisect in sigma2 between ``s_ok`` (branch exists, solution ``x_ok``) and ``s_bad``
    (it does not) with continuation from the last solution found.

    Returns ``(sigma2_spinodal, half_width, beyond)``: the branch exists at
    sigma2_spinodal -+ half_width on the ``s_ok`` side. ``beyond`` is None for a confirmed
    end; if the far end of the final bracket is solved after all from the solution a
    distance ``tol`` away (the first failure was the continuation's, not the branch's),
    it is ``(sigma2, x)`` there, and the caller continues the branch from it.
    """
    while abs(s_bad - s_ok) > tol:
        mid = 0.5 * (s_ok + s_bad)
        sol = solve_basin(teacher, params, mid, basin, x0=x_ok, tol=residual_tol)
        if sol.success:
            s_ok, x_ok = mid, sol.x
        else:
            s_bad = mid
    again = solve_basin(teacher, params, s_bad, basin, x0=x_ok, tol=residual_tol)
    return 0.5 * (s_ok + s_bad), 0.5 * abs(s_ok - s_bad), ((s_bad, again.x) if again.success else None)


def follow_branch(teacher, params, sigma2, basin, start, ascending, tol=None, boundary_tol=1e-6):
    """Follow the restricted branch of ``basin`` along the grid with continuation.

    Parameters
    ----------
    sigma2 : ndarray
        The scan grid (any order).
    start : sequence of ndarray or None
        Guesses per grid point (the equilibrium solutions, None where not converged); the
        first point of the walk starts from its guess, every later one from the previous
        solution (and from its own guess if that fails, to enter the branch).
    ascending : bool
        Walk direction in sigma2 (droplet branch: upward from the smallest sigma2; origin
        branch: downward from the largest).

    Returns
    -------
    sols : list of SelfConsistentSolution or None, in grid order (None: not attempted,
        beyond the branch's end).
    spinodal : tuple
        ``(sigma2, half_width, located, note)``.
    """
    order = np.argsort(sigma2, kind="stable")
    if not ascending:
        order = order[::-1]
    sols = [None] * len(sigma2)
    x = None
    last_ok = None
    for i in order:
        s = float(sigma2[i])
        tries = [g for g in (x, start[i]) if g is not None] or [None]
        sol = None
        for g in tries:
            sol = solve_basin(teacher, params, s, basin, x0=g, tol=tol)
            if sol.success:
                break
        sols[i] = sol
        if sol.success:
            x, last_ok = sol.x, (s, sol.x)
            continue
        if last_ok is None:
            # absent where its walk starts (the end of the grid where this basin is the
            # equilibrium one): the branch does not reach the grid
            return sols, (math.nan, math.nan, False, f"no {basin}-basin solution at sigma2 = {s:.6g}, "
                          f"where the branch would start")
        s_sp, hw, x_beyond = locate_spinodal(teacher, params, basin, last_ok[0], last_ok[1], s, boundary_tol,
                                             tol)
        if x_beyond is not None:
            # not the branch's end: the step from the last grid point was too long
            sols[i] = solve_basin(teacher, params, s, basin, x0=x_beyond[1], tol=tol)
            if sols[i].success:
                x, last_ok = sols[i].x, (s, sols[i].x)
                continue
        return sols, (s_sp, hw, True, "located by bisection (end of the branch)")
    if last_ok is None:
        return sols, (math.nan, math.nan, False, "branch absent on the grid")
    why = teacher.basin_without_spinodal(params, basin)
    if why:
        return sols, (math.nan, math.nan, False, why)
    return sols, _extend_beyond_grid(teacher, params, basin, last_ok, ascending, sigma2, tol, boundary_tol)


#: Beyond the grid a branch is followed for at most this many geometric steps (factor
#: EXTENSION_FACTOR in sigma2) to find its spinodal.
EXTENSION_STEPS = 12
EXTENSION_FACTOR = 0.8


def _extend_beyond_grid(teacher, params, basin, last_ok, ascending, sigma2, tol, boundary_tol):
    """Continue a branch that exists up to the end of the grid in geometric steps beyond it
    (downward: sigma2 x 0.8, not below the theory's ``sigma2_limit``; upward: / 0.8) and
    bisect its end if it is met; ``(sigma2, half_width, located, note)``."""
    s, x = last_ok
    limit = float(teacher.sigma2_limit(params) or 0.0)
    for _ in range(EXTENSION_STEPS):
        nxt = s / EXTENSION_FACTOR if ascending else s * EXTENSION_FACTOR
        if not ascending and nxt <= limit:
            break
        sol = solve_basin(teacher, params, nxt, basin, x0=x, tol=tol)
        if sol.success:
            s, x = nxt, sol.x
            continue
        s_sp, hw, beyond = locate_spinodal(teacher, params, basin, s, x, nxt, boundary_tol, tol)
        if beyond is None:
            return (s_sp, hw, True, "located by bisection beyond the grid (end of the branch)")
        s, x = beyond                     # a continuation failure: go on from there
    side = "above" if ascending else "below"
    return (math.nan, math.nan, False, f"not reached: the branch exists on the whole grid and "
            f"{side} it down to sigma2 = {s:.6g} ({EXTENSION_STEPS} steps of x{EXTENSION_FACTOR:g} "
            f"beyond the grid)" if not ascending else
            f"not reached: the branch exists on the whole grid and {side} it up to sigma2 = {s:.6g}")


def susceptibility(teacher, params, sigma2, x, names, tol=None, step=SUSCEPTIBILITY_STEP, problem=None):
    """dx/dsigma2 of a solution x at sigma2 by central differences of the solutions at
    sigma2 (1 -+ step), each solved with continuation from x (the implicit-function
    derivative (1 - dT/dx)^{-1} dT/dsigma2; the map's kinks, e.g. the saddle method's
    droplet weight, are handled because solutions, not the map, are differenced).

    Returns ``{name: derivative}`` for the state components (NaN if a side fails)."""
    solve, default_tol = _root()
    prob = teacher if problem is None else problem
    h = step * sigma2
    out = {}
    a = solve(prob, params, sigma2 + h, x0=x, tol=default_tol if tol is None else tol)
    b = solve(prob, params, sigma2 - h, x0=x, tol=default_tol if tol is None else tol)
    for k, n in enumerate(names):
        out[n] = (a.x[k] - b.x[k]) / (2.0 * h) if (a.success and b.success) else math.nan
    return out


def susceptibility_jump(teacher, params, s_b, x_above, x_below, names, distance, tol=None):
    """Jump of dx/dsigma2 across a boundary at ``s_b``: the one-sided values at
    s_b + distance (continued from ``x_above``) and s_b - distance (from ``x_below``),
    each a central difference of half-width distance/4 that stays on its side.

    Returns ``{name: (below, above)}``."""
    solve, default_tol = _root()
    tol = default_tol if tol is None else tol
    res = {}
    sides = {}
    for side, s, x0 in (("above", s_b + distance, x_above), ("below", s_b - distance, x_below)):
        sol = solve(teacher, params, s, x0=x0, tol=tol)
        if not sol.success:
            sides[side] = {n: math.nan for n in names}
            continue
        sides[side] = susceptibility(teacher, params, s, sol.x, names, tol, step=0.25 * distance / s)
    for n in names:
        res[n] = (sides["below"][n], sides["above"][n])
    return res


def locate_crossing(teacher, params, sigma2, sols_o, sols_d, fe_o, fe_d, tol, residual_tol=None):
    """sigma2 where the two branches' free energies cross (F_origin = F_droplet), by
    bisection between neighbouring grid points where both exist and F_o - F_d changes
    sign; ``(sigma2, half_width, located, note)``."""
    order = np.argsort(sigma2)
    diff = np.asarray(fe_o, float) - np.asarray(fe_d, float)
    idx = [i for i in order if np.isfinite(diff[i])]
    for a, b in zip(idx[:-1], idx[1:]):
        if diff[a] == 0.0:
            return float(sigma2[a]), 0.0, True, "on a grid point"
        if diff[a] * diff[b] < 0.0:
            lo, hi = float(sigma2[a]), float(sigma2[b])
            xo_lo, xd_lo, d_lo = sols_o[a].x, sols_d[a].x, diff[a]
            ok = True
            while hi - lo > tol:
                mid = 0.5 * (lo + hi)
                so = solve_basin(teacher, params, mid, "origin", x0=xo_lo, tol=residual_tol)
                sd = solve_basin(teacher, params, mid, "droplet", x0=xd_lo, tol=residual_tol)
                if not (so.success and sd.success):
                    ok = False
                    break
                dm = (teacher.basin_observables(so.x, params, mid, "origin")["free_energy"]
                      - teacher.basin_observables(sd.x, params, mid, "droplet")["free_energy"])
                if dm * d_lo > 0.0:
                    lo, xo_lo, xd_lo, d_lo = mid, so.x, sd.x, dm
                else:
                    hi = mid
            return 0.5 * (lo + hi), 0.5 * (hi - lo), ok, ("located by bisection" if ok
                                                           else "bisection left a branch")
    return math.nan, math.nan, False, "the branches' free energies do not cross where both exist"


def branch_data(teacher, params, sols, basin):
    """Datasets of a restricted branch in grid order: ``converged``, ``status``,
    ``equation_residual`` and the theory's ``basin_observables`` (NaN where absent)."""
    rows = [teacher.basin_observables(s.x, params, s.sigma2, basin) if (s is not None and s.success) else None
            for s in sols]
    keys = next((list(r) for r in rows if r is not None), [])
    data = {k: np.array([r[k] if r is not None else math.nan for r in rows], float) for k in keys}
    data["converged"] = np.array([s is not None and s.success for s in sols], bool)
    data["status"] = np.array([s.status if s is not None else -1 for s in sols], np.int8)
    data["equation_residual"] = np.array([s.residual if s is not None else math.nan for s in sols], float)
    return data


def analyse(teacher, params, sigma2, sols_down, data_down, transitions, tol, boundary_tol):
    """Everything of this module for one scan.

    Adds to ``data_down`` the susceptibilities ``d<name>_dsigma2`` of the state components,
    and returns ``(branches, extra_transitions)``: ``{"origin": data, "droplet": data}``
    (restricted branches, grid order) and ``{name: (sigma2, half_width, located, note)}``
    for ``sigma2_spinodal_origin``, ``sigma2_spinodal_droplet``, ``sigma2_crossing``, plus
    scalar attributes of the boundaries (``<boundary>_latent_heat``,
    ``<boundary>_eigenvalue_jump``, ``<boundary>_barrier``, ``<boundary>_jump_d<name>``).
    """
    names = list(teacher.state_labels(params))
    chi = {f"d{n}_dsigma2": np.full(len(sigma2), math.nan) for n in names}
    for i, s in enumerate(sols_down):
        if s.success:
            d = susceptibility(teacher, params, s.sigma2, s.x, names, tol)
            for n in names:
                chi[f"d{n}_dsigma2"][i] = d[n]
    data_down.update(chi)

    start = [s.x if s.success else None for s in sols_down]
    sols_o, spin_o = follow_branch(teacher, params, sigma2, "origin", start, ascending=False, tol=tol,
                                   boundary_tol=boundary_tol)
    sols_d, spin_d = follow_branch(teacher, params, sigma2, "droplet", start, ascending=True, tol=tol,
                                   boundary_tol=boundary_tol)
    data_o = branch_data(teacher, params, sols_o, "origin")
    data_d = branch_data(teacher, params, sols_d, "droplet")
    extra = {"sigma2_spinodal_origin": spin_o, "sigma2_spinodal_droplet": spin_d}
    if "free_energy" in data_o and "free_energy" in data_d:
        extra["sigma2_crossing"] = locate_crossing(teacher, params, sigma2, sols_o, sols_d,
                                                   data_o["free_energy"], data_d["free_energy"],
                                                   boundary_tol, tol)
    else:
        extra["sigma2_crossing"] = (math.nan, math.nan, False, "a branch is absent on the grid")
    scalars = {}
    order = np.argsort(-sigma2)
    for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
        s_b = transitions[name][0]
        if not math.isfinite(s_b):
            continue
        above = [i for i in order if sigma2[i] > s_b and sols_down[i].success]
        below = [i for i in order if sigma2[i] < s_b and sols_down[i].success]
        if not above or not below:
            continue
        x_above, x_below = sols_down[above[-1]].x, sols_down[below[0]].x
        solve = _root()[0]
        sol = solve(teacher, params, s_b, x0=x_above, tol=tol)
        if sol.success:
            for k, v in teacher.latent_heat(sol.x, params, s_b).items():
                scalars[f"{name}_{k}"] = float(v)
            obs = teacher.observables(sol.x, params, s_b)
            scalars[f"{name}_barrier"] = float(obs.get("barrier", math.nan))
            scalars[f"{name}_free_energy"] = float(obs.get("free_energy", math.nan))
            scalars[f"{name}_free_energy_dsigma2"] = float(obs.get("free_energy_dsigma2", math.nan))
        dist = max(20.0 * boundary_tol, 1e-4 * s_b)
        jumps = susceptibility_jump(teacher, params, s_b, x_above, x_below, names, dist, tol)
        for n, (lo, hi) in jumps.items():
            scalars[f"{name}_d{n}_dsigma2_below"] = float(lo)
            scalars[f"{name}_d{n}_dsigma2_above"] = float(hi)
            scalars[f"{name}_jump_d{n}_dsigma2"] = float(lo - hi)
    return {"origin": data_o, "droplet": data_d}, extra, scalars
