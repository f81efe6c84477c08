r"""Recursive feature machines (RFM) on modular arithmetic: kernel machines that learn a
feature matrix from their average gradient outer product (AGOP) and grok.

Paper: Mallinar, Beaglehole, Zhu, Radhakrishnan, Pandit, Belkin, "Emergence in non-neural
models: grokking modular arithmetic via average gradient outer product", arXiv 2407.20199
(``../shared/THEORY.md`` section 7). Everything here is our own NumPy/SciPy code.

Algorithm (their Alg. 1)
------------------------
Training inputs X (n x d, d = 2P, two-hot rows x_nm), targets Y (n x c). Starting from
M_0 = I, for t = 0 .. T-1:

1. kernel matrix K_t = k(X, X; M_t) and exact solve alpha_t = (K_t + ridge I)^{-1} Y
   (ridge 0 by default: ridgeless, as in the paper); predictor f_t(x) = k(x, X; M_t) alpha_t;
2. AGOP over the training inputs (their eq. 4),

   .. math:: G_t = \frac1n \sum_{i=1}^n J(x_i) J(x_i)^T,\qquad
             J(x)_{a\ell} = \partial f_{t,\ell}(x)/\partial x_a  \quad (d \times c);

   optionally with the per-sample Jacobians centred, J(x_i) - mean_j J(x_j) (the authors'
   code; not in eq. 4);
3. M_{t+1} = G_t^s, s = 1/2 (symmetric PSD power through an eigendecomposition; negative
   eigenvalues from rounding are set to 0).

Kernels (:func:`kernel_matrix`)
-------------------------------
* ``quadratic``: k(x, z; M) = (x^T M z)^2 (the authors' code multiplies by 3, which changes
  neither the predictor nor its AGOP);
* ``gaussian``: k(x, z; M) = exp(-gamma ||x - z||_M^2), ||u||_M^2 = u^T M u, with
  gamma = 1/(2 L^2) (``bandwidth_form="code"``, the authors' code, **default**) or
  gamma = 1/L (``"text"``, the paper's Sec. 2 formula); L = 2.5 (their App. B).

Jacobians (derivation, checked against finite differences in ``tests/simulations/test_rfm.py``)
------------------------------------------------------------------------------------------------
Both kernels give J(x_i) = M V_i with the d x c matrix

.. math:: V_i = x_i\,a_i^T + X^T \mathrm{diag}(W_{i\cdot})\,\alpha ,

* quadratic: grad_x (x^T M z)^2 = 2 (x^T M z) M z, so W = 2 X M X^T and a_i = 0;
* Gaussian: grad_x exp(-gamma |x - z|_M^2) = -2 gamma k(x, z) M (x - z), so W = 2 gamma K and
  a_i = -2 gamma f(x_i) (f(x_i) = (K alpha)_i, the fitted values).

Hence G = M [ (1/n) sum_i V_i V_i^T ] M (centred: V_i - Vbar). :func:`agop` accumulates
sum_i V_i V_i^T over batches of training points, so the (n, c, d) tensor of all Jacobians is
never held at once: for two-hot inputs X^T diag(W_i) alpha splits into the two tokens,
[X^T diag(W_i) alpha]_{t, l} = sum_{j: n_j = t} W_ij alpha_jl, computed as P small matrix
products over the rows of each token (2 n^2 c operations in all), and the outer products as
one d x (b c) x d product per batch. The batch size b follows from a memory budget
(:data:`AGOP_MEMORY_BUDGET`).

Progress measures
-----------------
* :func:`circulant_deviation` (their Sec. 3): D(A) = sum_j Var(S(A)[:, j]) / ||A||_F^2 with
  Var the sum of squared deviations from the column mean, and S shifting row l of A by l
  places. The paper says "to the right" (S(A)[l, j] = A[l, j - l]): that makes *Hankel*
  blocks (constant anti-diagonals, A[l, k] = h(l + k)) score 0, while an exact circulant
  (A[l, k] = c(k - l)) scores about 1. ``direction="left"`` (S(A)[l, j] = A[l, j + l]) scores
  circulants 0. Which one carries signal depends on the operation: for a predictor
  f_l(u, v) = u^T B_l v with B_l[a, b] = 1(a o b = l) the cross block of the AGOP is
  G_uv[i, j] = #{train pairs (a, b): a - b = i - j} for addition (a circulant in i - j) and
  #{(a, b): a + b = i + j} for subtraction (Hankel); multiplication and division become
  addition and subtraction after reordering by the discrete logarithm. So
  :func:`deviation_convention` gives ``left`` for add and mul and ``right`` for sub and div
  (checked on RFM's own matrices in the tests); both are stored.
* :func:`alignment`: cosine similarity rho(A, B) = <A, B>_F / (|A|_F |B|_F) of M_t with the
  final M (their eq. 8).

Conventions of the stored iteration arrays
------------------------------------------
Index t = 0 .. T-1 of the per-iteration arrays of :class:`RFMResult`: the losses and
accuracies are those of the predictor f_t (solved with M_t; M_0 = I), while
``circulant_deviation``, ``hankel_deviation`` and ``alignment`` describe the feature matrix
M_{t+1} = G_t^s that iteration t produced; the alignment is with the last one, M_T (so
alignment[T-1] = 1). Saved feature matrices are indexed by their own t (0 = identity, T =
final). Losses are mean squared errors over all outputs of the targets (the plain one-hot
e_c by default, as in the paper; centred one-hot e_c - 1/P with ``centred_targets``);
``*_correct_loss`` is the mean of (f_c(x) - y_c(x))^2 over the correct class c only (their
Fig. 2A, third row); accuracy is argmax(f) = c.

Random circulant features and Theorem 5.1
-----------------------------------------
:func:`random_circulant_matrix` builds M* = [[A, C^T], [C, A]] with A = I - 11^T/P and C a
random circulant (first column i.i.d. uniform on [0, 1]; their Sec. 3/App.), Hankel for
sub/div, reordered for mul/div; training a standard kernel machine on x -> (M*)^{1/4} x is the
Mahalanobis kernel with M = (M*)^{1/2}. M* is indefinite (|lambda_k(C)| exceeds 1): the
square root is taken on its positive part, U diag(max(w, 0)^{1/2}) U^T (:func:`psd_power`),
which is exactly the real part of the principal complex square root that the authors' code
uses (tested). Taking |w| instead keeps only the phases of C's eigenvalues on the modes where
|lambda_k| > 1 and generalises no better than M = I (measured at P = 23). :func:`theorem51_feature_matrix` gives their Theorem 5.1 matrices
M_l = [[0, C^l], [(C^l)^T, 0]] (C the cyclic shift with first row e_1; C^l R for addition).

Neural feature matrix
---------------------
For f(x) = c W2 (W1 x)^2 (W1: N x 2P, W2: P x N): :func:`neural_feature_matrix` (W1^T W1),
:func:`network_agop` (closed form, see there) and :func:`nfm_agop_correlation` (Pearson
correlation of W1^T W1 with AGOP^{1/2}; their Fig. 6: 0.92-0.96 for trained networks).

File layout (kind ``rfm``, :meth:`RFMResult.to_hdf5`)
-----------------------------------------------------
Root attributes: provenance (:func:`adaptive_kernel.storage.provenance`), ``kind = "rfm"``,
``teacher`` (the task name), ``format_version``. ``/params``: the task's parameters as
attributes. ``/rfm``: the configuration as attributes; datasets ``train_fraction`` (F),
``seed`` (S), ``iteration`` (T); per (fraction, seed, iteration) ``train_loss``,
``train_accuracy``, ``train_correct_loss``, ``test_loss``, ``test_accuracy``,
``test_correct_loss``, ``circulant_deviation``, ``hankel_deviation``, ``deviation``
(the one of :func:`deviation_convention`), ``alignment``, ``solve_method`` (0 Cholesky, 1 LU,
-1 not run), ``seconds``; per (fraction, seed) ``n_train``, ``success``, ``status``,
``message``, ``grok_iteration``; ``feature_iterations`` (k) and ``features`` (F, S, k, 2P, 2P);
``reorder_permutation`` (P) for mul/div (the discrete-log order used by the deviation and
the figures).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.linalg as sla

from adaptive_kernel.errors import FileFormatError, ParameterError
from adaptive_kernel.validation import Constraint

FORMAT_VERSION = 1
#: The root attribute ``kind`` of an RFM file.
KIND = "rfm"

KERNELS = ("quadratic", "gaussian")
#: Gaussian bandwidth conventions: gamma of exp(-gamma ||x - z||_M^2) for bandwidth L.
BANDWIDTH_FORMS = {"code": "exp(-d^2 / (2 L^2)) (authors' code)", "text": "exp(-d^2 / L) (paper's text)"}
#: Default working memory of one AGOP evaluation (the batch of per-sample Jacobians).
AGOP_MEMORY_BUDGET = 64 * 2 ** 20
#: Codes of ``solve_method``.
SOLVE_METHODS = {"cholesky": 0, "lu": 1, "not run": -1}
#: Test accuracy that counts as "grokked" for :meth:`RFMResult.grok_iteration`.
GROK_ACCURACY = 0.99
#: Most RFM iterations of one run.
MAX_ITERATIONS = 100_000

#: Constraints of the RFM options (checked once, in :class:`RFMConfig`).
PARAMETERS = {
    "kernel": Constraint("choice", choices=KERNELS, doc="kernel of the machine"),
    "iterations": Constraint("int", low=1, high=MAX_ITERATIONS, doc="RFM iterations T"),
    "ridge": Constraint("real", low=0.0, doc="ridge added to the kernel matrix (0: ridgeless)"),
    "bandwidth": Constraint("real", low=0.0, low_open=True, doc="Gaussian bandwidth L"),
    "bandwidth_form": Constraint("choice", choices=tuple(BANDWIDTH_FORMS), doc="Gaussian bandwidth form"),
    "power": Constraint("real", low=0.0, low_open=True, high=4.0, doc="matrix power s of M = G^s"),
    "train_fraction": Constraint("real", low=0.0, low_open=True, high=1.0, high_open=True,
                                 doc="fraction of the pairs used for training"),
    "seed": Constraint("int", low=0, doc="split seed"),
    "memory_budget": Constraint("int", low=2 ** 16, doc="bytes of working memory of one AGOP batch"),
}


# ---------------------------------------------------------------------------------------
# kernels and the exact solve
# ---------------------------------------------------------------------------------------
def gaussian_gamma(bandwidth: float, bandwidth_form: str = "code") -> float:
    """gamma of the Gaussian kernel exp(-gamma ||x - z||_M^2): 1/(2 L^2) (``"code"``) or
    1/L (``"text"``)."""
    L = float(bandwidth)
    if bandwidth_form == "code":
        return 1.0 / (2.0 * L * L)
    if bandwidth_form == "text":
        return 1.0 / L
    raise ParameterError(f"bandwidth_form must be one of {', '.join(BANDWIDTH_FORMS)}; got {bandwidth_form!r}")


def mahalanobis_gram(X1, X2, M) -> np.ndarray:
    r"""Inner products x^T M z of every pair: ``X1 @ M @ X2.T``, shape (n1, n2)."""
    return (np.asarray(X1, float) @ M) @ np.asarray(X2, float).T


def kernel_matrix(X1, X2, M, kernel: str = "quadratic", bandwidth: float = 2.5,
                  bandwidth_form: str = "code", gram=None) -> np.ndarray:
    r"""Kernel matrix k(x_i, z_j; M).

    .. math:: k_{\rm quad}(x, z; M) = (x^T M z)^2,\qquad
              k_{\rm gauss}(x, z; M) = \exp(-\gamma\,(x - z)^T M (x - z)),

    gamma from :func:`gaussian_gamma`; the squared distance is q(x) + q(z) - 2 x^T M z with
    q(x) = x^T M x, clipped at 0.

    Parameters
    ----------
    X1 : array_like, shape (n1, d)
    X2 : array_like, shape (n2, d)
    M : ndarray, shape (d, d)
        Symmetric feature matrix.
    kernel : {"quadratic", "gaussian"}
    bandwidth, bandwidth_form
        Gaussian only.
    gram : ndarray, optional
        Precomputed ``mahalanobis_gram(X1, X2, M)``.

    Returns
    -------
    ndarray, shape (n1, n2)
    """
    X1 = np.asarray(X1, float)
    X2 = np.asarray(X2, float)
    G = mahalanobis_gram(X1, X2, M) if gram is None else gram
    if kernel == "quadratic":
        return G * G
    if kernel == "gaussian":
        q1 = np.einsum("ij,jk,ik->i", X1, M, X1)
        q2 = np.einsum("ij,jk,ik->i", X2, M, X2)
        D = q1[:, None] + q2[None, :] - 2.0 * G
        np.maximum(D, 0.0, out=D)
        D *= -gaussian_gamma(bandwidth, bandwidth_form)
        return np.exp(D, out=D)
    raise ParameterError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")


def solve_kernel_machine(K, Y, ridge: float = 0.0) -> tuple:
    r"""Exact kernel regression alpha = (K + ridge I)^{-1} Y.

    Cholesky first (K is positive definite for distinct inputs and a nonsingular M); when
    the factorisation fails (K numerically singular or indefinite), an LU solve with partial
    pivoting, as NumPy's ``solve`` in the authors' code.

    Returns
    -------
    alpha : ndarray, shape (n, c)
    method : str
        ``"cholesky"`` or ``"lu"``.

    Raises
    ------
    numpy.linalg.LinAlgError
        K + ridge I is exactly singular (or the solution is not finite).
    """
    A = np.array(K, dtype=float, copy=True)
    if ridge:
        A.flat[::A.shape[0] + 1] += ridge
    try:
        c = sla.cho_factor(A, lower=True, overwrite_a=False, check_finite=False)
        alpha, method = sla.cho_solve(c, Y, check_finite=False), "cholesky"
    except np.linalg.LinAlgError:
        alpha, method = sla.solve(A, Y, overwrite_a=True, check_finite=False), "lu"
    if not np.all(np.isfinite(alpha)):
        raise np.linalg.LinAlgError("the kernel system has no finite solution")
    return alpha, method


def predict(X, X_train, alpha, M, kernel: str = "quadratic", bandwidth: float = 2.5,
            bandwidth_form: str = "code") -> np.ndarray:
    """The kernel machine f(x) = k(x, X_train; M) alpha at the rows of ``X``, shape (len(X), c)."""
    return kernel_matrix(X, X_train, M, kernel, bandwidth, bandwidth_form) @ alpha


# ---------------------------------------------------------------------------------------
# AGOP
# ---------------------------------------------------------------------------------------
def two_hot_tokens(X):
    """(first tokens, second tokens) of two-hot inputs, or None.

    Rows of ``X`` (n x 2P) that are exactly e_a (+) e_b give ``(a, b)`` as int64 arrays; any
    other input (a row with other values, another count of ones, an odd width) gives None.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] % 2 or X.shape[0] == 0:
        return None
    P = X.shape[1] // 2
    if not np.all((X == 0.0) | (X == 1.0)):
        return None
    h1, h2 = X[:, :P], X[:, P:]
    if not (np.all(h1.sum(axis=1) == 1.0) and np.all(h2.sum(axis=1) == 1.0)):
        return None
    return np.argmax(h1, axis=1).astype(np.int64), np.argmax(h2, axis=1).astype(np.int64)


