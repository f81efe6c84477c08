r"""Single-index cubic teacher learned by an erf network (the paper's Sec. 3.1 / App. A).

Data x ~ N(0, I_d), teacher |w*| = 1,

.. math:: y(x) = H_1(w^*\cdot x) + \epsilon H_3(w^*\cdot x),\qquad
          f(x) = \sum_i a_i\,\mathrm{erf}(w_i\cdot x),

prior w ~ N(0, sigma_w2/d), a ~ N(0, sigma_a2/N), GPR noise sigma2. The discrepancy is
expanded in the normalised odd Hermite functions Hhat_k = He_k/sqrt(k!), k = 1, 3, ...,
2K-1 of z = w*.x (``--modes K``; the paper's closure is K = 2):

.. math:: \sigma^2\bar t(x) = b H_1 + c H_3 + c_5 H_5 + \dots,\qquad
          t = (b, \sqrt{6} c, \sqrt{120} c_5, \dots),\quad y = (1, \sqrt6\epsilon, 0, \dots).

Equations (every factor derived in :mod:`._cubic_kernels` and checked against brute force
in ``tests/theory/test_cubic_*.py``):

* per-neuron action of the overlap q = w.w*, d times an O(1) function,

  .. math:: S(q) = d\,\hat S(q),\quad \hat S(q) = \frac{q^2}{2\sigma_w^2}
            - \frac{u}{2}\,(t\cdot I(q))^2,\quad u = \frac{n^2\sigma_a^2}{\sigma^4 d N},

  with I_k(q) = c_k (q/\sqrt{1 + 2\sigma_w^2 + 2q^2})^k the erf projections;
* kernel block M = <I I^T> under p(q) ~ exp(-d Shat(q)); EK equation
  t = (1 + rho M)^{-1} y with rho = n sigma_a2 / sigma2 (the kernel operator's matrix on
  the Hermite block is sigma_a2 M; the learnability of an eigenvalue lam is
  lam/(lam + sigma2/n)). The paper's App. A prints 2 q^2 instead of 4 q^2 in the (1,1)
  entry (I_1^2 = 4 q^2/(pi D)) and drops sigma2/n in its eq. A.12; the derived form gives
  u_c = 30.7 in the d -> inf limit at eps = -0.3 (paper: ~30.2; the printed (1,1) entry
  would give ~23).

Methods
-------
``quadrature`` (default)
    exact 1-D integral over q at the given finite d (:func:`._cubic_kernels.quadrature_moments`).
    State x = (b, c, c5, ...).
``saddle``
    the d -> inf Gaussian mixture: Gaussians at the origin and at the side minimum q*;
    a basin whose action is above the lowest one has zero weight, and degenerate basins
    (the mixed phase) share the weight f fixed by self-consistency. f is then an extra
    unknown: x = (b, c, ..., f) with the complementarity map f -> clip(f - gap, 0, 1),
    gap = Shat(q*) - Shat(0) (:func:`._cubic_kernels.saddle_map`).

Validity of ``saddle``: the origin must be a minimum of Shat (Shat''(0) > 0, reported as
``core_curvature``). Where the self-consistent state would make it a maximum (large |eps|,
large sigma_w2 or small d at low sigma2) the mixture has no solution; the map stays
continuous (curvatures floored at CURV_FLOOR/sigma_w2) but the root finder reports the
points as not converged. ``quadrature`` has no such restriction.

Reference values (default Fig. 2 setting, sigma2 0.3 -> 0.1, 81 points; K = 2):
``saddle`` sigma2_gmfl1 = 0.17535, u_c = 31.86 at d = 150, tending to u_c = 30.67
(sigma2 = 0.17872) as beta -> inf; ``quadrature`` sigma2_gmfl1 = 0.15261 (u_c = 42.06) at
beta = 1, 0.17158 (33.28) at beta = 4, 0.18196 (29.59) at beta = 16, 0.18096 (29.92) at
beta = 64: toward the d -> inf value (at beta = 1 and 4 the birth of the populated side
minimum sets the boundary; the droplet region already holds 1/N' of the neurons from
sigma2 = 0.18939 (beta = 1) and 0.18273 (beta = 4) on, the crossover). The cubic component learned at
sigma2 = 0.1 is ~10 times that at sigma2 = 0.25. K = 3 moves b, c by < 3e-3 and the
boundaries by < 6e-4.

Scaling (the paper's Table 1): ``alpha``, ``beta`` map the *base* parameters to
N' = beta N, d' = sqrt(beta) d, sigma_a2' = sigma_a2/sqrt(beta), n' = alpha n and the noise
sigma2' = (alpha/beta) sigma2. **The sigma2 grid is given in base units** (the sigma2 of the
alpha = beta = 1 setting), so scans at different alpha, beta share their x axis, as in the
paper's Fig. 2c, and u is the same at the same grid value. The physical noise of each point is
stored as the observable ``sigma2_scaled`` (and d', N', n', sigma_a2' as ``d_scaled`` etc.).

Droplet fraction. ``saddle``: the weight f of the side Gaussians in the mixture.
``quadrature``: f = P(|q| > q_split) under p(q) ~ exp(-d Shat(q)), with the fixed split
q_split = sqrt((1 + 2 sigma_w2)/6) (0.577 at the default) where the erf feature of a
neuron, r(q) = q/sqrt(1 + 2 sigma_w2 + 2 q^2), reaches half its saturation value
(:func:`._cubic_kernels.droplet_split`): neurons below it act through the linear part of
the erf (the Gaussian core of width O(1/sqrt d)), those beyond it are the saturated, aligned
droplet neurons (the side minima of Shat sit beyond it: |q*| = 0.58-1.9 > q_split on
every setting tried, eps from -1.2 to -0.1, sigma_w2 from 0.25 to 1, d from 50 to 150).
The split does not depend on the state, so f is continuous in sigma2 wherever the
self-consistent state is:
at finite d the side minimum of Shat is born at a spinodal with ~1e-2 of the mass already
in the shoulder of p(q) beyond it, and a split at the barrier (or at any other landmark of
Shat that is born at finite q, such as its inflection point) would make f jump there. As
d -> inf, f tends to the saddle-point side weight. The landmarks of Shat (q_star,
q_barrier, action_gap, core_curvature) are reported separately. The same fraction can be
measured directly in a simulation (the fraction of neurons with |w.w*| > q_split).

Phases:

* ``saddle``: read off the complementarity. GFL: f = 0 (side minima absent or above the
  origin's action); GMFL-I: 0 < f < 1 (degenerate minima, f pinned by self-consistency);
  GMFL-II: f = 1 (origin basin empty). Numerically f > F_ZERO and 1 - f > F_ZERO.
* ``quadrature``: at finite d the droplet region always has some weight; it counts as
  populated when it holds at least one of the N' neurons of the hidden layer in
  expectation. GFL: f < 1/N'; GMFL-I: f >= 1/N' and 1 - f >= 1/N'; GMFL-II: 1 - f < 1/N';
  GMFL-I and GMFL-II also need a side minimum q_star of Shat whose basin (beyond the
  barrier q_barrier) holds at least 1/N' of the neurons; f >= 1/N' without it (a shoulder
  of p(q), q_star = NaN) is the crossover (code 3, ``CROSSOVER``), e.g. sigma2 = 0.18 and
  0.17 at the default d = 150.
  As beta -> inf, 1/N' = o(1/d') and this tends to the saddle rule (the boundary moves
  monotonically to the d -> inf value, see the reference values). At finite d the core
  itself can lose stability (core_curvature = Shat''(0) < 0) without any droplet: e.g. at
  eps = +0.3, d = 150 below sigma2 ~ 0.195, where the positive quartic term of Shat (b + 2c
  > 0) confines the core so that the Gaussian-core feedback that keeps Shat''(0) > 0 in the
  saddle limit is cut off; p(q) then peaks at |q| ~ 0.02-0.14, far inside q_split. This
  split core is not a droplet phase (it stays GFL unless the mass beyond q_split reaches
  1/N'); it moves to lower sigma2 as beta grows (~0.12 at beta = 4, ~0.065 at beta = 16,
  absent above 0.05 at beta = 64), consistent with ``saddle``, which has Shat''(0) > 0
  there.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..tasks import CubicTeacherTask
from ..validation import Constraint
from . import _cubic_kernels as K
from .base import CROSSOVER, GFL, GMFL_I, GMFL_II, Teacher

METHODS = ("quadrature", "saddle")
#: Largest number of Hermite modes accepted by ``--modes``.
MAX_MODES = 8
#: Caps of the other parameters, each a range where the solver was run (a few sigma2 of the
#: default grid, both methods, every other parameter at its default): N, n, d up to 1e12;
#: sigma_w2 from 1e-6 to 1e4 (1e300 needs more quadrature nodes than memory holds); |eps| up
#: to 10 checked, 1e6 accepted (the noise limit of :meth:`CubicTeacher.check_sigma2` grows
#: with eps^2); alpha, beta from 1e-6 to 1e6 (1e300 overflows the scaled n', N').
MAX_INT = 10 ** 12
MAX_SIGMA_W2 = 1e4
MAX_EPS = 1e6
MAX_SCALING = 1e6
#: Gauss-Hermite order of the saddle-point Gaussians (probabilists', normalised weights).
GH_ORDER = 24
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(GH_ORDER)
_GH_W = _GH_W / _GH_W.sum()
#: Largest action depth Lambda = d' u |y|^2 = n'^2 sigma_a2' (1 + 6 eps^2)/(sigma2'^2 N')
#: (:meth:`CubicTeacher.coupling_depth`) accepted with ``--method quadrature``. Measured
#: (a solve from the Gaussian-process state, which is how every upward sweep starts):
#: Lambda = 3e7 converges in 0.3-1.8 s on every setting tried (default; eps = -1.2, -0.1;
#: sigma_w2 = 0.25, 1; d = 50; alpha = beta = 4); Lambda = 1e8 fails at eps = -1.2 (status 3
#: after 100 s, 7e5 nodes per evaluation); the default at u ~ 1e6 (Lambda ~ 2.3e8) took 88 s
#: and failed; further down the trial states need more nodes than memory holds.
MAX_COUPLING_DEPTH = 3e7
#: The same for ``--method saddle`` (Gaussian mixture, no nodes): only overflow of u.
SADDLE_MAX_COUPLING_DEPTH = 1e300


def max_coupling_depth(method: str) -> float:
    """:data:`MAX_COUPLING_DEPTH` or :data:`SADDLE_MAX_COUPLING_DEPTH`."""
    return SADDLE_MAX_COUPLING_DEPTH if method == "saddle" else MAX_COUPLING_DEPTH


#: Saddle method: side-basin weights below F_ZERO (and 1 - f below F_ZERO) count as zero;
#: the equation tolerance is 1e-10, so a GFL solution has |f| <= 1e-10.
F_ZERO = 1e-9


def mode_orders(K_modes: int) -> np.ndarray:
    """Hermite orders 1, 3, ..., 2K-1."""
    return np.arange(1, 2 * K_modes, 2)


def mode_names(K_modes: int) -> tuple:
    """Names of the Hermite coefficients: b (H1), c (H3), c5, c7, ..."""
    names = ["b", "c"] + [f"c{k}" for k in mode_orders(K_modes)[2:]]
    return tuple(names[:K_modes])


class CubicTeacher(Teacher):
    """H1 + eps H3 single-index teacher, erf student (see module docstring)."""

    name = "cubic"
    #: Leading components of the state (always b, c). The full state is
    #: :meth:`state_labels` (``modes`` Hermite coefficients, plus the side-basin weight for
    #: ``--method saddle``); every component is also returned by :meth:`observables`.
    state_names = ("b", "c")
    default_sigma2 = "0.3:0.1:81"
    default_output = "cubic_scan.h5"
    constraints = {
        "N": Constraint("int", low=0, low_open=True, high=MAX_INT,
                        doc="network width (hidden units), base value"),
        "n": Constraint("int", low=0, low_open=True, high=MAX_INT,
                        doc="number of training examples, base value"),
        "d": Constraint("int", low=0, low_open=True, high=MAX_INT, doc="input dimension, base value"),
        "sigma_w2": Constraint("real", low=0, low_open=True, high=MAX_SIGMA_W2,
                               doc="read-in prior variance times d"),
        "sigma_a2": Constraint("real", low=0, low_open=True, doc="read-out prior variance times N, base value"),
        "eps": Constraint("real", low=-MAX_EPS, high=MAX_EPS, doc="weight of H3 in the teacher y = H1 + eps H3"),
        "method": Constraint("choice", choices=METHODS, doc="quadrature (finite d) or saddle (d -> inf)"),
        "modes": Constraint("int", low=1, high=MAX_MODES, doc="number of odd Hermite modes H1, H3, ..."),
        "alpha": Constraint("real", low=0, low_open=True, high=MAX_SCALING, doc="data scaling of Table 1"),
        "beta": Constraint("real", low=0, low_open=True, high=MAX_SCALING, doc="width scaling of Table 1"),
    }
    defaults = {"N": 700, "n": 3000, "d": 150, "sigma_w2": 0.5, "sigma_a2": 8.0 / 700, "eps": -0.3,
                "method": "quadrature", "modes": 2, "alpha": 1.0, "beta": 1.0}
    #: The task is built from the base d and eps (:meth:`Teacher.task`); the Table 1 scaling
    #: (alpha, beta) belongs to the theory (:meth:`scaled`).
    task_name = "cubic"
    summary = "H1 + eps*H3 single-index teacher learned by an erf network (Sec. 3.1)"
    langevin_summary = "erf network on y = H1 + eps H3 (fresh Gaussian data per seed)"
    default_for = ("langevin",)
    cli_options = {
        "N": dict(type=int,
                  help="Network width (hidden units), base value before --beta. Mean-field coupling "
                       "scales as 1/N. Default 700.",
                  langevin_help="Network width (base value before --beta). Default 700."),
        "n": dict(type=int, help="Number of training examples n (enters through n/sigma2). Default 3000.",
                  langevin_help="Training examples (base). Default 3000."),
        "d": dict(type=int,
                  help="Input dimension d; the action is d times an O(1) function, so d is the "
                       "saddle-point parameter. Default 150.",
                  langevin_help="Input dimension (base). Default 150."),
        "sigma_w2": dict(type=float, help="Read-in prior variance times d: w ~ N(0, sigma_w2/d). Default 0.5.",
                         langevin_help="Read-in prior variance times d. Default 0.5."),
        "sigma_a2": dict(type=float,
                         help="Read-out prior variance times N: a ~ N(0, sigma_a2/N). Default 8/N.",
                         langevin_help="Read-out prior variance times N. Default 8/N."),
        "eps": dict(type=float,
                    help="Weight of the cubic Hermite component of the teacher, y = H1 + eps*H3. "
                         "Default -0.3.",
                    langevin_help="y = H1 + eps H3. Default -0.3."),
        "method": dict(type=str,
                       help="How the weight posterior is integrated: 'quadrature' (exact 1-D integral "
                            "at finite d, default) or 'saddle' (d -> inf).",
                       langevin_help="How the theory integrates the weight posterior: 'quadrature' "
                                     "(default) or 'saddle' (as for 'scan')."),
        "modes": dict(type=int,
                      help="Number of odd Hermite modes H1, H3, ..., H(2K-1) kept in the discrepancy "
                           "ansatz. Default 2 (the paper's closure).",
                      langevin_help="Hermite modes of the theory. Default 2."),
        "alpha": dict(type=float,
                      help="Data scaling of the paper's Table 1: n -> alpha n, sigma2 -> (alpha/beta) "
                           "sigma2. Default 1.",
                      langevin_help="Table 1 data scaling. Default 1."),
        "beta": dict(type=float,
                     help="Width scaling of Table 1: N -> beta N, d -> sqrt(beta) d, "
                          "sigma_a2 -> sigma_a2/sqrt(beta). Default 1.",
                     langevin_help="Table 1 width scaling. Default 1."),
    }
    example = {"N": 50, "n": 200, "d": 20}
    example_sigma2 = "0.3:0.1:5"
    landscape_parameter = "q"
    langevin_table_columns = ("b", "c")

    #: Seconds per scan point, measured on the 2-core development machine (400 points of
    #: the default scan: 13 s with the quadrature, 8.6 s with the saddle point).
    scan_seconds_per_point = {"quadrature": 0.03, "saddle": 0.02}

    # -- parameters -------------------------------------------------------------
    def make_params(self, **overrides) -> dict:
        """Defaults updated by ``overrides`` (None ignored), then validated.

        When ``sigma_a2`` is not given it follows the paper's rule sigma_a2 = 8/N for the
        given base width N (8/700 by default).
        """
        if overrides.get("sigma_a2") is None and overrides.get("N") is not None:
            n_width = self.constraints["N"].check("N", overrides["N"])
            overrides = dict(overrides, sigma_a2=8.0 / n_width)
        return super().make_params(**overrides)

    def check_params(self, params: dict) -> dict:
        """alpha and beta must be at least 1/MAX_SCALING (the scaled n', N', d', sigma2' of
        Table 1 overflow double precision for values like 1e-300)."""
        for k in ("alpha", "beta"):
            if params[k] < 1.0 / MAX_SCALING:
                raise ParameterError(f"{k} must be >= {1.0 / MAX_SCALING:g}, <= {MAX_SCALING:g} (Table 1 "
                                     f"scaling beyond that overflows); got {params[k]!r}")
        return params

    @staticmethod
    def scaled(params: dict, sigma2: float) -> dict:
        """The physical parameters after Table 1 scaling (alpha, beta) at base noise sigma2."""
        a, b = params["alpha"], params["beta"]
        sb = math.sqrt(b)
        return {"N": b * params["N"], "d": sb * params["d"], "sigma_a2": params["sigma_a2"] / sb,
                "n": a * params["n"], "sigma2": a / b * sigma2}

    def state_labels(self, params: dict) -> tuple:
        """Names of all components of the state x for these parameters."""
        names = mode_names(params["modes"])
        if params["modes"] == 1:
            names = ("b",)
        return names + (("droplet_fraction",) if params["method"] == "saddle" else ())

    # -- physics ----------------------------------------------------------------
    def effective_interaction(self, params, sigma2):
        """u = n^2 sigma_a2 / (sigma2^2 d N) (scaled parameters; invariant under alpha, beta)."""
        s = self.scaled(params, sigma2)
        return s["n"] ** 2 * s["sigma_a2"] / (s["sigma2"] ** 2 * s["d"] * s["N"])

    def _setup(self, params, sigma2):
        """Constants of the map at one sigma2: y, sqrt(k!), c_k, u, rho, d."""
        Km = params["modes"]
        s = self.scaled(params, sigma2)
        y = np.zeros(Km)
        y[0] = 1.0
        if Km > 1:
            y[1] = math.sqrt(6.0) * params["eps"]
        sqf = np.array([math.sqrt(math.factorial(k)) for k in mode_orders(Km)])
        c = K.erf_hermite_coefficients(Km)
        u = s["n"] ** 2 * s["sigma_a2"] / (s["sigma2"] ** 2 * s["d"] * s["N"])
        rho = s["n"] * s["sigma_a2"] / s["sigma2"]
        return y, sqf, c, u, rho, s["d"]

    def initial_state(self, params, sigma2):
        """Gaussian-process state: no feature learning (u = 0, p(q) = the prior)."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        M = K.quadrature_moments(np.zeros_like(y), c, 0.0, d, params["sigma_w2"], np.inf)[0]
        x = K.ek_residual(M, y, rho) / sqf
        if params["method"] == "saddle":
            x = np.append(x, 0.0)
        return x

    def fixed_point_map(self, x, params, sigma2):
        r"""T(x): (b, c, ...) -> Shat -> p(q) -> M -> t = (1 + rho M)^{-1} y -> new (b, c, ...).

        ``saddle`` carries the side-basin weight f as the last component
        (T_f = clip(f - gap, 0, 1)). Accuracy of T: quadrature ~1e-13 relative (see
        :func:`._cubic_kernels.quadrature_moments`); the saddle map is exact for its
        Gaussian mixture up to the Gauss-Hermite order GH_ORDER.
        """
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        x = np.asarray(x, float)
        sw2 = params["sigma_w2"]
        if params["method"] == "saddle":
            return K.saddle_map(x, y, sqf, c, u, rho, d, sw2, _GH_X, _GH_W)
        return K.quadrature_map(x, y, sqf, c, u, rho, d, sw2)

    def coupling_depth(self, params, sigma2):
        """Lambda = d' u |y|^2 = n'^2 sigma_a2' (1 + 6 eps^2) / (sigma2'^2 N'): the depth of the
        single-neuron action d Shat at the Gaussian-process state, the natural variable of
        the quadrature's range (its nodes grow like sqrt(u) and its narrowest features like
        1/sqrt(d u))."""
        s = self.scaled(params, sigma2)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            y2 = 1.0 + 6.0 * np.float64(params["eps"]) ** 2
            lam = np.float64(s["n"]) ** 2 * s["sigma_a2"] * y2 / (np.float64(s["sigma2"]) ** 2 * s["N"])
        return float(lam) if np.isfinite(lam) else math.inf

    def sigma2_limit(self, params) -> float:
        """Smallest (base) sigma2 the method resolves at these parameters (see
        :data:`MAX_COUPLING_DEPTH`); Lambda scales like 1/sigma2^2."""
        lam1 = self.coupling_depth(params, 1.0)
        return math.sqrt(lam1 / max_coupling_depth(params["method"]))

    def check_sigma2(self, params, sigma2_values):
        """Refuse a grid whose smallest sigma2 is below :meth:`sigma2_limit`
        (:class:`~adaptive_kernel.errors.ParameterError` naming the limit)."""
        s = float(np.min(sigma2_values))
        lam = self.coupling_depth(params, s)
        cap = max_coupling_depth(params["method"])
        if lam <= cap:
            return
        what = "exact quadrature" if params["method"] == "quadrature" else "saddle-point evaluation"
        raise ParameterError(
            f"sigma2 = {s:g} is below the smallest noise the {what} resolves at these parameters "
            f"(sigma2 >= {self.sigma2_limit(params):.4g}): the action depth "
            f"n^2 sigma_a2 (1 + 6 eps^2)/(sigma2^2 N) = {lam:.3g} exceeds {cap:.3g}")

    def bracket(self, params, sigma2):
        """K = 1 quadrature (state b only): b - T(b) < 0 at b = 0 and >= 0 at b = 1 (M >= 0)."""
        return 0.0, 1.0

    def kernel(self, x, params, sigma2):
        """Kernel block M = <I I^T>, its droplet part and the method's statistics at state x."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        x = np.asarray(x, float)
        Km = params["modes"]
        t = x[:Km] * sqf
        if params["method"] == "saddle":
            f = float(x[Km])
            M, Ms, st = K.saddle_moments(t, f, c, u, d, params["sigma_w2"], _GH_X, _GH_W)
            return M, f * Ms, st
        sw2 = params["sigma_w2"]
        return K.quadrature_moments(t, c, u, d, sw2, K.droplet_split(sw2))

    def observables(self, x, params, sigma2):
        """Order parameters, droplet weights and landmarks of Shat at state x.

        * b, c (c5, ... for K > 2): Hermite coefficients of sigma2 tbar;
        * linear_learned = 1 - b, cubic_learned = (eps - c)/eps (NaN for eps = 0),
          cubic_component = eps - c (the H3 coefficient of fbar);
        * droplet_fraction f: quadrature, P(|q| > q_split) under p(q) (module docstring,
          :func:`._cubic_kernels.droplet_split`); saddle, the mixture weight of the side
          Gaussians; droplet_share: the droplet part's share of the kernel on the target,
          y.M_side.y / y.M.y; q_split (quadrature; NaN for saddle);
        * landmarks of Shat: q_star, the side minimum (NaN if none); q_barrier, the first
          barrier; action_gap = Shat(q_star) - Shat(0); core_curvature = Shat''(0) (< 0: the
          origin is a local maximum of Shat);
        * phase (module docstring); sigma2_scaled, d_scaled, N_scaled, n_scaled,
          sigma_a2_scaled, rho.
        """
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        x = np.asarray(x, float)
        Km = params["modes"]
        eps = params["eps"]
        M, Ms, st = self.kernel(x, params, sigma2)
        t = x[:Km] * sqf
        b = float(x[0])
        cc = float(x[1]) if Km > 1 else eps
        s = self.scaled(params, sigma2)
        out = {"u": u, "b": b, "c": cc}
        for i, name in enumerate(mode_names(Km)[2:], start=2):
            out[name] = float(x[i])
        out["linear_learned"] = 1.0 - b
        out["cubic_learned"] = (eps - cc) / eps if eps != 0.0 else math.nan
        out["cubic_component"] = eps - cc
        yy = float(y @ M @ y)
        sw2 = params["sigma_w2"]
        a0 = K.action_derivatives(0.0, t, c, u, sw2)[2]
        q_split = math.nan
        if params["method"] == "saddle":
            # the state's f solves its equation to the residual tolerance; report it as a
            # probability (|f| <= 1e-10 at GFL points)
            f = min(1.0, max(0.0, float(x[Km])))
            qside, is_min, gap = st[1], st[2], st[3]
            q_star = qside if is_min == 1.0 else math.nan
            q_hi = K.upper_limit(t, c, u, d, sw2)
            qb = K.side_minimum(t, c, u, sw2, q_hi)[1] if is_min == 1.0 else math.nan
            action_gap = gap if is_min == 1.0 else math.nan
            if f <= F_ZERO:
                phase = GFL
            elif 1.0 - f > F_ZERO:
                phase = GMFL_I
            else:
                phase = GMFL_II
        else:
            f = float(st[1])
            q_star, qb, action_gap = float(st[2]), float(st[3]), float(st[4])
            q_split = float(st[7])
            floor = 1.0 / s["N"]
            if f < floor:
                phase = GFL
            elif 1.0 - f >= floor:
                phase = GMFL_I
            else:
                phase = GMFL_II
            if phase != GFL and not self._side_basin_populated(t, c, u, d, sw2, q_star, qb, f, q_split, floor):
                # droplet-region mass without a populated side minimum: the shoulder of a
                # single-minimum p(q) (finite-d crossover), not degenerate minima
                phase = CROSSOVER
        out["droplet_fraction"] = f
        out["droplet_share"] = float(y @ Ms @ y) / yy if yy > 0 else math.nan
        out["q_split"] = q_split
        out["q_star"] = float(q_star)
        out["q_barrier"] = float(qb)
        out["action_gap"] = float(action_gap)
        out["core_curvature"] = float(a0)
        out["m11"] = float(M[0, 0])
        out["phase"] = phase
        out["sigma2_scaled"] = s["sigma2"]
        out["d_scaled"] = s["d"]
        out["N_scaled"] = s["N"]
        out["n_scaled"] = s["n"]
        out["sigma_a2_scaled"] = s["sigma_a2"]
        out["rho"] = rho
        fe = self.free_energy(x, params, sigma2, stats=st)
        out["free_energy"] = fe["free_energy"]
        out["free_energy_dsigma2"] = fe["free_energy_dsigma2"]
        barrier, barrier_back = self._barriers(t, c, u, d, sw2, q_star, qb, a0)
        out["barrier"] = barrier
        out["barrier_droplet"] = barrier_back
        out["droplet_neurons"] = s["N"] * f
        return out

    @staticmethod
    def _side_basin_populated(t, c, u, d, sw2, q_star, q_barrier, f, q_split, floor) -> bool:
        """GMFL-I/II at finite d needs a side minimum of Shat (q_star) whose basin, beyond
        the barrier q_barrier, holds at least ``floor`` = 1/N' of the neurons. Where the
        barrier lies inside q_split the basin holds at least f >= floor; otherwise its
        weight is integrated (:func:`._cubic_kernels.basin_quadrature`)."""
        if not math.isfinite(q_star):
            return False
        if not math.isfinite(q_barrier) or q_barrier <= q_split:
            return True
        lz_all, _ = K.basin_quadrature(t, c, u, d, sw2, 0.0, math.inf)
        lz_d, _ = K.basin_quadrature(t, c, u, d, sw2, q_barrier, math.inf)
        return bool(math.exp(lz_d - lz_all) >= floor)

    @staticmethod
    def _barriers(t, c, u, d, sw2, q_star, q_barrier, a0) -> tuple:
        """Per-neuron action barriers d (Shat(q_b) - Shat(0)) (origin -> droplet) and
        d (Shat(q_b) - Shat(q*)) (droplet -> origin); the path of least action is the q axis
        (the other directions of w enter only through the prior). NaN without a side minimum
        or when the origin is not a minimum."""
        if not (math.isfinite(q_star) and math.isfinite(q_barrier)) or a0 <= 0.0:
            return math.nan, math.nan
        sb = K.action(q_barrier, t, c, u, sw2)
        return d * sb, d * (sb - K.action(q_star, t, c, u, sw2))

    # -- thermodynamics: free energy, restricted basins, latent heat ------------------
    def supports_basins(self, params) -> bool:
        """Restricted-basin branches and the free energy exist for both methods."""
        return True

    def _basin_interval(self, t, c, u, d, sw2, basin):
        """(q_lo, q_hi) of a basin of exp(-d Shat) on q >= 0, or None where it does not
        exist. ``all``: [0, inf). ``origin``: [0, q_barrier) (the whole axis without a side
        minimum); needs Shat''(0) > 0. ``droplet``: [q_barrier, inf); needs a side minimum."""
        if basin == "all":
            return 0.0, math.inf
        q_hi = K.upper_limit(t, c, u, d, sw2)
        q_star, q_barrier, a0 = K.side_minimum(t, c, u, sw2, q_hi)
        if basin == "origin":
            if a0 <= 0.0:
                return None
            if not (math.isfinite(q_star) and math.isfinite(q_barrier)):
                return 0.0, math.inf
            return 0.0, q_barrier
        if not math.isfinite(q_star):
            return None
        return q_barrier, math.inf

    def _basin_kernel(self, x, params, sigma2, basin):
        """(log Z_b, M_b) of the basin at state x (quadrature), or (NaN, NaN) if it does not
        exist; Z_b = int_basin exp(-d Shat) dq over q >= 0."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        t = np.asarray(x, float)[:Km] * sqf
        sw2 = params["sigma_w2"]
        iv = self._basin_interval(t, c, u, d, sw2, basin)
        if iv is None:
            return math.nan, np.full((Km, Km), np.nan)
        return K.basin_quadrature(t, c, u, d, sw2, iv[0], iv[1])

    def _saddle_log_weights(self, t, c, u, d, sw2):
        """(psi_origin, psi_droplet, side minimum exists) of the d -> inf mixture: the core
        Gaussian relative to the prior, psi_o = -(1/2) log(sigma_w2 Shat''(0)) (curvature
        floored as in the map), and psi_d = psi_o - d (Shat(q*) - Shat(0)): the side basin
        at the accuracy of the saddle map's complementarity (O(1) fluctuation terms of the
        side basin dropped, as there)."""
        q_hi = K.upper_limit(t, c, u, d, sw2)
        q_star, q_barrier, a0 = K.side_minimum(t, c, u, sw2, q_hi)
        psi_o = -0.5 * math.log(sw2 * max(a0, K.CURV_FLOOR / sw2))
        if not math.isfinite(q_star):
            return psi_o, math.nan, False
        return psi_o, psi_o - d * K.action(q_star, t, c, u, sw2), True

    def free_energy(self, x, params, sigma2, basin="all", stats=None) -> dict:
        r"""Mean-field free energy per neuron of the EK posterior at state x.

        .. math:: \frac{F}{N'} = \frac{u d'}{\rho}\Big(t\cdot y - \frac{|t|^2}{2}\Big)
                  - \big[\log Z_b(t) - \log Z_{\rm prior}\big],

        t = (b, sqrt(6) c, ...) the discrepancy in the normalised Hermite basis,
        u d'/rho = n'/(sigma2' N'), Z_b = int_basin exp(-d' Shat(q; t)) dq (q >= 0) and
        Z_prior = (1/2) sqrt(2 pi sigma_w2/d'). grad_t F = 0 is the EK equation
        t = (1 + rho M_b)^{-1} y (d log Z/dt = d' u M t). At a stationary point
        dF/dsigma2' = -(n'/(2 N' sigma2'^2)) |t|^2 (envelope theorem); returned per unit of
        the base sigma2 (times alpha/beta). ``saddle``: log Z_b - log Z_prior is the
        mixture's (1 - f) psi_o + f psi_d (:meth:`_saddle_log_weights`; a branch: its psi_b).

        Returns
        -------
        dict
            ``free_energy``, ``free_energy_dsigma2``, ``log_weight`` (log Z_b - log Z_prior).
        """
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        x = np.asarray(x, float)
        t = x[:Km] * sqf
        sw2 = params["sigma_w2"]
        sc = self.scaled(params, sigma2)
        if params["method"] == "saddle":
            psi_o, psi_d, has_side = self._saddle_log_weights(t, c, u, d, sw2)
            if basin == "origin":
                lw = psi_o
            elif basin == "droplet":
                lw = psi_d
            else:
                f = min(1.0, max(0.0, float(x[Km]))) if x.size > Km else 0.0
                lw = psi_o if (f <= F_ZERO or not has_side) else (1.0 - f) * psi_o + f * psi_d
        else:
            if basin == "all":
                lz = float(stats[0]) if stats is not None else \
                    float(K.quadrature_moments(t, c, u, d, sw2, np.inf)[2][0])
            else:
                lz = float(self._basin_kernel(x, params, sigma2, basin)[0])
            lw = lz - math.log(0.5 * math.sqrt(2.0 * math.pi * sw2 / d))
        tt = float(t @ t)
        fe = u * d / rho * (float(t @ y) - 0.5 * tt) - lw
        dfds = -sc["n"] / (2.0 * sc["N"] * sc["sigma2"] ** 2) * tt * params["alpha"] / params["beta"]
        return {"free_energy": fe, "free_energy_dsigma2": dfds, "log_weight": lw}

    def basin_fixed_point_map(self, x, params, sigma2, basin):
        """T_b(x): the map with the neurons confined to ``basin``. Quadrature: M restricted
        to the basin's interval of q (:meth:`_basin_interval`), NaN where the basin does not
        exist; saddle: the side weight held at f = 0 (origin) or 1 (droplet)."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        x = np.asarray(x, float)
        sw2 = params["sigma_w2"]
        if params["method"] == "saddle":
            f = 0.0 if basin == "origin" else 1.0
            xs = x.copy()
            xs[Km] = f
            # the map stays continuous where the basin is not a minimum (floored curvature,
            # the side point at the least slope); the root is checked by basin_valid
            out = K.saddle_map(xs, y, sqf, c, u, rho, d, sw2, _GH_X, _GH_W)
            out[Km] = f
            return out
        lz, M = self._basin_kernel(x, params, sigma2, basin)
        if not np.all(np.isfinite(M)):
            return np.full(x.shape[0], np.nan)
        return K.ek_residual(M, y, rho) / sqf

    def basin_valid(self, x, params, sigma2, basin) -> bool:
        """The basin exists at state x: the origin needs Shat''(0) > 0; the droplet a side
        minimum of Shat."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        t = np.asarray(x, float)[:Km] * sqf
        return self._basin_interval(t, c, u, d, params["sigma_w2"], basin) is not None

    def basin_observables(self, x, params, sigma2, basin) -> dict:
        """Scalars stored per point of a restricted-basin branch: u, b, c (c5, ...),
        linear_learned, cubic_learned, free_energy, free_energy_dsigma2, the barriers,
        q_star, core_curvature."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        x = np.asarray(x, float)
        t = x[:Km] * sqf
        sw2 = params["sigma_w2"]
        eps = params["eps"]
        out = {"u": u}
        for i, name in enumerate(mode_names(Km)):
            out[name] = float(x[i])
        cc = float(x[1]) if Km > 1 else eps
        out["linear_learned"] = 1.0 - float(x[0])
        out["cubic_learned"] = (eps - cc) / eps if eps != 0.0 else math.nan
        fe = self.free_energy(x, params, sigma2, basin)
        out["free_energy"] = fe["free_energy"]
        out["free_energy_dsigma2"] = fe["free_energy_dsigma2"]
        q_hi = K.upper_limit(t, c, u, d, sw2)
        q_star, q_barrier, a0 = K.side_minimum(t, c, u, sw2, q_hi)
        out["barrier"], out["barrier_droplet"] = self._barriers(t, c, u, d, sw2, q_star, q_barrier, a0)
        out["q_star"] = float(q_star)
        out["core_curvature"] = float(a0)
        return out

    def latent_heat(self, x, params, sigma2) -> dict:
        """Jumps across the basins at state x: ``latent_heat`` = u d/du [log Z_d - log Z_o]
        at fixed t = (d' u/2) (<(t.I)^2>_d - <(t.I)^2>_o), per neuron in units of kT (the
        analogue of T Delta S with u as inverse temperature), and ``eigenvalue_jump`` =
        sigma_a2' y.(M_d - M_o).y/|y|^2, the jump of the kernel on the target (Rayleigh
        quotient) between the basins. Quadrature: restricted basin integrals; saddle: the
        two Gaussians of the mixture."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        Km = params["modes"]
        x = np.asarray(x, float)
        t = x[:Km] * sqf
        sw2 = params["sigma_w2"]
        if params["method"] == "saddle":
            Mc = K.saddle_moments(t, 0.0, c, u, d, sw2, _GH_X, _GH_W)[0]
            Ms = K.saddle_moments(t, 1.0, c, u, d, sw2, _GH_X, _GH_W)[0]
        else:
            Mc = self._basin_kernel(x, params, sigma2, "origin")[1]
            Ms = self._basin_kernel(x, params, sigma2, "droplet")[1]
        sa2 = self.scaled(params, sigma2)["sigma_a2"]
        return {"latent_heat": 0.5 * d * u * float(t @ (Ms - Mc) @ t),
                "eigenvalue_jump": sa2 * float(y @ (Ms - Mc) @ y) / float(y @ y)}

    def landscape_grid(self, params):
        """q = w.w* from -2 to 2 (401 points): the side minima sit at |q| ~ 0.6-1."""
        return np.linspace(-2.0, 2.0, 401)

    def landscape(self, x, params, sigma2, grid):
        """Shat(q) = q^2/(2 sigma_w2) - (u/2)(t.I(q))^2 (the action divided by d) at state x."""
        y, sqf, c, u, rho, d = self._setup(params, sigma2)
        t = np.asarray(x, float)[: params["modes"]] * sqf
        return K.action_rows(np.asarray(grid, float), t[None, :].copy(), c, np.array([u]),
                             params["sigma_w2"])[0]

    # -- data: delegated to the task (adaptive_kernel.tasks.CubicTeacherTask) -------
    @staticmethod
    def teacher_direction(d: int, rng=None):
        """A unit teacher vector w* in R^d (e_1 by default, random if ``rng`` is given;
        :meth:`CubicTeacherTask.teacher_direction`)."""
        return CubicTeacherTask.teacher_direction(d, rng)

    @staticmethod
    def target(X, w_star, eps):
        """y = H1(z) + eps H3(z), z = X . w*, H3(z) = z^3 - 3 z (:meth:`CubicTeacherTask.target`
        of the task with teacher direction ``w_star``)."""
        w_star = np.asarray(w_star, float)
        return CubicTeacherTask(w_star.shape[-1], eps, w_star=w_star).target(X)

    @staticmethod
    def activation(z):
        """erf (:meth:`CubicTeacherTask.activation`)."""
        return CubicTeacherTask.activation(z)

    # -- plot labels and per-theory presentation --
    # (the meaning of each member: the same block of :class:`.base.Teacher`)
    landscape_labels = (r"$q=\mathbf{w}\cdot\mathbf{w}^*$", r"$\hat{S}(q)=\mathcal{S}(q)\,/\,d$")
    order_series = (("linear_learned", r"linear part learned $1-b$", "left"),
                    ("cubic_learned", r"cubic part learned $(\epsilon-c)/\epsilon$", "left"),
                    ("droplet_fraction", r"droplet fraction $f$", "right"))
    order_ylabel = "fraction of the target learned"
    family_quantity = "cubic_learned"
    scan_table_columns = ("b", "c", "linear_learned", "cubic_learned", "droplet_fraction")
    parameter_symbols = {"eps": r"$\epsilon$", "sigma_w2": r"$\sigma_w^2$", "d": r"$d$",
                         "n": r"$n$", "alpha": r"$\alpha$", "beta": r"$\beta$"}
    observable_descriptions = {
        "linear_learned": "1 - b: linear (H1) part of the target learned",
        "cubic_learned": "(eps - c)/eps: cubic (H3) part of the target learned (NaN for eps = 0)",
        "cubic_component": "eps - c: H3 coefficient of the mean predictor fbar",
        "droplet_share": "y.M_side.y / y.M.y: the droplet part's share of the kernel on the target",
        "q_split": "q_split = sqrt((1 + 2 sigma_w2)/6): overlap beyond which a neuron counts as a "
                   "droplet neuron (quadrature; NaN for saddle)",
        "q_star": "side minimum of Shat(q) (NaN: none)",
        "q_barrier": "first barrier of Shat(q) between the origin and the side minimum (NaN: none)",
        "action_gap": "Shat(q_star) - Shat(0)",
        "core_curvature": "Shat''(0) (< 0: the origin is a local maximum of Shat)",
        "m11": "M_11 = <I_1^2>: (1, 1) entry of the kernel block on the Hermite modes",
        "sigma2_scaled": "physical noise sigma2' = (alpha/beta) sigma2 (Table 1 scaling)",
        "d_scaled": "physical input dimension d' = sqrt(beta) d",
        "N_scaled": "physical width N' = beta N",
        "n_scaled": "physical number of examples n' = alpha n",
        "sigma_a2_scaled": "physical read-out variance sigma_a2' = sigma_a2/sqrt(beta)",
        "rho": "rho = n' sigma_a2' / sigma2': data-to-noise factor of the EK equation",
    }
    langevin_order_label = r"$q=\mathbf{w}\cdot\mathbf{w}^*$"
    langevin_series = (
        {"name": "b", "label": r"$b$ (linear discrepancy)", "theory": (("b", r"$b$ theory"),)},
        {"name": "c", "label": r"$c$ (cubic discrepancy)", "theory": (("c", r"$c$ theory"),)},
    )
    langevin_ylabel = "discrepancy coefficient"
    #: the sigma2 grid of this theory is in base units (Table 1 scaling, module docstring)
    langevin_sigma2_note = "base units"

    @classmethod
    def plot_title(cls, params, num=str, full=True):
        """``cubic teacher: d, N, n[, eps]``."""
        p = params
        eps = rf", $\epsilon={num(p.get('eps'))}$" if full else ""
        return rf"cubic teacher: $d={p.get('d')}$, $N={p.get('N')}$, $n={p.get('n')}$" + eps

    @classmethod
    def large_parameter(cls, params):
        """sqrt(beta) d: the action is d' Shat(q) with the scaled dimension d' = sqrt(beta) d."""
        return float(params["d"]) * math.sqrt(float(params.get("beta", 1.0)))
