"""Recursive feature machines (simulations.rfm): every formula against brute force.

* the AGOP of the kernel machine against central finite differences of the predictor
  (quadratic and Gaussian kernels, centred and not, token and dense paths); batched equals
  unbatched to rounding;
* circulant deviation on exact circulant and Hankel blocks, and which shift direction
  carries the signal for addition and subtraction (decided on RFM's own feature matrices);
* Theorem 5.1 of Mallinar et al. exactly (an independent closed form derived here);
* a small RFM run that groks (test accuracy at chance for several iterations, then ~1);
* random circulant features, discrete-log reordering, the neural feature matrix utilities;
* the file round trip and identical bits on the serial and process runners.
"""
import numpy as np
import pytest
import scipy.linalg as sla

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import TASKS, get_task
from simulations import rfm

#: the registry's token-pair task (its name is not spelled here)
PAIR_TASK = rfm.pair_task_names()[0]


def pair_data(P, operation="add", fraction=0.5, seed=0):
    task = get_task(PAIR_TASK, P=P, operation=operation)
    sp = task.split(fraction, seed)
    return task, task.inputs(sp.train), task.targets(sp.train, centered=False)


def random_spd(d, rng):
    B = rng.normal(size=(d, d))
    return B @ B.T / d + 0.1 * np.eye(d)


def fd_jacobians(X_eval, X_train, alpha, M, kernel, h=1e-5, **kw):
    """(n, d, c) central differences of the predictor (exact up to rounding for the
    quadratic kernel, O(h^2) for the Gaussian)."""
    n, d = X_eval.shape
    J = np.zeros((n, d, alpha.shape[1]))
    for k in range(d):
        e = np.zeros(d)
        e[k] = h
        J[:, k, :] = (rfm.predict(X_eval + e, X_train, alpha, M, kernel, **kw)
                      - rfm.predict(X_eval - e, X_train, alpha, M, kernel, **kw)) / (2 * h)
    return J


@pytest.mark.parametrize("kernel, form", [("quadratic", "code"), ("gaussian", "code"), ("gaussian", "text")])
@pytest.mark.parametrize("centre", [False, True])
def test_agop_equals_finite_differences_of_the_predictor(kernel, centre, form):
    rng = np.random.default_rng(1)
    task, X, Y = pair_data(7)
    M = random_spd(14, rng)
    kw = dict(bandwidth=2.5, bandwidth_form=form)
    alpha, _ = rfm.solve_kernel_machine(rfm.kernel_matrix(X, X, M, kernel, **kw), Y)
    J = fd_jacobians(X, X, alpha, M, kernel, **kw)
    if centre:
        J = J - J.mean(axis=0)
    G_fd = np.einsum("iac,ibc->ab", J, J) / len(X)
    for path in ("tokens", "dense"):
        G = rfm.agop(X, alpha, M, kernel, centre=centre, path=path, **kw)
        assert np.max(np.abs(G - G_fd)) <= 1e-8 * np.max(np.abs(G_fd)), path


def test_agop_off_the_data_inputs_uses_the_dense_path_and_agrees_with_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(12, 6))
    alpha = rng.normal(size=(12, 3))
    M = random_spd(6, rng)
    assert rfm.two_hot_tokens(X) is None
    for kernel in rfm.KERNELS:
        J = fd_jacobians(X, X, alpha, M, kernel)
        G_fd = np.einsum("iac,ibc->ab", J, J) / len(X)
        G = rfm.agop(X, alpha, M, kernel)
        assert np.allclose(G, G_fd, rtol=1e-7, atol=1e-9 * np.abs(G_fd).max())


@pytest.mark.parametrize("kernel", ["quadratic", "gaussian"])
def test_batched_agop_equals_unbatched_to_rounding(kernel):
    rng = np.random.default_rng(3)
    task, X, Y = pair_data(11, "mul")
    M = random_spd(22, rng)
    alpha, _ = rfm.solve_kernel_machine(rfm.kernel_matrix(X, X, M, kernel), Y)
    whole = rfm.agop(X, alpha, M, kernel, centre=True, batch_size=len(X))
    for b in (1, 7, 50):
        G = rfm.agop(X, alpha, M, kernel, centre=True, batch_size=b)
        assert np.max(np.abs(G - whole)) <= 1e-12 * np.max(np.abs(whole))
    # a tiny memory budget gives small batches, same matrix
    assert rfm.agop_batch_size(len(X), 22, 11, True, 2 ** 16) < len(X)
    G = rfm.agop(X, alpha, M, kernel, centre=True, memory_budget=2 ** 16)
    assert np.max(np.abs(G - whole)) <= 1e-12 * np.max(np.abs(whole))


