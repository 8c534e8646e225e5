"""Safe passage of user- and model-supplied text into LaTeX, Markdown, figures, CSV files
and file names.

Labels, descriptions and sources come from study files that anyone can write, and output
names, attributes and coordinate labels come from the model. Wherever they land they must
print exactly as written and do nothing else:

- LaTeX (:func:`latex_escape`): a name holding ``\\input{/etc/passwd}``, ``\\write18{...}``
  or TeX's ``^^2f`` notation appears as those characters and never reaches TeX as a command;
- Markdown (:func:`markdown_escape`, :func:`markdown_cell`, :func:`markdown_heading`): a
  ``|``, ``<script>`` or ``[link](...)`` cannot break a table or inject markup;
- matplotlib (:func:`mathtext_escape`): a ``$...$`` label is drawn as written, not parsed
  as mathtext (which crashes on anything it does not know, e.g. ``$\\input$``);
- CSV (:func:`csv_safe`, :func:`write_csv`, :func:`read_csv`): a cell such as
  ``=HYPERLINK(...)`` is not run as a spreadsheet formula;
- file names and TeX labels (:func:`slug`, :func:`unique_names`): ``../../x`` or ``a/b``
  cannot leave a folder or collide with another name.

LaTeX escaping maps every one of TeX's ten special characters to a command that prints
it, so no user text can open a group, start a command or switch into math. Greek letters
and a few mathematical symbols are mapped to math commands because the text fonts of a
plain LaTeX installation (Latin Modern) have no glyphs for them; CJK text passes through
unchanged and is typeset by xeCJK.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

import pandas as pd

__all__ = ["latex_escape", "markdown_escape", "markdown_cell", "markdown_heading", "plain",
           "mathtext_escape", "slug", "unique_names", "csv_cell", "csv_safe", "write_csv",
           "read_csv"]

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
    # TeX's ligatures would print ``--`` as an en dash, ``''`` as a closing quote and
    # ``!` `` as an inverted exclamation mark: an empty group keeps the characters apart.
    "`": r"\textasciigrave{}",
}
_LIGATURE_BREAKS = {"-": "-{}", "'": "'{}", ",": ",{}"}  # each when the next is the same

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
_LATEX_RE = re.compile("|".join([*(f"{re.escape(c)}(?={re.escape(c)})" for c in _LIGATURE_BREAKS),
                                  *(re.escape(k) for k in _LATEX_TABLE)]))
# Control characters other than tab and newline are dropped: TeX would choke on them.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Invisible or unprintable code points (bidi overrides, zero-width characters, surrogates,
# private use, unassigned): shown as [U+XXXX], so a name cannot hide or reorder its text.
_HIDDEN_CATEGORIES = {"Cf", "Cs", "Co", "Cn"}


def plain(text: object) -> str:
    """Normalise user text to one clean line: NFC, no control characters, single spaces.

    Invisible code points (Unicode categories Cf, Cs, Co and Cn: right-to-left
    overrides, zero-width spaces and joiners, lone surrogates, private-use and
    unassigned characters) are written as ``[U+XXXX]`` so that a reader sees them.

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
    >>> plain("abc\\u202edef")
    'abc[U+202E]def'
    """
    if text is None:
        return ""
    s = unicodedata.normalize("NFC", str(text))
    s = _CONTROL_RE.sub("", s)
    s = "".join(f"[U+{ord(c):04X}]" if unicodedata.category(c) in _HIDDEN_CATEGORIES else c
                for c in s)
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
        that prints it, so neither ``\\input`` nor ``^^`` notation can act. Ligatures
        (``--``, ``''``, ``,,``) are broken so that the characters print as written.

    Examples
    --------
    >>> latex_escape(r"\\input{x} 50% & a_b")
    '\\\\textbackslash{}input\\\\{x\\\\} 50\\\\% \\\\& a\\\\_\\\\allowbreak{}b'
    >>> latex_escape("α ≤ 1")
    '\\\\ensuremath{\\\\alpha} \\\\ensuremath{\\\\le} 1'
    """
    return _LATEX_RE.sub(_latex_token, plain(text))


def _latex_token(m: re.Match) -> str:
    tok = m.group(0)
    return _LATEX_TABLE[tok] if tok in _LATEX_TABLE else _LIGATURE_BREAKS[tok]



_MD_ALWAYS = {
    "\\": "\\\\",
    "`": "\\`",  # code spans
    "*": "\\*",  # emphasis, also inside words
    "[": "\\[",  # links, images, footnotes
    "]": "\\]",
    "~": "\\~",  # strikethrough
    "$": "\\$",  # math on GitHub
    "<": "&lt;",  # HTML tags and autolinks
    ">": "&gt;",  # HTML, and a quote at the start of a line
    "&": "&amp;",  # entities
}
# Only at the start of a block do these open a heading, list or thematic break:
# "# x", "- x", "+ x", "---", "1. x", "2) x". "-0.5" or "#1" stay as they are.
_MD_LINE_START = re.compile(r"^(#{1,6}(?=\s|$)|[-+](?=\s|$)|-[-\s]*$)|^(\d{1,9})([.)])(?=\s|$)")


