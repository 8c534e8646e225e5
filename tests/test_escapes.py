"""No escape from text (issue 12): a study whose model names and labels its outputs with
hostile strings runs through the real command line to a complete run whose appendix
compiles, prints every name literally and executes nothing, whose CSV files hold no
spreadsheet formula, whose file names stay inside the run and whose figures draw
``$...$`` labels as written.

The output with hostile element labels is analysed without being named ``key_output`` or
a headline, which must have no dimension but ``sample`` (the model contract).

One run of a two-input model (``study run``, figures, appendix, XeLaTeX) is shared by
every test here; it is the one slow test of this area (about 20 s on 2 cores).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from analysis.textsafe import markdown_cell, mathtext_escape, slug

ROOT = Path(__file__).resolve().parents[1]

# The attack, behind a letter because netCDF names must start with one.
TEX = r"a}\input{^^2fetc^^2fhostname}\label{z"
# \input of a file TeX can find (on TEXINPUTS): were it executed, its text would show.
CANARY = r"c}\input{canary}\label{"
SHELL = "w\\write18{touch pwned} %#~^^M \u202eRTL\u200bzw"
FORMULA = "h=cmd|' -C calc'!A0"
LABEL = r"$\input{x}$ $\frac$ "  # mathtext raises on \input: a crash before the fix
# Starts with "[": in a table's first column it follows "\\", which takes "[...]" for an argument.
X1 = "[1] " + LABEL + "x1 $x^2_i$"
PLACES = ["../../x", "a/b", "=1+1", "A/B"]

MODEL = f'''
import xarray as xr

PLACES = {PLACES!r}


def evaluate(x):
    y = x.x1 + 2 * x.x2
    place = xr.DataArray(PLACES, dims="place", name="place")
    out = xr.Dataset({{
        {TEX!r}: xr.concat([y, -y, y * y, y + 3], dim=place),
        {CANARY!r}: (y > 0.8).astype(float),
        {SHELL!r}: (y > 1).astype(float),
        {FORMULA!r}: (y > 1.2).astype(float),
    }})
    for k in out:
        out[k].attrs["label"] = {LABEL!r} + k
        out[k].attrs["description"] = "desc _u_ [l](http://e) <b>x</b> | " + k
    return out
'''


def _toml(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


STUDY = f'''
[study]
name = "hostile"
model = "hostile_model:evaluate"

[sampling]
method = "sobol"
samples = 64
seed = 3
second_order = false
replicates = 4

[analysis]
methods = ["sobol"]
headline = [{_toml(SHELL)}, {_toml(FORMULA)}, {_toml(CANARY)}]
outputs = [{_toml(TEX)}]

[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0
label = {_toml(X1)}

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 1.0
label = "-x2 =1+1"
description = "=SUM(A1)"
'''

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} must be installed in CI")
        pytest.skip(f"{missing} not installed")


def _cli(*args, cwd: Path, env=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "study", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    _need("xelatex", "pdftotext")
    root = tmp_path_factory.mktemp("escapes")
    (root / "study").mkdir()
    (root / "study" / "hostile_model.py").write_text(MODEL, encoding="utf-8")
    (root / "study" / "hostile.toml").write_text(STUDY, encoding="utf-8")
    (root / "tex").mkdir()
    (root / "tex" / "canary.tex").write_text("CANARYTEXTREAD\n")
    proc = _cli("run", root / "study" / "hostile.toml", "--out", root / "runs", cwd=root,
                env={"TEXINPUTS": f"{root / 'tex'}{os.pathsep}"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Path(proc.stdout.strip().splitlines()[-1])
    assert run.parent == root / "runs" / "hostile"
    return run


def _squash(s: str) -> str:
    """PDF text without line breaks or hyphenation; TeX prints ' as a right quote."""
    return re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", s)).replace("'", "\u2019")


@pytest.mark.latex
@pytest.mark.slow
def test_run_completes_and_its_appendix_compiles(run):
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["appendix_pdf"] == "compiled with xelatex"


@pytest.mark.latex
@pytest.mark.slow
def test_pdf_prints_every_name_literally_and_executes_nothing(run):
    app = run / "appendix"
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", "appendix.pdf", "-"], cwd=app,
                          capture_output=True, text=True, check=True).stdout
    flat = _squash(text)
    for name in (TEX, CANARY, FORMULA, X1, "-x2 =1+1", "=SUM(A1)"):
        assert _squash(name) in flat, name
    # The invisible characters are shown, not obeyed.
    assert _squash(r"w\write18{touch pwned} %#~^^M [U+202E]RTL[U+200B]zw") in flat
    log = (app / "appendix.log").read_text(encoding="utf-8", errors="replace")
    assert "CANARYTEXTREAD" not in text and "canary.tex" not in log
    assert "/etc/hostname" not in log and "(/etc" not in log
    assert not list(run.parent.parent.parent.rglob("pwned"))
    assert "Missing character" not in log


