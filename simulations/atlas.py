r"""The grokking atlas: every method of the package on the same splits of a two-token task
(``phasesim atlas``).

Each method of the package explains grokking with one mechanism: kernel regression in the
lazy regime (:mod:`simulations.kernel_regime`), recursive feature machines
(:mod:`simulations.rfm`), networks trained by gradient descent or AdamW
(:mod:`simulations.training`), Gromov's analytic Fourier network
(:mod:`simulations.analytic`). The atlas runs all of them on the *same* train/test split
``task.split(alpha, seed)`` for every (P, training fraction alpha, seed) and compares when
they generalise.

Methods (:data:`METHODS`)
-------------------------
==============  =====================================================  ==================
name            what one unit does                                     clock
==============  =====================================================  ==================
kernel-nngp     ridgeless regression with the task's NNGP              none (closed form)
kernel-ntk      the same with the expected NTK (mean-field)            none (closed form)
rfm-quadratic   RFM (Mallinar et al. Alg. 1), (x^T M z)^2              AGOP iterations
rfm-gaussian    RFM with the Mahalanobis Gaussian kernel               AGOP iterations
gd              full-batch GD, the trainer's defaults                  steps
adamw           AdamW, the trainer's defaults                          steps
analytic        Gromov's eq. 6 network of a stated width, evaluated    none (constructed)
                on the test pairs (it does not see the training set:
                the reference line)
langevin        MALA chains of the square-activation network sampled   Langevin steps
                from the posterior whose data term sums over the
                training pairs (:func:`langevin_unit`); not in the
                default set (``--methods all`` or by name)
==============  =====================================================  ==================

Each method is a :class:`Method`: a pure unit function
``unit(task_name, task_params, train_fraction, seed, budget, threshold) -> dict`` (module
level, so that it pickles by reference) and its budget options with documented defaults.
A unit calls the method's library function (never the command line); every one of them
takes the split from ``task.split(train_fraction, seed)``.

Per unit (:data:`UNIT_FIELDS`)
------------------------------
Final test and training accuracy (argmax of the outputs against the label) and loss (each
method's own loss, :data:`LOSS_DEFINITIONS`: the accuracies are comparable across methods,
the losses only within one), the *time to fit* (first clock value with training accuracy 1)
and the *time to generalise* (first clock value with test accuracy >= ``threshold``, 0.9 by
default) in the method's own clock: RFM's iteration t is the predictor solved with M_t,
after t AGOP updates (t = 0 is the plain kernel machine); the trainer's logged steps (their
resolution is that of the logged steps); closed-form methods have the single clock value 0.
A time not reached within the budget is *censored*: -1, with ``fitted`` / ``generalised``
False, never dropped. ``seconds`` is the unit's wall time (the one quantity that differs
between runs); ``split_digest`` identifies the training set (first 8 bytes of the SHA-256
of its sorted row indices, as a signed int64). Compact traces (test and training accuracy
against the clock) are kept for every unit.

Langevin networks (:func:`langevin_unit`, :func:`sample_langevin`)
----------------------------------------------------------------
One unit = ``members`` chains (same split, RNG streams ``dynamics_rng(seed, member, 0)``)
of the network of ``phasesim langevin --train-fraction alpha --seed seed`` at one sigma2
(:func:`langevin_config`), run in the unit's process. Defaults (:data:`_LANGEVIN_BUDGET`):
N = P^2, sigma_a2 = 0.01, gamma = 1 (the package's Langevin runs,
docs/langevin_results.md), sigma2 = 0.1, 6000 steps (3000 burn-in, thin 10), 2 members.
sigma2 = 0.1: at these parameters ``phasesim scan`` (derived normalisation) is in GFL from
sigma2 = 0.3 down to 0.01 at P = 11 and down to sigma2_gmfl1 = 0.021 at P = 23, with
r = 0.61 (P = 11) and 0.66 (P = 23) at 0.1: the full-data posterior learns about a third
of the target there, and it is the noise at which the package's Langevin runs equilibrate
(at 0.05 the chains fail the sampler check in 10^4 steps at P = 11; GMFL, below 0.021,
needs step sizes ~1e-3). Reported: the per-sample metrics (``test_accuracy``: posterior
mean of one sampled network's accuracy; used for alpha_c) and those of the sample-averaged
output (``test_accuracy_mean_output`` ...); the clock is the Langevin step of the recorded
samples. A unit whose sampler check fails (``sampling_ok`` 0, status
``not-equilibrated``) is kept, shown, and left out of alpha_c (counts as not generalising)
and of the means (:meth:`AtlasResult.usable`).

The alpha = 1 link (:func:`theory_link_unit`, ``theory_link``; default: on when langevin
runs): per (P, seed) the same chains on every pair (the theory's posterior), their
residual r = <y, y - fbar>/|y|^2 against the theory's r at the same (P, N, sigma_a2,
gamma, sigma2) from :func:`adaptive_kernel.solver.scan` (:func:`theory_residual`).

Critical training fraction (:func:`bracket_alpha_c`)
----------------------------------------------------
At a fraction alpha a method *generalises* when the test accuracy is >= ``threshold`` in
at least half of the seeds (failed units count as not generalising). With alpha_1 < ... <
alpha_n the fractions evaluated for one (method, P), alpha_c is bracketed by

.. math:: \alpha_{hi} = \min\{\alpha_j : \text{generalises at } \alpha_k
          \ \forall k \ge j\},\qquad \alpha_{lo} = \alpha_{j-1}\ (0 \text{ if } j = 1),

(the smallest fraction from which on every larger fraction generalises; robust to an
isolated success below the transition). Status: ``bracketed`` (alpha_lo > 0),
``below-grid`` (already at the smallest fraction: alpha_c <= alpha_1, left-censored) or
``not-reached`` (not at the largest fraction: alpha_c > alpha_n, right-censored; alpha_hi
NaN). The estimate is the midpoint (alpha_lo + alpha_hi)/2 of a bracket, alpha_hi for
``below-grid`` and NaN for ``not-reached``. ``refine`` rounds of bisection
(:func:`bisection_midpoint`) evaluate every seed at the midpoint of each bracket, rounded to
the lattice of training-set sizes n/|pairs| (the split has floor(alpha |pairs| + 1/2)
training pairs), and stop once no training-set size lies strictly inside the bracket. Only
``bracketed`` values are refined (a censored one needs a wider grid).

Scaling with P (:func:`fit_power_law`)
--------------------------------------
alpha_c ~ A P^(-kappa), fitted by weighted least squares on the bracketed (method, P):

.. math:: y_i = \log A - \kappa \log P_i,\qquad
          y_i = \tfrac12(\log\alpha_{lo,i} + \log\alpha_{hi,i}),\qquad
          \sigma_i = (\log\alpha_{hi,i} - \log\alpha_{lo,i})/\sqrt{12}

(alpha_c uniform in log over its bracket). The standard errors are those of the weighted
fit, (X^T W X)^{-1} with W = diag(1/sigma_i^2), not rescaled by the residuals; chi^2 is
reported next to them. Mohamadi et al. predict kappa = 0 for kernel methods (n ~ P^2
samples) and about 1/3 for the l_inf-regularised network in classification (n ~ 2 P^(5/3)).

Units of work, seeds, resume
----------------------------
Every (method, P, alpha, seed) is one unit (:func:`atlas_unit`) with the key
``("method", name, "P", P, "alpha", "%.17g" % alpha, "seed", seed)``, run through
:func:`adaptive_kernel.runner.run_units`: the same bits serially, with ``--jobs`` and on
Dask. A :class:`UnitCheckpoint` keeps the finished units (written atomically every
``flush_seconds`` and when the run stops); ``--resume`` computes only the units it does not
hold. Bisection rounds are units too, their fractions fixed by the units before them, so a
resumed run takes the same path.

File layout (kind ``"atlas"``, :meth:`AtlasResult.to_hdf5`)
-----------------------------------------------------------
Root attributes: provenance, ``kind``, ``teacher`` (task name), ``format_version``,
``param_*`` (task, operation, threshold, quorum, refine, P, seeds, the fraction grid,
methods) and ``budgets`` (JSON). Group ``units``: one row per unit (``method``, ``P``,
``train_fraction``, ``seed``, ``refined`` and :data:`UNIT_FIELDS`), ``trace_clock``,
``trace_test_accuracy``, ``trace_train_accuracy`` (units x T, NaN padded). Group
``splits``: ``P``, ``train_fraction``, ``seed``, ``n_train``, ``split_digest`` of every
split used. Group ``alpha_c``: one row per (method, P) (:data:`ALPHA_C_FIELDS`). Group
``kappa``: one row per method (:data:`KAPPA_FIELDS`). Format 2 adds to ``units`` the
:data:`OPTIONAL_FIELDS` (NaN for methods without them) and, when the run had the alpha = 1
link, the group ``theory_link`` (one row per (P, seed): ``P``, ``seed``,
:data:`LINK_FIELDS`) and the root attribute ``param_theory_link``. Format 1 files are read
(those fields NaN, no link).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from adaptive_kernel.errors import FileFormatError, ParameterError
from adaptive_kernel.validation import Constraint

KIND = "atlas"
#: 2: OPTIONAL_FIELDS and the group theory_link (files of format 1 are read, those as NaN / absent)
FORMAT_VERSION = 2
#: test accuracy that counts as generalising (the issue's alpha_c definition)
THRESHOLD = 0.9
#: fraction of the seeds that must generalise at a training fraction
QUORUM = 0.5
#: most bisection rounds
MAX_REFINE = 20
#: a run whose estimated wall time exceeds this is refused before it starts (seconds)
MAX_RUN_SECONDS = 7 * 24 * 3600.0

#: quantities of one unit: name -> (description, units)
UNIT_FIELDS = {
    "n_train": ("training pairs of the split", "1"),
    "n_test": ("test pairs of the split", "1"),
    "test_accuracy": ("final fraction of test pairs whose argmax output is the label", "1"),
    "train_accuracy": ("final fraction of training pairs whose argmax output is the label", "1"),
    "test_loss": ("final test loss, the method's own definition (LOSS_DEFINITIONS)", "1"),
    "train_loss": ("final training loss, the method's own definition", "1"),
    "fit_time": ("first clock value with training accuracy 1; -1: censored (not reached)", "clock"),
    "grok_time": ("first clock value with test accuracy >= threshold; -1: censored (not reached)", "clock"),
    "fitted": ("training accuracy 1 was reached within the budget", None),
    "generalised": ("test accuracy >= threshold was reached within the budget", None),
    "split_digest": ("first 8 bytes of the SHA-256 of the sorted training row indices (int64)", None),
    "seconds": ("wall time of the unit (the one field that differs between runs)", "s"),
    "success": ("the method ran to the end with finite outputs", None),
    "status": ("the method's status ('ok', 'censored', 'failed', ...)", None),
    "message": ("what happened, one line", None),
}
#: quantities only some methods have (NaN for the others; files of format 1 lack them and
#: read back as NaN): name -> (description, units)
OPTIONAL_FIELDS = {
    "test_accuracy_mean_output": ("test accuracy of the sample-averaged output (langevin; mean over members)", "1"),
    "train_accuracy_mean_output": ("training accuracy of the sample-averaged output (langevin)", "1"),
    "test_loss_mean_output": ("test loss of the sample-averaged output (langevin)", "1"),
    "sampling_ok": ("1: the sampler's check passed (simulations.diagnostics.sampling_health); 0: it did not "
                    "(the unit is left out of alpha_c and the means); NaN: no sampler", None),
    "acceptance": ("MALA acceptance after burn-in, mean over members (langevin)", "1"),
}
_INT_FIELDS = ("n_train", "n_test", "fit_time", "grok_time", "split_digest")
_BOOL_FIELDS = ("fitted", "generalised", "success")
_STR_FIELDS = ("status", "message", "theory_phase")
#: per (method, P)
ALPHA_C_FIELDS = {
    "alpha_lo": ("lower end of the bracket of alpha_c (0: below the smallest fraction)", "1"),
    "alpha_hi": ("upper end of the bracket (NaN: not reached at the largest fraction)", "1"),
    "alpha_c": ("estimate: bracket midpoint; alpha_hi when below-grid; NaN when not reached", "1"),
    "status": ("'bracketed', 'below-grid' (left-censored) or 'not-reached' (right-censored)", None),
    "n_fractions": ("fractions evaluated (grid and bisection points)", "1"),
    "n_refined": ("bisection points evaluated", "1"),
}
#: per method
KAPPA_FIELDS = {
    "kappa": ("exponent of alpha_c ~ A P^(-kappa) (weighted least squares in log-log)", "1"),
    "kappa_err": ("standard error of kappa from the bracket widths", "1"),
    "log_amplitude": ("log A", "1"),
    "log_amplitude_err": ("standard error of log A", "1"),
    "chi2": ("chi^2 of the fit (with the bracket-width errors)", "1"),
    "n_points": ("bracketed P values used", "1"),
    "status": ("'ok' or why there is no fit", None),
}
#: each method's loss
LOSS_DEFINITIONS = {
    "kernel": "squared error summed over the P outputs, centred one-hot targets, mean over pairs",
    "rfm": "squared error averaged over the P outputs, one-hot targets, mean over pairs",
    "train": "the trainer's loss: squared error summed over the P outputs, one-hot targets, mean over pairs",
    "analytic": "least-squares-scaled squared error summed over the P outputs, one-hot targets, mean over pairs",
    "langevin": "squared error summed over the P outputs, centred one-hot targets, mean over pairs, averaged over "
                "the posterior samples",
}


# ---------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """One budget option of a method: default, constraint and help text."""

    default: object
    constraint: Constraint
    help: str


@dataclass(frozen=True)
class Method:
    """One method of the atlas.

    Attributes
    ----------
    name : str
    unit : callable
        ``unit(task_name, task_params, train_fraction, seed, budget, threshold) -> dict``
        with the keys of :data:`UNIT_FIELDS` and ``trace_clock``, ``trace_test_accuracy``,
        ``trace_train_accuracy`` (1-D arrays); a pure function of its arguments.
    clock : str
        What the times count.
    family : str
        Key of :data:`LOSS_DEFINITIONS`.
    description : str
    budget : dict
        ``{name: Budget}``.
    cost : callable
        ``cost(P, n_train, n_total, budget) -> seconds``: a rough model of one unit's wall
        time on one core (measured on the development machine; module constants).
    memory : callable
        ``memory(task, train_fraction, budget) -> bytes`` peak of one unit.
    default : bool
        Part of the default method set (``--methods`` not given); ``all`` adds the others.
    validate : callable, optional
        ``validate(task_name, task_params, budget)``: checks that need the task (raise
        ParameterError), called once per P when the configuration is built.
    """

    name: str
    unit: Callable
    clock: str
    family: str
    description: str
    budget: dict
    cost: Callable
    memory: Callable
    default: bool = True
    validate: Callable | None = None

    def defaults(self) -> dict:
        return {k: b.default for k, b in self.budget.items()}

    def check_budget(self, budget: dict) -> dict:
        """The budget with defaults filled and every value checked (ParameterError naming
        ``<method>.<option>``)."""
        unknown = sorted(set(budget) - set(self.budget))
        if unknown:
            raise ParameterError(f"unknown budget option(s) {', '.join(unknown)} of method {self.name!r}; "
                                 f"allowed: {', '.join(sorted(self.budget)) or 'none'}")
        out = self.defaults()
        out.update({k: v for k, v in budget.items() if v is not None})
        for k, b in self.budget.items():
            if out[k] is not None:
                out[k] = b.constraint.check(f"{self.name} {k}", out[k])
        return out


def split_digest(train_rows) -> int:
    """First 8 bytes (big-endian, signed int64) of the SHA-256 of the int64 training rows."""
    b = np.ascontiguousarray(np.asarray(train_rows, np.int64)).tobytes()
    return int.from_bytes(hashlib.sha256(b).digest()[:8], "big", signed=True)


def first_clock_reaching(values, clock, level: float) -> int:
    """First entry of ``clock`` whose value in ``values`` is >= ``level``; -1 if none
    (censored). NaN never reaches."""
    v = np.asarray(values, float)
    hit = np.flatnonzero(v >= level)
    return int(np.asarray(clock)[hit[0]]) if hit.size else -1


def _finish(out: dict, clock, test_acc, train_acc, threshold: float) -> dict:
    """Times, flags and traces of a unit from its accuracy traces against ``clock``."""
    clock = np.asarray(clock, np.int64)
    test_acc = np.asarray(test_acc, float)
    train_acc = np.asarray(train_acc, float)
    out["fit_time"] = first_clock_reaching(train_acc, clock, 1.0)
    out["grok_time"] = first_clock_reaching(test_acc, clock, threshold)
    out["fitted"] = out["fit_time"] >= 0
    out["generalised"] = out["grok_time"] >= 0
    out["trace_clock"] = clock.astype(float)
    out["trace_test_accuracy"] = test_acc
    out["trace_train_accuracy"] = train_acc
    if out.get("success", True) and out.get("status") in (None, "ok", "censored"):
        out["status"] = "ok" if out["generalised"] else "censored"
    return out


def _canonical(out: dict) -> dict:
    """Plain Python scalars / float64 arrays (what a checkpoint gives back bit for bit)."""
    res = {}
    for k, v in out.items():
        if k in _INT_FIELDS:
            res[k] = int(v)
        elif k in _BOOL_FIELDS:
            res[k] = bool(v)
        elif k in _STR_FIELDS:
            res[k] = " ".join(str(v).split())
        elif k.startswith("trace_"):
            res[k] = np.asarray(v, float).reshape(-1)
        else:
            res[k] = float(v)
    return res


def _kernel_unit(kernel: str, task_name, task_params, train_fraction, seed, budget, threshold):
    from adaptive_kernel.tasks import get_task

    from .kernel_regime import regression_unit

    config = {"task": task_name, "operation": task_params.get("operation", "add"), "kernel": kernel,
              "ridge": float(budget["ridge"]), "parametrisation": "mean-field", "width": None,
              "sigma_w2": None, "sigma_v2": None}
    t0 = time.perf_counter()
    r = regression_unit(config, int(task_params["P"]), float(train_fraction), int(seed))
    task = get_task(task_name, **task_params)
    out = {k: r[k] for k in ("n_train", "n_test", "test_accuracy", "train_accuracy", "test_loss", "train_loss",
                             "success", "message")}
    out["status"] = "ok" if r["success"] else "failed"
    out["split_digest"] = split_digest(task.split(train_fraction, seed).train)
    _finish(out, [0], [r["test_accuracy"]], [r["train_accuracy"]], threshold)
    if r["status"] == "pseudo-inverse" and r["success"]:
        out["message"] = "numerically singular kernel: minimum-norm solution"
    out["seconds"] = time.perf_counter() - t0
    return _canonical(out)


def kernel_nngp_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """Ridgeless (or ``budget['ridge']``) regression with the NNGP,
    :func:`simulations.kernel_regime.regression_unit`."""
    return _kernel_unit("nngp", task_name, task_params, train_fraction, seed, budget, threshold)


def kernel_ntk_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """Regression with the expected NTK (mean-field), :func:`~simulations.kernel_regime.regression_unit`."""
    return _kernel_unit("ntk", task_name, task_params, train_fraction, seed, budget, threshold)


def _rfm_unit(kernel: str, task_name, task_params, train_fraction, seed, budget, threshold):
    from adaptive_kernel.tasks import get_task

    from .rfm import RFMConfig, run_rfm_unit

    cfg = RFMConfig(task=task_name, task_params=dict(task_params), train_fractions=(float(train_fraction),),
                    seeds=(int(seed),), kernel=kernel, iterations=int(budget["iterations"]),
                    ridge=float(budget["ridge"])).to_dict()
    t0 = time.perf_counter()
    r = run_rfm_unit(cfg, float(train_fraction), int(seed))
    task = get_task(task_name, **task_params)
    split = task.split(train_fraction, seed)
    te, tr = np.asarray(r["test_accuracy"], float), np.asarray(r["train_accuracy"], float)
    ran = np.flatnonzero(np.isfinite(te))
    last = int(ran[-1]) if ran.size else -1
    out = {"n_train": int(r["n_train"]), "n_test": split.n_test, "split_digest": split_digest(split.train),
           "success": bool(r["success"]), "message": r["message"],
           "status": "ok" if r["success"] else "failed"}
    for name in ("test_accuracy", "train_accuracy", "test_loss", "train_loss"):
        out[name] = float(np.asarray(r[name], float)[last]) if last >= 0 else math.nan
    _finish(out, np.arange(te.size), te, tr, threshold)
    out["seconds"] = time.perf_counter() - t0
    return _canonical(out)


def rfm_quadratic_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """RFM with the quadratic kernel, :func:`simulations.rfm.run_rfm_unit`."""
    return _rfm_unit("quadratic", task_name, task_params, train_fraction, seed, budget, threshold)


def rfm_gaussian_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """RFM with the Gaussian kernel, :func:`simulations.rfm.run_rfm_unit`."""
    return _rfm_unit("gaussian", task_name, task_params, train_fraction, seed, budget, threshold)


def _train_unit(optimizer: str, task_name, task_params, train_fraction, seed, budget, threshold):
    from .training import TrainConfig, Trainer

    cfg = TrainConfig(task=task_name, P=int(task_params["P"]), operation=task_params.get("operation", "add"),
                      widths=[int(budget["width"])], train_fractions=[float(train_fraction)], optimizer=optimizer,
                      steps=int(budget["steps"]), log_every=int(budget["log_every"]), threshold=float(threshold),
                      seeds=1, seed=int(seed))
    t0 = time.perf_counter()
    tr = Trainer(cfg.task_obj(), cfg, int(budget["width"]), float(train_fraction), [int(seed)])
    tr.initialize()
    tr.run(cfg.steps)
    split = tr.splits[0]
    T = tr.traces
    diverged = int(tr.diverged_step[0])
    out = {"n_train": split.n_train, "n_test": split.n_test, "split_digest": split_digest(split.train),
           "test_accuracy": T["test_acc"][0, -1], "train_accuracy": T["train_acc"][0, -1],
           "test_loss": T["test_loss"][0, -1], "train_loss": T["train_loss"][0, -1],
           "success": diverged < 0,
           "status": "ok" if diverged < 0 else "diverged",
           "message": (f"{cfg.steps} {optimizer} steps, width {budget['width']}" if diverged < 0
                       else f"non-finite loss at step {diverged}")}
    _finish(out, tr.log_at, T["test_acc"][0], T["train_acc"][0], threshold)
    out["seconds"] = time.perf_counter() - t0
    return _canonical(out)


def gd_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """Full-batch gradient descent with the trainer's defaults (:class:`simulations.training.Trainer`)."""
    return _train_unit("gd", task_name, task_params, train_fraction, seed, budget, threshold)


