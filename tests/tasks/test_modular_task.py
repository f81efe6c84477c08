"""Brute-force checks of the modular-arithmetic task (adaptive_kernel.tasks.modular).

Every expected value is built here from the definitions, independently of the code under
test: labels by a plain Python double loop (div through pow(m, -1, P)), two-hot inputs and
targets element by element, Fourier amplitudes by an explicit DFT matrix, the NNGP kernel by
Monte Carlo over Gaussian weights and as a dense P^2 x P^2 matrix whose spectrum comes from
numpy.linalg.eigh, the split from the documented seed derivation. Bit-identity with today's
teacher (ModularAddition.dataset / fourier_amplitudes) is checked for ``add``.

Findings on the target's NNGP eigenvalue (Rayleigh quotient over all channels, in units of
sigma_a2), checked at P = 5, 7, 11:

* add, sub: 4, the target is an eigenvector (the theory's value);
* mul: 12, not an eigenvector; div (P (P - 1) pairs): 6, not an eigenvector;
* pow:2,2: 12, pow:2,1: 6 (not eigenvectors); pow:A,B with bijective powers (pow:3,3 at P = 5,
  11): 4 and an eigenvector (addition after relabelling the tokens); pow:3,3 at P = 7: 36.
"""
import hashlib
import itertools
import math

import numpy as np
import pytest

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import (TASKS, ModularArithmetic, Split, get_task, make_split,
                                   split_seed_sequence)
from adaptive_kernel.teachers.modadd import ModularAddition
from adaptive_kernel.validation import validate

OPS = ("add", "sub", "mul", "div", "pow:1,1", "pow:2,2", "pow:2,1", "pow:3,3")


# ----------------------------------------------------------------------------------------
# independent constructions
# ----------------------------------------------------------------------------------------
def brute_labels(P, op):
    """[(n, m, c)] in row order n*P + m, by a Python double loop."""
    out = []
    for n in range(P):
        for m in range(P):
            if op == "add":
                c = (n + m) % P
            elif op == "sub":
                c = (n - m) % P
            elif op == "mul":
                c = (n * m) % P
            elif op == "div":
                if m == 0:
                    continue
                c = (n * pow(m, -1, P)) % P
            else:
                A, B = (int(s) for s in op.split(":")[1].split(","))
                c = (pow(n, A, P) + pow(m, B, P)) % P
            out.append((n, m, c))
    return out


def brute_data(P, op):
    rows = brute_labels(P, op)
    X = np.zeros((len(rows), 2 * P))
    Y = np.zeros((len(rows), P))
    for i, (n, m, c) in enumerate(rows):
        X[i, n] = 1.0
        X[i, P + m] = 1.0
        for p in range(P):
            Y[i, p] = (1.0 if p == c else 0.0) - 1.0 / P
    return X, Y


def dense_nngp(X, sigma_a2):
    """sigma_a2 [|x|^2 |x'|^2 + 2 (x.x')^2] as a dense matrix."""
    G = X @ X.T
    d = np.diag(G)
    return sigma_a2 * (np.outer(d, d) + 2.0 * G ** 2)


def expected_train_size(n, f):
    k = max(1, int(math.floor(f * n + 0.5)))
    return min(k, n if f >= 1.0 else max(n - 1, 1))


