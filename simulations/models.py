r"""The two networks of THEORY.md, as ensembles of independent members advanced together.

Each model defines, for a batch of S members (leading axis of every array),

* the parameter groups and their prior variances (``groups``, ``prior_var``): these are the
  diagonal preconditioner of the sampler, so in prior-whitened units every group moves with
  the same dimensionless step;
* the potential of THEORY.md section 1 at temperature 1,

  .. math:: U = \frac{1}{2\sigma^2}\sum_\mu |f(x_\mu) - y_\mu|^2
              + \sum_i \frac{N |a_i|^2}{2\sigma_a^2} + \sum_i \frac{|w_i|^2}{2 s_w^2} + \Gamma,

  and its gradient (:meth:`potential`); ``data_term=False`` keeps the prior (and Gamma) only;
* what is measured on a sample (:meth:`new_accumulators`, :meth:`accumulate`);
* everything of a ``phasesim langevin`` run that depends on the theory (class attributes and
  class methods, so :mod:`simulations.langevin` holds no per-theory branch): the default
  step size, the simulated (physical) parameters (:meth:`_Model.physical`), the theory
  parameters that describe exactly the simulated network (:meth:`_Model.theory_params`), the
  noise check of the theory (:meth:`_Model.check_theory`), the histogram of the order
  parameter (:meth:`_Model.histogram_range`, :meth:`_Model.histogram_arrays`), the theory's
  prediction at each sigma2 (:meth:`_Model.theory_point`) and the columns of the text table.

:data:`NETWORKS` maps each theory name (``--teacher``) to its network class;
:func:`network_for` looks one up.

Data, targets and the teacher direction come from the task layer
(:class:`adaptive_kernel.tasks.CubicTeacherTask`,
:class:`adaptive_kernel.tasks.ModularArithmetic`), the same objects the theory and every
other method use, so a parameter means the same thing on all sides. The activations (erf,
square) are fused into the numba kernels of :mod:`simulations._kernels` and
:mod:`simulations._kernels_modadd` (tested against the task's ``activation``), and the
Fourier power of :meth:`ModAddNetwork.fourier_power` is |:func:`adaptive_kernel.tasks.fourier_amplitudes`|^2
computed with one real FFT.

Seeds: member j of a run with base seed ``seed`` draws its data set (cubic: training and
test points) from ``SeedSequence(seed, spawn_key=(1, j))``, the same at every sigma2
(common random numbers across the sigma2 grid), and its initial weights and noise from
``SeedSequence(seed, spawn_key=(2, j, sigma2_index))``.
"""
from __future__ import annotations

import math

import numpy as np

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.registry import get_theory

from . import _kernels as KC
from . import _kernels_modadd as KM
from ._blas import bmm

_SQRT_PI = math.sqrt(math.pi)


def data_rng(seed: int, member: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, member))))


def dynamics_rng(seed: int, member: int, sigma2_index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2, member, sigma2_index))))


def is_full_fraction(x) -> bool:
    """Whether a train fraction is exactly 1 (all data: nothing to split)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and x == 1


def _flat(x):
    return x.reshape(x.shape[0], -1)


#: Histogram bins of the order parameter.
HIST_BINS = 500


def histogram_range(teacher: str, phys: dict):
    """(lo, hi, bins) of the order-parameter histogram of ``teacher``'s network
    (:meth:`_Model.histogram_range`)."""
    return network_for(teacher).histogram_range(phys)


def nearest_int(x: float) -> int:
    """Nearest integer, ties rounded down (87.5 -> 87)."""
    return int(math.ceil(x - 0.5 - 1e-9))


def seed_mean_err(per_seed):
    """Mean over seeds (axis 0) and its standard error (NaN for one seed)."""
    x = np.asarray(per_seed, float)
    m = x.mean(axis=0)
    e = x.std(axis=0, ddof=1) / math.sqrt(x.shape[0]) if x.shape[0] > 1 else np.full_like(m, np.nan)
    return m, e


class _Model:
    """Common plumbing (see module docstring)."""

    #: theory name (``--teacher``) this network simulates (key of :data:`NETWORKS`)
    name = ""
    groups: tuple = ()
    #: Default initial (dimensionless, prior-whitened) step size; MALA adapts it during burn-in.
    default_step_size: float = 0.05
    #: Columns of :meth:`simulations.langevin.LangevinResult.table`: ``(name, error)`` with
    #: ``error`` the measured column whose ``(value, err)`` is printed, or None for a
    #: theory column (``theory_<...>``) or ``acceptance``.
    table_columns: tuple = ()
    #: ``{name: what}`` of the variants the theory is solved in at every point, each stored
    #: as ``theory/<name>/`` and as the columns ``theory_<quantity>_<name>`` (none: one
    #: solution, ``theory/`` and ``theory_<quantity>``).
    theory_variants: dict = {}
    #: One-line descriptions of what this network adds to a Langevin file (the generic ones
    #: are in :mod:`simulations.langevin_io`): measured columns and traces, per-point
    #: datasets, per-point ``theory/`` datasets.
    measured_descriptions: dict = {}
    point_descriptions: dict = {}
    theory_descriptions: dict = {}

    @classmethod
    def file_descriptions(cls) -> dict:
        """What the file writer (:func:`simulations.langevin_io.write_langevin`) adds to its
        generic descriptions: ``measured``, ``point``, ``theory``, ``variants``."""
        return {"measured": dict(cls.measured_descriptions), "point": dict(cls.point_descriptions),
                "theory": dict(cls.theory_descriptions), "variants": dict(cls.theory_variants)}

    # -- the run's physics (class methods: no network is built) ----------------------
    @classmethod
    def physical(cls, params: dict, sigma2: float) -> dict:
        """Physical (simulated) parameters at base noise sigma2 (override)."""
        raise NotImplementedError

    @classmethod
    def theory_params(cls, params: dict, phys: dict) -> dict:
        """Theory parameters that make the solver describe exactly the simulated network
        (default: the parameters as given)."""
        return dict(params)

    @classmethod
    def check_theory(cls, params: dict, sigma2) -> None:
        """Refuse, before sampling, a noise grid below what the theory's numerics resolve
        (the theory is solved at every sigma2 once the networks are sampled):
        :meth:`Teacher.check_sigma2` (raises :class:`~adaptive_kernel.errors.ParameterError`)."""
        get_theory(cls.name).check_sigma2(params, sigma2)

    @classmethod
    def histogram_range(cls, phys: dict):
        """(lo, hi, bins) of the order-parameter histogram (override)."""
        raise NotImplementedError

    @classmethod
    def histogram_arrays(cls, counts, rows: int, nb: int) -> dict:
        """The per-point histogram datasets from the accumulated counts (members x blocks x
        ... x (nb + 2), first and last bins: under- and overflow), with ``rows`` = members x
        blocks: ``hist_counts``, ``hist_underflow``, ``hist_overflow``."""
        cs = np.asarray(counts).reshape((rows,) + tuple(np.shape(counts)[2:]))
        return {"hist_counts": cs[..., 1:-1], "hist_underflow": cs[..., 0], "hist_overflow": cs[..., -1]}

    @classmethod
    def theory_point(cls, config, i: int, st: dict, acc: dict, phys: dict, out: dict, edges) -> None:
        """Add the theory's prediction (and measurements that need the data) at sigma2
        index ``i`` to ``out`` (``scalars``, ``arrays``, ``theory``, ``theory_columns``; see
        :mod:`simulations.langevin`). Override."""

    def __init__(self, S, dtype, data_term):
        self.S = int(S)
        self.dtype = np.dtype(dtype)
        self.data_term = bool(data_term)

    def param_shapes(self) -> dict:
        raise NotImplementedError

    def sample_prior(self, rngs) -> dict:
        """Draw every member's parameters from the (Gaussian part of the) prior."""
        theta = {}
        for g, shp in self.param_shapes().items():
            arr = np.empty((self.S,) + shp, self.dtype)
            sd = math.sqrt(self.prior_var[g])
            for s, rng in enumerate(rngs):
                rng.standard_normal(out=arr[s], dtype=self.dtype)
                arr[s] *= sd
            theta[g] = arr
        return theta

    def _prior(self, theta, U, grad):
        for g in self.groups:
            KM.prior_add(_flat(theta[g]), _flat(grad[g]), 1.0 / self.prior_var[g], U)

    def dimension(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.param_shapes().values()))

    #: Options that size a run (halved one at a time by
    #: :func:`simulations.resources.check_resources` to name the largest).
    size_options: tuple = ()
    #: Whether every ensemble member has its own data set (then R-hat across members
    #: measures data-set differences, not convergence).
    own_data_per_member: bool = False
    #: Traces recorded only when the network trains on part of its data set
    #: (``train_fraction < 1``, see :meth:`trace_names_for`).
    split_trace_names: tuple = ()

    @classmethod
    def check_train_fraction(cls, train_fraction) -> float:
        """Validate a train fraction given for this network and return it as a float.

        The base class has no finite data set to split, so any value given is refused (a
        run without one trains on all its data). Networks on a finite set of pairs
        override this.

        Raises
        ------
        adaptive_kernel.errors.ParameterError
        """
        raise ParameterError(f"train-fraction does not apply to the {cls.name} teacher's network "
                             f"(no finite data set to split); got {train_fraction!r}")

    #: Columns added to :attr:`table_columns` when the network trains on part of its data.
    split_table_columns: tuple = ()

    @classmethod
    def table_columns_for(cls, train_fraction: float = 1.0) -> tuple:
        """Columns of the text table of a run at ``train_fraction``: ``table_columns``, plus
        ``split_table_columns`` when the network trains on part of its data."""
        return cls.table_columns + (cls.split_table_columns if float(train_fraction) < 1.0 else ())

    @classmethod
    def trace_names_for(cls, train_fraction: float = 1.0) -> tuple:
        """Names of the per-sample traces of a run at ``train_fraction``: ``trace_names``,
        plus ``split_trace_names`` when the network trains on part of its data."""
        return cls.trace_names + (cls.split_trace_names if float(train_fraction) < 1.0 else ())

    @staticmethod
    def _sampler_bytes(D, b):
        """theta, gradient, proposal and its gradient, two state copies (dtype) and the two
        float64 noise rows of :class:`simulations.sampler.LangevinSampler`, D parameters."""
        return 6 * D * b + 2 * D * 8


