"""``python -m maildiag``: the same command line as the ``maildiag`` script."""

import sys

from maildiag.cli import main

sys.exit(main())
