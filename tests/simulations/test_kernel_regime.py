"""Tests of simulations.kernel_regime: kernels against brute force (finite differences,
Monte Carlo, numerical diagonalisation), kernel regression structure, result files."""
import numpy as np
import pytest

from adaptive_kernel.errors import ParameterError
from simulations import kernel_regime as KR


def _network(W1, W2, pairs, c):
    """f_q(x) = c sum_k W2_qk (W1 x)_k^2 written directly with explicit two-hot inputs."""
    P = W1.shape[1] // 2
    X = np.zeros((len(pairs), 2 * P))
    X[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    X[np.arange(len(pairs)), P + pairs[:, 1]] = 1.0
    return c * ((X @ W1.T) ** 2) @ W2.T                    # (n, P)


def _fd_jacobian(W1, W2, pairs, c, eps=1e-6):
    """Central finite-difference Jacobian d f / d theta, shape (n, P, n_params)."""
    theta = np.concatenate([W1.ravel(), W2.ravel()])
    n1 = W1.size

    def f(t):
        return _network(t[:n1].reshape(W1.shape), t[n1:].reshape(W2.shape), pairs, c)

    J = np.empty((len(pairs), W2.shape[0], theta.size))
    for i in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[i] += eps
        tm[i] -= eps
        J[:, :, i] = (f(tp) - f(tm)) / (2 * eps)
    return J


@pytest.mark.parametrize("c", [1.0, 0.37])
def test_empirical_ntk_matches_finite_difference_jacobian(c):
    rng = np.random.default_rng(0)
    P, N = 5, 7
    W1 = rng.normal(size=(N, 2 * P))
    W2 = rng.normal(size=(P, N))
    pairs = np.array([[0, 0], [0, 3], [2, 3], [4, 1], [2, 2], [1, 4]])
    J = _fd_jacobian(W1, W2, pairs, c)
    full = np.einsum("iqt,jrt->iqjr", J, J)                 # Theta_{q r}(x_i, x_j)
    expected = np.einsum("iqjq->ij", full) / P              # output-diagonal block, averaged
    K = KR.empirical_ntk(W1, W2, pairs, P, c)
    np.testing.assert_allclose(K, expected, rtol=1e-7, atol=1e-7 * np.abs(expected).max())
    np.testing.assert_allclose(K, K.T)


def test_empirical_ntk_rejects_inconsistent_shapes():
    W1 = np.zeros((4, 10))
    with pytest.raises(ParameterError, match="W2"):
        KR.empirical_ntk(W1, np.zeros((5, 3)), np.zeros((1, 2), int), 5, 1.0)
    with pytest.raises(ParameterError, match="P must equal"):
        KR.empirical_ntk(W1, np.zeros((5, 4)), np.zeros((1, 2), int), 6, 1.0)
    with pytest.raises(ParameterError, match="pairs"):
        KR.empirical_ntk(W1, np.zeros((5, 4)), np.array([[0, 5]]), 5, 1.0)


# ---------------------------------------------------------------------------------------
# closed-form kernels against Monte Carlo over random weights
# ---------------------------------------------------------------------------------------
from adaptive_kernel.tasks import get_task  # noqa: E402

P_MC = 4
#: pairs covering every case of (d_nn', d_mm'): identical, same n, same m, neither
PAIRS_MC = np.array([[0, 0], [0, 1], [1, 0], [2, 3], [0, 3], [3, 3]])


def _two_hot(pairs, P):
    X = np.zeros((len(pairs), 2 * P))
    X[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    X[np.arange(len(pairs)), P + pairs[:, 1]] = 1.0
    return X


def _mc_ntk(scales, draws, seed):
    """Empirical NTKs of `draws` independent networks (weights drawn here, not by the module)."""
    rng = np.random.default_rng(seed)
    N = scales.width
    out = np.empty((draws, len(PAIRS_MC), len(PAIRS_MC)))
    for d in range(draws):
        W1 = rng.normal(0.0, np.sqrt(scales.sigma_w2), (N, 2 * P_MC))
        W2 = rng.normal(0.0, np.sqrt(scales.sigma_v2), (P_MC, N))
        out[d] = KR.empirical_ntk(W1, W2, PAIRS_MC, P_MC, scales.output_scale)
    return out


@pytest.mark.parametrize("param,kw", [("mean-field", {}), ("standard", {}),
                                      ("standard", {"sigma_w2": 0.7, "sigma_v2": 1.9})])
def test_expected_ntk_matches_monte_carlo_average_of_empirical_ntk(param, kw):
    task = get_task("modadd", P=P_MC)
    scales = KR.network_scales(param, P_MC, width=6, **kw)
    draws = 3000
    Ks = _mc_ntk(scales, draws, seed=1)
    mean, se = Ks.mean(axis=0), Ks.std(axis=0, ddof=1) / np.sqrt(draws)
    X = _two_hot(PAIRS_MC, P_MC)
    expected = KR.expected_ntk(task, X, X, scales)
    # 5 standard errors per element (36 elements: a false alarm has probability ~1e-5)
    assert np.all(np.abs(mean - expected) <= 5 * se + 1e-12 * np.abs(expected).max())
    # the test has power: the read-out part alone (Mohamadi's V-part) is rejected
    c2N = scales.output_scale ** 2 * scales.width
    v_part = task.nngp_kernel(X, X, sigma_a2=c2N * scales.sigma_w2 ** 2)
    assert np.max(np.abs(mean - v_part) / se) > 20


def test_nngp_matches_monte_carlo_output_covariance():
    """E over random networks of f_q(x) f_q(x') = nngp_kernel with sigma_a2 = c^2 N sigma_V^2 sigma_W^4."""
    task = get_task("modadd", P=P_MC)
    rng = np.random.default_rng(2)
    N, sw2, sv2, draws = 5, 0.6, 1.3, 20000
    X = _two_hot(PAIRS_MC, P_MC)
    W1 = rng.normal(0.0, np.sqrt(sw2), (draws, N, 2 * P_MC))
    W2 = rng.normal(0.0, np.sqrt(sv2), (draws, N))               # one output channel
    F = np.einsum("dk,dik->di", W2, np.einsum("dkj,ij->dik", W1, X) ** 2)
    prods = F[:, :, None] * F[:, None, :]
    mean, se = prods.mean(axis=0), prods.std(axis=0, ddof=1) / np.sqrt(draws)
    expected = task.nngp_kernel(X, X, sigma_a2=N * sv2 * sw2 ** 2)
    assert np.all(np.abs(mean - expected) <= 5 * se)


@pytest.mark.parametrize("kernel", ["nngp", "ntk"])
@pytest.mark.parametrize("param", ["mean-field", "standard"])
def test_pair_coefficients_reproduce_the_kernel_on_all_pairs(kernel, param):
    P = 5
    task = get_task("modadd", P=P)
    scales = KR.network_scales(param, P, width=7)
    X, pr = task.inputs(), task.pairs()
    K = task.nngp_kernel(X, X, sigma_a2=1.0) if kernel == "nngp" else KR.expected_ntk(task, X, X, scales)
    c0, c1, c2 = KR.pair_kernel_coefficients(kernel, scales)
    dn = pr[:, 0][:, None] == pr[:, 0][None, :]
    dm = pr[:, 1][:, None] == pr[:, 1][None, :]
    np.testing.assert_allclose(K, c0 + c1 * (dn + 0.0 + dm) + c2 * (dn & dm), rtol=1e-13)
    V = np.random.default_rng(0).normal(size=(P * P, 3))
    np.testing.assert_allclose(KR.pair_kernel_apply((c0, c1, c2), pr, V, P), K @ V, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# eigenvalues by Fourier sector
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", [5, 7])
@pytest.mark.parametrize("kernel,param", [("nngp", "mean-field"), ("ntk", "mean-field"), ("ntk", "standard")])
def test_sector_eigenvalues_match_numerical_diagonalisation(P, kernel, param):
    task = get_task("modadd", P=P)
    scales = KR.network_scales(param, P)
    X = task.inputs()
    K = task.nngp_kernel(X, X, sigma_a2=1.0) if kernel == "nngp" else KR.expected_ntk(task, X, X, scales)
    lam = KR.sector_eigenvalues(KR.pair_kernel_coefficients(kernel, scales), P)
    mult = KR.sector_multiplicities(P)
    assert mult.sum() == P * P
    # spectrum: the sector values with their multiplicities
    np.testing.assert_allclose(np.linalg.eigvalsh(K), np.sort(np.repeat(lam, mult)), rtol=1e-10,
                               atol=1e-12 * lam.max())
    # and each plane wave e_kl is an eigenvector with its sector's value
    n, m = task.pairs()[:, 0], task.pairs()[:, 1]
    for k in range(P):
        for l in range(P):
            e = np.exp(2j * np.pi * (k * n + l * m) / P) / P
            s = 0 if k == l == 0 else (1 if k == 0 or l == 0 else 2)
            np.testing.assert_allclose(K @ e, lam[s] * e, atol=1e-10 * lam.max())


def test_nngp_sectors_agree_with_the_task_and_target_eigenvalue():
    P = 7
    task = get_task("modadd", P=P)
    lam = KR.sector_eigenvalues(KR.pair_kernel_coefficients("nngp"), P)
    np.testing.assert_allclose(lam, [s.eigenvalue for s in task.nngp_sectors(1.0)], rtol=1e-14)
    # the target of addition lies in the kl sector: its Rayleigh quotient is the smallest eigenvalue
    cfg = dict(task="modadd", operation="add", kernel="nngp", ridge=0.0, parametrisation="mean-field")
    out = KR.regression_unit(cfg, P, 0.5, 0)
    assert out["target_eigenvalue"] == pytest.approx(task.target_nngp_eigenvalue(1.0), rel=1e-13)
    assert out["target_eigenvalue"] == pytest.approx(lam[2], rel=1e-13)


def test_empirical_target_rayleigh_matches_dense_kernel():
    P = 7
    task = get_task("modadd", P=P, operation="mul")
    scales = KR.network_scales("standard", P, width=9)
    W1, W2 = KR.init_network(P, scales, seed=3)
    Y = task.targets()
    K = KR.empirical_ntk(W1, W2, task.pairs(), P, scales.output_scale)
    dense = np.trace(Y.T @ K @ Y) / np.sum(Y * Y)
    assert KR.empirical_target_rayleigh(W1, W2, task.pairs(), Y, scales.output_scale) == pytest.approx(dense,
                                                                                                     rel=1e-12)


# ---------------------------------------------------------------------------------------
# regression: interpolation, additivity on unseen pairs
# ---------------------------------------------------------------------------------------
CFG = dict(task="modadd", operation="add", ridge=0.0, parametrisation="mean-field", width=None,
           sigma_w2=None, sigma_v2=None)


def _dense_predictions(task, split, ridge=0.0):
    """Kernel regression written out independently: NNGP (4 + 2 (x.x')^2 on two-hot pairs), dense solve."""
    X = task.inputs()
    G = X @ X.T
    K = 4.0 + 2.0 * G * G
    tr, te = split.train, split.test
    Ktr = K[np.ix_(tr, tr)]
    A = Ktr + ridge * np.mean(np.diag(Ktr)) * np.eye(len(tr))
    alpha = np.linalg.solve(A, task.targets(tr))
    return K[np.ix_(te, tr)] @ alpha, K[np.ix_(tr, tr)] @ alpha


def _rectangles(pairs, F):
    """f(a,b) - f(a,b') - f(a',b) + f(a',b') over all rectangles whose 4 corners are in pairs."""
    index = {(int(a), int(b)): i for i, (a, b) in enumerate(pairs)}
    out = []
    for (a, b), i in index.items():
        for (a2, b2), j in index.items():
            if a2 > a and b2 != b and (a, b2) in index and (a2, b) in index:
                out.append(F[i] - F[index[(a, b2)]] - F[index[(a2, b)]] + F[j])
    return np.array(out)


def test_ridgeless_regression_on_the_full_data_interpolates():
    P = 11
    task = get_task("modadd", P=P)
    for kernel in KR.KERNELS:
        out = KR.regression_unit({**CFG, "kernel": kernel}, P, 1.0, 0)
        assert out["n_test"] == 0 and np.isnan(out["test_accuracy"])
        assert out["train_accuracy"] == 1.0
        assert out["train_loss"] < 1e-18
        assert out["success"] and out["status"] == "cholesky"
    # and the same directly: predictions equal the targets
    split = task.split(1.0, 0)
    _, Ftr = _dense_predictions(task, split)
    np.testing.assert_allclose(Ftr, task.targets(split.train), atol=1e-10)


@pytest.mark.parametrize("operation", ["add", "mul"])
def test_predictor_is_additive_on_unseen_pairs(operation):
    P = 11
    task = get_task("modadd", P=P, operation=operation)
    split = task.split(0.6, 4)
    Fte, _ = _dense_predictions(task, split)
    te_pairs = task.pairs()[split.test]
    rect_f = _rectangles(te_pairs, Fte)
    rect_y = _rectangles(te_pairs, task.targets(split.test))
    assert len(rect_f) > 50
    # every interaction (double difference) of the predictor vanishes to rounding ...
    assert np.max(np.abs(rect_f)) < 1e-12 * np.max(np.abs(Fte))
    # ... while the target's do not: the kernel machine cannot represent it on unseen pairs
    assert np.max(np.abs(rect_y)) >= 1.0
    # the module's diagnostics and metrics agree with the independent computation
    out = KR.regression_unit({**CFG, "operation": operation, "kernel": "nngp"}, P, 0.6, 4)
    assert out["test_nonadditive"] < 1e-12
    assert out["target_nonadditive"] > 0.5
    assert KR.nonadditive_fraction(te_pairs, Fte, P) < 1e-12
    labels = task.labels()[split.test]
    assert out["test_accuracy"] == np.mean(np.argmax(Fte, axis=1) == labels)
    assert out["test_loss"] == pytest.approx(np.mean(np.sum((Fte - task.targets(split.test)) ** 2, axis=1)),
                                             rel=1e-10)


def test_expected_ntk_predictor_is_additive_and_empirical_is_not():
    P = 11
    out = KR.regression_unit({**CFG, "kernel": "ntk", "parametrisation": "standard"}, P, 0.6, 1)
    assert out["test_nonadditive"] < 1e-12
    emp = KR.regression_unit({**CFG, "kernel": "empirical-ntk"}, P, 0.6, 1)
    assert emp["test_nonadditive"] > 0.05          # finite width: additive only on average


def test_ridge_matches_direct_solve():
    P = 11
    task = get_task("modadd", P=P)
    split = task.split(0.5, 2)
    Fte, _ = _dense_predictions(task, split, ridge=0.3)
    out = KR.regression_unit({**CFG, "kernel": "nngp", "ridge": 0.3}, P, 0.5, 2)
    assert out["test_loss"] == pytest.approx(np.mean(np.sum((Fte - task.targets(split.test)) ** 2, axis=1)),
                                             rel=1e-10)
    assert out["train_loss"] > 1e-3                # a ridge no longer interpolates


def test_nonadditive_fraction_of_known_functions():
    P = 5
    pr = get_task("modadd", P=P).pairs()
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(P, 2)), rng.normal(size=(P, 2))
    additive = u[pr[:, 0]] + v[pr[:, 1]] + 0.3
    assert KR.nonadditive_fraction(pr, additive, P) < 1e-13
    product = np.outer(np.cos(2 * np.pi * pr[:, 0] / P) * np.cos(2 * np.pi * pr[:, 1] / P), [1.0])
    assert KR.nonadditive_fraction(pr, product, P) == pytest.approx(1.0, rel=1e-12)


# ---------------------------------------------------------------------------------------
# runs, files, runners
# ---------------------------------------------------------------------------------------
def _run(runner=None, kernels=("nngp", "empirical-ntk")):
    return [KR.run_kernel_regression({**CFG, "kernel": k}, [7, 11], [0.3, 0.7], [0, 1], runner=runner)
            for k in kernels]


def _assert_same_bits(a, b):
    for name in KR.UNIT_FIELDS:
        x, y = np.asarray(a.data[name]), np.asarray(b.data[name])
        if x.dtype.kind in "fc":
            assert x.tobytes() == y.tobytes(), name
        else:
            assert np.array_equal(x, y), name


def test_serial_and_process_runner_give_identical_bits():
    from adaptive_kernel.runner import ProcessRunner, SerialRunner

    serial = _run(SerialRunner())
    with ProcessRunner(2) as runner:
        parallel = _run(runner)
    for a, b in zip(serial, parallel):
        _assert_same_bits(a, b)


def test_result_file_round_trip(tmp_path):
    import adaptive_kernel
    from adaptive_kernel.errors import OutputExistsError

    res = KR.run_kernel_regression({**CFG, "kernel": "ntk"}, [7], [0.5, 1.0], [3])
    path = tmp_path / "k.h5"
    res.to_hdf5(path, command="phasesim kernel --test")
    back = adaptive_kernel.load(path)
    assert isinstance(back, KR.KernelResult) and back.kind == "kernel"
    assert back.attrs["kind"] == "kernel" and back.attrs["command"] == "phasesim kernel --test"
    assert "package_version" in back.attrs and "created" in back.attrs
    assert back.params == res.params
    _assert_same_bits(res, back)
    for k in KR.PER_P_FIELDS:
        np.testing.assert_array_equal(back.per_P[k], res.per_P[k])
    np.testing.assert_array_equal(back.seeds, [3])
    with pytest.raises(OutputExistsError):
        res.to_hdf5(path)


def test_run_validation_names_the_parameter():
    with pytest.raises(ParameterError, match="kernel"):
        KR.run_kernel_regression({**CFG, "kernel": "rbf"}, [7], [0.5], [0])
    with pytest.raises(ParameterError, match="train_fraction"):
        KR.run_kernel_regression({**CFG, "kernel": "nngp"}, [7], [0.0], [0])
    with pytest.raises(ParameterError, match="ridge"):
        KR.run_kernel_regression({**CFG, "kernel": "nngp", "ridge": -1.0}, [7], [0.5], [0])
    with pytest.raises(ParameterError, match="width"):
        KR.network_scales("standard", 7, width=0)


def test_memory_estimate_grows_like_the_training_kernel():
    small = KR.estimate_unit_bytes(61 * 61, 61, 0.9, "nngp", 244)
    nt = round(0.9 * 61 * 61)
    assert 8 * 4 * nt * nt <= small <= 8 * 8 * nt * nt
