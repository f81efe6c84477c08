"""The runners of :mod:`adaptive_kernel.runner`: identical results serially, on local
processes, on a Dask LocalCluster and on a scheduler + 2 workers started as separate
processes (``dask scheduler`` / ``dask worker``); input order whatever the completion order;
a killed worker; resume from a store; progress; failing units; ``make_runner``'s checks.

The unit functions live in :mod:`adaptive_kernel._runner_testing`: worker processes import
them by reference, and ``tests/`` is not a package (nor on the separate workers' path).
"""
import json
import os
import pickle
import subprocess
import threading
import time

import numpy as np
import pytest

from adaptive_kernel import _runner_testing as rt
from adaptive_kernel import runner as rn
from adaptive_kernel.errors import ParameterError, PhasesimError
from adaptive_kernel.runner import (DaskRunner, ProcessRunner, SerialRunner, Unit, UnitError,
                                    key_seed, key_text, make_runner, run_units, thread_budget)

distributed = pytest.importorskip("distributed")

N = 48
KEYS = [("sigma2", i, "members", 0, 4, "segment", s) for i in range(3) for s in range(2)]


def units_of(fn, *extra, keys=KEYS):
    return [Unit(k, fn, (k, N) + extra) for k in keys]


@pytest.fixture(scope="module")
def reference():
    return run_units(units_of(rt.draw))


def assert_identical(results, reference):
    assert len(results) == len(reference)
    for a, b in zip(results, reference):
        assert a.dtype == b.dtype and np.array_equal(a, b)
        assert a.tobytes() == b.tobytes()  # bit for bit


# ---------------------------------------------------------------------------------------
# runners (module-scoped: starting workers is the expensive part)
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def process_runner():
    with ProcessRunner(2) as r:
        yield r


