"""``phasesim plot`` and ``phasesim info``: look at what a scan file holds.

Added to the main command group by :mod:`adaptive_kernel.cli`. Commands stay thin: the
reading is :func:`adaptive_kernel.load` (:mod:`adaptive_kernel.kinds`), the figures are the
functions of :mod:`adaptive_kernel.plotting`, so a notebook gets the same figures.
Every input error (missing file or group, unknown kind for the file, existing output)
is a one-line usage error with exit code 2.
"""
from __future__ import annotations

import math
import os

import click
import numpy as np

from ._cliutil import check_output
from ._cliutil import usage_errors as _usage
from .errors import FileFormatError
from .registry import THEORIES


def _theory_attr(teacher, name, default):
    """A declared attribute of the theory registered as ``teacher`` (``default`` for a file
    of a theory this version does not know)."""
    cls = THEORIES.get(teacher) if isinstance(teacher, str) else None
    return getattr(cls, name, default) if cls is not None else default


def _parse_size(text):
    if text is None:
        return None
    try:
        w, h = (float(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise click.UsageError(f"--size must be WIDTH,HEIGHT in inches (e.g. 6.4,4.4); got {text!r}") from None
    if not (0.5 <= w <= 40 and 0.5 <= h <= 40):
        raise click.UsageError(f"--size must be between 0.5 and 40 inches per side; got {text!r}")
    return (w, h)


def _parse_floats(text, name):
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.UsageError(f"{name} must be comma-separated numbers; got {text!r}") from None


@click.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--kind", type=str, default=None, metavar="FIGURE",
              help="The figure to draw; which ones exist depends on the file. Scan files: order "
                   "(default; order parameters vs sigma2 with the GFL / GMFL-I / GMFL-II regions "
                   "shaded) or landscape (action of one neuron vs its order parameter for several "
                   "sigma2, minima marked, inset on the degenerate minima); 'phasesim scan --vary' "
                   "files: phase (default; 2-D phase diagram) or order; Langevin files: langevin "
                   "(simulated -log p and order parameters against theory). Files of train, "
                   "analytic, kernel and rfm runs: the figures 'phasesim plot FILE --kind list' "
                   "names (default first).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Figure file (.png, .pdf or .svg). Default: FILE without .h5 plus _KIND.png.")
@click.option("--overwrite", is_flag=True, help="Replace an existing figure file.")
@click.option("--dpi", type=click.IntRange(50, 1200), default=200, show_default=True,
              help="Resolution of PNG output (dots per inch).")
@click.option("--size", "size", type=str, default=None,
              help="Figure size WIDTH,HEIGHT in inches. Default 6.4,4.4 (landscape), 6.4,4.6 (order, "
                   "phase), 11,4.4 (langevin).")
@click.option("--curves", type=click.IntRange(1, 50), default=9, show_default=True,
              help="[landscape] Number of sigma2 values drawn (spread over the scan).")
@click.option("--sigma2", "sigma2", type=str, default=None,
              help="[landscape] Comma-separated sigma2 values to draw instead (nearest scan points).")
@click.option("--no-inset", is_flag=True, help="[landscape] No inset on the degenerate minima.")
@_usage
def plot_cmd(file, kind, output, overwrite, dpi, size, curves, sigma2, no_inset):
    """Draw a figure of a phasesim HDF5 FILE (any kind: scan, phase diagram, Langevin, train,
    analytic, kernel, rfm). '--kind list' names the figures the file offers."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # never open a window from the command line
    from . import plotting

    from .kinds import figures_for, load

    figsize = _parse_size(size)
    obj = load(file)
    figures = figures_for(getattr(obj, "kind", None))
    names = list(figures[0]) if figures is not None else list(plotting.KINDS)
    if kind == "list":
        default = figures[1] if figures is not None else plotting.default_kind(obj)
        click.echo(f"figures of {file}: " + ", ".join(n + (" (default)" if n == default else "") for n in names))
        return
    if kind is None:
        kind = figures[1] if figures is not None else plotting.default_kind(obj)
    if kind not in names:
        raise click.UsageError(f"--kind must be one of {', '.join(names)} for this file; got {kind!r}")
    if figures is not None and (sigma2 is not None or no_inset):
        raise click.UsageError("--sigma2 and --no-inset apply to --kind landscape of a scan file only")
    out = output if output is not None else os.path.splitext(file)[0] + f"_{kind}.png"
    if os.path.splitext(out)[1].lower() not in plotting.FORMATS:
        raise click.UsageError(f"output must end in {', '.join(plotting.FORMATS)}; got {out!r}")
    kwargs = {}
    if kind == "landscape":
        kwargs = {"n_curves": curves, "sigma2": _parse_floats(sigma2, "--sigma2"), "inset": not no_inset}
    elif sigma2 is not None or no_inset:
        raise click.UsageError("--sigma2 and --no-inset apply to --kind landscape only")
    check_output(out, overwrite)  # before drawing: refuse a location that cannot be written
    if figures is not None:
        fig = figures[0][kind](obj, figsize=figsize)
        plotting.save_figure(fig, out, overwrite=overwrite, dpi=dpi)
        click.echo(f"wrote {out}")
        return
    fig, ax = plotting.figure_for(kind, figsize)
    try:
        plotting.plot(obj, kind, ax=ax, **kwargs)
    except FileFormatError as exc:
        msg = str(exc)
        raise FileFormatError(msg if msg.startswith(file) else f"{file}: {msg}") from None
    plotting.save_figure(fig, out, overwrite=overwrite, dpi=dpi)
    click.echo(f"wrote {out}")


@click.command("info")
@click.argument("file", type=click.Path(dir_okay=False))
@_usage
def info_cmd(file):
    """Describe a phasesim HDF5 FILE: parameters, number of points, convergence, phases
    found, phase boundaries (and Langevin data, when present)."""
    from .kinds import load

    obj = load(file)
    kind = getattr(obj, "kind", None)
    if kind == "phase_diagram":
        click.echo(_info_diagram(file, obj))
    elif kind == "langevin":
        click.echo(_info_header(file, obj.attrs | {"teacher": obj.teacher}))
        if obj.params:
            click.echo("parameters: " + ", ".join(f"{k}={_fmt(v)}" for k, v in obj.params.items()))
        click.echo(_info_langevin(obj))
    elif hasattr(obj, "info"):  # the methods of the simulations package describe themselves
        click.echo(f"file:       {file}")
        click.echo(obj.info())
    else:
        click.echo(_info_scan(file, obj))
        if getattr(obj, "langevin", None) is not None:
            click.echo(_info_langevin(obj.langevin))


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _info_header(file, attrs):
    lines = [f"file:       {file}",
             f"teacher:    {attrs.get('teacher', '?')}"]
    prov = [f"{k}={attrs[k]}" for k in ("package_version", "format_version", "created") if k in attrs]
    if prov:
        lines.append("written:    " + ", ".join(prov))
    if attrs.get("command"):
        lines.append(f"command:    {attrs['command']}")
    return "\n".join(lines)


def _phase_runs(sigma2, phase):
    from .teachers.base import PHASE_NAMES

    out = []
    for code in sorted(set(int(p) for p in phase)):
        sel = np.asarray(phase) == code
        s = np.asarray(sigma2)[sel]
        out.append(f"{PHASE_NAMES.get(code, code)}: {int(sel.sum())} point(s), sigma2 in "
                   f"[{s.min():.6g}, {s.max():.6g}]")
    return out


def _info_scan(file, res):
    lines = [_info_header(file, res.attrs)]
    lines.append("parameters: " + ", ".join(f"{k}={_fmt(v)}" for k, v in res.params.items()))
    if res.settings:
        lines.append("solver:     " + ", ".join(f"{k}={_fmt(v)}" for k, v in res.settings.items()))
    s2 = np.asarray(res.sigma2, float)
    lines.append(f"sigma2:     {len(s2)} points from {s2.max():.6g} down to {s2.min():.6g}")
    down = res.branches["down"]
    up = res.branches.get("up", down)
    nd = int(np.sum(down["converged"])) if "converged" in down else len(s2)
    nu = int(np.sum(up["converged"])) if "converged" in up else len(s2)
    diff = res.branch_difference
    lines.append(f"converged:  {nd}/{len(s2)} (downward sweep), {nu}/{len(s2)} (upward sweep); "
                 f"max |down - up| = {diff:.2e}" if np.isfinite(diff) else
                 f"converged:  {nd}/{len(s2)} (downward sweep), {nu}/{len(s2)} (upward sweep)")
    if nd < len(s2):
        bad = s2[~np.asarray(down["converged"], bool)]
        lines.append(f"            not converged at sigma2 = {', '.join(f'{v:.6g}' for v in bad[:8])}"
                     + (" ..." if len(bad) > 8 else ""))
    lines.append("phases (downward sweep):")
    lines += ["  " + t for t in _phase_runs(s2, down["phase"])]
    if "phase" in up and not np.array_equal(np.asarray(up["phase"]), np.asarray(down["phase"])):
        lines.append("phases (upward sweep, differs):")
        lines += ["  " + t for t in _phase_runs(s2, up["phase"])]
    lines.append("boundaries:")
    for name, what in (("sigma2_gmfl1", "GFL -> GMFL-I"), ("sigma2_gmfl2", "GMFL-I -> GMFL-II")):
        s, hw, ok, note = res.transitions.get(name, (math.nan, math.nan, False, "absent"))
        if np.isfinite(s):
            lines.append(f"  {name} = {s:.8g} +- {hw:.1e}  ({what}; {note})")
        else:
            lines.append(f"  {name} = nan  ({what}; {note})")
    uc = res.attrs.get("u_c_file")
    if uc is None:
        uc = _read_attr(file, "transitions", "u_c")
    if uc is not None and np.isfinite(uc):
        lines.append(f"  u_c = {uc:.6g}  (effective interaction at the GFL -> GMFL-I boundary)")
    lines += getattr(res, "thermodynamics_lines", lambda: [])()  # spinodals, latent heat, validity
    grid = np.asarray(res.landscape_grid)
    if grid.size:
        gname = (getattr(res, "landscape_name", "") or _theory_attr(res.teacher, "landscape_parameter", "")
                 or "the order parameter")
        lines.append(f"landscape:  {np.asarray(res.landscape_action).shape[0]} rows on a {grid.size}-point "
                     f"grid of {gname} in [{grid.min():.6g}, {grid.max():.6g}]")
    lines.append("datasets:   " + ", ".join(sorted(down)))
    lines.append(f"figures:    phasesim plot {file} --kind landscape|order"
                 + ("|free-energy" if "free_energy" in down else "")
                 + ("|langevin" if getattr(res, "langevin", None) is not None else ""))
    return "\n".join(lines)


def _read_attr(file, group, name):
    import h5py

    try:
        with h5py.File(file, "r") as f:
            v = f[group].attrs.get(name) if group in f else None
            return None if v is None else float(v)
    except (OSError, TypeError, ValueError):
        return None


def _info_diagram(file, d):
    lines = [_info_header(file, d.attrs)]
    lines.append("fixed parameters: " + ", ".join(f"{k}={_fmt(v)}" for k, v in d.params.items()))
    lines.append(f"varied:     {d.name} = " + ", ".join(f"{v:.6g}" for v in np.asarray(d.values, float)))
    s2 = np.asarray(d.sigma2, float)
    lines.append(f"sigma2:     {len(s2)} points from {s2.max():.6g} down to {s2.min():.6g}")
    conv = np.asarray(d.data["converged"], bool)
    lines.append(f"points:     {conv.size} ({len(d.values)} x {len(s2)}), converged {int(conv.sum())}/{conv.size}")
    lines.append("phases:     " + "; ".join(_phase_runs(np.tile(s2, len(d.values)), np.ravel(d.phase))))
    lines.append("boundaries per value:")
    lines += ["  " + line for line in d.summary().splitlines()[2:]]
    lines.append(f"figures:    phasesim plot {file} --kind phase|order")
    return "\n".join(lines)


def _info_langevin(lg):
    s2 = np.asarray(lg.sigma2, float)
    lines = [f"langevin:   {len(s2)} sigma2 value(s): " + ", ".join(f"{v:.6g}" for v in s2)]
    la = {k[9:]: v for k, v in lg.attrs.items() if k.startswith("langevin_")}
    run = [f"{k}={la[k]}" for k in ("seeds", "steps", "burn_in", "thin", "time_blocks", "integrator") if k in la]
    if run:
        lines.append("            sampler: " + ", ".join(run))
    if hasattr(lg, "split_line"):  # data: all P^2 pairs, or the training split of --train-fraction
        lines.append("            " + lg.split_line())
    if lg.measured:
        lines.append("            measured: " + ", ".join(sorted(lg.measured)))
    if lg.theory:
        lines.append("            theory: " + ", ".join(sorted(lg.theory)))
    for name in _theory_attr(lg.teacher, "langevin_table_columns", ()):
        if name in lg.measured:
            v, e = lg.measured[name]
            lines.append(f"            {(name + ' (simulation):'):<30s}" + ", ".join(
                f"{a:.4g} +- {b:.1g}" for a, b in zip(v, e)))
        if name in lg.theory:
            lines.append(f"            {(name + ' (theory):'):<30s}" + ", ".join(f"{a:.4g}" for a in lg.theory[name]))
    if lg.points:
        n = [int(p["counts"].sum()) for p in lg.points]
        lines.append(f"            {len(lg.points)} histogram(s) of the order parameter, {min(n)}..{max(n)} "
                     f"samples in {lg.points[0]['counts'].shape[0]} subset(s) each")
    return "\n".join(lines)


__all__ = ["plot_cmd", "info_cmd", "FileFormatError"]
