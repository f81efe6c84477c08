r"""Analytic networks that solve modular addition, their accuracy vs width, and the distance
of a trained network to them (``phasesim analytic``).

Network
-------
Two-layer network with square activation on two-hot inputs x = e_n (+) e_m (Gromov eq. 4,
Mohamadi eq. 2.1), read-in ``W1`` (N, 2P) (columns 0 .. P-1 the token n, P .. 2P-1 the token
m), read-out ``W2`` (P, N), no biases:

.. math:: f_q(n, m) = \sum_{i=1}^{N} W2_{q i}\,\big(W1_{i n} + W1_{i, P+m}\big)^2 .

Gromov's mean-field parametrisation divides by D N (D = 2P); a positive constant factor
changes neither the prediction argmax_q f_q nor the loss at the least-squares output scale
reported here (:func:`evaluate`), so the analytic networks are given without it.

Gromov's solution (his eqs. 6, 12)
----------------------------------
Neuron i carries one frequency k_i and three phases,

.. math:: W1_{i n} = \cos(2\pi k_i n/P + \varphi^{(1)}_i),\quad
          W1_{i, P+m} = \cos(2\pi k_i m/P + \varphi^{(2)}_i),\quad
          W2_{q i} = \cos(-2\pi k_i q/P - \varphi^{(3)}_i),

phi1, phi2 uniform on [0, 2 pi), phi3 = phi1 + phi2 (:func:`gromov_network`). With
A = 2 pi k n/P + phi1, B = 2 pi k m/P + phi2, C = -2 pi k q/P - phi3, the cross term of the
square is 2 cos A cos B cos C = 1/2 [cos(A+B+C) + cos(A+B-C) + cos(A-B+C) + cos(A-B-C)], and
A + B + C = 2 pi k (n + m - q)/P + phi1 + phi2 - phi3: every neuron contributes
1/2 cos(2 pi k (n + m - q)/P), a coherent sum of N terms largest at q = n + m
((P delta - 1)/2 per sweep of the frequencies 1 .. P-1: Gromov's N/2 delta); every other term
(the other three cosines and u (cos^2 A + cos^2 B)) carries a phase that varies from neuron
to neuron and sums to O(sqrt N). Accuracy on all pairs therefore tends to 1 as N grows (Gromov
Fig. 4b); :func:`accuracy_vs_width` measures it. Frequencies: ``"cyclic"`` (neuron i carries
k = 1 + (i mod (P-1)), Gromov's "neuron k carries frequency k" continued periodically) or
``"random"`` (uniform on 1 .. P-1).

Mohamadi et al.'s construction (their App. F, eqs. F.1-F.10)
------------------------------------------------------------
Eight neurons per frequency k, in the order of their F.3 (neuron 8k + j):

====  ====================  ====================  ==================
j     W1 (token n)          W1 (token m)          W2[q]
====  ====================  ====================  ==================
0     cos(2 pi k n/P)       + cos(2 pi k m/P)     + cos(2 pi k q/P)
1     cos                   - cos                 - cos
2     sin                   + sin                 - cos
3     sin                   - sin                 + cos
4     sin                   + cos                 + sin
5     sin                   - cos                 - sin
6     cos                   + sin                 + sin
7     - cos                 + sin                 - sin
====  ====================  ====================  ==================

By (a + b)^2 - (a - b)^2 = 4ab the block gives
4 [cos(kq) cos(k(n+m)) + sin(kq) sin(k(n+m))] = 4 cos(2 pi k (n + m - q)/P) (F.8-F.10; the
paper's F.10 writes a minus sign in the middle step, but its V of F.2 gives this plus sign),
and summed over k = 0 .. P-1

.. math:: f_q(n, m) = 4\sum_{k=0}^{P-1}\cos\frac{2\pi k (n+m-q)}{P} = 4P\,\mathbf 1(n + m \equiv q),

exactly, for every P (odd or even; h = 8P). The compact form (their Remark F.1) keeps
k = 0 .. floor(P/2) with read-out weight c_k = 2 for 0 < k < P/2 and 1 for k = 0 and the Nyquist
k = P/2 (even P), since sum_{k=0}^{P-1} cos(2 pi k j/P) = sum_k c_k cos(2 pi k j/P): h =
8 (floor(P/2) + 1), the same f exactly. :func:`mohamadi_network` builds it for any width:
below the compact size it keeps the first width // 8 blocks in the order k = 1, 2, ...,
floor(P/2), 0 (a truncated Fourier sum, not exact, still argmax-correct from one block on:
sum_{k=1}^{K} c_k cos(2 pi k j/P) is largest at j = 0); above it, the compact construction is
repeated c = width // size times with every copy scaled by c^(-1/3) (their duplication; the
output is unchanged), the remaining neurons zero.

Operations other than addition
------------------------------
Where the labels are c = f(n) + g(m) mod P with token permutations f, g (``sub``; ``pow:A,B``
with bijective powers; :meth:`~adaptive_kernel.tasks.ModularArithmetic.addition_relabelling`)
both constructions apply to the relabelled tokens: W1[:, n] = W1_add[:, f(n)],
W1[:, P + m] = W1_add[:, P + g(m)]. ``mul`` and ``div`` are refused (a ParameterError).

Distance to an analytic solution
--------------------------------
:func:`weight_distance` compares networks through quantities invariant under the
symmetries that leave the function or the family of solutions unchanged: each neuron is
described by the normalised power spectra (:func:`~simulations.fourier_features.frequency_power`
of its read-in row, :func:`~simulations.fourier_features.readout_power` of its read-out
column), which ignore neuron order, the sign and scale of each neuron (W1 row times a, W2
column times 1/a^2), translations of the tokens and outputs (phase shifts) and k <-> -k.
Neurons are matched one to one by the assignment that minimises the summed total-variation
distance of their spectra (scipy's ``linear_sum_assignment``). The phases themselves are
measured separately by :func:`~simulations.fourier_features.phase_combination`.

The file
--------
``phasesim analytic`` writes kind ``"analytic"`` (:class:`AnalyticResult`): root attributes
(provenance, task, P, operation, construction, frequencies, seeds, seed, format_version) and
group ``analytic`` with ``width`` (n_width,) and, per width and seed (n_width, n_seeds),
``accuracy``, ``loss``, ``output_scale``, ``ipr_mean``, ``phase_alignment``, ``exact``, plus
``accuracy_mean``, ``loss_mean`` and ``ipr_mean_mean`` over seeds (n_width,).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adaptive_kernel.errors import FileFormatError, ParameterError
from adaptive_kernel.tasks import split_seed_sequence

from .fourier_features import (frequency_power, gaussian_ipr_mean, neuron_ipr, phase_combination,
                               readout_power)

FORMAT_VERSION = 1
#: The root attribute ``kind`` of an analytic-solution file.
KIND = "analytic"
#: The constructions (name -> one line).
CONSTRUCTIONS = {
    "gromov": "Gromov's eq. 6: one frequency per neuron, random phases with phi1 + phi2 = phi3",
    "mohamadi": "Mohamadi et al. App. F: 8 neurons per frequency, f_q = 4P 1(n + m = q) exactly",
}
#: Frequency assignments of Gromov's solution.
FREQUENCIES = ("cyclic", "random")
#: Rows of pairs evaluated at once (bounds the memory of :func:`network_outputs`).
CHUNK_ROWS = 4096


# ---------------------------------------------------------------------------------------
# the networks
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalyticNetwork:
    """One analytic network f_q = sum_i W2[q, i] (W1[i] . x)^2 (module docstring).

    Attributes
    ----------
    W1 : ndarray, shape (N, 2P)
    W2 : ndarray, shape (P, N)
    construction : str
        ``"gromov"`` or ``"mohamadi"``.
    frequencies : ndarray of int, shape (N,)
        Frequency of each neuron (-1 for a zero neuron).
    phases : ndarray, shape (N, 3) or None
        (phi1, phi2, phi3) of Gromov's neurons.
    exact : bool
        Whether f_q = c 1(n o m = q) exactly (Mohamadi's construction at full size).
    """

    W1: np.ndarray
    W2: np.ndarray
    construction: str
    frequencies: np.ndarray
    phases: np.ndarray | None = None
    exact: bool = False
    info: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.W1.shape[0]


def _check_task(task):
    """The task's token relabelling (f, g) to addition; ParameterError if there is none."""
    relabel = task.addition_relabelling() if hasattr(task, "addition_relabelling") else None
    if relabel is None:
        op = getattr(task, "operation", type(task).__name__)
        raise ParameterError(f"operation must be add, sub or pow:A,B with bijective powers mod P (the "
                             f"analytic solutions are built for c = f(n) + g(m)); got {op!r}")
    return relabel


def _check_width(width, name="width") -> int:
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ParameterError(f"{name} must be an integer >= 1; got {width!r}")
    return int(width)


def _relabel_columns(W1_add, relabel, P):
    """W1[:, n] = W1_add[:, f(n)], W1[:, P + m] = W1_add[:, P + g(m)]."""
    f, g = relabel
    return np.concatenate([W1_add[:, f], W1_add[:, P + g]], axis=1)


def gromov_network(task, width: int, seed=0, frequencies: str = "cyclic") -> AnalyticNetwork:
    r"""Gromov's analytic solution (his eqs. 6, 12) with ``width`` neurons.

    .. math:: W1_{in} = \cos(2\pi k_i n/P + \varphi^{(1)}_i),\
              W1_{i,P+m} = \cos(2\pi k_i m/P + \varphi^{(2)}_i),\
              W2_{qi} = \cos(-2\pi k_i q/P - \varphi^{(3)}_i),\
              \varphi^{(3)} = \varphi^{(1)} + \varphi^{(2)}

    (tokens relabelled for operations other than ``add``; module docstring).

    Parameters
    ----------
    task : ModularArithmetic
    width : int
        N >= 1.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Source of the phases (and of random frequencies): an int draws from
        ``split_seed_sequence(seed, "analytic-gromov", 0, width)`` (member 0 of
        :func:`accuracy_vs_width`).
    frequencies : {"cyclic", "random"}
        k_i = 1 + (i mod (P - 1)), or uniform on 1 .. P-1.

    Returns
    -------
    AnalyticNetwork
    """
    relabel = _check_task(task)
    N = _check_width(width)
    if frequencies not in FREQUENCIES:
        raise ParameterError(f"frequencies must be one of {', '.join(FREQUENCIES)}; got {frequencies!r}")
    P = task.P
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, np.random.SeedSequence):
        rng = np.random.default_rng(seed)
    else:
        rng = np.random.default_rng(split_seed_sequence(seed, "analytic-gromov", 0, N))
    phi1 = rng.uniform(0.0, 2.0 * np.pi, N)
    phi2 = rng.uniform(0.0, 2.0 * np.pi, N)
    phi3 = phi1 + phi2
    if frequencies == "cyclic":
        ks = 1 + np.arange(N) % (P - 1)
    else:
        ks = rng.integers(1, P, size=N)
    t = np.arange(P)
    arg = 2.0 * np.pi * np.outer(ks, t) / P                       # (N, P)
    W1_add = np.concatenate([np.cos(arg + phi1[:, None]), np.cos(arg + phi2[:, None])], axis=1)
    W2 = np.cos(-arg - phi3[:, None]).T.copy()                    # (P, N)
    W1 = _relabel_columns(W1_add, relabel, P)
    return AnalyticNetwork(W1, W2, "gromov", ks.astype(np.int64), np.stack([phi1, phi2, phi3], 1),
                           exact=False, info={"frequencies": frequencies})


