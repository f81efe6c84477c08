"""``phasesim langevin``: Langevin-trained ensembles against the theory (added to the
``phasesim`` click group by :mod:`adaptive_kernel.cli`; this module does not import it).

The physics options are those the registered theories declare for ``langevin``
(:attr:`~adaptive_kernel.teachers.base.Teacher.cli_options` through
:mod:`adaptive_kernel.registry`); an option the chosen ``--teacher`` does not declare for it
is refused with one line.

Exit codes: 2 for bad input, including an output or checkpoint location refused before the
run (empty path, unwritable or read-only folder, parent is a file, name too long, existing
file); 1 when writing fails during the run (disk full, quota, ...: the previous checkpoint
is kept and the message says from which step ``--resume`` continues) or the sampler
diverges; 130 after Ctrl-C (the last checkpoint is kept, no temporary file is left).
"""
from __future__ import annotations

import os
import sys

import click

from adaptive_kernel import registry
from adaptive_kernel._cliutil import theory_options, usage_errors


def _kept(backend, steps, exc=None) -> str:
    """What a failed or interrupted run leaves (the checkpoint and its step, or nothing) and
    how to continue; ``exc`` is the write error, if any."""
    import errno

    it = backend.saved_iteration
    if it is None:
        return "no checkpoint was written yet: nothing to resume"
    code = getattr(exc, "errno", None)
    fix = ("free space, then " if code in (errno.ENOSPC, errno.EDQUOT)
           else "" if exc is None else "fix the cause, then ")
    if it >= steps:
        return (f"the finished run is kept in the checkpoint {backend.path}: {fix}rerun with --resume "
                f"to write the output")
    return f"the checkpoint {backend.path} of step {it} of {steps} is kept: {fix}continue with --resume"


def _teacher_help() -> str:
    return "; ".join(f"{name}: {cls.langevin_summary}" for name, cls in registry.THEORIES.items()) + "."


def _langevin_params(theory, params: dict) -> dict:
    """The theory parameters of a Langevin run: task parameters that the command does not
    offer (e.g. the modular operation) are left out, since the simulated networks implement
    the task at their defaults (:meth:`Teacher.task` fills them in again)."""
    from adaptive_kernel.tasks import TASKS

    offered = {k for k, spec in theory.cli_options.items()
               if "langevin" in spec.get("commands", ("scan", "langevin"))}
    task_only = set(TASKS[theory.task_name].parameters) - offered
    return {k: v for k, v in params.items() if k not in task_only}


@click.command("langevin")
@click.option("--teacher", type=click.Choice(registry.theory_names()),
              default=registry.default_theory("langevin"), show_default=True, help=_teacher_help())
@theory_options("langevin")
@click.option("--sigma2", "sigma2", type=str, required=True,
              help="GPR noise: one value or START:STOP:NUM (endpoints included). Base units for "
                   "the cubic teacher (as for 'scan'); the physical noise is (alpha/beta) sigma2.")
@click.option("--steps", type=int, default=4000, show_default=True, help="Langevin steps per network.")
@click.option("--burn-in", "burn_in", type=int, default=1000, show_default=True,
              help="Steps discarded before recording (MALA adapts its step size during burn-in).")
@click.option("--thin", type=int, default=10, show_default=True, help="Record every THIN-th step.")
@click.option("--step-size", "step_size", type=float, default=None,
              help="Initial dimensionless step h in prior-whitened units (each parameter group moves "
                   "with h times its prior variance). Default 0.05. The posterior temperature is fixed "
                   "(=1) by sigma2 and the priors; h only sets the integrator's accuracy/speed.")
@click.option("--integrator", type=click.Choice(["mala", "ula"]), default="mala", show_default=True,
              help="mala: Metropolis-adjusted, exact stationary law; ula: unadjusted Euler-Maruyama, "
                   "O(step) bias.")
