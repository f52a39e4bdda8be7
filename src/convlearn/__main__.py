"""``python -m convlearn ...``: the same as the ``convlearn`` command."""

import sys

from convlearn.cli import main

sys.exit(main())
