"""``python -m raftkv``: the command line (see :mod:`raftkv.cli`)."""

import sys

from raftkv.cli import main

sys.exit(main())