# ----------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", (0.01, 0.3, 0.5, 0.999, 1.0))
@pytest.mark.parametrize("seed", (0, 7, 123456789))
def test_split_reproducible_disjoint_covering(f, seed):
    P = 7
    t = ModularArithmetic(P)
    s = t.split(f, seed)
    n = P * P
    assert s.train.dtype == np.int64 and s.test.dtype == np.int64
    assert np.all(np.diff(s.train) > 0) and np.all(np.diff(s.test) > 0)
    assert np.intersect1d(s.train, s.test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([s.train, s.test])), np.arange(n))
    assert s.n_train == expected_train_size(n, f) and s.n_total == n
    if f == 1.0:
        assert s.n_test == 0
    # the documented derivation: SeedSequence(seed, spawn_key=(sha256("split")[:4],)), permutation
    key = int.from_bytes(hashlib.sha256(b"split").digest()[:4], "big")
    perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,))).permutation(n)
    np.testing.assert_array_equal(s.train, np.sort(perm[:s.n_train]))
    # same split from separately constructed tasks, from make_split, and for another operation
    assert ModularArithmetic(P, "add").split(f, seed) == s
    assert get_task("modadd", P=P, operation="sub").split(f, seed) == s
    assert make_split(n, f, seed) == s
    assert s.train_fraction == f and s.seed == seed
    assert f"seed {seed}" in s.describe() and f"{s.n_train} of {n}" in s.describe()


def test_split_seeds_and_nesting():
    t = ModularArithmetic(11)
    a, b = t.split(0.5, 0), t.split(0.5, 1)
    assert not np.array_equal(a.train, b.train)
    # one seed: the training sets are nested in the fraction
    prev = np.array([], dtype=np.int64)
    for f in (0.1, 0.3, 0.5, 0.9, 1.0):
        s = t.split(f, 3)
        assert np.all(np.isin(prev, s.train))
        prev = s.train
    # at least one training row
    assert t.split(1e-9, 0).n_train == 1
    # div: rows of its own P (P - 1) pairs
    d = ModularArithmetic(7, "div").split(0.5, 0)
    assert d.n_total == 42


@pytest.mark.parametrize("bad", ({"train_fraction": 0.0}, {"train_fraction": 1.5}, {"train_fraction": -0.1},
                                 {"train_fraction": float("nan")}, {"seed": -1}, {"seed": 1.5},
                                 {"seed": "0"}))
def test_split_validation(bad):
    args = {"train_fraction": 0.5, "seed": 0, **bad}
    name = next(iter(bad))
    with pytest.raises(ParameterError, match=name):
        ModularArithmetic(5).split(**args)


def test_split_object():
    s = make_split(10, 0.5, 0)
    with pytest.raises(ValueError):
        s.train[0] = 99  # read-only
    with pytest.raises(AttributeError):
        s.seed = 2  # frozen
    with pytest.raises(ParameterError):
        Split([0, 1, 2], [2, 3], 0.5, 0)  # overlap
    with pytest.raises(ParameterError):
        Split([0, 1], [3], 0.5, 0)  # does not cover 0 .. n - 1
    with pytest.raises(ParameterError):
        Split([1, 0], [2], 0.5, 0)  # not sorted
    assert Split([0, 2], [1], 0.5, 0) == Split(np.array([0, 2]), np.array([1]), 0.5, 0)
    assert "2 rows" in repr(Split([0, 2], [1], 0.5, 0))


def test_split_seed_sequence():
    a = split_seed_sequence(5, "split").generate_state(4)
    key = int.from_bytes(hashlib.sha256(b"split").digest()[:4], "big")
    np.testing.assert_array_equal(a, np.random.SeedSequence(5, spawn_key=(key,)).generate_state(4))
    np.testing.assert_array_equal(split_seed_sequence(5, 1, 2).generate_state(4),
                                  np.random.SeedSequence(5, spawn_key=(1, 2)).generate_state(4))
    assert not np.array_equal(a, split_seed_sequence(5, "other").generate_state(4))
    assert not np.array_equal(a, split_seed_sequence(6, "split").generate_state(4))
    for bad in ((-1,), (1.5,), (None,)):
        with pytest.raises(ParameterError):
            split_seed_sequence(0, *bad)
    with pytest.raises(ParameterError, match="seed"):
        split_seed_sequence(-3)


