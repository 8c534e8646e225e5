"""Study files that extend another: ``[study] extends = "base.toml"``.

A variant names its base and states only what differs. The chain is resolved beside the
study file (a plain file name, no folders), tables are merged key by key (the child wins),
and every other value, lists and arrays of tables included, is replaced whole. Entries of
``[parameters]`` and ``[constants]`` are declarations and are replaced whole too (a uniform
never inherits a triangular's ``mode``); a name the child declares under ``[parameters]``
drops the base's ``[constants]`` entry of the same name and vice versa, so that a variant
can sample what its base fixes.

The flattened document is what the run stores (``study.toml``), and the chain's digest
covers every file in it, so a changed base is detected on resume.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from pathlib import Path

from .errors import StudyError

__all__ = ["flatten", "chain_sha256", "dumps"]

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.toml$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Sections whose entries are declarations: one name may be a parameter or a constant.
_EXCLUSIVE = ("parameters", "constants")


def flatten(path: Path, doc: dict, raw: bytes) -> tuple[dict, str | None, str]:
    """Resolve ``[study].extends`` of an already parsed study file.

    Parameters
    ----------
    path : pathlib.Path
        The study file.
    doc : dict
        Its parsed TOML.
    raw : bytes
        Its bytes, for the digest.

    Returns
    -------
    doc : dict
        The merged document, without ``extends`` (``doc`` itself when it extends nothing).
    text : str or None
        The flattened document as TOML, or None when the file extends nothing (the file
        is then its own flat form).
    sha256 : str
        The file's sha256 when it extends nothing, else the digest of the whole chain.

    Raises
    ------
    study.errors.StudyError
        If ``extends`` is not a plain file name beside the study, the base is missing or
        not valid TOML, or the chain has a cycle.
    """
    chain = [(path, doc, raw)]
    while isinstance(chain[-1][1].get("study"), dict) and "extends" in chain[-1][1]["study"]:
        chain.append(_base(chain[-1][0], chain[-1][1]["study"]["extends"], [p for p, _, _ in chain]))
    if len(chain) == 1:
        return doc, None, hashlib.sha256(raw).hexdigest()
    merged: dict = {}
    for _, part, _ in reversed(chain):
        merged = _merge(merged, part)
    merged["study"].pop("extends", None)
    return merged, dumps(merged), _digest([r for _, _, r in chain])


def chain_sha256(path) -> str:
    """The digest :func:`flatten` gives for the study file at ``path`` (for resume checks).

    Parameters
    ----------
    path : str or pathlib.Path
        A study file.

    Returns
    -------
    str
        Its sha256 if it extends nothing, else the digest of its whole chain.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return hashlib.sha256(raw).hexdigest()  # the loader reports the error itself
    return flatten(path, doc, raw)[2]


def _digest(raws: list[bytes]) -> str:
    # Length-prefixed, so that moving bytes from one file to the next changes the digest.
    h = hashlib.sha256()
    for r in raws:
        h.update(f"{len(r)}:".encode())
        h.update(r)
    return h.hexdigest()


def _base(child: Path, name, seen: list[Path]) -> tuple[Path, dict, bytes]:
    if not isinstance(name, str) or not _PLAIN_NAME.match(name):
        raise StudyError(child, "study.extends", "must be the file name of a study file beside this one "
                         f"(no folders, ending in .toml); got {name!r}")
    path = child.parent / name
    if path.resolve() in [p.resolve() for p in seen]:
        cycle = " -> ".join(p.name for p in seen + [path])
        raise StudyError(child, "study.extends", f"must not form a cycle; got {cycle}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StudyError(child, "study.extends", f"must name an existing study file beside this one; "
                         f"got {name!r}, which does not exist") from None
    except (IsADirectoryError, PermissionError) as e:
        raise StudyError(child, "study.extends", f"cannot read {name!r} ({e.strerror})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise StudyError(path, "", f"must be UTF-8 text; got an undecodable byte at offset {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise StudyError(path, "", f"invalid TOML: {e}") from None
    return path, doc, raw


def _merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for section in _EXCLUSIVE:
        other = _EXCLUSIVE[1 - _EXCLUSIVE.index(section)]
        if isinstance(child.get(section), dict) and isinstance(out.get(other), dict):
            out[other] = {k: v for k, v in out[other].items() if k not in child[section]}
    for key, value in child.items():
        if key in _EXCLUSIVE and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}  # a declaration is replaced whole, never mixed
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# -- a small TOML writer for the flattened file (the values a study file can hold) ----------


def dumps(doc: dict) -> str:
    """Write a parsed study document back as TOML.

    Parameters
    ----------
    doc : dict
        Tables of strings, numbers, booleans, lists and arrays of tables.

    Returns
    -------
    str
        TOML text that ``tomllib.loads`` reads back to ``doc``.
    """
    lines: list[str] = []
    _table(doc, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: dict, prefix: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    if prefix and (scalars or not any(_is_table(v) or _is_table_array(v) for v in table.values())):
        lines += ["", f"[{'.'.join(map(_key, prefix))}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for k, v in table.items():
        if _is_table(v):
            _table(v, prefix + [k], lines)
        elif _is_table_array(v):
            for item in v:
                lines += ["", f"[[{'.'.join(map(_key, prefix + [k]))}]]"]
                lines += [f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items()]


def _is_table(v) -> bool:
    return isinstance(v, dict)


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(i, dict) for i in v)


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    out = "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}" for c in out)
    return f'"{out}"'


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(i) for i in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(i)}" for k, i in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")  # tomllib produces none other
