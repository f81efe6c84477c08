r"""Figures of recursive-feature-machine results (``phasesim rfm``, kind ``rfm``).

The result object is :class:`simulations.rfm.RFMResult` (read with
:func:`adaptive_kernel.load`); it never imports this module. Figures are drawn with the
object-oriented API on an Agg canvas: nothing is shown and the pyplot state is left alone.

==========================  ==================================================================
function                    what it shows
==========================  ==================================================================
:func:`plot_accuracy`       train and test accuracy vs RFM iteration (their Fig. 2A, top)
:func:`plot_loss`           test loss over all outputs and of the correct class (Fig. 2A)
:func:`plot_deviation`      circulant deviation of the off-diagonal block of M (Fig. 2B, top)
:func:`plot_alignment`      AGOP alignment with the final M (Fig. 2B, bottom)
:func:`plot_feature_matrix` one feature matrix, diagonal removed, reordered by the discrete
                            logarithm for mul/div (Fig. 3)
:func:`figure_iterations`   the four curves in a 2 x 2 figure (``FIGURES["iterations"]``)
:func:`figure_features`     the stored feature matrices side by side (``FIGURES["features"]``)
==========================  ==================================================================

Standalone functions take and return Axes; the ``figure_*`` functions take the result and a
figure size and return the Figure. Curves are drawn for every (training fraction, seed) of
the result, coloured by the fraction.
"""
from __future__ import annotations

import numpy as np


def _new_axes(ax, figsize=(4.0, 3.0)):
    if ax is not None:
        return ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def _series(result, name):
    """Yield (label, colour, values over iterations) for every (fraction, seed)."""
    from matplotlib import colormaps

    vals = result.metrics[name]
    F, S = vals.shape[:2]
    cmap = colormaps["viridis"]
    for i in range(F):
        colour = cmap(0.1 + 0.8 * i / max(1, F - 1)) if F > 1 else "C0"
        for j in range(S):
            label = f"fraction {result.train_fraction[i]:g}" if j == 0 else None
            yield label, colour, vals[i, j]


def _finish(ax, result, ylabel, legend=True):
    ax.set_xlabel("RFM iteration $t$")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and len(result.train_fraction) > 1:
        ax.legend(fontsize="small", frameon=False)
    return ax


def plot_accuracy(result, ax=None, train: bool = True):
    """Test (solid) and train (dashed) accuracy of the predictor f_t vs iteration t."""
    ax = _new_axes(ax)
    t = result.iteration
    for label, colour, v in _series(result, "test_accuracy"):
        ax.plot(t, v, color=colour, label=label)
    if train:
        for _, colour, v in _series(result, "train_accuracy"):
            ax.plot(t, v, color=colour, ls="--", lw=1)
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("accuracy (test solid, train dashed)", fontsize="small")
    return _finish(ax, result, "accuracy")


