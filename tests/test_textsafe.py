"""Escaping of user text for LaTeX and Markdown: exact mappings and round-trip properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.textsafe import latex_escape, markdown_escape, plain

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
               "textgreater", "textbar", "ensuremath", "S", "ldots", "le", "ge", "ne",
               "approx", "pm", "times", "to", "infty", "cdot", "in", "forall", "exists",
               "wedge", "vee", "neg", "varsigma", "allowbreak"}


def _unescape_latex(s: str) -> str:
    inverse = {v: k for k, v in SPECIALS.items()}
    inverse.update({r"\textless{}": "<", r"\textgreater{}": ">", r"\textbar{}": "|"})
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
    bare = re.sub(r"\\([A-Za-z]+\{\}|[{}$&#%_])", "", out)
    assert not set(bare) & set("\\{}$&#%_^~")


def _unescape_md(s: str) -> str:
    s = re.sub(r"\\(.)", r"\1", s)
    return s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@settings(max_examples=200, deadline=None)
@given(_ascii)
def test_markdown_escape_round_trips_and_hides_markup(text):
    out = markdown_escape(text)
    assert _unescape_md(out) == plain(text)
    bare = re.sub(r"\\.", "", out)
    assert not set(bare) & set("|<>*_`[]$\\")


def test_markdown_table_and_html_injection_are_inert():
    assert markdown_escape("a|b <script>x</script> $y$ *z*") == (
        r"a\|b &lt;script&gt;x&lt;/script&gt; \$y\$ \*z\*")
