"""``python -m convlearn.app [MODEL]``: the same as ``convlearn app``."""

import sys

from .cli import main

sys.exit(main())