def plot_loss(result, ax=None, correct_class: bool = True):
    """Test mean squared error over all outputs (solid) and of the correct-class output
    (dotted), log scale."""
    ax = _new_axes(ax)
    t = result.iteration
    for label, colour, v in _series(result, "test_loss"):
        ax.plot(t, v, color=colour, label=label)
    if correct_class:
        for _, colour, v in _series(result, "test_correct_loss"):
            ax.plot(t, v, color=colour, ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_title("test MSE (all outputs solid, correct class dotted)", fontsize="small")
    return _finish(ax, result, "test loss")


def plot_deviation(result, ax=None, both: bool = False):
    """Circulant deviation of the off-diagonal block of M_{t+1} in the operation's
    convention (``deviation``); with ``both`` the other shift direction dashed."""
    ax = _new_axes(ax)
    t = result.iteration
    for label, colour, v in _series(result, "deviation"):
        ax.plot(t, v, color=colour, label=label)
    if both:
        other = "hankel_deviation" if result.deviation_direction == "left" else "circulant_deviation"
        for _, colour, v in _series(result, other):
            ax.plot(t, v, color=colour, ls="--", lw=1)
    what = "circulant" if result.deviation_direction == "left" else "Hankel"
    reord = ", discrete-log order" if result.reorder_permutation is not None else ""
    ax.set_title(f"off-diagonal block of $M_{{t+1}}${reord}", fontsize="small")
    return _finish(ax, result, f"{what} deviation")


def plot_alignment(result, ax=None):
    """AGOP alignment: cosine similarity of M_{t+1} with the final M_T."""
    ax = _new_axes(ax)
    t = result.iteration
    for label, colour, v in _series(result, "alignment"):
        ax.plot(t, v, color=colour, label=label)
    ax.set_title(r"AGOP alignment $\rho(M_{t+1}, M_T)$", fontsize="small")
    return _finish(ax, result, "alignment")


def plot_feature_matrix(M, ax=None, permutation=None, remove_diagonal: bool = True, title=None,
                        colorbar: bool = False):
    """One 2P x 2P feature matrix as an image (diagonal set to 0 by default, as their Fig.
    3A), rows and columns of both token blocks listed in ``permutation`` (the discrete-log
    order of a mul/div result, ``result.reorder_permutation``) when given."""
    ax = _new_axes(ax, (3.2, 3.0))
    A = np.array(M, float, copy=True)
    if permutation is not None:
        P = A.shape[0] // 2
        q = np.concatenate([np.asarray(permutation), P + np.asarray(permutation)])
        A = A[np.ix_(q, q)]
    if remove_diagonal:
        np.fill_diagonal(A, 0.0)
    lim = float(np.nanmax(np.abs(A))) or 1.0
    im = ax.imshow(A, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    P = A.shape[0] // 2
    for x in (P - 0.5,):
        ax.axhline(x, color="k", lw=0.5)
        ax.axvline(x, color="k", lw=0.5)
    ax.set_xticks([0, P, 2 * P - 1])
    ax.set_yticks([0, P, 2 * P - 1])
    if title:
        ax.set_title(title, fontsize="medium")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return ax


def figure_iterations(result, figsize=None):
    """Accuracy, loss, circulant deviation and alignment vs iteration (their Fig. 2) in a
    2 x 2 Figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize or (8.0, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True)
    plot_accuracy(result, axes[0, 0])
    plot_loss(result, axes[0, 1])
    plot_deviation(result, axes[1, 0])
    plot_alignment(result, axes[1, 1])
    for ax in axes[0]:
        ax.set_xlabel("")
    fig.suptitle(f"RFM, {result.config.get('kernel', '')} kernel, {result.operation} mod {result.P}")
    return fig


def figure_features(result, figsize=None, fraction_index: int = 0, seed_index: int = 0, max_panels: int = 6,
                    reorder: bool = True):
    """The stored feature matrices M_t of one (fraction, seed) side by side (their Fig. 3;
    reordered by the discrete logarithm for mul/div unless ``reorder`` is False); at most
    ``max_panels``, spread over the stored iterations and always including the last."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    its = result.feature_iterations
    pick = np.unique(np.round(np.linspace(0, len(its) - 1, min(max_panels, len(its)))).astype(int))
    n = len(pick)
    fig = Figure(figsize=figsize or (2.6 * n, 2.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, n))
    perm = result.reorder_permutation if reorder else None
    for ax, k in zip(axes, pick):
        plot_feature_matrix(result.features[fraction_index, seed_index, k], ax, perm,
                            title=f"$M_{{{int(its[k])}}}$")
    label = " (discrete-log order)" if perm is not None else ""
    fig.suptitle(f"feature matrices, {result.operation} mod {result.P}, fraction "
                 f"{result.train_fraction[fraction_index]:g}{label}")
    return fig


#: figure name -> function(result, figsize=None) -> Figure
FIGURES = {"iterations": figure_iterations, "features": figure_features}
#: the figure drawn when none is named
DEFAULT_FIGURE = "iterations"

__all__ = ["plot_accuracy", "plot_loss", "plot_deviation", "plot_alignment", "plot_feature_matrix",
           "figure_iterations", "figure_features", "FIGURES", "DEFAULT_FIGURE"]