#: Mohamadi's block (F.1, F.2): (read-in n: "cos"/"sin" with sign, read-in m, read-out q).
_MOHAMADI_BLOCK = (
    ((+1, "cos"), (+1, "cos"), (+1, "cos")),
    ((+1, "cos"), (-1, "cos"), (-1, "cos")),
    ((+1, "sin"), (+1, "sin"), (-1, "cos")),
    ((+1, "sin"), (-1, "sin"), (+1, "cos")),
    ((+1, "sin"), (+1, "cos"), (+1, "sin")),
    ((+1, "sin"), (-1, "cos"), (-1, "sin")),
    ((+1, "cos"), (+1, "sin"), (+1, "sin")),
    ((-1, "cos"), (+1, "sin"), (-1, "sin")),
)


def _mohamadi_blocks(P, ks, weights):
    """W1_add (8 len(ks), 2P), W2 (P, 8 len(ks)) of the blocks of frequencies ks with
    read-out weights ``weights``."""
    t = np.arange(P)
    rows, cols = [], []
    for k, c in zip(ks, weights):
        a = 2.0 * np.pi * k * t / P
        # sin vanishes identically at k = 0 and k = P/2: exact zeros there (not 1e-16 rounding)
        wave = {"cos": np.cos(a), "sin": np.zeros(P) if (2 * k) % P == 0 else np.sin(a)}
        for (sn, fn), (sm, fm), (sq, fq) in _MOHAMADI_BLOCK:
            rows.append(np.concatenate([sn * wave[fn], sm * wave[fm]]))
            cols.append(c * sq * wave[fq])
    return np.array(rows).reshape(-1, 2 * P), np.array(cols).T.reshape(P, -1)