def adamw_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """AdamW with the trainer's defaults (:class:`simulations.training.Trainer`)."""
    return _train_unit("adamw", task_name, task_params, train_fraction, seed, budget, threshold)


def analytic_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """Gromov's analytic network (:func:`simulations.analytic.gromov_network`, cyclic
    frequencies, phases from ``split_seed_sequence(seed, "analytic-gromov", 0, width)``)
    evaluated on the training and test pairs of the split; it is built without data, so its
    accuracy does not depend on alpha beyond which pairs are tested."""
    from adaptive_kernel.tasks import get_task, split_seed_sequence

    from .analytic import evaluate, gromov_network

    t0 = time.perf_counter()
    task = get_task(task_name, **task_params)
    split = task.split(train_fraction, seed)
    width = int(budget["width"])
    net = gromov_network(task, width, seed=split_seed_sequence(int(seed), "analytic-gromov", 0, width))
    te = evaluate(net.W1, net.W2, task, split.test) if split.n_test else None
    trn = evaluate(net.W1, net.W2, task, split.train)
    out = {"n_train": split.n_train, "n_test": split.n_test, "split_digest": split_digest(split.train),
           "test_accuracy": te.accuracy if te else math.nan, "train_accuracy": trn.accuracy,
           "test_loss": te.loss if te else math.nan, "train_loss": trn.loss,
           "success": True, "status": "ok", "message": f"Gromov's network, width {width}"}
    _finish(out, [0], [out["test_accuracy"]], [out["train_accuracy"]], threshold)
    out["seconds"] = time.perf_counter() - t0
    return _canonical(out)


