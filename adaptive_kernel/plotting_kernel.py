r"""Figures of ``phasesim kernel`` results (:class:`simulations.kernel_regime.KernelResult`).

==========================  ==================================================================
function                    what it shows
==========================  ==================================================================
:func:`plot_accuracy`       test (solid) and training (dashed) accuracy vs training fraction,
                            one colour per P, mean and standard deviation over seeds; chance
                            level 1/P dotted
:func:`plot_loss`           test loss vs training fraction per P, with the zero predictor's
                            loss 1 - 1/P (Mohamadi et al.: a kernel method's error stays above
                            half of it below a constant fraction of the data)
:func:`plot_additivity`     non-additive fraction of the test predictions and of the target on
                            the same test pairs (log scale): the closed-form kernels predict an
                            additive u_q(n) + v_q(m) + w_q on unseen pairs, the target is not
:func:`plot_sectors`        kernel eigenvalues by Fourier sector (00, k0, kl) vs P, with the
                            target's Rayleigh quotient and the theory's NNGP eigenvalue of the
                            target, each relative to the kernel's kl eigenvalue
==========================  ==================================================================

The standalone functions take a result and an optional Matplotlib ``ax`` and return the
Axes; :data:`FIGURES` maps a figure name to ``fn(result, figsize=None) -> Figure`` and
:data:`DEFAULT_FIGURE` names the default. Agg canvas and the package's style
(:mod:`adaptive_kernel.plotting`); result classes never import this module.
"""
from __future__ import annotations

import warnings

import numpy as np

from .plotting import OKABE_ITO, _styled, new_figure

_COLORS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "skyblue", "black")]
FIGSIZE = (6.4, 4.4)


def _ax(ax, figsize=None):
    if ax is None:
        _, ax = new_figure("kernel", figsize or FIGSIZE)
    return ax


def _stats(result, name):
    a = np.asarray(result.data[name], float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=2)
        sd = np.nanstd(a, axis=2, ddof=1) if a.shape[2] > 1 else np.zeros(mean.shape)
    return mean, np.nan_to_num(sd)


def _title(result):
    p = result.params
    ridge = f", ridge {p['ridge']:g}" if p.get("ridge") else ", ridgeless"
    par = f" ({p['parametrisation']})" if p.get("kernel") != "nngp" else ""
    return f"{p['kernel']}{par} kernel regression, {p['operation']}{ridge}, {len(result.seeds)} seed(s)"


@_styled
def plot_accuracy(result, ax=None, figsize=None):
    """Test and training accuracy vs training fraction, one colour per P (mean +- sd over seeds)."""
    ax = _ax(ax, figsize)
    fr = np.asarray(result.train_fraction, float)
    test, test_sd = _stats(result, "test_accuracy")
    train, _ = _stats(result, "train_accuracy")
    for i, P in enumerate(result.P):
        c = _COLORS[i % len(_COLORS)]
        ax.errorbar(fr, test[i], yerr=test_sd[i], color=c, marker="o", capsize=2, label=f"P = {int(P)} test")
        ax.plot(fr, train[i], color=c, ls="--", lw=1.2, label=f"P = {int(P)} train")
        ax.axhline(1.0 / P, color=c, ls=":", lw=1.0)
    ax.set_xlabel(r"training fraction $\alpha$")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.03, 1.05)
    ax.set_title(_title(result))
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.4", ls=":", lw=1.0))
    labels.append("chance 1/P")
    ax.legend(handles, labels, loc="center right", ncol=1)
    return ax