def _md_inline(s: str, extra: str = "") -> str:
    out = []
    for i, ch in enumerate(s):
        if ch in _MD_ALWAYS:
            out.append(_MD_ALWAYS[ch])
        elif ch == "_":
            # An underscore between two letters or digits can neither open nor close
            # emphasis (CommonMark's flanking rules), so identifiers stay readable.
            inner = 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()
            out.append("_" if inner else "\\_")
        elif ch in extra:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def markdown_escape(text: object) -> str:
    r"""Escape ``text`` for a GitHub-flavoured Markdown paragraph so that it renders literally.

    Parameters
    ----------
    text : object
        User-supplied text. ``None`` gives ``""``.

    Returns
    -------
    str
        Only what would act is escaped: backslash, backtick, ``*``, ``[``, ``]``, ``~``
        and ``$`` (GitHub math) everywhere; ``_`` unless it sits inside a word; ``<``,
        ``>`` and ``&`` as HTML entities, so no tag or entity can be injected; and a
        leading heading, list or rule marker. Numbers and ordinary punctuation stay
        as they are (``0.05``, ``(a, b)``, ``x-y``).

    Examples
    --------
    >>> markdown_escape("net_benefit is 0.05 <b>$x$</b>")
    'net_benefit is 0.05 &lt;b&gt;\\$x\\$&lt;/b&gt;'
    >>> markdown_escape("# not a heading [link](http://x)")
    '\\# not a heading \\[link\\](http://x)'
    """
    s = _md_inline(plain(text))
    m = _MD_LINE_START.match(s)
    if m is None:
        return s
    if m.group(1):
        return "\\" + s
    return m.group(2) + "\\" + s[len(m.group(2)):]


def markdown_cell(text: object) -> str:
    r"""Escape ``text`` for a Markdown table cell.

    As :func:`markdown_escape` for inline markup, plus ``|`` (which would split the
    cell); block markers at the start mean nothing inside a cell and are left alone.

    Examples
    --------
    >>> markdown_cell("a | b - c")
    'a \\| b - c'
    """
    return _md_inline(plain(text), extra="|")


def markdown_heading(text: object) -> str:
    r"""Escape ``text`` for the content of an ATX heading (after ``## ``).

    Every ``#`` is escaped, since a trailing run of them would be taken for the
    heading's optional closing sequence and dropped.

    Examples
    --------
    >>> markdown_heading("C #")
    'C \\#'
    """
    return _md_inline(plain(text), extra="#")


def mathtext_escape(text: object) -> str:
    r"""Text for a matplotlib label, tick, legend or title that is drawn as written.

    matplotlib parses any string holding an even number of ``$`` as mathtext, which
    renders ``$x^2$`` as math and raises on anything it does not know (``$\\input$``,
    an unclosed ``{``). Escaping each ``$`` as ``\\$`` makes it plain text; matplotlib
    removes the backslashes again when it draws, so ``Text.get_text()`` differs from
    the user's string but the figure shows it exactly.

    Parameters
    ----------
    text : object
        User- or model-supplied text. ``None`` gives ``""``.

    Returns
    -------
    str
        Each line :func:`plain` (line breaks, e.g. from :func:`textwrap.fill`, are
        kept), with every ``$`` preceded by a backslash. Not idempotent: apply it once,
        where the text meets matplotlib, and after any wrapping or shortening (which
        could split a ``\$``).

    Examples
    --------
    >>> mathtext_escape(r"$\frac{a}{b}$ costs $5")
    '\\$\\frac{a}{b}\\$ costs \\$5'
    """
    lines = "" if text is None else str(text).split("\n")
    return "\n".join(plain(line).replace("$", r"\$") for line in lines)


