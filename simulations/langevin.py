r"""Langevin-trained ensembles of networks, measured against the adaptive-kernel theory
(``phasesim langevin``).

For every sigma2 of the grid, ``seeds`` independent networks (ensemble members, each with
its own RNG stream and, for the cubic teacher, its own training and test set) are sampled
from the posterior exp(-U) of THEORY.md section 1 by preconditioned MALA (or ULA, see
:mod:`simulations.sampler`), and the file written at the end holds the measurements *and*
the theory's prediction for the same (physical) parameters, computed by
:func:`adaptive_kernel.solver.solve`.

Parameters are given as for ``phasesim scan``. Cubic teacher: the base parameters and the
Table 1 scaling (alpha, beta) define the physical N' = beta N, d' = sqrt(beta) d,
n' = alpha n (each rounded to the nearest integer, ties down: N=700, beta=1/8 gives 87),
sigma_a2' = sigma_a2/sqrt(beta), sigma2' = (alpha/beta) sigma2; the sigma2 grid is in base
units, as for ``scan``. The network is simulated at the physical integers and the theory is
evaluated at exactly those values (``params_physical``), so both sides describe the same
posterior.

Nothing in this module depends on which theory is simulated: the network class of the
teacher (:func:`simulations.models.network_for`, :data:`simulations.models.NETWORKS`) supplies
the default step size, the physical parameters, the theory parameters, the histogram, the
theory's prediction at each point and the table columns.

HDF5 layout of the output (written and read in :mod:`simulations.langevin_io`; ``phasesim plot
--kind langevin`` reads these names; every dataset carries a one-line ``description`` and
``units`` where one applies, and ``langevin/sigma2`` is a dimension scale of the 1-D columns)::

    /                         attrs: kind = "langevin", teacher, format_version, package_version,
                                     created, command, numpy/scipy/numba/h5py versions, host
    /params                   attrs: the teacher's parameters as given (base units)
    /langevin                 attrs: steps, burn_in, thin, n_samples, step_size (initial),
                                     integrator, seeds, seed, dtype, time_blocks, n_test,
                                     adapt, wall_time_s, diagnostics_backend ("arviz"/"numpy"),
                                     subsets (how hist_counts rows are formed)
    /langevin/sigma2          (G,) the grid (base units); sigma2_physical (G,)
    /langevin/<name>, <name>_err      (G,) one entry per sigma2, mean over seeds and its
                              standard error (spread of the per-seed means / sqrt(seeds)):
          cubic : b, c           from the test-point projection of the seed's sample-averaged
                                 output: b = <(y - fbar) H1>, c = <(y - fbar) H3>/6
                  b_exact, c_exact   the same projections as exact Gaussian integrals over x
                                 (sum_i a_i I_k(q_i, |w_i|); no test-point noise)
                  q2             <q^2> over neurons and samples; train_loss, test_loss
                                 (per sample), test_loss_mean (of the averaged predictor)
          modadd: residual       r = <y, y - fbar>/|y|^2 of the sample-averaged output over
                                 all P^2 pairs (sigma2 tbar = r y; 1 = nothing learned)
                  lambda_gram    target eigenvalue of the Gram matrix of the sampled weights,
                                 (sigma_a2/N) sum_p |Phi^T y_p|^2/|y|^2 (brute force)
                  lambda_fourier 4 P^2 sigma_a2 <X_k Y_k> (k != 0) of the same weights
                  residual_gpr   sigma2/(lambda_gram + sigma2) (mean-field GPR relation)
                  XY, X, X0      <X_k Y_k>, <|W_k|^2> (k != 0, W and V pooled), <|W_0|^2>
                  train_loss     mean over the training pairs of sum_p (f_p - y_p)^2
                  with train_fraction < 1 also (per sample): test_loss (the same over the
                                 test pairs), train_accuracy, test_accuracy (fraction of
                                 the pairs whose argmax_p f_p is the label); and of each
                                 seed's sample-averaged output: test_loss_mean_output,
                                 train_accuracy_mean_output, test_accuracy_mean_output
          both  : acceptance (post burn-in, mean over seeds)
    /langevin/split/          (modadd, only when train_fraction < 1) train (R,), test
                              (P^2 - R,): row indices n P + m of the training and test
                              pairs, task.split(train_fraction, seed); /langevin attrs
                              train_fraction, split_seed (= seed), n_train_pairs,
                              n_test_pairs. Absent: every pair trains (alpha = 1).
    /langevin/sampling_ok     (G,) bool: False where the chains cannot have sampled their
                              posterior (simulations.diagnostics.sampling_health): MALA
                              post-burn-in acceptance of some member below 0.05 or above
                              0.995, or a split R-hat *within* a network (first against
                              second half of one member's trace) above 1.1 for some trace
                              (judged with >= 20 recorded samples); attrs reasons (one
                              string per point, "" when ok) and criteria. The command ends
                              with a WARNING line on stderr when a point is flagged. The
                              R-hat *across* networks (<trace>_rhat) is not a criterion:
                              for the cubic teacher every member has its own data set.
    /langevin/theory_<name>   (G,) the theory's value (cubic: b, c, q2 = <q^2>, droplet_fraction,
                              phase, u; modadd: residual_derived, residual_paper,
                              lambda_derived, lambda_paper, X_derived, X_paper, phase_*)
    /langevin/<i>/            one group per sigma2 index i = 0..G-1; attrs sigma2,
                              sigma2_physical, u, and the physical parameters
        hist_edges            (nb + 1,) bin edges of the order parameter
                              (cubic: q = w_i.w*; modadd: X = |W_k|^2, W and V pooled)
        hist_counts           cubic: (S*B, nb); modadd: (S*B, K, nb), K = (P+1)/2 modes
                              k = 0..(P-1)/2 (k and P-k are the same amplitude); rows are
                              independent subsets: row = member*B + time block (B time blocks)
        hist_underflow, hist_overflow   counts outside the edges, per row (and mode)
        hist_counts_pooled    modadd: (S*B, nb) summed over k = 1..(P-1)/2
        traces/<name>         (S, T) per-sample traces of every member (names above; cubic
                              also b_exact, c_exact, w2 = <|w|^2>, Na2 = N <a^2>), and
                              traces/step (T,) the Langevin step of each sample
        diagnostics/          acceptance (S,), step_size (S,) (after burn-in adaptation),
                              nonfinite_proposals (S,); attrs <trace>_ess, <trace>_tau_steps,
                              <trace>_rhat (across seeds), <trace>_rhat_split_max (within
                              a network), sampling_ok, sampling_reason
        theory/               attrs: the solver's observables at this point (cubic) ...
                              q (nq,) grid and action (nq,) = d*Shat(q) - min at the
                              theory's (b, c); action_measured: at the network's (b, c);
                              bin_prob (nb,): the theory's probability of each histogram bin
        theory/derived, theory/paper   (modadd) attrs: observables for each normalisation;
                              bin_prob (nb,): theory probability of each |W_k|^2 bin (k != 0);
                              at_measured_r: attrs XY, X, lambda for the action at the
                              network's measured residual
        mean_X_mode, mean_X_mode_err, mean_XY_mode, mean_XY_mode_err   (modadd) (K,)

Training fraction (``--train-fraction`` alpha, networks on a finite set of pairs: modadd).
alpha = 1 (default): the data term of U sums over every pair, the theory's posterior; the
file is the one written before the option existed (no new attribute or dataset). alpha < 1:
the data term sums over the training pairs of ``task.split(alpha, seed)`` with the *same*
per-pair weight 1/(2 sigma2) (U = sum_{mu in train} |f - y|^2/(2 sigma2) + prior + Gamma),
where ``seed`` is the run's ``--seed``: ``phasesim train/kernel/rfm --seed S
--train-fraction A`` (their first network / split) and ``phasesim langevin --seed S
--train-fraction A`` train on the same pairs. All members share that split (independent
chains of one posterior). The full-grid measurements (residual over all P^2 pairs, Gram
eigenvalue, histograms) and the theory columns stay as they are: the theory describes the
full-data posterior (alpha = 1), not the one sampled.

Checkpoints (``<output>.ckpt``) are written by :class:`simulations.backends.HDFBackend`
(layout in that module); ``--resume`` continues from the last one and gives the same file
as an uninterrupted run (bit for bit in every array).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from adaptive_kernel._version import __version__
from adaptive_kernel.errors import ParameterError, PhasesimError
from adaptive_kernel.limits import INT64_MAX, MAX_SEED
from adaptive_kernel.interrupt import raise_if_interrupted

from . import diagnostics as D
from .backends import MemoryBackend
from .langevin_io import FORMAT_VERSION, write_langevin
from .models import NETWORKS, is_full_fraction, dynamics_rng, network_for
from .sampler import INTEGRATORS, DivergenceError, LangevinSampler


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
@dataclass
class LangevinConfig:
    """Everything that defines a Langevin run (the physics and the sampler settings)."""

    teacher: str
    params: dict
    sigma2: list
    steps: int = 2000
    burn_in: int = 500
    thin: int = 10
    step_size: float | None = None
    integrator: str = "mala"
    seeds: int = 4
    seed: int = 0
    dtype: str = "float64"
    n_test: int = 1000
    time_blocks: int = 4
    adapt: bool = True
    data_term: bool = True
    #: alpha in (0, 1]: the potential's data term runs over the training pairs of
    #: ``task.split(train_fraction, seed)`` (networks on a finite set of pairs only; 1: all
    #: data, the former runs bit for bit)
    train_fraction: float = 1.0

    def __post_init__(self):
        self.sigma2 = [float(s) for s in np.atleast_1d(self.sigma2)]
        if self.step_size is None and self.teacher in NETWORKS:
            # the network's default (an unknown teacher is refused by validate)
            self.step_size = network_for(self.teacher).default_step_size
        self.validate()

    @property
    def n_samples(self) -> int:
        return (self.steps - self.burn_in) // self.thin

    def validate(self):
        def bad(msg):
            raise ParameterError(msg)

        network = network_for(self.teacher)  # ParameterError naming the networks that exist
        if self.integrator not in INTEGRATORS:
            bad(f"integrator must be one of {', '.join(INTEGRATORS)}; got {self.integrator!r}")
        if self.dtype not in ("float64", "float32"):
            bad(f"dtype must be float64 or float32; got {self.dtype!r}")
        if not self.sigma2 or any(not (s > 0 and math.isfinite(s)) for s in self.sigma2):
            bad(f"sigma2 must be > 0; got {self.sigma2}")
        for name, low in (("steps", 1), ("thin", 1), ("seeds", 1), ("time_blocks", 1), ("n_test", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not low <= v <= INT64_MAX:
                bad(f"{name.replace('_', '-')} must be an integer >= {low}, <= {INT64_MAX}; got {v!r}")
        if not isinstance(self.burn_in, (int, np.integer)) or not 0 <= self.burn_in < self.steps:
            bad(f"burn-in must be an integer in [0, steps) = [0, {self.steps}); got {self.burn_in!r}")
        if not (isinstance(self.step_size, (int, float)) and self.step_size > 0 and math.isfinite(self.step_size)):
            bad(f"step-size must be > 0; got {self.step_size!r}")
        if self.n_samples < self.time_blocks:
            bad(f"(steps - burn-in)/thin = {self.n_samples} recorded samples; need at least "
                f"time_blocks = {self.time_blocks} (raise --steps or lower --thin)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed <= MAX_SEED:
            bad(f"seed must be an integer in [0, {MAX_SEED}] (2**63 - 1: it is stored as an HDF5 "
                f"int64); got {self.seed!r}")
        # the theory is solved at every sigma2 once the networks are sampled: refuse a noise
        # below what its numerics resolve now, not after the run (Teacher.check_sigma2)
        network.check_theory(self.params, self.sigma2)
        # a fraction below 1 only for networks on a finite set of pairs (the others refuse it)
        tf = self.train_fraction
        self.train_fraction = 1.0 if is_full_fraction(tf) else network.check_train_fraction(tf)

    def to_meta(self) -> dict:
        d = asdict(self)
        if d["train_fraction"] == 1.0:
            # all data: the metadata (and the checkpoints) of the runs before the option
            del d["train_fraction"]
        d["params"] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.params.items()}
        d["package_version"] = __version__
        d["format_version"] = FORMAT_VERSION
        return d


def physical(teacher: str, params: dict, sigma2: float) -> dict:
    """Physical (simulated) parameters at base noise sigma2 (the network's
    :meth:`~simulations.models._Model.physical`)."""
    return network_for(teacher).physical(params, sigma2)


def theory_params(teacher: str, params: dict, phys: dict) -> dict:
    """Teacher parameters that make the solver describe exactly the simulated network (the
    network's :meth:`~simulations.models._Model.theory_params`)."""
    return network_for(teacher).theory_params(params, phys)


# ---------------------------------------------------------------------------------------
# one batch of members at one sigma2
# ---------------------------------------------------------------------------------------
class Chain:
    """Sampler + schedule (burn-in, thinning, time blocks) + measurements for one batch."""

    def __init__(self, config: LangevinConfig, isig: int, members):
        self.config = config
        self.isig = int(isig)
        self.members = [int(m) for m in members]
        self.sigma2 = config.sigma2[self.isig]
        self.phys = physical(config.teacher, config.params, self.sigma2)
        dt = np.dtype(config.dtype)
        self.model = network_for(config.teacher)(self.phys, self.members, seed=config.seed, dtype=dt,
                                                 n_test=config.n_test, data_term=config.data_term,
                                                 train_fraction=config.train_fraction)
        rngs = [dynamics_rng(config.seed, m, self.isig) for m in self.members]
        self.sampler = LangevinSampler(self.model, config.step_size, rngs, config.integrator,
                                       adapt=config.adapt)
        self.acc = None
        self.accept_at_burn = np.zeros(len(self.members), np.int64)

    def init(self):
        self.sampler.initialize()
        self.acc = self.model.new_accumulators(self.config.n_samples, self.config.time_blocks)
        return self

    def get_state(self) -> dict:
        st = self.sampler.get_state()
        for k, v in self.acc.items():
            st["acc/" + k] = v.copy()
        st["accept_at_burn"] = self.accept_at_burn.copy()
        return st

    def set_state(self, st):
        self.sampler.set_state(st)
        self.acc = {k[4:]: np.array(v) for k, v in st.items() if k.startswith("acc/")}
        self.accept_at_burn = np.array(st["accept_at_burn"], np.int64)
        return self

    def advance(self, n: int):
        c = self.config
        T, B = c.n_samples, c.time_blocks
        smp = self.sampler
        try:
            for _ in range(n):
                raise_if_interrupted()
                it = smp.iteration
                if it >= c.steps:
                    break
                smp.step(adapt=it < c.burn_in, check_stuck=it >= c.burn_in)
                it += 1
                if it == c.burn_in:
                    self.accept_at_burn = smp.n_accept.copy()
                    smp.finish_adaptation()
                if it > c.burn_in and (it - c.burn_in) % c.thin == 0:
                    j = (it - c.burn_in) // c.thin - 1
                    if j < T:
                        self.model.accumulate(self.acc, smp.theta, smp.aux, j, j * B // T)
        except DivergenceError as exc:
            s = exc.member if exc.member is not None else 0
            msg = str(exc).replace("Langevin dynamics diverged",
                                   f"Langevin dynamics diverged at sigma2={self.sigma2:g} "
                                   f"(seed member {self.members[s]})", 1)
            raise DivergenceError(msg, member=self.members[s], step=exc.step, step_size=exc.step_size) from None
        return self


# state merging / splitting along the member axis ----------------------------------------
_SCALAR_KEYS = ("iteration", "win_n", "chk_n", "da_t")


def split_state(st: dict, S: int) -> list:
    out = [dict() for _ in range(S)]
    for k, v in st.items():
        if k in _SCALAR_KEYS:
            for o in out:
                o[k] = v
        elif isinstance(v, list):
            for s in range(S):
                out[s][k] = [v[s]]
        else:
            v = np.asarray(v)
            for s in range(S):
                out[s][k] = v[s:s + 1].copy()
    return out


def merge_states(states: list) -> dict:
    out = {}
    for k, v in states[0].items():
        if k in _SCALAR_KEYS:
            vals = {int(st[k]) for st in states}
            if len(vals) != 1:
                raise RuntimeError(f"members out of step in '{k}': {sorted(vals)}")
            out[k] = v
        elif isinstance(v, list):
            out[k] = [x for st in states for x in st[k]]
        else:
            out[k] = np.concatenate([np.asarray(st[k]) for st in states], axis=0)
    return out


def _unit_id(isig, member):
    return f"s{isig:03d}_m{member:04d}"


_WORKER_CONFIG = {}


def _advance_task(meta, isig, members, states, n):
    """Advance one batch by n steps (runs in a worker process or in-process)."""
    key = json.dumps(meta, sort_keys=True)
    cfg = _WORKER_CONFIG.get(key)
    if cfg is None:
        cfg = _config_from_meta(meta)
        _WORKER_CONFIG.clear()
        _WORKER_CONFIG[key] = cfg
    ch = Chain(cfg, isig, members)
    if states is None:
        ch.init()
    else:
        ch.set_state(merge_states(states))
    ch.advance(n)
    return split_state(ch.get_state(), len(members))


def _config_from_meta(meta: dict) -> LangevinConfig:
    m = {k: v for k, v in meta.items() if k not in ("package_version", "format_version")}
    return LangevinConfig(**m)


def _batches(config: LangevinConfig, jobs: int):
    """(isig, members) batches: one per sigma2, split further when jobs > len(grid)."""
    G = len(config.sigma2)
    parts = max(1, min(config.seeds, -(-jobs // G))) if jobs > G else 1
    out = []
    for i in range(G):
        edges = np.linspace(0, config.seeds, parts + 1).round().astype(int)
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi > lo:
                out.append((i, list(range(lo, hi))))
    return out


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
def run_langevin(config: LangevinConfig, backend=None, resume: bool = False, jobs: int = 1,
                 checkpoint_every: int = 1000, progress=None, stop_after_segments: int | None = None,
                 runner=None, unit_progress=None):
    """Run (or continue) the ensemble at every sigma2 and return a :class:`LangevinResult`.

    The units of work are the (sigma2, block of members) batches of each segment of
    ``checkpoint_every`` steps (:func:`_advance_task`, a pure function of its arguments:
    every member's RNG stream is seeded from (seed, member, sigma2 index)); they are mapped
    through ``runner`` (:mod:`adaptive_kernel.runner`), so the same code runs serially, on
    local processes or on a Dask cluster, with bit-for-bit the same result.

    Parameters
    ----------
    config : LangevinConfig
    backend : MemoryBackend or HDFBackend, optional
        Where checkpoints go (default: memory).
    resume : bool
        Continue from the backend's last checkpoint (its configuration must match).
    jobs : int
        Local worker processes, used when ``runner`` is not given (a
        :class:`~adaptive_kernel.runner.ProcessRunner` is started and closed here). Capped
        at the CPUs available and at the units of work (sigma2 points x members), see
        :func:`adaptive_kernel.limits.cap_jobs`. The result does not depend on it.
    checkpoint_every : int
        Steps between checkpoints.
    progress : callable, optional
        Called with the number of steps completed in each segment.
    stop_after_segments : int, optional
        Stop (raising :class:`KeyboardInterrupt`) after this many segments: simulates a
        killed run (tests).
    runner : adaptive_kernel.runner.Runner, optional
        Computes the batches (not closed here). Its ``workers`` set how finely the members
        are split into blocks; the result does not depend on it.
    unit_progress : callable, optional
        ``unit_progress(n_done, n_total)``: units (batches x segments) of the whole run
        completed so far, across all workers; called in this process after each unit.
    """
    from adaptive_kernel.runner import SerialRunner, UnitError, make_runner

    backend = backend if backend is not None else MemoryBackend()
    meta = config.to_meta()
    t0 = time.perf_counter()
    if resume:
        loaded = backend.load()
        if loaded is None:
            raise PhasesimError("nothing to resume: no checkpoint found")
        old, it, states = loaded
        diff = sorted(k for k in set(old) | set(meta)
                      if k != "package_version" and old.get(k) != meta.get(k))
        if diff:
            raise ParameterError("the checkpoint was written with different settings ("
                                 + ", ".join(f"{k}: {old.get(k)!r} vs {meta.get(k)!r}" for k in diff)
                                 + "); rerun with the same options or start over with --overwrite")
        wall0 = float(old.get("_wall", 0.0)) if isinstance(old, dict) else 0.0
    else:
        backend.reset(meta)
        it, states, wall0 = 0, None, 0.0
    if checkpoint_every < 1:
        raise ParameterError(f"checkpoint-every must be >= 1; got {checkpoint_every}")
    own = None
    if runner is None:
        from adaptive_kernel.limits import cap_jobs

        jobs = cap_jobs(max(1, int(jobs)), len(config.sigma2) * config.seeds)[0]  # CPUs, units of work
        runner = own = make_runner(jobs, report=None) if jobs > 1 else SerialRunner()
    batches = _batches(config, max(1, int(getattr(runner, "workers", 1))))
    n_seg_total = -(-config.steps // checkpoint_every)
    seg0 = -(-it // checkpoint_every)
    total_units = n_seg_total * len(batches)
    done_before = [min(seg0, n_seg_total) * len(batches)]
    segments = 0
    try:
        if unit_progress is not None:
            unit_progress(done_before[0], total_units)
        while it < config.steps:
            n = min(checkpoint_every, config.steps - it)
            seg = -(-it // checkpoint_every)
            args, keys = [], []
            for isig, members in batches:
                st = None if states is None else [states[_unit_id(isig, m)] for m in members]
                args.append((meta, isig, members, st, n))
                keys.append(("sigma2", isig, "members", members[0], members[-1] + 1, "segment", seg))

            def _unit_done(k, _total, _base=done_before[0]):
                if unit_progress is not None and k > 0:  # not the start call of each segment
                    unit_progress(_base + k, total_units)

            try:
                results = runner.starmap(_advance_task, args, keys=keys, progress=_unit_done)
            except UnitError as exc:
                if isinstance(exc.__cause__, DivergenceError):  # its own message names the point
                    raise exc.__cause__ from None
                key = exc.key
                if isinstance(key, tuple) and len(key) == 7:  # name the unit's parameters
                    isig, lo, hi = key[1], key[3], key[4]
                    where = (f"sigma2 = {config.sigma2[isig]:g}, members {lo}..{hi - 1}, "
                             f"steps {it + 1}..{it + n}")
                    raise UnitError(key, exc.error_type, f"{exc.error_message} ({where})") from exc
                raise
            done_before[0] += len(batches)
            new = {}
            for (isig, members), res in zip(batches, results):
                for m, st in zip(members, res):
                    new[_unit_id(isig, m)] = st
            states = new
            it += n
            backend.save(it, states)
            segments += 1
            if progress is not None:
                progress(n)
            if stop_after_segments is not None and segments >= stop_after_segments and it < config.steps:
                raise KeyboardInterrupt("stopped after %d segment(s)" % segments)
    finally:
        if own is not None:
            own.close()
    wall = time.perf_counter() - t0 + wall0
    return LangevinResult.from_states(config, states, wall_time=wall)


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------
@dataclass
class LangevinResult:
    """Measurements and theory at every sigma2 (see the module docstring for the file)."""

    config: LangevinConfig
    points: list            # one dict per sigma2
    wall_time: float = 0.0
    attrs: dict = field(default_factory=dict)

    @classmethod
    def from_states(cls, config, states, wall_time=0.0):
        pts = []
        for i in range(len(config.sigma2)):
            st = merge_states([states[_unit_id(i, m)] for m in range(config.seeds)])
            pts.append(_summarize_point(config, i, st))
        return cls(config, pts, wall_time)

    # -- convenience --------------------------------------------------------------
    def column(self, name):
        return np.array([p["scalars"].get(name, (np.nan, np.nan))[0] for p in self.points])

    def column_err(self, name):
        return np.array([p["scalars"].get(name, (np.nan, np.nan))[1] for p in self.points])

    def table(self) -> str:
        c = self.config
        cols = list(network_for(c.teacher).table_columns_for(c.train_fraction))
        head = f"{'sigma2':>9s} " + " ".join(f"{n:>22s}" for n, _ in cols)
        lines = [head]
        for i, p in enumerate(self.points):
            row = [f"{c.sigma2[i]:9.4g}"]
            for n, e in cols:
                if e:
                    v = p["scalars"].get(n, (np.nan, np.nan))
                elif n == "acceptance":
                    v = float(np.mean(p["diagnostics"]["acceptance"]))
                else:
                    v = p["theory_columns"].get(n, np.nan)
                if e:
                    row.append(f"{v[0]:12.5g} +-{v[1]:8.2g}")
                else:
                    row.append(f"{float(v):22.6g}")
            lines.append(" ".join(row))
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: acceptance, ESS, and both R-hats: within a network (split R-hat of each
        member's trace over time: the convergence test) and across networks (between
        ensemble members; for the cubic teacher each member has its own data set, so a
        large value there is the spread of the physics between data sets)."""
        def worst(suffix, pick):
            vals = [pick((v for k, v in p["diag_attrs"].items()
                          if k.endswith(suffix) and isinstance(v, float) and math.isfinite(v)), default=math.nan)
                    for p in self.points]
            vals = [v for v in vals if math.isfinite(v)]
            return pick(vals) if vals else math.nan

        accs = [p["diagnostics"]["acceptance"].mean() for p in self.points]
        across = ("different data sets: data-set spread, not a convergence test"
                  if network_for(self.config.teacher).own_data_per_member else "same data, different initialisations")
        n_bad = len(self.sampling_problems())
        return (f"{len(self.points)} sigma2 point(s) x {self.config.seeds} seed(s), "
                f"{self.config.steps} steps ({self.config.burn_in} burn-in, thin {self.config.thin}): "
                f"acceptance {min(accs):.2f}-{max(accs):.2f}, min ESS {worst('_ess', min):.0f}, "
                f"max split R-hat within a network {worst('_rhat_split_max', max):.3f}, "
                f"max R-hat across networks {worst('_rhat', max):.3f} ({across})"
                + (f", {n_bad} point(s) flagged sampling_ok = False" if n_bad else "")
                + f"; wall time {self.wall_time:.1f} s")

    @property
    def split(self):
        """The train/test split of the pairs (:class:`adaptive_kernel.tasks.base.Split`,
        ``task.split(train_fraction, seed)``) when the run trained on part of them
        (``train_fraction < 1``); None otherwise."""
        c = self.config
        if c.train_fraction >= 1.0 or not self.points:
            return None
        return network_for(c.teacher).split_for(self.points[0]["phys"], c.seed, c.train_fraction)

    @property
    def file_descriptions(self) -> dict:
        """The simulated network's additions to the file's dataset descriptions
        (:meth:`simulations.models._Model.file_descriptions`, read by the writer)."""
        return network_for(self.config.teacher).file_descriptions()

    def sampling_problems(self) -> list:
        """[(sigma2, reason)] of the points whose chains cannot have sampled their posterior
        (:func:`simulations.diagnostics.sampling_health`)."""
        return [(self.config.sigma2[i], p["diag_attrs"].get("sampling_reason", ""))
                for i, p in enumerate(self.points) if not p["diag_attrs"].get("sampling_ok", True)]

    # -- HDF5 -------------------------------------------------------------------------
    def to_hdf5(self, path, overwrite=False, command=None):
        """Write atomically; refuse to replace an existing file unless ``overwrite``.

        The writer (and the reader) of the file live in :mod:`simulations.langevin_io`
        (:func:`~simulations.langevin_io.write_langevin`, through
        :func:`adaptive_kernel.storage.write_result`, root attribute ``kind = "langevin"``):
        the file is assembled in memory, and an I/O failure raises a one-line
        :class:`~adaptive_kernel.errors.WriteError` and leaves an existing file untouched.
        """
        return write_langevin(self, path, overwrite, command)


# ---------------------------------------------------------------------------------------
# summaries of one sigma2 point
# ---------------------------------------------------------------------------------------
def _summarize_point(c: LangevinConfig, i: int, st: dict) -> dict:
    S, B, T = c.seeds, c.time_blocks, c.n_samples
    network = network_for(c.teacher)
    phys = network.physical(c.params, c.sigma2[i])
    acc = {k[4:]: np.asarray(v) for k, v in st.items() if k.startswith("acc/")}
    traces = {k: acc[k] for k in network.trace_names_for(c.train_fraction)}
    steps_of = c.burn_in + c.thin * (np.arange(T) + 1)
    out = {"phys": phys, "scalars": {}, "arrays": {}, "traces": dict(traces), "theory": {},
           "theory_columns": {}}
    out["traces"]["step"] = steps_of
    n_acc = np.asarray(st["n_accept"]) - np.asarray(st["accept_at_burn"])
    n_post = c.steps - c.burn_in
    out["diagnostics"] = {"acceptance": n_acc / n_post, "step_size": np.asarray(st["h"], float),
                          "nonfinite_proposals": np.asarray(st["n_nonfinite"])}
    summ = D.summarize(traces, c.thin)
    da = {}
    for name, s in summ.items():
        for k in ("ess", "tau_steps", "rhat", "rhat_split_max"):
            da[f"{name}_{k}"] = s[k]
    ok, reason = D.sampling_health(out["diagnostics"]["acceptance"], summ, c.integrator, T)
    da["sampling_ok"] = bool(ok)
    da["sampling_reason"] = reason
    out["diag_attrs"] = da
    for name, s in summ.items():
        out["scalars"][name] = (s["mean"], s["err"])
    # histogram: rows = member * B + block
    lo, hi, nb = network.histogram_range(phys)
    edges = np.linspace(lo, hi, nb + 1)
    out["arrays"]["hist_edges"] = edges
    out["arrays"].update(network.histogram_arrays(acc["hist_counts"], S * B, nb))
    # the theory at the same physical parameters (and the measurements that need the data)
    network.theory_point(c, i, st, acc, phys, out, edges)
    return out
