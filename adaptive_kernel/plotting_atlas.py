r"""Figures of ``phasesim atlas`` results (:class:`simulations.atlas.AtlasResult`).

======================  ==================================================================
figure                  what it shows
======================  ==================================================================
``accuracy``            test accuracy vs training fraction alpha for every method, one
                        panel per P (mean and standard deviation over seeds); the
                        generalisation threshold dashed, chance 1/P dotted; the analytic
                        network (built without data) is the black reference line; the
                        Langevin networks also with their sample-averaged output (dotted)
                        and, as open markers, units whose sampler check failed
``alpha-c``             alpha_c vs P on log axes per method: bracketed values with their
                        brackets as error bars, censored ones as triangles (up: not reached
                        at the largest fraction; down: already at the smallest), and the
                        fits A P^(-kappa) with kappa in the legend
``time``                time to generalise vs alpha, one panel per method with a clock
                        (training steps, AGOP iterations): every unit as a point, its P
                        by colour, the median over the generalised seeds as a line,
                        censored units as open triangles at the budget
======================  ==================================================================

Each function takes a result and a figure size and returns a Figure (:data:`FIGURES`;
:data:`DEFAULT_FIGURE`); Agg canvas and the package's style. Result classes never import
this module.
"""
from __future__ import annotations

import math

import numpy as np

from .plotting import OKABE_ITO, _styled, new_figure

_COLORS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "skyblue", "yellow")]
_MARKERS = ["o", "s", "D", "^", "v", "P", "X"]


def _method_style(result):
    """{method: (colour, marker)}; the analytic network black."""
    out = {}
    i = 0
    for m in result.params["methods"]:
        if m == "analytic":
            out[m] = ("black", "none")
        else:
            out[m] = (_COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)])
            i += 1
    return out


def _suptitle(fig, result, what):
    p = result.params
    fig.suptitle(f"{what}: {p['task']} ({p['operation']}), {len(p['seeds'])} seed(s)", fontsize=11)


def _sampled_overlay(ax, result, method, P, color, marker):
    """For a sampled method (Langevin): the test accuracy of the sample-averaged output
    (dotted) and, as open markers, the units whose sampler check failed (left out of the
    line and of alpha_c, shown with their measured per-sample accuracy)."""
    u = result.units
    sel = (u["method"] == method) & (u["P"] == P)
    ok = np.asarray(u.get("sampling_ok", np.full(u["method"].size, np.nan)), float)[sel]
    if not sel.any() or not np.any(np.isfinite(ok)):
        return
    fr = u["train_fraction"][sel]
    mo = u["test_accuracy_mean_output"][sel]
    xs = np.unique(fr)
    ax.plot(xs, [np.nanmean(mo[fr == x]) if np.any(np.isfinite(mo[fr == x])) else np.nan for x in xs], color=color,
            ls=":", lw=1.3, label=f"{method} (averaged output)")
    bad = ok == 0.0
    if bad.any():
        ax.plot(fr[bad], u["test_accuracy"][sel][bad], ls="none", marker=marker if marker != "none" else "o",
                mfc="none", ms=6, color=color, label=f"{method}: sampler check failed")


@_styled
def accuracy_figure(result, figsize=None):
    """Test accuracy vs training fraction, every method, one panel per P."""
    Ps = list(result.params["P"])
    fig, axes = new_figure("atlas", figsize or (4.2 * len(Ps) + 0.6, 4.4), ncols=len(Ps))
    axes = np.atleast_1d(axes)
    style = _method_style(result)
    thr = result.params["threshold"]
    for ax, P in zip(axes, Ps):
        for m in result.params["methods"]:
            fr, mean, sd = result.mean_by_fraction(m, P)
            if not fr.size:
                continue
            c, mk = style[m]
            if m == "analytic":
                ax.plot(fr, mean, color=c, ls="--", lw=1.4, label=f"{m} (no training)")
            else:
                ax.errorbar(fr, mean, yerr=sd, color=c, marker=mk, ms=4.5, capsize=2, lw=1.3, label=m)
            _sampled_overlay(ax, result, m, P, c, mk)
        ax.axhline(thr, color="0.5", ls="--", lw=0.8)
        ax.axhline(1.0 / P, color="0.5", ls=":", lw=0.8)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlim(0, 1)
        ax.set_xlabel(r"training fraction $\alpha$")
        ax.set_title(f"P = {P}")
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(loc="center right", fontsize=8)
    _suptitle(fig, result, f"test accuracy (dashed: {thr:g}; dotted: chance 1/P)")
    return fig


