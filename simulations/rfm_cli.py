"""``phasesim rfm``: recursive feature machines (kernel machines that learn their features
from the AGOP) on a token-pair task, iteration by iteration (:mod:`simulations.rfm`).

Added to the ``phasesim`` click group by :mod:`adaptive_kernel.cli`; this module does not
import it. Each (training fraction, seed) pair is one unit of work for the runner
(``--jobs``, ``--scheduler``): the results do not depend on how they are run.

Exit codes: 2 for bad input (including an output location refused before the run, and a
size that does not fit in memory); 1 when writing fails or a unit fails on a worker; 130
after Ctrl-C (nothing is written).
"""
from __future__ import annotations

import os
import sys

import click

from adaptive_kernel._cliutil import usage_errors


def _task_names() -> list:
    from .rfm import pair_task_names

    return pair_task_names()


def _int_list(text: str, name: str) -> tuple:
    from adaptive_kernel.errors import ParameterError

    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise ParameterError(f"{name} must be comma-separated whole numbers (e.g. 0,5,10); got {text!r}") from None
    return tuple(out)


@click.command("rfm")
@click.option("--task", type=click.Choice(_task_names()), default=_task_names()[0], show_default=True,
              help="Token-pair task of the registry.")
@click.option("--P", "P", type=int, default=61, show_default=True, help="Modulus (prime for div).")
@click.option("--operation", type=str, default="add", show_default=True,
              help="add, sub, mul, div or pow:A,B.")
@click.option("--train-fraction", "train_fraction", type=str, default="0.5", show_default=True,
              help="Fraction of the pairs used for training, in (0, 1): one value or START:STOP:NUM.")
@click.option("--kernel", type=click.Choice(["quadratic", "gaussian"]), default="quadratic", show_default=True,
              help="quadratic: (x^T M z)^2; gaussian: exp(-gamma |x - z|_M^2).")
@click.option("--iterations", type=int, default=30, show_default=True, help="RFM iterations T.")
@click.option("--seeds", type=int, default=1, show_default=True,
              help="Number of splits: split seeds SEED, SEED+1, ... (task.split(train_fraction, seed)).")
@click.option("--seed", type=int, default=0, show_default=True, help="First split seed.")
@click.option("--ridge", type=float, default=0.0, show_default=True, help="Ridge added to the kernel (0: ridgeless).")
@click.option("--bandwidth", type=float, default=2.5, show_default=True, help="[gaussian] Bandwidth L.")
@click.option("--bandwidth-form", "bandwidth_form", type=click.Choice(["code", "text"]), default="code",
              show_default=True,
              help="[gaussian] code: exp(-d^2/(2 L^2)) (the authors' code); text: exp(-d^2/L) (the paper).")
@click.option("--centre-gradients/--no-centre-gradients", "centre_gradients", default=True, show_default=True,
              help="Centre the per-sample Jacobians before the outer product (the authors' code) or not "
                   "(the paper's eq. 4).")
@click.option("--power", type=float, default=0.5, show_default=True, help="Matrix power s of M = AGOP^s.")
@click.option("--save-every", "save_every", type=int, default=5, show_default=True,
              help="Store the feature matrix M_t every N iterations (and the final one); 0: final only.")
