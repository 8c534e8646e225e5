"""``python -m study`` is the ``study`` command."""

import sys

from .cli import main

sys.exit(main())