def test_quadratic_agop_matches_an_independent_closed_form():
    """sum_i V_i V_i^T = X^T [(alpha alpha^T) o (W W)] X for W = 2 X M X^T (uncentred)."""
    rng = np.random.default_rng(4)
    task, X, Y = pair_data(7, "sub")
    M = random_spd(14, rng)
    alpha, _ = rfm.solve_kernel_machine(rfm.kernel_matrix(X, X, M), Y)
    W = 2 * X @ M @ X.T
    G = M @ X.T @ ((alpha @ alpha.T) * (W @ W)) @ X @ M / len(X)
    assert np.allclose(rfm.agop(X, alpha, M), G, rtol=1e-10, atol=1e-12 * np.abs(G).max())


def test_psd_power_is_the_real_part_of_the_principal_root():
    rng = np.random.default_rng(5)
    S = rng.normal(size=(8, 8))
    S = S + S.T                                  # indefinite
    assert np.allclose(rfm.psd_power(S, 0.5), np.real(sla.sqrtm(S)), atol=1e-10)
    G = random_spd(8, rng)
    R = rfm.psd_power(G, 0.5)
    assert np.allclose(R @ R, G, atol=1e-12)


# --------------------------------------------------------------------------------------
# circulant deviation
# --------------------------------------------------------------------------------------
def test_circulant_deviation_on_exact_circulant_and_hankel_blocks():
    P = 13
    u = np.random.default_rng(6).uniform(size=P)
    i = np.arange(P)
    circ = u[(i[None, :] - i[:, None]) % P]       # constant diagonals, c(k - l)
    hank = u[(i[None, :] + i[:, None]) % P]       # constant anti-diagonals, h(k + l)
    assert np.allclose(circ, sla.circulant(u).T)  # scipy's circulant, transposed
    assert rfm.circulant_deviation(circ, "left") < 1e-28
    assert rfm.circulant_deviation(hank, "right") < 1e-28
    # the other direction sees no structure: about 1 - mean^2/mean-square
    expected = P * P * np.var(u) / np.sum(circ * circ)
    assert rfm.circulant_deviation(circ, "right") == pytest.approx(expected, rel=1e-12)
    assert rfm.circulant_deviation(hank, "left") == pytest.approx(expected, rel=1e-12)
    assert expected > 0.1
    # the text's right shift moves row l's entry j - l to column j
    A = np.arange(9.0).reshape(3, 3)
    assert rfm.shift_rows(A, "right").tolist() == [[0, 1, 2], [5, 3, 4], [7, 8, 6]]
    assert np.isnan(rfm.circulant_deviation(np.zeros((3, 3))))


@pytest.fixture(scope="module")
def grokking_runs():
    """P = 23, training fraction 0.75, 14 iterations, addition and subtraction."""
    out = {}
    for op in ("add", "sub"):
        cfg = rfm.RFMConfig(PAIR_TASK, {"P": 23, "operation": op}, (0.75,), (0,), iterations=14,
                            save_at=(0, 7))
        out[op] = rfm.run_rfm(cfg)
    return out


def test_small_rfm_run_groks_with_delay(grokking_runs):
    res = grokking_runs["add"]
    m = {k: v[0, 0] for k, v in res.metrics.items()}
    assert np.all(m["train_accuracy"] == 1.0)                 # fitted from iteration 0
    assert np.all(m["train_loss"] < 1e-12)                    # ridgeless: interpolation
    assert np.all(m["test_accuracy"][:6] < 0.1)               # at chance for 6 iterations
    assert m["test_accuracy"][-1] > 0.95                      # then near 1
    jump = int(np.argmax(m["test_accuracy"] > 0.5))
    assert 6 <= jump <= 12
    assert m["test_loss"][-1] < 0.8 * m["test_loss"][0]
    assert m["alignment"][-1] == pytest.approx(1.0)
    assert np.all(np.diff(m["alignment"][1:]) > -1e-3)        # gradual progress
    assert np.all(np.isin(m["solve_method"], (0, 1)))
    assert res.success.all() and 6 <= res.grok_iteration(0.9)[0, 0] <= 13
    assert res.features.shape == (1, 1, 3, 46, 46)
    assert np.array_equal(res.feature_matrix(0), np.eye(46))


