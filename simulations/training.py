r"""Two-layer square-activation networks trained by gradient descent on a two-hot task
(Gromov, "Grokking modular arithmetic", arXiv 2301.02679; Mohamadi et al., "Why Do You
Grok?", arXiv 2407.12332): ``phasesim train``.

Model
-----
Inputs are the task's pairs (n, m) as two-hot vectors x = e_n (+) e_{P+m} in R^{D}, D = 2P.
Read-in weights W1 (N, 2P) (row i: neuron i; columns 0 .. P-1 token n, P .. 2P-1 token m),
read-out weights W2 (P, N), no biases:

.. math:: f(x) = c\, W2\,(W1 x)^{\odot 2},\qquad
          c = \begin{cases} 1/(D N) & \text{mean-field (Gromov's eq. 4; default)}\\
                            1 & \text{standard} \end{cases}

Initialisation: every weight i.i.d. N(0, s^2) with s = ``init_scale``; default s = 1 for the
mean-field parametrisation (Gromov's unit-variance weights) and s = (16 N)^(-1/3) for the
standard one (the stand-in of THEORY.md section 6: Doshi et al. App. A, variance
(16N)^(-2/3), no 1/N factor). Because x is two-hot, W1 x = W1[:, n] + W1[:, P+m] is a gather
and the gradient of W1 a scatter-add (:mod:`simulations._kernels_train`).

Losses (over a batch of B pairs with labels c_b; ``linf`` adds Mohamadi's regulariser)
--------------------------------------------------------------------------------------
* ``mse`` (default, Gromov): :math:`L = \frac1B\sum_b\sum_q (f_q(x_b) - \delta_{q c_b})^2`,
  one-hot (not centred) targets, summed over the P classes, averaged over samples;
* ``ce``: :math:`L = \frac1B\sum_b [\log\sum_q e^{f_q(x_b)} - f_{c_b}(x_b)]`;
* plus :math:`\lambda\,\lVert\theta\rVert_\infty` (Mohamadi eq. 2.2; ``linf`` = lambda,
  default 0) with theta all weights of one network; its subgradient is
  lambda sign(theta_j) e_j at the first (W1 before W2, C order) entry of largest |theta_j|.

Gradients (per network; A = H^2, H = W1 x per sample, dF = dL/df):

.. math:: \partial L/\partial W2 = c\, dF^{T} A,\qquad dA = c\, dF\, W2,\qquad
          \partial L/\partial W1[:, j] = \sum_{b:\,x_{bj} = 1} 2 H_b \odot dA_b ,

with dF = 2 (F - Y)/B (mse) or (softmax(F) - Y)/B (ce).

Optimizers (objects with ``step(params, grads)``; leading axis of every array = network)
--------------------------------------------------------------------------------------
* :class:`GD`: p <- p - lr (g + wd p) (``weight_decay`` coupled, as ``torch.optim.SGD``);
* :class:`Momentum`: heavy ball in PyTorch's SGD convention (dampening 0, no Nesterov):
  b <- mu b + (g + wd p), p <- p - lr b, b = 0 initially;
* :class:`AdamW` as ``torch.optim.AdamW``: p <- p (1 - lr wd) (decoupled), m <- b1 m + (1 -
  b1) g, v <- b2 v + (1 - b2) g^2, p <- p - lr/(1 - b1^t) m / (sqrt(v/(1 - b2^t)) + eps);
* :class:`NormalizedGD` (Mohamadi eq. A.1): p <- p - lr (g + wd p)/||g + wd p||_2, the norm
  over all weights of one network (no step when it is 0).

Data, seeds and splits
----------------------
Network j of a run with ``--seed s`` has seed value s + j: it trains on
``task.split(train_fraction, s + j)`` (the package's one split: the same rows for the same
seed in every method), its weights are drawn from
``default_rng(split_seed_sequence(s + j, "train-init"))`` (W1 then W2, float64 standard
normals times s, cast to the run's dtype; the first N rows of a wider network's draw are not
reused: the whole draw depends on N), its mini-batches (``batch_size``; default full batch)
at step t are ``default_rng(split_seed_sequence(s + j, "train-batch", t)).choice(n_train,
batch_size, replace=False)`` (independent draws per step, no RNG state to checkpoint), and
its NTK probe set (:data:`NTK_PROBES` training pairs) is drawn from
``split_seed_sequence(s + j, "ntk-probe")``. Networks never share a random stream, and every
computation on one network is done on that network alone, so a block of networks gives
bit-for-bit the networks trained one by one, whichever runner computes them.

Measured at the logged steps (:func:`log_steps`: step 0, the last step, every
``log_every`` steps and about 20 log-spaced steps per decade)
-------------------------------------------------------------------------------------------
``train_loss``, ``test_loss`` (data loss on the whole train / test set, without the
regulariser), ``train_acc``, ``test_acc`` (argmax of f against the label; ties go to the
smallest class), ``w1_norm``, ``w2_norm`` (Frobenius), ``grad1_norm``, ``grad2_norm``
(Frobenius norms of the full-batch gradient of the training loss, regulariser included),
``ipr`` (mean over neurons of :func:`simulations.fourier_features.neuron_ipr`, r = 2),
``ntk_change`` = ||K_t - K_0||_F / ||K_0||_F of :func:`simulations.kernel_regime.empirical_ntk`
on the probe pairs, and per step the histograms over neurons of the dominant frequency
(k = 1 .. floor(P/2)) and of Gromov's phase combination phi1 + phi2 - phi3 in (-pi, pi]
(:func:`~simulations.fourier_features.phase_combination`, in the addition order of the task
when the operation is addition after relabelling the tokens; all-zero counts otherwise).

Grokking time: the first logged step with test accuracy >= ``threshold`` (default 0.9); fit
time: the first logged step with train accuracy 1. A network that does not reach it by the
last step is *censored*: recorded as -1 with ``grokked`` False, never dropped. Their
resolution is that of the logged steps. A network whose loss becomes non-finite is recorded
with its status ``diverged`` and the step (its traces hold the non-finite values); the run's
``success`` is False then.

Units of work: one (train fraction, width, block of seeds, segment of ``checkpoint_every``
steps), mapped through :mod:`adaptive_kernel.runner` like :mod:`simulations.langevin`;
checkpoints by :class:`simulations.backends.HDFBackend`; ``--resume`` gives the same bits as
an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from adaptive_kernel._version import __version__
from adaptive_kernel.errors import ParameterError, PhasesimError
from adaptive_kernel.interrupt import raise_if_interrupted
from adaptive_kernel.limits import INT64_MAX, MAX_SEED
from adaptive_kernel.tasks import TASKS, get_task, split_seed_sequence

from ._blas import bmm, default_threads, run_parallel
from ._kernels_train import gather_square, scatter_hidden_grad
from .training_io import LINKS_HEADER, TRACE_DESCRIPTIONS, links_cells

#: parametrisations: name -> description
PARAMETRISATIONS = {
    "mean-field": "f = W2 (W1 x)^2 / (D N), D = 2P; init std 1 (Gromov's eq. 4)",
    "standard": "f = W2 (W1 x)^2; init std (16 N)^(-1/3) (Doshi et al. App. A)",
}
LOSSES = {
    "mse": "(1/B) sum_b sum_q (f_q - onehot_q)^2",
    "ce": "(1/B) sum_b [logsumexp(f) - f_label]",
}
#: training-set pairs on which the empirical NTK is tracked
NTK_PROBES = 64
#: bins of the phase-combination histogram over (-pi, pi]
PHASE_BINS = 24
#: log-spaced logged steps per decade (:func:`log_steps`)
LOGS_PER_DECADE = 20
#: rows evaluated at once when measuring on the whole data set
EVAL_CHUNK = 4096

_TRACES = ("train_loss", "test_loss", "train_acc", "test_acc", "w1_norm", "w2_norm", "grad1_norm",
           "grad2_norm", "ipr", "ntk_change")


# ---------------------------------------------------------------------------------------
# tasks the trainer accepts
# ---------------------------------------------------------------------------------------
def trainable_tasks() -> list:
    """Registry names of the tasks whose inputs are two-hot pairs (a task class with
    ``pairs`` and ``labels``), in registry order; the first is the default."""
    return [name for name, cls in TASKS.items() if hasattr(cls, "pairs") and hasattr(cls, "labels")]


def default_task() -> str:
    """The default ``--task`` of ``phasesim train`` (the first of :func:`trainable_tasks`)."""
    return trainable_tasks()[0]


# ---------------------------------------------------------------------------------------
# model: initialisation, scale, forward, loss and gradients
# ---------------------------------------------------------------------------------------
def output_scale(P: int, N: int, parametrisation: str) -> float:
    """The constant c of f = c W2 (W1 x)^2: 1/(2 P N) (mean-field) or 1 (standard)."""
    return 1.0 / (2.0 * P * N) if parametrisation == "mean-field" else 1.0


def default_init_scale(N: int, parametrisation: str) -> float:
    """Standard deviation of the initial weights: 1 (mean-field), (16 N)^(-1/3) (standard)."""
    return 1.0 if parametrisation == "mean-field" else float((16.0 * N) ** (-1.0 / 3.0))


def init_params(P: int, N: int, seed: int, init_scale: float, dtype="float64") -> tuple:
    """Initial (W1, W2) of the network of seed value ``seed``.

    ``rng = default_rng(split_seed_sequence(seed, "train-init"))``; W1 = s * rng.standard_normal
    ((N, 2P)), then W2 = s * rng.standard_normal((P, N)), drawn in float64 and cast to
    ``dtype``.
    """
    rng = np.random.default_rng(split_seed_sequence(seed, "train-init"))
    W1 = (init_scale * rng.standard_normal((N, 2 * P))).astype(dtype)
    W2 = (init_scale * rng.standard_normal((P, N))).astype(dtype)
    return W1, W2


def pair_indices(pairs) -> tuple:
    """(a, c) int64 index arrays of the two active inputs of each pair: a = n, c = P + m of
    the token-major read-in weights (C-contiguous)."""
    pairs = np.asarray(pairs, dtype=np.int64)
    return np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1])


def forward(W1, W2, pairs, scale: float) -> np.ndarray:
    """Outputs f = scale * W2 (W1 x)^2 of one network on ``pairs`` (n_pairs, 2), shape
    (n_pairs, P). Reference implementation through the gather kernel."""
    W1 = np.asarray(W1)
    P = W1.shape[1] // 2
    W1t = np.ascontiguousarray(W1.T)
    a, m = pair_indices(pairs)
    c = m + P
    B = a.size
    H = np.empty((B, W1.shape[0]), W1.dtype)
    A = np.empty_like(H)
    gather_square(W1t, a, c, H, A)
    F = A @ np.asarray(W2, W1.dtype).T
    F *= W1.dtype.type(scale)
    return F


def _loss_dF(F, labels, loss: str, need_grad: bool):
    """Mean loss over the rows of F (B, P) and dL/dF (overwrites nothing)."""
    B = F.shape[0]
    rows = np.arange(B)
    if loss == "mse":
        R = F.copy()
        R[rows, labels] -= 1.0
        L = float(np.sum(R * R)) / B
        if not need_grad:
            return L, None
        R *= F.dtype.type(2.0 / B)
        return L, R
    Fmax = F.max(axis=1, keepdims=True)
    E = np.exp(F - Fmax)
    Z = E.sum(axis=1, keepdims=True)
    lse = np.log(Z) + Fmax
    L = float(np.sum(lse[:, 0] - F[rows, labels])) / B
    if not need_grad:
        return L, None
    E /= Z
    E[rows, labels] -= 1.0
    E *= F.dtype.type(1.0 / B)
    return L, E


def _linf_subgradient(W1, W2):
    """(||theta||_inf, (index into W1 or W2, which, sign)) of one network: the first entry
    of largest |theta| in the order W1 (C order), W2 (C order)."""
    i1 = int(np.argmax(np.abs(W1)))
    i2 = int(np.argmax(np.abs(W2)))
    v1 = abs(float(W1.flat[i1]))
    v2 = abs(float(W2.flat[i2]))
    if v1 >= v2:
        return v1, (i1, 0, 1.0 if W1.flat[i1] >= 0 else -1.0)
    return v2, (i2, 1, 1.0 if W2.flat[i2] >= 0 else -1.0)


def _mm(A, B, threads: int):
    """A @ B; with threads > 1 split by rows over the package's thread pool
    (:func:`simulations._blas.bmm`: single-threaded BLAS per block, blocks on multiples of 32
    rows, so the bits do not depend on the thread count)."""
    if threads <= 1:
        return A @ B
    out = np.empty((A.shape[0], B.shape[1]), np.result_type(A, B))
    bmm(A[None], B[None], out[None], threads=threads)
    return out


def loss_and_grad(W1, W2, a_idx, c_idx, labels, scale: float, loss: str = "mse", linf: float = 0.0,
                  need_grad: bool = True, buffers=None, threads: int = 1):
    r"""Loss and gradients of one network on a batch (module docstring for the formulas).

    Parameters
    ----------
    W1 : ndarray, shape (N, 2P)
    W2 : ndarray, shape (P, N)
    a_idx, c_idx : ndarray of int64, shape (B,)
        Active inputs n and P + m of each sample.
    labels : ndarray of int64, shape (B,)
    scale : float
        c of f = c W2 (W1 x)^2.
    loss : {"mse", "ce"}
    linf : float
        lambda of the regulariser lambda ||theta||_inf (included in the loss and gradient).
    need_grad : bool
    buffers : dict, optional
        Reused work arrays (keys "H", "A", "G"); created when missing or of the wrong shape.
    threads : int
        Threads for the three matrix products (row blocks; same bits for any count).

    Returns
    -------
    loss : float
        Data loss plus lambda ||theta||_inf.
    data_loss : float
    F : ndarray, shape (B, P)
        Outputs.
    gW1, gW2 : ndarray or None
        Gradients, shapes of W1 and W2.
    """
    dt = W1.dtype
    N = W1.shape[0]
    B = a_idx.shape[0]
    buf = buffers if buffers is not None else {}
    H = buf.get("H")
    if H is None or H.shape != (B, N) or H.dtype != dt:
        H = buf["H"] = np.empty((B, N), dt)
        buf["A"] = np.empty((B, N), dt)
    A = buf["A"]
    W1t = np.ascontiguousarray(W1.T)
    gather_square(W1t, a_idx, c_idx, H, A)
    F = _mm(A, W2.T, threads)
    F *= dt.type(scale)
    data_loss, dF = _loss_dF(F, labels, loss, need_grad)
    total = data_loss
    if linf:
        norm, (idx, which, sign) = _linf_subgradient(W1, W2)
        total = data_loss + linf * norm
    if not need_grad:
        return total, data_loss, F, None, None
    dF *= dt.type(scale)
    gW2 = _mm(dF.T, A, threads)
    dA = _mm(dF, W2, threads)
    G = buf.get("G")
    if G is None or G.shape != W1t.shape or G.dtype != dt:
        G = buf["G"] = np.empty(W1t.shape, dt)
    scatter_hidden_grad(H, dA, a_idx, c_idx, G)
    gW1 = np.ascontiguousarray(G.T)
    if linf:
        (gW1 if which == 0 else gW2).flat[idx] += dt.type(linf * sign)
    return total, data_loss, F, gW1, gW2


def _frob(x) -> float:
    """Frobenius norm of one network's array (a fixed-order float64 sum)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return math.sqrt(float(np.dot(x, x)))


