"""Repository conventions: the README's test command is exactly what CI runs."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_ci_builds_a_fresh_environment_from_the_checkout():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "venv" in ci
    assert "pip install" in ci and "[test]" in ci
    assert "set -e" in ci  # a failing step fails CI
