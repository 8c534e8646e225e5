"""The Chinese appendix's figures in Chinese (issue 18): the headline-probability and
distribution figures are drawn again with the ``label_zh`` labels and the catalogue's
words, embedded as TrueType (no Type 3), and the Chinese appendix includes those."""

import subprocess

import pytest

from analysis.appendix.blocks import Fig
from analysis.appendix.translated import language_blocks
from analysis.figures.data import load_run
from mcsens.runner import run_study
from tests.test_appendix_zh import _write
from tests.helpers import need, pdf_fonts


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory):
    """A run and the blocks of its Chinese appendix, given the English appendix's two figures."""
    folder = tmp_path_factory.mktemp("zhfig")
    run = run_study(_write(folder), samples=64, out=folder / "runs", figures=False, appendix=False)
    english = {"probability": ("uncertainty", "Probability.", 3.5), "distribution-y": ("uncertainty", "Y.", 3.5)}
    return run, language_blocks(load_run(run), english, "zh")


def _text(pdf) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def test_the_chinese_appendix_includes_its_own_figures(zh_run):
    run, blocks = zh_run
    figs = [b for b in blocks if isinstance(b, Fig)]
    assert [f.name for f in figs] == ["probability-zh", "distribution-y-zh"]
    assert figs[0].caption == "各标题结论成立的概率及其 95% 区间。"
    assert all(0 < f.width_in <= 7.3 for f in figs)  # read back from the PNG: within the page


def test_the_chinese_figures_speak_chinese_in_truetype(zh_run):
    need("pdffonts", "pdftotext")
    run, _ = zh_run
    prob, dist = run / "figures" / "probability-zh.pdf", run / "figures" / "distribution-y-zh.pdf"
    assert "欧洲：值得一试" in _text(prob) and "结论成立的概率（95% 区间）" in _text(prob)
    text = _text(dist)
    assert all(w in text for w in ("净收益", "密度", "中位数", "均值", "的抽样")), text
    assert "Density" not in text and "Median" not in text
    for pdf in (prob, dist):
        found = pdf_fonts(pdf)
        assert "BousungEG-Light-GB" in {n for n, _ in found}  # AR PL SungtiL GB, the Song face
        assert {k for _, k in found} == {"CID TrueType"}, found
