"""Interface checks run over the theory registry (``adaptive_kernel.registry.THEORIES``).

A new theory added to the registry is exercised here without editing this file: its
declarations are consistent, its parameters validate (defaults pass; one bad value per
declared option is refused with one line naming it), the task it describes is built from
its parameters, a tiny scan of its ``example`` runs and round-trips through
``adaptive_kernel.load``, ``phasesim scan --teacher NAME`` with the example options works,
and every option it declares appears in ``--help`` (and is refused for the other theories).
Plot kinds are drawn per theory in ``tests/results/test_plotting.py``.
"""
import math

import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel import load, registry
from adaptive_kernel._cliutil import option_flag
from adaptive_kernel.cli import main
from adaptive_kernel.errors import ParameterError
from adaptive_kernel.solver import scan
from adaptive_kernel.tasks import TASKS, Task
from adaptive_kernel.teachers.base import Teacher
from adaptive_kernel.validation import parse_grid, validate

NAMES = registry.theory_names()
COMMANDS = ("scan", "langevin")


def _commands(spec):
    return spec.get("commands", COMMANDS)


def _declared(command):
    """(theory, parameter) pairs of every option declared for ``command``."""
    return [(name, param) for name, cls in registry.THEORIES.items()
            for param, spec in cls.cli_options.items() if command in _commands(spec)]


def _bad_value(con):
    """A value the constraint refuses: outside its range (or an unknown choice)."""
    if con.kind == "choice":
        return "no-such-value"
    step = 1 if con.kind == "int" else 1.0
    if con.low is not None:
        return con.low if con.low_open else con.low - step
    if con.high is not None:
        return con.high if con.high_open else con.high + step
    return math.nan if con.kind == "real" else 2 ** 64


def _cli_args(cls, params: dict) -> list:
    args = []
    for k, v in params.items():
        args += [option_flag(k, cls.cli_options[k]), str(v)]
    return args


def _one_error_line(output):
    err = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(err) == 1, output
    assert "Traceback" not in output
    return err[0]


# ------------------------------------------------------------------------------------------
# declarations
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_declarations(name):
    cls = registry.THEORIES[name]
    assert issubclass(cls, Teacher) and cls.name == name
    assert cls.task_name in TASKS
    assert cls.summary and cls.langevin_summary and "\n" not in cls.summary
    assert cls.default_output.endswith(".h5") and parse_grid(cls.default_sigma2).size >= 1
    assert set(cls.defaults) == set(cls.constraints)
    assert cls.cli_options and set(cls.cli_options) <= set(cls.constraints)
    for param, spec in cls.cli_options.items():
        assert spec.get("help") and "\n" not in spec["help"], param
        assert not spec["help"].startswith("["), "the command line prefixes [name] itself"
        t = spec.get("type", str)
        assert t in (int, float, str) or (isinstance(t, tuple) and t), (param, t)
        if isinstance(t, tuple):
            assert set(t) == set(cls.constraints[param].choices), param
        assert set(_commands(spec)) <= set(COMMANDS), param
    # the example is small, given through options, and valid
    assert set(cls.example) <= set(cls.cli_options)
    assert 1 <= parse_grid(cls.example_sigma2).size <= 8
    # presentation: the landscape grid is an order parameter of the task
    assert cls.landscape_parameter in TASKS[cls.task_name].order_parameters
    assert cls.langevin_table_columns


def test_each_command_default_is_registered():
    for command in COMMANDS:
        assert registry.default_theory(command) in NAMES
    # the options of several theories agree on type and flag (the command line merges them)
    for command in COMMANDS:
        for param, specs in registry.theory_options(command).items():
            flags = {option_flag(param, s) for s in specs.values()}
            assert len(flags) == 1, (param, flags)


# ------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_example_validate_and_build_the_task(name):
    t = registry.get_theory(name)
    for given in ({}, type(t).example):
        params = t.make_params(**given)
        assert set(params) == set(t.constraints)
        assert validate(params, t.constraints) == params
        assert t.make_params(**params) == params  # idempotent
        task = t.task(params)
        assert isinstance(task, Task) and type(task) is TASKS[t.task_name]
        assert task.params() == {k: params[k] for k in task.params() if k in params}
        assert task == TASKS[t.task_name].from_params(params)


ALL_OPTIONS = _declared("scan") + [p for p in _declared("langevin") if p not in _declared("scan")]


