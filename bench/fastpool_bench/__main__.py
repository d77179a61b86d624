"""``python -m fastpool_bench``: the same as ``fastpool bench``."""

from fastpool_bench import main

raise SystemExit(main(prog="python -m fastpool_bench"))
