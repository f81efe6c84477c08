r"""Kernel machines in the kernel (lazy) regime on modular arithmetic (``phasesim kernel``).

Why the kernel regime cannot generalise on modular arithmetic from a fraction of the pairs
(Mohamadi et al., ICML 2024, arXiv 2407.12332; THEORY.md section 8), measured with the
kernels of the task's two-layer square-activation student.

Network and parametrisations
----------------------------
The student, with P outputs and width N, on the two-hot input x of a pair (n, m),

.. math:: f_q(x) = c \sum_{k=1}^N W2_{qk}\, h_k(x)^2,\qquad h = W1\,x,

W1 (N, 2P) (first P columns token n, last P columns token m), W2 (P, N), independent
Gaussian entries W1 ~ N(0, sigma_W^2), W2 ~ N(0, sigma_V^2) (:func:`network_scales`):

* ``"mean-field"`` (Gromov's eq. 4): c = 1/(D N), D = 2P, sigma_W^2 = sigma_V^2 = 1;
* ``"standard"``: c = 1, by default He's initialisation (Mohamadi et al., App. A):
  sigma_W^2 = 2/(2P) = 1/P, sigma_V^2 = 2/N.

Kernels (``KERNELS``)
---------------------
* ``"nngp"``: the task's closed-form NNGP (:meth:`ModularArithmetic.nngp_kernel`,
  sigma_a2 = 1), Q = |x|^2|x'|^2 + 2 (x.x')^2, the kernel the adaptive-kernel theory starts
  from.
* ``"ntk"``: the expected NTK at initialisation (:func:`expected_ntk`),
  c^2 N sigma_W^2 [sigma_W^2 (|x|^2|x'|^2 + 2 (x.x')^2) + 4 sigma_V^2 (x.x')^2].
* ``"empirical-ntk"``: the NTK of one finite network at initialisation
  (:func:`empirical_ntk`), weights drawn from ``split_seed_sequence(seed, "kernel-init")``
  (the same network at every training fraction of a seed).

On distinct two-hot pairs x.x' = d_nn' + d_mm' and |x|^2 = 2, and both closed-form
kernels take the form (:func:`pair_kernel_coefficients`)

.. math:: K = c_0 + c_1 (\delta_{nn'} + \delta_{mm'}) + c_2\,\delta_{nn'}\delta_{mm'} .

Consequences (tested):

* On all P^2 pairs the plane waves e_kl(n, m) = exp(2 pi i (kn + lm)/P)/P diagonalise K
  (:func:`sector_eigenvalues`): (0,0): c0 P^2 + 2 c1 P + c2; (k,0),(0,k): c1 P + c2;
  (k,l), k,l != 0: c2. Modular addition's centred target lives in (k, k), the sector of
  the *smallest* eigenvalue.
* For a pair (n, m) outside the training set the term c2 d d vanishes against every
  training pair, so the kernel predictor there is additive,
  f_q(n, m) = c0 sum_i alpha_iq + c1 U_q(n) + c1 V_q(m) (U_q(n) the sum of the dual
  coefficients alpha_iq over training pairs with first token n): the kernel machine
  predicts on unseen pairs a function u_q(n) + v_q(m) + w_q, which cannot represent the
  target (the target restricted to the unseen pairs is far from additive;
  :func:`nonadditive_fraction`).

Measured (ridgeless, addition, 3 seeds, fractions 0.1 ... 0.9, P = 23 and 61, nngp and ntk):
training accuracy 1, test accuracy 0 (at most 0.001), i.e. *below* chance 1/P, and test
loss above the zero predictor's 1 - 1/P. A plausible reading (not proved here): the label
(n + m) mod P of an unseen pair is exactly the one missing from the training labels of row
n and of column m, and the additive predictor is built from those rows and columns.

Kernel regression
-----------------
Targets: the task's *centred* one-hot y_q = d_{q,c} - 1/P (centring shifts every output by
the same amount, so the argmax predictions do not depend on it; the losses do).
Prediction f(X*) = K(X*, X) alpha with (K + lambda <diag K> I) alpha = Y: ``ridge`` =
lambda is relative to the mean diagonal of the training kernel (so it does not depend on
the parametrisation's overall scale); ridge 0 is ridgeless (Cholesky; if the kernel is
numerically singular, the minimum-norm least-squares solution, status ``"pseudo-inverse"``).
The empirical NTK is used without the network's output at initialisation (f0 = 0, as for a
symmetrised initialisation). Accuracy: argmax_q f_q equals the label. Loss: squared error
summed over the P outputs, averaged over pairs; the zero predictor has loss 1 - 1/P.

Units of work and seeds
-----------------------
Each (P, training fraction, seed) is one unit (:func:`regression_unit`), run through
:mod:`adaptive_kernel.runner` with NumPy's BLAS single-threaded inside the unit (so the bits
do not depend on the runner); the split is the package's ``task.split(fraction, seed)``.

File layout (kind ``"kernel"``)
-------------------------------
Root attributes: provenance (command, versions, created), ``kind``, ``format_version``, the
run's parameters. Group ``kernel``: coordinates ``P``, ``train_fraction``, ``seed``; per
(P, fraction, seed) the datasets of :data:`UNIT_FIELDS`; per P the datasets of
:data:`PER_P_FIELDS`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from adaptive_kernel.errors import FileFormatError, ParameterError

#: Kernel names (``--kernel``).
KERNELS = ("nngp", "ntk", "empirical-ntk")
#: Parametrisations of the student (``--parametrisation``).
PARAMETRISATIONS = ("mean-field", "standard")
#: Sectors of the Fourier decomposition on all P^2 pairs.
SECTORS = ("00", "k0", "kl")
#: Seed tag of the empirical NTK's network weights.
INIT_TAG = "kernel-init"
FORMAT_VERSION = 1
KIND = "kernel"

#: Per (P, fraction, seed) quantities: name -> (description, units).
UNIT_FIELDS = {
    "n_train": ("training pairs", "1"),
    "n_test": ("test pairs", "1"),
    "train_accuracy": ("fraction of training pairs whose argmax prediction is the label", "1"),
    "test_accuracy": ("fraction of test pairs whose argmax prediction is the label (NaN: no test pair)", "1"),
    "train_loss": ("training loss: squared error summed over the P outputs, mean over pairs", "1"),
    "test_loss": ("test loss: squared error summed over the P outputs, mean over pairs "
                  "(the zero predictor has 1 - 1/P)", "1"),
    "test_nonadditive": ("non-additive fraction of the test predictions: |F - additive fit| / |F - mean F| "
                         "over the test pairs (0: f_q(n,m) = u_q(n) + v_q(m) + w_q exactly)", "1"),
    "target_nonadditive": ("the same for the centred target on the test pairs", "1"),
    "target_eigenvalue": ("Rayleigh quotient tr(Y^T K Y)/tr(Y^T Y) of the centred target on all pairs "
                          "under the unit's kernel", "kernel units"),
    "kernel_scale": ("mean diagonal of the training kernel (the unit of the ridge)", "kernel units"),
    "success": ("the regression solved and every prediction is finite", None),
    "status": ("'cholesky', 'pseudo-inverse' (numerically singular kernel) or 'failed'", None),
    "message": ("what went wrong, if anything", None),
}
#: Per P quantities: name -> (description, units).
PER_P_FIELDS = {
    "coefficients": ("(c0, c1, c2) of K = c0 + c1 (d_nn' + d_mm') + c2 d_nn' d_mm' on distinct pairs "
                     "(empirical-ntk: of its expectation, the ntk)", "kernel units"),
    "sector_eigenvalues": ("eigenvalues of the kernel on all P^2 pairs by Fourier sector (00, k0, kl) "
                           "(empirical-ntk: of its expectation)", "kernel units"),
    "sector_multiplicity": ("multiplicity of each sector (1, 2(P-1), (P-1)^2)", "1"),
    "target_nngp_eigenvalue": ("the adaptive-kernel theory's NNGP eigenvalue of the target "
                               "(task.target_nngp_eigenvalue, sigma_a2 = 1)", "sigma_a2"),
    "nngp_sector_eigenvalues": ("the task's NNGP sector eigenvalues (task.nngp_sectors, sigma_a2 = 1)",
                                "sigma_a2"),
}


# ---------------------------------------------------------------------------------------
# network, parametrisations
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkScales:
    """Scales of the student f_q = c sum_k W2_qk (W1 x)_k^2.

    Attributes
    ----------
    parametrisation : str
        ``"mean-field"`` or ``"standard"``.
    width : int
        N, hidden units.
    output_scale : float
        c.
    sigma_w2, sigma_v2 : float
        Variances of the entries of W1 and W2.
    """

    parametrisation: str
    width: int
    output_scale: float
    sigma_w2: float
    sigma_v2: float

    def as_dict(self) -> dict:
        return {"parametrisation": self.parametrisation, "width": self.width,
                "output_scale": self.output_scale, "sigma_w2": self.sigma_w2, "sigma_v2": self.sigma_v2}


def default_width(P: int) -> int:
    """Default width N = 4P (Mohamadi et al.'s Fig. 3)."""
    return 4 * int(P)


def network_scales(parametrisation: str, P: int, width: int | None = None, sigma_w2: float | None = None,
                   sigma_v2: float | None = None) -> NetworkScales:
    r"""Output scale and weight variances of a parametrisation.

    * ``"mean-field"``: c = 1/(D N), D = 2P, sigma_W^2 = sigma_V^2 = 1 (Gromov's eq. 4); the
      variances may not be changed.
    * ``"standard"``: c = 1; defaults sigma_W^2 = 2/(2P) = 1/P and sigma_V^2 = 2/N (He's
      initialisation, fan-in 2P and N).

    Parameters
    ----------
    parametrisation : str
    P : int
    width : int, optional
        N (default :func:`default_width`).
    sigma_w2, sigma_v2 : float, optional
        Standard parametrisation only.

    Raises
    ------
    ParameterError
        Unknown parametrisation, width < 1, non-positive variances, or variances given with
        the mean-field parametrisation.
    """
    if parametrisation not in PARAMETRISATIONS:
        raise ParameterError(f"parametrisation must be one of {', '.join(PARAMETRISATIONS)}; "
                             f"got {parametrisation!r}")
    N = default_width(P) if width is None else width
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise ParameterError(f"width must be an integer >= 1; got {width!r}")
    N = int(N)
    if parametrisation == "mean-field":
        if sigma_w2 is not None or sigma_v2 is not None:
            raise ParameterError("sigma_w2 and sigma_v2 apply to the standard parametrisation only "
                                 "(the mean-field one has unit-variance weights)")
        return NetworkScales("mean-field", N, 1.0 / (2.0 * P * N), 1.0, 1.0)
    sw = 1.0 / P if sigma_w2 is None else float(sigma_w2)
    sv = 2.0 / N if sigma_v2 is None else float(sigma_v2)
    for name, v in (("sigma_w2", sw), ("sigma_v2", sv)):
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(f"{name} must be a finite number > 0; got {v!r}")
    return NetworkScales("standard", N, 1.0, sw, sv)


def init_network(P: int, scales: NetworkScales, seed: int):
    """Gaussian weights (W1 (N, 2P), W2 (P, N)) drawn from
    ``default_rng(split_seed_sequence(seed, INIT_TAG))``: W1 first, then W2."""
    from adaptive_kernel.tasks import split_seed_sequence

    rng = np.random.default_rng(split_seed_sequence(seed, INIT_TAG))
    W1 = rng.standard_normal((scales.width, 2 * P)) * math.sqrt(scales.sigma_w2)
    W2 = rng.standard_normal((P, scales.width)) * math.sqrt(scales.sigma_v2)
    return W1, W2


# ---------------------------------------------------------------------------------------
# empirical NTK
# ---------------------------------------------------------------------------------------
def _check_network(W1, W2, pairs):
    W1 = np.asarray(W1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    pairs = np.asarray(pairs)
    if W1.ndim != 2 or W1.shape[1] % 2:
        raise ParameterError(f"W1 must be a 2-D array of shape (N, 2P); got shape {W1.shape}")
    N, P = W1.shape[0], W1.shape[1] // 2
    if W2.ndim != 2 or W2.shape[1] != N:
        raise ParameterError(f"W2 must have shape (outputs, N) = (outputs, {N}); got shape {W2.shape}")
    if pairs.ndim != 2 or pairs.shape[1] != 2 or not np.issubdtype(pairs.dtype, np.integer):
        raise ParameterError(f"pairs must be an (n, 2) integer array; got shape {pairs.shape}, "
                             f"dtype {pairs.dtype}")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= P):
        raise ParameterError(f"pairs must hold residues in [0, {P - 1}] (P = W1.shape[1] / 2 = {P}); "
                             f"got values in [{pairs.min()}, {pairs.max()}]")
    return W1, W2, pairs.astype(np.int64), P


def hidden_preactivations(W1, pairs) -> np.ndarray:
    r"""Hidden pre-activations h = W1 x of two-hot inputs.

    For the pair (n, m), x = e_n + e_{P+m}, so h_k(x) = W1[k, n] + W1[k, P + m].

    Parameters
    ----------
    W1 : ndarray, shape (N, 2P)
        Read-in weights (first P columns token n, last P columns token m).
    pairs : ndarray of int, shape (n, 2)

    Returns
    -------
    ndarray, shape (n, N)
    """
    P = W1.shape[1] // 2
    return W1[:, pairs[:, 0]].T + W1[:, P + pairs[:, 1]].T


def _pair_dots(pairs1, pairs2) -> np.ndarray:
    """x.x' = d_nn' + d_mm' of two-hot pairs, shape (n1, n2)."""
    return ((pairs1[:, 0][:, None] == pairs2[:, 0][None, :]).astype(np.float64)
            + (pairs1[:, 1][:, None] == pairs2[:, 1][None, :]))


def empirical_ntk_cross(W1, W2, pairs1, pairs2, output_scale) -> np.ndarray:
    """The kernel of :func:`empirical_ntk` between two sets of pairs, shape (n1, n2)."""
    W1, W2, pairs1, _ = _check_network(W1, W2, pairs1)
    _, _, pairs2, _ = _check_network(W1, W2, pairs2)
    c2 = float(output_scale) ** 2
    H1 = hidden_preactivations(W1, pairs1)
    H2 = H1 if pairs2 is pairs1 else hidden_preactivations(W1, pairs2)
    v = 4.0 * np.mean(W2 * W2, axis=0)                    # (4/P) sum_q W2_qk^2
    K = (H1 * v) @ H2.T
    K *= _pair_dots(pairs1, pairs2)
    K += (H1 * H1) @ (H2 * H2).T
    K *= c2
    return K


def empirical_ntk(W1, W2, pairs, P, output_scale) -> np.ndarray:
    r"""Empirical neural tangent kernel of a finite two-layer square-activation network.

    Network: :math:`f_q(x) = c \sum_k W2_{qk} h_k(x)^2`, :math:`h = W1 x`, with
    ``c = output_scale`` (1 for the standard parametrisation, 1/(D N) for Gromov's
    mean-field one), x the two-hot input of a pair. The NTK is
    :math:`\Theta_{qq'}(x, x') = \sum_\theta \partial_\theta f_q(x)\,\partial_\theta f_{q'}(x')`
    over all parameters. With

    .. math:: \partial f_q/\partial W2_{q'k} = c\,\delta_{qq'}\,h_k(x)^2,\qquad
              \partial f_q/\partial W1_{kj} = 2c\,W2_{qk}\,h_k(x)\,x_j,

    the output-diagonal block averaged over the P outputs,
    :math:`K = \frac1P\sum_q \Theta_{qq}`, is

    .. math:: K(x, x') = c^2\Big[\frac1P\sum_q\sum_k 4\,W2_{qk}^2\,h_k(x)h_k(x')\,(x\cdot x')
              + \sum_k h_k(x)^2 h_k(x')^2\Big],

    where :math:`x\cdot x' = \delta_{nn'} + \delta_{mm'}` for pairs (n, m), (n', m').
    (The off-diagonal blocks q != q' have only the W1 term,
    :math:`4c^2\sum_k W2_{qk}W2_{q'k}h_kh_k'(x\cdot x')`, and are not returned.)

    Parameters
    ----------
    W1 : array_like, shape (N, 2P)
        Read-in weights: first P columns token n, last P columns token m.
    W2 : array_like, shape (P, N)
        Read-out weights (one row per output).
    pairs : array_like of int, shape (n, 2)
        The pairs (n, m) at which the kernel is evaluated.
    P : int
        Modulus (must equal ``W1.shape[1] / 2``).
    output_scale : float
        The constant c in front of the network.

    Returns
    -------
    ndarray, shape (n, n)
        K on ``pairs`` x ``pairs`` (symmetric positive semi-definite).

    Raises
    ------
    ParameterError
        Shapes inconsistent with each other or with P, residues out of range.
    """
    W1, W2, pairs, P_w = _check_network(W1, W2, pairs)
    if int(P) != P_w:
        raise ParameterError(f"P must equal W1.shape[1] / 2 = {P_w}; got {P}")
    return empirical_ntk_cross(W1, W2, pairs, pairs, output_scale)


def empirical_target_rayleigh(W1, W2, pairs, Y, output_scale) -> float:
    r"""tr(Y^T K Y) / tr(Y^T Y) for the empirical NTK K on ``pairs``, without forming K.

    With the grouped sums G^n_{p k}(n_0) = sum_{i: n_i = n_0} Y_{ip} h_{ik} (and G^m likewise
    over the second token) and v_k = (4/P) sum_q W2_qk^2,

    .. math:: \mathrm{tr}(Y^TKY) = c^2\Big[\sum_k v_k \sum_{p}\big(\sum_{n_0} G^n_{pk}(n_0)^2
              + \sum_{m_0} G^m_{pk}(m_0)^2\big) + \sum_{k,p}\big(\sum_i Y_{ip} h_{ik}^2\big)^2\Big],

    since x.x' = sum_j x_j x'_j splits the first term of :func:`empirical_ntk` over the input
    coordinates j. O(n P N) work, O(n N) memory.
    """
    W1, W2, pairs, P = _check_network(W1, W2, pairs)
    Y = np.asarray(Y, dtype=np.float64)
    H = hidden_preactivations(W1, pairs)
    v = 4.0 * np.mean(W2 * W2, axis=0)
    first = 0.0
    for col in (0, 1):
        tok = pairs[:, col]
        order = np.argsort(tok, kind="stable")
        bounds = np.searchsorted(tok[order], np.arange(P + 1))
        for t in range(P):
            rows = order[bounds[t]:bounds[t + 1]]
            if rows.size:
                G = Y[rows].T @ H[rows]                  # (outputs, N)
                first += float(np.sum((G * G) @ v))
    S = Y.T @ (H * H)                                    # (outputs, N)
    second = float(np.sum(S * S))
    return float(output_scale) ** 2 * (first + second) / float(np.sum(Y * Y))


# ---------------------------------------------------------------------------------------
# closed-form kernels
# ---------------------------------------------------------------------------------------
def expected_ntk(task, X1, X2, scales: NetworkScales) -> np.ndarray:
    r"""Expected NTK at initialisation of the square-activation student (per output).

    Averaging :func:`empirical_ntk` over W1 ~ N(0, sigma_W^2), W2 ~ N(0, sigma_V^2)
    (independent entries): h_k(x) is Gaussian with E[h_k(x) h_k(x')] = sigma_W^2 x.x', so
    by Isserlis E[h_k^2 h_k'^2] = sigma_W^4 (|x|^2|x'|^2 + 2 (x.x')^2), and
    E[W2_qk^2] = sigma_V^2. Summing the N independent neurons,

    .. math:: \bar K(x, x') = c^2 N \sigma_W^2\big[\sigma_W^2\,(|x|^2|x'|^2 + 2 (x\cdot x')^2)
              + 4\sigma_V^2\,(x\cdot x')^2\big].

    The first term (read-out weights) is the task's NNGP kernel with
    sigma_a2 = c^2 N sigma_W^4 (:meth:`Task.nngp_kernel`, reused here); the second comes
    from the read-in weights. On distinct two-hot pairs (|x|^2 = 2,
    (x.x')^2 = d_nn' + d_mm' + 2 d_nn' d_mm'), with A = c^2 N sigma_W^2,

    .. math:: \bar K = 4A\sigma_W^2 + A(2\sigma_W^2 + 4\sigma_V^2)(\delta_{nn'} + \delta_{mm'})
              + A(4\sigma_W^2 + 8\sigma_V^2)\,\delta_{nn'}\delta_{mm'},

    Mohamadi et al.'s Prop. B.3 form (their V-part sigma_W^4 [4 + (kappa - 1)(d + d) + 4 d d]
    with kurtosis kappa = 3, per neuron, restricted to equal outputs).

    Parameters
    ----------
    task : Task
        Supplies ``nngp_kernel``.
    X1 : array_like, shape (n1, d)
    X2 : array_like, shape (n2, d)
    scales : NetworkScales

    Returns
    -------
    ndarray, shape (n1, n2)
    """
    X1 = np.atleast_2d(np.asarray(X1, float))
    X2 = np.atleast_2d(np.asarray(X2, float))
    c2N = scales.output_scale ** 2 * scales.width
    G = X1 @ X2.T
    K = task.nngp_kernel(X1, X2, sigma_a2=c2N * scales.sigma_w2 ** 2)
    K += (4.0 * c2N * scales.sigma_v2 * scales.sigma_w2) * (G * G)
    return K


def pair_kernel_coefficients(kernel: str, scales: NetworkScales | None = None) -> tuple:
    r"""(c0, c1, c2) of K = c0 + c1 (d_nn' + d_mm') + c2 d_nn' d_mm' on distinct pairs.

    * ``nngp`` (sigma_a2 = 1): |x|^2|x'|^2 + 2 (x.x')^2 = 4 + 2(d + d) + 4 d d: (4, 2, 4).
    * ``ntk`` and ``empirical-ntk`` (its expectation): with A = c^2 N sigma_W^2,
      (4 A sigma_W^2, A (2 sigma_W^2 + 4 sigma_V^2), A (4 sigma_W^2 + 8 sigma_V^2))
      (:func:`expected_ntk`).

    Both have c2 = 2 c1: they depend on the pair only through (x.x')^2.
    """
    if kernel == "nngp":
        return (4.0, 2.0, 4.0)
    if kernel not in KERNELS:
        raise ParameterError(f"kernel must be one of {', '.join(KERNELS)}; got {kernel!r}")
    A = scales.output_scale ** 2 * scales.width * scales.sigma_w2
    sw, sv = scales.sigma_w2, scales.sigma_v2
    return (4.0 * A * sw, A * (2.0 * sw + 4.0 * sv), A * (4.0 * sw + 8.0 * sv))


def pair_kernel_apply(coefficients, pairs, V, P: int) -> np.ndarray:
    r"""K V for K = c0 J + c1 (D_n + D_m) + c2 I on distinct pairs, without forming K:
    (KV)_i = c0 sum_j V_j + c1 (R_{n_i} + C_{m_i}) + c2 V_i, R_n (C_m) the sum of V over the
    rows with first (second) token n (m). V of shape (rows,) or (rows, channels)."""
    c0, c1, c2 = coefficients
    pairs = np.asarray(pairs, dtype=np.int64)
    V = np.asarray(V, float)
    V2 = V.reshape(pairs.shape[0], -1)
    R = np.zeros((P, V2.shape[1]))
    C = np.zeros((P, V2.shape[1]))
    np.add.at(R, pairs[:, 0], V2)
    np.add.at(C, pairs[:, 1], V2)
    out = c0 * V2.sum(axis=0) + c1 * (R[pairs[:, 0]] + C[pairs[:, 1]]) + c2 * V2
    return out.reshape(V.shape)


def sector_eigenvalues(coefficients, P: int) -> np.ndarray:
    r"""Eigenvalues of K = c0 J + c1 (D_n + D_m) + c2 I on all P^2 pairs, by Fourier sector.

    With e_kl(n, m) = exp(2 pi i (kn + lm)/P)/P: J e_kl = P^2 d_k0 d_l0 e_kl,
    D_n e_kl = P d_l0 e_kl (sum over m' at fixed n), D_m e_kl = P d_k0 e_kl, so

    =========================  ======================  ==================
    sector                     eigenvalue              multiplicity
    =========================  ======================  ==================
    ``00``: (0, 0)             c0 P^2 + 2 c1 P + c2    1
    ``k0``: (k, 0), (0, k)     c1 P + c2               2 (P - 1)
    ``kl``: k, l != 0          c2                      (P - 1)^2
    =========================  ======================  ==================

    Returns
    -------
    ndarray, shape (3,)
        In the order of :data:`SECTORS`.
    """
    c0, c1, c2 = coefficients
    return np.array([c0 * P * P + 2.0 * c1 * P + c2, c1 * P + c2, c2])


def sector_multiplicities(P: int) -> np.ndarray:
    """Multiplicities (1, 2 (P - 1), (P - 1)^2) of :data:`SECTORS`."""
    return np.array([1, 2 * (P - 1), (P - 1) ** 2], dtype=np.int64)


# ---------------------------------------------------------------------------------------
# regression and its diagnostics
# ---------------------------------------------------------------------------------------
def nonadditive_fraction(pairs, F, P: int) -> float:
    r"""How far F is from an additive function of the two tokens on ``pairs``.

    Least-squares fit of F_q(n, m) ~ u_q(n) + v_q(m) + w_q (every output q) over the
    given pairs; returns |F - fit| / |F - mean F| (Frobenius norms; 0 for an exactly
    additive F, NaN when F is constant or there are no pairs).

    Parameters
    ----------
    pairs : ndarray of int, shape (n, 2)
    F : ndarray, shape (n, outputs)
    P : int
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.shape[0] == 0:
        return float("nan")
    F = np.asarray(F, float).reshape(pairs.shape[0], -1)
    n = pairs.shape[0]
    A = np.zeros((n, 2 * P + 1))
    A[np.arange(n), pairs[:, 0]] = 1.0
    A[np.arange(n), P + pairs[:, 1]] = 1.0
    A[:, 2 * P] = 1.0
    coef = np.linalg.lstsq(A, F, rcond=None)[0]
    resid = F - A @ coef
    spread = np.linalg.norm(F - F.mean(axis=0))
    if spread == 0:
        return float("nan")
    return float(np.linalg.norm(resid) / spread)


def solve_kernel_regression(K, Y, ridge: float = 0.0):
    r"""Dual coefficients alpha of kernel regression, (K + ridge <diag K> I) alpha = Y.

    Cholesky factorisation (NumPy); if it fails (kernel numerically singular), the
    minimum-norm least-squares solution (``numpy.linalg.lstsq``, i.e. the pseudo-inverse).

    Returns
    -------
    alpha : ndarray, shape of Y
    status : str
        ``"cholesky"`` or ``"pseudo-inverse"``.
    scale : float
        <diag K>, the unit of the ridge.
    """
    n = K.shape[0]
    scale = float(np.trace(K) / n) if n else 0.0
    A = K + (ridge * scale) * np.eye(n) if ridge else K
    try:
        L = np.linalg.cholesky(A)
        Z = np.linalg.solve(L, Y)
        return np.linalg.solve(L.T, Z), "cholesky", scale
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, Y, rcond=None)[0], "pseudo-inverse", scale


def _metrics(F, Y, labels):
    if F.shape[0] == 0:
        return float("nan"), float("nan")
    acc = float(np.mean(np.argmax(F, axis=1) == labels))
    loss = float(np.mean(np.sum((F - Y) ** 2, axis=1)))
    return acc, loss


def kernel_blocks(kernel: str, task, train, test, scales: NetworkScales, seed: int):
    """(K_train (n_train, n_train), K_test (n_test, n_train)) of one kernel on a split."""
    pairs = task.pairs()
    if kernel == "empirical-ntk":
        W1, W2 = init_network(task.P, scales, seed)
        Ptr, Pte = pairs[train], pairs[test]
        Ktr = empirical_ntk_cross(W1, W2, Ptr, Ptr, scales.output_scale)
        Kte = empirical_ntk_cross(W1, W2, Pte, Ptr, scales.output_scale)
        return Ktr, Kte
    Xtr, Xte = task.inputs(train), task.inputs(test)
    if kernel == "nngp":
        return task.nngp_kernel(Xtr, Xtr, sigma_a2=1.0), task.nngp_kernel(Xte, Xtr, sigma_a2=1.0)
    return expected_ntk(task, Xtr, Xtr, scales), expected_ntk(task, Xte, Xtr, scales)


def regression_unit(config: dict, P: int, train_fraction: float, seed: int) -> dict:
    """One unit of ``phasesim kernel``: kernel regression of one task at one (P, fraction, seed).

    Parameters
    ----------
    config : dict
        ``task``, ``operation``, ``kernel``, ``ridge``, ``parametrisation``, ``width``
        (None: 4P), ``sigma_w2``, ``sigma_v2``.
    P : int
    train_fraction : float
    seed : int
        Split seed (``task.split(train_fraction, seed)``) and, for the empirical NTK, the
        network's seed.

    Returns
    -------
    dict
        The quantities of :data:`UNIT_FIELDS`. A failure (non-finite predictions) is
        reported in ``success``/``status``/``message``, its metrics NaN.
    """
    from adaptive_kernel.tasks import get_task

    from ._blas import serial_blas

    task = get_task(config["task"], P=P, operation=config["operation"])
    scales = network_scales(config["parametrisation"], P, config.get("width"), config.get("sigma_w2"),
                            config.get("sigma_v2"))
    split = task.split(train_fraction, seed)
    pairs, labels = task.pairs(), task.labels()
    Y = task.targets(None, centered=True)
    kernel = config["kernel"]
    out = {"n_train": split.n_train, "n_test": split.n_test}
    with serial_blas():
        Ktr, Kte = kernel_blocks(kernel, task, split.train, split.test, scales, seed)
        alpha, status, scale = solve_kernel_regression(Ktr, Y[split.train], float(config["ridge"]))
        Ftr = Ktr @ alpha
        Fte = Kte @ alpha
        del Ktr, Kte
        finite = bool(np.all(np.isfinite(Ftr)) and np.all(np.isfinite(Fte)))
        out["train_accuracy"], out["train_loss"] = _metrics(Ftr, Y[split.train], labels[split.train])
        out["test_accuracy"], out["test_loss"] = _metrics(Fte, Y[split.test], labels[split.test])
        te_pairs = pairs[split.test]
        out["test_nonadditive"] = nonadditive_fraction(te_pairs, Fte, P) if finite else float("nan")
        out["target_nonadditive"] = nonadditive_fraction(te_pairs, Y[split.test], P)
        if kernel == "empirical-ntk":
            W1, W2 = init_network(P, scales, seed)
            out["target_eigenvalue"] = empirical_target_rayleigh(W1, W2, pairs, Y, scales.output_scale)
        else:
            coef = pair_kernel_coefficients(kernel, scales)
            out["target_eigenvalue"] = float(np.sum(Y * pair_kernel_apply(coef, pairs, Y, P)) / np.sum(Y * Y))
    out["kernel_scale"] = scale
    out["success"] = finite
    out["status"] = status if finite else "failed"
    out["message"] = "" if finite else "non-finite predictions (kernel too ill-conditioned)"
    if not finite:
        for k in ("train_accuracy", "train_loss", "test_accuracy", "test_loss"):
            out[k] = float("nan")
    return out


# ---------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------
def estimate_unit_bytes(n_pairs: int, P: int, train_fraction: float, kernel: str, width: int) -> int:
    """Peak memory of one :func:`regression_unit` (bytes): the training kernel, its Cholesky
    factor and the temporaries of building it (4 n_train^2 doubles), the test kernel and its
    temporaries (3 n_test n_train), inputs, targets and predictions (n_pairs (4P + 4P)),
    the additive fit's design matrix (n_test (2P + 1)), and for the empirical NTK the hidden
    pre-activations (3 n_pairs N)."""
    from adaptive_kernel.tasks.base import split_size

    nt = split_size(n_pairs, train_fraction)
    ne = n_pairs - nt
    doubles = 4 * nt * nt + 3 * ne * nt + n_pairs * 8 * P + ne * (2 * P + 1)
    if kernel == "empirical-ntk":
        doubles += 3 * n_pairs * width
    return int(8 * doubles)


# ---------------------------------------------------------------------------------------
# the run and its result
# ---------------------------------------------------------------------------------------
@dataclass
class KernelResult:
    """What ``phasesim kernel`` produced (also read back from a file, :meth:`from_hdf5`).

    Attributes
    ----------
    params : dict
        ``task``, ``operation``, ``kernel``, ``ridge``, ``parametrisation``, ``width``
        (0: 4P), ``sigma_w2``, ``sigma_v2`` (NaN: the parametrisation's default).
    P : ndarray of int, (nP,)
    train_fraction : ndarray, (nF,)
    seeds : ndarray of int, (nS,)
    data : dict
        :data:`UNIT_FIELDS` arrays of shape (nP, nF, nS).
    per_P : dict
        :data:`PER_P_FIELDS` arrays with leading axis nP.
    attrs : dict
        Root attributes (provenance) once written or read.
    """

    params: dict
    P: np.ndarray
    train_fraction: np.ndarray
    seeds: np.ndarray
    data: dict
    per_P: dict
    attrs: dict = field(default_factory=dict)

    kind = KIND

    @property
    def success(self) -> bool:
        """Whether every unit succeeded."""
        return bool(np.all(self.data["success"]))

    def mean_over_seeds(self, name: str):
        """(mean, standard deviation) over seeds of a :data:`UNIT_FIELDS` quantity, (nP, nF)."""
        import warnings

        a = np.asarray(self.data[name], float)
        with warnings.catch_warnings():  # all-NaN slices (no test pair at fraction 1) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(a, axis=2), (np.nanstd(a, axis=2, ddof=1) if a.shape[2] > 1
                                           else np.zeros(a.shape[:2]))

    def table(self) -> str:
        """Text table: per P and fraction, mean test/train accuracy and test loss over seeds."""
        tacc, tsd = self.mean_over_seeds("test_accuracy")
        racc, _ = self.mean_over_seeds("train_accuracy")
        tloss, _ = self.mean_over_seeds("test_loss")
        nadd, _ = self.mean_over_seeds("test_nonadditive")
        lines = [f"kernel {self.params['kernel']}, {self.params['task']} ({self.params['operation']}), "
                 f"ridge {self.params['ridge']:g}, {len(self.seeds)} seed(s)",
                 f"{'P':>5} {'fraction':>9} {'train acc':>10} {'test acc':>9} {'+-':>7} {'test loss':>10} "
                 f"{'nonadd':>8}"]
        for i, P in enumerate(self.P):
            for j, f in enumerate(self.train_fraction):
                lines.append(f"{int(P):>5} {f:>9.4g} {racc[i, j]:>10.4f} {tacc[i, j]:>9.4f} {tsd[i, j]:>7.4f} "
                             f"{tloss[i, j]:>10.4g} {nadd[i, j]:>8.1e}")
        bad = int(np.sum(~np.asarray(self.data["success"], bool)))
        if bad:
            lines.append(f"{bad} unit(s) failed (see 'message')")
        return "\n".join(lines)

    def info(self) -> str:
        """What ``phasesim info`` prints: provenance, parameters and :meth:`table`."""
        lines = [f"kind:       {self.kind}"]
        for key in ("package_version", "created", "command"):
            if key in self.attrs:
                lines.append(f"{key + ':':<11} {self.attrs[key]}")
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        return "\n".join(lines + [self.table()])

    # -- files ------------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write the result (kind ``"kernel"``, layout in the module docstring) atomically
        through :func:`adaptive_kernel.storage.write_result`."""
        from adaptive_kernel.storage import attach_scales, describe, write_result

        def fill(f):
            g = f.create_group("kernel")
            describe(g.create_dataset("P", data=np.asarray(self.P, np.int64)), "modulus P of each row", "1")
            describe(g.create_dataset("train_fraction", data=np.asarray(self.train_fraction, float)),
                     "requested training fraction (realised: n_train / pairs)", "1")
            describe(g.create_dataset("seed", data=np.asarray(self.seeds, np.int64)),
                     "seed of the split (task.split) and of the empirical NTK's network", None)
            for name, (text, units) in UNIT_FIELDS.items():
                a = np.asarray(self.data[name])
                if a.dtype.kind in "OU":
                    a = a.astype(object)
                    ds = g.create_dataset(name, data=a.astype("S"))
                else:
                    ds = g.create_dataset(name, data=a)
                describe(ds, text + " [axes: P, train_fraction, seed]", units)
            attach_scales(g, "P", "train_fraction", "seed")
            pp = f.create_group("per_P")
            for name, (text, units) in PER_P_FIELDS.items():
                describe(pp.create_dataset(name, data=np.asarray(self.per_P[name])), text + " [axis 0: P]", units)
            pp.attrs["sectors"] = ",".join(SECTORS)

        params = {k: (np.nan if v is None else v) for k, v in self.params.items()}
        return write_result(path, KIND, fill, overwrite=overwrite, command=command, teacher=self.params["task"],
                            attrs=self.attrs, format_version=FORMAT_VERSION,
                            **{f"param_{k}": v for k, v in params.items()})

    @classmethod
    def from_hdf5(cls, path) -> "KernelResult":
        """Read a file written by :meth:`to_hdf5` (``adaptive_kernel.load`` dispatches here).

        Raises
        ------
        FileFormatError
            Not a kernel file or a dataset is missing (one line).
        """
        from adaptive_kernel.storage import open_h5, py_value

        with open_h5(path) as f:
            if py_value(f.attrs.get("kind")) != KIND or "kernel" not in f or "per_P" not in f:
                raise FileFormatError(f"{path}: not a '{KIND}' file (root attribute kind and groups "
                                      f"'kernel', 'per_P' expected)")
            g, pp = f["kernel"], f["per_P"]
            try:
                data = {}
                for name in UNIT_FIELDS:
                    a = g[name][()]
                    if a.dtype.kind == "S":
                        a = np.char.decode(a, "utf-8").astype(object)
                    data[name] = a
                per_P = {name: pp[name][()] for name in PER_P_FIELDS}
                P, fr, seeds = g["P"][()], g["train_fraction"][()], g["seed"][()]
            except KeyError as exc:
                raise FileFormatError(f"{path}: incomplete '{KIND}' file ({exc})") from None
            attrs = {k: py_value(v) for k, v in f.attrs.items()}
        params = {k[6:]: v for k, v in attrs.items() if k.startswith("param_")}
        for k, v in list(params.items()):
            if isinstance(v, float) and math.isnan(v):
                params[k] = None
        return cls(params, P, fr, seeds, data, per_P, attrs)


def _per_P(config: dict, P: int) -> dict:
    from adaptive_kernel.tasks import get_task

    task = get_task(config["task"], P=P, operation=config["operation"])
    scales = network_scales(config["parametrisation"], P, config.get("width"), config.get("sigma_w2"),
                            config.get("sigma_v2"))
    coef = pair_kernel_coefficients(config["kernel"], scales)
    return {"coefficients": np.array(coef), "sector_eigenvalues": sector_eigenvalues(coef, P),
            "sector_multiplicity": sector_multiplicities(P),
            "target_nngp_eigenvalue": task.target_nngp_eigenvalue(1.0),
            "nngp_sector_eigenvalues": np.array([s.eigenvalue for s in task.nngp_sectors(1.0)])}


def check_config(config: dict, P_values, fractions, seeds) -> dict:
    """Validate a run once, before anything is computed (ParameterError naming the
    parameter, its range and the value). Returns the config with defaults filled."""
    from adaptive_kernel.tasks import TASKS, get_task

    config = dict(config)
    if config.get("kernel") not in KERNELS:
        raise ParameterError(f"kernel must be one of {', '.join(KERNELS)}; got {config.get('kernel')!r}")
    if config.get("task") not in TASKS or not hasattr(TASKS[config["task"]], "pairs"):
        raise ParameterError(f"task must be one of {', '.join(pair_task_names())}; got {config.get('task')!r}")
    ridge = config.get("ridge", 0.0)
    if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge >= 0):
        raise ParameterError(f"ridge must be a finite number >= 0; got {ridge!r}")
    config["ridge"] = float(ridge)
    if not len(P_values):
        raise ParameterError("P: give at least one value")
    for P in P_values:
        get_task(config["task"], P=P, operation=config["operation"])  # validates P and operation
        network_scales(config["parametrisation"], P, config.get("width"), config.get("sigma_w2"),
                       config.get("sigma_v2"))
    fr = np.asarray(fractions, float)
    if fr.size == 0 or np.any(~np.isfinite(fr)) or np.any(fr <= 0) or np.any(fr > 1):
        raise ParameterError(f"train_fraction must lie in (0, 1]; got {[float(x) for x in np.round(fr, 6)]}")
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ParameterError(f"seeds must be distinct non-negative integers; got {list(seeds)}")
    return config


def pair_task_names() -> list:
    """Registry names of the tasks whose data are pairs of tokens (those this method applies to)."""
    from adaptive_kernel.tasks import TASKS

    return [name for name, cls in TASKS.items() if hasattr(cls, "pairs")]


def estimate_run_bytes(config: dict, P_values, fractions, jobs: int = 1) -> int:
    """Peak memory of a run: the largest unit times the workers that can run at once."""
    from adaptive_kernel.tasks import get_task

    worst = 0
    for P in P_values:
        task = get_task(config["task"], P=P, operation=config["operation"])
        width = config.get("width") or default_width(P)
        for f in fractions:
            worst = max(worst, estimate_unit_bytes(task.n_pairs, P, float(f), config["kernel"], width))
    return worst * max(1, int(jobs))


def run_kernel_regression(config: dict, P_values, fractions, seeds, runner=None, progress=None) -> KernelResult:
    """Kernel regression at every (P, training fraction, seed), one runner unit each.

    Parameters
    ----------
    config : dict
        See :func:`regression_unit`.
    P_values : sequence of int
    fractions : sequence of float
        In (0, 1].
    seeds : sequence of int
    runner : adaptive_kernel.runner.Runner, optional
        Default serial. Results are bit-for-bit the same on every runner.
    progress : callable, optional
        ``progress(n_done, n_total)``.

    Returns
    -------
    KernelResult
    """
    from adaptive_kernel.runner import Unit, run_units

    P_values = [int(p) for p in P_values]
    fractions = [float(f) for f in fractions]
    seeds = [int(s) for s in seeds]
    config = check_config(config, P_values, fractions, seeds)
    units = [Unit(("P", P, "fraction", j, "seed", s), regression_unit, (config, P, f, s))
             for P in P_values for j, f in enumerate(fractions) for s in seeds]
    outs = run_units(units, runner, progress=progress)
    shape = (len(P_values), len(fractions), len(seeds))
    data = {}
    for name in UNIT_FIELDS:
        vals = [o[name] for o in outs]
        if name in ("status", "message"):
            data[name] = np.array(vals, dtype=object).reshape(shape)
        elif name == "success":
            data[name] = np.array(vals, dtype=bool).reshape(shape)
        elif name in ("n_train", "n_test"):
            data[name] = np.array(vals, dtype=np.int64).reshape(shape)
        else:
            data[name] = np.array(vals, dtype=float).reshape(shape)
    rows = [_per_P(config, P) for P in P_values]
    per_P = {k: np.array([r[k] for r in rows]) for k in PER_P_FIELDS}
    params = {k: config.get(k) for k in ("task", "operation", "kernel", "ridge", "parametrisation", "width",
                                         "sigma_w2", "sigma_v2")}
    return KernelResult(params, np.array(P_values, np.int64), np.array(fractions), np.array(seeds, np.int64),
                        data, per_P)
