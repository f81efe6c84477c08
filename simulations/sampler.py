r"""Preconditioned Langevin samplers for ensembles of networks.

Stationary law and discretisation
---------------------------------
Both integrators move every parameter group g with the diagonal preconditioner
m_g = (prior variance of g) x (group scale, default 1), i.e. with one dimensionless step
h in prior-whitened units:

.. math:: \theta' = \theta - \tfrac{h m}{2}\nabla U(\theta) + \sqrt{h m}\,\xi,\qquad \xi\sim N(0, I).

This is the Euler-Maruyama discretisation of the preconditioned overdamped Langevin
equation d theta = -(m/2) grad U dt + sqrt(m) dW, whose stationary law is exp(-U) for any
constant positive diagonal m (the posterior temperature is fixed to 1 by U itself; the step
h is a property of the integrator only).

* ``mala`` (default): Metropolis-adjusted Langevin. The proposal above is accepted with
  probability min(1, exp(-U(theta') + U(theta)) q(theta|theta') / q(theta'|theta)), so the
  chain is reversible with respect to exp(-U) *exactly*, at any h: there is no
  discretisation bias, h only sets the acceptance rate and the autocorrelation time. In d
  dimensions the acceptance stays O(1) for h ~ d^(-1/3) (prior-whitened units); during
  burn-in h is adapted per member by dual averaging (Nesterov; Hoffman & Gelman 2014, as in
  Stan) towards a mean acceptance probability of TARGET_ACCEPT, and at the end of burn-in
  set to the averaged value and frozen, so the recorded samples come from a fixed, exact
  kernel.
* ``ula``: the unadjusted Euler-Maruyama chain. Its stationary law is exp(-U) only up to
  an O(h) bias (for a Gaussian with whitened curvature lambda the variance comes out
  1/(lambda (1 - h lambda/4)), i.e. a relative bias h lambda/4); it needs
  h << 1/lambda_max (stability: h < 4/lambda_max). Provided for comparison with
  plain Langevin training (the paper's runs).

In float32 the potential differences of the Metropolis test are accumulated in float64;
the chain is then exact for the float32-evaluated U.

Divergence
----------
A non-finite potential, a potential that grows beyond ``BLOWUP`` times its starting value
(at least the dimension), or (MALA)
an acceptance rate below ``STUCK_ACCEPT`` over a window of ``CHECK_EVERY`` steps after
burn-in raises :class:`DivergenceError`, whose message names the step size to lower.
"""
from __future__ import annotations

import json
import math

import numpy as np

from adaptive_kernel.errors import PhasesimError

from . import _kernels_modadd as KM
from . import _noise as NZ
from ._blas import default_threads, run_parallel, split_range

INTEGRATORS = ("mala", "ula")
#: MALA mean acceptance probability targeted while adapting during burn-in (a little above
#: the asymptotic optimum 0.574: robustness against the occasional stuck chain in the tails).
TARGET_ACCEPT = 0.65
#: Dual-averaging constants (Hoffman & Gelman 2014): gamma, t0, kappa.
DA_GAMMA, DA_T0, DA_KAPPA = 0.05, 10.0, 0.75
#: Steps per divergence-check window (MALA acceptance).
CHECK_EVERY = 200
#: Acceptance below which a MALA chain counts as stuck after burn-in.
STUCK_ACCEPT = 0.01
#: Potential above BLOWUP x max(U at start, dimension) counts as a blow-up.
BLOWUP = 1e4


class DivergenceError(PhasesimError):
    """The dynamics diverged; the message says which step size to lower."""

    def __init__(self, message, member=None, step=None, step_size=None):
        super().__init__(message)
        self.member = member
        self.step = step
        self.step_size = step_size


def _flat(x):
    return x.reshape(x.shape[0], -1)


