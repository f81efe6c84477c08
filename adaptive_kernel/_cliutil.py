"""Small helpers shared by the click commands (kept apart from cli.py so that command
modules can import them without importing the command group)."""
from __future__ import annotations

import functools
import shlex
import sys

import click

from .errors import PhasesimError


def usage_errors(fn):
    """Turn domain errors into click usage errors (exit code 2, one line, no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PhasesimError as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper


def command_line() -> str:
    """The command as typed (for provenance)."""
    return "phasesim " + " ".join(shlex.quote(a) for a in sys.argv[1:])
