"""Analytic solutions of modular arithmetic (simulations.analytic) against formulas written
out here: Gromov's weights and outputs (the coherent sum P delta - 1), Mohamadi et al.'s
construction (f_q = 4P 1(n + m = q) to rounding, odd and even P, other operations), the
network's outputs against dense two-hot products, the least-squares loss, the distance
between networks (symmetries, brute-force matching), the sweep's reproducibility across
runners and its file."""
import itertools
import math

import h5py
import numpy as np
import pytest

from adaptive_kernel import load
from adaptive_kernel.errors import ParameterError
from adaptive_kernel.runner import ProcessRunner, SerialRunner
from adaptive_kernel.tasks import TASKS, get_task
from simulations.analytic import (AnalyticResult, accuracy_vs_width, evaluate, gromov_network,
                                  mohamadi_network, mohamadi_size, network_outputs, output_grid,
                                  weight_distance)
from simulations.fourier_features import neuron_ipr, phase_combination

TASK = next(iter(TASKS))      # the modular-arithmetic task's registry name


def _task(P, operation="add"):
    return get_task(TASK, P=P, operation=operation)


def _dense_outputs(W1, W2, task):
    """f = W2 (W1 x)^2 with the explicit two-hot vectors x of every pair."""
    P = task.P
    X = np.zeros((task.pairs().shape[0], 2 * P))
    rows = np.arange(X.shape[0])
    X[rows, task.pairs()[:, 0]] = 1.0
    X[rows, P + task.pairs()[:, 1]] = 1.0
    return ((X @ W1.T) ** 2) @ W2.T


def test_gromov_weights_are_his_formula():
    P, N = 11, 25
    net = gromov_network(_task(P), N, seed=3)
    phi1, phi2, phi3 = net.phases.T
    np.testing.assert_allclose(phi3, phi1 + phi2, rtol=0, atol=0)
    assert np.all((phi1 >= 0) & (phi1 < 2 * np.pi)) and np.all((phi2 >= 0) & (phi2 < 2 * np.pi))
    np.testing.assert_array_equal(net.frequencies, [1 + i % (P - 1) for i in range(N)])
    for i in range(N):
        k = net.frequencies[i]
        for n in range(P):
            assert net.W1[i, n] == pytest.approx(math.cos(2 * math.pi * k * n / P + phi1[i]), abs=1e-12)
            assert net.W1[i, P + n] == pytest.approx(math.cos(2 * math.pi * k * n / P + phi2[i]), abs=1e-12)
            assert net.W2[n, i] == pytest.approx(math.cos(-2 * math.pi * k * n / P - phi3[i]), abs=1e-12)
    rnd = gromov_network(_task(P), 400, seed=3, frequencies="random")
    assert set(rnd.frequencies) == set(range(1, P))
    # same seed, same bits; other seed, other phases
    assert np.array_equal(gromov_network(_task(P), N, seed=3).W1, net.W1)
    assert not np.array_equal(gromov_network(_task(P), N, seed=4).W1, net.W1)


def test_outputs_match_dense_two_hot_products_and_grid():
    task = _task(7)
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(9, 14)), rng.normal(size=(7, 9))
    f = network_outputs(W1, W2, task)
    np.testing.assert_allclose(f, _dense_outputs(W1, W2, task), rtol=1e-12)
    for q in (0, 4):
        np.testing.assert_allclose(output_grid(W1, W2, q), f[:, q].reshape(7, 7), rtol=1e-12)
    idx = np.array([3, 40, 11])
    np.testing.assert_allclose(network_outputs(W1, W2, task, idx), f[idx], rtol=1e-13)


def test_gromov_output_is_coherent_sum_plus_his_remainder():
    # expand sum_i u (a + b)^2, a = cos(A), b = cos(B), u = cos(C), C = -2 pi k q/P - phi3:
    # 2 a b u = 1/2 [cos(A+B+C) + cos(A+B-C) + cos(A-B+C) + cos(A-B-C)], A + B + C = 2 pi k (n+m-q)/P
    # when phi3 = phi1 + phi2: the coherent half; everything else carries neuron-dependent phases
    P = 13
    task = _task(P)
    net = gromov_network(task, P - 1, seed=5)        # frequencies 1 .. P-1, once each
    phi1, phi2, phi3 = net.phases.T
    n, m, q = np.meshgrid(np.arange(P), np.arange(P), np.arange(P), indexing="ij")
    coherent = np.zeros((P, P, P))
    rest = np.zeros((P, P, P))
    for k, p1, p2, p3 in zip(net.frequencies, phi1, phi2, phi3):
        A = 2 * np.pi * k * n / P + p1
        B = 2 * np.pi * k * m / P + p2
        C = -2 * np.pi * k * q / P - p3
        coherent += 0.5 * np.cos(2 * np.pi * k * (n + m - q) / P)
        rest += np.cos(C) * (np.cos(A) ** 2 + np.cos(B) ** 2) + 0.5 * (
            np.cos(A + B - C) + np.cos(A - B + C) + np.cos(A - B - C))
    f = network_outputs(net.W1, net.W2, task).reshape(P, P, P)
    np.testing.assert_allclose(f, coherent + rest, atol=1e-10)
    # the coherent sum over all frequencies is (P delta(n + m = q) - 1)/2 (Gromov's N/2 delta)
    np.testing.assert_allclose(coherent, 0.5 * (P * ((n + m - q) % P == 0) - 1.0), atol=1e-10)


