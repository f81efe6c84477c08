"""Figures of ``phasesim train`` files (:class:`simulations.training_io.TrainingData`, or a
:class:`simulations.training.TrainingResult`: both have ``steps``, ``points`` and a config).

* ``curves`` (:func:`plot_curves`): Gromov's Fig. 1, four panels against the step: train and
  test loss, weight norms per layer, train and test accuracy, gradient norms per layer;
* ``grokking-time`` (:func:`plot_grokking_time`): grokking time against the training fraction
  (Gromov's Fig. 4a), one curve per optimizer and width; censored networks drawn as open
  triangles at the last step;
* ``ipr`` (:func:`plot_ipr`): mean Fourier IPR against train and test accuracy along training
  (Gromov's Fig. 5);
* ``preactivation`` (:func:`plot_preactivation`): one output f_q(n, m) of a trained network
  over the P x P pairs and its 2-D Fourier power, above the same for Gromov's analytic
  network of the same width (Gromov's Fig. 2; :func:`adaptive_kernel.plotting_fourier.preactivation_figure`);
* ``phases`` (:func:`plot_phases`): histogram over the trained neurons of Gromov's phase
  combination phi1 + phi2 - phi3 at the end (``phase_final``) against its histogram at
  step 0 (``phase_hist``) (Gromov's Fig. 3);
* ``width`` (:func:`plot_width`): final test accuracy of the trained networks against their
  width, over the accuracy of Gromov's analytic network vs width at the same P computed by
  :func:`simulations.analytic.accuracy_vs_width` (Gromov's Fig. 4b). A file of one width
  gets the analytic curve on a grid of widths around it, the trained networks as one point.

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


# ---------------------------------------------------------------------------------------
# trained vs analytic (Gromov's Figs. 2, 3, 4b)
# ---------------------------------------------------------------------------------------
def _task_of(data):
    """The task object of a file (:class:`~simulations.training_io.TrainingData`: registry
    name and parameters) or of a result (its TrainConfig)."""
    c = data.config
    if hasattr(c, "task_obj"):
        return c.task_obj()
    from .tasks import get_task

    return get_task(data.task, **data.params)


def _final_test_acc(p) -> np.ndarray:
    """Final test accuracy of each network of a point (S,)."""
    return np.asarray(p["traces"]["test_acc"], float)[:, -1]


def _has_analytic(task) -> bool:
    return task.addition_relabelling() is not None


def _seed_of(data) -> int:
    return int(_config(data).get("seed", 0))


def plot_preactivation(data, figsize=None, point: int | None = None, network: int | None = None, q: int = 0):
    """Gromov's Fig. 2: output f_q(n, m) over the P x P pairs and its 2-D Fourier power for a
    trained network (top) and Gromov's analytic network of the same width (bottom;
    :func:`simulations.analytic.gromov_network` with the network's seed value for the
    phases).

    The network drawn by default is the one with the highest final test accuracy of the
    point with the highest mean final test accuracy. Operations without an analytic solution
    (``mul``, ``div``) draw the trained network alone, saying so in the title.
    """
    from simulations.analytic import gromov_network

    from .plotting_fourier import preactivation_figure

    task = _task_of(data)
    if point is None:
        point = int(np.nanargmax([np.nanmean(_final_test_acc(p)) if np.isfinite(_final_test_acc(p)).any()
                                  else -1.0 for p in data.points]))
    p = data.points[point]
    acc = _final_test_acc(p)
    if network is None:
        network = int(np.nanargmax(np.where(np.isfinite(acc), acc, -1.0)))
    seed = int(p["seeds"][network])
    W1, W2 = np.asarray(p["W1"][network], float), np.asarray(p["W2"][network], float)
    N = int(p["width"])
    about = (rf"trained network: $\alpha$={p['train_fraction']:.3g}, N={N}, seed {seed}, "
             f"final test accuracy {acc[network]:.3f}")
    if _has_analytic(task):
        ref = gromov_network(task, N, seed=seed)
        fig = preactivation_figure(W1, W2, task, q=q, reference=ref, figsize=figsize,
                                   labels=("trained", f"analytic (Gromov, N={N})"))
        fig.suptitle(about, fontsize=10)
    else:
        fig = preactivation_figure(W1, W2, task, q=q, figsize=figsize)
        fig.suptitle(f"{about}\n(no analytic solution for operation {task.operation!r})", fontsize=10)
    return fig


def plot_phases(data, figsize=None):
    r"""Gromov's Fig. 3: histogram over the trained neurons (all networks of a point pooled)
    of phi1 + phi2 - phi3 at each neuron's dominant frequency, at the end of training
    (``phase_final``), in the bins of the stored ``phase_hist`` on (-pi, pi], with the
    histogram at step 0 (``phase_hist`` of the first logged step) as a dashed outline.
    Gromov's solution has every neuron at 0; random weights are spread uniformly. An
    operation for which the phases are not defined (no relabelling to addition) gets a
    figure that says so."""
    from .plotting import OKABE_ITO, new_figure

    fig, ax = new_figure("phases", figsize or (6.4, 4.4))
    colours = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "skyblue")]
    drawn = 0
    for k, p in enumerate(data.points):
        hist = np.asarray(p["phase_hist"])
        bins = hist.shape[-1]
        edges = np.linspace(-np.pi, np.pi, bins + 1)
        final = np.asarray(p["phase_final"], float).ravel()
        final = final[np.isfinite(final)]
        if final.size == 0:
            continue
        col = colours[k % len(colours)]
        lab = _label(p)
        ax.hist(final, bins=edges, histtype="stepfilled" if len(data.points) == 1 else "step",
                color=col, alpha=0.6 if len(data.points) == 1 else 1.0, lw=1.5, label=f"end, {lab}")
        start = hist[:, 0, :].sum(axis=0)
        ax.stairs(start, edges, color=col, ls="--", lw=1.0, label=f"step 0, {lab}")
        drawn += 1
    ax.axvline(0.0, color="0.4", lw=0.8, ls=":")
    ax.set_xlim(-np.pi, np.pi)
    ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi])
    ax.set_xticklabels([r"$-\pi$", r"$-\pi/2$", "0", r"$\pi/2$", r"$\pi$"])
    ax.set_xlabel(r"$\varphi^{(1)}+\varphi^{(2)}-\varphi^{(3)}$ at the dominant frequency")
    ax.set_ylabel("neurons")
    if drawn:
        ax.legend(fontsize=7)
        ax.set_title("phase combination of the trained neurons (Gromov's solution: 0)")
    else:
        op = _task_of(data).operation
        ax.text(0.5, 0.5, f"phases not defined for operation {op!r}\n(no relabelling of the tokens to addition)",
                ha="center", va="center", transform=ax.transAxes)
    return fig


#: widths of the analytic curve drawn around a single trained width (factors of N)
SINGLE_WIDTH_FACTORS = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
#: seed members of the analytic curve (Gromov's random phases)
ANALYTIC_SEEDS = 3


def plot_width(data, figsize=None):
    """Gromov's Fig. 4b: final test accuracy of the trained networks against their width (one
    curve per training fraction; mean and min-max band over the seeds) over the accuracy on
    all pairs of Gromov's analytic network of the same widths at the same P
    (:func:`simulations.analytic.accuracy_vs_width`, :data:`ANALYTIC_SEEDS` phase draws,
    cyclic frequencies; :func:`adaptive_kernel.plotting_fourier.plot_accuracy_width`).

    A file of a single width draws the analytic curve on the widths N x
    :data:`SINGLE_WIDTH_FACTORS` and the trained networks as one point (where they sit on
    it), and says so in the title. An operation without an analytic solution draws the
    trained networks alone."""
    from simulations.analytic import accuracy_vs_width

    from .plotting import new_figure
    from .plotting_fourier import plot_accuracy_width

    task = _task_of(data)
    widths = sorted({int(p["width"]) for p in data.points})
    trained = {}
    for f in sorted({p["train_fraction"] for p in data.points}):
        pts = sorted((p for p in data.points if p["train_fraction"] == f), key=lambda p: p["width"])
        trained[rf"trained, test accuracy ($\alpha$={f:.3g})"] = (
            np.array([p["width"] for p in pts]), np.stack([_final_test_acc(p) for p in pts]))
    fig, ax = new_figure("width", figsize or (6.4, 4.4))
    single = len(widths) == 1
    if _has_analytic(task):
        if single:
            N = widths[0]
            grid = sorted({max(1, int(round(N * x))) for x in SINGLE_WIDTH_FACTORS})
        else:
            grid = widths
        res = accuracy_vs_width(_config(data).get("task") or data.task, {"P": task.P, "operation": task.operation},
                                "gromov", grid, seeds=ANALYTIC_SEEDS, seed=_seed_of(data))
        plot_accuracy_width(res, ax=ax, trained=trained)
        ax.set_ylabel("accuracy (analytic: all pairs; trained: test pairs)")
        if single:
            ax.set_title(f"single trained width N={widths[0]}: analytic curve on widths around it "
                         f"({task.operation} mod {task.P})", fontsize=9)
    else:
        for label, (tw, ta) in trained.items():
            ax.plot(tw, ta.mean(axis=1), "s--", label=label)
        ax.axhline(1.0 / task.P, color="0.5", lw=0.8, ls="--", label="chance 1/P")
        ax.set_xlabel("width $N$")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(-0.02, 1.05)
        ax.set_title(f"no analytic solution for operation {task.operation!r}: trained networks only", fontsize=9)
        ax.legend(loc="lower right")
    return fig


FIGURES = {"curves": plot_curves, "grokking-time": plot_grokking_time, "ipr": plot_ipr,
           "preactivation": plot_preactivation, "phases": plot_phases, "width": plot_width}
DEFAULT_FIGURE = "curves"

__all__ = ["FIGURES", "DEFAULT_FIGURE", "plot_curves", "plot_grokking_time", "plot_ipr", "plot_preactivation",
           "plot_phases", "plot_width", "SINGLE_WIDTH_FACTORS", "ANALYTIC_SEEDS"]
