"""``phasesim atlas``: every method of the package on the same splits of a token-pair task (added
to the ``phasesim`` click group by :mod:`adaptive_kernel.cli`; this module does not import it).

Each (method, P, training fraction, seed) is one unit of work (:mod:`adaptive_kernel.runner`);
``--jobs`` / ``--scheduler`` spread them without changing a bit of the result (the units' wall
times aside). Finished units are kept in OUTPUT.ckpt (written at most every
``--checkpoint-seconds`` and when the run stops); ``--resume`` computes only the others.
Exit codes: 2 for bad input (including a run too large for memory or too long, refused
before it starts, and an output location refused before the run), 1 when writing fails or a
unit raises (the checkpoint is kept), 130 after Ctrl-C (the checkpoint is kept).

Budget defaults (see :data:`simulations.atlas.METHODS`): RFM 20 iterations; gd and AdamW the
trainer's defaults (width 256, 4000 steps, logged every 50); the analytic network at the
trained networks' width; kernels ridgeless. With them the default run (P = 31, 61; fractions
0.1 .. 0.9 in 9 steps; 2 seeds; every method) is estimated at about 3000 single-core seconds
(gd and AdamW take nine tenths of it), i.e. under an hour with ``--jobs 2`` on two cores.
The Langevin networks (``--methods all`` or ``--methods ...,langevin``; defaults N = P^2,
sigma2 = 0.1, sigma_a2 = 0.01, gamma = 1, 6000 steps with 3000 burn-in, 2 chains) are not in
the default set: their cost grows as P^5 at N = P^2. With them the alpha = 1 link to the
theory runs too (``--no-theory-link`` to skip it).
"""
from __future__ import annotations

import os

import click

from adaptive_kernel._cliutil import usage_errors

from . import atlas as A

_LB = A.METHODS["langevin"].budget


def _parse_P(text: str) -> list:
    from adaptive_kernel.errors import ParameterError

    try:
        vals = [int(t) for t in str(text).split(",") if t.strip() != ""]
    except ValueError:
        raise ParameterError(f"--P must be one integer or a comma list (e.g. 31,61); got {text!r}") from None
    if not vals:
        raise ParameterError(f"--P must be one integer or a comma list (e.g. 31,61); got {text!r}")
    if len(set(vals)) != len(vals):
        raise ParameterError(f"--P has repeated values; got {text!r}")
    return vals


def _parse_methods(text: str) -> list:
    from adaptive_kernel.errors import ParameterError

    if str(text).strip() == "all":
        return A.method_names()
    if str(text).strip() == "default":
        return A.default_method_names()
    vals = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [v for v in vals if v not in A.METHODS]
    if bad or not vals:
        raise ParameterError(f"--methods must be 'default', 'all' or a comma list of {', '.join(A.METHODS)}; "
                             f"got {text!r}")
    if len(set(vals)) != len(vals):
        raise ParameterError(f"--methods has repeated names; got {text!r}")
    return vals


@click.command("atlas")
@click.option("--task", type=click.Choice(A.pair_task_names()), default=A.pair_task_names()[0], show_default=True,
              help="Task (its data must be pairs of tokens).")
@click.option("--P", "P", type=str, default="31,61", show_default=True,
              help="Modulus: one integer or a comma list.")
@click.option("--operation", type=str, default="add", show_default=True,
              help="The modular operation (add, sub, mul, div, pow:A,B).")
@click.option("--train-fraction", "train_fraction", type=str, default="0.1:0.9:9", show_default=True,
              help="Training fractions in (0, 1): one value or START:STOP:NUM (endpoints included). Every method "
                   "trains on task.split(fraction, seed).")
@click.option("--seeds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Splits per point: seeds SEED .. SEED+SEEDS-1.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option("--methods", type=str, default="default", show_default=True,
              help=f"'default' ({','.join(A.default_method_names())}), 'all' (also "
                   f"{','.join(m for m in A.METHODS if m not in A.default_method_names())}) or a comma list of: "
                   f"{', '.join(A.METHODS)}.")
@click.option("--threshold", type=float, default=A.THRESHOLD, show_default=True,
              help="Test accuracy that counts as generalised (alpha_c: reached in at least half the seeds).")
@click.option("--refine", type=click.IntRange(min=0, max=A.MAX_REFINE), default=0, show_default=True,
              help="Rounds of bisection of each bracketed alpha_c (every seed at the bracket's midpoint).")
@click.option("--kernel-ridge", "kernel_ridge", type=float, default=0.0, show_default=True,
              help="[kernel-nngp, kernel-ntk] Ridge relative to the kernel's mean diagonal; 0: ridgeless.")
