r"""The training file (``phasesim train``), written and read in one place.

Layout (every dataset carries a one-line ``description`` and ``units`` where one applies)::

    /                     attrs: kind = "train", teacher (the task name), format_version,
                                 package_version, created, command, library versions, host,
                                 success, status, message
    /params               attrs: the task's parameters (P, operation)
    /train                attrs: every TrainConfig field (widths, train_fractions and betas
                                 as arrays; unset lr / init_scale / weight_decay / batch_size
                                 stored as "default"), the values used (lr_used,
                                 init_scale_used, weight_decay_used, output_scale: one per
                                 width), wall_time_s, grok_definition, fit_definition
    /train/steps          (T,) the logged steps
    /train/train_fraction, /train/width   (G,) of each point (fraction-major order)
    /train/<i>/           one group per point i: attrs train_fraction, width, n_train
        seeds             (S,) seed value of each network
        traces/<name>     (S, T): train_loss, test_loss, train_acc, test_acc, w1_norm,
                          w2_norm, grad1_norm, grad2_norm, ipr, ntk_change
        freq_hist         (S, T, floor(P/2)) neurons per dominant frequency k = 1..floor(P/2)
        phase_hist        (S, T, PHASE_BINS) neurons per bin of phi1 + phi2 - phi3 on (-pi, pi]
        W1, W2            (S, N, 2P), (S, P, N) final weights
        ipr_final, freq_final, phase_final   (S, N) per neuron at the end
        grok_step, fit_step   (S,) first logged step with test accuracy >= threshold /
                          train accuracy 1; -1: not reached (censored)
        diverged_step     (S,) first step with a non-finite loss; -1: none
        status            (S,) "grokked", "censored" or "diverged"
        analytic_distance, analytic_distance_random      (S,) distance of the final weights
                          to Gromov's analytic network of the same width (one-to-one neuron
                          assignment), and the same for i.i.d. Gaussian weights (the baseline)
        analytic_distance_nearest, analytic_distance_nearest_random   (S,) the same with
                          each neuron matched to its nearest analytic neuron
        nfm_agop_corr, nfm_agop_corr_init   (S,) Pearson correlation of W1^T W1 with
                          sqrt(AGOP) on the training inputs, final and initial weights
                          (:func:`simulations.training.network_links`)

Format versions: 1 (no end-of-training links; read with those datasets NaN), 2 (this one).

This module imports only :mod:`adaptive_kernel.storage` and :mod:`adaptive_kernel.errors`,
never :mod:`simulations.training` (which imports it) nor the registry of kinds.
"""
from __future__ import annotations

import h5py
import numpy as np

from adaptive_kernel.errors import FileFormatError
from adaptive_kernel.storage import describe, open_h5, py_value, write_result

FORMAT_VERSION = 2
#: The root attribute ``kind`` of a training file.
KIND = "train"

#: descriptions of the traces (``train/<i>/traces/<name>``)
TRACE_DESCRIPTIONS = {
    "train_loss": "data loss on the whole training set (no regulariser)",
    "test_loss": "data loss on the test set",
    "train_acc": "training accuracy (argmax of f against the label)",
    "test_acc": "test accuracy",
    "w1_norm": "Frobenius norm of W1",
    "w2_norm": "Frobenius norm of W2",
    "grad1_norm": "Frobenius norm of the full-batch gradient of the training loss wrt W1",
    "grad2_norm": "Frobenius norm of the full-batch gradient of the training loss wrt W2",
    "ipr": "mean over neurons of the Fourier IPR (r = 2) of the read-in weights",
    "ntk_change": "||K_t - K_0||_F / ||K_0||_F of the empirical NTK on the probe pairs",
}