_SLUG_BAD = re.compile(r"[^A-Za-z0-9_-]+")
# Device names Windows refuses as a file's base name, whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(10))}
SLUG_LIMIT = 60


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def slug(text: object, limit: int = SLUG_LIMIT) -> str:
    r"""A file-name and TeX-label safe form of ``text``: ASCII letters, digits, ``_`` and ``-``.

    A name that is already safe is returned unchanged, so ordinary identifiers keep
    their file names. Any other name has each run of other characters replaced by
    ``-``, leading and trailing ``-`` removed, is cut to ``limit`` characters and gets
    ``-`` and the first 8 hex digits of the SHA-256 of the original name, so that two
    names differing only in what was removed still give two slugs.

    Parameters
    ----------
    text : object
        An output name, coordinate label or other user/model string.
    limit : int
        Longest slug kept before the hash.

    Returns
    -------
    str
        Never empty, never ``.``/``..``, no ``/``, ``\\``, NUL or leading ``-`` or
        ``.``, no Windows device name, at most ``limit + 9`` characters.

    Examples
    --------
    >>> slug("europe_net_benefit")
    'europe_net_benefit'
    >>> slug("../../x")
    'x-9cdf6a50'
    >>> slug("CON")
    'CON-a3dbc4b6'
    """
    s = str(text)
    base = _SLUG_BAD.sub("-", s).strip("-")
    if base == s and 0 < len(base) <= limit and base.lower() not in _RESERVED:
        return base
    base = base[:limit].rstrip("-")
    return f"{base}-{_short_hash(s)}" if base else "x" + _short_hash(s)


def unique_names(names: list[str]) -> list[str]:
    """Make file stems unique, also on case-insensitive file systems (macOS, Windows).

    Parameters
    ----------
    names : list of str
        Stems in the order their files are written (already safe, e.g. from :func:`slug`).

    Returns
    -------
    list of str
        The same stems, except that one equal to an earlier one apart from case gets
        ``-`` and a hash of its position and name appended: the first keeps its name.

    Examples
    --------
    >>> unique_names(["a", "b", "A"])
    ['a', 'b', 'A-310433de']
    """
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        new, attempt = name, 0
        while new.casefold() in seen:
            attempt += 1
            new = f"{name}-{_short_hash(f'{i}.{attempt}:{name}')}"
        seen.add(new.casefold())
        out.append(new)
    return out


# OWASP "CSV injection": a cell starting with one of these is a formula to Excel,
# LibreOffice and Google Sheets. A leading quote is the neutraliser, so a cell that
# already starts with a quote gets one more: read_csv can then undo it exactly.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value):
    r"""Neutralise one CSV cell against formula injection; non-strings are returned as is.

    Parameters
    ----------
    value : object
        A cell. A string starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return
        or ``'`` gets a leading ``'``; anything else, numbers included, is returned as is.

    Returns
    -------
    object

    Examples
    --------
    >>> csv_cell("=HYPERLINK(\"http://x\")"), csv_cell(-1.5), csv_cell("-x"), csv_cell("a-b")
    ('\'=HYPERLINK("http://x")', -1.5, "'-x", 'a-b')
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _uncell(value):
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose string cells and column names are neutralised by :func:`csv_cell`.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        Numbers (including negative ones), booleans and missing values are untouched,
        so the file still reads back as numbers.

    Examples
    --------
    >>> csv_safe(pd.DataFrame({"name": ["=1+1", "x"], "value": [-1.5, 2.0]})).to_dict("list")
    {'name': ["'=1+1", 'x'], 'value': [-1.5, 2.0]}
    """
    out = frame.copy()
    for col in out.columns:
        if _textual(out[col]):
            out[col] = out[col].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def _textual(column: pd.Series) -> bool:
    # Object columns may mix strings with numbers; only the strings are touched.
    return column.dtype == object or pd.api.types.is_string_dtype(column.dtype)


def write_csv(frame: pd.DataFrame, path, **kwargs) -> None:
    """Write ``frame`` to ``path`` with :meth:`pandas.DataFrame.to_csv`, neutralised by :func:`csv_safe`.

    Every CSV file the toolkit writes goes through this function (without the index).

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str, Path or file-like
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (e.g. ``float_format``).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> write_csv(pd.DataFrame({"label": ["@SUM(A1)", "'quoted"], "v": [-1, 2]}), buf)
    >>> print(buf.getvalue(), end="")
    label,v
    '@SUM(A1),-1
    ''quoted,2
    """
    csv_safe(frame).to_csv(path, index=False, **kwargs)


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    r"""Read a CSV written by :func:`write_csv`, undoing its neutralising quote.

    Parameters
    ----------
    path : str, Path or file-like
    **kwargs
        Passed to :func:`pandas.read_csv`.

    Returns
    -------
    pandas.DataFrame
        Text cells and column names with one leading ``'`` removed.

    Examples
    --------
    >>> import io
    >>> read_csv(io.StringIO("label,v\n'@SUM(A1),-1\n''quoted,2\n")).to_dict("list")
    {'label': ['@SUM(A1)', "'quoted"], 'v': [-1, 2]}
    """
    frame = pd.read_csv(path, **kwargs)
    for col in frame.columns:
        if _textual(frame[col]):
            frame[col] = frame[col].map(_uncell)
    frame.columns = [_uncell(c) for c in frame.columns]
    return frame
