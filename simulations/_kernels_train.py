r"""Numba kernels of the gradient-descent trainer (:mod:`simulations.training`).

The network's inputs are two-hot, x = e_n (+) e_{P+m}, so its first layer is a gather and the
gradient of that layer a scatter-add: with the read-in weights stored token-major,
``W1t = W1.T`` of shape (2P, N) (row j: the weights of input j into every neuron),

.. math:: h_b = W1t[a_b] + W1t[c_b],\qquad \partial L/\partial W1t[j] =
          \sum_{b:\,a_b = j} g_b + \sum_{b:\,c_b = j} g_b,

with a_b = n_b and c_b = P + m_b the two active inputs of sample b and g_b = dL/dh_b.
Matrix products go to BLAS through :func:`numpy.matmul` in the caller.

The kernels are serial (one thread; they release the GIL so that networks can run on
several threads) and loop in a fixed order, so their results do not depend
on thread counts, on batching of seeds or on the runner; arrays in, arrays out.
"""
from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def gather_square(W1t, a_idx, c_idx, H, A):
    """Hidden pre-activations and activations of a batch of two-hot inputs.

    .. math:: H_{bi} = W1t_{a_b i} + W1t_{c_b i},\\qquad A_{bi} = H_{bi}^2

    Parameters
    ----------
    W1t : ndarray, shape (2P, N)
        Read-in weights, token-major (C-contiguous).
    a_idx, c_idx : ndarray of int64, shape (B,)
        The two active inputs of each sample (n and P + m).
    H, A : ndarray, shape (B, N)
        Outputs (overwritten), same dtype as ``W1t``.
    """
    B = a_idx.shape[0]
    N = W1t.shape[1]
    for b in range(B):
        ra = W1t[a_idx[b]]
        rc = W1t[c_idx[b]]
        hb = H[b]
        ab = A[b]
        for i in range(N):
            h = ra[i] + rc[i]
            hb[i] = h
            ab[i] = h * h


@njit(cache=True, nogil=True)
def scatter_hidden_grad(H, dA, a_idx, c_idx, G):
    """Gradient of the loss with respect to the token-major read-in weights.

    With A = H^2, dL/dH = 2 H dL/dA, and each sample adds its row to the two inputs it uses:

    .. math:: G_{j i} = \\sum_{b:\\,a_b = j} 2 H_{bi}\\,dA_{bi} + \\sum_{b:\\,c_b = j} 2 H_{bi}\\,dA_{bi}

    Parameters
    ----------
    H, dA : ndarray, shape (B, N)
        Pre-activations and dL/dA.
    a_idx, c_idx : ndarray of int64, shape (B,)
    G : ndarray, shape (2P, N)
        Output (overwritten with the sums; rows of unused inputs are zero).
    """
    B, N = H.shape
    G[:] = 0.0
    for b in range(B):
        ga = G[a_idx[b]]
        gc = G[c_idx[b]]
        hb = H[b]
        db = dA[b]
        for i in range(N):
            g = hb[i] * db[i]
            g = g + g
            ga[i] += g
            gc[i] += g