@click.option("--rfm-iterations", "rfm_iterations", type=int, default=20, show_default=True,
              help="[rfm-*] RFM iterations (clock: AGOP updates).")
@click.option("--net-width", "net_width", type=int, default=256, show_default=True,
              help="[gd, adamw] Hidden units of the trained networks (the trainer's default).")
@click.option("--gd-steps", "gd_steps", type=int, default=4000, show_default=True,
              help="[gd] Training steps (the trainer's default).")
@click.option("--adamw-steps", "adamw_steps", type=int, default=4000, show_default=True,
              help="[adamw] Training steps (the trainer's default).")
@click.option("--log-every", "log_every", type=int, default=50, show_default=True,
              help="[gd, adamw] Steps between measurements: the resolution of their fit and grokking times.")
@click.option("--analytic-width", "analytic_width", type=int, default=None,
              help="[analytic] Neurons of Gromov's network. Default: --net-width.")
@click.option("--langevin-steps", "langevin_steps", type=int, default=_LB["steps"].default, show_default=True,
              help="[langevin] MALA steps per chain.")
@click.option("--langevin-burn-in", "langevin_burn_in", type=int, default=_LB["burn_in"].default, show_default=True,
              help="[langevin] Steps before the first recorded sample (< --langevin-steps).")
@click.option("--langevin-thin", "langevin_thin", type=int, default=_LB["thin"].default, show_default=True,
              help="[langevin] Steps between recorded samples: the resolution of its fit and generalisation times.")
@click.option("--langevin-members", "langevin_members", type=int, default=_LB["members"].default, show_default=True,
              help="[langevin] Independent chains per unit (same split).")
@click.option("--langevin-width", "langevin_width", type=int, default=None,
              help="[langevin] Hidden units N. Default: P^2 (the package's Langevin runs).")
@click.option("--langevin-sigma2", "langevin_sigma2", type=float, default=_LB["sigma2"].default, show_default=True,
              help="[langevin] Noise sigma2 of the posterior (docs/atlas.md: the theory's phase there).")
@click.option("--langevin-sigma-a2", "langevin_sigma_a2", type=float, default=_LB["sigma_a2"].default,
              show_default=True, help="[langevin] Read-out prior variance sigma_a2.")
@click.option("--langevin-gamma", "langevin_gamma", type=float, default=_LB["gamma"].default, show_default=True,
              help="[langevin] Sextic Fourier weight decay gamma.")
@click.option("--theory-link/--no-theory-link", "theory_link", default=None,
              help="[langevin] Also run the Langevin networks on every pair (alpha = 1), one unit per (P, seed), and "
                   "compare their residual r with phasesim scan's at the same parameters. Default: on when langevin "
                   "is among --methods.")
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Local worker processes (capped at the CPUs and the units). Results do not depend on it.")
@click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
              help="Run the units on an existing Dask cluster (tcp://host:port or a scheduler file). Not with --jobs > 1.")
@click.option("--checkpoint-seconds", "checkpoint_seconds", type=click.FloatRange(min=0), default=30.0,
              show_default=True, help="Write OUTPUT.ckpt at most this often (and when the run stops).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/<task>_atlas.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (or a stale checkpoint).")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT.ckpt: only the unfinished units are computed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no table.")
