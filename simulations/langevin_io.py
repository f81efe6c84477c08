r"""The Langevin file, written and read in one place.

* :func:`write_langevin` writes a :class:`~simulations.langevin.LangevinResult` (what
  ``phasesim langevin`` produces) through :func:`adaptive_kernel.storage.write_result`,
  root attribute ``kind = "langevin"``; the layout is documented in the module docstring of
  :mod:`simulations.langevin`.
* :class:`LangevinData` reads the parts of such a file that the figures and ``phasesim
  info`` use; :func:`adaptive_kernel.load` returns it for a Langevin file (and attaches it as
  ``.langevin`` to a scan file that also holds a ``langevin`` group).

Every dataset carries a one-line ``description`` and ``units`` where one applies (``"1"``:
dimensionless); the ``theory_phase*`` columns explain their codes in ``phase_codes``.
``langevin/sigma2`` is an HDF5 dimension scale attached to every 1-D dataset of the
``langevin`` group, so ``xarray.open_dataset(path, group="langevin", engine="h5netcdf")``
has ``sigma2`` as coordinate.

This module imports only :mod:`adaptive_kernel.storage`, :mod:`adaptive_kernel.errors`,
:mod:`adaptive_kernel.codes` and :mod:`simulations.diagnostics`, never the result classes
or the registry of result kinds, so :mod:`adaptive_kernel.kinds` can import it without a
cycle.
"""
from __future__ import annotations

import h5py
import numpy as np

from adaptive_kernel.codes import PHASE_CODES
from adaptive_kernel.errors import FileFormatError
from adaptive_kernel.storage import attach_scales, describe, open_h5, py_value, write_result

from . import diagnostics as D

FORMAT_VERSION = 1
#: The root attribute ``kind`` of a Langevin file.
KIND = "langevin"

#: One-line descriptions of the measured quantities every network records (the
#: ``langevin/<name>`` columns, the per-point attributes and ``traces/<name>``); each
#: network adds its own (``measured_descriptions`` of :mod:`simulations.models`).
MEASURED = {
    "w2": "<|w|^2> over neurons and samples",
    "Na2": "N <a^2> over read-out weights and samples",
    "train_loss": "training loss per sample",
    "acceptance": "acceptance rate after burn-in, mean over seeds",
    "sampling_ok": "False where the chains cannot have sampled the posterior (attrs reasons, criteria)",
    "step": "Langevin step of each recorded sample",
}
#: Per sigma2 point, ``langevin/<i>/<name>`` (a network adds its own: ``point_descriptions``).
POINT = {
    "hist_edges": "bin edges of the histogram of the order parameter",
    "hist_counts": "histogram counts of the order parameter; rows are independent subsets "
                   "(row = member * time_blocks + block)",
    "hist_underflow": "counts below the first edge, per row",
    "hist_overflow": "counts above the last edge, per row",
}
DIAGNOSTICS = {
    "acceptance": "acceptance rate after burn-in, per member",
    "step_size": "step size after burn-in adaptation, per member",
    "nonfinite_proposals": "number of proposals with a non-finite value, per member",
}
#: ``langevin/split/<name>``: the training pairs of a run with train_fraction < 1.
SPLIT = {
    "train": "row indices n*P + m of the training pairs (the potential's data term runs over these): "
             "task.split(train_fraction, split_seed)",
    "test": "row indices n*P + m of the test pairs (test metrics)",
}
#: ``langevin/<i>/theory/<name>`` (a network adds its own: ``theory_descriptions``).
THEORY = {
    "bin_prob": "the theory's probability of each histogram bin",
}


