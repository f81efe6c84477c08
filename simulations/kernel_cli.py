"""``phasesim kernel``: kernel regression in the kernel regime on modular arithmetic (added to
the ``phasesim`` click group by :mod:`adaptive_kernel.cli`; this module does not import it).

Each (P, training fraction, seed) is one unit of work (:mod:`adaptive_kernel.runner`);
``--jobs`` / ``--scheduler`` spread them without changing a bit of the result. Exit codes:
2 for bad input (including a run too large for memory, refused before anything is
allocated, and an output location refused before the run), 1 when writing fails or a unit
raises, 130 after Ctrl-C.
"""
from __future__ import annotations

import os
import sys

import click

from adaptive_kernel._cliutil import usage_errors

from . import kernel_regime as KR


def _parse_P(text: str) -> list:
    from adaptive_kernel.errors import ParameterError

    try:
        vals = [int(t) for t in str(text).split(",") if t.strip() != ""]
    except ValueError:
        raise ParameterError(f"--P must be one integer or a comma list (e.g. 23,61); got {text!r}") from None
    if not vals:
        raise ParameterError(f"--P must be one integer or a comma list (e.g. 23,61); got {text!r}")
    if len(set(vals)) != len(vals):
        raise ParameterError(f"--P has repeated values; got {text!r}")
    return vals


@click.command("kernel")
@click.option("--task", type=click.Choice(KR.pair_task_names()), default=KR.pair_task_names()[0],
              show_default=True, help="Task (its data must be pairs of tokens).")
@click.option("--P", "P", type=str, default="61", show_default=True,
              help="Modulus: one integer or a comma list (several P in one file).")
@click.option("--operation", type=str, default="add", show_default=True,
              help="The modular operation (add, sub, mul, div, pow:A,B).")
@click.option("--train-fraction", "train_fraction", type=str, default="0.1:0.9:9", show_default=True,
              help="Training fraction(s) in (0, 1]: one value or START:STOP:NUM (endpoints included). "
                   "The split is the task's, task.split(fraction, seed), as for every method.")
@click.option("--kernel", type=click.Choice(KR.KERNELS), default="nngp", show_default=True,
              help="nngp: the task's closed-form NNGP; ntk: expected NTK at initialisation; "
                   "empirical-ntk: NTK of one finite network at initialisation (seeded, --width).")
@click.option("--ridge", type=float, default=0.0, show_default=True,
              help="Ridge lambda, relative to the mean diagonal of the training kernel; 0: ridgeless.")
@click.option("--parametrisation", type=click.Choice(KR.PARAMETRISATIONS), default="mean-field",
              show_default=True,
              help="mean-field: f = W2 (W1 x)^2/(2P N), unit-variance weights; standard: f = W2 (W1 x)^2, "
                   "He initialisation by default (--sigma-w2 1/P, --sigma-v2 2/N). Sets the NTK's shape.")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Hidden units N of the network (ntk, empirical-ntk). Default 4P.")
@click.option("--sigma-w2", "sigma_w2", type=float, default=None,
              help="[standard] Variance of the read-in weights (default 1/P).")
@click.option("--sigma-v2", "sigma_v2", type=float, default=None,
              help="[standard] Variance of the read-out weights (default 2/N).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Independent splits (and networks, empirical-ntk) per point: seeds SEED .. SEED+SEEDS-1.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local worker processes (capped at the CPUs and the units). Results do not depend on it.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Run the units on an existing Dask cluster (tcp://host:port or a scheduler file). "
                   "Not with --jobs > 1.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/<task>_kernel_<kernel>.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def kernel_cmd(task, P, operation, train_fraction, kernel, ridge, parametrisation, width, sigma_w2, sigma_v2,
               seeds, seed, jobs, scheduler, output, overwrite, quiet):
    """Kernel regression with the student's NNGP / NTK on a task of token pairs: test accuracy
    and loss against training fraction and P, the additive structure of the predictor on
    unseen pairs, and the kernel's eigenvalues by Fourier sector (HDF5 kind 'kernel')."""
    from adaptive_kernel._cliutil import DATA_DIR, check_output, command_line
    from adaptive_kernel.errors import ParameterError
    from adaptive_kernel.limits import MAX_SEED, require_memory
    from adaptive_kernel.runner import UnitError, make_runner
    from adaptive_kernel.validation import parse_grid

    P_values = _parse_P(P)
    fractions = parse_grid(train_fraction, "train-fraction")
    if seed + seeds - 1 > MAX_SEED:
        raise ParameterError(f"--seed + --seeds - 1 must be <= {MAX_SEED}; got {seed + seeds - 1}")
    seed_list = list(range(seed, seed + seeds))
    config = {"task": task, "operation": operation, "kernel": kernel, "ridge": ridge,
              "parametrisation": parametrisation, "width": width, "sigma_w2": sigma_w2, "sigma_v2": sigma_v2}
    config = KR.check_config(config, P_values, fractions, seed_list)
    n_units = len(P_values) * len(fractions) * len(seed_list)
    runner = make_runner(jobs, scheduler, n_units=n_units)  # validates --jobs, caps it
    workers = getattr(runner, "workers", 1) or 1
    try:
        # before any array is allocated: the n_train x n_train kernel of the largest unit
        require_memory(KR.estimate_run_bytes(config, P_values, fractions, workers), f"--P {max(P_values)}",
                       f"training and test kernels of the largest unit x {workers} worker(s)")
        out = output if output is not None else os.path.join(DATA_DIR, f"{task}_kernel_{kernel}.h5")
        check_output(out, overwrite)
    except BaseException:
        runner.close()
        raise
    try:
        with runner:
            if quiet:
                res = KR.run_kernel_regression(config, P_values, fractions, seed_list, runner=runner)
            else:
                with click.progressbar(length=n_units, label=f"kernel {kernel}: {n_units} unit(s)",
                                       file=sys.stderr) as bar:
                    def show(n_done, n_total):
                        bar.update(n_done - bar.pos)

                    res = KR.run_kernel_regression(config, P_values, fractions, seed_list, runner=runner,
                                                   progress=show)
    except UnitError as exc:
        raise click.ClickException(" ".join(str(exc).split()) + " (nothing was written)") from None
    res.to_hdf5(out, overwrite=overwrite, command=command_line())
    if not quiet:
        click.echo(res.table())
        click.echo(f"wrote {out}")
    if not res.success:
        click.echo("warning: some units failed (status 'failed' in the file)", err=True)