# -- Langevin networks ---------------------------------------------------------------------
def langevin_width(P: int, budget: dict) -> int:
    """Hidden units N of the Langevin network: ``budget['width']``, or P^2 when it is None
    (the package's Langevin runs, docs/langevin_results.md)."""
    return int(budget["width"]) if budget.get("width") is not None else int(P) ** 2


def langevin_config(task_name: str, task_params: dict, train_fraction: float, seed: int, budget: dict):
    """The :class:`simulations.langevin.LangevinConfig` of one Langevin unit.

    The network of the task (:func:`simulations.models.network_for` of the task's registry
    name, which is also its theory's name) with the theory's parameters
    ``make_params(P, N, sigma_a2, gamma)`` (derived normalisation, the package's defaults),
    one sigma2, ``members`` chains, seed ``seed`` (the split seed: the data term sums over
    ``task.split(train_fraction, seed).train``; the chains' RNG streams are
    ``dynamics_rng(seed, member, 0)``). ``train_fraction`` 1: every pair (the theory's
    posterior).
    """
    from adaptive_kernel.registry import get_theory

    from .langevin import LangevinConfig

    P = int(task_params["P"])
    params = get_theory(task_name).make_params(P=P, N=langevin_width(P, budget), sigma_a2=float(budget["sigma_a2"]),
                                               gamma=float(budget["gamma"]))
    if task_params.get("operation", "add") != params.get("operation", "add"):
        params["operation"] = task_params["operation"]
    return LangevinConfig(task_name, params, [float(budget["sigma2"])], steps=int(budget["steps"]),
                          burn_in=int(budget["burn_in"]), thin=int(budget["thin"]), seeds=int(budget["members"]),
                          seed=int(seed), train_fraction=float(train_fraction))


def _langevin_validate(task_name, task_params, budget):
    """Everything a Langevin unit would refuse, refused before the run: the network exists for
    the task, burn-in < steps, enough recorded samples, sigma2 in the range the theory
    resolves, the operation (ParameterError)."""
    from .models import network_for

    if int(budget["burn_in"]) >= int(budget["steps"]):
        raise ParameterError(f"langevin burn_in must be < steps = {budget['steps']}; got {budget['burn_in']}")
    cfg = langevin_config(task_name, task_params, 0.5, 0, budget)
    network_for(task_name).task_for(cfg.params)


def sample_langevin(cfg) -> dict:
    """Run the ``cfg.seeds`` chains of a one-point :class:`~simulations.langevin.LangevinConfig`
    in this process and summarise them as :func:`simulations.langevin.run_langevin` does
    for one point, without the theory (the atlas's units need none at alpha < 1, and the
    alpha = 1 link takes the theory from the scan).

    The chains are :class:`simulations.langevin.Chain` (the batch of one point, every member
    with its RNG stream ``dynamics_rng(seed, member, 0)``) advanced ``cfg.steps``; the
    summary is :func:`simulations.diagnostics.summarize` of the recorded traces and
    :func:`simulations.diagnostics.sampling_health`, exactly the Langevin result's
    ``scalars`` and ``sampling_ok``; the sample-averaged output's metrics are
    :func:`simulations.models.pair_metrics` of fbar = f_sum / T, as in the network's
    ``theory_point``.

    Returns
    -------
    dict
        ``scalars`` {trace: (mean over members and samples, standard error over members)},
        ``mean_output`` {metric: mean over members} (only with a split), ``traces``
        {name: (members, T)} with ``step`` (T,), ``acceptance`` (members,), ``sampling_ok``,
        ``sampling_reason``; or ``{"diverged": message}`` when a chain diverged.
    """
    from . import diagnostics as D
    from .langevin import Chain
    from .models import network_for, pair_metrics, seed_mean_err
    from .sampler import DivergenceError

    network = network_for(cfg.teacher)
    ch = Chain(cfg, 0, list(range(cfg.seeds))).init()
    try:
        ch.advance(cfg.steps)
    except DivergenceError as exc:
        return {"diverged": str(exc)}
    T = cfg.n_samples
    traces = {k: np.asarray(ch.acc[k]) for k in network.trace_names_for(cfg.train_fraction)}
    summ = D.summarize(traces, cfg.thin)
    acceptance = (ch.sampler.n_accept - ch.accept_at_burn) / (cfg.steps - cfg.burn_in)
    ok, reason = D.sampling_health(acceptance, summ, cfg.integrator, T)
    out = {"scalars": {k: (v["mean"], v["err"]) for k, v in summ.items()}, "mean_output": {},
           "traces": dict(traces, step=cfg.burn_in + cfg.thin * (np.arange(T) + 1)),
           "acceptance": np.asarray(acceptance, float), "sampling_ok": bool(ok), "sampling_reason": reason}
    if cfg.train_fraction < 1.0:
        task = network.task_for(ch.phys)
        split = network.split_for(ch.phys, cfg.seed, cfg.train_fraction)
        fbar = ch.acc["f_sum"] / T
        for name, val in pair_metrics(fbar, task.targets(), task.labels(), split.train, split.test).items():
            out["mean_output"][name] = float(seed_mean_err(val)[0])
    return out


def _sampling_fields(out: dict, run: dict) -> None:
    out["sampling_ok"] = 1.0 if run["sampling_ok"] else 0.0
    out["acceptance"] = float(np.mean(run["acceptance"]))
    if not run["sampling_ok"]:
        out["status"] = "not-equilibrated"
        out["message"] = f"sampler check failed: {run['sampling_reason']}"


def langevin_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    r"""Langevin networks sampled from the posterior on the training pairs of
    ``task.split(train_fraction, seed)`` (:func:`langevin_config`, :func:`sample_langevin`).

    Summary (every number a mean over the ``members`` chains):

    * ``test_accuracy``, ``train_accuracy``, ``test_loss``, ``train_loss``: the posterior
      mean of the per-sample metric, estimated by the mean over the recorded samples (after
      burn-in) of each sample network's metric (what ``phasesim langevin --train-fraction``
      stores as ``test_accuracy`` ...; loss: mean over the pairs of sum_p (f_p - y_p)^2,
      centred targets). This is the accuracy of *a network drawn from the posterior*, the
      analogue of one trained network, and the one alpha_c uses.
    * ``*_mean_output``: the same metrics of each chain's sample-averaged output fbar (the
      posterior-mean predictor).
    * clock: the Langevin step of each recorded sample, burn_in + thin (j + 1); the traces
      are the per-sample accuracies averaged over members; the time to generalise is the
      first recorded step whose test accuracy (member mean) is >= ``threshold``, the time to
      fit the first whose training accuracy is 1 (-1: censored). Samples are recorded after
      burn-in only, so no time is below burn_in + thin.
    * the sampler's check (``sampling_ok``, ``acceptance``): a failed check is status
      ``not-equilibrated`` with the reason as message; such units are kept in the file and
      left out of alpha_c and of the means (:meth:`AtlasResult.usable`).
    * a diverged chain: success False, status ``diverged``, NaN metrics.
    """
    from adaptive_kernel.tasks import get_task

    t0 = time.perf_counter()
    task = get_task(task_name, **task_params)
    split = task.split(train_fraction, seed)
    cfg = langevin_config(task_name, task_params, train_fraction, seed, budget)
    run = sample_langevin(cfg)
    out = {"n_train": split.n_train, "n_test": split.n_test, "split_digest": split_digest(split.train)}
    if "diverged" in run:
        out.update(test_accuracy=math.nan, train_accuracy=math.nan, test_loss=math.nan, train_loss=math.nan,
                   success=False, status="diverged", message=run["diverged"])
        _finish(out, [], [], [], threshold)
    else:
        for name in ("test_accuracy", "train_accuracy", "test_loss", "train_loss"):
            out[name] = float(run["scalars"][name][0])
        for name in ("test_accuracy", "train_accuracy", "test_loss"):
            out[name + "_mean_output"] = run["mean_output"][name]
        out.update(success=True, status="ok",
                   message=f"{cfg.seeds} chains, {cfg.steps} steps ({cfg.burn_in} burn-in, thin {cfg.thin}), "
                           f"N={cfg.params['N']}, sigma2={cfg.sigma2[0]:g}")
        _sampling_fields(out, run)
        tr = run["traces"]
        _finish(out, tr["step"], np.mean(tr["test_accuracy"], axis=0), np.mean(tr["train_accuracy"], axis=0),
                threshold)
    out["seconds"] = time.perf_counter() - t0
    return _canonical(out)


#: quantities of one alpha = 1 theory-link unit: name -> (description, units)
LINK_FIELDS = {
    "sigma2": ("noise sigma2 of the posterior", "1"),
    "N": ("hidden units", "1"),
    "residual": ("network r = <y, y - fbar>/|y|^2 over all pairs, mean over members", "1"),
    "residual_err": ("its standard error (spread over members / sqrt(members))", "1"),
    "residual_theory": ("the theory's r at the same parameters: adaptive_kernel.solver.scan, downward sweep", "1"),
    "difference": ("residual - residual_theory", "1"),
    "theory_phase": ("the theory's phase there (scan)", None),
    "theory_converged": ("the scan point converged", None),
    "sampling_ok": ("the sampler's check passed", None),
    "acceptance": ("MALA acceptance after burn-in, mean over members", "1"),
    "seconds": ("wall time of the unit", "s"),
    "success": ("the chains ran to the end", None),
    "status": ("'ok', 'not-equilibrated' or 'diverged'", None),
    "message": ("what happened, one line", None),
}


