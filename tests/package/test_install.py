"""Installation hygiene: compiled kernels live in a per-user cache folder, never inside the
installed package (pip cannot remove files it did not install; a leftover
``site-packages/adaptive_kernel/teachers/__pycache__`` turns into a namespace package that
hides a later editable install)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, os, numba
import adaptive_kernel, simulations
from adaptive_kernel.teachers import _modadd_kernels as K
from simulations import _kernels_modadd as S
K.pair_action(0.1, 0.2, 5, 0.3, 1e-4)   # compile (and write the cache)
print(json.dumps({"config": numba.config.CACHE_DIR,
                  "teacher": K.pair_action._cache._cache_path,
                  "sim": S.propose._cache._cache_path}))
"""


def _probe(env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PHASESIM_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compiled_kernels_go_to_the_user_cache(tmp_path):
    xdg = tmp_path / "xdg"
    paths = _probe({"XDG_CACHE_HOME": str(xdg)}, tmp_path)
    base = str(xdg / "phasesim" / "numba")
    assert paths["config"] == base
    for key in ("teacher", "sim"):
        assert paths[key].startswith(base), paths
        assert not paths[key].startswith(str(ROOT)), paths
    written = list((xdg / "phasesim" / "numba").rglob("*.nbi"))
    assert written, "nothing was cached in the user cache folder"


def test_user_choices_are_respected(tmp_path):
    mine = tmp_path / "mine"
    paths = _probe({"PHASESIM_CACHE_DIR": str(mine)}, tmp_path)
    assert paths["teacher"].startswith(str(mine / "numba"))
    numba_dir = tmp_path / "numba_dir"
    paths = _probe({"NUMBA_CACHE_DIR": str(numba_dir), "PHASESIM_CACHE_DIR": str(mine)}, tmp_path)
    assert paths["teacher"].startswith(str(numba_dir))


def test_unwritable_home_falls_back_to_the_temporary_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "file").write_text("x")  # XDG_CACHE_HOME below a *file*: cannot be created
    paths = _probe({"XDG_CACHE_HOME": str(ro / "file" / "sub")}, tmp_path)
    assert "phasesim-numba-" in paths["teacher"]
