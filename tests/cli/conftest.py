"""Fixtures of the command-line tests."""
import pytest
from click.testing import CliRunner


@pytest.fixture
def phasesim():
    """Run ``phasesim ARGS...`` in-process (click's CliRunner, exceptions caught into the
    result, stdout and stderr kept apart); returns the click ``Result``."""
    from adaptive_kernel.cli import main

    def invoke(*args):
        flat = []
        for a in args:
            flat.extend(a if isinstance(a, (list, tuple)) else [a])
        return CliRunner().invoke(main, [str(a) for a in flat], catch_exceptions=True)

    return invoke