# ----------------------------------------------------------------------------------------
# operations, data
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", (2, 5, 6, 7, 9, 11))
@pytest.mark.parametrize("op", OPS)
def test_labels_against_double_loop(P, op):
    if op == "div" and P in (6, 9):
        with pytest.raises(ParameterError, match="P must be prime"):
            ModularArithmetic(P, op)
        return
    t = ModularArithmetic(P, op)
    rows = brute_labels(P, op)
    np.testing.assert_array_equal(t.pairs(), np.array([(n, m) for n, m, _ in rows]))
    np.testing.assert_array_equal(t.labels(), np.array([c for _, _, c in rows]))
    assert t.pairs().dtype == np.int64 and t.labels().dtype == np.int64
    assert t.n_pairs == len(rows) and t.full_grid == (op != "div")


@pytest.mark.parametrize("P", (5, 7, 11, 31))
def test_add_bit_identical_to_teacher(P):
    X0, Y0 = ModularAddition.dataset(P)
    t = ModularArithmetic(P)
    X, Y = t.inputs(), t.targets()
    assert X.dtype == X0.dtype and Y.dtype == Y0.dtype
    assert X.tobytes() == X0.tobytes() and Y.tobytes() == Y0.tobytes()
    assert ModularArithmetic(P, "pow:1,1").targets().tobytes() == Y0.tobytes()


@pytest.mark.parametrize("op", OPS)
def test_inputs_targets_against_definition(op):
    P = 7
    t = ModularArithmetic(P, op)
    X, Y = brute_data(P, op)
    np.testing.assert_array_equal(t.inputs(), X)
    np.testing.assert_allclose(t.targets(), Y, rtol=0, atol=1e-15)
    np.testing.assert_allclose(t.targets(centered=False), Y + 1.0 / P, rtol=0, atol=1e-15)
    np.testing.assert_allclose(t.targets().sum(axis=1), 0.0, atol=1e-14)
    idx = t.split(0.4, 1).train
    np.testing.assert_array_equal(t.inputs(idx), X[idx])
    np.testing.assert_allclose(t.targets(idx), Y[idx], rtol=0, atol=1e-15)


def test_operation_and_P_errors():
    with pytest.raises(ParameterError) as e:
        ModularArithmetic(7, "xor")
    msg = str(e.value)
    assert "operation" in msg and "add, sub, mul, div, pow:A,B" in msg and "'xor'" in msg
    for bad in ("pow", "pow:0,1", "pow:2", "pow:a,b", "", None, 3):
        with pytest.raises(ParameterError, match="operation"):
            ModularArithmetic(7, bad)
    for bad in (1, 0, -5, 2.5, "7", True):
        with pytest.raises(ParameterError, match="P must be"):
            ModularArithmetic(bad)
    with pytest.raises(ParameterError) as e:
        ModularArithmetic(9, "div")
    assert "P must be prime" in str(e.value) and "div" in str(e.value) and "9" in str(e.value)
    # the declared constraints validate a theory-style dict and canonicalise the operation
    assert validate({"P": 7.0, "operation": " pow: 2 , 3 "}, ModularArithmetic.parameters) == \
        {"P": 7, "operation": "pow:2,3"}
    assert "pow:A,B" in ModularArithmetic.parameters["operation"].describe()
    assert ModularArithmetic(8, "mul").P == 8  # composite P is fine except for div


# ----------------------------------------------------------------------------------------
# Fourier convention
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", (5, 8, 11))
def test_fourier_identities(P):
    rng = np.random.default_rng(100 + P)
    w = rng.standard_normal((20, 2 * P))
    W, V = ModularArithmetic.fourier_amplitudes(w)
    # w_n = sum_k W_k exp(-2 pi i k n / P), explicit sum
    k = np.arange(P)
    E = np.exp(-2j * np.pi * np.outer(k, k) / P)  # E[n, k]
    np.testing.assert_allclose(W @ E.T, w[:, :P], atol=1e-12)
    np.testing.assert_allclose(V @ E.T, w[:, P:], atol=1e-12)
    # Parseval |w|^2 = P sum_k (|W_k|^2 + |V_k|^2); conjugate symmetry W_{-k} = conj W_k
    np.testing.assert_allclose((w ** 2).sum(axis=1), P * (np.abs(W) ** 2 + np.abs(V) ** 2).sum(axis=1),
                               rtol=1e-12)
    np.testing.assert_allclose(W[:, (-k) % P], np.conj(W), atol=1e-14)
    # inverse, and bit-identical to today's teacher
    np.testing.assert_allclose(ModularArithmetic.weights_from_fourier(W, V), w, atol=1e-12)
    W0, V0 = ModularAddition.fourier_amplitudes(w)
    assert W.tobytes() == W0.tobytes() and V.tobytes() == V0.tobytes()
    with pytest.raises(ParameterError):
        ModularArithmetic.fourier_amplitudes(np.zeros(2 * P + 1))


