"""The ``fastpool`` command (also ``python -m fastpool``).

Subcommands:

``fastpool info``
    The version, build flags, OpenMP on/off and default thread count
    (:func:`fastpool.show_config`).
``fastpool bench``
    Time fastpool against PyTorch, ONNX Runtime, JAX, TensorFlow and the NumPy
    reference on this machine.  The benchmark suite is a package of its own,
    ``fastpool_bench`` (``pip install ./bench`` from a clone of the repository): this
    command imports it only when it runs, and hands it every argument after
    ``bench``, so ``fastpool bench --help`` shows the suite's options.  Without it,
    the command says how to install it and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

#: The benchmark suite's package, and how to get it.
_BENCH_MODULE = "fastpool_bench"
_BENCH_MISSING = ("the benchmark suite is not installed (package fastpool-bench); from a clone "
                  "of the fastpool repository: pip install ./bench")


def build_parser(prog: str = "fastpool") -> argparse.ArgumentParser:
    """The ``fastpool`` argument parser with its subcommands.

    ``bench`` takes no options of its own: :func:`main` passes whatever follows it to
    the benchmark suite, which parses it (``parse_known_args`` leaves it over).
    """
    from fastpool import __version__

    parser = argparse.ArgumentParser(
        prog=prog,
        description="fastpool: fast, exact CPU pooling for CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"fastpool {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "info",
        help="show the version, build flags, OpenMP and default thread count",
        description="Show the version, build flags, OpenMP on/off and default thread count.",
    )
    commands.add_parser(
        "bench",
        help="time fastpool against PyTorch and NumPy on this machine (the fastpool-bench "
             "package: pip install ./bench; see fastpool bench --help)",
        add_help=False,  # --help goes to the suite
    )
    return parser


def _info() -> int:
    import fastpool

    fastpool.show_config()
    return 0


def _bench(argv: list[str], prog: str) -> int:
    """Run the benchmark suite on ``argv``, or say how to install it (status 2)."""
    try:
        suite = importlib.import_module(_BENCH_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _BENCH_MODULE:
            raise  # the suite is there but something it needs is not: show it
        print(f"{prog}: {_BENCH_MISSING}", file=sys.stderr)
        return 2
    return suite.main(argv, prog=prog)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastpool`` command line; returns the exit status."""
    prog = "python -m fastpool" if argv is None and _run_as_module() else "fastpool"
    parser = build_parser(prog)
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "info":
            return _info()
        if args.command == "bench":
            return _bench(rest, f"{prog} bench")
        parser.print_help(sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into a command that stopped reading (``| head``): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run_as_module() -> bool:
    return os.path.basename(sys.argv[0]) == "__main__.py"