@click.option("--no-adapt", "no_adapt", is_flag=True, help="Keep --step-size fixed during burn-in (MALA).")
@click.option("--seeds", type=int, default=4, show_default=True,
              help="Independent networks (ensemble members) per sigma2, each with its own RNG stream "
                   "(and data set for cubic).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed of every stream.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local worker processes (sigma2 points / member blocks in parallel); capped at "
                   "the CPUs and the units of work. Results do not depend on it.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Run the units on an existing Dask cluster: its scheduler address "
                   "(tcp://host:port) or scheduler file (JSON). Not with --jobs > 1. Results are "
                   "identical to a serial run.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--n-test", "n_test", type=int, default=1000, show_default=True,
              help="[cubic] Fresh test points per seed.")
@click.option("--train-fraction", "train_fraction", type=float, default=None,
              help="Networks on a finite set of pairs (modular arithmetic): fraction alpha in (0, 1] of the pairs in "
                   "the potential's data term, the package's one split task.split(alpha, --seed) (the "
                   "pairs 'phasesim train/kernel/rfm --seed S --train-fraction alpha' use), same per-pair "
                   "weight 1/(2 sigma2); test loss and accuracy on the other pairs. Default: all pairs.")
@click.option("--time-blocks", "time_blocks", type=int, default=4, show_default=True,
              help="Consecutive stretches of the recorded samples kept as separate histogram subsets.")
@click.option("--checkpoint-every", "checkpoint_every", type=int, default=1000, show_default=True,
              help="Steps between checkpoints (OUTPUT.ckpt).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/<teacher>_langevin.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (or stale checkpoint).")