# ---------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------
class Optimizer:
    """Interface: ``step(params, grads)`` updates ``params`` in place.

    ``params`` and ``grads`` are dicts name -> ndarray with the same keys and shapes; the
    leading axis of every array indexes independent networks (reductions such as the norm of
    :class:`NormalizedGD` are per network). State (moments, step count) is allocated on the
    first step; ``state_dict``/``load_state_dict`` save and restore it (arrays with the
    network axis first; scalars shared by the networks).
    """

    name = ""
    hyper = ()

    def __init__(self):
        self.state = {}

    def step(self, params: dict, grads: dict) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.state.items()}

    def load_state_dict(self, state: dict) -> None:
        self.state = {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in state.items()}

    def describe(self) -> str:
        return self.name + "(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyper) + ")"


class GD(Optimizer):
    """Plain gradient descent, p <- p - lr (g + wd p) (``weight_decay`` = wd: an L2 term in
    the gradient, as in ``torch.optim.SGD``)."""

    name = "gd"
    hyper = ("lr", "weight_decay")

    def __init__(self, lr: float, weight_decay: float = 0.0):
        super().__init__()
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def step(self, params, grads):
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + p.dtype.type(self.weight_decay) * p
            p -= p.dtype.type(self.lr) * g


class Momentum(Optimizer):
    """Heavy-ball momentum in PyTorch's SGD convention (dampening 0, no Nesterov):
    d = g + wd p; b <- mu b + d (b = 0 before the first step, so b_1 = d_1); p <- p - lr b."""

    name = "momentum"
    hyper = ("lr", "momentum", "weight_decay")

    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__()
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)

    def step(self, params, grads):
        for k, p in params.items():
            g = grads[k]
            if self.weight_decay:
                g = g + p.dtype.type(self.weight_decay) * p
            b = self.state.get("b/" + k)
            if b is None:
                b = self.state["b/" + k] = np.zeros_like(p)
            b *= p.dtype.type(self.momentum)
            b += g
            p -= p.dtype.type(self.lr) * b


