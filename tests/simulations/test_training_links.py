"""End-of-training links of ``phasesim train`` (simulations.training.network_links): the
distance of the final weights to Gromov's analytic network and its random-weights baseline,
and the correlation of the neural feature matrix with sqrt(AGOP) (Mallinar et al. Fig. 6);
their storage (format_version 2, older files still read) and the trained-vs-analytic figures.

The expected values come from constructions with a known answer (the analytic solution
permuted and rescaled: distance 0; weights built so that AGOP = const (W1^T W1)^2:
correlation 1) and from an independent Monte Carlo of the baseline with the distance
written out in this file, never from the code under test.
"""
import h5py
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import adaptive_kernel
from adaptive_kernel.tasks import get_task
from simulations.analytic import gromov_network
from simulations.backends import MemoryBackend
from simulations.training import (DISTANCE_BASELINE_DRAWS, LINKS, TrainConfig, TrainingResult, initial_weights,
                                  network_links, output_scale, run_training, trainable_tasks)

TASK = trainable_tasks()[0]


def _task(P, operation="add"):
    return get_task(TASK, P=P, operation=operation)


# ---------------------------------------------------------------------------------------
# distance to the analytic solution
# ---------------------------------------------------------------------------------------
def test_distance_is_zero_for_the_analytic_solution_permuted_and_rescaled():
    P, N, seed = 11, 30, 3
    task = _task(P)
    rng = np.random.default_rng(0)
    # other phases than the reference's (seed 99 vs the network's seed 3): the distance
    # ignores phases; neurons permuted; each neuron rescaled (W1 row * a, W2 column / a^2)
    sol = gromov_network(task, N, seed=99)
    perm = rng.permutation(N)
    a = rng.uniform(0.3, 3.0, N) * rng.choice([-1.0, 1.0], N)
    W1 = sol.W1[perm] * a[:, None]
    W2 = sol.W2[:, perm] / a[None, :] ** 2
    out = network_links(task, N, 0.5, W1[None], W2[None], [seed], output_scale(P, N, "mean-field"))
    assert out["analytic_distance"][0] < 1e-12
    assert out["analytic_distance_nearest"][0] < 1e-12
    assert out["analytic_distance_random"][0] > 0.5
    # negative control: read-out columns shuffled against the read-in rows, so a neuron's two
    # layers carry different frequencies: far from the solution
    W2_bad = W2[:, rng.permutation(N)]
    bad = network_links(task, N, 0.5, W1[None], W2_bad[None], [seed], 1.0)
    assert bad["analytic_distance"][0] > 0.2


def test_distance_is_zero_for_the_solution_of_subtraction():
    """Operations that relabel to addition are compared in their own token order."""
    P, N = 13, 24
    task = _task(P, "sub")
    sol = gromov_network(task, N, seed=1)
    out = network_links(task, N, 0.5, sol.W1[None], sol.W2[None], [7], 1.0)
    assert out["analytic_distance"][0] < 1e-12
    assert out["analytic_distance_random"][0] > 0.5


def test_no_analytic_solution_for_multiplication_is_nan_not_an_error():
    P, N = 11, 10
    task = _task(P, "mul")
    rng = np.random.default_rng(1)
    out = network_links(task, N, 0.5, rng.standard_normal((1, N, 2 * P)), rng.standard_normal((1, P, N)), [0], 1.0)
    for k in ("analytic_distance", "analytic_distance_random", "analytic_distance_nearest"):
        assert np.isnan(out[k][0])
    assert np.isfinite(out["nfm_agop_corr"][0])