@_styled
def plot_loss(result, ax=None, figsize=None):
    """Test loss vs training fraction per P, with the zero predictor's loss 1 - 1/P."""
    ax = _ax(ax, figsize)
    fr = np.asarray(result.train_fraction, float)
    loss, sd = _stats(result, "test_loss")
    for i, P in enumerate(result.P):
        c = _COLORS[i % len(_COLORS)]
        ax.errorbar(fr, loss[i], yerr=sd[i], color=c, marker="o", capsize=2, label=f"P = {int(P)}")
        ax.axhline(1.0 - 1.0 / P, color=c, ls=":", lw=1.0)
        ax.axhline(0.5 * (1.0 - 1.0 / P), color=c, ls="-.", lw=0.8)
    ax.set_xlabel(r"training fraction $\alpha$")
    ax.set_ylabel(r"test loss $\langle |f - y|^2\rangle$")
    ax.set_ylim(bottom=0)
    ax.set_title(_title(result))
    ax.legend(loc="lower left")
    ax.text(0.98, 0.04, "dotted: zero predictor 1 - 1/P; dash-dot: half of it", transform=ax.transAxes,
            ha="right", fontsize=8.5, color="0.35")
    return ax


@_styled
def plot_additivity(result, ax=None, figsize=None):
    """Non-additive fraction of the test predictions (solid) and of the target (dashed) vs fraction."""
    ax = _ax(ax, figsize)
    fr = np.asarray(result.train_fraction, float)
    pred, _ = _stats(result, "test_nonadditive")
    targ, _ = _stats(result, "target_nonadditive")
    floor = 1e-17
    for i, P in enumerate(result.P):
        c = _COLORS[i % len(_COLORS)]
        ax.plot(fr, np.maximum(pred[i], floor), color=c, marker="o", label=f"P = {int(P)} predictor")
        ax.plot(fr, targ[i], color=c, ls="--", marker="s", ms=3.5, label=f"P = {int(P)} target")
    ax.set_yscale("log")
    ax.set_xlabel(r"training fraction $\alpha$")
    ax.set_ylabel("non-additive fraction on test pairs")
    ax.set_title(_title(result))
    ax.legend(loc="center right")
    return ax


@_styled
def plot_sectors(result, ax=None, figsize=None):
    """Kernel eigenvalues by Fourier sector vs P, relative to the kl eigenvalue, with the
    target's Rayleigh quotient under the kernel and the theory's NNGP eigenvalue of the
    target relative to the NNGP's kl eigenvalue."""
    ax = _ax(ax, figsize)
    P = np.asarray(result.P, float)
    lam = np.asarray(result.per_P["sector_eigenvalues"], float)
    nngp = np.asarray(result.per_P["nngp_sector_eigenvalues"], float)
    kl = lam[:, 2]
    labels = {0: "(0,0)", 1: "(k,0), (0,k)", 2: "(k,l), k,l != 0"}
    for s in range(3):
        ax.plot(P, lam[:, s] / kl, color=_COLORS[s], marker="o", label=f"sector {labels[s]}")
    target, _ = _stats(result, "target_eigenvalue")
    ax.plot(P, np.nanmean(target, axis=1) / kl, color="k", ls="none", marker="x", ms=8,
            label="target, this kernel")
    ax.plot(P, np.asarray(result.per_P["target_nngp_eigenvalue"], float) / nngp[:, 2], color="0.4",
            ls="none", marker="+", ms=10, label="target, NNGP (theory)")
    ax.set_yscale("log")
    ax.set_xlabel(r"$P$")
    ax.set_ylabel(r"eigenvalue / $\lambda_{kl}$")
    ax.set_title(_title(result))
    ax.legend(loc="upper left")
    return ax


def _figure(fn):
    def make(result, figsize=None):
        fig, ax = new_figure("kernel", figsize or FIGSIZE)
        fn(result, ax=ax)
        return fig

    make.__doc__ = f"Figure of :func:`{fn.__name__}`."
    return make


#: Figure name -> ``fn(result, figsize=None) -> Figure``.
FIGURES = {"accuracy": _figure(plot_accuracy), "loss": _figure(plot_loss),
           "additivity": _figure(plot_additivity), "sectors": _figure(plot_sectors)}
DEFAULT_FIGURE = "accuracy"

__all__ = ["plot_accuracy", "plot_loss", "plot_additivity", "plot_sectors", "FIGURES", "DEFAULT_FIGURE"]
