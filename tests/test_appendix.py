"""The robustness appendix: files, numbers generated from the run, safe text, and a real
TeX compile whose PDF text is checked with pdftotext."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from analysis.appendix import build_appendix, headline_sentences
from analysis.figures import load_run
from analysis.textsafe import latex_escape, markdown_escape
from tests.synthetic import CHINESE, HOSTILE, LABELS, make_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("run"))
    build_appendix(run)
    return run


def _expected_headline(run: Path) -> str:
    """The headline sentence, rebuilt here from indices.csv with no appendix code."""
    df = pd.read_csv(run / "indices.csv")
    p = df[df["index"] == "P"].iloc[0]
    st = df[(df["output"] == "europe_flip") & (df["index"] == "ST")]
    st = st[st["influential"].astype(str) == "True"].sort_values("value", ascending=False)
    drivers = [f"{LABELS[r.param]} ({r.value:.2f})" for r in st.head(3).itertuples()]
    body = ", ".join(drivers[:-1]) + " and " + drivers[-1]
    return (f"“Europe: not worth it → worth a try” holds in {100 * p.value:.0f}% of draws "
            f"(95% interval {100 * p.conf_low:.0f}–{100 * p.conf_high:.0f}%); its total-order "
            f"variance is driven mainly by {body}.")


def test_files_are_written(run):
    app = run / "appendix"
    for name in ("appendix.tex", "appendix-body.tex", "appendix.md"):
        assert (app / name).is_file()
    tex = sorted(p.stem for p in (app / "tables").glob("*.tex"))
    csv = sorted(p.stem for p in (app / "tables").glob("*.csv"))
    assert tex == csv
    assert {"factors", "design", "headline", "indices-europe_flip", "grouped-europe_flip",
            "convergence", "triangulation", "run-record"} <= set(tex)
    for t in tex:
        text = (app / "tables" / f"{t}.tex").read_text(encoding="utf-8")
        assert r"\toprule" in text and r"\bottomrule" in text


def test_standalone_wrapper_inputs_the_body(run):
    app = run / "appendix"
    wrapper = (app / "appendix.tex").read_text(encoding="utf-8")
    body = (app / "appendix-body.tex").read_text(encoding="utf-8")
    assert r"\documentclass" in wrapper and r"\input{appendix-body}" in wrapper
    assert r"\documentclass" not in body and r"\begin{document}" not in body
    assert r"%   \input{path/to/run/appendix/appendix-body}" in body
    assert r"\providecommand{\studyrundir}{}" in body
    # Chinese sources: the standalone file insists on XeTeX and loads xeCJK.
    assert r"\RequireXeTeX" in wrapper and r"\usepackage{xeCJK}" in wrapper


def test_headline_sentence_is_generated_from_the_data(run):
    want = _expected_headline(run)
    assert headline_sentences(load_run(run)) == [want]
    body = (run / "appendix" / "appendix-body.tex").read_text(encoding="utf-8")
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert latex_escape(want) in body
    assert markdown_escape(want) in md


def test_index_table_csv_equals_indices_csv(run):
    table = pd.read_csv(run / "appendix" / "tables" / "indices-delta_nb_europe.csv")
    src = pd.read_csv(run / "indices.csv")
    src = src[(src["output"] == "delta_nb_europe") & (src["method"] == "sobol")]
    for idx in ("S1", "ST"):
        want = src[src["index"] == idx].set_index("param")["value"]
        got = table.set_index("param")[idx]
        pd.testing.assert_series_equal(got.loc[want.index], want, check_names=False)
    st = src[src["index"] == "ST"].set_index("param")
    assert table.set_index("param")["influential"].to_dict() == (
        st["influential"].astype(str) == "True").to_dict()


def test_factor_table_lists_every_parameter_with_its_source(run):
    f = pd.read_csv(run / "appendix" / "tables" / "factors.csv", keep_default_na=False)
    assert list(f["name"]) == list(LABELS)
    assert f.set_index("name").loc["russia_capacity", "source"] == f"§3.2.1 ({CHINESE} …)"
    assert f.set_index("name").loc["autonomy", "description"] == HOSTILE
    assert f.set_index("name").loc["china_options", "args"] == "mean 0.15, sd 0.05, low 0, high 0.4"


def test_hostile_text_is_escaped_in_every_format(run):
    app = run / "appendix"
    body = (app / "appendix-body.tex").read_text(encoding="utf-8")
    md = (app / "appendix.md").read_text(encoding="utf-8")
    assert latex_escape(HOSTILE) in body
    assert r"\input{/etc" not in body and r"\write18{" not in body
    assert markdown_escape(HOSTILE) in md


@pytest.fixture
def no_figures(monkeypatch):
    """Skip drawing figures where a test is about the text only (saves ~10 s each)."""
    import analysis.appendix as appendix

    monkeypatch.setattr(appendix, "_ensure_figures", lambda data: {})


def test_absent_data_give_one_line_notes(tmp_path, no_figures):
    run = make_run(tmp_path, morris=False, delta=False, convergence=False)
    md = (Path(build_appendix(run)).parent / "appendix.md").read_text(encoding="utf-8")
    for note in ("No convergence data in this run", "Only one sensitivity method in this run",
                 "No scenario discovery in this run", "No model variants were compared"):
        assert note in md
    assert not (run / "appendix" / "tables" / "triangulation.csv").exists()


def test_scenarios_and_variants_are_reported_when_present(tmp_path, no_figures):
    run = make_run(tmp_path, convergence=False)
    pd.DataFrame([
        {"output": "europe_flip", "box": 0, "step": 5, "kind": "chosen", "coverage": 0.8,
         "density": 0.9, "mass": 0.2, "n_restricted": 1, "param": "commitment",
         "label": LABELS["commitment"], "low": 0.31, "high": 0.52, "qp_value": 0.001,
         "significant": True}]).to_csv(run / "scenarios.csv", index=False)
    pd.DataFrame([{"run": "r1", "study": "synthetic", "variant": "baseline",
                   "output": "europe_flip", "output_label": "Europe flips", "p_holds": 0.61,
                   "ci_low": 0.58, "ci_high": 0.64, "driver_1_label": "Autonomy"}]).to_csv(
        run / "compare.csv", index=False)
    md = (Path(build_appendix(run)).parent / "appendix.md").read_text(encoding="utf-8")
    assert "coverage 80%, density 90%, mass 20%, 1 inputs restricted" in md
    assert "| Value of US commitment | 0.310 | 0.520 | 0.001 |" in md  # numbers unescaped
    assert "| synthetic | Europe flips | 61% | 58–64% | Autonomy |" in md
    assert "synthetic: baseline" in md


# ---------------------------------------------------------------------------------------
# Escaping points of the renderers (the whole hostile run is in test_escapes.py).
def test_table_and_figure_names_become_slugs_in_labels_files_and_links():
    from analysis.appendix.blocks import Fig, Table, table_latex, to_latex, to_markdown
    from analysis.textsafe import slug

    bad = r"indices-}\input{x}\label{a/../b"
    t = Table(bad, "cap", ["A"], [["[0.1, 0.2]"], ["*x"]], pd.DataFrame({"a": [1]}))
    tex = table_latex(t, "p-")
    assert rf"\label{{tab:p-{slug(bad, limit=200)}}}" in tex
    assert r"\input" not in tex
    # A cell starting with [ or * after \\ would be \\'s optional argument or star.
    assert "\n{}[0.1, 0.2] \\\\\n{}*x \\\\" in tex
    f = Fig("a/../b", "cap")
    assert rf"figures/{slug('a/../b', limit=200)}.pdf}}" in to_latex([f], prefix="p-")
    assert f"(../figures/{slug('a/../b', limit=200)}.png)" in to_markdown([f])


def test_appendix_tables_with_colliding_names_get_distinct_files(tmp_path, no_figures,
                                                                  monkeypatch):
    import analysis.appendix as appendix
    from analysis.appendix.blocks import Table

    extra = [Table(n, "c", ["A"], [["1"]], pd.DataFrame({"a": ["=1+1"]}))
             for n in ("dup", "dup", "DUP")]
    real = appendix.audit
    monkeypatch.setattr(appendix, "audit", lambda data: real(data) + extra)
    run = make_run(tmp_path, morris=False, delta=False, convergence=False)
    build_appendix(run)
    tables = run / "appendix" / "tables"
    dups = sorted(p.name for p in tables.glob("*.csv") if p.name.lower().startswith("dup"))
    assert len(dups) == 3 and len({d.casefold() for d in dups}) == 3
    assert (tables / "dup.csv").read_text() == "a\n'=1+1\n"


def test_markdown_headings_and_comments_cannot_be_escaped(tmp_path, no_figures):
    run = make_run(tmp_path, morris=False, delta=False, convergence=False)
    study = (run / "study.toml").read_text(encoding="utf-8")
    (run / "study.toml").write_text(study.replace('name = "synthetic"',
                                                  'name = "s #\\n\\\\input{x} #"'),
                                    encoding="utf-8")
    build_appendix(run)
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert md.startswith(r"# Robustness appendix: s \# \\input{x} \#" + "\n")
    body = (run / "appendix" / "appendix-body.tex").read_text(encoding="utf-8")
    # The name sits in TeX comments on one line: nothing after a newline can run.
    assert [ln for ln in body.splitlines() if "input{x}" in ln and not ln.startswith("%")
            and r"\textbackslash{}input" not in ln] == []


# ---------------------------------------------------------------------------------------
# Real TeX. CI installs it (see ../shared/notes/tex.md); a developer machine without TeX
# skips, but CI (env CI set) fails instead, so a missing engine cannot pass silently.
def _need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} must be installed in CI")
        pytest.skip(f"{missing} not installed")


def _compile(appdir: Path, engine: str = "xelatex") -> str:
    """Compile appendix.tex, fail on any LaTeX error, return the PDF's text."""
    _need(engine, "pdftotext")
    proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "appendix.tex"], cwd=appdir,
                          capture_output=True, text=True, timeout=300)
    log = (appdir / "appendix.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Missing character" not in log  # a glyph the fonts lack would vanish silently
    assert "(/etc/passwd" not in log  # \input was never executed
    assert not (appdir / "pwned").exists()
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "appendix.pdf", "-"], cwd=appdir,
                          capture_output=True, text=True, check=True).stdout


