"""Escaping of user text for LaTeX, Markdown, mathtext, CSV and file names: exact mappings
and round-trip properties."""

from __future__ import annotations

import hashlib
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.textsafe import (csv_cell, csv_safe, latex_escape, markdown_cell, markdown_escape,
                               markdown_heading, mathtext_escape, plain, read_csv, slug,
                               unique_names, write_csv)

# What each TeX special must become (Lamport, LaTeX manual §3.2; \textbackslash etc. are
# the text-mode commands that print the character).
SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_\allowbreak{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


@pytest.mark.parametrize("ch", sorted(SPECIALS))
def test_each_tex_special_is_replaced_by_a_printing_command(ch):
    assert latex_escape(f"a{ch}b") == f"a{SPECIALS[ch]}b"


def test_hostile_description_cannot_execute():
    text = r"\input{/etc/passwd} \write18{rm -rf ~} \def\x{1}"
    assert latex_escape(text) == (
        r"\textbackslash{}input\{/etc/passwd\} \textbackslash{}write18\{rm -rf "
        r"\textasciitilde{}\} \textbackslash{}def\textbackslash{}x\{1\}")


@pytest.mark.parametrize("ch, cmd", [("α", r"\alpha"), ("ρ", r"\rho"), ("σ", r"\sigma"),
                                     ("ς", r"\varsigma"), ("τ", r"\tau"), ("χ", r"\chi"),
                                     ("ω", r"\omega"), ("Δ", r"\Delta"), ("≤", r"\le"),
                                     ("×", r"\times"), ("−", "-")])
def test_symbols_without_text_glyphs_go_to_math(ch, cmd):
    assert latex_escape(ch) == rf"\ensuremath{{{cmd}}}"


def test_cjk_and_plain_text_pass_through():
    assert latex_escape("§3.2.1 (俄罗斯并没有可用的资源和精力 …)") == (
        r"\S{}3.2.1 (俄罗斯并没有可用的资源和精力 \ldots{})")


def test_plain_collapses_whitespace_and_drops_control_characters():
    assert plain("a\n\tb\x00\x1b c  ") == "a b c"
    assert plain(None) == ""


# A TeX control word the escaper may emit; anything else after a backslash is an escape.
_SAFE_WORDS = {"textbackslash", "textasciitilde", "textasciicircum", "textless",
               "textgreater", "textbar", "textasciigrave", "ensuremath", "S", "ldots", "le", "ge", "ne",
               "approx", "pm", "times", "to", "infty", "cdot", "in", "forall", "exists",
               "wedge", "vee", "neg", "varsigma", "allowbreak"}


def _unescape_latex(s: str) -> str:
    inverse = {v: k for k, v in SPECIALS.items()}
    inverse.update({r"\textless{}": "<", r"\textgreater{}": ">", r"\textbar{}": "|",
                    r"\textasciigrave{}": "`", "-{}": "-", "'{}": "'", ",{}": ","})
    pattern = "|".join(re.escape(k) for k in sorted(inverse, key=len, reverse=True))
    return re.sub(pattern, lambda m: inverse[m.group(0)], s)


_ascii = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@settings(max_examples=200, deadline=None)
@given(_ascii)
def test_latex_escape_round_trips_and_leaves_no_active_character(text):
    out = latex_escape(text)
    assert _unescape_latex(out) == plain(text)
    for m in re.finditer(r"\\([A-Za-z]+|.)", out):
        assert m.group(1) in _SAFE_WORDS or m.group(1) in "{}$&#%_", m.group(0)
    # Outside escapes no special survives: strip the escapes and look again.
    bare = re.sub(r"\\([A-Za-z]+\{\}|[{}$&#%_])|(?<=[-',])\{\}", "", out)
    assert not set(bare) & set("\\{}$&#%_^~`")
    # No ligature can form: "--", "''" and ",," never stand side by side.
    assert not re.search(r"--|''|,,", out)


def _unescape_md(s: str) -> str:
    s = re.sub(r"\\(.)", r"\1", s)
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _bare_underscores_are_inside_words(bare: str) -> bool:
    return all(0 < m.start() < len(bare) - 1 and bare[m.start() - 1].isalnum()
               and bare[m.start() + 1].isalnum() for m in re.finditer("_", bare))


@settings(max_examples=200, deadline=None)
@given(_ascii)
def test_markdown_cell_round_trips_and_hides_markup(text):
    out = markdown_cell(text)
    assert _unescape_md(out) == plain(text)
    bare = re.sub(r"\\.", "", out)
    assert not set(bare) & set("|<>*`[]$\\~")
    assert _bare_underscores_are_inside_words(re.sub(r"\\.", "\0", out))


@pytest.mark.parametrize("text, want", [
    # Numbers and ordinary punctuation stay as written (another issue: "0\.05").
    ("p = 0.05 (n = 1,000), x-y + z!", "p = 0.05 (n = 1,000), x-y + z!"),
    ("europe_net_benefit_post", "europe_net_benefit_post"),
    ("-0.5 is negative", "-0.5 is negative"),
    ("#1 and 2.5 things", "#1 and 2.5 things"),
    # Block markers at the start of a paragraph.
    ("# heading", r"\# heading"), ("- item", r"\- item"), ("+ item", r"\+ item"),
    ("---", r"\---"), ("1. item", r"1\. item"), ("2024) item", r"2024\) item"),
    # Inline markup anywhere.
    ("_em_ and *b* and `c` and ~~s~~", r"\_em\_ and \*b\* and \`c\` and \~\~s\~\~"),
    ("[x](http://e) ![i](j)", r"\[x\](http://e) !\[i\](j)"),
    ("<img src=x onerror=alert(1)> &amp;", "&lt;img src=x onerror=alert(1)&gt; &amp;amp;"),
    ("$x$ and a\\", r"\$x\$ and a\\"),
])
def test_markdown_escapes_only_what_would_act(text, want):
    assert markdown_escape(text) == want


def test_markdown_cell_and_heading_contexts():
    assert markdown_cell("- a | b") == r"- a \| b"  # no list in a cell; the pipe would split it
    assert markdown_heading("C # and #") == r"C \# and \#"  # a closing sequence would vanish


def test_markdown_table_and_html_injection_are_inert():
    assert markdown_cell("a|b <script>x</script> $y$ *z*") == (
        r"a\|b &lt;script&gt;x&lt;/script&gt; \$y\$ \*z\*")


def test_plain_makes_invisible_characters_visible():
    # Right-to-left override, zero-width space, BOM, a lone surrogate, private use.
    assert plain("ab\u202ecd\u200be\ufefff\ud800g\ue000") == (
        "ab[U+202E]cd[U+200B]e[U+FEFF]f[U+D800]g[U+E000]")
    assert plain("😀 𝑥") == "😀 𝑥"  # visible non-BMP characters stay


def test_latex_breaks_ligatures_and_keeps_tex_notation_inert():
    assert latex_escape("a--b---c ''q'' ,,d `e") == (
        r"a-{}-b-{}-{}-c '{}'q'{}' ,{},d \textasciigrave{}e")
    assert latex_escape(r"}\input{^^2fetc^^2fhostname}\label{z ^^M") == (
        r"\}\textbackslash{}input\{\textasciicircum{}\textasciicircum{}2fetc"
        r"\textasciicircum{}\textasciicircum{}2fhostname\}\textbackslash{}label\{z "
        r"\textasciicircum{}\textasciicircum{}M")


def test_mathtext_escape_is_undone_exactly_by_matplotlib():
    from matplotlib.text import Text

    for text in [r"$\frac{a}{b}$", "$5 to $10", r"a\$b", "$", r"$x^2_i\$", "a\nb $c$"]:
        t = Text(0, 0, mathtext_escape(text))
        shown, is_math = t._preprocess_math(t.get_text())
        assert (shown, is_math) == (text, False)
    assert mathtext_escape(None) == ""


@pytest.mark.parametrize("name, want", [
    ("europe_net_benefit_post", "europe_net_benefit_post"),
    ("Net-benefit_2", "Net-benefit_2"),
    ("../../x", "x-{h}"),
    ("a/b", "a-b-{h}"),
    ("..", "x{h}"),
    ("-rf", "rf-{h}"),
    (".hidden", "hidden-{h}"),
    ("CON", "CON-{h}"),
    ("lpt1", "lpt1-{h}"),
    ("a\0b", "a-b-{h}"),
    ("北京", "x{h}"),
])
def test_slug_keeps_safe_names_and_hashes_the_rest(name, want):
    # The documented rule: first 8 hex digits of the SHA-256 of the original name.
    h = hashlib.sha256(name.encode()).hexdigest()[:8]
    got = slug(name)
    assert got == want.format(h=h)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", got)


def test_slug_is_bounded_and_distinguishes_what_it_removes():
    long = "y" * 500
    assert slug(long) == "y" * 60 + "-" + slug(long)[-8:] and len(slug(long)) == 69
    assert slug("a/b") != slug("a.b") != slug("a b")


def test_unique_names_separates_case_and_slug_collisions():
    got = unique_names(["indices-a", "indices-A", "indices-a", "b"])
    assert got[0] == "indices-a" and got[3] == "b"
    assert len({g.casefold() for g in got}) == 4
    assert got[1].startswith("indices-A-") and got[2].startswith("indices-a-")


@pytest.mark.parametrize("value, want", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("'q", "''q"),
    ("a=b", "a=b"), ("", ""), (-1.5, -1.5), (-3, -3), (True, True), (None, None),
])
def test_csv_cell_neutralises_formulas_but_not_numbers(value, want):
    assert csv_cell(value) == want


def test_csv_round_trip_through_write_and_read(tmp_path):
    df = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\",\"y\")", "-x", "ok", "'q", None],
                       "value": [-1.5, 2.0, -0.0, 1e-12, float("nan")],
                       "=col": ["@a", "b", "c", "d", "e"]})
    write_csv(df, tmp_path / "t.csv")
    raw = (tmp_path / "t.csv").read_text()
    assert raw.splitlines()[:3] == ["name,value,'=col", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-1.5,'@a",
                                   "'-x,2.0,b"]
    back = read_csv(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert csv_safe(df)["value"].tolist()[:2] == [-1.5, 2.0]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_slug_is_always_a_safe_bounded_file_stem_and_injective(a, b):
    s = slug(a)
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", s) and len(s) <= 69
    assert s.lower() not in {"con", "prn", "aux", "nul"}
    if a != b:
        assert slug(a) != slug(b)


def test_docstring_examples_hold():
    import doctest

    import analysis.textsafe as textsafe

    result = doctest.testmod(textsafe)
    assert result.attempted >= 15 and result.failed == 0
