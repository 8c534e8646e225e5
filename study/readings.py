"""Rival readings as one sampled factor: a categorical whose values name study variants.

``[parameters.reading] distribution = "categorical"`` with ``values`` naming study files
(``"base.toml"``, ``"rival.toml"``; each a variant that ``extends`` the study, or the study
itself) samples the reading jointly with the parameters. Each sample then takes, for every
input, the declaration of its reading: a constant's value, or a parameter's distribution
applied to that input's own design column. The model sees the reading's file name as a
string input and the inputs each reading sets, so one Sobol design says how much of every
output's variance the reading explains, alone and through interactions.

Only what a reading declares differently from the study is kept, and it is kept inline
(``[parameters.reading.readings."rival.toml"]`` with ``parameters`` and ``constants``
tables), so a run's saved ``study.toml`` loads without the variant files beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .distributions import ppf
from .errors import StudyError

#: What marks a categorical as a reading factor: every value names a study file.
SUFFIX = ".toml"
#: The key under which the loader keeps each reading's own declarations.
INLINE = "readings"


def names_files(values) -> bool:
    """Whether a categorical's values name study files (all strings ending in ``.toml``)."""
    return all(isinstance(v, str) and v.endswith(SUFFIX) for v in values)


@dataclass(frozen=True)
class Readings:
    """The reading factor of a study: its values and what each reading declares differently.

    ``declarations[value][name]`` is a :class:`study.spec.Parameter` or
    :class:`study.spec.Constant`; ``host[name]`` is the study's own declaration of each
    name some reading changes (``varying``).
    """

    factor: str
    values: tuple[str, ...]
    declarations: dict
    host: dict

    @property
    def varying(self) -> tuple[str, ...]:
        """Inputs whose declaration depends on the reading, in sorted order."""
        return tuple(sorted({n for d in self.declarations.values() for n in d}))

    def declaration(self, value: str, name: str):
        """The declaration of ``name`` under reading ``value``."""
        return self.declarations[value].get(name, self.host[name])

    def column(self, name: str, codes: np.ndarray, u: np.ndarray | None) -> np.ndarray:
        """Per-sample values of ``name``: each sample through its reading's declaration.

        Parameters
        ----------
        name : str
            An input in :attr:`varying`.
        codes : numpy.ndarray
            The reading factor's codes per sample (0 … k-1, in the order of ``values``).
        u : numpy.ndarray or None
            The input's own unit-cube column (None for an input that is a constant under
            every reading).
        """
        out = np.empty(codes.shape, dtype=float)
        for k, value in enumerate(self.values):
            rows = codes == k
            d = self.declaration(value, name)
            if hasattr(d, "distribution"):
                out[rows] = ppf(d.distribution, d.args, u[rows])
            else:
                out[rows] = d.value
        return out

    def describe(self, name: str) -> str:
        """``"irrationality.toml: U(0.3, 0.9); otherwise 0"``: the input's law per reading."""
        parts = []
        for value in self.values:
            d = self.declaration(value, name)
            parts.append(f"{value}: {d.describe() if hasattr(d, 'describe') else f'{d.value:g}'}")
        return "; ".join(parts)


def reading_documents(path: Path, doc: dict, factor: str, table: dict, model: str) -> dict[str, dict]:
    """Each reading's declarations that differ from the study's, as TOML tables.

    Parameters
    ----------
    path : pathlib.Path
        The study file (readings are files beside it).
    doc : dict
        Its flattened document.
    factor : str
        The reading factor's name.
    table : dict
        The factor's table (``values`` already validated; ``readings`` if saved inline).
    model : str
        The study's model; every reading must run it.

    Returns
    -------
    dict
        ``value -> {"parameters": {...}, "constants": {...}}`` (empty for the study itself).
    """
    from .extends import flatten
    from .spec import _read_document

    where = f"parameters.{factor}"
    inline = table.get(INLINE, {})
    if not isinstance(inline, dict):
        raise StudyError(path, f"{where}.{INLINE}", f"must be a table of each reading's declarations; got {inline!r}")
    out = {}
    for value in table["values"]:
        if value in inline:
            out[value] = _sections(path, f"{where}.{INLINE}.{value!r}", inline[value])
            continue
        if value == path.name:
            out[value] = {"parameters": {}, "constants": {}}
            continue
        if Path(value).name != value:
            raise StudyError(path, f"{where}.values", f"must name study files beside this one (plain file names); "
                             f"got {value!r}")
        target = path.parent / value
        if not target.is_file():
            raise StudyError(path, f"{where}.values", f"must name existing study files beside this one; got "
                             f"{value!r}, which does not exist")
        raw, _, vdoc = _read_document(target)
        vdoc, _, _ = flatten(target, vdoc, raw)
        vmodel = vdoc.get("study", {}).get("model")
        if vmodel != model:
            raise StudyError(path, f"{where}.values", f"must name readings of this study's model ({model!r}); got "
                             f"{value!r}, a study of {vmodel!r}")
        out[value] = {s: {n: e for n, e in vdoc.get(s, {}).items()
                          if n != factor and e != doc.get(s, {}).get(n)} for s in ("parameters", "constants")}
    return out


def _sections(path: Path, key: str, entry) -> dict:
    if not isinstance(entry, dict) or set(entry) - {"parameters", "constants"}:
        raise StudyError(path, key, f"must be a table with 'parameters' and 'constants' tables; got {entry!r}")
    return {"parameters": entry.get("parameters", {}), "constants": entry.get("constants", {})}

