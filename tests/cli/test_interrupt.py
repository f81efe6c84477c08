"""A Ctrl-C delivered while the garbage collector runs a finaliser is not lost
(adaptive_kernel.interrupt; the CI failure of test_real_sigint_to_langevin: the
KeyboardInterrupt was raised inside a WeakValueDictionary callback and dropped)."""
import gc
import os
import signal
import sys

import pytest

from adaptive_kernel.interrupt import raise_if_interrupted, sigint_guard
from adaptive_kernel.runner import SerialRunner


class _SigintInFinaliser:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)   # the handler runs here; its exception is swallowed
        for _ in range(1000):                 # give the interpreter a few bytecodes to run it
            pass


def _swallow_sigint():
    obj = _SigintInFinaliser()
    del obj
    gc.collect()


@pytest.fixture
def swallowed(monkeypatch):
    """The exceptions Python dropped ("Exception ignored in ..."), by type."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    return seen


def test_plain_python_loses_a_sigint_raised_in_a_finaliser(swallowed):
    # the failure mode itself: the exception does not reach the caller
    _swallow_sigint()
    assert swallowed == [KeyboardInterrupt]


def test_the_guard_raises_it_again_at_the_next_check(swallowed):
    with sigint_guard():
        _swallow_sigint()
        assert swallowed == [KeyboardInterrupt]
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    raise_if_interrupted()                    # cleared when the guard ends
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _unit(x):
    if x == 1:
        _swallow_sigint()
    return x


def test_runner_loop_stops_after_the_unit_that_swallowed_it(swallowed):
    seen = []
    with sigint_guard():
        with pytest.raises(KeyboardInterrupt):
            SerialRunner().map(_unit, range(5), progress=lambda d, t: seen.append(d))
    assert swallowed == [KeyboardInterrupt]
    assert seen[-1] == 2                      # units 0 and 1 were finished, 2..4 never started
