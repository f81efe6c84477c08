"""Numba kernels of the Langevin simulations (the element-wise parts; matrix products go
to BLAS through :func:`numpy.matmul`).

Every kernel is deterministic: work is split into fixed blocks (never by thread count)
and partial sums are reduced in a fixed order, so a result does not depend on
``NUMBA_NUM_THREADS``, on how many ensemble members share a batch, or on ``--jobs``.

``erf_pair`` evaluates erf(z) and exp(-z^2) together with arithmetic only (no libm call),
so that the loops around it vectorise (AVX2/AVX-512): exp through Cody-Waite reduction,
a degree-13 polynomial and 2^-k assembled from its bits; erf through its Taylor series
for |z| < 1/2 and erf = 1 - exp(-z^2) erfcx(|z|) with a Chebyshev fit of erfcx in
t = 2/(2+|z|) on 1/2 <= |z| <= 6 (erf(z) = +-1 in double precision beyond). Absolute error
< 3e-15 against :func:`scipy.special.erf` (tests/test_langevin_kernels.py).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# fastmath without 'reassoc' (keeps Cody-Waite and the compensated parts intact) and
# without 'nnan'/'ninf' (non-finite values must propagate to the divergence checks)
_FM = {"contract", "nsz", "arcp"}
# reductions: reassociation lets LLVM vectorise them; deterministic for a given build
_FM_RED = {"contract", "nsz", "arcp", "reassoc"}

_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_TWO_OVER_SQRTPI = 1.1283791670955126

# Chebyshev coefficients of erfcx(x) in s = (t - 0.525)/0.275, t = 2/(2+x), 0.5 <= x <= 6
_C0, _C1, _C2, _C3 = 0.31578150037096786, 0.2582776233313893, 0.03843266692042729, 0.003200163366629497
_C4, _C5, _C6, _C7 = 1.973181145046126e-05, -2.110609497716119e-05, -4.4287600222513057e-07, 2.1010632949038066e-07
_C8, _C9, _C10, _C11 = -3.6942859095930153e-10, -2.5393267274440296e-09, 1.4344781577191176e-10, 2.6195886036697856e-11
_C12, _C13, _C14, _C15 = -4.2035624506659375e-12, -3.9425167304100466e-14, 7.333539378543761e-14, -7.154172705491331e-15
_C16, _C17 = -4.961531059411155e-16, 1.6735026592788918e-16


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def exp_neg(y):
    """exp(-y) for y >= 0 (0 beyond y = 708), arithmetic only."""
    y = min(y, 708.0)
    k = math.floor(y * _INV_LN2 + 0.5)
    r = (k * _LN2_HI - y) + k * _LN2_LO          # -y + k ln2, |r| <= ln2/2
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(k)
    s = 1.0
    s *= 0.5 if (ki & 1) else 1.0
    s *= 0.25 if (ki & 2) else 1.0
    s *= 0.0625 if (ki & 4) else 1.0
    s *= 0.00390625 if (ki & 8) else 1.0
    s *= 1.52587890625e-05 if (ki & 16) else 1.0
    s *= 2.3283064365386963e-10 if (ki & 32) else 1.0
    s *= 5.421010862427522e-20 if (ki & 64) else 1.0
    s *= 2.938735877055719e-39 if (ki & 128) else 1.0
    s *= 8.636168555094445e-78 if (ki & 256) else 1.0
    p *= 7.458340731200207e-155 if (ki & 512) else 1.0   # keep s normal: apply 2^-512 to p
    return p * s


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def _erf_taylor(x2):
    """sum_k (-1)^k x2^k / (k! (2k+1)), k = 0..12 (|x| < 1/2: error < 1e-17)."""
    p = 1.0 / (479001600.0 * 25.0)
    p = p * x2 - 1.0 / (39916800.0 * 23.0)
    p = p * x2 + 1.0 / (3628800.0 * 21.0)
    p = p * x2 - 1.0 / (362880.0 * 19.0)
    p = p * x2 + 1.0 / (40320.0 * 17.0)
    p = p * x2 - 1.0 / (5040.0 * 15.0)
    p = p * x2 + 1.0 / (720.0 * 13.0)
    p = p * x2 - 1.0 / (120.0 * 11.0)
    p = p * x2 + 1.0 / (24.0 * 9.0)
    p = p * x2 - 1.0 / (6.0 * 7.0)
    p = p * x2 + 1.0 / (2.0 * 5.0)
    p = p * x2 - 1.0 / 3.0
    p = p * x2 + 1.0
    return p


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def erf_pair(z):
    """(erf(z), exp(-z^2)) with arithmetic only (vectorisable)."""
    x = abs(z)
    e = exp_neg(x * x)
    # Taylor series, |x| < 1/2
    small = _TWO_OVER_SQRTPI * x * _erf_taylor(x * x)
    # erfcx Chebyshev fit, 1/2 <= x <= 6
    t = 2.0 / (2.0 + x)
    s = (t - 0.525) * (1.0 / 0.275)
    s2 = 2.0 * s
    b1 = 0.0
    b2 = 0.0
    b0 = _C17
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C16
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C15
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C14
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C13
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C12
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C11
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C10
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C9
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C8
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C7
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C6
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C5
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C4
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C3
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C2
    b2 = b1
    b1 = b0
    b0 = s2 * b1 - b2 + _C1
    cx = s * b0 - b1 + _C0
    large = 1.0 - e * cx
    v = small if x < 0.5 else large
    v = 1.0 if x > 6.0 else v
    return (v if z >= 0 else -v), e


# --------------------------------------------------------------------------------------
# cubic teacher, erf student:  f(x) = sum_i a_i erf(w_i . x)
# --------------------------------------------------------------------------------------
#: rows of the data matrix per work block (fixed: results never depend on thread count)
ROW_BLOCK = 32


@njit(fastmath=_FM_RED, error_model="numpy", cache=True)
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _erf_row(z, phi):
    """phi <- erf(z); z <- (2/sqrt(pi)) exp(-z^2)."""
    for i in range(z.shape[0]):
        v, e = erf_pair(z[i])
        phi[i] = v
        z[i] = e * _TWO_OVER_SQRTPI


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _erf_only_row(z, phi):
    for i in range(z.shape[0]):
        v, e = erf_pair(z[i])
        phi[i] = v


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _grad_row(z, phi, a, r, c, acc):
    """acc += phi r;  z <- z * c * a."""
    for i in range(z.shape[0]):
        acc[i] += phi[i] * r
        z[i] = z[i] * c * a[i]


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def cubic_data_term(Z, a, y, inv_sigma2, f, ga_part, loss_part):
    """Fused element-wise part of the erf network's data term and its gradient.

    Parameters
    ----------
    Z : (S, n, N) pre-activations w_i . x_mu; **overwritten** with
        G = (f_mu - y_mu) a_i erf'(z_mu,i) / sigma2, so that dU/dW = G^T X.
    a : (S, N) read-out weights.
    y : (S, n) targets.
    inv_sigma2 : float
    f : (S, n) out: network outputs.
    ga_part : (S, nblocks, N) out: per row block, sum_mu erf(z_mu,i) (f_mu - y_mu).
    loss_part : (S, nblocks) out: per row block, sum_mu (f_mu - y_mu)^2.
    """
    S, n, N = Z.shape
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for job in prange(S * nb):
        s = job // nb
        blk = job - s * nb
        r0 = blk * ROW_BLOCK
        r1 = min(n, r0 + ROW_BLOCK)
        phi = np.empty(N, Z.dtype)
        acc = np.zeros(N, ga_part.dtype)
        a_s = a[s]
        lsum = 0.0
        for mu in range(r0, r1):
            z = Z[s, mu]
            _erf_row(z, phi)
            fm = _dot(phi, a_s)
            f[s, mu] = fm
            r = fm - y[s, mu]
            lsum += r * r
            _grad_row(z, phi, a_s, r, r * inv_sigma2, acc)
        ga_part[s, blk, :] = acc
        loss_part[s, blk] = lsum


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def cubic_forward(Z, a, f):
    """f[s, mu] = sum_i a[s, i] erf(Z[s, mu, i]) (Z is not modified)."""
    S, n, N = Z.shape
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for job in prange(S * nb):
        s = job // nb
        blk = job - s * nb
        r0 = blk * ROW_BLOCK
        r1 = min(n, r0 + ROW_BLOCK)
        phi = np.empty(N, Z.dtype)
        for mu in range(r0, r1):
            _erf_only_row(Z[s, mu], phi)
            f[s, mu] = _dot(phi, a[s])


#: Below this many matrix elements per call, the serial twins are used: a parallel region
#: is a barrier, and on a shared machine a barrier costs more than small work.
PARALLEL_MIN_WORK = 400_000


def _serial(fn):
    return njit(fastmath=_FM, error_model="numpy", cache=True)(fn.py_func)


cubic_data_term_serial = _serial(cubic_data_term)
cubic_forward_serial = _serial(cubic_forward)
