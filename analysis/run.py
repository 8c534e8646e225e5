"""The one way a saved run is read: :func:`read_run` gives a frozen :class:`Run`.

Every stage of the analysis (indices, scenario discovery, figures, the appendix, compare,
reweighting) takes a :class:`Run` and reads the run directory through it only: the
manifest and the study are read and validated once, here; each stage opens the results
lazily when it needs them (:meth:`Run.open_results`) and closes them when it is done.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from study.errors import RunError
from study.spec import Study, load_study
from study.store import SEALED_RESULTS, Manifest, file_sha256, open_run

from .textsafe import read_csv

__all__ = ["Run", "read_run"]


@dataclass(frozen=True)
class Run:
    """A run directory as the analysis sees it.

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    manifest : dict
        ``manifest.json`` as read when the record was made.
    study : study.spec.Study
        The run's own ``study.toml``, validated, with the overrides the manifest records
        (``--samples``, ``--seed``): the study as it was run.
    document : dict
        The same ``study.toml`` as parsed TOML, for the descriptive fields the validated
        study does not keep (a constant's description, ``[report]``).
    """

    path: Path
    manifest: dict
    study: Study
    document: dict

    def open_results(self, design: str | None = None):
        """The results of the main design (or of ``design``), opened lazily: close them after use.

        Use it as ``with run.open_results() as ds:``. The record holds no file open: with
        netCDF4, a second handle on a file that another part of the process closes
        crashes the interpreter (measured: a segmentation fault in the figures' tests).
        """
        return _open(self.path, design)

    @property
    def overrides(self) -> dict:
        """The command-line overrides the run recorded (``samples``, ``seed``)."""
        return self.manifest.get("overrides") or {}

    def indices(self, **read_options):
        """``indices.csv`` as a DataFrame (as it is now on disk), or None before the analysis.

        ``read_options`` go to :func:`analysis.textsafe.read_csv` (e.g. ``keep_default_na``).
        """
        path = self.path / "indices.csv"
        return read_csv(path, **read_options) if path.exists() else None

    def indices_group(self, name: str):
        """Group ``name`` of ``indices.nc``, loaded, or None if the file or group is absent."""
        path = self.path / "indices.nc"
        if not path.exists():
            return None
        try:
            return xr.load_dataset(path, group=name)
        except OSError:  # netCDF4 raises OSError for a missing group
            return None

    def file(self, name: str) -> Path:
        """Path of a file of the run directory (for the stages that write next to it)."""
        return self.path / name


def read_run(run) -> Run:
    """Read a run directory once: manifest, validated study, and its results on demand.

    Parameters
    ----------
    run : str, pathlib.Path or Run
        A run directory written by ``study run``; a :class:`Run` is returned as it is.

    Returns
    -------
    Run

    Raises
    ------
    study.errors.RunError
        If the directory has no readable ``manifest.json``.
    study.errors.StudyError
        If the run's ``study.toml`` does not validate.
    """
    if isinstance(run, Run):
        return run
    path = Path(run)
    manifest = Manifest.load(path).data
    _verify_sealed(path, manifest)
    over = manifest.get("overrides") or {}
    study = load_study(path / "study.toml", samples=over.get("samples"), seed=over.get("seed"))
    study = study.scoped(manifest.get("analysis_scope"))  # a variant run computes what its comparison reads
    document = tomllib.loads((path / "study.toml").read_text(encoding="utf-8"))
    return Run(path=path, manifest=manifest, study=study, document=document)


def _open(run_dir: Path, design: str | None = None) -> xr.Dataset:
    """Open a results file, or say in one line that it is not a readable netCDF file."""
    try:
        return open_run(run_dir, design)
    except OSError as e:  # netCDF4's "[Errno -101] NetCDF: HDF error" for a truncated file
        name = f"results-{design}.nc" if design else "results.nc"
        raise RunError(run_dir / name, "", f"is not a readable netCDF file (truncated or damaged?): {e}") from None


def _verify_sealed(run_dir: Path, manifest: dict) -> None:
    """Refuse a results file that is not the one the run sealed (swapped, edited, truncated).

    Each file is hashed in full: measured at N = 2^16 (16.8 MB of results), the sha256
    takes 32 ms against 250 ms to open the file and read one output; a size-and-mtime
    check would pass a same-sized copy whose mtime was carried over (``touch -r``).
    """
    sealed = manifest.get("sealed")
    for name in SEALED_RESULTS:
        path = run_dir / name
        if not path.exists():
            continue
        if sealed is None:  # sealed before checksums were recorded
            if name == "results.nc":
                print(f"warning: {path}: has no checksum in manifest.json (sealed by an older version); "
                      "read unverified", file=sys.stderr)
            continue
        want = (sealed.get(name) or {}).get("sha256")
        got = file_sha256(path)
        if got == want:
            continue
        _open(run_dir, name[len("results-"):-3] if name != "results.nc" else None).close()  # unreadable: say so
        expected = f"sha256 {want}" if want else "none: the run sealed no such file"
        raise RunError(path, "", f"must be the results this run sealed ({expected}); got a file with sha256 {got}")
