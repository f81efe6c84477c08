"""The ``phasesim`` command line: one click group composed from per-command modules.

* ``scan`` (:mod:`adaptive_kernel._cli_scan`): the phase scan, its physics options built from
  the theory registry (:mod:`adaptive_kernel.registry`);
* ``plot``, ``info`` (:mod:`adaptive_kernel._cli_plot`);
* ``langevin`` (:mod:`simulations.cli`): Langevin (MALA) ensembles of the networks;
* ``train`` (:mod:`simulations.train_cli`): networks trained by GD / momentum / AdamW /
  normalised GD with an l_inf penalty;
* ``analytic`` (:mod:`simulations.analytic_cli`): the analytic Fourier networks (Gromov;
  Mohamadi et al.'s exact construction);
* ``kernel`` (:mod:`simulations.kernel_cli`): kernel regression in the kernel regime (NNGP, NTK);
* ``rfm`` (:mod:`simulations.rfm_cli`): recursive feature machines (AGOP).

Commands stay thin: parse, call the library, write. Every error provoked by bad input (a
:class:`~adaptive_kernel.errors.PhasesimError`) becomes a one-line click usage error with
exit code 2; this includes an output location refused before the computation starts
(:func:`adaptive_kernel.storage.check_output_path`). A write that fails nevertheless (disk
full, quota, ...) is a one-line error with exit code 1
(:class:`~adaptive_kernel.errors.WriteError`); Ctrl-C ends with one line and exit code 130.
No command leaves a temporary or partial output file behind.
"""
from __future__ import annotations

import click

from simulations.analytic_cli import analytic_cmd
from simulations.atlas_cli import atlas_cmd
from simulations.cli import langevin_cmd
from simulations.kernel_cli import kernel_cmd
from simulations.rfm_cli import rfm_cmd
from simulations.train_cli import train_cmd

from ._cli_plot import info_cmd, plot_cmd
from ._cli_scan import scan_cmd
from ._cliutil import DATA_DIR, check_output, command_line, usage_errors  # noqa: F401  (re-exported)
from ._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="phasesim")
def main():
    """phasesim: grokking as a first-order phase transition in the adaptive-kernel theory,
    confronted with the learners that grok.

    scan: solve the mean-field self-consistency equations of two-layer networks at
    equilibrium (Langevin / Bayesian posterior) across the GPR noise sigma2 and locate the
    GFL -> GMFL-I (mixed, "droplet") -> GMFL-II phases. langevin: sample those networks.
    train, analytic, kernel, rfm: the same modular-arithmetic task (same seeded splits)
    learned by gradient descent, built analytically, by kernel regression in the kernel
    regime, and by recursive feature machines. plot, info: look at any output file.
    """


for _command in (scan_cmd, plot_cmd, info_cmd, langevin_cmd, train_cmd, kernel_cmd, analytic_cmd, rfm_cmd,
                 atlas_cmd):
    main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
