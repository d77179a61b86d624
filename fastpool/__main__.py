"""``python -m fastpool``: the same command line as ``fastpool``."""

from fastpool._cli import main

raise SystemExit(main())
