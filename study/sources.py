"""The Python source files a study's model was loaded from, beside the study file.

A model may import helper modules that sit beside it; editing one between the start of a
run and its resume would mix two models' outputs in one run as surely as editing the model
itself. :func:`local_sources` names and hashes every such file, so the run can record them
at the start and refuse a resume when one of them changed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .store import file_sha256


def local_sources(study_dir, files=()) -> dict[str, str]:
    """Sha256 of every loaded Python module whose file lies under the study's directory.

    Call it after the model has been resolved (and, ideally, called once), so that the
    model's module and every helper it imported are in ``sys.modules``.

    Parameters
    ----------
    study_dir : str or pathlib.Path
        The directory of the study file.
    files : iterable of path, optional
        Other files of the model under `study_dir` (an external command's scripts, see
        :func:`study.adapters.command_files`), hashed alike.

    Returns
    -------
    dict of str to str
        Posix path relative to `study_dir` -> hex sha256 of the file's bytes, sorted by path.
        The toolkit's own packages are left out even when the study sits above them: they
        are recorded by version and git commit instead.

    Examples
    --------
    >>> local_sources("/nonexistent")
    {}
    """
    root = Path(study_dir).resolve()
    toolkit = Path(__file__).resolve().parents[1]
    found = {}
    folders: dict[str, str] = {}
    inside = os.path.join(str(root), "")  # with the separator: /a/b does not hold /a/bc
    for module in list(sys.modules.values()):
        name = _source_path(module, folders)
        if name is None or not name.startswith(inside):  # a string test: most modules are elsewhere
            continue
        path = Path(name)
        if _in_toolkit(path, toolkit) or not path.is_file():
            continue
        found[path.relative_to(root).as_posix()] = file_sha256(path)
    for path in map(Path, files):
        found[path.resolve().relative_to(root).as_posix()] = file_sha256(path)
    return dict(sorted(found.items()))


def _source_path(module, folders: dict[str, str]) -> str | None:
    """The module's ``.py`` file with every symbolic link resolved (``Path.resolve``'s answer).

    A process holds ~1,800 modules from a few hundred folders: each folder is resolved once
    (``folders`` keeps them), and a file only when it is a link itself. Resolving every file
    took 0.05 CPU-s a call (0.012 now), twice in each run, side runs included.
    """
    name = getattr(module, "__file__", None)
    if not isinstance(name, str) or not name.endswith(".py"):
        return None
    if os.path.islink(name):
        return os.path.realpath(name)
    head, tail = os.path.split(os.path.abspath(name))
    folder = folders.get(head)
    if folder is None:
        folder = folders[head] = os.path.realpath(head)
    return os.path.join(folder, tail)


def _in_toolkit(path: Path, toolkit: Path) -> bool:
    # `study` and `analysis` are the toolkit, recorded by version and commit: a study file at
    # the repository root must not record them, nor a virtualenv's libraries under its folder.
    return any(path.is_relative_to(toolkit / pkg) for pkg in ("study", "analysis")) \
        or not {"site-packages", "dist-packages"}.isdisjoint(path.parts)


def changed_sources(recorded: dict[str, str], current: dict[str, str], study_dir) -> tuple[str, str] | None:
    """The first source file that differs from the record, and how; None if none does.

    Parameters
    ----------
    recorded : dict of str to str
        :func:`local_sources` at the start of the run.
    current : dict of str to str
        :func:`local_sources` now, after resolving the model again.
    study_dir : path
        The study's directory (recorded files no longer loaded are hashed from disk).

    Returns
    -------
    tuple of (str, str) or None
        The file's path relative to `study_dir`, and a phrase saying what happened to it.

    Examples
    --------
    >>> changed_sources({"m.py": "ab"}, {"m.py": "cd"}, ".")
    ('m.py', 'changed since the run started (sha256 ab…, now cd…)')
    """
    root = Path(study_dir)
    for rel, digest in recorded.items():
        now = current.get(rel) or (file_sha256(root / rel) if (root / rel).is_file() else None)
        if now is None:
            return rel, f"was removed since the run started (sha256 {digest[:12]}…)"
        if now != digest:
            return rel, f"changed since the run started (sha256 {digest[:12]}…, now {now[:12]}…)"
    added = sorted(set(current) - set(recorded))
    if added:
        return added[0], "is loaded by the model now but was not when the run started"
    return None
