"""`phasesim langevin`: reproducibility (resume == uninterrupted, independent of --jobs and
of the batch split), the output layout, and the command line's error paths."""
import os

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel.cli import main
from adaptive_kernel.registry import get_teacher
from simulations.backends import HDFBackend, MemoryBackend
from simulations.langevin import LangevinConfig, merge_states, run_langevin, split_state

CUBIC = ["--teacher", "cubic", "--N", "8", "--d", "4", "--n", "30", "--sigma-a2", "0.05",
         "--alpha", "1", "--beta", "1", "--n-test", "20"]
MODADD = ["--teacher", "modadd", "--P", "5", "--N", "6", "--sigma-a2", "0.02", "--gamma", "3"]
RUN = ["--steps", "60", "--burn-in", "20", "--thin", "5", "--seeds", "2", "-q"]


def _cfg(teacher="cubic", sigma2=(0.3,), seeds=2, steps=60):
    t = get_teacher(teacher)
    if teacher == "cubic":
        p = t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1)
        return LangevinConfig("cubic", p, list(sigma2), steps=steps, burn_in=20, thin=5, seeds=seeds, n_test=20)
    p = t.make_params(P=5, N=6, sigma_a2=0.02, gamma=3.0)
    return LangevinConfig("modadd", p, list(sigma2), steps=steps, burn_in=20, thin=5, seeds=seeds)


def _assert_same(r1, r2):
    for p1, p2 in zip(r1.points, r2.points):
        for key in ("traces", "arrays", "diagnostics"):
            assert p1[key].keys() == p2[key].keys()
            for k in p1[key]:
                assert np.array_equal(p1[key][k], p2[key][k], equal_nan=True), (key, k)
        assert p1["scalars"] == p2["scalars"] or all(
            np.array_equal(np.array(p1["scalars"][k]), np.array(p2["scalars"][k]), equal_nan=True)
            for k in p1["scalars"])


@pytest.mark.parametrize("teacher", ["cubic", "modadd"])
def test_resume_equals_uninterrupted(tmp_path, teacher):
    cfg = _cfg(teacher, sigma2=(0.3, 0.1))
    ref = run_langevin(cfg, MemoryBackend(), checkpoint_every=25)
    be = HDFBackend(tmp_path / "run.ckpt")
    with pytest.raises(KeyboardInterrupt):
        run_langevin(cfg, be, checkpoint_every=25, stop_after_segments=1)
    assert be.exists()
    res = run_langevin(cfg, HDFBackend(tmp_path / "run.ckpt"), resume=True, checkpoint_every=25)
    _assert_same(ref, res)


def test_result_does_not_depend_on_batching():
    """Members advanced alone or together (as --jobs splits them) give identical bits."""
    from simulations.langevin import _advance_task

    cfg = _cfg("cubic", seeds=3)
    meta = cfg.to_meta()
    together = _advance_task(meta, 0, [0, 1, 2], None, 40)
    alone = [_advance_task(meta, 0, [m], None, 40)[0] for m in range(3)]
    for m in range(3):
        for k, v in together[m].items():
            if isinstance(v, list):
                assert v == alone[m][k]
            else:
                assert np.array_equal(np.asarray(v), np.asarray(alone[m][k]), equal_nan=True), k
    st = merge_states(together)
    assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True)
               for a, b in zip(split_state(st, 3), together) for k in a if not isinstance(a[k], list))