def _meta(path: str, dtype, own=None) -> tuple:
    """(description, units, extra attributes) of the dataset at ``path`` in the file.

    ``own``: what the simulated network adds (the result's ``file_descriptions``):
    ``measured``, ``point``, ``theory`` (``{name: description}``, added to
    :data:`MEASURED`, :data:`POINT`, :data:`THEORY`) and ``variants`` (``{suffix: what}`` of
    the theory's variants, e.g. the normalisations of the target eigenvalue: a column
    ``theory_<quantity>_<suffix>`` is described as the theory's quantity in that variant)."""
    own = own or {}
    measured = {**MEASURED, **own.get("measured", {})}
    point = {**POINT, **own.get("point", {})}
    theory = {**THEORY, **own.get("theory", {})}
    variants = own.get("variants", {})
    parts = path.strip("/").split("/")
    name = parts[-1]
    numeric = np.dtype(dtype).kind in "fiu"
    units = "1" if numeric else None
    extra = {}
    if name.endswith("_err") and name[:-4] in measured | point:
        text = f"standard error of {name[:-4]} (spread of the per-seed means / sqrt(seeds))"
    elif name.startswith("theory_"):
        quantity, norm = name[7:], ""
        for variant, what in variants.items():
            if quantity.endswith("_" + variant):
                quantity, norm = quantity[:-len(variant) - 1], f", {what}"
        text = (f"the theory's {quantity} at the same physical parameters "
                f"(adaptive_kernel.solver.solve{norm})")
        if quantity.startswith("phase"):
            units, extra = None, {"phase_codes": PHASE_CODES}
        elif quantity.startswith("converged"):
            units = None
    elif name == "sigma2":
        text = "GPR noise variance sigma2 of each point, base units (the sweep coordinate)"
    elif name == "sigma2_physical":
        text = "physical noise variance sigma2' simulated at each point"
    elif "split" in parts[:-1]:
        text = SPLIT.get(name, f"split {name}")
        units = None
    elif "traces" in parts[:-1]:
        text = "per-sample trace (members x samples) of " + (name + ": " + measured[name]
                                                             if name in measured else name)
        if name == "step":
            text = measured["step"]
    elif "diagnostics" in parts[:-1]:
        text = DIAGNOSTICS.get(name, f"diagnostic {name}, per member")
    elif "theory" in parts[:-1]:
        text = theory.get(name, f"the theory's {name}")
        if len(parts) >= 2 and parts[-2] != "theory":
            text += f" ({parts[-2]})"
    elif name in point:
        text = point[name]
    else:
        text = measured.get(name, f"{name}, mean over seeds")
    return text, units, extra


def _fill(f, result) -> None:
    """Write the groups of a Langevin file (everything below the root attributes)."""
    c = result.config
    g = f.create_group("params")
    for k, v in c.params.items():
        g.attrs[k] = v
    L = f.create_group("langevin")
    for k in ("steps", "burn_in", "thin", "step_size", "integrator", "seeds", "seed", "dtype",
              "time_blocks", "n_test", "adapt", "data_term"):
        L.attrs[k] = getattr(c, k)
    L.attrs["n_samples"] = c.n_samples
    L.attrs["wall_time_s"] = result.wall_time
    L.attrs["diagnostics_backend"] = D.backend_name()
    L.attrs["subsets"] = ("hist_counts rows are independent subsets: row = member * time_blocks + "
                          "block (members are independent seeds; blocks split the recorded samples "
                          "into time_blocks consecutive stretches)")
    split = getattr(result, "split", None)
    if split is not None:  # part of the pairs train (absent: every pair, the files before the option)
        L.attrs["train_fraction"] = float(c.train_fraction)
        L.attrs["split_seed"] = int(c.seed)
        L.attrs["n_train_pairs"] = split.n_train
        L.attrs["n_test_pairs"] = split.n_test
        sg = L.create_group("split")
        sg.attrs["description"] = ("the package's one split task.split(train_fraction, split_seed) "
                                   "(the same rows as phasesim train/kernel/rfm with that seed and fraction)")
        sg.create_dataset("train", data=np.asarray(split.train, np.int64))
        sg.create_dataset("test", data=np.asarray(split.test, np.int64))
    L.create_dataset("sigma2", data=np.array(c.sigma2))
    L.create_dataset("sigma2_physical", data=np.array([p["phys"]["sigma2"] for p in result.points]))
    names = sorted({k for p in result.points for k in p["scalars"]})
    for k in names:
        L.create_dataset(k, data=result.column(k))
        L.create_dataset(k + "_err", data=result.column_err(k))
    tnames = sorted({k for p in result.points for k in p["theory_columns"]})
    for k in tnames:
        L.create_dataset(k, data=np.array([p["theory_columns"].get(k, np.nan) for p in result.points], float))
    L.create_dataset("acceptance", data=np.array([p["diagnostics"]["acceptance"].mean() for p in result.points]))
    # sampler health (simulations.diagnostics.sampling_health), one flag per sigma2 point
    ok = L.create_dataset("sampling_ok", data=np.array([bool(p["diag_attrs"].get("sampling_ok", True))
                                                        for p in result.points]))
    ok.attrs["reasons"] = np.array([str(p["diag_attrs"].get("sampling_reason", "")) for p in result.points],
                                   dtype=h5py.string_dtype())
    ok.attrs["criteria"] = (f"MALA post-burn-in acceptance of every member in [{D.ACCEPT_MIN:g}, "
                            f"{D.ACCEPT_MAX:g}]; split R-hat within each network <= {D.RHAT_WITHIN_MAX:g} "
                            f"for every trace (judged with >= {D.RHAT_MIN_DRAWS} recorded samples)")
    for i, p in enumerate(result.points):
        gi = L.create_group(str(i))
        gi.attrs["sigma2"] = c.sigma2[i]
        gi.attrs["sigma2_physical"] = p["phys"]["sigma2"]
        for k, v in p["phys"].items():
            gi.attrs["phys_" + k] = v
        for k, v in p["arrays"].items():
            gi.create_dataset(k, data=v)
        for k, (m, e) in p["scalars"].items():
            gi.attrs[k] = m
            gi.attrs[k + "_err"] = e
        tg = gi.create_group("traces")
        for k, v in p["traces"].items():
            tg.create_dataset(k, data=v)
        dg = gi.create_group("diagnostics")
        for k, v in p["diagnostics"].items():
            dg.create_dataset(k, data=v)
        for k, v in p["diag_attrs"].items():
            dg.attrs[k] = v
        _write_tree(gi.create_group("theory"), p["theory"])
    datasets = []
    L.visititems(lambda name, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None)
    own = dict(getattr(result, "file_descriptions", None) or {})
    for ds in datasets:
        text, units, extra = _meta(ds.name, ds.dtype, own)
        describe(ds, text, units, **extra)
    attach_scales(L, "sigma2")