_POINT = {
    "seeds": ("seed value of each network (its split, initialisation, batches, probes)", None),
    "freq_hist": ("neurons per dominant frequency k = 1..floor(P/2) at each logged step", "1"),
    "phase_hist": ("neurons per bin of phi1 + phi2 - phi3 on (-pi, pi] at each logged step", "1"),
    "W1": ("final read-in weights (networks, N, 2P)", "1"),
    "W2": ("final read-out weights (networks, P, N)", "1"),
    "ipr_final": ("Fourier IPR (r = 2) of each neuron at the last step", "1"),
    "freq_final": ("dominant frequency of each neuron at the last step", "1"),
    "phase_final": ("phi1 + phi2 - phi3 of each neuron at the last step (NaN: operation not "
                    "addition after relabelling)", "rad"),
    "grok_step": ("first logged step with test accuracy >= threshold; -1: censored (not reached)", "step"),
    "fit_step": ("first logged step with train accuracy 1; -1: not reached", "step"),
    "diverged_step": ("first step with a non-finite loss; -1: finite throughout", "step"),
}

#: the end-of-training links (format_version >= 2; NaN when read from an older file)
_LINKS = {
    "analytic_distance": (
        "distance of the final weights to Gromov's analytic network of the same width: mean over a one-to-one "
        "neuron assignment of (TV of read-in spectra + TV of read-out spectra)/2, in [0, 1]; 0 = the analytic "
        "solution up to neuron order, scale and phases; NaN: no analytic solution for the operation", "1"),
    "analytic_distance_random": (
        "the same distance for i.i.d. Gaussian weights of the same shape (mean of several draws): the level "
        "of a network that learned nothing", "1"),
    "analytic_distance_nearest": (
        "mean over neurons of the distance to the nearest neuron of Gromov's analytic network (frequency "
        "multiplicities ignored), in [0, 1]", "1"),
    "analytic_distance_nearest_random": (
        "the nearest-neuron distance for i.i.d. Gaussian weights of the same shape (mean of several draws)", "1"),
    "nfm_agop_corr": (
        "Pearson correlation over entries of the neural feature matrix W1^T W1 with the square root of the "
        "network's AGOP on its training inputs (Mallinar et al. Fig. 6: 0.92-0.96)", "1"),
    "nfm_agop_corr_init": (
        "the same correlation for the network's initial weights (the level before learning: both matrices are "
        "diagonal-dominated for random weights)", "1"),
}


def _finite_mean(a) -> float:
    a = np.asarray(a, float).ravel()
    a = a[np.isfinite(a)]
    return float(np.mean(a)) if a.size else float("nan")


def _cell(value: float, width: int) -> str:
    return f"{value:{width}.3f}" if np.isfinite(value) else f"{'-':>{width}s}"


#: columns of :func:`links_cells` (``table()`` of a result and of a file)
LINKS_HEADER = f"{'dist':>6s} {'d_rand':>6s} {'near':>6s} {'n_rand':>6s} {'nfm~agop':>8s} {'(init)':>6s}"
#: what the columns mean (``info()``)
LINKS_LEGEND = ("dist: distance of the final weights to Gromov's analytic network of the same width (0: that "
                "solution up to neuron order, scale and phases; d_rand: the same for i.i.d. Gaussian weights); "
                "near/n_rand: each neuron to its nearest analytic neuron; nfm~agop: Pearson correlation of "
                "W1^T W1 with sqrt(AGOP) on the training inputs (Mallinar et al. Fig. 6: 0.92-0.96; (init): the same "
                "at the initial weights); "
                "means over the networks of a point, '-': not measured")


def links_cells(point) -> str:
    """The end-of-training links of one point, means over its networks (:data:`LINKS_HEADER`)."""
    return " ".join(_cell(_finite_mean(point.get(k, np.nan)), w) for k, w in zip(_LINKS, (6, 6, 6, 6, 8, 6)))