def test_the_shift_direction_that_carries_the_signal_addition_circulant_subtraction_hankel(grokking_runs):
    """For addition the learned off-diagonal block depends on a - b (circulant: the left
    shift goes to ~0, the text's right shift stays ~1); for subtraction on a + b (Hankel)."""
    add = grokking_runs["add"].metrics
    sub = grokking_runs["sub"].metrics
    assert add["circulant_deviation"][0, 0, -1] < 0.03 and add["hankel_deviation"][0, 0, -1] > 0.95
    assert sub["hankel_deviation"][0, 0, -1] < 0.03 and sub["circulant_deviation"][0, 0, -1] > 0.95
    assert np.array_equal(add["deviation"], add["circulant_deviation"])
    assert np.array_equal(sub["deviation"], sub["hankel_deviation"])
    # the deviation falls while the test accuracy is still at chance
    assert add["deviation"][0, 0, 5] < 0.5 * add["deviation"][0, 0, 1]


# --------------------------------------------------------------------------------------
# Theorem 5.1 and random circulant features
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["sub", "add"])
def test_theorem_5_1_exactly(operation):
    """Per class l, the quadratic kernel with M_l = [[0, B], [B^T, 0]] trained ridgeless on all
    P^2 pairs. Derived here: alpha = C^{3l}/2 - 11^T/(2P + 2) (sub; the paper prints
    -2/(2p + 2)) and, for any real x = (x1, x2),

        f_l(x) = x1^T B_l x2 + (|x1|^2 + |x2|^2 - 2 (1.x1)(1.x2)) / (2P + 2),

    B_l[a, b] = 1(a o b = l): on two-hot inputs the second term vanishes and f_l is the
    Fourier multiplication algorithm sqrt(P) <F x1 o F e_m, F x2>, m = -l mod P (the paper
    writes e_{p-l-1}, one place off)."""
    P = 7
    task = get_task(PAIR_TASK, P=P, operation=operation)
    X, labels = task.inputs(), task.labels()
    F = np.fft.fft(np.eye(P)) / np.sqrt(P)                   # F_jk = w^{jk}/sqrt(P), w = e^{-2 pi i/P}
    C = rfm.cyclic_shift(P)
    assert C[0].tolist() == [0, 1, 0, 0, 0, 0, 0]
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=(6, 2 * P)), X[rng.choice(P * P, 6)]])
    x1, x2 = x[:, :P], x[:, P:]
    i = np.arange(P)
    for l in range(P):
        M = rfm.theorem51_feature_matrix(P, l, operation)
        alpha, _ = rfm.solve_kernel_machine(rfm.kernel_matrix(X, X, M), (labels == l).astype(float)[:, None])
        f = rfm.predict(x, X, alpha, M)[:, 0]
        B = (((i[:, None] - i[None, :]) if operation == "sub" else (i[:, None] + i[None, :])) % P == l).astype(float)
        extra = ((x1 ** 2).sum(1) + (x2 ** 2).sum(1) - 2 * x1.sum(1) * x2.sum(1)) / (2 * P + 2)
        assert np.allclose(f, np.einsum("ni,ij,nj->n", x1, B, x2) + extra, atol=1e-12)
        assert np.allclose(extra[6:], 0.0)
        if operation == "sub":
            on_data = rfm.predict(X, X, alpha, M)[:, 0]
            assert np.allclose(on_data, labels == l, atol=1e-12)
            X1, X2 = X[:, :P], X[:, P:]
            fma = np.sqrt(P) * np.einsum("nk,k,nk->n", X1 @ F.T, F[:, (-l) % P], np.conj(X2 @ F.T))
            assert np.allclose(on_data, fma.real, atol=1e-12) and np.allclose(fma.imag, 0, atol=1e-12)
            printed = np.sqrt(P) * np.einsum("nk,k,nk->n", X1 @ F.T, F[:, P - l - 1], np.conj(X2 @ F.T))
            assert not np.allclose(on_data, printed.real)
            A = alpha[:, 0].reshape(P, P)
            assert np.allclose(A, np.linalg.matrix_power(C, 3 * l % P) / 2 - 1.0 / (2 * P + 2), atol=1e-12)