def _spectra(W1, W2):
    """Normalised power per real frequency k = 0..floor(P/2) of each neuron's read-in row
    (both halves pooled) and read-out column, written out with rfft: |rfft|^2, counted
    twice for 0 < k < P/2 (k and -k)."""
    P = W2.shape[0]
    mult = np.full(P // 2 + 1, 2.0)
    mult[0] = 1.0
    if P % 2 == 0:
        mult[-1] = 1.0
    s = (np.abs(np.fft.rfft(W1[:, :P], axis=1)) ** 2 + np.abs(np.fft.rfft(W1[:, P:], axis=1)) ** 2) * mult
    r = np.abs(np.fft.rfft(W2.T, axis=1)) ** 2 * mult
    return s / s.sum(1, keepdims=True), r / r.sum(1, keepdims=True)


def _distance(W1, W2, R1, R2, nearest=False):
    """Mean over matched neurons of (TV(read-in) + TV(read-out))/2, TV = half the L1 distance."""
    s, r = _spectra(W1, W2)
    rs, rr = _spectra(R1, R2)
    cost = 0.25 * (np.abs(s[:, None] - rs[None]).sum(-1) + np.abs(r[:, None] - rr[None]).sum(-1))
    if nearest:
        return cost.min(axis=1).mean()
    i, j = linear_sum_assignment(cost)
    return cost[i, j].mean()


def test_random_baseline_is_the_monte_carlo_mean_of_gaussian_networks():
    P, N, seed = 11, 24, 5
    task = _task(P)
    rng = np.random.default_rng(2024)
    W1, W2 = rng.standard_normal((1, N, 2 * P)), rng.standard_normal((1, P, N))
    out = network_links(task, N, 0.5, W1, W2, [seed], 1.0)
    ref = gromov_network(task, N, seed=seed)
    draws = 200
    mc = np.array([_distance(rng.standard_normal((N, 2 * P)), rng.standard_normal((P, N)), ref.W1, ref.W2)
                   for _ in range(draws)])
    mc_near = np.array([_distance(rng.standard_normal((N, 2 * P)), rng.standard_normal((P, N)), ref.W1, ref.W2,
                                  nearest=True) for _ in range(draws)])
    for key, sample in (("analytic_distance_random", mc), ("analytic_distance_nearest_random", mc_near)):
        se = sample.std(ddof=1) * np.sqrt(1.0 / DISTANCE_BASELINE_DRAWS + 1.0 / draws)
        assert abs(out[key][0] - sample.mean()) < 4.0 * se + 1e-9, (key, out[key][0], sample.mean(), se)
    # the network measured here is itself Gaussian: its distance is one draw of the same law
    assert abs(out["analytic_distance"][0] - mc.mean()) < 5.0 * mc.std(ddof=1)
    # and the distance written out here agrees with the library's on that network
    assert out["analytic_distance"][0] == pytest.approx(_distance(W1[0], W2[0], ref.W1, ref.W2), abs=1e-12)


# ---------------------------------------------------------------------------------------
# neural feature matrix vs sqrt(AGOP)
# ---------------------------------------------------------------------------------------
def _two_hot(pairs, P):
    X = np.zeros((len(pairs), 2 * P))
    X[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    X[np.arange(len(pairs)), P + pairs[:, 1]] = 1.0
    return X


def _agop_by_jacobians(W1, W2, X, c):
    """(1/n) sum_x J(x) J(x)^T with J(x) = d f / d x = 2c W1^T diag(W1 x) W2^T (2P x P)."""
    G = np.zeros((W1.shape[1], W1.shape[1]))
    for x in X:
        J = 2.0 * c * W1.T @ np.diag(W1 @ x) @ W2.T
        G += J @ J.T
    return G / len(X)


def test_correlation_is_one_when_the_agop_is_the_squared_feature_matrix():
    r"""For f = c W2 (W1 x)^2 the AGOP over inputs X is

        G = (4c^2/n) W1^T [(W2^T W2) o (H^T H)] W1,   H = X W1^T,  H^T H = W1 Sigma W1^T,

    Sigma = X^T X. Take the rows of W1 as w_i = s_i v_i with v_i orthonormal eigenvectors of
    Sigma (eigenvalues l_i > 0): H^T H = diag(s_i^2 l_i) is diagonal, so the Hadamard product
    keeps only |W2[:, i]|^2 and G = (4c^2/n) sum_i |W2[:, i]|^2 l_i s_i^4 v_i v_i^T. With
    read-out columns of squared norm 1/l_i, G = (4c^2/n) (W1^T W1)^2, so sqrt(G) is
    proportional to W1^T W1 and their Pearson correlation is 1. Sigma is that of the
    network's *training* inputs: the split of its seed."""
    P, N, seed, frac = 11, 6, 4, 0.5
    task = _task(P)
    pairs = task.pairs()[task.split(frac, seed).train]
    X = _two_hot(pairs, P)
    lam, V = np.linalg.eigh(X.T @ X)
    pick = np.linspace(1, 2 * P - 1, N).round().astype(int)   # spread over the positive eigenvalues
    lam, V = lam[pick], V[:, pick]
    assert lam.min() > 1.0 and lam.max() > 3 * lam.min()
    s = np.linspace(0.5, 2.0, N)                       # distinct norms: G is not a multiple of NFM
    W1 = s[:, None] * V.T
    rng = np.random.default_rng(3)
    W2 = rng.standard_normal((P, N))
    W2 /= np.linalg.norm(W2, axis=0) * np.sqrt(lam)     # |W2[:, i]|^2 = 1 / l_i
    c = output_scale(P, N, "mean-field")
    # the derivation, checked by brute force: Jacobian against finite differences, AGOP
    # summed sample by sample
    x0, h = X[0], 1e-4
    f = lambda x: c * W2 @ (W1 @ x) ** 2  # noqa: E731
    J_fd = np.stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(2 * P)])
    np.testing.assert_allclose(J_fd, 2 * c * W1.T @ np.diag(W1 @ x0) @ W2.T, rtol=1e-7, atol=1e-12)
    G = _agop_by_jacobians(W1, W2, X, c)
    NFM = W1.T @ W1
    np.testing.assert_allclose(G, 4 * c * c / len(X) * NFM @ NFM, rtol=1e-9, atol=1e-12 * np.abs(G).max())
    out = network_links(task, N, frac, W1[None], W2[None], [seed], c)
    assert out["nfm_agop_corr"][0] == pytest.approx(1.0, abs=1e-9)
    # negative controls: unit read-out columns (G weighted by l_i), or the inputs of another
    # seed's split, give a correlation visibly below 1
    W2u = W2 / np.linalg.norm(W2, axis=0)
    assert network_links(task, N, frac, W1[None], W2u[None], [seed], c)["nfm_agop_corr"][0] < 0.999
    assert network_links(task, N, frac, W1[None], W2[None], [seed + 1], c)["nfm_agop_corr"][0] < 0.999


