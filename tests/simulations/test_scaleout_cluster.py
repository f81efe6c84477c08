"""Scale-out on an external Dask cluster (issue 9): a ``dask scheduler`` and two ``dask
worker`` processes started on 127.0.0.1 as separate processes, used through ``--scheduler
<scheduler file>``, give the same files as the serial run for the tiny ``phasesim langevin``
and ``phasesim scan --vary`` runs of test_scaleout.py; and a worker process killed (SIGKILL)
while it computes a Langevin unit does not change the file (Dask reschedules the unit).

The workers are started with ``--preload`` of a small module (written here) that wraps
``simulations.langevin._advance_task``: once the test creates an ``arm`` file, the first
unit to start claims it, writes its worker's PID and sleeps, so the test kills a worker that
is certainly computing a unit (no timing guess). The unit function is pickled by reference,
so the workers call the wrapper.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest
from click.testing import CliRunner

from adaptive_kernel._runner_testing import assert_same_file, dask_command, stop_processes
from adaptive_kernel.cli import main

distributed = pytest.importorskip("distributed")

MODADD = ["--teacher", "modadd", "--P", "5", "--N", "20", "--sigma-a2", "0.02", "--gamma", "3"]
LANGEVIN = ["langevin", *MODADD, "--sigma2", "0.3:0.1:2", "--seeds", "2", "--steps", "60",
            "--burn-in", "20", "--thin", "2", "--checkpoint-every", "20", "-q"]
SCAN = ["scan", "--teacher", "modadd", "--P", "7", "--sigma2", "0.3:0.1:3",
        "--vary", "gamma=1e-4,2e-4,3e-4", "-q"]

_PRELOAD = '''
"""Test preload: makes one armed Langevin unit sleep so that the test can kill its worker."""
import os
import time

import simulations.langevin as _L

_DIR = os.environ["PHASESIM_TEST_KILL_DIR"]
_real = getattr(_L, "_phasesim_real_advance_task", _L._advance_task)
_L._phasesim_real_advance_task = _real  # the preload may run more than once


def _advance_task(*args):
    if os.path.exists(os.path.join(_DIR, "arm")):
        try:
            fd = os.open(os.path.join(_DIR, "claimed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(120)  # killed long before
    return _real(*args)


_L._advance_task = _advance_task
'''


def _invoke(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (r.output, r.exception)
    return r





# -- the external cluster ----------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Scheduler + two workers (separate processes, our own process groups); yields
    (scheduler file, kill directory). Everything is terminated in the finally."""
    cmd = dask_command()
    if cmd is None:
        pytest.skip("the dask command is not installed")
    tmp = tmp_path_factory.mktemp("dask")
    sched_file = str(tmp / "scheduler.json")
    kill_dir = tmp / "kill"
    kill_dir.mkdir()
    preload = tmp / "phasesim_kill_preload.py"
    preload.write_text(_PRELOAD)
    env = {**os.environ, "PHASESIM_TEST_KILL_DIR": str(kill_dir)}
    logs = [open(tmp / f"{name}.log", "w") for name in ("scheduler", "w1", "w2")]
    procs = []
    common = dict(cwd=str(tmp), stdout=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        try:
            procs.append(subprocess.Popen(
                cmd + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", sched_file], stderr=logs[0], **common))
            for i, log in enumerate(logs[1:]):
                procs.append(subprocess.Popen(
                    cmd + ["worker", "--scheduler-file", sched_file, "--nthreads", "1",
                           "--no-dashboard", "--name", f"w{i + 1}", "--local-directory", str(tmp),
                           "--preload", str(preload)],
                    stderr=log, **common))
        except OSError as exc:
            pytest.skip(f"the dask command cannot start: {exc}")
        deadline = time.monotonic() + 60
        while not os.path.exists(sched_file) and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.2)
        if not os.path.exists(sched_file):
            pytest.skip("dask scheduler did not start: "
                        + (tmp / "scheduler.log").read_text()[-300:])
        with distributed.Client(scheduler_file=sched_file, timeout="30s",
                                set_as_default=False) as c:
            try:
                c.wait_for_workers(2, timeout=60)
            except Exception as exc:  # pragma: no cover - environment problem
                pytest.skip(f"two dask workers did not start: {exc}")
        yield sched_file, kill_dir
    finally:
        stop_processes(procs[1:])
        stop_processes(procs[:1])
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def langevin_serial(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("serial") / "run.h5")
    _invoke([*LANGEVIN, "-o", out])
    return out


def test_langevin_on_external_cluster_identical(langevin_serial, cluster, tmp_path):
    sched_file, _ = cluster
    out = str(tmp_path / "dask.h5")
    _invoke([*LANGEVIN, "--scheduler", sched_file, "-o", out])
    assert_same_file(langevin_serial, out)


def test_scan_vary_on_external_cluster_identical(cluster, tmp_path):
    sched_file, _ = cluster
    serial, dask = str(tmp_path / "serial.h5"), str(tmp_path / "dask.h5")
    _invoke([*SCAN, "-o", serial])
    _invoke([*SCAN, "--scheduler", sched_file, "-o", dask])
    assert_same_file(serial, dask)


def test_worker_killed_mid_run_identical(langevin_serial, cluster, tmp_path):
    """SIGKILL of the worker process computing a unit: its nanny starts a new one, the
    scheduler reschedules the unit, and the file is the serial one."""
    sched_file, kill_dir = cluster
    claimed = kill_dir / "claimed"
    killed = []

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if claimed.exists():
                text = claimed.read_text().strip()
                if text:
                    pid = int(text)
                    os.kill(pid, signal.SIGKILL)  # the worker process (a child of a nanny we started)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    (kill_dir / "arm").write_text("")
    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        out = str(tmp_path / "killed.h5")
        _invoke([*LANGEVIN, "--scheduler", sched_file, "-o", out])
    finally:
        (kill_dir / "arm").unlink()
        t.join(5)
    assert killed, "no unit was claimed: no worker was killed"
    assert_same_file(langevin_serial, out)