def test_random_circulant_matrix_structure():
    P = 11
    rng = np.random.default_rng(8)
    for op, direction in (("add", "left"), ("sub", "right"), ("mul", "left"), ("div", "right")):
        Ms = rfm.random_circulant_matrix(P, rng, op)
        assert np.allclose(Ms, Ms.T)
        assert np.allclose(Ms[:P, :P], np.eye(P) - 1.0 / P)
        perm = rfm.discrete_log_order(P) if op in ("mul", "div") else None
        left, right = rfm.feature_deviations(Ms, perm)
        assert (left if direction == "left" else right) < 1e-28
        assert (right if direction == "left" else left) > 0.1
        if perm is not None:
            assert np.all(Ms[P, :P] == 0) and np.all(Ms[P:, 0] == 0)


def test_random_circulant_features_generalise_where_the_identity_does_not():
    task = get_task(PAIR_TASK, P=23, operation="add")
    res = rfm.random_circulant_experiment(task, 0.5, 0, kernel="quadratic")
    assert res["identity"]["test_accuracy"] < 0.05
    assert res["circulant"]["test_accuracy"] > 0.5
    assert res["circulant"]["train_accuracy"] == 1.0


def test_discrete_log_order():
    assert [rfm.smallest_generator(p) for p in (3, 5, 7, 11, 13, 23, 61, 97)] == [2, 2, 3, 2, 2, 5, 2, 5]
    P = 13
    perm = rfm.discrete_log_order(P)
    g = rfm.smallest_generator(P)
    assert perm[0] == 0 and sorted(perm) == list(range(P))
    assert all(perm[1 + k] == pow(g, k, P) for k in range(P - 1))
    # multiplication in the natural order is addition of the logarithms after reordering
    log = np.zeros(P, int)
    log[perm[1:]] = np.arange(P - 1)
    u = np.random.default_rng(9).normal(size=P - 1)
    B = np.zeros((P, P))
    r = np.arange(1, P)
    B[np.ix_(r, r)] = u[(log[r][None, :] - log[r][:, None]) % (P - 1)]
    Z = np.zeros((P, P))
    M = np.block([[Z, B.T], [B, Z]])
    R = rfm.reorder_feature_matrix(M, perm)
    assert rfm.circulant_deviation(rfm.off_diagonal_block(R)[1:, 1:], "left") < 1e-28
    assert rfm.circulant_deviation(rfm.off_diagonal_block(M)[1:, 1:], "left") > 0.1
    with pytest.raises(ParameterError):
        rfm.smallest_generator(12)


# --------------------------------------------------------------------------------------
# neural feature matrix
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("centre", [False, True])
def test_network_agop_equals_finite_differences(centre):
    rng = np.random.default_rng(10)
    P, N, c = 5, 9, 0.3
    W1, W2 = rng.normal(size=(N, 2 * P)), rng.normal(size=(P, N))
    _, X, _ = pair_data(P, fraction=0.6)
    X = np.concatenate([X, rng.normal(size=(4, 2 * P))])
    f = lambda Z: c * (Z @ W1.T) ** 2 @ W2.T  # noqa: E731
    h = 1e-4
    J = np.stack([(f(X + h * e) - f(X - h * e)) / (2 * h) for e in np.eye(2 * P)], axis=1)
    if centre:
        J = J - J.mean(axis=0)
    G_fd = np.einsum("iac,ibc->ab", J, J) / len(X)
    G = rfm.network_agop(W1, W2, X, c, centre)
    assert np.allclose(G, G_fd, rtol=1e-8, atol=1e-10 * np.abs(G_fd).max())
    assert np.allclose(rfm.neural_feature_matrix(W1), sum(np.outer(w, w) for w in W1))
    r = rfm.nfm_agop_correlation(W1, W2, X, c, centre)
    expected = np.corrcoef(rfm.neural_feature_matrix(W1).ravel(), sla.sqrtm(G_fd).real.ravel())[0, 1]
    assert r == pytest.approx(expected, abs=1e-6)


def test_nfm_correlation_is_one_when_the_ansatz_holds_exactly():
    """W1 = Q diag(s) with orthonormal rows... a one-neuron-per-direction network whose AGOP is
    a power of W1^T W1: then the correlation with AGOP^(1/2) is exactly 1 when W2 makes each
    neuron's gradient energy proportional to its squared norm (here: a single neuron)."""
    rng = np.random.default_rng(11)
    w = rng.normal(size=(1, 10))
    W2 = rng.normal(size=(5, 1))
    X = rng.normal(size=(30, 10))
    assert rfm.nfm_agop_correlation(w, W2, X) == pytest.approx(1.0, abs=1e-10)


