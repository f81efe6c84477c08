"""Convergence diagnostics of Langevin traces: effective sample size, autocorrelation time,
R-hat across seeds, and error bars of means.

ArviZ (``arviz.ess``, ``arviz.rhat``: rank-normalised bulk ESS and split R-hat of
Vehtari et al. 2021) is used when it is installed; otherwise a small NumPy fallback
computes the same quantities (Geyer's initial-monotone-sequence ESS on split chains and
the rank-normalised split R-hat) and the result is marked ``backend = "numpy"``.

Traces have shape (chains, draws); here the chains are the ensemble members (seeds).
For the cubic teacher every seed has its own training set, so R-hat across seeds also
measures data-set-to-data-set differences of the quantity; ``rhat_split_max`` (split
R-hat of each member on its own) isolates non-convergence in time.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats


def _arviz():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import arviz as az
        return az
    except Exception:  # pragma: no cover - depends on the installation
        return None


def backend_name() -> str:
    return "arviz" if _arviz() is not None else "numpy"


# -- NumPy fallback ----------------------------------------------------------------------
def _autocov(x):
    n = x.shape[-1]
    m = 1 << (2 * n - 1).bit_length()
    xc = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(xc, n=m, axis=-1)
    ac = np.fft.irfft(f * np.conj(f), n=m, axis=-1)[..., :n] / n
    return ac


def _ess_np(x):
    """Geyer initial monotone sequence ESS of chains x (m, n) (split in halves)."""
    m, n = x.shape
    if n >= 4:
        h = n // 2
        x = np.concatenate([x[:, :h], x[:, n - h:]], axis=0)
        m, n = x.shape
    acov = _autocov(x)
    chain_mean = x.mean(axis=1)
    mean_var = acov[:, 0].mean() * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if m > 1:
        var_plus += chain_mean.var(ddof=1)
    if not var_plus > 0:
        return float("nan")
    rho = 1.0 - (mean_var - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer: sum pairs while positive, monotone
    t = 0
    pairs = []
    while t + 1 < n:
        p = rho[t] + rho[t + 1]
        if p < 0:
            break
        pairs.append(p)
        t += 2
    pairs = np.minimum.accumulate(np.array(pairs)) if pairs else np.array([1.0])
    tau = -1.0 + 2.0 * pairs.sum()
    tau = max(tau, 1.0 / math.log10(m * n)) if m * n > 1 else 1.0
    return float(m * n / tau)


def _rank_normalize(x):
    r = stats.rankdata(x, axis=None).reshape(x.shape)
    return stats.norm.ppf((r - 0.375) / (x.size + 0.25))


def _rhat_np(x):
    m, n = x.shape
    h = n // 2
    if h < 2:
        return float("nan")
    x = np.concatenate([x[:, :h], x[:, n - h:]], axis=0)

    def basic(z):
        mm, nn = z.shape
        W = z.var(axis=1, ddof=1).mean()
        B = nn * z.mean(axis=1).var(ddof=1)
        if not W > 0:
            return float("nan")
        return float(math.sqrt(((nn - 1) / nn * W + B / nn) / W))

    z = _rank_normalize(x)
    zf = _rank_normalize(np.abs(x - np.median(x)))
    return max(basic(z), basic(zf))


# -- public ------------------------------------------------------------------------------
def ess(trace) -> float:
    """Bulk effective sample size of ``trace`` (chains, draws), all chains together."""
    x = np.asarray(trace, float)
    x = x[:, np.all(np.isfinite(x), axis=0)] if x.ndim == 2 else x
    if x.size < 8 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return float("nan")
    az = _arviz()
    if az is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(az.ess(x, method="bulk"))
    return _ess_np(x)


def rhat(trace) -> float:
    """Rank-normalised split R-hat across chains (NaN with fewer than 4 draws)."""
    x = np.asarray(trace, float)
    if x.ndim != 2 or x.shape[1] < 4 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return float("nan")
    az = _arviz()
    if az is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(az.rhat(x))
    return _rhat_np(x)


def rhat_split_max(trace) -> float:
    """Largest split R-hat of a single chain against itself (non-stationarity in time)."""
    x = np.asarray(trace, float)
    h = x.shape[1] // 2
    vals = [rhat(np.stack([x[i, :h], x[i, x.shape[1] - h:]])) for i in range(x.shape[0])]
    vals = [v for v in vals if math.isfinite(v)]
    return float(max(vals)) if vals else float("nan")


def tau_steps(trace, thin: int) -> float:
    """Integrated autocorrelation time in Langevin steps: draws x thin / ESS per chain."""
    x = np.asarray(trace, float)
    e = ess(x)
    if not (e > 0):
        return float("nan")
    return float(x.size * thin / e)


def mean_and_error(trace):
    """Mean of ``trace`` (chains, draws) and its standard error.

    With >= 3 chains: the spread of the chain means / sqrt(chains) (chains are independent
    seeds, so this includes every source of variation between seeds). Otherwise: the
    pooled standard deviation / sqrt(ESS).
    """
    x = np.asarray(trace, float)
    if x.ndim == 1:
        x = x[None, :]
    m = x.mean(axis=1)
    mean = float(m.mean())
    if x.shape[0] >= 3:
        return mean, float(m.std(ddof=1) / math.sqrt(x.shape[0]))
    e = ess(x)
    if not (e > 1):
        return mean, float("nan")
    return mean, float(x.std(ddof=1) / math.sqrt(e))


def summarize(traces: dict, thin: int) -> dict:
    """{name: {mean, err, ess, tau_steps, rhat, rhat_split_max}} for every trace."""
    out = {}
    for name, tr in traces.items():
        tr = np.asarray(tr, float)
        mean, err = mean_and_error(tr)
        e = ess(tr)
        out[name] = {"mean": mean, "err": err, "ess": e,
                     "tau_steps": float(tr.size * thin / e) if e > 0 else float("nan"),
                     "rhat": rhat(tr) if tr.shape[0] >= 2 else float("nan"),
                     "rhat_split_max": rhat_split_max(tr)}
    return out


# -- sampler health ----------------------------------------------------------------------
#: A MALA chain whose post-burn-in acceptance is below this cannot have explored the
#: posterior (with the step adapted during burn-in it is ~0.65; the sampler stops a run
#: outright below 0.01 over a 200-step window).
ACCEPT_MIN = 0.05
#: ... or above this: the proposals are so small that the chain hardly moves (a step size
#: far too small, e.g. --step-size 1e-9 --no-adapt).
ACCEPT_MAX = 0.995
#: Largest within-network split R-hat (first half against second half of each member's
#: recorded trace, rank-normalised; Vehtari et al. 2021) of a chain at equilibrium.
RHAT_WITHIN_MAX = 1.1
#: The split R-hat is judged only with at least this many recorded samples per member
#: (10 per half); shorter runs are judged by the acceptance alone.
RHAT_MIN_DRAWS = 20


def sampling_health(acceptance, summary: dict, integrator: str, n_samples: int) -> tuple:
    """Whether the chains of one sigma2 point can have sampled their posterior.

    Parameters
    ----------
    acceptance : array_like
        Post-burn-in acceptance rate of every member.
    summary : dict
        :func:`summarize` of the point's traces (uses ``rhat_split_max``).
    integrator : {"mala", "ula"}
        ULA accepts every step, so only its R-hat is judged.
    n_samples : int
        Recorded samples per member.

    Returns
    -------
    (bool, str)
        ``ok`` and the reason it is not (empty when ok): MALA acceptance outside
        [ACCEPT_MIN, ACCEPT_MAX] for some member, or a within-network split R-hat above
        RHAT_WITHIN_MAX for some trace (with at least RHAT_MIN_DRAWS samples).
    """
    reasons = []
    acc = np.asarray(acceptance, float)
    if integrator == "mala" and acc.size:
        lo, hi = float(np.min(acc)), float(np.max(acc))
        if lo < ACCEPT_MIN:
            reasons.append(f"MALA acceptance {lo:.3f} below {ACCEPT_MIN:g}")
        if hi > ACCEPT_MAX:
            reasons.append(f"MALA acceptance {hi:.3f} above {ACCEPT_MAX:g}")
    if n_samples >= RHAT_MIN_DRAWS:
        worst, name = -math.inf, ""
        for k, s in summary.items():
            v = s.get("rhat_split_max", math.nan)
            if math.isfinite(v) and v > worst:
                worst, name = v, k
        if worst > RHAT_WITHIN_MAX:
            reasons.append(f"split R-hat within a network {worst:.3g} ({name}) above {RHAT_WITHIN_MAX:g}")
    return (not reasons), "; ".join(reasons)