@click.option("--save-at", "save_at", type=str, default="", help="Further iterations t (comma-separated) whose M_t is stored.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/rfm_<operation>_P<P>.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local worker processes (fractions x seeds in parallel); results do not depend on it.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Run the units on an existing Dask cluster (address or scheduler file); not with --jobs > 1.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr and no summary table.")
@usage_errors
def rfm_cmd(task, P, operation, train_fraction, kernel, iterations, seeds, seed, ridge, bandwidth, bandwidth_form,
            centre_gradients, power, save_every, save_at, output, overwrite, jobs, scheduler, quiet):
    """Recursive feature machines (Mallinar et al., arXiv 2407.20199, Alg. 1): solve the kernel
    machine exactly, replace its feature matrix by the square root of its average gradient
    outer product, repeat.

    Records per iteration the train/test loss and accuracy, the circulant deviation of the
    feature matrix's off-diagonal block and its alignment with the final one, and the feature
    matrix at the chosen iterations.
    """
    from adaptive_kernel._cliutil import DATA_DIR, check_output, command_line
    from adaptive_kernel.errors import ParameterError
    from adaptive_kernel.limits import MAX_SEED, require_memory
    from adaptive_kernel.runner import UnitError, make_runner
    from adaptive_kernel.validation import Constraint, parse_grid

    from .rfm import RFMConfig, estimate_memory, make_task, run_rfm

    fractions = parse_grid(train_fraction, "train_fraction")
    Constraint("int", low=1, high=100_000).check("--seeds", seeds)
    Constraint("int", low=0, high=MAX_SEED - seeds).check("--seed", seed)
    Constraint("int", low=0).check("--save-every", save_every)
    Constraint("int", low=1).check("--jobs", jobs)
    if scheduler is not None and jobs > 1:
        raise ParameterError(f"--scheduler and --jobs {jobs} cannot be combined: the Dask cluster's workers "
                             f"set the parallelism (drop --jobs)")
    for name, value in (("--iterations", iterations),):
        Constraint("int", low=1, high=100_000).check(name, value)
    t_obj = make_task(task, {"P": P, "operation": operation})
    saves = set(_int_list(save_at, "--save-at"))
    if save_every:
        saves |= set(range(0, iterations + 1, save_every))
    bad = sorted(t for t in saves if not 0 <= t <= iterations)
    if bad:
        raise ParameterError(f"--save-at must list iterations in [0, {iterations}]; got {bad[0]}")
    config = RFMConfig(task, t_obj.params(), tuple(float(f) for f in fractions),
                       tuple(range(seed, seed + seeds)), kernel=kernel, iterations=iterations, ridge=ridge,
                       bandwidth=bandwidth, bandwidth_form=bandwidth_form, centre_gradients=centre_gradients,
                       power=power, save_at=tuple(sorted(saves)))
    # memory of the largest unit, times the workers, before anything is allocated
    n_units = len(fractions) * seeds
    workers = 1 if scheduler is not None else max(1, min(jobs, n_units))
    per_unit = estimate_memory(t_obj.P, max(fractions), t_obj.n_pairs, len(config.save_at), iterations)
    stored = 8 * n_units * len(config.save_at) * (2 * t_obj.P) ** 2
    require_memory(workers * per_unit + 2 * stored, f"--P {P}",
                   f"kernel matrices of {int(max(fractions) * t_obj.n_pairs + 0.5)} training pairs"
                   + (f" in {workers} worker processes" if workers > 1 else "") + " and the stored feature matrices")
    out = output if output is not None else os.path.join(DATA_DIR, f"rfm_{t_obj.operation.replace(':', '')}_P{P}.h5")
    check_output(out, overwrite)
    runner = make_runner(jobs, scheduler, n_units=n_units, report=None if quiet else
                         (lambda line: click.echo(line, err=True)))
    try:
        with runner:
            if quiet:
                res = run_rfm(config, runner)
            else:
                with click.progressbar(length=n_units, label=f"rfm {kernel} P={P} {t_obj.operation}: "
                                       f"{len(fractions)} fraction(s) x {seeds} seed(s)", file=sys.stderr) as bar:
                    def show(n_done, n_total):
                        bar.update(n_done - bar.pos)

                    res = run_rfm(config, runner, progress=show)
    except UnitError as exc:  # a unit failed on a worker: exit code 1, nothing written
        raise click.ClickException(f"{' '.join(str(exc).split())} (nothing was written)") from None
    res.to_hdf5(out, overwrite=overwrite, command=command_line())
    if not quiet:
        click.echo(res.summary())
    failed = int((~res.success).sum())
    if failed:
        click.echo(f"warning: {failed} run(s) stopped early (see rfm/status and rfm/message)", err=True)
    click.echo(f"wrote {out}")
