"""An external program as a model: one run per chunk, exchanging files.

For each chunk the toolkit writes the inputs to a file, runs the command with ``{inputs}``
and ``{outputs}`` replaced by the two paths, and reads the outputs back:

- ``csv``: the inputs file has a header ``sample,<param>,...`` (scalar constants and, for a
  stochastic model, ``seed`` are columns too), one row per sample; the program writes a
  header of output names and one row per sample, in order or with a ``sample`` column.
- ``netcdf``: the chunk's inputs Dataset as written by xarray; the program writes a netCDF
  file of variables along ``sample``.

The command runs in the study's directory with the toolkit's environment. Its standard
output goes to standard error (the toolkit's standard output is the run directory).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ModelContractError

#: Characters of the command's standard error quoted in a failure message.
STDERR_TAIL = 300


class ExternalCommand:
    """A vectorized model that runs a program on each chunk.

    Parameters
    ----------
    command : sequence of str
        The program and its arguments; ``{inputs}`` and ``{outputs}`` are replaced by the
        chunk's file paths.
    fmt : {"csv", "netcdf"}
    timeout : float or None
        Seconds the program may take on one chunk.
    cwd : str
        Where it runs (the study's directory).
    """

    def __init__(self, command, fmt: str, timeout: float | None, cwd: str):
        self.command, self.fmt, self.timeout, self.cwd = tuple(command), fmt, timeout, cwd

    @property
    def line(self) -> str:
        return shlex.join(self.command)

    def __call__(self, x: xr.Dataset) -> xr.Dataset:
        suffix = ".csv" if self.fmt == "csv" else ".nc"
        with tempfile.TemporaryDirectory(prefix="mcsens-cmd-") as tmp:
            inputs, outputs = Path(tmp) / f"inputs{suffix}", Path(tmp) / f"outputs{suffix}"
            write_inputs(x, inputs, self.fmt)
            args = [a.replace("{inputs}", str(inputs)).replace("{outputs}", str(outputs)) for a in self.command]
            samples = x["sample"].values
            self.where = f"chunk of samples {samples[0]}–{samples[-1]}" if samples.size else ""
            self._run(args)
            return self._read(outputs, x.sizes["sample"])

    where = ""

    def _run(self, args) -> None:
        # Its own process group, so that a timeout or Ctrl-C also ends what it started
        # (Rscript runs R, a shell script its programs), not only the first process.
        try:
            proc = subprocess.Popen(args, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=2,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            self._fail(f"must name a program that exists; {args[0]!r} was not found")
        except PermissionError:
            self._fail(f"must name a program that can be executed; {args[0]!r} is not executable")
        try:
            _, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            self._fail(f"must finish within timeout = {self.timeout:g} s; it was still running and was killed",
                       proc.communicate()[1])
        except BaseException:
            _kill(proc)
            raise
        if proc.returncode != 0:
            self._fail(f"must exit with status 0; got exit status {proc.returncode}", stderr)

    def _read(self, path: Path, n: int) -> xr.Dataset:
        if not path.is_file():
            self._fail("must write its outputs file ({outputs}); it exited with status 0 and wrote none")
        try:
            out = read_outputs(path, self.fmt)
        except Exception as e:  # whatever the parser says is the program's malformed file
            self._fail(f"must write a readable {self.fmt} outputs file; reading it failed with "
                       f"{type(e).__name__}: {' '.join(str(e).split())}")
        rows = out.sizes.get("sample", 0)
        if rows != n:
            self._fail(f"must write one row per sample ({n}); got {rows}")
        return out

    def _fail(self, msg: str, stderr: bytes | None = None):
        tail = _tail(stderr)
        raise ModelContractError(f"command {self.line!r}", self.where, msg + (f"; stderr ends: {tail}" if tail else ""))


def _kill(proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(stderr) -> str:
    if not stderr:
        return ""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else str(stderr)
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return ("…" + text[-STDERR_TAIL:]) if len(text) > STDERR_TAIL else text


def write_inputs(x: xr.Dataset, path: Path, fmt: str) -> None:
    """Write a chunk's inputs in the exchange format (see the module's docstring)."""
    if fmt == "netcdf":
        x.to_netcdf(path)
        return
    table = {"sample": x["sample"].values}
    if "seed" in x.coords:
        table["seed"] = x["seed"].values
    for name, var in x.data_vars.items():
        if var.dims == ("sample",):
            table[name] = var.values
        elif var.ndim == 0:
            table[name] = np.repeat(var.values, x.sizes["sample"])
    pd.DataFrame(table).to_csv(path, index=False, float_format="%.17g")


def read_outputs(path: Path, fmt: str) -> xr.Dataset:
    """Read a command's outputs file as a Dataset along ``sample``."""
    if fmt == "netcdf":
        return xr.load_dataset(path)
    frame = pd.read_csv(path)
    if "sample" in frame.columns:
        frame = frame.set_index("sample")
        return xr.Dataset({c: ("sample", frame[c].to_numpy()) for c in frame.columns},
                          coords={"sample": frame.index.to_numpy()})
    return xr.Dataset({c: ("sample", frame[c].to_numpy()) for c in frame.columns})