def test_gromov_accuracy_grows_with_width_to_one():
    task = _task(23)
    acc = {N: np.mean([evaluate(*_wts(gromov_network(task, N, seed=s)), task).accuracy for s in range(3)])
           for N in (4, 30, 300)}
    assert acc[4] < acc[30] < acc[300]
    assert acc[300] == 1.0
    assert acc[4] < 0.5


def _wts(net):
    return net.W1, net.W2


@pytest.mark.parametrize("P", [5, 7, 8, 12, 13])
@pytest.mark.parametrize("compact", [True, False])
def test_mohamadi_construction_is_exact(P, compact):
    task = _task(P)
    net = mohamadi_network(task, compact=compact)
    assert net.width == mohamadi_size(P, compact) and net.exact
    f = network_outputs(net.W1, net.W2, task)
    expected = 4.0 * P * (np.arange(P)[None, :] == ((task.pairs()[:, 0] + task.pairs()[:, 1]) % P)[:, None])
    np.testing.assert_allclose(f, expected, rtol=1e-12, atol=1e-12 * 4 * P)
    ev = evaluate(net.W1, net.W2, task)
    assert ev.accuracy == 1.0 and ev.loss == pytest.approx(0.0, abs=1e-20)
    assert ev.output_scale == pytest.approx(1 / (4 * P), rel=1e-12)
    # every neuron carries one frequency; the sin rows of k = 0 (and of k = P/2) are zero (IPR NaN)
    ipr = neuron_ipr(net.W1)
    zero = ~np.any(net.W1, axis=1)
    assert np.array_equal(np.isnan(ipr), zero) and zero.sum() == (2 if P % 2 else 4)
    np.testing.assert_allclose(ipr[~zero], 1.0, rtol=1e-12)


def test_mohamadi_block_written_out_for_one_frequency():
    # F.1-F.2 for k = 2 at P = 7, neurons 0..7 of the first block (compact order starts at k = 1,
    # so take the block of k = 2: neurons 8..15), written from the paper's table
    P, k = 7, 2
    net = mohamadi_network(_task(P))
    t = np.arange(P)
    c, s = np.cos(2 * np.pi * k * t / P), np.sin(2 * np.pi * k * t / P)
    rows = [(c, c), (c, -c), (s, s), (s, -s), (s, c), (s, -c), (c, s), (-c, s)]
    outs = [c, -c, -c, c, s, -s, s, -s]
    for j in range(8):
        np.testing.assert_allclose(net.W1[8 + j], np.concatenate(rows[j]), atol=1e-15)
        np.testing.assert_allclose(net.W2[:, 8 + j], 2.0 * outs[j], atol=1e-15)   # c_k = 2


def test_mohamadi_widths_other_than_the_construction():
    P = 11
    task = _task(P)
    size = mohamadi_size(P)
    big = mohamadi_network(task, width=3 * size + 5)             # 3 copies scaled 3^(-1/3), 5 zero neurons
    assert big.exact and big.width == 3 * size + 5
    np.testing.assert_allclose(network_outputs(big.W1, big.W2, task),
                               network_outputs(*_wts(mohamadi_network(task)), task), atol=1e-11)
    assert np.all(big.W1[-5:] == 0) and np.all(big.frequencies[-5:] == -1)
    small = mohamadi_network(task, width=8)                      # one block, k = 1
    assert not small.exact
    f = network_outputs(small.W1, small.W2, task)
    j = (task.pairs()[:, 0:1] + task.pairs()[:, 1:2] - np.arange(P)[None, :]) % P
    np.testing.assert_allclose(f, 8.0 * np.cos(2 * np.pi * j / P), atol=1e-12)  # c_1 * 4 cos
    assert evaluate(small.W1, small.W2, task).accuracy == 1.0