def mohamadi_size(P: int, compact: bool = True) -> int:
    """Width of Mohamadi's exact construction: 8 (floor(P/2) + 1) compact, 8 P full."""
    return 8 * (P // 2 + 1) if compact else 8 * P


def mohamadi_network(task, width: int | None = None, compact: bool = True) -> AnalyticNetwork:
    r"""Mohamadi et al.'s construction (App. F), f_q = 4P 1(n o m = q).

    Parameters
    ----------
    task : ModularArithmetic
    width : int, optional
        None: the exact construction (:func:`mohamadi_size`). Smaller: the first width // 8
        blocks in the order k = 1, ..., floor(P/2), 0 (truncated, not exact; the other
        neurons zero). Larger: c = width // size copies each scaled by c^(-1/3) (exact), the
        other neurons zero.
    compact : bool
        Frequencies 0 .. floor(P/2) with read-out weights c_k (Remark F.1) rather than all
        k = 0 .. P-1 (F.1-F.2). Both give f_q = 4P 1(n + m = q) exactly.

    Returns
    -------
    AnalyticNetwork
        ``exact`` tells whether the output is 4P 1(n o m = q) (to rounding).
    """
    relabel = _check_task(task)
    P = task.P
    if compact:
        ks = np.array(list(range(1, P // 2 + 1)) + [0])
        weights = np.where((ks == 0) | (2 * ks == P), 1.0, 2.0)
    else:
        ks = np.array(list(range(1, P)) + [0])
        weights = np.ones(P)
    size = 8 * len(ks)
    N = size if width is None else _check_width(width)
    if N < size:
        nb = N // 8
        W1_add, W2 = _mohamadi_blocks(P, ks[:nb], weights[:nb])
        freqs = np.repeat(ks[:nb], 8)
        copies, exact = 0, False
    else:
        copies = N // size
        W1_one, W2_one = _mohamadi_blocks(P, ks, weights)
        s = copies ** (-1.0 / 3.0) if copies > 1 else 1.0
        W1_add = np.concatenate([s * W1_one] * copies, axis=0)
        W2 = np.concatenate([s * W2_one] * copies, axis=1)
        freqs = np.tile(np.repeat(ks, 8), copies)
        exact = True
    pad = N - W1_add.shape[0]
    W1_add = np.concatenate([W1_add, np.zeros((pad, 2 * P))], axis=0)
    W2 = np.concatenate([W2, np.zeros((P, pad))], axis=1)
    freqs = np.concatenate([freqs, -np.ones(pad, dtype=np.int64)]).astype(np.int64)
    W1 = _relabel_columns(W1_add, relabel, P)
    return AnalyticNetwork(W1, W2, "mohamadi", freqs, None, exact=exact,
                           info={"compact": bool(compact), "copies": int(copies), "output_scale": 4.0 * P})


def analytic_network(task, construction: str, width: int, seed=0, frequencies: str = "cyclic"):
    """:func:`gromov_network` or :func:`mohamadi_network` by name (``CONSTRUCTIONS``)."""
    if construction == "gromov":
        return gromov_network(task, width, seed=seed, frequencies=frequencies)
    if construction == "mohamadi":
        return mohamadi_network(task, width)
    raise ParameterError(f"construction must be one of {', '.join(CONSTRUCTIONS)}; got {construction!r}")


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------
def _output_chunks(W1, W2, task, idx=None):
    """Yield (labels, f) for blocks of :data:`CHUNK_ROWS` pairs (see :func:`network_outputs`)."""
    W1 = np.asarray(W1, float)
    W2 = np.asarray(W2, float)
    P = task.P
    if W1.ndim != 2 or W1.shape[1] != 2 * P or W2.shape != (P, W1.shape[0]):
        raise ParameterError(f"W1 must have shape (N, 2P) and W2 (P, N) with P = {P}; got "
                             f"{W1.shape} and {W2.shape}")
    pairs, labels = task.pairs(), task.labels()
    if idx is not None:
        pairs, labels = pairs[np.asarray(idx)], labels[np.asarray(idx)]
    A, B = W1[:, :P].T, W1[:, P:].T                               # (P, N) token-major
    for a in range(0, pairs.shape[0], CHUNK_ROWS):
        pr = pairs[a:a + CHUNK_ROWS]
        Z = A[pr[:, 0]] + B[pr[:, 1]]                              # first layer: a gather
        yield labels[a:a + CHUNK_ROWS], (Z * Z) @ W2.T


def network_outputs(W1, W2, task, idx=None) -> np.ndarray:
    r"""Outputs f_q(n, m) = sum_i W2[q, i] (W1[i, n] + W1[i, P + m])^2 on the task's pairs.

    The first layer is a gather (two-hot inputs); rows are done :data:`CHUNK_ROWS` at a time.

    Parameters
    ----------
    W1 : array_like, shape (N, 2P)
    W2 : array_like, shape (P, N)
    task : ModularArithmetic
    idx : array_like of int, optional
        Rows of ``task.pairs()`` (default all).

    Returns
    -------
    ndarray, shape (rows, P)
    """
    return np.concatenate([f for _, f in _output_chunks(W1, W2, task, idx)], axis=0)


def output_grid(W1, W2, q: int) -> np.ndarray:
    r"""One output f_q(n, m) of the network on the full P x P grid of pairs.

    With A = W1[:, :P], B = W1[:, P:] and u = W2[q],

    .. math:: f_q(n, m) = \sum_i u_i (A_{in} + B_{im})^2
              = (u\cdot A^{2})_n + (u\cdot B^{2})_m + 2\,(A^T \mathrm{diag}(u) B)_{nm},

    O(P^2 N), no pair list (every (n, m), whatever the operation's data).

    Parameters
    ----------
    W1 : array_like, shape (N, 2P)
    W2 : array_like, shape (P, N)
    q : int
        Output index, 0 <= q < P.

    Returns
    -------
    ndarray, shape (P, P)
        Rows n, columns m.
    """
    W1 = np.asarray(W1, float)
    W2 = np.asarray(W2, float)
    if W1.ndim != 2 or W1.shape[1] % 2 or W2.shape != (W1.shape[1] // 2, W1.shape[0]):
        raise ParameterError(f"W1 must have shape (N, 2P) and W2 (P, N); got {W1.shape} and {W2.shape}")
    P = W1.shape[1] // 2
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 0 <= q < P:
        raise ParameterError(f"q must be an integer in [0, {P - 1}]; got {q!r}")
    A, B, u = W1[:, :P], W1[:, P:], W2[q]
    return (u @ A ** 2)[:, None] + (u @ B ** 2)[None, :] + 2.0 * (A.T * u) @ B


@dataclass(frozen=True)
class Evaluation:
    """Accuracy and loss of a network on the task's pairs (:func:`evaluate`)."""

    accuracy: float
    loss: float
    output_scale: float


def evaluate(W1, W2, task, idx=None) -> Evaluation:
    r"""Accuracy and least-squares-scaled MSE of a network on the task's pairs.

    * accuracy: fraction of pairs with argmax_q f_q = label (ties: the first maximum);
    * loss: with one-hot (uncentred) targets y and the output scale
      c* = <f, y>/<f, f> that minimises it,

      .. math:: L = \frac1n \sum_{\text{pairs}} \lVert c^* f - y\rVert^2
                = \frac1n\Big(\lVert y\rVert^2 - \frac{\langle f, y\rangle^2}{\lVert f\rVert^2}\Big),

      independent of the normalisation of the network (e.g. Gromov's 1/(D N)); n the number
      of pairs. ``output_scale`` is c*.
    """
    correct, fy, ff, n = 0, 0.0, 0.0, 0
    for labels, f in _output_chunks(W1, W2, task, idx):
        rows = np.arange(labels.size)
        correct += int(np.sum(np.argmax(f, axis=1) == labels))
        fy += float(np.sum(f[rows, labels]))
        ff += float(np.sum(f * f))
        n += labels.size
    acc = correct / n
    c = fy / ff if ff > 0 else 0.0
    loss = (n - c * fy) / n
    return Evaluation(acc, max(loss, 0.0), c)


def _unit_measures(task_name, task_params, construction, frequencies, width, seed, member):
    """One unit of ``phasesim analytic``: build one network and measure it (pure: its result
    depends on the arguments only)."""
    from adaptive_kernel.tasks import get_task

    task = get_task(task_name, **task_params)
    ss = split_seed_sequence(seed, "analytic-gromov", member, int(width))
    net = analytic_network(task, construction, int(width), seed=ss, frequencies=frequencies)
    ev = evaluate(net.W1, net.W2, task)
    ipr = neuron_ipr(net.W1)
    live = np.isfinite(ipr)
    phase = phase_combination(net.W1[live], net.W2[:, live], task=task) if live.any() else np.zeros(0)
    return {"accuracy": ev.accuracy, "loss": ev.loss, "output_scale": ev.output_scale,
            "ipr_mean": float(np.mean(ipr[live])) if live.any() else float("nan"),
            "phase_alignment": float(np.mean(np.cos(phase))) if phase.size else float("nan"),
            "exact": bool(net.exact)}


def weight_distance(W1, W2, reference, match: str = "assignment") -> np.ndarray | float:
    r"""Distance of a network's weights to a reference (e.g. analytic) network.

    Each neuron i is described by its normalised read-in and read-out spectra
    s_i = p_i / sum_k p_ik (:func:`~simulations.fourier_features.frequency_power`) and
    r_i (:func:`~simulations.fourier_features.readout_power`); the cost of pairing neuron i
    with reference neuron j is

    .. math:: C_{ij} = \tfrac12\big[\mathrm{TV}(s_i, s'_j) + \mathrm{TV}(r_i, r'_j)\big],\qquad
              \mathrm{TV}(a, b) = \tfrac12\sum_k |a_k - b_k| \in [0, 1],

    and the distance is the mean of C over the min(N, N') pairs of the assignment that
    minimises the total cost (``match="assignment"``), or the mean over the network's
    neurons of min_j C_ij (``match="nearest"``: how far each neuron is from the closest
    reference neuron, whatever the multiplicity). 0 when the networks agree up to neuron
    order, per-neuron sign and scale, token/output translations (phases) and k <-> -k; near 1
    for a random network against a one-frequency solution. A zero row or column has a zero
    spectrum (cost 1/2 per layer against a nonzero one).

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)
    W2 : array_like, shape (..., P, N)
    reference : AnalyticNetwork or (W1_ref, W2_ref)
    match : {"assignment", "nearest"}

    Returns
    -------
    float, or ndarray of shape (...) for leading axes
    """
    from scipy.optimize import linear_sum_assignment

    if match not in ("assignment", "nearest"):
        raise ParameterError(f"match must be 'assignment' or 'nearest'; got {match!r}")
    R1, R2 = (reference.W1, reference.W2) if hasattr(reference, "W1") else reference
    W1 = np.asarray(W1, float)
    W2 = np.asarray(W2, float)
    R1 = np.asarray(R1, float)
    R2 = np.asarray(R2, float)
    if W1.ndim < 2 or W2.shape[:-2] != W1.shape[:-2] or W2.shape[-2:] != (W1.shape[-1] // 2, W1.shape[-2]):
        raise ParameterError(f"W1 must have shape (..., N, 2P) and W2 (..., P, N); got {W1.shape} and {W2.shape}")
    if R1.ndim != 2 or R1.shape[1] != W1.shape[-1] or R2.shape != (R1.shape[1] // 2, R1.shape[0]):
        raise ParameterError(f"the reference must have W1 (N', {W1.shape[-1]}) and W2 ({W1.shape[-1] // 2}, N'); "
                             f"got {R1.shape} and {R2.shape}")

    def normalised(p):
        tot = p.sum(axis=-1, keepdims=True)
        return np.divide(p, tot, out=np.zeros_like(p), where=tot > 0)

    rs, rr = normalised(frequency_power(R1)), normalised(readout_power(R2))
    s_all, r_all = normalised(frequency_power(W1)), normalised(readout_power(W2))
    lead = W1.shape[:-2]
    out = np.empty(lead)
    for ix in np.ndindex(*lead):
        s, r = s_all[ix], r_all[ix]
        cost = 0.25 * (np.abs(s[:, None, :] - rs[None, :, :]).sum(-1)
                       + np.abs(r[:, None, :] - rr[None, :, :]).sum(-1))
        if match == "nearest":
            out[ix] = cost.min(axis=1).mean()
        else:
            i, j = linear_sum_assignment(cost)
            out[ix] = cost[i, j].mean()
    return float(out) if not lead else out


# ---------------------------------------------------------------------------------------
# the sweep and its result
# ---------------------------------------------------------------------------------------
#: Largest number of multiply-adds (P^2 pairs x N neurons x P outputs, summed over widths
#: and seeds) of one ``phasesim analytic`` run: ~1e12 is tens of minutes on one core.
MAX_WORK = 1e12


def parse_widths(values, name: str = "width") -> np.ndarray:
    """Widths as int64, refusing non-integers and values < 1 (a ParameterError naming
    ``name``, the allowed range and the value)."""
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < 1):
        raise ParameterError(f"{name} must be integers >= 1; got {', '.join(f'{v:g}' for v in arr[:8])}")
    if np.any(arr > 1e7):
        raise ParameterError(f"{name} must be <= 10000000; got {arr.max():g}")
    return arr.astype(np.int64)


def plan_units(task_name: str, task_params: dict, construction: str, widths, seeds: int = 1, seed: int = 0,
               frequencies: str = "cyclic") -> list:
    """The units of work of :func:`accuracy_vs_width`: one per (width, seed member),
    key ``("analytic", construction, width, member)``; Mohamadi's construction is
    deterministic and gets one member."""
    from adaptive_kernel.runner import Unit

    members = seeds if construction == "gromov" else 1
    return [Unit(("analytic", construction, int(w), s), _unit_measures,
                 (task_name, dict(task_params), construction, frequencies, int(w), int(seed), s))
            for w in widths for s in range(members)]


def check_sweep(task, construction: str, widths, seeds: int, seed: int, frequencies: str) -> None:
    """Validate the sweep's parameters once (ParameterError naming parameter, range, value)."""
    from adaptive_kernel.limits import MAX_SEED, format_seconds, require_memory

    _check_task(task)
    if construction not in CONSTRUCTIONS:
        raise ParameterError(f"construction must be one of {', '.join(CONSTRUCTIONS)}; got {construction!r}")
    if frequencies not in FREQUENCIES:
        raise ParameterError(f"frequencies must be one of {', '.join(FREQUENCIES)}; got {frequencies!r}")
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or not 1 <= seeds <= 10000:
        raise ParameterError(f"seeds must be an integer in [1, 10000]; got {seeds!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"seed must be an integer in [0, {MAX_SEED}]; got {seed!r}")
    P = task.P
    members = seeds if construction == "gromov" else 1
    work = float(P) ** 3 * float(np.sum(widths)) * members
    if work > MAX_WORK:
        raise ParameterError(f"the sweep needs ~{work:.2g} multiply-adds (P^3 x sum of widths x seeds; at most "
                             f"{MAX_WORK:.0e}, about {format_seconds(work / 2e9)} here): lower --P, --width or --seeds")
    wmax = int(np.max(widths))
    require_memory(8.0 * (3 * P * wmax + 2 * CHUNK_ROWS * (wmax + P)), "width",
                   f"an analytic network of width {wmax} at P = {P}")


@dataclass
class AnalyticResult:
    """Accuracy, loss and IPR of an analytic solution vs width (``phasesim analytic``).

    Attributes
    ----------
    task : str
        Registry name of the task.
    task_params : dict
        ``{"P": ..., "operation": ...}``.
    construction : str
    frequencies : str
    widths : ndarray of int, shape (n_width,)
    seeds : int
        Seed members (1 for the deterministic Mohamadi construction).
    seed : int
    accuracy, loss, output_scale, ipr_mean, phase_alignment : ndarray, shape (n_width, seeds)
        Per width and seed member (:func:`evaluate`; mean IPR over the live neurons; mean
        cos of the phase combination).
    exact : ndarray of bool, shape (n_width, seeds)
    attrs : dict
        Provenance read from a file (empty for a fresh result).
    """

    kind = KIND

    task: str
    task_params: dict
    construction: str
    frequencies: str
    widths: np.ndarray
    seeds: int
    seed: int
    accuracy: np.ndarray
    loss: np.ndarray
    output_scale: np.ndarray
    ipr_mean: np.ndarray
    phase_alignment: np.ndarray
    exact: np.ndarray
    status: str = "ok"
    message: str = ""
    attrs: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status == "ok"

    @property
    def P(self) -> int:
        return int(self.task_params["P"])

    @property
    def accuracy_mean(self) -> np.ndarray:
        return self.accuracy.mean(axis=1)

    @property
    def loss_mean(self) -> np.ndarray:
        return self.loss.mean(axis=1)

    @property
    def gaussian_ipr(self) -> float:
        """IPR of random Gaussian rows at this P (:func:`~simulations.fourier_features.gaussian_ipr_mean`)."""
        return gaussian_ipr_mean(self.P)

    def table(self) -> str:
        """One line per width: accuracy (mean, min, max over seeds), loss, IPR."""
        lines = [f"{'width':>7} {'acc mean':>9} {'acc min':>8} {'acc max':>8} {'loss':>10} {'IPR':>6}"]
        for i, w in enumerate(self.widths):
            a = self.accuracy[i]
            lines.append(f"{int(w):7d} {a.mean():9.4f} {a.min():8.4f} {a.max():8.4f} "
                         f"{self.loss[i].mean():10.4g} {np.nanmean(self.ipr_mean[i]):6.3f}")
        return "\n".join(lines)

    def summary(self) -> str:
        i = int(np.argmax(self.widths))
        return (f"{self.construction} solution, {self.task_params.get('operation', '')} mod P = {self.P}: "
                f"{len(self.widths)} widths x {self.seeds} seed(s); accuracy at width {int(self.widths[i])}: "
                f"{self.accuracy[i].mean():.4f}")

    def info(self) -> str:
        """A description for ``phasesim info``: provenance, parameters and the table."""
        lines = [f"kind:       {self.kind} ({CONSTRUCTIONS[self.construction]})"]
        for key in ("package_version", "created", "command"):
            if key in self.attrs:
                lines.append(f"{key + ':':<11} {self.attrs[key]}")
        lines.append(f"parameters: task={self.task}, P={self.P}, operation={self.task_params.get('operation')}, "
                     f"construction={self.construction}, frequencies={self.frequencies}, seeds={self.seeds}, "
                     f"seed={self.seed}")
        lines.append(f"status:     {self.status}{': ' + self.message if self.message else ''}")
        lines.append(f"random-row IPR at this P: {self.gaussian_ipr:.4f}")
        return "\n".join(lines + [self.table(), self.summary()])

    # -- file ----------------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write the result (kind ``"analytic"``; layout in the module docstring)."""
        from adaptive_kernel.storage import attach_scales, describe, write_result

        def fill(f):
            g = f.create_group("analytic")
            g.attrs["description"] = "analytic solution of the task measured on all pairs, per width and seed"
            describe(g.create_dataset("width", data=np.asarray(self.widths, np.int64)),
                     "number of hidden neurons N", "1")
            per = {
                "accuracy": ("fraction of all pairs with argmax_q f_q equal to the label", "1"),
                "loss": ("MSE per pair, summed over outputs, one-hot targets, at the least-squares output "
                         "scale (independent of the network's normalisation)", "1"),
                "output_scale": ("least-squares output scale c* = <f, y>/<f, f> of the loss", "1"),
                "ipr_mean": ("mean over live neurons of the IPR (r = 2) of the read-in frequency power "
                             "(simulations.fourier_features.neuron_ipr)", "1"),
                "phase_alignment": ("mean over live neurons of cos(phi1 + phi2 - phi3) at the dominant "
                                    "frequency (Gromov eq. 12; 1 on his solution)", "1"),
            }
            for name, (text, units) in per.items():
                describe(g.create_dataset(name, data=np.asarray(getattr(self, name), float)),
                         text + "; shape (width, seed member)", units)
            describe(g.create_dataset("exact", data=np.asarray(self.exact, bool)),
                     "whether f_q = c 1(n o m = q) exactly (Mohamadi's construction at full size); "
                     "shape (width, seed member)")
            describe(g.create_dataset("accuracy_mean", data=self.accuracy_mean),
                     "accuracy averaged over seed members", "1")
            describe(g.create_dataset("loss_mean", data=self.loss_mean), "loss averaged over seed members", "1")
            describe(g.create_dataset("ipr_mean_mean", data=np.nanmean(self.ipr_mean, axis=1)),
                     "ipr_mean averaged over seed members", "1")
            attach_scales(g, "width")

        return write_result(path, KIND, fill, overwrite=overwrite, command=command, teacher=self.task,
                            attrs=self.attrs, what="output file", format_version=FORMAT_VERSION,
                            task=self.task, P=self.P, operation=str(self.task_params.get("operation", "")),
                            construction=self.construction, frequencies=self.frequencies,
                            seeds=int(self.seeds), seed=int(self.seed), status=self.status,
                            message=self.message, gaussian_ipr=self.gaussian_ipr)

    @classmethod
    def from_hdf5(cls, path) -> "AnalyticResult":
        """Read a file written by :meth:`to_hdf5` (FileFormatError, one line, otherwise)."""
        import os

        from adaptive_kernel.storage import open_h5, py_value

        path = os.fspath(path)
        with open_h5(path) as f:
            attrs = {k: py_value(v) for k, v in f.attrs.items()}
            if attrs.get("kind") != KIND or "analytic" not in f:
                raise FileFormatError(f"{path}: not an analytic-solution file (kind {attrs.get('kind')!r})")
            g = f["analytic"]
            try:
                data = {name: g[name][()] for name in ("width", "accuracy", "loss", "output_scale", "ipr_mean",
                                                       "phase_alignment", "exact")}
                res = cls(str(attrs["task"]), {"P": int(attrs["P"]), "operation": str(attrs["operation"])},
                          str(attrs["construction"]), str(attrs["frequencies"]), data["width"].astype(np.int64),
                          int(attrs["seeds"]), int(attrs["seed"]), data["accuracy"], data["loss"],
                          data["output_scale"], data["ipr_mean"], data["phase_alignment"],
                          data["exact"].astype(bool), str(attrs.get("status", "ok")),
                          str(attrs.get("message", "")), attrs)
            except KeyError as exc:
                raise FileFormatError(f"{path}: analytic-solution file lacks {exc}") from None
        return res


def accuracy_vs_width(task_name: str, task_params: dict, construction: str, widths, seeds: int = 1,
                      seed: int = 0, frequencies: str = "cyclic", runner=None, progress=None) -> AnalyticResult:
    """Accuracy, loss and IPR of an analytic solution on all pairs, for each width and seed.

    Parameters
    ----------
    task_name : str
        Registry name of the task (:data:`adaptive_kernel.tasks.TASKS`).
    task_params : dict
        The task's parameters (P, operation).
    construction : {"gromov", "mohamadi"}
    widths : array_like of int
    seeds : int
        Seed members of Gromov's random phases (Mohamadi's construction: 1).
    seed : int
        Base seed: member s at width N draws from split_seed_sequence(seed, "analytic-gromov",
        s, N), the same bits on every runner.
    frequencies : {"cyclic", "random"}
    runner : adaptive_kernel.runner.Runner, optional
    progress : callable, optional
        ``progress(n_done, n_total)``.

    Returns
    -------
    AnalyticResult
    """
    from adaptive_kernel.runner import run_units
    from adaptive_kernel.tasks import get_task

    task = get_task(task_name, **task_params)
    widths = parse_widths(widths)
    check_sweep(task, construction, widths, seeds, seed, frequencies)
    params = {"P": task.P, "operation": task.operation}
    units = plan_units(task_name, params, construction, widths, seeds, seed, frequencies)
    results = run_units(units, runner=runner, progress=progress)
    members = seeds if construction == "gromov" else 1

    def grid(name, dtype=float):
        return np.array([r[name] for r in results], dtype=dtype).reshape(len(widths), members)

    return AnalyticResult(task_name, params, construction, frequencies, widths, members, int(seed),
                          grid("accuracy"), grid("loss"), grid("output_scale"), grid("ipr_mean"),
                          grid("phase_alignment"), grid("exact", bool))


__all__ = ["AnalyticNetwork", "AnalyticResult", "CONSTRUCTIONS", "Evaluation", "accuracy_vs_width",
           "analytic_network", "evaluate", "gromov_network", "mohamadi_network", "mohamadi_size",
           "network_outputs", "output_grid", "weight_distance", "parse_widths"]
