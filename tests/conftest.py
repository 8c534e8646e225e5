"""Fixtures shared by the test modules.

Run directories in tests come from the real writer (:func:`mcsens.run_study` on a tiny
model written beside its study file), so that a reader is only ever tested against the
schema the toolkit writes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def real_run(tmp_path):
    """A factory: ``real_run(model, study, **run_study_options) -> run directory``.

    ``model`` is the source of ``model.py`` (its function is ``model:f``) and ``study`` the
    study file's text; both are dedented and written to a fresh folder under ``tmp_path``.
    Figures and the appendix are off unless asked for.
    """
    from mcsens import run_study

    count = 0

    def make(model: str, study: str, **options) -> Path:
        nonlocal count
        count += 1
        folder = tmp_path / f"study{count}"
        folder.mkdir()
        (folder / "model.py").write_text(textwrap.dedent(model))
        path = folder / "study.toml"
        path.write_text(textwrap.dedent(study))
        options = {"out": tmp_path / "runs", "figures": False, "appendix": False} | options
        return run_study(path, **options)

    return make
