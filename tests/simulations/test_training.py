"""The gradient-descent trainer (simulations.training): gradients against finite differences
of an independent dense implementation, each optimizer's step against its defining formula,
seeds and runners bit for bit, resume, grokking on a small default-like run."""
import math

import numpy as np
import pytest

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import get_task
from simulations.backends import HDFBackend, MemoryBackend
from simulations.training import (GD, AdamW, Momentum, NormalizedGD, TrainConfig, Trainer, check_resources,
                                  first_step_reaching, forward, init_params, log_steps, loss_and_grad,
                                  output_scale, pair_indices, run_training, trainable_tasks)

TASK = trainable_tasks()[0]


# ---------------------------------------------------------------------------------------
# an independent dense implementation: one-hot inputs, matrix products
# ---------------------------------------------------------------------------------------
def dense_loss(W1, W2, pairs, labels, c, loss, linf=0.0):
    P = W2.shape[0]
    X = np.zeros((len(pairs), 2 * P))
    X[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    X[np.arange(len(pairs)), P + pairs[:, 1]] = 1.0
    F = c * (X @ W1.T) ** 2 @ W2.T
    Y = np.eye(P)[labels]
    if loss == "mse":
        L = np.mean(np.sum((F - Y) ** 2, axis=1))
    else:
        L = np.mean(np.log(np.sum(np.exp(F), axis=1)) - F[np.arange(len(F)), labels])
    return L + linf * max(np.max(np.abs(W1)), np.max(np.abs(W2)))


@pytest.mark.parametrize("parametrisation", ["mean-field", "standard"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("linf", [0.0, 0.3])
def test_gradients_against_finite_differences(parametrisation, loss, linf):
    P, N = 5, 4
    task = get_task(TASK, P=P)
    rng = np.random.default_rng(1)
    idx = rng.choice(task.n_pairs, 9, replace=False)
    pairs, labels = task.pairs()[idx], task.labels()[idx]
    c = output_scale(P, N, parametrisation)
    s = 1.0 if parametrisation == "mean-field" else 0.7
    W1 = s * rng.standard_normal((N, 2 * P))
    W2 = s * rng.standard_normal((P, N))
    if parametrisation == "mean-field":
        W2 *= 2 * P * N / 10.0  # outputs of order one, so the loss is not flat
    a, m = pair_indices(pairs)
    tot, data, F, g1, g2 = loss_and_grad(W1, W2, a, m + P, labels, c, loss, linf)
    assert tot == pytest.approx(dense_loss(W1, W2, pairs, labels, c, loss, linf), rel=1e-12)
    assert data == pytest.approx(dense_loss(W1, W2, pairs, labels, c, loss, 0.0), rel=1e-12)
    h = 1e-6
    for W, g in ((W1, g1), (W2, g2)):
        fd = np.zeros_like(W)
        for i in np.ndindex(W.shape):
            old = W[i]
            W[i] = old + h
            up = dense_loss(W1, W2, pairs, labels, c, loss, linf)
            W[i] = old - h
            dn = dense_loss(W1, W2, pairs, labels, c, loss, linf)
            W[i] = old
            fd[i] = (up - dn) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7 * np.max(np.abs(fd)))


def test_forward_is_the_dense_network():
    P, N = 7, 6
    task = get_task(TASK, P=P)
    W1, W2 = init_params(P, N, 3, 1.0)
    X = task.inputs()
    F = forward(W1, W2, task.pairs(), 0.25)
    np.testing.assert_allclose(F, 0.25 * (X @ W1.T) ** 2 @ W2.T, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------
# optimizers against their formulas (two steps, so the state is used)
# ---------------------------------------------------------------------------------------
def _params(rng):
    return {"W1": rng.standard_normal((2, 3, 4)), "W2": rng.standard_normal((2, 4, 3))}


def _two_steps(opt, rng):
    p = _params(rng)
    p0 = {k: v.copy() for k, v in p.items()}
    g1 = {k: rng.standard_normal(v.shape) for k, v in p.items()}
    g2 = {k: rng.standard_normal(v.shape) for k, v in p.items()}
    opt.step(p, g1)
    p1 = {k: v.copy() for k, v in p.items()}
    opt.step(p, g2)
    return p0, p1, p, g1, g2


def test_gd_step():
    rng = np.random.default_rng(0)
    p0, p1, p2, g1, g2 = _two_steps(GD(0.3, weight_decay=0.05), rng)
    for k in p0:
        np.testing.assert_allclose(p1[k], p0[k] - 0.3 * (g1[k] + 0.05 * p0[k]), rtol=1e-14)
        np.testing.assert_allclose(p2[k], p1[k] - 0.3 * (g2[k] + 0.05 * p1[k]), rtol=1e-14)


def test_momentum_step_pytorch_convention():
    rng = np.random.default_rng(1)
    lr, mu, wd = 0.2, 0.8, 0.01
    p0, p1, p2, g1, g2 = _two_steps(Momentum(lr, mu, wd), rng)
    for k in p0:
        b1 = g1[k] + wd * p0[k]                 # torch: buf = clone(d_p) at the first step
        np.testing.assert_allclose(p1[k], p0[k] - lr * b1, rtol=1e-14)
        b2 = mu * b1 + (g2[k] + wd * p1[k])     # buf = momentum * buf + d_p (dampening 0)
        np.testing.assert_allclose(p2[k], p1[k] - lr * b2, rtol=1e-13)


def test_adamw_step_torch_formula():
    rng = np.random.default_rng(2)
    lr, (b1, b2), eps, wd = 0.01, (0.9, 0.98), 1e-8, 0.5
    p0, p1, p2, g1, g2 = _two_steps(AdamW(lr, (b1, b2), eps, wd), rng)
    for k in p0:
        m, v, p = 0.0, 0.0, p0[k]
        for t, (g, got) in enumerate(((g1[k], p1[k]), (g2[k], p2[k])), start=1):
            p = p * (1 - lr * wd)               # decoupled weight decay, before the moments
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            mhat = m / (1 - b1 ** t)
            vhat = v / (1 - b2 ** t)
            p = p - lr * mhat / (np.sqrt(vhat) + eps)
            np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-14)


def test_normalized_gd_step_per_network():
    rng = np.random.default_rng(3)
    p0, p1, p2, g1, g2 = _two_steps(NormalizedGD(0.7), rng)
    for s in range(2):
        norm = math.sqrt(sum(np.sum(g1[k][s] ** 2) for k in p0))   # all weights of network s
        for k in p0:
            np.testing.assert_allclose(p1[k][s], p0[k][s] - 0.7 * g1[k][s] / norm, rtol=1e-14)
    # a network with zero gradient does not move
    p = _params(rng)
    before = {k: v.copy() for k, v in p.items()}
    NormalizedGD(1.0).step(p, {k: np.zeros_like(v) for k, v in p.items()})
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


# ---------------------------------------------------------------------------------------
# schedule and result helpers
# ---------------------------------------------------------------------------------------
def test_log_steps_and_censoring():
    s = log_steps(1000, 250)
    assert s[0] == 0 and s[-1] == 1000
    assert {250, 500, 750, 1, 10, 100}.issubset(set(s.tolist()))
    assert np.all(np.diff(s) > 0)
    vals = np.array([[0.1, 0.5, 0.95, 0.99], [0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_array_equal(first_step_reaching(vals, [0, 10, 20, 30], 0.9), [20, -1])


def _small(**kw):
    base = dict(P=7, widths=[8], train_fractions=[0.6], steps=30, log_every=10, seeds=3, lr=None)
    base.update(kw)
    return TrainConfig(**base)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("opt", ["gd", "adamw", "ngd", "momentum"])
def test_block_of_seeds_equals_networks_one_by_one(opt):
    # P = 13: 101 training rows, so a single network's products are split by rows over the
    # threads (blocks of 32 rows) while a block of 3 networks runs one network per thread
    cfg = _small(P=13, optimizer=opt, batch_size=70 if opt == "momentum" else None)
    task = cfg.task_obj()
    block = Trainer(task, cfg, 8, 0.6, [5, 6, 7]).initialize().run(cfg.steps).get_state()
    for j, s in enumerate([5, 6, 7]):
        one = Trainer(task, cfg, 8, 0.6, [s]).initialize().run(cfg.steps).get_state()
        for k, v in one.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(block[k][j:j + 1], v, err_msg=k)


def test_same_seed_same_bits_and_cut_into_calls():
    cfg = _small(optimizer="adamw")
    task = cfg.task_obj()
    a = Trainer(task, cfg, 8, 0.6, [0, 1]).initialize().run(cfg.steps).get_state()
    t = Trainer(task, cfg, 8, 0.6, [0, 1]).initialize()
    for n in (7, 3, 20):
        t.run(n)
    _assert_same(a, t.get_state())
    # the first measurement is the initial network: no NTK change yet
    assert np.all(a["tr/ntk_change"][:, 0] == 0.0)


def _results_equal(r1, r2):
    for p, q in zip(r1.points, r2.points):
        for k in ("W1", "W2", "grok_step", "fit_step", "freq_hist", "phase_hist"):
            np.testing.assert_array_equal(p[k], q[k], err_msg=k)
        for k in p["traces"]:
            np.testing.assert_array_equal(p["traces"][k], q["traces"][k], err_msg=k)


def test_serial_and_process_runner_identical():
    from adaptive_kernel.runner import ProcessRunner

    cfg = _small(train_fractions=[0.5, 0.7], steps=20, seeds=2)
    serial = run_training(cfg, checkpoint_every=10)
    with ProcessRunner(2) as runner:
        par = run_training(cfg, checkpoint_every=10, runner=runner)
    _results_equal(serial, par)


def test_resume_equals_uninterrupted(tmp_path):
    cfg = _small(optimizer="momentum", steps=30)
    full = run_training(cfg, checkpoint_every=10)
    backend = HDFBackend(str(tmp_path / "run.ckpt"))
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, backend, checkpoint_every=10, stop_after_segments=1)
    resumed = run_training(cfg, HDFBackend(str(tmp_path / "run.ckpt")), resume=True, checkpoint_every=10)
    _results_equal(full, resumed)
    with pytest.raises(ParameterError, match="different settings"):
        run_training(_small(optimizer="gd", steps=30), HDFBackend(str(tmp_path / "run.ckpt")), resume=True)


def test_small_run_groks_fit_first():
    """Plain GD at P = 23, train fraction 0.65: the training set is fitted first, test
    accuracy crosses 0.9 clearly later (Gromov's Fig. 1, small)."""
    cfg = TrainConfig(P=23, widths=[128], train_fractions=[0.65], steps=900, log_every=25, seeds=1)
    res = run_training(cfg, MemoryBackend(), checkpoint_every=900)
    p = res.points[0]
    assert res.success and p["status"] == ["grokked"]
    fit, grok = int(p["fit_step"][0]), int(p["grok_step"][0])
    assert 0 < fit < grok
    i_fit = int(np.searchsorted(res.steps, fit))
    assert p["traces"]["test_acc"][0, i_fit] < 0.5      # fitted, not yet generalising
    assert p["traces"]["test_acc"][0, -1] > 0.9
    # the Fourier IPR grows from the random level
    assert p["traces"]["ipr"][0, -1] > 2 * p["traces"]["ipr"][0, 0]


def test_divergence_is_a_status_not_a_result():
    cfg = _small(lr=1e9, seeds=1, steps=20)
    res = run_training(cfg)
    assert not res.success and res.status == "diverged"
    assert res.points[0]["status"] == ["diverged"] and res.points[0]["diverged_step"][0] >= 0
    assert "diverged" in res.message


def test_bad_config_and_memory_refusal():
    with pytest.raises(ParameterError, match="train-fraction"):
        _small(train_fractions=[1.0])
    with pytest.raises(ParameterError, match="batch-size"):
        _small(batch_size=10 ** 6)
    with pytest.raises(ParameterError, match="optimizer"):
        _small(optimizer="sgd")
    cfg = _small(widths=[100_000])
    with pytest.raises(ParameterError, match=r"^--(P 7|width 100000): the run needs about .* reduce --(P|width)"):
        check_resources(cfg, available=10 ** 6)
    assert check_resources(_small(), available=10 ** 9) < 10 ** 8
