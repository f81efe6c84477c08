"""The ``phasesim`` command line. Commands stay thin: parse, call the library, write.

Every error provoked by bad input (a :class:`~adaptive_kernel.errors.PhasesimError`)
becomes a one-line click usage error with exit code 2; this includes an output location
refused before the computation starts (:func:`adaptive_kernel.storage.check_output_path`).
A write that fails nevertheless (disk full, quota, ...) is a one-line error with exit code
1 (:class:`~adaptive_kernel.errors.WriteError`); Ctrl-C ends with one line and exit code
130. No command leaves a temporary or partial output file behind.
"""
from __future__ import annotations

import os
import sys

import click

from ._cliutil import check_output, command_line, usage_errors  # noqa: F401  (re-exported)
from ._version import __version__

DATA_DIR = "data"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="phasesim")
def main():
    """phasesim: grokking as a first-order phase transition in the adaptive-kernel theory.

    Solve the mean-field self-consistency equations of two-layer networks trained to
    equilibrium (Langevin / Bayesian posterior) for a teacher-student model, across the
    GPR noise sigma2, and locate the GFL -> GMFL-I (mixed, "droplet") -> GMFL-II phases.
    """


_TEACHER_OPTIONS = {
    "modadd": {"P", "N", "sigma_a2", "gamma", "normalization", "method", "action"},
    "cubic": {"N", "n", "d", "sigma_w2", "sigma_a2", "eps", "method", "modes", "alpha", "beta"},
}


@main.command("scan")
@click.option("--teacher", type=click.Choice(["modadd", "cubic"]), default="modadd", show_default=True,
              help="Teacher model: modadd = addition mod P learned by a square-activation network "
                   "(the paper's Sec. 3.2); cubic = H1 + eps*H3 single-index teacher learned by an erf "
                   "network (Sec. 3.1).")
@click.option("--P", "P", type=int, default=None,
              help="[modadd] Modulus P (prime >= 5). Inputs are two-hot vectors in R^{2P}; all P^2 "
                   "pairs are the training set. Default 401.")
@click.option("--N", "N", type=int, default=None,
              help="Network width (hidden units). Mean-field coupling scales as 1/N. "
                   "Default 1000 (modadd), 700 (cubic).")
@click.option("--n", "n", type=int, default=None,
              help="[cubic] Number of training examples n (enters through n/sigma2). Default 3000.")
@click.option("--d", "d", type=int, default=None,
              help="[cubic] Input dimension d; the action is d times an O(1) function, so d is "
                   "the saddle-point parameter. Default 150.")
@click.option("--sigma-w2", "sigma_w2", type=float, default=None,
              help="[cubic] Read-in prior variance times d: w ~ N(0, sigma_w2/d). Default 0.5.")
@click.option("--sigma-a2", "sigma_a2", type=float, default=None,
              help="Read-out prior variance times N: a ~ N(0, sigma_a2/N). "
                   "Default 0.002/N (modadd), 8/N (cubic).")
@click.option("--eps", "eps", type=float, default=None,
              help="[cubic] Weight of the cubic Hermite component of the teacher, y = H1 + eps*H3. "
                   "Default -0.3.")
@click.option("--gamma", "gamma", type=float, default=None,
              help="[modadd] Strength of the sextic Fourier weight decay "
                   "Gamma = sum_k P (gamma/6)(|W_k|^6 + |V_k|^6) that decouples the Fourier modes "
                   "and bounds the droplet minima at |W_k|^2 ~ sqrt(3/gamma). Default 1e-4.")
@click.option("--sigma2", "sigma2", type=str, default=None,
              help="Grid of the GPR noise sigma2 (the posterior's 'temperature' of the data term; "
                   "lower sigma2 = more effective data) as START:STOP:NUM, endpoints included, "
                   "or a single value. Default 0.26:0.15:111 (modadd), 0.3:0.1:81 (cubic).")
@click.option("--normalization", type=click.Choice(["derived", "paper"]), default=None,
              help="[modadd] Kernel eigenvalue of the target: 'derived' Lambda = 4 P^2 sigma_a2 <XY> "
                   "(Gram-matrix projection; equals the NNGP value under the prior) or 'paper' "
                   "Lambda = sigma_a2 <XY> (the paper's eq. 37-38). Default derived.")
