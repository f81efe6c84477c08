"""Repository conventions: the README's test command is exactly what CI runs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_test_commands():
    """Command lines in README.md that run the test suite (``pytest`` in a shell line).

    Lines between ``<!-- ... test ... -->`` marker comments are preferred when present;
    otherwise every line of a fenced code block that mentions pytest counts. A leading
    ``$ `` prompt is dropped.
    """
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    marked = []
    inside = False
    for line in lines:
        s = line.strip()
        if re.match(r"<!--.*test.*-->", s, re.I):
            inside = not inside if not re.search(r"end", s, re.I) else False
            continue
        if inside and "pytest" in s:
            marked.append(s)
    candidates = marked
    if not candidates:
        fenced = False
        for line in lines:
            s = line.strip()
            if s.startswith("```"):
                fenced = not fenced
                continue
            if fenced and "pytest" in s:
                candidates.append(s)
    return [c[2:] if c.startswith("$ ") else c for c in candidates]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    ci_lines = [line.strip() for line in ci.splitlines()]
    assert "python -m pytest" in ci
    for cmd in readme_test_commands():
        assert cmd in ci_lines, f"README test command not verbatim in .ci/run: {cmd!r}"


def readme_setup_commands():
    """The first fenced block of README.md: the install-and-run and the test commands."""
    text = (ROOT / "README.md").read_text()
    m = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert m, "README.md has no fenced code block"
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


def test_ci_runs_both_readme_setup_commands_in_order():
    cmds = readme_setup_commands()
    assert len(cmds) == 2, cmds
    assert "pip install ." in cmds[0] and "phasesim" in cmds[0]
    assert "pytest" in cmds[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    idx = [ci_lines.index(c) if c in ci_lines else -1 for c in cmds]
    assert -1 not in idx, f"README set-up commands not verbatim in .ci/run: {cmds}"
    assert idx[0] < idx[1], "the install-and-run command must come before the test command"
    assert any("phasesim --help" in line for line in ci_lines[idx[1]:])


def test_ci_builds_a_fresh_environment_from_the_checkout():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "venv" in ci
    assert "pip install" in ci and "[test]" in ci
    assert "set -e" in ci  # a failing step fails CI
