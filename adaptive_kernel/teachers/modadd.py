r"""Modular-addition teacher learned by a square-activation network (Gromov's setting).

Data: all P^2 "two-hot" inputs x_nm in R^{2P} (1 at n and at P+m), targets

.. math:: y_p(x_{nm}) = \delta_{p,(n+m) \bmod P} - 1/P,
          \qquad f_p(x) = \sum_i a_{p,i} (w_i\cdot x)^2 .

With Fourier amplitudes :math:`w_n=\sum_k W_k e^{-2\pi i kn/P}` (first half of w) and
:math:`\tilde w_m=\sum_k V_k e^{-2\pi i km/P}` (second half), :math:`X=|W_k|^2`,
:math:`Y=|V_k|^2`, the mean-field action of one read-in neuron decouples into complex
Fourier pairs (k, P-k), each with weight exp(-A(X, Y)) on X, Y >= 0 where

.. math:: A = P\,[X + Y - 2 u r^2 XY + (\gamma/3)(X^3+Y^3)],\qquad
          u = 2\sigma_a^2 P^2/(N\sigma^4),

r the residual fraction (sigma2 tbar = -r y; r = 1 means nothing learned). Self-consistency:

.. math:: r = \sigma^2/(\Lambda(r) + \sigma^2),

with the target's kernel eigenvalue

* ``derived`` (default): :math:`\Lambda = 4P^2\sigma_a^2\langle XY\rangle`, the projection of
  the P^2 x P^2 Gram matrix on the normalised target (equals the NNGP value 4 sigma_a2 under
  the prior; checked against sampled Gram matrices in the tests);
* ``paper``: :math:`\Lambda = \sigma_a^2\langle XY\rangle` (the paper's eqs. 37-38).

Phases (documented thresholds, see :meth:`ModularAddition.observables`):

* GFL (0): the droplet basin carries less than half of the target eigenvalue;
* GMFL-I (1): it carries at least half, and the origin basin still has weight >= 1/P;
* GMFL-II (2): the origin basin weight 1 - f has dropped below 1/P (its free energy is more
  than log P above the droplet basin's).
"""
from __future__ import annotations

import math

import numpy as np

from ..validation import Constraint
from . import _modadd_kernels as K
from .base import GFL, GMFL_I, GMFL_II, Teacher

#: Gauss-Legendre order per panel of the exact 2-D quadrature. With the panel layout of
#: :func:`_modadd_kernels.axis_breakpoints` the quadrature agrees with an independent
#: adaptive SciPy integration to < 3e-11 relative (tests/test_modadd_quadrature.py).
GL_ORDER = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(GL_ORDER)

METHODS = ("exact", "saddle")
NORMALIZATIONS = ("derived", "paper")

#: Phase thresholds (documented in the README and the HDF5 attributes).
GMFL1_DROPLET_SHARE = 0.5


def gmfl2_origin_weight(P: int) -> float:
    """Origin-basin weight below which a point is GMFL-II: 1/P."""
    return 1.0 / P


def pair_moments(P: int, v: float, gamma: float, method: str = "exact") -> dict:
    """Moments of one complex Fourier pair under exp(-A(X, Y)).

    Parameters
    ----------
    P : int
        Modulus (prime).
    v : float
        Coupling u r^2 of the quartic term.
    gamma : float
        Sextic weight-decay strength.
    method : {"exact", "saddle"}
        Exact 2-D quadrature at finite P, or the P -> inf Gaussian mixture.

    Returns
    -------
    dict
        ``logZ``, ``XY`` (<XY>), ``droplet_fraction``, ``XY_droplet``, ``XY_origin``,
        ``X`` (<X> = <|W_k|^2>), ``X2``, ``evaluations``.
    """
    if method == "exact":
        out = K.exact_moments(float(P), float(v), float(gamma), _GL_X, _GL_W)
    elif method == "saddle":
        out = K.saddle_moments(float(P), float(v), float(gamma))
    else:  # pragma: no cover - validated earlier
        raise ValueError(method)
    keys = ("logZ", "XY", "droplet_fraction", "XY_droplet", "XY_origin", "X", "X2", "evaluations")
    return dict(zip(keys, (float(o) for o in out)))


def eigenvalue_factor(P: int, sigma_a2: float, normalization: str) -> float:
    """Lambda / <XY>: 4 P^2 sigma_a2 (derived) or sigma_a2 (paper)."""
    return 4.0 * P * P * sigma_a2 if normalization == "derived" else sigma_a2