@click.option("--action", type=click.Choice(["ek", "full"]), default=None,
              help="[modadd] Single-neuron action of the read-in weights. 'ek' (default): the paper's "
                   "equivalent-kernel action, data term -(sigma_a2/2N) sum_p (tbar_p . phi)^2 only "
                   "(reproduces the paper). 'full': adds the kernel term +(sigma_a2/2N) sum_p "
                   "phi^T (Q + sigma2)^-1 phi, in a mean field over Fourier modes: it weakens the "
                   "XY attraction on the target modes, penalises every neuron's off-target, "
                   "second-harmonic and constant components (P<|W_k|^2> drops below the prior's 1) "
                   "and moves the transition to lower sigma2. Needs --normalization derived.")
@click.option("--method", type=str, default=None,
              help="How the weight posterior is integrated. modadd: 'exact' (2-D quadrature at "
                   "finite P, default) or 'saddle' (P -> inf Gaussian mixture). cubic: 'quadrature' "
                   "(exact 1-D integral at finite d, default) or 'saddle' (d -> inf).")
@click.option("--modes", "modes", type=int, default=None,
              help="[cubic] Number of odd Hermite modes H1, H3, ..., H(2K-1) kept in the "
                   "discrepancy ansatz. Default 2 (the paper's closure).")
@click.option("--alpha", "alpha", type=float, default=None,
              help="[cubic] Data scaling of the paper's Table 1: n -> alpha n, sigma2 -> (alpha/beta) sigma2. "
                   "Default 1.")
@click.option("--beta", "beta", type=float, default=None,
              help="[cubic] Width scaling of Table 1: N -> beta N, d -> sqrt(beta) d, "
                   "sigma_a2 -> sigma_a2/sqrt(beta). Default 1.")
@click.option("--vary", "vary", type=str, default=None, metavar="NAME=START:STOP:NUM",
              help="Also sweep a second parameter (e.g. gamma=5e-5:4e-4:8 for modadd, "
                   "eps=-0.6:-0.1:6 for cubic; or NAME=V1,V2,...): one sigma2 scan per value, written "
                   "as a 2-D phase diagram (draw it with 'phasesim plot FILE --kind phase'). "
                   "Default output data/<teacher>_phase_<NAME>.h5.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output HDF5 file. Default data/modadd_scan.h5 or data/cubic_scan.h5.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no table.")
@usage_errors
def scan_cmd(teacher, output, overwrite, quiet, sigma2, vary, **physics):
    """Phase scan in sigma2: solve the self-consistency at every noise value (downward and
    upward continuation), classify GFL / GMFL-I / GMFL-II, locate the boundaries by
    bisection and write an HDF5 file.

    With no option it runs the paper's Fig. 3 setting (modadd: P=401, N=1000,
    sigma_a2=0.002/N, gamma=1e-4, sigma2 from 0.26 down to 0.15 in 111 points).
    """
    from .solver import scan
    from .teachers import get_teacher
    from .validation import parse_grid

    given = {k for k, v in physics.items() if v is not None}
    foreign = sorted(given - _TEACHER_OPTIONS[teacher])
    if foreign:
        opts = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise click.UsageError(f"option(s) {opts} do not apply to --teacher {teacher}")
    t = get_teacher(teacher)
    kw = {k: v for k, v in physics.items() if k in _TEACHER_OPTIONS[teacher]}
    params = t.make_params(**kw)
    from .limits import check_scan_size
    from .validation import grid_size

    num = grid_size(sigma2 if sigma2 is not None else t.default_sigma2)
    if vary is None and num is not None and num >= 1:
        check_scan_size(t, params, num)  # point cap and estimate, before the grid is built
    grid = parse_grid(sigma2 if sigma2 is not None else t.default_sigma2, "sigma2")
    if (grid <= 0).any():
        raise click.UsageError(f"sigma2 must be > 0; got grid {sigma2!r}")
    if vary is None:
        t.check_sigma2(params, grid)  # the noise range the numerics resolve (one line, exit 2)
    if vary is not None:  # 2-D phase diagram (adaptive_kernel.phase_diagram)
        from ._cli_plot import scan_vary

        return scan_vary(t, params, given, vary, grid, output, overwrite, quiet, DATA_DIR, command_line())
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


def _register_optional_commands():
    """Commands living in other modules (plotting, simulations) register themselves here."""
    for modname in ("adaptive_kernel._cli_plot", "simulations.cli"):
        try:
            mod = __import__(modname, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue
        mod.register(main)


_register_optional_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