@pytest.mark.parametrize("name,param", ALL_OPTIONS)
def test_one_bad_value_per_option_is_refused_naming_it(name, param, tmp_path):
    t = registry.get_theory(name)
    bad = _bad_value(t.constraints[param])
    with pytest.raises(ParameterError) as exc:
        t.make_params(**{param: bad})
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(param), msg
    # the same through the command line: exit code 2, one line naming the option
    spec = t.cli_options[param]
    command = "scan" if "scan" in _commands(spec) else "langevin"
    args = [command, "--teacher", name, option_flag(param, spec), str(bad), "-o", str(tmp_path / "x.h5")]
    args += ["-q"] + (["--sigma2", "0.2"] if command == "langevin" else [])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    line = _one_error_line(r.output)
    assert param in line or option_flag(param, spec) in line, line
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("name", NAMES)
def test_options_of_other_theories_are_refused(name, tmp_path):
    cls = registry.THEORIES[name]
    for command in COMMANDS:
        mine = {p for p, s in cls.cli_options.items() if command in _commands(s)}
        for param, specs in registry.theory_options(command).items():
            if param in mine:
                continue
            spec = next(iter(specs.values()))
            t = spec.get("type", str)
            value = t[0] if isinstance(t, tuple) else "1"
            args = [command, "--teacher", name, option_flag(param, spec), value, "-q", "-o",
                    str(tmp_path / "x.h5"), "--sigma2", "0.2"]
            r = CliRunner().invoke(main, args)
            assert r.exit_code == 2, r.output
            line = _one_error_line(r.output)
            assert "do not apply" in line and option_flag(param, spec) in line and name in line, line


# ------------------------------------------------------------------------------------------
# a tiny scan, the file, the command line
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=NAMES)
def example_scan(request, tmp_path_factory):
    name = request.param
    t = registry.get_theory(name)
    params = t.make_params(**type(t).example)
    grid = parse_grid(type(t).example_sigma2)
    res = scan(t, params, grid)
    path = res.to_hdf5(tmp_path_factory.mktemp(name) / "example.h5")
    return name, params, grid, res, path


def test_example_scan_runs(example_scan):
    name, params, grid, res, _ = example_scan
    assert res.teacher == name
    np.testing.assert_array_equal(res.sigma2, grid)
    assert np.all(res.scan["converged"])
    assert set(np.unique(res.scan["phase"])) <= {0, 1, 2, 3}
    t = registry.get_theory(name)
    assert set(t.state_labels(params)) <= set(res.scan)


def test_example_scan_round_trips(example_scan):
    name, params, grid, res, path = example_scan
    back = load(path)
    assert type(back) is type(res) and back.teacher == name
    assert back.params == params
    np.testing.assert_array_equal(back.sigma2, res.sigma2)
    for branch in ("down", "up"):
        assert set(back.branches[branch]) == set(res.branches[branch])
        for k, v in res.branches[branch].items():
            np.testing.assert_array_equal(back.branches[branch][k], v, err_msg=f"{branch}/{k}")
    for k, v in res.transitions.items():
        assert np.array_equal(np.array(back.transitions[k][:2], float), np.array(v[:2], float), equal_nan=True)
    np.testing.assert_array_equal(back.landscape_grid, res.landscape_grid)
    np.testing.assert_array_equal(back.landscape_action, res.landscape_action)


def test_example_through_the_command_line(example_scan, tmp_path):
    name, params, grid, res, _ = example_scan
    cls = registry.THEORIES[name]
    out = tmp_path / "cli.h5"
    r = CliRunner().invoke(main, ["scan", "--teacher", name, "-q", "--sigma2", cls.example_sigma2,
                                  "-o", str(out)] + _cli_args(cls, cls.example))
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    back = load(out)
    assert back.teacher == name and back.params == params
    for k, v in res.branches["down"].items():
        if k != "evaluations":
            np.testing.assert_array_equal(back.branches["down"][k], v, err_msg=k)
    # and phasesim info describes it
    r = CliRunner().invoke(main, ["info", str(out)])
    assert r.exit_code == 0, r.output
    assert f"teacher:    {name}" in r.output
    assert f"grid of {cls.landscape_parameter} in" in r.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_declared_option_is_in_the_help(command):
    r = CliRunner().invoke(main, [command, "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for name, cls in registry.THEORIES.items():
        assert name in text
        for param, spec in cls.cli_options.items():
            flag = option_flag(param, spec)
            if command in _commands(spec):
                assert f"{flag} " in text, (command, flag)
                assert f"[{name}]" in text
            elif not any(command in _commands(s.cli_options.get(param, {"commands": ()}))
                         for s in registry.THEORIES.values()):
                assert f"{flag} " not in text, (command, flag)
    assert f"[default: {registry.default_theory(command)}]" in text