@pytest.mark.latex
@pytest.mark.slow
def test_tex_labels_and_graphics_use_slugs(run):
    body = (run / "appendix" / "appendix-body.tex").read_text(encoding="utf-8")
    for arg in re.findall(r"\\(?:label|ref|includegraphics(?:\[[^]]*\])?)\{([^}]*)\}", body):
        assert re.fullmatch(r"(\\studyrundir figures/)?[A-Za-z0-9_:./-]+", arg), arg
    assert rf"\label{{tab:hostile-indices-{slug(TEX)}-{slug('../../x')}}}" in body
    assert rf"figures/indices-{slug(TEX)}.pdf}}" in body
    # The only \input in the body is the one its header comment suggests.
    assert [ln for ln in body.splitlines() if r"\input" in ln and not ln.startswith("%")] == []


@pytest.mark.latex
@pytest.mark.slow
def test_markdown_holds_no_live_markup(run):
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert "<b>" not in md and "</b>" not in md
    assert "](http://e)" not in md.replace(r"\](http://e)", "")  # every such link is broken
    # The figures take the first analysed output for the key one.
    row = f"| {markdown_cell(TEX)} | key output | place | "
    assert row + markdown_cell(f"desc _u_ [l](http://e) <b>x</b> | {TEX}") + " |" in md
    # Images point at the slugged files that exist.
    for target in re.findall(r"\]\(\.\./figures/([^)]*)\)", md):
        assert (run / "figures" / target).is_file(), target


def _cells(path: Path):
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            yield from row


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.latex
@pytest.mark.slow
def test_no_csv_cell_is_a_formula(run, tmp_path):
    out = tmp_path / "cmp"
    proc = _cli("compare", run, run, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = [run / "indices.csv", run / "scenarios.csv", run / "scenarios_tree.csv",
             out / "compare.csv", *sorted((run / "appendix" / "tables").glob("*.csv"))]
    assert len(files) > 8
    for path in files:
        bad = [c for c in _cells(path) if c.startswith(FORMULA_START) and not _is_number(c)]
        assert bad == [], (path.name, bad)
    cells = set(_cells(run / "indices.csv"))
    assert "'=1+1" in cells and "=1+1" not in cells
    # Negative numbers stay numbers (the "-y" cell has negative means).
    assert any(_is_number(c) and c.startswith("-") for c in _cells(run / "indices.csv"))
    factors = set(_cells(run / "appendix" / "tables" / "factors.csv"))
    assert {X1, "'-x2 =1+1", "'=SUM(A1)"} <= factors
    assert f"{LABEL}{FORMULA}" in set(_cells(out / "compare.csv"))  # starts with $: harmless


@pytest.mark.latex
@pytest.mark.slow
def test_file_names_stay_inside_the_run(run):
    names = [p.name for p in (run / "figures").iterdir()]
    names += [p.name for p in (run / "appendix" / "tables").iterdir()]
    for n in names:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.(pdf|png|tex|csv)", n), n
    stems = {p.stem for p in (run / "appendix" / "tables").glob("indices-*.csv")}
    assert stems == {f"indices-{slug(TEX)}-{slug(p)}" for p in PLACES}
    assert len({s.casefold() for s in stems}) == 4  # "a/b" and "A/B" apart everywhere
    outside = {p.relative_to(run.parents[2]).parts[0] for p in run.parents[2].iterdir()}
    assert outside == {"study", "tex", "runs"}


@pytest.mark.latex
@pytest.mark.slow
def test_figures_draw_dollar_labels_as_written(run):
    from matplotlib.text import Text

    from analysis.figures import figure_specs, load_run

    figs = {p.stem for p in (run / "figures").glob("*.pdf")}
    assert {f"{k}-{slug(TEX)}" for k in ("distribution", "indices", "scatter", "convergence")} \
        | {"probability"} <= figs
    spec = next(s for s in figure_specs(load_run(run)) if s.name == f"indices-{slug(TEX)}")
    fig = spec.draw()
    fig.canvas.draw()
    want = X1
    texts = [t for t in fig.findobj(Text) if t.get_text() == mathtext_escape(want)]
    assert texts, [t.get_text() for t in fig.findobj(Text)]
    # What matplotlib draws for that artist: the label as written, and not as mathtext.
    assert all(t._preprocess_math(t.get_text()) == (want, False) for t in texts)
    pdf = subprocess.run(["pdftotext", "-enc", "UTF-8", f"indices-{slug(TEX)}.pdf", "-"],
                         cwd=run / "figures", capture_output=True, text=True, check=True).stdout
    assert _squash(want) in _squash(pdf)
