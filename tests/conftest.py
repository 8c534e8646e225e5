"""Fixtures shared by the test modules.

Run directories in tests come from the real writer (:func:`mcsens.run_study` on a tiny
model written beside its study file, or on a study of ``tests/studies``), so that a reader
is only ever tested against the schema the toolkit writes.

The session fixtures run each study of ``tests/studies`` once, into a folder of their own;
a test that changes a run's files works on a copy (:func:`tests.helpers.copy_run`).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers import STUDIES


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


def _session_run(factory, study: Path, **options) -> Path:
    """``study`` run by the real writer into a folder of its own, analysis only."""
    from mcsens import run_study

    out = factory.mktemp(study.stem)
    return run_study(study, out=out, figures=False, appendix=False, **options)


@pytest.fixture(scope="session")
def alliance_run(tmp_path_factory) -> Path:
    """``tests/studies/alliance.toml``: Sobol' (second order, groups), Morris and delta, a
    headline, outputs with actor and phase dimensions, hostile and Chinese text."""
    return _session_run(tmp_path_factory, STUDIES / "alliance.toml")


@pytest.fixture(scope="session")
def alliance_figures(alliance_run) -> list[Path]:
    """The alliance run's figures, as :func:`analysis.figures.build_figures` lists them."""
    from analysis.figures import build_figures

    return build_figures(alliance_run)


@pytest.fixture(scope="session")
def alliance_appendix(alliance_run, alliance_figures) -> Path:
    """The alliance run with its appendix built (on the figures already drawn)."""
    from analysis.appendix import build_appendix

    build_appendix(alliance_run)
    return alliance_run


@pytest.fixture(scope="session")
def ascii_run(tmp_path_factory) -> Path:
    """The alliance study without its Chinese characters (study ``alliance-ascii``), for
    the check that such an appendix compiles with pdflatex; its model stays in
    ``tests/studies``."""
    folder = tmp_path_factory.mktemp("ascii_study")
    text = (STUDIES / "alliance.toml").read_text(encoding="utf-8")
    text = re.sub(r"[\u3000-\u9fff]+", "", text).replace('name = "alliance"', 'name = "alliance-ascii"')
    study = folder / "alliance_ascii.toml"
    study.write_text(text, encoding="utf-8")
    return _session_run(tmp_path_factory, study, model_dir=STUDIES)


@pytest.fixture(scope="session")
def sobol_only_run(tmp_path_factory) -> Path:
    """``tests/studies/sobol_only.toml``: Sobol' indices only, no headline, no term breakdown."""
    return _session_run(tmp_path_factory, STUDIES / "sobol_only.toml")


@pytest.fixture(scope="session")
def latin_run(tmp_path_factory) -> Path:
    """``tests/studies/latin_delta.toml``: a Latin hypercube ranked by delta alone, so no
    Sobol' convergence, no second method, no headline and no scenario discovery."""
    return _session_run(tmp_path_factory, STUDIES / "latin_delta.toml")