@click.option("--resume", is_flag=True, help="Continue a killed run from OUTPUT.ckpt (same options).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def langevin_cmd(teacher, sigma2, steps, burn_in, thin, step_size, integrator, no_adapt, seeds, seed, jobs,
                 scheduler, dtype, n_test, train_fraction, time_blocks, checkpoint_every, output, overwrite, resume, quiet, **physics):
    """Sample Langevin-trained networks at equilibrium (posterior exp(-U), temperature 1) and
    compare them with the adaptive-kernel theory at the same parameters.

    Writes an HDF5 file with, per sigma2, histograms of the order parameter (cubic:
    q = w.w*; modadd: |W_k|^2 per mode) in independent subsets, the learned components
    (cubic: b, c; modadd: residual r, the target's Gram eigenvalue), loss traces,
    diagnostics (acceptance, ESS, autocorrelation time, R-hat) and the theory's prediction.
    """
    from adaptive_kernel._cliutil import (DATA_DIR, _one_line, check_output, command_line, interrupted,
                                          theory_params, warn)
    from adaptive_kernel.errors import PhasesimError, WriteError
    from adaptive_kernel.validation import parse_grid

    from .backends import HDFBackend
    from .langevin import LangevinConfig, run_langevin
    from .sampler import DivergenceError

    try:
        t = registry.get_theory(teacher)
        params = _langevin_params(t, theory_params(t, physics, "langevin"))
        grid = parse_grid(sigma2, "sigma2")
        if (grid <= 0).any():
            raise click.UsageError(f"sigma2 must be > 0; got {sigma2!r}")
        if jobs < 1:
            raise click.UsageError(f"--jobs must be >= 1; got {jobs}")
        if scheduler is not None and jobs > 1:
            raise click.UsageError(f"--scheduler and --jobs {jobs} cannot be combined: the Dask "
                                   f"cluster's workers set the parallelism (drop --jobs)")
        if checkpoint_every < 1:
            raise click.UsageError(f"--checkpoint-every must be >= 1; got {checkpoint_every}")
        if train_fraction is not None:  # given: the network must have pairs to split (ParameterError)
            from .models import network_for

            train_fraction = network_for(teacher).check_train_fraction(train_fraction)
        config = LangevinConfig(teacher, params, list(grid), steps=steps, burn_in=burn_in, thin=thin,
                                step_size=step_size, integrator=integrator, seeds=seeds, seed=seed,
                                dtype=dtype, n_test=n_test, time_blocks=time_blocks, adapt=not no_adapt,
                                train_fraction=1.0 if train_fraction is None else train_fraction)
        # workers capped by the CPUs and the units of work; memory estimated before any
        # array is allocated (simulations.resources)
        from .resources import check_resources, effective_jobs

        jobs, jobs_note = effective_jobs(config, jobs)
        check_resources(config, jobs)
    except PhasesimError as exc:
        raise click.UsageError(str(exc)) from None
    if jobs_note:
        click.echo(jobs_note, err=True)
    out = output if output is not None else os.path.join(DATA_DIR, f"{teacher}_langevin.h5")
    ckpt = out + ".ckpt"
    try:  # before the run: refuse an output or checkpoint location that cannot be written
        check_output(out, overwrite)
        check_output(ckpt, overwrite=True, what="checkpoint")
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    backend = HDFBackend(ckpt)
    if resume and not backend.exists():
        raise click.UsageError(f"nothing to resume: no checkpoint {ckpt}")
    if backend.exists() and not resume:
        if not overwrite:
            raise click.UsageError(f"an unfinished run left the checkpoint {ckpt}; pass --resume to "
                                   f"continue it or --overwrite to start over")
        backend.discard()
    total = steps
    done = 0
    if resume:
        try:
            loaded = backend.load()
        except PhasesimError as exc:
            raise click.UsageError(str(exc)) from None
        done = loaded[1] if loaded else 0
        click.echo(f"resuming from step {done} of {total} (checkpoint {ckpt})")
    from adaptive_kernel.runner import UnitError, make_runner

    try:  # jobs is already capped (the note above): make_runner does not cap it again
        runner = make_runner(jobs, scheduler, report=None)
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    try:
        with runner:
            if quiet:
                res = run_langevin(config, backend, resume=resume, checkpoint_every=checkpoint_every,
                                   runner=runner)
            else:
                # completed units (sigma2 x member block x segment) across all workers
                with click.progressbar(length=1, label=f"{teacher}: {len(grid)} sigma2 x {seeds} seeds",
                                       file=sys.stderr) as bar:
                    def show(n_done, n_total):
                        bar.length = max(1, n_total)
                        bar.update(n_done - bar.pos)

                    res = run_langevin(config, backend, resume=resume, checkpoint_every=checkpoint_every,
                                       runner=runner, unit_progress=show)
    except DivergenceError as exc:
        backend.discard()
        raise click.ClickException(str(exc) + " (nothing was written)") from None
    except KeyboardInterrupt:
        interrupted(f"interrupted; {_kept(backend, total)}")
    except WriteError as exc:  # disk full, quota, ... while writing a checkpoint: exit code 1
        raise click.ClickException(f"{_one_line(exc)}; {_kept(backend, total, exc)}") from None
    except UnitError as exc:  # a unit failed on a worker: exit code 1, the checkpoint is kept
        raise click.ClickException(f"{_one_line(exc)}; {_kept(backend, total)}") from None
    except PhasesimError as exc:
        raise click.UsageError(_one_line(exc)) from None
    try:
        res.to_hdf5(out, overwrite=overwrite, command=command_line())
    except KeyboardInterrupt:
        interrupted(f"interrupted while writing {out} (nothing was written there); {_kept(backend, total)}")
    except WriteError as exc:
        raise click.ClickException(f"{_one_line(exc)}; {_kept(backend, total, exc)}") from None
    except PhasesimError as exc:
        raise click.UsageError(f"{_one_line(exc)}; {_kept(backend, total)}") from None
    try:
        backend.discard()
    except WriteError as exc:
        warn(f"{exc}; remove it by hand before the next run with this output")
    if not quiet:
        click.echo(res.table())
    click.echo(res.summary())
    bad = res.sampling_problems()
    if bad:
        pts = "; ".join(f"sigma2={s2:g}: {why}" for s2, why in bad)
        click.echo(f"WARNING: the chains of {len(bad)} of {len(res.points)} sigma2 point(s) cannot have "
                   f"sampled the posterior ({pts}); flagged in langevin/sampling_ok", err=True)
    click.echo(f"wrote {out}")
