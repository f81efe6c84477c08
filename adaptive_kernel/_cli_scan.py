"""``phasesim scan``: the phase scan in sigma2 (and, with ``--vary``, the 2-D phase diagram).

The physics options are not written here: they are the union of the options the registered
theories declare (:attr:`~adaptive_kernel.teachers.base.Teacher.cli_options`, through
:mod:`adaptive_kernel.registry`), so a new theory brings its options with it. An option the
chosen ``--teacher`` does not declare is refused with one line (exit code 2).
"""
from __future__ import annotations

import os
import sys

import click
import numpy as np

from . import registry
from ._cliutil import DATA_DIR, check_output, command_line, theory_options, theory_params, usage_errors


def _teacher_help() -> str:
    return "Teacher model: " + "; ".join(f"{name} = {cls.summary}"
                                         for name, cls in registry.THEORIES.items()) + "."


def _sigma2_help() -> str:
    defaults = ", ".join(f"{cls.default_sigma2} ({name})" for name, cls in registry.THEORIES.items())
    return ("Grid of the GPR noise sigma2 (the posterior's 'temperature' of the data term; lower sigma2 = "
            "more effective data) as START:STOP:NUM, endpoints included, or a single value. "
            f"Default {defaults}.")


def _output_help() -> str:
    names = [os.path.join(DATA_DIR, cls.default_output) for cls in registry.THEORIES.values()]
    return "Output HDF5 file. Default " + " or ".join(names) + "."


@click.command("scan")
@click.option("--teacher", type=click.Choice(registry.theory_names()), default=registry.default_theory("scan"),
              show_default=True, help=_teacher_help())
@theory_options("scan")
@click.option("--sigma2", "sigma2", type=str, default=None, help=_sigma2_help())
@click.option("--vary", "vary", type=str, default=None, metavar="NAME=START:STOP:NUM",
              help="Also sweep a second parameter (e.g. gamma=5e-5:4e-4:8 for modadd, "
                   "eps=-0.6:-0.1:6 for cubic; or NAME=V1,V2,...): one sigma2 scan per value, written "
                   "as a 2-D phase diagram (draw it with 'phasesim plot FILE --kind phase'). "
                   "Default output data/<teacher>_phase_<NAME>.h5.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="With --vary: local worker processes, one row (value of NAME) each at a time; "
                   "capped at the CPUs and the rows. Results do not depend on it. Without --vary a "
                   "value > 1 is a usage error (one sigma2 scan is sequential continuation).")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="With --vary: compute the rows on an existing Dask cluster, given by its scheduler "
                   "address (tcp://host:port) or scheduler file (JSON). Not with --jobs > 1.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help=_output_help())
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def scan_cmd(teacher, output, overwrite, quiet, sigma2, vary, jobs, scheduler, **physics):
    """Phase scan in sigma2: solve the self-consistency at every noise value (downward and
    upward continuation), classify GFL / GMFL-I / GMFL-II, locate the boundaries by
    bisection and write an HDF5 file.

    With no option it runs the paper's Fig. 3 setting (modadd: P=401, N=1000,
    sigma_a2=0.002/N, gamma=1e-4, sigma2 from 0.26 down to 0.15 in 111 points).
    """
    from .limits import check_scan_size
    from .solver import scan
    from .validation import grid_size, parse_grid

    if jobs < 1:
        raise click.UsageError(f"--jobs must be >= 1; got {jobs}")
    if vary is None and (jobs > 1 or scheduler is not None):
        opt = f"--jobs {jobs}" if jobs > 1 else "--scheduler"
        raise click.UsageError(f"{opt} needs --vary: the rows of a 2-D scan are the independent "
                               f"units; a single sigma2 scan runs in one process")
    if scheduler is not None and jobs > 1:
        raise click.UsageError(f"--scheduler and --jobs {jobs} cannot be combined: the Dask "
                               f"cluster's workers set the parallelism (drop --jobs)")
    t = registry.get_theory(teacher)
    params = theory_params(t, physics, "scan")
    given = {k for k, v in physics.items() if v is not None}
    num = grid_size(sigma2 if sigma2 is not None else t.default_sigma2)
    if vary is None and num is not None and num >= 1:
        check_scan_size(t, params, num)  # point cap and estimate, before the grid is built
    grid = parse_grid(sigma2 if sigma2 is not None else t.default_sigma2, "sigma2")
    if (grid <= 0).any():
        raise click.UsageError(f"sigma2 must be > 0; got grid {sigma2!r}")
    if vary is not None:  # 2-D phase diagram (adaptive_kernel.phase_diagram)
        return scan_vary(t, params, given, vary, grid, output, overwrite, quiet, DATA_DIR, command_line(),
                         jobs=jobs, scheduler=scheduler)
    t.check_sigma2(params, grid)  # the noise range the numerics resolve (one line, exit 2)
    out = output if output is not None else os.path.join(DATA_DIR, t.default_output)
    check_output(out, overwrite)  # before the computation: refuse a location that cannot be written
    npts = 2 * len(grid)
    if quiet:
        res = scan(t, params, grid)
    else:
        with click.progressbar(length=npts, label=f"{teacher}: {len(grid)} points x 2 sweeps",
                               file=sys.stderr) as bar:
            res = scan(t, params, grid, progress=bar.update)
    res.to_hdf5(out, overwrite=overwrite, command=command_line())
    if not quiet:
        click.echo(res.table())
    click.echo(res.summary())
    n_bad = len(grid) - res.n_converged
    if n_bad:
        click.echo(f"WARNING: {n_bad} point(s) did not converge; they are marked converged=False "
                   f"and stored as NaN.", err=True)
    click.echo(f"wrote {out}")


