r"""Single-index cubic teacher learned by an erf network (the paper's Sec. 3.1 / App. A).

Data and target
---------------
x ~ N(0, I_d), teacher direction w* (|w*| = 1; e_1 by default),

.. math:: y(x) = H_1(z) + \epsilon H_3(z),\qquad z = w^*\cdot x,\quad
          H_1(z) = z,\ H_3(z) = z^3 - 3z .

In the orthonormal Hermite functions Hhat_k = He_k/sqrt(k!) the target is
y = Hhat_1 + sqrt(6) eps Hhat_3 (:meth:`CubicTeacherTask.target_hermite`).

Student
-------
.. math:: f(x) = \sum_{i=1}^N a_i\,\mathrm{erf}(w_i\cdot x),\qquad
          w_i\sim\mathcal N(0, (\sigma_w^2/d) I_d),\quad a_i\sim\mathcal N(0, \sigma_a^2/N).

NNGP kernel (Williams 1997), S = (sigma_w2/d) I_d:

.. math:: Q(x, x') = \sigma_a^2\,\frac{2}{\pi}\arcsin\frac{2\,x^T S x'}
          {\sqrt{(1 + 2 x^T S x)(1 + 2 x'^T S x')}} .

Projections (THEORY.md section 2). For a neuron with overlap q = w.w* and, as in the
continuum theory, |w|^2 = sigma_w2 + q^2, D(q) = 1 + 2 (sigma_w2 + q^2), the exact Gaussian
integrals I_k(q) = E_x[Hhat_k(w*.x) erf(w.x)] are, for odd k = 2j + 1,

.. math:: I_k(q) = c_k \Big(\frac{q}{\sqrt{D(q)}}\Big)^k,\qquad
          c_{2j+1} = \frac{2}{\sqrt\pi}\,\frac{(-1)^j (2j)!}{j!\,\sqrt{(2j+1)!}},

(zero for even k): I_1 = (2/sqrt(pi)) q/sqrt(D), I_3 = -(4/sqrt(6 pi)) q^3/D^{3/2}.
The paper's Table-1 scaling of (N, d, n, sigma_a2, sigma2) belongs to the theory, not here.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from ..errors import ParameterError
from ..validation import Constraint
from .base import Task

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_hermite_coefficient(k: int) -> float:
    """c_k of I_k = c_k (q/sqrt(D))^k: (2/sqrt(pi)) (-1)^j (2j)!/(j! sqrt((2j+1)!)) for
    k = 2j + 1, 0 for even k (computed in log space)."""
    k = Constraint("int", low=0).check("k", k)
    if k % 2 == 0:
        return 0.0
    j = (k - 1) // 2
    lg = math.lgamma(2 * j + 1) - math.lgamma(j + 1) - 0.5 * math.lgamma(2 * j + 2)
    return (1.0 if j % 2 == 0 else -1.0) * _TWO_OVER_SQRT_PI * math.exp(lg)


class CubicTeacherTask(Task):
    r"""H1 + eps H3 single-index teacher with an erf student (module docstring).

    Parameters
    ----------
    d : int
        Input dimension (>= 1).
    eps : float
        Weight of H3 in the target.
    w_star : array_like, shape (d,), optional
        Unit teacher direction (default e_1, :meth:`teacher_direction`). Not a theory
        parameter: :meth:`params` and :meth:`from_params` use e_1.

    Raises
    ------
    ParameterError
        d not a positive integer, eps not finite, w_star of the wrong shape or not unit norm.
    """

    name = "cubic"
    label = "cubic teacher"
    parameters = {
        "d": Constraint("int", low=0, low_open=True, doc="input dimension"),
        "eps": Constraint("real", doc="weight of H3 in the teacher y = H1 + eps H3"),
    }
    defaults = {}
    example = {"d": 8, "eps": -0.3}
    student = {
        "activation": "erf",
        "parametrisation": "mean-field",
        "network": "f(x) = sum_i a_i erf(w_i . x), i = 1 .. N",
        "prior": "w_i ~ N(0, (sigma_w2/d) I_d), a_i ~ N(0, sigma_a2/N)",
    }
    order_parameters = {
        "q": "q = w.w*: overlap of a read-in neuron with the teacher direction",
        "b": "b: H1 coefficient of sigma2 tbar (linear part learned 1 - b)",
        "c": "c: H3 coefficient of sigma2 tbar (cubic part learned (eps - c)/eps)",
        "droplet_fraction": "f: fraction of read-in neurons in the aligned droplet basin "
                            "(|q| beyond q_split = sqrt((1 + 2 sigma_w2)/6))",
    }
    order_parameter_labels = {
        "q": r"$q=\mathbf{w}\cdot\mathbf{w}^*$",
        "b": r"$b$",
        "c": r"$c$",
        "droplet_fraction": r"droplet fraction $f$",
    }

    def __init__(self, d: int, eps: float, w_star=None):
        self.d = self.parameters["d"].check("d", d)
        self.eps = self.parameters["eps"].check("eps", eps)
        if w_star is None:
            w = self.teacher_direction(self.d)
        else:
            w = np.array(w_star, dtype=float, copy=True)
            if w.shape != (self.d,) or not np.all(np.isfinite(w)):
                raise ParameterError(f"w_star must be a finite vector of shape ({self.d},); "
                                     f"got shape {w.shape}")
            nrm = float(np.linalg.norm(w))
            if abs(nrm - 1.0) > 1e-10:
                raise ParameterError(f"w_star must have unit norm; got |w_star| = {nrm!r}")
        w.setflags(write=False)
        self.w_star = w

    def _key(self):
        return super()._key() + (self.w_star.tobytes(),)

    # -- data ----------------------------------------------------------------------------
    @staticmethod
    def teacher_direction(d: int, rng=None) -> np.ndarray:
        """A unit teacher vector w* in R^d: e_1 if ``rng`` is None, otherwise
        ``z / |z|`` with ``z = rng.standard_normal(d)``."""
        if rng is None:
            w = np.zeros(d)
            w[0] = 1.0
            return w
        w = rng.standard_normal(d)
        return w / np.linalg.norm(w)

    def target(self, X) -> np.ndarray:
        """y = H1(z) + eps H3(z), z = X . w*, H3(z) = z^3 - 3 z.

        Parameters
        ----------
        X : array_like, shape (..., d)

        Returns
        -------
        ndarray, shape (...)
        """
        z = np.asarray(X) @ self.w_star
        return z + self.eps * (z ** 3 - 3.0 * z)

    def sample(self, n: int, rng):
        """n fresh examples: X ~ N(0, I_d) (``rng.standard_normal((n, d))``) and y = target(X).

        Parameters
        ----------
        n : int
        rng : numpy.random.Generator, SeedSequence or int
            Passed through :func:`numpy.random.default_rng` (a Generator is used as is).

        Returns
        -------
        X : ndarray, shape (n, d)
        y : ndarray, shape (n,)
        """
        n = Constraint("int", low=0).check("n", n)
        X = np.random.default_rng(rng).standard_normal((n, self.d))
        return X, self.target(X)

    def target_hermite(self, modes: int = 2) -> np.ndarray:
        """The target in the orthonormal basis Hhat_1, Hhat_3, ..., Hhat_{2 modes - 1}:
        (1, sqrt(6) eps, 0, ...)."""
        modes = Constraint("int", low=1).check("modes", modes)
        y = np.zeros(modes)
        y[0] = 1.0
        if modes > 1:
            y[1] = math.sqrt(6.0) * self.eps
        return y

    # -- student ---------------------------------------------------------------------------
    @staticmethod
    def activation(z):
        """erf(z)."""
        return erf(z)

    @staticmethod
    def activation_derivative(z):
        """erf'(z) = (2/sqrt(pi)) exp(-z^2)."""
        return _TWO_OVER_SQRT_PI * np.exp(-np.square(z))

    # -- kernels ---------------------------------------------------------------------------
    def nngp_kernel(self, X1, X2, sigma_w2: float, sigma_a2: float = 1.0) -> np.ndarray:
        r"""NNGP kernel of the erf student with w ~ N(0, S), S = (sigma_w2/d) I_d:

        .. math:: Q(x, x') = \sigma_a^2\,\frac{2}{\pi}\arcsin\frac{2\,x^T S x'}
                  {\sqrt{(1 + 2 x^T S x)(1 + 2 x'^T S x')}}

        Parameters
        ----------
        X1 : array_like, shape (n1, d)
        X2 : array_like, shape (n2, d)
        sigma_w2 : float
            Read-in prior variance times d.
        sigma_a2 : float
            Read-out prior variance times N.

        Returns
        -------
        ndarray, shape (n1, n2)
        """
        X1 = np.atleast_2d(np.asarray(X1, float))
        X2 = np.atleast_2d(np.asarray(X2, float))
        if X1.shape[-1] != self.d or X2.shape[-1] != self.d:
            raise ParameterError(f"inputs must have d = {self.d} columns; got {X1.shape} and {X2.shape}")
        s = sigma_w2 / self.d
        a = s * (X1 @ X2.T)
        n1 = s * np.einsum("ij,ij->i", X1, X1)
        n2 = s * np.einsum("ij,ij->i", X2, X2)
        arg = 2.0 * a / np.sqrt(np.outer(1.0 + 2.0 * n1, 1.0 + 2.0 * n2))
        return sigma_a2 * (2.0 / math.pi) * np.arcsin(np.clip(arg, -1.0, 1.0))

    @staticmethod
    def erf_projection(q, sigma_w2: float, k: int):
        r"""I_k(q) = E_x[Hhat_k(w*.x) erf(w.x)] at overlap q and |w|^2 = sigma_w2 + q^2:

        .. math:: I_k(q) = c_k\,\big(q/\sqrt{1 + 2\sigma_w^2 + 2q^2}\big)^k

        (:func:`erf_hermite_coefficient`; zero for even k).
        """
        q = np.asarray(q, float)
        return erf_hermite_coefficient(k) * (q / np.sqrt(1.0 + 2.0 * (sigma_w2 + q * q))) ** k

    @staticmethod
    def I1(q, sigma_w2: float):
        r"""I_1(q) = (2/sqrt(pi)) q / sqrt(D), D = 1 + 2 (sigma_w2 + q^2)."""
        q = np.asarray(q, float)
        return _TWO_OVER_SQRT_PI * q / np.sqrt(1.0 + 2.0 * (sigma_w2 + q * q))

    @staticmethod
    def I3(q, sigma_w2: float):
        r"""I_3(q) = -(4/sqrt(6 pi)) q^3 / D^{3/2}, D = 1 + 2 (sigma_w2 + q^2)."""
        q = np.asarray(q, float)
        D = 1.0 + 2.0 * (sigma_w2 + q * q)
        return -4.0 / math.sqrt(6.0 * math.pi) * q ** 3 / D ** 1.5
