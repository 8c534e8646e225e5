"""Every docstring example of the three packages runs, and shows what it claims.

One test per module; a module without examples has nothing to run and is not listed.
Examples that need a run on disk say ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "analysis", "mcsens")
# Run, never imported: importing it would start the command.
NOT_IMPORTABLE = {"study.__main__", "mcsens.__main__"}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if name not in NOT_IMPORTABLE and ">>>" in path.read_text(encoding="utf-8"):
                names.append(name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 or all(e.options.get(doctest.SKIP) for t in tests for e in t.examples)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (printed above)"


def test_the_examples_are_found():
    # The modules known to carry examples; a finder that found none would pass silently.
    assert {"analysis.sobol", "analysis.textsafe", "analysis.triangulation", "mcsens.runner"} <= set(_modules())
