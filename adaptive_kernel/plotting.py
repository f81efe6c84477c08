r"""Figures of scan results: action landscapes, order parameters, phase diagrams, Langevin checks.

Every function takes a result object and an optional Matplotlib ``ax`` and returns the
Axes it drew on (``plot_langevin`` returns two). With ``ax=None`` a new figure is made
with the object-oriented API on an Agg canvas: nothing is ever shown, the global pyplot
state and backend are left alone, and the figure is ``ax.figure`` (in a notebook, display
it with ``ax.figure`` or pass your own ``ax`` from ``plt.subplots``).

========================  ====================================================================
function                  what it shows
========================  ====================================================================
:func:`plot_landscape`    normalised action of one neuron vs its order parameter
                          (modadd: :math:`\mathcal S_k(\Phi=\Psi)/P` vs :math:`\Phi=|W_k|^2`;
                          cubic: :math:`\hat S(q)` vs :math:`q=\mathbf w\cdot\mathbf w^*`) for
                          several :math:`\sigma^2` (colour bar), minima marked, inset zoomed on
                          the degenerate minima
:func:`plot_order`        order parameters vs :math:`\sigma^2` with the GFL / GMFL-I / GMFL-II
                          regions shaded and the located boundaries drawn; both continuation
                          sweeps when they differ
:func:`plot_phase`        2-D phase diagram (:math:`\sigma^2` x a second parameter) of a
                          :class:`~adaptive_kernel.phase_diagram.PhaseDiagram`
:func:`plot_langevin`     simulated :math:`-\log p` of the order parameter with error bars over the
                          theory curve, and simulated order parameters vs theory
                          (:class:`simulations.langevin_io.LangevinData`: the ``langevin/``
                          group written by ``phasesim langevin``, layout in
                          :mod:`simulations.langevin`)
========================  ====================================================================

Files are opened with :func:`adaptive_kernel.load` (:mod:`adaptive_kernel.kinds`;
:func:`load_any` is the same function), which returns the object of the file's kind;
:func:`plot` dispatches on the figure ``kind`` and :func:`save_figure` writes the figure file
atomically (what ``phasesim plot`` calls). This module imports the result classes; they
never import it: in a notebook, ``from adaptive_kernel import load, plotting`` and
``plotting.plot_order(load(path))``.

Nothing here depends on which theory a file holds: axis labels, the series drawn, titles and
the large parameter of the action come from the theory's presentation block (the class
attributes under ``# -- plot labels and per-theory presentation --`` of
:class:`adaptive_kernel.teachers.base.Teacher`: ``landscape_labels``, ``order_series``,
``order_ylabel``, ``family_quantity``, ``parameter_symbols``, ``langevin_order_label``,
``langevin_variant_label``, ``langevin_series``, ``langevin_ylabel``,
``langevin_sigma2_note``, ``plot_title``, ``large_parameter``), found by the file's ``teacher`` attribute through
:func:`adaptive_kernel.registry.get_theory` (:func:`theory_of`). A name that is not
registered draws with the base class's generic labels.

Names read from a Langevin file (the contract with :mod:`simulations.langevin`): root
attribute ``teacher``; ``langevin/sigma2``; measured ``langevin/<name>`` + ``<name>_err``
and theory ``langevin/theory_<column>`` as named by the theory's ``langevin_series``
(e.g. cubic ``b``, ``c`` and ``theory_b``, ``theory_c``; modadd ``residual``,
``residual_gpr`` and ``theory_residual_derived``, ``theory_residual_paper``); per
sigma2 index i: ``langevin/<i>/hist_edges``, ``hist_counts`` (rows = independent subsets;
``hist_counts_pooled`` when present), ``theory/bin_prob`` and/or ``theory/<variant>/bin_prob``
per variant of the theory (e.g. modadd ``derived``, ``paper``; legend from the theory's
``langevin_variant_label``). Missing measured or theory columns are skipped;
missing histogram datasets are a :class:`~adaptive_kernel.errors.FileFormatError`.

Style: Okabe-Ito colours (colour-blind safe) for lines and phase regions, viridis for the
:math:`\sigma^2` colour scale, constrained layout (no overlapping labels), figure sizes in
:data:`FIGSIZE` at :data:`DPI` dots per inch, so a PNG has a predictable pixel size.
"""
from __future__ import annotations

import functools
import math
import os
import warnings

import numpy as np
from cycler import cycler

from .errors import FileFormatError, ParameterError, PhasesimError
from .kinds import load
from .registry import get_theory
from .results import COMMON_DATASETS
from .storage import refuse_existing, write_bytes
from .teachers.base import Teacher

#: Opens any phasesim file; the same function as :func:`adaptive_kernel.load`.
load_any = load

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "skyblue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
#: Colours of the phases (codes of :data:`adaptive_kernel.teachers.base.PHASE_NAMES`).
PHASE_COLORS = {0: OKABE_ITO["skyblue"], 1: OKABE_ITO["orange"], 2: OKABE_ITO["green"],
                3: OKABE_ITO["purple"], -1: "#9A9A9A"}
PHASE_LABELS = {0: "GFL", 1: "GMFL-I", 2: "GMFL-II", 3: "crossover", -1: "not converged"}
#: Default figure sizes in inches (width, height) per kind.
FIGSIZE = {"landscape": (6.4, 4.4), "order": (6.4, 4.6), "phase": (6.4, 4.6), "langevin": (11.0, 4.4),
           "free-energy": (6.4, 4.8)}
#: Default resolution of saved raster figures.
DPI = 200
#: Figure file types :func:`save_figure` writes.
FORMATS = (".png", ".pdf", ".svg")
KINDS = ("landscape", "order", "phase", "langevin", "free-energy")
#: Restricted-basin branches of a scan (``result.branches``) and how they are drawn.
RESTRICTED_BRANCHES = (("origin", OKABE_ITO["blue"], "origin-basin branch (metastable continuation of GFL)"),
                       ("droplet", OKABE_ITO["vermillion"], "droplet-basin branch"))
#: Spinodals and the free-energy crossing stored by the solver (``result.transitions``).
SPINODALS = (("sigma2_spinodal_origin", "origin"), ("sigma2_spinodal_droplet", "droplet"))

STYLE = {
    "font.size": 10.5,
    "axes.labelsize": 12,
    "axes.titlesize": 11.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.8",
    "lines.linewidth": 1.7,
    "lines.markersize": 5,
    "axes.linewidth": 0.9,
    "axes.prop_cycle": cycler(color=[OKABE_ITO[c] for c in (
        "blue", "vermillion", "green", "orange", "purple", "skyblue", "black")]),
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "mathtext.fontset": "dejavusans",
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
}

# ---------------------------------------------------------------------------------------
# labels: every theory-specific label, series and title comes from the theory's
# presentation block (``# -- plot labels and per-theory presentation --`` of
# adaptive_kernel.teachers.base.Teacher and its subclasses), found by the file's teacher name
def theory_of(obj_or_name):
    """The presentation of a result's theory: the theory registered under its ``teacher``
    name (:func:`adaptive_kernel.registry.get_theory`), or, for a name that is not
    registered (an old or foreign file), the base class
    :class:`~adaptive_kernel.teachers.base.Teacher`, whose defaults are generic labels."""
    name = getattr(obj_or_name, "teacher", obj_or_name)
    try:
        return get_theory(name)
    except ParameterError:
        return Teacher


#: Symbols of the parameters every theory has; a theory adds its own
#: (``parameter_symbols``), see :func:`parameter_symbol`.
_SECOND_SYMBOLS = {"sigma_a2": r"$\sigma_a^2$", "N": r"$N$"}
SIGMA2 = r"$\sigma^2$"


