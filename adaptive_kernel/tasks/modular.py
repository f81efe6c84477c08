r"""Modular arithmetic learned by a square-activation network (Gromov's setting).

Data
----
Pairs (n, m) of residues mod P, rows ordered ``n * P + m`` (for ``div`` the rows with
m = 0 are left out, the others keep that order). Input of a pair: the "two-hot" vector
x_nm in R^{2P}, 1 at n and at P + m. Target: the residue c = n o m of the operation,
one-hot in R^P, centred by default,

.. math:: y_p(x_{nm}) = \delta_{p,\,c(n,m)} - 1/P .

Operations (:data:`OPERATIONS`; ``operation=`` of :class:`ModularArithmetic`):

==========  ====================  =========================================================
name        c(n, m) mod P         notes
==========  ====================  =========================================================
add         n + m                 Gromov's and the adaptive-kernel paper's task (the default)
sub         n - m
mul         n m
div         n m^{-1}              P prime; the P pairs with m = 0 are excluded
pow:A,B     n^A + m^B             Gromov's f(n) + g(m) family (A, B >= 1); add = pow:1,1
==========  ====================  =========================================================

P need not be prime except for ``div``.

Student
-------
Mean-field two-layer network with square activation, one output per residue,

.. math:: f_p(x) = \sum_{i=1}^N a_{p,i}\,(w_i\cdot x)^2,\qquad
          w_i \sim \mathcal N(0, I_{2P}),\quad a_{p,i}\sim\mathcal N(0, \sigma_a^2/N).

(Gromov's eq. 4 writes f = W2 (W1 x)^2 / (D N) with unit-variance weights; a trainer that
uses his scaling converts.)

Fourier convention (the one of the package)
-------------------------------------------
A neuron's weights w = (w_n)_{n<P} ++ (wt_m)_{m<P} have amplitudes

.. math:: w_n = \sum_k W_k e^{-2\pi i kn/P},\qquad \tilde w_m = \sum_k V_k e^{-2\pi i km/P},

i.e. W = ifft(first half), V = ifft(second half) (:func:`fourier_amplitudes`), so that
W_{-k} = conj(W_k) for real w, |w|^2 = P sum_k (|W_k|^2 + |V_k|^2) (Parseval), and under the
prior w ~ N(0, I) every E|W_k|^2 = 1/P. The order parameter of the theory is
Phi = |W_k|^2 (Psi = |V_k|^2).

NNGP kernel
-----------
For read-in weights w ~ N(0, I) (Isserlis),

.. math:: Q(x, x') = \sigma_a^2\, E_w[(w\cdot x)^2 (w\cdot x')^2]
          = \sigma_a^2\,[\,|x|^2 |x'|^2 + 2 (x\cdot x')^2\,]

per output channel (:meth:`ModularArithmetic.nngp_kernel`). On distinct two-hot pairs
|x|^2 = 2 and x.x' = d_nn' + d_mm', so

.. math:: Q = \sigma_a^2\,[\,4 J + 2 D_n + 2 D_m + 4 I\,],

J all ones, (D_n)_{ij} = delta(n_i, n_j), (D_m)_{ij} = delta(m_i, m_j). On all P^2 pairs the
plane waves e_kl(n, m) = exp(2 pi i (kn + lm)/P)/P diagonalise every term (J e_kl = P^2 d_k0
d_l0 e_kl, D_n e_kl = P d_l0 e_kl, D_m e_kl = P d_k0 e_kl), leaving three distinct eigenvalues
(:meth:`ModularArithmetic.nngp_sectors`):

=====================  =========================  ===============
sector                 eigenvalue / sigma_a2      multiplicity
=====================  =========================  ===============
(0, 0)                 4 P^2 + 4 P + 4            1
(k, 0), (0, k), k!=0   2 P + 4                    2 (P - 1)
(k, l), k, l != 0      4                          (P - 1)^2
=====================  =========================  ===============

Target eigenvalue
-----------------
The centred target of ``add`` is sum_{k!=0} of the modes (k, k) (delta_{p,n+m} - 1/P =
P^{-1} sum_{k!=0} e^{2 pi i k (n+m-p)/P}): it is an eigenvector with eigenvalue
4 sigma_a2, the value the theory uses. In general the Rayleigh quotient over all channels,
tr(Y^T Q Y)/tr(Y^T Y) (:meth:`ModularArithmetic.target_nngp_eigenvalue`), for an operation
c = f(n) + g(m) on the full grid is

.. math:: \lambda_y/\sigma_a^2 = 4 + \frac{4\sum_p S_p^2 + 2P\,(V_f + V_g)}{P(P-1)},

N_f(c) = #{n : f(n) = c}, V_f = sum_c N_f(c)^2 - P (zero iff f is a bijection),
S_p = (N_f * N_g)(p) - P (cyclic convolution). Consequences (checked by brute force in
``tests/tasks/test_modular_task.py``):

* ``add``, ``sub``, and ``pow:A,B`` with n -> n^A and m -> m^B bijections mod P (for prime P:
  gcd(A, P-1) = gcd(B, P-1) = 1): the target is an eigenvector, eigenvalue 4 sigma_a2.
  ``sub`` lives in the modes (k, -k), with the same |W_k V_{-k}|^2 = X_k Y_k as ``add``; the
  bijective ``pow`` targets are ``add`` after relabelling the tokens
  (:meth:`ModularArithmetic.addition_relabelling`) and spread over all (k, l), k, l != 0.
* ``pow:2,2`` (odd prime P): V_f = V_g = P - 1, sum_p S_p^2 = P (P - 1), so 12 sigma_a2, not
  an eigenvalue (the target has (0, 0) and (k, 0)/(0, k) components).
* ``mul`` (prime P): the row n = 0 and the column m = 0 are constant (c = 0); 12 sigma_a2
  for every prime P, not an eigenvalue (sector weights 1/P^2, 2 (P-1)/P^2, (P-1)^2/P^2).
* ``div`` (P (P - 1) pairs, not the full grid): 6 sigma_a2, not an eigenvalue of the kernel
  on its pairs.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ParameterError
from ..validation import Constraint
from ..validation import _is_prime as _validation_is_prime
from .base import Split, Task, make_split


# ---------------------------------------------------------------------------------------
# operations
# ---------------------------------------------------------------------------------------
def _powmod(base: np.ndarray, e: int, P: int) -> np.ndarray:
    """base^e mod P elementwise (square and multiply on int64; P^2 must fit in int64)."""
    base = np.asarray(base, dtype=np.int64) % P
    out = np.ones_like(base) % P
    while e:
        if e & 1:
            out = out * base % P
        base = base * base % P
        e >>= 1
    return out


@dataclass(frozen=True)
class Operation:
    """One binary operation c(n, m) mod P.

    Attributes
    ----------
    name : str
        Canonical name (``"add"``, ``"pow:2,2"``, ...).
    formula : str
        c(n, m), e.g. ``"n + m"``.
    label : str
        Human name, e.g. ``"modular addition"``.
    description : str
        One line.
    kind : str
        ``add``, ``sub``, ``mul``, ``div`` or ``pow``.
    exponents : tuple of int
        (A, B) of ``pow:A,B`` (``None`` for the others).
    needs_prime : bool
        P must be prime (``div``).
    excludes_m_zero : bool
        Pairs with m = 0 are not part of the data (``div``).
    """

    name: str
    formula: str
    label: str
    description: str
    kind: str
    exponents: tuple | None = None
    needs_prime: bool = False
    excludes_m_zero: bool = False

    def apply(self, n, m, P: int) -> np.ndarray:
        """c(n, m) mod P for integer arrays n, m (int64 result in 0 .. P - 1)."""
        n = np.asarray(n, dtype=np.int64)
        m = np.asarray(m, dtype=np.int64)
        if self.kind == "add":
            return (n + m) % P
        if self.kind == "sub":
            return (n - m) % P
        if self.kind == "mul":
            return (n * m) % P
        if self.kind == "div":
            if np.any(m % P == 0):
                raise ParameterError("operation 'div' is undefined for m = 0")
            return n * _powmod(m, P - 2, P) % P  # Fermat: m^-1 = m^(P-2) mod prime P
        A, B = self.exponents
        return (_powmod(n, A, P) + _powmod(m, B, P)) % P


def _pow_operation(A: int, B: int) -> Operation:
    return Operation(f"pow:{A},{B}", f"n^{A} + m^{B}", f"modular n^{A} + m^{B}",
                     f"Gromov's f(n) + g(m) family with f(n) = n^{A}, g(m) = m^{B}", "pow", (A, B))


#: The operations: name -> :class:`Operation`. ``pow:A,B`` is the template of the family
#: (any A, B >= 1, parsed by :func:`parse_operation`).
OPERATIONS = {
    "add": Operation("add", "n + m", "modular addition",
                     "c = n + m mod P (Gromov's task; the adaptive-kernel theory's target)", "add"),
    "sub": Operation("sub", "n - m", "modular subtraction", "c = n - m mod P", "sub"),
    "mul": Operation("mul", "n m", "modular multiplication", "c = n m mod P", "mul"),
    "div": Operation("div", "n / m", "modular division",
                     "c = n m^-1 mod P; P prime, pairs with m = 0 excluded", "div",
                     needs_prime=True, excludes_m_zero=True),
    "pow:A,B": Operation("pow:A,B", "n^A + m^B", "modular n^A + m^B",
                         "c = n^A + m^B mod P, A, B positive integers (Gromov's f(n) + g(m) "
                         "family; add = pow:1,1)", "pow"),
}

_POW_RE = re.compile(r"pow:\s*(\d+)\s*,\s*(\d+)")


def _allowed_operations() -> str:
    return ", ".join(OPERATIONS) + " (A, B positive integers)"


def parse_operation(operation, name: str = "operation") -> Operation:
    """The :class:`Operation` named by ``operation``.

    Parameters
    ----------
    operation : str or Operation
        ``add``, ``sub``, ``mul``, ``div`` or ``pow:A,B`` with integers A, B >= 1 (spaces
        around the numbers are ignored).
    name : str
        Parameter name used in the error message.

    Raises
    ------
    ParameterError
        Naming ``name``, the allowed values and the value received.
    """
    if isinstance(operation, Operation):
        return operation
    if isinstance(operation, str):
        text = operation.strip()
        if text in OPERATIONS and text != "pow:A,B":
            return OPERATIONS[text]
        mt = _POW_RE.fullmatch(text)
        if mt and int(mt.group(1)) >= 1 and int(mt.group(2)) >= 1:
            return _pow_operation(int(mt.group(1)), int(mt.group(2)))
    raise ParameterError(f"{name} must be one of {_allowed_operations()}; got {operation!r}")


class _OperationConstraint(Constraint):
    """A :class:`~adaptive_kernel.validation.Constraint` for ``operation`` (an open family:
    ``pow:A,B``); ``check`` returns the canonical name."""

    def describe(self) -> str:
        return "one of " + _allowed_operations()

    def check(self, name, value):
        return parse_operation(value, name).name


# ---------------------------------------------------------------------------------------
# Fourier convention
# ---------------------------------------------------------------------------------------
def fourier_amplitudes(w):
    r"""Fourier amplitudes (W_k, V_k) of read-in weights, the package's one convention.

    .. math:: w_n = \sum_k W_k e^{-2\pi i kn/P},\qquad \tilde w_m = \sum_k V_k e^{-2\pi i km/P},

    i.e. ``W = ifft(w[..., :P])``, ``V = ifft(w[..., P:])``; |w|^2 = P sum_k (|W_k|^2 + |V_k|^2)
    and, for w ~ N(0, I), E|W_k|^2 = 1/P.

    Parameters
    ----------
    w : array_like, shape (..., 2P)
        Weights of one or more neurons (first half: the n token, second half: the m token).

    Returns
    -------
    W, V : ndarray of complex, shape (..., P)
    """
    w = np.asarray(w)
    if w.shape[-1] % 2:
        raise ParameterError(f"read-in weights must have an even last axis 2P; got shape {w.shape}")
    P = w.shape[-1] // 2
    return np.fft.ifft(w[..., :P], axis=-1), np.fft.ifft(w[..., P:], axis=-1)


def weights_from_fourier(W, V):
    r"""Inverse of :func:`fourier_amplitudes`: w = (fft(W), fft(V)) (real part).

    .. math:: w_n = \sum_k W_k e^{-2\pi i kn/P}

    Parameters
    ----------
    W, V : array_like, shape (..., P)
        Amplitudes with W_{-k} = conj(W_k) (the imaginary part of the result, zero for such
        amplitudes, is dropped).

    Returns
    -------
    ndarray, shape (..., 2P)
    """
    return np.concatenate([np.fft.fft(W, axis=-1).real, np.fft.fft(V, axis=-1).real], axis=-1)


class KernelSector(NamedTuple):
    """One eigenspace of the NNGP kernel on all P^2 pairs (:meth:`ModularArithmetic.nngp_sectors`)."""

    #: ``"00"``, ``"k0"`` or ``"kl"``.
    name: str
    #: The plane waves e_kl(n, m) = exp(2 pi i (kn + lm)/P)/P spanning it.
    modes: str
    eigenvalue: float
    multiplicity: int


# ---------------------------------------------------------------------------------------
# the task
# ---------------------------------------------------------------------------------------
class ModularArithmetic(Task):
    r"""Modular arithmetic c = n o m mod P with a square-activation student (module docstring).

    Parameters
    ----------
    P : int
        Modulus (>= 2; prime for ``div``).
    operation : str
        ``add`` (default), ``sub``, ``mul``, ``div`` or ``pow:A,B`` (:data:`OPERATIONS`).

    Attributes
    ----------
    P : int
    operation : str
        Canonical operation name.
    op : Operation
    label : str
        The operation's human name (``"modular addition"``, ...); the class attribute is the
        generic ``"modular arithmetic"``.

    Raises
    ------
    ParameterError
        Unknown operation, P not an integer >= 2, or P not prime for ``div``.
    """

    name = "modadd"
    label = "modular arithmetic"
    parameters = {
        "P": Constraint("int", low=2, doc="modulus; inputs are two-hot vectors in R^{2P} (prime for div)"),
        "operation": _OperationConstraint("choice", choices=tuple(OPERATIONS),
                                          doc="the operation c(n, m) mod P learned"),
    }
    defaults = {"operation": "add"}
    example = {"P": 7, "operation": "add"}
    student = {
        "activation": "square",
        "parametrisation": "mean-field",
        "network": "f_p(x) = sum_i a_{p,i} (w_i . x)^2, i = 1 .. N, p = 0 .. P-1",
        "prior": "w_i ~ N(0, I_{2P}) (s_w2 = 1), a_{p,i} ~ N(0, sigma_a2/N)",
    }
    order_parameters = {
        "residual": "r: residual fraction of the target, sigma2 tbar = -r y (r = 1: nothing learned)",
        "droplet_fraction": "f: fraction of read-in neurons in the droplet basin (Phi, Psi beyond "
                            "the barrier of the Phi = 0 minimum)",
        "phi": "Phi = |W_k|^2: squared Fourier amplitude, frequency k != 0, of a neuron's n-half "
               "(Psi = |V_k|^2 of its m-half; prior mean 1/P)",
    }
    order_parameter_labels = {
        "residual": r"residual $r$",
        "droplet_fraction": r"droplet fraction $f$",
        "phi": r"$\Phi=|W_k|^2$",
    }

    def __init__(self, P: int, operation: str = "add"):
        self.P = self.parameters["P"].check("P", P)
        self.op = parse_operation(operation)
        self.operation = self.op.name
        if self.op.needs_prime and not _validation_is_prime(self.P):
            raise ParameterError(f"P must be prime for operation {self.operation!r} (m^-1 mod P must "
                                 f"exist for every m != 0); got {self.P}")
        self.label = self.op.label
        self._cache = None

    def _data(self):
        """(pairs, labels), built on first use (read-only int64 arrays)."""
        if self._cache is None:
            n, m = np.divmod(np.arange(self.P * self.P), self.P)
            if self.op.excludes_m_zero:
                keep = m != 0
                n, m = n[keep], m[keep]
            pairs = np.stack([n, m], axis=1).astype(np.int64)
            labels = self.op.apply(n, m, self.P).astype(np.int64)
            pairs.setflags(write=False)
            labels.setflags(write=False)
            self._cache = (pairs, labels)
        return self._cache

    # -- data ----------------------------------------------------------------------------
    @property
    def n_pairs(self) -> int:
        """Number of data points: P^2 (P (P - 1) for ``div``)."""
        return self.P * (self.P - 1) if self.op.excludes_m_zero else self.P * self.P

    @property
    def full_grid(self) -> bool:
        """Whether the data are all P^2 pairs (every operation but ``div``)."""
        return self.n_pairs == self.P * self.P

    def pairs(self) -> np.ndarray:
        """(n_pairs, 2) int64 array of (n, m), rows ordered n * P + m (read-only)."""
        return self._data()[0]

    def labels(self) -> np.ndarray:
        """(n_pairs,) int64 array of the result c(n, m) mod P of each pair (read-only)."""
        return self._data()[1]

    def _rows(self, idx):
        pairs, labels = self._data()
        if idx is None:
            return pairs, labels
        return pairs[idx].reshape(-1, 2), labels[idx].reshape(-1)

    def inputs(self, idx=None) -> np.ndarray:
        """Two-hot inputs x_nm in R^{2P}: 1 at n and at P + m.

        Parameters
        ----------
        idx : array_like of int, slice or None
            Rows of :meth:`pairs` (e.g. ``split.train``); None: all.

        Returns
        -------
        ndarray, shape (rows, 2P), float64
        """
        pr, _ = self._rows(idx)
        rows = np.arange(pr.shape[0])
        X = np.zeros((pr.shape[0], 2 * self.P))
        X[rows, pr[:, 0]] = 1.0
        X[rows, self.P + pr[:, 1]] = 1.0
        return X

    def targets(self, idx=None, centered: bool = True) -> np.ndarray:
        """Targets y_p = delta_{p, c(n, m)} - 1/P (``centered``) or the plain one-hot.

        Parameters
        ----------
        idx : array_like of int, slice or None
            Rows of :meth:`pairs`; None: all.
        centered : bool
            Subtract 1/P (the theory's target; each row then sums to zero).

        Returns
        -------
        ndarray, shape (rows, P), float64
        """
        _, c = self._rows(idx)
        rows = np.arange(c.shape[0])
        if centered:
            Y = -np.full((c.shape[0], self.P), 1.0 / self.P)
        else:
            Y = np.zeros((c.shape[0], self.P))
        Y[rows, c] += 1.0
        return Y

    def split(self, train_fraction: float, seed: int) -> Split:
        """Seeded train/test split of the rows of :meth:`pairs` (:func:`.base.make_split`):
        ``floor(train_fraction * n_pairs + 1/2)`` random rows (at least 1; at most
        n_pairs - 1 below fraction 1) train, the rest test. Depends only on
        (n_pairs, train_fraction, seed)."""
        return make_split(self.n_pairs, train_fraction, seed)

    # -- student ---------------------------------------------------------------------------
    @staticmethod
    def activation(z):
        """Square activation phi(z) = z^2."""
        return z * z

    @staticmethod
    def activation_derivative(z):
        """phi'(z) = 2 z."""
        return 2.0 * z

    fourier_amplitudes = staticmethod(fourier_amplitudes)
    weights_from_fourier = staticmethod(weights_from_fourier)

    # -- kernels ---------------------------------------------------------------------------
    def nngp_kernel(self, X1, X2, sigma_a2: float = 1.0) -> np.ndarray:
        r"""NNGP kernel of the square-activation student, per output channel.

        .. math:: Q(x, x') = \sigma_a^2\,E_{w\sim N(0,I)}[(w\cdot x)^2 (w\cdot x')^2]
                  = \sigma_a^2\,[\,|x|^2|x'|^2 + 2 (x\cdot x')^2\,]

        Parameters
        ----------
        X1 : array_like, shape (n1, 2P)
        X2 : array_like, shape (n2, 2P)
            Any inputs (not only two-hot ones).
        sigma_a2 : float
            Read-out prior variance times N.

        Returns
        -------
        ndarray, shape (n1, n2)
        """
        X1 = np.atleast_2d(np.asarray(X1, float))
        X2 = np.atleast_2d(np.asarray(X2, float))
        G = X1 @ X2.T
        s1 = np.einsum("ij,ij->i", X1, X1)
        s2 = np.einsum("ij,ij->i", X2, X2)
        return sigma_a2 * (np.outer(s1, s2) + 2.0 * G * G)

    def nngp_apply(self, V, sigma_a2: float = 1.0, idx=None) -> np.ndarray:
        r"""Q V for the NNGP kernel on the task's pairs, without forming Q.

        On distinct two-hot pairs, Q = sigma_a2 [4 J + 2 D_n + 2 D_m + 4 I] (module
        docstring), so

        .. math:: (QV)_i = \sigma_a^2\,[\,4\textstyle\sum_j V_j + 2 R_{n_i} + 2 C_{m_i}
                  + 4 V_i\,],

        R_n (C_m) the sum of V over the rows with that n (m). O(rows) work.

        Parameters
        ----------
        V : array_like, shape (rows,) or (rows, channels)
        sigma_a2 : float
        idx : array_like of int or None
            Rows of :meth:`pairs` that V lives on (None: all).

        Returns
        -------
        ndarray, the shape of V
        """
        pr, _ = self._rows(idx)
        V = np.asarray(V, float)
        V2 = V.reshape(pr.shape[0], -1)
        R = np.zeros((self.P, V2.shape[1]))
        C = np.zeros((self.P, V2.shape[1]))
        np.add.at(R, pr[:, 0], V2)
        np.add.at(C, pr[:, 1], V2)
        out = 4.0 * V2.sum(axis=0) + 2.0 * R[pr[:, 0]] + 2.0 * C[pr[:, 1]] + 4.0 * V2
        return (sigma_a2 * out).reshape(V.shape)

    def nngp_sectors(self, sigma_a2: float = 1.0) -> tuple:
        r"""The three eigenspaces of the NNGP kernel on all P^2 pairs.

        With e_kl(n, m) = exp(2 pi i (kn + lm)/P)/P,
        Q e_kl = sigma_a2 [4 P^2 d_k0 d_l0 + 2 P d_l0 + 2 P d_k0 + 4] e_kl:

        * ``"00"``: (0, 0), sigma_a2 (4 P^2 + 4 P + 4), multiplicity 1;
        * ``"k0"``: (k, 0) and (0, k), k != 0, sigma_a2 (2 P + 4), multiplicity 2 (P - 1);
        * ``"kl"``: (k, l), k, l != 0, 4 sigma_a2, multiplicity (P - 1)^2.

        They describe the full grid whatever the operation (``div``'s data leave out the
        pairs with m = 0, whose kernel is not diagonal in e_kl).

        Returns
        -------
        tuple of KernelSector
        """
        P = self.P
        return (
            KernelSector("00", "(0, 0)", sigma_a2 * (4.0 * P * P + 4.0 * P + 4.0), 1),
            KernelSector("k0", "(k, 0) and (0, k), k != 0", sigma_a2 * (2.0 * P + 4.0), 2 * (P - 1)),
            KernelSector("kl", "(k, l), k, l != 0", sigma_a2 * 4.0, (P - 1) ** 2),
        )

    def _target_sums(self):
        """Sums of the centred target over the task's pairs, from the labels (O(P^2) memory):
        R[n, p] = sum_m y_p(n, m), C[m, p] = sum_n y_p(n, m), S[p] = sum_nm y_p(n, m) and
        |Y|^2 = n_pairs (1 - 1/P)."""
        P = self.P
        pr, c = self._data()
        n, m = pr[:, 0], pr[:, 1]
        R = (np.bincount(n * P + c, minlength=P * P).reshape(P, P)
             - np.bincount(n, minlength=P)[:, None] / P)
        C = (np.bincount(m * P + c, minlength=P * P).reshape(P, P)
             - np.bincount(m, minlength=P)[:, None] / P)
        S = np.bincount(c, minlength=P) - c.size / P
        return R, C, S, c.size * (1.0 - 1.0 / P)

    def target_sector_weights(self) -> dict:
        r"""Fraction of the centred target's squared norm in each NNGP sector.

        With Yhat_p(k, l) = sum_nm y_p(n, m) e^{-2 pi i (kn + lm)/P} (Parseval:
        sum_kl |Yhat_p|^2 = P^2 sum_nm y_p^2), R, C, S the row, column and total sums of the
        target,

        .. math:: w_{00} = \frac{\sum_p S_p^2}{P^2 |Y|^2},\quad
                  w_{k0} = \frac{P\sum_{n,p} R_{np}^2 + P\sum_{m,p} C_{mp}^2 - 2\sum_p S_p^2}
                  {P^2 |Y|^2},\quad w_{kl} = 1 - w_{00} - w_{k0}.

        The target is an NNGP eigenvector iff one weight is 1; ``add`` and ``sub`` have
        ``kl`` = 1 (in the modes (k, k) resp. (k, -k)).

        Returns
        -------
        dict
            ``{"00": w, "k0": w, "kl": w}`` (sums to 1).

        Raises
        ------
        ParameterError
            For ``div`` (its data are not the full P^2 grid).
        """
        if not self.full_grid:
            raise ParameterError(f"target sector weights are defined on the full P^2 grid; operation "
                                 f"{self.operation!r} leaves out the pairs with m = 0")
        P = self.P
        R, C, S, YY = self._target_sums()
        total = P * P * YY
        s00 = float(np.sum(S * S))
        sR, sC = P * float(np.sum(R * R)), P * float(np.sum(C * C))
        return {"00": s00 / total, "k0": (sR + sC - 2.0 * s00) / total,
                "kl": (total - sR - sC + s00) / total}

    def target_nngp_eigenvalue(self, sigma_a2: float = 1.0) -> float:
        r"""Rayleigh quotient of the NNGP kernel on the centred target, all channels together:

        .. math:: \lambda_y = \frac{\mathrm{tr}(Y^T Q Y)}{\mathrm{tr}(Y^T Y)}
                  = \sigma_a^2\,\frac{4\sum_p S_p^2 + 2\sum_{n,p} R_{np}^2 + 2\sum_{m,p} C_{mp}^2
                  + 4|Y|^2}{|Y|^2}

        over the task's pairs (Q = sigma_a2 [4 J + 2 D_n + 2 D_m + 4 I]; R, C, S the row,
        column and total sums of the target, |Y|^2 = n_pairs (1 - 1/P)). Module docstring:
        4 sigma_a2 for add, sub and bijective pow; 12 sigma_a2 for mul (prime P) and pow:2,2;
        6 sigma_a2 for div. It is a kernel eigenvalue only when
        :meth:`target_is_nngp_eigenvector`; on the full grid it equals sum_s w_s lambda_s over
        :meth:`nngp_sectors` and :meth:`target_sector_weights`.
        """
        R, C, S, YY = self._target_sums()
        num = 4.0 * np.sum(S * S) + 2.0 * np.sum(R * R) + 2.0 * np.sum(C * C) + 4.0 * YY
        return float(sigma_a2 * num / YY)

    def target_is_nngp_eigenvector(self, rtol: float = 1e-10) -> bool:
        """Whether Q Y = lambda_y Y for the centred target Y (every channel), to ``rtol``
        relative in the Frobenius norm (computed in row blocks, O(P^2) memory)."""
        P = self.P
        R, C, S, YY = self._target_sums()
        lam = self.target_nngp_eigenvalue(1.0)
        pr, c = self._data()
        res2 = 0.0
        for a in range(0, c.size, 4096):
            n, m, cc = pr[a:a + 4096, 0], pr[a:a + 4096, 1], c[a:a + 4096]
            Y = -np.full((cc.size, P), 1.0 / P)
            Y[np.arange(cc.size), cc] += 1.0
            r = 4.0 * S + 2.0 * R[n] + 2.0 * C[m] + (4.0 - lam) * Y
            res2 += float(np.sum(r * r))
        return bool(math.sqrt(res2) <= rtol * lam * math.sqrt(YY))

    def addition_relabelling(self):
        """Token relabellings that turn the operation into addition, if there are any.

        Returns
        -------
        (f, g) or None
            int64 permutations of 0 .. P - 1 with ``labels() == (f[n] + g[m]) % P``:
            ``add`` (identity, identity), ``sub`` (identity, -m), ``pow:A,B`` when n -> n^A and
            m -> m^B are bijections mod P. None otherwise (``mul``, ``div``, non-bijective
            powers). Where it exists, the target is ``add``'s after permuting the n and the m
            tokens, so the network posterior without a Fourier-space regulariser is the same up
            to that permutation of the read-in weights; a regulariser written in the Fourier
            modes of the natural order (the theory's sextic Gamma) is not permutation
            invariant, except for ``sub`` (m -> -m maps V_k to V_{-k} = conj V_k).
        """
        P = self.P
        r = np.arange(P, dtype=np.int64)
        kind = self.op.kind
        if kind == "add":
            f, g = r, r.copy()
        elif kind == "sub":
            f, g = r, (-r) % P
        elif kind == "pow":
            A, B = self.op.exponents
            f, g = _powmod(r, A, P), _powmod(r, B, P)
            if len(np.unique(f)) != P or len(np.unique(g)) != P:
                return None
        else:
            return None
        return f, g
