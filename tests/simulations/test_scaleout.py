"""Scale-out of the commands with independent units (issue 9): ``phasesim langevin`` and
``phasesim scan --vary`` give identical files serially, with ``--jobs 2`` and on a Dask
``LocalCluster`` given by ``--scheduler ADDRESS``; a killed and resumed Langevin run gives
the same file; the member-block split (which depends on the number of workers) does not
change the result.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel._runner_testing import assert_same_file
from adaptive_kernel.cli import main
from adaptive_kernel.runner import THREAD_ENV_VARS, SerialRunner

distributed = pytest.importorskip("distributed")

MODADD = ["--teacher", "modadd", "--P", "5", "--N", "20", "--sigma-a2", "0.02", "--gamma", "3"]
LANGEVIN = ["langevin", *MODADD, "--sigma2", "0.3:0.1:2", "--seeds", "2", "--steps", "60",
            "--burn-in", "20", "--thin", "2", "--checkpoint-every", "20", "-q"]
SCAN = ["scan", "--teacher", "modadd", "--P", "7", "--sigma2", "0.3:0.1:3",
        "--vary", "gamma=1e-4,2e-4,3e-4", "-q"]


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    # Dask's nanny writes the workers' thread variables into this process's environment when
    # it spawns them: put ours back once the workers are up and after the cluster closes
    saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}

    def restore():
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as c:
            restore()
            yield c
    finally:
        restore()


def _invoke(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (r.output, r.exception)
    return r





@pytest.fixture(scope="module")
def langevin_serial(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("serial") / "run.h5")
    _invoke([*LANGEVIN, "-o", out])
    return out


def test_langevin_jobs_and_dask_identical(langevin_serial, cluster, tmp_path):
    jobs2 = str(tmp_path / "jobs2.h5")
    _invoke([*LANGEVIN, "--jobs", "2", "-o", jobs2])
    assert_same_file(langevin_serial, jobs2)
    dask = str(tmp_path / "dask.h5")
    _invoke([*LANGEVIN, "--scheduler", cluster.scheduler_address, "-o", dask])
    assert_same_file(langevin_serial, dask)


def test_langevin_member_blocks_do_not_change_the_result():
    """4 workers split 2 sigma2 x 2 seeds into 4 one-member blocks: the same bits."""
    from simulations.langevin import LangevinConfig, _batches, run_langevin

    class Wide(SerialRunner):
        workers = 4

    from adaptive_kernel.registry import get_theory

    p = get_theory("modadd").make_params(P=5, N=20, sigma_a2=0.02, gamma=3.0)
    cfg = LangevinConfig("modadd", p, [0.3, 0.1],
                         steps=60, burn_in=20, thin=2, seeds=2)
    assert len(_batches(cfg, 4)) == 4 and len(_batches(cfg, 1)) == 2
    seen = []
    a = run_langevin(cfg, checkpoint_every=20)
    b = run_langevin(cfg, checkpoint_every=20, runner=Wide(), unit_progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 12) and seen[-1] == (12, 12) and len(seen) == 13
    for pa, pb in zip(a.points, b.points):
        for k, v in pa["traces"].items():
            assert np.array_equal(v, pb["traces"][k]), k
        for k, v in pa["arrays"].items():
            assert np.array_equal(v, pb["arrays"][k], equal_nan=True), k


def test_langevin_resume_after_kill_identical(langevin_serial, tmp_path, monkeypatch):
    from simulations import langevin as L

    out = str(tmp_path / "killed.h5")
    real = L.run_langevin
    monkeypatch.setattr(L, "run_langevin", lambda *a, **k: real(*a, stop_after_segments=1, **k))
    r = CliRunner().invoke(main, [*LANGEVIN, "--jobs", "2", "-o", out])
    assert r.exit_code == 130, r.output
    monkeypatch.setattr(L, "run_langevin", real)
    calls = []
    real_task = L._advance_task

    def counting(*a):
        calls.append(a[4])
        return real_task(*a)

    monkeypatch.setattr(L, "_advance_task", counting)  # serial resume: counted in-process
    r = _invoke([*LANGEVIN, "--resume", "-o", out])
    assert "resuming from step 20 of 60" in r.output
    assert calls == [20] * 4  # 2 segments x 2 batches: the finished segment is not rerun
    assert_same_file(langevin_serial, out)


def test_scan_vary_jobs_and_dask_identical(cluster, tmp_path):
    paths = {}
    for name, extra in (("serial", []), ("jobs2", ["--jobs", "2"]),
                        ("dask", ["--scheduler", cluster.scheduler_address])):
        paths[name] = str(tmp_path / f"{name}.h5")
        _invoke([*SCAN, *extra, "-o", paths[name]])
    assert_same_file(paths["serial"], paths["jobs2"])
    assert_same_file(paths["serial"], paths["dask"])


def test_scan_jobs_without_vary_refused(tmp_path):
    r = CliRunner().invoke(main, ["scan", "--teacher", "modadd", "--P", "7", "--sigma2", "0.3",
                                  "--jobs", "2", "-o", str(tmp_path / "x.h5")])
    assert r.exit_code == 2 and "--jobs 2 needs --vary" in r.output
    assert not (tmp_path / "x.h5").exists()


def test_a_failing_unit_names_its_parameters_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    """A unit that raises stops the run with one line naming the unit's sigma2, members and
    steps (exit code 1); nothing is written at the output and the last checkpoint is kept."""
    from simulations import langevin

    real = langevin._advance_task
    calls = {"n": 0}

    def flaky(meta, isig, members, states, n):
        calls["n"] += 1
        if states is not None and isig == 1:  # the second segment of the second sigma2
            raise ValueError("boom")
        return real(meta, isig, members, states, n)

    monkeypatch.setattr(langevin, "_advance_task", flaky)
    out = tmp_path / "f.h5"
    r = CliRunner().invoke(main, LANGEVIN + ["-q", "-o", str(out)])
    assert r.exit_code == 1, r.output
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in r.output
    assert "ValueError: boom" in err[0] and "sigma2 = 0.1" in err[0] and "members 0..1" in err[0]
    assert not out.exists()
    assert (tmp_path / "f.h5.ckpt").exists()
