"""The layers: ``study`` (bottom) < ``analysis`` < ``mcsens`` (application); no import runs back up.

Every import in every module is read with :mod:`ast`, those inside functions (the lazy ones)
included, as are ``importlib.import_module("...")`` calls with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Bottom first. A module may import its own layer and those below it.
LAYERS = ("study", "analysis", "mcsens")

#: ``python -m study`` has to live in ``study/`` and start the command above it. An entry
#: point is run, never imported by any module, so it adds no dependency to the package.
ENTRY_POINTS = {"study/__main__.py"}


def module_name(path: Path, root: Path) -> str:
    """Dotted name of the module at ``path`` under ``root`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, as ``(line, absolute dotted name)``, lazy imports included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                found.append((node.lineno, node.module))
                continue
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            if node.module:  # from .x import y
                found.append((node.lineno, f"{base}.{node.module}".lstrip(".")))
            else:  # from . import x, y: each name is a module of the package
                found += [(node.lineno, f"{base}.{alias.name}".lstrip(".")) for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")):
            found.append((node.lineno, node.args[0].value))
    return found


def upward_imports(root: Path, layers=LAYERS, exempt=frozenset()) -> list[str]:
    """``"file:line imports name"`` for every import of a higher layer by a lower one."""
    rank = {layer: k for k, layer in enumerate(layers)}
    bad = []
    for layer in layers:
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel in exempt:
                continue
            for line, target in imported_names(path, root):
                top = target.split(".")[0]
                if rank.get(top, -1) > rank[layer]:
                    bad.append(f"{rel}:{line} imports {target}")
    return bad


def test_no_module_of_a_lower_layer_imports_a_higher_one():
    assert upward_imports(ROOT, exempt=ENTRY_POINTS) == []


def test_the_entry_point_is_the_only_exemption_and_it_does_start_the_command():
    assert upward_imports(ROOT) == ["study/__main__.py:3 imports mcsens.cli"]


@pytest.mark.parametrize("source, found", [
    ("def f():\n    from mcsens.runner import run_study\n", "low/m.py:2 imports mcsens.runner"),
    ("import mcsens\n", "low/m.py:1 imports mcsens"),
    ("from .. import mcsens\n", "low/m.py:1 imports mcsens"),
    ("import importlib\nimportlib.import_module('mcsens.cli')\n", "low/m.py:2 imports mcsens.cli"),
    ("from .sibling import x\nimport numpy\n", None),
])
def test_the_check_sees_lazy_relative_and_importlib_imports(tmp_path, source, found):
    for layer in ("low", "mcsens"):
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "low" / "m.py").write_text(source)
    assert upward_imports(tmp_path, layers=("low", "mcsens")) == ([found] if found else [])


def test_relative_imports_resolve_against_the_importing_package(tmp_path):
    (tmp_path / "analysis" / "figures").mkdir(parents=True)
    init = tmp_path / "analysis" / "figures" / "__init__.py"
    init.write_text("from . import data\nfrom ..indices import x\n")
    assert [t for _, t in imported_names(init, tmp_path)] == ["analysis.figures.data", "analysis.indices"]