def _fill(f, result) -> None:
    c = result.config
    g = f.create_group("params")
    g.attrs["P"] = c.P
    g.attrs["operation"] = c.operation
    T = f.create_group("train")
    for k, v in c.to_meta().items():
        if v is None:
            T.attrs[k] = "default"
        elif isinstance(v, list):
            T.attrs[k] = np.asarray(v)
        else:
            T.attrs[k] = v
    T.attrs["lr_used"] = np.array([c.lr_for(N) for N in c.widths])
    T.attrs["init_scale_used"] = np.array([c.init_scale_for(N) for N in c.widths])
    T.attrs["output_scale"] = np.array([c.output_scale_for(N) for N in c.widths])
    T.attrs["weight_decay_used"] = c.weight_decay_value()
    T.attrs["wall_time_s"] = result.wall_time
    T.attrs["grok_definition"] = (f"first logged step with test accuracy >= {c.threshold:g}; -1 if not "
                                  f"reached by step {c.steps} (censored)")
    T.attrs["fit_definition"] = "first logged step with train accuracy 1; -1 if not reached"
    describe(T.create_dataset("steps", data=np.asarray(result.steps, np.int64)), "the logged steps", "step")
    describe(T.create_dataset("train_fraction", data=np.array([p["train_fraction"] for p in result.points])),
             "training fraction alpha = |train| / pairs of each point (requested)", "1")
    describe(T.create_dataset("width", data=np.array([p["width"] for p in result.points], np.int64)),
             "hidden width N of each point", "1")
    for i, p in enumerate(result.points):
        gi = T.create_group(str(i))
        gi.attrs["train_fraction"] = p["train_fraction"]
        gi.attrs["width"] = p["width"]
        gi.attrs["n_train"] = p["n_train"]
        tg = gi.create_group("traces")
        for k, v in p["traces"].items():
            describe(tg.create_dataset(k, data=v), TRACE_DESCRIPTIONS.get(k, k) + " (networks x logged steps)", "1")
        for k, (text, units) in {**_POINT, **_LINKS}.items():
            describe(gi.create_dataset(k, data=p[k]), text, units)
        describe(gi.create_dataset("status", data=np.array(p["status"], dtype=object),
                                   dtype=h5py.string_dtype()),
                 "grokked, censored (threshold not reached) or diverged, per network")


def write_training(result, path, overwrite: bool = False, command: str | None = None) -> str:
    """Write a :class:`~simulations.training.TrainingResult` atomically (``kind = "train"``)."""
    return write_result(path, KIND, lambda f: _fill(f, result), overwrite, command,
                        teacher=result.config.task, attrs=result.attrs, format_version=FORMAT_VERSION,
                        success=bool(result.success), status=result.status, message=result.message)


