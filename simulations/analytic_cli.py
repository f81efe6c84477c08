"""``phasesim analytic``: accuracy, loss and IPR of the analytic solutions of modular
arithmetic vs width (:mod:`simulations.analytic`), written as kind ``"analytic"``."""
from __future__ import annotations

import os
import sys

import click

from adaptive_kernel._cliutil import usage_errors

#: Default number of seed members of Gromov's random phases.
DEFAULT_SEEDS = 4


def analytic_tasks() -> list:
    """Registry names of the tasks the analytic solutions are built for (a task class with
    pairs, labels and an ``addition_relabelling``), in registry order; the first is the
    default ``--task``."""
    from adaptive_kernel.tasks import TASKS

    return [name for name, cls in TASKS.items()
            if hasattr(cls, "pairs") and hasattr(cls, "labels") and hasattr(cls, "addition_relabelling")]


@click.command("analytic")
@click.option("--task", type=click.Choice(analytic_tasks()), default=analytic_tasks()[0], show_default=True,
              help="Task (registry name).")
@click.option("--P", "P", type=int, default=97, show_default=True, help="Modulus.")
@click.option("--operation", type=str, default="add", show_default=True,
              help="Operation: add, sub, or pow:A,B with bijective powers (mul and div have no such solution).")
@click.option("--construction", type=click.Choice(["gromov", "mohamadi"]), default="gromov", show_default=True,
              help="gromov: one frequency per neuron, random phases (his eq. 6); mohamadi: their exact App. F "
                   "construction (8 neurons per frequency; deterministic).")
@click.option("--frequencies", type=click.Choice(["cyclic", "random"]), default="cyclic", show_default=True,
              help="Gromov's frequency of neuron i: 1 + (i mod (P-1)), or uniform on 1..P-1.")
@click.option("--width", type=str, default="10:400:40", show_default=True,
              help="Widths N: one integer or a grid START:STOP:NUM (integers).")
@click.option("--seeds", type=int, default=None,
              help=f"Seed members per width (random phases; default {DEFAULT_SEEDS}; mohamadi: 1).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Local worker processes.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Dask scheduler address or scheduler file (instead of --jobs).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file [default: data/<task>_analytic.h5].")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def analytic_cmd(task, P, operation, construction, frequencies, width, seeds, seed, jobs, scheduler, output,
                 overwrite, quiet):
    """Accuracy vs width of the analytic solutions of modular arithmetic (Gromov Fig. 4b).

    Builds Gromov's solution (random phases with phi1 + phi2 = phi3) or Mohamadi et al.'s
    exact construction for each width and seed, and measures on all P^2 pairs the accuracy,
    the MSE at the least-squares output scale, the mean IPR of the neurons and the phase
    alignment; writes an HDF5 file of kind "analytic".
    """
    from adaptive_kernel._cliutil import DATA_DIR, check_output, command_line, warn
    from adaptive_kernel.runner import make_runner
    from adaptive_kernel.tasks import get_task
    from adaptive_kernel.validation import parse_grid

    from .analytic import accuracy_vs_width, check_sweep, parse_widths

    t = get_task(task, P=P, operation=operation)
    widths = parse_widths(parse_grid(width, "width"), "--width")
    if seeds is not None and construction == "mohamadi" and seeds != 1:
        warn("the mohamadi construction is deterministic: --seeds is ignored (one member per width)")
    n_seeds = DEFAULT_SEEDS if seeds is None else seeds
    check_sweep(t, construction, widths, n_seeds, seed, frequencies)
    out = output if output is not None else os.path.join(DATA_DIR, f"{task}_analytic.h5")
    check_output(out, overwrite)
    members = n_seeds if construction == "gromov" else 1
    params = {"P": t.P, "operation": t.operation}
    runner = make_runner(jobs, scheduler, n_units=len(widths) * members, report=warn)
    with runner:
        if quiet:
            res = accuracy_vs_width(task, params, construction, widths, n_seeds, seed, frequencies, runner=runner)
        else:
            with click.progressbar(length=1, label=f"{construction}: {len(widths)} widths x {members} seed(s)",
                                   file=sys.stderr) as bar:
                def show(n_done, n_total):
                    bar.length = max(1, n_total)
                    bar.update(n_done - bar.pos)

                res = accuracy_vs_width(task, params, construction, widths, n_seeds, seed, frequencies,
                                        runner=runner, progress=show)
    res.to_hdf5(out, overwrite=overwrite, command=command_line())
    if not quiet:
        click.echo(res.table())
    click.echo(res.summary())
    click.echo(f"wrote {out}")