def theory_residual(task_name: str, params: dict, sigma2: float) -> tuple:
    """(r, phase name, converged) of the theory at ``sigma2``: the downward sweep of
    :func:`adaptive_kernel.solver.scan` (what ``phasesim scan`` computes and stores) at the
    one point ``sigma2``, with the theory registered under the task's name."""
    from adaptive_kernel.registry import get_theory
    from adaptive_kernel.solver import scan
    from adaptive_kernel.teachers.base import PHASE_NAMES

    sc = scan(get_theory(task_name), dict(params), [float(sigma2)]).scan
    return float(sc["residual"][0]), str(PHASE_NAMES[int(sc["phase"][0])]), bool(sc["converged"][0])


def theory_link_unit(task_name, task_params, seed, budget):
    """The alpha = 1 link: Langevin networks on every pair (the theory's posterior) with the
    method's budget (:func:`sample_langevin`), their residual r (what ``phasesim langevin``
    stores as ``residual``: mean over members and samples of 1 - <f, y>/|y|^2, i.e. the r of
    the sample-averaged output; error: spread over members / sqrt(members)) against
    the theory's r at the same parameters (:func:`theory_residual`)."""
    t0 = time.perf_counter()
    cfg = langevin_config(task_name, task_params, 1.0, seed, budget)
    r_th, phase, conv = theory_residual(task_name, cfg.params, cfg.sigma2[0])
    run = sample_langevin(cfg)
    out = {"sigma2": cfg.sigma2[0], "N": float(cfg.params["N"]), "residual_theory": r_th, "theory_phase": phase,
           "theory_converged": conv}
    if "diverged" in run:
        out.update(residual=math.nan, residual_err=math.nan, sampling_ok=False, acceptance=math.nan, success=False,
                   status="diverged", message=run["diverged"])
    else:
        m, e = run["scalars"]["residual"]
        ok = run["sampling_ok"]
        out.update(residual=float(m), residual_err=float(e), sampling_ok=ok,
                   acceptance=float(np.mean(run["acceptance"])), success=True,
                   status="ok" if ok else "not-equilibrated",
                   message="" if ok else f"sampler check failed: {run['sampling_reason']}")
    out["difference"] = out["residual"] - r_th
    out["seconds"] = time.perf_counter() - t0
    out["theory_converged"] = float(out["theory_converged"])    # 1/0: a checkpoint gives the same back
    out["sampling_ok"] = float(out["sampling_ok"])
    return _canonical(out)


# -- cost and memory models (seconds on one core of the development machine) --------------
def _kernel_cost(P, n, n_total, budget):
    """0.02 s + 3e-7 n^2 + 1e-11 n^3 (measured: P = 61, n = 3349: 3.4 s; n = 1116: 0.44 s)."""
    return 0.02 + 3e-7 * n * n + 1e-11 * n ** 3


def _rfm_cost(scale):
    def cost(P, n, n_total, budget):
        """T c (n^2 + n n_test) (c = 6.6e-8 s quadratic, 1.3e-7 s Gaussian; measured at
        P = 31, 61, alpha = 0.3, 0.6)."""
        return 0.05 + budget["iterations"] * scale * (n * n + n * (n_total - n))
    return cost


def _train_cost(scale):
    def cost(P, n, n_total, budget):
        """steps (2 ms + c n N P) (c = 4e-10 s gd; measured P = 31, 61, alpha = 0.5, N = 256)."""
        return budget["steps"] * (2e-3 + scale * n * budget["width"] * P)
    return cost


def _analytic_cost(P, n, n_total, budget):
    return 0.02 + 2e-9 * n_total * budget["width"] * P


def _kernel_memory(kernel):
    def mem(task, f, budget):
        from .kernel_regime import default_width, estimate_unit_bytes

        return estimate_unit_bytes(task.n_pairs, task.P, f, kernel, default_width(task.P))
    return mem


def _rfm_memory(task, f, budget):
    from .rfm import estimate_memory

    return estimate_memory(task.P, f, task.n_pairs, 1, budget["iterations"])


