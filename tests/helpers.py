"""Small study files written on the fly for the run tests, and the shared test studies."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"
#: Models and study files of the runs that tests/conftest.py makes once per session.
STUDIES = ROOT / "tests" / "studies"

#: The flagship-like study of the figure and appendix tests (tests/conftest.py: alliance_run).
ALLIANCE = STUDIES / "alliance.toml"

#: The hostile description of ``autonomy`` in ``tests/studies/alliance.toml``.
HOSTILE = r"Hostile: \input{/etc/passwd} \write18{touch pwned} 100% & a_b #1 $x^2$ {z} ~ end"
#: The Chinese text in the source of ``russia_capacity`` in the same file.
CHINESE = "俄罗斯并没有可用的资源和精力"

PARAMS = """
[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "triangular"
low = 0.0
mode = 0.3
high = 1.0
"""


#: x1 uniform on [0, 1], x2 normal(0, 0.5): the parameters of the registry and threads tests.
NORMAL_PARAMS = """
[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "normal"
mean = 0.0
sd = 0.5
"""

def write_study(folder: Path, model: str, *, name="t", samples=64, seed=3, methods='["sobol"]',
                extra="", params=PARAMS, replicates=4, chunk_rows=4, constants="",
                description="") -> Path:
    """Write ``<folder>/<name>.toml``: a Sobol' study of ``params`` (default :data:`PARAMS`).

    ``extra`` goes at the end of ``[analysis]``, ``constants`` (TOML text) before the
    parameters; a ``description`` is written when given.
    """
    path = folder / f"{name}.toml"
    described = f'description = "{description}"\n' if description else ""
    path.write_text(f"""[study]
name = "{name}"
model = "{model}"
{described}
[sampling]
method = "sobol"
samples = {samples}
seed = {seed}
second_order = false
replicates = {replicates}
chunk_rows = {chunk_rows}

[analysis]
methods = {methods}
{extra}
{constants}
{params}""")
    return path


def copy_run(run: Path, folder: Path) -> Path:
    """A copy of a session run (tests/conftest.py) under ``folder``, for a test that changes it."""
    return Path(shutil.copytree(run, folder / run.name))


def writable_copy(run_dir: Path, to: Path) -> Path:
    """A writable copy of a sealed run under ``to/<study>/<run>`` (the files keep their bytes,
    so their sha256)."""
    dst = to / run_dir.parent.name / run_dir.name
    shutil.copytree(run_dir, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst

def need(*tools: str) -> None:
    """Skip a test whose command-line tools are missing, except in CI (env CI), where it fails.

    CI installs TeX and poppler (see .ci/run): there a missing engine must not pass silently.
    """
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} must be installed in CI")
        pytest.skip(f"{missing} not installed")


def pdf_fonts(pdf) -> list[tuple[str, str]]:
    """``(name without the subset tag, type)`` of every font ``pdffonts`` lists for ``pdf``.

    The type is its first two words (``CID TrueType``, ``Type 3``, ``Type 1C``).
    """
    import subprocess

    rows = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    out = []
    for row in rows:  # below the two header lines: name, type (one or two words), encoding, ...
        name, rest = row.split(None, 1)
        out.append((name.split("+", 1)[-1], " ".join(rest.split()[:2])))
    return out


def parameter_labels(study_file: Path) -> dict[str, str]:
    """Parameter name -> label, in file order, as the loader reads ``study_file``."""
    from study.spec import load_study

    return {p.name: p.label for p in load_study(study_file).parameters}