# ---------------------------------------------------------------------------------------
# through the trainer, the file and the figures
# ---------------------------------------------------------------------------------------
CFG = dict(P=11, widths=[20], train_fractions=[0.5], steps=30, log_every=10, seeds=2, seed=3)


def test_the_trainer_stores_the_links_of_its_final_and_initial_weights(tmp_path):
    cfg = TrainConfig(**CFG)
    backend = MemoryBackend()
    res = run_training(cfg, backend, checkpoint_every=20)
    p = res.points[0]
    task = cfg.task_obj()
    direct = network_links(task, 20, 0.5, p["W1"], p["W2"], p["seeds"], cfg.output_scale_for(20),
                           init=initial_weights(cfg, 20, p["seeds"]))
    for k in LINKS:
        assert p[k].shape == (2,) and np.all(np.isfinite(p[k])), k
        np.testing.assert_array_equal(p[k], direct[k])
    assert np.all((0 <= p["analytic_distance"]) & (p["analytic_distance"] <= 1))
    # the initial weights are those the trainer started from (seeded), not another draw
    from simulations.training import Trainer

    tr = Trainer(task, cfg, 20, 0.5, p["seeds"]).initialize()
    W1i, W2i = initial_weights(cfg, 20, p["seeds"])
    np.testing.assert_array_equal(tr.params["W1"], W1i)
    np.testing.assert_array_equal(tr.params["W2"], W2i)
    # a checkpoint of the last step without these measures (older version): computed then
    _, _, states = backend.load()
    stripped = {u: {k: v for k, v in st.items() if not k.startswith("end/")} for u, st in states.items()}
    again = TrainingResult.from_states(cfg, stripped)
    for k in LINKS:
        np.testing.assert_array_equal(again.points[0][k], p[k])
    # the file: datasets with descriptions, the table and info show them
    out = tmp_path / "t.h5"
    res.to_hdf5(out)
    d = adaptive_kernel.load(out)
    for k in LINKS:
        np.testing.assert_array_equal(d.points[0][k], p[k])
    with h5py.File(out, "r") as f:
        assert f.attrs["format_version"] == 2
        for k in LINKS:
            assert f["train/0"][k].attrs["description"]
    assert "d_rand" in d.table() and "nfm~agop" in res.table()
    assert f"{np.mean(p['analytic_distance_random']):.3f}" in d.table()
    assert "Gaussian" in d.info()


def test_a_file_of_format_version_1_still_reads(tmp_path):
    res = run_training(TrainConfig(**CFG))
    out = tmp_path / "old.h5"
    res.to_hdf5(out)
    with h5py.File(out, "r+") as f:
        f.attrs["format_version"] = 1
        for k in LINKS:
            del f["train/0"][k]
    d = adaptive_kernel.load(out)
    for k in LINKS:
        assert np.all(np.isnan(d.points[0][k]))
    row = d.table().splitlines()[1]
    assert row.split()[-6:] == ["-"] * 6


def test_figures_on_a_width_grid_and_on_an_operation_without_analytic_solution():
    from adaptive_kernel.plotting_train import FIGURES

    for operation in ("add", "mul"):
        res = run_training(TrainConfig(**{**CFG, "widths": [8, 16], "seeds": 1, "operation": operation}))
        for name in ("preactivation", "phases", "width"):
            fig = FIGURES[name](res)
            assert fig.axes, (operation, name)
        # the preactivation figure: trained and analytic rows (image + colour bar each) for
        # addition; the trained row alone for multiplication
        fig = FIGURES["preactivation"](res)
        assert len(fig.axes) == (8 if operation == "add" else 4)
        # the width figure: the trained curve holds the stored final test accuracies
        fig = FIGURES["width"](res)
        ys = [line.get_ydata() for line in fig.axes[0].get_lines() if "trained" in str(line.get_label())]
        acc = [res.points[i]["traces"]["test_acc"][:, -1].mean() for i in range(2)]
        np.testing.assert_allclose(ys[0], acc)