@pytest.mark.parametrize("operation", ["sub", "pow:3,3"])
def test_other_operations_by_relabelling(operation):
    P = 11                                                       # gcd(3, 10) = 1: n^3 is a bijection
    task = _task(P, operation)
    net = mohamadi_network(task)
    f = network_outputs(net.W1, net.W2, task)
    np.testing.assert_allclose(f, 4.0 * P * (np.arange(P)[None, :] == task.labels()[:, None]),
                               rtol=1e-12, atol=1e-11)
    g = gromov_network(task, 400, seed=0)
    assert evaluate(g.W1, g.W2, task).accuracy == 1.0
    np.testing.assert_allclose(phase_combination(g.W1, g.W2, task=task), 0.0, atol=1e-10)


@pytest.mark.parametrize("operation", ["mul", "div", "pow:2,3"])
def test_operations_without_a_construction_are_refused(operation):
    task = _task(11, operation)
    for build in (lambda: gromov_network(task, 10), lambda: mohamadi_network(task)):
        with pytest.raises(ParameterError, match="operation must be add, sub or pow"):
            build()


def test_bad_arguments():
    task = _task(7)
    with pytest.raises(ParameterError, match="width must be an integer >= 1"):
        gromov_network(task, 0)
    with pytest.raises(ParameterError, match="frequencies must be one of"):
        gromov_network(task, 5, frequencies="odd")
    with pytest.raises(ParameterError, match="q must be an integer in"):
        output_grid(np.ones((3, 14)), np.ones((7, 3)), 7)


def test_evaluate_loss_is_least_squares_mse():
    task = _task(7)
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(6, 14)), rng.normal(size=(7, 6))
    f = _dense_outputs(W1, W2, task)
    Y = np.zeros_like(f)
    Y[np.arange(len(Y)), task.labels()] = 1.0
    c, *_ = np.linalg.lstsq(f.reshape(-1, 1), Y.reshape(-1), rcond=None)
    brute = np.mean(np.sum((c[0] * f - Y) ** 2, axis=1))
    ev = evaluate(W1, W2, task)
    assert ev.loss == pytest.approx(brute, rel=1e-10)
    assert ev.output_scale == pytest.approx(c[0], rel=1e-10)
    assert ev.accuracy == pytest.approx(np.mean(np.argmax(f, 1) == task.labels()))


