"""``phasesim train``: two-layer square-activation networks trained by gradient descent on a
two-hot task (Gromov's setting; :mod:`simulations.training`). Added to the ``phasesim``
group by :mod:`adaptive_kernel.cli`.

The defaults (P = 41, width 256, train fraction 0.45, plain GD on the MSE loss, mean-field
parametrisation, 4000 steps) show grokking in about ten seconds on two cores: the training
set is fitted by step ~320, test accuracy 0.9 is reached at step ~1100.

Exit codes: 2 for bad input (including an output or checkpoint location refused before the
run, and a run too large for memory); 1 when writing fails during the run or a unit fails
(the checkpoint is kept); 130 after Ctrl-C (the last checkpoint is kept).
"""
from __future__ import annotations

import os
import sys

import click

from adaptive_kernel._cliutil import usage_errors


def _task_names():
    from .training import trainable_tasks

    return trainable_tasks()


def _default_task():
    from .training import default_task

    return default_task()


def _widths(text: str) -> list:
    from adaptive_kernel.errors import ParameterError
    from adaptive_kernel.validation import parse_grid

    vals = parse_grid(text, "width")
    out = []
    for v in vals:
        if not float(v).is_integer() or v < 1:
            raise ParameterError(f"width must be whole numbers >= 1 (START:STOP:NUM with integer points); "
                                 f"got {text!r}")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise ParameterError(f"width grid has repeated values; got {text!r}")
    return out


def _betas(text: str) -> tuple:
    from adaptive_kernel.errors import ParameterError

    parts = str(text).replace(" ", "").split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ParameterError(f"betas must be two numbers B1,B2 in [0, 1) (e.g. 0.9,0.98); got {text!r}") from None


@click.command("train")
@click.option("--task", type=click.Choice(_task_names()), default=_default_task(), show_default=True,
              help="The task (two-hot pairs).")
@click.option("--P", "P", type=int, default=41, show_default=True, help="Modulus.")
@click.option("--operation", type=str, default="add", show_default=True,
              help="add, sub, mul, div or pow:A,B.")
@click.option("--width", type=str, default="256", show_default=True,
              help="Hidden width N: one value or START:STOP:NUM (integers).")
@click.option("--train-fraction", "train_fraction", type=str, default="0.45", show_default=True,
              help="Training fraction alpha in (0, 1): one value or START:STOP:NUM.")
@click.option("--parametrisation", type=click.Choice(["mean-field", "standard"]), default="mean-field",
              show_default=True, help="mean-field: f = W2 (W1 x)^2 / (2 P N), init std 1 (Gromov); standard: "
                                      "f = W2 (W1 x)^2, init std (16 N)^(-1/3).")
@click.option("--init-scale", "init_scale", type=float, default=None,
              help="Standard deviation of the initial weights (default by parametrisation).")
@click.option("--loss", type=click.Choice(["mse", "ce"]), default="mse", show_default=True,
              help="mse: mean over samples of the squared error summed over classes (one-hot targets); "
                   "ce: cross-entropy.")
@click.option("--optimizer", type=click.Choice(["gd", "momentum", "adamw", "ngd"]), default="gd",
              show_default=True, help="gd, momentum (heavy ball), adamw (torch.optim.AdamW), ngd (normalised "
                                      "GD, Mohamadi eq. A.1).")
@click.option("--lr", type=float, default=None,
              help="Learning rate. Default mean-field: gd 0.1*2PN, momentum 0.01*2PN, adamw 0.003, ngd 3; "
                   "standard: gd 0.1, momentum 0.01, adamw 0.01, ngd 1.")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="Momentum (optimizer momentum).")
@click.option("--weight-decay", "weight_decay", type=float, default=None,
              help="Weight decay: decoupled for adamw (default 0.1 mean-field, 1 standard), an L2 term in the "
                   "gradient otherwise (default 0).")
@click.option("--betas", type=str, default="0.9,0.98", show_default=True, help="AdamW B1,B2.")
@click.option("--linf", type=float, default=0.0, show_default=True,
              help="lambda of the l_inf regulariser lambda ||theta||_inf (Mohamadi eq. 2.2).")
@click.option("--batch-size", "batch_size", type=int, default=None,
              help="Mini-batch size (default: the full training set).")
@click.option("--steps", type=int, default=4000, show_default=True, help="Optimizer steps.")
@click.option("--log-every", "log_every", type=int, default=50, show_default=True,
              help="Measure every LOG_EVERY steps (and at ~20 log-spaced steps per decade).")
@click.option("--threshold", type=float, default=0.9, show_default=True,
              help="Test accuracy that defines the grokking time.")
@click.option("--seeds", type=int, default=1, show_default=True,
              help="Networks per point; network j has seed value SEED + j (split, init, batches).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed value of the first network.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--checkpoint-every", "checkpoint_every", type=int, default=1000, show_default=True,
              help="Steps between checkpoints (OUTPUT.ckpt).")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local worker processes; results do not depend on it.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Dask scheduler address or scheduler file (not with --jobs > 1).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/<task>_train.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (or stale checkpoint).")
