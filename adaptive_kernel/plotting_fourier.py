r"""Figures of networks on modular arithmetic in Fourier space (Gromov's Figs. 2, 3, 4b).

The functions take weights or arrays (not a particular file format) and take and return
Matplotlib Axes, or take a figure size and return a Figure for multi-panel figures; the
figures are drawn on an Agg canvas with the package's style (:mod:`adaptive_kernel.plotting`).

=================================  ==========================================================
function                           what it shows
=================================  ==========================================================
:func:`plot_preactivation`         one output f_q(n, m) as a P x P image over (n, m) (Fig. 2)
:func:`plot_preactivation_spectrum`  its 2-D Fourier power |F_q(k_n, k_m)|^2, centred (Fig. 2)
:func:`preactivation_figure`       both panels, for one network or trained vs analytic
:func:`plot_phase_histogram`       histogram of phi1 + phi2 - phi3 over neurons (Fig. 3)
:func:`plot_accuracy_width`        accuracy vs width of an analytic result, optionally with
                                   trained networks' accuracies (Fig. 4b)
:func:`plot_loss_width`            the least-squares-scaled loss vs width
=================================  ==========================================================

:data:`FIGURES` maps the figure names of an analytic-solution file
(:class:`simulations.analytic.AnalyticResult`, kind ``"analytic"``) to functions
``fn(result, figsize=None) -> Figure``; :data:`DEFAULT_FIGURE` is the one drawn by default.
"""
from __future__ import annotations

import numpy as np

from .errors import ParameterError
from .plotting import OKABE_ITO, _styled, new_figure


def _axes(ax, figsize=None):
    if ax is None:
        _, ax = new_figure("fourier", figsize or (5.0, 4.4))
    return ax


def _task_text(task) -> str:
    op = getattr(task, "op", None)
    return f"{op.formula} mod {task.P}" if op is not None else f"P = {task.P}"


