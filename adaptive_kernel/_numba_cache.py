"""Where numba keeps the compiled kernels of the package (``cache=True``).

By default numba writes its cache next to the source, in ``__pycache__`` folders inside the
installed package. For a regular (non-editable) install that puts files into
``site-packages/adaptive_kernel/...`` that pip did not install and will not remove: a later
``pip install -e .`` uninstalls the package but leaves those folders behind, and the leftover
``site-packages/adaptive_kernel`` becomes a namespace package that hides the editable one.

So the package keeps its compiled kernels in a per-user cache folder instead, chosen once,
before any kernel module is imported:

1. ``NUMBA_CACHE_DIR`` when the user set it (numba's own setting, respected as is);
2. ``$PHASESIM_CACHE_DIR/numba`` when set;
3. ``$XDG_CACHE_HOME/phasesim/numba`` (default ``~/.cache/phasesim/numba``);
4. a per-user folder in the system's temporary directory when the home is not writable.

numba names each cache entry after the full path of its source file, so an installed and an
editable copy of the package never share compiled code.
"""
from __future__ import annotations

import os
import tempfile


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir_candidates() -> list[str]:
    """Folders tried, in order, for the compiled-kernel cache."""
    out = []
    if os.environ.get("PHASESIM_CACHE_DIR"):
        out.append(os.path.join(os.environ["PHASESIM_CACHE_DIR"], "numba"))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    out.append(os.path.join(xdg, "phasesim", "numba"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(os.path.join(tempfile.gettempdir(), f"phasesim-numba-{uid}"))
    return out


def configure() -> str | None:
    """Point numba's cache at a per-user folder (unless the user chose one); return it.

    Must run before the first ``@njit(cache=True)`` of the package is decorated: numba picks
    the cache folder of a function when its dispatcher is created.
    """
    from numba.core import config

    if os.environ.get("NUMBA_CACHE_DIR") or config.CACHE_DIR:
        return config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR")
    for path in cache_dir_candidates():
        if _writable_dir(path):
            config.CACHE_DIR = path
            return path
    return None  # nowhere writable: numba falls back to its own locators (or no caching)


CACHE_DIR = configure()
