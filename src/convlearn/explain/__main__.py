"""``python -m convlearn.explain``: the same as ``convlearn explain``."""

from .cli import main

raise SystemExit(main())
