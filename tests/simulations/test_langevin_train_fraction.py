"""``phasesim langevin --train-fraction`` (modular arithmetic): the potential summed over the
training pairs of the package's one split, against brute force and finite differences; the
pair-gather kernels against the full-grid ones; the split against ``task.split``; the test
metrics against a direct evaluation of the sampled networks; alpha = 1 bit for bit the
former code path; resume / --jobs bits; the file, its reader and ``phasesim info``; bad
input."""
import math
import os

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel._runner_testing import assert_same_file
from adaptive_kernel.errors import ParameterError
from adaptive_kernel.registry import get_teacher
from adaptive_kernel.tasks import ModularArithmetic
from simulations import _kernels_modadd as KM
from simulations import models
from simulations._blas import bmm
from simulations.backends import HDFBackend, MemoryBackend
from simulations.langevin import (Chain, LangevinConfig, LangevinResult, _unit_id, run_langevin,
                                  split_state)
from simulations.langevin_io import LangevinData
from simulations.models import ModAddNetwork, dynamics_rng, pair_groups, pair_metrics


@pytest.fixture
def phasesim():
    """``phasesim ARGS...`` in-process (as tests/cli/conftest.py)."""
    from adaptive_kernel.cli import main

    def invoke(*args):
        flat = []
        for a in args:
            flat.extend(a if isinstance(a, (list, tuple)) else [a])
        return CliRunner().invoke(main, [str(a) for a in flat], catch_exceptions=True)

    return invoke


MODADD = ["--teacher", "modadd", "--P", "5", "--N", "6", "--sigma-a2", "0.02", "--gamma", "3"]
CUBIC = ["--teacher", "cubic", "--N", "8", "--d", "4", "--n", "30", "--sigma-a2", "0.05",
         "--alpha", "1", "--beta", "1", "--n-test", "20"]
RUN = ["--steps", "60", "--burn-in", "20", "--thin", "5", "--seeds", "2", "-q"]


def _cfg(train_fraction=0.5, sigma2=(0.3,), seeds=2, steps=60, seed=0):
    p = get_teacher("modadd").make_params(P=5, N=6, sigma_a2=0.02, gamma=3.0)
    return LangevinConfig("modadd", p, list(sigma2), steps=steps, burn_in=20, thin=5, seeds=seeds, seed=seed,
                          train_fraction=train_fraction)


def _brute_data(P):
    """Two-hot inputs (P^2, 2P), centred one-hot targets of (n + m) mod P, labels; rows n P + m."""
    X = np.zeros((P * P, 2 * P))
    Y = np.full((P * P, P), -1.0 / P)
    lab = np.zeros(P * P, int)
    for n in range(P):
        for m in range(P):
            X[n * P + m, n] = X[n * P + m, P + m] = 1.0
            Y[n * P + m, (n + m) % P] += 1.0
            lab[n * P + m] = (n + m) % P
    return X, Y, lab


def _brute_output(w, a, X):
    """f = (X w^T)^2 a^T of one network."""
    return ((X @ w.T) ** 2) @ a.T


# ------------------------------------------------------------------------------------------
# kernels
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parallel", [False, True])
def test_pair_kernels_equal_full_grid_kernels_on_every_pair(parallel):
    """With every pair (rows n P + m) the gather kernels give the full-grid kernels' bits."""
    P, N, S = 7, 5, 3
    rng = np.random.default_rng(1)
    wT = rng.standard_normal((S, 2 * P, N))
    RA = rng.standard_normal((S, P * P, N))
    n, m = np.repeat(np.arange(P), P), np.tile(np.arange(P), P)
    feats = KM.modadd_features_pairs if parallel else KM.modadd_features_pairs_serial
    wgrad = KM.modadd_wgrad_pairs if parallel else KM.modadd_wgrad_pairs_serial
    ref_phi, phi = np.empty((S, P * P, N)), np.empty((S, P * P, N))
    KM.modadd_features_serial(wT, ref_phi)
    feats(wT, n, m, phi)
    assert np.array_equal(phi, ref_phi)
    ref_g, g = np.empty((S, 2 * P, N)), np.empty((S, 2 * P, N))
    KM.modadd_wgrad_serial(wT, RA, 0.7, ref_g)
    wgrad(wT, *pair_groups(n, m, P), RA, 0.7, g)
    assert np.array_equal(g, ref_g)