def _token_groups(tokens, P, alpha):
    """Rows of each token value, padded: (index (P, G) int64, alpha gathered (P, G, c) with
    zeros in the padding). Padding rows point at row 0 and carry zero weight."""
    n, c = alpha.shape
    counts = np.bincount(tokens, minlength=P)
    G = max(1, int(counts.max()))
    order = np.argsort(tokens, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(n) - np.repeat(starts, counts)
    index = np.zeros((P, G), dtype=np.int64)
    mask = np.zeros((P, G), dtype=bool)
    index[tokens[order], pos] = order
    mask[tokens[order], pos] = True
    agath = alpha[index] * mask[:, :, None]
    return index, agath


def agop_batch_size(n: int, d: int, c: int, two_hot: bool, memory_budget: int = AGOP_MEMORY_BUDGET) -> int:
    """Training points per AGOP batch for a working-memory budget (bytes): the batch holds
    the gathered kernel weights (~ n + d floats per point for two-hot inputs, n c for others)
    and the d x c matrices V_i (twice, with a centred copy)."""
    per_point = 8 * ((n + 2 * d + 2 * d * c) if two_hot else (n * c + 3 * d * c))
    return int(max(1, min(n, memory_budget // max(per_point, 1))))


def agop_weights(X, alpha, M, kernel: str = "quadratic", bandwidth: float = 2.5,
                 bandwidth_form: str = "code", gram=None, K=None) -> tuple:
    r"""(W0, w, A) of the Jacobians J(x_i) = M V_i, V_i = x_i a_i^T + X^T diag(W_i.) alpha
    with W = w W0 (module docstring): quadratic W0 = X M X^T, w = 2, A = 0 (returned as
    None); Gaussian W0 = K, w = 2 gamma, A = -2 gamma K alpha. W0 is the array passed in (no
    n x n copy)."""
    if gram is None:
        gram = mahalanobis_gram(X, X, M)
    if kernel == "quadratic":
        return gram, 2.0, None
    if kernel == "gaussian":
        g = gaussian_gamma(bandwidth, bandwidth_form)
        if K is None:
            K = kernel_matrix(X, X, M, kernel, bandwidth, bandwidth_form, gram=gram)
        return K, 2.0 * g, -2.0 * g * (K @ alpha)
    raise ParameterError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")


def agop(X, alpha, M, kernel: str = "quadratic", bandwidth: float = 2.5, bandwidth_form: str = "code",
         centre: bool = False, memory_budget: int = AGOP_MEMORY_BUDGET, batch_size: int | None = None,
         gram=None, K=None, path: str = "auto") -> np.ndarray:
    r"""Average gradient outer product of the kernel machine f(x) = k(x, X; M) alpha over its
    training inputs.

    .. math:: G = \frac1n\sum_i J(x_i) J(x_i)^T = M\Big[\frac1n\sum_i V_i V_i^T\Big] M,
              \qquad V_i = x_i a_i^T + X^T\mathrm{diag}(W_{i\cdot})\,\alpha

    (module docstring; with ``centre`` V_i is replaced by V_i - Vbar, Vbar = mean_i V_i, i.e.
    the Jacobians are centred over the training points before the outer product). Computed
    in batches of training points, so that at most ``batch_size`` matrices V_i (d x c) exist
    at once.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Training inputs (two-hot rows use the fast token path; any other rows a dense one).
    alpha : ndarray, shape (n, c)
        Kernel coefficients.
    M : ndarray, shape (d, d)
    kernel, bandwidth, bandwidth_form
        As :func:`kernel_matrix`.
    centre : bool
        Centre the per-sample Jacobians (the authors' code) or not (their eq. 4).
    memory_budget : int
        Bytes of working memory for the batch (:func:`agop_batch_size`).
    batch_size : int, optional
        Overrides the budget.
    gram, K : ndarray, optional
        ``X M X^T`` and the kernel matrix, if already computed.
    path : {"auto", "tokens", "dense"}
        ``auto``: the token path for two-hot inputs, the dense one otherwise; ``dense``
        forces the general path (tests compare the two).

    Returns
    -------
    ndarray, shape (d, d)
        Symmetric positive semi-definite (up to rounding).
    """
    X = np.asarray(X, float)
    alpha = np.asarray(alpha, float)
    if alpha.ndim == 1:
        alpha = alpha[:, None]
    n, d = X.shape
    c = alpha.shape[1]
    W, w, A = agop_weights(X, alpha, M, kernel, bandwidth, bandwidth_form, gram=gram, K=K)
    alpha = w * alpha                  # X^T diag(w W0_i.) alpha = X^T diag(W0_i.) (w alpha)
    if path not in ("auto", "tokens", "dense"):
        raise ParameterError(f"path must be auto, tokens or dense; got {path!r}")
    tokens = None if path == "dense" else two_hot_tokens(X)
    if path == "tokens" and tokens is None:
        raise ParameterError("path 'tokens' needs two-hot inputs")
    b = int(batch_size) if batch_size else agop_batch_size(n, d, c, tokens is not None, memory_budget)
    b = max(1, min(n, b))
    vbar = None
    if centre:  # mean_i V_i = (1/n) [X^T A + X^T diag(sum_i W_i.) alpha]   (W symmetric)
        vbar = X.T @ (W.sum(axis=0)[:, None] * alpha)
        if A is not None:
            vbar += X.T @ A
        vbar /= n
    inner = np.zeros((d, d))
    if tokens is not None:
        P = d // 2
        groups = [_token_groups(t, P, alpha) for t in tokens]
        for s in range(0, n, b):
            rows = slice(s, min(n, s + b))
            Wb = W[rows]                        # (bb, n): W is symmetric, row i = column i
            bb = Wb.shape[0]
            V = np.empty((d, bb, c))
            for h, (index, agath) in enumerate(groups):
                Wg = Wb[:, index.ravel()].reshape(bb, P, -1).transpose(1, 0, 2)   # (P, bb, G)
                np.matmul(Wg, agath, out=V[h * P:(h + 1) * P])                     # (P, bb, c)
            if A is not None:
                ar = np.arange(bb)
                V[tokens[0][rows], ar, :] += A[rows]
                V[P + tokens[1][rows], ar, :] += A[rows]
            if vbar is not None:
                V -= vbar[:, None, :]
            V2 = V.reshape(d, bb * c)
            inner += V2 @ V2.T
    else:
        for s in range(0, n, b):
            rows = slice(s, min(n, s + b))
            Wb = W[rows]
            bb = Wb.shape[0]
            T = (Wb[:, :, None] * alpha[None, :, :]).transpose(1, 0, 2).reshape(n, bb * c)
            V = (X.T @ T).reshape(d, bb, c)
            if A is not None:
                V += X[rows].T[:, :, None] * A[rows][None, :, :]
            if vbar is not None:
                V -= vbar[:, None, :]
            V2 = V.reshape(d, bb * c)
            inner += V2 @ V2.T
    inner /= n
    G = M @ inner @ M
    return 0.5 * (G + G.T)


def psd_power(G, s: float) -> np.ndarray:
    r"""Symmetric PSD matrix power G^s = U diag(max(w, 0)^s) U^T from ``eigh`` of the
    symmetrised G (eigenvalues below zero, from rounding, count as zero)."""
    G = 0.5 * (np.asarray(G, float) + np.asarray(G, float).T)
    w, U = np.linalg.eigh(G)
    w = np.maximum(w, 0.0) ** s
    out = (U * w) @ U.T
    return 0.5 * (out + out.T)


def abs_power(S, s: float) -> np.ndarray:
    """|S|^s = U diag(|w|^s) U^T for a symmetric (possibly indefinite) S."""
    S = 0.5 * (np.asarray(S, float) + np.asarray(S, float).T)
    w, U = np.linalg.eigh(S)
    out = (U * np.abs(w) ** s) @ U.T
    return 0.5 * (out + out.T)


# ---------------------------------------------------------------------------------------
# progress measures and reordering
# ---------------------------------------------------------------------------------------
def off_diagonal_block(M) -> np.ndarray:
    """The bottom-left P x P block M[P:, :P] of a 2P x 2P feature matrix (rows: second token,
    columns: first token)."""
    M = np.asarray(M)
    P = M.shape[0] // 2
    return M[P:, :P]


def shift_rows(A, direction: str = "left") -> np.ndarray:
    """Row l of A cyclically shifted by l places: ``"right"`` S[l, j] = A[l, j - l] (the
    paper's text), ``"left"`` S[l, j] = A[l, j + l] (indices mod the number of columns)."""
    A = np.asarray(A, float)
    p, q = A.shape
    rows = np.arange(p)[:, None]
    cols = np.arange(q)[None, :]
    if direction == "right":
        return A[rows, (cols - rows) % q]
    if direction == "left":
        return A[rows, (cols + rows) % q]
    raise ParameterError(f"direction must be 'left' or 'right'; got {direction!r}")


def circulant_deviation(A, direction: str = "left") -> float:
    r"""Circulant deviation of a square block (the paper's Sec. 3):

    .. math:: D(A) = \frac{1}{\|A\|_F^2}\sum_j \sum_l \big(S(A)_{lj} - \overline{S(A)_{\cdot j}}\big)^2

    with S :func:`shift_rows`. ``"left"``: 0 exactly for circulants A[l, k] = c(k - l);
    ``"right"`` (the text's wording): 0 exactly for Hankel matrices A[l, k] = h(l + k). NaN for
    a zero block.
    """
    A = np.asarray(A, float)
    norm2 = float(np.sum(A * A))
    if norm2 == 0.0:
        return float("nan")
    S = shift_rows(A, direction)
    return float(np.sum((S - S.mean(axis=0, keepdims=True)) ** 2) / norm2)


def alignment(A, B) -> float:
    r"""Cosine similarity of two matrices as vectors, rho(A, B) = <A, B>_F / (|A|_F |B|_F)
    (their eq. 8); NaN if either is zero."""
    A = np.asarray(A, float).ravel()
    B = np.asarray(B, float).ravel()
    den = float(np.linalg.norm(A) * np.linalg.norm(B))
    return float(A @ B / den) if den > 0 else float("nan")


def pearson_correlation(A, B) -> float:
    """Pearson correlation of the entries of two arrays (cosine similarity after removing
    each array's mean)."""
    A = np.asarray(A, float).ravel()
    B = np.asarray(B, float).ravel()
    return alignment(A - A.mean(), B - B.mean())


def _is_prime(P: int) -> bool:
    return P >= 2 and all(P % f for f in range(2, int(math.isqrt(P)) + 1))


def smallest_generator(P: int) -> int:
    """The smallest generator g of the multiplicative group Z_P^* (P prime): g^k, k = 1 ..
    P - 1, runs through every non-zero residue."""
    if not _is_prime(int(P)):
        raise ParameterError(f"P must be prime for a generator of Z_P^*; got {P!r}")
    P = int(P)
    if P == 2:
        return 1
    m = P - 1
    factors = {f for f in range(2, m + 1) if m % f == 0 and _is_prime(f)}
    for g in range(2, P):
        if all(pow(g, m // f, P) != 1 for f in factors):
            return g
    raise AssertionError("unreachable: Z_P^* is cyclic")  # pragma: no cover


def discrete_log_order(P: int, generator: int | None = None) -> np.ndarray:
    """Permutation ``perm`` of 0 .. P-1 that lists residues in discrete-log order:
    ``perm[0] = 0`` and ``perm[1 + k] = g^k mod P`` (k = 0 .. P-2), g the smallest generator
    (or ``generator``). Reordering a token index by ``perm`` turns multiplication into
    addition of the logarithms on the non-zero residues (their App. C; their own labels
    start at g^1, a cyclic rotation, which changes no circulant structure)."""
    g = smallest_generator(P) if generator is None else int(generator)
    perm = [0] + [pow(g, k, int(P)) for k in range(int(P) - 1)]
    if sorted(perm) != list(range(int(P))):
        raise ParameterError(f"{g} does not generate Z_{P}^*")
    return np.array(perm, dtype=np.int64)


def reorder_feature_matrix(M, perm) -> np.ndarray:
    """A 2P x 2P feature matrix with both token index sets listed in the order ``perm``
    (:func:`discrete_log_order`): out[i, j] = M[q[i], q[j]], q = (perm, P + perm)."""
    M = np.asarray(M)
    P = M.shape[0] // 2
    q = np.concatenate([np.asarray(perm), P + np.asarray(perm)])
    return M[np.ix_(q, q)]


def deviation_convention(operation_kind: str) -> tuple:
    """(shift direction, reorder by discrete log) that makes the off-diagonal block of an
    ideal feature matrix exactly circulant/Hankel (module docstring): add ("left", False),
    sub ("right", False), mul ("left", True), div ("right", True); others ("left", False)."""
    return {"add": ("left", False), "sub": ("right", False), "mul": ("left", True),
            "div": ("right", True)}.get(operation_kind, ("left", False))


def feature_deviations(M, perm=None) -> tuple:
    """(left, right) circulant deviations of the off-diagonal block of M; with ``perm``
    (discrete-log order) the block is reordered and the zero residue left out."""
    A = off_diagonal_block(M)
    if perm is not None:
        p = np.asarray(perm)[1:]
        A = A[np.ix_(p, p)]
    return circulant_deviation(A, "left"), circulant_deviation(A, "right")


# ---------------------------------------------------------------------------------------
# planted feature matrices
# ---------------------------------------------------------------------------------------
def cyclic_shift(P: int) -> np.ndarray:
    """The circulant C with first row e_1: C[i, j] = 1 if j = i + 1 mod P (Theorem 5.1)."""
    return np.roll(np.eye(P), 1, axis=1)


def theorem51_feature_matrix(P: int, label: int, operation: str = "sub") -> np.ndarray:
    r"""M_l of their Theorem 5.1: [[0, B], [B^T, 0]] with B = C^l for subtraction and
    B = C^l R for addition (R the row reversal, ones on the anti-diagonal), C
    :func:`cyclic_shift`."""
    B = np.linalg.matrix_power(cyclic_shift(P), int(label) % P)
    if operation == "add":
        B = B @ np.fliplr(np.eye(P))
    elif operation != "sub":
        raise ParameterError(f"operation must be 'add' or 'sub' for Theorem 5.1; got {operation!r}")
    Z = np.zeros((P, P))
    return np.block([[Z, B], [B.T, Z]])


def random_circulant_matrix(P: int, rng, operation_kind: str = "add", centre: bool = True) -> np.ndarray:
    r"""M* = [[A, C^T], [C, A]] of their random-circulant-features experiment.

    A = I - 11^T/P (their c1 = 1, c2 = -1/P); C (the bottom-left block, C[b, a] for second
    token b, first token a) has entries u((a - b) mod P) for add, u((a + b) mod P) (Hankel)
    for sub, with u i.i.d. uniform on [0, 1], minus their mean when ``centre`` (default, as
    the authors' code; the text does not centre; both generalise). For mul and div the same construction is made
    on the discrete logarithms of the non-zero residues (row and column 0 of C are zero) and
    mapped back to the natural order (:func:`discrete_log_order`).

    Returns
    -------
    ndarray, shape (2P, 2P)
        Symmetric, in general indefinite; use ``psd_power(M*, 1/2)`` as the kernel's M
        (the data map x -> (M*)_+^{1/4} x).
    """
    P = int(P)
    A = np.eye(P) - np.ones((P, P)) / P
    C = np.zeros((P, P))
    if operation_kind in ("mul", "div"):
        perm = discrete_log_order(P)
        m = P - 1
        u = rng.uniform(0.0, 1.0, size=m)
        if centre:
            u -= u.mean()
        i = np.arange(m)
        sub = u[(i[None, :] - i[:, None]) % m] if operation_kind == "mul" else u[(i[None, :] + i[:, None]) % m]
        p = perm[1:]
        C[np.ix_(p, p)] = sub     # C[g^i, g^j] = u(j - i) (mul) or u(i + j) (div)
    else:
        u = rng.uniform(0.0, 1.0, size=P)
        if centre:
            u -= u.mean()
        a = np.arange(P)
        if operation_kind == "sub":
            C = u[(a[None, :] + a[:, None]) % P]
        else:
            C = u[(a[None, :] - a[:, None]) % P]
    return np.block([[A, C.T], [C, A]])


def fit_and_score(task, split, M, kernel: str = "gaussian", bandwidth: float = 2.5,
                  bandwidth_form: str = "code", ridge: float = 0.0, centred_targets: bool = False) -> dict:
    """Train one kernel machine with a fixed feature matrix M on ``split`` and score it:
    ``{"train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_correct_loss",
    "solve_method"}`` (losses and accuracy as in :func:`run_rfm_unit`)."""
    labels = task.labels()
    Xtr, Xte = task.inputs(split.train), task.inputs(split.test)
    Ytr = task.targets(split.train, centered=centred_targets)
    Yte = task.targets(split.test, centered=centred_targets)
    kw = dict(kernel=kernel, bandwidth=bandwidth, bandwidth_form=bandwidth_form)
    K = kernel_matrix(Xtr, Xtr, M, **kw)
    alpha, method = solve_kernel_machine(K, Ytr, ridge)
    out = dict(zip(("train_loss", "train_accuracy", "train_correct_loss"),
                   _metrics(K @ alpha, Ytr, labels[split.train])))
    out.update(zip(("test_loss", "test_accuracy", "test_correct_loss"),
                   _metrics(predict(Xte, Xtr, alpha, M, **kw), Yte, labels[split.test])))
    out["solve_method"] = method
    return out


def random_circulant_experiment(task, train_fraction: float, seed: int, kernel: str = "gaussian",
                                bandwidth: float = 2.5, bandwidth_form: str = "code",
                                ridge: float = 0.0, centre: bool = True) -> dict:
    r"""Their random-circulant-features experiment (Sec. 3, Fig. 4): a standard kernel
    machine on the data mapped by x -> (M*)_+^{1/4} x, M* = :func:`random_circulant_matrix`
    (i.e. the Mahalanobis kernel with M = :func:`psd_power` (M*, 1/2), the real part of the
    principal square root), against the same kernel with M = I,
    on the split ``task.split(train_fraction, seed)``.

    The random circulant is drawn from ``split_seed_sequence(seed, "rfm-random-circulant")``.

    Returns
    -------
    dict
        ``{"circulant": scores, "identity": scores, "M": (M*)_+^{1/2}}`` (scores from
        :func:`fit_and_score`).
    """
    from adaptive_kernel.tasks import split_seed_sequence

    split = task.split(train_fraction, seed)
    rng = np.random.default_rng(split_seed_sequence(seed, "rfm-random-circulant"))
    kind = getattr(getattr(task, "op", None), "kind", "add")
    M = psd_power(random_circulant_matrix(task.P, rng, kind, centre), 0.5)
    kw = dict(kernel=kernel, bandwidth=bandwidth, bandwidth_form=bandwidth_form, ridge=ridge)
    return {"circulant": fit_and_score(task, split, M, **kw),
            "identity": fit_and_score(task, split, np.eye(2 * task.P), **kw), "M": M}


# ---------------------------------------------------------------------------------------
# neural feature matrix of f = c W2 (W1 x)^2
# ---------------------------------------------------------------------------------------
def neural_feature_matrix(W1) -> np.ndarray:
    """The first layer's neural feature matrix W1^T W1 (2P x 2P; their Def. 4.1)."""
    W1 = np.asarray(W1, float)
    return W1.T @ W1


def network_agop(W1, W2, X, output_scale: float = 1.0, centre: bool = False) -> np.ndarray:
    r"""AGOP of the network f(x) = c W2 (W1 x)^2 (square activation, no biases) over the rows
    of X.

    J(x) = 2c W1^T diag(h) W2^T with h = W1 x, so with H = X W1^T (n x N),

    .. math:: G = \frac{4c^2}{n} W_1^T\big[(W_2^T W_2)\circ(H^T H)\big] W_1

    (uncentred); centred, the mean Jacobian Jbar = (2c/n) W1^T diag(sum_i h_i) W2^T is
    subtracted: G - Jbar Jbar^T.

    Parameters
    ----------
    W1 : ndarray, shape (N, 2P)
        Read-in weights (first P columns: token n, last P: token m).
    W2 : ndarray, shape (P_out, N)
    X : ndarray, shape (n, 2P)
    output_scale : float
        c (e.g. 1/(D N) in Gromov's parametrisation).
    centre : bool

    Returns
    -------
    ndarray, shape (2P, 2P)
    """
    W1 = np.asarray(W1, float)
    W2 = np.asarray(W2, float)
    X = np.asarray(X, float)
    n = X.shape[0]
    H = X @ W1.T
    c = float(output_scale)
    G = (4.0 * c * c / n) * (W1.T @ (((W2.T @ W2) * (H.T @ H)) @ W1))
    if centre:
        Jbar = (2.0 * c / n) * (W1.T @ (H.sum(axis=0)[:, None] * W2.T))
        G = G - Jbar @ Jbar.T
    return 0.5 * (G + G.T)


def nfm_agop_correlation(W1, W2, X, output_scale: float = 1.0, centre: bool = False) -> float:
    """Pearson correlation of the neural feature matrix W1^T W1 with the square root of the
    network's AGOP (:func:`network_agop`, :func:`psd_power`), over all entries (their Fig. 6
    reports 0.92-0.96 for trained networks)."""
    return pearson_correlation(neural_feature_matrix(W1),
                               psd_power(network_agop(W1, W2, X, output_scale, centre), 0.5))


# ---------------------------------------------------------------------------------------
# one RFM run
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RFMConfig:
    """Options of an RFM run (validated on construction).

    Attributes
    ----------
    task : str
        Registry name of the task (:data:`adaptive_kernel.tasks.TASKS`; a finite pair task).
    task_params : dict
        Its parameters (``P``, ``operation``).
    train_fractions : tuple of float
        In (0, 1).
    seeds : tuple of int
        Split seeds (``task.split(train_fraction, seed)``: the package's one split).
    kernel : str
        ``quadratic`` (default) or ``gaussian``.
    iterations : int
        T.
    ridge : float
        0: ridgeless (default, as the paper).
    bandwidth : float
        Gaussian L (default 2.5).
    bandwidth_form : str
        ``code`` (default, exp(-d^2/(2L^2))) or ``text`` (exp(-d^2/L)).
    centre_gradients : bool
        Centre the per-sample Jacobians (default True, as the authors' code whose runs made
        the paper's figures; eq. 4 does not centre).
    power : float
        s of M = G^s (1/2).
    centred_targets : bool
        Targets e_c - 1/P instead of the paper's one-hot e_c.
    save_at : tuple of int
        Feature-matrix indices 0 .. T to store (the final T is always stored).
    memory_budget : int
        Bytes for one AGOP batch.
    """

    task: str
    task_params: dict
    train_fractions: tuple = (0.5,)
    seeds: tuple = (0,)
    kernel: str = "quadratic"
    iterations: int = 30
    ridge: float = 0.0
    bandwidth: float = 2.5
    bandwidth_form: str = "code"
    centre_gradients: bool = True
    power: float = 0.5
    centred_targets: bool = False
    save_at: tuple = ()
    memory_budget: int = AGOP_MEMORY_BUDGET
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        chk = PARAMETERS
        for k in ("kernel", "iterations", "ridge", "bandwidth", "bandwidth_form", "power", "memory_budget"):
            object.__setattr__(self, k, chk[k].check(k, getattr(self, k)))
        fr = tuple(chk["train_fraction"].check("train_fraction", f) for f in self.train_fractions)
        if not fr:
            raise ParameterError("train_fraction needs at least one value")
        sd = tuple(chk["seed"].check("seed", s) for s in self.seeds)
        if not sd:
            raise ParameterError("seeds must be >= 1")
        if len(set(sd)) != len(sd):
            raise ParameterError(f"seeds must be distinct; got {sd}")
        saves = sorted({int(Constraint("int", low=0, high=self.iterations).check("save_at", t))
                        for t in self.save_at} | {self.iterations})
        object.__setattr__(self, "train_fractions", fr)
        object.__setattr__(self, "seeds", sd)
        object.__setattr__(self, "save_at", tuple(saves))
        object.__setattr__(self, "centre_gradients", bool(self.centre_gradients))
        object.__setattr__(self, "centred_targets", bool(self.centred_targets))
        object.__setattr__(self, "task_params", dict(self.task_params))
        make_task(self.task, self.task_params)

    def to_dict(self) -> dict:
        """Plain-data copy (picklable, for the runner's units)."""
        return asdict(self)


def make_task(name: str, params: dict):
    """The task ``name`` from the registry; refused (ParameterError) unless it is a finite
    task of token pairs (``pairs``, ``labels``, ``inputs``, ``targets``, ``split``, ``P``)."""
    from adaptive_kernel.tasks import get_task

    task = get_task(name, **params)
    needed = ("pairs", "labels", "inputs", "targets", "split", "P")
    if not all(hasattr(task, a) for a in needed):
        raise ParameterError(f"task {name!r} is not a task of token pairs (recursive feature machines "
                             f"need finite two-token data)")
    return task


def pair_task_names() -> list:
    """Registry names of the tasks RFM can learn (finite token-pair tasks), registry order."""
    from adaptive_kernel.tasks import TASKS

    return [name for name, cls in TASKS.items() if all(hasattr(cls, a) for a in ("pairs", "labels", "split"))]


def estimate_memory(P: int, train_fraction: float, n_pairs: int | None = None, saves: int = 1,
                    iterations: int = 1, memory_budget: int = AGOP_MEMORY_BUDGET) -> int:
    """Peak bytes of one RFM unit: about four n x n float64 arrays (kernel, its factor, the
    Gram X M X^T and the AGOP weights), the test kernel twice (n_test x n), the data, the AGOP
    batch budget and the saved feature matrices."""
    total = int(n_pairs if n_pairs is not None else P * P)
    n = max(1, int(math.floor(train_fraction * total + 0.5)))
    m = total - n
    d = 2 * P
    return int(8 * (4 * n * n + 2 * m * n + (n + m) * (d + P) + (saves + 4) * d * d + 12 * iterations)
               + memory_budget)


def _metrics(F, Y, labels):
    """(mean squared error over all outputs, accuracy, mean squared error of the correct
    class) of predictions F against targets Y."""
    if F.shape[0] == 0:
        return float("nan"), float("nan"), float("nan")
    r = F - Y
    rows = np.arange(F.shape[0])
    rc = r[rows, labels]
    return float(np.mean(r * r)), float(np.mean(np.argmax(F, axis=1) == labels)), float(np.mean(rc * rc))


METRICS = ("train_loss", "train_accuracy", "train_correct_loss", "test_loss", "test_accuracy",
           "test_correct_loss", "circulant_deviation", "hankel_deviation", "deviation", "alignment",
           "seconds")


def run_rfm_unit(config: dict, train_fraction: float, seed: int, progress=None) -> dict:
    """One RFM run (Algorithm 1) on the split ``task.split(train_fraction, seed)``, with
    NumPy's BLAS single-threaded (:func:`_run_rfm_unit` does the work).

    OpenBLAS's Cholesky and matrix products round differently with different thread counts,
    and the runners give their workers different counts (:mod:`adaptive_kernel.runner`); one
    thread makes every runner give the same bits. Parallelism comes from running units
    (train fractions x seeds) in parallel (``--jobs``, Dask).
    """
    with single_threaded_blas():
        return _run_rfm_unit(config, train_fraction, seed, progress)


_OTHER_OPENBLAS = None


def _other_openblas() -> list:
    """(setter, getter) of every OpenBLAS loaded in the process besides NumPy's (SciPy ships
    its own, used by ``scipy.linalg``), found in ``/proc/self/maps``."""
    global _OTHER_OPENBLAS
    if _OTHER_OPENBLAS is None:
        import ctypes

        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS)

        found = []
        try:
            with open("/proc/self/maps") as fh:
                paths = {line.split()[-1] for line in fh if "openblas" in line and "/" in line}
        except OSError:  # pragma: no cover - non-Linux
            paths = set()
        for path in sorted(paths):
            if "numpy" in path:
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError:  # pragma: no cover
                continue
            for sname, gname in (("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
                                 ("openblas_set_num_threads", "openblas_get_num_threads")):
                if hasattr(lib, sname) and hasattr(lib, gname):
                    setter, getter = getattr(lib, sname), getattr(lib, gname)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    found.append((setter, getter))
                    break
        _OTHER_OPENBLAS = found
    return _OTHER_OPENBLAS


class single_threaded_blas:
    """Context manager: NumPy's and SciPy's OpenBLAS single-threaded inside the block, the
    previous thread counts restored after it (:func:`simulations._blas.serial_blas` for
    NumPy's; SciPy's own OpenBLAS through its ``scipy_openblas_set_num_threads``)."""

    def __enter__(self):
        from ._blas import serial_blas

        self._numpy = serial_blas()
        self._numpy.__enter__()
        self._saved = []
        for setter, getter in _other_openblas():
            prev = getter()
            self._saved.append((setter, prev))
            if prev != 1:
                setter(1)
        return self

    def __exit__(self, *exc):
        for setter, prev in self._saved:
            if prev != 1:
                setter(prev)
        return self._numpy.__exit__(*exc)


def _run_rfm_unit(config: dict, train_fraction: float, seed: int, progress=None) -> dict:
    """One RFM run (Algorithm 1) on the split ``task.split(train_fraction, seed)``.

    Parameters
    ----------
    config : dict
        :meth:`RFMConfig.to_dict` (plain data, so that the unit pickles).
    train_fraction : float
    seed : int
    progress : callable, optional
        ``progress(t)`` after iteration t (serial use only).

    Returns
    -------
    dict
        Arrays over iterations (``METRICS``), ``solve_method``, ``features`` (k, d, d) at
        ``save_at``, ``n_train``, ``success``, ``status``, ``message``. A failed solve ends the
        run with ``success = False`` and NaN in the iterations not reached.
    """
    cfg = config
    task = make_task(cfg["task"], cfg["task_params"])
    split = task.split(train_fraction, seed)
    labels = task.labels()
    Xtr, Xte = task.inputs(split.train), task.inputs(split.test)
    Ytr = task.targets(split.train, centered=cfg["centred_targets"])
    Yte = task.targets(split.test, centered=cfg["centred_targets"])
    ltr, lte = labels[split.train], labels[split.test]
    T = int(cfg["iterations"])
    d = Xtr.shape[1]
    kind = getattr(getattr(task, "op", None), "kind", "add")
    direction, reorder = deviation_convention(kind)
    perm = discrete_log_order(task.P) if reorder else None
    out = {k: np.full(T, np.nan) for k in METRICS}
    out["solve_method"] = np.full(T, SOLVE_METHODS["not run"], dtype=np.int64)
    saves = list(cfg["save_at"])
    features = np.full((len(saves), d, d), np.nan)
    kw = dict(kernel=cfg["kernel"], bandwidth=cfg["bandwidth"], bandwidth_form=cfg["bandwidth_form"])
    M = np.eye(d)
    history = []
    status, message = "ok", f"{T} iterations"
    for t in range(T):
        t0 = time.perf_counter()
        if t in saves:
            features[saves.index(t)] = M
        gram = mahalanobis_gram(Xtr, Xtr, M)
        K = kernel_matrix(Xtr, Xtr, M, gram=gram, **kw)
        try:
            alpha, method = solve_kernel_machine(K, Ytr, cfg["ridge"])
        except (np.linalg.LinAlgError, ValueError) as exc:
            status = "failed"
            message = f"iteration {t}: the kernel system could not be solved ({' '.join(str(exc).split())})"
            break
        out["solve_method"][t] = SOLVE_METHODS[method]
        out["train_loss"][t], out["train_accuracy"][t], out["train_correct_loss"][t] = _metrics(K @ alpha, Ytr, ltr)
        Fte = predict(Xte, Xtr, alpha, M, **kw) if len(Xte) else np.zeros((0, Ytr.shape[1]))
        out["test_loss"][t], out["test_accuracy"][t], out["test_correct_loss"][t] = _metrics(Fte, Yte, lte)
        G = agop(Xtr, alpha, M, centre=cfg["centre_gradients"], memory_budget=cfg["memory_budget"],
                 gram=gram, K=K, **kw)
        del K, gram
        M = psd_power(G, cfg["power"])
        if not np.all(np.isfinite(M)) or not np.any(M):
            status = "failed"
            message = f"iteration {t}: the AGOP is {'zero' if np.all(np.isfinite(M)) else 'not finite'}"
            break
        left, right = feature_deviations(M, perm)
        out["circulant_deviation"][t], out["hankel_deviation"][t] = left, right
        out["deviation"][t] = left if direction == "left" else right
        history.append(M)
        out["seconds"][t] = time.perf_counter() - t0
        if progress is not None:
            progress(t)
    else:
        if T in saves:
            features[saves.index(T)] = M
    if history:
        final = history[-1]
        for t, Mt in enumerate(history):
            out["alignment"][t] = alignment(Mt, final)
    out.update(features=features, n_train=split.n_train, success=status == "ok", status=status,
               message=message)
    return out


def _unit(config, train_fraction, seed):
    """Runner unit (module level: picklable by reference)."""
    return run_rfm_unit(config, train_fraction, seed)


def run_rfm(config: RFMConfig, runner=None, progress=None) -> "RFMResult":
    """Run every (train fraction, seed) unit of ``config`` through ``runner``
    (:func:`adaptive_kernel.runner.run_units`; serial by default) and collect an
    :class:`RFMResult`. Identical bits on every runner (each unit depends on its arguments
    only).

    ``progress(n_done, n_total)`` counts finished units.
    """
    from adaptive_kernel.runner import Unit, run_units

    cfg = config.to_dict()
    units = [Unit(("train_fraction", i, "seed", s), _unit, (cfg, f, s))
             for i, f in enumerate(config.train_fractions) for s in config.seeds]
    t0 = time.perf_counter()
    outs = run_units(units, runner, progress=progress)
    wall = time.perf_counter() - t0
    return RFMResult.from_units(config, outs, wall)


# ---------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------
_DESCRIPTIONS = {
    "train_fraction": "requested training fraction of each row of results",
    "seed": "split seed of each column of results (task.split(train_fraction, seed))",
    "iteration": "RFM iteration t (predictor f_t solved with M_t; M_0 = I)",
    "train_loss": "training mean squared error over all outputs of f_t",
    "train_accuracy": "training accuracy of f_t (argmax)",
    "train_correct_loss": "training mean squared error of the correct-class output of f_t",
    "test_loss": "test mean squared error over all outputs of f_t",
    "test_accuracy": "test accuracy of f_t (argmax)",
    "test_correct_loss": "test mean squared error of the correct-class output of f_t",
    "circulant_deviation": "circulant deviation (rows shifted left: 0 on circulants) of the off-diagonal "
                           "block of M_{t+1} (reordered by the discrete log for mul/div)",
    "hankel_deviation": "circulant deviation with rows shifted right (the paper's wording: 0 on Hankel "
                        "blocks) of the off-diagonal block of M_{t+1}",
    "deviation": "the deviation of the operation's convention (attribute deviation_direction)",
    "alignment": "AGOP alignment: cosine similarity of M_{t+1} with the final M_T",
    "seconds": "wall time of iteration t",
    "solve_method": "kernel solve of iteration t: 0 Cholesky, 1 LU, -1 not run",
    "n_train": "number of training pairs",
    "success": "False where the run stopped early (see status, message)",
    "status": "ok or failed",
    "message": "one line on how the run ended",
    "grok_iteration": f"first iteration with test accuracy >= {GROK_ACCURACY} (-1: never)",
    "feature_iterations": "index t of each stored feature matrix M_t (0: identity, T: final)",
    "features": "feature matrices M_t (train_fraction, seed, stored index, 2P, 2P)",
    "reorder_permutation": "discrete-log order of the residues (perm[0] = 0, perm[1 + k] = g^k)",
}


class RFMResult:
    """Result of :func:`run_rfm` (module docstring: conventions and file layout).

    Attributes
    ----------
    task : str
    task_params : dict
    config : dict
        The run's options (:class:`RFMConfig` fields, without ``task``/``task_params``).
    train_fraction : ndarray (F,)
    seeds : ndarray (S,)
    iteration : ndarray (T,)
    metrics : dict
        ``{name: ndarray (F, S, T)}`` for :data:`METRICS` and ``solve_method``.
    n_train, success, status, message : ndarray (F, S)
    feature_iterations : ndarray (k,)
    features : ndarray (F, S, k, 2P, 2P)
    reorder_permutation : ndarray (P,) or None
    deviation_direction : str
    wall_time : float
    attrs : dict
        Root attributes of a loaded file.
    """

    kind = KIND

    def __init__(self, task, task_params, config, train_fraction, seeds, metrics, n_train, success,
                 status, message, feature_iterations, features, reorder_permutation=None,
                 deviation_direction="left", wall_time=float("nan"), attrs=None):
        self.task = task
        self.task_params = dict(task_params)
        self.config = dict(config)
        self.train_fraction = np.asarray(train_fraction, float)
        self.seeds = np.asarray(seeds, np.int64)
        self.metrics = metrics
        T = next(iter(metrics.values())).shape[-1]
        self.iteration = np.arange(T)
        self.n_train = np.asarray(n_train, np.int64)
        self.success = np.asarray(success, bool)
        self.status = np.asarray(status, object)
        self.message = np.asarray(message, object)
        self.feature_iterations = np.asarray(feature_iterations, np.int64)
        self.features = np.asarray(features, float)
        self.reorder_permutation = None if reorder_permutation is None else np.asarray(reorder_permutation)
        self.deviation_direction = deviation_direction
        self.wall_time = float(wall_time)
        self.attrs = attrs or {}

    @classmethod
    def from_units(cls, config: RFMConfig, outs: list, wall_time: float = float("nan")):
        F, S = len(config.train_fractions), len(config.seeds)
        grid = [[outs[i * S + j] for j in range(S)] for i in range(F)]
        names = METRICS + ("solve_method",)
        metrics = {k: np.array([[grid[i][j][k] for j in range(S)] for i in range(F)]) for k in names}
        pick = lambda k: [[grid[i][j][k] for j in range(S)] for i in range(F)]  # noqa: E731
        task = make_task(config.task, config.task_params)
        kind = getattr(getattr(task, "op", None), "kind", "add")
        direction, reorder = deviation_convention(kind)
        cfg = {k: v for k, v in config.to_dict().items() if k not in ("task", "task_params", "extra",
                                                                      "train_fractions", "seeds")}
        return cls(config.task, task.params(), cfg, config.train_fractions, config.seeds, metrics,
                   pick("n_train"), pick("success"), pick("status"), pick("message"), config.save_at,
                   np.array(pick("features")), discrete_log_order(task.P) if reorder else None, direction,
                   wall_time)

    # -- derived ----------------------------------------------------------------------
    @property
    def P(self) -> int:
        return int(self.task_params.get("P", self.features.shape[-1] // 2))

    @property
    def operation(self) -> str:
        return str(self.task_params.get("operation", ""))

    def grok_iteration(self, threshold: float = GROK_ACCURACY) -> np.ndarray:
        """(F, S) first iteration whose test accuracy reaches ``threshold``; -1 if none."""
        acc = np.nan_to_num(self.metrics["test_accuracy"], nan=-1.0)
        hit = acc >= threshold
        return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)

    def feature_matrix(self, t: int, fraction_index: int = 0, seed_index: int = 0) -> np.ndarray:
        """The stored M_t (KeyError-free: ParameterError naming the stored indices)."""
        where = np.flatnonzero(self.feature_iterations == int(t))
        if where.size == 0:
            raise ParameterError(f"M_{t} was not stored; stored: {', '.join(map(str, self.feature_iterations))}")
        return self.features[fraction_index, seed_index, int(where[0])]

    def summary(self) -> str:
        """One line per (train fraction, seed): final accuracies and the grokking iteration."""
        g = self.grok_iteration()
        lines = [f"RFM {self.config.get('kernel')} kernel, {self.task} {self.operation} P={self.P}, "
                 f"{len(self.iteration)} iterations"]
        for i, f in enumerate(self.train_fraction):
            for j, s in enumerate(self.seeds):
                tr = self.metrics["train_accuracy"][i, j]
                te = self.metrics["test_accuracy"][i, j]
                last = np.flatnonzero(np.isfinite(te))
                k = last[-1] if last.size else 0
                lines.append(f"  fraction {f:g} seed {s}: n_train {self.n_train[i, j]}, train acc "
                             f"{tr[k]:.3f}, test acc {te[k]:.3f} (iteration {k}), test acc >= "
                             f"{GROK_ACCURACY:g} "
                             + (f"from iteration {g[i, j]}" if g[i, j] >= 0 else "never (censored)")
                             + ("" if self.success[i, j] else f" [{self.status[i, j]}: {self.message[i, j]}]"))
        return "\n".join(lines)

    def info(self) -> str:
        """What ``phasesim info`` prints: provenance, the run's settings and :meth:`summary`."""
        lines = [f"kind:       {self.kind}"]
        for key in ("package_version", "created", "command"):
            if key in self.attrs:
                lines.append(f"{key + ':':<11} {self.attrs[key]}")
        lines.append("settings:   " + ", ".join(f"{k}={v}" for k, v in self.config.items()))
        return "\n".join(lines + [self.summary()])

    # -- files ------------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write the file atomically (kind ``rfm``; refuses an existing file unless
        ``overwrite``)."""
        import h5py

        from adaptive_kernel.storage import describe, write_result

        def fill(f):
            g = f.create_group("params")
            for k, v in self.task_params.items():
                g.attrs[k] = v
            R = f.create_group("rfm")
            for k, v in self.config.items():
                R.attrs[k] = np.asarray(v) if isinstance(v, (tuple, list)) else v
            R.attrs["task"] = self.task
            R.attrs["deviation_direction"] = self.deviation_direction
            R.attrs["wall_time_s"] = self.wall_time
            R.attrs["solve_method_codes"] = str(SOLVE_METHODS)
            data = {"train_fraction": self.train_fraction, "seed": self.seeds, "iteration": self.iteration,
                    **self.metrics, "n_train": self.n_train, "success": self.success,
                    "grok_iteration": self.grok_iteration(), "feature_iterations": self.feature_iterations}
            for k, v in data.items():
                units = "s" if k == "seconds" else "1" if np.asarray(v).dtype.kind == "f" else None
                describe(R.create_dataset(k, data=v), _DESCRIPTIONS.get(k, k), units)
            for k in ("status", "message"):
                describe(R.create_dataset(k, data=np.asarray(getattr(self, k), dtype=object).astype(str).tolist(),
                                          dtype=h5py.string_dtype()), _DESCRIPTIONS[k])
            describe(R.create_dataset("features", data=self.features, compression="gzip", shuffle=True),
                     _DESCRIPTIONS["features"], "1")
            if self.reorder_permutation is not None:
                describe(R.create_dataset("reorder_permutation", data=self.reorder_permutation),
                         _DESCRIPTIONS["reorder_permutation"])

        return write_result(path, KIND, fill, overwrite, command, teacher=self.task, attrs=self.attrs,
                            format_version=FORMAT_VERSION)

    @classmethod
    def from_hdf5(cls, path):
        """Read a file written by :meth:`to_hdf5` (FileFormatError, one line, if it is not one)."""
        from adaptive_kernel.storage import open_h5, py_value

        with open_h5(path) as f:
            if "rfm" not in f:
                raise FileFormatError(f"{path}: no 'rfm' group (written by 'phasesim rfm'); this file holds "
                                      f"{', '.join(sorted(f)) or 'nothing'}")
            R = f["rfm"]
            missing = [k for k in ("train_fraction", "seed", "features", "feature_iterations", *METRICS)
                       if k not in R]
            if missing:
                raise FileFormatError(f"{path}: missing dataset(s) {', '.join('rfm/' + k for k in missing)}")
            attrs = {k: py_value(v) for k, v in f.attrs.items()}
            ra = {k: (v.tolist() if isinstance(v, np.ndarray) else py_value(v)) for k, v in R.attrs.items()}
            task = str(ra.pop("task", attrs.get("teacher", "")))
            direction = str(ra.pop("deviation_direction", "left"))
            wall = float(ra.pop("wall_time_s", float("nan")))
            ra.pop("solve_method_codes", None)
            params = {k: py_value(v) for k, v in f["params"].attrs.items()} if "params" in f else {}
            metrics = {k: R[k][()] for k in METRICS + ("solve_method",) if k in R}
            dec = lambda a: [[x.decode() if isinstance(x, bytes) else str(x) for x in row] for row in a]  # noqa: E731
            perm = R["reorder_permutation"][()] if "reorder_permutation" in R else None
            return cls(task, params, ra, R["train_fraction"][()], R["seed"][()], metrics, R["n_train"][()],
                       R["success"][()], dec(R["status"][()]), dec(R["message"][()]),
                       R["feature_iterations"][()], R["features"][()], perm, direction, wall, attrs)


__all__ = ["KERNELS", "BANDWIDTH_FORMS", "RFMConfig", "RFMResult", "run_rfm", "run_rfm_unit",
           "kernel_matrix", "mahalanobis_gram", "solve_kernel_machine", "predict", "agop", "agop_weights",
           "agop_batch_size", "two_hot_tokens", "psd_power", "abs_power", "circulant_deviation", "shift_rows",
           "off_diagonal_block", "alignment", "pearson_correlation", "smallest_generator",
           "discrete_log_order", "reorder_feature_matrix", "deviation_convention", "feature_deviations",
           "cyclic_shift", "theorem51_feature_matrix", "random_circulant_matrix", "neural_feature_matrix",
           "network_agop", "nfm_agop_correlation", "fit_and_score", "random_circulant_experiment", "estimate_memory", "gaussian_gamma", "make_task",
           "pair_task_names", "single_threaded_blas", "KIND", "FORMAT_VERSION"]
