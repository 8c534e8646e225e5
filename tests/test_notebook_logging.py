"""Stage lines and the closing summary of ``run_study`` where nobody configured logging (a
notebook, a plain script), and exactly once where the host program did (issue 18)."""

import io
import logging

import pytest

from mcsens import run_study
from mcsens import talk
from mcsens.talk import LOGGER
from tests.helpers import ROOT

ISHIGAMI = ROOT / "params" / "ishigami.toml"


def _run(tmp_path):
    return run_study(ISHIGAMI, samples=64, out=tmp_path, figures=False, appendix=False)


def _stage_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "ishigami" in ln]


@pytest.fixture
def bare_logging(monkeypatch):
    """A process as a notebook kernel starts: no handler on the root logger nor on ``mcsens``.

    pytest puts its capturing handlers on the root when the test body starts, after the
    fixtures: the fixture's value removes them, called first thing in the test.
    """
    def bare():
        monkeypatch.setattr(logging.getLogger(), "handlers", [])

    monkeypatch.setattr(LOGGER, "handlers", [])
    monkeypatch.setattr(LOGGER, "propagate", True)
    monkeypatch.setattr(LOGGER, "level", logging.NOTSET)
    return bare


def test_without_logging_configured_the_stages_and_summary_go_to_stderr_and_the_handler_leaves(
        bare_logging, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(talk, "_in_notebook", lambda: True)  # as in Jupyter: lines without timestamps
    bare_logging()
    run_dir = _run(tmp_path)
    err = capsys.readouterr().err
    assert err.startswith("ishigami: evaluating the sobol design, 512 model runs (512 left)\n")
    assert err.count("ishigami: analysis\n") == 1
    lines = err.splitlines()
    assert lines[lines.index("ishigami: complete, N = 64"):] == [
        "ishigami: complete, N = 64",
        "  headline y_positive P = 0.87 [0.82, 0.91]",
        "  top drivers of y (total-order index): x1 0.71 [0.13, 1.29]; x2 0.44 [0.21, 0.67]; x3 0.35 [0.14, 0.56]",
        "  convergence: NOT converged (some total-order interval is wider than the tolerance; try "
        "--until-converged or a larger --samples)",
        f"  files: {run_dir} (indices.csv)"]
    # Nothing is left behind: the next log line of the host program is its own business.
    assert LOGGER.handlers == [] and LOGGER.level == logging.NOTSET


def test_a_level_the_user_set_on_the_logger_is_kept(bare_logging, tmp_path, capsys):
    bare_logging()
    LOGGER.setLevel(logging.WARNING)
    _run(tmp_path)
    assert _stage_lines(capsys.readouterr().err) == []
    assert LOGGER.level == logging.WARNING


def test_with_the_users_logging_configured_each_line_appears_once_through_it(bare_logging, tmp_path, capsys):
    bare_logging()
    mine = io.StringIO()
    handler = logging.StreamHandler(mine)
    handler.setFormatter(logging.Formatter("mine %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        _run(tmp_path)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    assert _stage_lines(capsys.readouterr().err) == []  # no handler of ours beside the user's
    lines = mine.getvalue().splitlines()
    assert lines.count("mine mcsens ishigami: complete, N = 64") == 1
    assert lines.count("mine mcsens ishigami: analysis") == 1
    assert LOGGER.handlers == []
