"""Figures of ``phasesim train`` files (:class:`simulations.training_io.TrainingData`, or a
:class:`simulations.training.TrainingResult`: both have ``steps``, ``points`` and a config).

* ``curves`` (:func:`plot_curves`): Gromov's Fig. 1, four panels against the step: train and
  test loss, weight norms per layer, train and test accuracy, gradient norms per layer;
* ``grokking-time`` (:func:`plot_grokking_time`): grokking time against the training fraction
  (Gromov's Fig. 4a), one curve per optimizer and width; censored networks drawn as open
  triangles at the last step;
* ``ipr`` (:func:`plot_ipr`): mean Fourier IPR against train and test accuracy along training
  (Gromov's Fig. 5).

:data:`FIGURES` maps a name to ``fn(data, figsize=None) -> Figure``. Results never import
this module.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _config(data) -> dict:
    c = data.config
    return c if isinstance(c, dict) else c.to_meta()


def _label(p) -> str:
    return rf"$\alpha$={p['train_fraction']:.3g}, N={p['width']}"


def _median(a):
    a = np.asarray(a, float)
    with np.errstate(all="ignore"):
        return np.nanmedian(a, axis=0) if a.ndim == 2 and a.shape[0] > 1 else a.reshape(-1, a.shape[-1])[0]


def plot_curves(data, figsize=None, point: int | None = None):
    """Gromov's Fig. 1: four panels (losses, weight norms, accuracies, gradient norms) against
    the step (log scale), the median over the networks of each point (all points, or only
    ``point``)."""
    fig, axes = plt.subplots(2, 2, figsize=figsize or (9, 6.5), sharex=True, constrained_layout=True)
    steps = np.asarray(data.steps, float)
    x = np.maximum(steps, 0.5)
    pts = data.points if point is None else [data.points[point]]
    for k, p in enumerate(pts):
        col = f"C{k}"
        tr = p["traces"]
        lab = _label(p) if len(pts) > 1 else None
        ax = axes[0, 0]
        ax.plot(x, _median(tr["train_loss"]), color=col, ls="--", label=("train " + (lab or "")).strip())
        ax.plot(x, _median(tr["test_loss"]), color=col, label=("test " + (lab or "")).strip())
        ax = axes[0, 1]
        ax.plot(x, _median(tr["w1_norm"]), color=col, label=r"$\|W_1\|$")
        ax.plot(x, _median(tr["w2_norm"]), color=col, ls="--", label=r"$\|W_2\|$")
        ax = axes[1, 0]
        ax.plot(x, _median(tr["train_acc"]), color=col, ls="--", label="train")
        ax.plot(x, _median(tr["test_acc"]), color=col, label="test")
        ax = axes[1, 1]
        ax.plot(x, _median(tr["grad1_norm"]), color=col, label=r"$\|\nabla_{W_1}L\|$")
        ax.plot(x, _median(tr["grad2_norm"]), color=col, ls="--", label=r"$\|\nabla_{W_2}L\|$")
    for ax, ylab, logy in ((axes[0, 0], "loss", True), (axes[0, 1], "weight norm", False),
                           (axes[1, 0], "accuracy", False), (axes[1, 1], "gradient norm", True)):
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_ylabel(ylab)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("step")
    c = _config(data)
    fig.suptitle(f"{c.get('optimizer', '')}, {c.get('loss', '')}, {c.get('parametrisation', '')}"
                 + (f", {_label(pts[0])}" if len(pts) == 1 else ""))
    return fig


def plot_grokking_time(data, figsize=None):
    """Gromov's Fig. 4a: grokking time against the training fraction, median over the
    networks that grokked (dots, with every network as a small point); a fraction where some
    network is censored gets an open triangle at the last step. One curve per width; the
    optimizer is in the legend. Several files: pass a list of data objects."""
    many = data if isinstance(data, (list, tuple)) else [data]
    fig, ax = plt.subplots(figsize=figsize or (5.5, 4), constrained_layout=True)
    k = 0
    for d in many:
        c = _config(d)
        last = float(np.asarray(d.steps)[-1])
        widths = sorted({p["width"] for p in d.points})
        for N in widths:
            pts = sorted((p for p in d.points if p["width"] == N), key=lambda p: p["train_fraction"])
            col = f"C{k}"
            k += 1
            xs, med = [], []
            for p in pts:
                g = np.asarray(p["grok_step"])
                ok = g[g >= 0]
                ax.scatter(np.full(ok.size, p["train_fraction"]), ok, s=6, color=col, alpha=0.4)
                if ok.size:
                    xs.append(p["train_fraction"])
                    med.append(np.median(ok))
                if np.any(g < 0):
                    ax.scatter([p["train_fraction"]], [last], marker="^", facecolors="none", edgecolors=col)
            ax.plot(xs, med, "o-", color=col, label=f"{c.get('optimizer', '')}, N={N}")
    ax.set_yscale("log")
    ax.set_xlabel(r"training fraction $\alpha$")
    ax.set_ylabel("grokking time (steps)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=r"open $\triangle$: censored", title_fontsize=8)
    return fig


def plot_ipr(data, figsize=None):
    """Gromov's Fig. 5: mean Fourier IPR of the neurons against train and test accuracy
    along training (every logged step of every network; colour = log10 step)."""
    fig, axes = plt.subplots(1, 2, figsize=figsize or (9, 4), sharey=True, constrained_layout=True)
    steps = np.asarray(data.steps, float)
    sc = None
    for p in data.points:
        tr = p["traces"]
        for s in range(tr["ipr"].shape[0]):
            for ax, acc in zip(axes, ("train_acc", "test_acc")):
                sc = ax.scatter(tr[acc][s], tr["ipr"][s], c=np.log10(np.maximum(steps, 1)), s=8, cmap="viridis")
    for ax, lab in zip(axes, ("train accuracy", "test accuracy")):
        ax.set_xlabel(lab)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean IPR (r = 2)")
    if sc is not None:
        fig.colorbar(sc, ax=axes, label=r"$\log_{10}$ step")
    return fig


FIGURES = {"curves": plot_curves, "grokking-time": plot_grokking_time, "ipr": plot_ipr}
DEFAULT_FIGURE = "curves"

__all__ = ["FIGURES", "DEFAULT_FIGURE", "plot_curves", "plot_grokking_time", "plot_ipr"]
