"""Numba kernels of the square-activation network on modular addition and shared helpers
(histograms, MALA vector algebra). Deterministic: fixed work blocks, fixed reduction order.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_FM = {"contract", "nsz", "arcp"}
_FM_RED = {"contract", "nsz", "arcp", "reassoc"}


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _sq_row(u, v, out):
    for i in range(out.shape[0]):
        z = u[i] + v[i]
        out[i] = z * z


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def modadd_features(wT, Phi):
    """Phi[s, n*P + m, i] = (w[s, i, n] + w[s, i, P + m])^2 from wT = w.transpose(0, 2, 1)
    (shape (S, 2P, N))."""
    S, twoP, N = wT.shape
    P = twoP // 2
    for job in prange(S * P):
        s = job // P
        n = job - s * P
        for m in range(P):
            _sq_row(wT[s, n], wT[s, P + m], Phi[s, n * P + m])


@njit(fastmath=_FM, error_model="numpy", cache=True)
def _acc_row(u, v, g, acc):
    for i in range(acc.shape[0]):
        acc[i] += (u[i] + v[i]) * g[i]


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def modadd_wgrad(wT, RA, scale, gT):
    """Read-in gradient of the data term.

    dU/dw[s, i, n]     = scale * sum_m 2 z_{nm,i} RA[s, nm, i]
    dU/dw[s, i, P + m] = scale * sum_n 2 z_{nm,i} RA[s, nm, i]
    with z = w_n + w~_m; written to gT (S, 2P, N) (transposed layout).
    """
    S, twoP, N = wT.shape
    P = twoP // 2
    for job in prange(S * twoP):
        s = job // twoP
        j = job - s * twoP
        acc = np.zeros(N, gT.dtype)
        if j < P:
            for m in range(P):
                _acc_row(wT[s, j], wT[s, P + m], RA[s, j * P + m], acc)
        else:
            m = j - P
            for n in range(P):
                _acc_row(wT[s, n], wT[s, P + m], RA[s, n * P + m], acc)
        c = 2.0 * scale
        for i in range(N):
            gT[s, j, i] = acc[i] * c


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def modadd_features_pairs(wT, pair_n, pair_m, Phi):
    """Features of a subset of the pairs (a gather over pair indices):
    Phi[s, r, i] = (w[s, i, pair_n[r]] + w[s, i, P + pair_m[r]])^2 for r = 0..R-1, from
    wT = w.transpose(0, 2, 1) (shape (S, 2P, N)); Phi has shape (S, R, N)."""
    S, twoP, N = wT.shape
    P = twoP // 2
    R = pair_n.shape[0]
    for job in prange(S * R):
        s = job // R
        r = job - s * R
        _sq_row(wT[s, pair_n[r]], wT[s, P + pair_m[r]], Phi[s, r])


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def modadd_wgrad_pairs(wT, group_ptr, group_rows, group_partner, RA, scale, gT):
    """Read-in gradient of the data term summed over a subset of the pairs.

    Every read-in coordinate j = 0..2P-1 (j < P: token n = j of the first half; j >= P:
    token m = j - P of the second) owns the rows ``group_rows[group_ptr[j]:group_ptr[j + 1]]``
    of the pairs that contain it, in increasing row order, and ``group_partner`` holds the
    other coordinate of each of those pairs (P + m for j = n, n for j = P + m):

    dU/dw[s, i, j] = scale * sum_{k in group j} 2 (w[s, i, j] + w[s, i, partner_k]) RA[s, row_k, i]

    written to gT (S, 2P, N) (transposed layout). With every pair in the subset, ordered
    n * P + m, the sums run in the order of :func:`modadd_wgrad`.
    """
    S, twoP, N = wT.shape
    for job in prange(S * twoP):
        s = job // twoP
        j = job - s * twoP
        acc = np.zeros(N, gT.dtype)
        for k in range(group_ptr[j], group_ptr[j + 1]):
            _acc_row(wT[s, j], wT[s, group_partner[k]], RA[s, group_rows[k]], acc)
        c = 2.0 * scale
        for i in range(N):
            gT[s, j, i] = acc[i] * c


# --------------------------------------------------------------------------------------
# MALA vector algebra on (S, L) views of one parameter group (float64 accumulation).
# Serial on purpose: O(dimension) work, and every parallel region is a barrier that costs
# far more than the work when the machine is shared.
# --------------------------------------------------------------------------------------
@njit(fastmath=_FM_RED, error_model="numpy", cache=True, nogil=True)
def propose(x, g, noise, off, c1, c2, out, xi_sq):
    """out = x - c1[s] g + c2[s] xi, xi = noise[s, off:off + L] (float64);
    xi_sq[s] += sum xi^2."""
    S, L = x.shape
    for s in range(S):
        a = c1[s]
        b = c2[s]
        q = 0.0
        for k in range(L):
            xi = noise[s, off + k]
            out[s, k] = x[s, k] - a * g[s, k] + b * xi
            q += xi * xi
        xi_sq[s] += q


@njit(fastmath=_FM_RED, error_model="numpy", cache=True, nogil=True)
def reverse_sq(x, prop, gprop, c1, acc):
    """acc[s] += sum (x - prop + c1[s] gprop)^2 (the reverse move's squared displacement)."""
    S, L = x.shape
    for s in range(S):
        a = c1[s]
        q = 0.0
        for k in range(L):
            v = x[s, k] - prop[s, k] + a * gprop[s, k]
            q += v * v
        acc[s] += q


@njit(fastmath=_FM_RED, error_model="numpy", cache=True, nogil=True)
def prior_add(x, g, inv_var, U):
    """U[s] += sum x^2 inv_var / 2;  g += inv_var x (the Gaussian prior of one group)."""
    S, L = x.shape
    for s in range(S):
        p = 0.0
        for k in range(L):
            v = x[s, k]
            p += v * v
            g[s, k] += inv_var * v
        U[s] += 0.5 * inv_var * p


@njit(cache=True, nogil=True)
def accept_rows(x, prop, accept):
    """x[s] = prop[s] where accept[s]."""
    S, L = x.shape
    for s in range(S):
        if accept[s]:
            for k in range(L):
                x[s, k] = prop[s, k]


# --------------------------------------------------------------------------------------
# histograms with uniform bins: counts[..., 0] underflow, counts[..., nb + 1] overflow
# --------------------------------------------------------------------------------------
@njit(cache=True)
def hist_uniform(vals, lo, inv_width, nb, counts):
    """counts[r, 1 + floor((v - lo) * inv_width)] += 1 for every v in vals[r] (rows r);
    NaN counts as overflow."""
    R, L = vals.shape
    for r in range(R):
        for k in range(L):
            v = vals[r, k]
            t = (v - lo) * inv_width
            if t != t:
                counts[r, nb + 1] += 1
            elif t < 0.0:
                counts[r, 0] += 1
            elif t >= nb:
                counts[r, nb + 1] += 1
            else:
                counts[r, 1 + int(t)] += 1


def _serial(fn):
    return njit(fastmath=_FM, error_model="numpy", cache=True)(fn.py_func)


modadd_features_serial = _serial(modadd_features)
modadd_wgrad_serial = _serial(modadd_wgrad)
modadd_features_pairs_serial = _serial(modadd_features_pairs)
modadd_wgrad_pairs_serial = _serial(modadd_wgrad_pairs)