def scan_vary(teacher, params, given, vary, grid, output, overwrite, quiet, data_dir, command,
              jobs=1, scheduler=None):
    """Body of ``phasesim scan --vary NAME=START:STOP:NUM`` (called from :func:`scan_cmd`):
    one sigma2 scan per value of NAME, written as a 2-D phase diagram. The rows are
    independent units, computed by the runner of ``jobs`` / ``scheduler``
    (:func:`adaptive_kernel.runner.make_runner`; a capped ``jobs`` is said in one line on
    stderr)."""
    from .errors import PhasesimError
    from .phase_diagram import default_output, parse_vary, scan_grid
    from .runner import make_runner

    name, values = parse_vary(vary, teacher)
    if name in given:
        raise click.UsageError(f"--vary {name}=... and --{name.replace('_', '-')} both given; give one")
    out = output if output is not None else os.path.join(data_dir, default_output(teacher, name))
    check_output(out, overwrite)  # before the computation: refuse a location that cannot be written
    for v in values:  # validate every value before the first scan
        teacher.make_params(**{**params, name: v.item()})
    npts = 2 * len(grid) * len(values)
    try:
        runner = make_runner(jobs, scheduler, n_units=len(values),
                             report=lambda line: click.echo(line, err=True))
    except PhasesimError as exc:
        raise click.UsageError(str(exc)) from None
    with runner:
        if quiet:
            diag = scan_grid(teacher, params, name, values, grid, runner=runner)
        else:
            with click.progressbar(length=npts, label=f"{teacher.name}: {len(values)} x {len(grid)} points x 2 sweeps",
                                   file=sys.stderr) as bar:
                diag = scan_grid(teacher, params, name, values, grid, progress=bar.update, runner=runner)
    diag.to_hdf5(out, overwrite=overwrite, command=command)
    click.echo(diag.summary())
    n_bad = int(np.size(diag.data["converged"]) - np.sum(diag.data["converged"]))
    if n_bad:
        click.echo(f"WARNING: {n_bad} point(s) did not converge; they are marked converged=False "
                   f"and phase -1.", err=True)
    click.echo(f"wrote {out}")


__all__ = ["scan_cmd", "scan_vary"]