class CubicNetwork(_Model):
    r"""erf network f(x) = sum_i a_i erf(w_i . x) on the cubic teacher y = H1 + eps H3 of
    z = w*.x with w* = e_1, x ~ N(0, I_d).

    Parameters
    ----------
    phys : dict
        Physical (already scaled) N, d, n, sigma_w2, sigma_a2, eps, sigma2.
    members : sequence of int
        Global member indices (seed streams).
    seed : int
    n_test : int
        Fresh test points per member (for the test loss and the H1/H3 projections).
    """

    name = "cubic"
    groups = ("w", "a")
    size_options = ("N", "d", "n", "n_test")
    own_data_per_member = True
    default_step_size = 0.05
    table_columns = (("b", "b"), ("theory_b", None), ("c", "c"), ("theory_c", None), ("q2", "q2"),
                     ("theory_q2", None), ("theory_phase", None), ("acceptance", None))
    measured_descriptions = {
        "b": "b = <(y - fbar) H1> over test points: linear discrepancy coefficient",
        "c": "c = <(y - fbar) H3>/6 over test points: H3 discrepancy coefficient",
        "b_exact": "b as an exact Gaussian integral over x (no test-point noise)",
        "c_exact": "c as an exact Gaussian integral over x (no test-point noise)",
        "q2": "<q^2>, q = w.w*, over neurons and samples",
        "test_loss": "test loss per sample",
        "test_loss_mean": "test loss of the sample-averaged predictor",
    }
    theory_descriptions = {
        "q": "grid of the order parameter q of the theory's action",
        "action": "d Shat(q) - min at the theory's (b, c)",
        "action_measured": "d Shat(q) - min at the network's measured (b, c)",
    }

    @classmethod
    def check_train_fraction(cls, train_fraction):
        """Refused, whatever the value: every member of the cubic teacher's ensemble draws
        its own n training points and n_test fresh test points (:func:`data_rng`); there is
        no finite data set to split (set the data with n, the test points with n-test)."""
        raise ParameterError(f"train-fraction does not apply to the cubic teacher: each network "
                             f"draws its own n training points and n-test fresh test points (set "
                             f"those instead); got {train_fraction!r}")

    @classmethod
    def physical(cls, params, sigma2):
        """The Table 1 scaling of the theory (:meth:`CubicTeacher.scaled`) with N', d', n'
        rounded to the nearest integer (ties down)."""
        s = get_theory(cls.name).scaled(params, sigma2)
        return {"N": nearest_int(s["N"]), "d": nearest_int(s["d"]), "n": nearest_int(s["n"]),
                "sigma_w2": params["sigma_w2"], "sigma_a2": s["sigma_a2"], "eps": params["eps"],
                "sigma2": s["sigma2"]}

    @classmethod
    def theory_params(cls, params, phys):
        """The simulated integers N', d', n' and sigma_a2' as unscaled parameters (alpha =
        beta = 1), with the method and modes of ``params``."""
        return get_theory(cls.name).make_params(
            N=phys["N"], d=phys["d"], n=phys["n"], sigma_w2=phys["sigma_w2"], sigma_a2=phys["sigma_a2"],
            eps=phys["eps"], method=params["method"], modes=params["modes"], alpha=1.0, beta=1.0)

    @classmethod
    def histogram_range(cls, phys):
        """q in [-2.5, 2.5] (the side minima sit at |q| ~ 0.6-1.2)."""
        return -2.5, 2.5, HIST_BINS

    @classmethod
    def task_for(cls, phys):
        """The task (:class:`adaptive_kernel.tasks.CubicTeacherTask`) at the physical d, eps."""
        from adaptive_kernel.tasks import CubicTeacherTask

        return CubicTeacherTask(int(phys["d"]), phys["eps"])

    @classmethod
    def test_set(cls, phys: dict, members, seed: int, n_test: int):
        """(Xt, yt) of the given members, exactly as :class:`CubicNetwork` draws them."""
        task = cls.task_for(phys)
        d, n = int(phys["d"]), int(phys["n"])
        Xt = np.empty((len(members), n_test, d))
        for s, j in enumerate(members):
            rng = data_rng(seed, int(j))
            rng.standard_normal((n, d))
            Xt[s] = rng.standard_normal((n_test, d))
        return Xt, np.stack([task.target(x) for x in Xt])

    @classmethod
    def theory_point(cls, config, i, st, acc, phys, out, edges):
        """Test loss of each seed's averaged predictor; the theory solved at the physical
        parameters: observables, the action d Shat(q) at the theory's and at the measured
        (b, c), the bin probabilities of p(q) ~ exp(-d Shat(q)) and <q^2>."""
        from adaptive_kernel.solver import solve

        c = config
        T = c.n_samples
        # test loss of each seed's sample-averaged predictor
        _, yt = cls.test_set(phys, range(c.seeds), c.seed, c.n_test)
        fbar = acc["f_test_sum"] / T
        tl = np.mean((fbar - yt) ** 2, axis=1)
        m, e = seed_mean_err(tl)
        out["scalars"]["test_loss_mean"] = (float(m), float(e))
        # theory
        t = get_theory(cls.name)
        tp = cls.theory_params(c.params, phys)
        sol = solve(t, tp, phys["sigma2"])
        obs = t.observables(sol.x, tp, phys["sigma2"])
        th = {"converged": bool(sol.success), "equation_residual": float(sol.residual)}
        th.update({k: float(v) for k, v in obs.items()})
        d = phys["d"]
        q = 0.5 * (edges[:-1] + edges[1:])
        shat = t.landscape(sol.x, tp, phys["sigma2"], q)
        th["q"] = q
        th["action"] = d * (shat - np.min(shat))
        bm, cm = out["scalars"]["b_exact"][0], out["scalars"]["c_exact"][0]
        xm = np.array(sol.x, float).copy()
        xm[0], xm[1] = bm, cm
        sm = t.landscape(xm, tp, phys["sigma2"], q)
        th["action_measured"] = d * (sm - np.min(sm))
        # bin probabilities of the theory's p(q) ~ exp(-d Shat(q)) (fine sub-grid per bin)
        sub = 8
        qq = np.linspace(edges[0], edges[-1], (len(edges) - 1) * sub + 1)
        qmid = 0.5 * (qq[:-1] + qq[1:])
        a = d * t.landscape(sol.x, tp, phys["sigma2"], qmid)
        w = np.exp(-(a - a.min())) * np.diff(qq)
        th["bin_prob"] = w.reshape(-1, sub).sum(axis=1) / w.sum()
        th["q2"] = float(np.sum(w * qmid ** 2) / w.sum())
        out["theory"] = th
        for k in ("b", "c", "q2", "droplet_fraction", "phase", "u"):
            out["theory_columns"]["theory_" + k] = float(th.get(k, np.nan))
        out["theory_columns"]["theory_converged"] = float(sol.success)

    @classmethod
    def estimate_bytes(cls, phys, S, dtype, n_test, n_samples, time_blocks, train_fraction=1.0):
        """(bytes of a batch of S members in one process, bytes of one member's state kept
        between segments): data and test points (n + n_test) d (8 + b) (drawn in float64,
        then cast), the buffers of :meth:`potential` (per-chunk (d, N) gradients, (C, N)
        pre-activations, transposed weights, per-(member, chunk) buffers), the sampler's
        arrays of the N d + N parameters, traces, histograms and the test-output sum."""
        b = np.dtype(dtype).itemsize
        N, d, n, nt = int(phys["N"]), int(phys["d"]), int(phys["n"]), int(n_test)
        cmax = cls.ROW_CHUNK  # row_chunks without building the list
        if 64 * N * d < cls.SMALL_GEMM:
            cmax = max(64, min(cmax, (cls.SMALL_GEMM - 1) // (N * d)))
        nc = -(-n // cmax)
        C = -(-n // nc)
        D = N * d + N
        data = (n + nt) * d * (8 + b)
        buffers = (2 * C * N + d * N + nc * d * N + n * N + nt * N + n + nt) * b + nc * N * 8
        acc = len(cls.trace_names) * n_samples * 8 + time_blocks * (HIST_BINS + 2) * 8 + nt * 8
        return S * (data + buffers + cls._sampler_bytes(D, b) + acc), 2 * D * b + acc

    def __init__(self, phys, members, seed=0, dtype=np.float64, n_test=1000, data_term=True, train_fraction=1.0):
        if not is_full_fraction(train_fraction):
            self.check_train_fraction(train_fraction)
        super().__init__(len(members), dtype, data_term)
        #: the theory (kept for callers of the former interface) and the task of the data
        self.teacher = get_theory(self.name)
        self.task = self.task_for(phys)
        self.N, self.d, self.n = int(phys["N"]), int(phys["d"]), int(phys["n"])
        self.sigma2 = float(phys["sigma2"])
        self.eps = float(phys["eps"])
        self.sigma_w2, self.sigma_a2 = float(phys["sigma_w2"]), float(phys["sigma_a2"])
        self.prior_var = {"w": self.sigma_w2 / self.d, "a": self.sigma_a2 / self.N}
        self.n_test = int(n_test)
        S, n, d, N, nt = self.S, self.n, self.d, self.N, self.n_test
        X = np.empty((S, n, d))
        Xt = np.empty((S, nt, d))
        for s, j in enumerate(members):
            rng = data_rng(seed, int(j))
            X[s] = rng.standard_normal((n, d))
            Xt[s] = rng.standard_normal((nt, d))
        y = np.stack([self.task.target(X[s]) for s in range(S)])
        yt = np.stack([self.task.target(Xt[s]) for s in range(S)])
        h = Xt[..., 0]          # z = w*.x with the task's teacher direction w* = e_1
        self.H1t = h.copy()
        self.H3t = h ** 3 - 3.0 * h
        self.X, self.y = X.astype(self.dtype), y.astype(self.dtype)
        self.Xt, self.yt = Xt.astype(self.dtype), yt.astype(self.dtype)
        # <y H1>, <y H3>/6 on the test points (control variates for b, c)
        self.yH1t = np.mean(yt * self.H1t, axis=1)
        self.yH3t = np.mean(yt * self.H3t, axis=1) / 6.0
        # data rows in fixed chunks (see row_chunks): dU/dW, dU/da and the loss are sums
        # over chunks, added in chunk order (see :meth:`potential`)
        self._chunks = self.row_chunks(n, N, d)
        nc = len(self._chunks)
        # pre-activation buffers, one per chunk length (each C-contiguous, disjoint per member)
        self._Zbuf = {m: np.empty((S, m, N), self.dtype) for m in {r1 - r0 for r0, r1 in self._chunks}}
        self._WT = np.empty((S, d, N), self.dtype)
        self._f = np.empty((S, n), self.dtype)
        self._ga = np.empty((nc, S, N), np.float64)
        self._lc = np.empty((nc, S), np.float64)
        # dU/dW is accumulated transposed, (d, N): X_c^T G is the faster product
        self._gwT = np.empty((nc, S, d, N), self.dtype)
        self._Zunits = None         # per-(member, chunk) buffers, made when first needed
        # members per call while sweeping a chunk: about 1 MiB of pre-activations (cache)
        C = max(r1 - r0 for r0, r1 in self._chunks)
        self._sub = max(1, (1 << 20) // (C * N * self.dtype.itemsize))
        self._Zt = np.empty((S, nt, N), self.dtype)
        self._ft = np.empty((S, nt), self.dtype)
        self._forward = KC.cubic_forward if S * nt * N >= KC.PARALLEL_MIN_WORK else KC.cubic_forward_serial
        self._threads = None if S * n * N >= KC.PARALLEL_MIN_WORK else 1
        #: threads for a sampler step (None: the default); 1 for small problems, where a
        #: fork-join costs more than it saves
        self.threads = self._threads

    #: most data rows per chunk of the potential's sums
    ROW_CHUNK = 512
    #: chunks are cut so that a chunk's GEMMs have M N K below this where that leaves at
    #: least 64 rows: OpenBLAS then takes its small-matrix kernels (no packing), 1.3-1.5x
    #: faster at N = 87, d = 53 than one 375-row product
    SMALL_GEMM = 1_000_000

    @classmethod
    def row_chunks(cls, n, N, d):
        """[(r0, r1)]: the data rows of each chunk, equal lengths (the last one shorter).

        A fixed part of the arithmetic (the chunks' sums are added in order): it depends on
        the shape only, never on threads or on the batch of members."""
        cmax = cls.ROW_CHUNK
        if 64 * N * d < cls.SMALL_GEMM:
            cmax = max(64, min(cmax, (cls.SMALL_GEMM - 1) // (N * d)))
        nc = -(-n // cmax)
        C = -(-n // nc)
        return [(r0, min(n, r0 + C)) for r0 in range(0, n, C)]

    def param_shapes(self):
        return {"w": (self.N, self.d), "a": (self.N,)}

    # -- potential ----------------------------------------------------------------
    def _chunk(self, W, a, s0, s1, c, Z=None):
        """Members s0:s1, data chunk c: pre-activations (into Z, default: the members'
        buffer), fused element-wise kernel, and the chunk's part of dU/dW (transposed)."""
        r0, r1 = self._chunks[c]
        if Z is None:
            Z = self._Zbuf[r1 - r0][s0:s1]
        X = self.X[s0:s1, r0:r1]
        np.matmul(X, self._WT[s0:s1], out=Z)
        KC.cubic_rows(Z, a[s0:s1], self.y[s0:s1, r0:r1], 1.0 / self.sigma2, self._f[s0:s1, r0:r1],
                      self._ga[c, s0:s1], self._lc[c, s0:s1])
        np.matmul(X.transpose(0, 2, 1), Z, out=self._gwT[c, s0:s1])

    def _finish(self, theta, grad, U, loss, s0, s1):
        """Add the chunks in order, the prior; U, grad and loss of members s0:s1."""
        gwT = self._gwT[0, s0:s1]
        ga = self._ga[0, s0:s1].copy()
        lc = self._lc[0, s0:s1].copy()
        for c in range(1, len(self._chunks)):
            gwT += self._gwT[c, s0:s1]
            ga += self._ga[c, s0:s1]
            lc += self._lc[c, s0:s1]
        grad["w"][s0:s1] = gwT.transpose(0, 2, 1)
        np.multiply(ga, 1.0 / self.sigma2, out=grad["a"][s0:s1], casting="unsafe")
        U[s0:s1] = lc / (2.0 * self.sigma2)
        loss[s0:s1] = lc / self.n
        for g in self.groups:
            KM.prior_add(_flat(theta[g][s0:s1]), _flat(grad[g][s0:s1]), 1.0 / self.prior_var[g], U[s0:s1])

    def potential_members(self, theta, grad, U, aux, s0, s1):
        """:meth:`potential` of members s0:s1 only, in the calling thread (serial BLAS there
        is the caller's business); fills U[s0:s1], aux["loss"][s0:s1] and grad's rows."""
        if not self.data_term:
            U[s0:s1] = 0.0
            aux["loss"][s0:s1] = np.nan
            for g in self.groups:
                grad[g][s0:s1] = 0.0
                KM.prior_add(_flat(theta[g][s0:s1]), _flat(grad[g][s0:s1]), 1.0 / self.prior_var[g], U[s0:s1])
            return
        W, a = theta["w"], theta["a"]
        self._WT[s0:s1] = W[s0:s1].transpose(0, 2, 1)
        for c in range(len(self._chunks)):
            for b0 in range(s0, s1, self._sub):
                self._chunk(W, a, b0, min(s1, b0 + self._sub), c)
        self._finish(theta, grad, U, aux["loss"], s0, s1)

    def new_aux(self):
        return {"loss": np.empty(self.S)}

    def potential(self, theta, grad, threads=None):
        """U (S,) float64; fills ``grad`` (dict of arrays shaped like theta); returns (U, aux).

        Per member, the data rows are swept in chunks (:meth:`row_chunks`): Z = X_c W^T
        (BLAS), the fused kernel :func:`_kernels.cubic_rows` (erf, residual, loss, dU/da and
        G = dU/dZ in place of Z), (dU/dW_c)^T = X_c^T G (BLAS); the chunks' parts are added
        in chunk order. Members (or, with fewer members than threads, chunks) are spread
        over the BLAS pool; every member's arithmetic is the same whatever the split."""
        from ._blas import default_threads, run_parallel, split_range

        threads = (default_threads() if self._threads is None else 1) if threads is None else threads
        U = np.empty(self.S)
        aux = self.new_aux()
        S, nc = self.S, len(self._chunks)
        if threads <= 1 or S >= threads or nc == 1 or not self.data_term:
            run_parallel(lambda lo, hi: self.potential_members(theta, grad, U, aux, lo, hi),
                         split_range(S, threads), threads)
            return U, aux
        # fewer members than threads: spread (member, chunk) units (each with its own
        # pre-activation buffer), then finish serially
        W, a = theta["w"], theta["a"]
        self._WT[...] = W.transpose(0, 2, 1)
        units = [(s, c) for s in range(S) for c in range(nc)]
        if self._Zunits is None:
            self._Zunits = [np.empty((1, r1 - r0, self.N), self.dtype) for s in range(S) for r0, r1 in self._chunks]

        def run(lo, hi):
            for u in range(lo, hi):
                s, c = units[u]
                self._chunk(W, a, s, s + 1, c, self._Zunits[u])

        run_parallel(run, split_range(len(units), threads), threads)
        self._finish(theta, grad, U, aux["loss"], 0, S)
        return U, aux

    # -- measurements -----------------------------------------------------------
    trace_names = ("train_loss", "test_loss", "b", "c", "b_exact", "c_exact", "q2", "w2", "Na2")

    def hist_range(self):
        return self.histogram_range({})

    def new_accumulators(self, T, B):
        lo, hi, nb = self.hist_range()
        acc = {name: np.full((self.S, T), np.nan) for name in self.trace_names}
        acc["hist_counts"] = np.zeros((self.S, B, nb + 2), np.int64)
        acc["f_test_sum"] = np.zeros((self.S, self.n_test))
        acc["q_moments"] = np.zeros((self.S, 3))      # sum q^2, sum q^4, count
        return acc

    def accumulate(self, acc, theta, aux, j, blk):
        """Record sample j (time block blk) of every member."""
        W, a = theta["w"], theta["a"]
        q = W[..., 0]
        lo, hi, nb = self.hist_range()
        KM.hist_uniform(np.ascontiguousarray(q), lo, nb / (hi - lo), nb, acc["hist_counts"][:, blk])
        qd = q.astype(np.float64)
        acc["q_moments"][:, 0] += np.sum(qd ** 2, axis=1)
        acc["q_moments"][:, 1] += np.sum(qd ** 4, axis=1)
        acc["q_moments"][:, 2] += q.shape[1]
        bmm(self.Xt, W.transpose(0, 2, 1), self._Zt, self._threads)
        self._forward(self._Zt, a, self._ft)
        ft = self._ft.astype(np.float64)
        acc["f_test_sum"] += ft
        acc["train_loss"][:, j] = aux["loss"]
        acc["test_loss"][:, j] = np.mean((ft - self.yt) ** 2, axis=1)
        acc["b"][:, j] = self.yH1t - np.mean(ft * self.H1t, axis=1)
        acc["c"][:, j] = self.yH3t - np.mean(ft * self.H3t, axis=1) / 6.0
        w2 = np.sum(W.astype(np.float64) ** 2, axis=2)
        D = 1.0 + 2.0 * w2
        ad = a.astype(np.float64)
        lin = np.sum(ad * (2.0 / _SQRT_PI) * qd / np.sqrt(D), axis=1)
        cub = np.sum(ad * (-4.0 / _SQRT_PI) * qd ** 3 / D ** 1.5, axis=1) / 6.0
        acc["b_exact"][:, j] = 1.0 - lin
        acc["c_exact"][:, j] = self.eps - cub
        acc["q2"][:, j] = np.mean(qd ** 2, axis=1)
        acc["w2"][:, j] = np.mean(w2, axis=1)
        acc["Na2"][:, j] = self.N * np.mean(ad ** 2, axis=1)


class ModAddNetwork(_Model):
    r"""Square-activation network f_p(x) = sum_i a_{p,i} (w_i . x)^2 on the P^2 pairs of
    modular addition, with the sextic Fourier weight decay
    Gamma = sum_i sum_k P (gamma/6)(|W_k|^6 + |V_k|^6) (gradient through an FFT of each
    neuron's two halves).

    Training pairs. With ``train_fraction`` alpha = 1 (the default) the data term of the
    potential runs over all P^2 pairs, as in the theory. With alpha < 1 it runs over the
    training pairs of the package's one split, ``task.split(alpha, seed)``
    (:meth:`ModularArithmetic.split`, the same rows that ``phasesim train/kernel/rfm`` use
    with that seed and fraction), *with the same per-pair weight*:

    .. math:: U = \frac{1}{2\sigma^2}\sum_{\mu\in\mathrm{train}} |f(x_\mu) - y_\mu|^2
                + \text{prior} + \Gamma,

    so at alpha = 1 it is exactly the theory's U (and the code path is the former one, bit
    for bit). Every member of a run sees the same split (the run's ``seed``): members are
    independent chains of one posterior. At each recorded sample the output on all P^2
    pairs is evaluated, and besides the full-grid measurements the traces
    :attr:`split_trace_names` are recorded: ``test_loss`` (mean over the test pairs of
    sum_p (f_p - y_p)^2, centred targets, the convention of ``train_loss``, which is then
    the mean over the training pairs), ``train_accuracy`` and ``test_accuracy`` (fraction
    of the pairs whose argmax_p f_p is the label n + m mod P).

    Parameters
    ----------
    phys : dict
        P, N, sigma_a2, gamma, sigma2.
    members : sequence of int
    seed : int
        The run's seed: the split seed when ``train_fraction < 1``.
    train_fraction : float
        alpha in (0, 1] (:meth:`check_train_fraction`).
    """

    name = "modadd"
    groups = ("w", "a")
    size_options = ("P", "N")
    default_step_size = 0.05
    table_columns = (("residual", "residual"), ("theory_residual_derived", None),
                     ("theory_residual_paper", None), ("lambda_gram", "lambda_gram"),
                     ("residual_gpr", "residual_gpr"), ("X", "X"), ("theory_X_derived", None),
                     ("acceptance", None))
    #: the normalisations the theory is solved in at every point (both are stored)
    NORMALIZATIONS = ("derived", "paper")
    theory_variants = {n: f"{n} normalisation" for n in NORMALIZATIONS}
    measured_descriptions = {
        "residual": "r = <y, y - fbar>/|y|^2 of the sample-averaged output (1: nothing learned)",
        "residual_avg_output": "r of each seed's sample-averaged output over all pairs",
        "offtarget_residual": "norm of the residual's component orthogonal to the target, relative to |y|",
        "lambda_gram": "target eigenvalue of the Gram matrix of the sampled weights",
        "lambda_fourier": "4 P^2 sigma_a2 <X_k Y_k> (k != 0) of the sampled weights",
        "residual_gpr": "sigma2/(lambda_gram + sigma2): the mean-field GPR relation at the measured eigenvalue",
        "XY": "<X_k Y_k>, k != 0: product of the squared Fourier amplitudes of a neuron's two halves",
        "X": "<|W_k|^2>, k != 0 (W and V pooled): squared Fourier amplitude",
        "X0": "<|W_0|^2>: squared amplitude of the constant Fourier mode",
        "test_loss": "mean over the test pairs of sum_p (f_p - y_p)^2 (centred targets) per sample",
        "train_accuracy": "fraction of the training pairs with argmax_p f_p = label, per sample",
        "test_accuracy": "fraction of the test pairs with argmax_p f_p = label, per sample",
        "test_loss_mean_output": "test loss of each seed's sample-averaged output",
        "train_accuracy_mean_output": "training accuracy of each seed's sample-averaged output",
        "test_accuracy_mean_output": "test accuracy of each seed's sample-averaged output",
    }
    split_trace_names = ("test_loss", "train_accuracy", "test_accuracy")
    split_table_columns = (("train_accuracy", "train_accuracy"), ("test_accuracy", "test_accuracy"),
                           ("test_accuracy_mean_output", "test_accuracy_mean_output"))
    point_descriptions = {
        "hist_counts_pooled": "hist_counts summed over the modes k != 0",
        "mean_X_mode": "<|W_k|^2> per mode k, mean over seeds",
        "mean_XY_mode": "<X_k Y_k> per mode k, mean over seeds",
    }

    @classmethod
    def physical(cls, params, sigma2):
        """The parameters as given (no scaling), with the operation when one is set."""
        out = {"P": params["P"], "N": params["N"], "sigma_a2": params["sigma_a2"],
               "gamma": params["gamma"], "sigma2": float(sigma2)}
        if "operation" in params:
            out["operation"] = params["operation"]
        return out

    @classmethod
    def check_train_fraction(cls, train_fraction):
        """alpha in (0, 1] (the split's constraint,
        :data:`adaptive_kernel.tasks.base.SPLIT_PARAMETERS`); returned as a float.

        Raises
        ------
        adaptive_kernel.errors.ParameterError
            Naming ``train-fraction``, the range and the value received.
        """
        from adaptive_kernel.tasks.base import SPLIT_PARAMETERS

        return float(SPLIT_PARAMETERS["train_fraction"].check("train-fraction", train_fraction))

    @classmethod
    def split_for(cls, phys, seed, train_fraction):
        """The split (:class:`adaptive_kernel.tasks.base.Split`) of a run with this ``seed``
        and fraction: ``task.split(train_fraction, seed)``, the package's one split."""
        return cls.task_for(phys).split(train_fraction, seed)

    @classmethod
    def check_theory(cls, params, sigma2):
        """:meth:`Teacher.check_sigma2` in every normalisation the theory is stored in."""
        t = get_theory(cls.name)
        for norm in cls.NORMALIZATIONS:
            t.check_sigma2(dict(params, normalization=norm), sigma2)

    @classmethod
    def histogram_range(cls, phys):
        """X = |W_k|^2 in [0, max(25/P, 2.5 sqrt(3/gamma))] (prior scale 1/P; droplet near
        sqrt(3/gamma))."""
        hi = 25.0 / phys["P"]
        if phys["gamma"] > 0:
            hi = max(hi, 2.5 * math.sqrt(3.0 / phys["gamma"]))
        return 0.0, hi, HIST_BINS

    @classmethod
    def histogram_arrays(cls, counts, rows, nb):
        """Per mode k = 0..(P-1)/2, plus ``hist_counts_pooled``: the modes k != 0 summed."""
        out = super().histogram_arrays(counts, rows, nb)
        cs = np.asarray(counts).reshape((rows,) + tuple(np.shape(counts)[2:]))
        out["hist_counts_pooled"] = cs[:, 1:, 1:-1].sum(axis=1)
        return out

    @classmethod
    def task_for(cls, phys):
        """The task (:class:`adaptive_kernel.tasks.ModularArithmetic`) at the physical P (and
        operation, default addition). The network runs on all P^2 pairs, so an operation
        whose data leave pairs out (``div``) is refused."""
        from adaptive_kernel.tasks import ModularArithmetic

        task = ModularArithmetic(int(phys["P"]), phys.get("operation", "add"))
        if not task.full_grid:
            raise ParameterError(f"the Langevin network runs on all P^2 pairs; operation "
                                 f"{task.operation!r} leaves pairs out")
        return task

    @classmethod
    def theory_point(cls, config, i, st, acc, phys, out, edges):
        """Residual of the averaged output, its off-target part, the GPR residual at the
        measured Gram eigenvalue, per-mode moments; the theory in both normalisations
        (observables, pair moments, bin probabilities of |W_k|^2) and at the measured
        residual."""
        from adaptive_kernel.solver import solve
        from adaptive_kernel.teachers.modadd import eigenvalue_factor, max_coupling, pair_moments

        c = config
        P, N, sigma2, sa2, gamma = phys["P"], phys["N"], phys["sigma2"], phys["sigma_a2"], phys["gamma"]
        T = c.n_samples
        # residual of the fully averaged output
        fbar = acc["f_sum"] / T                                       # (S, P^2, P)
        Y = cls.task_for(phys).targets()
        yn = float(np.sum(Y * Y))
        r_seed = 1.0 - np.einsum("sij,ij->s", fbar, Y) / yn
        m, e = seed_mean_err(r_seed)
        out["scalars"]["residual_avg_output"] = (float(m), float(e))
        res = (Y[None] - fbar) - r_seed[:, None, None] * Y[None]
        off = np.sqrt(np.sum(res ** 2, axis=(1, 2)) / yn)
        m, e = seed_mean_err(off)
        out["scalars"]["offtarget_residual"] = (float(m), float(e))
        if c.train_fraction < 1.0:
            # the posterior-mean predictor of each seed on its training and test pairs
            split = cls.split_for(phys, c.seed, c.train_fraction)
            labels = cls.task_for(phys).labels()
            for name, val in pair_metrics(fbar, Y, labels, split.train, split.test).items():
                if name != "train_loss":
                    out["scalars"][name + "_mean_output"] = tuple(float(v) for v in seed_mean_err(val))
        lam_m, lam_e = out["scalars"]["lambda_gram"]
        rg = sigma2 / (lam_m + sigma2)
        out["scalars"]["residual_gpr"] = (rg, rg * lam_e / (lam_m + sigma2))
        # per-mode moments
        n_obs = acc["n_obs"][:, None]
        Xk = acc["X_sum"] / n_obs
        XYk = acc["XY_sum"] / n_obs
        for name, arr in (("mean_X_mode", Xk), ("mean_XY_mode", XYk)):
            m, e = seed_mean_err(arr)
            out["arrays"][name] = m
            out["arrays"][name + "_err"] = e
        # theory, both normalisations
        t = get_theory(cls.name)
        u = t.effective_interaction(c.params, sigma2)
        th = {"u": float(u)}
        r_meas = out["scalars"]["residual"][0]
        for norm in cls.NORMALIZATIONS:
            tp = dict(c.params, normalization=norm)
            sol = solve(t, tp, sigma2)
            obs = t.observables(sol.x, tp, sigma2)
            g = {"converged": bool(sol.success), "equation_residual": float(sol.residual)}
            g.update({k: float(v) for k, v in obs.items()})
            mom = pair_moments(P, u * obs["residual"] ** 2, gamma, tp["method"])
            g["XY"] = mom["XY"]
            g["X"] = mom["X"]
            bp, ov = pair_marginal(P, u * obs["residual"] ** 2, gamma, edges)
            g["bin_prob"] = bp
            g["overflow_prob"] = ov
            th[norm] = g
            for k, col in (("residual", "residual"), ("lambda", "lambda"), ("X", "X"), ("XY", "XY"),
                           ("phase", "phase"), ("droplet_fraction", "droplet_fraction")):
                out["theory_columns"][f"theory_{col}_{norm}"] = float(g[k])
            out["theory_columns"][f"theory_converged_{norm}"] = float(sol.success)
        v_meas = u * r_meas ** 2 if math.isfinite(r_meas) else math.nan
        if math.isfinite(r_meas) and r_meas > 0 and not v_meas <= max_coupling(P, gamma, c.params["method"]):
            # the network's residual puts the coupling beyond the quadrature's range (a chain
            # that has not learned at tiny sigma2): no action at the measured residual
            th["at_measured_r"] = {"residual": float(r_meas), "skipped": "coupling u r^2 beyond the range "
                                   "of the pair quadrature (max_coupling)"}
        elif math.isfinite(r_meas) and r_meas > 0:
            mom = pair_moments(P, u * r_meas ** 2, gamma, c.params["method"])
            bp, ov = pair_marginal(P, u * r_meas ** 2, gamma, edges)
            th["at_measured_r"] = {"residual": float(r_meas), "XY": mom["XY"], "X": mom["X"],
                                   "lambda_derived": eigenvalue_factor(P, sa2, "derived") * mom["XY"],
                                   "lambda_paper": eigenvalue_factor(P, sa2, "paper") * mom["XY"],
                                   "bin_prob": bp, "overflow_prob": ov}
        out["theory"] = th
        out["theory_columns"]["theory_u"] = float(u)

    @classmethod
    def estimate_bytes(cls, phys, S, dtype, n_test, n_samples, time_blocks, train_fraction=1.0):
        """(bytes of a batch of S members in one process, bytes of one member's state kept
        between segments): per member the (P^2, P) targets, outputs and their copy, the
        (P^2, N) features and residual products and their float64 copy for the Gram
        eigenvalue, the float64 outputs, the sampler's arrays of the 3 P N parameters,
        traces, histograms of the (P + 1)/2 modes and the running output sum; once per
        process the dense two-hot inputs and targets of :meth:`ModularAddition.dataset`.
        With ``train_fraction`` < 1, per member also the (R, N) features and residual
        products and the (R, P) targets and outputs of the R training pairs, and the three
        traces of :attr:`split_trace_names` (the potential's outputs are then not copied)."""
        b = np.dtype(dtype).itemsize
        P, N = int(phys["P"]), int(phys["N"])
        P2, K = P * P, (P + 1) // 2
        D = 3 * P * N
        per = P2 * P * b * 3 + P2 * N * b * 2 + P2 * N * 8 + P2 * P * 8 + 2 * P * N * b * 2
        names = cls.trace_names_for(train_fraction)
        if float(train_fraction) < 1.0:
            R = P2  # at most every pair (the split's size rounds; an upper bound)
            per += R * N * b * 2 + R * P * b * 2 + P2 * P * 8
        acc = (len(names) * n_samples * 8 + time_blocks * K * (HIST_BINS + 2) * 8
               + P2 * P * 8)
        return S * (per + cls._sampler_bytes(D, b) + acc) + P2 * 3 * P * 8, 2 * D * b + acc

    def __init__(self, phys, members, seed=0, dtype=np.float64, data_term=True, n_test=0, train_fraction=1.0):
        train_fraction = self.check_train_fraction(train_fraction)
        super().__init__(len(members), dtype, data_term)
        #: the theory (kept for callers of the former interface) and the task of the data
        self.teacher = get_theory(self.name)
        self.task = self.task_for(phys)
        self.P, self.N = int(phys["P"]), int(phys["N"])
        self.sigma2, self.sigma_a2, self.gamma = float(phys["sigma2"]), float(phys["sigma_a2"]), float(phys["gamma"])
        self.prior_var = {"w": 1.0, "a": self.sigma_a2 / self.N}
        P, N, S = self.P, self.N, self.S
        self.K = (P + 1) // 2
        Y = self.task.targets()
        self.Y = np.ascontiguousarray(np.broadcast_to(Y.astype(self.dtype), (S, P * P, P)))
        self.y_norm2 = float(np.sum(Y * Y))
        self._Phi = np.empty((S, P * P, N), self.dtype)
        self._f = np.empty((S, P * P, P), self.dtype)
        self._RA = np.empty((S, P * P, N), self.dtype)
        self._gT = np.empty((S, 2 * P, N), self.dtype)
        big = S * P * P * N >= KC.PARALLEL_MIN_WORK
        self._features = KM.modadd_features if big else KM.modadd_features_serial
        self._wgrad = KM.modadd_wgrad if big else KM.modadd_wgrad_serial
        self._threads = None if big else 1
        #: alpha; the split (None at alpha = 1: every pair trains, the former code path)
        self.train_fraction = train_fraction
        self.split = None
        if train_fraction < 1.0:
            self.split = self.split_for(phys, seed, train_fraction)
            rows = self.split.train
            R = rows.size
            pairs = self.task.pairs()
            self._pair_n = np.ascontiguousarray(pairs[rows, 0], np.int64)
            self._pair_m = np.ascontiguousarray(pairs[rows, 1], np.int64)
            self._group_ptr, self._group_rows, self._group_partner = pair_groups(self._pair_n, self._pair_m, P)
            self._labels = self.task.labels()
            self.Y_train = np.ascontiguousarray(self.Y[:, rows])
            self._Phi_train = np.empty((S, R, N), self.dtype)
            self._f_train = np.empty((S, R, P), self.dtype)
            self._RA_train = np.empty((S, R, N), self.dtype)
            big_train = S * R * N >= KC.PARALLEL_MIN_WORK
            self._features_pairs = KM.modadd_features_pairs if big_train else KM.modadd_features_pairs_serial
            self._wgrad_pairs = KM.modadd_wgrad_pairs if big_train else KM.modadd_wgrad_pairs_serial
            self._threads_train = None if big_train else 1

    def param_shapes(self):
        return {"w": (self.N, 2 * self.P), "a": (self.P, self.N)}

    # -- sextic Fourier weight decay -------------------------------------------
    def gamma_term(self, w):
        """(Gamma per member, dGamma/dw) for w (S, N, 2P), through one real FFT of every
        neuron's two halves: with R_k = rfft(half)_k = P conj(W_k),
        Gamma = P (gamma/6) P^-6 (|R_0|^6 + 2 sum_{k>=1} |R_k|^6) (P odd) and
        dGamma/dw = gamma P^-4 irfft(|R|^4 R)."""
        P = self.P
        S, N = w.shape[0], w.shape[1]
        R = np.fft.rfft(w.reshape(S, N, 2, P).astype(np.float64, copy=False), axis=-1)
        a2 = R.real ** 2 + R.imag ** 2
        a6 = a2 ** 3
        s = a6[..., 0] + 2.0 * np.sum(a6[..., 1:], axis=-1)       # P odd: no Nyquist term
        total = P * (self.gamma / 6.0) / P ** 6 * np.sum(s, axis=(1, 2))
        grad = (self.gamma / P ** 4) * np.fft.irfft(a2 * a2 * R, n=P, axis=-1)
        return total, grad.reshape(S, N, 2 * P)

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
        if self.data_term and self.split is not None:
            U += self._train_term(w, a, grad)
            aux = {"loss": self._last_loss}
        elif self.data_term:
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
            aux = {"loss": np.full(S, np.nan)}
            if self.split is None:
                aux["f"] = np.zeros((S, P * P, P), self.dtype)
        self._prior(theta, U, grad)
        return U, aux

    def _train_term(self, w, a, grad):
        r"""Data term over the R training pairs (alpha < 1) and its gradient.

        With Phi_{r i} = (w_{i, n_r} + w_{i, P + m_r})^2 (the gathered features), f = Phi a^T,
        residual E = f - y (R, P):

        .. math:: U_{data} = \frac{1}{2\sigma^2}\sum_r |E_r|^2,\quad
                  \partial_a U = E^T \Phi / \sigma^2,\quad
                  \partial_{w_{i,j}} U = \frac{1}{\sigma^2}\sum_{r \ni j} 2 z_{r i} (E a)_{r i},

        z_{ri} = w_{i,n_r} + w_{i,P+m_r}, the last sum over the pairs that contain read-in
        coordinate j (:func:`_kernels_modadd.modadd_wgrad_pairs`). Sets ``grad["a"]``, adds to
        ``grad["w"]``; returns U_data per member and keeps the training loss
        sum_r |E_r|^2 / R as ``self._last_loss``."""
        R = self._f_train.shape[1]
        wT = np.ascontiguousarray(w.transpose(0, 2, 1))
        self._features_pairs(wT, self._pair_n, self._pair_m, self._Phi_train)
        f = self._f_train
        bmm(self._Phi_train, a.transpose(0, 2, 1), f, self._threads_train)
        E = f - self.Y_train
        loss = np.einsum("sij,sij->s", E, E, dtype=np.float64) if self.dtype == np.float64 \
            else np.sum(E.astype(np.float64) ** 2, axis=(1, 2))
        bmm(E.transpose(0, 2, 1), self._Phi_train, grad["a"], self._threads_train)
        grad["a"] *= 1.0 / self.sigma2
        bmm(E, a, self._RA_train, self._threads_train)
        self._wgrad_pairs(wT, self._group_ptr, self._group_rows, self._group_partner, self._RA_train,
                          1.0 / self.sigma2, self._gT)
        grad["w"] += self._gT.transpose(0, 2, 1)
        self._last_loss = loss / R
        return loss / (2.0 * self.sigma2)

    # -- measurements -----------------------------------------------------------
    trace_names = ("train_loss", "residual", "lambda_gram", "lambda_fourier", "XY", "X", "X0", "w2", "Na2")

    def hist_range(self):
        return self.histogram_range({"P": self.P, "gamma": self.gamma})

    def new_accumulators(self, T, B):
        lo, hi, nb = self.hist_range()
        acc = {name: np.full((self.S, T), np.nan) for name in self.trace_names_for(self.train_fraction)}
        acc["hist_counts"] = np.zeros((self.S, B, self.K, nb + 2), np.int64)
        acc["f_sum"] = np.zeros((self.S, self.P * self.P, self.P))
        acc["X_sum"] = np.zeros((self.S, self.K))       # sum over neurons and samples of (X_k + Y_k)/2
        acc["XY_sum"] = np.zeros((self.S, self.K))      # sum of X_k Y_k
        acc["n_obs"] = np.zeros(self.S)                  # neurons x samples
        return acc

    def fourier_power(self, w):
        """X_k = |W_k|^2, Y_k = |V_k|^2 for k = 0..(P-1)/2; shapes (S, N, K)."""
        P = self.P
        Rw = np.fft.rfft(w[..., :P].astype(np.float64), axis=-1)
        Rv = np.fft.rfft(w[..., P:].astype(np.float64), axis=-1)
        return (Rw.real ** 2 + Rw.imag ** 2) / P ** 2, (Rv.real ** 2 + Rv.imag ** 2) / P ** 2

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
        wT = np.ascontiguousarray(w.transpose(0, 2, 1))
        if self.split is None:
            f = aux["f"].astype(np.float64)
        else:
            # the potential saw the training pairs only: the output on all P^2 pairs
            self._features(wT, self._Phi)
            bmm(self._Phi, a.transpose(0, 2, 1), self._f, self._threads)
            f = self._f.astype(np.float64)
        acc["f_sum"] += f
        Yd = self.Y[0].astype(np.float64)
        acc["train_loss"][:, j] = aux["loss"]
        acc["residual"][:, j] = 1.0 - np.einsum("sij,ij->s", f, Yd) / self.y_norm2
        if self.split is not None:
            met = pair_metrics(f, Yd, self._labels, self.split.train, self.split.test)
            for name in self.split_trace_names:
                acc[name][:, j] = met[name]
        # the target's Gram eigenvalue from the weights: (sigma_a2/N) sum_p |Phi^T y_p|^2 / |y|^2
        if self.split is None:
            self._features(wT, self._Phi)
        proj = np.matmul(self._Phi.transpose(0, 2, 1).astype(np.float64), Yd)   # (S, N, P)
        acc["lambda_gram"][:, j] = self.sigma_a2 / N * np.sum(proj ** 2, axis=(1, 2)) / self.y_norm2
        acc["lambda_fourier"][:, j] = 4.0 * P * P * self.sigma_a2 * np.mean(XY[..., 1:], axis=(1, 2))
        acc["XY"][:, j] = np.mean(XY[..., 1:], axis=(1, 2))
        acc["X"][:, j] = 0.5 * np.mean(X[..., 1:] + Y[..., 1:], axis=(1, 2))
        acc["X0"][:, j] = 0.5 * np.mean(X[..., 0] + Y[..., 0], axis=1)
        acc["w2"][:, j] = np.mean(np.sum(w.astype(np.float64) ** 2, axis=2), axis=1)
        acc["Na2"][:, j] = N * np.mean(a.astype(np.float64) ** 2, axis=(1, 2))


def pair_groups(pair_n, pair_m, P):
    """The pairs that contain each read-in coordinate, for
    :func:`simulations._kernels_modadd.modadd_wgrad_pairs`.

    Coordinate j < P is token n = j of the first half, j = P + m token m of the second.
    Returns (ptr, rows, partner), int64: the rows r (indices into pair_n, pair_m) with
    pair_n[r] = j (j < P) or pair_m[r] = j - P (j >= P) are ``rows[ptr[j]:ptr[j + 1]]`` in
    increasing order, and ``partner`` is the other coordinate of each (P + pair_m[r],
    resp. pair_n[r])."""
    pair_n = np.asarray(pair_n, np.int64)
    pair_m = np.asarray(pair_m, np.int64)
    coord = np.concatenate([pair_n, P + pair_m])
    other = np.concatenate([P + pair_m, pair_n])
    row = np.concatenate([np.arange(pair_n.size), np.arange(pair_m.size)])
    order = np.lexsort((row, coord))           # by coordinate, then row
    ptr = np.zeros(2 * P + 1, np.int64)
    np.cumsum(np.bincount(coord, minlength=2 * P), out=ptr[1:])
    return ptr, np.ascontiguousarray(row[order], np.int64), np.ascontiguousarray(other[order], np.int64)


def pair_metrics(f, Y, labels, train, test) -> dict:
    """Loss and accuracy of outputs on the training and test pairs.

    Parameters
    ----------
    f : ndarray, shape (S, P^2, P)
        Outputs of S networks on every pair.
    Y : ndarray, shape (P^2, P)
        Centred targets.
    labels : ndarray, shape (P^2,)
        Residue of each pair.
    train, test : ndarray of int
        Row indices of the split.

    Returns
    -------
    dict
        ``{train,test}_loss``: (1/|rows|) sum_{rows} sum_p (f_p - y_p)^2; ``{train,test}_accuracy``:
        fraction of the rows with argmax_p f_p = label; each an (S,) array (NaN for no rows).
    """
    out = {}
    hit = np.argmax(f, axis=2) == np.asarray(labels)[None, :]
    sq = np.sum((f - Y[None]) ** 2, axis=2)
    for name, rows in (("train", train), ("test", test)):
        if len(rows):
            out[name + "_loss"] = sq[:, rows].mean(axis=1)
            out[name + "_accuracy"] = hit[:, rows].mean(axis=1)
        else:
            out[name + "_loss"] = out[name + "_accuracy"] = np.full(f.shape[0], np.nan)
    return out


def pair_marginal(P, v, gamma, edges, sub=4):
    """Probability of each X = |W_k|^2 bin under p(X, Y) ~ exp(-A), A = P[X + Y - 2vXY +
    (gamma/3)(X^3 + Y^3)] (one k != 0 pair, uniform measure on X, Y >= 0), and of the
    overflow beyond the last edge. Midpoint rule in X (``sub`` points per bin), trapezoid
    in Y on a grid resolving both the origin scale 1/P and the droplet."""
    hi = edges[-1]
    xmax = hi * 3.0
    Yg = np.unique(np.concatenate([np.linspace(0, 40.0 / P, 801), np.linspace(0, xmax, 2001)]))
    xx = np.linspace(edges[0], hi, (len(edges) - 1) * sub + 1)
    xt = np.linspace(hi, xmax, 401)
    xs = np.concatenate([0.5 * (xx[:-1] + xx[1:]), 0.5 * (xt[:-1] + xt[1:])])
    dx = np.concatenate([np.diff(xx), np.diff(xt)])
    ay = P * (Yg + gamma / 3.0 * Yg ** 3)
    ax = P * (xs + gamma / 3.0 * xs ** 3)
    A = ax[:, None] + ay[None, :] - (2.0 * P * v) * xs[:, None] * Yg[None, :]
    A -= A.min()
    np.negative(A, out=A)
    np.exp(A, out=A)
    wy = 0.5 * (A[:, 1:] + A[:, :-1]) @ np.diff(Yg)
    w = wy * dx
    nin = (len(edges) - 1) * sub
    tot = w.sum()
    return w[:nin].reshape(-1, sub).sum(axis=1) / tot, float(w[nin:].sum() / tot)


#: Theory name (``--teacher``) -> network class of ``phasesim langevin``.
NETWORKS = {
    "modadd": ModAddNetwork,
    "cubic": CubicNetwork,
}


def network_for(teacher: str):
    """The network class of the theory registered as ``teacher`` (:data:`NETWORKS`).

    Raises
    ------
    adaptive_kernel.errors.ParameterError
        No network simulates that theory (the message lists those that exist).
    """
    try:
        return NETWORKS[teacher]
    except (KeyError, TypeError):
        raise ParameterError(f"teacher must be one of {', '.join(NETWORKS)} for a Langevin run; "
                             f"got {teacher!r}") from None


#: The former name of :func:`network_for`.
model_class = network_for
