"""The module map of the three packages: lines per module and the largest functions.

    python benchmarks/module_map.py [ROOT] [--top K]

prints, for ``study/``, ``analysis/`` and ``mcsens/`` under ROOT (default: the checkout
this file is in), each module's number of lines, each package's total, and the ``K``
(default 10) largest functions and methods with their line counts (from ``ast``: the
lines from ``def`` to the function's last line, its docstring included). Run it before
and after a restructuring to see what moved.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGES = ("study", "analysis", "mcsens")


def modules(root: Path) -> list[tuple[str, int]]:
    """``(module path, lines)`` of every Python file of the packages, in path order."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            out.append((str(path.relative_to(root)), len(path.read_text(encoding="utf-8").splitlines())))
    return out


def functions(root: Path) -> list[tuple[int, str]]:
    """``(lines, "module:qualified name")`` of every function and method of the packages."""
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            rel = str(path.relative_to(root))
            out += [(n, f"{rel}:{q}") for q, n in _walk(tree, "")]
    return out


def _walk(node, prefix: str):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                yield name, child.end_lineno - child.lineno + 1
            yield from _walk(child, name + ".")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    root = Path(args.root)
    mods = modules(root)
    for pkg in PACKAGES:
        rows = [(m, n) for m, n in mods if m.startswith(pkg + "/")]
        print(f"{pkg}/: {len(rows)} modules, {sum(n for _, n in rows)} lines")
        for m, n in rows:
            print(f"  {n:5d}  {m}")
    print("largest functions (lines):")
    for n, name in sorted(functions(root), key=lambda t: (-t[0], t[1]))[:args.top]:
        print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