def test_pair_kernels_on_a_subset_against_numpy():
    """Features and read-in gradient of a random subset of pairs against a dense formula:
    Phi = (X_sub w^T)^2, dU/dw = 2 scale ((X_sub w^T) * RA)^T X_sub."""
    P, N, S = 7, 4, 2
    rng = np.random.default_rng(2)
    rows = np.sort(rng.choice(P * P, 20, replace=False))
    n, m = rows // P, rows % P
    X, _, _ = _brute_data(P)
    w = rng.standard_normal((S, N, 2 * P))
    wT = np.ascontiguousarray(w.transpose(0, 2, 1))
    RA = rng.standard_normal((S, rows.size, N))
    phi = np.empty((S, rows.size, N))
    KM.modadd_features_pairs_serial(wT, n, m, phi)
    g = np.empty((S, 2 * P, N))
    KM.modadd_wgrad_pairs_serial(wT, *pair_groups(n, m, P), RA, 0.3, g)
    for s in range(S):
        Z = X[rows] @ w[s].T
        np.testing.assert_allclose(phi[s], Z ** 2, rtol=1e-13)
        np.testing.assert_allclose(g[s].T, 2 * 0.3 * (Z * RA[s]).T @ X[rows], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------
# the potential
# ------------------------------------------------------------------------------------------
def _fd_check(model, theta, rng, n_checks=6, eps=1e-6):
    grad = {k: np.empty_like(v) for k, v in theta.items()}
    U, _ = model.potential(theta, grad)
    g2 = {k: np.empty_like(v) for k, v in theta.items()}
    for g in model.groups:
        for _ in range(n_checks):
            idx = tuple(int(rng.integers(0, s)) for s in theta[g].shape)
            th = {k: v.copy() for k, v in theta.items()}
            th[g][idx] += eps
            Up, _ = model.potential(th, g2)
            th[g][idx] -= 2 * eps
            Um, _ = model.potential(th, g2)
            s = idx[0]
            fd = (Up[s] - Um[s]) / (2 * eps)
            assert fd == pytest.approx(grad[g][idx], rel=2e-5, abs=1e-6 * max(1.0, abs(U[s])))


@pytest.mark.parametrize("alpha, gamma", [(0.3, 0.3), (0.8, 0.0)])
def test_potential_over_training_pairs_against_brute_force(alpha, gamma):
    """U = sum_{mu in train} |f - y|^2/(2 sigma2) + |w|^2/2 + N |a|^2/(2 sigma_a2) + Gamma,
    with the training rows of task.split(alpha, seed); gradient by finite differences."""
    P, N, seed = 7, 4, 11
    phys = dict(P=P, N=N, sigma_a2=0.5, gamma=gamma, sigma2=0.4)
    net = ModAddNetwork(phys, [0, 1], seed=seed, train_fraction=alpha)
    theta = net.sample_prior([dynamics_rng(0, j, 0) for j in range(2)])
    theta["w"] *= 1.5
    grad = {k: np.empty_like(v) for k, v in theta.items()}
    U, aux = net.potential(theta, grad)
    X, Y, _ = _brute_data(P)
    train = ModularArithmetic(P).split(alpha, seed).train
    U_ref, loss_ref = np.zeros(2), np.zeros(2)
    for s in range(2):
        E = _brute_output(theta["w"][s], theta["a"][s], X[train]) - Y[train]
        W = np.fft.ifft(theta["w"][s][:, :P], axis=-1)
        V = np.fft.ifft(theta["w"][s][:, P:], axis=-1)
        gam = P * gamma / 6 * (np.sum(np.abs(W) ** 6) + np.sum(np.abs(V) ** 6))
        U_ref[s] = (np.sum(E ** 2) / (2 * phys["sigma2"]) + np.sum(theta["w"][s] ** 2) / 2
                    + N * np.sum(theta["a"][s] ** 2) / (2 * phys["sigma_a2"]) + gam)
        loss_ref[s] = np.sum(E ** 2) / train.size
    np.testing.assert_allclose(U, U_ref, rtol=1e-12)
    np.testing.assert_allclose(aux["loss"], loss_ref, rtol=1e-12)
    _fd_check(net, theta, np.random.default_rng(5))


def test_data_term_weight_per_pair_is_that_of_all_pairs():
    """The data term at alpha < 1 is the full-grid data term restricted to the training
    pairs (same 1/(2 sigma2) per pair): U_alpha - U_prior = sum over train rows of the
    per-pair terms of the alpha = 1 network."""
    P, N = 7, 3
    phys = dict(P=P, N=N, sigma_a2=0.5, gamma=0.0, sigma2=0.25)
    full = ModAddNetwork(phys, [0], seed=4)
    part = ModAddNetwork(phys, [0], seed=4, train_fraction=0.6)
    prior = ModAddNetwork(phys, [0], seed=4, data_term=False)
    theta = full.sample_prior([dynamics_rng(1, 0, 0)])
    g = {k: np.empty_like(v) for k, v in theta.items()}
    U_full, aux = full.potential(theta, g)
    U_part, _ = part.potential(theta, g)
    U_prior, _ = prior.potential(theta, g)
    per_pair = np.sum((aux["f"][0] - full.Y[0]) ** 2, axis=1) / (2 * phys["sigma2"])
    assert U_full[0] - U_prior[0] == pytest.approx(per_pair.sum(), rel=1e-12)
    assert U_part[0] - U_prior[0] == pytest.approx(per_pair[part.split.train].sum(), rel=1e-12)


# ------------------------------------------------------------------------------------------
# the split
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed, alpha", [(0, 0.5), (7, 0.3), (123, 0.8)])
def test_split_is_the_task_split_of_the_run_seed(seed, alpha):
    """Every member of a run with --seed S trains on task.split(alpha, S).train, the rows
    phasesim train/kernel/rfm use with that seed; the file stores them."""
    P = 7
    phys = dict(P=P, N=3, sigma_a2=0.5, gamma=0.0, sigma2=0.3)
    ref = ModularArithmetic(P).split(alpha, seed)
    for members in ([0], [1, 2, 3]):
        net = ModAddNetwork(phys, members, seed=seed, train_fraction=alpha)
        assert np.array_equal(net.split.train, ref.train) and np.array_equal(net.split.test, ref.test)
        pairs = ModularArithmetic(P).pairs()
        assert np.array_equal(net._pair_n, pairs[ref.train, 0]) and np.array_equal(net._pair_m, pairs[ref.train, 1])
        assert np.array_equal(net.Y_train[-1], ModularArithmetic(P).targets()[ref.train])


# ------------------------------------------------------------------------------------------
# measurements against a direct evaluation of the sampled networks
# ------------------------------------------------------------------------------------------
def test_test_metrics_against_direct_evaluation_of_the_samples():
    cfg = _cfg(0.5, seeds=2, steps=60)
    ch = Chain(cfg, 0, [0, 1]).init()
    seen = []
    original = ch.model.accumulate

    def capture(acc, theta, aux, j, blk):
        seen.append({k: v.copy() for k, v in theta.items()})
        original(acc, theta, aux, j, blk)

    ch.model.accumulate = capture
    ch.advance(cfg.steps)
    assert len(seen) == cfg.n_samples
    P = 5
    X, Y, lab = _brute_data(P)
    split = ModularArithmetic(P).split(0.5, cfg.seed)
    tr, te = split.train, split.test
    acc = ch.acc
    fsum = np.zeros((2, P * P, P))
    for j, th in enumerate(seen):
        for s in range(2):
            f = _brute_output(th["w"][s], th["a"][s], X)
            fsum[s] += f
            hit = np.argmax(f, axis=1) == lab
            assert acc["test_accuracy"][s, j] == hit[te].mean()
            assert acc["train_accuracy"][s, j] == hit[tr].mean()
            assert acc["test_loss"][s, j] == pytest.approx(np.sum((f[te] - Y[te]) ** 2) / te.size, rel=1e-10)
            assert acc["train_loss"][s, j] == pytest.approx(np.sum((f[tr] - Y[tr]) ** 2) / tr.size, rel=1e-10)
            assert acc["residual"][s, j] == pytest.approx(1 - np.sum(f * Y) / np.sum(Y * Y), rel=1e-10)
    # the file's averages: means over seeds of the per-seed sample means, and the metrics of
    # each seed's sample-averaged output
    states = {_unit_id(0, m): st for m, st in enumerate(split_state(ch.get_state(), 2))}
    res = LangevinResult.from_states(cfg, states)
    sc = res.points[0]["scalars"]
    assert sc["test_accuracy"][0] == pytest.approx(acc["test_accuracy"].mean(), rel=1e-12)
    fbar = fsum / len(seen)
    acc_bar = [np.mean(np.argmax(fbar[s], axis=1)[te] == lab[te]) for s in range(2)]
    loss_bar = [np.sum((fbar[s][te] - Y[te]) ** 2) / te.size for s in range(2)]
    assert sc["test_accuracy_mean_output"][0] == pytest.approx(np.mean(acc_bar), rel=1e-12)
    assert sc["test_loss_mean_output"][0] == pytest.approx(np.mean(loss_bar), rel=1e-10)
    assert sc["test_loss_mean_output"][1] == pytest.approx(np.std(loss_bar, ddof=1) / math.sqrt(2), rel=1e-8)


def test_pair_metrics_empty_rows_are_nan():
    f = np.zeros((2, 4, 2))
    out = pair_metrics(f, np.zeros((4, 2)), np.zeros(4, int), np.arange(4), np.arange(0))
    assert np.all(out["train_accuracy"] == 1.0) and np.all(np.isnan(out["test_accuracy"]))


# ------------------------------------------------------------------------------------------
# alpha = 1: the former code path, bit for bit
# ------------------------------------------------------------------------------------------
class _FormerModAdd(ModAddNetwork):
    """The network's potential and measurements as they were before --train-fraction existed
    (copied verbatim from simulations/models.py of commit 980c329): a run with this class
    is the reference of the alpha = 1 files."""

    def potential(self, theta, grad):
        w, a = theta["w"], theta["a"]
        S, P = self.S, self.P
        U = np.zeros(S)
        if self.gamma > 0:
            G, gG = self.gamma_term(w)
            U += G
            grad["w"][...] = gG
        else:
            grad["w"][...] = 0.0
        if self.data_term:
            wT = np.ascontiguousarray(w.transpose(0, 2, 1))
            self._features(wT, self._Phi)
            f = self._f
            bmm(self._Phi, a.transpose(0, 2, 1), f, self._threads)
            R = f - self.Y
            loss = np.einsum("sij,sij->s", R, R, dtype=np.float64) if self.dtype == np.float64 \
                else np.sum(R.astype(np.float64) ** 2, axis=(1, 2))
            U += loss / (2.0 * self.sigma2)
            bmm(R.transpose(0, 2, 1), self._Phi, grad["a"], self._threads)
            grad["a"] *= 1.0 / self.sigma2
            bmm(R, a, self._RA, self._threads)
            self._wgrad(wT, self._RA, 1.0 / self.sigma2, self._gT)
            grad["w"] += self._gT.transpose(0, 2, 1)
            aux = {"loss": loss / (P * P), "f": f.copy()}
        else:
            grad["a"][...] = 0.0
            aux = {"loss": np.full(S, np.nan), "f": np.zeros((S, P * P, P), self.dtype)}
        self._prior(theta, U, grad)
        return U, aux

    trace_names = ("train_loss", "residual", "lambda_gram", "lambda_fourier", "XY", "X", "X0", "w2", "Na2")

    def new_accumulators(self, T, B):
        lo, hi, nb = self.hist_range()
        acc = {name: np.full((self.S, T), np.nan) for name in self.trace_names}
        acc["hist_counts"] = np.zeros((self.S, B, self.K, nb + 2), np.int64)
        acc["f_sum"] = np.zeros((self.S, self.P * self.P, self.P))
        acc["X_sum"] = np.zeros((self.S, self.K))
        acc["XY_sum"] = np.zeros((self.S, self.K))
        acc["n_obs"] = np.zeros(self.S)
        return acc

    def accumulate(self, acc, theta, aux, j, blk):
        w, a = theta["w"], theta["a"]
        P, N, S, K = self.P, self.N, self.S, self.K
        X, Y = self.fourier_power(w)
        lo, hi, nb = self.hist_range()
        vals = np.concatenate([X, Y], axis=1).transpose(0, 2, 1).reshape(S * K, 2 * N)
        counts = acc["hist_counts"][:, blk].reshape(S * K, nb + 2)
        KM.hist_uniform(np.ascontiguousarray(vals), lo, nb / (hi - lo), nb, counts)
        acc["hist_counts"][:, blk] = counts.reshape(S, K, nb + 2)
        XY = X * Y
        acc["X_sum"] += 0.5 * np.sum(X + Y, axis=1)
        acc["XY_sum"] += np.sum(XY, axis=1)
        acc["n_obs"] += N
        f = aux["f"].astype(np.float64)
        acc["f_sum"] += f
        Yd = self.Y[0].astype(np.float64)
        acc["train_loss"][:, j] = aux["loss"]
        acc["residual"][:, j] = 1.0 - np.einsum("sij,ij->s", f, Yd) / self.y_norm2
        wT = np.ascontiguousarray(w.transpose(0, 2, 1))
        self._features(wT, self._Phi)
        proj = np.matmul(self._Phi.transpose(0, 2, 1).astype(np.float64), Yd)
        acc["lambda_gram"][:, j] = self.sigma_a2 / N * np.sum(proj ** 2, axis=(1, 2)) / self.y_norm2
        acc["lambda_fourier"][:, j] = 4.0 * P * P * self.sigma_a2 * np.mean(XY[..., 1:], axis=(1, 2))
        acc["XY"][:, j] = np.mean(XY[..., 1:], axis=(1, 2))
        acc["X"][:, j] = 0.5 * np.mean(X[..., 1:] + Y[..., 1:], axis=(1, 2))
        acc["X0"][:, j] = 0.5 * np.mean(X[..., 0] + Y[..., 0], axis=1)
        acc["w2"][:, j] = np.mean(np.sum(w.astype(np.float64) ** 2, axis=2), axis=1)
        acc["Na2"][:, j] = N * np.mean(a.astype(np.float64) ** 2, axis=(1, 2))


def test_alpha_one_file_is_the_former_file_bit_for_bit(tmp_path, phasesim, monkeypatch):
    """Without --train-fraction, and with --train-fraction 1, the file equals (every dataset
    and attribute, bit for bit) the one of a run through the former potential and
    measurements; it has no attribute or dataset the former files lacked."""
    args = ["langevin", *MODADD, "--sigma2", "0.3:0.1:2", *RUN]
    assert phasesim(args, "-o", tmp_path / "new.h5").exit_code == 0
    assert phasesim(args, "--train-fraction", "1", "-o", tmp_path / "one.h5").exit_code == 0
    with monkeypatch.context() as mp:
        mp.setitem(models.NETWORKS, "modadd", _FormerModAdd)
        r = phasesim(args, "-o", tmp_path / "old.h5")
        assert r.exit_code == 0, r.output
    assert_same_file(tmp_path / "new.h5", tmp_path / "old.h5")
    assert_same_file(tmp_path / "one.h5", tmp_path / "old.h5")
    with h5py.File(tmp_path / "new.h5", "r") as f:
        L = f["langevin"]
        assert "split" not in L and "train_fraction" not in L.attrs and "test_accuracy" not in L
        assert set(L["0/traces"]) == set(_FormerModAdd.trace_names) | {"step"}
    d = LangevinData.from_hdf5(tmp_path / "new.h5")
    assert d.train_fraction == 1.0 and d.split_train is None and "all" in d.split_line()


def test_checkpoint_metadata_at_alpha_one_is_the_former_one():
    """Checkpoints of runs before the option (no train_fraction in their metadata) resume."""
    assert "train_fraction" not in _cfg(1.0).to_meta()
    assert _cfg(0.5).to_meta()["train_fraction"] == 0.5


# ------------------------------------------------------------------------------------------
# reproducibility at alpha < 1
# ------------------------------------------------------------------------------------------
def _assert_same(r1, r2):
    for p1, p2 in zip(r1.points, r2.points):
        for key in ("traces", "arrays", "diagnostics"):
            assert p1[key].keys() == p2[key].keys()
            for k in p1[key]:
                assert np.array_equal(p1[key][k], p2[key][k], equal_nan=True), (key, k)
        assert p1["scalars"].keys() == p2["scalars"].keys()
        for k in p1["scalars"]:
            assert np.array_equal(np.array(p1["scalars"][k]), np.array(p2["scalars"][k]), equal_nan=True), k


def test_resume_and_jobs_give_the_same_bits(tmp_path):
    cfg = _cfg(0.5, sigma2=(0.3, 0.1), steps=50)
    ref = run_langevin(cfg, MemoryBackend(), checkpoint_every=25)
    assert "test_accuracy" in ref.points[0]["traces"]
    be = HDFBackend(tmp_path / "run.ckpt")
    with pytest.raises(KeyboardInterrupt):
        run_langevin(cfg, be, checkpoint_every=25, stop_after_segments=1)
    _assert_same(ref, run_langevin(cfg, HDFBackend(tmp_path / "run.ckpt"), resume=True, checkpoint_every=25))
    _assert_same(ref, run_langevin(cfg, jobs=2, checkpoint_every=25))


def test_checkpoint_of_another_fraction_is_refused(tmp_path):
    be = HDFBackend(tmp_path / "run.ckpt")
    with pytest.raises(KeyboardInterrupt):
        run_langevin(_cfg(0.5, steps=50), be, checkpoint_every=25, stop_after_segments=1)
    with pytest.raises(ParameterError, match="train_fraction"):
        run_langevin(_cfg(0.6, steps=50), HDFBackend(tmp_path / "run.ckpt"), resume=True, checkpoint_every=25)


# ------------------------------------------------------------------------------------------
# command line, file, reader, info
# ------------------------------------------------------------------------------------------
def test_cli_writes_split_and_test_metrics(tmp_path, phasesim):
    out = tmp_path / "a.h5"
    r = phasesim("langevin", *MODADD, "--sigma2", "0.3", *RUN, "--seed", "3", "--train-fraction", "0.4", "-o", out)
    assert r.exit_code == 0, r.output
    ref = ModularArithmetic(5).split(0.4, 3)
    with h5py.File(out, "r") as f:
        L = f["langevin"]
        assert L.attrs["train_fraction"] == 0.4 and L.attrs["split_seed"] == 3
        assert L.attrs["n_train_pairs"] == ref.n_train == 10 and L.attrs["n_test_pairs"] == 15
        assert np.array_equal(L["split/train"][()], ref.train) and np.array_equal(L["split/test"][()], ref.test)
        assert "description" in L["split/train"].attrs
        for k in ("test_accuracy", "test_loss", "train_accuracy", "test_accuracy_mean_output"):
            assert L[k].shape == (1,) and L[k + "_err"].shape == (1,), k
            assert "description" in L[k].attrs
        tr = L["0/traces/test_accuracy"][()]
        assert tr.shape == (2, 8) and np.all((tr >= 0) & (tr <= 1))
        # the trace mean is the stored average
        assert L["test_accuracy"][0] == pytest.approx(tr.mean(), rel=1e-12)
    d = LangevinData.from_hdf5(out)
    assert d.train_fraction == 0.4 and d.split_seed == 3 and np.array_equal(d.split_train, ref.train)
    assert "test_accuracy" in d.measured and "10 of 25" in d.split_line()
    r = phasesim("info", out)
    assert r.exit_code == 0, r.output
    assert "test_accuracy" in r.output


@pytest.mark.parametrize("value", ["0", "-0.2", "1.5", "nan", "inf"])
def test_cli_bad_fraction_exit_2(tmp_path, phasesim, value):
    r = phasesim("langevin", *MODADD, "--sigma2", "0.3", *RUN, "--train-fraction", value, "-o", tmp_path / "x.h5")
    assert r.exit_code == 2, r.output
    assert "train-fraction" in r.output and "Traceback" not in r.output
    assert len([ln for ln in r.output.splitlines() if ln.startswith("Error")]) == 1
    assert not os.path.exists(tmp_path / "x.h5")


@pytest.mark.parametrize("value", ["0.5", "1"])
def test_cli_cubic_refuses_train_fraction(tmp_path, phasesim, value):
    r = phasesim("langevin", *CUBIC, "--sigma2", "0.2", *RUN, "--train-fraction", value, "-o", tmp_path / "x.h5")
    assert r.exit_code == 2, r.output
    assert "does not apply to the cubic teacher" in r.output and "n-test" in r.output
    assert not os.path.exists(tmp_path / "x.h5")


def test_config_refuses_fraction_for_cubic_and_out_of_range():
    t = get_teacher("cubic")
    p = t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1)
    with pytest.raises(ParameterError, match="cubic"):
        LangevinConfig("cubic", p, [0.2], steps=60, burn_in=20, thin=5, n_test=20, train_fraction=0.5)
    assert LangevinConfig("cubic", p, [0.2], steps=60, burn_in=20, thin=5, n_test=20).train_fraction == 1.0
    for bad in (0.0, 1.0001, -1, float("nan"), "0.5", True):
        with pytest.raises(ParameterError, match="train-fraction"):
            _cfg(bad)


def test_memory_estimate_at_a_fraction_against_tracemalloc():
    """The per-worker estimate at alpha = 0.5 against the traced peak of a built and advanced
    batch (as tests/cli/test_input_limits.py does at alpha = 1), and above the alpha = 1 one."""
    import tracemalloc

    from simulations.langevin import physical

    p = get_teacher("modadd").make_params(P=17, N=289, sigma_a2=0.01, gamma=1.0)
    cfg = LangevinConfig("modadd", p, [0.2], steps=40, burn_in=10, thin=5, seeds=2, train_fraction=0.5)
    tracemalloc.start()
    try:
        ch = Chain(cfg, 0, [0, 1]).init()
        ch.advance(20)
        ch.get_state()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    args = (physical("modadd", p, 0.2), 2, cfg.dtype, cfg.n_test, cfg.n_samples, cfg.time_blocks)
    est, _ = ModAddNetwork.estimate_bytes(*args, train_fraction=0.5)
    assert est > ModAddNetwork.estimate_bytes(*args)[0]
    assert 0.5 < est / peak < 2.0, (est, peak)