@_styled
def plot_preactivation(W1, W2, task, q: int, ax=None, cmap: str = "RdBu_r"):
    r"""The output f_q(n, m) = sum_i W2[q, i] (W1[i] . x_nm)^2 as a P x P image.

    Parameters
    ----------
    W1 : array_like, shape (N, 2P)
    W2 : array_like, shape (P, N)
    task : ModularArithmetic
        For the title (and P).
    q : int
        The output drawn.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    from simulations.analytic import output_grid

    ax = _axes(ax)
    f = output_grid(W1, W2, q)
    if f.shape[0] != task.P:
        raise ParameterError(f"W1 has P = {f.shape[0]} but the task has P = {task.P}")
    lim = float(np.max(np.abs(f))) or 1.0
    im = ax.imshow(f, origin="lower", cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.85, label=rf"$f_{{{q}}}(n, m)$")
    ax.set_xlabel("$m$")
    ax.set_ylabel("$n$")
    ax.set_title(f"output q = {q} ({_task_text(task)})")
    return ax


@_styled
def plot_preactivation_spectrum(W1, W2, task, q: int, ax=None, cmap: str = "magma"):
    r"""2-D Fourier power of the output f_q(n, m), zero frequency at the centre.

    .. math:: F_q(k_n, k_m) = \frac{1}{P^2}\sum_{n, m} f_q(n, m)\, e^{2\pi i (k_n n + k_m m)/P}

    (the package's convention, ``ifft2``), drawn as |F_q|^2 on a log colour scale over
    k_n, k_m in -floor(P/2) .. ceil(P/2) - 1. For addition the analytic solution lives on the
    diagonal k_n = k_m (the modes (k, k) of the target) plus the axes and the origin.

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.colors import LogNorm

    from simulations.analytic import output_grid

    ax = _axes(ax)
    f = output_grid(W1, W2, q)
    P = f.shape[0]
    if P != task.P:
        raise ParameterError(f"W1 has P = {P} but the task has P = {task.P}")
    power = np.fft.fftshift(np.abs(np.fft.ifft2(f)) ** 2)
    top = float(power.max()) or 1.0
    freqs = np.fft.fftshift(np.fft.fftfreq(P, 1.0 / P)).astype(int)
    ext = (freqs[0] - 0.5, freqs[-1] + 0.5, freqs[0] - 0.5, freqs[-1] + 0.5)
    im = ax.imshow(np.maximum(power, top * 1e-8), origin="lower", cmap=cmap, extent=ext,
                   norm=LogNorm(vmin=top * 1e-8, vmax=top), interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, shrink=0.85, label=rf"$|F_{{{q}}}(k_n, k_m)|^2$")
    ax.set_xlabel("$k_m$")
    ax.set_ylabel("$k_n$")
    ax.set_title(f"2-D Fourier power of output q = {q}")
    return ax


@_styled
def preactivation_figure(W1, W2, task, q: int = 0, reference=None, labels=("trained", "analytic"),
                         figsize=None):
    """Gromov's Fig. 2: output f_q as an image and its Fourier power, one row per network.

    Parameters
    ----------
    W1, W2 : array_like
        The (trained) network.
    task : ModularArithmetic
    q : int
    reference : (W1, W2) or object with ``W1``, ``W2``, optional
        A second network (e.g. :func:`simulations.analytic.gromov_network`) drawn below.
    labels : (str, str)
        Row titles.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib Figure
    """
    nets = [(W1, W2)]
    if reference is not None:
        nets.append((reference.W1, reference.W2) if hasattr(reference, "W1") else tuple(reference))
    rows = len(nets)
    fig, _ = new_figure("fourier", figsize or (10.0, 4.2 * rows))
    fig.clear()
    axes = fig.subplots(rows, 2, squeeze=False)
    for r, (a, b) in enumerate(nets):
        plot_preactivation(a, b, task, q, ax=axes[r, 0])
        plot_preactivation_spectrum(a, b, task, q, ax=axes[r, 1])
        if rows > 1:
            axes[r, 0].set_title(f"{labels[r]}: output q = {q}")
            axes[r, 1].set_title(f"{labels[r]}: Fourier power")
    return fig


@_styled
def plot_phase_histogram(W1, W2, ax=None, task=None, bins: int = 35, label: str | None = None, color=None):
    r"""Histogram of Gromov's phase combination phi1 + phi2 - phi3 over the neurons (Fig. 3).

    Each neuron's phases at its dominant frequency
    (:func:`simulations.fourier_features.phase_combination`), in (-pi, pi]; a network that
    implements Gromov's solution has them concentrated at 0.

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)
    W2 : array_like, shape (..., P, N)
        Leading axes (seeds) are pooled.
    ax : matplotlib Axes, optional
    task : ModularArithmetic, optional
        Measure in the task's addition order (``sub``, ...).
    bins : int
        Bins over (-pi, pi]; an odd number puts one bin centred on 0.
    label, color : optional
        Legend entry and colour (to overlay several networks on one Axes).

    Returns
    -------
    matplotlib Axes
    """
    from simulations.fourier_features import phase_combination

    ax = _axes(ax)
    phases = np.ravel(phase_combination(W1, W2, task=task))
    edges = np.linspace(-np.pi, np.pi, int(bins) + 1)
    ax.hist(phases, bins=edges, color=color or OKABE_ITO["blue"], alpha=0.75, label=label,
            edgecolor="white", linewidth=0.5)
    ax.axvline(0.0, color="0.4", lw=0.8, ls=":")
    ax.set_xlim(-np.pi, np.pi)
    ax.set_xticks([-np.pi, -np.pi / 2, 0, np.pi / 2, np.pi])
    ax.set_xticklabels([r"$-\pi$", r"$-\pi/2$", "0", r"$\pi/2$", r"$\pi$"])
    ax.set_xlabel(r"$\varphi^{(1)}+\varphi^{(2)}-\varphi^{(3)}$")
    ax.set_ylabel("neurons")
    if label is not None:
        ax.legend()
    return ax


def _width_title(result) -> str:
    op = result.task_params.get("operation", "")
    return f"{result.construction} solution, {op} mod {result.P} ({result.seeds} seed(s))"


@_styled
def plot_accuracy_width(result, ax=None, trained=None):
    """Accuracy on all pairs vs width (Gromov Fig. 4b).

    Parameters
    ----------
    result : simulations.analytic.AnalyticResult
        The analytic solution: mean over seeds, band from the smallest to the largest seed.
    ax : matplotlib Axes, optional
    trained : dict, optional
        ``{label: (widths, accuracies)}`` of trained networks (accuracies of shape
        (n_width,) or (n_width, n_seeds): mean and min-max band), drawn on the same axes.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    w = np.asarray(result.widths)
    acc = np.asarray(result.accuracy, float)
    ax.plot(w, acc.mean(axis=1), "o-", color=OKABE_ITO["blue"], label=f"analytic ({result.construction})")
    if acc.shape[1] > 1:
        ax.fill_between(w, acc.min(axis=1), acc.max(axis=1), color=OKABE_ITO["blue"], alpha=0.2, lw=0)
    colors = [OKABE_ITO[c] for c in ("vermillion", "green", "orange", "purple")]
    for i, (label, (tw, ta)) in enumerate((trained or {}).items()):
        ta = np.asarray(ta, float).reshape(len(tw), -1)
        c = colors[i % len(colors)]
        ax.plot(tw, ta.mean(axis=1), "s--", color=c, label=label)
        if ta.shape[1] > 1:
            ax.fill_between(tw, ta.min(axis=1), ta.max(axis=1), color=c, alpha=0.2, lw=0)
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.axhline(1.0 / result.P, color="0.5", lw=0.8, ls="--", label="chance 1/P")
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("width $N$")
    ax.set_ylabel("accuracy (all pairs)")
    ax.set_title(_width_title(result))
    ax.legend(loc="lower right")
    return ax


@_styled
def plot_loss_width(result, ax=None):
    """MSE at the least-squares output scale vs width (mean over seeds, min-max band)."""
    ax = _axes(ax)
    w = np.asarray(result.widths)
    loss = np.asarray(result.loss, float)
    ax.plot(w, loss.mean(axis=1), "o-", color=OKABE_ITO["vermillion"])
    if loss.shape[1] > 1:
        ax.fill_between(w, loss.min(axis=1), loss.max(axis=1), color=OKABE_ITO["vermillion"], alpha=0.2, lw=0)
    ax.set_xlabel("width $N$")
    ax.set_ylabel("MSE at the best output scale")
    ax.set_title(_width_title(result))
    return ax


def width_figure(result, figsize=None):
    """Figure of :func:`plot_accuracy_width` (FIGURES["width"])."""
    fig, ax = new_figure("fourier", figsize or (6.4, 4.4))
    plot_accuracy_width(result, ax=ax)
    return fig


def loss_figure(result, figsize=None):
    """Figure of :func:`plot_loss_width` (FIGURES["loss"])."""
    fig, ax = new_figure("fourier", figsize or (6.4, 4.4))
    plot_loss_width(result, ax=ax)
    return fig


#: Figures of an analytic-solution file: name -> fn(result, figsize=None) -> Figure.
FIGURES = {"width": width_figure, "loss": loss_figure}
#: The figure drawn by default.
DEFAULT_FIGURE = "width"

__all__ = ["plot_preactivation", "plot_preactivation_spectrum", "preactivation_figure", "plot_phase_histogram",
           "plot_accuracy_width", "plot_loss_width", "width_figure", "loss_figure", "FIGURES", "DEFAULT_FIGURE"]