def test_prior_fourier_power():
    """Under w ~ N(0, I): E|W_k|^2 = 1/P (tolerance 5 Monte Carlo standard errors)."""
    P, S = 7, 100_000
    w = np.random.default_rng(3).standard_normal((S, 2 * P))
    W, V = ModularArithmetic.fourier_amplitudes(w)
    for A in (np.abs(W) ** 2, np.abs(V) ** 2):
        se = A.std(axis=0) / math.sqrt(S)
        assert np.all(np.abs(A.mean(axis=0) - 1.0 / P) < 5 * se)


def test_activation():
    z = np.linspace(-3, 3, 13)
    t = ModularArithmetic(5)
    np.testing.assert_array_equal(t.activation(z), z ** 2)
    h = 1e-6
    fd = (t.activation(z + h) - t.activation(z - h)) / (2 * h)
    np.testing.assert_allclose(t.activation_derivative(z), fd, atol=1e-7)


# ----------------------------------------------------------------------------------------
# NNGP kernel
# ----------------------------------------------------------------------------------------
def test_nngp_kernel_monte_carlo():
    """sigma_a2 E_w[(w.x)^2 (w.x')^2], w ~ N(0, I), 400k samples; every entry within 5 MC
    standard errors (two-hot pairs sharing n, m, both or neither, and generic inputs)."""
    P, sa2 = 5, 0.7
    t = ModularArithmetic(P)
    X = t.inputs()
    two_hot = X[[0, 1, 5, 6, 24]]  # (0,0) (0,1) (1,0) (1,1) (4,4)
    rng = np.random.default_rng(11)
    generic = rng.standard_normal((3, 2 * P)) / math.sqrt(P)
    A = np.vstack([two_hot, generic])
    K = t.nngp_kernel(A, A, sigma_a2=sa2)
    assert K.shape == (8, 8)
    S, chunks = 100_000, 4
    s1 = np.zeros((8, 8))
    s2 = np.zeros((8, 8))
    for _ in range(chunks):
        phi = (rng.standard_normal((S, 2 * P)) @ A.T) ** 2
        prod = phi[:, :, None] * phi[:, None, :]
        s1 += prod.sum(axis=0)
        s2 += (prod ** 2).sum(axis=0)
    n = S * chunks
    mean = sa2 * s1 / n
    se = sa2 * np.sqrt((s2 / n - (s1 / n) ** 2) / n)
    assert np.all(np.abs(mean - K) < 5 * se)
    assert np.all(K > 10 * se)


@pytest.mark.parametrize("P", (5, 7))
def test_nngp_sectors_against_eigvalsh(P):
    sa2 = 0.37
    t = ModularArithmetic(P)
    X, _ = brute_data(P, "add")
    Q = dense_nngp(X, sa2)
    np.testing.assert_allclose(t.nngp_kernel(X, X, sa2), Q, rtol=1e-15)
    ev = np.linalg.eigvalsh(Q)
    secs = t.nngp_sectors(sa2)
    assert sum(s.multiplicity for s in secs) == P * P
    expected = np.sort(np.concatenate([np.full(s.multiplicity, s.eigenvalue) for s in secs]))
    np.testing.assert_allclose(ev, expected, rtol=1e-10)
    by = {s.name: s.eigenvalue for s in secs}
    # each plane wave e_kl(n, m) is an eigenvector with its sector's eigenvalue
    n, m = np.divmod(np.arange(P * P), P)
    for k, l in itertools.product(range(P), repeat=2):
        e = np.exp(2j * np.pi * (k * n + l * m) / P) / P
        lam = by["00"] if k == l == 0 else by["k0"] if (k == 0 or l == 0) else by["kl"]
        np.testing.assert_allclose(Q @ e, lam * e, atol=1e-10 * by["00"])