def _write_tree(g, tree):
    for k, v in tree.items():
        if isinstance(v, dict):
            _write_tree(g.create_group(k), v)
        elif isinstance(v, np.ndarray):
            g.create_dataset(k, data=v)
        else:
            g.attrs[k] = v


def write_langevin(result, path, overwrite: bool = False, command: str | None = None) -> str:
    """Write a :class:`~simulations.langevin.LangevinResult` to ``path`` atomically (refusing
    an existing file unless ``overwrite``; an I/O failure is a one-line
    :class:`~adaptive_kernel.errors.WriteError` and leaves an existing file untouched)."""
    return write_result(path, KIND, lambda f: _fill(f, result), overwrite, command,
                        teacher=result.config.teacher, attrs=result.attrs, format_version=FORMAT_VERSION)


class LangevinData:
    r"""Langevin cross-check data of a ``phasesim langevin`` file (:mod:`simulations.langevin`,
    whose module docstring documents the layout). What is read:

    * root attribute ``teacher``; ``/params`` attributes;
    * ``/langevin/sigma2`` (base units) and ``sigma2_physical``;
    * every 1-D ``/langevin/<name>`` with a ``<name>_err`` partner: measured values
      (e.g. ``b``, ``c``, ``b_exact``, ``q2``, ``residual``, ``residual_gpr``,
      ``lambda_gram``, ...); every ``/langevin/theory_<name>``: the theory's values
      (``theory_b``, ``theory_c``, ``theory_residual_derived``, ``theory_residual_paper``, ...);
    * per sigma2 index i, ``/langevin/<i>/``: ``hist_edges`` (nb + 1), ``hist_counts``
      (subsets x nb; ``hist_counts_pooled``, the modes k != 0 summed, when present), and the
      theory's bin probabilities ``theory/bin_prob`` or ``theory/<variant>/bin_prob`` of each
      variant (e.g. ``derived``, ``paper``);
    * ``/langevin`` attributes ``train_fraction``, ``split_seed`` and ``/langevin/split/train``,
      ``test`` (the pairs of a run that trained on part of them); a file without them (every
      file written before ``--train-fraction`` existed, and every run on all the data) reads
      as ``train_fraction = 1`` with no split.

    Figures: :func:`adaptive_kernel.plotting.plot_langevin`.

    Attributes
    ----------
    teacher : str
    params, attrs : dict
    sigma2, sigma2_physical : ndarray
    measured : dict
        ``{name: (value, err)}`` arrays over sigma2.
    theory : dict
        ``{name: array}`` (``theory_`` prefix removed).
    points : list of dict
        Per sigma2: ``sigma2``, ``edges``, ``counts`` (subsets x bins), ``theory_prob``
        ``{name: bin probabilities}``: ``"theory"`` for ``theory/bin_prob``, and the name of
        each variant subgroup ``theory/<variant>/bin_prob`` (a group with the attribute
        ``converged``: the theory solved in that variant, e.g. a normalisation); figures
        label them with the theory's ``langevin_variant_label``.
    train_fraction : float
        Fraction of the pairs in the potential's data term (1: all).
    split_seed : int or None
        Seed of the split (the run's seed), None at train_fraction 1.
    split_train, split_test : ndarray of int64 or None
        Row indices of the training and test pairs (None at train_fraction 1).
    """

    #: The root attribute ``kind`` of the file (:mod:`adaptive_kernel.kinds`).
    kind = KIND

    def __init__(self, teacher, params, sigma2, sigma2_physical, measured, theory, points, attrs=None,
                 train_fraction=1.0, split_seed=None, split_train=None, split_test=None):
        self.teacher = teacher
        self.train_fraction = float(train_fraction)
        self.split_seed = split_seed
        self.split_train = split_train
        self.split_test = split_test
        self.params = params
        self.sigma2 = np.asarray(sigma2, float)
        self.sigma2_physical = np.asarray(sigma2_physical, float)
        self.measured = measured
        self.theory = theory
        self.points = points
        self.attrs = attrs or {}

    @classmethod
    def from_file(cls, f, path="file"):
        """Read from an open h5py File that has a ``langevin`` group."""
        if "langevin" not in f:
            raise FileFormatError(f"{path}: no 'langevin' group (Langevin cross-check data, written by "
                                  f"'phasesim langevin'); this file holds {', '.join(sorted(f)) or 'nothing'}")
        g = f["langevin"]
        if "sigma2" not in g:
            raise FileFormatError(f"{path}: missing dataset 'langevin/sigma2'")
        attrs = {k: py_value(v) for k, v in f.attrs.items()}
        attrs.update({"langevin_" + k: py_value(v) for k, v in g.attrs.items()})
        teacher = str(attrs.get("teacher", ""))
        params = {k: py_value(v) for k, v in f["params"].attrs.items()} if "params" in f else {}
        sigma2 = g["sigma2"][()]
        s2p = g["sigma2_physical"][()] if "sigma2_physical" in g else sigma2
        n = len(sigma2)
        one_d = {k: np.asarray(g[k][()], float) for k in g
                 if hasattr(g[k], "shape") and g[k].shape == (n,) and k not in ("sigma2", "sigma2_physical")}
        measured = {k: (v, one_d.get(k + "_err", np.full(n, np.nan))) for k, v in one_d.items()
                    if not k.startswith("theory_") and not k.endswith("_err")}
        theory = {k[7:]: v for k, v in one_d.items() if k.startswith("theory_")}
        points = []
        for i in range(n):
            if str(i) not in g:
                continue
            gi = g[str(i)]
            if "hist_edges" not in gi or ("hist_counts" not in gi and "hist_counts_pooled" not in gi):
                raise FileFormatError(f"{path}: langevin/{i} needs 'hist_edges' and 'hist_counts'")
            edges = np.asarray(gi["hist_edges"][()], float)
            counts = np.asarray(gi["hist_counts_pooled" if "hist_counts_pooled" in gi else "hist_counts"][()])
            if counts.shape[-1] != len(edges) - 1:
                raise FileFormatError(f"{path}: langevin/{i}: {counts.shape[-1]} count bins for {len(edges)} edges")
            probs = {}
            th = gi["theory"] if "theory" in gi else {}
            if "bin_prob" in th:
                probs["theory"] = th["bin_prob"][()]
            # theory variants (e.g. normalisations): subgroups holding a solution (attribute
            # ``converged``) and its bin probabilities, keyed by the variant's name
            for name, sub in th.items():
                if isinstance(sub, h5py.Group) and "bin_prob" in sub and "converged" in sub.attrs:
                    probs[name] = sub["bin_prob"][()]
            points.append({"sigma2": float(gi.attrs.get("sigma2", sigma2[i])), "edges": edges,
                           "counts": counts.reshape(-1, counts.shape[-1]).astype(float), "theory_prob": probs})
        split = {}
        if "split" in g and isinstance(g["split"], h5py.Group):
            split = {"split_train": np.asarray(g["split/train"][()], np.int64),
                     "split_test": np.asarray(g["split/test"][()], np.int64),
                     "split_seed": int(g.attrs["split_seed"]) if "split_seed" in g.attrs else None}
        return cls(teacher, params, sigma2, s2p, measured, theory, points, attrs,
                   train_fraction=float(g.attrs.get("train_fraction", 1.0)), **split)

    def split_line(self) -> str:
        """One line for ``phasesim info``: the pairs the potential's data term ran over and
        the test metrics (mean over seeds and samples, per sigma2), or all pairs."""
        if self.split_train is None:
            return "training pairs: all (train_fraction = 1)"
        line = (f"training pairs: {len(self.split_train)} of {len(self.split_train) + len(self.split_test)} "
                f"(train_fraction = {self.train_fraction:g}, split seed {self.split_seed}; "
                f"task.split(train_fraction, seed))")
        for name in ("test_accuracy", "test_loss", "train_accuracy", "test_accuracy_mean_output"):
            if name in self.measured:
                v, e = self.measured[name]
                line += f"\n            {name + ':':<28s}" + ", ".join(f"{a:.4g} +- {b:.1g}" for a, b in zip(v, e))
        return line

    @classmethod
    def from_hdf5(cls, path):
        """Read the Langevin data of the file at ``path``."""
        with open_h5(path) as f:
            return cls.from_file(f, path)


__all__ = ["LangevinData", "write_langevin", "FORMAT_VERSION", "KIND"]
