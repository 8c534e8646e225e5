"""Escaping of user-supplied text for LaTeX and Markdown.

Labels, descriptions and sources come from study files that anyone can write. In the
appendix they must print exactly as written: a description holding ``\\input{/etc/passwd}``
or ``\\write18{...}`` must appear as those characters and never reach TeX as a command,
and a ``|`` or ``<script>`` must not break a Markdown table or inject HTML.

LaTeX escaping maps every one of TeX's ten special characters to a command that prints
it, so no user text can open a group, start a command or switch into math. Greek letters
and a few mathematical symbols are mapped to math commands because the text fonts of a
plain LaTeX installation (Latin Modern) have no glyphs for them; CJK text passes through
unchanged and is typeset by xeCJK.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["latex_escape", "markdown_escape", "markdown_cell", "plain"]

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    # Identifiers such as europe_net_benefit_post may break after an underscore.
    "_": r"\_\allowbreak{}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Characters that are harmless in TeX's catcodes but print wrongly in OT1/T1 text.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}

_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi "
    "rho sigma tau upsilon phi chi psi omega"
).split()
# Final sigma (U+03C2) sits between rho and sigma, so letters from sigma on shift by one.
_MATH = {chr(0x3B1 + i + (i >= _GREEK.index("sigma"))): "\\" + n
         for i, n in enumerate(_GREEK) if n != "omicron"}
_MATH["\u03c2"] = r"\varsigma"
_MATH["\u03bf"] = "o"
_MATH.update(
    {
        "\u0393": r"\Gamma", "\u0394": r"\Delta", "\u0398": r"\Theta", "\u039b": r"\Lambda",
        "\u039e": r"\Xi", "\u03a0": r"\Pi", "\u03a3": r"\Sigma", "\u03a6": r"\Phi",
        "\u03a8": r"\Psi", "\u03a9": r"\Omega",
        "\u2264": r"\le", "\u2265": r"\ge", "\u2260": r"\ne", "\u2248": r"\approx",
        "\u00b1": r"\pm", "\u00d7": r"\times", "\u2212": "-", "\u2192": r"\to",
        "\u221e": r"\infty", "\u00b7": r"\cdot", "\u2208": r"\in", "\u2200": r"\forall",
        "\u2203": r"\exists", "\u2227": r"\wedge", "\u2228": r"\vee", "\u00ac": r"\neg",
    }
)
_TEXT = {
    "\u00a7": r"\S{}",
    "\u2026": r"\ldots{}",
    "\u2013": "--",
    "\u2014": "---",
    "\u2018": "`",
    "\u2019": "'",
    "\u201c": "``",
    "\u201d": "''",
    "\u00a0": "~",
}
# Math symbols are exact token replacements: \ensuremath lets them sit in text.
_LATEX_TABLE = {
    **_LATEX_SPECIALS,
    **{k: rf"\ensuremath{{{v}}}" for k, v in _MATH.items()},
    **_TEXT,
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_TABLE))
# Control characters other than tab and newline are dropped: TeX would choke on them.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(text: object) -> str:
    """Normalise user text to one clean line: NFC, no control characters, single spaces.

    Parameters
    ----------
    text : object
        Any value; ``None`` becomes the empty string, others go through ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> plain("a\\n  b\\x07")
    'a b'
    """
    if text is None:
        return ""
    s = unicodedata.normalize("NFC", str(text))
    s = _CONTROL_RE.sub("", s)
    return " ".join(s.split())


def latex_escape(text: object) -> str:
    """Escape ``text`` so that LaTeX prints it literally.

    Parameters
    ----------
    text : object
        User-supplied text (label, description, source). ``None`` gives ``""``.

    Returns
    -------
    str
        A string with no active TeX character left: every backslash, brace, dollar,
        ampersand, hash, percent, underscore, tilde and caret is replaced by a command
        that prints it.

    Examples
    --------
    >>> latex_escape(r"\\input{x} 50% & a_b")
    '\\\\textbackslash{}input\\\\{x\\\\} 50\\\\% \\\\& a\\\\_\\\\allowbreak{}b'
    >>> latex_escape("α ≤ 1")
    '\\\\ensuremath{\\\\alpha} \\\\ensuremath{\\\\le} 1'
    """
    return _LATEX_RE.sub(lambda m: _LATEX_TABLE[m.group(0)], plain(text))


_MD_SPECIALS = set("\\`*_{}[]()#+-.!|~^$")
_MD_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def markdown_escape(text: object) -> str:
    """Escape ``text`` for GitHub-flavoured Markdown so that it renders literally.

    Parameters
    ----------
    text : object
        User-supplied text. ``None`` gives ``""``.

    Returns
    -------
    str
        Every Markdown punctuation character (including ``$``, which starts math on
        GitHub, and ``|``, which splits table cells) is backslash-escaped; ``<`` and
        ``&`` become HTML entities so no tag or entity can be injected.

    Examples
    --------
    >>> markdown_escape("a_b | <b>$x$</b>")
    'a\\\\_b \\\\| &lt;b&gt;\\\\$x\\\\$&lt;/b&gt;'
    """
    out = []
    for ch in plain(text):
        if ch in _MD_HTML:
            out.append(_MD_HTML[ch])
        elif ch in _MD_SPECIALS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def markdown_cell(text: object) -> str:
    """Escape ``text`` for a Markdown table cell (same as :func:`markdown_escape`).

    Kept separate so that a future change to cell rules (e.g. line breaks as ``<br>``)
    has one home.
    """
    return markdown_escape(text)
