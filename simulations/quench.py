r"""Quench experiment: Langevin networks started in the GFL (origin-basin) state and run at a
noise inside the metastable window, timed until their neurons escape to the droplet basin
(``python -m simulations.quench``).

Physics. Every ensemble member starts from the Gaussian prior (:meth:`_Model.sample_prior`):
the overlap q_i = w_i . w* of each read-in neuron with the teacher direction is then
N(0, sigma_w2/d'), |q| ~ 0.1, deep inside the origin basin of the per-neuron action
d' Shat(q) (its barrier q_barrier and droplet minimum q_star sit at q ~ 0.3-1.3). At a
noise sigma2 below the GFL -> GMFL-I boundary but above the origin-branch spinodal (the
*metastable window* of :mod:`adaptive_kernel.thermodynamics`) the origin basin is no longer
the equilibrium one, and the neurons leave it one by one over the per-neuron barrier

.. math:: \Delta = d' \,[\hat S(q_b) - \hat S(0)]

(``barrier`` of the restricted origin branch, at the GFL discrepancy). For
Delta >> 1 kT (kT = 1: the posterior exp(-U) has unit temperature) Kramers' rate gives a
per-neuron escape time tau ~ tau_0 exp(Delta), i.e. d log tau / d Delta = 1.

Time. The sampler integrates d theta = -(m/2) grad U dt + sqrt(m) dW (prior-whitened
preconditioner m, :mod:`simulations.sampler`); one MALA step of size h is a time h. The
quench runs MALA at a fixed h (no adaptation, no burn-in), so t = steps x h.

Measured, per ensemble member (a network of N' neurons) and sigma2:

* per-neuron first-passage times to |q_i| >= q_star (the droplet minimum of the origin
  branch's landscape: the neuron has crossed the barrier and fallen into the droplet
  well), censored at the end of the run (:func:`first_passage_times`);
* the droplet fraction f(t) = fraction of neurons with |q_i| > q_split (the theory's
  split, ``q_split`` observable), and the network's escape time: the first time f(t)
  crosses halfway from its start to the theory's equilibrium droplet fraction
  (:func:`escape_time`; censored if never).

Networks whose task has no teacher direction (no per-neuron overlap q: the modular
networks, whose barriers per Fourier pair are ~1e4 kT at P = 401 in the paper
normalisation) are refused.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from adaptive_kernel.errors import ParameterError

#: Root attribute ``kind`` of the files written here (registered nowhere else: the file is
#: read with h5py, not through :func:`adaptive_kernel.kinds.load`).
KIND = "quench"


# ---------------------------------------------------------------------------------------
# estimators (pure functions; tested on synthetic traces)
# ---------------------------------------------------------------------------------------
def escape_time(times, trace, start, target):
    r"""First time a trace crosses halfway from ``start`` to ``target``.

    .. math:: \tau = \min\{t_k : (x_k - x_{1/2})\,\mathrm{sign}(x_T - x_0) \ge 0\},
              \qquad x_{1/2} = (x_0 + x_T)/2

    Parameters
    ----------
    times : (T,) array, increasing
    trace : (T,) array
    start, target : float
        x_0 (the value the trace starts from) and x_T (the value it relaxes to).

    Returns
    -------
    (tau, censored) : (float, bool)
        tau = the first time the trace reaches the half-way value; if it never does,
        tau = times[-1] and censored = True (a lower bound). NaN if start == target.
    """
    times = np.asarray(times, float)
    x = np.asarray(trace, float)
    if not math.isfinite(start) or not math.isfinite(target) or start == target:
        return math.nan, True
    half = 0.5 * (start + target)
    hit = np.flatnonzero((x - half) * math.copysign(1.0, target - start) >= 0.0)
    if hit.size == 0:
        return float(times[-1]), True
    return float(times[hit[0]]), False


def first_passage_times(times, values, threshold):
    """Per-column first time |value| >= threshold.

    Parameters
    ----------
    times : (T,) array
    values : (T, M) array (M walkers, e.g. the neurons of all members)
    threshold : float

    Returns
    -------
    (tau, censored) : ((M,) float array, (M,) bool array)
        Censored columns (never reached) get times[-1].
    """
    times = np.asarray(times, float)
    v = np.abs(np.asarray(values, float)) >= threshold
    reached = v.any(axis=0)
    first = np.argmax(v, axis=0)
    tau = np.where(reached, times[first], times[-1])
    return tau, ~reached


def km_median(tau, censored):
    """Kaplan-Meier estimate of the median of right-censored times (NaN if the survival
    never drops to 1/2: more than half censored before the last event)."""
    tau = np.asarray(tau, float)
    cen = np.asarray(censored, bool)
    order = np.lexsort((cen, tau))          # events before censorings at equal times
    s = 1.0
    at_risk = tau.size
    for k in order:
        if not cen[k]:
            s *= 1.0 - 1.0 / at_risk
            if s <= 0.5:
                return float(tau[k])
        at_risk -= 1
    return math.nan


def exponential_rate(tau, censored):
    """Maximum-likelihood escape rate of right-censored exponential times,
    k = (events) / (total time at risk); returns (k, k/sqrt(events)) (NaN without events)."""
    tau = np.asarray(tau, float)
    n = int(np.sum(~np.asarray(censored, bool)))
    tot = float(np.sum(tau))
    if n == 0 or tot <= 0:
        return math.nan, math.nan
    k = n / tot
    return k, k / math.sqrt(n)


# ---------------------------------------------------------------------------------------
# the theory side: the origin branch at the simulated parameters
# ---------------------------------------------------------------------------------------
def droplet_split(sigma_w2: float) -> float:
    r"""The theory's droplet split q_split = sqrt((1 + 2 sigma_w2)/6): the overlap where a
    neuron's erf feature r(q) = q/sqrt(1 + 2 sigma_w2 + 2 q^2) reaches half its saturation
    (the ``q_split`` observable of the quadrature method; the saddle method does not store
    it). A neuron with |q| > q_split counts as a droplet neuron."""
    return math.sqrt((1.0 + 2.0 * float(sigma_w2)) / 6.0)


def discrepancy_coefficients(W, a, q, eps):
    r"""(b, c) of each member from its weights as exact Gaussian integrals over x (the
    ``b_exact``, ``c_exact`` traces of the Langevin networks):

    .. math:: b = 1 - \sum_i a_i \frac{2}{\sqrt\pi} \frac{q_i}{\sqrt{1 + 2|w_i|^2}},\qquad
              c = \epsilon + \frac{1}{6}\sum_i a_i \frac{4}{\sqrt\pi}
              \frac{q_i^3}{(1 + 2|w_i|^2)^{3/2}}

    (E[erf(w.x) H1(w*.x)] and E[erf(w.x) H3(w*.x)] for x ~ N(0, I)). W (S, N, d), a (S, N),
    q (S, N); returns (S, 2)."""
    D = 1.0 + 2.0 * np.sum(np.asarray(W, float) ** 2, axis=2)
    a = np.asarray(a, float)
    lin = np.sum(a * (2.0 / math.sqrt(math.pi)) * q / np.sqrt(D), axis=1)
    cub = np.sum(a * (-4.0 / math.sqrt(math.pi)) * q ** 3 / D ** 1.5, axis=1) / 6.0
    return np.stack([1.0 - lin, eps - cub], axis=1)


def landscape_landmarks(teacher: str, params: dict, sigma2: float, b: float, c: float, q_max: float = 3.0,
                        points: int = 3001) -> dict:
    """Landmarks of the per-neuron action d' Shat(q) (q >= 0, relative to q = 0) at a given
    discrepancy (b, c) (the network's measured one), on a grid: ``q_star`` the lowest local
    minimum beyond the first local maximum ``q_barrier``, ``barrier`` the action at
    q_barrier, ``action_gap`` the action at q_star; NaN where there is no side minimum."""
    from adaptive_kernel import registry
    from adaptive_kernel.solver import solve

    from .models import network_for

    net = network_for(teacher)
    phys = net.physical(params, sigma2)
    t = registry.get_theory(teacher)
    tp = net.theory_params(params, phys)
    s = phys["sigma2"]
    x = np.array(solve(t, tp, s).x, float)
    x[0], x[1] = b, c
    q = np.linspace(0.0, q_max, points)
    act = phys["d"] * (t.landscape(x, tp, s, q) - t.landscape(x, tp, s, np.zeros(1))[0])
    out = {"q_barrier": math.nan, "barrier": math.nan, "q_star": math.nan, "action_gap": math.nan}
    dif = np.diff(act)
    maxima = np.flatnonzero((dif[:-1] > 0) & (dif[1:] <= 0)) + 1
    if maxima.size == 0:
        return out
    kb = maxima[0]
    ks = kb + int(np.argmin(act[kb:]))
    if ks == kb or ks == points - 1:
        return out
    out.update(q_barrier=float(q[kb]), barrier=float(act[kb]), q_star=float(q[ks]), action_gap=float(act[ks]))
    return out


def supports_quench(teacher: str) -> bool:
    """Whether the teacher's task has a teacher direction (per-neuron overlap q)."""
    from adaptive_kernel.tasks import TASKS

    return teacher in TASKS and hasattr(TASKS[teacher], "teacher_direction")


def quench_teachers() -> list:
    """Registered theories whose networks the quench can time."""
    from adaptive_kernel import registry

    return [n for n in registry.theory_names() if supports_quench(n)]


def origin_branch_point(teacher: str, params: dict, sigma2: float) -> dict:
    """The theory at the simulated (physical) parameters of base noise sigma2: the origin
    (GFL) branch's barrier, landmarks q_barrier and q_star of its landscape d' Shat(q), the
    droplet split q_split and the equilibrium droplet fraction.

    Returns a dict with ``success`` and ``message`` (False: the origin branch does not exist
    there, or has no droplet minimum: not in the metastable window).
    """
    from adaptive_kernel import registry
    from adaptive_kernel.solver import solve
    from adaptive_kernel.thermodynamics import solve_basin

    from .models import network_for

    net = network_for(teacher)
    phys = net.physical(params, sigma2)
    t = registry.get_theory(teacher)
    tp = net.theory_params(params, phys)
    s = phys["sigma2"]
    out = {"sigma2": float(sigma2), "sigma2_physical": float(s), "N": int(phys["N"]), "d": int(phys["d"]),
           "n": int(phys["n"]), "success": False, "message": ""}
    eq = solve(t, tp, s)
    obs_eq = t.observables(eq.x, tp, s) if eq.success else {}
    out["droplet_fraction_eq"] = float(obs_eq.get("droplet_fraction", math.nan))
    out["q_split"] = droplet_split(params["sigma_w2"])
    out["phase_eq"] = float(obs_eq.get("phase", math.nan))
    sol = solve_basin(t, tp, s, "origin", x0=eq.x if eq.success else None)
    if not sol.success:
        out["message"] = f"no origin-branch solution: {sol.message}"
        return out
    ob = t.basin_observables(sol.x, tp, s, "origin")
    out["barrier"] = float(ob.get("barrier", math.nan))
    out["q_star"] = float(ob.get("q_star", math.nan))
    out["b_origin"] = float(ob.get("b", math.nan))
    out["c_origin"] = float(ob.get("c", math.nan))
    q = np.linspace(0.0, 3.0, 3001)
    act = phys["d"] * (t.landscape(sol.x, tp, s, q) - t.landscape(sol.x, tp, s, np.zeros(1))[0])
    if math.isfinite(out["q_star"]):
        inside = q <= out["q_star"]
        out["q_barrier"] = float(q[inside][np.argmax(act[inside])])
        out["barrier_grid"] = float(np.max(act[inside]))
        out["action_gap"] = float(np.interp(out["q_star"], q, act))
        out["success"] = math.isfinite(out["barrier"])
        out["message"] = "ok" if out["success"] else "no barrier at the origin branch"
    else:
        out["q_barrier"] = out["barrier_grid"] = out["action_gap"] = math.nan
        out["message"] = "origin branch without a droplet minimum (not in the metastable window)"
    return out


# ---------------------------------------------------------------------------------------
# the quench
# ---------------------------------------------------------------------------------------
@dataclass
class QuenchConfig:
    """A quench: base parameters (as for ``phasesim scan``), the sigma2 grid (base units),
    fixed-step MALA for ``steps`` steps recorded every ``record_every`` steps, ``seeds``
    networks per point (member streams seeded from (seed, member, sigma2 index))."""

    teacher: str
    params: dict
    sigma2: list
    steps: int = 4000
    record_every: int = 10
    step_size: float = 0.05
    seeds: int = 4
    seed: int = 0

    def __post_init__(self):
        self.sigma2 = [float(s) for s in np.atleast_1d(self.sigma2)]
        if not supports_quench(self.teacher):
            raise ParameterError(f"teacher must be one of {', '.join(quench_teachers())} (a network "
                                 f"with a per-neuron teacher overlap); got {self.teacher!r}")
        for name in ("steps", "record_every", "seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name.replace('_', '-')} must be an integer >= 1; got {v!r}")
        if not (isinstance(self.step_size, (int, float)) and 0 < self.step_size < 10):
            raise ParameterError(f"step-size must be in (0, 10); got {self.step_size!r}")
        if not self.sigma2 or any(not (s > 0 and math.isfinite(s)) for s in self.sigma2):
            raise ParameterError(f"sigma2 must be > 0; got {self.sigma2}")


def run_point(config: QuenchConfig, isig: int) -> dict:
    """Quench ``config.seeds`` networks at ``config.sigma2[isig]``; returns the theory
    (:func:`origin_branch_point`), the recorded times (T,), droplet-fraction traces (S, T),
    per-neuron first-passage times (S, N') and censoring flags, network escape times (S,),
    MALA acceptance (S,) and the wall time."""
    from .langevin import Chain, LangevinConfig

    c = config
    th = origin_branch_point(c.teacher, c.params, c.sigma2[isig])
    lc = LangevinConfig(c.teacher, c.params, c.sigma2, steps=c.steps, burn_in=0, thin=c.steps,
                        step_size=c.step_size, integrator="mala", seeds=c.seeds, seed=c.seed,
                        n_test=1, time_blocks=1, adapt=False)
    t0 = time.perf_counter()
    ch = Chain(lc, isig, range(c.seeds))
    ch.sampler.initialize()
    w_star = np.asarray(ch.model.task.w_star, float)
    smp = ch.sampler
    T = c.steps // c.record_every + 1
    qs = np.empty((T, c.seeds, ch.model.N))
    bc = np.empty((T, c.seeds, 2))
    eps = float(ch.model.eps)

    def record(k):
        qs[k] = smp.theta["w"] @ w_star
        bc[k] = discrepancy_coefficients(smp.theta["w"], smp.theta["a"], qs[k], eps)

    record(0)
    j = 1
    from .sampler import DivergenceError

    try:
        for it in range(1, c.steps + 1):
            smp.step(adapt=False, check_stuck=True)
            if it % c.record_every == 0:
                record(j)
                j += 1
    except DivergenceError as exc:   # a status, not a result: the record is cut there
        th = dict(th, success=False, message=f"sampler failed: {exc}")
    qs, bc = qs[:j], bc[:j]
    times = np.arange(j) * c.record_every * c.step_size
    out = dict(th)
    out["times"] = times
    q_split, q_star = th["q_split"], th.get("q_star", math.nan)
    f = np.mean(np.abs(qs) > q_split, axis=2).T  # (S, T)
    out["droplet_fraction"] = f
    out["q2"] = np.mean(qs ** 2, axis=2).T
    out["b"], out["c"] = bc[..., 0].T, bc[..., 1].T
    # the barrier of the landscape the network itself sees: the theory's action at the
    # network's measured (b, c), early (first tenth) and late (second half of the run)
    for when, sl in (("early", slice(1, max(2, j // 10))), ("late", slice(j // 2, j))):
        bm, cm = float(np.mean(bc[sl, :, 0])), float(np.mean(bc[sl, :, 1]))
        out[f"b_{when}"], out[f"c_{when}"] = bm, cm
        lm = landscape_landmarks(c.teacher, c.params, c.sigma2[isig], bm, cm)
        out[f"barrier_{when}"], out[f"q_star_{when}"] = lm["barrier"], lm["q_star"]
    tau_n = np.full((c.seeds, ch.model.N), math.nan)
    cen_n = np.ones((c.seeds, ch.model.N), bool)
    if math.isfinite(q_star):
        for s in range(c.seeds):
            tau_n[s], cen_n[s] = first_passage_times(times, qs[:, s, :], q_star)
    out["neuron_tau"], out["neuron_censored"] = tau_n, cen_n
    esc = [escape_time(times, f[s], float(f[s, 0]), th["droplet_fraction_eq"]) for s in range(c.seeds)]
    out["network_tau"] = np.array([e[0] for e in esc])
    out["network_censored"] = np.array([e[1] for e in esc])
    late = f[:, f.shape[1] // 2:]
    out["droplet_fraction_late"] = float(np.mean(late))
    out["droplet_fraction_late_err"] = float(np.std(np.mean(late, axis=1)) / math.sqrt(c.seeds))
    # the network's relaxation measured against its own late-time level (no theory input)
    esc2 = [escape_time(times, f[s], float(f[s, 0]), out["droplet_fraction_late"]) for s in range(c.seeds)]
    out["network_tau_late"] = np.array([e[0] for e in esc2])
    out["network_censored_late"] = np.array([e[1] for e in esc2])
    out["acceptance"] = np.asarray(smp.n_accept, float) / c.steps
    out["wall_s"] = time.perf_counter() - t0
    ok = np.isfinite(tau_n)
    out["neuron_tau_median"] = km_median(tau_n[ok], cen_n[ok]) if ok.any() else math.nan
    out["neuron_rate"], out["neuron_rate_err"] = exponential_rate(tau_n[ok], cen_n[ok]) if ok.any() \
        else (math.nan, math.nan)
    out["neuron_rate_per_seed"] = np.array([exponential_rate(tau_n[s], cen_n[s])[0] for s in range(c.seeds)])
    return out


def run_quench(config: QuenchConfig, progress=None) -> list:
    """:func:`run_point` at every sigma2 of the grid (serially); a list of point dicts."""
    pts = []
    for i in range(len(config.sigma2)):
        pts.append(run_point(config, i))
        if progress is not None:
            progress(pts[-1])
    return pts


def arrhenius_slope(points, which: str = "neuron") -> tuple:
    r"""Least-squares slope of log tau against the barrier Delta over the points with a
    finite tau and barrier: ``(slope, standard error, number of points)``. Kramers:
    tau ~ tau_0 exp(Delta), slope 1 (per kT).

    ``which``: ``"neuron"``, tau = 1/rate of the per-neuron first passages to q*
    (:func:`exponential_rate`); ``"network"``, tau = the mean over seeds of the networks'
    escape times (half-way to the theory's equilibrium droplet fraction; points with a
    censored seed are left out)."""
    if which not in ("neuron", "network"):
        raise ParameterError(f"which must be 'neuron' or 'network'; got {which!r}")
    x = np.array([p.get("barrier", math.nan) for p in points], float)
    if which == "neuron":
        k = np.array([p.get("neuron_rate", math.nan) for p in points], float)
        tau = np.where(k > 0, 1.0 / np.where(k > 0, k, 1.0), math.nan)
    else:
        tau = np.array([np.mean(p["network_tau"]) if not np.any(p["network_censored"]) else math.nan
                        for p in points], float)
    ok = np.isfinite(x) & np.isfinite(tau) & (tau > 0)
    n = int(ok.sum())
    if n < 2:
        return math.nan, math.nan, n
    X, Y = x[ok], np.log(tau[ok])
    A = np.vstack([X, np.ones_like(X)]).T
    coef = np.linalg.lstsq(A, Y, rcond=None)[0]
    err = math.nan
    if n > 2:
        r = Y - A @ coef
        cov = (r @ r) / (n - 2) * np.linalg.inv(A.T @ A)
        err = float(math.sqrt(cov[0, 0]))
    return float(coef[0]), err, n


def table(points) -> str:
    """Text table: sigma2, barrier (kT), q_barrier, q_star, neuron escape rate (1/time),
    Kaplan-Meier median neuron first-passage time, censored fraction, network escape times
    (mean over seeds, censored count), acceptance."""
    head = (f"{'sigma2':>8s} {'barrier':>8s} {'q_b':>6s} {'q*':>6s} {'f_eq':>7s} {'rate':>10s} "
            f"{'rate_err':>9s} {'tau_med':>9s} {'cens':>6s} {'net_tau':>9s} {'net_sd':>8s} "
            f"{'ncen':>5s} {'f_late':>7s} {'tau_late':>9s} {'acc':>5s} {'wall':>6s}")
    lines = [head]
    for p in points:
        nt = p["network_tau"]
        lines.append(f"{p['sigma2']:8.4f} {p.get('barrier', math.nan):8.4f} {p.get('q_barrier', math.nan):6.3f} "
                     f"{p.get('q_star', math.nan):6.3f} {p['droplet_fraction_eq']:7.4f} "
                     f"{p['neuron_rate']:10.4g} {p['neuron_rate_err']:9.2g} {p['neuron_tau_median']:9.4g} "
                     f"{np.mean(p['neuron_censored']):6.3f} {np.mean(nt):9.4g} {np.std(nt):8.3g} "
                     f"{int(np.sum(p['network_censored'])):5d} {p['droplet_fraction_late']:7.4f} "
                     f"{np.mean(p['network_tau_late']):9.4g} {np.mean(p['acceptance']):5.2f} "
                     f"{p['wall_s']:6.1f}")
    return "\n".join(lines)


def write_quench(points, config: QuenchConfig, path, overwrite=False, command=None):
    """Write the quench to HDF5 (root ``kind = "quench"``) through
    :func:`adaptive_kernel.storage.write_result`: /params (attrs), /quench attrs (the run's
    settings) and one group per sigma2 index with the arrays and the theory's scalars."""
    from adaptive_kernel.storage import write_result

    def fill(f):
        g = f.create_group("params")
        for k, v in config.params.items():
            g.attrs[k] = v
        q = f.create_group("quench")
        for k in ("steps", "record_every", "step_size", "seeds", "seed"):
            q.attrs[k] = getattr(config, k)
        q.create_dataset("sigma2", data=np.array(config.sigma2))
        for which in ("neuron", "network"):
            slope, err, n = arrhenius_slope(points, which)
            q.attrs[f"arrhenius_slope_{which}"] = slope
            q.attrs[f"arrhenius_slope_{which}_err"] = err
            q.attrs[f"arrhenius_points_{which}"] = n
        for i, p in enumerate(points):
            h = q.create_group(str(i))
            for k, v in p.items():
                if isinstance(v, np.ndarray):
                    h.create_dataset(k, data=v)
                elif isinstance(v, (bool, int, float, str, np.floating, np.integer)):
                    h.attrs[k] = v

    return write_result(path, KIND, fill, overwrite=overwrite, command=command, teacher=config.teacher)


def main(argv=None):
    """``python -m simulations.quench``: run a quench and print (and optionally write) the
    table."""
    import click

    from adaptive_kernel import registry
    from adaptive_kernel._cliutil import check_output, usage_errors
    from adaptive_kernel.validation import parse_grid

    names = quench_teachers()

    @click.command(help="Quench Langevin networks started in the GFL state into the metastable "
                        "window; time the escape of their neurons over the per-neuron barrier.")
    @click.option("--teacher", type=click.Choice(names), default=names[0] if names else None,
                  show_default=True, help="Theory whose network is quenched.")
    @click.option("--sigma2", required=True, help="Base-unit noise values, comma-separated "
                  "('0.16,0.13,0.10') or START:STOP:NUM.")
    @click.option("--alpha", type=float, default=0.125, show_default=True, help="Table 1 data scaling.")
    @click.option("--beta", type=float, default=0.125, show_default=True, help="Table 1 width scaling.")
    @click.option("--method", default="saddle", show_default=True,
                  help="Theory method for the barrier (the scan's --method).")
    @click.option("--steps", type=int, default=4000, show_default=True)
    @click.option("--record-every", type=int, default=10, show_default=True)
    @click.option("--step-size", type=float, default=0.05, show_default=True,
                  help="Fixed MALA step (time per step, prior-whitened units).")
    @click.option("--seeds", type=int, default=4, show_default=True)
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("-o", "--output", default=None, help="Optional HDF5 output.")
    @click.option("--overwrite", is_flag=True)
    @usage_errors
    def cmd(teacher, sigma2, alpha, beta, method, steps, record_every, step_size, seeds, seed, output,
            overwrite):
        if output is not None:
            check_output(output, overwrite)
        params = registry.get_theory(teacher).make_params(alpha=alpha, beta=beta, method=method)
        grid = ([float(v) for v in sigma2.split(",")] if "," in sigma2
                else list(parse_grid(sigma2, "sigma2")))
        cfg = QuenchConfig(teacher, params, grid, steps=steps, record_every=record_every,
                           step_size=step_size, seeds=seeds, seed=seed)
        pts = run_quench(cfg, progress=lambda p: click.echo(
            f"sigma2={p['sigma2']:.4g}: barrier {p.get('barrier', math.nan):.3f} kT, "
            f"{p['message']}, {p['wall_s']:.1f} s", err=True))
        click.echo(table(pts))
        for which in ("neuron", "network"):
            slope, err, n = arrhenius_slope(pts, which)
            click.echo(f"{which}: d log(tau) / d barrier = {slope:.3f} +- {err:.2g} over {n} points "
                       f"(Kramers: 1)")
        if output is not None:
            write_quench(pts, cfg, output, overwrite=overwrite)
            click.echo(f"wrote {output}")

    return cmd.main(args=argv, prog_name="python -m simulations.quench", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main()
