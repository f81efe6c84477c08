"""``phasesim info`` and ``phasesim plot`` on the files of every method of the simulations
package (kinds registered with figures in adaptive_kernel.kinds): info describes the file,
'--kind list' names the figures, every figure draws, a wrong figure name is one line with
exit code 2.

One small run per kind (module-scoped); kinds whose command is not installed are skipped.
"""
import pytest

from adaptive_kernel import kinds

#: kind -> the command that writes a small file of it (arguments after the command name)
RUNS = {
    "kernel": ["kernel", "--P", "7,11", "--train-fraction", "0.4:0.8:2", "--seeds", "2"],
    "analytic": ["analytic", "--P", "11", "--width", "5:25:3", "--seeds", "2"],
    "train": ["train", "--P", "11", "--width", "40", "--train-fraction", "0.5", "--steps", "60",
              "--log-every", "20", "--seeds", "2"],
    "rfm": ["rfm", "--P", "7", "--train-fraction", "0.5", "--iterations", "3", "--seeds", "2"],
    "atlas": ["atlas", "--P", "7,11", "--train-fraction", "0.4:0.8:2", "--seeds", "2", "--methods",
              "kernel-nngp,rfm-quadratic,gd,analytic", "--rfm-iterations", "3", "--gd-steps", "20", "--net-width", "16"],
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def method_file(request, tmp_path_factory):
    from click.testing import CliRunner

    from adaptive_kernel.cli import main

    kind = request.param
    if RUNS[kind][0] not in main.commands:
        pytest.skip(f"no 'phasesim {RUNS[kind][0]}' command")
    out = tmp_path_factory.mktemp(kind) / f"{kind}.h5"
    res = CliRunner().invoke(main, [*RUNS[kind], "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return kind, out


def test_the_file_has_its_kind_and_loads(method_file):
    kind, path = method_file
    assert kinds.kind_of(path) == kind
    obj = kinds.load(path)
    assert obj.kind == kind


def test_info_describes_the_file(phasesim, method_file):
    kind, path = method_file
    res = phasesim("info", path)
    assert res.exit_code == 0, res.output
    assert f"file:       {path}" in res.stdout
    assert kind in res.stdout and "command:" in res.stdout and "Traceback" not in res.output


def test_every_figure_draws(phasesim, method_file, tmp_path):
    kind, path = method_file
    figures, default = kinds.figures_for(kind)
    listing = phasesim("plot", path, "--kind", "list")
    assert listing.exit_code == 0, listing.output
    assert f"{default} (default)" in listing.stdout
    for name in figures:
        assert name in listing.stdout
        out = tmp_path / f"{name}.png"
        res = phasesim("plot", path, "--kind", name, "-o", out, "--size", "7,5")
        assert res.exit_code == 0, (name, res.output)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = phasesim("plot", path, "-o", tmp_path / "default.png")   # the default figure
    assert res.exit_code == 0, res.output


def test_a_wrong_figure_or_scan_option_is_one_line_exit_2(phasesim, method_file, tmp_path):
    kind, path = method_file
    for args, needle in ((["--kind", "landscape"], "--kind must be one of"),
                         (["--sigma2", "0.2"], "--sigma2")):
        res = phasesim("plot", path, *args, "-o", tmp_path / "x.png")
        assert res.exit_code == 2, res.output
        assert needle in res.stderr and "Traceback" not in res.output
        assert not (tmp_path / "x.png").exists()


def test_figures_are_registered_for_exactly_the_method_kinds():
    assert {k for k in kinds.known_kinds() if kinds.figures_for(k) is not None} == set(RUNS)
    for k in ("scan", "phase_diagram", "langevin"):
        assert kinds.figures_for(k) is None