def _train_memory(optimizer):
    def mem(task, f, budget):
        from .training import TrainConfig, estimate_memory

        # the trainer's estimate at up to 10^5 steps (its log grid is built in full), plus the
        # traces of the logged steps beyond: ~ (steps - 10^5)/log_every x 2 x 8 (10 + P/2 + 24) bytes
        steps = min(int(budget["steps"]), 10 ** 5)
        cfg = TrainConfig(task=task.name, P=task.P, operation=getattr(task, "operation", "add"),
                          widths=[budget["width"]], train_fractions=[min(f, 0.999)], optimizer=optimizer,
                          steps=steps, log_every=budget["log_every"], seeds=1)
        extra = (int(budget["steps"]) - steps) / budget["log_every"] * 16 * (10 + task.P // 2 + 24)
        return estimate_memory(cfg, 1) + int(extra)
    return mem


def _analytic_memory(task, f, budget):
    from .analytic import CHUNK_ROWS

    return 8 * (3 * budget["width"] * 2 * task.P + 3 * min(CHUNK_ROWS, task.n_pairs) * max(budget["width"], task.P))


#: Langevin cost constants (seconds on one core; :func:`_langevin_cost`), fitted to units at
#: P = 11 (6000 steps), 23 and 31 (600 steps, n = alpha P^2 with alpha = 0.5) at N = P^2
LANGEVIN_COST = {"fixed": 1.0, "step": 5e-5, "param_step": 2e-7, "pair_step": 2e-10, "sample": 1e-9}


def _langevin_cost(P, n, n_total, budget):
    """fixed + members (steps (c_s + c_w N P + c_p n N P) + samples c_m P^2 N P): the
    per-parameter work of a MALA step (prior, Fourier decay, noise: 3 P N parameters), the
    potential and its gradient over the n training pairs, and the measurements over all
    P^2 pairs at every recorded sample ((steps - burn_in)/thin of them). Constants
    :data:`LANGEVIN_COST`; measured/model 1.2 (P = 23), 0.9 (P = 31) on a quiet machine."""
    N = langevin_width(P, budget)
    c = LANGEVIN_COST
    samples = (budget["steps"] - budget["burn_in"]) // budget["thin"]
    return c["fixed"] + budget["members"] * (
        budget["steps"] * (c["step"] + c["param_step"] * N * P + c["pair_step"] * n * N * P)
        + samples * c["sample"] * n_total * N * P)


def _langevin_memory(task, f, budget):
    """The network's own estimate (:meth:`simulations.models.ModAddNetwork.estimate_bytes`)
    of a batch of ``members`` chains at fraction f."""
    from .models import network_for

    net = network_for(task.name)
    phys = {"P": task.P, "N": langevin_width(task.P, budget), "sigma_a2": budget["sigma_a2"],
            "gamma": budget["gamma"], "sigma2": budget["sigma2"]}
    samples = max(1, (budget["steps"] - budget["burn_in"]) // budget["thin"])
    return int(net.estimate_bytes(phys, budget["members"], "float64", 1, samples, 4, train_fraction=min(f, 0.999))[0])


_LANGEVIN_BUDGET = {
    "steps": Budget(6000, Constraint("int", low=2, high=10 ** 8), "Langevin (MALA) steps per chain"),
    "burn_in": Budget(3000, Constraint("int", low=0, high=10 ** 8),
                      "steps before the first recorded sample (step size adapted during them); < steps"),
    "thin": Budget(10, Constraint("int", low=1, high=10 ** 6), "steps between recorded samples (the clock's "
                                                                "resolution)"),
    "members": Budget(2, Constraint("int", low=1, high=1000), "independent chains on the same split"),
    "width": Budget(None, Constraint("int", low=1, high=10 ** 6), "hidden units N (default P^2)"),
    "sigma2": Budget(0.1, Constraint("real", low=0.0, low_open=True), "noise sigma2 (the posterior's temperature "
                                                                       "of the data term)"),
    "sigma_a2": Budget(0.01, Constraint("real", low=0.0, low_open=True), "read-out prior variance sigma_a2"),
    "gamma": Budget(1.0, Constraint("real", low=0.0), "sextic Fourier weight decay gamma"),
}


_RIDGE = Budget(0.0, Constraint("real", low=0.0), "ridge relative to the mean diagonal of the kernel (0: ridgeless)")
_ITER = Budget(20, Constraint("int", low=1, high=10_000), "RFM iterations T (clock: AGOP updates)")
_WIDTH = Budget(256, Constraint("int", low=1, high=100_000), "hidden units N (the trainer's default 256)")
_LOG = Budget(50, Constraint("int", low=1), "steps between logged measurements (the clock's resolution; "
                                           "plus ~20 log-spaced steps per decade)")


def _steps(default):
    return Budget(default, Constraint("int", low=1, high=10 ** 8), "training steps (the trainer's default 4000)")


#: name -> :class:`Method` (registry order is the order of tables and figures)
METHODS = {
    "kernel-nngp": Method("kernel-nngp", kernel_nngp_unit, "none (closed form)", "kernel",
                          "ridgeless regression with the student's NNGP", {"ridge": _RIDGE},
                          _kernel_cost, _kernel_memory("nngp")),
    "kernel-ntk": Method("kernel-ntk", kernel_ntk_unit, "none (closed form)", "kernel",
                         "ridgeless regression with the expected NTK (mean-field)", {"ridge": _RIDGE},
                         _kernel_cost, _kernel_memory("ntk")),
    "rfm-quadratic": Method("rfm-quadratic", rfm_quadratic_unit, "AGOP iterations", "rfm",
                            "recursive feature machine, quadratic kernel",
                            {"iterations": _ITER, "ridge": _RIDGE}, _rfm_cost(6.6e-8), _rfm_memory),
    "rfm-gaussian": Method("rfm-gaussian", rfm_gaussian_unit, "AGOP iterations", "rfm",
                           "recursive feature machine, Gaussian kernel (L = 2.5)",
                           {"iterations": _ITER, "ridge": _RIDGE}, _rfm_cost(1.3e-7), _rfm_memory),
    "gd": Method("gd", gd_unit, "steps", "train", "full-batch gradient descent, mean-field, MSE (trainer defaults)",
                 {"steps": _steps(4000), "width": _WIDTH, "log_every": _LOG}, _train_cost(4e-10),
                 _train_memory("gd")),
    "adamw": Method("adamw", adamw_unit, "steps", "train", "AdamW, weight decay 0.1, mean-field, MSE "
                    "(trainer defaults)", {"steps": _steps(4000), "width": _WIDTH, "log_every": _LOG},
                    _train_cost(6e-10), _train_memory("adamw")),
    "analytic": Method("analytic", analytic_unit, "none (constructed)", "analytic",
                       "Gromov's analytic Fourier network (eq. 6), no training: the reference line",
                       {"width": _WIDTH}, _analytic_cost, _analytic_memory),
    "langevin": Method("langevin", langevin_unit, "Langevin steps", "langevin",
                       "Langevin (MALA) networks sampled from the posterior on the training pairs",
                       _LANGEVIN_BUDGET, _langevin_cost, _langevin_memory, default=False,
                       validate=_langevin_validate),
}


def method_names(default_only: bool = False) -> list:
    """The methods, registry order (``default_only``: those of the default set,
    :attr:`Method.default`)."""
    return [m for m, meth in METHODS.items() if meth.default or not default_only]


def default_method_names() -> list:
    """The default method set (every method but the Langevin networks, whose cost grows as
    P^5 at the default width N = P^2)."""
    return method_names(default_only=True)


# ---------------------------------------------------------------------------------------
# alpha_c and kappa
# ---------------------------------------------------------------------------------------
def generalises(test_accuracy, threshold: float = THRESHOLD, quorum: float = QUORUM) -> bool:
    """Whether at least ``quorum`` of the seeds reach ``threshold`` (NaN: not reached)."""
    a = np.asarray(test_accuracy, float).reshape(-1)
    if a.size == 0:
        return False
    return bool(np.count_nonzero(a >= threshold) >= quorum * a.size)


@dataclass(frozen=True)
class Bracket:
    """The bracket of alpha_c of one (method, P) (see the module docstring)."""

    lo: float
    hi: float
    status: str

    @property
    def estimate(self) -> float:
        if self.status == "bracketed":
            return 0.5 * (self.lo + self.hi)
        if self.status == "below-grid":
            return self.hi
        return math.nan


def bracket_alpha_c(fractions, success) -> Bracket:
    """Bracket alpha_c from the fractions evaluated and whether each generalises.

    Parameters
    ----------
    fractions : sequence of float
        Distinct fractions (any order).
    success : sequence of bool
        :func:`generalises` at each.

    Returns
    -------
    Bracket
        alpha_hi = the smallest fraction from which on every larger one generalises,
        alpha_lo = the fraction just below it (0 if none): ``bracketed`` / ``below-grid``;
        ``not-reached`` with alpha_lo = the largest fraction and alpha_hi NaN when the
        largest fraction does not generalise.
    """
    f = np.asarray(fractions, float)
    s = np.asarray(success, bool)
    if f.size == 0 or f.shape != s.shape:
        raise ParameterError("bracket_alpha_c needs one success flag per fraction (at least one)")
    order = np.argsort(f)
    f, s = f[order], s[order]
    if not s[-1]:
        return Bracket(float(f[-1]), math.nan, "not-reached")
    j = f.size - 1
    while j > 0 and s[j - 1]:
        j -= 1
    if j == 0:
        return Bracket(0.0, float(f[0]), "below-grid")
    return Bracket(float(f[j - 1]), float(f[j]), "bracketed")


def bisection_midpoint(lo: float, hi: float, n_total: int):
    """The next fraction to evaluate inside (lo, hi): the midpoint rounded to the lattice of
    training-set sizes, n_mid/n_total with n_mid = round((lo + hi) n_total / 2); None when
    no training-set size lies strictly between those of lo and hi (nothing left to refine)."""
    from adaptive_kernel.tasks.base import split_size

    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return None
    n_lo = split_size(n_total, lo) if lo > 0 else 0
    n_hi = split_size(n_total, hi)
    if n_hi - n_lo < 2:
        return None
    n_mid = int(math.floor(0.5 * (lo + hi) * n_total + 0.5))
    n_mid = min(max(n_mid, n_lo + 1), n_hi - 1)
    return n_mid / n_total


@dataclass(frozen=True)
class PowerLawFit:
    """alpha_c ~ exp(log_amplitude) P^(-kappa) (:func:`fit_power_law`)."""

    kappa: float
    kappa_err: float
    log_amplitude: float
    log_amplitude_err: float
    chi2: float
    n_points: int
    status: str


def fit_power_law(P, log_alpha, sigma_log) -> PowerLawFit:
    r"""Weighted least-squares fit of log alpha_c = log A - kappa log P.

    Parameters
    ----------
    P : sequence of float
    log_alpha : sequence of float
        log alpha_c per P.
    sigma_log : sequence of float
        Its standard error (> 0).

    Returns
    -------
    PowerLawFit
        With X = [1, -log P] and W = diag(sigma^-2): (log A, kappa) = (X^T W X)^{-1} X^T W y,
        covariance (X^T W X)^{-1}, chi^2 = sum ((y - X beta)/sigma)^2. Fewer than two
        distinct P: NaN and a status saying so.
    """
    P = np.asarray(P, float)
    y = np.asarray(log_alpha, float)
    s = np.asarray(sigma_log, float)
    ok = np.isfinite(P) & np.isfinite(y) & np.isfinite(s) & (s > 0) & (P > 0)
    P, y, s = P[ok], y[ok], s[ok]
    if np.unique(P).size < 2:
        return PowerLawFit(math.nan, math.nan, math.nan, math.nan, math.nan, int(P.size),
                           f"needs alpha_c bracketed at two or more P (have {P.size})")
    X = np.column_stack([np.ones_like(P), -np.log(P)])
    w = 1.0 / s ** 2
    A = X.T @ (w[:, None] * X)
    cov = np.linalg.inv(A)
    beta = cov @ (X.T @ (w * y))
    chi2 = float(np.sum(w * (y - X @ beta) ** 2))
    return PowerLawFit(float(beta[1]), float(math.sqrt(cov[1, 1])), float(beta[0]), float(math.sqrt(cov[0, 0])),
                       chi2, int(P.size), "ok")


def fit_kappa(P, lo, hi) -> PowerLawFit:
    """:func:`fit_power_law` on brackets: y = (log lo + log hi)/2, sigma = (log hi - log lo)/sqrt(12);
    brackets with lo <= 0 or hi not finite are left out."""
    P, lo, hi = (np.asarray(a, float) for a in (P, lo, hi))
    ok = (lo > 0) & np.isfinite(hi) & (hi > lo)
    with np.errstate(all="ignore"):
        y = 0.5 * (np.log(lo) + np.log(hi))
        s = (np.log(hi) - np.log(lo)) / math.sqrt(12.0)
    return fit_power_law(P[ok], y[ok], s[ok])


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
@dataclass
class AtlasConfig:
    """Everything that defines an atlas run (validated on construction).

    Attributes
    ----------
    task : str
        Registry name of a task of token pairs (default: the first such).
    operation : str
    P : list of int
    fractions : list of float
        The grid, each in (0, 1) (the test set must not be empty).
    seeds : list of int
        Split seeds (distinct, >= 0).
    methods : list of str
        Keys of :data:`METHODS`.
    budgets : dict
        ``{method: {option: value}}``; missing options take the method's defaults.
    threshold : float
        Test accuracy of "generalised" (0.9).
    quorum : float
        Fraction of seeds that must generalise (0.5).
    refine : int
        Bisection rounds (0: none).
    theory_link : bool or None
        Run the alpha = 1 link of the Langevin method (:func:`theory_link_unit`, one unit per
        (P, seed)). None (default): exactly when ``langevin`` is among the methods.
    """

    task: str = ""
    operation: str = "add"
    P: list = field(default_factory=lambda: [31, 61])
    fractions: list = field(default_factory=lambda: list(np.linspace(0.1, 0.9, 9)))
    seeds: list = field(default_factory=lambda: [0, 1])
    methods: list = field(default_factory=default_method_names)
    budgets: dict = field(default_factory=dict)
    threshold: float = THRESHOLD
    quorum: float = QUORUM
    refine: int = 0
    theory_link: bool | None = None

    def __post_init__(self):
        from adaptive_kernel.tasks import get_task

        if not self.task:
            self.task = pair_task_names()[0]
        if self.task not in pair_task_names():
            raise ParameterError(f"task must be one of {', '.join(pair_task_names())}; got {self.task!r}")
        self.P = [Constraint("int", low=2).check("P", p) for p in np.atleast_1d(self.P).tolist()]
        if not self.P or len(set(self.P)) != len(self.P):
            raise ParameterError(f"P must be one or more distinct integers; got {self.P}")
        for p in self.P:
            get_task(self.task, P=p, operation=self.operation)
        fr = [float(f) for f in np.atleast_1d(self.fractions)]
        for f in fr:
            if not (math.isfinite(f) and 0.0 < f < 1.0):
                raise ParameterError(f"train-fraction must lie in (0, 1) (the test set must not be empty); got {f!r}")
        if not fr or len(set(fr)) != len(fr):
            raise ParameterError(f"train-fraction must be one or more distinct values; got {fr}")
        self.fractions = sorted(fr)
        self.seeds = [Constraint("int", low=0).check("seed", s) for s in np.atleast_1d(self.seeds).tolist()]
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ParameterError(f"seeds must be one or more distinct integers >= 0; got {self.seeds}")
        if isinstance(self.methods, str):
            self.methods = [m.strip() for m in self.methods.split(",") if m.strip()]
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ParameterError(f"methods must be distinct names among {', '.join(METHODS)}; got "
                                 f"{','.join(map(str, self.methods)) or 'none'}")
        self.methods = [m for m in METHODS if m in self.methods]
        unknown = sorted(set(self.budgets) - set(METHODS))
        if unknown:
            raise ParameterError(f"budgets given for unknown method(s) {', '.join(unknown)}")
        self.budgets = {m: METHODS[m].check_budget(self.budgets.get(m, {})) for m in self.methods}
        self.threshold = Constraint("real", low=0.0, low_open=True, high=1.0).check("threshold", self.threshold)
        self.quorum = Constraint("real", low=0.0, low_open=True, high=1.0).check("quorum", self.quorum)
        self.refine = Constraint("int", low=0, high=MAX_REFINE).check("refine", self.refine)
        if self.theory_link is None:
            self.theory_link = LINK_METHOD in self.methods
        self.theory_link = bool(self.theory_link)
        if self.theory_link and LINK_METHOD not in self.methods:
            raise ParameterError(f"theory-link needs the {LINK_METHOD} method among --methods; got "
                                 f"{','.join(self.methods)}")
        for m in self.methods:
            if METHODS[m].validate is not None:
                for p in self.P:
                    METHODS[m].validate(self.task, self.task_params(p), self.budgets[m])

    def task_params(self, P: int) -> dict:
        return {"P": int(P), "operation": self.operation}

    def task_obj(self, P: int):
        from adaptive_kernel.tasks import get_task

        return get_task(self.task, **self.task_params(P))

    def unit_meta(self) -> dict:
        """What every unit's result depends on besides (method, P, alpha, seed): compared on
        ``--resume``."""
        return json.loads(json.dumps({"task": self.task, "operation": self.operation, "threshold": self.threshold,
                                      "budgets": self.budgets}))

    def to_meta(self) -> dict:
        d = self.unit_meta()
        d.update(P=list(self.P), fractions=list(self.fractions), seeds=list(self.seeds), methods=list(self.methods),
                 quorum=self.quorum, refine=self.refine, theory_link=self.theory_link)
        return json.loads(json.dumps(d))


def pair_task_names() -> list:
    """Registry names of the tasks whose data are pairs of tokens (the atlas's tasks)."""
    from adaptive_kernel.tasks import TASKS

    return [n for n, cls in TASKS.items() if all(hasattr(cls, a) for a in ("pairs", "labels", "split"))]


#: the method whose alpha = 1 end is linked to the theory (:func:`theory_link_unit`)
LINK_METHOD = "langevin"


def link_key(P: int, seed: int) -> tuple:
    """The runner key of one alpha = 1 theory-link unit."""
    return ("theory-link", LINK_METHOD, "P", int(P), "seed", int(seed))


def unit_key(method: str, P: int, alpha: float, seed: int) -> tuple:
    """The runner key of one unit (alpha as its shortest exact decimal text, ``%.17g``)."""
    return ("method", method, "P", int(P), "alpha", f"{float(alpha):.17g}", "seed", int(seed))


def estimate_seconds(config: AtlasConfig) -> dict:
    """Rough single-core seconds of the grid's units (bisection rounds not counted), per
    method, from each method's cost model."""
    from adaptive_kernel.tasks.base import split_size

    out = {}
    for m in config.methods:
        meth, b = METHODS[m], config.budgets[m]
        tot = 0.0
        for P in config.P:
            n_total = config.task_obj(P).n_pairs
            for f in config.fractions:
                tot += meth.cost(P, split_size(n_total, f), n_total, b) * len(config.seeds)
            if m == LINK_METHOD and config.theory_link:
                tot += meth.cost(P, n_total, n_total, b) * len(config.seeds)
        out[m] = tot
    return out


def estimate_unit_memory(config: AtlasConfig) -> tuple:
    """(bytes, method, P) of the largest unit."""
    worst = (0, config.methods[0], config.P[0])
    for m in config.methods:
        for P in config.P:
            task = config.task_obj(P)
            b = max(METHODS[m].memory(task, f, config.budgets[m]) for f in (config.fractions[0], config.fractions[-1]))
            if b > worst[0]:
                worst = (int(b), m, P)
    return worst


#: the budget option that sets each method's cost (flag, budget key); None: only the grid
_COST_OPTION = {"gd": ("--gd-steps", "steps"), "adamw": ("--adamw-steps", "steps"),
                "rfm-quadratic": ("--rfm-iterations", "iterations"),
                "rfm-gaussian": ("--rfm-iterations", "iterations"), "analytic": ("--analytic-width", "width"),
                "langevin": ("--langevin-steps", "steps")}


def check_resources(config: AtlasConfig, workers: int = 1, available: int | None = None,
                    max_seconds: float = MAX_RUN_SECONDS) -> dict:
    """Refuse a run too large for memory or absurdly long, before it starts.

    Memory: the largest unit times the workers (:func:`adaptive_kernel.limits.require_memory`,
    naming ``--P``). Time: the estimated wall time (single-core seconds of
    :func:`estimate_seconds` over ``workers``) above ``max_seconds`` is a ParameterError
    naming the budget option (or ``--P`` / ``--train-fraction`` / ``--seeds``) of the
    costliest method. Returns the per-method estimate (seconds on one core).
    """
    from adaptive_kernel.limits import format_seconds, require_memory

    est = estimate_seconds(config)
    wall = sum(est.values()) / max(1, int(workers))
    if wall > max_seconds:
        worst = max(est, key=est.get)
        flag, key = _COST_OPTION.get(worst, ("--P", None))
        flag = f"{flag} {config.budgets[worst][key]}" if key else f"--P {max(config.P)}"
        raise ParameterError(f"{flag}: the run would take about {format_seconds(wall)} with {workers} worker(s) "
                             f"(method {worst}: {format_seconds(est[worst])} of one core; limit "
                             f"{format_seconds(max_seconds)}); reduce {flag.split()[0]}, --P, --train-fraction "
                             f"or --seeds, or drop the method with --methods")
    nbytes, m, P = estimate_unit_memory(config)
    require_memory(nbytes * max(1, int(workers)), f"--P {P}",
                   f"the largest unit ({m}) x {max(1, int(workers))} worker(s)", available)
    return est


# ---------------------------------------------------------------------------------------
# checkpoint of finished units
# ---------------------------------------------------------------------------------------
def _meta_get(meta: dict, k: str):
    return meta.get("budgets", {}).get(k[len("budgets of "):]) if k.startswith("budgets of ") else meta.get(k)


class UnitCheckpoint:
    """Finished units by key, kept in memory and written to an HDF5 checkpoint
    (:class:`simulations.backends.HDFBackend`, atomic) at most every ``flush_seconds`` and
    by :meth:`flush`; a mapping for :func:`adaptive_kernel.runner.run_units`.

    Parameters
    ----------
    backend : MemoryBackend or HDFBackend
    meta : dict
        :meth:`AtlasConfig.unit_meta` of the run.
    resume : bool
        Load the backend's units (refused, ParameterError, if the task, operation, threshold
        or the budget of a method present in both differs; the grid, seeds and methods may
        differ: a run can be extended or a method dropped).
    flush_seconds : float
        0: write after every unit.
    """

    def __init__(self, backend, meta: dict, resume: bool = False, flush_seconds: float = 30.0):
        from adaptive_kernel.errors import PhasesimError
        from adaptive_kernel.runner import key_text  # noqa: F401

        self.backend = backend
        self.meta = json.loads(json.dumps(meta))
        self.flush_seconds = float(flush_seconds)
        self.units = {}
        self.n_loaded = 0
        if resume:
            loaded = backend.load()
            if loaded is None:
                raise PhasesimError("nothing to resume: no checkpoint found")
            old, _, units = loaded
            diff = sorted(k for k in set(old) | set(self.meta) if k != "budgets" and old.get(k) != self.meta.get(k))
            ob, nb = old.get("budgets", {}), self.meta.get("budgets", {})
            diff += [f"budgets of {m}" for m in sorted(set(ob) & set(nb)) if ob[m] != nb[m]]
            if diff:
                raise ParameterError("the checkpoint was written with different settings ("
                                     + "; ".join(f"{k}: {_meta_get(old, k)!r} vs {_meta_get(self.meta, k)!r}"
                                                 for k in diff)
                                     + "); rerun with the same options or start over with --overwrite")
            self.units = {uid: _canonical(u) for uid, u in units.items()}
            self.n_loaded = len(self.units)
        else:
            backend.reset(self.meta)
        self._dirty = False
        self._last = time.monotonic()

    @staticmethod
    def uid(key) -> str:
        from adaptive_kernel.runner import key_text

        return key_text(key)

    def __contains__(self, key):
        return self.uid(key) in self.units

    def __getitem__(self, key):
        return self.units[self.uid(key)]

    def __setitem__(self, key, value):
        self.units[self.uid(key)] = value
        self._dirty = True
        if time.monotonic() - self._last >= self.flush_seconds:
            self.flush()

    def __len__(self):
        return len(self.units)

    def flush(self):
        """Write the checkpoint now if a unit finished since the last write."""
        if self._dirty:
            self.backend.save(len(self.units), self.units)
            self._dirty = False
        self._last = time.monotonic()


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
def atlas_unit(method: str, task_name: str, task_params: dict, train_fraction: float, seed: int, budget: dict,
               threshold: float) -> dict:
    """One unit of the atlas: ``METHODS[method].unit(...)`` (module level, picklable)."""
    return METHODS[method].unit(task_name, task_params, train_fraction, seed, budget, threshold)


def run_atlas(config: AtlasConfig, runner=None, store=None, progress=None) -> "AtlasResult":
    """Run every (method, P, fraction, seed) of ``config`` and its bisection rounds.

    Parameters
    ----------
    config : AtlasConfig
    runner : adaptive_kernel.runner.Runner, optional
        Serial by default; every runner gives the same bits (``seconds`` aside).
    store : mapping-like, optional
        Finished units (e.g. a :class:`UnitCheckpoint`); units it holds are not rerun. A
        store with ``flush()`` is flushed when the run ends or stops (Ctrl-C, a failing
        unit).
    progress : callable, optional
        ``progress(n_done, n_total, stage)`` with stage ``"grid"`` or ``"bisection k"``.

    Returns
    -------
    AtlasResult
    """
    from adaptive_kernel.runner import Unit, run_units

    store = {} if store is None else store
    t0 = time.perf_counter()

    def run(points, stage):
        units = [Unit(unit_key(m, P, f, s), atlas_unit,
                      (m, config.task, config.task_params(P), float(f), int(s), config.budgets[m], config.threshold))
                 for m, P, f in points for s in config.seeds]
        cb = None if progress is None else (lambda d, t: progress(d, t, stage))
        return run_units(units, runner, store=store, progress=cb)

    rows = {}   # (method, P, fraction) -> list of unit results over seeds
    refined = set()
    link = {}   # (P, seed) -> theory-link unit result
    try:
        grid = [(m, P, f) for m in config.methods for P in config.P for f in config.fractions]
        outs = run(grid, "grid")
        S = len(config.seeds)
        for i, pt in enumerate(grid):
            rows[pt] = outs[i * S:(i + 1) * S]
        if config.theory_link:
            b = config.budgets[LINK_METHOD]
            pts = [(P, s) for P in config.P for s in config.seeds]
            units = [Unit(link_key(P, s), theory_link_unit, (config.task, config.task_params(P), int(s), b))
                     for P, s in pts]
            cb = None if progress is None else (lambda d, t: progress(d, t, "theory link"))
            for pt, out in zip(pts, run_units(units, runner, store=store, progress=cb)):
                link[pt] = out
        for k in range(config.refine):
            mids = []
            for m in config.methods:
                for P in config.P:
                    br = _bracket_of(rows, m, P, config)
                    mid = bisection_midpoint(br.lo, br.hi, config.task_obj(P).n_pairs) \
                        if br.status == "bracketed" else None
                    if mid is not None and (m, P, mid) not in rows:
                        mids.append((m, P, mid))
            if not mids:
                break
            outs = run(mids, f"bisection {k + 1}")
            for i, pt in enumerate(mids):
                rows[pt] = outs[i * S:(i + 1) * S]
                refined.add(pt)
    finally:
        if hasattr(store, "flush"):
            store.flush()
    return AtlasResult.from_rows(config, rows, refined, wall_time=time.perf_counter() - t0, link=link)


def usable_accuracy(unit: dict) -> float:
    """The unit's test accuracy as alpha_c and the means see it: NaN (not generalising, not
    averaged) when the sampler's check failed (``sampling_ok`` 0)."""
    return math.nan if unit.get("sampling_ok", math.nan) == 0.0 else float(unit["test_accuracy"])


def _bracket_of(rows, m, P, config) -> Bracket:
    pts = sorted(f for (mm, PP, f) in rows if mm == m and PP == P)
    ok = [generalises([usable_accuracy(u) for u in rows[(m, P, f)]], config.threshold, config.quorum) for f in pts]
    return bracket_alpha_c(pts, ok)


# ---------------------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------------------
@dataclass
class AtlasResult:
    """What ``phasesim atlas`` produced (also read back from a file, :meth:`from_hdf5`).

    Attributes
    ----------
    params : dict
        ``task``, ``operation``, ``P``, ``fractions`` (the grid), ``seeds``, ``methods``,
        ``threshold``, ``quorum``, ``refine``, ``budgets`` ({method: {option: value}}).
    units : dict
        One row per unit: ``method`` (str), ``P``, ``train_fraction``, ``seed``, ``refined``
        (a bisection point) and :data:`UNIT_FIELDS`; ``trace_clock``,
        ``trace_test_accuracy``, ``trace_train_accuracy`` (units x T, NaN padded).
    alpha_c : dict
        One row per (method, P): ``method``, ``P`` and :data:`ALPHA_C_FIELDS`.
    kappa : dict
        One row per method: ``method`` and :data:`KAPPA_FIELDS`.
    wall_time : float
    attrs : dict
        Root attributes once written or read (provenance).
    clocks : dict
        {method: what its times count} (:attr:`Method.clock`).
    link : dict
        The alpha = 1 theory link, one row per (P, seed): ``P``, ``seed`` and
        :data:`LINK_FIELDS` (empty when the run had none).
    """

    params: dict
    units: dict
    alpha_c: dict
    kappa: dict
    wall_time: float = 0.0
    attrs: dict = field(default_factory=dict)
    clocks: dict = field(default_factory=dict)
    link: dict = field(default_factory=dict)

    kind = KIND

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_rows(cls, config: AtlasConfig, rows: dict, refined=(), wall_time: float = 0.0,
                  link: dict | None = None) -> "AtlasResult":
        """Assemble from ``{(method, P, fraction): [unit result per seed]}`` and the theory
        link ``{(P, seed): theory_link_unit result}``."""
        order = sorted(rows, key=lambda k: (config.methods.index(k[0]), config.P.index(k[1]), k[2]))
        recs = []
        for m, P, f in order:
            for s, u in zip(config.seeds, rows[(m, P, f)]):
                recs.append((m, P, f, s, (m, P, f) in refined, u))
        T = max([len(u["trace_clock"]) for *_, u in recs] + [1])
        units = {"method": np.array([r[0] for r in recs], dtype=object),
                 "P": np.array([r[1] for r in recs], np.int64),
                 "train_fraction": np.array([r[2] for r in recs], float),
                 "seed": np.array([r[3] for r in recs], np.int64),
                 "refined": np.array([r[4] for r in recs], bool)}
        for name in UNIT_FIELDS:
            vals = [r[5][name] for r in recs]
            if name in _STR_FIELDS:
                units[name] = np.array(vals, dtype=object)
            elif name in _BOOL_FIELDS:
                units[name] = np.array(vals, bool)
            elif name in _INT_FIELDS:
                units[name] = np.array(vals, np.int64)
            else:
                units[name] = np.array(vals, float)
        for name in OPTIONAL_FIELDS:
            units[name] = np.array([r[5].get(name, math.nan) for r in recs], float)
        for name in ("trace_clock", "trace_test_accuracy", "trace_train_accuracy"):
            a = np.full((len(recs), T), np.nan)
            for i, r in enumerate(recs):
                v = np.asarray(r[5][name], float)
                a[i, :v.size] = v
            units[name] = a
        params = config.to_meta()
        lk = sorted((link or {}).items(), key=lambda kv: (config.P.index(kv[0][0]), kv[0][1]))
        link_rows = {"P": np.array([k[0] for k, _ in lk], np.int64), "seed": np.array([k[1] for k, _ in lk], np.int64)}
        for name in LINK_FIELDS:
            vals = [v[name] for _, v in lk]
            link_rows[name] = (np.array(vals, dtype=object) if name in ("theory_phase", "status", "message")
                               else np.array(vals, bool) if name in ("theory_converged", "sampling_ok", "success")
                               else np.array(vals, float))
        res = cls(params, units, {}, {}, wall_time, clocks={m: METHODS[m].clock for m in config.methods},
                  link=link_rows)
        res.derive()
        return res

    def derive(self):
        """(Re)compute :attr:`alpha_c` and :attr:`kappa` from the units."""
        p = self.params
        ac = {k: [] for k in ("method", "P", *ALPHA_C_FIELDS)}
        for m in p["methods"]:
            for P in p["P"]:
                fr, acc = self.accuracy_by_fraction(m, P)
                if not fr.size:
                    continue
                ok = [generalises(a, p["threshold"], p["quorum"]) for a in acc]
                br = bracket_alpha_c(fr, ok)
                sel = self._select(m, P)
                ac["method"].append(m)
                ac["P"].append(int(P))
                ac["alpha_lo"].append(br.lo)
                ac["alpha_hi"].append(br.hi)
                ac["alpha_c"].append(br.estimate)
                ac["status"].append(br.status)
                ac["n_fractions"].append(int(fr.size))
                ac["n_refined"].append(int(np.unique(self.units["train_fraction"][sel & self.units["refined"]]).size))
        self.alpha_c = {"method": np.array(ac["method"], dtype=object), "P": np.array(ac["P"], np.int64),
                        "alpha_lo": np.array(ac["alpha_lo"], float), "alpha_hi": np.array(ac["alpha_hi"], float),
                        "alpha_c": np.array(ac["alpha_c"], float), "status": np.array(ac["status"], dtype=object),
                        "n_fractions": np.array(ac["n_fractions"], np.int64),
                        "n_refined": np.array(ac["n_refined"], np.int64)}
        kp = {k: [] for k in ("method", *KAPPA_FIELDS)}
        for m in p["methods"]:
            rows = self.alpha_c["method"] == m
            fit = fit_kappa(self.alpha_c["P"][rows], self.alpha_c["alpha_lo"][rows], self.alpha_c["alpha_hi"][rows])
            kp["method"].append(m)
            for k in KAPPA_FIELDS:
                kp[k].append(getattr(fit, k))
        self.kappa = {"method": np.array(kp["method"], dtype=object), "status": np.array(kp["status"], dtype=object),
                      "n_points": np.array(kp["n_points"], np.int64),
                      **{k: np.array(kp[k], float) for k in KAPPA_FIELDS if k not in ("status", "n_points")}}
        return self

    # -- queries ---------------------------------------------------------------------------
    def _select(self, method: str, P: int) -> np.ndarray:
        return (self.units["method"] == method) & (self.units["P"] == int(P))

    def usable(self) -> np.ndarray:
        """Per unit: False where the sampler's check failed (``sampling_ok`` 0). Those units
        stay in the file and the tables but their metrics are NaN to alpha_c (not
        generalising) and to the means over seeds."""
        ok = self.units.get("sampling_ok")
        return np.ones(self.units["method"].size, bool) if ok is None else ~(np.asarray(ok, float) == 0.0)

    def accuracy_by_fraction(self, method: str, P: int, name: str = "test_accuracy") -> tuple:
        """(fractions (k,), values (k, seeds)) of one (method, P), fractions sorted; NaN for
        the units that are not :meth:`usable`."""
        sel = self._select(method, P)
        fr = self.units["train_fraction"][sel]
        vals = np.asarray(self.units[name][sel], float).copy()
        vals[~self.usable()[sel]] = np.nan     # a failed sampler check: left out (counts as not generalising)
        ufr = np.unique(fr)
        return ufr, [vals[fr == f] for f in ufr]

    def mean_by_fraction(self, method: str, P: int, name: str = "test_accuracy") -> tuple:
        """(fractions, mean over seeds, standard deviation over seeds) of one (method, P)."""
        fr, vals = self.accuracy_by_fraction(method, P, name)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.array([np.nanmean(v) if v.size else np.nan for v in vals])
            sd = np.array([np.nanstd(v, ddof=1) if v.size > 1 else 0.0 for v in vals])
        return fr, mean, np.nan_to_num(sd)

    def alpha_c_of(self, method: str, P: int) -> Bracket:
        i = np.flatnonzero((self.alpha_c["method"] == method) & (self.alpha_c["P"] == int(P)))
        if not i.size:
            raise KeyError((method, P))
        i = int(i[0])
        return Bracket(float(self.alpha_c["alpha_lo"][i]), float(self.alpha_c["alpha_hi"][i]),
                       str(self.alpha_c["status"][i]))

    @property
    def success(self) -> bool:
        """Whether every unit ran to the end (censored units are not failures)."""
        return bool(np.all(self.units["success"]))

    @property
    def status(self) -> str:
        return "ok" if self.success else "failed units"

    @property
    def message(self) -> str:
        bad = np.flatnonzero(~self.units["success"])
        if not bad.size:
            return "every unit ran to the end"
        i = int(bad[0])
        return (f"{bad.size} unit(s) failed, first: {self.units['method'][i]} P={self.units['P'][i]} "
                f"alpha={self.units['train_fraction'][i]:.4g} seed={self.units['seed'][i]}: "
                f"{self.units['message'][i]}")

    def cost_by_method(self) -> dict:
        """{method: (units, mean seconds per unit, total seconds)} of this run's units."""
        out = {}
        for m in self.params["methods"]:
            sec = self.units["seconds"][self.units["method"] == m]
            out[m] = (int(sec.size), float(np.mean(sec)) if sec.size else math.nan, float(np.sum(sec)))
        return out

    # -- text ------------------------------------------------------------------------------
    def table(self) -> str:
        """alpha_c per method and P, kappa per method, and the cost per method."""
        p = self.params
        lines = [f"atlas: {p['task']} ({p['operation']}), P = {', '.join(map(str, p['P']))}, "
                 f"{len(p['fractions'])} fraction(s) {min(p['fractions']):.3g}..{max(p['fractions']):.3g}, "
                 f"{len(p['seeds'])} seed(s); generalised: test accuracy >= {p['threshold']:g} in >= "
                 f"{p['quorum']:.0%} of seeds",
                 f"{'method':<14} {'P':>4} {'alpha_c':>8} {'bracket':>17} {'status':<12} "
                 f"{'max test acc':>12} {'median t_gen':>12} {'left out':>8}"]
        for i in range(len(self.alpha_c["method"])):
            m, P = self.alpha_c["method"][i], int(self.alpha_c["P"][i])
            lo, hi, est = (self.alpha_c[k][i] for k in ("alpha_lo", "alpha_hi", "alpha_c"))
            sel = self._select(m, P)
            fr, mean, _ = self.mean_by_fraction(m, P)
            g = self.units["grok_time"][sel]
            med = f"{int(np.median(g[g >= 0]))}" if np.any(g >= 0) else "-"
            br = (f"({lo:.3f}, {hi:.3f}]" if np.isfinite(hi) else f"> {lo:.3f}")
            out_n = int(np.count_nonzero(~self.usable()[sel]))
            lines.append(f"{m:<14} {P:>4} {est:>8.3f} {br:>17} {self.alpha_c['status'][i]:<12} "
                         f"{np.nanmax(mean) if np.any(np.isfinite(mean)) else math.nan:>12.3f} {med:>12} "
                         f"{out_n if out_n else '':>8}")
        if np.any(~self.usable()):
            lines.append("left out: units whose sampler check failed (status not-equilibrated): kept in the file, "
                         "not generalising for alpha_c, not in the means")
        lines.extend(self.sampler_lines())
        lines.extend(self.link_lines())
        lines.append(f"{'method':<14} {'kappa':>8} {'+-':>7} {'points':>6}  fit of alpha_c ~ A P^-kappa")
        for i, m in enumerate(self.kappa["method"]):
            st = self.kappa["status"][i]
            if st == "ok":
                lines.append(f"{m:<14} {self.kappa['kappa'][i]:>8.3f} {self.kappa['kappa_err'][i]:>7.3f} "
                             f"{int(self.kappa['n_points'][i]):>6}")
            else:
                lines.append(f"{m:<14} {'-':>8} {'-':>7} {int(self.kappa['n_points'][i]):>6}  {st}")
        lines.append(f"{'method':<14} {'units':>6} {'s/unit':>8} {'total s':>9}  clock")
        for m, (n, mean, tot) in self.cost_by_method().items():
            lines.append(f"{m:<14} {n:>6} {mean:>8.3g} {tot:>9.1f}  {self.clocks.get(m, '?')}")
        if not self.success:
            lines.append(self.message)
        return "\n".join(lines)

    def sampler_lines(self) -> list:
        """Per (method, P, alpha) of the methods with a sampler: test accuracy of a posterior
        sample (per-sample mean) over the units whose check passed and over all units, of
        the sample-averaged output (all units), training accuracy, acceptance, checks
        passed."""
        u = self.units
        has = np.isfinite(np.asarray(u.get("sampling_ok", np.full(u["method"].size, np.nan)), float))
        if not np.any(has):
            return []
        lines = [f"{'sampled':<10} {'P':>4} {'alpha':>6} {'ok':>5} {'test acc':>9} {'(all)':>7} "
                 f"{'mean-output':>11} {'train acc':>9} {'(mean-out)':>10} {'accept':>6}   "
                 f"test acc: of a posterior sample; mean-output: of the sample-averaged output"]
        ok = self.usable()
        keys = sorted({(m, int(P), float(f)) for m, P, f in zip(u["method"][has], u["P"][has],
                                                                 u["train_fraction"][has])},
                      key=lambda k: (self.params["methods"].index(k[0]), self.params["P"].index(k[1]), k[2]))
        import warnings

        for m, P, f in keys:
            sel = (u["method"] == m) & (u["P"] == P) & (u["train_fraction"] == f)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                good = np.nanmean(np.where(ok[sel], u["test_accuracy"][sel], np.nan))
                vals = [np.nanmean(u[k][sel]) for k in ("test_accuracy", "test_accuracy_mean_output",
                                                        "train_accuracy", "train_accuracy_mean_output",
                                                        "acceptance")]
            lines.append(f"{m:<10} {P:>4} {f:>6.3f} {int(np.count_nonzero(ok[sel])):>2}/{int(np.count_nonzero(sel)):<2} "
                         f"{good:>9.3f} {vals[0]:>7.3f} {vals[1]:>11.3f} {vals[2]:>9.3f} {vals[3]:>10.3f} "
                         f"{vals[4]:>6.2f}")
        return lines

    def link_lines(self) -> list:
        """The alpha = 1 theory link: network r against the theory's r per (P, seed)."""
        L = self.link
        if not L or not np.size(L.get("P", [])):
            return []
        lines = [f"alpha = 1 link ({LINK_METHOD} on every pair vs phasesim scan at the same parameters):",
                 f"{'P':>4} {'seed':>4} {'N':>6} {'sigma2':>8} {'r network':>18} {'r theory':>9} {'phase':<8} "
                 f"{'r - r_th':>9} {'sampler':<8}"]
        for i in range(len(L["P"])):
            lines.append(f"{int(L['P'][i]):>4} {int(L['seed'][i]):>4} {int(L['N'][i]):>6} {L['sigma2'][i]:>8.4g} "
                         f"{L['residual'][i]:>9.4f} +- {L['residual_err'][i]:<6.4f}{L['residual_theory'][i]:>9.4f} "
                         f"{L['theory_phase'][i]:<8} {L['difference'][i]:>9.4f} "
                         f"{'ok' if L['sampling_ok'][i] else 'FAILED'}{'' if L['success'][i] else ' ' + L['status'][i]}")
        return lines

    def info(self) -> str:
        """What ``phasesim info`` prints: provenance, parameters, budgets and :meth:`table`."""
        lines = [f"kind:       {self.kind}"]
        for key in ("package_version", "created", "command"):
            if key in self.attrs:
                lines.append(f"{key + ':':<11} {self.attrs[key]}")
        p = self.params
        lines.append(f"parameters: task={p['task']}, operation={p['operation']}, P={p['P']}, seeds={p['seeds']}, "
                     f"refine={p['refine']}, methods={','.join(p['methods'])}")
        lines.append("budgets:    " + "; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in b.items())
                                                for m, b in p["budgets"].items()))
        return "\n".join(lines + [self.table()])

    # -- files -----------------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write the result (kind ``"atlas"``, layout in the module docstring) atomically
        through :func:`adaptive_kernel.storage.write_result`."""
        from adaptive_kernel.storage import describe, write_result

        def put(g, name, a, text, units=None):
            a = np.asarray(a)
            if a.dtype.kind in "OU":
                a = np.array([str(x) for x in a.reshape(-1)], dtype=object).astype("S").reshape(a.shape) \
                    if a.size else np.zeros(a.shape, "S1")
            describe(g.create_dataset(name, data=a), text, units)

        def fill(f):
            u = f.create_group("units")
            u.attrs["loss_definitions"] = json.dumps(LOSS_DEFINITIONS)
            u.attrs["clocks"] = json.dumps(self.clocks)
            put(u, "method", self.units["method"], "method of each unit")
            put(u, "P", self.units["P"], "modulus P", "1")
            put(u, "train_fraction", self.units["train_fraction"], "requested training fraction alpha", "1")
            put(u, "seed", self.units["seed"], "split seed: task.split(alpha, seed)")
            put(u, "refined", self.units["refined"], "a bisection point (not on the grid)")
            for name, (text, units) in UNIT_FIELDS.items():
                put(u, name, self.units[name], text, units)
            for name, (text, units) in OPTIONAL_FIELDS.items():
                put(u, name, self.units[name], text, units)
            put(u, "trace_clock", self.units["trace_clock"], "the method's clock at each trace entry (NaN padded)",
                "clock")
            put(u, "trace_test_accuracy", self.units["trace_test_accuracy"], "test accuracy along the clock", "1")
            put(u, "trace_train_accuracy", self.units["trace_train_accuracy"], "training accuracy along the clock",
                "1")
            sp = f.create_group("splits")
            keys = sorted({(int(P), float(a), int(s)) for P, a, s in
                           zip(self.units["P"], self.units["train_fraction"], self.units["seed"])})
            first = {}
            for i, k in enumerate(zip(self.units["P"], self.units["train_fraction"], self.units["seed"])):
                first.setdefault((int(k[0]), float(k[1]), int(k[2])), i)
            idx = [first[k] for k in keys]
            put(sp, "P", [k[0] for k in keys], "modulus P", "1")
            put(sp, "train_fraction", [k[1] for k in keys], "requested training fraction", "1")
            put(sp, "seed", [k[2] for k in keys], "split seed (task.split(train_fraction, seed))")
            put(sp, "n_train", self.units["n_train"][idx], "training pairs", "1")
            put(sp, "split_digest", self.units["split_digest"][idx], "SHA-256 digest of the training rows (int64)")
            a = f.create_group("alpha_c")
            put(a, "method", self.alpha_c["method"], "method")
            put(a, "P", self.alpha_c["P"], "modulus P", "1")
            for name, (text, units) in ALPHA_C_FIELDS.items():
                put(a, name, self.alpha_c[name], text, units)
            k = f.create_group("kappa")
            put(k, "method", self.kappa["method"], "method")
            for name, (text, units) in KAPPA_FIELDS.items():
                put(k, name, self.kappa[name], text, units)
            if self.link:
                lg = f.create_group("theory_link")
                lg.attrs["method"] = LINK_METHOD
                lg.attrs["theory"] = ("adaptive_kernel.solver.scan at the one sigma2 (downward sweep), theory "
                                      "parameters make_params(P, N, sigma_a2, gamma) of the task's theory")
                put(lg, "P", self.link["P"], "modulus P", "1")
                put(lg, "seed", self.link["seed"], "seed of the chains (dynamics_rng(seed, member, 0))")
                for name, (text, units) in LINK_FIELDS.items():
                    put(lg, name, self.link[name], text, units)

        p = self.params
        root = {"param_task": p["task"], "param_operation": p["operation"], "param_threshold": p["threshold"],
                "param_quorum": p["quorum"], "param_refine": p["refine"], "param_P": np.asarray(p["P"], np.int64),
                "param_seeds": np.asarray(p["seeds"], np.int64), "param_fractions": np.asarray(p["fractions"], float),
                "param_methods": ",".join(p["methods"]), "budgets": json.dumps(p["budgets"]),
                "param_theory_link": bool(p.get("theory_link", False)),
                "wall_time_s": float(self.wall_time), "success": self.success, "status": self.status,
                "message": self.message}
        return write_result(path, KIND, fill, overwrite=overwrite, command=command, teacher=p["task"],
                            attrs=self.attrs, format_version=FORMAT_VERSION, **root)

    @classmethod
    def from_hdf5(cls, path) -> "AtlasResult":
        """Read a file written by :meth:`to_hdf5` (``adaptive_kernel.load`` dispatches here).

        Raises
        ------
        FileFormatError
            Not an atlas file or a dataset is missing (one line).
        """
        from adaptive_kernel.storage import open_h5, py_value

        def dec(a):
            a = np.asarray(a)
            return np.char.decode(a, "utf-8").astype(object) if a.dtype.kind == "S" else a

        with open_h5(path) as f:
            if py_value(f.attrs.get("kind")) != KIND or not all(g in f for g in ("units", "alpha_c", "kappa")):
                raise FileFormatError(f"{path}: not an '{KIND}' file (root attribute kind and groups 'units', "
                                      f"'alpha_c', 'kappa' expected)")
            try:
                units = {k: dec(v[()]) for k, v in f["units"].items()}
                clocks = json.loads(py_value(f["units"].attrs["clocks"]))
                alpha_c = {k: dec(v[()]) for k, v in f["alpha_c"].items()}
                kappa = {k: dec(v[()]) for k, v in f["kappa"].items()}
                link = {k: dec(v[()]) for k, v in f["theory_link"].items()} if "theory_link" in f else {}
                attrs = {k: py_value(v) for k, v in f.attrs.items()}
                params = {"task": attrs["param_task"], "operation": attrs["param_operation"],
                          "threshold": float(attrs["param_threshold"]), "quorum": float(attrs["param_quorum"]),
                          "refine": int(attrs["param_refine"]),
                          "P": [int(x) for x in np.atleast_1d(attrs["param_P"])],
                          "seeds": [int(x) for x in np.atleast_1d(attrs["param_seeds"])],
                          "fractions": [float(x) for x in np.atleast_1d(attrs["param_fractions"])],
                          "methods": [m for m in str(attrs["param_methods"]).split(",") if m],
                          "budgets": json.loads(attrs["budgets"]),
                          "theory_link": bool(attrs.get("param_theory_link", False))}
                missing = [k for k in ("method", "P", "train_fraction", "seed", "refined", *UNIT_FIELDS,
                                       "trace_clock", "trace_test_accuracy", "trace_train_accuracy")
                           if k not in units]
                if missing:
                    raise KeyError(", ".join(missing))
            except (KeyError, ValueError, TypeError) as exc:
                raise FileFormatError(f"{path}: incomplete '{KIND}' file ({exc})") from None
        for k in ("refined", *_BOOL_FIELDS):
            units[k] = np.asarray(units[k], bool)
        for k in OPTIONAL_FIELDS:      # format 1: no such datasets
            if k not in units:
                units[k] = np.full(units["method"].size, np.nan)
        for k in ("theory_converged", "sampling_ok", "success"):
            if k in link:
                link[k] = np.asarray(link[k], bool)
        return cls(params, units, alpha_c, kappa, float(attrs.get("wall_time_s", 0.0)), attrs, clocks, link)


__all__ = ["METHODS", "Method", "Budget", "AtlasConfig", "AtlasResult", "Bracket", "PowerLawFit", "UnitCheckpoint",
           "run_atlas", "atlas_unit", "bracket_alpha_c", "bisection_midpoint", "fit_power_law", "fit_kappa",
           "generalises", "split_digest", "first_clock_reaching", "estimate_seconds", "estimate_unit_memory",
           "check_resources", "unit_key", "method_names", "pair_task_names", "UNIT_FIELDS", "ALPHA_C_FIELDS",
           "KAPPA_FIELDS", "LOSS_DEFINITIONS", "THRESHOLD", "QUORUM", "KIND"]