def parameter_symbol(theory, name: str, default=None):
    """LaTeX symbol of the parameter ``name`` of ``theory`` (``default`` if it has none)."""
    table = {**_SECOND_SYMBOLS, **dict(getattr(theory, "parameter_symbols", {}) or {})}
    return table.get(name, name if default is None else default)


def _styled(fn):
    """Run a plotting function inside the package's rc style."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib as mpl

        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(kind: str = "landscape", figsize=None, ncols: int = 1):
    """A figure on an Agg canvas (never shown) with constrained layout; returns (fig, axes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import matplotlib as mpl

    with mpl.rc_context(STYLE):
        fig = Figure(figsize=figsize or FIGSIZE.get(kind, (6.4, 4.4)), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, ncols, squeeze=True)
    return fig, axes


def _axes(ax, kind, figsize=None):
    if ax is None:
        _, ax = new_figure(kind, figsize)
    return ax


# ---------------------------------------------------------------------------------------
# helpers
def _local_minima(x, y):
    """Local minima of a sampled curve as (index, x, y), refined on a cubic spline
    through the samples (exact for the modadd landscape, a cubic polynomial)."""
    from scipy.interpolate import CubicSpline
    from scipy.optimize import minimize_scalar

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    out = []
    n = len(y)
    if n < 3 or not np.all(np.isfinite(y)):
        return out
    spline = None
    for i in range(n):
        left = y[i - 1] if i > 0 else math.inf
        right = y[i + 1] if i < n - 1 else math.inf
        if y[i] < left and y[i] <= right:
            if 0 < i < n - 1:
                if spline is None:
                    spline = CubicSpline(x, y)
                r = minimize_scalar(spline, bounds=(x[i - 1], x[i + 1]), method="bounded",
                                    options={"xatol": 1e-10 * max(1.0, abs(x[i]))})
                if r.success and float(r.fun) <= y[i]:
                    out.append((i, float(r.x), float(r.fun)))
                    continue
            out.append((i, float(x[i]), float(y[i])))
    return out


def _smooth(x, y, n=1200, lo=None, hi=None):
    """The curve on a fine grid (cubic spline through the samples) for zoomed views."""
    from scipy.interpolate import CubicSpline

    x = np.asarray(x, float)
    lo = x[0] if lo is None else lo
    hi = x[-1] if hi is None else hi
    xf = np.linspace(lo, hi, n)
    return xf, CubicSpline(x, np.asarray(y, float))(xf)


def _local_maxima(y):
    y = np.asarray(y, float)
    return [i for i in range(1, len(y) - 1) if y[i] > y[i - 1] and y[i] >= y[i + 1]]


def _pick_rows(sigma2, ok, n_curves, which=None, rows_data=None):
    """Row indices of the curves to draw, sorted by decreasing sigma2.

    Explicit ``which`` values pick the nearest converged points. Otherwise the rows are
    spread evenly in a blend of sigma2 distance and landscape change (``rows_data``: one
    curve per row), so that a region where the landscape moves quickly (the approach to a
    transition) gets as many curves as a region where it barely changes.
    """
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return idx
    if which is not None:
        which = np.atleast_1d(np.asarray(which, float))
        rows = sorted({int(idx[np.argmin(np.abs(sigma2[idx] - s))]) for s in which})
        return np.array(sorted(rows, key=lambda i: -sigma2[i]), dtype=int)
    order = idx[np.argsort(-sigma2[idx])]
    k = min(n_curves, len(order))
    if k <= 1:
        return order[:k]
    ds = np.abs(np.diff(sigma2[order]))
    t = np.concatenate([[0.0], np.cumsum(ds)]) / max(ds.sum(), 1e-300)
    if rows_data is not None:
        A = np.asarray(rows_data, float)[order]
        cap = np.nanmax([max([A[i, j] for j in _local_maxima(A[i])], default=-np.inf) for i in range(len(A))])
        if not np.isfinite(cap):
            cap = float(np.nanmedian(A))
        inside = (A[:-1] <= cap) & (A[1:] <= cap)
        dA = np.array([np.mean(np.abs(A[i + 1] - A[i])[inside[i]]) if inside[i].any() else 0.0
                       for i in range(len(A) - 1)])
        if dA.sum() > 0:
            t = 0.5 * t + 0.5 * np.concatenate([[0.0], np.cumsum(dA)]) / dA.sum()
    picks = sorted({int(np.argmin(np.abs(t - q))) for q in np.linspace(0, 1, k)})
    return order[picks]


def _free_spot(ax, curves, size, candidates=None, with_count=False, margins=(0.02, 0.02, 0.02, 0.02)):
    """Axes-fraction (x0, y0) of the candidate box of ``size`` that covers the fewest drawn
    cells: the curves (list of (x, y) in data coordinates) are rasterised on a 100 x 100
    occupancy grid of the axes, so overlapping curves count once. With ``with_count``,
    returns ((x0, y0), fraction of the box's cells occupied)."""
    w, h = size
    xlo, xhi = ax.get_xlim()
    ylo, yhi = ax.get_ylim()
    n = 100
    occ = np.zeros((n, n), bool)
    for x, y in curves:
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        if ax.get_xscale() == "log":
            fx = (np.log(x) - math.log(xlo)) / (math.log(xhi) - math.log(xlo))
        else:
            fx = (x - xlo) / (xhi - xlo)
        fy = (y - ylo) / (yhi - ylo)
        if len(fx) > 1:  # densify so that steep segments mark every cell they cross
            seg = np.hypot(np.diff(fx), np.diff(fy))
            k = np.clip(np.nan_to_num(seg * 2 * n, nan=1.0), 1, 400).astype(int)
            fx = np.concatenate([np.linspace(fx[i], fx[i + 1], k[i], endpoint=False) for i in range(len(k))])
            fy = np.concatenate([np.linspace(fy[i], fy[i + 1], k[i], endpoint=False) for i in range(len(k))])
        ok = np.isfinite(fx) & np.isfinite(fy) & (fx >= 0) & (fx < 1) & (fy >= 0) & (fy < 1)
        occ[(fy[ok] * n).astype(int), (fx[ok] * n).astype(int)] = True
    # dilate by one cell: a line has a width
    pad = np.pad(occ, 1)
    occ = occ | pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
    if candidates is None:
        # leave room for an inset's own tick labels (left and below) and title (above)
        xs = np.linspace(0.15, 0.97 - w, 5)
        ys = np.linspace(0.12, 0.91 - h, 4)[::-1]
        candidates = [(float(x), float(y)) for y in ys for x in xs]
    best, best_f = candidates[0], math.inf
    for (x0, y0) in candidates:
        i0, i1 = int(max(y0 - margins[1], 0) * n), int(min(y0 + h + margins[3], 1) * n)
        j0, j1 = int(max(x0 - margins[0], 0) * n), int(min(x0 + w + margins[2], 1) * n)
        frac = occ[i0:i1, j0:j1].mean()
        if frac < best_f - 1e-12:
            best, best_f = (x0, y0), frac
    return (best, best_f) if with_count else best


def _phase_segments(sigma2, phase, transitions=None):
    """Contiguous phase intervals [(lo, hi, code)] along sigma2, edges at the located
    boundaries where they match, else half way between grid points."""
    order = np.argsort(sigma2)
    s = np.asarray(sigma2, float)[order]
    ph = np.asarray(phase, int)[order]
    if len(s) == 0:
        return []
    edges_known = {}
    if transitions:
        for name, (lo_code, hi_code) in (("sigma2_gmfl1", (1, 0)), ("sigma2_gmfl2", (2, 1))):
            val = transitions.get(name)
            if val is not None and np.isfinite(val[0]):
                edges_known[(lo_code, hi_code)] = float(val[0])
    segs = []
    start = 0
    half = 0.5 * (s[1] - s[0]) if len(s) > 1 else 0.005
    for i in range(1, len(s) + 1):
        if i == len(s) or ph[i] != ph[start]:
            lo = s[start] - (0.5 * (s[start] - s[start - 1]) if start > 0 else half)
            if i < len(s):
                hi = edges_known.get((ph[start], ph[i]), 0.5 * (s[i - 1] + s[i]))
                if not (s[i - 1] <= hi <= s[i]):
                    hi = 0.5 * (s[i - 1] + s[i])
            else:
                hi = s[-1] + (0.5 * (s[-1] - s[-2]) if len(s) > 1 else half)
            segs.append([lo, hi, int(ph[start])])
            start = i
    for a, b in zip(segs[:-1], segs[1:]):
        b[0] = a[1]
    return [tuple(x) for x in segs]


def _shade_phases(ax, segs, label_regions=True, y_label=0.975):
    """Shade the phase intervals and write their names in the top band of the axes."""
    import matplotlib.transforms as mtransforms

    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    xlo, xhi = ax.get_xlim()
    renderer = _renderer(ax.figure)
    ax_w = ax.get_window_extent(renderer).width
    for lo, hi, code in segs:
        ax.axvspan(lo, hi, color=PHASE_COLORS[code], alpha=0.16 if code >= 0 else 0.3, lw=0, zorder=0)
        if not label_regions:
            continue
        a, b = max(lo, min(xlo, xhi)), min(hi, max(xlo, xhi))
        if b <= a:
            continue
        t = ax.text(0.5 * (a + b), y_label, PHASE_LABELS[code], transform=trans, ha="center", va="top",
                    fontsize=9.5, color="0.15", zorder=5)
        width_px = t.get_window_extent(renderer).width
        if width_px > 0.95 * abs(b - a) / abs(xhi - xlo) * ax_w:
            t.remove()


def _renderer(fig):
    """A renderer for measuring text, whatever canvas the figure has."""
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    return fig._get_renderer()


# ---------------------------------------------------------------------------------------
# landscape
#: ``plot_landscape(sigma2=...)`` accepts values up to this fraction of the scan's range
#: outside it (each value is drawn as the nearest scan point).
LANDSCAPE_SIGMA2_MARGIN = 0.1


def check_landscape_sigma2(values, scan_sigma2):
    """Refuse noise values that cannot be drawn from a scan over ``scan_sigma2``: each must
    be finite, > 0 and within :data:`LANDSCAPE_SIGMA2_MARGIN` of the scan's range (the
    nearest scan point is drawn). Raises :class:`~adaptive_kernel.errors.ParameterError`
    naming the range and the value."""
    s = np.asarray(scan_sigma2, float)
    s = s[np.isfinite(s)]
    lo, hi = (float(s.min()), float(s.max())) if s.size else (math.nan, math.nan)
    pad = LANDSCAPE_SIGMA2_MARGIN * ((hi - lo) if hi > lo else abs(hi))
    a, b = max(lo - pad, 0.0), hi + pad
    vals = np.atleast_1d(np.asarray(values, dtype=object))
    for v in vals:
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = math.nan
        if not (math.isfinite(x) and x > 0 and a <= x <= b):
            raise ParameterError(
                f"--sigma2 values must be finite, > 0 and within the scan's range [{lo:.6g}, {hi:.6g}] "
                f"(up to {LANDSCAPE_SIGMA2_MARGIN:.0%} of it outside: [{a:.6g}, {b:.6g}]); got {v!r}")


@_styled
def plot_landscape(result, ax=None, sigma2=None, n_curves: int = 9, inset: bool = True,
                   mark_minima: bool = True, cmap: str = "viridis", colorbar: bool = True,
                   figsize=None):
    r"""Normalised single-neuron action along the order parameter for several sigma2.

    Parameters
    ----------
    result : ScanResult
    ax : matplotlib Axes, optional
    sigma2 : sequence of float, optional
        Noise values to draw (the nearest scan points); default ``n_curves`` evenly spread
        over the converged points.
    n_curves : int
    inset : bool
        Add an inset zoomed on the minima that are (near) degenerate with the origin
        minimum (the mixed phase); skipped when there are none.
    mark_minima : bool
        Mark every local minimum (filled: the curve's global minimum; open: a local one).
    cmap : str
        Colour map of the sigma2 colour bar.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib as mpl

    ax = _axes(ax, "landscape", figsize)
    grid = np.asarray(result.landscape_grid, float)
    action = np.asarray(result.landscape_action, float)
    s2 = np.asarray(result.sigma2, float)
    ok = np.all(np.isfinite(action), axis=1) if action.ndim == 2 else np.zeros(len(s2), bool)
    if sigma2 is not None:
        check_landscape_sigma2(sigma2, s2[ok] if ok.any() else s2)
    rows = _pick_rows(s2, ok, n_curves, sigma2, action)
    if len(rows) == 0:
        raise PhasesimError("the landscape holds no converged point to draw")
    xlabel, ylabel = theory_of(result).landscape_labels
    lo_s, hi_s = float(np.min(s2[ok])), float(np.max(s2[ok]))
    norm = mpl.colors.Normalize(vmin=lo_s, vmax=hi_s if hi_s > lo_s else lo_s + 1e-12)
    cm = mpl.colormaps[cmap]
    if cmap == "viridis":  # drop the palest yellow, hard to see on white
        cm = mpl.colors.ListedColormap(cm(np.linspace(0.0, 0.88, 256)), name="viridis_trunc")
    origin = int(np.argmin(np.abs(grid)))
    minima, maxima_vals, curves = {}, [], []
    for i in rows:
        y = action[i]
        ax.plot(grid, y, color=cm(norm(s2[i])), lw=1.6, zorder=3)
        curves.append((grid, y))
        minima[i] = _local_minima(grid, y)
        maxima_vals += [y[j] for j in _local_maxima(y)]
    # y range: all minima and barriers, with head room; the steep walls leave the frame
    mins = [m[2] for i in rows for m in minima[i]]
    feats = mins + maxima_vals + [float(action[rows[0], origin])]
    ymin, ymax = min(feats), max(feats)
    if not maxima_vals:
        # no barrier on any curve: show the part that rises to the first curve's mid-grid value
        ymax = max(ymax, float(np.nanmedian(action[rows[0]])))
    span = max(ymax - ymin, 1e-12)
    ax.set_ylim(ymin - 0.08 * span, ymax + 0.30 * span)
    ax.set_xlim(grid[0] - 0.015 * (grid[-1] - grid[0]), grid[-1])
    ax.axhline(float(action[rows[0], origin]), color="0.45", lw=0.8, ls=":", zorder=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if mark_minima:
        for i in rows:
            if not minima[i]:
                continue
            g = min(m[2] for m in minima[i])
            for m in minima[i]:
                filled = m[2] <= g + 1e-6 * span  # degenerate global minima are all filled
                ax.plot([m[1]], [m[2]], ls="none", marker="o", ms=5.5, mew=1.1, zorder=4,
                        mfc=cm(norm(s2[i])) if filled else "white", mec="k")
    # near-degenerate side minima -> inset
    deg = []
    if inset:
        # near-degenerate: within 0.06 of the plotted range, or within 15/L of the origin
        # minimum where L is the large parameter in front of the action (d or P), i.e. a
        # basin weight ratio of at least ~e^-15 before entropy factors
        big = _large_parameter(result)
        tol = max(0.06 * span, 15.0 / big if big else 0.0)
        for i in rows:
            o = [m for m in minima[i] if abs(m[1] - grid[origin]) <= 2 * abs(grid[1] - grid[0])]
            side = [m for m in minima[i] if m not in o]
            if o and side:
                ref = o[0][2]
                for m in side:
                    if abs(m[2] - ref) <= tol and m[1] > grid[origin]:
                        deg.append((i, m, ref))
    if colorbar:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
        cb = ax.figure.colorbar(sm, ax=ax, pad=0.02, fraction=0.05, aspect=30)
        cb.set_label(SIGMA2 + "   (lines: phase boundaries)", fontsize=10)
        for name, lab in (("sigma2_gmfl1", "GMFL-I"), ("sigma2_gmfl2", "GMFL-II")):
            s = result.transitions.get(name, (math.nan,))[0]
            if np.isfinite(s) and lo_s <= s <= hi_s:
                cb.ax.axhline(s, color="w", lw=2.4)
                cb.ax.axhline(s, color="k", lw=1.0)
                cb.ax.text(-0.25, s, rf"$\sigma^2_{{\rm {lab[5:]}}}$", transform=cb.ax.get_yaxis_transform(), ha="right",
                           va="center", fontsize=8.5)
        cb.ax.tick_params(labelsize=9)
    ax.set_title(_landscape_title(result), fontsize=10.5)
    if deg:
        _landscape_inset(ax, grid, action, deg, curves, {i: cm(norm(s2[i])) for i in rows})
    # marker legend
    if mark_minima:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="none", marker="o", mfc="0.5", mec="k", label="global minimum"),
                   Line2D([], [], ls="none", marker="o", mfc="white", mec="k", label="local minimum")]
        # below the axes: inside, every corner of a landscape is crossed by some wall
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
                  frameon=False, borderaxespad=0.0, fontsize=8.5)
    return ax


def _large_parameter(result):
    """The large parameter in front of the normalised action (the theory's
    ``large_parameter``, e.g. P or sqrt(beta) d); 0.0 when the parameters do not give it."""
    try:
        return float(theory_of(result).large_parameter(result.params))
    except (KeyError, TypeError, ValueError):
        return 0.0


def _landscape_title(result, full=True):
    """The theory's ``plot_title`` of the result's parameters, or the teacher name."""
    return theory_of(result).plot_title(dict(result.params), _num, full) or str(result.teacher)


def _num(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e4):
        e = int(math.floor(math.log10(abs(v))))
        mant = v / 10 ** e
        return (rf"{mant:.3g}\times10^{{{e}}}" if abs(mant - 1) > 1e-9 else rf"10^{{{e}}}")
    return f"{v:.4g}"


def _landscape_inset(ax, grid, action, deg, curves, colors):
    """Inset on the near-degenerate side minima, with the origin level as a dotted line."""
    ref = float(np.median([d[2] for d in deg]))
    vals = [d[1][2] for d in deg] + [ref]
    lo, hi = min(vals), max(vals)
    yspan = max(hi - lo, 1e-3 * max(1.0, abs(ref)))
    y0, y1 = lo - 0.6 * yspan, hi + 0.9 * yspan
    main0, main1 = ax.get_ylim()
    if (y1 - y0) > 0.35 * (main1 - main0):
        return None  # the minima are already resolved in the main axes: nothing to zoom on
    # x-window: the walls of each degenerate minimum up to y1 (never across a barrier)
    xs = []
    for i, m, _ in deg:
        y = action[i]
        a = b = int(np.argmin(np.abs(grid - m[1])))
        while a - 1 >= 0 and y[a - 1] <= y1 and y[a - 1] >= y[a]:
            a -= 1
        while b + 1 < len(y) and y[b + 1] <= y1 and y[b + 1] >= y[b]:
            b += 1
        xs += [grid[max(a - 1, 0)], grid[min(b + 1, len(grid) - 1)]]
    x0, x1 = min(xs), max(xs)
    pad = 0.08 * max(x1 - x0, 3 * abs(grid[1] - grid[0]))
    x0, x1 = max(x0 - pad, grid[0]), min(x1 + pad, grid[-1])
    # the largest inset size that finds an empty spot (else the emptiest spot of the smallest)
    best = None
    for w in (0.40, 0.34, 0.28):
        # margins: tick labels left and below, title above
        pos, frac = _free_spot(ax, curves, (w, w), with_count=True, margins=(0.09, 0.08, 0.02, 0.02))
        if best is None or frac < best[2]:
            best = (pos, w, frac)
        if frac <= 0.02:
            break
    pos, w, _ = best
    h = w
    ins = ax.inset_axes([pos[0], pos[1], w, h])
    for i in sorted({d[0] for d in deg}):
        ins.plot(*_smooth(grid, action[i], lo=x0, hi=x1), color=colors[i], lw=1.4)
    ins.axhline(ref, color="0.45", lw=0.8, ls=":")
    for i, m, _ in deg:
        ins.plot([m[1]], [m[2]], ls="none", marker="o", ms=4.5, mfc="white", mec="k")
    ins.set_xlim(x0, x1)
    ins.set_ylim(y0, y1)
    ins.tick_params(labelsize=7.5, direction="in", top=True, right=True)
    # tick labels in units of 10^e, the unit in the title (no offset text to collide with it)
    import matplotlib.ticker as mticker

    top = max(abs(y0), abs(y1))
    e = int(math.floor(math.log10(top))) if top > 0 else 0
    title = "near-degenerate minima"
    if e < -2 or e > 3:
        ins.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v / 10 ** e:g}"))
        title += rf" ($\times10^{{{e}}}$)"
    ins.xaxis.get_offset_text().set_fontsize(7)
    ins.text(0.5, 0.96, title, transform=ins.transAxes, ha="center", va="top", fontsize=7,
             bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=1.0), zorder=5)
    ins.set_ylim(y0, y1 + 0.25 * (y1 - y0))  # room for the label above the curves
    ax.indicate_inset_zoom(ins, edgecolor="0.4", alpha=0.8)
    return ins


# ---------------------------------------------------------------------------------------
# order parameters
def order_quantities(result):
    """[(name, label, axis)] of the order parameters drawn by :func:`plot_order`: the
    theory's ``order_series`` present in the scan; when none is, the first float
    observable that every scan has not (drawn with its name as label)."""
    down = result.branches["down"]
    spec = [tuple(q) for q in theory_of(result).order_series if q[0] in down]
    if not spec:
        spec = [(k, k.replace("_", " "), "left") for k, v in down.items()
                if k not in COMMON_DATASETS and np.asarray(v).dtype.kind == "f"][:1]
    return spec


def _branches_differ(result, names, rtol=1e-6):
    up, down = result.branches.get("up"), result.branches["down"]
    if up is None or up is down:
        return False
    for n in names:
        if n not in up:
            continue
        a, b = np.asarray(down[n], float), np.asarray(up[n], float)
        both = np.isfinite(a) & np.isfinite(b)
        if np.any(np.abs(a[both] - b[both]) > rtol * np.maximum(1.0, np.abs(a[both]))):
            return True
        if np.any(np.isfinite(a) != np.isfinite(b)):
            return True
    return False


@_styled
def plot_order(result, ax=None, quantities=None, branches: str = "auto", shade: bool = True,
               figsize=None, legend: bool = True, restricted: bool = True):
    r"""Order parameters vs sigma2 with the phase regions shaded and the boundaries drawn.

    Parameters
    ----------
    result : ScanResult
    ax : matplotlib Axes, optional
    quantities : list of str, optional
        Datasets of the scan to draw; default the theory's ``order_series`` (e.g. modadd:
        residual r, droplet fraction; cubic: linear and cubic components learned, droplet
        fraction), each on the axis it names. Other datasets whose name contains
        "fraction" go on a second y axis (right).
    branches : {"auto", "down", "both"}
        Draw the upward continuation sweep too: ``auto`` does when it differs from the
        downward one (hysteresis of the first-order transition).
    shade : bool
        Shade the GFL / GMFL-I / GMFL-II intervals of the downward sweep.
    restricted : bool
        Draw the restricted-basin (metastable) branches stored in the file (dotted-dashed,
        thin; ending at their spinodals, marked x) and mark the droplet-phase points with
        fewer than one expected droplet neuron (open grey circles on the axis).

    Returns
    -------
    matplotlib Axes
        The main (left) axes; the twin axes is ``ax.phasesim_twin`` (or None).
    """
    from matplotlib.lines import Line2D

    ax = _axes(ax, "order", figsize)
    spec = order_quantities(result)
    if quantities is not None:
        known = {q[0]: q for q in spec}
        spec = [known.get(q, (q, q.replace("_", " "), "right" if "fraction" in q else "left"))
                for q in quantities]
        missing = [q for q, *_ in spec if q not in result.branches["down"]]
        if missing:
            raise PhasesimError(f"quantity {', '.join(missing)} not in the scan; available: "
                                f"{', '.join(sorted(result.branches['down']))}")
    if not spec:
        raise PhasesimError("no order parameter to plot in this scan")
    s2 = np.asarray(result.sigma2, float)
    order = np.argsort(s2)
    down = result.branches["down"]
    up = result.branches.get("up", down)
    names = [q[0] for q in spec]
    both = branches == "both" or (branches == "auto" and _branches_differ(result, names))
    twin = ax.twinx() if any(q[2] == "right" for q in spec) else None
    ax.phasesim_twin = twin
    colors = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "black")]
    handles = []
    for k, (name, label, side) in enumerate(spec):
        a = twin if side == "right" else ax
        c = colors[k % len(colors)]
        y = np.asarray(down[name], float)[order]
        h, = a.plot(s2[order], y, color=c, ls="-", lw=1.8, marker="o" if len(s2) <= 25 else None,
                    ms=3.5, label=label, zorder=3)
        handles.append(h)
        if both and name in up:
            yu = np.asarray(up[name], float)[order]
            a.plot(s2[order], yu, color=c, ls="--", lw=1.5, zorder=3)
    if twin is not None:
        right = [q for q in spec if q[2] == "right"]
        twin.set_ylabel(right[0][1] if len(right) == 1 else ", ".join(q[1] for q in right),
                        color=colors[[q[0] for q in spec].index(right[0][0]) % len(colors)])
        twin.tick_params(axis="y", direction="in")
        ax.tick_params(right=False)
        twin.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useMathText=True)
    left = [q for q in spec if q[2] == "left"]
    if len(left) == 1:
        ax.set_ylabel(left[0][1], color=colors[0])
    else:
        ax.set_ylabel(theory_of(result).order_ylabel)
    ax.set_xlabel(SIGMA2 + "  (GPR noise)")
    lo, hi = float(np.min(s2)), float(np.max(s2))
    pad = 0.01 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    # head room for the phase names in a band at the top
    for a in (ax, twin):
        if a is None:
            continue
        y0, y1 = a.get_ylim()
        a.set_ylim(y0, y1 + 0.14 * (y1 - y0))
    phase = np.asarray(down["phase"], int)
    if shade:
        _shade_phases(ax, _phase_segments(s2, phase, result.transitions))
    # boundaries
    styles = {"sigma2_gmfl1": (OKABE_ITO["black"], "-", r"$\sigma^2_{\rm I}$ (GFL$\to$GMFL-I)"),
              "sigma2_gmfl2": (OKABE_ITO["black"], "-.", r"$\sigma^2_{\rm II}$ (GMFL-I$\to$GMFL-II)")}
    for name, (c, ls, lab) in styles.items():
        s, hw, located, _ = result.transitions.get(name, (math.nan, math.nan, False, ""))
        if np.isfinite(s):
            ax.axvline(s, color=c, ls=ls, lw=1.1, zorder=2)
            handles.append(Line2D([], [], color=c, ls=ls, lw=1.1, label=f"{lab} = {s:.4f}"))
    if both:
        handles.append(Line2D([], [], color="0.3", ls="-", label="downward sweep"))
        handles.append(Line2D([], [], color="0.3", ls="--", label="upward sweep"))
    if restricted:
        handles += _draw_restricted(result, ax, twin, spec, colors, s2, order)
    _mark_few_droplets(result, ax, s2, handles)
    if legend:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False, borderaxespad=0.0, columnspacing=1.2, handlelength=2.2)
    ax.set_title(_landscape_title(result), fontsize=10.5)
    return ax


def _draw_restricted(result, ax, twin, spec, colors, s2, order):
    """Dashed restricted branches of the order series they store; x at each spinodal
    inside the axis range. Returns legend handles."""
    from matplotlib.lines import Line2D

    handles = []
    for basin, _c, label in RESTRICTED_BRANCHES:
        br = result.branches.get(basin)
        if br is None or not np.any(np.asarray(br.get("converged", []), bool)):
            continue
        drawn = False
        for k, (name, _lab, side) in enumerate(spec):
            if name not in br:
                continue
            a = twin if side == "right" else ax
            y = np.asarray(br[name], float)[order]
            a.plot(s2[order], y, color=colors[k % len(colors)], ls=(0, (5, 2.5)) if basin == "origin"
                   else (0, (1.5, 1.5)), lw=1.3, zorder=3)
            drawn = True
        if drawn:
            handles.append(Line2D([], [], color="0.3", ls=(0, (5, 2.5)) if basin == "origin"
                                  else (0, (1.5, 1.5)), lw=1.3, label=label))
    for name, basin in SPINODALS:
        s, hw, located, _ = result.transitions.get(name, (math.nan, math.nan, False, ""))
        lo, hi = ax.get_xlim()
        if np.isfinite(s) and min(lo, hi) <= s <= max(lo, hi):
            ax.axvline(s, color="0.35", ls=":", lw=1.0, zorder=2)
            handles.append(Line2D([], [], color="0.35", ls=":", lw=1.0,
                                  label=f"spinodal of the {basin} branch = {s:.4f}"))
    return handles


def _mark_few_droplets(result, ax, s2, handles):
    """Open grey circles at the bottom of the axes where a droplet phase has fewer than one
    expected droplet neuron (``droplet_neurons < 1``: the mean field is not self-averaging)."""
    import matplotlib.transforms as mtransforms
    from matplotlib.lines import Line2D

    d = result.branches["down"]
    if "droplet_neurons" not in d or "phase" not in d:
        return
    few = np.isin(np.asarray(d["phase"]), (1, 2)) & (np.asarray(d["droplet_neurons"], float) < 1.0)
    if not np.any(few):
        return
    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    ax.plot(s2[few], np.full(int(few.sum()), 0.03), ls="none", marker="o", mfc="none", mec="0.35",
            ms=4.5, transform=trans, zorder=6, clip_on=False)
    handles.append(Line2D([], [], ls="none", marker="o", mfc="none", mec="0.35", ms=4.5,
                          label="< 1 droplet neuron (not self-averaging)"))


@_styled
def plot_free_energy(result, ax=None, figsize=None, legend: bool = True, shade: bool = True):
    r"""Free energy per neuron of the equilibrium solution and of the restricted branches.

    Drawn relative to the tangent of the equilibrium curve at the GFL -> GMFL-I boundary
    sigma2_I (F_ref = F(s_I) + F'(s_I)(sigma2 - s_I); without a located boundary, the
    chord through the grid's end points), so the Maxwell construction is visible: the
    equilibrium free energy is the lower envelope of the branches, and in the mixed phase it
    follows their common tangent. Marks the located boundaries, the spinodals (ends of the
    branches, x) and the crossing F_origin = F_droplet.

    Parameters
    ----------
    result : ScanResult
        A scan with the dataset ``free_energy`` (and, where stored, the branches
        ``origin`` / ``droplet``).

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.lines import Line2D

    down = result.branches["down"]
    if "free_energy" not in down:
        raise FileFormatError("this scan has no free_energy dataset (written by phasesim >= the "
                              "thermodynamics release); run the scan again")
    ax = _axes(ax, "free-energy", figsize)
    s2 = np.asarray(result.sigma2, float)
    order = np.argsort(s2)
    F = np.asarray(down["free_energy"], float)
    dF = np.asarray(down.get("free_energy_dsigma2", np.full_like(F, np.nan)), float)
    ok = np.isfinite(F)
    if not np.any(ok):
        raise PhasesimError("no converged point with a free energy in this scan")
    s_I = result.transitions.get("sigma2_gmfl1", (math.nan,))[0]
    sc = getattr(result, "transition_scalars", {}) or {}
    if np.isfinite(s_I) and np.isfinite(sc.get("sigma2_gmfl1_free_energy", math.nan)):
        f0 = sc["sigma2_gmfl1_free_energy"]
        slope = sc.get("sigma2_gmfl1_free_energy_dsigma2", math.nan)
        if not np.isfinite(slope):
            i = int(np.argmin(np.where(ok, np.abs(s2 - s_I), np.inf)))
            slope = dF[i] if np.isfinite(dF[i]) else 0.0
        # the slope at s_I: the equilibrium dF/dsigma2 is continuous there (common tangent)
        ref = lambda x: f0 + slope * (x - s_I)  # noqa: E731
        ref_label = r"$\sigma^2_{\rm I}$"
    else:
        a, b = order[ok[order]][0], order[ok[order]][-1]
        ref = lambda x: F[a] + (F[b] - F[a]) * (x - s2[a]) / (s2[b] - s2[a] if s2[b] != s2[a] else 1.0)  # noqa: E731
        ref_label = "grid ends (chord)"
    handles = []
    top_vals = [F - ref(s2)]
    h, = ax.plot(s2[order], (F - ref(s2))[order], color=OKABE_ITO["black"], lw=2.0, label="equilibrium",
                 zorder=4)
    handles.append(h)
    for basin, c, label in RESTRICTED_BRANCHES:
        br = result.branches.get(basin)
        if br is None or "free_energy" not in br:
            continue
        Fb = np.asarray(br["free_energy"], float)
        if not np.any(np.isfinite(Fb)):
            continue
        h, = ax.plot(s2[order], (Fb - ref(s2))[order], color=c, lw=1.5, ls=(0, (5, 2.5)) if basin == "origin"
                     else (0, (1.5, 1.5)), label=label, zorder=3)
        handles.append(h)
        fin = np.flatnonzero(np.isfinite(Fb[order]))
        end = order[fin[0]] if basin == "origin" else order[fin[-1]]
        s_sp = result.transitions.get(f"sigma2_spinodal_{basin}", (math.nan,))[0]
        if np.isfinite(s_sp) and float(np.min(s2)) <= s_sp <= float(np.max(s2)):
            # the branch ends on the axis: mark its last point
            ax.plot([s2[end]], [Fb[end] - ref(s2[end])], ls="none", marker="x", color=c, ms=7, mew=1.6,
                    zorder=5)
        if basin == "droplet" or not np.isfinite(result.transitions.get("sigma2_crossing", (math.nan,))[0]):
            top_vals.append(Fb - ref(s2))
        else:
            keep = s2 >= result.transitions["sigma2_crossing"][0] - 0.1 * (np.max(s2) - np.min(s2))
            top_vals.append(np.where(keep, Fb - ref(s2), np.nan))
    ax.set_xlabel(SIGMA2 + "  (GPR noise)")
    ax.set_ylabel(r"$F/N - F_{\rm ref}$  ($k_BT$ per neuron)")
    lo, hi = float(np.min(s2)), float(np.max(s2))
    pad = 0.01 * (hi - lo if hi > lo else 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    # y range: the equilibrium curve, the droplet branch and the origin branch up to a bit
    # beyond the crossing (its far metastable end would flatten everything else)
    vals = np.concatenate([np.asarray(v, float) for v in top_vals])
    vals = vals[np.isfinite(vals)]
    y0, y1 = float(vals.min()), float(vals.max())
    span = (y1 - y0) or 1.0
    ax.set_ylim(y0 - 0.05 * span, y1 + 0.2 * span)
    if shade:
        _shade_phases(ax, _phase_segments(s2, np.asarray(down["phase"], int), result.transitions))
    marks = (("sigma2_gmfl1", "-", r"$\sigma^2_{\rm I}$"), ("sigma2_gmfl2", "-.", r"$\sigma^2_{\rm II}$"),
             ("sigma2_crossing", "--", r"$F_{\rm origin}=F_{\rm droplet}$ at"),
             ("sigma2_spinodal_origin", ":", "origin spinodal"), ("sigma2_spinodal_droplet", ":", "droplet spinodal"))
    for name, ls, lab in marks:
        s, hw, located, _ = result.transitions.get(name, (math.nan, math.nan, False, ""))
        if np.isfinite(s):
            inside = lo - pad <= s <= hi + pad
            if inside:
                ax.axvline(s, color="0.25" if "spinodal" not in name else "0.5", ls=ls, lw=1.0, zorder=2)
            handles.append(Line2D([], [], color="0.25" if "spinodal" not in name else "0.5", ls=ls, lw=1.0,
                                  label=f"{lab} = {s:.4f}" + ("" if inside else " (off the axis)")))
    handles.append(Line2D([], [], ls="none", marker="x", color="0.3", ms=6, label="end of a branch"))
    if legend:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                  frameon=False, borderaxespad=0.0, columnspacing=1.2, handlelength=2.2, fontsize=8.5)
    ax.set_title(_landscape_title(result) + f"\nreference: tangent at {ref_label}", fontsize=10)
    return ax


# ---------------------------------------------------------------------------------------
# 2-D phase diagram
def _edges(v, log=False):
    v = np.asarray(v, float)
    if log:
        return np.exp(_edges(np.log(v)))
    if len(v) == 1:
        h = 0.05 * abs(v[0]) if v[0] != 0 else 0.5
        return np.array([v[0] - h, v[0] + h])
    order = np.argsort(v)
    s = v[order]
    mid = 0.5 * (s[1:] + s[:-1])
    e = np.concatenate([[s[0] - (mid[0] - s[0])], mid, [s[-1] + (s[-1] - mid[-1])]])
    return e


def _use_log(v):
    v = np.asarray(v, float)
    return bool(len(v) > 2 and np.all(v > 0) and v.max() / v.min() >= 30)


@_styled
def plot_phase(diagram, ax=None, boundaries: bool = True, logy=None, figsize=None, legend: bool = True):
    r"""2-D phase diagram: phase of the downward sweep over sigma2 x the second parameter.

    Parameters
    ----------
    diagram : PhaseDiagram
    ax : matplotlib Axes, optional
    boundaries : bool
        Draw the bisection-located boundaries sigma2_I(value), sigma2_II(value).
    logy : bool, optional
        Logarithmic second axis; default when the values span a factor >= 30.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib as mpl
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not hasattr(diagram, "values") or not hasattr(diagram, "data"):
        raise FileFormatError("the phase kind needs a 2-D phase diagram (a file with a 'grid' group); "
                              "make one with 'phasesim scan --vary NAME=START:STOP:NUM'")
    ax = _axes(ax, "phase", figsize)
    s2 = np.asarray(diagram.sigma2, float)
    vals = np.asarray(diagram.values, float)
    logy = _use_log(vals) if logy is None else logy
    so, vo = np.argsort(s2), np.argsort(vals)
    ph = np.asarray(diagram.phase, int)[np.ix_(vo, so)]
    codes = [-1, 0, 1, 2]
    cmap = mpl.colors.ListedColormap([PHASE_COLORS[c] for c in codes])
    norm = mpl.colors.BoundaryNorm([-1.5, -0.5, 0.5, 1.5, 2.5], cmap.N)
    ax.pcolormesh(_edges(s2[so]), _edges(vals[vo], logy), ph, cmap=cmap, norm=norm, alpha=0.55,
                  shading="flat", rasterized=True, zorder=1)
    if logy:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 4), useMathText=True)
    handles = [Patch(facecolor=PHASE_COLORS[c], alpha=0.55, edgecolor="0.5", label=PHASE_LABELS[c])
               for c in codes if np.any(ph == c)]
    if boundaries:
        for name, ls, mk, lab in (("sigma2_gmfl1", "-", "o", r"$\sigma^2_{\rm I}$: GFL$\to$GMFL-I"),
                                  ("sigma2_gmfl2", "-.", "s", r"$\sigma^2_{\rm II}$: GMFL-I$\to$GMFL-II")):
            b = np.asarray(diagram.boundaries[name], float)[vo]
            if np.any(np.isfinite(b)):
                ax.plot(b, vals[vo], color="k", ls=ls, marker=mk, ms=4.5, mfc="white", lw=1.4, zorder=3)
                handles.append(Line2D([], [], color="k", ls=ls, marker=mk, mfc="white", ms=4.5, label=lab))
    ax.set_xlabel(SIGMA2 + "  (GPR noise)")
    sym = parameter_symbol(theory_of(diagram), diagram.name, diagram.name.replace("_", r"\_"))
    ax.set_ylabel(sym if sym.startswith("$") else f"${sym}$")
    ax.set_xlim(_edges(s2[so])[[0, -1]])
    title = _landscape_title(diagram, full=False)
    ax.set_title(title + f" (varied: {sym})", fontsize=10.5)
    if legend:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
                  frameon=False, borderaxespad=0.0, columnspacing=1.2)
    return ax


@_styled
def plot_order_family(diagram, ax=None, quantity=None, cmap: str = "viridis", figsize=None):
    """Main order parameter vs sigma2, one curve per value of the second parameter
    (``phasesim plot --kind order`` on a phase-diagram file)."""
    import matplotlib as mpl

    ax = _axes(ax, "order", figsize)
    theory = theory_of(diagram)
    if quantity is None:
        quantity = theory.family_quantity
        if quantity not in diagram.data:
            quantity = next(k for k, v in diagram.data.items()
                            if np.asarray(v).dtype.kind == "f" and k not in ("u",))
    if quantity not in diagram.data:
        raise PhasesimError(f"quantity {quantity} not in the phase diagram; available: "
                            f"{', '.join(sorted(diagram.data))}")
    s2 = np.asarray(diagram.sigma2, float)
    so = np.argsort(s2)
    vals = np.asarray(diagram.values, float)
    logc = _use_log(vals)
    norm = (mpl.colors.LogNorm if logc else mpl.colors.Normalize)(vmin=vals.min(), vmax=vals.max())
    cm = mpl.colors.ListedColormap(mpl.colormaps[cmap](np.linspace(0.0, 0.88, 256)))
    y = np.asarray(diagram.data[quantity], float)
    for j in np.argsort(vals):
        ax.plot(s2[so], y[j, so], color=cm(norm(vals[j])), lw=1.6)
        for name, mk in (("sigma2_gmfl1", "o"), ("sigma2_gmfl2", "s")):
            b = diagram.boundaries[name][j]
            if np.isfinite(b):
                ax.plot([b], [np.interp(b, s2[so], y[j, so])], ls="none", marker=mk, mfc="white",
                        mec="k", ms=5, zorder=4)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
    cb = ax.figure.colorbar(sm, ax=ax, pad=0.02, fraction=0.05, aspect=30)
    sym = parameter_symbol(theory, diagram.name)
    cb.set_label(sym)
    label = dict((q[0], q[1]) for q in theory.order_series).get(quantity, quantity)
    ax.set_ylabel(label)
    ax.set_xlabel(SIGMA2 + "  (GPR noise)")
    ax.set_title(r"markers: $\sigma^2_{\rm I}$ (circles), $\sigma^2_{\rm II}$ (squares)", fontsize=10)
    return ax


# ---------------------------------------------------------------------------------------
# Langevin cross-checks (LangevinData: simulations.langevin_io, next to the writer)


def _is_langevin(obj) -> bool:
    return getattr(obj, "kind", None) == "langevin"


def _rebin(edges, counts, probs, max_bins=45):
    """Merge adjacent bins so that the populated range has at most ``max_bins`` bins."""
    tot = counts.sum(axis=0)
    nz = np.flatnonzero(tot > 0)
    if len(nz) == 0:
        return edges, counts, probs
    lo, hi = nz[0], nz[-1] + 1
    k = max(1, int(math.ceil((hi - lo) / max_bins)))
    lo = (lo // k) * k
    hi = min(len(tot), lo + int(math.ceil((hi - lo) / k)) * k)
    m = (hi - lo) // k
    cut = lo + m * k
    e = edges[lo: cut + 1: k]
    c = counts[:, lo:cut].reshape(counts.shape[0], m, k).sum(axis=2)
    p = {name: np.asarray(v, float)[lo:cut].reshape(m, k).sum(axis=1) for name, v in probs.items()}
    return e, c, p


def _neglogp(edges, counts):
    """-log of the density per bin from pooled counts, and its error from the spread of the
    subsets (rows of ``counts``); Poisson 1/sqrt(n) where fewer than two subsets populate a bin."""
    edges = np.asarray(edges, float)
    counts = np.atleast_2d(np.asarray(counts, float))
    width = np.diff(edges)
    total = counts.sum(axis=0)
    n = total.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        y = -np.log(total / (n * width))
        err = 1.0 / np.sqrt(total)
        if counts.shape[0] >= 2:
            per = counts / (counts.sum(axis=1, keepdims=True) * width)
            lp = -np.log(per)
            lp[~np.isfinite(lp)] = np.nan
            nfin = np.sum(np.isfinite(lp), axis=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                e_sub = np.nanstd(lp, axis=0, ddof=1) / np.sqrt(nfin)
            err = np.where(nfin >= 2, e_sub, err)
    good = total > 0
    return 0.5 * (edges[1:] + edges[:-1]), np.where(good, y, np.nan), np.where(good, err, np.nan)


@_styled
def plot_langevin(data, axes=None, max_histograms: int = 3, figsize=None):
    r"""Langevin simulations against the theory.

    Left: simulated :math:`-\log p` of the order parameter (density per bin, error bars from
    the spread over the independent subsets: seeds x time blocks) with the theory's
    :math:`-\log p` from its bin probabilities (lines; one per variant of the theory, e.g.
    modadd's two normalisations), for up to
    ``max_histograms`` sigma2 values; simulation and theory are normalised densities, so only
    one common constant per sigma2 is subtracted (the theory's minimum). Right: the measured
    order parameters vs sigma2 (the theory's ``langevin_series``; e.g. cubic: b, c; modadd:
    residual r, and the mean-field GPR value from the measured Gram eigenvalue) with error
    bars, over the theory (lines).

    Parameters
    ----------
    data : simulations.langevin_io.LangevinData (or a ScanResult carrying ``.langevin``)
    axes : pair of Axes, optional

    Returns
    -------
    tuple of two matplotlib Axes
    """
    from matplotlib.lines import Line2D

    if not _is_langevin(data):
        lg = getattr(data, "langevin", None)
        if lg is None:
            raise FileFormatError("no Langevin data: the file has no 'langevin' group (open files with "
                                  "adaptive_kernel.load to attach it)")
        data = lg
    if axes is None:
        _, axes = new_figure("langevin", figsize, ncols=2)
    ax1, ax2 = axes
    theory = theory_of(data)
    colors = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "orange", "black")]
    styles = ["-", "--", ":"]
    # left: histograms
    pts = [p for p in data.points if p["counts"].sum() > 0]
    if len(pts) > max_histograms:
        pts = [pts[i] for i in np.unique(np.linspace(0, len(pts) - 1, max_histograms).round().astype(int))]
    handles, ymax, xs = [], 0.0, []
    for k, p in enumerate(pts):
        c = colors[k % len(colors)]
        e, cnt, probs = _rebin(p["edges"], p["counts"], p["theory_prob"])
        x, y, err = _neglogp(e, cnt)
        width = np.diff(e)
        ty = {}
        with np.errstate(divide="ignore"):
            for name, pr in probs.items():
                ty[name] = np.where(pr > 0, -np.log(pr / width), np.nan)
        shift = min([np.nanmin(v) for v in ty.values() if np.any(np.isfinite(v))] or [np.nanmin(y)])
        ax1.errorbar(x, y - shift, yerr=err, ls="none", marker="o", ms=3.5, color=c, elinewidth=1.0,
                     capsize=1.8, zorder=3)
        for j, (name, v) in enumerate(ty.items()):
            ax1.plot(x, v - shift, color=c, ls=styles[j % len(styles)], lw=1.4, zorder=2)
        handles.append(Line2D([], [], color=c, marker="o", ms=3.5, ls="none",
                              label=rf"$\sigma^2={p['sigma2']:.3g}$"))
        fin = np.isfinite(y)
        if fin.any():
            ymax = max(ymax, float(np.nanmax((y - shift)[fin] + np.nan_to_num(err[fin]))))
            xs += [x[fin].min() - width[0], x[fin].max() + width[0]]
    names = list(pts[0]["theory_prob"]) if pts else []
    for j, name in enumerate(names):
        label = "theory" if name == "theory" else theory.langevin_variant_label.format(name)
        handles.append(Line2D([], [], color="0.3", ls=styles[j % len(styles)], lw=1.4, label=label))
    if pts:
        handles.insert(0, Line2D([], [], color="0.3", marker="o", ms=3.5, ls="none", label="simulation"))
        ax1.legend(handles=handles, loc="upper center", ncol=2, fontsize=8.5)
        ax1.set_ylim(-0.05 * ymax - 0.3, 1.45 * ymax + 0.5)
        ax1.set_xlim(min(xs), max(xs))
    else:
        ax1.text(0.5, 0.5, "no histograms in the file", transform=ax1.transAxes, ha="center")
    ax1.set_xlabel(theory.langevin_order_label)
    ax1.set_ylabel(r"$-\log p$ + const")
    ax1.set_title("weight posterior: simulation (markers) vs theory (lines)", fontsize=10.5)
    # right: order parameters
    s2 = data.sigma2
    o = np.argsort(s2)
    hs = []
    line_styles = ("-", "--", ":", "-.")
    for k, spec in enumerate(theory.langevin_series):
        name, lab = spec["name"], spec["label"]
        c = colors[k % len(colors)]
        if name in data.measured:
            v, err = data.measured[name]
            mk, mfc = spec.get("marker", "o"), (c if spec.get("filled", True) else "white")
            ax2.errorbar(s2[o], v[o], yerr=err[o], ls="none", marker=mk, ms=4.5, color=c, mfc=mfc,
                         capsize=2, elinewidth=1.0, zorder=4 - k)
            hs.append(Line2D([], [], color=c, marker=mk, mfc=mfc, ls="none", label=lab + " (simulation)"))
        for j, (th, tl) in enumerate(spec.get("theory", ())):
            if th in data.theory:
                ls = line_styles[j % len(line_styles)]
                ax2.plot(s2[o], data.theory[th][o], color=c, ls=ls, lw=1.4,
                         marker="x" if len(s2) < 6 else None, ms=4, zorder=2)
                hs.append(Line2D([], [], color=c, ls=ls, label=tl))
    ax2.set_xlabel(SIGMA2 + f"  ({theory.langevin_sigma2_note})")
    ax2.set_ylabel(theory.langevin_ylabel)
    ax2.set_title("order parameters: simulation vs theory", fontsize=10.5)
    if hs:
        ax2.legend(handles=hs, loc="best", fontsize=8.5)
    if len(s2):
        pad = 0.05 * (s2.max() - s2.min()) if s2.max() > s2.min() else 0.01
        ax2.set_xlim(s2.min() - pad, s2.max() + pad)
    return ax1, ax2


# ---------------------------------------------------------------------------------------
# files
def default_kind(obj) -> str:
    """The figure a file is mainly for: order (scan), phase (2-D diagram), langevin."""
    from .phase_diagram import PhaseDiagram

    if isinstance(obj, PhaseDiagram):
        return "phase"
    if _is_langevin(obj):
        return "langevin"
    return "order"


def plot(obj, kind: str, ax=None, **kwargs):
    """Draw ``kind`` (one of :data:`KINDS`) of a loaded object; returns the Axes."""
    from .phase_diagram import PhaseDiagram

    if kind not in KINDS:
        raise PhasesimError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "langevin":
        return plot_langevin(obj, axes=ax, **kwargs)
    if _is_langevin(obj):
        raise FileFormatError(f"this file holds only Langevin data; use --kind langevin (not {kind})")
    if kind == "phase":
        if not isinstance(obj, PhaseDiagram):
            raise FileFormatError("no 'grid' group: --kind phase needs a 2-D phase diagram, made with "
                                  "'phasesim scan --vary NAME=START:STOP:NUM'")
        return plot_phase(obj, ax=ax, **kwargs)
    if isinstance(obj, PhaseDiagram):
        if kind == "order":
            return plot_order_family(obj, ax=ax, **kwargs)
        raise FileFormatError(f"a phase-diagram file holds no landscape and no restricted branches "
                              f"(--kind {kind}); use --kind phase or order (or plot one of the 1-D scans)")
    if kind == "landscape":
        return plot_landscape(obj, ax=ax, **kwargs)
    if kind == "free-energy":
        return plot_free_energy(obj, ax=ax, **kwargs)
    return plot_order(obj, ax=ax, **kwargs)


def save_figure(fig, path, overwrite: bool = False, dpi: int = DPI) -> str:
    """Save atomically as PNG, PDF or SVG by the extension.

    The figure is rendered in memory and written with :func:`~adaptive_kernel.storage.write_bytes`
    (temporary file + rename): an existing file is replaced only with ``overwrite``
    (:class:`~adaptive_kernel.errors.OutputExistsError`), and an I/O failure (disk full,
    read-only folder, ...) raises a one-line :class:`~adaptive_kernel.errors.WriteError`,
    removes the temporary file and leaves an existing file untouched.
    """
    import io

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise PhasesimError(f"output must end in {', '.join(FORMATS)}; got {path!r}")
    refuse_existing(path, overwrite)  # before rendering anything
    meta = {"Creator": "phasesim (adaptive_kernel.plotting)"}
    if ext == ".png":
        meta = {"Software": meta["Creator"]}
    buf = io.BytesIO()
    fig.savefig(buf, format=ext[1:], dpi=dpi, metadata=meta)
    write_bytes(path, buf.getbuffer(), overwrite)
    return path


def figure_for(kind: str, figsize=None):
    """A new figure and axes (or pair of axes for ``langevin``) for ``kind``."""
    return new_figure(kind, figsize, ncols=2 if kind == "langevin" else 1)