class TrainingData:
    """The contents of a ``phasesim train`` file (layout: module docstring).

    Attributes
    ----------
    task : str
    params : dict
        The task's parameters.
    config : dict
        The ``/train`` attributes (the run's settings and the values used).
    steps : ndarray (T,)
    points : list of dict
        Per (train fraction, width): ``train_fraction``, ``width``, ``n_train``, ``seeds``,
        ``traces`` {name: (S, T)}, and the per-point datasets (``freq_hist``, ``phase_hist``,
        ``W1``, ``W2``, ``ipr_final``, ``freq_final``, ``phase_final``, ``grok_step``,
        ``fit_step``, ``diverged_step``, ``status``).
    attrs : dict
        Root attributes (provenance, success, status, message).
    """

    kind = KIND

    def __init__(self, task, params, config, steps, points, attrs=None):
        self.task = task
        self.params = params
        self.config = config
        self.steps = np.asarray(steps)
        self.points = points
        self.attrs = attrs or {}

    @property
    def success(self) -> bool:
        return bool(self.attrs.get("success", True))

    def grokking_times(self):
        """(train_fraction, width, grok_step) arrays over every network (grok_step -1:
        censored)."""
        f, w, g = [], [], []
        for p in self.points:
            n = len(p["grok_step"])
            f += [p["train_fraction"]] * n
            w += [p["width"]] * n
            g += list(p["grok_step"])
        return np.array(f), np.array(w, np.int64), np.array(g, np.int64)

    def table(self) -> str:
        """One line per (train fraction, width): networks, final mean accuracies, grokked
        networks (the others censored or diverged), median fit and grokking steps, and the
        end-of-training links (:data:`LINKS_LEGEND`)."""
        lines = [f"{'fraction':>8s} {'width':>6s} {'train_acc':>9s} {'test_acc':>8s} {'grokked':>8s} "
                 f"{'fit_step':>9s} {'grok_step':>9s} " + LINKS_HEADER]
        for p in self.points:
            tr = p["traces"]
            g, fit = np.asarray(p["grok_step"]), np.asarray(p["fit_step"])

            def med(a):
                a = a[a >= 0]
                return f"{int(np.median(a))}" if a.size else "-"

            def last(a):
                a = np.asarray(a, float)[:, -1]
                a = a[np.isfinite(a)]
                return float(np.mean(a)) if a.size else float("nan")

            lines.append(f"{p['train_fraction']:8.4g} {p['width']:6d} {last(tr['train_acc']):9.3f} "
                         f"{last(tr['test_acc']):8.3f} {int(np.sum(g >= 0)):>4d}/{len(g):<3d} {med(fit):>9s} "
                         f"{med(g):>9s} " + links_cells(p))
        return "\n".join(lines)

    def info(self) -> str:
        """What ``phasesim info`` prints: provenance, parameters, settings and :meth:`table`."""
        lines = [f"kind:       {self.kind}", f"task:       {self.task}"]
        for key in ("package_version", "created", "command", "status", "message"):
            if key in self.attrs:
                lines.append(f"{key + ':':<11} {self.attrs[key]}")
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in self.params.items()))
        c = self.config
        keys = ("optimizer", "loss", "parametrisation", "lr_used", "weight_decay_used", "batch_size", "steps",
                "seeds", "seed", "threshold", "dtype")
        lines.append("training:   " + ", ".join(f"{k}={c[k]}" for k in keys if k in c))
        return "\n".join(lines + [self.table(), LINKS_LEGEND])

    @classmethod
    def from_file(cls, f, path="file"):
        if "train" not in f or "steps" not in f["train"]:
            raise FileFormatError(f"{path}: no 'train' group with 'steps' (written by 'phasesim train'); "
                                  f"this file holds {', '.join(sorted(f)) or 'nothing'}")
        T = f["train"]
        attrs = {k: py_value(v) for k, v in f.attrs.items()}
        config = {k: (v.tolist() if isinstance(v, np.ndarray) else py_value(v)) for k, v in T.attrs.items()}
        params = {k: py_value(v) for k, v in f["params"].attrs.items()} if "params" in f else {}
        steps = T["steps"][()]
        points = []
        n = len(T["train_fraction"]) if "train_fraction" in T else 0
        for i in range(n):
            if str(i) not in T:
                raise FileFormatError(f"{path}: missing group train/{i}")
            gi = T[str(i)]
            try:
                p = {"train_fraction": float(gi.attrs["train_fraction"]), "width": int(gi.attrs["width"]),
                     "n_train": int(gi.attrs["n_train"]),
                     "traces": {k: v[()] for k, v in gi["traces"].items()}}
                for k in _POINT:
                    p[k] = gi[k][()]
                for k in _LINKS:   # absent from files of format_version 1
                    p[k] = gi[k][()] if k in gi else np.full(len(p["seeds"]), np.nan)
                p["status"] = [s.decode() if isinstance(s, bytes) else str(s) for s in gi["status"][()]]
            except KeyError as exc:
                raise FileFormatError(f"{path}: train/{i} is incomplete ({exc})") from None
            points.append(p)
        return cls(str(attrs.get("teacher", "")), params, config, steps, points, attrs)

    @classmethod
    def from_hdf5(cls, path):
        """Read the file at ``path``."""
        with open_h5(path) as f:
            return cls.from_file(f, path)


__all__ = ["TrainingData", "write_training", "links_cells", "KIND", "FORMAT_VERSION", "LINKS_HEADER",
           "LINKS_LEGEND"]