# -- distance to the analytic solution -------------------------------------------------------
def _spectrum(x):
    """Normalised power per real frequency by rfft (independent of simulations.fourier_features):
    |rfft_k|^2, doubled for 0 < k < P/2."""
    P = x.shape[-1]
    r = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    r[..., 1:(P + 1) // 2] *= 2
    return r


def test_weight_distance_brute_force_matching():
    P, N = 7, 4
    rng = np.random.default_rng(7)
    W1, W2 = rng.normal(size=(N, 2 * P)), rng.normal(size=(P, N))
    R1, R2 = rng.normal(size=(N, 2 * P)), rng.normal(size=(P, N))

    def feats(A, B):
        s = _spectrum(A[:, :P]) + _spectrum(A[:, P:])
        r = _spectrum(B.T)
        return s / s.sum(1, keepdims=True), r / r.sum(1, keepdims=True)

    s, r = feats(W1, W2)
    rs, rr = feats(R1, R2)
    cost = np.array([[0.25 * (np.abs(s[i] - rs[j]).sum() + np.abs(r[i] - rr[j]).sum()) for j in range(N)]
                     for i in range(N)])
    best = min(np.mean([cost[i, p[i]] for i in range(N)]) for p in itertools.permutations(range(N)))
    assert weight_distance(W1, W2, (R1, R2)) == pytest.approx(best, rel=1e-12)
    assert weight_distance(W1, W2, (R1, R2), match="nearest") == pytest.approx(cost.min(1).mean(), rel=1e-12)


def test_weight_distance_symmetries_and_scale():
    P = 13
    task = _task(P)
    ref = gromov_network(task, 40, seed=1)
    assert weight_distance(ref.W1, ref.W2, ref) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    perm = rng.permutation(40)
    a = rng.uniform(0.3, 3.0, 40) * rng.choice([-1, 1], 40)
    W1 = a[:, None] * ref.W1[perm]
    W1 = np.concatenate([np.roll(W1[:, :P], 4, axis=1), np.roll(W1[:, P:], -2, axis=1)], axis=1)
    W2 = np.roll(ref.W2[:, perm] / a ** 2, 5, axis=0)
    assert weight_distance(W1, W2, ref) == pytest.approx(0.0, abs=1e-12)
    # another Gromov network with the same frequencies, other phases: distance 0
    assert weight_distance(*_wts(gromov_network(task, 40, seed=9)), ref) == pytest.approx(0.0, abs=1e-12)
    # random networks are far; noise moves a solution away monotonically; leading axes
    Wr1, Wr2 = rng.normal(size=(3, 40, 2 * P)), rng.normal(size=(3, P, 40))
    d_random = weight_distance(Wr1, Wr2, ref)
    assert d_random.shape == (3,) and np.all(d_random > 0.7)
    d = [weight_distance(ref.W1 + eps * Wr1[0], ref.W2 + eps * Wr2[0], ref) for eps in (0.05, 0.2, 1.0)]
    assert 0 < d[0] < d[1] < d[2] < d_random[0] + 0.05


# -- the sweep ----------------------------------------------------------------------------------
def test_sweep_same_bits_on_every_runner_and_file_round_trip(tmp_path):
    args = (TASK, {"P": 11, "operation": "add"}, "gromov", [4, 12, 30], 2, 5)
    serial = accuracy_vs_width(*args, runner=SerialRunner())
    with ProcessRunner(2) as runner:
        parallel = accuracy_vs_width(*args, runner=runner)
    for name in ("accuracy", "loss", "output_scale", "ipr_mean", "phase_alignment"):
        assert np.array_equal(getattr(serial, name), getattr(parallel, name)), name
    assert serial.accuracy.shape == (3, 2)
    # member s at width N is gromov_network with split_seed_sequence(seed, "analytic-gromov", s, N)
    from adaptive_kernel.tasks import split_seed_sequence

    task = _task(11)
    net = gromov_network(task, 12, seed=split_seed_sequence(5, "analytic-gromov", 1, 12))
    assert serial.accuracy[1, 1] == evaluate(net.W1, net.W2, task).accuracy
    np.testing.assert_allclose(serial.ipr_mean, 1.0, rtol=1e-12)
    np.testing.assert_allclose(serial.phase_alignment, 1.0, rtol=1e-12)
    path = tmp_path / "a.h5"
    serial.to_hdf5(path, command="phasesim analytic (test)")
    back = load(path)
    assert isinstance(back, AnalyticResult) and back.kind == "analytic"
    for name in ("widths", "accuracy", "loss", "ipr_mean", "exact"):
        assert np.array_equal(getattr(back, name), getattr(serial, name)), name
    assert back.task_params == {"P": 11, "operation": "add"} and back.seeds == 2 and back.seed == 5
    assert back.attrs["command"] == "phasesim analytic (test)" and "package_version" in back.attrs
    with h5py.File(path) as f:
        assert f.attrs["kind"] == "analytic"
        assert all("description" in f["analytic"][k].attrs for k in f["analytic"])


def test_mohamadi_sweep_is_one_deterministic_member():
    res = accuracy_vs_width(TASK, {"P": 7}, "mohamadi", [8, 32, 64], seeds=3)
    assert res.seeds == 1 and res.accuracy.shape == (3, 1)
    np.testing.assert_array_equal(res.exact[:, 0], [False, True, True])
    np.testing.assert_array_equal(res.accuracy[:, 0], 1.0)
    assert res.loss[1, 0] == pytest.approx(0.0, abs=1e-20)


# -- figures (adaptive_kernel.plotting_fourier) -------------------------------------------------
def test_figures_take_and_return_axes():
    from matplotlib.figure import Figure

    from adaptive_kernel import plotting_fourier as pf
    from adaptive_kernel.plotting import new_figure

    task = _task(11)
    net = gromov_network(task, 30, seed=0)
    _, ax = new_figure("fourier")
    assert pf.plot_preactivation(net.W1, net.W2, task, 3, ax=ax) is ax
    np.testing.assert_allclose(ax.images[0].get_array(), output_grid(net.W1, net.W2, 3))
    _, ax = new_figure("fourier")
    assert pf.plot_phase_histogram(net.W1, net.W2, ax=ax) is ax
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 30 and max(heights) == 30          # every neuron in the bin centred on 0
    fig = pf.preactivation_figure(net.W1, net.W2, task, q=1, reference=mohamadi_network(task))
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 2 + 4   # 4 panels + 4 colour bars
    res = accuracy_vs_width(TASK, {"P": 7}, "gromov", [3, 12], seeds=2)
    assert set(pf.FIGURES) >= {"width"} and pf.DEFAULT_FIGURE in pf.FIGURES
    for name, fn in pf.FIGURES.items():
        assert isinstance(fn(res, figsize=(4, 3)), Figure), name
    _, ax = new_figure("fourier")
    pf.plot_accuracy_width(res, ax=ax, trained={"GD": ([3, 12], [[0.1, 0.2], [0.5, 0.7]])})
    assert len(ax.lines) >= 2