def _squash(s: str) -> str:
    """PDF text without line breaks, hyphenation or ligatures, for substring checks.

    TeX typesets a straight apostrophe as a right single quote, so both sides use that.
    """
    return re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", s)).replace("'", "\u2019")


@pytest.mark.latex
def test_appendix_compiles_with_xelatex_and_prints_what_it_should(run):
    text = _compile(run / "appendix")
    flat = _squash(text)
    assert _squash(_expected_headline(run)) in flat
    assert CHINESE in flat
    assert _squash(HOSTILE) in flat


@pytest.mark.latex
def test_appendix_without_cjk_compiles_with_pdflatex(tmp_path):
    run = make_run(tmp_path, cjk=False)
    build_appendix(run)
    assert r"\RequireXeTeX" not in (run / "appendix" / "appendix.tex").read_text()
    text = _compile(run / "appendix", engine="pdflatex")
    assert _squash("Robustness appendix: synthetic") in _squash(text)


@pytest.mark.latex
@pytest.mark.slow
def test_flagship_appendix_from_a_fresh_run(tmp_path):
    """The flagship study, run small, must give an appendix that XeLaTeX compiles."""
    study_file = ROOT / "params" / "asia_pacification.toml"
    from study.cli import main

    assert main(["run", str(study_file), "--samples", "64", "--out", str(tmp_path)]) == 0
    (run,) = [p.parent for p in tmp_path.glob("asia_pacification/*/manifest.json")]
    assert len(list(tmp_path.glob("asia_pacification_*/*/manifest.json"))) == 6  # its variants
    build_appendix(run)
    flat = _squash(_compile(run / "appendix"))
    for sentence in headline_sentences(load_run(run)):
        assert _squash(sentence) in flat
    cjk = [f.source for f in load_run(run).factors if re.search(r"[\u4e00-\u9fff]", f.source)]
    assert cjk and all(_squash(s) in flat for s in cjk[:5])