@usage_errors
def atlas_cmd(task, P, operation, train_fraction, seeds, seed, methods, threshold, refine, kernel_ridge,
              rfm_iterations, net_width, gd_steps, adamw_steps, log_every, analytic_width, langevin_steps,
              langevin_burn_in, langevin_thin, langevin_members, langevin_width, langevin_sigma2, langevin_sigma_a2,
              langevin_gamma, theory_link, jobs, scheduler, checkpoint_seconds, output, overwrite, resume, quiet):
    """The grokking atlas: kernel regression (NNGP, NTK), recursive feature machines
    (quadratic, Gaussian), networks trained by GD and AdamW and Gromov's analytic network on
    the same train/test splits; test accuracy against training fraction, the critical
    fraction alpha_c per method and P, its scaling alpha_c ~ P^-kappa, and the times to fit
    and to generalise (HDF5 kind 'atlas')."""
    from adaptive_kernel._cliutil import DATA_DIR, _one_line, check_output, command_line, interrupted, warn
    from adaptive_kernel.errors import ParameterError, PhasesimError, WriteError
    from adaptive_kernel.limits import MAX_SEED, format_seconds
    from adaptive_kernel.runner import UnitError, make_runner
    from adaptive_kernel.validation import parse_grid

    from .backends import HDFBackend

    P_values = _parse_P(P)
    fractions = list(parse_grid(train_fraction, "train-fraction"))
    if seed + seeds - 1 > MAX_SEED:
        raise ParameterError(f"--seed + --seeds - 1 must be <= {MAX_SEED}; got {seed + seeds - 1}")
    method_list = _parse_methods(methods)
    budgets = {"kernel-nngp": {"ridge": kernel_ridge}, "kernel-ntk": {"ridge": kernel_ridge},
               "rfm-quadratic": {"iterations": rfm_iterations}, "rfm-gaussian": {"iterations": rfm_iterations},
               "gd": {"steps": gd_steps, "width": net_width, "log_every": log_every},
               "adamw": {"steps": adamw_steps, "width": net_width, "log_every": log_every},
               "analytic": {"width": analytic_width if analytic_width is not None else net_width},
               "langevin": {"steps": langevin_steps, "burn_in": langevin_burn_in, "thin": langevin_thin,
                            "members": langevin_members, "width": langevin_width, "sigma2": langevin_sigma2,
                            "sigma_a2": langevin_sigma_a2, "gamma": langevin_gamma}}
    for flag, v, lo in (("--rfm-iterations", rfm_iterations, 1), ("--net-width", net_width, 1),
                        ("--gd-steps", gd_steps, 1), ("--adamw-steps", adamw_steps, 1), ("--log-every", log_every, 1),
                        ("--analytic-width", analytic_width, 1), ("--langevin-steps", langevin_steps, 2),
                        ("--langevin-burn-in", langevin_burn_in, 0), ("--langevin-thin", langevin_thin, 1),
                        ("--langevin-members", langevin_members, 1), ("--langevin-width", langevin_width, 1)):
        if v is not None and v < lo:
            raise ParameterError(f"{flag} must be >= {lo}; got {v}")
    if "langevin" in method_list and langevin_burn_in >= langevin_steps:
        raise ParameterError(f"--langevin-burn-in must be < --langevin-steps = {langevin_steps}; got {langevin_burn_in}")
    config = A.AtlasConfig(task=task, operation=operation, P=P_values, fractions=fractions,
                           seeds=list(range(seed, seed + seeds)), methods=method_list,
                           budgets={m: budgets[m] for m in method_list}, threshold=threshold, refine=refine,
                           theory_link=theory_link)
    n_units = len(config.methods) * len(config.P) * len(config.fractions) * len(config.seeds)
    runner = make_runner(jobs, scheduler, n_units=n_units)  # validates --jobs, caps it
    try:
        workers = getattr(runner, "workers", 1) or 1
        est = A.check_resources(config, workers)
        out = output if output is not None else os.path.join(DATA_DIR, f"{task}_atlas.h5")
        ckpt = out + ".ckpt"
        check_output(out, overwrite)
        check_output(ckpt, overwrite=True, what="checkpoint")
        backend = HDFBackend(ckpt)
        if resume and not backend.exists():
            raise ParameterError(f"nothing to resume: no checkpoint {ckpt}")
        if backend.exists() and not resume:
            if not overwrite:
                raise ParameterError(f"an unfinished run left the checkpoint {ckpt}; pass --resume to continue it "
                                     f"or --overwrite to start over")
            backend.discard()
        store = A.UnitCheckpoint(backend, config.unit_meta(), resume=resume, flush_seconds=checkpoint_seconds)
    except BaseException:
        runner.close()
        raise
    if not quiet:
        per = ", ".join(f"{m} {format_seconds(s)}" for m, s in est.items())
        click.echo(f"atlas: {n_units} unit(s) on the grid, estimated {format_seconds(sum(est.values()) / workers)} "
                   f"with {workers} worker(s) (one core: {per})", err=True)
        if resume:
            click.echo(f"resuming: {store.n_loaded} finished unit(s) in {ckpt}", err=True)

    def kept():
        if not len(store):
            return "no unit had finished: nothing to resume"
        return f"the {len(store)} finished unit(s) are kept in {ckpt}: continue with --resume"

    last = {"stage": None}

    def show(n_done, n_total, stage):
        if quiet:
            return
        if stage != last["stage"] or n_done == n_total or n_done % max(1, n_total // 50) == 0:
            click.echo(f"\ratlas {stage}: {n_done}/{n_total} unit(s)", err=True, nl=n_done == n_total)
        last["stage"] = stage

    try:
        with runner:
            res = A.run_atlas(config, runner=runner, store=store, progress=show)
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
        click.echo(f"wrote {out}")
    if not res.success:
        warn(res.message)
