"""Small helpers shared by the click commands (kept apart from cli.py so that command
modules, here and in :mod:`simulations.cli`, can import them without importing the command
group): error handling, output checks, provenance, and the physics options built from the
theory registry (:func:`theory_options`, :func:`theory_params`)."""
from __future__ import annotations

import functools
import shlex
import sys

import click

from .errors import PhasesimError, WriteError
from .interrupt import sigint_guard

#: exit code of a run stopped by Ctrl-C (SIGINT), as a shell reports it (128 + 2)
EXIT_INTERRUPTED = 130

#: default output folder of the commands (relative to the working directory)
DATA_DIR = "data"


def _one_line(text) -> str:
    return " ".join(str(text).split())


def usage_errors(fn):
    """Turn domain errors into one-line click errors, never a traceback.

    * :class:`~adaptive_kernel.errors.WriteError` (an output or checkpoint could not be
      written: disk full, quota, read-only file system, ...): ``Error: ...`` on stderr, exit
      code 1.
    * every other :class:`~adaptive_kernel.errors.PhasesimError` (bad input, including an
      output location refused before the run): a usage error, exit code 2.
    * :class:`KeyboardInterrupt` (Ctrl-C): one line on stderr, exit code 130
      (see :func:`interrupted`); temporary files are removed by the writers themselves.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with sigint_guard():
                return fn(*args, **kwargs)
        except WriteError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except PhasesimError as exc:
            raise click.UsageError(_one_line(exc)) from None
        except KeyboardInterrupt:
            interrupted("interrupted; no partial output was left (temporary files removed)")

    return wrapper


def interrupted(message: str):
    """Report a Ctrl-C on one line of stderr and exit with code 130."""
    click.echo(message, err=True)
    sys.exit(EXIT_INTERRUPTED)


def warn(message: str):
    """One ``warning: ...`` line on stderr."""
    click.echo(f"warning: {_one_line(message)}", err=True)


def check_output(path, overwrite: bool, what: str = "output file") -> str:
    """:func:`adaptive_kernel.storage.check_output_path` for a command: refuse an output
    location before the computation starts (a domain error, exit code 2 through
    :func:`usage_errors`), and report stale temporary files next to it as warnings on
    stderr (removing the stale ones)."""
    from .storage import check_output_path

    return check_output_path(path, overwrite, what=what, report=warn)


def command_line() -> str:
    """The command as typed (for provenance)."""
    return "phasesim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


# ---------------------------------------------------------------------------------------
# physics options from the theory registry
# ---------------------------------------------------------------------------------------
def option_flag(param: str, spec: dict | None = None) -> str:
    """The command-line flag of a theory parameter: ``spec["flag"]`` or ``--`` + the name
    with ``_`` -> ``-`` (``P`` -> ``--P``, ``sigma_a2`` -> ``--sigma-a2``)."""
    if spec and spec.get("flag"):
        return spec["flag"]
    return "--" + param.replace("_", "-")


def _option_type(param: str, specs: dict):
    """One click type for an option declared by several theories: the common Python type,
    or a :class:`click.Choice` over the union of the declared choices."""
    types = [spec.get("type", str) for spec in specs.values()]
    if all(isinstance(t, (tuple, list)) for t in types):
        choices = []
        for t in types:
            choices += [c for c in t if c not in choices]
        return click.Choice(choices)
    if any(t != types[0] for t in types):
        raise TypeError(f"option {param!r} is declared with different types by the theories "
                        f"{', '.join(specs)}: {types}")
    return types[0]


def theory_options(command: str):
    """Decorator adding the physics options the registered theories declare for ``command``
    (:func:`adaptive_kernel.registry.theory_options`): one click option per parameter, all
    defaulting to None (the theory's default applies). The help of an option shows each
    theory's text as its own paragraph, prefixed with ``[name]``."""
    from .registry import theory_options as declared

    key = "langevin_help" if command == "langevin" else "help"
    opts = []
    for param, specs in declared(command).items():
        help_text = "\n\n".join(f"[{name}] {spec.get(key) or spec.get('help', '')}".rstrip()
                                 for name, spec in specs.items())
        flags = {option_flag(param, spec) for spec in specs.values()}
        if len(flags) != 1:
            raise TypeError(f"option {param!r} is declared with different flags: {sorted(flags)}")
        opts.append(click.option(flags.pop(), param, type=_option_type(param, specs), default=None,
                                 help=help_text))

    def decorate(fn):
        for o in reversed(opts):
            fn = o(fn)
        return fn

    return decorate


def theory_params(theory, physics: dict, command: str) -> dict:
    """The validated parameters of ``theory`` from the physics options of a command.

    Options given (not None) that ``theory`` does not declare for ``command`` are refused
    with one line naming them (a click usage error); the others are passed to
    ``theory.make_params`` (its defaults fill the rest, :class:`ParameterError` on a bad
    value).
    """
    allowed = {k for k, spec in theory.cli_options.items()
               if command in spec.get("commands", ("scan", "langevin"))}
    given = {k for k, v in physics.items() if v is not None}
    foreign = sorted(given - allowed)
    if foreign:
        opts = ", ".join(option_flag(k, theory.cli_options.get(k)) for k in foreign)
        raise click.UsageError(f"option(s) {opts} do not apply to --teacher {theory.name}")
    return theory.make_params(**{k: v for k, v in physics.items() if k in allowed})