# --------------------------------------------------------------------------------------
# runs, files, runners
# --------------------------------------------------------------------------------------
def test_config_refuses_bad_values():
    base = dict(task=PAIR_TASK, task_params={"P": 7})
    for bad in (dict(iterations=0), dict(kernel="laplace"), dict(train_fractions=(1.0,)), dict(seeds=(-1,)),
                dict(power=0.0), dict(bandwidth=0.0), dict(ridge=-1.0), dict(save_at=(99,)), dict(seeds=(1, 1))):
        with pytest.raises(ParameterError):
            rfm.RFMConfig(**base, **bad)
    other = [n for n in TASKS if n not in rfm.pair_task_names()]
    for name in other:
        with pytest.raises(ParameterError):
            rfm.make_task(name, get_task(name, **TASKS[name].example).params())


def test_file_round_trip_through_load(tmp_path):
    from adaptive_kernel import load

    cfg = rfm.RFMConfig(PAIR_TASK, {"P": 11, "operation": "mul"}, (0.4, 0.6), (3, 4), iterations=3,
                        kernel="gaussian", save_at=(1,))
    res = rfm.run_rfm(cfg)
    path = res.to_hdf5(tmp_path / "r.h5", command="test")
    back = load(path)
    assert isinstance(back, rfm.RFMResult) and back.kind == "rfm"
    for k, v in res.metrics.items():
        assert np.array_equal(back.metrics[k], v, equal_nan=True), k
    assert np.array_equal(back.features, res.features, equal_nan=True)
    assert back.features.shape == (2, 2, 2, 22, 22) and back.feature_iterations.tolist() == [1, 3]
    assert back.seeds.tolist() == [3, 4] and back.train_fraction.tolist() == [0.4, 0.6]
    assert np.array_equal(back.reorder_permutation, rfm.discrete_log_order(11))
    assert back.config["kernel"] == "gaussian" and back.config["bandwidth_form"] == "code"
    assert back.attrs["kind"] == "rfm" and back.attrs["command"] == "test"
    assert back.task_params == {"P": 11, "operation": "mul"}
    assert back.status.tolist() == [["ok", "ok"], ["ok", "ok"]]
    assert "fraction 0.4 seed 3" in back.summary()


def test_serial_and_process_runner_give_the_same_bits():
    from adaptive_kernel.runner import ProcessRunner

    cfg = rfm.RFMConfig(PAIR_TASK, {"P": 13, "operation": "add"}, (0.5, 0.7), (0,), iterations=3)
    serial = rfm.run_rfm(cfg)
    with ProcessRunner(2) as runner:
        parallel = rfm.run_rfm(cfg, runner)
    for k in rfm.METRICS:
        if k != "seconds":
            assert serial.metrics[k].tobytes() == parallel.metrics[k].tobytes(), k
    assert serial.features.tobytes() == parallel.features.tobytes()


def test_a_failed_solve_is_a_status_not_a_result(monkeypatch):
    def singular(K, Y, ridge=0.0):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(rfm, "solve_kernel_machine", singular)
    out = rfm.run_rfm_unit(rfm.RFMConfig(PAIR_TASK, {"P": 7}, iterations=3).to_dict(), 0.5, 0)
    assert not out["success"] and out["status"] == "failed" and "singular" in out["message"]
    assert np.all(np.isnan(out["test_accuracy"])) and np.all(out["solve_method"] == -1)


def test_figures_draw_every_stored_quantity():
    from adaptive_kernel import plotting_rfm as pr

    cfg = rfm.RFMConfig(PAIR_TASK, {"P": 11, "operation": "mul"}, (0.5, 0.7), (0,), iterations=3, save_at=(0, 1, 2))
    res = rfm.run_rfm(cfg)
    assert set(pr.FIGURES) == {"iterations", "features"} and pr.DEFAULT_FIGURE in pr.FIGURES
    fig = pr.FIGURES["iterations"](res)
    axes = fig.axes
    assert len(axes) == 4
    assert np.array_equal(axes[0].lines[0].get_ydata(), res.metrics["test_accuracy"][0, 0])
    assert np.array_equal(axes[2].lines[1].get_ydata(), res.metrics["deviation"][1, 0])
    fig = pr.FIGURES["features"](res, figsize=(8, 2))
    assert len(fig.axes) == 4
    shown = fig.axes[-1].images[0].get_array()
    M = rfm.reorder_feature_matrix(res.features[0, 0, -1], res.reorder_permutation)
    np.fill_diagonal(M, 0.0)
    assert np.allclose(shown, M)
    ax = pr.plot_feature_matrix(res.features[0, 0, -1])
    assert ax.figure is not None