def test_cli_writes_documented_layout(tmp_path):
    out = str(tmp_path / "m.h5")
    r = CliRunner().invoke(main, ["langevin", *MODADD, "--sigma2", "0.3:0.1:2", *RUN, "-o", out])
    assert r.exit_code == 0, r.output
    assert not os.path.exists(out + ".ckpt")
    with h5py.File(out, "r") as f:
        assert f.attrs["kind"] == "langevin" and f.attrs["teacher"] == "modadd"
        L = f["langevin"]
        for k in ("sigma2", "residual", "residual_err", "lambda_gram", "theory_residual_derived",
                  "theory_residual_paper", "acceptance"):
            assert L[k].shape == (2,), k
        g = L["0"]
        nb = g["hist_edges"].shape[0] - 1
        assert g["hist_counts"].shape == (2 * 4, 3, nb)
        assert g["hist_counts_pooled"].shape == (8, nb)
        assert g["traces/residual"].shape == (2, 8)
        assert "bin_prob" in g["theory/derived"] and "bin_prob" in g["theory/paper"]
        # every recorded neuron and mode is counted once (inside or outside the edges)
        tot = g["hist_counts"][()].sum(axis=2) + g["hist_underflow"][()] + g["hist_overflow"][()]
        assert np.all(tot == 2 * 6 * 2)           # 6 neurons x (W, V) x 2 samples per block
        assert np.allclose(L["lambda_gram"][()], L["lambda_fourier"][()], rtol=1e-10)
    # the same command again refuses to overwrite
    r = CliRunner().invoke(main, ["langevin", *MODADD, "--sigma2", "0.3:0.1:2", *RUN, "-o", out])
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_cli_cubic_run_and_resume(tmp_path):
    out = str(tmp_path / "c.h5")
    r = CliRunner().invoke(main, ["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "-o", out])
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        g = f["langevin/0"]
        assert g["hist_counts"].shape[0] == 8
        assert {"b", "c", "b_exact", "q2", "test_loss"} <= set(g["traces"])
        assert "action" in g["theory"] and "theory_b" in f["langevin"]
    # a checkpoint left by a killed run: refused without --resume, resumed with it
    cfg = _cfg("cubic", sigma2=(0.2,))
    with pytest.raises(KeyboardInterrupt):
        run_langevin(cfg, HDFBackend(str(tmp_path / "k.h5") + ".ckpt"), checkpoint_every=30,
                     stop_after_segments=1)
    args = ["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "--checkpoint-every", "30", "-o", str(tmp_path / "k.h5")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "--resume" in r.output
    r = CliRunner().invoke(main, args + ["--resume"])
    assert r.exit_code == 0, r.output
    ref = CliRunner().invoke(main, args[:-2] + ["-o", str(tmp_path / "u.h5")])
    assert ref.exit_code == 0
    with h5py.File(tmp_path / "k.h5", "r") as a, h5py.File(tmp_path / "u.h5", "r") as b:
        for k in ("hist_counts", "traces/b", "traces/q2", "diagnostics/step_size"):
            assert np.array_equal(a["langevin/0/" + k][()], b["langevin/0/" + k][()])


@pytest.mark.parametrize("args, msg", [
    ([*CUBIC, *RUN], "--sigma2"),
    ([*CUBIC, "--P", "7", "--sigma2", "0.2", *RUN], "do not apply"),
    ([*CUBIC, "--sigma2", "0.2:0.1", *RUN], "START:STOP:NUM"),
    ([*CUBIC, "--sigma2", "-0.2", *RUN], "sigma2 must be > 0"),
    ([*CUBIC, "--sigma2", "0.2", "--steps", "50", "--burn-in", "50", "--seeds", "2"], "burn-in"),
    ([*CUBIC, "--sigma2", "0.2", *RUN, "--step-size", "0"], "step-size"),
    ([*CUBIC, "--sigma2", "0.2", *RUN, "--jobs", "0"], "--jobs"),
    ([*MODADD[:3], "6", *MODADD[4:], "--sigma2", "0.2", *RUN], "prime"),
    ([*CUBIC, "--sigma2", "0.2", *RUN, "--resume"], "nothing to resume"),
])
def test_cli_error_paths_exit_2(tmp_path, args, msg):
    r = CliRunner().invoke(main, ["langevin", *args, "-o", str(tmp_path / "x.h5")])
    assert r.exit_code == 2, r.output
    assert msg in r.output
    assert not os.path.exists(tmp_path / "x.h5")


def test_cli_divergence_leaves_nothing(tmp_path):
    out = tmp_path / "d.h5"
    r = CliRunner().invoke(main, ["langevin", *CUBIC, "--sigma2", "0.01", "--integrator", "ula",
                                  "--step-size", "200", "--steps", "60", "--burn-in", "20", "--seeds", "2",
                                  "--thin", "5", "-q", "-o", str(out)])
    assert r.exit_code == 1
    assert "lower --step-size" in r.output and "nothing was written" in r.output
    assert not out.exists() and not os.path.exists(str(out) + ".ckpt")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_jobs_do_not_change_the_result():
    cfg = _cfg("modadd", sigma2=(0.3, 0.1), steps=40)
    _assert_same(run_langevin(cfg, jobs=1, checkpoint_every=20), run_langevin(cfg, jobs=2, checkpoint_every=20))