class ModularAddition(Teacher):
    """Modular addition mod P, square activation, sextic Fourier weight decay."""

    name = "modadd"
    state_names = ("residual",)
    default_sigma2 = "0.26:0.15:111"
    default_output = "modadd_scan.h5"
    constraints = {
        "P": Constraint("int", low=5, prime=True, doc="modulus (prime >= 5); inputs are two-hot vectors in R^{2P}"),
        "N": Constraint("int", low=1, doc="network width (number of hidden units)"),
        "sigma_a2": Constraint("real", low=0, low_open=True, doc="read-out prior variance times N"),
        "gamma": Constraint("real", low=0, low_open=True, doc="sextic Fourier weight decay strength"),
        "normalization": Constraint("choice", choices=NORMALIZATIONS, doc="target eigenvalue: derived or paper"),
        "method": Constraint("choice", choices=METHODS, doc="exact 2-D quadrature or saddle point"),
    }
    defaults = {"P": 401, "N": 1000, "sigma_a2": 0.002 / 1000, "gamma": 1e-4,
                "normalization": "derived", "method": "exact"}

    # -- physics ----------------------------------------------------------------
    def effective_interaction(self, params, sigma2):
        """u = 2 sigma_a2 P^2 / (N sigma2^2)."""
        return 2.0 * params["sigma_a2"] * params["P"] ** 2 / (params["N"] * sigma2 ** 2)

    def moments(self, r, params, sigma2):
        v = self.effective_interaction(params, sigma2) * r * r
        return pair_moments(params["P"], v, params["gamma"], params["method"])

    def eigenvalue(self, r, params, sigma2):
        """Kernel eigenvalue of the target at residual r."""
        m = self.moments(r, params, sigma2)
        return eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"]) * m["XY"]

    def initial_state(self, params, sigma2):
        lam = eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"]) / params["P"] ** 2
        return np.array([sigma2 / (lam + sigma2)])

    def fixed_point_map(self, x, params, sigma2):
        """T(r) = sigma2 / (Lambda(r) + sigma2)."""
        r = float(x[0])
        return np.array([sigma2 / (self.eigenvalue(r, params, sigma2) + sigma2)])

    def bracket(self, params, sigma2):
        """r - T(r) < 0 at r = 0 and >= 0 at r = 1 (Lambda >= 0)."""
        return 0.0, 1.0

    def observables(self, x, params, sigma2):
        r = float(x[0])
        P = params["P"]
        u = self.effective_interaction(params, sigma2)
        v = u * r * r
        m = pair_moments(P, v, params["gamma"], params["method"])
        fac = eigenvalue_factor(P, params["sigma_a2"], params["normalization"])
        f = m["droplet_fraction"]
        lam = fac * m["XY"]
        share = f * m["XY_droplet"] / m["XY"] if f > 0 else 0.0
        xp, xm = K.side_minimum(v, params["gamma"])
        gap = K.pair_action(xp, xp, float(P), v, params["gamma"]) if not math.isnan(xp) else math.inf
        if share < GMFL1_DROPLET_SHARE:
            phase = GFL
        elif 1.0 - f >= gmfl2_origin_weight(P):
            phase = GMFL_I
        else:
            phase = GMFL_II
        return {
            "u": u,
            "residual": r,
            "learned": 1.0 - r,
            "lambda": lam,
            "droplet_fraction": f,
            "droplet_share": share,
            "action_gap": gap,
            "phi_star": xp,
            "mean_X": m["X"],
            "phase": phase,
        }

    def landscape_grid(self, params):
        """Phi = Psi = |W_k|^2 from 0 to 1.6 x the degenerate minimum sqrt(3/gamma)."""
        return np.linspace(0.0, 1.6 * math.sqrt(3.0 / params["gamma"]), 481)

    def landscape(self, x, params, sigma2, grid):
        """Per-k action at Phi = Psi divided by P: Phi - u r^2 Phi^2 + (gamma/3) Phi^3."""
        v = self.effective_interaction(params, sigma2) * float(x[0]) ** 2
        return K.landscape_rows(np.asarray(grid, float), float(params["P"]), np.array([v]), params["gamma"])[0]

    # -- analytic landmarks -----------------------------------------------------
    @staticmethod
    def degenerate_coupling(gamma):
        """u r^2 at which the nontrivial minimum is degenerate with Phi = 0 (P -> inf):
        Phi* = sqrt(3/gamma), (u r^2)* = 2 sqrt(gamma/3)."""
        return 2.0 * math.sqrt(gamma / 3.0)

    # -- data (shared with the network simulations) -----------------------------
    @staticmethod
    def dataset(P: int):
        """All P^2 two-hot inputs (rows ordered n*P + m) and targets y (P^2 x P)."""
        n, m = np.divmod(np.arange(P * P), P)
        X = np.zeros((P * P, 2 * P))
        X[np.arange(P * P), n] = 1.0
        X[np.arange(P * P), P + m] = 1.0
        Y = -np.full((P * P, P), 1.0 / P)
        Y[np.arange(P * P), (n + m) % P] += 1.0
        return X, Y

    @staticmethod
    def activation(z):
        """Square activation phi(z) = z^2."""
        return z * z

    @staticmethod
    def fourier_amplitudes(w):
        """(W_k, V_k) of read-in weights w (..., 2P): w_n = sum_k W_k exp(-2 pi i k n / P)."""
        w = np.asarray(w)
        P = w.shape[-1] // 2
        return np.fft.ifft(w[..., :P], axis=-1), np.fft.ifft(w[..., P:], axis=-1)

