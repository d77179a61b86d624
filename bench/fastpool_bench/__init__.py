"""fastpool's benchmark suite: the package behind ``fastpool bench``.

Installed from a clone of the fastpool repository with ``pip install ./bench``;
``fastpool bench`` (and ``python -m fastpool bench``, ``python -m fastpool_bench``)
then imports it and hands it the command line.

Modules:

:mod:`fastpool_bench.suite`
    the suite: fastpool against every installed peer on synthetic workloads,
    a Markdown report with the summary and a verdict per target;
:mod:`fastpool_bench.thread_scenarios`
    2-thread calls when a core is not free (the ``mt_*`` rows, run after the suite);
:mod:`fastpool_bench.record`
    the suite, writing its results into ``bench/README.md`` (``python bench/run.py``);
:mod:`fastpool_bench.special_window`
    stochastic, median and mixed pooling against the obvious compositions (a script);
:mod:`fastpool_bench.dask_cluster`
    ``fastpool.dask`` on a LocalCluster against ``dask.array.coarsen`` (a script).

Importing this package imports neither the suite nor any peer.
"""

from __future__ import annotations

from collections.abc import Sequence

__version__ = "0.1.0"

__all__ = ["__version__", "main"]


def main(argv: Sequence[str] | None = None, *, prog: str = "fastpool bench") -> int:
    """Parse ``argv`` as the suite's options, run it, return the exit status
    (:func:`fastpool_bench.suite.main`): what ``fastpool bench`` calls."""
    from fastpool_bench import suite

    return suite.main(argv, prog=prog)