def rng_state_json(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def rng_from_json(text: str) -> np.random.Generator:
    st = json.loads(text)
    bg = getattr(np.random, st["bit_generator"])()
    bg.state = st
    return np.random.Generator(bg)


class LangevinSampler:
    """Preconditioned MALA / ULA for S independent members of one model.

    Parameters
    ----------
    model : models.CubicNetwork or models.ModAddNetwork (or any object with ``groups``,
        ``prior_var``, ``param_shapes()``, ``potential(theta, grad)``, ``sample_prior(rngs)``)
    step_size : float
        Dimensionless step h (prior-whitened units); per member, adapted during burn-in
        when ``adapt`` (MALA only).
    rngs : list of numpy.random.Generator
        One per member (members never share a stream).
    integrator : {"mala", "ula"}
    group_scale : dict, optional
        Extra factor per group on the preconditioner (0 freezes a group).
    threads : int, optional
        Threads of a step (default: the model's ``threads``, else
        :func:`_blas.default_threads`); results do not depend on it.
    """

    def __init__(self, model, step_size, rngs, integrator="mala", group_scale=None, adapt=True, threads=None):
        if integrator not in INTEGRATORS:
            raise PhasesimError(f"integrator must be one of {', '.join(INTEGRATORS)}; got {integrator!r}")
        if not (step_size > 0 and math.isfinite(step_size)):
            raise PhasesimError(f"step size must be > 0; got {step_size!r}")
        self.model = model
        self.S = model.S
        if threads is None:
            threads = getattr(model, "threads", None) or default_threads()
        self.threads = max(1, int(threads))
        if len(rngs) != self.S:
            raise ValueError("one generator per member")
        self.rngs = list(rngs)
        self.integrator = integrator
        self.adapt = bool(adapt) and integrator == "mala"
        self.step_size0 = float(step_size)
        self.h = np.full(self.S, float(step_size))
        gs = dict(group_scale or {})
        self.m = {g: model.prior_var[g] * float(gs.get(g, 1.0)) for g in model.groups}
        shapes = model.param_shapes()
        dt = model.dtype
        self._prop = {g: np.empty((self.S,) + shapes[g], dt) for g in model.groups}
        self._gprop = {g: np.empty((self.S,) + shapes[g], dt) for g in model.groups}
        # noise: every member's normals for all moving groups in one row (Box-Muller pairs)
        self._noise_len = sum(int(np.prod(shapes[g])) for g in model.groups if self.m[g] > 0)
        L2 = self._noise_len + (self._noise_len % 2)
        self._unif = np.empty((self.S, L2))
        self._noise = np.empty((self.S, L2))
        self.theta = None
        self.grad = None
        self.U = None
        self.aux = None
        self.iteration = 0
        # counters: total accepted / proposed / non-finite proposals; current windows
        self.n_accept = np.zeros(self.S, np.int64)
        self.n_prop = np.zeros(self.S, np.int64)
        self.n_nonfinite = np.zeros(self.S, np.int64)
        self.win_accept = np.zeros(self.S, np.int64)
        self.win_n = 0
        # dual averaging of log h (burn-in)
        self.da_t = 0
        self.da_hbar = np.zeros(self.S)
        self.da_logh_bar = np.full(self.S, math.log(step_size))
        self.da_mu = np.full(self.S, math.log(10.0 * step_size))
        self.chk_accept = np.zeros(self.S, np.int64)
        self.chk_n = 0
        self.U_scale = None

    # -- state ------------------------------------------------------------------
    def initialize(self, theta=None):
        """Start from ``theta`` or from a draw of the prior (members' own streams)."""
        if theta is None:
            theta = self.model.sample_prior(self.rngs)
        self.theta = {g: np.ascontiguousarray(theta[g], dtype=self.model.dtype) for g in self.model.groups}
        self.grad = {g: np.empty_like(self.theta[g]) for g in self.model.groups}
        self.U, self.aux = self.model.potential(self.theta, self.grad)
        if not np.all(np.isfinite(self.U)):
            raise DivergenceError("the initial state has a non-finite potential")
        self.U_scale = np.maximum(np.abs(self.U), float(self.model.dimension()))
        return self

    def get_state(self) -> dict:
        """Everything needed to continue bit for bit (arrays and JSON strings)."""
        st = {"iteration": self.iteration, "h": self.h.copy(), "U": self.U.copy(),
              "n_accept": self.n_accept.copy(), "n_prop": self.n_prop.copy(),
              "n_nonfinite": self.n_nonfinite.copy(), "win_accept": self.win_accept.copy(),
              "win_n": self.win_n, "chk_accept": self.chk_accept.copy(), "chk_n": self.chk_n,
              "U_scale": self.U_scale.copy(), "da_t": self.da_t, "da_hbar": self.da_hbar.copy(),
              "da_logh_bar": self.da_logh_bar.copy(), "da_mu": self.da_mu.copy(),
              "rng": [rng_state_json(r) for r in self.rngs]}
        for g in self.model.groups:
            st["theta/" + g] = self.theta[g].copy()
            st["grad/" + g] = self.grad[g].copy()
        for k, v in self.aux.items():
            st["aux/" + k] = np.array(v, copy=True)
        return st

    def set_state(self, st: dict):
        self.iteration = int(st["iteration"])
        self.h = np.array(st["h"], float)
        self.U = np.array(st["U"], float)
        for k in ("n_accept", "n_prop", "n_nonfinite", "win_accept", "chk_accept"):
            setattr(self, k, np.array(st[k], np.int64))
        self.win_n = int(st["win_n"])
        self.chk_n = int(st["chk_n"])
        self.U_scale = np.array(st["U_scale"], float)
        self.da_t = int(st["da_t"])
        self.da_hbar = np.array(st["da_hbar"], float)
        self.da_logh_bar = np.array(st["da_logh_bar"], float)
        self.da_mu = np.array(st["da_mu"], float)
        self.rngs = [rng_from_json(s) for s in st["rng"]]
        dt = self.model.dtype
        self.theta = {g: np.ascontiguousarray(st["theta/" + g], dtype=dt) for g in self.model.groups}
        self.grad = {g: np.ascontiguousarray(st["grad/" + g], dtype=dt) for g in self.model.groups}
        self.aux = {k[4:]: np.array(v) for k, v in st.items() if k.startswith("aux/")}
        return self

    # -- dynamics ---------------------------------------------------------------
    def step(self, adapt: bool = False, check_stuck: bool = True):
        """One Langevin step for every member. Returns the accepted mask (all True for ULA).

        Member s draws its noise from its own stream (the uniforms of its normals, all
        moving groups in order, turned into normals by Box-Muller, :mod:`._noise`; then the
        Metropolis uniform), so a member's chain does not depend on the others. With a model
        that evaluates member ranges (``potential_members``), the members are split over the
        BLAS pool and every thread runs noise, proposal, potential and reverse move for its
        own members (one fork-join per step); otherwise the model's ``potential`` does its
        own parallelism. Either way each member's arithmetic is the same.

        The potential and gradient are evaluated once per step, at the proposal; on
        acceptance they become the current state's (kept in ``U``, ``grad``), so the next
        step's proposal and this step's Metropolis ratio share that one evaluation."""
        S = self.S
        groups = [g for g in self.model.groups if self.m[g] > 0]
        mala = self.integrator == "mala"
        u = np.zeros(S)
        xi_sq = np.zeros(S)
        rev = np.zeros(S)
        c1 = {g: 0.5 * self.h * self.m[g] for g in groups}
        c2 = {g: np.sqrt(self.h * self.m[g]) for g in groups}

        def pre(lo, hi):
            # noise: member by member from its own stream (the uniforms of all moving groups'
            # normals, then the Metropolis uniform), normals by Box-Muller (_noise.py)
            for s in range(lo, hi):
                rng = self.rngs[s]
                rng.random(out=self._unif[s])
                if mala:
                    u[s] = rng.random()
            NZ.box_muller(self._unif[lo:hi], self._noise[lo:hi])
            off = 0
            for g in self.model.groups:
                if self.m[g] > 0:
                    KM.propose(_flat(self.theta[g][lo:hi]), _flat(self.grad[g][lo:hi]), self._noise[lo:hi], off,
                               c1[g][lo:hi], c2[g][lo:hi], _flat(self._prop[g][lo:hi]), xi_sq[lo:hi])
                    off += self.theta[g][0].size
                else:
                    self._prop[g][lo:hi] = self.theta[g][lo:hi]

        def post(lo, hi):
            if mala:
                for g in groups:
                    r = np.zeros(hi - lo)
                    KM.reverse_sq(_flat(self.theta[g][lo:hi]), _flat(self._prop[g][lo:hi]),
                                  _flat(self._gprop[g][lo:hi]), c1[g][lo:hi], r)
                    rev[lo:hi] += r / (4.0 * c1[g][lo:hi])

        threads = self.threads
        if hasattr(self.model, "potential_members") and (threads <= 1 or S >= threads):
            U1 = np.empty(S)
            aux1 = self.model.new_aux()

            def work(lo, hi):
                pre(lo, hi)
                self.model.potential_members(self._prop, self._gprop, U1, aux1, lo, hi)
                post(lo, hi)

            run_parallel(work, split_range(S, threads), threads)
        else:
            pre(0, S)
            if hasattr(self.model, "potential_members"):
                U1, aux1 = self.model.potential(self._prop, self._gprop, threads=threads)
            else:
                U1, aux1 = self.model.potential(self._prop, self._gprop)
            post(0, S)
        finite = np.isfinite(U1)
        if mala:
            with np.errstate(invalid="ignore", over="ignore"):
                log_alpha = -(U1 - self.U) - rev + 0.5 * xi_sq
            ok = finite & np.isfinite(log_alpha)
            accept = ok & (np.log(np.maximum(u, 1e-300)) < np.where(ok, log_alpha, -np.inf))
        else:
            accept = np.ones(S, bool)
            if not np.all(finite) or np.any(U1 > BLOWUP * self.U_scale):
                s = int(np.argmax(~finite | (U1 > BLOWUP * self.U_scale)))
                what = "a non-finite potential" if not finite[s] else f"the potential blowing up to {U1[s]:.3g}"
                raise DivergenceError(self._message(s, what), member=s, step=self.iteration + 1,
                                      step_size=float(self.h[s]))
        for g in self.model.groups:
            KM.accept_rows(_flat(self.theta[g]), _flat(self._prop[g]), accept)
            KM.accept_rows(_flat(self.grad[g]), _flat(self._gprop[g]), accept)
        self.U = np.where(accept, U1, self.U)
        for k, v in aux1.items():
            cur = self.aux[k]
            if cur.ndim == 1:
                self.aux[k] = np.where(accept, v, cur)
            else:
                KM.accept_rows(_flat(cur), _flat(np.ascontiguousarray(v)), accept)
        self.iteration += 1
        self.n_prop += 1
        self.n_accept += accept
        self.n_nonfinite += ~finite
        if mala:
            if adapt and self.adapt:
                prob = np.where(ok, np.exp(np.minimum(np.where(ok, log_alpha, 0.0), 0.0)), 0.0)
                self.da_t += 1
                t = self.da_t
                eta = 1.0 / (t + DA_T0)
                self.da_hbar = (1.0 - eta) * self.da_hbar + eta * (TARGET_ACCEPT - prob)
                logh = self.da_mu - math.sqrt(t) / DA_GAMMA * self.da_hbar
                wk = t ** (-DA_KAPPA)
                self.da_logh_bar = wk * logh + (1.0 - wk) * self.da_logh_bar
                self.h = np.exp(logh)
                tiny = self.h < self.step_size0 * 1e-8
                if np.any(tiny) and t > 200:
                    s = int(np.argmax(tiny))
                    raise DivergenceError(self._message(
                        s, f"the adapted step fell to {self.h[s]:.3g} without reaching acceptance"),
                        member=s, step=self.iteration, step_size=self.step_size0)
            if check_stuck:
                self.chk_accept += accept
                self.chk_n += 1
                if self.chk_n >= CHECK_EVERY:
                    rate = self.chk_accept / self.chk_n
                    if np.any(rate < STUCK_ACCEPT):
                        s = int(np.argmin(rate))
                        raise DivergenceError(self._message(
                            s, f"acceptance {rate[s]:.3f} over the last {self.chk_n} steps"),
                            member=s, step=self.iteration, step_size=float(self.h[s]))
                    self.chk_accept[:] = 0
                    self.chk_n = 0
        return accept

    def finish_adaptation(self):
        """End of burn-in: freeze h at its dual-averaged value (MALA with adaptation)."""
        if self.adapt and self.da_t > 0:
            self.h = np.exp(self.da_logh_bar)
        self.chk_accept[:] = 0
        self.chk_n = 0

    def _message(self, s, what):
        h = float(self.h[s])
        return (f"Langevin dynamics diverged at step {self.iteration + 1} ({what}) with step size "
                f"{h:.4g}; lower --step-size (e.g. --step-size {h / 4:.3g})")

    @property
    def acceptance(self):
        return self.n_accept / np.maximum(self.n_prop, 1)
