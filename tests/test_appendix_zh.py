"""The Chinese appendix ([report] languages = ["en", "zh"]): written from the one catalogue,
compiled with XeLaTeX, and read back with pdftotext."""

from __future__ import annotations

import re
import subprocess

import pandas as pd
import pytest

from analysis.appendix import build_appendix
from analysis.appendix.lang import GLOSSARY
from analysis.figures import FigureSpec
from mcsens.cli import main
from mcsens.runner import run_study
from tests.helpers import need as _need
from tests.test_appendix import _squash

MODEL = '''
import xarray as xr


def evaluate(x):
    y = x.x1 + x.x2 - 1
    ok = (y > 0).astype(float).assign_attrs(label="Europe: worth a try", label_zh="欧洲：值得一试")
    holds = (x.x1 > 0.7).astype(float).assign_attrs(
        role="claim", kind="tested", statement="x1 exceeds 0.7", statement_zh="边际损失减少",
        passage="「边际损失」", section="§3.2")
    return xr.Dataset({"ok": ok, "y": y.assign_attrs(label="Net gain", label_zh="净收益"), "claim_q": holds})
'''

STUDY = '''[study]
name = "zh_demo"
model = "zh_model:evaluate"

[sampling]
method = "sobol"
samples = 256
seed = 3
second_order = false
replicates = 4
chunk_rows = 4096

[analysis]
methods = ["sobol"]
headline = ["ok"]
key_output = "y"

{report}
[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0
label = "Russia's residual capacity"
label_zh = "俄罗斯的剩余能力"

[parameters.x2]
distribution = "triangular"
low = 0.0
mode = 0.3
high = 1.0
label = "China's options"
'''


def _pdf_text(pdf):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def _write(folder, report='[report]\nlanguages = ["en", "zh"]\n'):
    (folder / "zh_model.py").write_text(MODEL, encoding="utf-8")
    path = folder / "zh_demo.toml"
    path.write_text(STUDY.format(report=report), encoding="utf-8")
    return path


def _tiny_figure(run):
    """A one-inch probability figure (PDF, and the 300-dpi PNG the appendix reads its width
    from), so the Chinese caption can be checked without drawing all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    (run / "figures").mkdir(exist_ok=True)
    fig.savefig(run / "figures" / "probability.pdf")
    fig.savefig(run / "figures" / "probability.png", dpi=300)
    plt.close(fig)


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory):
    import analysis.appendix as appendix

    folder = tmp_path_factory.mktemp("zh")
    run = run_study(_write(folder), out=folder / "runs", figures=False, appendix=False)
    _tiny_figure(run)
    keep = appendix._main_figures
    appendix._main_figures = lambda data: [FigureSpec("probability", "uncertainty", "Probability.", None)]
    try:
        build_appendix(run)
    finally:
        appendix._main_figures = keep
    return run


def test_the_chinese_appendix_is_written_beside_the_english_one(zh_run):
    app = zh_run / "appendix"
    for name in ("appendix.tex", "appendix-body.tex", "appendix.md", "appendix.zh.tex",
                 "appendix-body-zh.tex", "appendix.zh.md"):
        assert (app / name).is_file(), name
    wrapper = (app / "appendix.zh.tex").read_text(encoding="utf-8")
    assert r"\input{appendix-body-zh}" in wrapper and r"\usepackage{xeCJK}" in wrapper
    assert r"\renewcommand{\tablename}{表}" in wrapper
    english = (app / "appendix.md").read_text(encoding="utf-8")
    assert "稳健性" not in english and "术语表" not in english  # the English appendix stays English


def test_labels_fall_back_to_english(zh_run):
    md = (zh_run / "appendix" / "appendix.zh.md").read_text(encoding="utf-8")
    assert "| 俄罗斯的剩余能力 (x1) | 均匀分布：下限 0, 上限 1 |" in md
    assert "| China's options (x2) |" in md  # no label_zh: the English label


@pytest.mark.latex
def test_the_chinese_appendix_compiles_and_prints_the_numbers_and_the_glossary(zh_run):
    from analysis.appendix import compile_pdf

    _need("xelatex", "pdftotext")
    app = zh_run / "appendix"
    pdf, how = compile_pdf(zh_run)  # what `study appendix` and `study run` call
    assert (pdf, how) == (app / "appendix.pdf", "compiled with xelatex (also appendix.zh.pdf)")
    log = (app / "appendix.zh.log").read_text(encoding="utf-8", errors="replace")
    assert "Missing character" not in log and "Overfull" not in log  # every section here is generated
    flat = _squash(_pdf_text(app / "appendix.zh.pdf"))
    p = pd.read_csv(zh_run / "indices.csv").query("index == 'P' and output == 'ok'").iloc[0]
    printed = f"{100 * p.value:.0f}%"
    lo, hi = f"{100 * p.conf_low:.0f}", f"{100 * p.conf_high:.0f}%"
    assert _squash(f"“欧洲：值得一试”在 {printed} 的抽样中成立（95% 区间 {lo}–{hi}）") in flat
    for term, english in GLOSSARY:
        assert term in flat and _squash(english) in flat
    for words in ("稳健性附录：zh_demo", "假设变动下的稳健性", "受检验的论断", "边际损失减少", "俄罗斯的剩余能力",
                  "表1", "图1", "各标题结论成立的概率及其95%区间。"):
        assert _squash(words) in flat, words
    claim = pd.read_csv(app / "tables" / "claims-tested.csv").iloc[0]
    assert _squash(f"它仅在 {100 * claim.p_holds:.0f}% 的抽样中成立") in flat  # a failing claim, said in Chinese
    # The English appendix, compiled from the same run, still carries its English headline.
    assert _squash(f"“Europe: worth a try” holds in {printed} of draws") in _squash(_pdf_text(pdf))


def test_default_is_english_only(tmp_path, monkeypatch):
    import analysis.appendix as appendix

    monkeypatch.setattr(appendix, "_main_figures", lambda data: [])
    run = run_study(_write(tmp_path, report=""), out=tmp_path / "runs", figures=False, appendix=False)
    build_appendix(run)
    assert not list((run / "appendix").glob("*zh*"))


@pytest.mark.parametrize("report,message", [
    ('[report]\nlanguages = ["en", "fr"]\n', "report.languages: must contain only ['en', 'zh']; got 'fr'"),
    ('[report]\nlanguages = "zh"\n', "report.languages: must be a list of strings; got 'zh'"),
    ('[report]\nlanguages = ["zh", "zh"]\n',
     "report.languages: must list each of ['en', 'zh'] at most once, and at least one; got ['zh', 'zh']"),
    ('[report]\nlanguage = ["zh"]\n', "report.language: unknown key (did you mean 'languages'?)"),
])
def test_bad_report_languages_give_one_line(tmp_path, capsys, report, message):
    path = _write(tmp_path, report=report)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {path}: {message}\n"
    assert not re.search("Traceback", err)
