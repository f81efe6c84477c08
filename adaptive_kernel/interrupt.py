"""Ctrl-C that cannot be lost.

Python turns SIGINT into a :class:`KeyboardInterrupt` raised in whatever Python code runs
when the signal handler fires. When that code is a weak-reference or ``__del__`` callback
(run by the garbage collector in the middle of a long loop), the interpreter prints
"Exception ignored in ..." and *drops* the exception: the run goes on as if nothing had
happened. :func:`sigint_guard` installs a handler that also records the signal, and long loops
call :func:`raise_if_interrupted` once per step, so a swallowed interrupt is raised again at
the next step.

The handler is installed only in the main thread and only while the guard is active; the
previous handler is restored on exit. Without a guard, :func:`raise_if_interrupted` costs one
global lookup and never raises.
"""
from __future__ import annotations

import contextlib
import signal
import threading

_pending = False


def _on_sigint(signum, frame):
    global _pending
    _pending = True
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if a SIGINT arrived under :func:`sigint_guard` (also
    when the exception the handler raised was swallowed by a garbage-collector callback)."""
    if _pending:
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigint_guard():
    """Context manager: record every SIGINT (see the module docstring); no-op outside the
    main thread or where the default Python handler is not in place (e.g. SIGINT ignored)."""
    global _pending
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _pending = False
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending = False
