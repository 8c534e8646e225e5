"""``python -m study`` is the ``study`` command; the command itself lives in :mod:`mcsens.cli`."""
import sys
from mcsens.cli import main
sys.exit(main())