class AdamW(Optimizer):
    r"""AdamW as ``torch.optim.AdamW`` (amsgrad False, maximize False) defines it.

    At step t = 1, 2, ...:

    .. math:: p \leftarrow p\,(1 - \eta\lambda),\quad m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
              v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
              p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    (m = v = 0 initially; the weight decay is decoupled: applied to the weights before the
    Adam update, not added to g).
    """

    name = "adamw"
    hyper = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__()
        self.lr, self.eps, self.weight_decay = float(lr), float(eps), float(weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))

    def step(self, params, grads):
        b1, b2 = self.betas
        t = int(self.state.get("t", 0)) + 1
        self.state["t"] = t
        bc1 = 1.0 - b1 ** t
        bc2_sqrt = math.sqrt(1.0 - b2 ** t)
        step_size = self.lr / bc1
        for k, p in params.items():
            g = grads[k]
            T = p.dtype.type
            m = self.state.get("m/" + k)
            if m is None:
                m = self.state["m/" + k] = np.zeros_like(p)
                self.state["v/" + k] = np.zeros_like(p)
            v = self.state["v/" + k]
            if self.weight_decay:
                p *= T(1.0 - self.lr * self.weight_decay)
            m *= T(b1)
            m += T(1.0 - b1) * g
            v *= T(b2)
            v += T(1.0 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= T(bc2_sqrt)
            denom += T(self.eps)
            p -= T(step_size) * (m / denom)


class NormalizedGD(Optimizer):
    r"""Normalised gradient descent (Mohamadi et al. eq. A.1):

    .. math:: d = g + \mathrm{wd}\,p,\qquad p \leftarrow p - \eta\, d/\lVert d\rVert_2

    with the norm over all parameters of one network (the leading axis of each array); no
    step for a network whose d is zero. Combine with ``linf`` (their eq. 2.2) in the loss.
    """

    name = "ngd"
    hyper = ("lr", "weight_decay")

    def __init__(self, lr: float, weight_decay: float = 0.0):
        super().__init__()
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def step(self, params, grads):
        d = {}
        for k, p in params.items():
            g = grads[k]
            d[k] = g + p.dtype.type(self.weight_decay) * p if self.weight_decay else g
        keys = list(params)
        S = params[keys[0]].shape[0]
        for s in range(S):
            sq = 0.0
            for k in keys:
                x = np.asarray(d[k][s], dtype=np.float64).ravel()
                sq += float(np.dot(x, x))
            norm = math.sqrt(sq)
            if norm == 0.0:
                continue
            for k in keys:
                p = params[k]
                p[s] -= p.dtype.type(self.lr / norm) * d[k][s]


OPTIMIZERS = {"gd": GD, "momentum": Momentum, "adamw": AdamW, "ngd": NormalizedGD}
OPTIMIZER_HELP = {
    "gd": "plain gradient descent (Gromov)",
    "momentum": "heavy-ball momentum, PyTorch SGD convention",
    "adamw": "AdamW as torch.optim.AdamW (decoupled weight decay)",
    "ngd": "normalised GD (Mohamadi eq. A.1), with --linf their eq. 2.2",
}


def make_optimizer(name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                   betas=(0.9, 0.98), eps: float = 1e-8) -> Optimizer:
    """The optimizer ``name`` (a key of :data:`OPTIMIZERS`) with its hyperparameters."""
    if name == "gd":
        return GD(lr, weight_decay)
    if name == "momentum":
        return Momentum(lr, momentum, weight_decay)
    if name == "adamw":
        return AdamW(lr, betas, eps, weight_decay)
    if name == "ngd":
        return NormalizedGD(lr, weight_decay)
    raise ParameterError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
#: default weight decay of each optimizer (mean-field, standard parametrisation)
DEFAULT_WEIGHT_DECAY = {"gd": (0.0, 0.0), "momentum": (0.0, 0.0), "adamw": (0.1, 1.0), "ngd": (0.0, 0.0)}


def default_lr(optimizer: str, parametrisation: str, P: int, N: int) -> float:
    """Default learning rate (module constants :data:`MF_LR`, :data:`STD_LR`).

    Mean-field GD and momentum: the gradient of W2 carries the factor c = 1/(2PN), so the
    learning rate is quoted per unit of 2PN: lr = MF_LR[opt] * 2 P N. Adaptive and
    normalised steps do not see c: constants.
    """
    if parametrisation == "mean-field":
        base = MF_LR[optimizer]
        return base * 2.0 * P * N if optimizer in ("gd", "momentum") else base
    return STD_LR[optimizer]


#: mean-field learning rates (gd, momentum: per unit of 2PN). Found by experiment at P = 41,
#: width 256, train fraction 0.45 (defaults of ``phasesim train``): gd fits the training set
#: by step ~320 and reaches test accuracy 0.9 at step ~1100; adamw (weight decay 0.1) fits by
#: ~800 and groks at ~2500.
MF_LR = {"gd": 0.1, "momentum": 0.01, "adamw": 0.003, "ngd": 3.0}
#: standard-parametrisation learning rates (adamw: Doshi et al.'s 0.01; with weight decay 1 it
#: fits by step ~20 and groks by ~180 at the defaults above)
STD_LR = {"gd": 0.1, "momentum": 0.01, "adamw": 0.01, "ngd": 1.0}


@dataclass
class TrainConfig:
    """Everything that defines a training run (validated on construction; the CLI maps its
    options one to one)."""

    task: str = ""
    P: int = 41
    operation: str = "add"
    widths: list = field(default_factory=lambda: [256])
    train_fractions: list = field(default_factory=lambda: [0.45])
    parametrisation: str = "mean-field"
    init_scale: float | None = None
    loss: str = "mse"
    optimizer: str = "gd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    betas: tuple = (0.9, 0.98)
    eps: float = 1e-8
    linf: float = 0.0
    batch_size: int | None = None
    steps: int = 4000
    log_every: int = 50
    threshold: float = 0.9
    seeds: int = 1
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self):
        if not self.task:
            self.task = default_task()
        self.widths = [int(w) if isinstance(w, (int, np.integer)) else w for w in np.atleast_1d(self.widths).tolist()]
        self.train_fractions = [float(f) for f in np.atleast_1d(self.train_fractions)]
        self.betas = tuple(float(b) for b in self.betas)
        self.validate()

    def validate(self):
        def bad(msg):
            raise ParameterError(msg)

        if self.task not in trainable_tasks():
            bad(f"task must be one of {', '.join(trainable_tasks())}; got {self.task!r}")
        self.task_obj()  # P, operation
        if self.parametrisation not in PARAMETRISATIONS:
            bad(f"parametrisation must be one of {', '.join(PARAMETRISATIONS)}; got {self.parametrisation!r}")
        if self.loss not in LOSSES:
            bad(f"loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.dtype not in ("float64", "float32"):
            bad(f"dtype must be float64 or float32; got {self.dtype!r}")
        for w in self.widths:
            if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 10 ** 7:
                bad(f"width must be an integer in [1, 10000000]; got {w!r}")
        if len(set(self.widths)) != len(self.widths):
            bad(f"width grid has repeated values; got {self.widths}")
        for f in self.train_fractions:
            if not (0.0 < f < 1.0):
                bad(f"train-fraction must be in (0, 1) (the test set must not be empty); got {f!r}")
        n_pairs = self.task_obj().n_pairs
        sizes = [max(1, min(int(math.floor(f * n_pairs + 0.5)), n_pairs - 1)) for f in self.train_fractions]
        for name in ("steps", "log_every", "seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= INT64_MAX:
                bad(f"{name.replace('_', '-')} must be an integer >= 1; got {v!r}")
        if self.seeds > 100_000:
            bad(f"seeds must be an integer in [1, 100000]; got {self.seeds}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or not 0 <= self.seed <= MAX_SEED - self.seeds:
            bad(f"seed must be an integer in [0, {MAX_SEED - self.seeds}] (seed + seeds - 1 is the "
                f"last network's seed, stored as int64); got {self.seed!r}")
        if self.batch_size is not None:
            b = self.batch_size
            if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= min(sizes):
                bad(f"batch-size must be an integer in [1, {min(sizes)}] (the smallest training set); "
                    f"got {b!r}")
        if not (0.0 < self.threshold <= 1.0):
            bad(f"threshold must be in (0, 1]; got {self.threshold!r}")
        for name, lo, hi, lo_open, hi_open in (("momentum", 0.0, 1.0, False, True),
                                                ("eps", 0.0, math.inf, True, True),
                                                ("linf", 0.0, math.inf, False, True)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo or (lo_open and v == lo) \
                    or v > hi or (hi_open and v == hi):
                rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
                bad(f"{name} must be in {rng}; got {v!r}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            bad(f"betas must be two numbers in [0, 1); got {self.betas!r}")
        for name in ("lr", "init_scale"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
                bad(f"{name.replace('_', '-')} must be a number > 0; got {v!r}")
        wd = self.weight_decay
        if wd is not None and (not isinstance(wd, (int, float)) or not math.isfinite(wd) or wd < 0):
            bad(f"weight-decay must be a number >= 0; got {wd!r}")
        if self.optimizer == "adamw" and wd is not None and self.lr_for(max(self.widths)) * wd >= 1.0:
            bad(f"weight-decay must satisfy lr * weight-decay < 1 for adamw (the weights are multiplied "
                f"by 1 - lr * weight-decay each step); got lr {self.lr_for(max(self.widths)):g}, "
                f"weight-decay {wd:g}")

    # -- derived ---------------------------------------------------------------------------
    def task_obj(self):
        return get_task(self.task, P=self.P, operation=self.operation)

    def lr_for(self, N: int) -> float:
        return float(self.lr) if self.lr is not None else default_lr(self.optimizer, self.parametrisation,
                                                                      self.P, N)

    def output_scale_for(self, N: int) -> float:
        return output_scale(self.P, N, self.parametrisation)

    def init_scale_for(self, N: int) -> float:
        return float(self.init_scale) if self.init_scale is not None else default_init_scale(N, self.parametrisation)

    def weight_decay_value(self) -> float:
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return DEFAULT_WEIGHT_DECAY[self.optimizer][self.parametrisation != "mean-field"]

    def make_optimizer(self, N: int) -> Optimizer:
        return make_optimizer(self.optimizer, self.lr_for(N), self.momentum, self.weight_decay_value(),
                              self.betas, self.eps)

    def to_meta(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return json.loads(json.dumps(d, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))

    @classmethod
    def from_meta(cls, meta: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in meta.items() if k in names})


def log_steps(steps: int, log_every: int, per_decade: int = LOGS_PER_DECADE) -> np.ndarray:
    """The logged steps: 0, ``steps``, every multiple of ``log_every`` up to ``steps`` and
    floor(10^(i/per_decade)) for i = 0, 1, ... up to ``steps`` (sorted, unique, int64)."""
    regular = np.arange(0, steps + 1, log_every, dtype=np.int64)
    n = int(math.floor(per_decade * math.log10(steps))) + 1 if steps >= 1 else 1
    logs = np.floor(10.0 ** (np.arange(n) / per_decade)).astype(np.int64)
    return np.unique(np.concatenate([[0, steps], regular, logs[logs <= steps]]))


# ---------------------------------------------------------------------------------------
# the trainer: a block of networks of one (train fraction, width)
# ---------------------------------------------------------------------------------------
class Trainer:
    """Trains a block of networks (one per seed value) of one width on one train fraction.

    Parameters
    ----------
    task : ModularArithmetic-like
        A task with ``P``, ``pairs()``, ``labels()``, ``split(train_fraction, seed)``.
    config : TrainConfig
        Settings (loss, parametrisation, steps, logging, ...).
    width : int
    train_fraction : float
    seed_values : sequence of int
        Seed value of each network (its split, initialisation, batches and probes).
    optimizer : Optimizer, optional
        Default ``config.make_optimizer(width)``.

    ``run(n, callback)`` advances ``n`` steps (at most up to ``config.steps``); the state
    (weights, optimizer, traces) is exported by :meth:`get_state` and restored by
    :meth:`set_state`, per network (leading axis).
    """

    def __init__(self, task, config: TrainConfig, width: int, train_fraction: float, seed_values,
                 optimizer: Optimizer | None = None):
        self.task = task
        self.config = config
        self.N = int(width)
        self.P = int(task.P)
        self.train_fraction = float(train_fraction)
        self.seed_values = [int(s) for s in seed_values]
        self.S = len(self.seed_values)
        self.dtype = np.dtype(config.dtype)
        self.scale = output_scale(self.P, self.N, config.parametrisation)
        self.optimizer = optimizer if optimizer is not None else config.make_optimizer(self.N)
        self.log_at = log_steps(config.steps, config.log_every)
        self._log_index = {int(s): i for i, s in enumerate(self.log_at)}
        pairs, labels = task.pairs(), task.labels()
        self.splits = [task.split(self.train_fraction, s) for s in self.seed_values]
        self._data = []
        for sp in self.splits:
            a_tr, m_tr = pair_indices(pairs[sp.train])
            a_te, m_te = pair_indices(pairs[sp.test])
            self._data.append({"a": a_tr, "c": m_tr + self.P, "y": np.ascontiguousarray(labels[sp.train]),
                               "a_test": a_te, "c_test": m_te + self.P,
                               "y_test": np.ascontiguousarray(labels[sp.test])})
        self.probes = []
        for s, sp in zip(self.seed_values, self.splits):
            rng = np.random.default_rng(split_seed_sequence(s, "ntk-probe"))
            k = min(NTK_PROBES, sp.n_train)
            self.probes.append(np.sort(rng.choice(sp.train, size=k, replace=False)))
        try:
            self._relabel_ok = task.addition_relabelling() is not None
        except AttributeError:  # pragma: no cover - a task without relabellings
            self._relabel_ok = False
        self._buffers = [dict() for _ in range(self.S)]
        self.iteration = 0
        self.params = None

    # -- state -----------------------------------------------------------------------------
    def initialize(self):
        """Draw the initial weights and allocate the traces."""
        s0 = self.config.init_scale_for(self.N)
        W1 = np.empty((self.S, self.N, 2 * self.P), self.dtype)
        W2 = np.empty((self.S, self.P, self.N), self.dtype)
        for j, s in enumerate(self.seed_values):
            W1[j], W2[j] = init_params(self.P, self.N, s, s0, self.dtype)
        self.params = {"W1": W1, "W2": W2}
        T, S, K = len(self.log_at), self.S, self.P // 2
        self.traces = {k: np.full((S, T), np.nan) for k in _TRACES}
        self.freq_hist = np.zeros((S, T, K), np.int64)
        self.phase_hist = np.zeros((S, T, PHASE_BINS), np.int64)
        self.diverged_step = np.full(S, -1, np.int64)
        self.K0 = np.stack([self._ntk(j) for j in range(S)])
        self.iteration = 0
        return self

    def get_state(self) -> dict:
        """The state of every network: arrays with the network axis first, plus the shared
        scalar ``iteration`` (and the optimizer's shared scalars, prefixed ``opt/``)."""
        st = {"W1": self.params["W1"].copy(), "W2": self.params["W2"].copy(),
              "freq_hist": self.freq_hist.copy(), "phase_hist": self.phase_hist.copy(),
              "diverged_step": self.diverged_step.copy(), "K0": self.K0.copy(), "iteration": self.iteration}
        for k, v in self.traces.items():
            st["tr/" + k] = v.copy()
        for k, v in self.optimizer.state_dict().items():
            st["opt/" + k] = v
        return st

    def set_state(self, st: dict):
        self.params = {"W1": np.array(st["W1"], self.dtype), "W2": np.array(st["W2"], self.dtype)}
        self.freq_hist = np.array(st["freq_hist"], np.int64)
        self.phase_hist = np.array(st["phase_hist"], np.int64)
        self.diverged_step = np.array(st["diverged_step"], np.int64)
        self.K0 = np.array(st["K0"], float)
        self.traces = {k[3:]: np.array(v, float) for k, v in st.items() if k.startswith("tr/")}
        opt = {}
        for k, v in st.items():
            if k.startswith("opt/"):
                opt[k[4:]] = np.array(v, self.dtype) if isinstance(v, np.ndarray) else v
        self.optimizer.load_state_dict(opt)
        self.iteration = int(st["iteration"])
        return self

    # -- computations ------------------------------------------------------------------------
    def _grad(self, j: int, t: int, full: bool, threads: int = 1):
        """(loss, data loss, gW1, gW2) of network j at the current weights: full batch, or the
        mini-batch of step t."""
        d = self._data[j]
        a, c, y = d["a"], d["c"], d["y"]
        bs = self.config.batch_size
        if not full and bs is not None and bs < a.size:
            rng = np.random.default_rng(split_seed_sequence(self.seed_values[j], "train-batch", t))
            idx = np.sort(rng.choice(a.size, size=bs, replace=False))
            a, c, y = a[idx], c[idx], y[idx]
        tot, data, F, g1, g2 = loss_and_grad(self.params["W1"][j], self.params["W2"][j], a, c, y, self.scale,
                                             self.config.loss, self.config.linf, True, self._buffers[j],
                                             threads)
        return tot, data, F, g1, g2

    def _ntk(self, j: int) -> np.ndarray:
        from .kernel_regime import empirical_ntk

        pairs = self.task.pairs()[self.probes[j]]
        return empirical_ntk(np.asarray(self.params["W1"][j], float), np.asarray(self.params["W2"][j], float),
                             pairs, self.P, self.scale)

    def _eval(self, j: int, a, c, y):
        """(mean loss, accuracy) of network j on the rows (a, c, y), in chunks."""
        if a.size == 0:
            return math.nan, math.nan
        W1, W2 = self.params["W1"][j], self.params["W2"][j]
        W1t = np.ascontiguousarray(W1.T)
        tot, correct = 0.0, 0
        for lo in range(0, a.size, EVAL_CHUNK):
            aa, cc, yy = a[lo:lo + EVAL_CHUNK], c[lo:lo + EVAL_CHUNK], y[lo:lo + EVAL_CHUNK]
            H = np.empty((aa.size, self.N), self.dtype)
            A = np.empty_like(H)
            gather_square(W1t, aa, cc, H, A)
            F = A @ W2.T
            F *= self.dtype.type(self.scale)
            L, _ = _loss_dF(F, yy, self.config.loss, False)
            tot += L * aa.size
            correct += int(np.sum(np.argmax(F, axis=1) == yy))
        return tot / a.size, correct / a.size

    def _measure(self, j: int, i: int, F_train, g1, g2):
        """Fill column i of network j's traces (weights after ``self.iteration`` steps)."""
        from .fourier_features import dominant_frequency, neuron_ipr, phase_combination

        d = self._data[j]
        tr = self.traces
        W1, W2 = self.params["W1"][j], self.params["W2"][j]
        y = d["y"]
        L_tr, _ = _loss_dF(F_train, y, self.config.loss, False)
        tr["train_loss"][j, i] = L_tr
        tr["train_acc"][j, i] = float(np.mean(np.argmax(F_train, axis=1) == y))
        tr["test_loss"][j, i], tr["test_acc"][j, i] = self._eval(j, d["a_test"], d["c_test"], d["y_test"])
        tr["w1_norm"][j, i] = _frob(W1)
        tr["w2_norm"][j, i] = _frob(W2)
        tr["grad1_norm"][j, i] = _frob(g1)
        tr["grad2_norm"][j, i] = _frob(g2)
        W1f = np.asarray(W1, float)
        if np.all(np.isfinite(W1f)) and np.all(np.isfinite(W2)):
            with np.errstate(all="ignore"):
                ipr = neuron_ipr(W1f)
            ipr = ipr[np.isfinite(ipr)]
            tr["ipr"][j, i] = float(np.mean(ipr)) if ipr.size else math.nan
            K = self._ntk(j)
            n0 = _frob(self.K0[j])
            tr["ntk_change"][j, i] = _frob(K - self.K0[j]) / n0 if n0 > 0 else math.nan
            kdom = dominant_frequency(W1f)
            self.freq_hist[j, i] = np.bincount(kdom - 1, minlength=self.P // 2)[:self.P // 2]
            if self._relabel_ok:
                ph = phase_combination(W1f, np.asarray(W2, float), task=self.task)
                self.phase_hist[j, i] = np.histogram(ph, bins=PHASE_BINS, range=(-math.pi, math.pi))[0]

    def run(self, n_steps: int, callback=None, measure: bool = True):
        """Advance every network by ``n_steps`` steps (stopping at ``config.steps``), measuring
        at the logged steps; ``callback(trainer, step)`` is called after each measurement.
        ``measure=False`` skips the measurements (benchmarks of the update alone).

        The weights after t updates are measured at the start of update t + 1 (its
        full-batch gradient is the measured one), and those after the last update when the
        run reaches ``config.steps``; a logged step is measured exactly once however the
        run is cut into calls."""
        cfg = self.config
        full_batch = cfg.batch_size is None
        end = min(cfg.steps, self.iteration + max(0, int(n_steps)))
        W1s, W2s = self.params["W1"], self.params["W2"]
        threads = default_threads()
        inner = 1 if self.S >= threads else threads
        while True:
            raise_if_interrupted()
            t = self.iteration
            logged = measure and t in self._log_index and (t < end or t == cfg.steps)
            if t >= end and not logged:
                break
            g1s = np.empty_like(W1s)
            g2s = np.empty_like(W2s)

            def one(j, t=t, logged=logged, inner=inner):
                tot, data, F, g1, g2 = self._grad(j, t, full=full_batch or logged, threads=inner)
                if logged:
                    self._measure(j, self._log_index[t], F, g1, g2)
                    if not full_batch and t < end:
                        tot, data, F, g1, g2 = self._grad(j, t, full=False, threads=inner)
                g1s[j] = g1
                g2s[j] = g2
                return tot

            # networks in parallel on the package's thread pool, each with single-threaded
            # BLAS (OpenBLAS's own threads stall on these small products); fewer networks
            # than threads: one network at a time, its products split by rows. Results do
            # not depend on the thread count.
            with np.errstate(all="ignore"):   # a diverging network is recorded, not warned about
                if self.S >= threads:
                    totals = run_parallel(one, [(j,) for j in range(self.S)], threads=threads)
                else:
                    totals = [one(j) for j in range(self.S)]
            for j, tot in enumerate(totals):
                if not math.isfinite(tot) and self.diverged_step[j] < 0:
                    self.diverged_step[j] = t
            if logged and callback is not None:
                callback(self, t)
            if t >= end:
                break
            self.optimizer.step(self.params, {"W1": g1s, "W2": g2s})
            self.iteration = t + 1
        return self


# ---------------------------------------------------------------------------------------
# units of work and the driver
# ---------------------------------------------------------------------------------------
_SCALARS = ("iteration",)


def split_state(st: dict, S: int) -> list:
    """Per-network states from a block's state (arrays split along the first axis; scalars
    copied)."""
    out = [dict() for _ in range(S)]
    for k, v in st.items():
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            for s in range(S):
                out[s][k] = v[s:s + 1].copy()
        else:
            for o in out:
                o[k] = v
    return out


def merge_states(states: list) -> dict:
    """Inverse of :func:`split_state` (scalars must agree)."""
    out = {}
    for k, v in states[0].items():
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            out[k] = np.concatenate([np.asarray(st[k]) for st in states], axis=0)
        else:
            vals = {json.dumps(_scalar(st[k])) for st in states}
            if len(vals) != 1:
                raise RuntimeError(f"networks out of step in '{k}': {sorted(vals)}")
            out[k] = v
    return out


def _scalar(v):
    return v.item() if isinstance(v, np.generic) else (v.tolist() if isinstance(v, np.ndarray) else v)


def _unit_id(i_frac: int, i_width: int, member: int) -> str:
    return f"f{i_frac:03d}_w{i_width:03d}_m{member:05d}"


_WORKER_CONFIG = {}


def _advance_unit(meta: dict, i_frac: int, i_width: int, members: list, states, n: int):
    """Advance one block of networks by n steps (a pure function of its arguments: runs in
    a worker process or in-process). Returns the per-network states."""
    key = json.dumps(meta, sort_keys=True)
    cfg = _WORKER_CONFIG.get(key)
    if cfg is None:
        cfg = TrainConfig.from_meta(meta)
        _WORKER_CONFIG.clear()
        _WORKER_CONFIG[key] = cfg
    tr = Trainer(cfg.task_obj(), cfg, cfg.widths[i_width], cfg.train_fractions[i_frac],
                 [cfg.seed + m for m in members])
    if states is None:
        tr.initialize()
    else:
        tr.set_state(merge_states(states))
    tr.run(n)
    st = tr.get_state()
    if tr.iteration >= cfg.steps:
        # the end-of-training measures, computed where the network is (one network at a
        # time, a pure function of its weights, seed and split)
        links = network_links(tr.task, tr.N, tr.train_fraction, st["W1"], st["W2"], tr.seed_values, tr.scale,
                              init=initial_weights(cfg, tr.N, tr.seed_values))
        for k, v in links.items():
            st["end/" + k] = v
    return split_state(st, len(members))


def _blocks(config: TrainConfig, workers: int) -> list:
    """(i_frac, i_width, members): one block per (fraction, width), split further along the
    seeds when there are more workers than points."""
    G = len(config.train_fractions) * len(config.widths)
    parts = max(1, min(config.seeds, -(-workers // G))) if workers > G else 1
    out = []
    for i in range(len(config.train_fractions)):
        for w in range(len(config.widths)):
            edges = np.linspace(0, config.seeds, parts + 1).round().astype(int)
            for lo, hi in zip(edges[:-1], edges[1:]):
                if hi > lo:
                    out.append((i, w, list(range(lo, hi))))
    return out


def run_training(config: TrainConfig, backend=None, resume: bool = False, checkpoint_every: int = 1000,
                 runner=None, unit_progress=None, stop_after_segments: int | None = None) -> "TrainingResult":
    """Train every (train fraction, width, seed) network and return a :class:`TrainingResult`.

    Units of work: (fraction, width, block of seeds) x segments of ``checkpoint_every``
    steps (:func:`_advance_unit`), mapped through ``runner`` (serial by default); the state
    of every network is saved to ``backend`` after each segment (a
    :class:`~simulations.backends.MemoryBackend` by default). Results do not depend on the
    runner or on how the seeds are blocked.

    Parameters
    ----------
    config : TrainConfig
    backend : MemoryBackend or HDFBackend, optional
    resume : bool
        Continue from the backend's last checkpoint (same configuration required).
    checkpoint_every : int
    runner : adaptive_kernel.runner.Runner, optional
    unit_progress : callable, optional
        ``unit_progress(n_done, n_total)`` over units of the whole run.
    stop_after_segments : int, optional
        Raise KeyboardInterrupt after this many segments (simulates a killed run; tests).
    """
    from adaptive_kernel.runner import SerialRunner, UnitError

    from .backends import MemoryBackend

    backend = backend if backend is not None else MemoryBackend()
    meta = config.to_meta()
    meta["package_version"] = __version__
    t0 = time.perf_counter()
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, (int, np.integer)) \
            or checkpoint_every < 1:
        raise ParameterError(f"checkpoint-every must be an integer >= 1; got {checkpoint_every!r}")
    if resume:
        loaded = backend.load()
        if loaded is None:
            raise PhasesimError("nothing to resume: no checkpoint found")
        old, it, states = loaded
        diff = sorted(k for k in set(old) | set(meta) if k != "package_version" and old.get(k) != meta.get(k))
        if diff:
            raise ParameterError("the checkpoint was written with different settings ("
                                 + ", ".join(f"{k}: {old.get(k)!r} vs {meta.get(k)!r}" for k in diff)
                                 + "); rerun with the same options or start over with --overwrite")
    else:
        backend.reset(meta)
        it, states = 0, None
    runner = runner if runner is not None else SerialRunner()
    blocks = _blocks(config, max(1, int(getattr(runner, "workers", 1))))
    # a block measures step `steps` in the segment that reaches it
    n_seg_total = -(-config.steps // checkpoint_every)
    seg0 = it // checkpoint_every if it < config.steps else n_seg_total
    total_units = n_seg_total * len(blocks)
    done = [seg0 * len(blocks)]
    segments = 0
    if unit_progress is not None:
        unit_progress(done[0], total_units)
    while it < config.steps:
        n = min(checkpoint_every, config.steps - it)
        seg = it // checkpoint_every
        args, keys = [], []
        for i, w, members in blocks:
            st = None if states is None else [states[_unit_id(i, w, m)] for m in members]
            args.append((meta, i, w, members, st, n))
            keys.append(("fraction", i, "width", w, "seeds", members[0], members[-1] + 1, "segment", seg))

        def _unit_done(k, _total, _base=done[0]):
            if unit_progress is not None and k > 0:
                unit_progress(_base + k, total_units)

        try:
            results = runner.starmap(_advance_unit, args, keys=keys, progress=_unit_done)
        except UnitError as exc:
            key = exc.key
            if isinstance(key, tuple) and len(key) == 9:
                where = (f"train fraction {config.train_fractions[key[1]]:g}, width {config.widths[key[3]]}, "
                         f"seeds {config.seed + key[5]}..{config.seed + key[6] - 1}, steps {it + 1}..{it + n}")
                raise UnitError(key, exc.error_type, f"{exc.error_message} ({where})") from exc
            raise
        done[0] += len(blocks)
        states = {}
        for (i, w, members), res in zip(blocks, results):
            for m, st in zip(members, res):
                states[_unit_id(i, w, m)] = st
        it += n
        backend.save(it, states)
        segments += 1
        if stop_after_segments is not None and segments >= stop_after_segments and it < config.steps:
            raise KeyboardInterrupt(f"stopped after {segments} segment(s)")
    return TrainingResult.from_states(config, states, wall_time=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------
# links to the analytic solution and to RFM, measured on the final weights
# ---------------------------------------------------------------------------------------
#: random Gaussian networks averaged in the distance baseline of :func:`network_links`
DISTANCE_BASELINE_DRAWS = 8
#: names of the per-network end-of-training measures of :func:`network_links`
LINKS = ("analytic_distance", "analytic_distance_random", "analytic_distance_nearest",
         "analytic_distance_nearest_random", "nfm_agop_corr", "nfm_agop_corr_init")


def network_links(task, width: int, train_fraction: float, W1, W2, seed_values, scale: float,
                  init=None) -> dict:
    r"""Where the final weights of a block of networks stand relative to Gromov's analytic
    solution and to the neural feature ansatz of RFM (Mallinar et al.).

    **Distance to the analytic solution.** For the network of seed value s the reference is
    :func:`simulations.analytic.gromov_network` ``(task, width, seed=s)`` (cyclic frequencies:
    neuron i carries k = 1 + (i mod (P-1)), so the frequency classes 1 .. floor(P/2) are used
    equally often). :func:`simulations.analytic.weight_distance` describes each neuron by the
    normalised Fourier power spectra of its read-in row (s_i) and read-out column (r_i) and
    costs a pair (i, j) as

    .. math:: C_{ij} = \tfrac12\big[\mathrm{TV}(s_i, s'_j) + \mathrm{TV}(r_i, r'_j)\big]
              \in [0, 1],\qquad \mathrm{TV}(a, b) = \tfrac12\sum_k |a_k - b_k| ,

    invariant under neuron order, per-neuron sign and scale, phases (token and output
    translations) and k <-> -k. Two numbers are stored:

    * ``analytic_distance``: the mean of C over the one-to-one assignment of minimal total
      cost (``match="assignment"``): 0 only when every neuron is a single-frequency neuron of
      the solution *and* the frequencies are used with the reference's multiplicities (a
      network of perfect single-frequency neurons on m of the K = floor(P/2) classes is at
      about 1 - m/K, since most of its neurons must be paired with a reference neuron of
      another frequency);
    * ``analytic_distance_nearest``: the mean over the network's neurons of min_j C_ij
      (``match="nearest"``): how far each neuron is from *some* neuron of the solution,
      whatever the frequency multiplicities (0 for a network that uses any subset of
      Gromov's neurons).

    Scale: both are fractions of spectral mass in the wrong place, in [0, 1]. A network of
    i.i.d. Gaussian weights has its power spread over all frequencies (Dirichlet weights
    of mean ~ 2/P per class), so it sits close to 1 - O(1/P); the baselines
    ``analytic_distance_random`` and ``analytic_distance_nearest_random`` are measured, not
    assumed: the mean distance of :data:`DISTANCE_BASELINE_DRAWS` networks of i.i.d. N(0, 1)
    weights of the same shape (the distance ignores the scale of each neuron, hence of the
    initialisation) drawn from ``default_rng(split_seed_sequence(s, "distance-baseline"))``,
    to the same reference. A trained network that found Gromov's solution is near 0, one
    that kept its random features is near the baseline. NaN for operations without an
    analytic solution (no relabelling to addition: ``mul``, ``div``), for non-finite
    weights, and for widths whose cost tensor exceeds :data:`MAX_DISTANCE_BYTES`
    (:func:`distance_memory`; N > ~1150 at P = 97).

    **Neural feature matrix against AGOP.** ``nfm_agop_corr`` is the Pearson correlation
    over all (2P)^2 entries of the neural feature matrix W1^T W1 with G^{1/2}, G the AGOP of
    f = c W2 (W1 x)^2 over the network's own training inputs
    (:func:`simulations.rfm.nfm_agop_correlation`, uncentred gradients):

    .. math:: G = \frac{4c^2}{n}\, W_1^T\big[(W_2^T W_2)\circ(H^T H)\big] W_1,\qquad H = X W_1^T .

    The neural feature ansatz says W1^T W1 proportional to G^{1/2}; Mallinar et al. (Fig. 6) report
    0.92-0.96 for trained networks. The number has a high floor: both matrices are
    dominated by their diagonal for random weights (W1^T W1 ~ N s^2 I), so
    ``nfm_agop_corr_init`` gives the same correlation for the network's initial weights
    (``init``), the level before any learning. NaN for non-finite weights.

    Parameters
    ----------
    task : ModularArithmetic
    width : int
    train_fraction : float
        The networks' split is ``task.split(train_fraction, s)``.
    W1 : ndarray, shape (S, N, 2P)
    W2 : ndarray, shape (S, P, N)
    seed_values : sequence of int, length S
    scale : float
        c of f = c W2 (W1 x)^2 (changes G by c^2, not the correlation).
    init : (ndarray (S, N, 2P), ndarray (S, P, N)), optional
        The initial weights (``nfm_agop_corr_init``; NaN without them).

    Returns
    -------
    dict
        :data:`LINKS` -> ndarray (S,).
    """
    from .analytic import gromov_network, weight_distance
    from .rfm import nfm_agop_correlation

    W1 = np.asarray(W1, float)
    W2 = np.asarray(W2, float)
    S, N, D = W1.shape
    P = D // 2
    out = {k: np.full(S, np.nan) for k in LINKS}
    analytic = task.addition_relabelling() is not None and distance_memory(P, N) <= MAX_DISTANCE_BYTES
    for j, s in enumerate(seed_values):
        w1, w2 = W1[j], W2[j]
        if not (np.all(np.isfinite(w1)) and np.all(np.isfinite(w2))):
            continue
        if analytic:
            ref = gromov_network(task, int(width), seed=int(s))
            out["analytic_distance"][j] = weight_distance(w1, w2, ref)
            out["analytic_distance_nearest"][j] = weight_distance(w1, w2, ref, match="nearest")
            rng = np.random.default_rng(split_seed_sequence(int(s), "distance-baseline"))
            R1 = rng.standard_normal((DISTANCE_BASELINE_DRAWS, N, D))
            R2 = rng.standard_normal((DISTANCE_BASELINE_DRAWS, P, N))
            out["analytic_distance_random"][j] = float(np.mean(weight_distance(R1, R2, ref)))
            out["analytic_distance_nearest_random"][j] = float(np.mean(weight_distance(R1, R2, ref,
                                                                                       match="nearest")))
        X = task.inputs(task.split(float(train_fraction), int(s)).train)
        with np.errstate(all="ignore"):
            out["nfm_agop_corr"][j] = nfm_agop_correlation(w1, w2, X, scale)
            if init is not None:
                out["nfm_agop_corr_init"][j] = nfm_agop_correlation(np.asarray(init[0][j], float),
                                                                    np.asarray(init[1][j], float), X, scale)
    return out


def distance_memory(P: int, N: int) -> int:
    """Peak bytes of one :func:`simulations.analytic.weight_distance` call against a
    reference of the same width: two (N, N, floor(P/2) + 1) float64 temporaries of its
    cost matrix, plus the random draws of the baseline."""
    return int(8 * (2 * N * N * (P // 2 + 1) + DISTANCE_BASELINE_DRAWS * 3 * P * N * 2))


#: above this :func:`distance_memory`, :func:`network_links` stores NaN distances rather
#: than allocate it (weight_distance broadcasts the full (N, N, K) cost tensor)
MAX_DISTANCE_BYTES = 2 ** 30


def initial_weights(config, N: int, seed_values) -> tuple:
    """(W1 (S, N, 2P), W2 (S, P, N)): the initial weights of the networks of these seed
    values (:func:`init_params`, as :meth:`Trainer.initialize` draws them)."""
    pairs = [init_params(config.P, N, int(s), config.init_scale_for(N), config.dtype) for s in seed_values]
    return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def links_memory(P: int, N: int, n_train: int) -> int:
    """Peak bytes of :func:`network_links` for one network: :func:`distance_memory` (when
    at most :data:`MAX_DISTANCE_BYTES`), X (n, 2P), H (n, N) and the N x N products of the
    AGOP."""
    dist = distance_memory(P, N)
    return int((dist if dist <= MAX_DISTANCE_BYTES else 0) + 8 * (n_train * (2 * P + N) + 4 * N * N))


# ---------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------
def first_step_reaching(values, steps, level: float) -> np.ndarray:
    """Per row of ``values`` (networks x logged steps), the first logged step with value >=
    ``level``; -1 where it is never reached (censored)."""
    values = np.atleast_2d(np.asarray(values, float))
    hit = values >= level
    first = np.argmax(hit, axis=1)
    return np.where(hit.any(axis=1), np.asarray(steps)[first], -1).astype(np.int64)


@dataclass
class TrainingResult:
    """What ``phasesim train`` measured; one entry of ``points`` per (train fraction, width).

    Each point is a dict with ``train_fraction``, ``width``, ``n_train``, ``seeds`` (seed
    values), ``traces`` {name: (S, T)}, ``freq_hist`` (S, T, floor(P/2)), ``phase_hist``
    (S, T, PHASE_BINS), ``W1`` (S, N, 2P), ``W2`` (S, P, N) (final weights), ``ipr_final``,
    ``freq_final``, ``phase_final`` (S, N), ``grok_step``, ``fit_step`` (S,) (-1: censored),
    ``diverged_step`` (S,) (-1: finite throughout), ``status`` (list of str per network) and
    the end-of-training links of :func:`network_links` (S,): ``analytic_distance``,
    ``analytic_distance_random``, ``analytic_distance_nearest``,
    ``analytic_distance_nearest_random``, ``nfm_agop_corr``, ``nfm_agop_corr_init``.
    ``steps`` (T,) are the logged steps.
    """

    config: TrainConfig
    steps: np.ndarray
    points: list
    wall_time: float = 0.0
    attrs: dict = field(default_factory=dict)

    @classmethod
    def from_states(cls, config, states, wall_time=0.0):
        from .fourier_features import dominant_frequency, neuron_ipr, phase_combination

        task = config.task_obj()
        steps = log_steps(config.steps, config.log_every)
        relabel = task.addition_relabelling() is not None
        pts = []
        for i, f in enumerate(config.train_fractions):
            for w, N in enumerate(config.widths):
                st = merge_states([states[_unit_id(i, w, m)] for m in range(config.seeds)])
                traces = {k[3:]: np.asarray(v, float) for k, v in st.items() if k.startswith("tr/")}
                W1, W2 = np.asarray(st["W1"]), np.asarray(st["W2"])
                with np.errstate(all="ignore"):
                    ipr = neuron_ipr(np.asarray(W1, float))
                    kdom = dominant_frequency(np.asarray(W1, float))
                    phase = (phase_combination(np.asarray(W1, float), np.asarray(W2, float), task=task)
                             if relabel else np.full(W1.shape[:2], np.nan))
                seeds = np.arange(config.seeds, dtype=np.int64) + config.seed
                if all("end/" + k in st for k in LINKS):
                    links = {k: np.asarray(st["end/" + k], float) for k in LINKS}
                else:   # a checkpoint of the last step written before these measures existed
                    links = network_links(task, N, f, W1, W2, seeds, config.output_scale_for(N),
                                          init=initial_weights(config, N, seeds))
                div = np.asarray(st["diverged_step"], np.int64)
                grok = first_step_reaching(traces["test_acc"], steps, config.threshold)
                fit = first_step_reaching(traces["train_acc"], steps, 1.0)
                status = ["diverged" if d >= 0 else ("grokked" if g >= 0 else "censored")
                          for d, g in zip(div, grok)]
                pts.append({"train_fraction": f, "width": N,
                            "n_train": task.split(f, config.seed).n_train,
                            "seeds": seeds, **links,
                            "traces": traces, "freq_hist": np.asarray(st["freq_hist"]),
                            "phase_hist": np.asarray(st["phase_hist"]), "W1": W1, "W2": W2,
                            "ipr_final": ipr, "freq_final": kdom, "phase_final": phase,
                            "grok_step": grok, "fit_step": fit, "diverged_step": div, "status": status})
        return cls(config, steps, pts, wall_time)

    # -- status ----------------------------------------------------------------------------
    @property
    def success(self) -> bool:
        """True when no network diverged (censored networks are not failures)."""
        return not any(int(d) >= 0 for p in self.points for d in p["diverged_step"])

    @property
    def status(self) -> str:
        return "ok" if self.success else "diverged"

    @property
    def message(self) -> str:
        bad = [(p["train_fraction"], p["width"], int(s), int(d)) for p in self.points
               for s, d in zip(p["seeds"], p["diverged_step"]) if d >= 0]
        if not bad:
            return "every network stayed finite"
        f, N, s, d = bad[0]
        return (f"{len(bad)} network(s) diverged (non-finite loss), first: train fraction {f:g}, width {N}, "
                f"seed {s} at step {d}; lower --lr")

    # -- summaries -------------------------------------------------------------------------
    def table(self) -> str:
        """One line per (train fraction, width): final accuracies, grokked networks, median
        fit and grokking steps, mean IPR, and the end-of-training links of
        :func:`network_links` (:data:`~simulations.training_io.LINKS_LEGEND`)."""
        head = (f"{'fraction':>8s} {'width':>6s} {'train_acc':>9s} {'test_acc':>8s} {'grokked':>8s} "
                f"{'fit_step':>9s} {'grok_step':>9s} {'ipr':>6s} " + LINKS_HEADER)
        lines = [head]
        for p in self.points:
            tr = p["traces"]
            g = p["grok_step"]
            fit = p["fit_step"]
            lines.append(f"{p['train_fraction']:8.4g} {p['width']:6d} {_mean_last(tr['train_acc']):9.3f} "
                         f"{_mean_last(tr['test_acc']):8.3f} {int(np.sum(g >= 0)):>4d}/{len(g):<3d} "
                         f"{_median_or_dash(fit):>9s} {_median_or_dash(g):>9s} "
                         f"{_mean_last(tr['ipr']):6.3f} " + links_cells(p))
        return "\n".join(lines)

    def summary(self) -> str:
        n = sum(len(p["grok_step"]) for p in self.points)
        g = sum(int(np.sum(p["grok_step"] >= 0)) for p in self.points)
        return (f"{len(self.points)} point(s) x {self.config.seeds} seed(s), {self.config.steps} steps "
                f"({self.config.optimizer}, {self.config.loss}, {self.config.parametrisation}): {g} of {n} "
                f"network(s) reached test accuracy {self.config.threshold:g} (the others are censored); "
                f"{self.message}; wall time {self.wall_time:.1f} s")

    def to_hdf5(self, path, overwrite=False, command=None):
        """Write atomically (:func:`simulations.training_io.write_training`, kind "train")."""
        from .training_io import write_training

        return write_training(self, path, overwrite, command)


def _mean_last(a) -> float:
    a = np.asarray(a, float)[:, -1]
    a = a[np.isfinite(a)]
    return float(np.mean(a)) if a.size else math.nan


def _median_or_dash(a) -> str:
    a = np.asarray(a)
    ok = a[a >= 0]
    return f"{int(np.median(ok))}" if ok.size else "-"


# ---------------------------------------------------------------------------------------
# resources
# ---------------------------------------------------------------------------------------
def estimate_memory(config: TrainConfig, workers: int = 1) -> int:
    """Peak bytes of :func:`run_training`: per block (one worker) the weights, gradients,
    optimizer moments and traces of its networks, the (B, N) work arrays of one network
    (H, A, dA, matmul temporaries: 5 arrays) and the evaluation chunk, or the end-of-training
    measures of one network (:func:`links_memory`) if larger; the parent holds
    every network's state twice while a segment is exchanged."""
    P = config.P
    n_pairs = config.task_obj().n_pairs
    isz = np.dtype(config.dtype).itemsize
    T = len(log_steps(config.steps, config.log_every))
    n_train_max = max(int(math.floor(f * n_pairs + 0.5)) for f in config.train_fractions)
    B = n_train_max
    if config.batch_size is not None:
        B = min(B, config.batch_size)
    N = max(config.widths)
    per_net = 3 * P * N * isz * 5 + T * (len(_TRACES) * 8 + 8 * (P // 2 + PHASE_BINS)) + 8 * NTK_PROBES ** 2
    work = 5 * max(B, min(EVAL_CHUNK, n_pairs)) * N * isz + B * P * isz * 3
    blocks = _blocks(config, workers)
    S_block = max(len(m) for _, _, m in blocks)
    # the end-of-training measures of one network at a time (network_links)
    work = max(work, links_memory(P, N, n_train_max))
    worker = S_block * per_net + work
    n_nets = len(config.train_fractions) * len(config.widths) * config.seeds
    parent = 2 * n_nets * per_net
    return int(min(workers, len(blocks)) * worker + parent)


def check_resources(config: TrainConfig, workers: int = 1, available: int | None = None) -> int:
    """Refuse (ParameterError naming the parameter to reduce) a run whose
    :func:`estimate_memory` exceeds the memory it may use; return the estimate."""
    from adaptive_kernel.limits import MEMORY_FRACTION, available_memory, require_memory

    est = estimate_memory(config, workers)
    avail = available_memory() if available is None else int(available)
    if est <= MEMORY_FRACTION * avail:
        return est
    from dataclasses import replace

    options = []
    for name, text, halved in (
            ("width", f"--width {max(config.widths)}",
             lambda c: replace(c, widths=[max(1, w // 2) for w in c.widths])),
            ("seeds", f"--seeds {config.seeds}", lambda c: replace(c, seeds=max(1, c.seeds // 2))),
            ("P", f"--P {config.P}", lambda c: replace(c, P=max(2, c.P // 2), batch_size=None)),
            ("steps", f"--steps {config.steps}", lambda c: replace(c, steps=max(1, c.steps // 2)))):
        try:
            options.append((text, est - estimate_memory(halved(config), workers)))
        except PhasesimError:
            continue
    best = max(options, key=lambda o: o[1])[0] if options else f"--width {max(config.widths)}"
    n_nets = len(config.train_fractions) * len(config.widths) * config.seeds
    require_memory(est, best, f"weights, optimizer state, work arrays and traces of {n_nets} network(s)", avail)
    return est  # pragma: no cover - require_memory raised


__all__ = ["TrainConfig", "Trainer", "TrainingResult", "run_training", "loss_and_grad", "forward",
           "init_params", "output_scale", "default_init_scale", "log_steps", "Optimizer", "GD", "Momentum",
           "AdamW", "NormalizedGD", "OPTIMIZERS", "make_optimizer", "trainable_tasks", "default_task",
           "first_step_reaching", "estimate_memory", "check_resources", "PARAMETRISATIONS", "LOSSES",
           "network_links", "links_memory", "distance_memory", "MAX_DISTANCE_BYTES", "LINKS", "DISTANCE_BASELINE_DRAWS",
           "TRACE_DESCRIPTIONS"]