@pytest.fixture(scope="module")
def local_dask():
    with DaskRunner(n_workers=2) as r:
        yield r


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (a free port chosen
    by the scheduler, published in its scheduler file); yields the scheduler file."""
    cmd = rt.dask_command()
    if cmd is None:
        pytest.skip("the dask command is not installed")
    tmp = tmp_path_factory.mktemp("dask")
    sched_file = str(tmp / "scheduler.json")
    logs = [open(tmp / f"{name}.log", "w") for name in ("scheduler", "w1", "w2")]
    procs = []
    common = dict(cwd=str(tmp), stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        procs.append(subprocess.Popen(
            cmd + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", sched_file], stderr=logs[0], **common))
        for i, log in enumerate(logs[1:]):
            procs.append(subprocess.Popen(
                cmd + ["worker", "--scheduler-file", sched_file, "--nthreads", "1",
                       "--no-dashboard", "--name", f"w{i + 1}", "--local-directory", str(tmp)],
                stderr=log, **common))
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
        yield sched_file
    finally:
        rt.stop_processes(procs[1:])
        rt.stop_processes(procs[:1])
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def external_dask(external_cluster):
    with open(external_cluster) as fh:
        address = json.load(fh)["address"]
    with DaskRunner(address) as r:  # by address here, by scheduler file via make_runner
        yield r


RUNNERS = ["serial", "process", "local_dask", "external_dask"]


@pytest.fixture
def runner(request):
    if request.param == "serial":
        return SerialRunner()
    return request.getfixturevalue({"process": "process_runner"}.get(request.param, request.param))


# ---------------------------------------------------------------------------------------
# identical results
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_identical_results_on_every_runner(runner, reference):
    assert_identical(run_units(units_of(rt.draw), runner), reference)
    # the emcee-pool-like form
    assert_identical(runner.starmap(rt.draw, [(k, N) for k in KEYS], keys=KEYS), reference)
    assert runner.map(abs, [-3, 2, -1]) == [3, 2, 1]


def test_scheduler_file_through_make_runner(external_cluster, reference):
    with make_runner(1, scheduler=external_cluster) as r:
        assert isinstance(r, DaskRunner) and r.workers >= 1
        assert_identical(run_units(units_of(rt.draw), r), reference)


@pytest.mark.parametrize("runner", ["process", "local_dask", "external_dask"], indirect=True)
def test_results_in_input_order_whatever_the_completion_order(runner, reference):
    delays = np.linspace(0.6, 0.0, len(KEYS))  # the later units finish first
    units = units_of(rt.sleepy_draw, keys=KEYS)
    units = [Unit(u.key, u.fn, u.args + (float(d),)) for u, d in zip(units, delays)]
    seen = [key for key, _ in runner.submit_units(units)]
    assert sorted(seen) == sorted(KEYS) and seen != KEYS
    assert_identical(run_units(units, runner), reference)


@pytest.mark.parametrize("runner", ["process", "local_dask"], indirect=True)
def test_worker_threads_are_budgeted(runner):
    want = thread_budget(2)
    for rep in runner.map(rt.thread_report, range(4)):
        assert set(rep["env"].values()) == {str(want)}
        assert rep["numba"] == want
        assert rep["openblas"] in (None, want)
    # the driver's own environment is left as it was
    assert {k: os.environ.get(k) for k in rn.THREAD_ENV_VARS} == {k: _ENV0.get(k) for k in rn.THREAD_ENV_VARS}


_ENV0 = dict(os.environ)  # at import, before any runner starts


def test_the_driver_environment_is_restored_when_a_local_cluster_closes(tmp_path):
    # a nanny restarting a killed worker sets the workers' thread variables in the driver
    with DaskRunner(n_workers=1) as r:
        run_units([Unit(("k",), rt.die_once, (("k",), N, str(tmp_path / "m")))], r)
    assert {k: os.environ.get(k) for k in rn.THREAD_ENV_VARS} == {k: _ENV0.get(k) for k in rn.THREAD_ENV_VARS}


def test_external_workers_get_one_thread(external_dask):
    for rep in external_dask.map(rt.thread_report, range(2)):
        assert rep["numba"] == 1 and rep["env"]["PHASESIM_THREADS"] == "1"


# ---------------------------------------------------------------------------------------
# a worker killed mid-run
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("runner", ["process", "local_dask", "external_dask"], indirect=True)
def test_a_killed_worker_does_not_change_the_result(runner, reference, tmp_path):
    marker = str(tmp_path / "killed")
    units = [Unit(k, rt.die_once, (k, N, marker, 0.05)) for k in KEYS]
    out = run_units(units, runner)
    assert os.path.exists(marker)  # a worker process did die (os._exit on the first call)
    assert_identical(out, reference)


def test_a_unit_that_always_kills_its_worker_gives_up():
    with ProcessRunner(2, max_restarts=1) as r:
        with pytest.raises(PhasesimError, match=r"died 2 times.*unfinished") as ei:
            run_units([Unit(("k", 0), rt.die, (("k", 0), N))], r)
    assert "\n" not in str(ei.value)


# ---------------------------------------------------------------------------------------
# resume and progress
# ---------------------------------------------------------------------------------------
class Store:
    """A user's checkpoint-like object: only __contains__, __getitem__, __setitem__."""

    def __init__(self, data):
        self._d = dict(data)
        self.writes = []

    def __contains__(self, key):
        return key in self._d

    def __getitem__(self, key):
        return self._d[key]

    def __setitem__(self, key, value):
        self.writes.append(key)
        self._d[key] = value


@pytest.mark.parametrize("runner", ["serial", "process"], indirect=True)
def test_resume_reruns_only_the_missing_units(runner, reference, tmp_path):
    done = {0, 3, 4}
    store = Store({KEYS[i]: reference[i] for i in done})
    calls = []

    def progress(n_done, n_total):
        calls.append((n_done, n_total, threading.get_ident(), os.getpid()))

    out = run_units(units_of(rt.counted_draw, str(tmp_path)), runner, store=store, progress=progress)
    assert_identical(out, reference)
    for i, k in enumerate(KEYS):
        assert rt.calls(str(tmp_path), k) == (0 if i in done else 1), k
    assert sorted(store.writes) == sorted(KEYS[i] for i in range(len(KEYS)) if i not in done)
    assert [c[:2] for c in calls] == [(n, len(KEYS)) for n in range(len(done), len(KEYS) + 1)]
    assert {c[2:] for c in calls} == {(threading.get_ident(), os.getpid())}  # in the driver
    # everything in the store: nothing runs
    calls.clear()
    again = run_units(units_of(rt.counted_draw, str(tmp_path)), runner, store=store, progress=progress)
    assert_identical(again, reference)
    assert [c[:2] for c in calls] == [(len(KEYS), len(KEYS))]
    assert sum(rt.calls(str(tmp_path), k) for k in KEYS) == len(KEYS) - len(done)