@_styled
def alpha_c_figure(result, figsize=None):
    """alpha_c vs P on log axes, brackets as error bars, censored values as triangles, fits."""
    fig, ax = new_figure("atlas", figsize or (6.4, 4.6))
    style = _method_style(result)
    ac = result.alpha_c
    Pmin, Pmax = min(result.params["P"]), max(result.params["P"])
    offsets = np.linspace(-0.025, 0.025, max(1, len(result.params["methods"])))
    for j, m in enumerate(result.params["methods"]):
        c, mk = style[m]
        mk = "o" if mk == "none" else mk
        rows = np.flatnonzero(ac["method"] == m)
        if not rows.size:
            continue
        shift = math.exp(offsets[j])   # spread the methods a little along P
        P = ac["P"][rows].astype(float) * shift
        lo, hi, st = ac["alpha_lo"][rows], ac["alpha_hi"][rows], ac["status"][rows]
        b = st == "bracketed"
        k = np.flatnonzero(result.kappa["method"] == m)
        label = m
        if k.size and result.kappa["status"][k[0]] == "ok":
            label += rf" ($\kappa$ = {result.kappa['kappa'][k[0]]:.2f} $\pm$ {result.kappa['kappa_err'][k[0]]:.2f})"
        if b.any():
            mid = np.sqrt(lo[b] * hi[b])
            ax.errorbar(P[b], mid, yerr=[mid - lo[b], hi[b] - mid], color=c, marker=mk, ls="none", capsize=3,
                        label=label)
            label = None
        nr = st == "not-reached"
        if nr.any():
            ax.plot(P[nr], lo[nr], color=c, marker="^", ls="none", mfc="none", ms=8, label=label)
            label = None
        bg = st == "below-grid"
        if bg.any():
            ax.plot(P[bg], hi[bg], color=c, marker="v", ls="none", mfc="none", ms=8, label=label)
        if k.size and result.kappa["status"][k[0]] == "ok":
            x = np.geomspace(Pmin, Pmax, 50)
            ax.plot(x, np.exp(result.kappa["log_amplitude"][k[0]]) * x ** (-result.kappa["kappa"][k[0]]), color=c,
                    lw=1.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$P$")
    ax.set_ylabel(r"critical training fraction $\alpha_c$")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(r"$\alpha_c$ (test accuracy $\geq$ " + f"{result.params['threshold']:g}" +
                 r"); $\triangle$ not reached, $\nabla$ below the grid", fontsize=10)
    return fig


@_styled
def time_figure(result, figsize=None):
    """Time to generalise vs training fraction, one panel per method with a clock."""
    clocks = result.clocks
    clocked = [m for m in result.params["methods"] if not clocks.get(m, "none").startswith("none")]
    n = max(1, len(clocked))
    fig, axes = new_figure("atlas", figsize or (3.6 * n + 0.6, 4.2), ncols=n)
    axes = np.atleast_1d(axes)
    u = result.units
    if not clocked:
        axes[0].text(0.5, 0.5, "no method with a clock in this file", ha="center", va="center",
                     transform=axes[0].transAxes)
        return fig
    for ax, m in zip(axes, clocked):
        sel_m = u["method"] == m
        budget = np.nanmax(u["trace_clock"][sel_m]) if sel_m.any() else 1.0
        any_pos = False
        for i, P in enumerate(result.params["P"]):
            c = _COLORS[i % len(_COLORS)]
            sel = sel_m & (u["P"] == P)
            f, g = u["train_fraction"][sel], u["grok_time"][sel]
            ok = g >= 0
            # the clock starts at 0 (RFM: the plain kernel machine); plotted at 0.5 on the log axis
            ax.plot(f[ok], np.maximum(g[ok], 0.5), ls="none", marker="o", ms=4, color=c, alpha=0.7)
            ax.plot(f[~ok], np.full((~ok).sum(), budget), ls="none", marker="^", mfc="none", ms=6, color=c)
            fr = np.unique(f[ok])
            med = [np.median(np.maximum(g[ok & (f == x)], 0.5)) for x in fr]
            ax.plot(fr, med, color=c, lw=1.2, label=f"P = {P}")
            any_pos = any_pos or ok.any()
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel(r"training fraction $\alpha$")
        ax.set_ylabel(f"time to generalise ({clocks[m]})")
        ax.set_title(m)
        if any_pos:
            ax.legend(loc="upper right", fontsize=8)
    _suptitle(fig, result, "time to test accuracy >= " + f"{result.params['threshold']:g}"
              + " (open triangles: not reached within the budget)")
    return fig


#: Figure name -> ``fn(result, figsize=None) -> Figure``.
FIGURES = {"accuracy": accuracy_figure, "alpha-c": alpha_c_figure, "time": time_figure}
DEFAULT_FIGURE = "accuracy"

__all__ = ["accuracy_figure", "alpha_c_figure", "time_figure", "FIGURES", "DEFAULT_FIGURE"]