@click.option("--resume", is_flag=True, help="Continue a killed run from OUTPUT.ckpt (same options).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def train_cmd(task, P, operation, width, train_fraction, parametrisation, init_scale, loss, optimizer, lr,
              momentum, weight_decay, betas, linf, batch_size, steps, log_every, threshold, seeds, seed, dtype,
              checkpoint_every, jobs, scheduler, output, overwrite, resume, quiet):
    """Train two-layer networks f = c W2 (W1 x)^2 on modular arithmetic by gradient descent
    and record grokking: losses, accuracies, norms, gradient norms, Fourier IPR, dominant
    frequencies and phases, the empirical NTK's change, fit and grokking times (censored
    when not reached); at the end, each network's distance to Gromov's analytic solution
    (with the level of random weights) and the correlation of W1^T W1 with sqrt(AGOP)."""
    from adaptive_kernel._cliutil import DATA_DIR, _one_line, check_output, command_line, interrupted, warn
    from adaptive_kernel.errors import PhasesimError, WriteError
    from adaptive_kernel.limits import cap_jobs
    from adaptive_kernel.runner import UnitError, make_runner
    from adaptive_kernel.validation import parse_grid

    from .backends import HDFBackend
    from .training import TrainConfig, check_resources, run_training

    try:
        fractions = list(parse_grid(train_fraction, "train-fraction"))
        config = TrainConfig(task=task, P=P, operation=operation, widths=_widths(width),
                             train_fractions=fractions, parametrisation=parametrisation, init_scale=init_scale,
                             loss=loss, optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
                             betas=_betas(betas), linf=linf, batch_size=batch_size, steps=steps,
                             log_every=log_every, threshold=threshold, seeds=seeds, seed=seed, dtype=dtype)
        if jobs < 1:
            raise click.UsageError(f"--jobs must be >= 1; got {jobs}")
        if scheduler is not None and jobs > 1:
            raise click.UsageError(f"--scheduler and --jobs {jobs} cannot be combined: the Dask cluster's "
                                   f"workers set the parallelism (drop --jobs)")
        if checkpoint_every < 1:
            raise click.UsageError(f"--checkpoint-every must be >= 1; got {checkpoint_every}")
        n_units = len(fractions) * len(config.widths) * seeds
        jobs, note = cap_jobs(jobs, n_units, f"{len(fractions)} fraction(s) x {len(config.widths)} width(s) x "
                                             f"{seeds} seed(s)")
        check_resources(config, jobs)
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    if note:
        click.echo(note, err=True)
    out = output if output is not None else os.path.join(DATA_DIR, f"{task}_train.h5")
    ckpt = out + ".ckpt"
    try:
        check_output(out, overwrite)
        check_output(ckpt, overwrite=True, what="checkpoint")
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    backend = HDFBackend(ckpt)
    if resume and not backend.exists():
        raise click.UsageError(f"nothing to resume: no checkpoint {ckpt}")
    if backend.exists() and not resume:
        if not overwrite:
            raise click.UsageError(f"an unfinished run left the checkpoint {ckpt}; pass --resume to continue "
                                   f"it or --overwrite to start over")
        backend.discard()
    if resume:
        loaded = backend.load()
        click.echo(f"resuming from step {loaded[1] if loaded else 0} of {steps} (checkpoint {ckpt})", err=True)
    try:
        runner = make_runner(jobs, scheduler, report=None)
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None

    def kept():
        it = backend.saved_iteration
        if it is None:
            return "no checkpoint was written yet: nothing to resume"
        return f"the checkpoint {ckpt} of step {it} of {steps} is kept: continue with --resume"

    try:
        with runner:
            if quiet:
                res = run_training(config, backend, resume=resume, checkpoint_every=checkpoint_every, runner=runner)
            else:
                label = (f"{task} P={P}: {len(fractions)} fraction(s) x {len(config.widths)} width(s) x "
                         f"{seeds} seed(s)")
                with click.progressbar(length=1, label=label, file=sys.stderr) as bar:
                    def show(n_done, n_total):
                        bar.length = max(1, n_total)
                        bar.update(n_done - bar.pos)

                    res = run_training(config, backend, resume=resume, checkpoint_every=checkpoint_every,
                                       runner=runner, unit_progress=show)
    except KeyboardInterrupt:
        interrupted(f"interrupted; {kept()}")
    except WriteError as exc:
        raise click.ClickException(f"{_one_line(exc)}; {kept()}") from None
    except UnitError as exc:
        raise click.ClickException(f"{_one_line(exc)}; {kept()}") from None
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    try:
        res.to_hdf5(out, overwrite=overwrite, command=command_line())
    except KeyboardInterrupt:
        interrupted(f"interrupted while writing {out} (nothing was written there); {kept()}")
    except WriteError as exc:
        raise click.ClickException(f"{_one_line(exc)}; {kept()}") from None
    try:
        backend.discard()
    except WriteError as exc:
        warn(f"{exc}; remove it by hand before the next run with this output")
    if not quiet:
        click.echo(res.table())
    click.echo(res.summary())
    if not res.success:
        warn(res.message)
    click.echo(f"wrote {out}")