def test_results_are_stored_as_they_arrive_even_when_a_later_unit_fails(reference, tmp_path):
    store = {}
    bad = KEYS[2]
    with pytest.raises(UnitError):
        run_units(units_of(rt.fail_if, bad), SerialRunner(), store=store)
    assert list(store) == KEYS[:2]
    assert_identical([store[k] for k in KEYS[:2]], reference[:2])


# ---------------------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("runner", ["serial", "process", "local_dask"], indirect=True)
def test_a_failing_unit_names_its_key_and_stops_the_run(runner, reference):
    bad = KEYS[1]
    with pytest.raises(UnitError) as ei:
        run_units(units_of(rt.fail_if, bad), runner)
    err = ei.value
    assert isinstance(err, PhasesimError)
    assert err.key == bad and err.error_type == "ValueError"
    msg = str(err)
    assert "\n" not in msg
    assert key_text(bad) in msg and "ValueError: sigma2 too small for unit 0 (second line)" in msg
    assert isinstance(err.__cause__, ValueError)
    assert pickle.loads(pickle.dumps(err)).key == bad
    # the runner is still usable
    assert_identical(run_units(units_of(rt.draw), runner), reference)


def test_serial_failure_runs_nothing_after_the_failing_unit(tmp_path):
    bad = KEYS[1]
    units = [Unit(bad, rt.fail_if, (bad, N, bad))] + units_of(rt.counted_draw, str(tmp_path))[2:]
    with pytest.raises(UnitError):
        run_units(units, SerialRunner())
    assert sum(rt.calls(str(tmp_path), k) for k in KEYS) == 0


@pytest.mark.parametrize("runner", ["process", "local_dask"], indirect=True)
def test_a_failure_cancels_the_remaining_units_promptly(runner, tmp_path):
    bad = ("bad",)
    units = [Unit(("slow", i), rt.sleepy_draw, (("slow", i), N, 8.0)) for i in range(3)]
    units.insert(1, Unit(bad, rt.fail_if, (bad, N, bad)))
    t0 = time.monotonic()
    with pytest.raises(UnitError, match=r'unit \["bad"\] failed'):
        run_units(units, runner)
    assert time.monotonic() - t0 < 6.0  # does not wait for the 8 s units
    if isinstance(runner, DaskRunner):
        assert not any("slow" in str(k) for k in runner.client.futures)


def test_abandoning_the_iterator_cancels_the_rest(process_runner, tmp_path):
    units = [Unit(("u", i), rt.counted_draw, (("u", i), N, str(tmp_path))) for i in range(40)]
    it = process_runner.submit_units(units)
    next(it)
    it.close()
    assert process_runner._pool is None  # terminated; the next call starts a new pool
    assert sum(rt.calls(str(tmp_path), u.key) for u in units) < 40


# ---------------------------------------------------------------------------------------
# make_runner: --jobs / --scheduler
# ---------------------------------------------------------------------------------------
def test_make_runner_caps_jobs_and_says_so(monkeypatch):
    monkeypatch.setattr(rn, "usable_cpus", lambda: 4)
    lines = []
    r = make_runner(1000, report=lines.append)
    assert isinstance(r, ProcessRunner) and r.workers == 4 and r.threads == 1
    assert lines == ["--jobs 1000 capped to 4 (4 usable CPUs)"]
    lines.clear()
    r = make_runner(3, n_units=2, report=lines.append)
    assert r.workers == 2 and r.threads == 2
    assert lines == ["--jobs 3 capped to 2 (2 units of work)"]
    lines.clear()
    assert isinstance(make_runner(8, n_units=1, report=lines.append), SerialRunner)
    assert lines == ["--jobs 8 capped to 1 (4 usable CPUs, 1 unit of work)"]
    lines.clear()
    assert isinstance(make_runner(report=lines.append), SerialRunner)
    assert make_runner(4, n_units=10, report=lines.append).workers == 4
    assert lines == []


