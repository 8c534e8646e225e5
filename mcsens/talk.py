"""What a run says while it works: stage lines through :mod:`logging`, progress bars.

Everything goes to the ``mcsens`` logger, so a notebook or a batch script can route it like
any other library's messages. :func:`configure` (called by the ``study`` command) sends it
to standard error: plain lines on a terminal, lines with a UTC timestamp otherwise (a SLURM
log, a pipe), so that a batch log shows when each stage started.

Progress bars (:mod:`tqdm.auto`: a text bar on a terminal, a widget in Jupyter) are shown
only where someone watches: on a terminal or in a notebook. In a log file a bar would be a
stream of carriage returns, so there the stage lines alone say how far the run is.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager

LOGGER = logging.getLogger("mcsens")
_HANDLER_NAME = "mcsens-stderr"
_SHOWN_NAME = "mcsens-shown"  # the handler shown() attaches for the length of one run
_depth = 0  # run_study calls in progress in this process (variants and shift re-runs nest)
_depth_lock = threading.Lock()

#: ``-q`` / default / ``-v`` as logging levels.
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime


class _StderrHandler(logging.StreamHandler):
    """A stream handler that, given no stream, writes to ``sys.stderr`` as it is at each message.

    ``logging.StreamHandler()`` keeps the ``sys.stderr`` of the moment it was made; a test
    harness or a notebook that swaps standard error later would then get lines written to
    a closed stream.
    """

    def __init__(self, stream=None):
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self):
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value):  # logging.StreamHandler.__init__ and setStream assign it
        self._fixed = value


class _BarSafeHandler(_StderrHandler):
    """On a terminal, write lines above a running progress bar instead of through it."""

    def emit(self, record):
        try:
            from tqdm.auto import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)


def configure(verbosity: int = 0, stream=None) -> None:
    """Send the ``mcsens`` logger's messages to standard error at a verbosity.

    Parameters
    ----------
    verbosity : int
        -1 for warnings only (``-q``), 0 for stage lines and the summary, 1 also for
        per-chunk detail (``-v``).
    stream : file, optional
        Where to write (default: ``sys.stderr`` as it is when a message is written).
    """
    for h in list(LOGGER.handlers):  # configuring twice (tests, notebooks) must not double lines
        if h.get_name() == _HANDLER_NAME:
            LOGGER.removeHandler(h)
    target = stream if stream is not None else sys.stderr
    handler = (_BarSafeHandler if _is_tty(target) else _StderrHandler)(stream)
    handler.set_name(_HANDLER_NAME)
    if _is_tty(target):
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler.setFormatter(_UTCFormatter("%(asctime)sZ %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(LEVELS[max(-1, min(1, verbosity))])
    LOGGER.propagate = False  # a root handler set by the host program would print each line twice


def _formatter(stream) -> logging.Formatter:
    """Plain lines where someone watches (a terminal, Jupyter); UTC timestamps in a log."""
    if _is_tty(stream) or _in_notebook():
        return logging.Formatter("%(message)s")
    return _UTCFormatter("%(asctime)sZ %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")


@contextmanager
def shown():
    """Show the run's stage lines for the length of a ``with`` block, if nobody else does.

    A notebook or a script that never configured :mod:`logging` would see none of the
    ``mcsens`` logger's lines (Python's last-resort handler prints warnings only). Then,
    and only then (no handler on the ``mcsens`` logger nor on the root), a handler to
    standard error is attached for the block and removed after it; a level set on the
    logger is kept, an unset one is INFO meanwhile. Where the host program configured
    logging (``logging.basicConfig``, the ``study`` command's :func:`configure`) its
    handlers alone print, so no line appears twice.

    Yields
    ------
    bool
        Whether this is the outermost block in the process (a run, not one of its
        variant runs), which alone ends with the closing summary.

    Examples
    --------
    >>> with shown() as outermost:
    ...     outermost
    True
    """
    global _depth
    with _depth_lock:
        _depth += 1
        outermost = _depth == 1
    handler, level = None, LOGGER.level
    if not LOGGER.hasHandlers():  # hasHandlers looks at the ancestors too, the root included
        handler = _StderrHandler()
        handler.set_name(_SHOWN_NAME)
        handler.setFormatter(_formatter(sys.stderr))
        LOGGER.addHandler(handler)
        if level == logging.NOTSET:  # else the root's WARNING would hide the stage lines
            LOGGER.setLevel(logging.INFO)
    try:
        yield outermost
    finally:
        if handler is not None:
            LOGGER.removeHandler(handler)
            LOGGER.setLevel(level)
        with _depth_lock:
            _depth -= 1


def summary(run_dir) -> None:
    """The closing summary of a finished run, a line per headline, driver and file."""
    from .summary import closing_lines

    for line in closing_lines(run_dir):
        stage("%s", line)


def stage(message: str, *args) -> None:
    """One line saying which stage of the run starts now (``variant 3/6``, ``figures``)."""
    LOGGER.info(message, *args)


def detail(message: str, *args) -> None:
    """A line shown with ``-v`` only."""
    LOGGER.debug(message, *args)


def warn(message: str, *args) -> None:
    """A line shown even with ``-q``."""
    LOGGER.warning(message, *args)


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return type(ip).__name__ == "ZMQInteractiveShell"


def bars_wanted() -> bool:
    """Whether a progress bar would be seen: stderr is a terminal or we run in Jupyter."""
    # -q asks for silence; an unconfigured logger (a notebook's) is no request either way.
    if LOGGER.level > logging.INFO:
        return False
    return _is_tty(sys.stderr) or _in_notebook()


def progress(total: int, desc: str):
    """A progress bar over ``total`` blocks, or a silent stand-in where nobody watches."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="block", leave=False, disable=not bars_wanted())
