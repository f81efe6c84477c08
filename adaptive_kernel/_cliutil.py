"""Small helpers shared by the click commands (kept apart from cli.py so that command
modules can import them without importing the command group)."""
from __future__ import annotations

import functools
import shlex
import sys

import click

from .errors import PhasesimError, WriteError

#: exit code of a run stopped by Ctrl-C (SIGINT), as a shell reports it (128 + 2)
EXIT_INTERRUPTED = 130


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
