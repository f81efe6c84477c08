"""Every plot kind, drawn for every theory of the registry (``adaptive_kernel.registry.THEORIES``),
and the proof that the figures hold no per-theory knowledge of their own.

For each registered theory a tiny scan of its ``example`` parameters (solved by
:func:`adaptive_kernel.solver.scan`), written and read back, draws its landscape and its order
parameters; a two-row phase diagram draws ``phase`` and ``order``; a short Langevin run of
the theory's network (:data:`simulations.models.NETWORKS`) draws ``langevin``. Every figure
must carry non-empty axis labels, and the labels must be the theory's own presentation
attributes (the block ``# -- plot labels and per-theory presentation --`` of
:class:`adaptive_kernel.teachers.base.Teacher`).

A fake theory (a subclass of a registered one under a new name, with labels of its own)
registered in a monkeypatched registry gets exactly its own labels, series, title, landscape
dataset name and table columns: nothing is keyed on the names of the existing theories. A
file whose teacher is not registered draws with the base class's generic labels.
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from adaptive_kernel import load, plotting, registry
from adaptive_kernel.phase_diagram import scan_grid
from adaptive_kernel.results import GENERIC_DESCRIPTION, LANDSCAPE_GRID_DEFAULT
from adaptive_kernel.solver import scan
from adaptive_kernel.tasks import TASKS
from adaptive_kernel.teachers.base import Teacher
from adaptive_kernel.validation import parse_grid

NAMES = registry.theory_names()


def _example(theory):
    """(validated example parameters, sigma2 grid) of a theory."""
    params = theory.make_params(**theory.example)
    return params, parse_grid(theory.example_sigma2)


@pytest.fixture(scope="module")
def example_scans():
    """{theory name: ScanResult of its example} (each solved once per module)."""
    out = {}
    for name in NAMES:
        t = registry.get_theory(name)
        params, sigma2 = _example(t)
        out[name] = scan(t, params, sigma2)
    return out


def _labels(ax):
    return ax.get_xlabel(), ax.get_ylabel()


def _draw(obj, kind):
    fig, ax = plotting.figure_for(kind)
    out = plotting.plot(obj, kind, ax=ax)
    fig.canvas.draw()  # renders every text (mathtext errors surface here)
    return out


# ------------------------------------------------------------------------------------------
# every plot kind, every theory
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_scan_plots_of_every_theory(name, example_scans, tmp_path):
    theory = registry.get_theory(name)
    res = example_scans[name]
    path = tmp_path / f"{name}.h5"
    res.to_hdf5(path)
    with h5py.File(path, "r") as f:
        assert theory.landscape_parameter in f["landscape"], "the grid is stored under the theory's name"
        # every observable is described by the task or the theory (no generic line)
        generic = [k for k, ds in f["scan"].items() if ds.attrs["description"] == GENERIC_DESCRIPTION]
        assert generic == [], f"undescribed observables of {name}: {generic}"
    back = load(path)
    assert back.landscape_name == theory.landscape_parameter
    for obj in (res, back):
        ax = _draw(obj, "landscape")
        assert _labels(ax) == tuple(theory.landscape_labels)
        assert all(_labels(ax)) and ax.get_title()
        ax = _draw(obj, "order")
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        drawn = plotting.order_quantities(obj)
        assert drawn and all(q in theory.order_series for q in drawn), "the theory's own series"
        left = [q for q in drawn if q[2] == "left"]
        assert ax.get_ylabel() == (left[0][1] if len(left) == 1 else theory.order_ylabel)
        if any(q[2] == "right" for q in drawn):
            assert ax.phasesim_twin.get_ylabel()
    # the text table prints the theory's columns (those the scan has)
    head = res.table().splitlines()[0].split()
    assert head[2:-2] == [c for c in theory.scan_table_columns if c in res.scan]


@pytest.mark.parametrize("name", NAMES)
def test_phase_diagram_plots_of_every_theory(name, tmp_path):
    theory = registry.get_theory(name)
    params, sigma2 = _example(theory)
    sigma2 = sigma2[:: max(1, len(sigma2) // 3)]
    assert "N" in theory.constraints, "every theory has a network width to vary"
    diag = scan_grid(theory, params, "N", [params["N"], 2 * params["N"]], sigma2)
    diag.to_hdf5(tmp_path / "pd.h5")
    back = load(tmp_path / "pd.h5")
    for obj in (diag, back):
        ax = _draw(obj, "phase")
        assert ax.get_xlabel() and ax.get_ylabel() == "$N$"
        assert ax.get_title().endswith("(varied: $N$)")
        title = theory.plot_title(dict(obj.params), plotting._num, False)
        assert ax.get_title().startswith(title or name)
        ax = _draw(obj, "order")
        assert ax.get_xlabel() and ax.get_ylabel()


def _langevin_config(name):
    from simulations.langevin import LangevinConfig

    theory = registry.get_theory(name)
    params, sigma2 = _example(theory)
    return LangevinConfig(name, params, [float(sigma2[0])], steps=24, burn_in=8, thin=4, seeds=2,
                          n_test=16, time_blocks=2)


@pytest.mark.parametrize("name", NAMES)
def test_langevin_plot_of_every_theory(name, tmp_path, monkeypatch):
    from simulations.langevin import run_langevin
    from simulations.models import NETWORKS

    if name not in NETWORKS:
        pytest.skip(f"no Langevin network simulates {name}")
    theory = registry.get_theory(name)
    res = run_langevin(_langevin_config(name))
    res.to_hdf5(tmp_path / "l.h5")
    data = load(tmp_path / "l.h5")
    fig, axes = plotting.figure_for("langevin")
    ax1, ax2 = plotting.plot(data, "langevin", ax=axes)
    fig.canvas.draw()
    assert ax1.get_xlabel() == theory.langevin_order_label and ax1.get_ylabel()
    assert ax2.get_ylabel() == theory.langevin_ylabel
    assert ax2.get_xlabel().endswith(f"({theory.langevin_sigma2_note})")
    histograms = [t.get_text() for t in ax1.get_legend().get_texts()]
    for variant in data.points[0]["theory_prob"]:
        assert (variant if variant == "theory" else theory.langevin_variant_label.format(variant)) in histograms
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    for spec in theory.langevin_series:
        if spec["name"] in data.measured:
            assert spec["label"] + " (simulation)" in legend
        for column, label in spec.get("theory", ()):
            if column in data.theory:
                assert label in legend
    # the same file under a fake theory's name: the fake's labels (nothing keyed on names)
    fake = _fake_theory(name, monkeypatch)
    data.teacher = fake.name
    fig, axes = plotting.figure_for("langevin")
    ax1, ax2 = plotting.plot(data, "langevin", ax=axes)
    assert ax1.get_xlabel() == "fake histogram axis" and ax2.get_ylabel() == "fake panel"
    assert ax2.get_xlabel().endswith("(fake units)")
    histograms = [t.get_text() for t in ax1.get_legend().get_texts()]
    for variant in data.points[0]["theory_prob"]:
        assert (variant if variant == "theory" else f"fake variant {variant}") in histograms
    assert "fake series (simulation)" in [t.get_text() for t in ax2.get_legend().get_texts()]


# ------------------------------------------------------------------------------------------
# a theory the code has never heard of
# ------------------------------------------------------------------------------------------
def _fake_theory(parent_name, monkeypatch):
    """A subclass of a registered theory under a new name, with labels of its own,
    registered in the (monkeypatched) registry."""
    parent = registry.THEORIES[parent_name]
    first = parent.order_series[0][0]
    spec = parent.langevin_series[0] if parent.langevin_series else {"name": "none"}

    class Fake(parent):
        name = f"fake_{parent_name}"
        landscape_parameter = "fake_grid"
        landscape_labels = ("fake x", "fake y")
        order_series = ((first, "fake left", "left"), ("droplet_fraction", "fake right", "right"))
        family_quantity = first
        observable_descriptions = {**parent.observable_descriptions, first: "fake description"}
        scan_table_columns = (first,)
        parameter_symbols = {"N": r"$\mathcal{N}$"}
        langevin_order_label = "fake histogram axis"
        langevin_series = ({"name": spec["name"], "label": "fake series", "theory": ()},)
        langevin_ylabel = "fake panel"
        langevin_sigma2_note = "fake units"
        langevin_variant_label = "fake variant {}"

        @classmethod
        def plot_title(cls, params, num=str, full=True):
            return "fake title" + (" (full)" if full else "")

        @classmethod
        def large_parameter(cls, params):
            return 1.0

    monkeypatch.setitem(registry.THEORIES, Fake.name, Fake)
    return Fake


@pytest.mark.parametrize("name", NAMES)
def test_a_new_theory_brings_its_own_labels(name, tmp_path, monkeypatch):
    fake = _fake_theory(name, monkeypatch)()
    params, sigma2 = _example(fake)
    res = scan(fake, params, sigma2)
    assert res.teacher == fake.name
    res.to_hdf5(tmp_path / "fake.h5")
    with h5py.File(tmp_path / "fake.h5", "r") as f:
        assert set(f["landscape"]) == {"fake_grid", "action"}
        assert f["scan"][fake.order_series[0][0]].attrs["description"] == "fake description"
        # the task's descriptions reach the file under the new name too (through task_name)
        task_docs = TASKS[fake.task_name].order_parameters
        shared = [k for k in task_docs if k in f["scan"] and k != fake.order_series[0][0]]
        assert shared and all(f["scan"][k].attrs["description"] == task_docs[k] for k in shared)
    back = load(tmp_path / "fake.h5")
    for obj in (res, back):
        ax = _draw(obj, "landscape")
        assert _labels(ax) == ("fake x", "fake y") and ax.get_title() == "fake title (full)"
        ax = _draw(obj, "order")
        assert ax.get_ylabel() == "fake left" and ax.phasesim_twin.get_ylabel() == "fake right"
        assert ax.get_title() == "fake title (full)"
    assert res.table().splitlines()[0].split()[:3] == ["sigma2", "u", fake.order_series[0][0]]
    diag = scan_grid(fake, params, "N", [params["N"], 2 * params["N"]], sigma2[:2])
    ax = _draw(diag, "phase")
    assert ax.get_ylabel() == r"$\mathcal{N}$" and ax.get_title() == r"fake title (varied: $\mathcal{N}$)"
    ax = _draw(diag, "order")
    assert ax.get_ylabel() == "fake left"


@pytest.mark.parametrize("name", NAMES)
def test_an_unregistered_teacher_draws_with_generic_labels(name, example_scans, tmp_path):
    res = example_scans[name]
    res.to_hdf5(tmp_path / "s.h5")
    with h5py.File(tmp_path / "s.h5", "r+") as f:
        f.attrs["teacher"] = "no_such_theory"
    back = load(tmp_path / "s.h5")
    assert back.teacher == "no_such_theory"
    ax = _draw(back, "landscape")
    assert _labels(ax) == tuple(Teacher.landscape_labels)
    assert ax.get_title() == "no_such_theory"
    ax = _draw(back, "order")
    assert ax.get_xlabel() and ax.get_ylabel()
    # a result without a theory-given grid name is written under the generic name
    res2 = type(res)(**{**res.__dict__, "teacher": "no_such_theory", "landscape_name": ""})
    res2.to_hdf5(tmp_path / "g.h5")
    with h5py.File(tmp_path / "g.h5", "r") as f:
        assert set(f["landscape"]) == {LANDSCAPE_GRID_DEFAULT, "action"}
    np.testing.assert_array_equal(load(tmp_path / "g.h5").landscape_grid, res.landscape_grid)
