"""Package architecture: no import cycles, and no task/theory name spelled outside its own
modules and the registry (issue 8's acceptance checks, made executable).

Both checks read the source with :mod:`ast` (nothing is imported), so they see imports
inside functions as well as at module level.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("adaptive_kernel", "simulations")


def _modules():
    """{module name: path} of every module of the package's source trees."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(module, is_package, node, known):
    """Module names imported by one Import/ImportFrom node of ``module``."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n for n in names if n in known] + [
            p for n in names if n not in known
            for p in [".".join(n.split(".")[:k]) for k in range(len(n.split(".")), 0, -1)] if p in known][:1]
    base_parts = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base_parts = base_parts[:len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if sub in known:
            out.append(sub)
        elif base in known:
            out.append(base)
    return out


def import_graph():
    mods = _modules()
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _resolve(m, is_pkg, node, mods):
                    if target != m:
                        graph[m].add(target)
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read_correctly():
    g = import_graph()
    assert "adaptive_kernel.errors" in g["adaptive_kernel.validation"]
    assert "adaptive_kernel.storage" in g["simulations.backends"]
    # a cycle planted in a copy of the graph is found
    g2 = {k: set(v) for k, v in g.items()}
    g2["adaptive_kernel.errors"].add("adaptive_kernel.validation")
    assert ["adaptive_kernel.errors", "adaptive_kernel.validation"] in _cycles(g2)


def test_no_import_cycles():
    assert _cycles(import_graph()) == []


# --------------------------------------------------------------------------------------
# names of tasks and theories
# --------------------------------------------------------------------------------------
NAMES = ("modadd", "cubic")
#: modules allowed to spell task/theory names: the task and theory modules, their numba
#: kernels, the registry, and the network models of each task in simulations
OWNERS = ("adaptive_kernel/tasks/", "adaptive_kernel/teachers/", "adaptive_kernel/registry.py",
          "simulations/models.py", "simulations/_kernels", "simulations/tasks/")


def _docstring_nodes(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _user_facing(tree):
    """ids of string constants that are help texts or messages (user-facing)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg in ("help", "label", "metavar"):
                    for sub in ast.walk(kw.value):
                        out.add(id(sub))
            fn = node.func
            name = getattr(fn, "attr", getattr(fn, "id", ""))
            if name.endswith("Error") or name in ("echo", "warn", "secho", "UsageError",
                                                  "ClickException"):
                for arg in node.args:
                    for sub in ast.walk(arg):
                        out.add(id(sub))
    return out


def name_uses():
    hits = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel.startswith(OWNERS):
                continue
            tree = ast.parse(path.read_text())
            skip = _docstring_nodes(tree) | _user_facing(tree)
            for node in ast.walk(tree):
                if id(node) in skip:
                    continue
                text = None
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                elif isinstance(node, ast.Name):
                    text = node.id
                elif isinstance(node, ast.Attribute):
                    text = node.attr
                if text is not None and text != "CubicSpline" and any(n in text.lower() for n in NAMES):
                    hits.append(f"{rel}:{node.lineno}: {text[:60]!r}")
    return hits


def test_task_names_appear_only_in_their_modules_and_the_registry():
    hits = name_uses()
    assert hits == [], "\n".join(hits)