@pytest.mark.parametrize("op", OPS)
def test_nngp_apply_matches_dense(op):
    P = 7
    t = ModularArithmetic(P, op)
    X, _ = brute_data(P, op)
    rng = np.random.default_rng(5)
    V = rng.standard_normal((t.n_pairs, 3))
    np.testing.assert_allclose(t.nngp_apply(V, 0.3), dense_nngp(X, 0.3) @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.nngp_apply(V[:, 0]), dense_nngp(X, 1.0) @ V[:, 0], rtol=1e-12, atol=1e-12)
    idx = t.split(0.5, 2).train
    np.testing.assert_allclose(t.nngp_apply(V[idx], 1.0, idx=idx), dense_nngp(X[idx], 1.0) @ V[idx],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("P", (5, 7, 11))
def test_add_target_eigenvalue_is_4_sigma_a2(P):
    """Project the dense NNGP kernel on the normalised centred target of add."""
    sa2 = 0.37
    X, Y = brute_data(P, "add")
    Q = dense_nngp(X, sa2)
    for p in range(P):
        y = Y[:, p] / np.linalg.norm(Y[:, p])
        assert y @ Q @ y == pytest.approx(4 * sa2, rel=1e-12)
        np.testing.assert_allclose(Q @ y, 4 * sa2 * y, atol=1e-12)
    t = ModularArithmetic(P)
    assert t.target_nngp_eigenvalue(sa2) == pytest.approx(4 * sa2, rel=1e-12)
    assert t.target_is_nngp_eigenvector()
    w = t.target_sector_weights()
    assert w["kl"] == pytest.approx(1.0, abs=1e-14)


def fg_formula(P, op):
    """4 + [4 sum_p S_p^2 + 2 P (V_f + V_g)]/(P (P - 1)) for c = f(n) + g(m) (module docstring),
    from the fibre counts N_f, N_g computed by loops."""
    A, B = (int(s) for s in op.split(":")[1].split(","))
    Nf = np.bincount([pow(n, A, P) for n in range(P)], minlength=P)
    Ng = np.bincount([pow(m, B, P) for m in range(P)], minlength=P)
    conv = np.array([sum(Nf[a] * Ng[(p - a) % P] for a in range(P)) for p in range(P)])
    S = conv - P
    Vf, Vg = (Nf ** 2).sum() - P, (Ng ** 2).sum() - P
    return 4 + (4 * (S ** 2).sum() + 2 * P * (Vf + Vg)) / (P * (P - 1))


#: documented Rayleigh quotients / sigma_a2 for prime P (None: depends on P, checked by formula)
DOCUMENTED = {"add": 4.0, "sub": 4.0, "mul": 12.0, "div": 6.0, "pow:1,1": 4.0, "pow:2,2": 12.0,
              "pow:2,1": 6.0, "pow:3,3": None}


@pytest.mark.parametrize("P", (5, 7, 11))
@pytest.mark.parametrize("op", OPS)
def test_target_eigenvalue_by_brute_force(P, op):
    """Rayleigh quotient tr(Y^T Q Y)/tr(Y^T Y) of the dense kernel, whether Y is an eigenvector,
    and the sector weights from the eigenvectors of the dense kernel."""
    sa2 = 1.0
    X, Y = brute_data(P, op)
    Q = dense_nngp(X, sa2)
    lam = np.sum(Y * (Q @ Y)) / np.sum(Y * Y)
    is_eig = np.linalg.norm(Q @ Y - lam * Y) <= 1e-10 * lam * np.linalg.norm(Y)
    t = ModularArithmetic(P, op)
    assert t.target_nngp_eigenvalue(sa2) == pytest.approx(lam, rel=1e-12)
    assert t.target_is_nngp_eigenvector() == is_eig
    if DOCUMENTED[op] is not None:
        assert lam == pytest.approx(DOCUMENTED[op], rel=1e-12)
    if op.startswith("pow"):
        assert lam == pytest.approx(fg_formula(P, op), rel=1e-12)
    relab = t.addition_relabelling()
    if relab is not None:
        assert is_eig and lam == pytest.approx(4.0, rel=1e-12)
        f, g = relab
        assert sorted(f) == list(range(P)) and sorted(g) == list(range(P))
        np.testing.assert_array_equal([c for _, _, c in brute_labels(P, op)],
                                      [(f[n] + g[m]) % P for n, m, _ in brute_labels(P, op)])
    if op in ("add", "sub"):
        assert relab is not None
    if op in ("mul", "div"):
        assert relab is None and not is_eig
    if op == "pow:3,3":
        assert (relab is not None) == (math.gcd(3, P - 1) == 1)
    if op == "div":
        with pytest.raises(ParameterError, match="full P\\^2 grid"):
            t.target_sector_weights()
        return
    # sector weights from the eigenspaces of the dense kernel
    ev, U = np.linalg.eigh(Q)
    secs = {s.name: s.eigenvalue for s in t.nngp_sectors(sa2)}
    coef2 = np.sum((U.T @ Y) ** 2, axis=1) / np.sum(Y * Y)
    w = t.target_sector_weights()
    for name, val in secs.items():
        sel = np.isclose(ev, val, rtol=1e-9)
        assert coef2[sel].sum() == pytest.approx(w[name], abs=1e-12)
    assert sum(w[s] * secs[s] for s in secs) == pytest.approx(lam, rel=1e-12)


# ----------------------------------------------------------------------------------------
# registry, parameters, descriptions
# ----------------------------------------------------------------------------------------
def test_construction_from_params():
    theory = {"P": 11, "N": 1000, "sigma_a2": 2e-6, "gamma": 1e-4, "normalization": "derived"}
    t = ModularArithmetic.from_params(theory)
    assert t == ModularArithmetic(11, "add") and t.params() == {"P": 11, "operation": "add"}
    assert ModularArithmetic.from_params({"P": 11, "operation": "sub"}).operation == "sub"
    assert hash(t) == hash(ModularArithmetic(11)) and t != ModularArithmetic(11, "sub")
    assert get_task("modadd", P=5, operation="pow:2,2") == ModularArithmetic(5, "pow:2,2")
    assert ModularArithmetic.from_params(t.params()) == t
    with pytest.raises(ParameterError, match="missing parameter P"):
        get_task("modadd")
    with pytest.raises(ParameterError, match="unknown parameter"):
        get_task("modadd", P=5, N=3)
    with pytest.raises(ParameterError, match="task must be one of cubic, modadd; got 'foo'"):
        get_task("foo")
    assert TASKS["modadd"] is ModularArithmetic and ModularArithmetic.name == "modadd"
    assert repr(t) == "ModularArithmetic(P=11, operation='add')"


def test_descriptions():
    assert ModularArithmetic.label == "modular arithmetic"
    assert ModularArithmetic(5).label == "modular addition"
    assert ModularArithmetic(5, "sub").label == "modular subtraction"
    assert set(ModularArithmetic.order_parameters) == {"residual", "droplet_fraction", "phi"}
    assert set(ModularArithmetic.order_parameter_labels) == set(ModularArithmetic.order_parameters)
    assert ModularArithmetic.student["activation"] == "square"
    assert ModularArithmetic(5, "pow:2,3").op.formula == "n^2 + m^3"
