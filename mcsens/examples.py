"""The study files that ship with the toolkit: the flagship and the examples.

In a wheel they are package data (``mcsens/params/``); in a source checkout they are the
repository's ``params/`` folder. Either way ``study run`` with no argument finds the
flagship, and ``study run ishigami`` finds an example by its name.
"""

from __future__ import annotations

from pathlib import Path

FLAGSHIP = "asia_pacification"


def examples_dir() -> Path:
    """The folder holding the shipped study files (installed copy first, then the checkout's)."""
    here = Path(__file__).resolve().parent
    installed = here / "params"
    return installed if installed.is_dir() else here.parent / "params"


def example_names() -> list[str]:
    """Names of the shipped study files, without ``.toml``."""
    return sorted(p.stem for p in examples_dir().glob("*.toml"))


def default_study() -> Path:
    """The flagship's study file: ``params/asia_pacification.toml`` of the current folder if there
    is one (a checkout, or the user's own copy), else the shipped one."""
    local = Path("params") / f"{FLAGSHIP}.toml"
    return local if local.is_file() else examples_dir() / f"{FLAGSHIP}.toml"


def find_study(text: str) -> Path:
    """A study file as the user named it: a path, or the name of a shipped example.

    A path that exists always wins, so a user's own ``ishigami.toml`` is never replaced by
    the shipped one. A name that is neither is returned as a path, for the loader to report.
    """
    path = Path(text)
    if path.exists() or path.parent != Path("."):
        return path
    shipped = examples_dir() / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    return shipped if shipped.is_file() else path
