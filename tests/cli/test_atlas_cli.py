"""``phasesim atlas``: bad input is one line with exit code 2 (nothing written), a run writes a
readable 'atlas' file with provenance, --resume after an interruption gives the same file as an
uninterrupted run, a leftover checkpoint is not silently overwritten."""
import numpy as np
import pytest

import adaptive_kernel

#: a run of a few seconds: kernel regression and the analytic network at P = 7, 11
SMALL = ["--P", "7,11", "--train-fraction", "0.4:0.8:2", "--seeds", "2", "--methods", "kernel-nngp,analytic",
         "--analytic-width", "64"]


def _one_line_usage_error(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    return errors[0]


@pytest.mark.parametrize("args,needle", [
    (["--P", "7,x"], "--P"),
    (["--P", "7,7"], "repeated"),
    (["--P", "1"], "P"),
    (["--train-fraction", "0"], "train-fraction"),
    (["--train-fraction", "0.5:1:3"], "train-fraction"),
    (["--train-fraction", "a:b"], "train-fraction"),
    (["--methods", "kernel-nngp,sgd"], "--methods"),
    (["--methods", "gd,gd"], "repeated"),
    (["--operation", "pow"], "operation"),
    (["--threshold", "1.5"], "threshold"),
    (["--refine", "99"], "--refine"),
    (["--gd-steps", "0"], "--gd-steps"),
    (["--rfm-iterations", "0"], "--rfm-iterations"),
    (["--kernel-ridge", "-1"], "ridge"),
    (["--seeds", "0"], "--seeds"),
    (["--jobs", "0"], "--jobs"),
    (["--resume"], "nothing to resume"),
    (["--P", "3001"], "--P 3001"),                                         # memory, refused before the run
    (["--P", "61", "--methods", "gd", "--gd-steps", "100000000"], "--gd-steps 100000000"),   # absurdly long
    (["--methods", "langevin", "--langevin-steps", "100", "--langevin-burn-in", "100"], "--langevin-burn-in"),
    (["--methods", "langevin", "--langevin-members", "0"], "--langevin-members"),
    (["--methods", "langevin", "--langevin-sigma2", "0"], "sigma2"),
    (["--methods", "kernel-nngp", "--theory-link"], "theory-link"),
    (["--methods", "default,langevin"], "--methods"),
])
def test_bad_input_is_one_line_exit_2(phasesim, tmp_path, args, needle):
    res = phasesim("atlas", "-q", "-o", tmp_path / "a.h5", *args)
    line = _one_line_usage_error(res)
    assert needle in line
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "a.h5.ckpt").exists()


def test_run_writes_a_readable_atlas_file(phasesim, tmp_path):
    out = tmp_path / "a.h5"
    res = phasesim("atlas", *SMALL, "-o", out)
    assert res.exit_code == 0, res.output
    assert "alpha_c" in res.stdout and "kernel-nngp" in res.stdout
    assert "estimated" in res.stderr and "atlas grid: 16/16" in res.stderr        # progress on stderr
    r = adaptive_kernel.load(out)
    assert r.kind == "atlas" and r.params["methods"] == ["kernel-nngp", "analytic"]
    assert r.attrs["command"].startswith("phasesim ") and {"package_version", "created"} <= set(r.attrs)
    assert r.units["method"].size == 16 and r.success
    assert not (tmp_path / "a.h5.ckpt").exists()                                 # removed after the write
    again = phasesim("atlas", *SMALL, "-q", "-o", out)                          # exists: refused
    assert "--overwrite" in _one_line_usage_error(again)


def test_resume_after_an_interruption_gives_the_uninterrupted_file(phasesim, tmp_path):
    from simulations import atlas as A
    from simulations.backends import HDFBackend

    full = tmp_path / "full.h5"
    assert phasesim("atlas", *SMALL, "-q", "-o", full).exit_code == 0
    out = tmp_path / "part.h5"
    cfg = A.AtlasConfig(P=[7, 11], fractions=[0.4, 0.8], seeds=[0, 1], methods=["kernel-nngp", "analytic"],
                        budgets={"analytic": {"width": 64}})

    class Stop(A.UnitCheckpoint):
        left = 6

        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            self.left -= 1
            if not self.left:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        A.run_atlas(cfg, store=Stop(HDFBackend(str(out) + ".ckpt"), cfg.unit_meta()))
    # a leftover checkpoint is neither resumed nor replaced silently
    assert "--resume" in _one_line_usage_error(phasesim("atlas", *SMALL, "-q", "-o", out))
    res = phasesim("atlas", *SMALL, "--resume", "-o", out)
    assert res.exit_code == 0, res.output
    assert "resuming: 6 finished unit(s)" in res.stderr
    a, b = adaptive_kernel.load(full), adaptive_kernel.load(out)
    for k in a.units:
        if k != "seconds":
            np.testing.assert_array_equal(a.units[k], b.units[k], err_msg=k)
    for k in a.alpha_c:
        np.testing.assert_array_equal(a.alpha_c[k], b.alpha_c[k], err_msg=k)


def test_langevin_run_and_its_theory_link_against_phasesim_scan(phasesim, tmp_path):
    """A Langevin atlas run: the file holds the Langevin units and the alpha = 1 link, whose
    theory residual is the one ``phasesim scan`` writes at the same parameters."""
    import h5py

    out = tmp_path / "l.h5"
    res = phasesim("atlas", "--P", "5", "--train-fraction", "0.5", "--seeds", "1", "--methods", "langevin",
                   "--langevin-steps", "40", "--langevin-burn-in", "20", "--langevin-thin", "2",
                   "--langevin-sigma2", "0.2", "-o", out)
    assert res.exit_code == 0, res.output
    assert "alpha = 1 link" in res.stdout and "mean-output" in res.stdout
    r = adaptive_kernel.load(out)
    assert r.params["methods"] == ["langevin"] and r.params["theory_link"]
    assert r.units["method"].tolist() == ["langevin"] and np.isfinite(r.units["sampling_ok"][0])
    scan = tmp_path / "s.h5"
    res = phasesim("scan", "--teacher", "modadd", "--P", "5", "--N", "25", "--sigma-a2", "0.01", "--gamma", "1",
                   "--sigma2", "0.2", "-q", "-o", scan)
    assert res.exit_code == 0, res.output
    with h5py.File(scan, "r") as f:
        expected = f["scan/residual"][0]
    assert r.link["residual_theory"][0] == expected and r.link["N"][0] == 25
