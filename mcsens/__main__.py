"""``python -m mcsens`` is the ``study`` command (as is ``python -m study``)."""

import sys

from .cli import main

sys.exit(main())