@pytest.mark.parametrize("jobs", [0, -2, "many", 2.5, True])
def test_make_runner_refuses_impossible_jobs(jobs):
    with pytest.raises(ParameterError) as ei:
        make_runner(jobs)
    msg = str(ei.value)
    assert "--jobs" in msg and ">= 1" in msg and repr(jobs) in msg and "\n" not in msg


def test_scheduler_and_jobs_are_exclusive():
    with pytest.raises(ParameterError, match=r"--scheduler and --jobs 2"):
        make_runner(2, scheduler="tcp://127.0.0.1:8786")


def _closed_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(rn, "CONNECT_TIMEOUT", 2.0)
    port = _closed_port()
    sfile = tmp_path / "sched.json"
    sfile.write_text(json.dumps({"address": f"tcp://127.0.0.1:{port}"}))
    (tmp_path / "bad.json").write_text("not json")
    for target, pattern in [(f"tcp://127.0.0.1:{port}", "cannot reach the Dask scheduler"),
                            (f"127.0.0.1:{port}", "cannot reach"),
                            (str(sfile), "cannot reach"),
                            (str(tmp_path / "bad.json"), "not a Dask scheduler file"),
                            (str(tmp_path / "missing.json"), "neither a scheduler address"),
                            ("", "empty")]:
        t0 = time.monotonic()
        with pytest.raises(ParameterError, match=pattern) as ei:
            make_runner(1, scheduler=target)
        assert "\n" not in str(ei.value)
        assert time.monotonic() - t0 < 4.0


# ---------------------------------------------------------------------------------------
# keys, seeds, thread budget
# ---------------------------------------------------------------------------------------
def test_keys_and_seeds():
    assert key_text(("sigma2", np.int64(3), ["a", 1])) == '["sigma2",3,["a",1]]'
    assert key_text("x") == '"x"' and key_text(7) == "7"
    s1 = key_seed(("s", 1)).generate_state(4)
    assert np.array_equal(s1, key_seed(["s", np.int32(1)]).generate_state(4))
    assert not np.array_equal(s1, key_seed(("s", "1")).generate_state(4))
    assert not np.array_equal(s1, key_seed(("s", 1), entropy=1).generate_state(4))
    with pytest.raises(TypeError):
        key_text(("s", True))
    with pytest.raises(TypeError):
        key_text(("s", 0.5))
    with pytest.raises(ValueError, match="duplicate"):
        run_units([Unit(("a",), abs, (1,)), Unit(["a"], abs, (2,))])
    # keys come back normalised
    assert list(SerialRunner().submit_units([(["a", np.int64(2)], abs, (-1,))])) == [(("a", 2), 1)]


def test_thread_budget():
    assert thread_budget(2, cpus=8) == 4
    assert thread_budget(3, cpus=8) == 2
    assert thread_budget(16, cpus=8) == 1
    assert thread_budget(1) == rn.usable_cpus() >= 1


@pytest.mark.parametrize("runner", RUNNERS, indirect=True)
def test_a_unit_with_a_deep_traceback_fails_cleanly(runner):
    """A RecursionError's traceback is thousands of frames deep: Dask's client could not
    rebuild it and never resolved the future (the driver hung). It must be one UnitError."""
    import time

    t0 = time.perf_counter()
    with pytest.raises(UnitError, match="RecursionError") as ei:
        run_units([Unit(("deep", 0), rt.recurse_forever, (("deep", 0),))], runner)
    assert "\n" not in str(ei.value)
    assert time.perf_counter() - t0 < 30
